//! Attaching filters to a running machine: the seed's loop, end to end.
//!
//! A [`Tracer`] owns the loaded filters and the probes. Attaching a probe registers a code hook
//! with the machine at the probe's address; when the guest reaches it the hook reads the
//! registers (one batched read), builds the program's context, runs the compiled filter on the
//! host and records its cost. Filters never change guest state.
//!
//! Return probes (`SYMBOL%return`, `kretprobe/...`) are built from two hooks: at entry the
//! return address and stack pointer are remembered; a hook at that return address fires the
//! filter when the same frame returns (the stack pointer is the entry one plus 8), with the
//! return value in `rax`. Pending returns are bounded per probe (like kretprobe's `maxactive`);
//! returns beyond the bound are counted as missed.
//!
//! Timers (`profile:hz:N`, `interval:s:N`, `SEC("perf_event")`) are the machine's timers of
//! virtual time ([`Machine::add_timer`]): each period the program runs with the registers of
//! the instruction the CPU is at, as a sampling interrupt would see them.
//!
//! Every program is verified first ([`jit::verifier`], the seed's `bpf_check()`) for its
//! program type (the seed's `bpf_context` or a kprobe's `pt_regs`), its maps and the probe
//! helpers, then JIT-compiled and run natively without checks ([`ProvenProgram`]); if the JIT
//! cannot compile it, the interpreter runs it and a warning says so, like the seed. A program
//! the verifier rejects is refused with the verifier's log, unless the caller asks for
//! unverified programs, which then run with every access checked (JIT checked mode or the
//! checked interpreter) and an instruction budget.

use crate::context::{ContextKind, HitValues};
use crate::env::{Hit, ProbeEnv};
use crate::events::{EventKind, EventLog};
use crate::guest::TaskLayout;
use crate::image::GuestImage;
use crate::load::Filter;
use crate::point::{Target, TracepointTarget};
use crate::tpsite::RecordFns;
use crate::tracepoints::TracingLayout;
use emu::{HookContext, HookId, Machine, Regs, TimerId};
use jit::interp::{Interpreter, Prepared, RunError};
use jit::native::Region;
use jit::proven::{EngineKind, ProvenProgram};
use jit::verifier::{LogLevel, VerifyOptions};
use jit::JitProgram;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;
use thiserror::Error;

/// Instructions one filter run may execute.
pub const RUN_BUDGET: u64 = 1_000_000;
/// Pending returns per return probe.
pub const MAX_ACTIVE: usize = 4096;

/// Why a filter could not be prepared or attached.
#[derive(Debug, Error)]
pub enum TraceError {
    #[error("{origin}: program '{name}': {msg}")]
    Compile {
        origin: String,
        name: String,
        msg: String,
    },
    #[error("{origin}: program '{name}' rejected by the verifier: {error}\n{log}")]
    Rejected {
        origin: String,
        name: String,
        error: Box<jit::verifier::VerifyError>,
        log: String,
    },
    #[error("no filter #{0}")]
    NoFilter(usize),
    #[error("filter #{filter} has no program #{prog}")]
    NoProgram { filter: usize, prog: usize },
    #[error("no probe #{0}")]
    NoProbe(u32),
    #[error("tracepoints need the guest's image")]
    NoImage,
    #[error(
        "{0}: the guest's code never tests this tracepoint (no site found), so it can never fire"
    )]
    NoSites(String),
    #[error("{0}: the image has no perf_trace record path for this event (perf_trace_buf_alloc, perf_trace_run_bpf_submit); attach a raw tracepoint program instead")]
    NoRecord(String),
}

/// How a program runs.
enum Engine {
    /// Verified: native code (or the interpreter) without checks.
    Proven(Box<ProvenProgram<ProbeEnv>>),
    /// Not verified: checked JIT code.
    Jit(JitProgram<ProbeEnv>),
    /// Not verified and not JIT-compilable: the checked interpreter.
    Interp(Box<Interpreter>, Prepared),
}

/// One program ready to run.
struct Compiled {
    name: String,
    ctx: ContextKind,
    engine: Engine,
}

/// A filter with its compiled programs and its environment (maps, events).
struct Loaded {
    origin: String,
    types: crate::load::MapTypes,
    env: ProbeEnv,
    progs: Vec<Compiled>,
    ctx_buf: Vec<u8>,
    regions: Vec<Region>,
}

