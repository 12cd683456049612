//! The x86-64 JIT: compiles a [`Program`] to native code in W^X memory.
//!
//! [`JitProgram::compile`] translates the program ([`compile`]) through the encoder
//! ([`encode`], one function per instruction form), then copies the code into a fresh mapping
//! that is made read-execute and never writable again ([`crate::native::exec`]). Helpers are
//! called directly at their native addresses with r1-r5 in place.
//!
//! Two modes: *checked* code ([`JitProgram::compile_checked`]) bounds-checks every access against
//! the run's regions and counts instructions, so it can run any program, like the checked
//! interpreter; *trusted* code has no checks and is made only for programs the verifier accepted.

pub mod compile;
pub mod encode;

use crate::helpers::Helpers;
use crate::instr::LdImmKind;
use crate::interp::RunError;
use crate::isa::{MAX_CALL_FRAMES, STACK_SIZE};
use crate::native::exec::{ExecMemory, RunPermit};
use crate::native::frame::{abort, NativeHelper, Policy, Region, RunFrame};
use crate::program::Program;
use std::marker::PhantomData;
use thiserror::Error;

/// Why a program could not be compiled.
#[derive(Debug, Error)]
pub enum JitError {
    #[error("instruction {pc}: call to unknown helper {id}")]
    UnknownHelper { pc: usize, id: u32 },
    #[error("instruction {pc}: unresolved lddw {kind:?} (the loader must resolve map and function references)")]
    UnresolvedPseudo { pc: usize, kind: LdImmKind },
    #[error("jump offsets did not converge in {0} passes")]
    NoConvergence(usize),
    #[error("cannot map executable memory: {0}")]
    Memory(#[from] std::io::Error),
}

/// A compiled program for helpers with environment type `E`, with its BPF stack.
#[derive(Debug)]
pub struct JitProgram<E> {
    exec: ExecMemory,
    callx: Vec<Option<NativeHelper>>,
    checked: bool,
    /// Whether helpers run (they need the frame and the regions).
    calls_helpers: bool,
    stack: Box<[u8]>,
    regions: Vec<Region>,
    _env: PhantomData<fn(&mut E)>,
}

impl<E> JitProgram<E> {
    /// Compiles `prog` with a bounds check before every memory access and an instruction
    /// budget, linking helper calls against `helpers`. Safe for any program; see
    /// [`JitProgram::run_checked`].
    pub fn compile_checked(prog: &Program, helpers: &Helpers<E>) -> Result<Self, JitError> {
        Self::compile(prog, helpers, true)
    }

    /// Compiles `prog` without checks: only for programs the verifier accepted.
    pub(crate) fn compile_trusted(prog: &Program, helpers: &Helpers<E>) -> Result<Self, JitError> {
        Self::compile(prog, helpers, false)
    }

    fn compile(prog: &Program, helpers: &Helpers<E>, checked: bool) -> Result<Self, JitError> {
        let (code, needs) = compile::compile(prog, helpers, checked)?;
        Ok(JitProgram {
            calls_helpers: needs.frame,
            exec: ExecMemory::new(&code)?,
            callx: helpers.callx_table().to_vec(),
            checked,
            stack: vec![0u8; STACK_SIZE * MAX_CALL_FRAMES].into_boxed_slice(),
            regions: Vec::new(),
            _env: PhantomData,
        })
    }

    /// The machine code (entry stub first).
    pub fn code(&self) -> &[u8] {
        self.exec.code()
    }

    /// Whether the code checks its own accesses.
    pub fn is_checked(&self) -> bool {
        self.checked
    }

    /// Runs checked code with every access checked against `mem`, the stack and `extra`
    /// regions, exactly like [`crate::interp::Interpreter::run_checked`]: r1 = address of `mem`
    /// (0 when empty), r2 = its length. `budget` bounds the instructions executed (counted at
    /// backward jumps and calls, so the bound is approximate).
    pub fn run_checked(
        &mut self,
        mem: &mut [u8],
        extra: &[Region],
        env: &mut E,
        budget: Option<u64>,
    ) -> Result<u64, RunError> {
        let r1 = if mem.is_empty() {
            0
        } else {
            mem.as_mut_ptr() as usize as u64
        };
        let input = (!mem.is_empty()).then(|| Region::of(mem, true));
        self.run_checked_with((r1, mem.len() as u64), input, extra, env, budget)
    }

