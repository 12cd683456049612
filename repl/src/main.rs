//! `bpflab`: boot guest kernels and run eBPF programs against them.
//!
//! Subcommands so far: `boot` (the machine, with the embedded teaching kernel as the default
//! guest) and `bpf asm|disasm|run|conformance-plugin` (the eBPF engine). `trace`, `repl`,
//! `record`/`replay`, `image` and `types` follow in later issues (see ../shared/design.md).

use clap::{Parser, Subcommand, ValueEnum};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The teaching kernel, built from guest-images/teaching by build.rs.
static TEACHING_ELF: &[u8] = include_bytes!(env!("BPFLAB_TEACHING_ELF"));

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
        /// `teaching` (embedded) or the path of an ELF64 x86-64 kernel.
        #[arg(long, default_value = "teaching")]
        image: String,
        /// Guest RAM, e.g. 256M or 1G.
        #[arg(long, default_value = "256M", value_parser = parse_size)]
        mem: usize,
        /// Stop after this much virtual time, e.g. 10s or 500ms.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        max_time: Duration,
        /// Kernel command line.
        #[arg(long, default_value = "")]
        append: String,
        /// Also list interrupt counts and unknown I/O ports.
        #[arg(long)]
        verbose: bool,
    },
    /// The eBPF engine: assemble, disassemble, run.
    #[command(subcommand)]
    Bpf(BpfCmd),
}

#[derive(Clone, Copy, ValueEnum)]
enum Engine {
    Interp,
    Jit,
}

