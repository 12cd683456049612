//! Boot an ELF kernel and print its console and a summary.
//!
//! `cargo run -p emu --release --example boot -- IMAGE [--mem MiB] [--max-time SECONDS]
//!  [--append CMDLINE] [--verbose]`

use emu::{Limits, Machine, MachineConfig};
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut image = None;
    let mut config = MachineConfig::default();
    let mut limits = Limits::virtual_time(Duration::from_secs(10));
    let mut verbose = false;
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
    let mut m = match Machine::boot_elf_file(&config, image.as_ref()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    m.set_console_sink(Some(emu::stdout_sink()));
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