/// Counters of one probe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeStats {
    pub hits: u64,
    pub errors: u64,
    /// Host time spent building contexts and running the filter.
    pub filter_ns: u64,
    /// Host time spent in the probe's hooks: reading registers, following a tracepoint's
    /// enabled path, building the context and running the filter (not Unicorn's dispatch).
    pub hook_ns: u64,
    /// Returns that could not be tracked (too many pending).
    pub missed: u64,
    pub last_error: Option<String>,
}

impl ProbeStats {
    fn add_hook_time(&mut self, since: Instant) {
        self.hook_ns += since.elapsed().as_nanos() as u64;
    }

    /// Mean cost of a hit in nanoseconds.
    pub fn mean_ns(&self) -> u64 {
        self.filter_ns.checked_div(self.hits).unwrap_or(0)
    }
}

/// Pending returns of one return probe: (return address, stack pointer at entry, values
/// saved at entry), and the hooks placed on return addresses.
#[derive(Default)]
struct Returns {
    pending: Vec<(u64, u64, Vec<u64>)>,
    hooks: BTreeMap<u64, HookId>,
}

/// What a probe hands its program besides the registers.
#[derive(Clone)]
enum Source {
    /// Nothing (kprobes, kretprobes).
    Regs,
    /// fentry/fexit: the first `n` argument registers (fexit adds `rax` at the return).
    Args { n: usize },
    /// A syscall event: the record `perf_call_bpf_enter`/`_exit` builds from the syscall's
    /// `pt_regs` (the wrapper's `rdi`).
    Syscall { nr: u32, nb_args: u32 },
    /// A static tracepoint site, run on the side ([`crate::tpsite`]).
    Tracepoint(Rc<TracepointSource>),
}

/// Everything a tracepoint hook needs.
struct TracepointSource {
    target: TracepointTarget,
    tp_addr: u64,
    layout: TracingLayout,
    /// Set when the program takes the record.
    record: Option<RecordFns>,
    /// The enabled path's instructions, decoded once.
    decode: RefCell<crate::sidestep::DecodeCache>,
}

/// A probe as the user sees it.
#[derive(Clone, Debug)]
pub struct ProbeInfo {
    pub id: u32,
    /// What the user asked for (`dst_discard`, `ip_rcv%return`...).
    pub spec: String,
    pub addr: u64,
    /// `symbol+off` of the address.
    pub location: String,
    pub is_return: bool,
    pub filter: usize,
    pub program: String,
    pub stats: ProbeStats,
}

struct Probe {
    info: ProbeInfo,
    entry_hooks: Vec<HookId>,
    timers: Vec<TimerId>,
    stats: Rc<RefCell<ProbeStats>>,
    returns: Option<Rc<RefCell<Returns>>>,
}

/// Filters, probes and the events they produce, for one machine.
pub struct Tracer {
    events: Rc<RefCell<EventLog>>,
    image: Option<Rc<GuestImage>>,
    tasks: Rc<TaskLayout>,
    filters: Vec<Rc<RefCell<Loaded>>>,
    probes: BTreeMap<u32, Probe>,
    next_id: u32,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("filters", &self.filters.len())
            .field("probes", &self.probes.len())
            .finish()
    }
}

impl Tracer {
    /// A tracer for a guest described by `image` (symbols for stacks, the current task's
    /// layout for pid/comm helpers), or none.
    pub fn new(image: Option<Rc<GuestImage>>) -> Self {
        let tasks = Rc::new(image.as_ref().map(|i| i.task_layout()).unwrap_or_default());
        Tracer {
            events: Rc::new(RefCell::new(EventLog::default())),
            image,
            tasks,
            filters: Vec::new(),
            probes: BTreeMap::new(),
            next_id: 1,
        }
    }

    /// The event log (recent events, live sink).
    pub fn events(&self) -> &Rc<RefCell<EventLog>> {
        &self.events
    }

    /// Verifies and compiles a loaded filter's programs for `machine`; returns its index and
    /// warnings. A program the verifier rejects is an error carrying the verifier's log.
    pub fn add_filter(
        &mut self,
        machine: &Machine,
        filter: Filter,
    ) -> Result<(usize, Vec<String>), TraceError> {
        self.add_filter_with(machine, filter, false)
    }

