//! The stable driver: runs a target over its seed corpus, then over mutated inputs for a time
//! budget, catching panics and hangs.
//!
//! - Panics are caught with [`std::panic::catch_unwind`]; each distinct one (by message and
//!   location) is minimised by deleting chunks while it still panics the same way, saved as
//!   `artifacts/<target>/crash-<hash>` and reported with its bytes in hex.
//! - Hangs: a watchdog thread sees the iteration counter stand still for `timeout`, saves the
//!   input as `timeout-<hash>`, prints it and exits the process with [`EXIT_TIMEOUT`] (the hung
//!   call cannot be stopped from safe Rust).
//! - Known bugs: `regressions/<target>/` holds inputs that crashed or hung and are not fixed
//!   yet. They are replayed first; a panic with the same signature (location and message, digits
//!   aside) found while fuzzing is counted as known, not as a new failure. Files whose name
//!   starts with `hang` or `abort` are not replayed (they would stop the run); a hang in a
//!   target that has one is known too ([`EXIT_KNOWN_HANG`]), and so is a worker's death by a
//!   signal (see the smoke binary). `debug-*` inputs panic only with overflow checks, so
//!   release builds skip them. A regression that passes is reported as fixed.
//! - Signals (from JIT code) and aborts (a failed huge allocation) cannot be caught in-process:
//!   for targets where they are likely ([`Target::record`]) each input is first written to
//!   `artifacts/<target>/in-flight`, which the smoke binary's supervisor reports when its
//!   worker dies.

use crate::mutate::{mutate, Rng};
use crate::targets::Target;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// Process exit status when the watchdog saw a hang.
pub const EXIT_TIMEOUT: i32 = 70;

/// Process exit status when the watchdog saw a hang in a target with a known hang.
pub const EXIT_KNOWN_HANG: i32 = 71;

/// Distinct failures after which a run stops early.
const MAX_FAILURES: usize = 8;

/// How to run one target.
#[derive(Debug, Clone)]
pub struct Options {
    /// Time spent on mutated inputs, after the corpus.
    pub time: Duration,
    /// PRNG seed (mixed with the target's name).
    pub seed: u64,
    /// An input running longer than this is a hang.
    pub timeout: Duration,
    /// `<corpus>/<target>/` holds the seeds.
    pub corpus: PathBuf,
    /// Failures are saved under `<artifacts>/<target>/`.
    pub artifacts: PathBuf,
    /// `<regressions>/<target>/` holds the inputs of known, unfixed bugs.
    pub regressions: PathBuf,
    /// Print progress.
    pub verbose: bool,
}

impl Options {
    /// Defaults for this checkout: the crate's `corpus/` and `artifacts/`, 10 s, seed 0, 10 s
    /// timeout.
    pub fn new() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        Options {
            time: Duration::from_secs(10),
            seed: 0,
            timeout: Duration::from_secs(10),
            corpus: root.join("corpus"),
            artifacts: root.join("artifacts"),
            regressions: root.join("regressions"),
            verbose: false,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

/// One distinct failure.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The panic message with its location.
    pub message: String,
    /// The (minimised) input.
    pub input: Vec<u8>,
    /// Where it was saved.
    pub saved: Option<PathBuf>,
}

/// The outcome of one target's run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Target name.
    pub target: &'static str,
    /// Seed inputs run (corpus and regressions).
    pub seeds: usize,
    /// Inputs run in all.
    pub runs: u64,
    /// Distinct new failures.
    pub failures: Vec<Failure>,
    /// Regression inputs that still fail: `file: message`.
    pub known: Vec<String>,
    /// Inputs found while fuzzing that failed like a regression input.
    pub known_hits: u64,
    /// Regression inputs that pass now (the bug was fixed: move them to the corpus).
    pub fixed: Vec<PathBuf>,
}

