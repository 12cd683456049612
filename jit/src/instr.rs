//! Typed instructions: every valid slot of RFC 9669 versions 1-4 as one enum variant.
//!
//! [`decode`] is strict, like the kernel's and uBPF's loaders: an unknown opcode, an operand the
//! instruction does not use but which is not zero, a register outside r0..r10, a write to the
//! read-only frame pointer r10, or a `lddw` without a well-formed second slot is an error naming
//! the slot index. [`Instr::encode`] is the exact inverse, so bytes -> `Instr` -> bytes is the
//! identity for every accepted program.

use crate::isa::{
    self, alu, atomic, call_src, class, jmp, ld_src, mode, op, size, source, RawInsn,
};
use thiserror::Error;

/// Operand width of an ALU or JMP instruction.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Width {
    /// The low 32 bits, result zero-extended.
    W32,
    /// All 64 bits.
    W64,
}

/// Memory access size.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    /// Size in bytes.
    pub fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    fn from_bits(bits: u8) -> Size {
        match bits & 0x18 {
            size::W => Size::W,
            size::H => Size::H,
            size::B => Size::B,
            _ => Size::DW,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Size::W => size::W,
            Size::H => size::H,
            Size::B => size::B,
            Size::DW => size::DW,
        }
    }

    /// Mnemonic suffix: `b`, `h`, `w`, `dw`.
    pub fn suffix(self) -> &'static str {
        match self {
            Size::B => "b",
            Size::H => "h",
            Size::W => "w",
            Size::DW => "dw",
        }
    }
}

/// Binary ALU operations (NEG, MOVSX and END have variants of their own).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    Div,
    SDiv,
    Or,
    And,
    Lsh,
    Rsh,
    Mod,
    SMod,
    Xor,
    Mov,
    Arsh,
}

impl AluOp {
    /// All binary operations, for generators and tables.
    pub const ALL: [AluOp; 14] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::SDiv,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::SMod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
    ];

    /// The mnemonic without width suffix.
    pub fn mnemonic(self) -> &'static str {
        match self {
            AluOp::Add => "add",
            AluOp::Sub => "sub",
            AluOp::Mul => "mul",
            AluOp::Div => "div",
            AluOp::SDiv => "sdiv",
            AluOp::Or => "or",
            AluOp::And => "and",
            AluOp::Lsh => "lsh",
            AluOp::Rsh => "rsh",
            AluOp::Mod => "mod",
            AluOp::SMod => "smod",
            AluOp::Xor => "xor",
            AluOp::Mov => "mov",
            AluOp::Arsh => "arsh",
        }
    }

    fn code_and_off(self) -> (u8, i16) {
        match self {
            AluOp::Add => (alu::ADD, 0),
            AluOp::Sub => (alu::SUB, 0),
            AluOp::Mul => (alu::MUL, 0),
            AluOp::Div => (alu::DIV, 0),
            AluOp::SDiv => (alu::DIV, 1),
            AluOp::Or => (alu::OR, 0),
            AluOp::And => (alu::AND, 0),
            AluOp::Lsh => (alu::LSH, 0),
            AluOp::Rsh => (alu::RSH, 0),
            AluOp::Mod => (alu::MOD, 0),
            AluOp::SMod => (alu::MOD, 1),
            AluOp::Xor => (alu::XOR, 0),
            AluOp::Mov => (alu::MOV, 0),
            AluOp::Arsh => (alu::ARSH, 0),
        }
    }
}

/// Jump conditions.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Cond {
    Eq,
    Gt,
    Ge,
    Set,
    Ne,
    Sgt,
    Sge,
    Lt,
    Le,
    Slt,
    Sle,
}

impl Cond {
    /// All conditions.
    pub const ALL: [Cond; 11] = [
        Cond::Eq,
        Cond::Gt,
        Cond::Ge,
        Cond::Set,
        Cond::Ne,
        Cond::Sgt,
        Cond::Sge,
        Cond::Lt,
        Cond::Le,
        Cond::Slt,
        Cond::Sle,
    ];

