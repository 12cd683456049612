//! The guest kernel's static tracepoints and trace events, read from its image.
//!
//! Everything here comes from the kernel's own data and debug info, never from tables written
//! by hand:
//! - **tracepoints** are the `struct tracepoint` objects `__tracepoint_NAME`; their arguments
//!   (`TP_PROTO`) are the parameters of `__traceiter_NAME(void *__data, ...)` in the DWARF;
//! - **trace events** are the kernel's list of `struct trace_event_call` pointers (the
//!   `_ftrace_events` section, which `/sys/kernel/tracing/events` is built from). An event's
//!   category is its class's `system` string; a `TRACE_EVENT` points at its tracepoint, a
//!   syscall event (`syscalls:sys_enter_openat`) names itself and carries its
//!   `struct syscall_metadata` (argument count, names and types);
//! - **sites** are the places where the guest tests a tracepoint's static key (with
//!   `CONFIG_JUMP_LABEL` off, as in bpflab's Linux, a load of `key.enabled` and a conditional
//!   branch): the instruction that reads the key, the address the disabled path continues
//!   at, and the function it is in. [`crate::sidestep`] runs the enabled path from there.
//!
//! Offsets of the kernel structures come from the image's DWARF, so a kernel with another
//! layout is read right or refused by name.

use crate::image::GuestImage;
use crate::types::{TypeDb, TypeError};
use std::collections::{BTreeMap, HashMap};
use thiserror::Error;

/// Why the image's tracepoints could not be read.
#[derive(Debug, Error)]
pub enum TracepointError {
    #[error("{0}")]
    Types(#[from] TypeError),
    #[error("the image has no '{0}' in its debug info (is it a kernel with tracepoints?)")]
    Missing(String),
}

/// One argument of a tracepoint or event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpArg {
    /// Its name in the prototype.
    pub name: String,
    /// Its type in C (`struct task_struct *`).
    pub type_name: String,
}

/// A static tracepoint (`DECLARE_TRACE`/`TRACE_EVENT`): what raw tracepoints attach to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracepoint {
    /// `sched_switch`.
    pub name: String,
    /// Address of its `struct tracepoint`.
    pub addr: u64,
    /// `TP_PROTO`'s arguments, in order.
    pub args: Vec<TpArg>,
    /// Where the enabled path calls its probes: `__SCT__tp_func_NAME` (the static call
    /// trampoline) and `__traceiter_NAME`.
    pub targets: Vec<u64>,
}

/// What produces a trace event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSource {
    /// A `TRACE_EVENT`: its tracepoint, and the class's `perf_trace_TEMPLATE` function that
    /// fills the record for perf and BPF.
    Tracepoint {
        /// The tracepoint's name.
        tracepoint: String,
        /// Address of `perf_trace_TEMPLATE` (0: none).
        perf_probe: u64,
    },
    /// `syscalls:sys_enter_NAME` / `sys_exit_NAME`.
    Syscall {
        /// The syscall's name (`openat`).
        syscall: String,
        /// Entry (`true`) or exit event.
        enter: bool,
        /// Its number, from `sys_call_table`.
        nr: Option<u32>,
        /// Its arguments (names and C types from the metadata).
        args: Vec<TpArg>,
    },
}

/// A trace event as `tracepoint:CATEGORY:NAME` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEvent {
    /// `sched`.
    pub category: String,
    /// `sched_switch`.
    pub name: String,
    /// Address of its `struct trace_event_call`.
    pub call: u64,
    /// What produces it.
    pub source: EventSource,
}

impl TraceEvent {
    /// `CATEGORY:NAME`.
    pub fn full_name(&self) -> String {
        format!("{}:{}", self.category, self.name)
    }
}

/// Where the guest tests a tracepoint's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The instruction that reads `key.enabled`.
    pub addr: u64,
    /// Where the disabled path goes on (the enabled path rejoins it there).
    pub skip: u64,
    /// The function the site is in.
    pub function: String,
}

