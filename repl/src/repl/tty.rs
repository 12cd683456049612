//! `tty`: the host terminal joined to the guest's console, as `screen` on a serial line or
//! QEMU's `-serial stdio` would, until Ctrl-] gives the prompt back (telnet's escape key).
//!
//! The guest runs in real-time mode (idle time passes at host speed, so a shell waiting for
//! a key costs nothing and its timeouts mean what they say). The terminal is raw: every key,
//! Ctrl-C included, goes to the guest; output processing stays on so bpflab's own lines
//! (filter events, printed as they happen) still start at the left margin. A thread polls
//! stdin and forwards what arrives; Ctrl-] (or the end of stdin) asks the machine to stop.
//! Breakpoints, probes and panics stop the guest as they do under `run`, and the prompt comes
//! back with the stop described.

use super::commands::Invocation;
use super::session::Session;
use super::{fail, ReplError};
use emu::{Limits, StopReason};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, OutputFlags, SetArg, Termios};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

/// Ctrl-]: back to the prompt.
pub const DETACH: u8 = 0x1d;

/// `tty`.
pub fn tty(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 0)?;
    if !super::front::stdin_is_terminal() {
        return fail(
            "tty: stdin is not a terminal; in a script, 'input TEXT' types into the guest and \
             'run' lets it read",
        );
    }
    if let Some(why) = s.stopped_for_good() {
        return fail(format!(
            "the guest has stopped ({why}); 'boot' starts it again"
        ));
    }
    let was_realtime = s.realtime.is_some();
    s.set_realtime(true)?;
    let send = s
        .realtime
        .clone()
        .ok_or_else(|| ReplError::Failed("tty: no console stream".into()))?;
    println!("connected to the guest's console; Ctrl-] returns to the prompt");
    let reason = {
        let _raw = RawMode::enter()?;
        let done = Arc::new(AtomicBool::new(false));
        let stop = s.machine.stop_handle();
        let reader = {
            let done = done.clone();
            std::thread::spawn(move || forward(send, stop, &done))
        };
        let reason = s.run(Limits::none());
        done.store(true, Ordering::Relaxed);
        let _ = reader.join();
        reason
    };
    if !was_realtime {
        s.set_realtime(false)?;
    }
    let reason = reason?;
    Ok(match reason {
        StopReason::HostRequest => format!(
            "back at the prompt; the guest is paused at {} [{:.6} s]\n",
            s.where_is(s.machine.regs().rip),
            s.machine.now_ns() as f64 / 1e9
        ),
        r => format!("{}\n", s.describe_stop(&r)),
    })
}

/// The terminal in raw mode while this lives.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> Result<RawMode, ReplError> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd())
            .map_err(|e| ReplError::context("tty: cannot read the terminal's mode", e))?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        raw.output_flags |= OutputFlags::OPOST | OutputFlags::ONLCR;
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
            .map_err(|e| ReplError::context("tty: cannot make the terminal raw", e))?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Forwards stdin to the guest until Ctrl-], the end of stdin or `done`.
fn forward(send: Sender<Vec<u8>>, stop: emu::StopHandle, done: &AtomicBool) {
    let stdin = std::io::stdin();
    let mut buf = [0u8; 4096];
    while !done.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(50u8)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        // Straight from the descriptor: std's buffered stdin could keep bytes poll cannot see.
        let n = match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
            Ok(0) | Err(_) => {
                stop.request_stop();
                break;
            }
            Ok(n) => n,
        };
        let keys = &buf[..n];
        let (keys, detach) = match keys.iter().position(|&b| b == DETACH) {
            Some(i) => (&keys[..i], true),
            None => (keys, false),
        };
        if !keys.is_empty() && send.send(keys.to_vec()).is_err() {
            break;
        }
        if detach {
            stop.request_stop();
            break;
        }
    }
}