    /// The mnemonic without width suffix.
    pub fn mnemonic(self) -> &'static str {
        match self {
            Cond::Eq => "jeq",
            Cond::Gt => "jgt",
            Cond::Ge => "jge",
            Cond::Set => "jset",
            Cond::Ne => "jne",
            Cond::Sgt => "jsgt",
            Cond::Sge => "jsge",
            Cond::Lt => "jlt",
            Cond::Le => "jle",
            Cond::Slt => "jslt",
            Cond::Sle => "jsle",
        }
    }

    fn code(self) -> u8 {
        match self {
            Cond::Eq => jmp::JEQ,
            Cond::Gt => jmp::JGT,
            Cond::Ge => jmp::JGE,
            Cond::Set => jmp::JSET,
            Cond::Ne => jmp::JNE,
            Cond::Sgt => jmp::JSGT,
            Cond::Sge => jmp::JSGE,
            Cond::Lt => jmp::JLT,
            Cond::Le => jmp::JLE,
            Cond::Slt => jmp::JSLT,
            Cond::Sle => jmp::JSLE,
        }
    }

    /// Evaluates the condition on 64-bit operands.
    #[inline(always)]
    pub fn eval64(self, a: u64, b: u64) -> bool {
        match self {
            Cond::Eq => a == b,
            Cond::Gt => a > b,
            Cond::Ge => a >= b,
            Cond::Set => a & b != 0,
            Cond::Ne => a != b,
            Cond::Sgt => (a as i64) > (b as i64),
            Cond::Sge => (a as i64) >= (b as i64),
            Cond::Lt => a < b,
            Cond::Le => a <= b,
            Cond::Slt => (a as i64) < (b as i64),
            Cond::Sle => (a as i64) <= (b as i64),
        }
    }

    /// Evaluates the condition on 32-bit operands.
    #[inline(always)]
    pub fn eval32(self, a: u32, b: u32) -> bool {
        match self {
            Cond::Eq => a == b,
            Cond::Gt => a > b,
            Cond::Ge => a >= b,
            Cond::Set => a & b != 0,
            Cond::Ne => a != b,
            Cond::Sgt => (a as i32) > (b as i32),
            Cond::Sge => (a as i32) >= (b as i32),
            Cond::Lt => a < b,
            Cond::Le => a <= b,
            Cond::Slt => (a as i32) < (b as i32),
            Cond::Sle => (a as i32) <= (b as i32),
        }
    }
}

/// Atomic read-modify-write operations.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum AtomicOp {
    Add,
    Or,
    And,
    Xor,
    /// Always fetches.
    Xchg,
    /// Compares with r0, always fetches into r0.
    Cmpxchg,
}

impl AtomicOp {
    /// The mnemonic used after `lock`.
    pub fn mnemonic(self) -> &'static str {
        match self {
            AtomicOp::Add => "add",
            AtomicOp::Or => "or",
            AtomicOp::And => "and",
            AtomicOp::Xor => "xor",
            AtomicOp::Xchg => "xchg",
            AtomicOp::Cmpxchg => "cmpxchg",
        }
    }
}

/// Byte-order conversions.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum EndKind {
    /// To little endian: on our little-endian hosts, a truncation.
    Le,
    /// To big endian: a swap then truncation.
    Be,
    /// `bswap` (ALU64 class): an unconditional swap.
    Swap,
}

/// Second operand: a register or the instruction's immediate.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Src {
    Reg(u8),
    Imm(i32),
}

/// The pseudo forms of `lddw`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum LdImmKind {
    /// A plain 64-bit constant.
    Imm64,
    /// Map by handle (low word); a pointer to the map once relocated.
    MapFd,
    /// Map value by handle (low word) and offset (high word).
    MapValue,
    /// Kernel variable by BTF id.
    BtfId,
    /// Address of a BPF function at relative slot offset (low word).
    Func,
    /// Map by index into the program's map table.
    MapIdx,
    /// Map value by index (low word) and offset (high word).
    MapIdxValue,
}

impl LdImmKind {
    fn from_src(src: u8) -> Option<Self> {
        Some(match src {
            ld_src::IMM64 => LdImmKind::Imm64,
            ld_src::MAP_FD => LdImmKind::MapFd,
            ld_src::MAP_VALUE => LdImmKind::MapValue,
            ld_src::BTF_ID => LdImmKind::BtfId,
            ld_src::FUNC => LdImmKind::Func,
            ld_src::MAP_IDX => LdImmKind::MapIdx,
            ld_src::MAP_IDX_VALUE => LdImmKind::MapIdxValue,
            _ => return None,
        })
    }

