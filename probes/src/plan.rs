//! One way to attach a loaded filter, for `trace`, `replay` and the REPL alike: pick the
//! programs, find where each runs (the point the user gave, or its section's), resolve every
//! point before anything is compiled, give each program the context its point hands it,
//! verify the programs with those contexts against one shared set of maps, and place the
//! hooks. A new attach kind is a change to [`crate::point`] and [`crate::tracer`], nowhere
//! else.

use crate::attach::AttachError;
use crate::load::{Filter, LoadError};
use crate::point::{Point, Target};
use crate::tracer::{TraceError, Tracer};
use emu::Machine;
use thiserror::Error;

/// Why a filter could not be attached.
#[derive(Debug, Error)]
pub enum PlanError {
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error("{0}")]
    Attach(#[from] AttachError),
    #[error("{0}")]
    Trace(#[from] TraceError),
    #[error("attaching needs the guest's image (symbols, tracepoints)")]
    NoImage,
    #[error("{origin}: {count} programs ({names}); say which one with {origin}:PROGRAM, or leave out the point to attach each where its section says")]
    WhichProgram {
        origin: String,
        count: usize,
        names: String,
    },
    #[error("{origin}: program '{program}' does not say where to attach (section '{section}'); give a point, e.g. POINT={origin}")]
    NoPoint {
        origin: String,
        program: String,
        section: String,
    },
    #[error("{origin}: program '{program}' at {point}: {why}")]
    WrongContext {
        origin: String,
        program: String,
        point: String,
        why: String,
    },
}

/// One probe placed by [`attach_filter`].
#[derive(Debug, Clone)]
pub struct Placed {
    /// The probe's id in the tracer.
    pub id: u32,
    /// The program's name.
    pub program: String,
    /// The point as written (or as its section says).
    pub spec: String,
    /// Where it runs.
    pub target: Target,
}

/// What [`attach_filter`] did.
#[derive(Debug, Clone)]
pub struct Attached {
    /// The filter's index in the tracer.
    pub filter: usize,
    /// The programs kept (the ones attached), by name.
    pub programs: Vec<String>,
    /// Every probe placed.
    pub probes: Vec<Placed>,
    /// Warnings from compiling (a program the JIT could not compile, unverified programs).
    pub warnings: Vec<String>,
}

/// Attaches `filter`'s programs: `program` picks one (by name or section), `point` says where
/// it runs (else each program's section says). With `allow_unverified`, programs the
/// verifier rejects run with every access checked instead of being refused. Nothing is
/// attached unless every point resolves and every program verifies, except that a whole
/// object (no program, no point) leaves out, with a warning, the programs whose tracepoint or
/// function the guest lacks, as libbpf tools turn them off.
pub fn attach_filter(
    tracer: &mut Tracer,
    machine: &mut Machine,
    mut filter: Filter,
    point: Option<&str>,
    program: Option<&str>,
    allow_unverified: bool,
) -> Result<Attached, PlanError> {
    let image = tracer.image().cloned().ok_or(PlanError::NoImage)?;
    let selected = filter.program_index(program)?;
    let origin = filter.origin.clone();
    if point.is_some() && selected.len() > 1 {
        return Err(PlanError::WhichProgram {
            origin,
            count: selected.len(),
            names: names(&filter),
        });
    }
    let explicit = point.map(Point::parse).transpose()?;
    let whole_object = point.is_none() && program.is_none();
    let mut plan = Vec::new();
    let mut skipped = Vec::new();
    let mut selected = selected;
    // As a libbpf tool's user space turns off programs whose tracepoint or function this
    // kernel lacks (`tracepoint_exists`, `kprobe_exists`, then `set_autoload(false)`), a
    // whole object attaches without them, saying so; a program asked for by name or point
    // must attach.
    if whole_object {
        let mut first_error = None;
        selected.retain(|&pi| {
            let p = &filter.programs[pi];
            let Some(point) = &p.point else { return true };
            match point.resolve(&image) {
                Err(
                    e @ (AttachError::UnknownTracepoint { .. }
                    | AttachError::UnknownSymbol { .. }
                    | AttachError::NoSuchSyscall(_)),
                ) => {
                    skipped.push(format!(
                        "{origin}: program '{}' not attached: {e} (this guest lacks it)",
                        p.name
                    ));
                    first_error.get_or_insert(e);
                    false
                }
                _ => true,
            }
        });
        if selected.is_empty() {
            if let Some(e) = first_error {
                return Err(e.into());
            }
        }
    }
    for &pi in &selected {
        let p = &filter.programs[pi];
        let point = explicit
            .clone()
            .or_else(|| p.point.clone())
            .ok_or_else(|| PlanError::NoPoint {
                origin: origin.clone(),
                program: p.name.clone(),
                section: p.section.clone(),
            })?;
        let spec = point.spec();
        let targets = point.resolve(&image)?;
        let wrong = |why: String| PlanError::WrongContext {
            origin: origin.clone(),
            program: p.name.clone(),
            point: spec.clone(),
            why,
        };
        let mut ctx = None;
        for t in &targets {
            if let Target::Tracepoint(tp) = t {
                if tp.sites.is_empty() {
                    return Err(TraceError::NoSites(spec.clone()).into());
                }
            }
            let c = t.context_for(p.family).map_err(wrong)?;
            if ctx.is_some_and(|prev| prev != c) {
                return Err(wrong(format!(
                    "its {} places give different contexts ({}); attach them one by one",
                    targets.len(),
                    c.prog_type().name
                )));
            }
            ctx = Some(c);
        }
        plan.push((pi, spec, targets, ctx.unwrap_or(p.ctx)));
    }
    for (pi, _, _, ctx) in &plan {
        filter.programs[*pi].ctx = *ctx;
    }
    // Keep only the programs that run: the others need no verifying.
    let mut keep = 0;
    let mut index = vec![None; filter.programs.len()];
    for (i, slot) in index.iter_mut().enumerate() {
        if selected.contains(&i) {
            *slot = Some(keep);
            keep += 1;
        }
    }
    let mut i = 0;
    filter.programs.retain(|_| {
        let kept = selected.contains(&i);
        i += 1;
        kept
    });
    let programs: Vec<String> = filter.programs.iter().map(|p| p.name.clone()).collect();
    let (fi, mut warnings) = tracer.add_filter_with(machine, filter, allow_unverified)?;
    warnings.splice(0..0, skipped);
    let mut probes = Vec::new();
    for (pi, spec, targets, _) in plan {
        let Some(new) = index[pi] else { continue };
        for target in targets {
            let id = tracer.attach_target(machine, &spec, &target, fi, new)?;
            probes.push(Placed {
                id,
                program: programs[new].clone(),
                spec: spec.clone(),
                target,
            });
        }
    }
    Ok(Attached {
        filter: fi,
        programs,
        probes,
        warnings,
    })
}

fn names(filter: &Filter) -> String {
    filter
        .programs
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
