//! Attach points of every kind, as users write them and as objects' sections name them, and
//! what each resolves to in a guest image.
//!
//! | written | section | runs | context |
//! |---|---|---|---|
//! | `SYMBOL[+OFF]`, `kprobe:`, `0xADDR`, globs | `kprobe/SYM` | at the instruction | `pt_regs` |
//! | `SYMBOL%return`, `kretprobe:SYM` | `kretprobe/SYM` | at the return | `pt_regs` |
//! | `ksyscall:NAME`, `kretsyscall:NAME` | `ksyscall/NAME`, `kretsyscall/NAME` | `__x64_sys_NAME` (libbpf's mapping) | `pt_regs` |
//! | `tracepoint:CAT:NAME` | `tracepoint/CAT/NAME`, `tp/CAT/NAME` | where the guest tests the key | the event's record |
//! | `rawtracepoint:NAME` | `raw_tp/NAME`, `raw_tracepoint/NAME`, `tp_btf/NAME` | same | `TP_PROTO` as u64 |
//! | `fentry:F`, `kfunc:F`, `fexit:F`, `kretfunc:F` | `fentry/F`, `fexit/F` | entry, return of F | arguments (and return value) as u64 |
//! | `profile:hz:N`, `profile:s|ms|us:N`, `interval:...` | `perf_event` (49 Hz unless a point is given, as BCC's `profile`) | every period of virtual time, at the interrupted instruction | `bpf_perf_event_data` |
//!
//! Seed-style programs (assembly, `bpflab/` sections) take the seed's `struct bpf_context`
//! wherever they attach: at a tracepoint its `arg1..arg5` are the tracepoint's arguments, as
//! the seed's `ftrace.h` hunk builds them. Kinds that would change the guest (`fmod_ret`,
//! `lsm`, `struct_ops`) are refused with the reason.

use crate::attach::{AttachError, ResolvedAttach};
use crate::context::{ArgsKind, ContextKind};
use crate::image::GuestImage;
use crate::tracepoints::{EventSource, Site, TpArg};

/// Where a program runs, before it is resolved against an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Point {
    /// A kprobe or kretprobe spec (see [`crate::attach`]).
    Kprobe(String),
    /// `tracepoint:CATEGORY:NAME` (either may be a glob).
    Tracepoint { category: String, name: String },
    /// `rawtracepoint:NAME`; `btf` for `tp_btf` programs.
    RawTracepoint { name: String, btf: bool },
    /// `fentry:F` or `fexit:F`.
    Function { name: String, exit: bool },
    /// `profile:UNIT:N` or `interval:UNIT:N`: a timer of virtual time.
    Timer(Timer),
}

/// A sampling or interval timer, as written (`profile:hz:99`, `interval:ms:500`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    /// `interval:` (periodic work) rather than `profile:` (sampling).
    pub interval: bool,
    /// The unit as written: `hz`, `s`, `ms` or `us`.
    pub unit: &'static str,
    /// The number as written.
    pub value: u64,
    /// The period in ns of virtual time.
    pub period_ns: u64,
}

/// The rate at which a `perf_event` program without a point samples: BCC's `profile`
/// default (`-F 49`).
pub const DEFAULT_SAMPLE_HZ: u64 = 49;

