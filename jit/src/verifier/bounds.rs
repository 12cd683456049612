//! Scalars: a [`Tnum`] plus signed and unsigned bounds on 64 and 32 bits, kept consistent.
//!
//! Each of the five views (known bits, `u64`, `i64`, `u32` and `i32` ranges of the low half)
//! over-approximates the same set of concrete values; [`Scalar::sync`] lets each view tighten
//! the others (as the kernel's `reg_bounds_sync`). Transfer functions for every ALU operation
//! and branch refinement for every jump condition live here, independent of registers and
//! pointers. 32-bit operations are computed on a 64-bit *view* of the low half (zero-extended,
//! or sign-extended for signed operations) and the result is truncated and zero-extended, so one
//! set of 64-bit rules serves both widths.

use super::tnum::Tnum;
use crate::instr::{AluOp, Cond, EndKind};
use std::fmt;

const LOW32: u64 = 0xffff_ffff;

/// What is known about a scalar value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Scalar {
    pub var_off: Tnum,
    pub umin: u64,
    pub umax: u64,
    pub smin: i64,
    pub smax: i64,
    pub u32_min: u32,
    pub u32_max: u32,
    pub s32_min: i32,
    pub s32_max: i32,
}

/// A relation assumed to hold between two scalars on a branch edge.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rel {
    Eq,
    Ne,
    /// Unsigned `<`.
    Lt,
    /// Unsigned `<=`.
    Le,
    Slt,
    Sle,
    /// `a & b != 0`.
    Set,
    /// `a & b == 0`.
    NotSet,
}

/// The relation a jump condition asserts on its taken (`true`) or fall-through edge, with a
/// flag saying the operands are swapped (`a > b` is `b < a`).
pub fn relation(cond: Cond, taken: bool) -> (Rel, bool) {
    let c = if taken { cond } else { negate(cond) };
    match c {
        Cond::Eq => (Rel::Eq, false),
        Cond::Ne => (Rel::Ne, false),
        Cond::Lt => (Rel::Lt, false),
        Cond::Le => (Rel::Le, false),
        Cond::Gt => (Rel::Lt, true),
        Cond::Ge => (Rel::Le, true),
        Cond::Slt => (Rel::Slt, false),
        Cond::Sle => (Rel::Sle, false),
        Cond::Sgt => (Rel::Slt, true),
        Cond::Sge => (Rel::Sle, true),
        // `Set` negated is represented by `Cond::Set` with taken = false below.
        Cond::Set if taken => (Rel::Set, false),
        Cond::Set => (Rel::NotSet, false),
    }
}

fn negate(c: Cond) -> Cond {
    match c {
        Cond::Eq => Cond::Ne,
        Cond::Ne => Cond::Eq,
        Cond::Lt => Cond::Ge,
        Cond::Ge => Cond::Lt,
        Cond::Gt => Cond::Le,
        Cond::Le => Cond::Gt,
        Cond::Slt => Cond::Sge,
        Cond::Sge => Cond::Slt,
        Cond::Sgt => Cond::Sle,
        Cond::Sle => Cond::Sgt,
        Cond::Set => Cond::Set,
    }
}

impl Default for Scalar {
    fn default() -> Self {
        Scalar::unknown()
    }
}

impl Scalar {
    /// Any 64-bit value.
    pub const fn unknown() -> Scalar {
        Scalar {
            var_off: Tnum::UNKNOWN,
            umin: 0,
            umax: u64::MAX,
            smin: i64::MIN,
            smax: i64::MAX,
            u32_min: 0,
            u32_max: u32::MAX,
            s32_min: i32::MIN,
            s32_max: i32::MAX,
        }
    }

    /// Exactly `v`.
    pub fn constant(v: u64) -> Scalar {
        Scalar {
            var_off: Tnum::constant(v),
            umin: v,
            umax: v,
            smin: v as i64,
            smax: v as i64,
            u32_min: v as u32,
            u32_max: v as u32,
            s32_min: v as i32,
            s32_max: v as i32,
        }
    }

    /// Any value of `[min, max]` (unsigned).
    pub fn urange(min: u64, max: u64) -> Scalar {
        let mut s = Scalar::unknown();
        s.umin = min;
        s.umax = max;
        s.sync();
        s
    }

