//! The abstract machine state: registers, stack slots and call frames, with the subsumption
//! test used for pruning and the kernel-like text form used in the log.

use super::bounds::Scalar;
use super::error::Reason;
use crate::isa::STACK_SIZE;
use std::collections::HashMap;
use std::fmt::{self, Write};

/// What a pointer points to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PtrKind {
    /// The program's context.
    Ctx,
    /// The stack of call frame `frame` (0 = main); offsets are relative to its r10.
    Stack { frame: u8 },
    /// A value of map `map` (index into the map table).
    MapValue { map: u32 },
    /// A value of map `map` or NULL; copies share `id` so one null check refines them all.
    MapValueOrNull { map: u32, id: u32 },
    /// The map `map` itself (only for helper arguments).
    Map { map: u32 },
    /// A read-write memory region of `size` bytes.
    Mem { size: u64 },
    /// A reserved ring-buffer record of `size` bytes, or NULL; `id` names the reservation.
    RingbufOrNull { size: u64, id: u32 },
    /// A reserved ring-buffer record of `size` bytes, to be submitted or discarded.
    Ringbuf { size: u64, id: u32 },
}

impl PtrKind {
    /// The reservation a ring-buffer pointer belongs to.
    pub fn reservation(self) -> Option<u32> {
        match self {
            PtrKind::RingbufOrNull { id, .. } | PtrKind::Ringbuf { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Whether the pointer may be NULL (it must be checked before use).
    pub fn maybe_null(self) -> bool {
        matches!(
            self,
            PtrKind::MapValueOrNull { .. } | PtrKind::RingbufOrNull { .. }
        )
    }
}

/// A pointer: its target and the offset from the target's start.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Ptr {
    pub kind: PtrKind,
    pub off: Scalar,
}

/// The abstract value of a register or spilled stack slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Reg {
    #[default]
    Uninit,
    Scalar(Scalar),
    Ptr(Ptr),
}

impl Reg {
    pub fn ptr(kind: PtrKind, off: i64) -> Reg {
        Reg::Ptr(Ptr {
            kind,
            off: Scalar::constant(off as u64),
        })
    }

    pub fn constant(v: u64) -> Reg {
        Reg::Scalar(Scalar::constant(v))
    }
}

/// What one stack byte holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum ByteKind {
    /// Never written (or holding a destroyed pointer): reading it is an error.
    #[default]
    Invalid,
    /// Some initialised data.
    Misc,
    /// Known zero.
    Zero,
    /// Part of the register spilled in this slot.
    Spill,
}

/// Eight stack bytes; `spill` holds a whole spilled register (then every byte is `Spill`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Slot {
    pub bytes: [ByteKind; 8],
    pub spill: Option<Reg>,
}

/// One call frame.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Frame {
    pub regs: [Reg; 11],
    /// Slot `i` covers offsets `-8(i+1) .. -8i` from this frame's r10; missing slots are invalid.
    pub stack: Vec<Slot>,
    /// The instruction that called this frame (`None` for main).
    pub callsite: Option<usize>,
    /// Index of the function running in this frame.
    pub func: usize,
}

/// The whole abstract state at one instruction.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct State {
    pub frames: Vec<Frame>,
    /// Ring-buffer reservations not yet submitted or discarded (sorted ids).
    pub refs: Vec<u32>,
}

fn slot_of(off: i64) -> (usize, usize) {
    let i = ((-off - 1) / 8) as usize;
    let j = (off + 8 * (i as i64 + 1)) as usize;
    (i, j)
}

impl Frame {
    pub fn new(frame: u8, func: usize, callsite: Option<usize>) -> Frame {
        let mut regs = [Reg::Uninit; 11];
        regs[10] = Reg::ptr(PtrKind::Stack { frame }, 0);
        Frame {
            regs,
            stack: Vec::new(),
            callsite,
            func,
        }
    }

    fn slot_mut(&mut self, i: usize) -> &mut Slot {
        if self.stack.len() <= i {
            self.stack.resize(i + 1, Slot::default());
        }
        &mut self.stack[i]
    }

