//! Translation of a [`Program`] into x86-64 machine code.
//!
//! # Register map
//! BPF registers live in x86 registers chosen, as in Linux's x86 JIT, so that a helper call
//! needs no shuffling (r1-r5 are the System V argument registers) and r6-r9 survive it
//! (callee-saved):
//!
//! | BPF | x86 | why |
//! |-----|-----|-----|
//! | r0  | rax | return value of helpers and of the program |
//! | r1-r5 | rdi, rsi, rdx, rcx, r8 | helper arguments 1-5 |
//! | r6-r9 | rbx, r13, r14, r15 | callee-saved |
//! | r10 | rbp | frame pointer; the 512-byte stack is `[rbp-512, rbp)` |
//! | -   | r12 | the run's frame ([`crate::native::RunFrame`]), helpers' sixth argument via r9 |
//! | -   | r9, r10, r11 | scratch for division, shifts, atomics and calls |
//!
//! # Layout
//! `[entry stub | abort stub | checked-mode stubs | functions...]`. The entry stub saves the
//! host's callee-saved registers, remembers the stack pointer in the frame (so a helper that
//! stops the program can unwind every BPF frame at once through the abort stub), points r10 at
//! the top of the run's BPF stack (a buffer of 8 x 512 bytes, exactly as in the interpreter, so
//! return addresses never share memory with program data), zeroes r0 and r3-r9 as the
//! interpreter does (checked and trusted code alike), and calls the main function. After every
//! helper call r1-r5 are zeroed too: no host value ever reaches a register the program reads. A subprogram saves r6-r9 and r10 and moves
//! r10 down by 512 bytes.
//!
//! # Checked mode
//! For programs nobody has verified, every load, store and atomic first calls a stub that asks
//! [`crate::native::frame::check_access`] whether the access lies in the run's regions, and every
//! backward jump and call spends from an instruction budget, so checked JIT code is as safe as
//! the checked interpreter. Verified programs are compiled without either.
//!
//! # Passes
//! The first pass emits every jump in its long form; later passes use the previous pass's
//! offsets and pick the short form when it fits. Code only shrinks from pass to pass, so the
//! offsets converge; the result is accepted only when a pass reproduces the previous offsets
//! exactly (every displacement was computed against final positions).

use super::encode::*;
use super::JitError;
use crate::helpers::Helpers;
use crate::instr::{AluOp, AtomicOp, Cond, EndKind, Instr, LdImmKind, Size, Src, Width};
use crate::isa::STACK_SIZE;
use crate::native::frame::{abort, check_access, offsets};
use crate::program::Program;

/// BPF register -> x86 register.
const REG_MAP: [Reg; 11] = [RAX, RDI, RSI, RDX, RCX, R8, RBX, R13, R14, R15, RBP];
/// The run's frame.
const FRAME: Reg = R12;
/// Scratch registers (never BPF registers).
const AX: Reg = R11;
const AUX: Reg = R10;
const AUX2: Reg = R9;

/// Entry stub length is fixed; the abort stub follows it.
const MAX_PASSES: usize = 32;

fn r(bpf: u8) -> Reg {
    REG_MAP[usize::from(bpf)]
}

fn width(w: Width) -> Op {
    match w {
        Width::W32 => Op::W,
        Width::W64 => Op::Q,
    }
}

fn size_op(s: Size) -> Op {
    match s {
        Size::B => Op::B,
        Size::H => Op::H,
        Size::W => Op::W,
        Size::DW => Op::Q,
    }
}

/// A helper as compiled code calls it.
#[derive(Clone, Copy)]
struct HelperTarget {
    addr: u64,
    may_abort: bool,
}

/// Offsets of one pass, used by the next.
#[derive(Clone, PartialEq, Eq, Default)]
struct Layout {
    /// Start of each instruction's code (after a function prologue); one extra for the end.
    insn: Vec<usize>,
    /// Start of each function's prologue.
    func: Vec<usize>,
}