    fn src(self) -> u8 {
        match self {
            LdImmKind::Imm64 => ld_src::IMM64,
            LdImmKind::MapFd => ld_src::MAP_FD,
            LdImmKind::MapValue => ld_src::MAP_VALUE,
            LdImmKind::BtfId => ld_src::BTF_ID,
            LdImmKind::Func => ld_src::FUNC,
            LdImmKind::MapIdx => ld_src::MAP_IDX,
            LdImmKind::MapIdxValue => ld_src::MAP_IDX_VALUE,
        }
    }

    /// The name used by the assembler for pseudo forms.
    pub fn keyword(self) -> &'static str {
        match self {
            LdImmKind::Imm64 => "imm",
            LdImmKind::MapFd => "map_fd",
            LdImmKind::MapValue => "map_value",
            LdImmKind::BtfId => "btf_id",
            LdImmKind::Func => "func",
            LdImmKind::MapIdx => "map_idx",
            LdImmKind::MapIdxValue => "map_idx_value",
        }
    }

    /// Every kind, for the assembler's keyword lookup.
    pub const ALL: [LdImmKind; 7] = [
        LdImmKind::Imm64,
        LdImmKind::MapFd,
        LdImmKind::MapValue,
        LdImmKind::BtfId,
        LdImmKind::Func,
        LdImmKind::MapIdx,
        LdImmKind::MapIdxValue,
    ];
}

/// One decoded instruction slot.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Instr {
    /// `dst = dst op src` (or `dst = src` for mov).
    Alu {
        w: Width,
        op: AluOp,
        dst: u8,
        src: Src,
    },
    /// `dst = -dst`.
    Neg { w: Width, dst: u8 },
    /// `dst = sign_extend(src, bits)`; zero-extended from 32 bits for [`Width::W32`].
    MovSx {
        w: Width,
        dst: u8,
        src: u8,
        bits: u8,
    },
    /// Byte order conversion of the low `bits` of dst.
    End { kind: EndKind, bits: u8, dst: u8 },
    /// First slot of `lddw`; the next slot is [`Instr::LdImm64Hi`].
    LdImm64 { dst: u8, kind: LdImmKind, imm: u64 },
    /// Second slot of `lddw`: not an instruction of its own, never a jump target.
    LdImm64Hi,
    /// `dst = *(size *)(base + off)`, sign-extended when `sx`.
    Load {
        size: Size,
        sx: bool,
        dst: u8,
        base: u8,
        off: i16,
    },
    /// `*(size *)(base + off) = src`.
    Store {
        size: Size,
        base: u8,
        off: i16,
        src: Src,
    },
    /// Atomic read-modify-write of `*(size *)(base + off)` with register `src`.
    Atomic {
        size: Size,
        op: AtomicOp,
        fetch: bool,
        base: u8,
        off: i16,
        src: u8,
    },
    /// Unconditional jump by `off` slots (`ja`, or `gotol`/`ja32` when `long`).
    Ja { off: i32, long: bool },
    /// Conditional jump by `off` slots.
    Jcond {
        w: Width,
        cond: Cond,
        dst: u8,
        src: Src,
        off: i16,
    },
    /// Helper call by id.
    CallHelper { id: u32 },
    /// bpf-to-bpf call to slot `pc + off + 1`.
    CallLocal { off: i32 },
    /// Helper call by id held in a register.
    Callx { reg: u8 },
    /// Return r0 from the current function.
    Exit,
}

/// Why a slot was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("instruction {pc}: unknown opcode {opcode:#04x}")]
    UnknownOpcode { pc: usize, opcode: u8 },
    #[error("instruction {pc} ({what}): unused field {field} must be zero, is {value}")]
    UnusedField {
        pc: usize,
        what: &'static str,
        field: &'static str,
        value: i64,
    },
    #[error("instruction {pc} ({what}): invalid {field} {value}")]
    BadField {
        pc: usize,
        what: &'static str,
        field: &'static str,
        value: i64,
    },
    #[error("instruction {pc}: invalid {role} register r{reg}")]
    BadRegister {
        pc: usize,
        role: &'static str,
        reg: u8,
    },
    #[error("instruction {pc}: r10 is the read-only frame pointer and cannot be written")]
    WriteToFramePointer { pc: usize },
    #[error("instruction {pc}: incomplete lddw (the program ends after its first slot)")]
    IncompleteLddw { pc: usize },
    #[error(
        "instruction {pc}: invalid lddw second half (opcode, registers and offset must be zero)"
    )]
    BadLddwSecondHalf { pc: usize },
    #[error("instruction {pc}: calls to kernel functions by BTF id (kfuncs) are not supported")]
    Kfunc { pc: usize },
}