    /// [`Tracer::add_filter`], but with `allow_unverified` programs the verifier rejects run
    /// in checked mode (with a warning) instead of being refused.
    pub fn add_filter_with(
        &mut self,
        machine: &Machine,
        filter: Filter,
        allow_unverified: bool,
    ) -> Result<(usize, Vec<String>), TraceError> {
        let helpers = crate::helpers::probe_helpers();
        let mut warnings = Vec::new();
        let mut progs = Vec::new();
        for p in &filter.programs {
            let ty = p.ctx.prog_type();
            let lines = p.clone();
            let opts = VerifyOptions {
                log_level: LogLevel::Failure,
                line_info: Some(std::sync::Arc::new(move |pc| lines.line_of(pc))),
                ..VerifyOptions::default()
            };
            let engine = match ProvenProgram::new(
                &p.program,
                ty,
                &helpers,
                &filter.maps,
                &opts,
                true,
            ) {
                Ok(proven) => {
                    if let Some(e) = proven.jit_error() {
                        warnings.push(format!(
                            "{}: program '{}': the JIT cannot compile it ({e}); using the interpreter",
                            filter.origin, p.name
                        ));
                    }
                    debug_assert!(
                        proven.jit_error().is_some() || proven.engine() == EngineKind::Jit
                    );
                    Engine::Proven(Box::new(proven))
                }
                Err(jit::proven::ProveError::Verify(error)) if !allow_unverified => {
                    let log = error.log.clone();
                    return Err(TraceError::Rejected {
                        origin: filter.origin.clone(),
                        name: p.name.clone(),
                        error: Box::new(error),
                        log,
                    });
                }
                Err(e) => {
                    let compile_err = |msg: String| TraceError::Compile {
                        origin: filter.origin.clone(),
                        name: p.name.clone(),
                        msg,
                    };
                    if !matches!(e, jit::proven::ProveError::Verify(_)) {
                        return Err(compile_err(e.to_string()));
                    }
                    warnings.push(format!(
                        "{}: program '{}' is not verified ({e}); running it with every access checked",
                        filter.origin, p.name
                    ));
                    let mut linked = p.program.clone();
                    filter
                        .maps
                        .resolve_program(&mut linked)
                        .map_err(|e| compile_err(e.to_string()))?;
                    match JitProgram::compile_checked(&linked, &helpers) {
                        Ok(j) => Engine::Jit(j),
                        Err(_) => Engine::Interp(
                            Box::default(),
                            Prepared::new(&linked, &helpers)
                                .map_err(|e| compile_err(e.to_string()))?,
                        ),
                    }
                }
            };
            progs.push(Compiled {
                name: p.name.clone(),
                ctx: p.ctx,
                engine,
            });
        }
        let regions = filter.maps.regions();
        let ctx_len = progs.iter().map(|p| p.ctx.size()).max().unwrap_or(0);
        let mut env = ProbeEnv::new(
            machine.ram_handle(),
            filter.maps,
            self.events.clone(),
            self.tasks.clone(),
        );
        if let Some(img) = &self.image {
            let for_symbols = img.clone();
            env.symbolize = Some(Rc::new(move |a| for_symbols.describe(a)));
            if img.unwinder().has_cfi() {
                let for_stacks = img.clone();
                env.unwind = Some(Rc::new(move |regs, read, max| {
                    for_stacks
                        .unwinder()
                        .unwind(regs, read, max, &|a| a >= crate::guest::KERNEL_HALF)
                }));
            }
        }
        self.filters.push(Rc::new(RefCell::new(Loaded {
            origin: filter.origin,
            types: filter.types,
            env,
            progs,
            ctx_buf: vec![0u8; ctx_len.max(crate::context::PT_REGS_SIZE)],
            regions,
        })));
        Ok((self.filters.len() - 1, warnings))
    }

    /// The image the tracer reads the guest with.
    pub fn image(&self) -> Option<&Rc<GuestImage>> {
        self.image.as_ref()
    }