impl Timer {
    /// Parses `UNIT:N` (`hz:99`, `ms:10`) after `profile:` or `interval:`.
    pub fn parse(interval: bool, body: &str) -> Result<Timer, AttachError> {
        let kind = if interval { "interval" } else { "profile" };
        let bad = |why: String| AttachError::BadTimer {
            spec: format!("{kind}:{body}"),
            why,
        };
        let (unit, n) = body
            .split_once(':')
            .ok_or_else(|| bad("expected UNIT:N, e.g. hz:99 or ms:10".into()))?;
        let value: u64 = n
            .trim()
            .parse()
            .map_err(|_| bad(format!("'{n}' is not a whole number")))?;
        if value == 0 {
            return Err(bad("the number must be at least 1".into()));
        }
        let (unit, period_ns) = match unit.trim() {
            "hz" => ("hz", 1_000_000_000 / value.min(1_000_000_000)),
            "s" => (
                "s",
                value
                    .checked_mul(1_000_000_000)
                    .ok_or_else(|| bad("too long".into()))?,
            ),
            "ms" => (
                "ms",
                value
                    .checked_mul(1_000_000)
                    .ok_or_else(|| bad("too long".into()))?,
            ),
            "us" => (
                "us",
                value
                    .checked_mul(1_000)
                    .ok_or_else(|| bad("too long".into()))?,
            ),
            other => return Err(bad(format!("unknown unit '{other}' (hz, s, ms or us)"))),
        };
        Ok(Timer {
            interval,
            unit,
            value,
            period_ns,
        })
    }

    /// The default sampler of a `perf_event` program.
    pub fn default_sampler() -> Timer {
        Timer {
            interval: false,
            unit: "hz",
            value: DEFAULT_SAMPLE_HZ,
            period_ns: 1_000_000_000 / DEFAULT_SAMPLE_HZ,
        }
    }

    /// As written: `profile:hz:99`.
    pub fn spec(&self) -> String {
        let kind = if self.interval { "interval" } else { "profile" };
        format!("{kind}:{}:{}", self.unit, self.value)
    }
}

/// What kind of program a section declares, which decides its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgFamily {
    /// The seed's `bpf_context` (assembly, `bpflab/`, unknown sections).
    Seed,
    Kprobe,
    Tracepoint,
    RawTracepoint {
        btf: bool,
    },
    Function {
        exit: bool,
    },
    /// `perf_event`: samples (`struct bpf_perf_event_data`).
    PerfEvent,
}

impl ProgFamily {
    /// The context before the program is attached: exact for every family but fentry, fexit
    /// and tp_btf, whose argument count comes from the target (see
    /// [`Target::context_for`]); those get none until then.
    pub fn default_context(self) -> ContextKind {
        match self {
            ProgFamily::Seed => ContextKind::Seed,
            ProgFamily::Kprobe => ContextKind::PtRegs,
            ProgFamily::Tracepoint => ContextKind::Record,
            ProgFamily::RawTracepoint { btf: false } => ContextKind::Args {
                count: crate::context::MAX_RAW_ARGS,
                kind: ArgsKind::RawTracepoint,
            },
            ProgFamily::RawTracepoint { btf: true } => ContextKind::Args {
                count: 0,
                kind: ArgsKind::TpBtf,
            },
            ProgFamily::Function { exit } => ContextKind::Args {
                count: 0,
                kind: if exit {
                    ArgsKind::Fexit
                } else {
                    ArgsKind::Fentry
                },
            },
            ProgFamily::PerfEvent => ContextKind::PerfEvent,
        }
    }
}