thread_local! {
    /// The last panic's message on this thread, set by our hook.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that records the message instead of printing it; panics on
/// threads other than a fuzzing one still go to the previous hook.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string panic payload)".to_string());
            let loc = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default();
            let recorded = LAST_PANIC.with(|p| {
                p.try_borrow_mut()
                    .map(|mut p| *p = Some(format!("panicked at {loc}: {msg}")))
                    .is_ok()
            });
            if !recorded || !FUZZING.with(|f| f.get()) {
                previous(info);
            }
        }));
    });
}

thread_local! {
    static FUZZING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `input`; `Err` carries the panic message.
fn run_caught(target: &Target, input: &[u8]) -> Result<(), String> {
    FUZZING.with(|f| f.set(true));
    LAST_PANIC.with(|p| *p.borrow_mut() = None);
    let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    FUZZING.with(|f| f.set(false));
    result.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "panicked (no message)".into())
    })
}

/// What makes two panics the same bug: the location and the message's first line, without
/// its digits (instruction and line numbers, values) and anything from its first quote on
/// (quoted parts show the input).
/// The timeout message has no location and is not a signature anyone matches.
fn signature(message: &str) -> String {
    let first = message.lines().next().unwrap_or("");
    // "panicked at FILE:LINE:COL: message": the location stays as it is.
    let (location, text) = first.split_once(": ").unwrap_or(("", first));
    let text = text.split(['\'', '`']).next().unwrap_or("");
    format!(
        "{location}: {}",
        text.chars()
            .filter(|c| !c.is_ascii_digit())
            .collect::<String>()
    )
}

/// FNV-1a, for artifact names.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `bytes` as hex, 32 per line, at most `limit` bytes (with a note when cut).
pub fn hex(bytes: &[u8], limit: usize) -> String {
    let mut out = String::new();
    for (i, chunk) in bytes[..bytes.len().min(limit)].chunks(32).enumerate() {
        let _ = write!(out, "  {:06x}:", i * 32);
        for b in chunk {
            let _ = write!(out, " {b:02x}");
        }
        out.push('\n');
    }
    if bytes.len() > limit {
        let _ = writeln!(out, "  ... ({} bytes in all)", bytes.len());
    }
    out
}

/// Prints a failure for people: message, input as hex (and as text when it is UTF-8), file.
pub fn describe(target: &str, f: &Failure) -> String {
    let mut out = format!("[{target}] FAILED: {}\n", f.message);
    let _ = writeln!(out, "  input ({} bytes):", f.input.len());
    out.push_str(&hex(&f.input, 512));
    if let Ok(text) = std::str::from_utf8(&f.input) {
        if f.input.len() <= 512 {
            let _ = writeln!(out, "  as text: {text:?}");
        }
    }
    if let Some(p) = &f.saved {
        let _ = writeln!(
            out,
            "  saved: {} (replay: smoke {target} --input {})",
            p.display(),
            p.display()
        );
    }
    out
}

/// Deletes chunks of `input` while it still fails with the same signature, for at most
/// a couple of seconds.
fn minimise(target: &Target, input: &[u8], sig: &str) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut best = input.to_vec();
    // Powers of two, so that chunks of 8 and more keep instructions aligned.
    let mut chunk = (best.len() / 2).checked_next_power_of_two().unwrap_or(1);
    while chunk >= 1 && Instant::now() < deadline {
        let mut i = 0;
        let mut shrunk = false;
        while i < best.len() && Instant::now() < deadline {
            let mut cand = best.clone();
            cand.drain(i..(i + chunk).min(cand.len()));
            match run_caught(target, &cand) {
                Err(m) if signature(&m) == sig => {
                    best = cand;
                    shrunk = true;
                }
                _ => i += chunk,
            }
        }
        if !shrunk {
            chunk /= 2;
        }
    }
    best
}

/// Saves `input` as `<dir>/<prefix>-<hash>` and returns the path.
pub fn save(dir: &Path, prefix: &str, input: &[u8]) -> Option<PathBuf> {
    std::fs::create_dir_all(dir).ok()?;
    let path = dir.join(format!("{prefix}-{:016x}", hash(input)));
    std::fs::write(&path, input).ok()?;
    Some(path)
}

