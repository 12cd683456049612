//! The interpreter: the fallback engine and the oracle the JIT is tested against.
//!
//! A program is first *prepared* into a flat array of 16-byte slots whose opcode byte alone
//! selects the operation (the few encodings the ISA disambiguates by the offset field, `sdiv`,
//! `smod` and `movsx`, get opcode bytes of their own), immediates are pre-sign-extended and
//! helper calls point straight at their native function. The run loop is one `match` on that
//! byte, over a fixed register file and a stack of 8 x 512 bytes allocated once per
//! [`Interpreter`], so a run allocates nothing.
//!
//! Two memory policies: *checked* runs (any program, e.g. unverified input) bounds-check every
//! access against the regions lent to the run and may be given an instruction budget; *trusted*
//! runs (programs the verifier accepted) access memory directly.
//!
//! In both, no host value reaches a register the program can read: at entry every register but
//! r1, r2 (the caller's arguments) and r10 is 0, and after every helper call r1-r5 are 0 (the
//! JIT zeroes the same registers, so the engines agree even on programs nobody verified).

use crate::helpers::Helpers;
use crate::instr::{Instr, LdImmKind, Size};
use crate::isa::{MAX_CALL_FRAMES, STACK_SIZE};
use crate::native::frame::{abort, NativeHelper, Policy, Region, RunFrame};
use crate::native::raw;
use crate::native::MemFault;
use crate::program::Program;
use crate::semantics::*;
use thiserror::Error;

/// Why a program could not be linked against a helper table.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkError {
    #[error("instruction {pc}: call to unknown helper {id}")]
    UnknownHelper { pc: usize, id: u32 },
    #[error("instruction {pc}: unresolved lddw {kind:?} (the loader must resolve map and function references)")]
    UnresolvedPseudo { pc: usize, kind: LdImmKind },
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RunError {
    #[error("instruction {pc}: {fault}")]
    Memory { pc: usize, fault: MemFault },
    #[error("instruction {pc}: callx to unknown helper {id}")]
    BadCallx { pc: usize, id: u64 },
    #[error("instruction {pc}: helper failed: {msg}")]
    Helper { pc: usize, msg: String },
    #[error("the program ran for more than {0} instructions")]
    Budget(u64),
    #[error("the JIT-compiled program failed: {0}")]
    Jit(String),
}

/// Opcode bytes the ISA leaves unused, given to operations selected by the offset field.
mod xop {
    pub const SDIV32_K: u8 = 0xe4;
    pub const SDIV32_X: u8 = 0xec;
    pub const SDIV64_K: u8 = 0xe7;
    pub const SDIV64_X: u8 = 0xef;
    pub const SMOD32_K: u8 = 0xf4;
    pub const SMOD32_X: u8 = 0xfc;
    pub const SMOD64_K: u8 = 0xf7;
    pub const SMOD64_X: u8 = 0xff;
    pub const MOVSX32: u8 = 0x8c;
    pub const MOVSX64: u8 = 0x8f;
    pub const CALL_LOCAL: u8 = 0x86;
    pub const LDDW_HI: u8 = 0x00;
}

/// One prepared slot.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    op: u8,
    dst: u8,
    src: u8,
    /// movsx bits, atomic operation, or helper table index.
    aux: u8,
    /// Jump offset (slots), or memory offset.
    off: i32,
    /// Sign-extended immediate; lddw's full constant; local-call target; helper index.
    imm: u64,
}

/// A helper as the interpreter calls it.
#[derive(Clone, Copy, Debug)]
struct CallTarget {
    native: NativeHelper,
    may_abort: bool,
}

/// A program prepared for the interpreter, linked against a helper table.
#[derive(Clone, Debug)]
pub struct Prepared {
    slots: Vec<Slot>,
    calls: Vec<CallTarget>,
    callx: Vec<Option<NativeHelper>>,
}