    /// Any value of `[min, max]` (signed).
    pub fn srange(min: i64, max: i64) -> Scalar {
        let mut s = Scalar::unknown();
        s.smin = min;
        s.smax = max;
        s.sync();
        s
    }

    /// Any value with these known bits.
    pub fn from_tnum(t: Tnum) -> Scalar {
        let mut s = Scalar::unknown();
        s.var_off = t;
        s.sync();
        s
    }

    /// Any value of `bytes` bytes, zero-extended.
    pub fn of_size(bytes: usize) -> Scalar {
        if bytes >= 8 {
            Scalar::unknown()
        } else {
            Scalar::urange(0, (1u64 << (8 * bytes)) - 1)
        }
    }

    /// Any value of `bytes` bytes, sign-extended.
    pub fn of_size_signed(bytes: usize) -> Scalar {
        if bytes >= 8 {
            Scalar::unknown()
        } else {
            let half = 1i64 << (8 * bytes - 1);
            Scalar::srange(-half, half - 1)
        }
    }

    /// The value, if known exactly.
    pub fn as_const(&self) -> Option<u64> {
        self.var_off.is_const().then_some(self.var_off.value)
    }

    /// Whether the value is exactly `v`.
    pub fn is_const(&self, v: u64) -> bool {
        self.as_const() == Some(v)
    }

    /// Whether the value may be zero.
    pub fn may_be_zero(&self) -> bool {
        self.umin == 0
    }

    /// Whether no concrete value fits every view (an impossible path).
    pub fn is_bottom(&self) -> bool {
        self.umin > self.umax
            || self.smin > self.smax
            || self.u32_min > self.u32_max
            || self.s32_min > self.s32_max
            || self.var_off.umin() > self.umax
            || self.var_off.umax() < self.umin
    }

    /// Whether every value `other` may hold, `self` may hold too.
    pub fn includes(&self, other: &Scalar) -> bool {
        self.var_off.includes(other.var_off)
            && self.umin <= other.umin
            && other.umax <= self.umax
            && self.smin <= other.smin
            && other.smax <= self.smax
            && self.u32_min <= other.u32_min
            && other.u32_max <= self.u32_max
            && self.s32_min <= other.s32_min
            && other.s32_max <= self.s32_max
    }

    /// Lets every view tighten the others.
    pub fn sync(&mut self) {
        self.update_from_tnum();
        self.deduce();
        self.deduce();
        self.tnum_from_bounds();
        self.update_from_tnum();
    }

    fn update_from_tnum(&mut self) {
        let t = self.var_off;
        self.umin = self.umin.max(t.umin());
        self.umax = self.umax.min(t.umax());
        self.smin = self.smin.max(t.smin());
        self.smax = self.smax.min(t.smax());
        let t32 = t.subreg();
        self.u32_min = self.u32_min.max(t32.umin() as u32);
        self.u32_max = self.u32_max.min(t32.umax() as u32);
        let s32 = t32.sext(32);
        let clamp = |x: i64| x.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        self.s32_min = self.s32_min.max(clamp(s32.smin()));
        self.s32_max = self.s32_max.min(clamp(s32.smax()));
    }

    fn deduce(&mut self) {
        // The low halves, when the high halves are equal across a 64-bit range.
        if self.umin >> 32 == self.umax >> 32 {
            self.u32_min = self.u32_min.max(self.umin as u32);
            self.u32_max = self.u32_max.min(self.umax as u32);
            if (self.umin as i32) <= (self.umax as i32) {
                self.s32_min = self.s32_min.max(self.umin as i32);
                self.s32_max = self.s32_max.min(self.umax as i32);
            }
        }
        if self.smin >> 32 == self.smax >> 32 {
            self.u32_min = self.u32_min.max(self.smin as u32);
            self.u32_max = self.u32_max.min(self.smax as u32);
            if (self.smin as i32) <= (self.smax as i32) {
                self.s32_min = self.s32_min.max(self.smin as i32);
                self.s32_max = self.s32_max.min(self.smax as i32);
            }
        }
        // Signed and unsigned agree when a range does not cross the sign boundary.
        if (self.u32_min as i32) <= (self.u32_max as i32) {
            self.s32_min = self.s32_min.max(self.u32_min as i32);
            self.s32_max = self.s32_max.min(self.u32_max as i32);
        }
        if (self.s32_min as u32) <= (self.s32_max as u32) {
            self.u32_min = self.u32_min.max(self.s32_min as u32);
            self.u32_max = self.u32_max.min(self.s32_max as u32);
        }
        if (self.umin as i64) <= (self.umax as i64) {
            self.smin = self.smin.max(self.umin as i64);
            self.smax = self.smax.min(self.umax as i64);
        }
        if (self.smin as u64) <= (self.smax as u64) {
            self.umin = self.umin.max(self.smin as u64);
            self.umax = self.umax.min(self.smax as u64);
        }
        // The 64-bit range from the low half, when the high halves are equal.
        if self.umin >> 32 == self.umax >> 32 {
            let hi = self.umin & !LOW32;
            self.umin = self.umin.max(hi | u64::from(self.u32_min));
            self.umax = self.umax.min(hi | u64::from(self.u32_max));
        }
        if self.smin >> 32 == self.smax >> 32 {
            let hi = self.smin as u64 & !LOW32;
            self.smin = self.smin.max((hi | u64::from(self.u32_min)) as i64);
            self.smax = self.smax.min((hi | u64::from(self.u32_max)) as i64);
        }
    }

