//! Verified programs, compiled and run without checks: the seed's promise.
//!
//! A [`ProvenProgram`] exists only if the verifier accepted the program for its program type,
//! its maps and the very helper table it is then linked against. Its map references are
//! resolved against a [`MapSet`] whose definitions must be the ones it was verified with, and
//! every run checks that its inputs are what the proof assumed:
//! - the context (seed, kprobe types) is at least the type's context size, and is only read;
//! - the memory of a `mem` program has exactly the verified size;
//! - the maps the environment lends ([`MapEnv`]) are still the ones whose value memory is
//!   baked into the code (same regions).
//!
//! Then the code runs natively with no bounds checks and no instruction budget (the verifier
//! proved every access in bounds and every loop bounded). If the JIT cannot compile the
//! program, the interpreter runs it (trusted mode too), and [`ProvenProgram::engine`] says so.

use crate::helpers::Helpers;
use crate::interp::{Interpreter, LinkError, Prepared, RunError};
use crate::maps::{MapEnv, MapSet};
use crate::native::exec::RunPermit;
use crate::native::Region;
use crate::program::Program;
use crate::verifier::{verify, Context, ProgType, Verified, VerifyError, VerifyOptions};
use crate::x86::{JitError, JitProgram};
use thiserror::Error;

/// Why a program could not become a [`ProvenProgram`].
#[derive(Debug, Error)]
pub enum ProveError {
    #[error("{0}")]
    Verify(#[from] VerifyError),
    #[error("{0}")]
    Link(#[from] LinkError),
    #[error("maps: {0}")]
    Maps(String),
}

/// Which engine runs a proven program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Jit,
    Interpreter,
}

enum Engine<E> {
    Jit(JitProgram<E>),
    Interp(Box<Interpreter>, Prepared),
}

/// A verified, linked and compiled program.
pub struct ProvenProgram<E> {
    ty: ProgType,
    verified: Verified,
    map_regions: Vec<Region>,
    engine: Engine<E>,
    /// Why the JIT was not used, if it was not.
    jit_error: Option<JitError>,
}

impl<E> std::fmt::Debug for ProvenProgram<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvenProgram")
            .field("ty", &self.ty.name)
            .field("engine", &self.engine())
            .finish()
    }
}

impl<E> ProvenProgram<E> {
    /// Verifies `prog` (whose map references are still `map_idx[N]` pseudo forms indexing
    /// `maps`) as a program of type `ty` calling `helpers`, resolves the map references
    /// against `maps` and compiles it; `prefer_jit = false` forces the interpreter.
    pub fn new(
        prog: &Program,
        ty: ProgType,
        helpers: &Helpers<E>,
        maps: &MapSet,
        opts: &VerifyOptions,
        prefer_jit: bool,
    ) -> Result<Self, ProveError> {
        let defs: Vec<_> = maps.iter().map(|m| m.def().clone()).collect();
        let verified = if opts.map_contents.is_empty() && !maps.is_empty() {
            // Constant formats in `.rodata` are read from the maps the program will run with.
            let opts = VerifyOptions {
                map_contents: maps.read_only_contents(),
                ..opts.clone()
            };
            verify(prog, &ty, helpers, &defs, &opts)?
        } else {
            verify(prog, &ty, helpers, &defs, opts)?
        };
        let mut linked = prog.clone();
        maps.resolve_program(&mut linked)
            .map_err(|e| ProveError::Maps(e.to_string()))?;
        // Only a program that names maps (lddw map_idx...) can reach their memory.
        let uses_maps = prog.instrs().iter().any(|i| {
            matches!(i, crate::instr::Instr::LdImm64 { kind, .. } if *kind != crate::instr::LdImmKind::Imm64)
        });
        let map_regions = if uses_maps {
            maps.regions()
        } else {
            Vec::new()
        };
        let (engine, jit_error) =
            match prefer_jit.then(|| JitProgram::compile_trusted(&linked, helpers)) {
                Some(Ok(j)) => (Engine::Jit(j), None),
                other => (
                    Engine::Interp(Box::default(), Prepared::new(&linked, helpers)?),
                    other.and_then(Result::err),
                ),
            };
        Ok(ProvenProgram {
            ty,
            verified,
            map_regions,
            engine,
            jit_error,
        })
    }

    /// What the verifier established (instructions processed, stack depths, facts, log).
    pub fn verified(&self) -> &Verified {
        &self.verified
    }