impl Prepared {
    /// Prepares `prog`, resolving helper calls in `helpers`.
    pub fn new<E>(prog: &Program, helpers: &Helpers<E>) -> Result<Self, LinkError> {
        let mut calls: Vec<CallTarget> = Vec::new();
        let mut call_index = std::collections::HashMap::new();
        let mut slots = Vec::with_capacity(prog.len());
        for (pc, ins) in prog.instrs().iter().enumerate() {
            let raw = crate::instr::encode(std::slice::from_ref(ins));
            let mut s = match raw.first() {
                Some(r) => Slot {
                    op: r.opcode,
                    dst: r.dst,
                    src: r.src,
                    aux: 0,
                    off: r.off.into(),
                    imm: r.imm as i64 as u64,
                },
                None => Slot {
                    op: xop::LDDW_HI,
                    ..Slot::default()
                },
            };
            match *ins {
                Instr::Alu {
                    op: crate::instr::AluOp::SDiv,
                    ..
                }
                | Instr::Alu {
                    op: crate::instr::AluOp::SMod,
                    ..
                } => {
                    let k = s.op & 0x08 != 0;
                    let w64 = s.op & 0x07 == crate::isa::class::ALU64;
                    let div = s.op & 0xf0 == crate::isa::alu::DIV;
                    s.op = match (div, w64, k) {
                        (true, false, false) => xop::SDIV32_K,
                        (true, false, true) => xop::SDIV32_X,
                        (true, true, false) => xop::SDIV64_K,
                        (true, true, true) => xop::SDIV64_X,
                        (false, false, false) => xop::SMOD32_K,
                        (false, false, true) => xop::SMOD32_X,
                        (false, true, false) => xop::SMOD64_K,
                        (false, true, true) => xop::SMOD64_X,
                    };
                }
                Instr::MovSx { w, bits, .. } => {
                    s.op = if w == crate::instr::Width::W32 {
                        xop::MOVSX32
                    } else {
                        xop::MOVSX64
                    };
                    s.aux = bits;
                }
                Instr::LdImm64 { kind, imm, .. } => {
                    if kind != LdImmKind::Imm64 {
                        return Err(LinkError::UnresolvedPseudo { pc, kind });
                    }
                    s.imm = imm;
                }
                Instr::Ja { off, .. } => {
                    s.op = crate::isa::op::JA;
                    s.off = off;
                }
                Instr::CallLocal { off } => {
                    s.op = xop::CALL_LOCAL;
                    s.imm = (pc as i64 + i64::from(off) + 1) as u64;
                }
                Instr::CallHelper { id } => {
                    let entry = helpers.get(id).ok_or(LinkError::UnknownHelper { pc, id })?;
                    let idx = *call_index.entry(id).or_insert_with(|| {
                        calls.push(CallTarget {
                            native: entry.native,
                            may_abort: entry.proto.may_abort,
                        });
                        calls.len() - 1
                    });
                    s.imm = idx as u64;
                }
                Instr::Atomic { .. } => s.aux = s.imm as u8,
                _ => {}
            }
            slots.push(s);
        }
        Ok(Prepared {
            slots,
            calls,
            callx: helpers.callx_table().to_vec(),
        })
    }
}

/// The interpreter's reusable state: the stack and the regions of a checked run.
#[derive(Debug)]
pub struct Interpreter {
    stack: Box<[u8]>,
    regions: Vec<Region>,
}

impl Default for Interpreter {
    fn default() -> Self {
        Self::new()
    }
}

impl Interpreter {
    /// Allocates the stack (8 frames of 512 bytes).
    pub fn new() -> Self {
        Interpreter {
            stack: vec![0u8; STACK_SIZE * MAX_CALL_FRAMES].into_boxed_slice(),
            regions: Vec::new(),
        }
    }

    /// Runs with every memory access checked against `mem`, the stack and `extra` regions.
    /// r1 = address of `mem`, r2 = its length. `budget` bounds the instructions executed.
    pub fn run_checked<E>(
        &mut self,
        prog: &Prepared,
        mem: &mut [u8],
        extra: &[Region],
        env: &mut E,
        budget: Option<u64>,
    ) -> Result<u64, RunError> {
        // An empty memory is passed as NULL, as uBPF does.
        let r1 = if mem.is_empty() {
            0
        } else {
            mem.as_mut_ptr() as usize as u64
        };
        let input = (!mem.is_empty()).then(|| Region::of(mem, true));
        self.run::<E, true>(prog, (r1, mem.len() as u64), input, extra, env, budget)
    }

    /// Runs with a read-only context: r1 = address of `ctx`, r2 = 0; every access is checked
    /// against the context (reads only), the stack and `extra` regions. This is how filters
    /// receive `struct bpf_context` or `struct pt_regs`.
    pub fn run_checked_ctx<E>(
        &mut self,
        prog: &Prepared,
        ctx: &[u8],
        extra: &[Region],
        env: &mut E,
        budget: Option<u64>,
    ) -> Result<u64, RunError> {
        let r1 = ctx.as_ptr() as usize as u64;
        let input = Some(Region::of(ctx, false));
        self.run::<E, true>(prog, (r1, 0), input, extra, env, budget)
    }