    fn tnum_from_bounds(&mut self) {
        if self.umin <= self.umax {
            self.var_off = self.var_off.intersect(Tnum::range(self.umin, self.umax));
        }
        if self.u32_min <= self.u32_max {
            let low = self.var_off.subreg().intersect(Tnum::range(
                u64::from(self.u32_min),
                u64::from(self.u32_max),
            ));
            self.var_off = self.var_off.with_subreg(low);
        }
    }

    /// The low half as a 64-bit value, zero-extended.
    pub fn zext32_view(&self) -> Scalar {
        let mut v = Scalar {
            var_off: self.var_off.subreg(),
            umin: u64::from(self.u32_min),
            umax: u64::from(self.u32_max),
            smin: i64::from(self.u32_min),
            smax: i64::from(self.u32_max),
            ..*self
        };
        v.sync();
        v
    }

    /// The low half as a 64-bit value, sign-extended.
    pub fn sext32_view(&self) -> Scalar {
        let mut v = Scalar {
            var_off: self.var_off.subreg().sext(32),
            umin: 0,
            umax: u64::MAX,
            smin: i64::from(self.s32_min),
            smax: i64::from(self.s32_max),
            ..*self
        };
        v.sync();
        v
    }

    /// The low 32 bits of a 64-bit result, zero-extended (what a 32-bit operation leaves).
    pub fn truncate32(&self) -> Scalar {
        let mut r = *self;
        r.sync();
        let mut out = Scalar {
            var_off: r.var_off.subreg(),
            umin: u64::from(r.u32_min),
            umax: u64::from(r.u32_max),
            smin: i64::from(r.u32_min),
            smax: i64::from(r.u32_max),
            u32_min: r.u32_min,
            u32_max: r.u32_max,
            s32_min: r.s32_min,
            s32_max: r.s32_max,
        };
        out.sync();
        out
    }

    /// Takes from `v` (a view of this scalar's low half after refinement) what it says about
    /// the low half. `None` if nothing remains.
    fn with_low32_from(&self, v: &Scalar, signed: bool) -> Option<Scalar> {
        let mut r = *self;
        let low = v.var_off.subreg();
        if r.var_off.subreg().disjoint(low) {
            return None;
        }
        r.var_off = r.var_off.with_subreg(r.var_off.subreg().intersect(low));
        if signed {
            let clamp = |x: i64| x.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            r.s32_min = r.s32_min.max(clamp(v.smin));
            r.s32_max = r.s32_max.min(clamp(v.smax));
        } else {
            r.u32_min = r.u32_min.max(v.umin.min(LOW32) as u32);
            r.u32_max = r.u32_max.min(v.umax.min(LOW32) as u32);
        }
        r.u32_min = r.u32_min.max(v.u32_min);
        r.u32_max = r.u32_max.min(v.u32_max);
        r.s32_min = r.s32_min.max(v.s32_min);
        r.s32_max = r.s32_max.min(v.s32_max);
        r.sync();
        (!r.is_bottom()).then_some(r)
    }

