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
//! Every program is verified first ([`jit::verifier`], the seed's `bpf_check()`) for its
//! program type (the seed's `bpf_context` or a kprobe's `pt_regs`), its maps and the probe
//! helpers, then JIT-compiled and run natively without checks ([`ProvenProgram`]); if the JIT
//! cannot compile it, the interpreter runs it and a warning says so, like the seed. A program
//! the verifier rejects is refused with the verifier's log, unless the caller asks for
//! unverified programs, which then run with every access checked (JIT checked mode or the
//! checked interpreter) and an instruction budget.

use crate::context::ContextKind;
use crate::env::{Hit, ProbeEnv};
use crate::events::{EventKind, EventLog};
use crate::guest::TaskLayout;
use crate::image::GuestImage;
use crate::load::{Filter, Placement};
use emu::{HookContext, HookId, Machine, Regs};
use jit::interp::{Interpreter, Prepared, RunError};
use jit::native::Region;
use jit::proven::{EngineKind, ProvenProgram};
use jit::verifier::{LogLevel, ProgType, VerifyOptions};
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
    placement: Placement,
    engine: Engine,
}

/// A filter with its compiled programs and its environment (maps, events).
struct Loaded {
    origin: String,
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
    /// Returns that could not be tracked (too many pending).
    pub missed: u64,
    pub last_error: Option<String>,
}

impl ProbeStats {
    /// Mean cost of a hit in nanoseconds.
    pub fn mean_ns(&self) -> u64 {
        self.filter_ns.checked_div(self.hits).unwrap_or(0)
    }
}

/// Pending returns of one return probe: (return address, stack pointer at entry), and the
/// hooks placed on return addresses.
#[derive(Default)]
struct Returns {
    pending: Vec<(u64, u64)>,
    hooks: BTreeMap<u64, HookId>,
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
    entry_hook: HookId,
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
            let ty = match p.ctx {
                ContextKind::Seed => ProgType::seed(),
                ContextKind::PtRegs => ProgType::kprobe(),
            };
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
                placement: p.placement.clone(),
                engine,
            });
        }
        let regions = filter.maps.regions();
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
            env,
            progs,
            ctx_buf: vec![0u8; crate::context::PT_REGS_SIZE],
            regions,
        })));
        Ok((self.filters.len() - 1, warnings))
    }

    /// Where each program of filter `index` asked to be attached (from its ELF section).
    pub fn placements(&self, index: usize) -> Result<Vec<(String, Placement)>, TraceError> {
        let f = self.filters.get(index).ok_or(TraceError::NoFilter(index))?;
        Ok(f.borrow()
            .progs
            .iter()
            .map(|p| (p.name.clone(), p.placement.clone()))
            .collect())
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
        let stats = Rc::new(RefCell::new(ProbeStats::default()));
        let (entry_hook, returns) = if is_return {
            let returns = Rc::new(RefCell::new(Returns::default()));
            let hook = machine.add_hook(
                addr,
                return_entry_hook(loaded, prog, id, stats.clone(), returns.clone()),
            );
            (hook, Some(returns))
        } else {
            let st = stats.clone();
            let hook = machine.add_hook(
                addr,
                Box::new(move |hc: &mut HookContext<'_>| {
                    let Some(regs) = hc.regs() else { return };
                    fire(
                        &loaded,
                        prog,
                        id,
                        &regs,
                        hc.cr3(),
                        hc.now_ns(),
                        at_entry,
                        &st,
                    );
                }),
            );
            (hook, None)
        };
        self.probes.insert(
            id,
            Probe {
                info: ProbeInfo {
                    id,
                    spec: spec.to_string(),
                    addr,
                    location: location.to_string(),
                    is_return,
                    filter,
                    program,
                    stats: ProbeStats::default(),
                },
                entry_hook,
                stats,
                returns,
            },
        );
        Ok(id)
    }

    /// Removes a probe and every hook it placed.
    pub fn detach(&mut self, machine: &mut Machine, id: u32) -> Result<(), TraceError> {
        let p = self.probes.remove(&id).ok_or(TraceError::NoProbe(id))?;
        machine.remove_hook(p.entry_hook);
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
            for m in f.env.maps.iter() {
                let def = m.def();
                if !def.kind.has_values() {
                    continue;
                }
                out.push(MapDump {
                    origin: f.origin.clone(),
                    name: def.name.clone(),
                    kind: def.kind,
                    key_size: def.key_size as usize,
                    value_size: def.value_size as usize,
                    entries: m.entries(),
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
}

/// The entry hook of a return probe: remembers where the frame returns to and places a hook
/// there.
fn return_entry_hook(
    loaded: Rc<RefCell<Loaded>>,
    prog: usize,
    id: u32,
    stats: Rc<RefCell<ProbeStats>>,
    returns: Rc<RefCell<Returns>>,
) -> emu::HookFn {
    Box::new(move |hc: &mut HookContext<'_>| {
        let Some(rsp) = hc.regs().map(|r| r.rsp) else {
            return;
        };
        let mut b = [0u8; 8];
        if hc.read_virt(rsp, &mut b).is_err() {
            stats.borrow_mut().missed += 1;
            return;
        }
        let ret_addr = u64::from_le_bytes(b);
        let mut r = returns.borrow_mut();
        if r.pending.len() >= MAX_ACTIVE {
            stats.borrow_mut().missed += 1;
            return;
        }
        r.pending.push((ret_addr, rsp));
        if r.hooks.contains_key(&ret_addr) {
            return;
        }
        let (loaded, stats, returns2) = (loaded.clone(), stats.clone(), returns.clone());
        let hook = hc.add_hook(
            ret_addr,
            Box::new(move |hc: &mut HookContext<'_>| {
                let Some(regs) = hc.regs() else { return };
                let here = hc.address();
                let mut r = returns2.borrow_mut();
                let Some(i) = r
                    .pending
                    .iter()
                    .rposition(|&(a, sp)| a == here && sp.wrapping_add(8) == regs.rsp)
                else {
                    return;
                };
                r.pending.remove(i);
                if !r.pending.iter().any(|&(a, _)| a == here) {
                    if let Some(h) = r.hooks.remove(&here) {
                        hc.remove_hook(h);
                    }
                }
                drop(r);
                fire(
                    &loaded,
                    prog,
                    id,
                    &regs,
                    hc.cr3(),
                    hc.now_ns(),
                    false,
                    &stats,
                );
            }),
        );
        r.hooks.insert(ret_addr, hook);
    })
}

/// Runs program `prog` of `loaded` for one hit and accounts for it.
#[allow(clippy::too_many_arguments)]
fn fire(
    loaded: &RefCell<Loaded>,
    prog: usize,
    probe: u32,
    regs: &Regs,
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
        regs: *regs,
        now_ns,
        probe,
        at_entry,
    };
    let ctx = &mut ctx_buf[..c.ctx.size()];
    c.ctx.build(regs, ctx);
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
