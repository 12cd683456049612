//! [`Machine`]: the Unicorn CPU, guest RAM, devices and virtual clock put together, with the
//! run loop that delivers interrupts between translated blocks.

use crate::clock::Clock;
use crate::cpu::cpuid::CpuidTable;
use crate::cpu::deliver::{self, has_error_code, Env, Event};
use crate::cpu::unicorn_raw::{self, RawContext, RawHooks};
use crate::cpu::{desc, ContextLayout, Regs, SegLoad, RFLAGS_IF, SEG_CS, SEG_SS};
use crate::devices::{DeviceStop, Devices, UnknownPortCount};
use crate::input::{InputDriver, InputEvent, InputSource};
use crate::loader::{boot, linux, BootProtocol, BootState, KernelImage, LoadError};
use crate::memory::{Fault, GuestMemory, Ram};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
mod hooks;
mod io;
mod run;
mod snapshot;
mod startup;
mod stop;
mod timers;

pub use hooks::*;
pub use io::*;
#[allow(unused_imports)]
use run::*;
pub use snapshot::*;
#[allow(unused_imports)]
use startup::*;
pub use stop::*;
pub use timers::{TimerFn, TimerId};

use unicorn_engine::{
    uc_error, uc_x86_mmr, Arch, HookType, MemType, Mode, RegisterX86, UcHookId, Unicorn, X86Insn,
};

/// Default guest RAM size.
pub const DEFAULT_MEM_BYTES: usize = 256 << 20;
/// `emu_start`'s "until" argument; ignored because exits are enabled with an empty exit set.
/// (With a plain `until`, Unicorn 2.1.5 ends every `emu_start` by translating that address,
/// which raises a silent #PF, clobbering CR2 and QEMU's `old_exception`, when it is unmapped.)
const NO_UNTIL: u64 = 0;
/// Console bytes kept for stop reports.
const CONSOLE_TAIL: usize = 16 << 10;

/// Errors creating or driving a machine (guest behaviour never produces these: it produces a
/// [`StopReason`]).
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    /// The image could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Guest RAM could not be mapped.
    #[error("cannot map {bytes} bytes of guest RAM: {source}")]
    Ram {
        /// Requested size.
        bytes: usize,
        /// OS error.
        source: std::io::Error,
    },
    /// A Unicorn call failed.
    #[error("unicorn: {what}: {err:?}")]
    Unicorn {
        /// What we were doing.
        what: &'static str,
        /// Unicorn's error.
        err: uc_error,
    },
    /// The start-up self-test of Unicorn's context layout failed.
    #[error("{0}")]
    SelfTest(String),
    /// A snapshot from a different machine (RAM size) was restored.
    #[error("snapshot does not fit this machine: {0}")]
    Snapshot(String),
}

fn uc_err(what: &'static str) -> impl Fn(uc_error) -> EmuError {
    move |err| EmuError::Unicorn { what, err }
}

/// Machine configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineConfig {
    /// Guest RAM in bytes (rounded up to 4 KiB).
    pub mem_bytes: usize,
    /// Kernel command line.
    pub cmdline: String,
}

impl Default for MachineConfig {
    fn default() -> Self {
        Self {
            mem_bytes: DEFAULT_MEM_BYTES,
            cmdline: String::new(),
        }
    }
}

/// State reachable from Unicorn callbacks (Unicorn's per-engine data).
pub(crate) struct MachineState {
    ram: Rc<Ram>,
    clock: Rc<Clock>,
    layout: ContextLayout,
    scratch: Option<RawContext>,
    devices: Devices,
    console: Console,
    stop: Option<StopReason>,
    resync: bool,
    hooks: HookTable,
    timers: timers::TimerTable,
    unmapped: Option<(u64, &'static str)>,
    /// Console input (script or live stream) and its log.
    input: InputDriver,
    /// The hooks at this address already ran for the instruction the machine stopped at
    /// (a hook asked for the stop): do not run them again when execution resumes there.
    hook_skip: Option<u64>,
}

/// Cumulative counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Guest instructions (counted per translated block).
    pub instructions: u64,
    /// Virtual time in nanoseconds.
    pub virtual_ns: u64,
    /// Virtual time skipped by `hlt`.
    pub idle_ns: u64,
    /// Host time spent in [`Machine::run`].
    pub host_time: Duration,
    /// External interrupts delivered.
    pub interrupts: u64,
    /// `emu_start` calls (restarts after stops).
    pub restarts: u64,
}