    /// Removes `c` from the range ends; `None` if nothing remains.
    fn exclude(&mut self, c: u64) -> Option<()> {
        if self.umin == c {
            self.umin = c.checked_add(1)?;
        }
        if self.umax == c {
            self.umax = c.checked_sub(1)?;
        }
        let sc = c as i64;
        if self.smin == sc {
            self.smin = sc.checked_add(1)?;
        }
        if self.smax == sc {
            self.smax = sc.checked_sub(1)?;
        }
        Some(())
    }
}

/// The ISA's results on known operands ([`crate::semantics`]): the verifier's constant
/// folding is the interpreter's arithmetic.
pub use crate::semantics::{alu32 as concrete32, alu64 as concrete64};

fn with_urange(mut r: Scalar, lo: u64, hi: u64) -> Scalar {
    r.umin = r.umin.max(lo);
    r.umax = r.umax.min(hi);
    r
}

fn with_srange(mut r: Scalar, lo: i64, hi: i64) -> Scalar {
    r.smin = r.smin.max(lo);
    r.smax = r.smax.min(hi);
    r
}

/// `a op b` on 64 bits.
pub fn alu64(op: AluOp, a: &Scalar, b: &Scalar) -> Scalar {
    if let (Some(x), Some(y)) = (a.as_const(), b.as_const()) {
        return Scalar::constant(concrete64(op, x, y));
    }
    let unknown = Scalar::unknown();
    let mut r = match op {
        AluOp::Mov => return *b,
        AluOp::Add => {
            let mut r = Scalar::from_tnum(a.var_off.plus(b.var_off));
            if let Some(hi) = a.umax.checked_add(b.umax) {
                r = with_urange(r, a.umin + b.umin, hi);
            }
            if let (Some(lo), Some(hi)) = (a.smin.checked_add(b.smin), a.smax.checked_add(b.smax)) {
                r = with_srange(r, lo, hi);
            }
            r
        }
        AluOp::Sub => {
            let mut r = Scalar::from_tnum(a.var_off.minus(b.var_off));
            if a.umin >= b.umax {
                r = with_urange(r, a.umin - b.umax, a.umax - b.umin);
            }
            if let (Some(lo), Some(hi)) = (a.smin.checked_sub(b.smax), a.smax.checked_sub(b.smin)) {
                r = with_srange(r, lo, hi);
            }
            r
        }
        AluOp::Mul => {
            let mut r = Scalar::from_tnum(a.var_off.times(b.var_off));
            if let Some(hi) = a.umax.checked_mul(b.umax) {
                r = with_urange(r, a.umin * b.umin, hi);
            }
            let corners = [
                a.smin.checked_mul(b.smin),
                a.smin.checked_mul(b.smax),
                a.smax.checked_mul(b.smin),
                a.smax.checked_mul(b.smax),
            ];
            if corners.iter().all(Option::is_some) {
                let vals = corners.map(|c| c.unwrap_or(0));
                let lo = vals.iter().copied().min().unwrap_or(i64::MIN);
                let hi = vals.iter().copied().max().unwrap_or(i64::MAX);
                r = with_srange(r, lo, hi);
            }
            r
        }
        AluOp::And => {
            let mut r = Scalar::from_tnum(a.var_off.and(b.var_off));
            r = with_urange(r, 0, a.umax.min(b.umax));
            if a.smin >= 0 && b.smin >= 0 {
                r = with_srange(r, 0, a.smax.min(b.smax));
            } else if a.smin >= 0 {
                r = with_srange(r, 0, a.smax);
            } else if b.smin >= 0 {
                r = with_srange(r, 0, b.smax);
            }
            r
        }
        AluOp::Or => {
            let r = Scalar::from_tnum(a.var_off.or(b.var_off));
            with_urange(r, a.umin.max(b.umin), u64::MAX)
        }
        AluOp::Xor => Scalar::from_tnum(a.var_off.xor(b.var_off)),
        AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => {
            let amount = alu64(AluOp::And, b, &Scalar::constant(63));
            shift64(op, a, &amount)
        }
        AluOp::Div => match (a.umin.checked_div(b.umax), a.umax.checked_div(b.umin)) {
            (Some(lo), Some(hi)) => with_urange(unknown, lo, hi),
            _ => with_urange(unknown, 0, a.umax),
        },
        AluOp::Mod => {
            if b.umin > 0 && a.umax < b.umin {
                return *a;
            }
            if b.umin > 0 {
                with_urange(unknown, 0, a.umax.min(b.umax - 1))
            } else {
                with_urange(unknown, 0, a.umax)
            }
        }
        AluOp::SDiv => {
            if a.smin == i64::MIN {
                unknown
            } else {
                let m = a.smin.unsigned_abs().max(a.smax.unsigned_abs()) as i64;
                with_srange(unknown, -m, m)
            }
        }
        AluOp::SMod => with_srange(unknown, a.smin.min(0), a.smax.max(0)),
    };
    r.sync();
    r
}