#[derive(Subcommand)]
enum BpfCmd {
    /// Assemble a `.s` file into raw bytecode.
    Asm {
        file: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Disassemble raw bytecode (`.bin`).
    Disasm { file: PathBuf },
    /// Run a program (`.s` or raw `.bin`) and print r0. r1 points to the memory, r2 is its size.
    Run {
        file: PathBuf,
        /// A file of hex bytes given to the program as memory.
        #[arg(long)]
        mem: Option<PathBuf>,
        /// The JIT (checked mode: every access bounds-checked) or the interpreter.
        #[arg(long, value_enum, default_value = "jit")]
        engine: Engine,
    },
    /// bpf_conformance's plugin protocol: program as hex bytes on stdin, memory as hex in the
    /// first argument, r0 printed in hex; an error exits non-zero.
    ConformancePlugin {
        /// Memory as hex bytes.
        memory: Option<String>,
        /// The program as hex bytes instead of stdin.
        #[arg(long)]
        program: Option<String>,
        /// Run on the JIT (the default).
        #[arg(long)]
        jit: bool,
        /// Run on the interpreter instead of the JIT.
        #[arg(long, conflicts_with = "jit")]
        interpret: bool,
    },
}

fn parse_size(s: &str) -> Result<usize, String> {
    let (num, mult) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1usize << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n >= 2 << 20)
        .ok_or_else(|| format!("'{s}' is not a memory size of at least 2M (e.g. 256M)"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("'{s}' is not a duration (e.g. 10s, 500ms)");
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    if !(v.is_finite() && v > 0.0) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(v * scale))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bpflab: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.cmd {
        Cmd::Boot {
            image,
            mem,
            max_time,
            append,
            verbose,
        } => boot(&image, mem, max_time, append, verbose),
        Cmd::Bpf(b) => bpf(b),
    }
}

fn boot(
    image: &str,
    mem: usize,
    max_time: Duration,
    append: String,
    verbose: bool,
) -> Result<ExitCode, String> {
    let config = emu::MachineConfig {
        mem_bytes: mem,
        cmdline: append,
    };
    let (name, bytes) = if image == "teaching" {
        ("teaching".to_string(), TEACHING_ELF.to_vec())
    } else {
        (
            image.to_string(),
            std::fs::read(image).map_err(|e| format!("{image}: {e}"))?,
        )
    };
    let kernel = emu::KernelImage::parse(&name, bytes).map_err(|e| e.to_string())?;
    let mut m = emu::Machine::boot_image(&config, kernel).map_err(|e| e.to_string())?;
    m.set_console_sink(Some(emu::stdout_sink()));
    let reason = m.run(emu::Limits::virtual_time(max_time));
    if reason.is_crash() {
        eprintln!("{}", m.report(&reason));
    }
    eprintln!("stop: {reason}");
    eprintln!("{}", m.stats());
    if verbose {
        eprint!("{}", m.verbose_summary());
    }
    Ok(match reason {
        emu::StopReason::Exit(0) => ExitCode::SUCCESS,
        emu::StopReason::Exit(c) => ExitCode::from(u8::try_from(c).unwrap_or(1).max(1)),
        _ => ExitCode::FAILURE,
    })
}

/// Reads a program: `.s` is assembled, anything else is raw bytecode.
fn load_program(path: &Path) -> Result<jit::Program, String> {
    let shown = path.display();
    if path.extension().is_some_and(|e| e == "s") {
        let src = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
        let instrs = jit::asm::assemble(&src).map_err(|e| format!("{shown}: {e}"))?;
        jit::Program::new(instrs).map_err(|e| format!("{shown}: {e}"))
    } else {
        let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
        jit::Program::from_bytes(&bytes).map_err(|e| format!("{shown}: {e}"))
    }
}

fn hex_to_bytes(text: &str) -> Result<Vec<u8>, String> {
    text.split_whitespace()
        .flat_map(|t| {
            let t = t.trim_start_matches("0x");
            (0..t.len())
                .step_by(2)
                .map(move |i| t.get(i..i + 2).unwrap_or(t))
        })
        .map(|b| u8::from_str_radix(b, 16).map_err(|_| format!("'{b}' is not a hex byte")))
        .collect()
}

/// Runs `prog` with the conformance suites' helpers, every access checked (the program is not
/// verified here).
fn execute(prog: &jit::Program, mem: &mut [u8], engine: Engine) -> Result<u64, String> {
    let helpers = jit::conformance::suite_helpers();
    if let Engine::Jit = engine {
        let mut code =
            jit::JitProgram::compile_checked(prog, &helpers).map_err(|e| e.to_string())?;
        return code
            .run_checked(mem, &[], &mut (), Some(100_000_000))
            .map_err(|e| e.to_string());
    }
    let prepared = jit::interp::Prepared::new(prog, &helpers).map_err(|e| e.to_string())?;
    jit::interp::Interpreter::new()
        .run_checked(&prepared, mem, &[], &mut (), Some(100_000_000))
        .map_err(|e| e.to_string())
}

fn bpf(cmd: BpfCmd) -> Result<ExitCode, String> {
    match cmd {
        BpfCmd::Asm { file, output } => {
            let prog = load_program(&file)?;
            std::fs::write(&output, prog.to_bytes())
                .map_err(|e| format!("{}: {e}", output.display()))?;
        }
        BpfCmd::Disasm { file } => {
            let prog = load_program(&file)?;
            print!("{}", jit::disasm::listing(prog.instrs()));
        }
        BpfCmd::Run { file, mem, engine } => {
            let prog = load_program(&file)?;
            let mut memory = match mem {
                Some(p) => hex_to_bytes(
                    &std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?,
                )?,
                None => Vec::new(),
            };
            println!("{:#x}", execute(&prog, &mut memory, engine)?);
        }
        BpfCmd::ConformancePlugin {
            memory,
            program,
            interpret,
            ..
        } => {
            let engine = if interpret {
                Engine::Interp
            } else {
                Engine::Jit
            };
            let text = match program {
                Some(p) => p,
                None => {
                    let mut s = String::new();
                    std::io::stdin()
                        .read_to_string(&mut s)
                        .map_err(|e| format!("stdin: {e}"))?;
                    s
                }
            };
            let prog =
                jit::Program::from_bytes(&hex_to_bytes(&text)?).map_err(|e| e.to_string())?;
            let mut mem = hex_to_bytes(memory.as_deref().unwrap_or(""))?;
            match execute(&prog, &mut mem, engine) {
                Ok(r0) => println!("{r0:x}"),
                Err(e) => {
                    println!("{e}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