impl Stats {
    /// Guest million instructions per host second.
    pub fn mips(&self) -> f64 {
        let s = self.host_time.as_secs_f64();
        if s > 0.0 {
            self.instructions as f64 / s / 1e6
        } else {
            0.0
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "guest instructions {}, virtual time {:.3} ms (idle {:.3} ms), host time {:.3} ms, {:.1} MIPS",
            self.instructions,
            self.virtual_ns as f64 / 1e6,
            self.idle_ns as f64 / 1e6,
            self.host_time.as_secs_f64() * 1e3,
            self.mips()
        )
    }
}

/// Reads a machine's progress from another thread ([`Machine::progress_handle`]).
#[derive(Debug, Clone)]
pub struct ProgressHandle {
    virtual_ns: Arc<AtomicU64>,
}

impl ProgressHandle {
    /// The machine's virtual time in ns, as of its run loop's last turn.
    pub fn virtual_ns(&self) -> u64 {
        self.virtual_ns.load(Ordering::Relaxed)
    }
}

/// The machine.
pub struct Machine {
    uc: Unicorn<'static, MachineState>,
    ram: Rc<Ram>,
    clock: Rc<Clock>,
    _cpuid: Rc<CpuidTable>,
    _raw_hooks: RawHooks,
    host_stop: Arc<AtomicBool>,
    host_input: Arc<AtomicBool>,
    trigger: Arc<AtomicU64>,
    /// Virtual time (ns) as of the run loop's last turn, for a progress display on another
    /// thread ([`Machine::progress_handle`]); only ever read there.
    progress: Arc<AtomicU64>,
    image: Option<KernelImage>,
    stats: Stats,
    mem_hook_ranges: Vec<(u64, u64)>,
}

/// The bounds of the unmapped-memory hook for `ram_len` bytes of RAM at physical 0: every
/// physical address above RAM, none inside it.
fn unmapped_hook_range(ram_len: u64) -> (u64, u64) {
    (ram_len, u64::MAX)
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("ram", &self.ram.len())
            .field("clock", &self.clock)
            .finish()
    }
}

