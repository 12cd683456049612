//! A structurally valid program: decoded slots plus the facts every engine relies on.
//!
//! [`Program::new`] checks what must hold before anything runs, whatever the program does:
//! it is not empty and within [`MAX_INSNS`], every slot decodes, every jump lands on an
//! instruction start inside its own function (never on the second slot of `lddw`), every local
//! call targets an instruction start, no function falls off its end, calls are not recursive and
//! chains of calls are at most [`MAX_CALL_FRAMES`] deep. The verifier builds on this; the
//! interpreter and the JIT may assume it.

use crate::instr::{self, DecodeError, Instr};
use crate::isa::{self, RawInsn, MAX_CALL_FRAMES, MAX_INSNS};
use thiserror::Error;

/// Why a program was refused before running.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProgramError {
    #[error("the program is empty")]
    Empty,
    #[error("the program has {0} instructions, more than the limit of {MAX_INSNS}")]
    TooLarge(usize),
    #[error("the program is {0} bytes long, not a whole number of 8-byte instructions")]
    PartialInstruction(usize),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("instruction {pc}: jump out of bounds (target {target})")]
    JumpOutOfBounds { pc: usize, target: i64 },
    #[error("instruction {pc}: jump to the middle of lddw at {target}")]
    JumpIntoLddw { pc: usize, target: usize },
    #[error("instruction {pc}: jump from function at {from_fn} into function at {to_fn}")]
    JumpAcrossFunctions {
        pc: usize,
        from_fn: usize,
        to_fn: usize,
    },
    #[error("instruction {pc}: local call out of bounds (target {target})")]
    CallOutOfBounds { pc: usize, target: i64 },
    #[error("instruction {pc}: local call to the middle of lddw at {target}")]
    CallIntoLddw { pc: usize, target: usize },
    #[error("instruction {pc}: function does not end with exit or an unconditional jump")]
    FallsOffEnd { pc: usize },
    #[error("function at {0} calls itself, directly or through others (recursion is not allowed)")]
    Recursion(usize),
    #[error("call chain through function at {0} is deeper than {MAX_CALL_FRAMES} frames")]
    CallsTooDeep(usize),
    #[error("instruction {0}: lddw is not followed by its second slot")]
    MalformedLddw(usize),
}

/// A function: the main program or a bpf-to-bpf callee, a half-open slot range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    pub start: usize,
    pub end: usize,
}

/// A decoded, structurally checked program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    instrs: Vec<Instr>,
    functions: Vec<Function>,
    /// For each slot, the index into `functions` of the function holding it.
    func_of: Vec<u32>,
}

