//! Console input during a run: scripts and live host streams, injected into the UART at
//! deterministic points and logged.
//!
//! An [`InputSource`] is attached with [`crate::Machine::set_input`]:
//! - [`InputScript`]: steps, each waiting for a condition and then typing bytes. Conditions are
//!   functions of the guest's own execution (virtual time, console output), so a scripted run
//!   is as deterministic as one without input. The text form:
//!   ```text
//!   @# a comment
//!   @wait "login:"        wait until the console prints this (since the previous step)
//!   @sleep 100ms          wait this much virtual time after the previous step ([`crate::duration`])
//!   root                  a text line: typed followed by "\n"
//!   @send "ls\x03\r"      bytes without the newline (escapes \n \r \t \\ \" \xNN)
//!   @@literal             a text line that starts with "@" (types "@literal\n")
//!   ```
//!   An empty line types "\n".
//! - [`InputSource::stream`]: any `Read + Send` (e.g. stdin), read on its own thread. Arriving
//!   bytes make the machine stop at the next block boundary and are injected there.
//!
//! Every injection is recorded in the input log ([`InputEvent`]: instruction count, virtual
//! time, bytes), which is what a recording needs to replay a live session.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

/// A script line that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct ScriptError {
    /// Script name (usually its path).
    pub source_name: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// When a script step fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// As soon as the previous step fired.
    Now,
    /// This many virtual nanoseconds after the previous step fired.
    After(u64),
    /// When console output produced since the previous step fired contains these bytes.
    OutputContains(Vec<u8>),
}

/// One script step: a condition, then bytes to type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Condition.
    pub when: When,
    /// Bytes sent to the console UART.
    pub bytes: Vec<u8>,
}

/// A console input script (see the module documentation for the text form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputScript {
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl InputScript {
    /// A script from steps.
    pub fn new(steps: Vec<Step>) -> Self {
        Self { steps }
    }

    /// Parse the text form; `name` appears in errors.
    pub fn parse(name: &str, text: &str) -> Result<Self, ScriptError> {
        let err = |line: usize, message: String| ScriptError {
            source_name: name.to_string(),
            line,
            message,
        };
        let mut steps = Vec::new();
        let mut pending: Option<When> = None;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let typed = if let Some(rest) = line.strip_prefix("@@") {
                let mut b = Vec::with_capacity(rest.len() + 2);
                b.push(b'@');
                b.extend_from_slice(rest.as_bytes());
                b.push(b'\n');
                Some(b)
            } else if let Some(directive) = line.strip_prefix('@') {
                let (word, arg) = match directive.split_once(char::is_whitespace) {
                    Some((w, a)) => (w, a.trim()),
                    None => (directive.trim(), ""),
                };
                if directive.starts_with('#') {
                    None
                } else if word == "wait" {
                    let text = unquote(arg).map_err(|m| err(line_no, m))?;
                    if text.is_empty() {
                        return Err(err(line_no, "@wait needs a non-empty text".into()));
                    }
                    push_trigger(&mut steps, &mut pending, When::OutputContains(text));
                    None
                } else if word == "sleep" {
                    let ns = crate::duration::parse_ns(arg)
                        .map_err(|e| err(line_no, format!("@sleep: {e}")))?;
                    push_trigger(&mut steps, &mut pending, When::After(ns));
                    None
                } else if word == "send" {
                    Some(unquote(arg).map_err(|m| err(line_no, m))?)
                } else {
                    return Err(err(
                        line_no,
                        format!("unknown directive @{word} (expected @wait, @sleep, @send, @#)"),
                    ));
                }
            } else {
                let mut b = line.as_bytes().to_vec();
                b.push(b'\n');
                Some(b)
            };
            if let Some(bytes) = typed {
                let when = pending.take().unwrap_or(When::Now);
                steps.push(Step { when, bytes });
            }
        }
        if let Some(when) = pending {
            steps.push(Step {
                when,
                bytes: Vec::new(),
            });
        }
        Ok(Self { steps })
    }

    /// Read and parse a script file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ScriptError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScriptError {
            source_name: name.clone(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&name, &text)
    }
}

/// A second trigger in a row becomes a step of its own with no bytes.
fn push_trigger(steps: &mut Vec<Step>, pending: &mut Option<When>, when: When) {
    if let Some(prev) = pending.replace(when) {
        steps.push(Step {
            when: prev,
            bytes: Vec::new(),
        });
    }
}

/// A double-quoted string with escapes (see [`unescape`]), or a bare word taken literally.
pub fn unquote(arg: &str) -> Result<Vec<u8>, String> {
    let Some(inner) = arg.strip_prefix('"') else {
        return Ok(arg.as_bytes().to_vec());
    };
    let Some(inner) = inner.strip_suffix('"') else {
        return Err(format!("unterminated string {arg}"));
    };
    unescape(inner)
}