/// Shifts by an amount already reduced to `0..=63`.
fn shift64(op: AluOp, a: &Scalar, amount: &Scalar) -> Scalar {
    let unknown = Scalar::unknown();
    let (smin, smax) = (amount.umin as u32, amount.umax.min(63) as u32);
    if let Some(s) = amount.as_const() {
        let s = s as u32;
        return match op {
            AluOp::Lsh => {
                let mut r = Scalar::from_tnum(a.var_off.lshift(s));
                if a.umax.leading_zeros() >= s {
                    r = with_urange(r, a.umin << s, a.umax << s);
                }
                r.sync();
                r
            }
            AluOp::Rsh => {
                let mut r = with_urange(
                    Scalar::from_tnum(a.var_off.rshift(s)),
                    a.umin >> s,
                    a.umax >> s,
                );
                r.sync();
                r
            }
            _ => {
                let mut r = with_srange(
                    Scalar::from_tnum(a.var_off.arshift(s)),
                    a.smin >> s,
                    a.smax >> s,
                );
                r.sync();
                r
            }
        };
    }
    let mut r = match op {
        AluOp::Lsh => {
            if a.umax.leading_zeros() >= smax {
                with_urange(unknown, a.umin << smin, a.umax << smax)
            } else {
                unknown
            }
        }
        AluOp::Rsh => with_urange(unknown, a.umin >> smax, a.umax >> smin),
        _ => {
            let lo = (a.smin >> smin).min(a.smin >> smax);
            let hi = (a.smax >> smin).max(a.smax >> smax);
            with_srange(unknown, lo, hi)
        }
    };
    r.sync();
    r
}

/// `a op b` on the low 32 bits, result zero-extended.
pub fn alu32(op: AluOp, a: &Scalar, b: &Scalar) -> Scalar {
    let (x, y) = (a.zext32_view(), b.zext32_view());
    if let (Some(x), Some(y)) = (x.as_const(), y.as_const()) {
        return Scalar::constant(concrete32(op, x as u32, y as u32));
    }
    let r = match op {
        AluOp::Mov => y,
        AluOp::SDiv | AluOp::SMod => alu64(op, &a.sext32_view(), &b.sext32_view()),
        AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => {
            let amount = alu64(AluOp::And, &y, &Scalar::constant(31));
            let base = if op == AluOp::Arsh {
                a.sext32_view()
            } else {
                x
            };
            shift64(op, &base, &amount)
        }
        _ => alu64(op, &x, &y),
    };
    r.truncate32()
}

/// `-a`.
pub fn neg(a: &Scalar, w32: bool) -> Scalar {
    let zero = Scalar::constant(0);
    if w32 {
        alu32(AluOp::Sub, &zero, a)
    } else {
        alu64(AluOp::Sub, &zero, a)
    }
}

/// Sign extension of the low `bits` of `a` (`movsx`), then truncation when `w32`.
pub fn movsx(a: &Scalar, bits: u8, w32: bool) -> Scalar {
    let bits = u32::from(bits).min(32);
    let r = if bits == 32 {
        a.sext32_view()
    } else {
        let half = 1i64 << (bits - 1);
        if a.smin >= -half && a.smax < half {
            *a
        } else {
            let mut r = with_srange(Scalar::from_tnum(a.var_off.sext(bits)), -half, half - 1);
            r.sync();
            r
        }
    };
    if w32 {
        r.truncate32()
    } else {
        r
    }
}

/// Byte-order conversion of the low `bits` bits.
pub fn endian(a: &Scalar, kind: EndKind, bits: u8) -> Scalar {
    let bits = u32::from(bits);
    match kind {
        EndKind::Le => {
            if bits >= 64 {
                return *a;
            }
            if a.umax >> bits == 0 {
                return *a;
            }
            Scalar::from_tnum(a.var_off.cast(bits / 8))
        }
        EndKind::Be | EndKind::Swap => Scalar::from_tnum(a.var_off.bswap(bits)),
    }
}

