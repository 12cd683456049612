//! `bpflab boot`: run a guest and show its console.

use std::process::ExitCode;
use std::time::Duration;

pub fn boot(
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
    let (name, bytes) = crate::images::read(image)?;
    let kernel = emu::KernelImage::parse(&name, bytes).map_err(|e| e.to_string())?;
    let mut m = emu::Machine::boot_image(&config, kernel).map_err(|e| e.to_string())?;
    m.set_console_sink(Some(emu::stdout_sink()));
    let reason = crate::images::run_interruptible(&mut m, emu::Limits::virtual_time(max_time))?;
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
