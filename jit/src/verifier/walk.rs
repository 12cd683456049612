//! The path-sensitive walk: every instruction's transfer function, branch exploration with
//! pruning at checkpoints, helper and bpf-to-bpf calls, and the checks done after the walk
//! (reachability before, combined stack depth after).

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
            Context::Table { .. } => regs[1] = Reg::ptr(PtrKind::Ctx, 0),
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

    fn scalar_operand(&self, st: &State, r: u8, what: &str) -> Result<Scalar, Reason> {
        match self.read(st, r)? {
            Reg::Scalar(s) => Ok(s),
            _ => Err(Reason::PointerArith {
                reg: r,
                detail: format!("{what} of a pointer"),
            }),
        }
    }

    fn alu(
        &mut self,
        pc: usize,
        st: &mut State,
        w: Width,
        op: AluOp,
        dst: u8,
        src: Src,
    ) -> Result<(), Reason> {
        let is_div = matches!(op, AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod);
        if is_div && src == Src::Imm(0) {
            return Err(Reason::DivByZero);
        }
        let b = match src {
            Src::Imm(i) => imm_scalar(i),
            Src::Reg(r) => self.read(st, r)?,
        };
        let src_reg = match src {
            Src::Reg(r) => r,
            Src::Imm(_) => dst,
        };
        if op == AluOp::Mov {
            let v = match (w, b) {
                (Width::W64, v) => v,
                (Width::W32, Reg::Scalar(s)) => Reg::Scalar(bounds::alu32(op, &s, &s)),
                (Width::W32, _) => {
                    return Err(Reason::PointerArith {
                        reg: src_reg,
                        detail: "32-bit move of a pointer".into(),
                    })
                }
            };
            Self::set(st, dst, v);
            return Ok(());
        }
        let a = self.read(st, dst)?;
        let out = match (a, b) {
            (Reg::Scalar(x), Reg::Scalar(y)) => {
                if is_div {
                    let may_zero = match w {
                        Width::W64 => y.umin == 0,
                        Width::W32 => y.u32_min == 0,
                    };
                    self.facts[pc].divisor_may_be_zero |= may_zero;
                }
                Reg::Scalar(match w {
                    Width::W64 => bounds::alu64(op, &x, &y),
                    Width::W32 => bounds::alu32(op, &x, &y),
                })
            }
            (Reg::Ptr(p), Reg::Scalar(y)) if w == Width::W64 => self.ptr_add(dst, p, op, &y)?,
            (Reg::Scalar(x), Reg::Ptr(p)) if w == Width::W64 && op == AluOp::Add => {
                self.ptr_add(src_reg, p, op, &x)?
            }
            (Reg::Ptr(p), Reg::Ptr(q)) if w == Width::W64 && op == AluOp::Sub => {
                if p.kind != q.kind || p.kind.maybe_null() {
                    return Err(Reason::PointerArith {
                        reg: dst,
                        detail: "subtraction of pointers to different objects".into(),
                    });
                }
                Reg::Scalar(bounds::alu64(AluOp::Sub, &p.off, &q.off))
            }
            _ => {
                return Err(Reason::PointerArith {
                    reg: if matches!(a, Reg::Ptr(_)) {
                        dst
                    } else {
                        src_reg
                    },
                    detail: format!(
                        "{}{} with a pointer operand",
                        op.mnemonic(),
                        if w == Width::W32 { "32" } else { "" }
                    ),
                })
            }
        };
        Self::set(st, dst, out);
        Ok(())
    }

    fn ptr_add(&self, reg: u8, p: Ptr, op: AluOp, y: &Scalar) -> Result<Reg, Reason> {
        if !matches!(op, AluOp::Add | AluOp::Sub) {
            return Err(Reason::PointerArith {
                reg,
                detail: format!("{} on a pointer (only add and sub)", op.mnemonic()),
            });
        }
        match p.kind {
            PtrKind::Map { .. } => {
                return Err(Reason::PointerArith {
                    reg,
                    detail: "arithmetic on a map reference".into(),
                })
            }
            PtrKind::MapValueOrNull { .. } | PtrKind::RingbufOrNull { .. } => {
                return Err(Reason::PointerArith {
                    reg,
                    detail: "arithmetic on a possibly NULL pointer (check it first)".into(),
                })
            }
            _ => {}
        }
        if y.smin < -MAX_PTR_OFF || y.smax > MAX_PTR_OFF {
            return Err(Reason::PointerArith {
                reg,
                detail: format!("the offset {y} is not bounded (it must stay within ±2^29)"),
            });
        }
        let off = bounds::alu64(op, &p.off, y);
        if off.smin < -MAX_PTR_OFF || off.smax > MAX_PTR_OFF {
            return Err(Reason::PointerArith {
                reg,
                detail: format!("the resulting offset {off} is not bounded"),
            });
        }
        Ok(Reg::Ptr(Ptr { kind: p.kind, off }))
    }

    fn lddw(&self, kind: LdImmKind, imm: u64) -> Result<Reg, Reason> {
        let idx = imm as u32;
        let map = |idx: u32| {
            self.maps.get(idx as usize).ok_or_else(|| Reason::Lddw {
                detail: format!(
                    "map {idx} is not in the map table ({} maps)",
                    self.maps.len()
                ),
            })
        };
        match kind {
            LdImmKind::Imm64 => Ok(Reg::constant(imm)),
            LdImmKind::MapFd | LdImmKind::MapIdx => {
                map(idx)?;
                Ok(Reg::ptr(PtrKind::Map { map: idx }, 0))
            }
            LdImmKind::MapValue | LdImmKind::MapIdxValue => {
                let m = map(idx)?;
                let off = imm >> 32;
                if !m.kind.has_values() || off >= u64::from(m.value_size) {
                    return Err(Reason::Lddw {
                        detail: format!(
                            "offset {off} is outside the value of map {idx} '{}' ({} bytes)",
                            m.name, m.value_size
                        ),
                    });
                }
                Ok(Reg::ptr(PtrKind::MapValue { map: idx }, off as i64))
            }
            LdImmKind::BtfId | LdImmKind::Func => Err(Reason::Lddw {
                detail: format!("the {} form is not supported", kind.keyword()),
            }),
        }
    }

    fn value_limit(&self, kind: PtrKind) -> u64 {
        match kind {
            PtrKind::MapValue { map } => self
                .maps
                .get(map as usize)
                .map_or(0, |m| u64::from(m.value_size)),
            PtrKind::Mem { size } | PtrKind::Ringbuf { size, .. } => size,
            _ => 0,
        }
    }

    /// Whether map `map` is flagged read-only for programs (`.rodata`).
    fn read_only_map(&self, map: u32) -> bool {
        self.maps
            .get(map as usize)
            .is_some_and(|m| m.flags & BPF_F_RDONLY_PROG != 0)
    }

    /// Programs may not write a read-only map's values (so its contents stay the constants
    /// the verifier may have read, e.g. a `bpf_trace_printk` format).
    fn check_writable(&self, kind: PtrKind) -> Result<(), Reason> {
        match kind {
            PtrKind::MapValue { map } if self.read_only_map(map) => Err(Reason::ReadOnlyMap {
                region: ptr_region(kind, self.maps),
            }),
            _ => Ok(()),
        }
    }

    /// Checks `[p + extra, p + extra + size)` against a bounded object (map value, memory).
    fn check_bounds(&self, p: &Ptr, extra: i64, size: u64) -> Result<(), Reason> {
        let limit = self.value_limit(p.kind) as i64;
        let lo = p.off.smin + extra;
        let hi = p.off.smax + extra;
        if lo < 0 || hi + size as i64 > limit {
            return Err(Reason::OutOfBounds {
                region: ptr_region(p.kind, self.maps),
                off_min: lo,
                off_max: hi,
                size: size as usize,
            });
        }
        Ok(())
    }

    /// The constant frame offset of a stack access, checked against the frame.
    fn stack_off(
        &mut self,
        st: &State,
        reg: u8,
        p: &Ptr,
        extra: i64,
        size: u64,
    ) -> Result<(u8, i64), Reason> {
        let PtrKind::Stack { frame } = p.kind else {
            return Err(Reason::NotAPointer {
                reg,
                what: "not a stack pointer".into(),
            });
        };
        let base = p
            .off
            .as_const()
            .ok_or(Reason::VariableStackOffset { reg })? as i64;
        let off = base + extra;
        if off < -FRAME_BYTES || off + size as i64 > 0 || size as usize > STACK_SIZE {
            return Err(Reason::OutOfBounds {
                region: ptr_region(p.kind, self.maps),
                off_min: off,
                off_max: off,
                size: size as usize,
            });
        }
        let func = st.frames[frame as usize].func;
        self.stack_depth[func] = self.stack_depth[func].max((-off) as u32);
        Ok((frame, off))
    }

    fn mem_access(
        &mut self,
        st: &mut State,
        base: u8,
        off: i16,
        size: Size,
        acc: Access,
    ) -> Result<Reg, Reason> {
        let n = size.bytes();
        let p = match self.read(st, base)? {
            Reg::Ptr(p) => p,
            Reg::Scalar(_) => {
                return Err(Reason::NotAPointer {
                    reg: base,
                    what: "a scalar".into(),
                })
            }
            Reg::Uninit => return Err(Reason::UninitRegister { reg: base }),
        };
        let extra = i64::from(off);
        let scalar_of = |sx: bool| {
            Reg::Scalar(if sx {
                Scalar::of_size_signed(n)
            } else {
                Scalar::of_size(n)
            })
        };
        match p.kind {
            PtrKind::MapValueOrNull { .. } | PtrKind::RingbufOrNull { .. } => {
                Err(Reason::NullDeref { reg: base })
            }
            PtrKind::Map { .. } => Err(Reason::NotAPointer {
                reg: base,
                what: "a map reference (use a helper to reach its values)".into(),
            }),
            PtrKind::Ctx => {
                let Access::Read { sx } = acc else {
                    return Err(Reason::ContextWrite);
                };
                let Some(b) = p.off.as_const() else {
                    return Err(Reason::ContextAccess {
                        off: p.off.smin + extra,
                        size: n,
                        detail: "the offset must be a constant",
                    });
                };
                let o = b as i64 + extra;
                if self.ty.ctx_field(o, n).is_none() {
                    return Err(Reason::ContextAccess {
                        off: o,
                        size: n,
                        detail: "not a readable field of the context",
                    });
                }
                Ok(scalar_of(sx))
            }
            PtrKind::Stack { .. } => {
                let (frame, o) = self.stack_off(st, base, &p, extra, n as u64)?;
                let fr = &mut st.frames[frame as usize];
                match acc {
                    Access::Read { sx } => fr.stack_read(o, n, sx),
                    Access::Write(v) => {
                        fr.stack_write(o, n, &v)?;
                        Ok(Reg::Uninit)
                    }
                    Access::Atomic => {
                        fr.stack_check_init(o, n)?;
                        fr.stack_clobber(o, n);
                        Ok(Reg::Uninit)
                    }
                }
            }
            PtrKind::MapValue { .. } | PtrKind::Mem { .. } | PtrKind::Ringbuf { .. } => {
                self.check_bounds(&p, extra, n as u64)?;
                if !matches!(acc, Access::Read { .. }) {
                    self.check_writable(p.kind)?;
                }
                match acc {
                    Access::Read { sx } => Ok(scalar_of(sx)),
                    Access::Write(Reg::Ptr(_)) => Err(Reason::PointerLeak {
                        what: "a pointer is stored into a map value or memory region",
                    }),
                    Access::Write(_) | Access::Atomic => Ok(Reg::Uninit),
                }
            }
        }
    }

    /// Both edges of a conditional jump: `(taken, fall-through)`, `None` for an impossible one.
    fn branch(
        &self,
        st: &State,
        w: Width,
        cond: crate::instr::Cond,
        dst: u8,
        src: Src,
    ) -> Result<(Option<State>, Option<State>), Reason> {
        use crate::instr::Cond;
        let a = self.read(st, dst)?;
        let b = match src {
            Src::Imm(i) => imm_scalar(i),
            Src::Reg(r) => self.read(st, r)?,
        };
        match (a, b) {
            (Reg::Scalar(x), Reg::Scalar(y)) => {
                let edge = |taken: bool| -> Option<State> {
                    let (rel, swap) = relation(cond, taken);
                    let f = if w == Width::W32 { assume32 } else { assume64 };
                    let (nx, ny) = if swap {
                        let (ny, nx) = f(rel, &y, &x)?;
                        (nx, ny)
                    } else {
                        f(rel, &x, &y)?
                    };
                    let mut s = st.clone();
                    if let Src::Reg(r) = src {
                        Self::set(&mut s, r, Reg::Scalar(ny));
                    }
                    Self::set(&mut s, dst, Reg::Scalar(nx));
                    Some(s)
                };
                Ok((edge(true), edge(false)))
            }
            (Reg::Ptr(p), Reg::Scalar(y)) | (Reg::Scalar(y), Reg::Ptr(p))
                if w == Width::W64 && matches!(cond, Cond::Eq | Cond::Ne) && y.is_const(0) =>
            {
                let (is_null, not_null) = match p.kind {
                    PtrKind::MapValueOrNull { map, id } => {
                        let refine = |null: bool| {
                            let mut s = st.clone();
                            s.for_each_reg(|r| {
                                if let Reg::Ptr(q) = r {
                                    if q.kind == p.kind {
                                        *r = if null {
                                            Reg::constant(0)
                                        } else {
                                            Reg::Ptr(Ptr {
                                                kind: PtrKind::MapValue { map },
                                                off: q.off,
                                            })
                                        };
                                    }
                                }
                            });
                            let _ = id;
                            s
                        };
                        (Some(refine(true)), Some(refine(false)))
                    }
                    PtrKind::RingbufOrNull { size, id } => {
                        let refine = |null: bool| {
                            let mut s = st.clone();
                            s.for_each_reg(|r| {
                                if let Reg::Ptr(q) = r {
                                    if q.kind == p.kind {
                                        *r = if null {
                                            Reg::constant(0)
                                        } else {
                                            Reg::Ptr(Ptr {
                                                kind: PtrKind::Ringbuf { size, id },
                                                off: q.off,
                                            })
                                        };
                                    }
                                }
                            });
                            // A NULL reservation holds nothing to release.
                            if null {
                                s.refs.retain(|&r| r != id);
                            }
                            s
                        };
                        (Some(refine(true)), Some(refine(false)))
                    }
                    _ => (None, Some(st.clone())),
                };
                Ok(if cond == Cond::Eq {
                    (is_null, not_null)
                } else {
                    (not_null, is_null)
                })
            }
            (Reg::Ptr(p), Reg::Ptr(q)) => {
                if p.kind != q.kind || p.kind.maybe_null() {
                    return Err(Reason::PointerCompare {
                        detail: "the pointers point to different kinds of object",
                    });
                }
                Ok((Some(st.clone()), Some(st.clone())))
            }
            _ => Err(Reason::PointerCompare {
                detail: "a pointer compared with a scalar other than a 64-bit NULL check leaks its value",
            }),
        }
    }

    fn return_from_call(&self, st: &mut State) -> Result<usize, Reason> {
        let depth = (st.frames.len() - 1) as u8;
        let callee = st.frames.pop().ok_or(Reason::Unreachable)?;
        let r0 = callee.regs[0];
        if matches!(r0, Reg::Ptr(Ptr { kind: PtrKind::Stack { frame }, .. }) if frame == depth) {
            return Err(Reason::ReturnStackPointer);
        }
        // Pointers into the popped frame die with it.
        st.for_each_reg(|r| {
            if matches!(r, Reg::Ptr(Ptr { kind: PtrKind::Stack { frame }, .. }) if *frame >= depth)
            {
                *r = Reg::Uninit;
            }
        });
        let fr = st.cur_mut();
        fr.regs[0] = r0;
        for r in &mut fr.regs[1..=5] {
            *r = Reg::Uninit;
        }
        Ok(callee.callsite.unwrap_or(0) + 1)
    }

    fn call_helper(&mut self, st: &mut State, id: u64) -> Result<(), Reason> {
        let entry = u32::try_from(id)
            .ok()
            .and_then(|i| self.helpers.get(i))
            .ok_or(Reason::UnknownHelper { id })?;
        let (hid, proto) = (entry.id, entry.proto);
        if !self.ty.allows_helper(hid) {
            return Err(Reason::HelperNotAllowed {
                id: hid,
                name: proto.name,
                prog_type: self.ty.name.clone(),
            });
        }
        let mut map: Option<u32> = None;
        let mut alloc: Option<u64> = None;
        let mut release: Option<u32> = None;
        let mut i = 0usize;
        while i < 5 {
            let r = (i + 1) as u8;
            let arg = proto.args[i];
            let bad = |detail: String| Reason::HelperArg {
                helper: proto.name,
                arg: r,
                detail,
            };
            match arg {
                Arg::Unused => {}
                Arg::Anything => {
                    self.read(st, r)?;
                }
                Arg::Scalar | Arg::Size | Arg::SizeOrZero => {
                    if !matches!(self.read(st, r)?, Reg::Scalar(_)) {
                        return Err(Reason::PointerLeak {
                            what: "a pointer is passed to a helper as a scalar argument",
                        });
                    }
                }
                Arg::AllocSize => match self.read(st, r)? {
                    Reg::Scalar(sz) => match sz.as_const() {
                        Some(n) if n > 0 && n <= MAX_PTR_OFF as u64 => alloc = Some(n),
                        _ => return Err(bad(format!("the size {sz} must be a positive constant"))),
                    },
                    _ => {
                        return Err(Reason::PointerLeak {
                            what: "a pointer is passed to a helper as a size",
                        })
                    }
                },
                Arg::RingbufRecord => match self.read(st, r)? {
                    Reg::Ptr(Ptr {
                        kind: PtrKind::Ringbuf { id, .. },
                        off,
                    }) if off.is_const(0) => release = Some(id),
                    Reg::Ptr(Ptr {
                        kind: PtrKind::RingbufOrNull { .. },
                        ..
                    }) => return Err(Reason::NullDeref { reg: r }),
                    v => {
                        return Err(bad(format!(
                            "expected a ring-buffer record from bpf_ringbuf_reserve (at its start), got {v}"
                        )))
                    }
                },
                Arg::Ctx => match self.read(st, r)? {
                    Reg::Ptr(Ptr {
                        kind: PtrKind::Ctx,
                        off,
                    }) if off.is_const(0) => {}
                    v => return Err(bad(format!("expected the context pointer, got {v}"))),
                },
                Arg::Map => match self.read(st, r)? {
                    Reg::Ptr(Ptr {
                        kind: PtrKind::Map { map: m },
                        ..
                    }) => map = Some(m),
                    v => return Err(bad(format!("expected a map reference, got {v}"))),
                },
                Arg::MapKey | Arg::MapValue => {
                    let m = map
                        .and_then(|m| self.maps.get(m as usize))
                        .ok_or_else(|| bad("no map argument precedes it".into()))?;
                    let size = if arg == Arg::MapKey {
                        m.key_size
                    } else {
                        m.value_size
                    };
                    let size = u64::from(size);
                    if arg == Arg::MapValue && map.is_some_and(|m| self.read_only_map(m)) {
                        return Err(Reason::ReadOnlyMap {
                            region: ptr_region(PtrKind::MapValue { map: map.unwrap_or(0) }, self.maps),
                        });
                    }
                    self.helper_mem(st, r, proto, size, size, false)?;
                }
                Arg::MemRead | Arg::MemWrite => {
                    let size_arg = proto.args.get(i + 1).copied();
                    if !matches!(size_arg, Some(Arg::Size | Arg::SizeOrZero)) {
                        return Err(bad("a memory argument without a size argument".into()));
                    }
                    let sr = r + 1;
                    let sz = match self.read(st, sr)? {
                        Reg::Scalar(s) => s,
                        _ => {
                            return Err(Reason::PointerLeak {
                                what: "a pointer is passed to a helper as a size",
                            })
                        }
                    };
                    if size_arg == Some(Arg::Size) && sz.umin == 0 {
                        return Err(Reason::HelperArg {
                            helper: proto.name,
                            arg: sr,
                            detail: format!("the size {sz} may be zero"),
                        });
                    }
                    if sz.umax > MAX_PTR_OFF as u64 {
                        return Err(Reason::HelperArg {
                            helper: proto.name,
                            arg: sr,
                            detail: format!("the size {sz} is not bounded"),
                        });
                    }
                    self.helper_mem(st, r, proto, sz.umin, sz.umax, arg == Arg::MemWrite)?;
                    i += 1;
                }
            }
            i += 1;
        }
        if proto.printf {
            self.check_format_args(st, proto)?;
        }
        if let Some(id) = release {
            // Submitted or discarded: every copy of the record becomes unusable.
            st.refs.retain(|&r| r != id);
            st.for_each_reg(|r| {
                if matches!(r, Reg::Ptr(p) if p.kind.reservation() == Some(id)) {
                    *r = Reg::Uninit;
                }
            });
        }
        let r0 = match proto.ret {
            Ret::Integer | Ret::Void => Reg::Scalar(Scalar::unknown()),
            Ret::RingbufRecordOrNull => {
                let is_ringbuf = map
                    .and_then(|m| self.maps.get(m as usize))
                    .is_some_and(|d| d.kind == crate::maps::MapKind::RingBuf);
                let size = alloc.filter(|_| is_ringbuf).ok_or(Reason::HelperArg {
                    helper: proto.name,
                    arg: 1,
                    detail: "reserves from a ring-buffer map, with a constant size".into(),
                })?;
                let id = self.next_id;
                self.next_id += 1;
                st.refs.push(id);
                st.refs.sort_unstable();
                Reg::ptr(PtrKind::RingbufOrNull { size, id }, 0)
            }
            Ret::MapValueOrNull => {
                let m = map.ok_or(Reason::HelperArg {
                    helper: proto.name,
                    arg: 1,
                    detail: "returns a map value but takes no map".into(),
                })?;
                let has_values = self
                    .maps
                    .get(m as usize)
                    .is_some_and(|d| d.kind.has_values());
                if !has_values {
                    return Err(Reason::HelperArg {
                        helper: proto.name,
                        arg: 1,
                        detail: "this kind of map has no values to look up".into(),
                    });
                }
                let id = self.next_id;
                self.next_id += 1;
                Reg::ptr(PtrKind::MapValueOrNull { map: m, id }, 0)
            }
        };
        let fr = st.cur_mut();
        fr.regs[0] = r0;
        for r in &mut fr.regs[1..=5] {
            *r = Reg::Uninit;
        }
        Ok(())
    }

    /// A printf-style helper ([`Proto::printf`]): every argument register its format in r1
    /// (r2 bytes at most) consumes must be initialised; all of r3-r5 when the format is not
    /// a constant the verifier can read.
    fn check_format_args(&self, st: &State, proto: Proto) -> Result<(), Reason> {
        let uninit = |r: u8| st.cur().regs[r as usize] == Reg::Uninit;
        match self.const_format(st) {
            Ok(fmt) => {
                let convs = printf_conversion_chars(&fmt);
                let n = convs.len().min(3);
                if let Some(reg) = (3..3 + n as u8).find(|&r| uninit(r)) {
                    return Err(Reason::FormatArg {
                        helper: proto.name,
                        format: fmt.escape_ascii().to_string(),
                        reg,
                    });
                }
                // A pointer the program holds is a host address here (its stack, a map
                // value): printing it would put host state into the output. `%s` reads the
                // string it points to instead, which is fine.
                let pointer = (3..3 + n as u8).find(|&r| {
                    matches!(st.cur().regs[r as usize], Reg::Ptr(_))
                        && convs[usize::from(r - 3)] != b's'
                });
                match pointer {
                    Some(reg) => Err(Reason::FormatPointer {
                        helper: proto.name,
                        format: fmt.escape_ascii().to_string(),
                        reg,
                    }),
                    None => Ok(()),
                }
            }
            Err(why) => match (3..=5).find(|&r| uninit(r)) {
                Some(reg) => Err(Reason::FormatUnknown {
                    helper: proto.name,
                    reg,
                    why,
                }),
                None => Ok(()),
            },
        }
    }

    /// The format r1 points to, up to its NUL or r2's largest value, when every byte is known:
    /// a read-only map value whose contents the embedder gave ([`VerifyOptions::map_contents`])
    /// or stack bytes holding constants.
    fn const_format(&self, st: &State) -> Result<Vec<u8>, String> {
        let max = match st.cur().regs[2] {
            Reg::Scalar(s) => s.umax.min(MAX_PTR_OFF as u64) as i64,
            _ => 0,
        };
        let p = match st.cur().regs[1] {
            Reg::Ptr(p) => p,
            _ => return Err("r1 is not a pointer".into()),
        };
        let Some(base) = p.off.as_const().map(|o| o as i64) else {
            return Err("r1 has a variable offset".into());
        };
        let byte: Box<dyn Fn(i64) -> Option<u8>> = match p.kind {
            PtrKind::MapValue { map } => {
                if !self.read_only_map(map) {
                    return Err(format!(
                        "map {map} is not read-only, so its contents may change"
                    ));
                }
                let data = self
                    .opts
                    .map_contents
                    .get(map as usize)
                    .and_then(Option::as_ref)
                    .ok_or_else(|| format!("the contents of read-only map {map} were not given"))?;
                Box::new(move |o| usize::try_from(o).ok().and_then(|o| data.get(o).copied()))
            }
            PtrKind::Stack { frame } => {
                let fr = &st.frames[frame as usize];
                Box::new(move |o| fr.stack_byte(o))
            }
            _ => return Err(format!("r1 points to {}", ptr_region(p.kind, self.maps))),
        };
        let mut fmt = Vec::new();
        for o in base..base + max {
            match byte(o) {
                Some(0) => break,
                Some(b) => fmt.push(b),
                None => return Err(format!("byte {} of the format is not a constant", o - base)),
            }
        }
        Ok(fmt)
    }

    /// A helper's memory argument in `r`: `min..=max` bytes read (initialised) or written.
    fn helper_mem(
        &mut self,
        st: &mut State,
        r: u8,
        proto: Proto,
        min: u64,
        max: u64,
        write: bool,
    ) -> Result<(), Reason> {
        let bad = |detail: String| Reason::HelperArg {
            helper: proto.name,
            arg: r,
            detail,
        };
        let p = match self.read(st, r)? {
            Reg::Ptr(p) => p,
            v => return Err(bad(format!("expected a pointer to memory, got {v}"))),
        };
        match p.kind {
            PtrKind::Stack { .. } => {
                if max == 0 {
                    return Ok(());
                }
                let (frame, o) = self.stack_off(st, r, &p, 0, max)?;
                let fr = &mut st.frames[frame as usize];
                if write {
                    fr.stack_clobber(o, min as usize);
                    fr.stack_maybe_clobber(o, max as usize);
                } else {
                    fr.stack_check_init(o, max as usize)?;
                }
                Ok(())
            }
            PtrKind::MapValue { .. } | PtrKind::Mem { .. } | PtrKind::Ringbuf { .. } => {
                if write {
                    self.check_writable(p.kind)?;
                }
                self.check_bounds(&p, 0, max)
            }
            PtrKind::MapValueOrNull { .. } | PtrKind::RingbufOrNull { .. } => {
                Err(Reason::NullDeref { reg: r })
            }
            PtrKind::Ctx | PtrKind::Map { .. } => Err(bad(format!(
                "expected a pointer to stack, map value or memory, got {p}"
            ))),
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