impl Machine {
    /// A machine with empty RAM and the CPU in 64-bit mode (no paging yet). Tests and custom
    /// loaders use this; kernels use [`Machine::boot_image`].
    pub fn new(config: &MachineConfig) -> Result<Self, EmuError> {
        let layout = ContextLayout::self_test().map_err(EmuError::SelfTest)?;
        let ram = Rc::new(Ram::new(config.mem_bytes).map_err(|source| EmuError::Ram {
            bytes: config.mem_bytes,
            source,
        })?);
        let host_stop = Arc::new(AtomicBool::new(false));
        let host_input = Arc::new(AtomicBool::new(false));
        let trigger = Arc::new(AtomicU64::new(u64::MAX));
        let clock = Rc::new(Clock::new(
            ram.clone(),
            host_stop.clone(),
            host_input.clone(),
            trigger.clone(),
        ));
        let cpuid = Rc::new(CpuidTable::new());
        let state = MachineState {
            ram: ram.clone(),
            clock: clock.clone(),
            layout,
            scratch: None,
            devices: Devices::new(),
            console: Console {
                all: Vec::new(),
                tail: VecDeque::new(),
                sink: None,
            },
            stop: None,
            resync: false,
            hooks: HookTable::default(),
            timers: timers::TimerTable::default(),
            unmapped: None,
            input: InputDriver::new(host_input.clone()),
            hook_skip: None,
        };
        let mut uc =
            Unicorn::new_with_data(Arch::X86, Mode::MODE_64, state).map_err(uc_err("open"))?;
        uc.ctl_exits_enable().map_err(uc_err("exits"))?;
        let h = uc.get_handle();
        uc.get_data_mut().scratch = Some(RawContext::new(h).map_err(uc_err("context"))?);
        unicorn_raw::map_ram(&mut uc, &ram).map_err(uc_err("map RAM"))?;
        let raw_hooks = RawHooks::install(h, Rc::as_ptr(&cpuid), Rc::as_ptr(&clock))
            .map_err(uc_err("raw hooks"))?;
        uc.add_intr_hook(on_interrupt)
            .map_err(uc_err("interrupt hook"))?;
        uc.add_insn_in_hook(on_io_in).map_err(uc_err("in hook"))?;
        uc.add_insn_out_hook(on_io_out)
            .map_err(uc_err("out hook"))?;
        uc.add_insn_sys_hook(X86Insn::SYSCALL, 1, 0, |uc| {
            let res = with_env(uc, |uc, env| deliver::syscall(uc, env))
                .unwrap_or_else(|| Err("cannot allocate a CPU context".into()));
            if let Err(e) = res {
                uc.get_data_mut().stop =
                    Some(StopReason::CpuError(format!("syscall emulation: {e}")));
                request_stop(uc);
            }
        })
        .map_err(uc_err("syscall hook"))?;
        uc.add_insn_invalid_hook(|uc| {
            deliver_or_stop(
                uc,
                Event::Exception {
                    vector: deliver::vector::UD,
                    error_code: None,
                },
            );
            true
        })
        .map_err(uc_err("invalid-insn hook"))?;
        // Bounded to the physical addresses above guest RAM, never over RAM itself: in Unicorn
        // 2.1.5, `notdirty_write` (qemu/accel/tcg/cputlb.c) never marks a TLB entry dirty
        // while `uc_mem_hook_installed()` is true for the page, and that counts the
        // *_UNMAPPED hooks by their bounds. A hook over all addresses (`1, 0`) kept every
        // store to guest RAM on the slow path (about half of a Linux boot's host time). RAM is
        // mapped contiguously from physical 0, so every unmapped physical address is at or
        // above its end, and the hook still sees all of them.
        let (begin, end) = unmapped_hook_range(ram.len() as u64);
        uc.add_mem_hook(
            HookType::MEM_UNMAPPED,
            begin,
            end,
            |uc, kind, addr, _size, _v| {
                let access = match kind {
                    MemType::WRITE_UNMAPPED => "write",
                    MemType::FETCH_UNMAPPED => "fetch",
                    _ => "read",
                };
                uc.get_data_mut().unmapped = Some((addr, access));
                false
            },
        )
        .map_err(uc_err("unmapped-memory hook"))?;
        let mem_hook_ranges = vec![(begin, end)];
        Ok(Self {
            uc,
            ram,
            clock,
            _cpuid: cpuid,
            _raw_hooks: raw_hooks,
            host_stop,
            host_input,
            trigger,
            progress: Arc::new(AtomicU64::new(0)),
            image: None,
            stats: Stats::default(),
            mem_hook_ranges,
        })
    }

    /// The physical address ranges (inclusive) of every memory hook installed on the CPU.
    /// None may cover guest RAM: a memory hook over RAM makes every store take Unicorn's
    /// slow path (see [`Machine::new`]).
    pub fn memory_hook_ranges(&self) -> &[(u64, u64)] {
        &self.mem_hook_ranges
    }

    /// The loaded image, if any (its bytes hold the symbols and DWARF).
    pub fn image(&self) -> Option<&KernelImage> {
        self.image.as_ref()
    }

    /// A handle that reads, from another thread, how far a running machine has come in
    /// virtual time (updated at every timer event, so a few milliseconds behind at most).
    /// Reading it never changes the run.
    pub fn progress_handle(&self) -> ProgressHandle {
        ProgressHandle {
            virtual_ns: self.progress.clone(),
        }
    }

