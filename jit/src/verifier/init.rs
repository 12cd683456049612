//! Definite initialisation: no register is read before every path to the read has written
//! it. A cheap, path-insensitive check (one bit per register and instruction, a forward
//! data-flow fixpoint) for runtimes that run programs nobody verified but must refuse what
//! any eBPF loader refuses: the conformance plugin, whose suite expects `or %r0, %r10` on an
//! unset r0 (`negative/error.data`) to be rejected as the kernel's verifier does.
//!
//! At the entry of the main function the program type's argument registers and r10 are set.
//! A helper call sets r0 and leaves r1-r5 unset (it clobbers them); its arguments are not
//! checked here (their number is the prototype's, which the full verifier knows). A
//! bpf-to-bpf call enters the callee with the caller's r1-r5 and r10 (r0 and r6-r9 unset)
//! and returns with r0 set, r1-r5 unset and r6-r9 as before. `exit` reads r0.

use super::error::{Reason, VerifyError};
use super::progtype::{Context, ProgType};
use crate::instr::{AluOp, AtomicOp, Instr, Src};
use crate::program::Program;

/// A set of registers, bit `r` for register `r`.
type Regs = u16;

const fn bit(r: u8) -> Regs {
    1 << r
}

/// r1-r5.
const ARGS: Regs = 0b11_1110;
/// r10.
const FP: Regs = bit(10);

/// The registers instruction `ins` reads, and its effect on the set registers.
fn reads(ins: &Instr) -> Regs {
    let src = |s: Src| match s {
        Src::Reg(r) => bit(r),
        Src::Imm(_) => 0,
    };
    match *ins {
        Instr::Alu {
            op: AluOp::Mov,
            src: s,
            ..
        } => src(s),
        Instr::Alu { dst, src: s, .. } => bit(dst) | src(s),
        Instr::Neg { dst, .. } | Instr::End { dst, .. } => bit(dst),
        Instr::MovSx { src, .. } => bit(src),
        Instr::Load { base, .. } => bit(base),
        Instr::Store { base, src: s, .. } => bit(base) | src(s),
        Instr::Atomic { op, base, src, .. } => {
            bit(base) | bit(src) | if op == AtomicOp::Cmpxchg { bit(0) } else { 0 }
        }
        Instr::Jcond { dst, src: s, .. } => bit(dst) | src(s),
        Instr::Callx { reg } => bit(reg),
        Instr::Exit => bit(0),
        Instr::LdImm64 { .. }
        | Instr::LdImm64Hi
        | Instr::Ja { .. }
        | Instr::CallHelper { .. }
        | Instr::CallLocal { .. } => 0,
    }
}

/// The set registers after `ins` (falling through), given those before.
fn after(ins: &Instr, set: Regs) -> Regs {
    match *ins {
        Instr::Alu { dst, .. }
        | Instr::Neg { dst, .. }
        | Instr::End { dst, .. }
        | Instr::MovSx { dst, .. }
        | Instr::LdImm64 { dst, .. }
        | Instr::Load { dst, .. } => set | bit(dst),
        Instr::Atomic { op, fetch, src, .. } => match op {
            AtomicOp::Cmpxchg => set | bit(0),
            _ if fetch || op == AtomicOp::Xchg => set | bit(src),
            _ => set,
        },
        Instr::CallHelper { .. } | Instr::Callx { .. } | Instr::CallLocal { .. } => {
            (set | bit(0)) & !ARGS
        }
        _ => set,
    }
}

/// Meets `set` into the state of `to`, queueing it when that changes it.
fn flow(to: usize, set: Regs, state: &mut [Option<Regs>], work: &mut Vec<usize>) {
    let Some(slot) = state.get_mut(to) else {
        return;
    };
    let met = slot.map_or(set, |old| old & set);
    if *slot != Some(met) {
        *slot = Some(met);
        work.push(to);
    }
}

