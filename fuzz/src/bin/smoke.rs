//! The stable smoke runner: every fuzz target (or the named ones) over its corpus and then
//! mutated inputs, without libFuzzer or nightly.
//!
//! ```text
//! smoke [TARGET...] [--seconds N] [--seed N] [--timeout N] [--strict]
//!       [--mem-limit-mb N] [--corpus DIR] [--artifacts DIR] [--in-process] [-v]
//! smoke TARGET --input FILE...      replay files (a crash prints its panic)
//! smoke --list
//! smoke --make-seeds TESTS_DIR      (re)write the conformance-derived seeds
//! ```
//!
//! Each target runs in a child process (unless `--in-process`), so a signal from JIT code or
//! a hang is reported with its input and the other targets still run; its address space is
//! limited (`--mem-limit-mb`, 2048 by default, as libFuzzer's `-rss_limit_mb`) so that an
//! input asking for a huge allocation aborts the worker instead of swapping the machine. `--seconds` is per
//! target. Known bugs (inputs in `regressions/<target>/`) are replayed and reported but do not
//! fail the run unless `--strict`. Exit status: 0 when no target failed, 1 otherwise.

use bpflab_fuzz::runner::{self, Options, EXIT_KNOWN_HANG, EXIT_TIMEOUT};
use bpflab_fuzz::targets::{self, Target, TARGETS};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

struct Args {
    names: Vec<String>,
    opts: Options,
    in_process: bool,
    strict: bool,
    /// Address-space limit of a worker, in MiB (0: none).
    mem_limit_mb: u64,
    inputs: Vec<PathBuf>,
    list: bool,
    make_seeds: Option<PathBuf>,
    /// The original flags, passed on to workers.
    forwarded: Vec<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: smoke [TARGET...] [--seconds N] [--seed N] [--timeout N] [--strict]\n\
         \x20            [--mem-limit-mb N] [--corpus DIR] [--artifacts DIR] [--in-process] [-v]\n\
         \x20      smoke TARGET --input FILE...\n\
         \x20      smoke --list | --make-seeds TESTS_DIR"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        names: Vec::new(),
        opts: Options::new(),
        in_process: false,
        strict: false,
        mem_limit_mb: 2048,
        inputs: Vec::new(),
        list: false,
        make_seeds: None,
        forwarded: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| -> String {
            let v = it.next().unwrap_or_else(|| {
                eprintln!("{flag} needs a value");
                usage()
            });
            v
        };
        let num = |flag: &str, v: &str| -> f64 {
            v.parse().unwrap_or_else(|_| {
                eprintln!("{flag}: not a number: {v}");
                usage()
            })
        };
        match arg.as_str() {
            "--seconds" => {
                let v = value(&arg);
                a.opts.time = Duration::from_secs_f64(num(&arg, &v));
                a.forwarded.extend([arg, v]);
            }
            "--timeout" => {
                let v = value(&arg);
                a.opts.timeout = Duration::from_secs_f64(num(&arg, &v));
                a.forwarded.extend([arg, v]);
            }
            "--seed" => {
                let v = value(&arg);
                a.opts.seed = v.parse().unwrap_or_else(|_| usage());
                a.forwarded.extend([arg, v]);
            }
            "--corpus" => {
                let v = value(&arg);
                a.opts.corpus = PathBuf::from(&v);
                a.forwarded.extend([arg, v]);
            }
            "--artifacts" => {
                let v = value(&arg);
                a.opts.artifacts = PathBuf::from(&v);
                a.forwarded.extend([arg, v]);
            }
            "--strict" => {
                a.strict = true;
                a.forwarded.push(arg);
            }
            "-v" | "--verbose" => {
                a.opts.verbose = true;
                a.forwarded.push(arg);
            }
            "--mem-limit-mb" => {
                let v = value(&arg);
                a.mem_limit_mb = v.parse().unwrap_or_else(|_| usage());
            }
            "--in-process" => a.in_process = true,
            "--input" => a.inputs.push(PathBuf::from(value(&arg))),
            "--list" => a.list = true,
            "--make-seeds" => a.make_seeds = Some(PathBuf::from(value(&arg))),
            "-h" | "--help" => usage(),
            s if s.starts_with('-') => {
                eprintln!("unknown flag {s}");
                usage()
            }
            _ => a.names.push(arg),
        }
    }
    a
}

fn selected(names: &[String]) -> Vec<&'static Target> {
    if names.is_empty() {
        return TARGETS.iter().collect();
    }
    names
        .iter()
        .map(|n| {
            targets::find(n).unwrap_or_else(|| {
                let all: Vec<_> = TARGETS.iter().map(|t| t.name).collect();
                eprintln!(
                    "no target '{n}' in this build (targets: {}; probes and kernel targets need \
                     their features)",
                    all.join(", ")
                );
                std::process::exit(2)
            })
        })
        .collect()
}

