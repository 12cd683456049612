//! Encoding [`Instr`]s back into slots: the exact inverse of [`super::decode`].

use super::*;

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