    /// Runs without checks: only for programs whose accesses are proven safe for these inputs
    /// (the verifier). Reached through [`crate::proven::ProvenProgram`].
    pub(crate) fn run_trusted<E>(
        &mut self,
        prog: &Prepared,
        r: (u64, u64),
        input: Option<Region>,
        extra: &[Region],
        env: &mut E,
    ) -> Result<u64, RunError> {
        self.run::<E, false>(prog, r, input, extra, env, None)
    }

    /// One run: the regions (checked against, or told to helpers), the frame, the loop.
    fn run<E, const CHECKED: bool>(
        &mut self,
        prog: &Prepared,
        (r1, r2): (u64, u64),
        input: Option<Region>,
        extra: &[Region],
        env: &mut E,
        budget: Option<u64>,
    ) -> Result<u64, RunError> {
        self.regions.clear();
        self.regions.push(Region::of(&self.stack, true));
        self.regions.extend(input);
        self.regions.extend_from_slice(extra);
        let regions = std::mem::take(&mut self.regions);
        let result = {
            let policy = if CHECKED {
                Policy::Checked(&regions)
            } else {
                Policy::Trusted(&regions)
            };
            let mut frame = RunFrame::new(env, policy, &prog.callx);
            self.run_loop::<E, CHECKED>(prog, r1, r2, &mut frame, budget.unwrap_or(u64::MAX))
        };
        self.regions = regions;
        result
    }