    fn byte(&self, off: i64) -> ByteKind {
        let (i, j) = slot_of(off);
        self.stack.get(i).map_or(ByteKind::Invalid, |s| s.bytes[j])
    }

    /// Drops a whole-register spill that `[off, off+size)` touches: the other bytes of a
    /// spilled scalar stay initialised, those of a spilled pointer become invalid.
    fn break_spills(&mut self, off: i64, size: usize) {
        let (first, _) = slot_of(off + size as i64 - 1);
        let (last, _) = slot_of(off);
        for i in first..=last {
            if let Some(slot) = self.stack.get_mut(i) {
                if let Some(r) = slot.spill.take() {
                    let k = if matches!(r, Reg::Ptr(_)) {
                        ByteKind::Invalid
                    } else {
                        ByteKind::Misc
                    };
                    slot.bytes = [k; 8];
                }
            }
        }
    }

    /// Stores `value` (`size` bytes) at frame offset `off` (already bounds-checked).
    pub fn stack_write(&mut self, off: i64, size: usize, value: &Reg) -> Result<(), Reason> {
        let (i, j) = slot_of(off);
        if size == 8 && j == 0 {
            let slot = self.slot_mut(i);
            slot.spill = Some(*value);
            slot.bytes = [ByteKind::Spill; 8];
            return Ok(());
        }
        if matches!(value, Reg::Ptr(_)) {
            return Err(Reason::PartialPointer { off });
        }
        self.break_spills(off, size);
        let zero = match value {
            Reg::Scalar(s) => s
                .as_const()
                .is_some_and(|v| size >= 8 || v & ((1u64 << (8 * size)) - 1) == 0),
            _ => false,
        };
        let kind = if zero { ByteKind::Zero } else { ByteKind::Misc };
        for o in off..off + size as i64 {
            let (i, j) = slot_of(o);
            self.slot_mut(i).bytes[j] = kind;
        }
        Ok(())
    }

    /// Marks `[off, off+size)` as written with unknown data (helpers, atomics).
    pub fn stack_clobber(&mut self, off: i64, size: usize) {
        self.break_spills(off, size);
        for o in off..off + size as i64 {
            let (i, j) = slot_of(o);
            self.slot_mut(i).bytes[j] = ByteKind::Misc;
        }
    }

    /// Like [`Frame::stack_clobber`] for bytes that may or may not be written: known zeros
    /// become unknown, spills are dropped, invalid bytes stay invalid.
    pub fn stack_maybe_clobber(&mut self, off: i64, size: usize) {
        self.break_spills(off, size);
        for o in off..off + size as i64 {
            let (i, j) = slot_of(o);
            if let Some(s) = self.stack.get_mut(i) {
                if s.bytes[j] == ByteKind::Zero {
                    s.bytes[j] = ByteKind::Misc;
                }
            }
        }
    }

    /// Checks that `[off, off+size)` is initialised and holds no pointer (helper reads, atomics).
    pub fn stack_check_init(&self, off: i64, size: usize) -> Result<(), Reason> {
        for o in off..off + size as i64 {
            match self.byte(o) {
                ByteKind::Invalid => return Err(Reason::UninitStack { off: o, size: 1 }),
                ByteKind::Spill => {
                    let (i, _) = slot_of(o);
                    if matches!(self.stack[i].spill, Some(Reg::Ptr(_))) {
                        return Err(Reason::PointerLeak {
                            what: "stack memory holding a spilled pointer is read as data",
                        });
                    }
                }
                ByteKind::Misc | ByteKind::Zero => {}
            }
        }
        Ok(())
    }

    /// The value of the stack byte at frame offset `off`, when the verifier knows it: a known
    /// zero, or a byte of a spilled constant.
    pub fn stack_byte(&self, off: i64) -> Option<u8> {
        if !(-(STACK_SIZE as i64)..0).contains(&off) {
            return None;
        }
        let (i, j) = slot_of(off);
        let slot = self.stack.get(i)?;
        match (slot.bytes[j], slot.spill) {
            (ByteKind::Zero, _) => Some(0),
            (ByteKind::Spill, Some(Reg::Scalar(s))) => s.as_const().map(|v| (v >> (8 * j)) as u8),
            _ => None,
        }
    }