/// What the entry stub must provide, from a scan of the program.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Needs {
    /// r6-r9 are used: save the host's rbx, r13-r15.
    pub callee_saved: bool,
    /// Helpers are called (or accesses checked): keep the frame in r12.
    pub frame: bool,
    /// Something may stop the program early: remember the stack pointer to unwind to.
    pub abort: bool,
}

impl Needs {
    fn of(prog: &Program, helpers: &[Option<HelperTarget>], checked: bool) -> Self {
        let callee = |r: u8| (6..=9).contains(&r);
        let src = |s: Src| matches!(s, Src::Reg(r) if callee(r));
        let mut n = Needs {
            callee_saved: false,
            frame: checked,
            abort: checked,
        };
        for (pc, ins) in prog.instrs().iter().enumerate() {
            n.callee_saved |= match *ins {
                Instr::Alu { dst, src: s, .. } => callee(dst) || src(s),
                Instr::Neg { dst, .. } | Instr::End { dst, .. } | Instr::LdImm64 { dst, .. } => {
                    callee(dst)
                }
                Instr::MovSx { dst, src, .. } => callee(dst) || callee(src),
                Instr::Load { dst, base, .. } => callee(dst) || callee(base),
                Instr::Store { base, src: s, .. } => callee(base) || src(s),
                Instr::Atomic { base, src, .. } => callee(base) || callee(src),
                Instr::Jcond { dst, src: s, .. } => callee(dst) || src(s),
                Instr::Callx { reg } => callee(reg),
                _ => false,
            };
            match *ins {
                Instr::CallHelper { .. } => {
                    n.frame = true;
                    n.abort |= helpers
                        .get(pc)
                        .copied()
                        .flatten()
                        .is_some_and(|h| h.may_abort);
                }
                Instr::Callx { .. } => {
                    n.frame = true;
                    n.abort = true;
                }
                _ => {}
            }
        }
        n
    }
}

struct Compiler<'p> {
    prog: &'p Program,
    needs: Needs,
    /// Address of `check_access::<E>` in checked mode.
    checker: Option<u64>,
    check_stub_at: usize,
    budget_stub_at: usize,
    helpers: Vec<Option<HelperTarget>>,
    /// The previous pass's layout.
    prev: Layout,
    /// Whether this pass may use short jumps.
    short_ok: bool,
    asm: Asm,
    abort_at: usize,
}

/// Compiles `prog` against `helpers`, with bounds checks and a budget when `checked`; also says
/// what the code needs from its runs.
pub(crate) fn compile<E>(
    prog: &Program,
    helpers: &Helpers<E>,
    checked: bool,
) -> Result<(Vec<u8>, Needs), JitError> {
    let mut targets = Vec::with_capacity(prog.len());
    for (pc, ins) in prog.instrs().iter().enumerate() {
        targets.push(match *ins {
            Instr::CallHelper { id } => {
                let e = helpers.get(id).ok_or(JitError::UnknownHelper { pc, id })?;
                Some(HelperTarget {
                    addr: e.native as usize as u64,
                    may_abort: e.proto.may_abort,
                })
            }
            Instr::LdImm64 { kind, .. } if kind != LdImmKind::Imm64 => {
                return Err(JitError::UnresolvedPseudo { pc, kind })
            }
            _ => None,
        });
    }
    let checker: crate::native::frame::AccessCheck = check_access::<E>;
    let needs = Needs::of(prog, &targets, checked);
    let mut c = Compiler {
        prog,
        needs,
        checker: checked.then_some(checker as usize as u64),
        check_stub_at: 0,
        budget_stub_at: 0,
        helpers: targets,
        prev: Layout {
            insn: vec![0; prog.len() + 1],
            func: vec![0; prog.functions().len()],
        },
        short_ok: false,
        asm: Asm::new(),
        abort_at: 0,
    };
    for pass in 0..MAX_PASSES {
        let layout = c.pass();
        if pass > 0 && layout == c.prev {
            return Ok((std::mem::take(&mut c.asm.code), needs));
        }
        c.prev = layout;
        c.short_ok = true;
    }
    Err(JitError::NoConvergence(MAX_PASSES))
}

