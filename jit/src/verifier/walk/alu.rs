//! ALU instructions: scalar arithmetic on bounds and tnums, pointer arithmetic, and
//! 64-bit immediate loads (map references, constants).

use super::*;

impl<'a, E> Walk<'a, E> {
    pub(super) fn scalar_operand(&self, st: &State, r: u8, what: &str) -> Result<Scalar, Reason> {
        match self.read(st, r)? {
            Reg::Scalar(s) => Ok(s),
            _ => Err(Reason::PointerArith {
                reg: r,
                detail: format!("{what} of a pointer"),
            }),
        }
    }

    pub(super) fn alu(
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

    pub(super) fn ptr_add(&self, reg: u8, p: Ptr, op: AluOp, y: &Scalar) -> Result<Reg, Reason> {
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

    pub(super) fn lddw(&self, kind: LdImmKind, imm: u64) -> Result<Reg, Reason> {
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
}
