//! Every attach point of an image, as `bpftrace -l` lists them: `kprobe:F`, `kretprobe:F`,
//! `fentry:F`, `fexit:F`, `tracepoint:CAT:NAME`, `rawtracepoint:NAME`, the timers
//! (`profile:hz:RATE`, `interval:s:PERIOD`: any rate or period), and with arguments
//! (`-v`) what a program there can read, in C: a function's parameters (and `retval` at a
//! return), a tracepoint's record fields from the guest's `struct trace_event_raw_*`, a raw
//! tracepoint's `TP_PROTO`.

use crate::image::GuestImage;
use crate::tracepoints::{EventSource, TraceEvent};

/// The kinds, in listing order.
pub const KINDS: [&str; 8] = [
    "kprobe",
    "kretprobe",
    "fentry",
    "fexit",
    "tracepoint",
    "rawtracepoint",
    "profile",
    "interval",
];

/// One attach point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// `tracepoint:sched:sched_switch`.
    pub spec: String,
    /// With arguments: what a program there reads, one C declaration each.
    pub fields: Vec<String>,
}

/// The attach points of `image` whose spec matches `pattern` (a glob over the whole spec;
/// a pattern without `:` matches the name after any kind, as `bpftrace -l '*sleep*'`).
/// `verbose` adds each one's arguments.
pub fn list(
    image: &GuestImage,
    pattern: Option<&str>,
    verbose: bool,
) -> Result<Vec<Listed>, glob::PatternError> {
    let pattern = match pattern {
        Some(p) if !p.contains(':') => Some(glob::Pattern::new(&format!("*:{p}"))?),
        Some(p) => Some(glob::Pattern::new(p)?),
        None => None,
    };
    let keep = |spec: &str| pattern.as_ref().is_none_or(|p| p.matches(spec));
    let mut out = Vec::new();
    let mut functions: Vec<&str> = image
        .symbols()
        .symbols()
        .iter()
        .filter(|s| s.kind.is_text() && !s.absolute && s.size > 0)
        .map(|s| s.unique_name.as_str())
        .collect();
    functions.sort_unstable();
    functions.dedup();
    let types = image.types().ok();
    for kind in ["kprobe", "kretprobe", "fentry", "fexit"] {
        for f in &functions {
            let spec = format!("{kind}:{f}");
            if !keep(&spec) {
                continue;
            }
            let proto = || types.and_then(|t| t.function(f).ok().flatten());
            let is_fentry = kind.starts_with('f');
            if is_fentry && proto().is_none() {
                continue;
            }
            let fields = if verbose {
                function_fields(proto(), kind)
            } else {
                Vec::new()
            };
            out.push(Listed { spec, fields });
        }
    }
    let cat = image.catalog();
    for e in &cat.events {
        let spec = format!("tracepoint:{}", e.full_name());
        if keep(&spec) {
            let fields = if verbose {
                event_fields(image, e)
            } else {
                Vec::new()
            };
            out.push(Listed { spec, fields });
        }
    }
    for tp in cat.tracepoints.values() {
        let spec = format!("rawtracepoint:{}", tp.name);
        if keep(&spec) {
            let fields = if verbose {
                tp.args
                    .iter()
                    .map(|a| declaration(&a.type_name, &a.name))
                    .collect()
            } else {
                Vec::new()
            };
            out.push(Listed { spec, fields });
        }
    }
    // Timers take any rate: one line each, with the perf_event context they hand a program.
    for spec in ["profile:hz:RATE", "interval:s:PERIOD"] {
        if keep(spec) {
            let fields = if verbose {
                ["struct pt_regs regs", "u64 sample_period", "u64 addr"]
                    .map(String::from)
                    .to_vec()
            } else {
                Vec::new()
            };
            out.push(Listed {
                spec: spec.to_string(),
                fields,
            });
        }
    }
    Ok(out)
}

/// The listing as `bpftrace -l` prints it: one spec a line, each field indented below.
pub fn render(points: &[Listed]) -> String {
    let mut out = String::new();
    for p in points {
        out.push_str(&p.spec);
        out.push('\n');
        for f in &p.fields {
            out.push_str("    ");
            out.push_str(f);
            out.push('\n');
        }
    }
    out
}

/// The error text for a pattern that matches nothing.
pub fn no_match(pattern: &str) -> String {
    format!(
        "no attach point matches '{pattern}' (kinds: {})",
        KINDS.join(", ")
    )
}

/// `TYPE NAME`, with the `*` against the name as C is written.
fn declaration(type_name: &str, name: &str) -> String {
    match type_name.strip_suffix(" *") {
        Some(t) => format!("{t} *{name}"),
        None => format!("{type_name} {name}"),
    }
}

/// A function's parameters, and `retval` at a return. A kretprobe sees only the return
/// value (the argument registers are gone by then); fexit keeps the arguments.
fn function_fields(f: Option<crate::types::FunctionInfo>, kind: &str) -> Vec<String> {
    let Some(f) = f else {
        return Vec::new();
    };
    let at_return = kind == "kretprobe" || kind == "fexit";
    let mut out: Vec<String> = if kind == "kretprobe" {
        Vec::new()
    } else {
        f.params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                declaration(
                    &p.type_name,
                    p.name.as_deref().unwrap_or(&format!("arg{i}")),
                )
            })
            .collect()
    };
    if at_return && f.return_type.is_some() {
        out.push(declaration(&f.return_type_name, "retval"));
    }
    out
}

/// The record a tracepoint program reads: the fields of `struct trace_event_raw_TEMPLATE`
/// after the common header (the template from the class's `perf_trace_TEMPLATE`), or a
/// syscall event's number and arguments.
fn event_fields(image: &GuestImage, e: &TraceEvent) -> Vec<String> {
    match &e.source {
        EventSource::Syscall { enter, args, .. } => {
            let mut out = vec!["int __syscall_nr".to_string()];
            if *enter {
                out.extend(args.iter().map(|a| declaration(&a.type_name, &a.name)));
            } else {
                out.push("long ret".to_string());
            }
            out
        }
        EventSource::Tracepoint { perf_probe, .. } => {
            let Some(template) = image
                .symbols()
                .resolve(*perf_probe)
                .and_then(|(s, _)| s.name.strip_prefix("perf_trace_").map(str::to_string))
            else {
                return Vec::new();
            };
            let Ok(types) = image.types() else {
                return Vec::new();
            };
            let Some(layout) = types
                .find(&format!("struct trace_event_raw_{template}"))
                .ok()
                .flatten()
                .and_then(|id| types.layout(id).ok())
            else {
                return Vec::new();
            };
            layout
                .members
                .iter()
                .filter(|m| !matches!(m.name.as_deref(), Some("ent" | "__data")))
                .map(|m| m.decl.clone())
                .collect()
        }
    }
}