impl Compiler<'_> {
    /// One emission pass over the whole program; returns the offsets it produced.
    fn pass(&mut self) -> Layout {
        self.asm = Asm::new();
        let mut layout = Layout {
            insn: Vec::with_capacity(self.prog.len() + 1),
            func: Vec::with_capacity(self.prog.functions().len()),
        };
        self.entry_stub();
        let funcs = self.prog.functions();
        let mut next_func = 0;
        for (pc, ins) in self.prog.instrs().iter().enumerate() {
            if next_func < funcs.len() && funcs[next_func].start == pc {
                layout.func.push(self.asm.pos());
                self.prologue(next_func != 0);
                next_func += 1;
            }
            layout.insn.push(self.asm.pos());
            self.instr(pc, *ins, next_func - 1 != 0);
        }
        layout.insn.push(self.asm.pos());
        layout
    }

    /// The host-facing entry and the abort stub. Only what the program needs is saved and set
    /// up: r6-r9's host registers if it uses them, the frame register if it calls helpers,
    /// the unwind point if something may abort it; r0 and r3-r9 start at 0 in both modes.
    fn entry_stub(&mut self) {
        let needs = self.needs;
        let a = &mut self.asm;
        let mut saved = vec![RBP];
        if needs.callee_saved {
            saved.extend([RBX, R13, R14, R15]);
        }
        if needs.frame {
            saved.push(R12);
        }
        for &reg in &saved {
            a.push(reg); // push reg (host callee-saved)
        }
        // At entry rsp is 8 mod 16; calls need 0 mod 16.
        let pad = saved.len() % 2 == 0;
        if pad {
            a.alu_ri(Alu::Sub, Op::Q, RSP, 8); // sub rsp, 8
        }
        a.load(Op::Q, false, RBP, mem(RDX, offsets::STACK_TOP)); // mov rbp, [rdx+48] (r10)
        if needs.frame {
            a.alu_rr(Alu::Mov, Op::Q, FRAME, RDX); // mov r12, rdx (the frame)
        }
        if needs.abort {
            a.store_q(mem(FRAME, offsets::SAVED_RSP), RSP); // mov [r12+16], rsp
        }
        // In both modes, so no host value ever reaches a register the program can read (a
        // trusted program never reads one it did not write, but a zero costs nothing). Only
        // r6-r9 the program uses: the host's rbx, r13-r15 are saved (and reachable) only then.
        let zero: &[Reg] = if needs.callee_saved {
            &[RAX, RDX, RCX, R8, RBX, R13, R14, R15]
        } else {
            &[RAX, RDX, RCX, R8]
        };
        for &reg in zero {
            a.alu_rr(Alu::Xor, Op::W, reg, reg); // xor reg32, reg32 (r0, r3-r9 start at 0)
        }
        let main = self.prev.func.first().copied().unwrap_or(0);
        a.call_rel(main); // call main
        let epilogue = a.pos();
        if pad {
            a.alu_ri(Alu::Add, Op::Q, RSP, 8); // add rsp, 8
        }
        for &reg in saved.iter().rev() {
            a.pop(reg); // pop reg
        }
        a.ret(); // ret
        self.abort_at = a.pos();
        if !needs.abort {
            return;
        }
        a.load(Op::Q, false, RSP, mem(FRAME, offsets::SAVED_RSP)); // mov rsp, [r12+16]
        a.load(Op::Q, false, RAX, mem(FRAME, offsets::VALUE)); // mov rax, [r12+8]
        a.jmp(epilogue, fits_short(a.pos(), epilogue)); // jmp epilogue
        let Some(checker) = self.checker else {
            return;
        };
        let abort_at = self.abort_at;
        self.budget_stub_at = a.pos();
        a.store_i(Op::Q, mem(FRAME, offsets::ABORT), abort::BUDGET as i32); // mov qword [r12], 5
        a.jmp(abort_at, fits_short(a.pos(), abort_at)); // jmp abort
                                                        // The access check: r11 = address, r10 = pc << 16 | write << 8 | len.
        self.check_stub_at = a.pos();
        let saved = [RAX, RDI, RSI, RDX, RCX, R8];
        for reg in saved {
            a.push(reg); // push reg (BPF r0-r5)
        }
        a.alu_ri(Alu::Sub, Op::Q, RSP, 8); // sub rsp, 8 (alignment)
        a.alu_rr(Alu::Mov, Op::Q, RDI, FRAME); // mov rdi, r12
        a.alu_rr(Alu::Mov, Op::Q, RSI, AX); // mov rsi, r11
        a.alu_rr(Alu::Mov, Op::Q, RDX, AUX); // mov rdx, r10
        a.movabs(AX, checker); // movabs r11, check_access
        a.call_r(AX); // call r11
        a.alu_ri(Alu::Add, Op::Q, RSP, 8); // add rsp, 8
        for reg in saved.iter().rev().take(saved.len() - 1) {
            a.pop(*reg); // pop reg
        }
        a.alu_rr(Alu::Test, Op::Q, RAX, RAX); // test rax, rax
        a.pop(RAX); // pop rax (flags unchanged)
        a.jcc(Cc::Ne, abort_at, false); // jne abort
        a.ret(); // ret
    }

    /// In checked mode: `lea r11, [m]; mov r10d, info; call check`.
    fn check(&mut self, pc: usize, m: Mem, len: usize, write: bool) {
        if self.checker.is_none() {
            return;
        }
        let info = ((pc as u32) << 16) | (u32::from(write) << 8) | len as u32;
        let at = self.check_stub_at;
        let a = &mut self.asm;
        a.lea(AX, m); // lea r11, [base+off]
        a.mov_r32_imm(AUX, info); // mov r10d, info
        a.call_rel(at); // call check
    }

    /// In checked mode: `sub qword [r12+56], n; jb budget` (before back edges and calls).
    fn spend(&mut self, n: usize) {
        if self.checker.is_none() {
            return;
        }
        let at = self.budget_stub_at;
        let a = &mut self.asm;
        a.sub_mem_i(mem(FRAME, offsets::BUDGET), n.min(i32::MAX as usize) as i32); // sub qword [r12+56], n
        a.jcc(Cc::B, at, false); // jb budget
    }

    /// A BPF function's prologue. The main function only aligns the host stack; a subprogram
    /// saves r6-r10 and takes the next 512 bytes of the BPF stack.
    fn prologue(&mut self, subprog: bool) {
        let a = &mut self.asm;
        a.push(RBP); // push rbp (r10; keeps rsp 16-byte aligned at calls)
        if subprog {
            for reg in [RBX, R13, R14, R15] {
                a.push(reg); // push reg (BPF r6-r9)
            }
            a.alu_ri(Alu::Sub, Op::Q, RBP, STACK_SIZE as i32); // sub rbp, 512
        }
    }

    fn epilogue(&mut self, subprog: bool) {
        let a = &mut self.asm;
        if subprog {
            for reg in [R15, R14, R13, RBX] {
                a.pop(reg); // pop reg
            }
        }
        a.pop(RBP); // pop rbp
        a.ret(); // ret
    }

    /// Jump to the start of instruction `target`.
    fn jump(&mut self, cc: Option<Cc>, target: usize) {
        let to = self.prev.insn[target];
        let short = self.short_ok && fits_short(self.asm.pos(), to);
        match cc {
            None => self.asm.jmp(to, short),         // jmp target
            Some(cc) => self.asm.jcc(cc, to, short), // jcc target
        }
    }

    fn target(pc: usize, off: i64) -> usize {
        (pc as i64 + 1 + off) as usize
    }

    fn instr(&mut self, pc: usize, ins: Instr, subprog: bool) {
        match ins {
            Instr::Alu { w, op, dst, src } => self.alu(w, op, r(dst), src),
            Instr::Neg { w, dst } => self.asm.neg(width(w), r(dst)), // neg dst
            Instr::MovSx { w, dst, src, bits } => {
                let from = match bits {
                    8 => Op::B,
                    16 => Op::H,
                    _ => Op::W,
                };
                self.asm.movx_rr(true, from, width(w), r(dst), r(src)); // movsx dst, src
            }
            Instr::End { kind, bits, dst } => self.end(kind, bits, r(dst)),
            Instr::LdImm64 { dst, imm, .. } => self.asm.load_imm(r(dst), imm), // mov dst, imm64
            Instr::LdImm64Hi => {}
            Instr::Load {
                size,
                sx,
                dst,
                base,
                off,
            } => {
                let m = mem(r(base), off.into());
                self.check(pc, m, size.bytes(), false);
                self.asm.load(size_op(size), sx, r(dst), m); // mov dst, [base+off]
            }
            Instr::Store {
                size,
                base,
                off,
                src,
            } => {
                let m = mem(r(base), off.into());
                self.check(pc, m, size.bytes(), true);
                match src {
                    Src::Reg(s) => self.asm.store_r(size_op(size), m, r(s)), // mov [base+off], src
                    Src::Imm(i) => self.asm.store_i(size_op(size), m, i),    // mov [base+off], imm
                }
            }
            Instr::Atomic {
                size,
                op,
                fetch,
                base,
                off,
                src,
            } => {
                let m = mem(r(base), off.into());
                self.check(pc, m, size.bytes(), true);
                self.atomic(size, op, fetch, m, r(src));
            }
            Instr::Ja { off, .. } => {
                let t = Self::target(pc, off.into());
                if t <= pc {
                    self.spend(pc + 1 - t);
                }
                self.jump(None, t);
            }
            Instr::Jcond {
                w,
                cond,
                dst,
                src,
                off,
            } => {
                let t = Self::target(pc, off.into());
                if t <= pc {
                    self.spend(pc + 1 - t);
                }
                let op = width(w);
                let d = r(dst);
                match (cond, src) {
                    (Cond::Set, Src::Reg(s)) => self.asm.alu_rr(Alu::Test, op, d, r(s)), // test dst, src
                    (Cond::Set, Src::Imm(i)) => self.asm.alu_ri(Alu::Test, op, d, i), // test dst, imm
                    (_, Src::Reg(s)) => self.asm.alu_rr(Alu::Cmp, op, d, r(s)), // cmp dst, src
                    // Against 0, `test` sets the flags `cmp` would (CF = OF = 0).
                    (_, Src::Imm(0)) => self.asm.alu_rr(Alu::Test, op, d, d), // test dst, dst
                    (_, Src::Imm(i)) => self.asm.alu_ri(Alu::Cmp, op, d, i),  // cmp dst, imm
                }
                let cc = match cond {
                    Cond::Eq => Cc::E,
                    Cond::Ne | Cond::Set => Cc::Ne,
                    Cond::Gt => Cc::A,
                    Cond::Ge => Cc::Ae,
                    Cond::Lt => Cc::B,
                    Cond::Le => Cc::Be,
                    Cond::Sgt => Cc::G,
                    Cond::Sge => Cc::Ge,
                    Cond::Slt => Cc::L,
                    Cond::Sle => Cc::Le,
                };
                self.jump(Some(cc), t);
            }
            Instr::CallHelper { .. } => {
                if let Some(h) = self.helpers[pc] {
                    self.asm.alu_rr(Alu::Mov, Op::Q, AUX2, FRAME); // mov r9, r12
                    self.asm.movabs(AX, h.addr); // movabs r11, helper
                    self.asm.call_r(AX); // call r11
                    self.clobber_args();
                    if h.may_abort {
                        self.abort_check(pc);
                    }
                }
            }
            Instr::CallLocal { off } => {
                let t = Self::target(pc, off.into());
                let f = self.prog.function_of(t);
                let to = self.prev.func.get(f).copied().unwrap_or(0);
                self.spend(1);
                self.asm.call_rel(to); // call function
            }
            Instr::Callx { reg } => self.callx(pc, r(reg)),
            Instr::Exit => self.epilogue(subprog),
        }
    }

    /// After a helper call: r1-r5 hold whatever the host function left in rdi, rsi, rdx, rcx
    /// and r8 (host addresses, say); they become 0, as in the interpreter.
    fn clobber_args(&mut self) {
        for bpf in 1..=5 {
            self.asm.alu_rr(Alu::Xor, Op::W, r(bpf), r(bpf)); // xor reg32, reg32
        }
    }

    /// After a helper that may stop the program: `cmp [r12], 0; je ok; record pc; jmp abort`.
    fn abort_check(&mut self, pc: usize) {
        let a = &mut self.asm;
        a.cmp_mem_i8(mem(FRAME, offsets::ABORT), abort::NONE as i8); // cmp qword [r12], 0
        let ok = a.jcc_fwd(Cc::E); // je ok
        a.store_i(Op::Q, mem(FRAME, offsets::PC), pc as i32); // mov qword [r12+40], pc
        let to = self.abort_at;
        a.jmp(to, false); // jmp abort
        a.bind_short(ok);
    }

    fn callx(&mut self, pc: usize, reg: Reg) {
        let a = &mut self.asm;
        a.alu_rr(Alu::Mov, Op::Q, AX, reg); // mov r11, reg
        a.cmp_r_mem(AX, mem(FRAME, offsets::CALLX_LEN)); // cmp r11, [r12+32]
        let bad1 = a.jcc_fwd(Cc::Ae); // jae bad
        a.load(Op::Q, false, AUX, mem(FRAME, offsets::CALLX_TABLE)); // mov r10, [r12+24]
        a.load_indexed8(AX, AUX, AX); // mov r11, [r10+r11*8]
        a.alu_rr(Alu::Test, Op::Q, AX, AX); // test r11, r11
        let bad2 = a.jcc_fwd(Cc::E); // je bad
        a.alu_rr(Alu::Mov, Op::Q, AUX2, FRAME); // mov r9, r12
        a.call_r(AX); // call r11
        self.clobber_args();
        self.abort_check(pc);
        let a = &mut self.asm;
        let done = a.jmp_fwd(); // jmp done
        a.bind_short(bad1);
        a.bind_short(bad2);
        a.store_i(Op::Q, mem(FRAME, offsets::ABORT), abort::BAD_CALLX as i32); // mov qword [r12], 3
        a.store_q(mem(FRAME, offsets::VALUE), reg); // mov [r12+8], reg
        a.store_i(Op::Q, mem(FRAME, offsets::PC), pc as i32); // mov qword [r12+40], pc
        let to = self.abort_at;
        a.jmp(to, false); // jmp abort
        a.bind_short(done);
    }

    fn alu(&mut self, w: Width, op: AluOp, d: Reg, src: Src) {
        let ow = width(w);
        let a = &mut self.asm;
        let simple = match op {
            AluOp::Add => Some(Alu::Add),
            AluOp::Sub => Some(Alu::Sub),
            AluOp::Or => Some(Alu::Or),
            AluOp::And => Some(Alu::And),
            AluOp::Xor => Some(Alu::Xor),
            _ => None,
        };
        if let Some(x) = simple {
            match src {
                Src::Reg(s) => a.alu_rr(x, ow, d, r(s)), // op dst, src
                Src::Imm(i) => a.alu_ri(x, ow, d, i),    // op dst, imm
            }
            return;
        }
        match op {
            AluOp::Mov => match (src, w) {
                (Src::Reg(s), Width::W64) => {
                    if r(s) != d {
                        a.alu_rr(Alu::Mov, Op::Q, d, r(s)); // mov dst, src
                    }
                }
                (Src::Reg(s), Width::W32) => a.alu_rr(Alu::Mov, Op::W, d, r(s)), // mov dst32, src32
                (Src::Imm(i), Width::W64) => a.load_imm(d, i as i64 as u64),     // mov dst, simm
                (Src::Imm(i), Width::W32) => a.load_imm(d, u64::from(i as u32)), // mov dst32, imm
            },
            AluOp::Mul => match src {
                Src::Reg(s) => a.imul_rr(ow, d, r(s)),  // imul dst, src
                Src::Imm(i) => a.imul_rri(ow, d, d, i), // imul dst, dst, imm
            },
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => {
                let sh = match op {
                    AluOp::Lsh => Shift::Shl,
                    AluOp::Rsh => Shift::Shr,
                    _ => Shift::Sar,
                };
                match src {
                    Src::Imm(i) => {
                        let mask = if w == Width::W64 { 63 } else { 31 };
                        a.shift_ri(sh, ow, d, (i as u32 & mask) as u8); // shl dst, imm
                    }
                    Src::Reg(s) => self.shift_reg(sh, ow, d, r(s)),
                }
            }
            AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod => self.divmod(ow, op, d, src),
            _ => unreachable!("handled above"),
        }
    }

    /// `dst = dst <op> (src & mask)` with the count in `cl` (rcx is BPF r4).
    fn shift_reg(&mut self, sh: Shift, ow: Op, d: Reg, s: Reg) {
        let a = &mut self.asm;
        if s == RCX {
            a.shift_cl(sh, ow, d); // shl dst, cl
        } else if d == RCX {
            a.alu_rr(Alu::Mov, Op::Q, AX, RCX); // mov r11, rcx
            a.alu_rr(Alu::Mov, Op::Q, RCX, s); // mov rcx, src
            a.shift_cl(sh, ow, AX); // shl r11, cl
            a.alu_rr(Alu::Mov, Op::Q, RCX, AX); // mov rcx, r11
        } else {
            a.alu_rr(Alu::Mov, Op::Q, AX, RCX); // mov r11, rcx
            a.alu_rr(Alu::Mov, Op::Q, RCX, s); // mov rcx, src
            a.shift_cl(sh, ow, d); // shl dst, cl
            a.alu_rr(Alu::Mov, Op::Q, RCX, AX); // mov rcx, r11
        }
    }

    /// Division and modulo with the ISA's semantics: `x / 0 = 0`, `x % 0 = x`, and signed
    /// `INT_MIN / -1` (which traps on x86) = `INT_MIN`, `INT_MIN % -1 = 0`.
    fn divmod(&mut self, ow: Op, op: AluOp, d: Reg, src: Src) {
        let signed = matches!(op, AluOp::SDiv | AluOp::SMod);
        let is_mod = matches!(op, AluOp::Mod | AluOp::SMod);
        let a = &mut self.asm;
        // What `dst` becomes when the divisor is 0, and when it is -1 (signed only).
        let by_zero = |a: &mut Asm| {
            if !is_mod {
                a.alu_rr(Alu::Xor, Op::W, d, d); // xor dst32, dst32
            } else if ow == Op::W {
                a.alu_rr(Alu::Mov, Op::W, d, d); // mov dst32, dst32 (zero-extend)
            }
        };
        let by_minus_one = |a: &mut Asm| {
            if is_mod {
                a.alu_rr(Alu::Xor, Op::W, d, d); // xor dst32, dst32
            } else {
                a.neg(ow, d); // neg dst
            }
        };
        match src {
            Src::Imm(0) => by_zero(a),
            Src::Imm(-1) if signed => by_minus_one(a),
            Src::Imm(i) => {
                let v = if ow == Op::Q {
                    i as i64 as u64
                } else {
                    u64::from(i as u32)
                };
                a.load_imm(AX, v); // mov r11, imm
                Self::divide(a, ow, signed, is_mod, d);
            }
            Src::Reg(s) => {
                a.alu_rr(Alu::Mov, ow, AX, r(s)); // mov r11, src
                a.alu_rr(Alu::Test, ow, AX, AX); // test r11, r11
                let nonzero = a.jcc_fwd(Cc::Ne); // jne nonzero
                by_zero(a);
                let done1 = a.jmp_fwd(); // jmp done
                a.bind_short(nonzero);
                let mut done2 = None;
                if signed {
                    a.alu_ri(Alu::Cmp, ow, AX, -1); // cmp r11, -1
                    let normal = a.jcc_fwd(Cc::Ne); // jne normal
                    by_minus_one(a);
                    done2 = Some(a.jmp_fwd()); // jmp done
                    a.bind_short(normal);
                }
                Self::divide(a, ow, signed, is_mod, d);
                a.bind_short(done1);
                if let Some(s) = done2 {
                    a.bind_short(s);
                }
            }
        }
    }

    /// `dst = dst / r11` or `dst % r11` through rdx:rax, preserving BPF r0 and r3.
    fn divide(a: &mut Asm, ow: Op, signed: bool, is_mod: bool, d: Reg) {
        if d != RAX {
            a.alu_rr(Alu::Mov, Op::Q, AUX, RAX); // mov r10, rax
        }
        if d != RDX {
            a.alu_rr(Alu::Mov, Op::Q, AUX2, RDX); // mov r9, rdx
        }
        if d != RAX {
            a.alu_rr(Alu::Mov, Op::Q, RAX, d); // mov rax, dst
        }
        if signed {
            a.cqo(ow); // cqo / cdq
        } else {
            a.alu_rr(Alu::Xor, Op::W, RDX, RDX); // xor edx, edx
        }
        a.div(ow, signed, AX); // div r11 / idiv r11
        let result = if is_mod { RDX } else { RAX };
        if d != result {
            a.alu_rr(Alu::Mov, Op::Q, d, result); // mov dst, rax|rdx
        }
        if d != RAX {
            a.alu_rr(Alu::Mov, Op::Q, RAX, AUX); // mov rax, r10
        }
        if d != RDX {
            a.alu_rr(Alu::Mov, Op::Q, RDX, AUX2); // mov rdx, r9
        }
    }

    fn end(&mut self, kind: EndKind, bits: u8, d: Reg) {
        let a = &mut self.asm;
        match (kind, bits) {
            (EndKind::Le, 16) => a.movx_rr(false, Op::H, Op::W, d, d), // movzx dst32, dst16
            (EndKind::Le, 32) => a.alu_rr(Alu::Mov, Op::W, d, d),      // mov dst32, dst32
            (EndKind::Le, _) => {}
            (_, 16) => {
                a.shift_ri(Shift::Ror, Op::H, d, 8); // ror dst16, 8
                a.movx_rr(false, Op::H, Op::W, d, d); // movzx dst32, dst16
            }
            (_, 32) => a.bswap(Op::W, d), // bswap dst32
            _ => a.bswap(Op::Q, d),       // bswap dst
        }
    }

    fn atomic(&mut self, size: Size, op: AtomicOp, fetch: bool, m: Mem, s: Reg) {
        let ow = if size == Size::W { Op::W } else { Op::Q };
        let a = &mut self.asm;
        let group = match op {
            AtomicOp::Add => Alu::Add,
            AtomicOp::Or => Alu::Or,
            AtomicOp::And => Alu::And,
            AtomicOp::Xor => Alu::Xor,
            AtomicOp::Xchg => return a.xchg_mem(ow, m, s), // xchg [m], src
            AtomicOp::Cmpxchg => {
                a.lock_cmpxchg(ow, m, s); // lock cmpxchg [m], src
                if ow == Op::W {
                    // A successful 32-bit cmpxchg does not write eax: zero-extend r0 ourselves.
                    a.alu_rr(Alu::Mov, Op::W, RAX, RAX); // mov eax, eax
                }
                return;
            }
        };
        if !fetch {
            return a.lock_alu_mem(group, ow, m, s); // lock add|or|and|xor [m], src
        }
        if group == Alu::Add {
            return a.lock_xadd(ow, m, s); // lock xadd [m], src
        }
        // Fetching and/or/xor: a cmpxchg loop through rax, which holds BPF r0.
        let base = AUX2;
        a.alu_rr(Alu::Mov, Op::Q, base, m.base); // mov r9, base
        let m = mem(base, m.disp);
        a.alu_rr(Alu::Mov, Op::Q, AUX, RAX); // mov r10, rax (save r0)
        let operand = if s == RAX { AUX } else { s };
        a.load(ow, false, RAX, m); // mov rax, [m]
        let again = a.pos();
        a.alu_rr(Alu::Mov, ow, AX, RAX); // mov r11, rax
        a.alu_rr(group, ow, AX, operand); // op r11, src
        a.lock_cmpxchg(ow, m, AX); // lock cmpxchg [m], r11
        a.jcc(Cc::Ne, again, true); // jne again
        if s != RAX {
            a.alu_rr(Alu::Mov, Op::Q, s, RAX); // mov src, rax (the old value)
            a.alu_rr(Alu::Mov, Op::Q, RAX, AUX); // mov rax, r10
        }
    }
}