impl Point {
    /// Parses the text a user writes (`tracepoint:sched:sched_switch`, `fentry:vfs_read`,
    /// `ksyscall:openat`, or any kprobe spec).
    pub fn parse(text: &str) -> Result<Point, AttachError> {
        let text = text.trim();
        let Some((kind, rest)) = text.split_once(':').filter(|_| !text.starts_with('\'')) else {
            return Ok(Point::Kprobe(text.to_string()));
        };
        let need = |what: &str| -> Result<String, AttachError> {
            if rest.trim().is_empty() {
                Err(AttachError::Incomplete(format!("{kind}:{what}")))
            } else {
                Ok(rest.trim().to_string())
            }
        };
        Ok(match kind {
            "tracepoint" | "t" => {
                let body = need("CATEGORY:NAME")?;
                let Some((category, name)) = body.split_once(':') else {
                    return Err(AttachError::Incomplete(format!(
                        "tracepoint:CATEGORY:NAME (got '{text}'; `bpflab list 'tracepoint:*{body}*'` finds it)"
                    )));
                };
                Point::Tracepoint {
                    category: category.to_string(),
                    name: name.to_string(),
                }
            }
            "rawtracepoint" | "rt" => Point::RawTracepoint {
                name: need("NAME")?,
                btf: false,
            },
            "fentry" | "kfunc" | "f" => Point::Function {
                name: need("FUNCTION")?,
                exit: false,
            },
            "fexit" | "kretfunc" | "fr" => Point::Function {
                name: need("FUNCTION")?,
                exit: true,
            },
            "ksyscall" => Point::Kprobe(format!("__x64_sys_{}", need("NAME")?)),
            "kretsyscall" => Point::Kprobe(format!("__x64_sys_{}%return", need("NAME")?)),
            "profile" | "p" => Point::Timer(Timer::parse(false, &need("UNIT:N")?)?),
            "interval" | "i" => Point::Timer(Timer::parse(true, &need("UNIT:N")?)?),
            _ => {
                // Validates the kprobe forms (and names an unknown probe type).
                crate::attach::AttachSpec::parse(text)?;
                Point::Kprobe(text.to_string())
            }
        })
    }

    /// The point and program family an ELF section declares: `Ok(None)` when the section
    /// names no place (`kprobe` alone, unknown sections: the user gives the point).
    pub fn from_section(section: &str) -> Result<(ProgFamily, Option<Point>), AttachError> {
        let (head, rest) = section.split_once('/').unwrap_or((section, ""));
        let some = |p: Point| if rest.is_empty() { None } else { Some(p) };
        Ok(match head {
            "kprobe" | "bpflab" => {
                let family = if head == "bpflab" {
                    ProgFamily::Seed
                } else {
                    ProgFamily::Kprobe
                };
                (family, some(Point::Kprobe(rest.to_string())))
            }
            "kretprobe" => (
                ProgFamily::Kprobe,
                some(Point::Kprobe(format!("{rest}%return"))),
            ),
            "ksyscall" => (
                ProgFamily::Kprobe,
                some(Point::Kprobe(format!("__x64_sys_{rest}"))),
            ),
            "kretsyscall" => (
                ProgFamily::Kprobe,
                some(Point::Kprobe(format!("__x64_sys_{rest}%return"))),
            ),
            "tracepoint" | "tp" => {
                let point = match rest.split_once('/') {
                    Some((c, n)) => Some(Point::Tracepoint {
                        category: c.to_string(),
                        name: n.to_string(),
                    }),
                    None if rest.is_empty() => None,
                    None => {
                        return Err(AttachError::Incomplete(format!(
                            "{head}/CATEGORY/NAME (section '{section}')"
                        )))
                    }
                };
                (ProgFamily::Tracepoint, point)
            }
            "raw_tp" | "raw_tracepoint" | "tp_btf" => {
                let btf = head == "tp_btf";
                (
                    ProgFamily::RawTracepoint { btf },
                    some(Point::RawTracepoint {
                        name: rest.to_string(),
                        btf,
                    }),
                )
            }
            "fentry" | "fexit" => {
                let exit = head == "fexit";
                (
                    ProgFamily::Function { exit },
                    some(Point::Function {
                        name: rest.to_string(),
                        exit,
                    }),
                )
            }
            "perf_event" => (
                ProgFamily::PerfEvent,
                Some(Point::Timer(Timer::default_sampler())),
            ),
            "fmod_ret" | "lsm" | "lsm.s" | "struct_ops" | "freplace" => {
                return Err(AttachError::ChangesGuest {
                    section: section.to_string(),
                })
            }
            _ => (ProgFamily::Seed, None),
        })
    }