fn has_prefix(path: &Path, prefix: &str) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
}

/// Whether a regression input can be replayed in-process: not a hang or an abort, and not a
/// `debug-` (overflow check) panic in a build without overflow checks.
pub fn replayable(path: &Path) -> bool {
    !has_prefix(path, "hang")
        && !has_prefix(path, "abort")
        && (cfg!(debug_assertions) || !has_prefix(path, "debug-"))
}

/// Whether `<regressions>/<target>/` has an input that kills the process (`abort*`).
pub fn has_known_abort(opts: &Options, target: &str) -> bool {
    read_dir_files(&opts.regressions.join(target))
        .iter()
        .any(|(p, _)| has_prefix(p, "abort"))
}

/// Files of `dir`, sorted by name; nothing if it does not exist.
pub fn read_dir_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect()
}

/// The input being run, kept in a file for the supervisor to read if the process dies: one
/// positioned write per input (a little-endian u64 length, then the bytes), no open or truncate.
#[derive(Debug)]
pub struct InFlight(std::fs::File);

impl InFlight {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: &Path) -> Option<Self> {
        std::fs::create_dir_all(path.parent()?).ok()?;
        std::fs::File::create(path).ok().map(InFlight)
    }

    /// Records `input` as the one running.
    pub fn record(&self, input: &[u8]) {
        use std::os::unix::fs::FileExt;
        let mut buf = Vec::with_capacity(8 + input.len());
        buf.extend_from_slice(&(input.len() as u64).to_le_bytes());
        buf.extend_from_slice(input);
        let _ = self.0.write_all_at(&buf, 0);
    }

    /// The input recorded in the file at `path`.
    pub fn read(path: &Path) -> Option<Vec<u8>> {
        let bytes = std::fs::read(path).ok()?;
        let (len, rest) = bytes.split_first_chunk::<8>()?;
        let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
        rest.get(..len).map(<[u8]>::to_vec)
    }
}

/// The watchdog's view of the fuzzing thread.
struct Watch {
    iteration: AtomicU64,
    input: Mutex<Vec<u8>>,
    done: AtomicBool,
}

fn start_watchdog(target: &'static str, opts: &Options, known_hang: bool) -> Arc<Watch> {
    let watch = Arc::new(Watch {
        iteration: AtomicU64::new(0),
        input: Mutex::new(Vec::new()),
        done: AtomicBool::new(false),
    });
    let w = Arc::clone(&watch);
    let (timeout, dir) = (opts.timeout, opts.artifacts.join(target));
    std::thread::spawn(move || {
        let mut last = (u64::MAX, Instant::now());
        while !w.done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            let it = w.iteration.load(Ordering::Relaxed);
            if it != last.0 {
                last = (it, Instant::now());
            } else if last.1.elapsed() > timeout {
                let input = w.input.lock().map(|i| i.clone()).unwrap_or_default();
                if known_hang {
                    println!(
                        "[{target}] hang (known: regressions/{target}/hang*), input of {} bytes",
                        input.len()
                    );
                    std::process::exit(EXIT_KNOWN_HANG);
                }
                let f = Failure {
                    message: format!("timeout: one input ran for more than {timeout:?}"),
                    saved: save(&dir, "timeout", &input),
                    input,
                };
                eprint!("{}", describe(target, &f));
                std::process::exit(EXIT_TIMEOUT);
            }
        }
    });
    watch
}

