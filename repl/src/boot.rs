//! `bpflab boot`: run a guest and show its console.

use crate::images::GuestArgs;
use std::process::ExitCode;
use std::time::Duration;

pub fn boot(
    guest: &GuestArgs,
    max_time: Duration,
    verbose: bool,
) -> Result<ExitCode, crate::error::CliError> {
    let mut m = crate::images::boot(&guest.options())?.machine;
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
        emu::StopReason::Exit(c) if c != 0 => ExitCode::from(u8::try_from(c).unwrap_or(1).max(1)),
        r if crate::images::clean_stop(&r) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}