    /// How the point is shown (`tracepoint:sched:sched_switch`).
    pub fn spec(&self) -> String {
        match self {
            Point::Kprobe(s) => s.clone(),
            Point::Tracepoint { category, name } => format!("tracepoint:{category}:{name}"),
            Point::RawTracepoint { name, .. } => format!("rawtracepoint:{name}"),
            Point::Function { name, exit: false } => format!("fentry:{name}"),
            Point::Function { name, exit: true } => format!("fexit:{name}"),
            Point::Timer(t) => t.spec(),
        }
    }

    /// The family of programs that take this point's own context.
    pub fn family(&self) -> ProgFamily {
        match self {
            Point::Kprobe(_) => ProgFamily::Kprobe,
            Point::Tracepoint { .. } => ProgFamily::Tracepoint,
            Point::RawTracepoint { btf, .. } => ProgFamily::RawTracepoint { btf: *btf },
            Point::Function { exit, .. } => ProgFamily::Function { exit: *exit },
            Point::Timer(_) => ProgFamily::PerfEvent,
        }
    }

    /// Resolves against `image`: every place the program runs.
    pub fn resolve(&self, image: &GuestImage) -> Result<Vec<Target>, AttachError> {
        match self {
            Point::Kprobe(spec) => Ok(image
                .resolve_attach(spec)?
                .into_iter()
                .map(Target::Code)
                .collect()),
            Point::Tracepoint { category, name } => resolve_events(image, category, name),
            Point::Timer(t) => Ok(vec![Target::Timer(*t)]),
            Point::RawTracepoint { name, .. } => {
                let tp = image.catalog().tracepoints.get(name).ok_or_else(|| {
                    AttachError::UnknownTracepoint {
                        name: format!("rawtracepoint:{name}"),
                        suggestions: suggest_raw(image, name),
                    }
                })?;
                Ok(vec![Target::Tracepoint(TracepointTarget {
                    tracepoint: tp.name.clone(),
                    event: None,
                    args: tp.args.clone(),
                    sites: image.tracepoint_sites(&tp.name).to_vec(),
                    targets: tp.targets.clone(),
                    perf_probe: 0,
                    call: 0,
                })])
            }
            Point::Function { name, exit } => {
                let spec = if *exit {
                    format!("{name}%return")
                } else {
                    name.clone()
                };
                let at = image.resolve_attach(&spec)?;
                let types = image.types().map_err(|e| AttachError::NoPrototype {
                    name: name.clone(),
                    why: e.to_string(),
                })?;
                let f = types.function(name).ok().flatten().ok_or_else(|| {
                    AttachError::NoPrototype {
                        name: name.clone(),
                        why: "the debug info has no such function".into(),
                    }
                })?;
                let args: Vec<TpArg> = f
                    .params
                    .iter()
                    .enumerate()
                    .map(|(i, p)| TpArg {
                        name: p.name.clone().unwrap_or_else(|| format!("arg{i}")),
                        type_name: p.type_name.clone(),
                    })
                    .collect();
                if args.len() > 6 {
                    return Err(AttachError::NoPrototype {
                        name: name.clone(),
                        why: format!("{} arguments; fentry/fexit take at most 6 here", args.len()),
                    });
                }
                Ok(at
                    .into_iter()
                    .map(|at| Target::Function {
                        at,
                        args: args.clone(),
                        exit: *exit,
                        returns_value: f.return_type.is_some(),
                    })
                    .collect())
            }
        }
    }
}

/// A tracepoint as a place to run: its sites and what the record is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracepointTarget {
    /// The underlying tracepoint.
    pub tracepoint: String,
    /// `CATEGORY:NAME` of the event, for `tracepoint:` points (`None` for raw ones).
    pub event: Option<String>,
    /// `TP_PROTO`'s arguments.
    pub args: Vec<TpArg>,
    /// Where the guest tests the key.
    pub sites: Vec<Site>,
    /// The probe call targets (the enabled path ends there).
    pub targets: Vec<u64>,
    /// `perf_trace_TEMPLATE`, which fills the record (0: none).
    pub perf_probe: u64,
    /// The event's `struct trace_event_call`.
    pub call: u64,
}