    /// Attaches program `prog` of filter `filter` at `addr`. `at_entry` says the address is a
    /// function's first instruction (the caller is then found at `[rsp]`).
    #[allow(clippy::too_many_arguments)]
    pub fn attach(
        &mut self,
        machine: &mut Machine,
        spec: &str,
        addr: u64,
        location: &str,
        at_entry: bool,
        is_return: bool,
        filter: usize,
        prog: usize,
    ) -> Result<u32, TraceError> {
        let place = Place {
            spec,
            location,
            addrs: &[addr],
            at_entry,
            is_return,
        };
        self.place(machine, &place, Source::Regs, filter, prog)
    }

    /// Attaches program `prog` of filter `filter` at a resolved target of any kind; returns
    /// the probe's id. The program's context must be the one the target gives its family
    /// (see [`crate::point::Target::context_for`]).
    pub fn attach_target(
        &mut self,
        machine: &mut Machine,
        spec: &str,
        target: &Target,
        filter: usize,
        prog: usize,
    ) -> Result<u32, TraceError> {
        let location = target.location();
        match target {
            Target::Code(r) => self.attach(
                machine,
                spec,
                r.addr,
                &location,
                r.offset == 0 && !r.is_return,
                r.is_return,
                filter,
                prog,
            ),
            Target::Function { at, args, exit, .. } => {
                let place = Place {
                    spec,
                    location: &location,
                    addrs: &[at.addr],
                    at_entry: !exit,
                    is_return: *exit,
                };
                let source = Source::Args { n: args.len() };
                self.place(machine, &place, source, filter, prog)
            }
            Target::Syscall {
                at,
                enter,
                nr,
                nb_args,
                ..
            } => {
                let place = Place {
                    spec,
                    location: &location,
                    addrs: &[at.addr],
                    at_entry: *enter,
                    is_return: !enter,
                };
                let source = Source::Syscall {
                    nr: *nr,
                    nb_args: *nb_args,
                };
                self.place(machine, &place, source, filter, prog)
            }
            Target::Timer(t) => self.place_timer(machine, spec, t, filter, prog),
            Target::Tracepoint(t) => {
                let image = self.image.as_ref().ok_or(TraceError::NoImage)?;
                let layout = image
                    .catalog()
                    .layout
                    .ok_or_else(|| TraceError::NoSites(spec.to_string()))?;
                if t.sites.is_empty() {
                    return Err(TraceError::NoSites(spec.to_string()));
                }
                let tp_addr = image
                    .catalog()
                    .tracepoints
                    .get(&t.tracepoint)
                    .map(|tp| tp.addr)
                    .ok_or_else(|| TraceError::NoSites(spec.to_string()))?;
                let wants_record = self
                    .filters
                    .get(filter)
                    .and_then(|f| f.borrow().progs.get(prog).map(|p| p.ctx))
                    == Some(ContextKind::Record);
                let record = if wants_record {
                    let sym = |n: &str| image.symbols().lookup(n).map(|s| s.addr);
                    match (
                        sym("perf_trace_buf_alloc"),
                        sym("perf_trace_run_bpf_submit"),
                    ) {
                        (Some(buf_alloc), Some(submit)) if t.perf_probe != 0 => {
                            Some(RecordFns { buf_alloc, submit })
                        }
                        _ => return Err(TraceError::NoRecord(spec.to_string())),
                    }
                } else {
                    None
                };
                let addrs: Vec<u64> = t.sites.iter().map(|s| s.addr).collect();
                let place = Place {
                    spec,
                    location: &location,
                    addrs: &addrs,
                    at_entry: false,
                    is_return: false,
                };
                let source = Source::Tracepoint(Rc::new(TracepointSource {
                    target: t.clone(),
                    tp_addr,
                    layout,
                    record,
                    decode: RefCell::default(),
                }));
                self.place(machine, &place, source, filter, prog)
            }
        }
    }

    /// A new probe's filter, program name, id and counters.
    #[allow(clippy::type_complexity)]
    fn new_probe(
        &mut self,
        filter: usize,
        prog: usize,
    ) -> Result<(Rc<RefCell<Loaded>>, String, u32, Rc<RefCell<ProbeStats>>), TraceError> {
        let loaded = self
            .filters
            .get(filter)
            .ok_or(TraceError::NoFilter(filter))?
            .clone();
        let program = loaded
            .borrow()
            .progs
            .get(prog)
            .map(|p| p.name.clone())
            .ok_or(TraceError::NoProgram { filter, prog })?;
        let id = self.next_id;
        self.next_id += 1;
        Ok((loaded, program, id, Rc::default()))
    }