/// Refuses `prog` if some path reads a register before writing it, naming the first such
/// instruction (lowest index) and register.
pub fn check_initialised(prog: &Program, ty: &ProgType) -> Result<(), VerifyError> {
    let ins = prog.instrs();
    let n = ins.len();
    let entry = FP
        | match ty.context {
            Context::Table { .. } | Context::Record { .. } => bit(1),
            Context::Mem { .. } => bit(1) | bit(2),
        };
    // Registers set on every path reaching each instruction; `None`: not reached (yet).
    let mut state: Vec<Option<Regs>> = vec![None; n];
    let mut work = vec![0usize];
    state[0] = Some(entry);
    while let Some(pc) = work.pop() {
        let Some(set) = state[pc] else { continue };
        let i = &ins[pc];
        let out = after(i, set);
        let target = |off: i64| (pc as i64 + off + 1) as usize;
        match *i {
            Instr::Exit => {}
            Instr::Ja { off, .. } => flow(target(off.into()), out, &mut state, &mut work),
            Instr::Jcond { off, .. } => {
                flow(target(off.into()), out, &mut state, &mut work);
                flow(pc + 1, out, &mut state, &mut work);
            }
            Instr::CallLocal { off } => {
                flow(target(off.into()), (set & ARGS) | FP, &mut state, &mut work);
                flow(pc + 1, out, &mut state, &mut work);
            }
            Instr::LdImm64 { .. } => flow(pc + 2, out, &mut state, &mut work),
            _ => flow(pc + 1, out, &mut state, &mut work),
        }
    }
    for (pc, i) in ins.iter().enumerate() {
        let Some(set) = state[pc] else { continue };
        let missing = reads(i) & !set;
        if missing != 0 {
            let reg = missing.trailing_zeros() as u8;
            return Err(VerifyError::new(pc, Reason::UninitRegister { reg }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;

    fn check(src: &str) -> Result<(), (usize, Reason)> {
        let prog =
            Program::new(assemble(&src.replace('|', "\n")).expect("assembles")).expect("valid");
        check_initialised(&prog, &ProgType::mem(4)).map_err(|e| (e.pc, e.reason))
    }

    fn uninit(pc: usize, reg: u8) -> Result<(), (usize, Reason)> {
        Err((pc, Reason::UninitRegister { reg }))
    }

    #[test]
    fn reads_before_writes_are_refused() {
        // bpf_conformance's negative/error.data.
        assert_eq!(check("or %r0, %r10|exit"), uninit(0, 0));
        assert_eq!(check("exit"), uninit(0, 0));
        assert_eq!(check("mov %r0, %r3|exit"), uninit(0, 3));
        // Only one path writes r0.
        assert_eq!(check("jeq %r2, 0, +1|mov %r0, 1|exit"), uninit(2, 0));
        // A helper clobbers r1-r5.
        assert_eq!(check("call 2|mov %r0, %r1|exit"), uninit(1, 1));
        // A callee's r6-r9 are its own; r1-r5 after the call are unset.
        assert_eq!(
            check("mov %r6, 1|call local f|exit|f:|mov %r0, %r6|exit"),
            uninit(3, 6)
        );
        assert_eq!(
            check("mov %r3, 1|call local f|mov %r0, %r3|exit|f:|mov %r0, 0|exit"),
            uninit(2, 3)
        );
    }

    #[test]
    fn programs_writing_before_reading_pass() {
        assert_eq!(check("mov %r0, %r1|add %r0, %r2|exit"), Ok(()));
        assert_eq!(
            check("jeq %r2, 0, +2|mov %r0, 1|ja +1|mov %r0, 2|exit"),
            Ok(())
        );
        assert_eq!(check("call 2|exit"), Ok(()));
        assert_eq!(
            check("mov %r6, 1|mov %r3, 2|call local f|add %r0, %r6|exit|f:|mov %r0, %r3|exit"),
            Ok(())
        );
        assert_eq!(check("mov %r0, 0|l:|add %r0, 1|jlt %r0, 9, l|exit"), Ok(()));
        assert_eq!(check("lddw %r0, 0x100000000|exit"), Ok(()));
        // A seed context has no r2.
        let prog = Program::new(assemble("mov %r0, %r2\nexit").expect("asm")).expect("valid");
        assert!(check_initialised(&prog, &ProgType::seed()).is_err());
    }
}