/// One resolved place a program runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An instruction (kprobe) or a function's return (kretprobe).
    Code(ResolvedAttach),
    /// A static tracepoint.
    Tracepoint(TracepointTarget),
    /// A syscall event: entry or return of `__x64_sys_NAME`, the record built from the
    /// syscall's `pt_regs` as `perf_syscall_enter`/`perf_syscall_exit` build it.
    Syscall {
        /// `syscalls:sys_enter_NAME`.
        event: String,
        at: ResolvedAttach,
        enter: bool,
        nr: u32,
        nb_args: u32,
    },
    /// fentry/fexit: a function's entry or return, its arguments from the registers.
    Function {
        at: ResolvedAttach,
        args: Vec<TpArg>,
        exit: bool,
        returns_value: bool,
    },
    /// A timer of virtual time: fires at whatever instruction the CPU is at.
    Timer(Timer),
}

impl Target {
    /// How the place is shown (`__schedule+0x259`, `syscalls:sys_enter_openat`).
    pub fn location(&self) -> String {
        let code = |r: &ResolvedAttach| {
            if r.offset == 0 {
                r.symbol.clone()
            } else {
                format!("{}+{:#x}", r.symbol, r.offset)
            }
        };
        match self {
            Target::Code(r) | Target::Function { at: r, .. } => code(r),
            Target::Syscall { at, .. } => code(at),
            Target::Tracepoint(t) => match t.sites.len() {
                1 => t.sites[0].function.clone(),
                n => format!("{n} sites"),
            },
            Target::Timer(t) if t.unit == "hz" => format!("{} Hz", t.value),
            Target::Timer(t) => format!("every {}{}", t.value, t.unit),
        }
    }

    /// The context a program of `family` gets here, or why it cannot run here.
    pub fn context_for(&self, family: ProgFamily) -> Result<ContextKind, String> {
        let args = |count: usize, kind| ContextKind::Args {
            count: count as u32,
            kind,
        };
        match (family, self) {
            (ProgFamily::Seed, _) => Ok(ContextKind::Seed),
            (ProgFamily::Kprobe, Target::Code(_) | Target::Syscall { .. } | Target::Function { .. }) => {
                Ok(ContextKind::PtRegs)
            }
            (ProgFamily::Tracepoint, Target::Tracepoint(t)) if t.event.is_some() => {
                Ok(ContextKind::Record)
            }
            (ProgFamily::Tracepoint, Target::Syscall { .. }) => Ok(ContextKind::Record),
            (ProgFamily::RawTracepoint { btf: false }, Target::Tracepoint(_)) => Ok(args(
                crate::context::MAX_RAW_ARGS as usize,
                ArgsKind::RawTracepoint,
            )),
            (ProgFamily::RawTracepoint { btf: true }, Target::Tracepoint(t)) => {
                Ok(args(t.args.len(), ArgsKind::TpBtf))
            }
            (ProgFamily::Function { exit: false }, Target::Function { args: a, exit: false, .. }) => {
                Ok(args(a.len(), ArgsKind::Fentry))
            }
            (
                ProgFamily::Function { exit: true },
                Target::Function {
                    args: a,
                    exit: true,
                    ..
                },
            ) => Ok(args(a.len() + 1, ArgsKind::Fexit)),
            (ProgFamily::PerfEvent, Target::Timer(_)) => Ok(ContextKind::PerfEvent),
            (family, target) => Err(format!(
                "a {} program cannot run at {} (attach it where its section says, or use a program of the point's kind)",
                family_name(family),
                target.kind_name()
            )),
        }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            Target::Code(r) if r.is_return => "a kretprobe",
            Target::Code(_) => "a kprobe",
            Target::Tracepoint(t) if t.event.is_some() => "a tracepoint",
            Target::Tracepoint(_) => "a raw tracepoint",
            Target::Syscall { .. } => "a syscall tracepoint",
            Target::Function { exit: false, .. } => "an fentry point",
            Target::Function { exit: true, .. } => "an fexit point",
            Target::Timer(t) if t.interval => "an interval timer",
            Target::Timer(_) => "a sampling timer",
        }
    }
}

