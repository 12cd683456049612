//! Conditional jumps: both successors with the bounds each outcome implies, or one when the
//! outcome is known.

use super::*;

impl<'a, E> Walk<'a, E> {
    /// Both edges of a conditional jump: `(taken, fall-through)`, `None` for an impossible one.
    pub(super) fn branch(
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
}
