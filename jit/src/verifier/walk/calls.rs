//! Calls: helper calls checked against their prototypes (including `bpf_trace_printk`'s
//! format arguments), helper memory arguments, and returns from bpf-to-bpf calls.

use super::*;

impl<'a, E> Walk<'a, E> {
    pub(super) fn return_from_call(&self, st: &mut State) -> Result<usize, Reason> {
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

    pub(super) fn call_helper(&mut self, st: &mut State, id: u64) -> Result<(), Reason> {
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
                    }) => {
                        if let Some(d) = self.maps.get(m as usize) {
                            let fits = match proto.map_kinds {
                                Some(kinds) => kinds.contains(&d.kind),
                                None => !d.kind.needs_own_helpers(),
                            };
                            if !fits {
                                return Err(bad(format!(
                                    "map '{}' is a {} map, which {} does not take",
                                    d.name,
                                    d.kind.name(),
                                    proto.name
                                )));
                            }
                        }
                        map = Some(m)
                    }
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
    pub(super) fn check_format_args(&self, st: &State, proto: Proto) -> Result<(), Reason> {
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
    pub(super) fn const_format(&self, st: &State) -> Result<Vec<u8>, String> {
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
    pub(super) fn helper_mem(
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
}