    /// Places the hooks of one probe.
    fn place(
        &mut self,
        machine: &mut Machine,
        place: &Place<'_>,
        source: Source,
        filter: usize,
        prog: usize,
    ) -> Result<u32, TraceError> {
        let (loaded, program, id, stats) = self.new_probe(filter, prog)?;
        let mut entry_hooks = Vec::new();
        let mut returns = None;
        for &addr in place.addrs {
            let at_entry = place.at_entry;
            let shot = Shot {
                loaded: loaded.clone(),
                prog,
                probe: id,
                stats: stats.clone(),
            };
            let hook = if place.is_return {
                let r = returns
                    .get_or_insert_with(|| Rc::new(RefCell::new(Returns::default())))
                    .clone();
                machine.add_hook(addr, return_entry_hook(shot, source.clone(), r))
            } else {
                let source = source.clone();
                machine.add_hook(
                    addr,
                    Box::new(move |hc: &mut HookContext<'_>| {
                        let t0 = Instant::now();
                        let Some(regs) = hc.regs() else { return };
                        entry_hit(hc, &shot, &source, &regs, at_entry);
                        shot.stats.borrow_mut().add_hook_time(t0);
                    }),
                )
            };
            entry_hooks.push(hook);
        }
        self.probes.insert(
            id,
            Probe {
                info: ProbeInfo {
                    id,
                    spec: place.spec.to_string(),
                    addr: place.addrs.first().copied().unwrap_or(0),
                    location: place.location.to_string(),
                    is_return: place.is_return,
                    filter,
                    program,
                    stats: ProbeStats::default(),
                },
                entry_hooks,
                timers: Vec::new(),
                stats,
                returns,
            },
        );
        Ok(id)
    }

    /// Places a timer probe: the program runs every period of virtual time.
    fn place_timer(
        &mut self,
        machine: &mut Machine,
        spec: &str,
        timer: &crate::point::Timer,
        filter: usize,
        prog: usize,
    ) -> Result<u32, TraceError> {
        let (loaded, program, id, stats) = self.new_probe(filter, prog)?;
        let shot = Shot {
            loaded,
            prog,
            probe: id,
            stats: stats.clone(),
        };
        let period = timer.period_ns;
        let timer_id = machine.add_timer(
            period,
            Box::new(move |hc: &mut HookContext<'_>| {
                let t0 = Instant::now();
                let Some(regs) = hc.regs() else { return };
                shot.fire_sample(hc, &regs, period);
                shot.stats.borrow_mut().add_hook_time(t0);
            }),
        );
        self.probes.insert(
            id,
            Probe {
                info: ProbeInfo {
                    id,
                    spec: spec.to_string(),
                    addr: 0,
                    location: Target::Timer(*timer).location(),
                    is_return: false,
                    filter,
                    program,
                    stats: ProbeStats::default(),
                },
                entry_hooks: Vec::new(),
                timers: vec![timer_id],
                stats,
                returns: None,
            },
        );
        Ok(id)
    }

    /// Removes a probe and every hook it placed.
    pub fn detach(&mut self, machine: &mut Machine, id: u32) -> Result<(), TraceError> {
        let p = self.probes.remove(&id).ok_or(TraceError::NoProbe(id))?;
        for h in p.entry_hooks {
            machine.remove_hook(h);
        }
        for t in p.timers {
            machine.remove_timer(t);
        }
        if let Some(r) = p.returns {
            for (_, h) in std::mem::take(&mut r.borrow_mut().hooks) {
                machine.remove_hook(h);
            }
        }
        Ok(())
    }

    /// Every probe with its current counters.
    pub fn probes(&self) -> Vec<ProbeInfo> {
        self.probes
            .values()
            .map(|p| {
                let mut info = p.info.clone();
                info.stats = p.stats.borrow().clone();
                info
            })
            .collect()
    }

    /// The maps of every filter, for printing: (filter origin, map name, entries).
    pub fn map_dump(&self) -> Vec<MapDump> {
        let mut out = Vec::new();
        for f in &self.filters {
            let f = f.borrow();
            for (i, m) in f.env.maps.iter().enumerate() {
                let def = m.def();
                if !def.kind.has_values() {
                    continue;
                }
                let (key_type, value_type) = f.types.maps.get(i).copied().unwrap_or_default();
                out.push(MapDump {
                    origin: f.origin.clone(),
                    name: def.name.clone(),
                    kind: def.kind,
                    key_size: def.key_size as usize,
                    value_size: def.value_size as usize,
                    entries: m.entries(),
                    types: f.types.btf.clone().map(|btf| MapDumpTypes {
                        btf,
                        key: key_type,
                        value: value_type,
                        globals: f
                            .types
                            .globals
                            .iter()
                            .filter(|g| g.section == def.name)
                            .cloned()
                            .collect(),
                    }),
                });
            }
        }
        out
    }
}