impl Program {
    /// Decodes and checks raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProgramError> {
        let slots =
            isa::slots_from_bytes(bytes).ok_or(ProgramError::PartialInstruction(bytes.len()))?;
        Self::from_slots(&slots)
    }

    /// Decodes and checks slots.
    pub fn from_slots(slots: &[RawInsn]) -> Result<Self, ProgramError> {
        if slots.is_empty() {
            return Err(ProgramError::Empty);
        }
        if slots.len() > MAX_INSNS {
            return Err(ProgramError::TooLarge(slots.len()));
        }
        Self::new(instr::decode(slots)?)
    }

    /// Checks decoded instructions (as produced by [`instr::decode`]).
    pub fn new(instrs: Vec<Instr>) -> Result<Self, ProgramError> {
        let n = instrs.len();
        if n == 0 {
            return Err(ProgramError::Empty);
        }
        if n > MAX_INSNS {
            return Err(ProgramError::TooLarge(n));
        }
        // Typed instructions obey the same rules as bytes (no writes to r10, registers in
        // range, lddw pairs): check them by the decoder's own definition.
        let round = instr::decode(&instr::encode(&instrs))?;
        if let Some(pc) = (0..n).find(|&pc| round.get(pc) != Some(&instrs[pc])) {
            return Err(ProgramError::MalformedLddw(pc));
        }
        let is_start = |t: usize| !matches!(instrs[t], Instr::LdImm64Hi);

        // Function entries: slot 0 and every local call target.
        let mut entries = vec![0usize];
        for (pc, ins) in instrs.iter().enumerate() {
            if let Instr::CallLocal { off } = *ins {
                let target = pc as i64 + i64::from(off) + 1;
                if target < 0 || target >= n as i64 {
                    return Err(ProgramError::CallOutOfBounds { pc, target });
                }
                let t = target as usize;
                if !is_start(t) {
                    return Err(ProgramError::CallIntoLddw { pc, target: t });
                }
                entries.push(t);
            }
        }
        entries.sort_unstable();
        entries.dedup();
        let functions: Vec<Function> = entries
            .iter()
            .enumerate()
            .map(|(i, &start)| Function {
                start,
                end: entries.get(i + 1).copied().unwrap_or(n),
            })
            .collect();
        let mut func_of = vec![0u32; n];
        for (fi, f) in functions.iter().enumerate() {
            func_of[f.start..f.end].fill(fi as u32);
        }

        for (pc, ins) in instrs.iter().enumerate() {
            if let Some(off) = ins.jump_offset() {
                let target = pc as i64 + off + 1;
                if target < 0 || target >= n as i64 {
                    return Err(ProgramError::JumpOutOfBounds { pc, target });
                }
                let t = target as usize;
                if !is_start(t) {
                    return Err(ProgramError::JumpIntoLddw { pc, target: t });
                }
                if func_of[t] != func_of[pc] {
                    return Err(ProgramError::JumpAcrossFunctions {
                        pc,
                        from_fn: functions[func_of[pc] as usize].start,
                        to_fn: functions[func_of[t] as usize].start,
                    });
                }
            }
        }
        for f in &functions {
            let last = f.end - 1;
            if !matches!(instrs[last], Instr::Exit | Instr::Ja { .. }) {
                return Err(ProgramError::FallsOffEnd { pc: last });
            }
        }
        let prog = Program {
            instrs,
            functions,
            func_of,
        };
        prog.check_call_graph()?;
        Ok(prog)
    }

    /// Rejects recursion and call chains deeper than [`MAX_CALL_FRAMES`].
    fn check_call_graph(&self) -> Result<(), ProgramError> {
        let nf = self.functions.len();
        let mut callees: Vec<Vec<usize>> = vec![Vec::new(); nf];
        for (pc, ins) in self.instrs.iter().enumerate() {
            if let Instr::CallLocal { off } = *ins {
                let t = (pc as i64 + i64::from(off) + 1) as usize;
                callees[self.func_of[pc] as usize].push(self.func_of[t] as usize);
            }
        }
        // Depth-first search with colours; depth[f] = frames needed by a call into f.
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        let mut mark = vec![Mark::New; nf];
        let mut depth = vec![1usize; nf];
        // Iterative DFS: (function, next callee index).
        let mut stack: Vec<(usize, usize)> = vec![(0, 0)];
        mark[0] = Mark::Active;
        while let Some(&mut (f, ref mut next)) = stack.last_mut() {
            if let Some(&c) = callees[f].get(*next) {
                *next += 1;
                match mark[c] {
                    Mark::Active => return Err(ProgramError::Recursion(self.functions[c].start)),
                    Mark::New => {
                        mark[c] = Mark::Active;
                        stack.push((c, 0));
                    }
                    Mark::Done => depth[f] = depth[f].max(depth[c] + 1),
                }
            } else {
                stack.pop();
                mark[f] = Mark::Done;
                if let Some(&(parent, _)) = stack.last() {
                    depth[parent] = depth[parent].max(depth[f] + 1);
                }
                if depth[f] > MAX_CALL_FRAMES {
                    return Err(ProgramError::CallsTooDeep(self.functions[f].start));
                }
            }
        }
        Ok(())
    }

    /// The decoded slots.
    pub fn instrs(&self) -> &[Instr] {
        &self.instrs
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.instrs.len()
    }

    /// Always false: empty programs are refused.
    pub fn is_empty(&self) -> bool {
        self.instrs.is_empty()
    }

    /// Functions in slot order; the first is the main program.
    pub fn functions(&self) -> &[Function] {
        &self.functions
    }

    /// Index into [`Program::functions`] of the function holding slot `pc`.
    pub fn function_of(&self, pc: usize) -> usize {
        self.func_of[pc] as usize
    }

    /// Re-encodes into slots.
    pub fn to_slots(&self) -> Vec<RawInsn> {
        instr::encode(&self.instrs)
    }

    /// Re-encodes into bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        isa::slots_to_bytes(&self.to_slots())
    }

    /// Replaces the pseudo forms of `lddw` (map references and the like) with plain constants,
    /// as a loader does once it knows where maps live. `f` gets the slot, the kind and the raw
    /// 64-bit immediate and returns the value to load.
    pub fn resolve_pseudo<E>(
        &mut self,
        mut f: impl FnMut(usize, instr::LdImmKind, u64) -> Result<u64, E>,
    ) -> Result<(), E> {
        for (pc, ins) in self.instrs.iter_mut().enumerate() {
            if let Instr::LdImm64 { dst, kind, imm } = *ins {
                if kind != instr::LdImmKind::Imm64 {
                    let v = f(pc, kind, imm)?;
                    *ins = Instr::LdImm64 {
                        dst,
                        kind: instr::LdImmKind::Imm64,
                        imm: v,
                    };
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;

    fn check(src: &str) -> Result<Program, ProgramError> {
        Program::new(assemble(src).expect("assembles"))
    }

    #[test]
    fn accepts_calls_and_records_functions() {
        let p = check("call local f\nexit\nf:\nmov %r0, 1\nexit").expect("valid");
        assert_eq!(
            p.functions(),
            &[Function { start: 0, end: 2 }, Function { start: 2, end: 4 }]
        );
        assert_eq!(p.function_of(3), 1);
    }

    #[test]
    fn rejects_bad_control_flow() {
        assert!(matches!(
            check("ja +2\nexit"),
            Err(ProgramError::JumpOutOfBounds { pc: 0, .. })
        ));
        assert!(matches!(
            check("ja +1\nlddw %r0, 0x1122334455667788\nexit"),
            Err(ProgramError::JumpIntoLddw { pc: 0, target: 2 })
        ));
        assert!(matches!(
            check("mov %r0, 0"),
            Err(ProgramError::FallsOffEnd { pc: 0 })
        ));
        assert!(matches!(
            check("begin:\nmov %r1, 1\ncall local next\nexit\nnext:\nja begin\nexit"),
            Err(ProgramError::JumpAcrossFunctions { pc: 3, .. })
        ));
        assert!(matches!(
            check("mov %r0, 0\ncall local next\nnext:\nexit"),
            Err(ProgramError::FallsOffEnd { pc: 1 })
        ));
        assert!(matches!(
            check("call local f\nexit\nf:\ncall local f\nexit"),
            Err(ProgramError::Recursion(2))
        ));
    }

    #[test]
    fn limits_call_depth() {
        // main -> f1 -> ... -> f8 is 9 frames.
        let mut src = String::from("call local f1\nexit\n");
        for i in 1..=8 {
            src.push_str(&format!("f{i}:\ncall local f{}\nexit\n", i + 1));
        }
        src.push_str("f9:\nexit\n");
        assert!(matches!(check(&src), Err(ProgramError::CallsTooDeep(_))));
        let ok = "call local f1\nexit\nf1:\ncall local f2\nexit\nf2:\nexit\n";
        assert!(check(ok).is_ok());
    }
}