    #[inline(always)]
    fn run_loop<E, const CHECKED: bool>(
        &mut self,
        prog: &Prepared,
        r1: u64,
        r2: u64,
        frame: &mut RunFrame<'_, E>,
        budget: u64,
    ) -> Result<u64, RunError> {
        let slots = &prog.slots[..];
        let stack_top = self.stack.as_mut_ptr() as usize as u64 + self.stack.len() as u64;
        // 16 registers, indexed with `& 15`: the compiler then needs no bounds checks (slots
        // only ever name r0-r10).
        let mut reg = [0u64; 16];
        reg[1] = r1;
        reg[2] = r2;
        reg[10] = stack_top;
        // Saved (return pc, r6..r9, r10) per active call.
        let mut calls: [(usize, [u64; 5]); MAX_CALL_FRAMES] = [(0, [0; 5]); MAX_CALL_FRAMES];
        let mut depth = 0usize;
        let mut pc = 0usize;
        let mut executed = 0u64;

        macro_rules! mem_check {
            ($addr:expr, $len:expr, $write:expr) => {
                if CHECKED {
                    if let Err(fault) = frame.policy.check($addr, $len, $write) {
                        return Err(RunError::Memory { pc: pc - 1, fault });
                    }
                }
            };
        }
        macro_rules! load {
            ($size:expr, $addr:expr) => {{
                let a: u64 = $addr;
                mem_check!(a, $size.bytes() as u64, false);
                // SAFETY: checked runs verified the span against the run's regions just above;
                // trusted runs are only made for programs whose accesses were proven safe.
                unsafe { raw::load(a, $size) }
            }};
        }
        macro_rules! store {
            ($size:expr, $addr:expr, $val:expr) => {{
                let a: u64 = $addr;
                mem_check!(a, $size.bytes() as u64, true);
                // SAFETY: as for loads; no Rust reference covers program memory during a run.
                unsafe { raw::store(a, $size, $val) }
            }};
        }

        loop {
            if CHECKED {
                executed += 1;
                if executed > budget {
                    return Err(RunError::Budget(budget));
                }
            }
            let s = slots[pc];
            pc += 1;
            let d = s.dst as usize & 15;
            let sr = s.src as usize & 15;
            let imm = s.imm;
            macro_rules! jump_if {
                ($cond:expr) => {
                    if $cond {
                        pc = (pc as i64 + i64::from(s.off)) as usize;
                    }
                };
            }
            macro_rules! w32 {
                ($e:expr) => {
                    reg[d] = u64::from($e)
                };
            }
            let a32 = reg[d] as u32;
            match s.op {
                // ALU64, immediate then register.
                0x07 => reg[d] = reg[d].wrapping_add(imm),
                0x0f => reg[d] = reg[d].wrapping_add(reg[sr]),
                0x17 => reg[d] = reg[d].wrapping_sub(imm),
                0x1f => reg[d] = reg[d].wrapping_sub(reg[sr]),
                0x27 => reg[d] = reg[d].wrapping_mul(imm),
                0x2f => reg[d] = reg[d].wrapping_mul(reg[sr]),
                0x37 => reg[d] = div64(reg[d], imm),
                0x3f => reg[d] = div64(reg[d], reg[sr]),
                0x47 => reg[d] |= imm,
                0x4f => reg[d] |= reg[sr],
                0x57 => reg[d] &= imm,
                0x5f => reg[d] &= reg[sr],
                0x67 => reg[d] = lsh64(reg[d], imm),
                0x6f => reg[d] = lsh64(reg[d], reg[sr]),
                0x77 => reg[d] = rsh64(reg[d], imm),
                0x7f => reg[d] = rsh64(reg[d], reg[sr]),
                0x87 => reg[d] = reg[d].wrapping_neg(),
                0x97 => reg[d] = mod64(reg[d], imm),
                0x9f => reg[d] = mod64(reg[d], reg[sr]),
                0xa7 => reg[d] ^= imm,
                0xaf => reg[d] ^= reg[sr],
                0xb7 => reg[d] = imm,
                0xbf => reg[d] = reg[sr],
                0xc7 => reg[d] = arsh64(reg[d], imm),
                0xcf => reg[d] = arsh64(reg[d], reg[sr]),
                xop::SDIV64_K => reg[d] = sdiv64(reg[d], imm),
                xop::SDIV64_X => reg[d] = sdiv64(reg[d], reg[sr]),
                xop::SMOD64_K => reg[d] = smod64(reg[d], imm),
                xop::SMOD64_X => reg[d] = smod64(reg[d], reg[sr]),
                xop::MOVSX64 => reg[d] = movsx(reg[sr], s.aux, false),
                0xd7 => reg[d] = bswap(reg[d], imm as u8),
                // ALU32: operate on the low halves, zero-extend the result.
                0x04 => w32!(a32.wrapping_add(imm as u32)),
                0x0c => w32!(a32.wrapping_add(reg[sr] as u32)),
                0x14 => w32!(a32.wrapping_sub(imm as u32)),
                0x1c => w32!(a32.wrapping_sub(reg[sr] as u32)),
                0x24 => w32!(a32.wrapping_mul(imm as u32)),
                0x2c => w32!(a32.wrapping_mul(reg[sr] as u32)),
                0x34 => w32!(div32(a32, imm as u32)),
                0x3c => w32!(div32(a32, reg[sr] as u32)),
                0x44 => w32!(a32 | imm as u32),
                0x4c => w32!(a32 | reg[sr] as u32),
                0x54 => w32!(a32 & imm as u32),
                0x5c => w32!(a32 & reg[sr] as u32),
                0x64 => w32!(lsh32(a32, imm)),
                0x6c => w32!(lsh32(a32, reg[sr])),
                0x74 => w32!(rsh32(a32, imm)),
                0x7c => w32!(rsh32(a32, reg[sr])),
                0x84 => w32!(a32.wrapping_neg()),
                0x94 => w32!(mod32(a32, imm as u32)),
                0x9c => w32!(mod32(a32, reg[sr] as u32)),
                0xa4 => w32!(a32 ^ imm as u32),
                0xac => w32!(a32 ^ reg[sr] as u32),
                0xb4 => w32!(imm as u32),
                0xbc => w32!(reg[sr] as u32),
                0xc4 => w32!(arsh32(a32, imm)),
                0xcc => w32!(arsh32(a32, reg[sr])),
                xop::SDIV32_K => w32!(sdiv32(a32, imm as u32)),
                xop::SDIV32_X => w32!(sdiv32(a32, reg[sr] as u32)),
                xop::SMOD32_K => w32!(smod32(a32, imm as u32)),
                xop::SMOD32_X => w32!(smod32(a32, reg[sr] as u32)),
                xop::MOVSX32 => reg[d] = movsx(reg[sr], s.aux, true),
                0xd4 => reg[d] = truncate(reg[d], imm as u8),
                0xdc => reg[d] = bswap(reg[d], imm as u8),
                // Loads and stores.
                0x18 => {
                    reg[d] = imm;
                    pc += 1;
                }
                0x61 => reg[d] = load!(Size::W, reg[sr].wrapping_add(s.off as i64 as u64)),
                0x69 => reg[d] = load!(Size::H, reg[sr].wrapping_add(s.off as i64 as u64)),
                0x71 => reg[d] = load!(Size::B, reg[sr].wrapping_add(s.off as i64 as u64)),
                0x79 => reg[d] = load!(Size::DW, reg[sr].wrapping_add(s.off as i64 as u64)),
                0x81 => {
                    reg[d] = load!(Size::W, reg[sr].wrapping_add(s.off as i64 as u64)) as u32 as i32
                        as i64 as u64
                }
                0x89 => {
                    reg[d] = load!(Size::H, reg[sr].wrapping_add(s.off as i64 as u64)) as u16 as i16
                        as i64 as u64
                }
                0x91 => {
                    reg[d] = load!(Size::B, reg[sr].wrapping_add(s.off as i64 as u64)) as u8 as i8
                        as i64 as u64
                }
                0x62 => store!(Size::W, reg[d].wrapping_add(s.off as i64 as u64), imm),
                0x6a => store!(Size::H, reg[d].wrapping_add(s.off as i64 as u64), imm),
                0x72 => store!(Size::B, reg[d].wrapping_add(s.off as i64 as u64), imm),
                0x7a => store!(Size::DW, reg[d].wrapping_add(s.off as i64 as u64), imm),
                0x63 => store!(Size::W, reg[d].wrapping_add(s.off as i64 as u64), reg[sr]),
                0x6b => store!(Size::H, reg[d].wrapping_add(s.off as i64 as u64), reg[sr]),
                0x73 => store!(Size::B, reg[d].wrapping_add(s.off as i64 as u64), reg[sr]),
                0x7b => store!(Size::DW, reg[d].wrapping_add(s.off as i64 as u64), reg[sr]),
                0xc3 | 0xdb => {
                    let size = if s.op == 0xc3 { Size::W } else { Size::DW };
                    let addr = reg[d].wrapping_add(s.off as i64 as u64);
                    // A read-modify-write needs a writable target: report it as a write.
                    mem_check!(addr, size.bytes() as u64, true);
                    let old = load!(size, addr);
                    let (new, fetched) = atomic_rmw(s.aux, size, old, reg[sr], reg[0]);
                    if let Some(v) = new {
                        store!(size, addr, v);
                    }
                    match fetched {
                        Fetched::None => {}
                        Fetched::Src(v) => reg[sr] = v,
                        Fetched::R0(v) => reg[0] = v,
                    }
                }
                // Jumps.
                0x05 => jump_if!(true),
                0x15 => jump_if!(reg[d] == imm),
                0x1d => jump_if!(reg[d] == reg[sr]),
                0x25 => jump_if!(reg[d] > imm),
                0x2d => jump_if!(reg[d] > reg[sr]),
                0x35 => jump_if!(reg[d] >= imm),
                0x3d => jump_if!(reg[d] >= reg[sr]),
                0x45 => jump_if!(reg[d] & imm != 0),
                0x4d => jump_if!(reg[d] & reg[sr] != 0),
                0x55 => jump_if!(reg[d] != imm),
                0x5d => jump_if!(reg[d] != reg[sr]),
                0x65 => jump_if!((reg[d] as i64) > (imm as i64)),
                0x6d => jump_if!((reg[d] as i64) > (reg[sr] as i64)),
                0x75 => jump_if!((reg[d] as i64) >= (imm as i64)),
                0x7d => jump_if!((reg[d] as i64) >= (reg[sr] as i64)),
                0xa5 => jump_if!(reg[d] < imm),
                0xad => jump_if!(reg[d] < reg[sr]),
                0xb5 => jump_if!(reg[d] <= imm),
                0xbd => jump_if!(reg[d] <= reg[sr]),
                0xc5 => jump_if!((reg[d] as i64) < (imm as i64)),
                0xcd => jump_if!((reg[d] as i64) < (reg[sr] as i64)),
                0xd5 => jump_if!((reg[d] as i64) <= (imm as i64)),
                0xdd => jump_if!((reg[d] as i64) <= (reg[sr] as i64)),
                0x16 => jump_if!(a32 == imm as u32),
                0x1e => jump_if!(a32 == reg[sr] as u32),
                0x26 => jump_if!(a32 > imm as u32),
                0x2e => jump_if!(a32 > reg[sr] as u32),
                0x36 => jump_if!(a32 >= imm as u32),
                0x3e => jump_if!(a32 >= reg[sr] as u32),
                0x46 => jump_if!(a32 & imm as u32 != 0),
                0x4e => jump_if!(a32 & reg[sr] as u32 != 0),
                0x56 => jump_if!(a32 != imm as u32),
                0x5e => jump_if!(a32 != reg[sr] as u32),
                0x66 => jump_if!((a32 as i32) > (imm as i32)),
                0x6e => jump_if!((a32 as i32) > (reg[sr] as i32)),
                0x76 => jump_if!((a32 as i32) >= (imm as i32)),
                0x7e => jump_if!((a32 as i32) >= (reg[sr] as i32)),
                0xa6 => jump_if!(a32 < imm as u32),
                0xae => jump_if!(a32 < reg[sr] as u32),
                0xb6 => jump_if!(a32 <= imm as u32),
                0xbe => jump_if!(a32 <= reg[sr] as u32),
                0xc6 => jump_if!((a32 as i32) < (imm as i32)),
                0xce => jump_if!((a32 as i32) < (reg[sr] as i32)),
                0xd6 => jump_if!((a32 as i32) <= (imm as i32)),
                0xde => jump_if!((a32 as i32) <= (reg[sr] as i32)),
                // Calls and exit.
                0x85 | 0x8d => {
                    let target = if s.op == 0x85 {
                        let t = prog.calls[imm as usize];
                        (t.native, t.may_abort)
                    } else {
                        let id = reg[d];
                        match usize::try_from(id)
                            .ok()
                            .and_then(|i| prog.callx.get(i).copied().flatten())
                        {
                            Some(f) => (f, true),
                            None => return Err(RunError::BadCallx { pc: pc - 1, id }),
                        }
                    };
                    let fp = frame.as_ptr();
                    reg[0] = (target.0)(reg[1], reg[2], reg[3], reg[4], reg[5], fp);
                    // The caller-saved argument registers are clobbered: zero, as in the JIT.
                    reg[1..6].fill(0);
                    if target.1 && frame.hdr.abort != abort::NONE {
                        return finish_abort(frame, pc - 1);
                    }
                }
                xop::CALL_LOCAL => {
                    // Depth was bounded when the program was checked.
                    calls[depth] = (pc, [reg[6], reg[7], reg[8], reg[9], reg[10]]);
                    depth += 1;
                    reg[10] -= STACK_SIZE as u64;
                    pc = imm as usize;
                }
                0x95 => {
                    if depth == 0 {
                        return Ok(reg[0]);
                    }
                    depth -= 1;
                    let (ret, saved) = calls[depth];
                    reg[6..11].copy_from_slice(&saved);
                    pc = ret;
                }
                other => unreachable!("prepared slot with opcode {other:#04x}"),
            }
        }
    }
}