/// One map's contents.
#[derive(Clone, Debug)]
pub struct MapDump {
    pub origin: String,
    pub name: String,
    pub kind: jit::maps::MapKind,
    pub key_size: usize,
    pub value_size: usize,
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// The key and value types from the object's BTF, when it has them.
    pub types: Option<MapDumpTypes>,
}

/// A map's key and value types in its object's BTF.
#[derive(Clone, Debug)]
pub struct MapDumpTypes {
    pub btf: Rc<jit::btf::Btf>,
    pub key: Option<u32>,
    pub value: Option<u32>,
    /// For a global data map (`.data`, `.bss`): its variables.
    pub globals: Vec<crate::knobs::Knob>,
}

impl MapDump {
    /// A global data map's variables with their values in their C types: (name, value).
    pub fn globals(&self) -> Vec<(String, String)> {
        let (Some(t), Some((_, bytes))) = (&self.types, self.entries.first()) else {
            return Vec::new();
        };
        t.globals
            .iter()
            .filter_map(|g| {
                let at = g.offset as usize;
                let b = bytes.get(at..at + g.size as usize)?;
                Some((
                    g.name.clone(),
                    jit::btf::values::format_value(&t.btf, g.ty, b),
                ))
            })
            .collect()
    }

    /// `bytes` of the key (`key`) or value in the program's C type when that type is a
    /// struct, union or enum; `None` to show them by shape.
    pub fn typed(&self, key: bool, bytes: &[u8]) -> Option<String> {
        use jit::btf::BtfType;
        let t = self.types.as_ref()?;
        let ty = if key { t.key } else { t.value }?;
        let base = t.btf.skip_mods(ty).ok()?;
        match t.btf.get(base)? {
            BtfType::Struct { .. } | BtfType::Union { .. } | BtfType::Enum { .. } => {
                Some(jit::btf::values::format_value(&t.btf, ty, bytes))
            }
            _ => None,
        }
    }
}

/// Where one probe's hooks go.
struct Place<'a> {
    spec: &'a str,
    location: &'a str,
    addrs: &'a [u64],
    at_entry: bool,
    is_return: bool,
}

/// One probe's program and counters, as its hooks hold them.
#[derive(Clone)]
struct Shot {
    loaded: Rc<RefCell<Loaded>>,
    prog: usize,
    probe: u32,
    stats: Rc<RefCell<ProbeStats>>,
}

impl Shot {
    fn fire(
        &self,
        hc: &HookContext<'_>,
        regs: &Regs,
        at_entry: bool,
        args: Option<&[u64]>,
        record: &[u8],
    ) {
        let hit = HitValues {
            regs,
            args,
            record,
            sample_period: 0,
        };
        self.run(hc, &hit, at_entry);
    }

    /// A timer's sample: the registers of the interrupted instruction and the period.
    fn fire_sample(&self, hc: &HookContext<'_>, regs: &Regs, period: u64) {
        let hit = HitValues {
            regs,
            args: None,
            record: &[],
            sample_period: period,
        };
        self.run(hc, &hit, false);
    }

    fn run(&self, hc: &HookContext<'_>, hit: &HitValues<'_>, at_entry: bool) {
        fire(
            &self.loaded,
            self.prog,
            self.probe,
            hit,
            hc.cr3(),
            hc.now_ns(),
            at_entry,
            &self.stats,
        );
    }

    fn fail(&self, msg: String) {
        let mut s = self.stats.borrow_mut();
        s.hits += 1;
        s.errors += 1;
        s.last_error = Some(msg);
    }
}

/// The argument registers of a function's entry, in order.
fn arg_regs(r: &Regs) -> [u64; 6] {
    [r.rdi, r.rsi, r.rdx, r.rcx, r.r8, r.r9]
}

