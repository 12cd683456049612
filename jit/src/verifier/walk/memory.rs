//! Memory accesses: which region a pointer may touch, read-only maps, stack slots, and
//! the load/store/atomic transfer functions.

use super::*;

impl<'a, E> Walk<'a, E> {
    pub(super) fn value_limit(&self, kind: PtrKind) -> u64 {
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
    pub(super) fn read_only_map(&self, map: u32) -> bool {
        self.maps
            .get(map as usize)
            .is_some_and(|m| m.flags & BPF_F_RDONLY_PROG != 0)
    }

    /// Programs may not write a read-only map's values (so its contents stay the constants
    /// the verifier may have read, e.g. a `bpf_trace_printk` format).
    pub(super) fn check_writable(&self, kind: PtrKind) -> Result<(), Reason> {
        match kind {
            PtrKind::MapValue { map } if self.read_only_map(map) => Err(Reason::ReadOnlyMap {
                region: ptr_region(kind, self.maps),
            }),
            _ => Ok(()),
        }
    }

    /// Checks `[p + extra, p + extra + size)` against a bounded object (map value, memory).
    pub(super) fn check_bounds(&self, p: &Ptr, extra: i64, size: u64) -> Result<(), Reason> {
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
    pub(super) fn stack_off(
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

    pub(super) fn mem_access(
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
                if !self.ty.ctx_readable(o, n) {
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
                    Access::Read { sx } => Ok(self
                        .frozen_value(&p, extra, n, sx)
                        .map_or_else(|| scalar_of(sx), |v| Reg::Scalar(Scalar::constant(v)))),
                    Access::Write(Reg::Ptr(_)) => Err(Reason::PointerLeak {
                        what: "a pointer is stored into a map value or memory region",
                    }),
                    Access::Write(_) | Access::Atomic => Ok(Reg::Uninit),
                }
            }
        }
    }

    /// A constant load from a frozen map (`.rodata`, or any map programs may only read,
    /// whose contents the embedder gave in [`crate::verifier::VerifyOptions::map_contents`])
    /// at a constant offset: its value, as the kernel's `bpf_map_direct_read` makes such loads
    /// known scalars (so `const volatile` knobs prune the branches they turn off).
    fn frozen_value(&self, p: &Ptr, extra: i64, n: usize, sx: bool) -> Option<u64> {
        let PtrKind::MapValue { map } = p.kind else {
            return None;
        };
        if !self.read_only_map(map) {
            return None;
        }
        let data = self.opts.map_contents.get(map as usize)?.as_ref()?;
        let at = usize::try_from(p.off.as_const()? as i64 + extra).ok()?;
        let bytes = data.get(at..at.checked_add(n)?)?;
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(bytes);
        let raw = u64::from_le_bytes(v);
        Some(if sx && n < 8 {
            let shift = 64 - 8 * n as u32;
            (((raw << shift) as i64) >> shift) as u64
        } else {
            raw
        })
    }
}