/// Offsets into the kernel's tracing structures, from DWARF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TracingLayout {
    /// `struct tracepoint`: `key.enabled` and `funcs`.
    pub tp_key_enabled: u64,
    pub tp_funcs: u64,
    /// `struct tracepoint_func`: `data`, and the size of one.
    pub func_data: u64,
    pub func_size: u64,
    /// `struct trace_event_call`: `class`, the `name`/`tp` union, `data`, `prog_array`.
    pub call_class: u64,
    pub call_name: u64,
    pub call_data: u64,
    pub call_prog_array: u64,
    /// `struct trace_event_class`: `system`, `perf_probe`.
    pub class_system: u64,
    pub class_perf_probe: u64,
    /// `struct syscall_metadata`: `name`, `nb_args`, `types`, `args`.
    pub meta_name: u64,
    pub meta_nb_args: u64,
    pub meta_types: u64,
    pub meta_args: u64,
}

impl TracingLayout {
    /// Reads the offsets from the image's types.
    pub fn from_types(types: &TypeDb<'_>) -> Result<TracingLayout, TracepointError> {
        let off = |ty: &str, path: &str| -> Result<u64, TracepointError> {
            let id = types
                .find(ty)?
                .ok_or_else(|| TracepointError::Missing(ty.to_string()))?;
            Ok(types
                .member_path(id, path)
                .map_err(|_| TracepointError::Missing(format!("{ty}.{path}")))?
                .offset)
        };
        let func = types
            .find("struct tracepoint_func")?
            .ok_or_else(|| TracepointError::Missing("struct tracepoint_func".into()))?;
        Ok(TracingLayout {
            tp_key_enabled: off("struct tracepoint", "key.enabled")?,
            tp_funcs: off("struct tracepoint", "funcs")?,
            func_data: off("struct tracepoint_func", "data")?,
            func_size: types.size_of(func)?,
            call_class: off("struct trace_event_call", "class")?,
            call_name: off("struct trace_event_call", "name")?,
            call_data: off("struct trace_event_call", "data")?,
            call_prog_array: off("struct trace_event_call", "prog_array")?,
            class_system: off("struct trace_event_class", "system")?,
            class_perf_probe: off("struct trace_event_class", "perf_probe")?,
            meta_name: off("struct syscall_metadata", "name")?,
            meta_nb_args: off("struct syscall_metadata", "nb_args")?,
            meta_types: off("struct syscall_metadata", "types")?,
            meta_args: off("struct syscall_metadata", "args")?,
        })
    }
}

/// The tracepoints and events of one image.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Tracepoints by name.
    pub tracepoints: BTreeMap<String, Tracepoint>,
    /// Events, sorted by `CATEGORY:NAME`.
    pub events: Vec<TraceEvent>,
    /// The structure offsets they were read with (`None`: the image has no tracing types).
    pub layout: Option<TracingLayout>,
}