/// Refines `(a, b)` assuming `a rel b` holds on 64 bits; `None` if it cannot.
pub fn assume64(rel: Rel, a: &Scalar, b: &Scalar) -> Option<(Scalar, Scalar)> {
    let (mut a, mut b) = (*a, *b);
    match rel {
        Rel::Eq => {
            if a.var_off.disjoint(b.var_off) {
                return None;
            }
            let m = Scalar {
                var_off: a.var_off.intersect(b.var_off),
                umin: a.umin.max(b.umin),
                umax: a.umax.min(b.umax),
                smin: a.smin.max(b.smin),
                smax: a.smax.min(b.smax),
                u32_min: a.u32_min.max(b.u32_min),
                u32_max: a.u32_max.min(b.u32_max),
                s32_min: a.s32_min.max(b.s32_min),
                s32_max: a.s32_max.min(b.s32_max),
            };
            a = m;
            b = m;
        }
        Rel::Ne => {
            if let Some(c) = b.as_const() {
                a.exclude(c)?;
            }
            if let Some(c) = a.as_const() {
                b.exclude(c)?;
            }
        }
        Rel::Lt => {
            a.umax = a.umax.min(b.umax.checked_sub(1)?);
            b.umin = b.umin.max(a.umin.checked_add(1)?);
        }
        Rel::Le => {
            a.umax = a.umax.min(b.umax);
            b.umin = b.umin.max(a.umin);
        }
        Rel::Slt => {
            a.smax = a.smax.min(b.smax.checked_sub(1)?);
            b.smin = b.smin.max(a.smin.checked_add(1)?);
        }
        Rel::Sle => {
            a.smax = a.smax.min(b.smax);
            b.smin = b.smin.max(a.smin);
        }
        Rel::Set => {
            if let Some(c) = b.as_const() {
                if a.var_off.umax() & c == 0 {
                    return None;
                }
                if c.is_power_of_two() {
                    if a.var_off.disjoint(Tnum::new(c, !c)) {
                        return None;
                    }
                    a.var_off = a.var_off.intersect(Tnum::new(c, !c));
                }
                a.exclude(0)?;
            }
        }
        Rel::NotSet => {
            if let Some(c) = b.as_const() {
                if a.var_off.value & c != 0 {
                    return None;
                }
                a.var_off = a.var_off.intersect(Tnum::new(0, !c));
            }
        }
    }
    a.sync();
    b.sync();
    (!a.is_bottom() && !b.is_bottom()).then_some((a, b))
}