/// Runs one target in this process and prints its report; true if it passed.
fn run_here(t: &'static Target, opts: &Options, strict: bool) -> bool {
    let start = Instant::now();
    let report = runner::fuzz(t, opts);
    let secs = start.elapsed().as_secs_f64();
    for f in &report.failures {
        eprint!("{}", runner::describe(t.name, f));
    }
    for k in &report.known {
        println!("[{}] known bug still there: {k}", t.name);
    }
    for p in &report.fixed {
        println!(
            "[{}] {} passes now: the bug is fixed, move it to corpus/{}/",
            t.name,
            p.display(),
            t.name
        );
    }
    let mut status = if report.failures.is_empty() {
        "ok".to_string()
    } else {
        format!("{} new distinct failure(s)", report.failures.len())
    };
    if report.known_hits > 0 {
        status.push_str(&format!(" ({} inputs hit known bugs)", report.known_hits));
    }
    println!(
        "[{}] {} seeds, {} runs in {secs:.1} s ({:.0}/s): {status}",
        t.name,
        report.seeds,
        report.runs,
        report.runs as f64 / secs.max(1e-9),
    );
    report.failures.is_empty() && (!strict || report.known.is_empty())
}

/// Runs one target in a child process; reports signals (with the in-flight input of recording
/// targets) and hangs.
fn run_child(t: &'static Target, args: &Args) -> bool {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("cannot find this executable ({e}); running in-process");
            return run_here(t, &args.opts, args.strict);
        }
    };
    // The limit is set by the shell (`ulimit -v`) that then becomes the worker.
    let mut cmd = if args.mem_limit_mb > 0 {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!(
                "ulimit -v {} && exec \"$0\" \"$@\"",
                args.mem_limit_mb * 1024
            ))
            .arg(exe);
        c
    } else {
        Command::new(exe)
    };
    let status = cmd
        .arg(t.name)
        .arg("--in-process")
        .args(&args.forwarded)
        .status();
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            eprintln!("[{}] cannot start a worker: {e}", t.name);
            return false;
        }
    };
    if status.success() {
        return true;
    }
    if status.code() == Some(EXIT_KNOWN_HANG) {
        return !args.strict;
    }
    if status.code() == Some(EXIT_TIMEOUT) {
        println!("[{}] hang (input printed above)", t.name);
        return false;
    }
    if status.code().is_none() {
        // Killed by a signal: only recording targets leave their input behind.
        let dir = args.opts.artifacts.join(t.name);
        let in_flight = dir.join("in-flight");
        let known = runner::has_known_abort(&args.opts, t.name);
        match runner::InFlight::read(&in_flight).ok_or(()) {
            Ok(input) if t.record && known => {
                let saved = runner::save(&dir, "abort", &input);
                let _ = std::fs::remove_file(&in_flight);
                println!(
                    "[{}] the worker died: {status} (known: regressions/{}/abort*); input saved as {}",
                    t.name,
                    t.name,
                    saved.map(|p| p.display().to_string()).unwrap_or_default()
                );
                return !args.strict;
            }
            Ok(input) if t.record => {
                let f = runner::Failure {
                    message: format!("the worker died: {status}"),
                    saved: runner::save(&dir, "crash-signal", &input),
                    input,
                };
                let _ = std::fs::remove_file(&in_flight);
                eprint!("{}", runner::describe(t.name, &f));
            }
            _ => eprintln!("[{}] the worker died: {status} (input unknown)", t.name),
        }
        println!("[{}] crashed", t.name);
    }
    false
}

fn main() -> ExitCode {
    let args = parse_args();
    if args.list {
        for t in TARGETS {
            println!("{}", t.name);
        }
        return ExitCode::SUCCESS;
    }
    if let Some(tests) = &args.make_seeds {
        return match bpflab_fuzz::seeds::make_seeds(tests, &args.opts.corpus) {
            Ok(n) => {
                println!(
                    "seeds from {n} conformance tests written under {}",
                    args.opts.corpus.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", tests.display());
                ExitCode::FAILURE
            }
        };
    }
    let targets = selected(&args.names);
    if !args.inputs.is_empty() {
        let [t] = targets[..] else {
            eprintln!("--input needs exactly one target");
            usage()
        };
        let mut ok = true;
        for path in &args.inputs {
            let input = std::fs::read(path).unwrap_or_else(|e| {
                eprintln!("{}: {e}", path.display());
                std::process::exit(2)
            });
            match runner::replay(t, &input, &args.opts) {
                Ok(()) => println!("[{}] {}: ok", t.name, path.display()),
                Err(m) => {
                    ok = false;
                    println!("[{}] {}: {m}", t.name, path.display());
                }
            }
        }
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let mut failed = Vec::new();
    for t in targets {
        let ok = if args.in_process {
            run_here(t, &args.opts, args.strict)
        } else {
            run_child(t, &args)
        };
        if !ok {
            failed.push(t.name);
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}