/// Decodes the escapes `\n`, `\r`, `\t`, `\\`, `\"` and `\xNN` (two hex digits); other
/// text is taken as its UTF-8 bytes. Shared by input scripts and the REPL's `input`.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('n') => out.push(b'\n'),
            Some('r') => out.push(b'\r'),
            Some('t') => out.push(b'\t'),
            Some('\\') => out.push(b'\\'),
            Some('"') => out.push(b'"'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                let v = u8::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 2)
                    .ok_or_else(|| format!("bad escape \\x{hex} (two hex digits)"))?;
                out.push(v);
            }
            Some(other) => return Err(format!("unknown escape \\{other}")),
            None => return Err("a lone \\ at the end".into()),
        }
    }
    Ok(out)
}

/// Where console input comes from.
pub enum InputSource {
    /// A deterministic script.
    Script(InputScript),
    /// A live host stream, read on its own thread.
    Stream(Box<dyn Read + Send>),
    /// A recorded input log, replayed exactly: each event's bytes are injected at its
    /// instruction count and virtual time (see [`crate::record`]).
    Replay(Vec<InputEvent>),
}

impl std::fmt::Debug for InputSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputSource::Script(s) => f.debug_tuple("Script").field(s).finish(),
            InputSource::Stream(_) => f.write_str("Stream(..)"),
            InputSource::Replay(v) => write!(f, "Replay({} events)", v.len()),
        }
    }
}

impl InputSource {
    /// A live stream from any reader (e.g. `std::io::stdin()`).
    pub fn stream(reader: impl Read + Send + 'static) -> Self {
        InputSource::Stream(Box::new(reader))
    }
}

/// One injection of console input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputEvent {
    /// Guest instructions executed before the bytes became readable.
    pub insns: u64,
    /// Virtual time at that moment (ns).
    pub virtual_ns: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// The state of a running script.
#[derive(Debug)]
struct ScriptState {
    steps: std::vec::IntoIter<Step>,
    current: Option<Step>,
    /// Absolute virtual time at which `current` fires, for `When::After`.
    due_ns: Option<u64>,
    /// Output seen since the previous step (only the tail that could still match).
    window: Vec<u8>,
    matched: bool,
}

impl ScriptState {
    fn arm(&mut self, now_ns: u64) {
        self.current = self.steps.next();
        self.window.clear();
        self.matched = false;
        self.due_ns = match &self.current {
            Some(Step {
                when: When::After(d),
                ..
            }) => Some(now_ns.saturating_add(*d)),
            _ => None,
        };
    }
}

/// A live stream: the reader thread's channel and the flag that makes the machine stop.
struct StreamState {
    rx: Receiver<Vec<u8>>,
    eof: bool,
    /// Bytes received while idle, injected at the next pump.
    held: Vec<u8>,
}

enum Driver {
    Script(ScriptState),
    Stream(StreamState),
    /// Recorded events still to inject, in order.
    Replay(std::collections::VecDeque<InputEvent>),
}

/// Console input attached to a machine (lives in the machine's state).
pub(crate) struct InputDriver {
    driver: Option<Driver>,
    log: Vec<InputEvent>,
    arrived: Arc<AtomicBool>,
}

impl InputDriver {
    pub(crate) fn new(arrived: Arc<AtomicBool>) -> Self {
        Self {
            driver: None,
            log: Vec::new(),
            arrived,
        }
    }

    pub(crate) fn log(&self) -> &[InputEvent] {
        &self.log
    }

    /// Attach `source`, replacing any previous one. `trigger` is the clock's fast-path trigger
    /// (set to 0 by the reader thread so the machine stops at the next block).
    pub(crate) fn set(
        &mut self,
        source: Option<InputSource>,
        now_ns: u64,
        trigger: &Arc<AtomicU64>,
    ) {
        self.driver = match source {
            None => None,
            Some(InputSource::Script(s)) => {
                let mut st = ScriptState {
                    steps: s.steps.into_iter(),
                    current: None,
                    due_ns: None,
                    window: Vec::new(),
                    matched: false,
                };
                st.arm(now_ns);
                Some(Driver::Script(st))
            }
            Some(InputSource::Stream(mut reader)) => {
                let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
                let arrived = self.arrived.clone();
                let trigger = trigger.clone();
                let spawned = std::thread::Builder::new()
                    .name("emu-console-input".into())
                    .spawn(move || {
                        let mut buf = [0u8; 4096];
                        loop {
                            let n = match reader.read(&mut buf) {
                                Ok(n) => n,
                                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                                Err(_) => 0,
                            };
                            // An empty message means end of stream.
                            let sent = tx.send(buf[..n].to_vec());
                            arrived.store(true, Ordering::Relaxed);
                            trigger.store(0, Ordering::Relaxed);
                            if n == 0 || sent.is_err() {
                                break;
                            }
                        }
                    });
                Some(Driver::Stream(StreamState {
                    rx,
                    eof: spawned.is_err(),
                    held: Vec::new(),
                }))
            }
            Some(InputSource::Replay(events)) => Some(Driver::Replay(events.into())),
        };
    }