/// Which register an atomic writes back, with what.
enum Fetched {
    None,
    Src(u64),
    R0(u64),
}

/// Computes an atomic's new memory value (if any) and its fetched result.
#[inline(always)]
fn atomic_rmw(code: u8, size: Size, old: u64, src: u64, r0: u64) -> (Option<u64>, Fetched) {
    use crate::isa::atomic as a;
    let mask = if size == Size::W {
        u64::from(u32::MAX)
    } else {
        u64::MAX
    };
    let src = src & mask;
    let imm = i32::from(code);
    let op = imm & !a::FETCH;
    let fetch = imm & a::FETCH != 0;
    let fetched = |v: u64| {
        if fetch {
            Fetched::Src(v)
        } else {
            Fetched::None
        }
    };
    match imm {
        a::XCHG => (Some(src), Fetched::Src(old)),
        a::CMPXCHG => {
            let new = if old == r0 & mask { Some(src) } else { None };
            (new, Fetched::R0(old))
        }
        _ => {
            let new = match op {
                a::ADD => old.wrapping_add(src),
                a::OR => old | src,
                a::AND => old & src,
                _ => old ^ src,
            } & mask;
            (Some(new), fetched(old))
        }
    }
}

/// Turns a helper's abort request into the run's result.
fn finish_abort<E>(frame: &mut RunFrame<'_, E>, pc: usize) -> Result<u64, RunError> {
    if frame.hdr.abort == abort::EXIT {
        Ok(frame.hdr.value)
    } else {
        Err(RunError::Helper {
            pc,
            msg: frame.error.take().unwrap_or_else(|| "unknown error".into()),
        })
    }
}