fn family_name(f: ProgFamily) -> &'static str {
    match f {
        ProgFamily::Seed => "seed",
        ProgFamily::Kprobe => "kprobe",
        ProgFamily::Tracepoint => "tracepoint",
        ProgFamily::RawTracepoint { btf: false } => "raw_tracepoint",
        ProgFamily::RawTracepoint { btf: true } => "tp_btf",
        ProgFamily::Function { exit: false } => "fentry",
        ProgFamily::Function { exit: true } => "fexit",
        ProgFamily::PerfEvent => "perf_event",
    }
}

fn suggest_raw(image: &GuestImage, name: &str) -> Vec<String> {
    let mut v: Vec<(usize, &String)> = image
        .catalog()
        .tracepoints
        .keys()
        .map(|k| (strsim::levenshtein(k, name), k))
        .filter(|(d, k)| *d <= 3.max(k.len() / 4))
        .collect();
    v.sort();
    v.into_iter().take(3).map(|(_, k)| k.clone()).collect()
}

/// `tracepoint:CATEGORY:NAME` (globs allowed) to targets.
fn resolve_events(
    image: &GuestImage,
    category: &str,
    name: &str,
) -> Result<Vec<Target>, AttachError> {
    let cat = image.catalog();
    let full = format!("{category}:{name}");
    let events = cat
        .events_matching(&full)
        .map_err(|e| AttachError::BadGlob {
            pattern: full.clone(),
            message: e.msg.to_string(),
        })?;
    if events.is_empty() {
        return Err(AttachError::UnknownTracepoint {
            name: format!("tracepoint:{full}"),
            suggestions: cat
                .suggest(&full, 3)
                .into_iter()
                .map(|s| format!("tracepoint:{s}"))
                .collect(),
        });
    }
    let mut out = Vec::new();
    for e in events {
        match &e.source {
            EventSource::Tracepoint {
                tracepoint,
                perf_probe,
            } => {
                let tp = &cat.tracepoints[tracepoint];
                out.push(Target::Tracepoint(TracepointTarget {
                    tracepoint: tracepoint.clone(),
                    event: Some(e.full_name()),
                    args: tp.args.clone(),
                    sites: image.tracepoint_sites(tracepoint).to_vec(),
                    targets: tp.targets.clone(),
                    perf_probe: *perf_probe,
                    call: e.call,
                }));
            }
            EventSource::Syscall {
                syscall,
                enter,
                nr,
                args,
            } => {
                let Some(nr) = nr else { continue };
                let spec = if *enter {
                    format!("__x64_sys_{syscall}")
                } else {
                    format!("__x64_sys_{syscall}%return")
                };
                let Ok(mut at) = image.resolve_attach(&spec) else {
                    continue;
                };
                let Some(at) = at.pop() else { continue };
                out.push(Target::Syscall {
                    event: e.full_name(),
                    at,
                    enter: *enter,
                    nr: *nr,
                    nb_args: args.len() as u32,
                });
            }
        }
    }
    if out.is_empty() {
        return Err(AttachError::NoSuchSyscall(format!("tracepoint:{full}")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_written_form_parses() {
        let tp = |c: &str, n: &str| Point::Tracepoint {
            category: c.into(),
            name: n.into(),
        };
        assert_eq!(
            Point::parse("tracepoint:sched:sched_switch").unwrap(),
            tp("sched", "sched_switch")
        );
        assert_eq!(
            Point::parse("t:syscalls:sys_enter_*").unwrap(),
            tp("syscalls", "sys_enter_*")
        );
        assert_eq!(
            Point::parse("rawtracepoint:sched_switch").unwrap(),
            Point::RawTracepoint {
                name: "sched_switch".into(),
                btf: false
            }
        );
        assert_eq!(
            Point::parse("kfunc:vfs_read").unwrap(),
            Point::Function {
                name: "vfs_read".into(),
                exit: false
            }
        );
        assert_eq!(
            Point::parse("fexit:vfs_read").unwrap(),
            Point::Function {
                name: "vfs_read".into(),
                exit: true
            }
        );
        assert_eq!(
            Point::parse("ksyscall:openat").unwrap(),
            Point::Kprobe("__x64_sys_openat".into())
        );
        assert_eq!(
            Point::parse("kretsyscall:openat").unwrap(),
            Point::Kprobe("__x64_sys_openat%return".into())
        );
        assert_eq!(
            Point::parse("ip_rcv+4").unwrap(),
            Point::Kprobe("ip_rcv+4".into())
        );
        assert!(matches!(
            Point::parse("tracepoint:sched_switch"),
            Err(AttachError::Incomplete(_))
        ));
        let t = |interval, unit, value, period_ns| {
            Point::Timer(Timer {
                interval,
                unit,
                value,
                period_ns,
            })
        };
        assert_eq!(
            Point::parse("profile:hz:99").unwrap(),
            t(false, "hz", 99, 10_101_010)
        );
        assert_eq!(
            Point::parse("interval:ms:500").unwrap(),
            t(true, "ms", 500, 500_000_000)
        );
        assert_eq!(
            Point::parse("i:s:1").unwrap(),
            t(true, "s", 1, 1_000_000_000)
        );
        assert_eq!(
            Point::parse("profile:us:250").unwrap().spec(),
            "profile:us:250"
        );
        for bad in [
            "profile:hz",
            "profile:hz:0",
            "profile:kHz:9",
            "interval:s:x",
            "profile:s:99999999999",
        ] {
            assert!(
                matches!(Point::parse(bad), Err(AttachError::BadTimer { .. })),
                "{bad}: {:?}",
                Point::parse(bad)
            );
        }
        assert!(matches!(
            Point::parse("uprobe:/bin/sh:main"),
            Err(AttachError::UnknownProbeType(_))
        ));
    }

    #[test]
    fn sections_name_their_family_and_point() {
        let (f, p) = Point::from_section("tracepoint/syscalls/sys_enter_openat").unwrap();
        assert_eq!(f, ProgFamily::Tracepoint);
        assert_eq!(p.unwrap().spec(), "tracepoint:syscalls:sys_enter_openat");
        let (f, p) = Point::from_section("tp_btf/sched_switch").unwrap();
        assert_eq!(f, ProgFamily::RawTracepoint { btf: true });
        assert_eq!(p.unwrap().spec(), "rawtracepoint:sched_switch");
        let (f, p) = Point::from_section("ksyscall/openat").unwrap();
        assert_eq!(
            (f, p.unwrap().spec()),
            (ProgFamily::Kprobe, "__x64_sys_openat".into())
        );
        let (f, p) = Point::from_section("kprobe").unwrap();
        assert_eq!((f, p), (ProgFamily::Kprobe, None));
        assert_eq!(
            Point::from_section("bpflab/dst_discard").unwrap().0,
            ProgFamily::Seed
        );
        assert_eq!(
            Point::from_section(".text").unwrap(),
            (ProgFamily::Seed, None)
        );
        let (f, p) = Point::from_section("perf_event").unwrap();
        assert_eq!(f, ProgFamily::PerfEvent);
        assert_eq!(p.unwrap().spec(), "profile:hz:49");
        let e = Point::from_section("fmod_ret/security_file_open").unwrap_err();
        assert!(e.to_string().contains("change"), "{e}");
    }
}