    /// Runs checked code with a read-only context: r1 = address of `ctx`, r2 = 0, every access
    /// checked against the context (reads only), the stack and `extra` regions.
    pub fn run_checked_ctx(
        &mut self,
        ctx: &[u8],
        extra: &[Region],
        env: &mut E,
        budget: Option<u64>,
    ) -> Result<u64, RunError> {
        let r1 = ctx.as_ptr() as usize as u64;
        self.run_checked_with((r1, 0), Some(Region::of(ctx, false)), extra, env, budget)
    }

    fn run_checked_with(
        &mut self,
        r: (u64, u64),
        input: Option<Region>,
        extra: &[Region],
        env: &mut E,
        budget: Option<u64>,
    ) -> Result<u64, RunError> {
        if !self.checked {
            return Err(RunError::Jit(
                "this program was compiled without checks".into(),
            ));
        }
        // Checked code proves its own accesses safe as it runs.
        self.run(RunPermit::proven(), r, input, extra, true, env, budget)
    }

    /// Runs code for a verified program (no checks). `input` is the context or memory r1
    /// points to; it and `extra` (the maps) are what helpers may treat as program memory.
    pub(crate) fn run_trusted(
        &mut self,
        permit: RunPermit,
        r: (u64, u64),
        input: Option<Region>,
        extra: &[Region],
        env: &mut E,
    ) -> Result<u64, RunError> {
        self.run(permit, r, input, extra, false, env, None)
    }

    /// One run: the regions (for checks, and for helpers telling program memory apart), the
    /// frame, the call, and the frame's abort state turned into the result.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn run(
        &mut self,
        permit: RunPermit,
        (r1, r2): (u64, u64),
        input: Option<Region>,
        extra: &[Region],
        checked: bool,
        env: &mut E,
        budget: Option<u64>,
    ) -> Result<u64, RunError> {
        self.regions.clear();
        // Trusted code without helpers never asks which memory is the program's.
        if checked || self.calls_helpers {
            self.regions.push(Region::of(&self.stack, true));
            self.regions.extend(input);
            self.regions.extend_from_slice(extra);
        }
        let regions = std::mem::take(&mut self.regions);
        let top = stack_top(&mut self.stack);
        let result = {
            let policy = if checked {
                Policy::Checked(&regions)
            } else {
                Policy::Trusted(&regions)
            };
            let mut frame = RunFrame::new(env, policy, &self.callx);
            frame.hdr.budget = budget.unwrap_or(u64::MAX);
            enter(&self.exec, top, permit, r1, r2, &mut frame, budget)
        };
        self.regions = regions;
        result
    }
}

#[inline]
fn stack_top(stack: &mut [u8]) -> u64 {
    stack.as_mut_ptr() as usize as u64 + stack.len() as u64
}