/// A syscall's arguments from the `pt_regs` it was entered with (x86-64: di, si, dx, r10,
/// r8, r9, as `syscall_get_arguments` reads them).
fn syscall_args(hc: &HookContext<'_>, regs_ptr: u64) -> Option<[u64; 6]> {
    use crate::context::pt_regs::{R10, R8, R9, RDI, RDX, RSI};
    let mut out = [0u64; 6];
    for (o, off) in out.iter_mut().zip([RDI, RSI, RDX, R10, R8, R9]) {
        let mut b = [0u8; 8];
        hc.read_virt(regs_ptr.wrapping_add(off as u64), &mut b)
            .ok()?;
        *o = u64::from_le_bytes(b);
    }
    Some(out)
}

/// `struct syscall_tp_t` of `perf_call_bpf_enter`/`_exit`: the `pt_regs` pointer, the
/// syscall number as an `unsigned long`, then the arguments or the return value.
fn syscall_record(regs_ptr: u64, nr: u32, values: &[u64]) -> Vec<u8> {
    let mut rec = Vec::with_capacity(16 + 8 * values.len());
    rec.extend_from_slice(&regs_ptr.to_le_bytes());
    rec.extend_from_slice(&u64::from(nr).to_le_bytes());
    for v in values {
        rec.extend_from_slice(&v.to_le_bytes());
    }
    rec
}

/// A hit at an entry (or any instruction) hook.
fn entry_hit(hc: &mut HookContext<'_>, shot: &Shot, source: &Source, regs: &Regs, at_entry: bool) {
    match source {
        Source::Regs => shot.fire(hc, regs, at_entry, None, &[]),
        Source::Args { n, .. } => {
            let args = arg_regs(regs);
            shot.fire(hc, regs, at_entry, Some(&args[..*n]), &[]);
        }
        Source::Syscall { nr, nb_args } => {
            let Some(args) = syscall_args(hc, regs.rdi) else {
                shot.fail(format!(
                    "cannot read the syscall's pt_regs at {:#x}",
                    regs.rdi
                ));
                return;
            };
            let n = (*nb_args as usize).min(6);
            let mut full = [0u64; 6];
            full[..n].copy_from_slice(&args[..n]);
            let rec = syscall_record(regs.rdi, *nr, &full);
            shot.fire(hc, regs, at_entry, Some(&args[..n]), &rec);
        }
        Source::Tracepoint(tp) => {
            let Some(site) = tp.target.sites.iter().find(|s| s.addr == hc.address()) else {
                return;
            };
            let fired = crate::tpsite::fire(
                hc,
                regs,
                site,
                &tp.target,
                tp.tp_addr,
                &tp.layout,
                tp.record,
                &mut tp.decode.borrow_mut(),
            );
            match fired {
                Ok(Some(f)) => {
                    let rec = f.record.unwrap_or_default();
                    shot.fire(hc, regs, false, Some(&f.args), &rec);
                }
                Ok(None) => {}
                Err(e) => shot.fail(format!(
                    "{}: the enabled path at {} ({:#x}) could not be followed: {e}",
                    tp.target.event.as_deref().unwrap_or(&tp.target.tracepoint),
                    site.function,
                    site.addr
                )),
            }
        }
    }
}

/// What a return probe saves at entry: fexit the arguments, a syscall exit its `pt_regs`.
fn saved_at_entry(source: &Source, regs: &Regs) -> Vec<u64> {
    match source {
        Source::Args { n, .. } => arg_regs(regs)[..*n].to_vec(),
        Source::Syscall { .. } => vec![regs.rdi],
        Source::Regs | Source::Tracepoint(_) => Vec::new(),
    }
}

/// A hit at a return: `saved` is what the entry saved.
fn return_hit(hc: &HookContext<'_>, shot: &Shot, source: &Source, regs: &Regs, saved: &[u64]) {
    match source {
        Source::Args { .. } => {
            let mut args = saved.to_vec();
            args.push(regs.rax);
            shot.fire(hc, regs, false, Some(&args), &[]);
        }
        Source::Syscall { nr, .. } => {
            let regs_ptr = saved.first().copied().unwrap_or(0);
            let rec = syscall_record(regs_ptr, *nr, &[regs.rax]);
            shot.fire(hc, regs, false, Some(&[regs.rax]), &rec);
        }
        Source::Regs | Source::Tracepoint(_) => shot.fire(hc, regs, false, None, &[]),
    }
}