    /// A handle that can stop a running machine from another thread (e.g. a Ctrl-C handler).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            flag: self.host_stop.clone(),
            trigger: self.trigger.clone(),
        }
    }

    /// Guest memory (physical access and page-table walks).
    pub fn memory(&self) -> &Ram {
        &self.ram
    }

    /// A shared handle to guest RAM, valid for the machine's lifetime (snapshot restores write
    /// into the same mapping).
    pub fn ram_handle(&self) -> Rc<Ram> {
        self.ram.clone()
    }

    /// Read guest virtual memory through the current CR3.
    pub fn read_virt(&self, va: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let cr3 = self.uc.reg_read(RegisterX86::CR3).unwrap_or(0);
        self.ram.read_virt(cr3, va, buf)
    }

    /// Write guest physical memory, dropping any translated code for it.
    pub fn write_phys(&mut self, pa: u64, bytes: &[u8]) -> Result<(), Fault> {
        self.ram.write_phys(pa, bytes)?;
        let _ = self.uc.ctl_flush_tb();
        Ok(())
    }

    /// All registers in one batch.
    pub fn regs(&self) -> Regs {
        Regs::read(&self.uc).unwrap_or_default()
    }

    /// Write all registers in one batch. CS and SS are loaded with hidden state from the
    /// guest's GDT (so CPL follows CS), like a far jump would.
    pub fn set_regs(&mut self, r: &Regs) -> Result<(), EmuError> {
        r.write_basic(&self.uc).map_err(uc_err("registers"))?;
        for (reg, v) in [
            (RegisterX86::DS, r.ds),
            (RegisterX86::ES, r.es),
            (RegisterX86::FS, r.fs),
        ] {
            self.uc
                .reg_write(reg, u64::from(v))
                .map_err(uc_err("segment"))?;
        }
        let gdtr = unicorn_raw::read_mmr(self.uc.get_handle(), RegisterX86::GDTR);
        let flags = |sel: u16| -> u32 {
            if sel & !3 == 0 {
                return u32::from(sel & 3) << desc::DPL_SHIFT;
            }
            let mut d = [0u8; 8];
            let ok = self
                .ram
                .read_virt(r.cr3, gdtr.base + u64::from(sel & !7), &mut d)
                .is_ok();
            if ok {
                (u64::from_le_bytes(d) >> 32) as u32 & 0x00ff_ff00
            } else {
                0
            }
        };
        let (cf, sf) = (flags(r.cs), flags(r.ss));
        self.load_cs_ss(
            SegLoad {
                selector: r.cs,
                base: 0,
                limit: 0xffff_ffff,
                flags: cf,
            },
            SegLoad {
                selector: r.ss,
                base: 0,
                limit: 0xffff_ffff,
                flags: sf,
            },
        )?;
        let _ = (SEG_CS, SEG_SS);
        Ok(())
    }

    /// Device state (read-only).
    pub fn devices(&self) -> &Devices {
        &self.uc.get_data().devices
    }

    /// Unknown ports the guest touched, with counts.
    pub fn unknown_ports(&self) -> &BTreeMap<u16, UnknownPortCount> {
        &self.uc.get_data().devices.unknown
    }

    /// The `--verbose` details for people: interrupt counts and every unknown port touched.
    pub fn verbose_summary(&self) -> String {
        let s = self.stats();
        let mut out = format!(
            "interrupts delivered {}, emu_start calls {}\n",
            s.interrupts, s.restarts
        );
        for (port, c) in self.unknown_ports() {
            out.push_str(&format!(
                "unknown port {port:#06x}: {:>6} reads {:>6} writes\n",
                c.reads, c.writes
            ));
        }
        out
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            instructions: self.clock.insns(),
            virtual_ns: self.clock.now_ns(),
            idle_ns: self.clock.idle_ns(),
            ..self.stats
        }
    }

    /// Virtual time in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }

    /// A report for `reason`: registers, and the last console lines.
    pub fn report(&self, reason: &StopReason) -> StopReport {
        StopReport {
            reason: reason.clone(),
            regs: self.regs(),
            console_tail: self.console_tail(10),
        }
    }
}
