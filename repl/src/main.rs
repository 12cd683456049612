//! `bpflab`: boot guest kernels, attach eBPF filters to them, run eBPF programs.
//!
//! Subcommands: `boot` (the machine, with the embedded teaching kernel as the default guest),
//! `trace` (the seed's loop: filters attached to guest kernel symbols), `list` (attach points),
//! `types` and
//! `vmlinux-h` (the guest's DWARF types), and `bpf asm|disasm|run|conformance-plugin` (the
//! eBPF engine on its own), `repl` (an interactive prompt over a running guest). The README's
//! CLI section lists the whole surface.

mod args;
mod boot;
mod bpf;
mod error;
mod image_cmd;
mod images;
mod inspect;
mod mapfmt;
mod progress;
mod record;
mod repl;
mod replay;
mod trace;

use args::parse_duration;
use clap::{Parser, Subcommand};
use error::CliError;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "bpflab",
    version,
    about = "A sandbox to write, verify, run and learn kernel tracing filters"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot a guest kernel, print its console and a summary.
    Boot {
        #[command(flatten)]
        guest: images::GuestArgs,
        /// Stop after this much virtual time, e.g. 10s or 500ms.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        max_time: Duration,
        /// Also list interrupt counts and unknown I/O ports.
        #[arg(long)]
        verbose: bool,
    },
    /// Boot a guest with filters attached to its kernel functions; print what they report.
    Trace(trace::TraceArgs),
    /// Print a type's layout from the guest's DWARF, like pahole.
    Types {
        /// `teaching` (embedded) or the path of a kernel ELF with DWARF.
        image: String,
        /// The type, e.g. 'struct sk_buff'.
        name: String,
    },
    /// List the attach points of an image (kprobe:, kretprobe:, fentry:, fexit:,
    /// tracepoint:, rawtracepoint:), like `bpftrace -l`.
    List {
        /// A glob over the whole point (`tracepoint:sched:*`), or over the name after any
        /// kind (`*sched_switch*`).
        pattern: Option<String>,
        /// Also print what a program there reads: arguments, record fields, in C.
        #[arg(short, long)]
        verbose: bool,
        /// `teaching` (embedded), `linux`, or the path of a kernel ELF.
        #[arg(long, default_value = "teaching")]
        image: String,
    },
    /// Write C declarations of the guest's types (for `#include "vmlinux.h"`).
    #[command(name = "vmlinux-h")]
    VmlinuxH {
        /// `teaching` (embedded) or the path of a kernel ELF with DWARF.
        image: String,
    },
    /// An interactive prompt over a running guest: probes, breakpoints, memory, types.
    Repl(repl::ReplArgs),
    /// Run a guest and write a recording (image identity, input log, checkpoints).
    Record(record::RecordArgs),
    /// Re-execute a recording with filters attached, verifying every checkpoint.
    Replay(replay::ReplayArgs),
    /// Build guest images, or describe one.
    #[command(subcommand)]
    Image(image_cmd::ImageCmd),
    /// The eBPF engine: assemble, disassemble, verify, run.
    #[command(subcommand)]
    Bpf(bpf::BpfCmd),
}

fn main() -> ExitCode {
    // `bpflab ... | head`: a closed stdout ends the program quietly, as for any Unix tool
    // (Rust ignores SIGPIPE, so println! would otherwise panic).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    let cli = Cli::parse();
    let json = cli.cmd.json();
    match run(cli) {
        Ok(code) => code,
        Err(e) if json => {
            eprintln!("{}", e.to_json());
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("bpflab: {}", e.chain());
            ExitCode::from(2)
        }
    }
}

impl Cmd {
    /// Whether the command writes JSON (then its errors are JSON lines too).
    fn json(&self) -> bool {
        match self {
            Cmd::Trace(a) => a.json,
            Cmd::Replay(a) => a.json,
            _ => false,
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    Ok(match cli.cmd {
        Cmd::Boot {
            guest,
            max_time,
            verbose,
        } => boot::boot(&guest, max_time, verbose)?,
        Cmd::Trace(a) => trace::trace(a)?,
        Cmd::Types { image, name } => inspect::types(&image, &name)?,
        Cmd::VmlinuxH { image } => inspect::vmlinux_h(&image)?,
        Cmd::List {
            pattern,
            verbose,
            image,
        } => inspect::list(&image, pattern.as_deref(), verbose)?,
        Cmd::Image(c) => image_cmd::image(c)?,
        Cmd::Bpf(b) => bpf::bpf(b)?,
        Cmd::Repl(a) => repl::repl(a)?,
        Cmd::Record(a) => record::record(a)?,
        Cmd::Replay(a) => replay::replay(a)?,
    })
}