fn reg(pc: usize, role: &'static str, r: u8) -> Result<u8, DecodeError> {
    if r as usize >= isa::NUM_REGS {
        return Err(DecodeError::BadRegister { pc, role, reg: r });
    }
    Ok(r)
}

fn dst_w(pc: usize, r: u8) -> Result<u8, DecodeError> {
    let r = reg(pc, "destination", r)?;
    if r == isa::FRAME_PTR {
        return Err(DecodeError::WriteToFramePointer { pc });
    }
    Ok(r)
}

fn zero(pc: usize, what: &'static str, field: &'static str, value: i64) -> Result<(), DecodeError> {
    if value != 0 {
        return Err(DecodeError::UnusedField {
            pc,
            what,
            field,
            value,
        });
    }
    Ok(())
}

/// Decodes a whole program; slot `i` of the result describes slot `i` of the input.
pub fn decode(slots: &[RawInsn]) -> Result<Vec<Instr>, DecodeError> {
    let mut out = Vec::with_capacity(slots.len());
    let mut pc = 0;
    while pc < slots.len() {
        let s = slots[pc];
        if s.opcode == op::LDDW {
            let hi = slots
                .get(pc + 1)
                .ok_or(DecodeError::IncompleteLddw { pc })?;
            if hi.opcode != 0 || hi.dst != 0 || hi.src != 0 || hi.off != 0 {
                return Err(DecodeError::BadLddwSecondHalf { pc: pc + 1 });
            }
            zero(pc, "lddw", "offset", s.off.into())?;
            let kind = LdImmKind::from_src(s.src).ok_or(DecodeError::BadField {
                pc,
                what: "lddw",
                field: "source register (pseudo form)",
                value: s.src.into(),
            })?;
            // Only plain constants and map-value forms (offset) use the second slot's imm.
            if !matches!(
                kind,
                LdImmKind::Imm64 | LdImmKind::MapValue | LdImmKind::MapIdxValue
            ) {
                zero(pc + 1, "lddw", "second-slot immediate", hi.imm.into())?;
            }
            let imm = u64::from(s.imm as u32) | (u64::from(hi.imm as u32) << 32);
            out.push(Instr::LdImm64 {
                dst: dst_w(pc, s.dst)?,
                kind,
                imm,
            });
            out.push(Instr::LdImm64Hi);
            pc += 2;
            continue;
        }
        out.push(decode_one(pc, s)?);
        pc += 1;
    }
    Ok(out)
}

