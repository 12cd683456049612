//! Boot an ELF kernel and print its console and a summary.
//!
//! `cargo run -p emu --release --example boot -- IMAGE [--mem MiB] [--max-time SECONDS]
//!  [--append CMDLINE] [--initrd FILE] [--input SCRIPT] [--stdin] [--verbose]`
//!
//! A Linux vmlinux is booted with the Linux boot protocol (with `--initrd`); `--input` types a
//! console script (`@wait "TEXT"`, `@sleep 100ms`, text lines), `--stdin` forwards the host's
//! standard input to the console during the run.

use emu::{InputScript, InputSource, KernelImage, Limits, Machine, MachineConfig};
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut image = None;
    let mut config = MachineConfig::default();
    let mut limits = Limits::virtual_time(Duration::from_secs(10));
    let mut verbose = false;
    let mut initrd = None;
    let mut input = None;
    let mut stdin = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mem" => {
                config.mem_bytes = args
                    .next()
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(256)
                    << 20
            }
            "--max-time" => {
                let secs = args
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(10.0);
                limits = Limits::virtual_time(Duration::from_secs_f64(secs));
            }
            "--append" => config.cmdline = args.next().unwrap_or_default(),
            "--initrd" => initrd = args.next(),
            "--input" => input = args.next(),
            "--stdin" => stdin = true,
            "--verbose" => verbose = true,
            _ => image = Some(a),
        }
    }
    let Some(image) = image else {
        eprintln!(
            "usage: boot IMAGE [--mem MiB] [--max-time SECONDS] [--append CMDLINE] [--verbose]"
        );
        std::process::exit(2);
    };
    let fail = |e: String| -> ! {
        eprintln!("error: {e}");
        std::process::exit(1);
    };
    let bytes = std::fs::read(&image).unwrap_or_else(|e| fail(format!("{image}: {e}")));
    let kernel = KernelImage::parse(&image, bytes).unwrap_or_else(|e| fail(e.to_string()));
    let booted = match initrd {
        Some(path) => {
            let rd = std::fs::read(&path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
            Machine::boot_linux(&config, kernel, Some(&rd))
        }
        None => Machine::boot_image(&config, kernel),
    };
    let mut m = booted.unwrap_or_else(|e| fail(e.to_string()));
    m.set_console_sink(Some(emu::stdout_sink()));
    if let Some(path) = input {
        let script = InputScript::from_file(path.as_ref()).unwrap_or_else(|e| fail(e.to_string()));
        m.set_input(InputSource::Script(script));
    } else if stdin {
        m.set_input(InputSource::stream(std::io::stdin()));
    }
    let reason = m.run(limits);
    if reason.is_crash() {
        eprintln!("{}", m.report(&reason));
    }
    eprintln!("stop: {reason}");
    eprintln!("{}", m.stats());
    if verbose {
        eprint!("{}", m.verbose_summary());
    }
    let code = match reason {
        emu::StopReason::Exit(c) => c as i32,
        _ => 1,
    };
    std::process::exit(code);
}