    /// The program type it was verified for.
    pub fn prog_type(&self) -> &ProgType {
        &self.ty
    }

    /// The engine that runs it.
    pub fn engine(&self) -> EngineKind {
        match self.engine {
            Engine::Jit(_) => EngineKind::Jit,
            Engine::Interp(..) => EngineKind::Interpreter,
        }
    }

    /// Why the JIT is not used (when the interpreter runs the program instead).
    pub fn jit_error(&self) -> Option<&JitError> {
        self.jit_error.as_ref()
    }

    /// The native code, when JIT-compiled.
    pub fn code(&self) -> Option<&[u8]> {
        match &self.engine {
            Engine::Jit(j) => Some(j.code()),
            Engine::Interp(..) => None,
        }
    }

    fn run(&mut self, r: (u64, u64), input: Option<Region>, env: &mut E) -> Result<u64, RunError> {
        // The code was proven safe for inputs of the verified shape, checked by the callers.
        let permit = RunPermit::proven();
        match &mut self.engine {
            Engine::Jit(j) => j.run_trusted(permit, r, input, &self.map_regions, env),
            Engine::Interp(i, p) => i.run_trusted(p, r, input, &self.map_regions, env),
        }
    }

    #[inline]
    fn check_maps(&self, maps: &MapSet) -> Result<(), RunError> {
        if self.map_regions.is_empty() {
            // No map is baked into the code: whatever the environment lends is irrelevant.
            return Ok(());
        }
        let mut live = maps.iter().filter_map(|m| m.region());
        let same =
            self.map_regions.iter().all(|r| live.next() == Some(*r)) && live.next().is_none();
        if same {
            Ok(())
        } else {
            Err(RunError::Jit(
                "the maps lent to this run are not the ones the program was linked with".into(),
            ))
        }
    }

    /// Runs a seed or kprobe program: r1 = `ctx` (read-only), r2 = 0.
    #[inline]
    pub fn run_ctx(&mut self, ctx: &[u8], env: &mut E) -> Result<u64, RunError>
    where
        E: MapEnv,
    {
        let need = match &self.ty.context {
            Context::Table { size, .. } | Context::Record { size, .. } => *size as usize,
            Context::Mem { .. } => {
                return Err(RunError::Jit(format!(
                    "a '{}' program takes memory, not a context",
                    self.ty.name
                )))
            }
        };
        if ctx.len() < need {
            return Err(RunError::Jit(format!(
                "context of {} bytes; the program was verified for {need}",
                ctx.len()
            )));
        }
        self.check_maps(env.maps())?;
        self.run(
            (ctx.as_ptr() as usize as u64, 0),
            Some(Region::of(ctx, false)),
            env,
        )
    }

    /// Runs a `mem` program without maps: r1 = `mem` (0 when empty), r2 = its length, which
    /// must be the verified size.
    pub fn run_mem(&mut self, mem: &mut [u8], env: &mut E) -> Result<u64, RunError> {
        match self.ty.context {
            Context::Mem { size } if size == mem.len() as u64 => {}
            _ => {
                return Err(RunError::Jit(format!(
                    "memory of {} bytes for a '{}' program",
                    mem.len(),
                    self.ty.name
                )))
            }
        }
        if !self.map_regions.is_empty() {
            return Err(RunError::Jit(
                "a program with maps needs an environment that lends them (run_mem_maps)".into(),
            ));
        }
        self.enter_mem(mem, env)
    }

    /// [`ProvenProgram::run_mem`] for a program with maps, lent by the environment.
    #[inline]
    pub fn run_mem_maps(&mut self, mem: &mut [u8], env: &mut E) -> Result<u64, RunError>
    where
        E: MapEnv,
    {
        match self.ty.context {
            Context::Mem { size } if size == mem.len() as u64 => {}
            _ => {
                return Err(RunError::Jit(format!(
                    "memory of {} bytes for a '{}' program",
                    mem.len(),
                    self.ty.name
                )))
            }
        }
        self.check_maps(env.maps())?;
        self.enter_mem(mem, env)
    }

    #[inline]
    fn enter_mem(&mut self, mem: &mut [u8], env: &mut E) -> Result<u64, RunError> {
        let r1 = if mem.is_empty() {
            0
        } else {
            mem.as_mut_ptr() as usize as u64
        };
        let input = (!mem.is_empty()).then(|| Region::of(mem, true));
        self.run((r1, mem.len() as u64), input, env)
    }
}