/// Runs `target` over its corpus (and regressions), then over mutations for `opts.time`.
pub fn fuzz(target: &'static Target, opts: &Options) -> Report {
    install_hook();
    let seeds = read_dir_files(&opts.corpus.join(target.name));
    let corpus: Vec<Vec<u8>> = seeds.into_iter().map(|(_, b)| b).collect();
    let regressions = read_dir_files(&opts.regressions.join(target.name));
    let known_hang = regressions.iter().any(|(p, _)| has_prefix(p, "hang"));
    let name_seed = hash(target.name.as_bytes());
    let mut rng = Rng::new(opts.seed ^ name_seed);
    let artifacts = opts.artifacts.join(target.name);
    let in_flight_path = artifacts.join("in-flight");
    let in_flight = target
        .record
        .then(|| InFlight::create(&in_flight_path))
        .flatten();
    let watch = start_watchdog(target.name, opts, known_hang);
    let mut report = Report {
        target: target.name,
        seeds: corpus.len(),
        runs: 0,
        failures: Vec::new(),
        known: Vec::new(),
        known_hits: 0,
        fixed: Vec::new(),
    };
    // Signatures of known bugs, then of every failure seen in this run.
    let mut known: Vec<String> = Vec::new();
    for (path, input) in regressions.iter().filter(|(p, _)| replayable(p)) {
        if let Ok(mut slot) = watch.input.lock() {
            slot.clone_from(input);
        }
        watch.iteration.fetch_add(1, Ordering::Relaxed);
        match run_caught(target, input) {
            Err(m) => {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                report
                    .known
                    .push(format!("{name}: {}", m.lines().next().unwrap_or("")));
                known.push(signature(&m));
            }
            Ok(()) => report.fixed.push(path.clone()),
        }
    }
    let mut seen: Vec<String> = Vec::new();

    let mut run = |input: &[u8], report: &mut Report| {
        if let Ok(mut slot) = watch.input.lock() {
            slot.clear();
            slot.extend_from_slice(input);
        }
        watch.iteration.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = &in_flight {
            f.record(input);
        }
        report.runs += 1;
        if let Err(message) = run_caught(target, input) {
            let sig = signature(&message);
            if known.contains(&sig) {
                report.known_hits += 1;
                return;
            }
            if seen.contains(&sig) {
                return;
            }
            seen.push(sig.clone());
            let input = minimise(target, input, &sig);
            let failure = Failure {
                saved: save(&artifacts, "crash", &input),
                message,
                input,
            };
            if opts.verbose {
                eprint!("{}", describe(target.name, &failure));
            }
            report.failures.push(failure);
        }
    };

    for input in &corpus {
        run(input, &mut report);
    }
    let start = Instant::now();
    while start.elapsed() < opts.time && report.failures.len() < MAX_FAILURES {
        let input = if corpus.is_empty() || rng.one_in(16) {
            let n = rng.below(target.max_len.min(256) + 1);
            (0..n).map(|_| rng.byte()).collect()
        } else {
            let base = rng.pick(&corpus);
            mutate(&mut rng, base, &corpus, target.dict, target.max_len)
        };
        run(&input, &mut report);
    }
    watch.done.store(true, Ordering::Relaxed);
    if in_flight.is_some() {
        let _ = std::fs::remove_file(&in_flight_path);
    }
    report
}

/// Runs `target` on one input, outside the fuzzing loop (for replaying a saved file); a hang
/// ends the process as in [`fuzz`].
pub fn replay(target: &'static Target, input: &[u8], opts: &Options) -> Result<(), String> {
    install_hook();
    let watch = start_watchdog(target.name, opts, false);
    if let Ok(mut slot) = watch.input.lock() {
        slot.extend_from_slice(input);
    }
    watch.iteration.fetch_add(1, Ordering::Relaxed);
    let result = run_caught(target, input);
    watch.done.store(true, Ordering::Relaxed);
    result
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn signatures_ignore_values_but_not_places() {
        let a = "panicked at src/a.rs:49:48: end byte index 2 is not a char boundary; it is inside 'Β' (bytes 1..3) of `0ΒC`";
        let b = "panicked at src/a.rs:49:48: end byte index 4 is not a char boundary; it is inside '左' (bytes 3..6) of `33;左`";
        let c = "panicked at src/a.rs:50:48: end byte index 4 is not a char boundary; it is inside '左' (bytes 3..6) of `33;左`";
        assert_eq!(signature(a), signature(b));
        assert_ne!(signature(b), signature(c));
    }
}
