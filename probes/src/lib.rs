//! Probes: what bpflab knows about the guest kernel, and the filters attached to it.
//!
//! The guest's code and data, read from its ELF image:
//! - [`symbols`]: names <-> addresses (`.symtab`), globs, prefixes, duplicate locals;
//! - [`point`]: attach points of every kind (kprobes, tracepoints, raw tracepoints, fentry/fexit,
//!   syscalls), from the command line or a section name, resolved to places and contexts;
//! - [`attach`]: attach specs (`ip_rcv+0x1f`, `kretprobe:tcp_*`, `0xADDR`) resolved to addresses;
//! - [`types`]: C types from DWARF (gimli): layouts, holes like pahole, member paths, function
//!   parameters and the registers they arrive in;
//! - [`cdecl`]: a `vmlinux.h` of the guest's types for BPF C programs (CO-RE);
//! - [`listing`]: every attach point of an image, as `bpftrace -l` lists them;
//! - [`lines`]: addresses to `file:line` with inlined frames (addr2line).
//!
//! Everything indexes lazily and borrows the image's bytes, so a 65 MB vmlinux costs little
//! until a question is asked.
//!
//! Filters and what they see at a probe hit:
//! - [`image`]: a guest image's symbols, types and lines together, and what follows from them;
//! - [`load`]: filters from `.c` (clang + the shipped `bpflab.h`), `.o` and `.s`;
//! - [`context`]: the contexts a filter receives (the seed's `struct bpf_context`, `pt_regs`);
//! - [`guest`]: guest virtual memory with fault suppression, the current task;
//! - [`env`]: what helpers see during one probe hit;
//! - [`helpers`]: the guest-aware helpers and the seed's (`bpf_load_pointer`...);
//! - [`printk`]: `bpf_trace_printk` formatting by the kernel's rules;
//! - [`plan`]: attaching a loaded filter, every program at its point, for every front end;
//! - [`tracer`]: filters attached to a running machine, entry and return probes, statistics;
//! - [`unwind`]: guest kernel stacks from DWARF CFI, or frame pointers;
//! - [`tracepoints`]: the kernel's static tracepoints, trace events and the sites that test them;
//! - [`panic`]: a hook on `panic` that stops the guest and says what the kernel said;
//! - [`events`]: what filters emit, as trace_pipe text or versioned JSON.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let image = std::fs::read("teaching.elf")?;
//! let symbols = probes::symbols::SymbolTable::from_elf(&image)?;
//! let (sym, off) = symbols.resolve(0xffffffff80101234).ok_or("no symbol")?;
//! println!("{}+{off:#x}", sym.unique_name);
//! let types = probes::types::TypeDb::from_elf(&image)?;
//! let skb = types.find("struct sk_buff")?.ok_or("no sk_buff")?;
//! print!("{}", types.format_pahole(skb)?);
//! # Ok(()) }
//! ```

pub mod attach;
pub mod cdecl;
pub mod context;
mod elf;
pub mod env;
pub mod events;
pub mod guest;
pub mod helpers;
pub mod image;
pub mod knobs;
pub mod lines;
pub mod listing;
pub mod load;
pub mod panic;
pub mod plan;
pub mod point;
pub mod printk;
pub mod sidestep;
pub mod symbols;
pub mod tpsite;
pub mod tracepoints;
pub mod tracer;
pub mod types;
pub mod unwind;

pub use elf::ElfError;
