//! The path-sensitive walk: every instruction's transfer function, branch exploration with
//! pruning at checkpoints, helper and bpf-to-bpf calls, and the checks done after the walk
//! (reachability before, combined stack depth after).

mod alu;
mod branch;
mod calls;
mod memory;

use super::bounds::{self, assume32, assume64, relation, Scalar};
use super::error::{Reason, VerifyError};
use super::log::PathLog;
use super::progtype::{Context, ProgType};
use super::state::{Frame, Ptr, PtrKind, Reg, State, FRAME_BYTES};
use super::{InsnFacts, Verified, VerifyOptions};
use crate::disasm::format_instr;
use crate::helpers::{Arg, Helpers, Proto, Ret};
use crate::instr::{AluOp, AtomicOp, Instr, LdImmKind, Size, Src, Width};
use crate::isa::{MAX_CALL_FRAMES, STACK_SIZE};
use crate::maps::{MapDef, BPF_F_RDONLY_PROG};
use crate::program::Program;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Largest offset magnitude a pointer may carry (as the kernel's `BPF_MAX_VAR_OFF`).
const MAX_PTR_OFF: i64 = 1 << 29;

/// States kept per prune point; past this, paths go on without storing (loop detection and
/// pruning still use the stored ones, and the instruction budget bounds the rest).
const MAX_STATES_PER_PC: usize = 256;
/// Verified states compared per prune-point visit (the most recent ones).
const MAX_COMPARED: usize = 64;

/// A state stored at a prune point.
struct Checkpoint {
    pc: usize,
    state: State,
    parent: Option<usize>,
    /// Paths from here still being explored; 0 means everything reachable from `state` is safe.
    branches: u32,
}

/// A branch waiting to be explored.
struct Pending {
    pc: usize,
    from: usize,
    state: State,
    parent: Option<usize>,
    log_mark: usize,
}

enum Step {
    Next(usize),
    Branch {
        target: usize,
        taken: Option<State>,
        fall: Option<State>,
    },
    Exit,
}

/// What a load or store does.
#[derive(Clone, Copy)]
enum Access {
    Read { sx: bool },
    Write(Reg),
    Atomic,
}

pub(crate) struct Walk<'a, E> {
    prog: &'a Program,
    ty: &'a ProgType,
    helpers: &'a Helpers<E>,
    maps: &'a [MapDef],
    opts: &'a VerifyOptions,
    prune: Vec<bool>,
    /// Checkpoints stored per instruction.
    stored: Vec<u32>,
    /// Completely verified checkpoints per instruction.
    done: Vec<Vec<usize>>,
    /// Checkpoints by (instruction, state hash), to detect a state repeating on its own path.
    by_hash: HashMap<(usize, u64), Vec<usize>>,
    checkpoints: Vec<Checkpoint>,
    processed: u64,
    next_id: u32,
    facts: Vec<InsnFacts>,
    stack_depth: Vec<u32>,
    log: Option<PathLog>,
    last_line: Option<String>,
}

fn ptr_region(kind: PtrKind, maps: &[MapDef]) -> String {
    match kind {
        PtrKind::Ctx => "the context".into(),
        PtrKind::Stack { .. } => "the stack (512 bytes per frame)".into(),
        PtrKind::MapValue { map } | PtrKind::MapValueOrNull { map, .. } => {
            match maps.get(map as usize) {
                Some(m) => format!(
                    "the value of map {map} '{}' ({} bytes)",
                    m.name, m.value_size
                ),
                None => format!("the value of map {map}"),
            }
        }
        PtrKind::Map { map } => format!("map {map}"),
        PtrKind::Mem { size } => format!("the memory region ({size} bytes)"),
        PtrKind::RingbufOrNull { size, .. } | PtrKind::Ringbuf { size, .. } => {
            format!("the ring-buffer record ({size} bytes)")
        }
    }
}