    /// Console output the guest just produced. True if a waiting step can now fire (the
    /// machine should stop so the run loop injects it).
    /// `insns` is the clock's count, which includes the whole current block: a recorded event
    /// inside that block makes the machine stop right after this output, where the original
    /// run injected it (a script step that waited for this output).
    pub(crate) fn on_output(&mut self, out: &[u8], insns: u64) -> bool {
        if let Some(Driver::Replay(events)) = self.driver.as_ref() {
            return events.front().is_some_and(|e| e.insns <= insns);
        }
        let Some(Driver::Script(st)) = self.driver.as_mut() else {
            return false;
        };
        let Some(Step {
            when: When::OutputContains(needle),
            ..
        }) = &st.current
        else {
            return false;
        };
        if st.matched {
            return true;
        }
        st.window.extend_from_slice(out);
        if st
            .window
            .windows(needle.len())
            .any(|w| w == needle.as_slice())
        {
            st.matched = true;
            st.window.clear();
            return true;
        }
        let keep = needle.len().saturating_sub(1);
        if st.window.len() > keep {
            st.window.drain(..st.window.len() - keep);
        }
        false
    }

    /// Virtual time at which the script next needs the machine (a `@sleep` step).
    pub(crate) fn next_due_ns(&self) -> Option<u64> {
        match &self.driver {
            Some(Driver::Script(st)) => st.due_ns,
            Some(Driver::Replay(events)) => events.front().map(|e| e.virtual_ns),
            _ => None,
        }
    }

    /// A live stream is attached and may still deliver bytes.
    pub(crate) fn live(&self) -> bool {
        matches!(&self.driver, Some(Driver::Stream(s)) if !s.eof)
    }

