//! Progress on a terminal for long work (indicatif): guest runs by virtual time advanced
//! (`trace`, `record`, `replay`), `vmlinux.h` generation, the Linux image build by stage and
//! objects built. Nothing shows when stderr is not a terminal, and nothing here touches the
//! machine: a run's display thread only reads [`emu::ProgressHandle`], so where a run stops
//! never depends on whether progress is shown.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Whether progress is shown (stderr is a terminal).
pub fn enabled() -> bool {
    std::io::stderr().is_terminal()
}

/// A bar of a guest run's virtual time, drawn by a thread until dropped.
pub struct RunProgress {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RunProgress {
    /// Shows `what` advancing through `total` of virtual time (a spinner with the time so
    /// far when the run has no set length). `None` when stderr is not a terminal, or when the
    /// run writes to stdout as it goes (`stdout_busy`: console, live events) and stdout is the
    /// same terminal: a bar redrawn between those lines would tear them.
    pub fn start(
        m: &emu::Machine,
        total: Option<Duration>,
        what: &str,
        stdout_busy: bool,
    ) -> Option<RunProgress> {
        if !enabled() || (stdout_busy && std::io::stdout().is_terminal()) {
            return None;
        }
        let handle = m.progress_handle();
        let start_ns = handle.virtual_ns();
        let bar = match total {
            Some(t) => ProgressBar::new(t.as_millis().max(1) as u64).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {pos}/{len} ms of guest time ({elapsed})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg}: {pos} ms of guest time ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(what.to_string());
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let ms = handle.virtual_ns().saturating_sub(start_ns) / 1_000_000;
                bar.set_position(ms);
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        Some(RunProgress {
            done,
            thread: Some(thread),
        })
    }
}

impl Drop for RunProgress {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A spinner with a message, for work without a measure (`vmlinux.h` generation); cleared
/// when dropped. `None` when stderr is not a terminal.
pub fn spinner(msg: &str) -> Option<Spinner> {
    if !enabled() {
        return None;
    }
    let bar = ProgressBar::new_spinner().with_message(msg.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    Some(Spinner(bar))
}

/// See [`spinner`].
pub struct Spinner(ProgressBar);

impl Spinner {
    /// Replaces the message.
    pub fn set_message(&self, msg: String) {
        self.0.set_message(msg);
    }

    /// Prints a line above the spinner.
    pub fn println(&self, line: &str) {
        self.0.println(line);
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