/// How many arguments a `bpf_trace_printk` format consumes, by the kernel's
/// `bpf_bprintf_prepare` rules: `%%` none, every other conversion (after flags `-+ 0#` and a
/// width) one. Malformed conversions count too (the helper refuses them at run time; counting
/// more than it reads only asks for more initialised registers).
///
/// The result is the conversion character of each argument the format consumes, in order
/// (`u` for `%llu`, `s` for `%s`, `p` for `%pK`); a malformed conversion at the end of the
/// format counts as `\0`.
pub(crate) fn printf_conversion_chars(fmt: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < fmt.len() {
        if fmt[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        if fmt.get(i) == Some(&b'%') {
            i += 1;
            continue;
        }
        while fmt
            .get(i)
            .is_some_and(|c| b"-+ 0#".contains(c) || c.is_ascii_digit())
        {
            i += 1;
        }
        if i < fmt.len() {
            while fmt.get(i).is_some_and(|c| b"lhz".contains(c)) {
                i += 1;
            }
            out.push(fmt.get(i).copied().unwrap_or(0));
        }
    }
    out
}

fn imm_scalar(i: i32) -> Reg {
    Reg::constant(i64::from(i) as u64)
}

impl<'a, E> Walk<'a, E> {
    pub fn new(
        prog: &'a Program,
        ty: &'a ProgType,
        helpers: &'a Helpers<E>,
        maps: &'a [MapDef],
        opts: &'a VerifyOptions,
        log: Option<PathLog>,
    ) -> Self {
        let n = prog.len();
        let mut prune = vec![false; n];
        for (pc, ins) in prog.instrs().iter().enumerate() {
            if let Some(off) = ins.jump_offset() {
                if let Some(p) = prune.get_mut((pc as i64 + off + 1) as usize) {
                    *p = true;
                }
                if matches!(ins, Instr::Jcond { .. }) {
                    if let Some(p) = prune.get_mut(pc + 1) {
                        *p = true;
                    }
                }
            }
            if matches!(ins, Instr::CallLocal { .. }) {
                if let Some(p) = prune.get_mut(pc + 1) {
                    *p = true;
                }
            }
        }
        Walk {
            prog,
            ty,
            helpers,
            maps,
            opts,
            prune,
            stored: vec![0; n],
            done: vec![Vec::new(); n],
            by_hash: HashMap::new(),
            checkpoints: Vec::new(),
            processed: 0,
            next_id: 1,
            facts: vec![InsnFacts::default(); n],
            stack_depth: vec![0; prog.functions().len()],
            log,
            last_line: None,
        }
    }

    fn fail(&mut self, pc: usize, reason: Reason) -> VerifyError {
        let mut e = VerifyError::new(pc, reason);
        if let Some(log) = &mut self.log {
            log.push(format!("{pc}: error: {}", e.reason));
            e.log = log.text();
        }
        e
    }

    fn log_insn(&mut self, pc: usize, st: &State) {
        let Some(log) = &mut self.log else { return };
        if let Some(f) = &self.opts.line_info {
            if let Some(line) = f(pc) {
                if self.last_line.as_ref() != Some(&line) {
                    log.push(format!("; {line}"));
                    self.last_line = Some(line);
                }
            }
        }
        let text = format_instr(&self.prog.instrs()[pc]).unwrap_or_default();
        log.push(format!("{pc}: {text:<32} ; {st}"));
    }

    /// Runs the whole verification.
    pub fn run(mut self) -> Result<Verified, VerifyError> {
        self.check_reachable()?;
        let init = self.entry_state();
        if let Some(log) = &mut self.log {
            log.push(format!("entry: {init}"));
        }
        let mut pending: Vec<Pending> = Vec::new();
        let mut cur = Pending {
            pc: 0,
            from: 0,
            state: init,
            parent: None,
            log_mark: 0,
        };
        loop {
            let end = self.path(cur.pc, cur.state, cur.parent, &mut pending)?;
            self.complete(end);
            let Some(next) = pending.pop() else { break };
            if let Some(log) = &mut self.log {
                log.rewind(next.log_mark);
                log.push(format!("from {} to {}: {}", next.from, next.pc, next.state));
            }
            cur = next;
        }
        self.check_stack_depth()?;
        let log = self.log.as_ref().map(PathLog::text).unwrap_or_default();
        Ok(Verified {
            processed: self.processed,
            checkpoints: self.checkpoints.len(),
            stack_depth: self.stack_depth,
            facts: self.facts,
            log,
        })
    }

    fn entry_state(&self) -> State {
        let mut st = State::entry();
        let regs = &mut st.cur_mut().regs;
        match &self.ty.context {
            Context::Table { .. } | Context::Record { .. } => regs[1] = Reg::ptr(PtrKind::Ctx, 0),
            Context::Mem { size } => {
                regs[1] = if *size == 0 {
                    Reg::constant(0)
                } else {
                    Reg::ptr(PtrKind::Mem { size: *size }, 0)
                };
                regs[2] = Reg::constant(*size);
            }
        }
        st
    }

    /// Every instruction must be reachable in the control-flow graph.
    fn check_reachable(&mut self) -> Result<(), VerifyError> {
        let ins = self.prog.instrs();
        let n = ins.len();
        let mut seen = vec![false; n];
        let mut work = vec![0usize];
        while let Some(pc) = work.pop() {
            if pc >= n || seen[pc] {
                continue;
            }
            seen[pc] = true;
            match ins[pc] {
                Instr::Exit => {}
                Instr::Ja { off, .. } => work.push((pc as i64 + i64::from(off) + 1) as usize),
                Instr::Jcond { off, .. } => {
                    work.push(pc + 1);
                    work.push((pc as i64 + i64::from(off) + 1) as usize);
                }
                Instr::CallLocal { off } => {
                    work.push(pc + 1);
                    work.push((pc as i64 + i64::from(off) + 1) as usize);
                }
                Instr::LdImm64 { .. } => work.push(pc + 2),
                _ => work.push(pc + 1),
            }
        }
        for pc in 0..n {
            if !seen[pc] && !matches!(ins[pc], Instr::LdImm64Hi) {
                return Err(self.fail(pc, Reason::Unreachable));
            }
        }
        Ok(())
    }

    /// Marks one path finished below checkpoint `id`, completing ancestors that are done.
    fn complete(&mut self, mut id: Option<usize>) {
        while let Some(i) = id {
            let cp = &mut self.checkpoints[i];
            cp.branches = cp.branches.saturating_sub(1);
            if cp.branches > 0 {
                return;
            }
            let pc = cp.pc;
            id = cp.parent;
            self.done[pc].push(i);
        }
    }

    /// At a prune point: `None` if an explored state covers `st`, else the checkpoint the
    /// path continues under (a new one, or `parent` when none is stored).
    fn visit(
        &mut self,
        pc: usize,
        st: &State,
        parent: Option<usize>,
    ) -> Result<Option<Option<usize>>, VerifyError> {
        for &i in self.done[pc].iter().rev().take(MAX_COMPARED) {
            if st.included_in(&self.checkpoints[i].state) {
                if let Some(log) = &mut self.log {
                    log.push(format!("{pc}: safe (covered by an explored state)"));
                }
                return Ok(None);
            }
        }
        let mut h = DefaultHasher::new();
        st.hash(&mut h);
        let key = (pc, h.finish());
        if let Some(ids) = self.by_hash.get(&key) {
            if ids
                .iter()
                .any(|&i| self.checkpoints[i].branches > 0 && self.checkpoints[i].state == *st)
            {
                return Err(self.fail(pc, Reason::InfiniteLoop));
            }
        }
        if self.stored[pc] as usize >= MAX_STATES_PER_PC {
            return Ok(Some(parent));
        }
        self.stored[pc] += 1;
        let id = self.checkpoints.len();
        self.checkpoints.push(Checkpoint {
            pc,
            state: st.clone(),
            parent,
            branches: 1,
        });
        self.by_hash.entry(key).or_default().push(id);
        Ok(Some(Some(id)))
    }

    /// Follows one path until it exits or is pruned; returns its last checkpoint.
    fn path(
        &mut self,
        mut pc: usize,
        mut st: State,
        mut parent: Option<usize>,
        pending: &mut Vec<Pending>,
    ) -> Result<Option<usize>, VerifyError> {
        loop {
            if self.prune[pc] {
                match self.visit(pc, &st, parent)? {
                    None => return Ok(parent),
                    Some(p) => parent = p,
                }
            }
            self.processed += 1;
            if self.processed > self.opts.max_processed {
                let limit = self.opts.max_processed;
                return Err(self.fail(pc, Reason::TooComplex { limit }));
            }
            self.facts[pc].reached = true;
            let before = self.log.as_ref().map(|_| st.clone());
            let step = match self.step(pc, &mut st) {
                Ok(s) => s,
                Err(r) => {
                    if let Some(b) = before {
                        self.log_insn(pc, &b);
                    }
                    return Err(self.fail(pc, r));
                }
            };
            if self.log.is_some() {
                self.log_insn(pc, &st);
            }
            match step {
                Step::Next(n) => pc = n,
                Step::Branch {
                    target,
                    taken,
                    fall,
                } => match (taken, fall) {
                    (Some(t), Some(f)) => {
                        if let Some(p) = parent {
                            self.checkpoints[p].branches += 1;
                        }
                        let log_mark = self.log.as_ref().map_or(0, PathLog::mark);
                        pending.push(Pending {
                            pc: target,
                            from: pc,
                            state: t,
                            parent,
                            log_mark,
                        });
                        st = f;
                        pc += 1;
                    }
                    (Some(t), None) => {
                        st = t;
                        pc = target;
                    }
                    (None, Some(f)) => {
                        st = f;
                        pc += 1;
                    }
                    (None, None) => return Ok(parent),
                },
                Step::Exit => {
                    if st.frames.len() == 1 {
                        return Ok(parent);
                    }
                    pc = self
                        .return_from_call(&mut st)
                        .map_err(|r| self.fail(pc, r))?;
                }
            }
        }
    }

    fn read(&self, st: &State, r: u8) -> Result<Reg, Reason> {
        match st.cur().regs[r as usize] {
            Reg::Uninit => Err(Reason::UninitRegister { reg: r }),
            v => Ok(v),
        }
    }

    fn set(st: &mut State, r: u8, v: Reg) {
        st.cur_mut().regs[r as usize] = v;
    }

    /// The transfer function of one instruction.
    fn step(&mut self, pc: usize, st: &mut State) -> Result<Step, Reason> {
        let ins = self.prog.instrs()[pc];
        match ins {
            Instr::Alu { w, op, dst, src } => {
                self.alu(pc, st, w, op, dst, src)?;
                Ok(Step::Next(pc + 1))
            }
            Instr::Neg { w, dst } => {
                let a = self.scalar_operand(st, dst, "negation")?;
                Self::set(st, dst, Reg::Scalar(bounds::neg(&a, w == Width::W32)));
                Ok(Step::Next(pc + 1))
            }
            Instr::MovSx { w, dst, src, bits } => {
                let a = self.scalar_operand(st, src, "sign extension")?;
                Self::set(
                    st,
                    dst,
                    Reg::Scalar(bounds::movsx(&a, bits, w == Width::W32)),
                );
                Ok(Step::Next(pc + 1))
            }
            Instr::End { kind, bits, dst } => {
                let a = self.scalar_operand(st, dst, "byte swap")?;
                Self::set(st, dst, Reg::Scalar(bounds::endian(&a, kind, bits)));
                Ok(Step::Next(pc + 1))
            }
            Instr::LdImm64 { dst, kind, imm } => {
                let v = self.lddw(kind, imm)?;
                Self::set(st, dst, v);
                Ok(Step::Next(pc + 2))
            }
            Instr::LdImm64Hi => Err(Reason::Unreachable),
            Instr::Load {
                size,
                sx,
                dst,
                base,
                off,
            } => {
                let v = self.mem_access(st, base, off, size, Access::Read { sx })?;
                Self::set(st, dst, v);
                Ok(Step::Next(pc + 1))
            }
            Instr::Store {
                size,
                base,
                off,
                src,
            } => {
                let v = match src {
                    Src::Imm(i) => imm_scalar(i),
                    Src::Reg(r) => self.read(st, r)?,
                };
                self.mem_access(st, base, off, size, Access::Write(v))?;
                Ok(Step::Next(pc + 1))
            }
            Instr::Atomic {
                size,
                op,
                fetch,
                base,
                off,
                src,
            } => {
                if !matches!(self.read(st, src)?, Reg::Scalar(_)) {
                    return Err(Reason::PointerLeak {
                        what: "a pointer is the operand of an atomic operation",
                    });
                }
                if op == AtomicOp::Cmpxchg && !matches!(self.read(st, 0)?, Reg::Scalar(_)) {
                    return Err(Reason::PointerLeak {
                        what: "a pointer in r0 is compared by cmpxchg",
                    });
                }
                self.mem_access(st, base, off, size, Access::Atomic)?;
                let old = Reg::Scalar(Scalar::of_size(size.bytes()));
                match op {
                    AtomicOp::Cmpxchg => Self::set(st, 0, old),
                    AtomicOp::Xchg => Self::set(st, src, old),
                    _ if fetch => Self::set(st, src, old),
                    _ => {}
                }
                Ok(Step::Next(pc + 1))
            }
            Instr::Ja { off, .. } => Ok(Step::Next((pc as i64 + i64::from(off) + 1) as usize)),
            Instr::Jcond {
                w,
                cond,
                dst,
                src,
                off,
            } => {
                let target = (pc as i64 + i64::from(off) + 1) as usize;
                let (taken, fall) = self.branch(st, w, cond, dst, src)?;
                Ok(Step::Branch {
                    target,
                    taken,
                    fall,
                })
            }
            Instr::CallHelper { id } => {
                self.call_helper(st, u64::from(id))?;
                Ok(Step::Next(pc + 1))
            }
            Instr::Callx { reg } => {
                let id = match self.read(st, reg)? {
                    Reg::Scalar(s) => s.as_const().ok_or(Reason::HelperArg {
                        helper: "callx",
                        arg: reg,
                        detail: "the helper id must be a known constant".into(),
                    })?,
                    Reg::Ptr(_) | Reg::Uninit => {
                        return Err(Reason::PointerLeak {
                            what: "callx through a pointer",
                        })
                    }
                };
                self.call_helper(st, id)?;
                Ok(Step::Next(pc + 1))
            }
            Instr::CallLocal { off } => {
                let target = (pc as i64 + i64::from(off) + 1) as usize;
                if st.frames.len() >= MAX_CALL_FRAMES {
                    return Err(Reason::Program(crate::ProgramError::CallsTooDeep(target)));
                }
                let depth = st.frames.len() as u8;
                let mut fr = Frame::new(depth, self.prog.function_of(target), Some(pc));
                fr.regs[1..=5].copy_from_slice(&st.cur().regs[1..=5]);
                st.frames.push(fr);
                Ok(Step::Next(target))
            }
            Instr::Exit => {
                // As Linux 6.1: r0 must be set at the main program's exit only. A subprogram
                // may return nothing (a `void` function); its caller then cannot read r0.
                if st.frames.len() > 1 {
                    return Ok(Step::Exit);
                }
                let r0 = self.read(st, 0)?;
                if st.frames.len() == 1 {
                    if let Some(&id) = st.refs.first() {
                        return Err(Reason::UnreleasedRecord { id });
                    }
                }
                if st.frames.len() == 1 && !matches!(r0, Reg::Scalar(_)) {
                    return Err(Reason::PointerLeak {
                        what:
                            "r0 holds a pointer at program exit (the return value must be a scalar)",
                    });
                }
                Ok(Step::Exit)
            }
        }
    }

    /// The combined stack of the deepest call chain must fit in 512 bytes.
    fn check_stack_depth(&mut self) -> Result<(), VerifyError> {
        let funcs = self.prog.functions();
        let round = |d: u32| u64::from(d.div_ceil(8) * 8);
        // Deepest total from each function, computed callees first (no recursion: checked).
        let nf = funcs.len();
        let mut total: Vec<Option<(u64, Option<usize>)>> = vec![None; nf];
        fn deepest<E>(
            w: &Walk<'_, E>,
            f: usize,
            total: &mut Vec<Option<(u64, Option<usize>)>>,
            round: &dyn Fn(u32) -> u64,
        ) -> u64 {
            if let Some((t, _)) = total[f] {
                return t;
            }
            let fun = w.prog.functions()[f];
            let mut best = (0u64, None);
            for pc in fun.start..fun.end {
                if let Instr::CallLocal { off } = w.prog.instrs()[pc] {
                    let t = (pc as i64 + i64::from(off) + 1) as usize;
                    let d = deepest(w, w.prog.function_of(t), total, round);
                    if best.1.is_none() || d > best.0 {
                        best = (d, Some(pc));
                    }
                }
            }
            let t = round(w.stack_depth[f]) + best.0;
            total[f] = Some((t, best.1));
            t
        }
        let t = deepest(self, 0, &mut total, &round);
        if t as usize > STACK_SIZE {
            // Name the call at which the chain first exceeds the limit.
            let (mut f, mut acc, mut pc) = (0usize, 0u64, 0usize);
            loop {
                acc += round(self.stack_depth[f]);
                if acc as usize > STACK_SIZE {
                    break;
                }
                match total[f].and_then(|(_, c)| c) {
                    Some(c) => {
                        pc = c;
                        if let Instr::CallLocal { off } = self.prog.instrs()[c] {
                            f = self
                                .prog
                                .function_of((c as i64 + i64::from(off) + 1) as usize);
                        }
                    }
                    None => break,
                }
            }
            return Err(self.fail(pc, Reason::StackTooDeep { depth: t }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::printf_conversion_chars;

    #[test]
    fn printf_conversions_follow_the_kernels_rules() {
        let n = |f: &str| printf_conversion_chars(f.as_bytes()).len();
        assert_eq!(n("no conversions\n"), 0);
        assert_eq!(n("100%% sure"), 0);
        assert_eq!(n("%d %i %u %x %X"), 5);
        assert_eq!(n("%ld %lld %llu %lx"), 4);
        assert_eq!(n("%p %pK %pS %s %c"), 5);
        assert_eq!(n("%-08llu|%+5d|% x"), 3);
        assert_eq!(n("%%%u"), 1);
        // A lone '%' at the end reads nothing (the helper refuses the format).
        assert_eq!(n("50%"), 0);
    }
}