    /// Loads `size` bytes at frame offset `off` (already bounds-checked).
    pub fn stack_read(&self, off: i64, size: usize, sx: bool) -> Result<Reg, Reason> {
        let (i, j) = slot_of(off);
        let spill = self.stack.get(i).and_then(|s| s.spill);
        if size == 8 && j == 0 {
            if let Some(r) = spill {
                return Ok(r);
            }
        }
        let mut all_zero = true;
        for o in off..off + size as i64 {
            match self.byte(o) {
                ByteKind::Invalid => return Err(Reason::UninitStack { off, size }),
                ByteKind::Zero => {}
                ByteKind::Misc => all_zero = false,
                ByteKind::Spill => {
                    let (k, _) = slot_of(o);
                    match self.stack[k].spill {
                        Some(Reg::Scalar(_)) => all_zero = false,
                        _ => return Err(Reason::PartialPointer { off }),
                    }
                }
            }
        }
        if all_zero {
            return Ok(Reg::constant(0));
        }
        // Part of one spilled constant: its bytes are known.
        let (last, _) = slot_of(off + size as i64 - 1);
        if last == i {
            if let Some(Reg::Scalar(s)) = spill {
                if let Some(v) = s.as_const() {
                    let raw = (v >> (8 * j)) & mask(size);
                    let v = if sx { sign_extend(raw, size) } else { raw };
                    return Ok(Reg::constant(v));
                }
            }
        }
        Ok(Reg::Scalar(if sx {
            Scalar::of_size_signed(size)
        } else {
            Scalar::of_size(size)
        }))
    }
}

fn mask(size: usize) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * size)) - 1
    }
}

fn sign_extend(v: u64, size: usize) -> u64 {
    if size >= 8 {
        return v;
    }
    let s = 64 - 8 * size as u32;
    (((v << s) as i64) >> s) as u64
}

/// Consistent renaming of null-check ids between an old state and a new one.
#[derive(Default)]
struct IdMap {
    old_to_new: HashMap<u32, u32>,
    new_to_old: HashMap<u32, u32>,
}

impl IdMap {
    fn check(&mut self, old: u32, new: u32) -> bool {
        let a = *self.old_to_new.entry(old).or_insert(new);
        let b = *self.new_to_old.entry(new).or_insert(old);
        a == new && b == old
    }
}

/// Whether every concrete value of `new` is one of `old` (for pointers: same object, offsets
/// included).
fn reg_included(old: &Reg, new: &Reg, ids: &mut IdMap) -> bool {
    match (old, new) {
        (Reg::Uninit, _) => true,
        (Reg::Scalar(a), Reg::Scalar(b)) => a.includes(b),
        (Reg::Ptr(a), Reg::Ptr(b)) => {
            let same = match (a.kind, b.kind) {
                (
                    PtrKind::MapValueOrNull { map: m1, id: i1 },
                    PtrKind::MapValueOrNull { map: m2, id: i2 },
                ) => m1 == m2 && ids.check(i1, i2),
                (
                    PtrKind::RingbufOrNull { size: s1, id: i1 },
                    PtrKind::RingbufOrNull { size: s2, id: i2 },
                )
                | (PtrKind::Ringbuf { size: s1, id: i1 }, PtrKind::Ringbuf { size: s2, id: i2 }) => {
                    s1 == s2 && ids.check(i1, i2)
                }
                (x, y) => x == y,
            };
            same && a.off.includes(&b.off)
        }
        _ => false,
    }
}