/// Decodes one slot that is not `lddw`.
fn decode_one(pc: usize, s: RawInsn) -> Result<Instr, DecodeError> {
    let unknown = DecodeError::UnknownOpcode {
        pc,
        opcode: s.opcode,
    };
    match s.class() {
        class::ALU | class::ALU64 => decode_alu(pc, s),
        class::JMP | class::JMP32 => decode_jmp(pc, s),
        class::LDX => {
            let m = s.opcode & 0xe0;
            let size = Size::from_bits(s.opcode);
            let sx = match m {
                mode::MEM => false,
                mode::MEMSX if size != Size::DW => true,
                _ => return Err(unknown),
            };
            zero(pc, "load", "immediate", s.imm.into())?;
            Ok(Instr::Load {
                size,
                sx,
                dst: dst_w(pc, s.dst)?,
                base: reg(pc, "source", s.src)?,
                off: s.off,
            })
        }
        class::ST => {
            if s.opcode & 0xe0 != mode::MEM {
                return Err(unknown);
            }
            zero(pc, "store", "source register", s.src.into())?;
            Ok(Instr::Store {
                size: Size::from_bits(s.opcode),
                base: reg(pc, "destination", s.dst)?,
                off: s.off,
                src: Src::Imm(s.imm),
            })
        }
        class::STX => {
            let size = Size::from_bits(s.opcode);
            match s.opcode & 0xe0 {
                mode::MEM => {
                    zero(pc, "store", "immediate", s.imm.into())?;
                    Ok(Instr::Store {
                        size,
                        base: reg(pc, "destination", s.dst)?,
                        off: s.off,
                        src: Src::Reg(reg(pc, "source", s.src)?),
                    })
                }
                mode::ATOMIC if matches!(size, Size::W | Size::DW) => {
                    let (op, fetch) = match s.imm {
                        atomic::ADD => (AtomicOp::Add, false),
                        atomic::OR => (AtomicOp::Or, false),
                        atomic::AND => (AtomicOp::And, false),
                        atomic::XOR => (AtomicOp::Xor, false),
                        x if x == atomic::ADD | atomic::FETCH => (AtomicOp::Add, true),
                        x if x == atomic::OR | atomic::FETCH => (AtomicOp::Or, true),
                        x if x == atomic::AND | atomic::FETCH => (AtomicOp::And, true),
                        x if x == atomic::XOR | atomic::FETCH => (AtomicOp::Xor, true),
                        atomic::XCHG => (AtomicOp::Xchg, true),
                        atomic::CMPXCHG => (AtomicOp::Cmpxchg, true),
                        other => {
                            return Err(DecodeError::BadField {
                                pc,
                                what: "atomic",
                                field: "operation",
                                value: other.into(),
                            })
                        }
                    };
                    // A fetching atomic writes its source register (cmpxchg writes r0).
                    let src = if fetch && op != AtomicOp::Cmpxchg {
                        let r = reg(pc, "source", s.src)?;
                        if r == isa::FRAME_PTR {
                            return Err(DecodeError::WriteToFramePointer { pc });
                        }
                        r
                    } else {
                        reg(pc, "source", s.src)?
                    };
                    Ok(Instr::Atomic {
                        size,
                        op,
                        fetch,
                        base: reg(pc, "destination", s.dst)?,
                        off: s.off,
                        src,
                    })
                }
                _ => Err(unknown),
            }
        }
        _ => Err(unknown), // class::LD other than lddw: legacy packet loads are not supported
    }
}

fn decode_alu(pc: usize, s: RawInsn) -> Result<Instr, DecodeError> {
    let w = if s.class() == class::ALU64 {
        Width::W64
    } else {
        Width::W32
    };
    let code = s.opcode & 0xf0;
    let is_reg = s.opcode & source::X != 0;
    let what = "alu";
    match code {
        alu::NEG => {
            if is_reg {
                return Err(DecodeError::UnknownOpcode {
                    pc,
                    opcode: s.opcode,
                });
            }
            zero(pc, "neg", "source register", s.src.into())?;
            zero(pc, "neg", "offset", s.off.into())?;
            zero(pc, "neg", "immediate", s.imm.into())?;
            Ok(Instr::Neg {
                w,
                dst: dst_w(pc, s.dst)?,
            })
        }
        alu::END => {
            let kind = match (w, is_reg) {
                (Width::W32, false) => EndKind::Le,
                (Width::W32, true) => EndKind::Be,
                (Width::W64, false) => EndKind::Swap,
                (Width::W64, true) => {
                    return Err(DecodeError::UnknownOpcode {
                        pc,
                        opcode: s.opcode,
                    })
                }
            };
            zero(pc, "endian", "source register", s.src.into())?;
            zero(pc, "endian", "offset", s.off.into())?;
            if !matches!(s.imm, 16 | 32 | 64) {
                return Err(DecodeError::BadField {
                    pc,
                    what: "endian",
                    field: "size immediate",
                    value: s.imm.into(),
                });
            }
            Ok(Instr::End {
                kind,
                bits: s.imm as u8,
                dst: dst_w(pc, s.dst)?,
            })
        }
        alu::MOV if is_reg && s.off != 0 => {
            let ok = match w {
                Width::W64 => matches!(s.off, 8 | 16 | 32),
                Width::W32 => matches!(s.off, 8 | 16),
            };
            if !ok {
                return Err(DecodeError::BadField {
                    pc,
                    what: "movsx",
                    field: "offset",
                    value: s.off.into(),
                });
            }
            zero(pc, "movsx", "immediate", s.imm.into())?;
            Ok(Instr::MovSx {
                w,
                dst: dst_w(pc, s.dst)?,
                src: reg(pc, "source", s.src)?,
                bits: s.off as u8,
            })
        }
        _ => {
            let op = match (code, s.off) {
                (alu::ADD, 0) => AluOp::Add,
                (alu::SUB, 0) => AluOp::Sub,
                (alu::MUL, 0) => AluOp::Mul,
                (alu::DIV, 0) => AluOp::Div,
                (alu::DIV, 1) => AluOp::SDiv,
                (alu::OR, 0) => AluOp::Or,
                (alu::AND, 0) => AluOp::And,
                (alu::LSH, 0) => AluOp::Lsh,
                (alu::RSH, 0) => AluOp::Rsh,
                (alu::MOD, 0) => AluOp::Mod,
                (alu::MOD, 1) => AluOp::SMod,
                (alu::XOR, 0) => AluOp::Xor,
                (alu::MOV, 0) => AluOp::Mov,
                (alu::ARSH, 0) => AluOp::Arsh,
                (alu::ADD..=alu::ARSH, off) => {
                    return Err(DecodeError::UnusedField {
                        pc,
                        what,
                        field: "offset",
                        value: off.into(),
                    })
                }
                _ => {
                    return Err(DecodeError::UnknownOpcode {
                        pc,
                        opcode: s.opcode,
                    })
                }
            };
            let src = if is_reg {
                zero(pc, what, "immediate", s.imm.into())?;
                Src::Reg(reg(pc, "source", s.src)?)
            } else {
                zero(pc, what, "source register", s.src.into())?;
                Src::Imm(s.imm)
            };
            Ok(Instr::Alu {
                w,
                op,
                dst: dst_w(pc, s.dst)?,
                src,
            })
        }
    }
}

