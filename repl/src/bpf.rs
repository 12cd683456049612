//! `bpflab bpf ...`: the eBPF engine on its own (assemble, disassemble, run, the conformance
//! plugin protocol).

use crate::error::{Cause, CliError, Noted};
use clap::{Subcommand, ValueEnum};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
pub enum Engine {
    Interp,
    Jit,
}

#[derive(Subcommand)]
pub enum BpfCmd {
    /// Assemble a `.s` file into raw bytecode.
    Asm {
        file: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Verify a program: `.s`, raw `.bin`, or every program of a clang `.o`. Prints what the
    /// verifier proved, or the instruction it refused with the reason and the log of the
    /// failing path (with C source lines when the object has them); exits 1 on rejection.
    Verify {
        file: PathBuf,
        /// Program type: `seed` (struct bpf_context), `kprobe` (struct pt_regs) or `mem:N`
        /// (r1 = N bytes of memory, as the conformance suites). Objects' kprobe/kretprobe
        /// sections are always `kprobe`.
        #[arg(long = "type", default_value = "seed")]
        ty: String,
        /// Print the verifier's log of every instruction processed, also on success.
        #[arg(long)]
        log: bool,
        /// The guest whose DWARF types resolve an object's CO-RE relocations.
        #[arg(long, default_value = "teaching")]
        image: String,
    },
    /// Disassemble raw bytecode (`.bin`), assembly (`.s`) or every program of a clang `.o`.
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
    /// first argument, r0 printed in hex; an error exits non-zero. A program that reads a
    /// register before writing it is refused (as the kernel's loader refuses it).
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

/// A file given to `bpf verify|disasm|run|asm`, read by its content
/// ([`probes::load::FileKind`]): one bare program (assembly or raw bytecode) or an object's
/// bytes (a clang object, or C source compiled against the image's `vmlinux.h`).
enum Input {
    Program(jit::Program),
    Object(Vec<u8>),
}

/// Reads `path`; C is compiled with the `vmlinux.h` of `image`.
fn read_input(path: &Path, image: &str) -> Result<Input, CliError> {
    use probes::load::FileKind;
    let bytes = std::fs::read(path).map_err(|e| CliError::path(path, e))?;
    match FileKind::detect(path, &bytes) {
        FileKind::Object => Ok(Input::Object(bytes)),
        FileKind::C => {
            let (name, elf) = crate::images::read_image(image)?;
            let img = probes::image::GuestImage::new(&name, elf)
                .map_err(|e| CliError::input(name.as_str(), e))?;
            let opts = probes::load::LoadOptions {
                include_dirs: vec![crate::images::vmlinux_dir(&img)?],
                ..probes::load::LoadOptions::default()
            };
            // clang's errors begin with the path.
            probes::load::compile_c(path, &opts)
                .map(Input::Object)
                .map_err(|e| CliError::path(path, e))
        }
        FileKind::Asm => {
            let src = String::from_utf8_lossy(&bytes);
            let instrs = jit::asm::assemble(&src).map_err(|e| {
                CliError::path(
                    path,
                    Noted::new(e, "read as BPF assembly: it is text and not C"),
                )
            })?;
            jit::Program::new(instrs)
                .map(Input::Program)
                .map_err(|e| CliError::path(path, e))
        }
        FileKind::Bytecode => jit::Program::from_bytes(&bytes)
            .map(Input::Program)
            .map_err(|e| {
                CliError::path(
                    path,
                    Noted::new(
                        e,
                        "read as raw bytecode: it is neither an ELF object nor text",
                    ),
                )
            }),
    }
}

/// A file that must hold one bare program (`bpf run`, `bpf asm`).
fn load_program(path: &Path) -> Result<jit::Program, CliError> {
    match read_input(path, "teaching")? {
        Input::Program(p) => Ok(p),
        Input::Object(bytes) => {
            let shown = path.display().to_string();
            let obj = jit::object::Object::parse(&bytes).map_err(|e| CliError::path(path, e))?;
            match (obj.programs.as_slice(), obj.maps.is_empty()) {
                ([p], true) => Ok(p.program.clone()),
                (ps, _) => Err(CliError::Message(format!(
                    "{shown}: an object with {} program(s) and {} map(s); this command runs one \
                     program without maps: `bpflab bpf verify` and `bpf disasm` read objects, \
                     `bpflab trace --attach` runs them in a guest",
                    ps.len(),
                    obj.maps.len()
                ))),
            }
        }
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
/// verified here). The error is the engine's own.
fn execute(prog: &jit::Program, mem: &mut [u8], engine: Engine) -> Result<u64, Cause> {
    let helpers = jit::conformance::suite_helpers();
    if let Engine::Jit = engine {
        let mut code = jit::JitProgram::compile_checked(prog, &helpers)?;
        return Ok(code.run_checked(mem, &[], &mut (), Some(100_000_000))?);
    }
    let prepared = jit::interp::Prepared::new(prog, &helpers)?;
    Ok(jit::interp::Interpreter::new().run_checked(
        &prepared,
        mem,
        &[],
        &mut (),
        Some(100_000_000),
    )?)
}

/// The program type named on the command line.
fn prog_type(name: &str) -> Result<jit::verifier::ProgType, String> {
    if let Some(n) = name.strip_prefix("mem:") {
        let size = n
            .parse::<u64>()
            .map_err(|_| format!("--type {name}: '{n}' is not a size in bytes"))?;
        return Ok(jit::verifier::ProgType::mem(size));
    }
    jit::verifier::ProgType::by_name(name)
        .ok_or_else(|| format!("--type {name}: expected seed, kprobe or mem:N"))
}

/// Verifies one program and reports; Ok(true) when it was accepted.
fn verify_one(
    title: &str,
    prog: &jit::Program,
    ty: &jit::verifier::ProgType,
    maps: &[jit::maps::MapDef],
    map_contents: Vec<Option<std::sync::Arc<[u8]>>>,
    lines: Option<jit::verifier::LineInfo>,
    log: bool,
) -> bool {
    use jit::verifier::{verify, LogLevel, VerifyOptions};
    let opts = VerifyOptions {
        log_level: if log {
            LogLevel::All
        } else {
            LogLevel::Failure
        },
        line_info: lines,
        map_contents,
        ..VerifyOptions::default()
    };
    let started = std::time::Instant::now();
    let result = if ty.name == "mem" {
        verify(prog, ty, &jit::conformance::suite_helpers(), maps, &opts)
    } else {
        verify(prog, ty, &probes::helpers::probe_helpers(), maps, &opts)
    };
    let took = started.elapsed();
    match result {
        Ok(v) => {
            if log {
                print!("{}", v.log);
            }
            println!(
                "{title}: verified as '{}': {} instructions, {} processed in {:.2} ms, stack {} bytes",
                ty.name,
                prog.len(),
                v.processed,
                took.as_secs_f64() * 1e3,
                v.stack_depth.iter().max().copied().unwrap_or(0)
            );
            true
        }
        Err(e) => {
            print!("{}", e.log);
            println!("{title}: rejected: {e}");
            if let Some(hint) = type_hint(ty, &e.reason) {
                println!("hint: {hint}");
            }
            false
        }
    }
}

/// When a refusal suggests the program was written for another context than `--type` gave
/// it (memory and its length in r1 and r2, as `bpf run --mem` and the conformance suites
/// hand them), which `--type` would fit.
fn type_hint(ty: &jit::verifier::ProgType, reason: &jit::verifier::Reason) -> Option<String> {
    use jit::verifier::Reason;
    if ty.name == "mem" {
        return None;
    }
    match reason {
        Reason::UninitRegister { reg: 2 } => Some(format!(
            "r2 is not set at entry for --type {}; a program that takes memory in r1 and its \
             length in r2 (as `bpf run --mem` runs it) verifies with --type mem:N, N the \
             memory's size in bytes",
            ty.name
        )),
        Reason::ContextAccess { off, size, .. } => {
            let end = off.saturating_add(*size as i64).max(1);
            let ctx = match &ty.context {
                jit::verifier::Context::Table { size, .. } => format!("{size}-byte "),
                _ => String::new(),
            };
            Some(format!(
                "the access ends at byte {end}, past the {ctx}context of --type {}; if r1 is \
                 plain memory, --type mem:N with N >= {end} describes it",
                ty.name
            ))
        }
        _ => None,
    }
}

fn verify_file(file: &Path, ty: &str, log: bool, image: &str) -> Result<ExitCode, CliError> {
    let ty = prog_type(ty)?;
    let shown = file.display().to_string();
    let mut all_ok = true;
    let bytes = match read_input(file, image)? {
        Input::Program(prog) => {
            let ok = verify_one(&shown, &prog, &ty, &[], Vec::new(), None, log);
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Input::Object(bytes) => bytes,
    };
    {
        let (name, elf) = crate::images::read_image(image)?;
        let img = probes::image::GuestImage::new(&name, elf)
            .map_err(|e| CliError::input(name.as_str(), e))?;
        let core = |q: &jit::btf::core::CoreQuery<'_>| img.core_answer(q);
        let opts = probes::load::LoadOptions {
            core: Some(&core),
            ..probes::load::LoadOptions::default()
        };
        let filter = probes::load::load_object(&shown, &bytes, &opts)
            .map_err(|e| CliError::input(shown.as_str(), e))?;
        let defs: Vec<_> = filter.maps.iter().map(|m| m.def().clone()).collect();
        for p in &filter.programs {
            // Each program with its section's context: the exact one when its point resolves
            // in the image (fentry and tp_btf take their target's argument count).
            let pty = match (p.family, &p.point) {
                (probes::point::ProgFamily::Seed, _) => ty.clone(),
                (family, Some(point)) => point
                    .resolve(&img)
                    .ok()
                    .and_then(|t| t.first().and_then(|t| t.context_for(family).ok()))
                    .unwrap_or(p.ctx)
                    .prog_type(),
                (_, None) => p.ctx.prog_type(),
            };
            let lines = p.clone();
            let hook: jit::verifier::LineInfo = std::sync::Arc::new(move |pc| lines.line_of(pc));
            let title = format!("{shown}: {} ({})", p.name, p.section);
            // `.rodata` contents: constant bpf_trace_printk formats are read from them.
            let contents = filter.maps.read_only_contents();
            all_ok &= verify_one(&title, &p.program, &pty, &defs, contents, Some(hook), log);
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn bpf(cmd: BpfCmd) -> Result<ExitCode, CliError> {
    match cmd {
        BpfCmd::Verify {
            file,
            ty,
            log,
            image,
        } => return verify_file(&file, &ty, log, &image),
        BpfCmd::Asm { file, output } => {
            let prog = load_program(&file)?;
            std::fs::write(&output, prog.to_bytes()).map_err(|e| CliError::path(&output, e))?;
        }
        BpfCmd::Disasm { file } => {
            let bytes = match read_input(&file, "teaching")? {
                Input::Program(prog) => {
                    print!("{}", jit::disasm::listing(prog.instrs()));
                    return Ok(ExitCode::SUCCESS);
                }
                Input::Object(bytes) => bytes,
            };
            // Every program of a clang object, linked, with its C source lines.
            let shown = file.display().to_string();
            let obj = jit::object::Object::parse(&bytes)
                .map_err(|e| crate::images::image_error(&shown, &bytes, e))?;
            for p in &obj.programs {
                println!("{} ({}):", p.name, p.section);
                let listing = jit::disasm::listing(p.program.instrs());
                for (pc, line) in listing.lines().enumerate() {
                    if let Some((_, src)) = p.lines.iter().find(|(at, _)| *at == pc) {
                        println!(
                            "; {}:{}: {}",
                            src.file.rsplit('/').next().unwrap_or(&src.file),
                            src.line,
                            src.text.trim()
                        );
                    }
                    println!("{line}");
                }
                println!();
            }
        }
        BpfCmd::Run { file, mem, engine } => {
            let prog = load_program(&file)?;
            let mut memory = match mem {
                Some(p) => {
                    hex_to_bytes(&std::fs::read_to_string(&p).map_err(|e| CliError::path(&p, e))?)?
                }
                None => Vec::new(),
            };
            let r0 = execute(&prog, &mut memory, engine).map_err(|e| CliError::path(&file, e))?;
            println!("{r0:#x}");
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
            let (text, from) = match program {
                Some(p) => (p, "--program"),
                None => {
                    let mut s = String::new();
                    std::io::stdin()
                        .read_to_string(&mut s)
                        .map_err(|e| CliError::input("stdin", e))?;
                    (s, "stdin")
                }
            };
            let prog = jit::Program::from_bytes(&hex_to_bytes(&text)?)
                .map_err(|e| CliError::input(from, e))?;
            let mut mem = hex_to_bytes(memory.as_deref().unwrap_or(""))?;
            // The suite expects a program reading a register nothing wrote to be refused
            // (negative/error.data), as the kernel's loader does; the checked engines would run
            // it and print whatever the register held.
            let ty = jit::verifier::ProgType::mem(mem.len() as u64);
            if let Err(e) = jit::verifier::check_initialised(&prog, &ty) {
                println!("invalid program: {e}");
                return Ok(ExitCode::FAILURE);
            }
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
