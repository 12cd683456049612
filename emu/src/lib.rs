//! The machine: a Unicorn-based x86-64 system emulator for bpflab (see `emu/README.md`).
//!
//! [`Machine`] = Unicorn x86-64 CPU + guest RAM (one host mapping, readable by the host
//! without Unicorn) + the platform's devices (16550 UART, 8259A PIC pair, 8254 PIT, CMOS RTC,
//! i8042, port 0x80, exit port 0xf4) + a virtual clock derived from executed instructions.
//! Exceptions and interrupts are delivered through the guest's own IDT by this crate;
//! `syscall`, CPUID and RDTSC are completed here too. Console input can come from a script
//! or a live host stream during a run ([`input`], [`Machine::set_input`]).
//!
//! Building needs cmake and libclang (for Unicorn's C sources and bindgen); set
//! `UNICORN_NO_PKG_CONFIG=1` so an installed (older) libunicorn is not picked up instead.
//!
//! ```no_run
//! use emu::{Limits, Machine, MachineConfig, StopReason};
//! let config = MachineConfig::default();
//! let mut m = Machine::boot_elf_file(&config, "vmlinux".as_ref()).unwrap();
//! m.set_console_sink(Some(Box::new(|b: &[u8]| print!("{}", String::from_utf8_lossy(b)))));
//! let id = m.add_hook_fn(0xffff_ffff_8010_0000, |ctx| {
//!     let Some(regs) = ctx.regs() else { return }; // unreadable: the run stops, saying why
//!     let mut word = [0u8; 8];
//!     let _ = ctx.read_virt(regs.rsp, &mut word);
//! });
//! match m.run(Limits::virtual_time(std::time::Duration::from_secs(10))) {
//!     StopReason::Exit(code) => println!("exit {code}"),
//!     other => eprintln!("{}", m.report(&other)),
//! }
//! m.remove_hook(id);
//! ```

pub mod clock;
pub mod cpu;
pub mod devices;
pub mod duration;
pub mod input;
pub mod loader;
mod machine;
pub mod memory;
pub mod record;

pub use cpu::Regs;
pub use duration::DurationError;
pub use input::{InputEvent, InputScript, InputSource, ScriptError};
pub use loader::{KernelImage, LoadError};
pub use machine::{
    stdout_sink, ConsoleSink, EmuError, HookContext, HookFn, HookId, Limits, Machine,
    MachineConfig, ProgressHandle, Snapshot, Stats, StopHandle, StopReason, StopReport, TimerFn,
    TimerId, DEFAULT_MEM_BYTES,
};
pub use memory::{Access, Fault, GuestMemory, Ram, Translation};