fn decode_jmp(pc: usize, s: RawInsn) -> Result<Instr, DecodeError> {
    let w = if s.class() == class::JMP32 {
        Width::W32
    } else {
        Width::W64
    };
    let code = s.opcode & 0xf0;
    let is_reg = s.opcode & source::X != 0;
    let unknown = DecodeError::UnknownOpcode {
        pc,
        opcode: s.opcode,
    };
    match code {
        jmp::JA => {
            if is_reg {
                return Err(unknown);
            }
            zero(pc, "ja", "destination register", s.dst.into())?;
            zero(pc, "ja", "source register", s.src.into())?;
            match w {
                Width::W64 => {
                    zero(pc, "ja", "immediate", s.imm.into())?;
                    Ok(Instr::Ja {
                        off: s.off.into(),
                        long: false,
                    })
                }
                Width::W32 => {
                    zero(pc, "ja32", "offset", s.off.into())?;
                    Ok(Instr::Ja {
                        off: s.imm,
                        long: true,
                    })
                }
            }
        }
        jmp::CALL => {
            if w == Width::W32 {
                return Err(unknown);
            }
            zero(pc, "call", "offset", s.off.into())?;
            if is_reg {
                zero(pc, "callx", "source register", s.src.into())?;
                zero(pc, "callx", "immediate", s.imm.into())?;
                return Ok(Instr::Callx {
                    reg: reg(pc, "call target", s.dst)?,
                });
            }
            zero(pc, "call", "destination register", s.dst.into())?;
            match s.src {
                call_src::HELPER => Ok(Instr::CallHelper { id: s.imm as u32 }),
                call_src::LOCAL => Ok(Instr::CallLocal { off: s.imm }),
                call_src::KFUNC => Err(DecodeError::Kfunc { pc }),
                other => Err(DecodeError::BadField {
                    pc,
                    what: "call",
                    field: "source register (call kind)",
                    value: other.into(),
                }),
            }
        }
        jmp::EXIT => {
            if w == Width::W32 || is_reg {
                return Err(unknown);
            }
            zero(pc, "exit", "destination register", s.dst.into())?;
            zero(pc, "exit", "source register", s.src.into())?;
            zero(pc, "exit", "offset", s.off.into())?;
            zero(pc, "exit", "immediate", s.imm.into())?;
            Ok(Instr::Exit)
        }
        _ => {
            let cond = match code {
                jmp::JEQ => Cond::Eq,
                jmp::JGT => Cond::Gt,
                jmp::JGE => Cond::Ge,
                jmp::JSET => Cond::Set,
                jmp::JNE => Cond::Ne,
                jmp::JSGT => Cond::Sgt,
                jmp::JSGE => Cond::Sge,
                jmp::JLT => Cond::Lt,
                jmp::JLE => Cond::Le,
                jmp::JSLT => Cond::Slt,
                jmp::JSLE => Cond::Sle,
                _ => return Err(unknown),
            };
            let src = if is_reg {
                zero(pc, cond.mnemonic(), "immediate", s.imm.into())?;
                Src::Reg(reg(pc, "source", s.src)?)
            } else {
                zero(pc, cond.mnemonic(), "source register", s.src.into())?;
                Src::Imm(s.imm)
            };
            Ok(Instr::Jcond {
                w,
                cond,
                dst: reg(pc, "destination", s.dst)?,
                src,
                off: s.off,
            })
        }
    }
}

