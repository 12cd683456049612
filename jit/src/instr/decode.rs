//! Decoding slots into [`Instr`]s, strictly: every unused field must be zero, registers in
//! range, r10 never written, `lddw`'s second slot well-formed; errors name the slot.

use super::*;
use thiserror::Error;

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