fn slot_included(old: &Slot, new: &Slot, ids: &mut IdMap) -> bool {
    if let Some(o) = &old.spill {
        if let Some(n) = &new.spill {
            return reg_included(o, n, ids);
        }
        // A spilled scalar covers plain data if it says nothing about it.
        return match o {
            Reg::Scalar(s) => {
                new.bytes.iter().all(|b| *b != ByteKind::Invalid)
                    && (*s == Scalar::unknown()
                        || (s.is_const(0) && new.bytes.iter().all(|b| *b == ByteKind::Zero)))
            }
            Reg::Uninit => true,
            Reg::Ptr(_) => false,
        };
    }
    for (ob, nb) in old.bytes.iter().zip(new.bytes.iter()) {
        let ok = match ob {
            ByteKind::Invalid => true,
            ByteKind::Misc => match nb {
                ByteKind::Misc | ByteKind::Zero => true,
                ByteKind::Spill => matches!(new.spill, Some(Reg::Scalar(_))),
                ByteKind::Invalid => false,
            },
            ByteKind::Zero => {
                *nb == ByteKind::Zero
                    || (*nb == ByteKind::Spill
                        && matches!(new.spill, Some(Reg::Scalar(s)) if s.is_const(0)))
            }
            ByteKind::Spill => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

impl State {
    /// The state at program entry: r10 only; the caller sets r1/r2.
    pub fn entry() -> State {
        State {
            frames: vec![Frame::new(0, 0, None)],
            refs: Vec::new(),
        }
    }

    pub fn cur(&self) -> &Frame {
        // There is always at least one frame: frames are only popped by `exit` in a callee.
        &self.frames[self.frames.len() - 1]
    }

    pub fn cur_mut(&mut self) -> &mut Frame {
        let n = self.frames.len() - 1;
        &mut self.frames[n]
    }

    /// Whether `self` is covered by `old`: whatever is safe from `old` is safe from `self`.
    pub fn included_in(&self, old: &State) -> bool {
        if self.frames.len() != old.frames.len() || self.refs.len() != old.refs.len() {
            return false;
        }
        let mut ids = IdMap::default();
        for (n, o) in self.frames.iter().zip(old.frames.iter()) {
            if n.callsite != o.callsite {
                return false;
            }
            for (or, nr) in o.regs.iter().zip(n.regs.iter()) {
                if !reg_included(or, nr, &mut ids) {
                    return false;
                }
            }
            let empty = Slot::default();
            for i in 0..o.stack.len().max(n.stack.len()) {
                let os = o.stack.get(i).unwrap_or(&empty);
                let ns = n.stack.get(i).unwrap_or(&empty);
                if !slot_included(os, ns, &mut ids) {
                    return false;
                }
            }
        }
        true
    }

    /// Applies `f` to every register and spilled register of every frame.
    pub fn for_each_reg(&mut self, mut f: impl FnMut(&mut Reg)) {
        for fr in &mut self.frames {
            fr.regs.iter_mut().for_each(&mut f);
            for s in &mut fr.stack {
                if let Some(r) = &mut s.spill {
                    f(r);
                }
            }
        }
    }
}

/// The bytes a frame may address below its r10.
pub const FRAME_BYTES: i64 = STACK_SIZE as i64;

impl fmt::Display for Ptr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let off = match self.off.as_const() {
            Some(0) => String::new(),
            Some(v) => format!("off={}", v as i64),
            None => format!("off={}", self.off),
        };
        let sep = if off.is_empty() { "" } else { "," };
        match self.kind {
            PtrKind::Ctx => write!(f, "ctx({off})"),
            PtrKind::Stack { frame } => match self.off.as_const() {
                Some(v) if frame == 0 => write!(f, "fp{}", v as i64),
                Some(v) => write!(f, "fp[{frame}]{}", v as i64),
                None => write!(f, "fp[{frame}]({off})"),
            },
            PtrKind::MapValue { map } => write!(f, "map_value(map={map}{sep}{off})"),
            PtrKind::MapValueOrNull { map, id } => {
                write!(f, "map_value_or_null(id={id},map={map}{sep}{off})")
            }
            PtrKind::Map { map } => write!(f, "map_ptr(map={map})"),
            PtrKind::Mem { size } => write!(f, "mem(size={size}{sep}{off})"),
            PtrKind::RingbufOrNull { size, id } => {
                write!(f, "ringbuf_mem_or_null(id={id},size={size}{sep}{off})")
            }
            PtrKind::Ringbuf { size, id } => {
                write!(f, "ringbuf_mem(id={id},size={size}{sep}{off})")
            }
        }
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reg::Uninit => write!(f, "?"),
            Reg::Scalar(s) => write!(f, "{s}"),
            Reg::Ptr(p) => write!(f, "{p}"),
        }
    }
}

