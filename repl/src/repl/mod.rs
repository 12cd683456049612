//! `bpflab repl`: one prompt over a running guest, with gdb's habits (`break`, `stepi`,
//! `finish`, `x/8xg $rsp`, `bt`), bpftrace's output (maps and histograms) and drgn's struct
//! awareness (`print *(struct sk_buff *)$rdi`).
//!
//! The pieces:
//! - [`session`]: the engine. A [`session::Session`] owns the machine, the guest image, the
//!   tracer, breakpoints and snapshots; it knows nothing about terminals.
//! - [`commands`]: the command table (name, arguments, help, example, handler) and dispatch;
//!   the handlers live in [`machine`] (boot, run, console...), [`probing`] (attach, maps...),
//!   [`inspect`] (sym, ptype, print, x, regs, bt, disas) and [`control`] (break, stepi,
//!   finish, snapshots).
//! - [`expr`]: C-like expressions over guest globals, registers and DWARF types; [`print`]
//!   shows their values structurally, like drgn.
//! - [`front`]: the two front ends over the same session: rustyline (completion from
//!   [`complete`], hints, multi-line blocks, history) and batch (a script or a non-TTY stdin).
//!
//! ```text
//! $ bpflab repl
//! (bpflab) break dst_discard
//! (bpflab) run
//! Breakpoint 1, dst_discard+0 (net/core/dst.c:27)
//! (bpflab) print ((struct sk_buff *)$rdi)->dev->name
//! (char [16])"eth0"
//! ```

pub mod commands;
pub mod complete;
pub mod control;
pub mod disasm;
pub mod expr;
pub mod front;
pub mod inspect;
pub mod machine;
pub mod print;
pub mod probing;
pub mod session;
pub mod style;
pub mod tty;

use crate::error::{Cause, CliError};
use std::path::PathBuf;
use std::process::ExitCode;

/// `bpflab repl` options.
#[derive(clap::Args, Debug)]
pub struct ReplArgs {
    #[command(flatten)]
    pub guest: crate::images::GuestArgs,
    /// Run the commands of FILE without line editing, then exit.
    #[arg(long)]
    pub batch: Option<PathBuf>,
    /// In batch mode, go on after a failing command (the exit status is still non-zero).
    #[arg(long)]
    pub keep_going: bool,
    /// In batch mode, print each command before its output, after the prompt.
    #[arg(long)]
    pub echo: bool,
    /// Start in real-time mode (idle guest time passes at host speed; see 'help realtime').
    #[arg(long)]
    pub realtime: bool,
}

/// The command line the REPL boots `linux` with when `--append` is not given: the image's
/// interactive shell (the image's own default runs the workload and powers off; pass
/// `--append 'console=ttyS0 bpflab.workload'` for that).
pub const LINUX_SHELL_CMDLINE: &str = "console=ttyS0";

/// Why a command failed. The session stays usable after every one of these.
#[derive(Debug, thiserror::Error)]
pub enum ReplError {
    /// Not a command.
    #[error("unknown command '{name}'{hint}; try 'help'")]
    UnknownCommand { name: String, hint: String },
    /// A command used the wrong way.
    #[error("{cmd}: {msg}\nusage: {usage}\n  e.g. {example}")]
    Usage {
        cmd: &'static str,
        msg: String,
        usage: String,
        example: &'static str,
    },
    /// A command that could not do what it was asked.
    #[error("{0}")]
    Failed(String),
    /// A library's error, kept as the source. Its text is the message, after `context` (what
    /// was being done, when the error does not say it) and ": ".
    #[error("{}{source}", if context.is_empty() { String::new() } else { format!("{context}: ") })]
    Lib {
        /// What was being done (`cannot snapshot`), or empty.
        context: String,
        /// The library's error.
        #[source]
        source: Cause,
    },
    /// An error of the CLI's own code (an image's `vmlinux.h`...): its whole chain.
    #[error("{}", .0.chain())]
    Cli(#[from] CliError),
    /// A failure whose text `log` shows again (loading a filter), saying so.
    #[error("{0}\n('log' shows this again)")]
    Logged(#[source] Box<ReplError>),
}

impl ReplError {
    /// A library's error as the whole message, kept as the source.
    pub fn lib(source: impl Into<Cause>) -> Self {
        ReplError::Lib {
            context: String::new(),
            source: source.into(),
        }
    }

    /// `{context}: {source}`, `source` kept as the source.
    pub fn context(context: impl Into<String>, source: impl Into<Cause>) -> Self {
        ReplError::Lib {
            context: context.into(),
            source: source.into(),
        }
    }
}

impl From<String> for ReplError {
    fn from(s: String) -> Self {
        ReplError::Failed(s)
    }
}

impl From<expr::EvalError> for ReplError {
    fn from(e: expr::EvalError) -> Self {
        ReplError::lib(e)
    }
}

/// Shorthand for a failure with a message.
pub fn fail<T>(msg: impl Into<String>) -> Result<T, ReplError> {
    Err(ReplError::Failed(msg.into()))
}

/// `bpflab repl`.
pub fn repl(args: ReplArgs) -> Result<ExitCode, CliError> {
    if args.guest.stdin {
        return Err(CliError::Message(
            "repl: --stdin: the REPL reads its commands from stdin; its 'tty' command \
                    connects your terminal to the guest's console"
                .into(),
        ));
    }
    let interactive = args.batch.is_none() && front::stdin_is_terminal();
    // Colours on a terminal, unless NO_COLOR is set (https://no-color.org).
    let colour = interactive
        && front::stdout_is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let style = style::Style::new(colour);
    let mut opts = args.guest.options();
    if opts.append.is_empty() && opts.image == "linux" {
        opts.append = LINUX_SHELL_CMDLINE;
    }
    // The REPL owns the terminal: the guest's console reads it only through 'tty'.
    opts.terminal_input = false;
    let booted = crate::images::boot(&opts)?;
    let mut session = session::Session::new(booted, style)?;
    if args.realtime {
        session
            .set_realtime(true)
            .map_err(|e| CliError::input("--realtime", e))?;
    }
    match &args.batch {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| CliError::path(path, e))?;
            Ok(front::batch(
                &mut session,
                &text,
                args.keep_going,
                args.echo,
            ))
        }
        None if interactive => front::interactive(&mut session),
        None => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| CliError::input("stdin", e))?;
            Ok(front::batch(
                &mut session,
                &text,
                args.keep_going,
                args.echo,
            ))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn library_errors_keep_their_text_and_their_source() {
        let load = probes::load::load_asm("<inline>", "bogus %r0\n")
            .err()
            .unwrap();
        let flat = load.to_string();
        let e = ReplError::lib(load);
        assert_eq!(e.to_string(), flat);
        assert!(e
            .source()
            .and_then(|c| c.downcast_ref::<probes::load::LoadError>())
            .is_some());
        let logged = ReplError::Logged(Box::new(e));
        assert_eq!(
            logged.to_string(),
            format!("{flat}\n('log' shows this again)")
        );
        assert!(logged.source().and_then(|e| e.source()).is_some());
        let e = ReplError::context("cannot reboot", std::io::Error::from_raw_os_error(5));
        assert_eq!(
            e.to_string(),
            "cannot reboot: Input/output error (os error 5)"
        );
        assert!(e.source().is_some());
    }
}
