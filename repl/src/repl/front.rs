//! The two front ends over one [`Session`]: interactive (rustyline: completion, hints,
//! history in the user's data directory, multi-line inline programs, Ctrl-C that never
//! ends the session) and batch (a script or a non-TTY stdin, the same commands without
//! editing; the exit status says whether a command failed).

use super::commands::execute;
use super::complete::{needs_more, ReplHelper};
use super::session::Session;
use super::ReplError;
use crate::error::CliError;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Editor};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

const PROMPT: &str = "(bpflab) ";

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Splits a script into commands: one a line, except that an inline program's block goes
/// on until its braces balance. Returns (first line number, command).
pub fn split_script(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        match current.as_mut() {
            Some((_, acc)) => {
                acc.push('\n');
                acc.push_str(line);
            }
            None => current = Some((i + 1, line.to_string())),
        }
        if let Some((_, acc)) = &current {
            if !needs_more(acc) {
                out.extend(current.take());
            }
        }
    }
    out.extend(current);
    out
}

fn show(s: &Session, result: Result<String, ReplError>) -> Result<(), ReplError> {
    match result {
        Ok(out) => {
            print!("{out}");
            let _ = std::io::stdout().flush();
            Ok(())
        }
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("{}", s.style.error(&format!("error: {e}")));
            Err(e)
        }
    }
}

/// Runs a script's commands. Stops at the first failure unless `keep_going`; returns the
/// first failure with its line number.
pub fn run_script(
    s: &mut Session,
    text: &str,
    keep_going: bool,
    echo: bool,
) -> Result<(), (usize, ReplError)> {
    let mut first = None;
    for (line, cmd) in split_script(text) {
        if echo && !cmd.trim().is_empty() {
            println!("{PROMPT}{cmd}");
        }
        let result = execute(s, &cmd);
        if let Err(e) = show(s, result) {
            if first.is_none() {
                first = Some((line, e));
            }
            if !keep_going {
                break;
            }
        }
        if s.quit {
            break;
        }
    }
    match first {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// Batch mode: exit status 0 if every command succeeded, 1 otherwise.
pub fn batch(s: &mut Session, text: &str, keep_going: bool, echo: bool) -> ExitCode {
    match run_script(s, text, keep_going, echo) {
        Ok(()) => ExitCode::SUCCESS,
        Err((line, _)) => {
            if !keep_going {
                eprintln!("bpflab: stopped at line {line} (--keep-going goes on after errors)");
            }
            ExitCode::FAILURE
        }
    }
}

/// Where history is kept: `$XDG_DATA_HOME/bpflab/history` (or the platform's equivalent).
fn history_path() -> Option<std::path::PathBuf> {
    let dir = dirs::data_dir()?.join("bpflab");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("history"))
}

/// The interactive loop.
pub fn interactive(s: &mut Session) -> Result<ExitCode, CliError> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .max_history_size(10_000)
        .map_err(|e| CliError::input("line editor", e))?
        .build();
    let mut rl: Editor<ReplHelper, DefaultHistory> =
        Editor::with_config(config).map_err(|e| CliError::input("line editor", e))?;
    rl.set_helper(Some(ReplHelper::new(
        s.image.clone(),
        s.shared.clone(),
        s.style.enabled(),
    )));
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    println!(
        "bpflab repl: {} booted, paused at {}\n'help' lists commands; Tab completes; Ctrl-C pauses a running guest; Ctrl-D quits.",
        s.image.name(),
        s.where_is(s.machine.regs().rip)
    );
    loop {
        match rl.readline(PROMPT) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = rl.add_history_entry(line.as_str());
                    if let Some(h) = &history {
                        let _ = rl.append_history(h);
                    }
                }
                let result = execute(s, &line);
                let _ = show(s, result);
                if s.quit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => {
                println!("^C (Ctrl-D or 'quit' leaves)");
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(CliError::input("line editor", e)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_keep_blocks_together() {
        let s = split_script("run 1ms\nattach x {\n  mov %r0, 1\n  exit\n}\nprobes\n");
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].0, 2);
        assert_eq!(s[1].1, "attach x {\n  mov %r0, 1\n  exit\n}");
        assert_eq!(s[2], (6, "probes".to_string()));
        let unclosed = split_script("attach x {\nexit");
        assert_eq!(unclosed.len(), 1);
    }
}