/// The entry hook of a return probe: remembers where the frame returns to (and what the
/// source saves at entry) and places a hook there.
fn return_entry_hook(shot: Shot, source: Source, returns: Rc<RefCell<Returns>>) -> emu::HookFn {
    Box::new(move |hc: &mut HookContext<'_>| {
        let t0 = Instant::now();
        let Some(entry) = hc.regs() else {
            return;
        };
        let _time = HookTimer(&shot.stats, t0);
        let rsp = entry.rsp;
        let mut b = [0u8; 8];
        if hc.read_virt(rsp, &mut b).is_err() {
            shot.stats.borrow_mut().missed += 1;
            return;
        }
        let ret_addr = u64::from_le_bytes(b);
        let mut r = returns.borrow_mut();
        if r.pending.len() >= MAX_ACTIVE {
            shot.stats.borrow_mut().missed += 1;
            return;
        }
        r.pending
            .push((ret_addr, rsp, saved_at_entry(&source, &entry)));
        if r.hooks.contains_key(&ret_addr) {
            return;
        }
        let (shot, source, returns2) = (shot.clone(), source.clone(), returns.clone());
        let hook = hc.add_hook(
            ret_addr,
            Box::new(move |hc: &mut HookContext<'_>| {
                let t0 = Instant::now();
                let Some(regs) = hc.regs() else { return };
                let _time = HookTimer(&shot.stats, t0);
                let here = hc.address();
                let mut r = returns2.borrow_mut();
                let Some(i) = r
                    .pending
                    .iter()
                    .rposition(|(a, sp, _)| *a == here && sp.wrapping_add(8) == regs.rsp)
                else {
                    return;
                };
                let (_, _, saved) = r.pending.remove(i);
                if !r.pending.iter().any(|(a, _, _)| *a == here) {
                    if let Some(h) = r.hooks.remove(&here) {
                        hc.remove_hook(h);
                    }
                }
                drop(r);
                return_hit(hc, &shot, &source, &regs, &saved);
            }),
        );
        r.hooks.insert(ret_addr, hook);
    })
}

/// Adds the time since its start to a probe's hook time when dropped (hooks that return
/// early).
struct HookTimer<'a>(&'a RefCell<ProbeStats>, Instant);

impl Drop for HookTimer<'_> {
    fn drop(&mut self) {
        self.0.borrow_mut().add_hook_time(self.1);
    }
}

/// Runs program `prog` of `loaded` for one hit and accounts for it.
#[allow(clippy::too_many_arguments)]
fn fire(
    loaded: &RefCell<Loaded>,
    prog: usize,
    probe: u32,
    hit: &HitValues<'_>,
    cr3: u64,
    now_ns: u64,
    at_entry: bool,
    stats: &RefCell<ProbeStats>,
) {
    let t0 = Instant::now();
    let mut l = loaded.borrow_mut();
    let Loaded {
        env,
        progs,
        ctx_buf,
        regions,
        ..
    } = &mut *l;
    let Some(c) = progs.get_mut(prog) else {
        return;
    };
    env.guest.set_cr3(cr3);
    env.hit = Hit {
        regs: *hit.regs,
        now_ns,
        probe,
        at_entry,
    };
    let ctx = &mut ctx_buf[..c.ctx.size()];
    c.ctx.build_from(hit, ctx);
    let result: Result<u64, RunError> = match &mut c.engine {
        Engine::Proven(p) => p.run_ctx(ctx, env),
        Engine::Jit(j) => j.run_checked_ctx(ctx, regions, env, Some(RUN_BUDGET)),
        Engine::Interp(i, p) => i.run_checked_ctx(p, ctx, regions, env, Some(RUN_BUDGET)),
    };
    if let Err(e) = &result {
        env.emit(EventKind::Error { msg: e.to_string() });
    }
    env.drain_outputs();
    let mut s = stats.borrow_mut();
    s.hits += 1;
    if let Err(e) = result {
        s.errors += 1;
        s.last_error = Some(format!("{}: {e}", c.name));
    }
    s.filter_ns += t0.elapsed().as_nanos() as u64;
}