/// Refines `(a, b)` assuming `a rel b` holds on the low 32 bits; `None` if it cannot.
pub fn assume32(rel: Rel, a: &Scalar, b: &Scalar) -> Option<(Scalar, Scalar)> {
    let signed = matches!(rel, Rel::Slt | Rel::Sle);
    let (x, y) = if signed {
        (a.sext32_view(), b.sext32_view())
    } else {
        (a.zext32_view(), b.zext32_view())
    };
    let (x, y) = assume64(rel, &x, &y)?;
    Some((
        a.with_low32_from(&x, signed)?,
        b.with_low32_from(&y, signed)?,
    ))
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(v) = self.as_const() {
            return if (v as i64) < 0 && (v as i64) > -4096 {
                write!(f, "{}", v as i64)
            } else if v < 4096 {
                write!(f, "{v}")
            } else {
                write!(f, "{v:#x}")
            };
        }
        let d = Scalar::unknown();
        let mut parts: Vec<String> = Vec::new();
        let s_same = self.smin == self.umin as i64 && self.smax == self.umax as i64;
        if self.smin != d.smin && !s_same {
            parts.push(format!("smin={}", self.smin));
        }
        if self.smax != d.smax && !s_same {
            parts.push(format!("smax={}", self.smax));
        }
        if self.umin != d.umin {
            parts.push(format!("umin={}", self.umin));
        }
        if self.umax != d.umax {
            parts.push(format!("umax={}", self.umax));
        }
        let in32 = self.umax <= LOW32;
        if !in32 {
            if self.u32_min != d.u32_min {
                parts.push(format!("umin32={}", self.u32_min));
            }
            if self.u32_max != d.u32_max {
                parts.push(format!("umax32={}", self.u32_max));
            }
            if self.s32_min != d.s32_min && self.s32_min as u32 != self.u32_min {
                parts.push(format!("smin32={}", self.s32_min));
            }
            if self.s32_max != d.s32_max && self.s32_max as u32 != self.u32_max {
                parts.push(format!("smax32={}", self.s32_max));
            }
        }
        if self.var_off != Tnum::UNKNOWN {
            parts.push(format!("var_off={}", self.var_off));
        }
        write!(f, "scalar({})", parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small abstract values: every 3-bit-wide range placed at interesting 64-bit spots,
    /// with the concrete members listed.
    fn samples() -> Vec<(Scalar, Vec<u64>)> {
        let bases: [u64; 7] = [
            0,
            5,
            0x7fff_fffe,
            0xffff_fffd,
            0x1_0000_0000,
            i64::MAX as u64 - 2,
            u64::MAX - 3,
        ];
        let mut out = Vec::new();
        for &base in &bases {
            for lo in 0..4u64 {
                for len in 0..4u64 {
                    let a = base.wrapping_add(lo);
                    let b = a.wrapping_add(len);
                    if b < a {
                        continue;
                    }
                    out.push((Scalar::urange(a, b), (a..=b).collect()));
                }
            }
        }
        // A few signed ranges across zero and tnum-shaped sets.
        for (lo, hi) in [(-3i64, 2i64), (-1, 0), (i64::MIN, i64::MIN + 2)] {
            out.push((
                Scalar::srange(lo, hi),
                (lo..=hi).map(|x| x as u64).collect(),
            ));
        }
        let t = Tnum::new(0x10, 0x5);
        out.push((
            Scalar::from_tnum(t),
            vec![0x10, 0x11, 0x14, 0x15], // value 0x10, unknown bits 0 and 2
        ));
        out
    }

    fn contains(s: &Scalar, x: u64) -> bool {
        s.var_off.contains(x)
            && s.umin <= x
            && x <= s.umax
            && s.smin <= x as i64
            && x as i64 <= s.smax
            && s.u32_min <= x as u32
            && x as u32 <= s.u32_max
            && s.s32_min <= x as i32
            && x as i32 <= s.s32_max
    }

    #[test]
    fn samples_are_consistent() {
        for (s, xs) in samples() {
            assert!(!s.is_bottom(), "{s}");
            for x in xs {
                assert!(contains(&s, x), "{s} misses {x:#x}");
            }
        }
    }

    #[test]
    fn alu_transfer_functions_are_sound() {
        let samples = samples();
        let shifts: Vec<(Scalar, Vec<u64>)> = vec![
            (Scalar::urange(0, 3), vec![0, 1, 2, 3]),
            (Scalar::urange(30, 33), vec![30, 31, 32, 33]),
            (Scalar::urange(62, 66), vec![62, 63, 64, 65, 66]),
        ];
        for op in AluOp::ALL {
            let rhs = if matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh) {
                &shifts
            } else {
                &samples
            };
            for (a, xs) in &samples {
                for (b, ys) in rhs {
                    let r64 = alu64(op, a, b);
                    let r32 = alu32(op, a, b);
                    for &x in xs {
                        for &y in ys {
                            let c64 = concrete64(op, x, y);
                            assert!(
                                contains(&r64, c64),
                                "{op:?} {a} {b}: {x:#x},{y:#x} -> {c64:#x} not in {r64}"
                            );
                            let c32 = concrete32(op, x as u32, y as u32);
                            assert!(
                                contains(&r32, c32),
                                "{op:?}32 {a} {b}: {x:#x},{y:#x} -> {c32:#x} not in {r32}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn unary_transfer_functions_are_sound() {
        for (a, xs) in samples() {
            let (n64, n32) = (neg(&a, false), neg(&a, true));
            for &x in &xs {
                assert!(contains(&n64, x.wrapping_neg()));
                assert!(contains(&n32, u64::from((x as u32).wrapping_neg())));
            }
            for bits in [8u8, 16, 32] {
                let (m64, m32) = (movsx(&a, bits, false), movsx(&a, bits, true));
                for &x in &xs {
                    let s = match bits {
                        8 => x as i8 as i64 as u64,
                        16 => x as i16 as i64 as u64,
                        _ => x as i32 as i64 as u64,
                    };
                    assert!(contains(&m64, s), "movsx{bits} {a} {x:#x}");
                    assert!(contains(&m32, s & LOW32), "movsx{bits}32 {a} {x:#x}");
                }
            }
            for bits in [16u8, 32, 64] {
                let le = endian(&a, EndKind::Le, bits);
                let be = endian(&a, EndKind::Be, bits);
                for &x in &xs {
                    let (l, b) = match bits {
                        16 => (x as u16 as u64, (x as u16).swap_bytes() as u64),
                        32 => (x as u32 as u64, (x as u32).swap_bytes() as u64),
                        _ => (x, x.swap_bytes()),
                    };
                    assert!(contains(&le, l));
                    assert!(contains(&be, b));
                }
            }
        }
    }

    fn holds(rel: Rel, x: u64, y: u64, w32: bool) -> bool {
        let (c, x, y) = match rel {
            Rel::Eq => (Cond::Eq, x, y),
            Rel::Ne => (Cond::Ne, x, y),
            Rel::Lt => (Cond::Lt, x, y),
            Rel::Le => (Cond::Le, x, y),
            Rel::Slt => (Cond::Slt, x, y),
            Rel::Sle => (Cond::Sle, x, y),
            Rel::Set => (Cond::Set, x, y),
            Rel::NotSet => {
                return if w32 {
                    !Cond::Set.eval32(x as u32, y as u32)
                } else {
                    !Cond::Set.eval64(x, y)
                }
            }
        };
        if w32 {
            c.eval32(x as u32, y as u32)
        } else {
            c.eval64(x, y)
        }
    }

    #[test]
    fn branch_refinement_keeps_every_satisfying_pair() {
        let samples = samples();
        let rels = [
            Rel::Eq,
            Rel::Ne,
            Rel::Lt,
            Rel::Le,
            Rel::Slt,
            Rel::Sle,
            Rel::Set,
            Rel::NotSet,
        ];
        for rel in rels {
            for w32 in [false, true] {
                for (a, xs) in &samples {
                    for (b, ys) in &samples {
                        let r = if w32 {
                            assume32(rel, a, b)
                        } else {
                            assume64(rel, a, b)
                        };
                        for &x in xs {
                            for &y in ys {
                                if !holds(rel, x, y, w32) {
                                    continue;
                                }
                                let Some((ra, rb)) = &r else {
                                    panic!("{rel:?} w32={w32} {a} {b}: lost {x:#x},{y:#x}");
                                };
                                assert!(
                                    contains(ra, x) && contains(rb, y),
                                    "{rel:?} w32={w32} {a} {b}: {x:#x},{y:#x} not in {ra} {rb}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn refinement_narrows_and_detects_dead_edges() {
        let a = Scalar::unknown();
        let ten = Scalar::constant(10);
        let (ra, _) = assume64(Rel::Lt, &a, &ten).expect("feasible");
        assert_eq!((ra.umin, ra.umax), (0, 9));
        let (_, rb) = assume64(Rel::Lt, &ten, &a).expect("feasible");
        assert_eq!(rb.umin, 11);
        assert!(assume64(Rel::Eq, &Scalar::constant(3), &ten).is_none());
        assert!(assume64(Rel::Ne, &ten, &ten).is_none());
        assert!(assume64(Rel::Lt, &Scalar::urange(20, 30), &ten).is_none());
        let (ra, _) = assume32(Rel::Slt, &a, &Scalar::constant(0)).expect("feasible");
        assert_eq!((ra.s32_min, ra.s32_max), (i32::MIN, -1));
        let (ra, _) = assume64(
            Rel::NotSet,
            &Scalar::urange(0, 255),
            &Scalar::constant(0xf0),
        )
        .expect("feasible");
        assert_eq!(ra.umax, 15);
    }

    #[test]
    fn sync_derives_views_from_each_other() {
        let s = Scalar::urange(0, 15);
        assert_eq!(s.var_off, Tnum::new(0, 0xf));
        assert_eq!((s.smin, s.smax, s.u32_max, s.s32_max), (0, 15, 15, 15));
        let t = Scalar::from_tnum(Tnum::new(0x100, 0xff));
        assert_eq!((t.umin, t.umax), (0x100, 0x1ff));
        assert_eq!(format!("{s}"), "scalar(umax=15,var_off=(0x0; 0xf))");
        assert_eq!(format!("{}", Scalar::constant(7)), "7");
    }
}
