//! What filters produce, and where it goes.
//!
//! Every probe hit may emit events: `bpf_trace_printk` lines, stack dumps, perf/ring-buffer
//! records, and errors (a filter that failed at run time is an event too, never a crash). The
//! [`EventLog`] keeps the recent ones (for the REPL's `events`) and hands each to a sink as it
//! happens: the terminal in trace_pipe's format, or one JSON object per line (schema versioned by
//! [`JSON_VERSION`]).

use serde::Serialize;
use std::collections::VecDeque;

/// Version of the JSON event schema.
pub const JSON_VERSION: u32 = 1;

/// One event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Guest virtual time of the hit, in nanoseconds.
    pub ts_ns: u64,
    /// The probe that fired.
    pub probe: u32,
    /// The guest task that was running (0 and empty when unknown).
    pub pid: u32,
    pub comm: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A `bpf_trace_printk` line.
    Printk { msg: String },
    /// A stack trace (`bpf_dump_stack`), innermost first, symbolised when possible.
    Stack { frames: Vec<Frame> },
    /// A record from `bpf_perf_event_output` or a ring buffer.
    Output { map: String, data: Vec<u8> },
    /// The filter failed at run time.
    Error { msg: String },
}

/// One stack frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Frame {
    pub addr: u64,
    /// `symbol+0xoff`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// `file:line`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Event {
    /// The trace_pipe line(s) for this event.
    pub fn to_text(&self) -> String {
        let comm = if self.comm.is_empty() {
            "<idle>"
        } else {
            &self.comm
        };
        let head = format!(
            "{comm:>16}-{:<7} [000] {:>5}.{:06}:",
            self.pid,
            self.ts_ns / 1_000_000_000,
            (self.ts_ns / 1000) % 1_000_000
        );
        match &self.kind {
            EventKind::Printk { msg } => format!("{head} bpf_trace_printk: {msg}"),
            EventKind::Error { msg } => {
                format!("{head} bpflab: probe {} failed: {msg}", self.probe)
            }
            EventKind::Output { map, data } => {
                let hex: Vec<String> = data.iter().map(|b| format!("{b:02x}")).collect();
                format!("{head} {map}: {}", hex.join(" "))
            }
            EventKind::Stack { frames } => {
                let mut s = format!("{head} <stack trace>");
                for f in frames {
                    s.push_str("\n => ");
                    match &f.symbol {
                        Some(sym) => s.push_str(sym),
                        None => s.push_str(&format!("{:#x}", f.addr)),
                    }
                    if let Some(src) = &f.source {
                        s.push_str(&format!(" ({src})"));
                    }
                }
                s
            }
        }
    }

    /// One JSON object (no newline), with the schema version.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Versioned<'a> {
            version: u32,
            #[serde(flatten)]
            event: &'a Event,
        }
        serde_json::to_string(&Versioned {
            version: JSON_VERSION,
            event: self,
        })
        .unwrap_or_else(|e| {
            format!("{{\"version\":{JSON_VERSION},\"type\":\"error\",\"msg\":\"{e}\"}}")
        })
    }
}

/// Receives each event as it happens.
pub type Sink = Box<dyn FnMut(&Event)>;

/// Recent events plus an optional live sink.
pub struct EventLog {
    recent: VecDeque<Event>,
    keep: usize,
    total: u64,
    sink: Option<Sink>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("recent", &self.recent.len())
            .field("total", &self.total)
            .finish()
    }
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog::new(10_000)
    }
}

impl EventLog {
    /// Keeps the last `keep` events.
    pub fn new(keep: usize) -> Self {
        EventLog {
            recent: VecDeque::new(),
            keep,
            total: 0,
            sink: None,
        }
    }

    /// Sends every future event to `sink` as well.
    pub fn set_sink(&mut self, sink: Option<Sink>) {
        self.sink = sink;
    }

    pub fn push(&mut self, e: Event) {
        if let Some(s) = self.sink.as_mut() {
            s(&e);
        }
        self.total += 1;
        if self.keep > 0 {
            if self.recent.len() == self.keep {
                self.recent.pop_front();
            }
            self.recent.push_back(e);
        }
    }

    /// The kept events, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &Event> {
        self.recent.iter()
    }

    /// Events ever pushed.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn clear(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> Event {
        Event {
            ts_ns: 3_000_123_456,
            probe: 1,
            pid: 7,
            comm: "netd".into(),
            kind,
        }
    }

    #[test]
    fn text_is_trace_pipe_like() {
        let e = ev(EventKind::Printk { msg: "hi".into() });
        assert_eq!(
            e.to_text(),
            "            netd-7       [000]     3.000123: bpf_trace_printk: hi"
        );
        let s = ev(EventKind::Stack {
            frames: vec![
                Frame {
                    addr: 0x10,
                    symbol: Some("ip_rcv+0x4".into()),
                    source: Some("net.c:12".into()),
                },
                Frame {
                    addr: 0x20,
                    symbol: None,
                    source: None,
                },
            ],
        });
        assert!(s
            .to_text()
            .ends_with("<stack trace>\n => ip_rcv+0x4 (net.c:12)\n => 0x20"));
    }

    #[test]
    fn json_is_versioned_and_flat() {
        let e = ev(EventKind::Printk { msg: "a\"b".into() });
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).expect("json");
        assert_eq!(v["version"], 1);
        assert_eq!(v["type"], "printk");
        assert_eq!(v["msg"], "a\"b");
        assert_eq!(v["pid"], 7);
        assert_eq!(v["ts_ns"], 3_000_123_456u64);
    }

    #[test]
    fn log_keeps_the_last_events_and_feeds_the_sink() {
        let seen = std::rc::Rc::new(std::cell::Cell::new(0));
        let s2 = seen.clone();
        let mut log = EventLog::new(2);
        log.set_sink(Some(Box::new(move |_| s2.set(s2.get() + 1))));
        for i in 0..5 {
            log.push(ev(EventKind::Error { msg: i.to_string() }));
        }
        assert_eq!(seen.get(), 5);
        assert_eq!(log.total(), 5);
        let kept: Vec<_> = log.recent().map(|e| e.to_text()).collect();
        assert_eq!(kept.len(), 2);
        assert!(kept[1].ends_with("failed: 4"));
    }
}