impl fmt::Display for State {
    /// The current frame, kernel style: `R1=ctx() R10=fp0 fp-8=mmmmmmmm`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let depth = self.frames.len() - 1;
        let fr = self.cur();
        let mut out = String::new();
        if depth > 0 {
            let _ = write!(out, "frame{depth}: ");
        }
        let mut first = true;
        for (i, r) in fr.regs.iter().enumerate() {
            if *r == Reg::Uninit {
                continue;
            }
            let _ = write!(out, "{}R{i}={r}", if first { "" } else { " " });
            first = false;
        }
        for (i, s) in fr.stack.iter().enumerate() {
            let off = -8 * (i as i64 + 1);
            if let Some(r) = &s.spill {
                let _ = write!(out, " fp{off}={r}");
            } else if s.bytes.iter().any(|b| *b != ByteKind::Invalid) {
                let txt: String = s
                    .bytes
                    .iter()
                    .rev()
                    .map(|b| match b {
                        ByteKind::Invalid => '?',
                        ByteKind::Misc => 'm',
                        ByteKind::Zero => '0',
                        ByteKind::Spill => 'r',
                    })
                    .collect();
                let _ = write!(out, " fp{off}={txt}");
            }
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_keep_registers_and_partial_writes_break_them() {
        let mut fr = Frame::new(0, 0, None);
        let p = Reg::ptr(PtrKind::Ctx, 0);
        fr.stack_write(-8, 8, &p).expect("spill");
        assert_eq!(fr.stack_read(-8, 8, false), Ok(p));
        assert_eq!(
            fr.stack_read(-8, 4, false),
            Err(Reason::PartialPointer { off: -8 })
        );
        fr.stack_write(-4, 4, &Reg::constant(7)).expect("scalar");
        // The pointer's other bytes are gone.
        assert!(matches!(
            fr.stack_read(-8, 8, false),
            Err(Reason::UninitStack { .. })
        ));
        assert!(matches!(fr.stack_read(-4, 4, false), Ok(Reg::Scalar(_))));
        fr.stack_write(-16, 8, &Reg::constant(0x1122_3344_5566_7788))
            .expect("spill const");
        assert_eq!(
            fr.stack_read(-14, 2, false),
            Ok(Reg::constant(0x5566)),
            "bytes of a spilled constant"
        );
        fr.stack_write(-24, 4, &Reg::constant(0)).expect("zero");
        assert_eq!(fr.stack_read(-24, 4, false), Ok(Reg::constant(0)));
        assert!(
            fr.stack_read(-24, 8, false).is_err(),
            "upper half unwritten"
        );
        assert!(fr.stack_write(-20, 4, &p).is_err(), "partial pointer spill");
    }

    #[test]
    fn inclusion_compares_values_and_stack() {
        let mut a = State::entry();
        let mut b = State::entry();
        a.cur_mut().regs[1] = Reg::Scalar(Scalar::urange(0, 10));
        b.cur_mut().regs[1] = Reg::Scalar(Scalar::urange(2, 5));
        assert!(b.included_in(&a));
        assert!(!a.included_in(&b));
        b.cur_mut()
            .stack_write(-4, 4, &Reg::constant(1))
            .expect("ok");
        assert!(b.included_in(&a), "old stack invalid covers anything");
        a.cur_mut()
            .stack_write(-8, 4, &Reg::constant(1))
            .expect("ok");
        assert!(
            !b.included_in(&a),
            "old misc bytes vs new invalid bytes at -8"
        );
        let s = format!("{a}");
        assert!(s.contains("R10=fp0") && s.contains("fp-8=????mmmm"), "{s}");
    }
}