impl Instr {
    /// Encodes back into slots: one slot, or two for `lddw` (`LdImm64Hi` encodes to nothing).
    pub fn encode(&self, out: &mut Vec<RawInsn>) {
        let w_class = |w: Width, c32: u8, c64: u8| if w == Width::W32 { c32 } else { c64 };
        let r = |opcode, dst, src, off, imm| RawInsn::new(opcode, dst, src, off, imm);
        match *self {
            Instr::Alu { w, op, dst, src } => {
                let (code, off) = op.code_and_off();
                let cls = w_class(w, class::ALU, class::ALU64);
                out.push(match src {
                    Src::Reg(s) => r(cls | code | source::X, dst, s, off, 0),
                    Src::Imm(i) => r(cls | code | source::K, dst, 0, off, i),
                });
            }
            Instr::Neg { w, dst } => out.push(r(
                w_class(w, class::ALU, class::ALU64) | alu::NEG,
                dst,
                0,
                0,
                0,
            )),
            Instr::MovSx { w, dst, src, bits } => out.push(r(
                w_class(w, class::ALU, class::ALU64) | alu::MOV | source::X,
                dst,
                src,
                bits.into(),
                0,
            )),
            Instr::End { kind, bits, dst } => {
                let opcode = match kind {
                    EndKind::Le => class::ALU | alu::END | source::K,
                    EndKind::Be => class::ALU | alu::END | source::X,
                    EndKind::Swap => class::ALU64 | alu::END | source::K,
                };
                out.push(r(opcode, dst, 0, 0, bits.into()));
            }
            Instr::LdImm64 { dst, kind, imm } => {
                out.push(r(op::LDDW, dst, kind.src(), 0, imm as u32 as i32));
                out.push(r(0, 0, 0, 0, (imm >> 32) as u32 as i32));
            }
            Instr::LdImm64Hi => {}
            Instr::Load {
                size,
                sx,
                dst,
                base,
                off,
            } => {
                let m = if sx { mode::MEMSX } else { mode::MEM };
                out.push(r(class::LDX | m | size.bits(), dst, base, off, 0));
            }
            Instr::Store {
                size,
                base,
                off,
                src,
            } => out.push(match src {
                Src::Imm(i) => r(class::ST | mode::MEM | size.bits(), base, 0, off, i),
                Src::Reg(s) => r(class::STX | mode::MEM | size.bits(), base, s, off, 0),
            }),
            Instr::Atomic {
                size,
                op,
                fetch,
                base,
                off,
                src,
            } => {
                let imm = match op {
                    AtomicOp::Add => atomic::ADD,
                    AtomicOp::Or => atomic::OR,
                    AtomicOp::And => atomic::AND,
                    AtomicOp::Xor => atomic::XOR,
                    AtomicOp::Xchg => atomic::XCHG,
                    AtomicOp::Cmpxchg => atomic::CMPXCHG,
                } | if fetch { atomic::FETCH } else { 0 };
                out.push(r(
                    class::STX | mode::ATOMIC | size.bits(),
                    base,
                    src,
                    off,
                    imm,
                ));
            }
            Instr::Ja { off, long: false } => out.push(r(op::JA, 0, 0, off as i16, 0)),
            Instr::Ja { off, long: true } => out.push(r(op::JA32, 0, 0, 0, off)),
            Instr::Jcond {
                w,
                cond,
                dst,
                src,
                off,
            } => {
                let cls = w_class(w, class::JMP32, class::JMP);
                out.push(match src {
                    Src::Reg(s) => r(cls | cond.code() | source::X, dst, s, off, 0),
                    Src::Imm(i) => r(cls | cond.code() | source::K, dst, 0, off, i),
                });
            }
            Instr::CallHelper { id } => out.push(r(op::CALL, 0, call_src::HELPER, 0, id as i32)),
            Instr::CallLocal { off } => out.push(r(op::CALL, 0, call_src::LOCAL, 0, off)),
            Instr::Callx { reg } => out.push(r(op::CALLX, reg, 0, 0, 0)),
            Instr::Exit => out.push(r(op::EXIT, 0, 0, 0, 0)),
        }
    }