    /// Collect every input that is due at (`insns`, `now_ns`), log it, and return the bytes
    /// to inject (empty if none).
    pub(crate) fn pump(&mut self, insns: u64, now_ns: u64) -> Vec<u8> {
        let mut bytes = Vec::new();
        match self.driver.as_mut() {
            None => {}
            Some(Driver::Script(st)) => loop {
                let fire = match &st.current {
                    None => false,
                    Some(step) => match step.when {
                        When::Now => true,
                        When::After(_) => st.due_ns.is_some_and(|t| now_ns >= t),
                        When::OutputContains(_) => st.matched,
                    },
                };
                if !fire {
                    break;
                }
                if let Some(step) = st.current.take() {
                    bytes.extend_from_slice(&step.bytes);
                }
                st.arm(now_ns);
            },
            Some(Driver::Replay(events)) => {
                while let Some(e) = events.front() {
                    if insns < e.insns || now_ns < e.virtual_ns {
                        break;
                    }
                    if let Some(e) = events.pop_front() {
                        bytes.extend_from_slice(&e.bytes);
                    }
                }
            }
            Some(Driver::Stream(s)) => {
                self.arrived.store(false, Ordering::Relaxed);
                bytes.append(&mut s.held);
                loop {
                    match s.rx.try_recv() {
                        Ok(b) if b.is_empty() => s.eof = true,
                        Ok(b) => bytes.extend_from_slice(&b),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            s.eof = true;
                            break;
                        }
                    }
                }
            }
        }
        if !bytes.is_empty() {
            self.log.push(InputEvent {
                insns,
                virtual_ns: now_ns,
                bytes: bytes.clone(),
            });
        }
        bytes
    }

    /// The guest is idle until `limit` of host time passes: wait for stream input that long.
    /// Returns true if bytes arrived (held for the next [`InputDriver::pump`]).
    pub(crate) fn wait_idle(&mut self, limit: Duration) -> bool {
        let Some(Driver::Stream(s)) = self.driver.as_mut() else {
            return false;
        };
        if s.eof {
            return false;
        }
        match s.rx.recv_timeout(limit) {
            Ok(b) if b.is_empty() => {
                s.eof = true;
                false
            }
            Ok(b) => {
                s.held.extend_from_slice(&b);
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                s.eof = true;
                false
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_text_form() {
        let s = InputScript::parse(
            "t.script",
            "@# log in\n@wait \"login:\"\nroot\n@sleep 100ms\n@send \"a\\x03\\\"\"\n@@at\n\n@wait done\n",
        )
        .unwrap();
        assert_eq!(
            s.steps,
            vec![
                Step {
                    when: When::OutputContains(b"login:".to_vec()),
                    bytes: b"root\n".to_vec()
                },
                Step {
                    when: When::After(100_000_000),
                    bytes: b"a\x03\"".to_vec()
                },
                Step {
                    when: When::Now,
                    bytes: b"@at\n".to_vec()
                },
                Step {
                    when: When::Now,
                    bytes: b"\n".to_vec()
                },
                Step {
                    when: When::OutputContains(b"done".to_vec()),
                    bytes: vec![]
                },
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = InputScript::parse("x", "ok\n@sleep 10 parsecs\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.to_string(),
            "x:2: @sleep: '10 parsecs' has an unknown unit ' parsecs' (units: h, m, s, ms, us, ns)"
        );
        let s = InputScript::parse("x", "@sleep 1.5s\n@sleep 2h\n").unwrap();
        assert_eq!(s.steps[0].when, When::After(1_500_000_000));
        assert_eq!(s.steps[1].when, When::After(7_200_000_000_000));
        let e = InputScript::parse("x", "@sleep 1e300s\n").unwrap_err();
        assert!(e.to_string().contains("has an exponent"), "{e}");
        let e = InputScript::parse("x", "@frobnicate\n").unwrap_err();
        assert!(
            e.to_string().contains("unknown directive @frobnicate"),
            "{e}"
        );
        let e = InputScript::parse("x", "@send \"abc\n").unwrap_err();
        assert!(e.to_string().contains("unterminated"), "{e}");
        let e = InputScript::parse("x", "@send \"\\xZZ\"\n").unwrap_err();
        assert!(e.to_string().contains("\\xZZ"), "{e}");
        assert!(InputScript::parse("x", "@wait \"\"").is_err());
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(r#"a\tb\n\x41\\\""#).unwrap(), b"a\tb\nA\\\"");
        assert_eq!(unquote("bare\\n").unwrap(), b"bare\\n");
        assert_eq!(unquote(r#""q\n""#).unwrap(), b"q\n");
        assert!(unescape(r"\q").is_err());
        assert!(unescape(r"\xzz").is_err());
        assert!(unescape(r"\x4").is_err());
        assert_eq!(unescape("\\").unwrap_err(), "a lone \\ at the end");
    }

    #[test]
    fn script_driver_fires_in_order_and_logs() {
        let mut d = InputDriver::new(Arc::new(AtomicBool::new(false)));
        let trigger = Arc::new(AtomicU64::new(u64::MAX));
        let s = InputScript::parse("s", "@wait \"$ \"\nls\n@sleep 1us\nexit\n").unwrap();
        d.set(Some(InputSource::Script(s)), 0, &trigger);
        assert!(d.pump(10, 10).is_empty());
        assert!(!d.on_output(b"boot... $", 0));
        assert!(d.on_output(b" more", 0), "a match split across two outputs");
        assert_eq!(d.pump(20, 20), b"ls\n");
        assert_eq!(d.next_due_ns(), Some(1020));
        assert!(d.pump(30, 1019).is_empty());
        assert_eq!(d.pump(40, 1020), b"exit\n");
        assert_eq!(d.next_due_ns(), None);
        assert_eq!(
            d.log(),
            &[
                InputEvent {
                    insns: 20,
                    virtual_ns: 20,
                    bytes: b"ls\n".to_vec()
                },
                InputEvent {
                    insns: 40,
                    virtual_ns: 1020,
                    bytes: b"exit\n".to_vec()
                }
            ]
        );
    }

    #[test]
    fn stream_driver_collects_bytes_and_eof() {
        let arrived = Arc::new(AtomicBool::new(false));
        let trigger = Arc::new(AtomicU64::new(u64::MAX));
        let mut d = InputDriver::new(arrived.clone());
        d.set(
            Some(InputSource::stream(std::io::Cursor::new(b"hello".to_vec()))),
            0,
            &trigger,
        );
        let mut got = Vec::new();
        for _ in 0..200 {
            got.extend(d.pump(1, 1));
            if !d.live() {
                break;
            }
            d.wait_idle(Duration::from_millis(10));
        }
        assert_eq!(got, b"hello");
        assert!(!d.live(), "end of stream seen");
        assert_eq!(
            trigger.load(Ordering::Relaxed),
            0,
            "the machine was asked to stop"
        );
    }
}