impl Catalog {
    /// Reads the catalog from `image`. An image without tracepoints gives an empty catalog;
    /// one whose tracepoints cannot be described (no DWARF) lists them without arguments.
    pub fn read(image: &GuestImage) -> Catalog {
        let symbols = image.symbols();
        let types = image.types().ok();
        let mut tracepoints = BTreeMap::new();
        for s in symbols.prefix("__tracepoint_") {
            if s.kind.is_text() || s.absolute {
                continue;
            }
            let name = s.name["__tracepoint_".len()..].to_string();
            let args = types
                .and_then(|t| t.function(&format!("__traceiter_{name}")).ok().flatten())
                .map(|f| {
                    f.params
                        .iter()
                        .skip(1) // void *__data
                        .enumerate()
                        .map(|(i, p)| TpArg {
                            name: p.name.clone().unwrap_or_else(|| format!("arg{i}")),
                            type_name: p.type_name.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let targets = [
                format!("__SCT__tp_func_{name}"),
                format!("__traceiter_{name}"),
            ]
            .iter()
            .filter_map(|t| symbols.lookup(t).filter(|s| s.kind.is_text()))
            .map(|s| s.addr)
            .collect();
            tracepoints.insert(
                name.clone(),
                Tracepoint {
                    name,
                    addr: s.addr,
                    args,
                    targets,
                },
            );
        }
        let layout = types.and_then(|t| TracingLayout::from_types(t).ok());
        let events = match layout {
            Some(l) => read_events(image, &l, &tracepoints),
            None => Vec::new(),
        };
        Catalog {
            tracepoints,
            events,
            layout,
        }
    }

    /// The event `CATEGORY:NAME`.
    pub fn event(&self, category: &str, name: &str) -> Option<&TraceEvent> {
        self.events
            .iter()
            .find(|e| e.category == category && e.name == name)
    }

    /// Events whose `CATEGORY:NAME` matches the glob `pattern` (`sched:*`, `*:sys_enter_open*`).
    pub fn events_matching(&self, pattern: &str) -> Result<Vec<&TraceEvent>, glob::PatternError> {
        let p = glob::Pattern::new(pattern)?;
        Ok(self
            .events
            .iter()
            .filter(|e| p.matches(&e.full_name()))
            .collect())
    }

    /// Close event names, for "did you mean".
    pub fn suggest(&self, full_name: &str, n: usize) -> Vec<String> {
        let mut scored: Vec<(usize, String)> = self
            .events
            .iter()
            .map(|e| e.full_name())
            .map(|f| (strsim::levenshtein(&f, full_name), f))
            .filter(|(d, f)| *d <= 3.max(f.len() / 4))
            .collect();
        scored.sort();
        scored.into_iter().take(n).map(|(_, f)| f).collect()
    }
}

/// A little-endian u64 from the image's data.
fn read_u64(image: &GuestImage, addr: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    image
        .read_static(addr, &mut b)
        .then(|| u64::from_le_bytes(b))
}

fn read_i32(image: &GuestImage, addr: u64) -> Option<i32> {
    let mut b = [0u8; 4];
    image
        .read_static(addr, &mut b)
        .then(|| i32::from_le_bytes(b))
}

/// A NUL-terminated string from the image's data (at most 256 bytes).
fn read_cstr(image: &GuestImage, addr: u64) -> Option<String> {
    let mut out = Vec::new();
    for i in 0..256 {
        let mut b = [0u8; 1];
        if !image.read_static(addr + i, &mut b) {
            return None;
        }
        if b[0] == 0 {
            return String::from_utf8(out).ok();
        }
        out.push(b[0]);
    }
    None
}

/// Walks `_ftrace_events`.
fn read_events(
    image: &GuestImage,
    l: &TracingLayout,
    tracepoints: &BTreeMap<String, Tracepoint>,
) -> Vec<TraceEvent> {
    let symbols = image.symbols();
    let (Some(start), Some(stop)) = (
        symbols.lookup("__start_ftrace_events"),
        symbols.lookup("__stop_ftrace_events"),
    ) else {
        return Vec::new();
    };
    let by_addr: HashMap<u64, &str> = tracepoints
        .values()
        .map(|t| (t.addr, t.name.as_str()))
        .collect();
    let syscall_nrs = syscall_numbers(image);
    let mut events = Vec::new();
    let mut at = start.addr;
    while at + 8 <= stop.addr {
        let slot = at;
        at += 8;
        let Some(call) = read_u64(image, slot) else {
            continue;
        };
        let Some(class) = read_u64(image, call + l.call_class) else {
            continue;
        };
        let Some(category) =
            read_u64(image, class + l.class_system).and_then(|s| read_cstr(image, s))
        else {
            continue;
        };
        let Some(name_or_tp) = read_u64(image, call + l.call_name) else {
            continue;
        };
        let event = if let Some(tp) = by_addr.get(&name_or_tp) {
            TraceEvent {
                category,
                name: tp.to_string(),
                call,
                source: EventSource::Tracepoint {
                    tracepoint: tp.to_string(),
                    perf_probe: read_u64(image, class + l.class_perf_probe).unwrap_or(0),
                },
            }
        } else {
            let Some(name) = read_cstr(image, name_or_tp) else {
                continue;
            };
            let syscall = name
                .strip_prefix("sys_enter_")
                .map(|s| (s, true))
                .or_else(|| name.strip_prefix("sys_exit_").map(|s| (s, false)));
            let Some((syscall, enter)) = syscall else {
                continue;
            };
            let meta = read_u64(image, call + l.call_data).unwrap_or(0);
            let args = if enter {
                syscall_args(image, l, meta)
            } else {
                Vec::new()
            };
            TraceEvent {
                category,
                name: name.clone(),
                call,
                source: EventSource::Syscall {
                    syscall: syscall.to_string(),
                    enter,
                    nr: syscall_nrs.get(syscall).copied(),
                    args,
                },
            }
        };
        events.push(event);
    }
    events.sort_by_key(|e| e.full_name());
    events.dedup_by_key(|e| e.full_name());
    events
}

/// A syscall's argument names and types from its `struct syscall_metadata`.
fn syscall_args(image: &GuestImage, l: &TracingLayout, meta: u64) -> Vec<TpArg> {
    let n = read_i32(image, meta + l.meta_nb_args)
        .unwrap_or(0)
        .clamp(0, 6) as u64;
    let (Some(types), Some(names)) = (
        read_u64(image, meta + l.meta_types),
        read_u64(image, meta + l.meta_args),
    ) else {
        return Vec::new();
    };
    (0..n)
        .filter_map(|i| {
            let name = read_u64(image, names + 8 * i).and_then(|p| read_cstr(image, p))?;
            let type_name = read_u64(image, types + 8 * i).and_then(|p| read_cstr(image, p))?;
            Some(TpArg { name, type_name })
        })
        .collect()
}

/// Syscall numbers by name: the index of `__x64_sys_NAME` in `sys_call_table`.
fn syscall_numbers(image: &GuestImage) -> HashMap<String, u32> {
    let symbols = image.symbols();
    let Some(table) = symbols.lookup("sys_call_table") else {
        return HashMap::new();
    };
    let entries = (table.size / 8).min(1024);
    let mut out = HashMap::new();
    for nr in 0..entries {
        let Some(f) = read_u64(image, table.addr + 8 * nr) else {
            break;
        };
        if let Some((sym, 0)) = symbols.resolve(f) {
            if let Some(name) = sym.name.strip_prefix("__x64_sys_") {
                out.entry(name.to_string()).or_insert(nr as u32);
            }
        }
    }
    out
}

/// Finds every site of the tracepoints `wanted` (by name) in the image's code: instructions
/// that read the tracepoint's `key.enabled` followed by the test and branch that skip the
/// call when the key is off. Returns the sites by tracepoint name.
pub fn find_sites(
    image: &GuestImage,
    layout: &TracingLayout,
    wanted: &[&Tracepoint],
) -> BTreeMap<String, Vec<Site>> {
    use iced_x86::{Decoder, DecoderOptions, Register};
    let keys: HashMap<u64, &str> = wanted
        .iter()
        .map(|t| (t.addr + layout.tp_key_enabled, t.name.as_str()))
        .collect();
    let mut out: BTreeMap<String, Vec<Site>> = BTreeMap::new();
    if keys.is_empty() {
        return out;
    }
    for sym in image.symbols().symbols() {
        if !sym.kind.is_text() || sym.size == 0 || sym.absolute {
            continue;
        }
        let Some(code) = image.code(sym.addr, sym.size as usize) else {
            continue;
        };
        let mut decoder = Decoder::with_ip(64, code, sym.addr, DecoderOptions::NONE);
        let mut insns = Vec::new();
        while decoder.can_decode() {
            let i = decoder.decode();
            if i.is_invalid() {
                break;
            }
            insns.push(i);
        }
        for (k, i) in insns.iter().enumerate() {
            if i.memory_base() != Register::RIP {
                continue;
            }
            let Some(name) = keys.get(&i.memory_displacement64()) else {
                continue;
            };
            if let Some(skip) = skip_of(&insns[k..]) {
                out.entry(name.to_string()).or_default().push(Site {
                    addr: i.ip(),
                    skip,
                    function: sym.unique_name.clone(),
                });
            }
        }
    }
    for v in out.values_mut() {
        v.sort_by_key(|s| s.addr);
        v.dedup_by_key(|s| s.addr);
    }
    out
}

/// From the key-reading instruction on: the first conditional branch within a few
/// instructions, evaluated for a key of 1 (enabled) and 0 (disabled) after `test`/`cmp $0`
/// of it. Returns where the disabled path goes when the two differ.
fn skip_of(insns: &[iced_x86::Instruction]) -> Option<u64> {
    use iced_x86::{FlowControl, Mnemonic};
    let first = insns.first()?;
    // The key is tested either by the load itself (`cmpl $0, key(%rip)`) or by a `test`/`cmp`
    // of the register it was loaded into.
    let tested_by_load = first.mnemonic() == Mnemonic::Cmp;
    if !tested_by_load && first.mnemonic() != Mnemonic::Mov {
        return None;
    }
    let mut tested = tested_by_load;
    for i in insns.iter().skip(1).take(4) {
        match (i.mnemonic(), i.flow_control()) {
            (Mnemonic::Test | Mnemonic::Cmp, _) => tested = true,
            (_, FlowControl::ConditionalBranch) if tested => {
                let on = taken(i.condition_code(), false);
                let off = taken(i.condition_code(), true);
                if on == off {
                    return None;
                }
                let target = i.near_branch_target();
                return Some(if off { target } else { i.next_ip() });
            }
            (_, FlowControl::Next) => {}
            _ => return None,
        }
    }
    None
}

/// Whether a branch on `cc` is taken after `test`/`cmp $0` of a value that is zero or one.
fn taken(cc: iced_x86::ConditionCode, zero: bool) -> bool {
    use iced_x86::ConditionCode as C;
    // CF = OF = SF = 0 for both values; ZF and PF are set for zero (and clear for one).
    let (zf, pf) = (zero, zero);
    match cc {
        C::o | C::b | C::s | C::l => false,
        C::no | C::ae | C::ns | C::ge => true,
        C::e | C::be | C::le => zf,
        C::ne | C::a | C::g => !zf,
        C::p => pf,
        C::np => !pf,
        C::None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions};

    fn decode(bytes: &[u8], ip: u64) -> Vec<iced_x86::Instruction> {
        let mut d = Decoder::with_ip(64, bytes, ip, DecoderOptions::NONE);
        let mut v = Vec::new();
        while d.can_decode() {
            v.push(d.decode());
        }
        v
    }

    #[test]
    fn the_skip_is_where_a_disabled_key_goes() {
        // mov eax, [rip+X]; test eax, eax; jle +0x21 (Linux 6.1 __schedule, sched_switch)
        let code = [0x8b, 0x05, 0xe9, 0x35, 0xa4, 0x00, 0x85, 0xc0, 0x7e, 0x21];
        let insns = decode(&code, 0xffff_ffff_812e_b559);
        assert_eq!(skip_of(&insns), Some(0xffff_ffff_812e_b584));
        // cmp dword [rip+X], 0; jg +0x10: the disabled path falls through.
        let code = [0x83, 0x3d, 0, 0, 0, 0, 0x00, 0x7f, 0x10];
        let insns = decode(&code, 0x1000);
        assert_eq!(skip_of(&insns), Some(0x1009));
        // A load that is not tested before a call is not a site.
        let code = [0x8b, 0x05, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0];
        assert_eq!(skip_of(&decode(&code, 0x1000)), None);
    }
}