    /// Relative jump offset in slots, for jumps (not calls).
    pub fn jump_offset(&self) -> Option<i64> {
        match *self {
            Instr::Ja { off, .. } => Some(off.into()),
            Instr::Jcond { off, .. } => Some(off.into()),
            _ => None,
        }
    }
}

/// Encodes a whole program.
pub fn encode(instrs: &[Instr]) -> Vec<RawInsn> {
    let mut out = Vec::with_capacity(instrs.len());
    for i in instrs {
        i.encode(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(bytes: &[u8]) -> Result<Vec<Instr>, DecodeError> {
        decode(&isa::slots_from_bytes(bytes).expect("whole slots"))
    }

    #[test]
    fn rejects_unused_fields_with_the_index() {
        // mov64 imm with a source register: the conformance suite's unused-mov64_imm-src.
        let e = d(&[0x95, 0, 0, 0, 0, 0, 0, 0, 0xb7, 0x10, 0, 0, 1, 0, 0, 0]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "instruction 1 (alu): unused field source register must be zero, is 1"
        );
    }

    #[test]
    fn rejects_unknown_opcodes_and_bad_registers() {
        assert!(matches!(
            d(&[0xff, 0, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::UnknownOpcode {
                pc: 0,
                opcode: 0xff
            })
        ));
        assert!(matches!(
            d(&[0xb7, 0x0b, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::BadRegister { pc: 0, .. })
        ));
        assert!(matches!(
            d(&[0xb7, 0x0a, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::WriteToFramePointer { pc: 0 })
        ));
    }

    #[test]
    fn lddw_needs_a_clean_second_slot() {
        assert!(matches!(
            d(&[0x18, 0, 0, 0, 1, 0, 0, 0]),
            Err(DecodeError::IncompleteLddw { pc: 0 })
        ));
        assert!(matches!(
            d(&[0x18, 0, 0, 0, 1, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::BadLddwSecondHalf { pc: 1 })
        ));
        let v = d(&[
            0x18, 1, 0, 0, 0x88, 0x77, 0x66, 0x55, 0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11,
        ])
        .expect("valid lddw");
        assert_eq!(
            v[0],
            Instr::LdImm64 {
                dst: 1,
                kind: LdImmKind::Imm64,
                imm: 0x1122334455667788
            }
        );
        assert_eq!(v[1], Instr::LdImm64Hi);
    }

    #[test]
    fn every_valid_opcode_round_trips() {
        // Exhaustive over opcodes with representative fields: whatever decodes re-encodes exactly.
        let mut accepted = 0;
        for opcode in 0..=255u8 {
            for (src, off, imm) in [
                (0, 0, 0),
                (1, 0, 0),
                (0, 1, 0),
                (0, 8, 0),
                (2, 0, 16),
                (0, 0, 0xf1),
            ] {
                let slots = [
                    RawInsn::new(opcode, 1, src, off, imm),
                    RawInsn::new(0, 0, 0, 0, 7),
                ];
                let take = if opcode == op::LDDW { 2 } else { 1 };
                if let Ok(v) = decode(&slots[..take]) {
                    accepted += 1;
                    assert_eq!(encode(&v), slots[..take].to_vec(), "opcode {opcode:#x}");
                }
            }
        }
        assert!(accepted > 150, "only {accepted} opcode forms accepted");
    }
}