/// Runs the code and turns the frame's abort state into the result.
#[inline]
fn enter<E>(
    exec: &ExecMemory,
    top: u64,
    permit: RunPermit,
    r1: u64,
    r2: u64,
    frame: &mut RunFrame<'_, E>,
    budget: Option<u64>,
) -> Result<u64, RunError> {
    {
        frame.hdr.stack_top = top;
        let r0 = exec.run(permit, r1, r2, frame);
        let pc = frame.hdr.pc as usize;
        match frame.hdr.abort {
            abort::NONE | abort::EXIT => Ok(r0),
            abort::BAD_CALLX => Err(RunError::BadCallx {
                pc,
                id: frame.hdr.value,
            }),
            abort::FAULT => match frame.fault.take() {
                Some(fault) => Err(RunError::Memory { pc, fault }),
                None => Err(RunError::Jit("memory fault without details".into())),
            },
            abort::BUDGET => Err(RunError::Budget(budget.unwrap_or(u64::MAX))),
            _ => Err(RunError::Helper {
                pc,
                msg: frame.error.take().unwrap_or_else(|| "unknown error".into()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{parse, suite_helpers};
    use crate::{asm, instr, isa};

    /// Trusted code must compute what checked code computes, for every conformance program
    /// the verifier accepts (only those may run unchecked), and must be free of checks.
    #[test]
    fn trusted_code_agrees_with_checked_code_on_the_conformance_suite() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/conformance/bpf_conformance/tests");
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("conformance data at {}: {e}", dir.display()));
        let helpers = suite_helpers();
        let mut compared = 0;
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).expect("readable");
            let Ok(tc) = parse(&text, Some(&dir)) else {
                continue;
            };
            let slots = match (&tc.raw, &tc.asm) {
                (Some(raw), _) => isa::slots_from_bytes(raw).expect("whole slots"),
                (None, Some(src)) => instr::encode(&asm::assemble(src).expect("assembles")),
                _ => continue,
            };
            let Ok(prog) = Program::from_slots(&slots) else {
                continue;
            };
            let ty = crate::verifier::ProgType::mem(tc.mem.len() as u64);
            let opts = crate::verifier::VerifyOptions::default();
            if crate::verifier::verify(&prog, &ty, &helpers, &[], &opts).is_err() {
                continue;
            }
            let mut checked = JitProgram::compile_checked(&prog, &helpers).expect("compiles");
            let mut mem = tc.mem.clone();
            let Ok(want) = checked.run_checked(&mut mem, &[], &mut (), Some(1_000_000)) else {
                continue;
            };
            let mut trusted = JitProgram::compile_trusted(&prog, &helpers).expect("compiles");
            assert!(trusted.code().len() <= checked.code().len());
            mem.copy_from_slice(&tc.mem);
            let r1 = if mem.is_empty() {
                0
            } else {
                mem.as_mut_ptr() as usize as u64
            };
            // The verifier accepted the program for memory of exactly this size.
            let got = trusted.run_trusted(
                RunPermit::proven(),
                (r1, mem.len() as u64),
                None,
                &[],
                &mut (),
            );
            assert_eq!(got, Ok(want), "{}", e.path().display());
            compared += 1;
        }
        assert!(compared > 250, "only {compared} programs compared");
    }

    /// r0-r5 OR-ed together after a helper call (direct, then through callx) that was given
    /// the non-zero arguments 1..5.
    const READS_ARGS_AFTER_CALLS: &str = "mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\n\
        mov %r5, 5\ncall 2\nmov %r6, %r1\nor %r6, %r2\nor %r6, %r3\nor %r6, %r4\n\
        or %r6, %r5\nmov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\n\
        mov %r7, 2\ncall %r7\nor %r6, %r1\nor %r6, %r2\nor %r6, %r3\nor %r6, %r4\n\
        or %r6, %r5\nmov %r0, %r6\nexit";

    /// After a helper call r1-r5 are 0 on both engines: the JIT's host function leaves its
    /// own values in rdi..r8 (host addresses, say), the interpreter used to keep the old ones.
    #[test]
    fn helper_calls_leave_zero_in_r1_to_r5_on_both_engines() {
        let prog =
            Program::new(asm::assemble(READS_ARGS_AFTER_CALLS).expect("assembles")).expect("valid");
        let helpers = suite_helpers();
        let mut jit = JitProgram::compile_checked(&prog, &helpers).expect("compiles");
        let got = jit.run_checked(&mut [], &[], &mut (), Some(1000));
        assert_eq!(got, Ok(0), "JIT");
        let prepared = crate::interp::Prepared::new(&prog, &helpers).expect("links");
        let got = crate::interp::Interpreter::new().run_checked(
            &prepared,
            &mut [],
            &[],
            &mut (),
            Some(1000),
        );
        assert_eq!(got, Ok(0), "interpreter");
    }

    /// Trusted code starts with r0 and r3-r9 at 0 like checked code (r3 is rdx, which holds
    /// the run's frame address at entry), and zeroes r1-r5 after helper calls too.
    #[test]
    fn trusted_code_starts_with_zero_registers_and_zeroes_after_calls() {
        let helpers = suite_helpers();
        let entry = "mov %r1, %r0\nor %r1, %r3\nor %r1, %r4\nor %r1, %r5\nor %r1, %r6\n\
            or %r1, %r7\nor %r1, %r8\nor %r1, %r9\nmov %r0, %r1\nexit";
        for src in [entry, READS_ARGS_AFTER_CALLS] {
            let prog = Program::new(asm::assemble(src).expect("assembles")).expect("valid");
            let mut trusted = JitProgram::compile_trusted(&prog, &helpers).expect("compiles");
            // Only register reads: no memory is touched, so an unverified program is safe here.
            let got = trusted.run_trusted(RunPermit::proven(), (0, 0), None, &[], &mut ());
            assert_eq!(got, Ok(0), "{src}");
            let prepared = crate::interp::Prepared::new(&prog, &helpers).expect("links");
            let got = crate::interp::Interpreter::new().run_trusted(
                &prepared,
                (0, 0),
                None,
                &[],
                &mut (),
            );
            assert_eq!(got, Ok(0), "interpreter: {src}");
        }
    }
}
