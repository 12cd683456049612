//! Tristate numbers: what is known about each bit of a 64-bit value.
//!
//! A [`Tnum`] is a pair `(value, mask)`: bits set in `mask` are unknown, the others are known
//! and equal to the corresponding bit of `value` (which is zero wherever `mask` is set). The
//! set it describes is `{ x | x & !mask == value }`. Every operation here over-approximates:
//! for all members `a` of `A` and `b` of `B`, `a op b` is a member of `A op B` (the unit tests
//! check this exhaustively on small widths). The arithmetic follows the published tnum
//! algorithms (Vishwanathan et al., "Sound, Precise, and Fast Abstract Interpretation with
//! Tristate Numbers", CGO 2022), as the kernel's `kernel/bpf/tnum.c` does.

use std::fmt;

/// A partially known 64-bit value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Tnum {
    /// Known bits (zero where unknown).
    pub value: u64,
    /// Unknown bits.
    pub mask: u64,
}

impl Tnum {
    /// Nothing known.
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    /// A tnum from its parts, normalising `value` to zero on unknown bits.
    pub const fn new(value: u64, mask: u64) -> Tnum {
        Tnum {
            value: value & !mask,
            mask,
        }
    }

    /// Exactly `v`.
    pub const fn constant(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    /// The smallest tnum containing every value of `[min, max]` (unsigned).
    pub fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits >= 64 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum::new(min & !delta, delta)
    }

    /// Whether every bit is known.
    pub fn is_const(self) -> bool {
        self.mask == 0
    }

    /// Whether `x` is a member.
    pub fn contains(self, x: u64) -> bool {
        x & !self.mask == self.value
    }

    /// Whether every member of `other` is a member of `self`.
    pub fn includes(self, other: Tnum) -> bool {
        if other.mask & !self.mask != 0 {
            return false;
        }
        other.value & !self.mask == self.value
    }

    /// Smallest member (unsigned).
    pub fn umin(self) -> u64 {
        self.value
    }

    /// Largest member (unsigned).
    pub fn umax(self) -> u64 {
        self.value | self.mask
    }

    /// Smallest member (signed).
    pub fn smin(self) -> i64 {
        (self.value | (self.mask & (1 << 63))) as i64
    }

    /// Largest member (signed).
    pub fn smax(self) -> i64 {
        (self.value | (self.mask & !(1 << 63))) as i64
    }

    pub fn plus(self, b: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(b.mask);
        let sv = self.value.wrapping_add(b.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | b.mask;
        Tnum::new(sv, mu)
    }

    pub fn minus(self, b: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(b.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(b.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | b.mask;
        Tnum::new(dv, mu)
    }

    pub fn and(self, b: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = b.value | b.mask;
        let v = self.value & b.value;
        Tnum {
            value: v,
            mask: alpha & beta & !v,
        }
    }

    pub fn or(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask | b.mask;
        Tnum {
            value: v,
            mask: mu & !v,
        }
    }

    pub fn xor(self, b: Tnum) -> Tnum {
        let mu = self.mask | b.mask;
        Tnum::new(self.value ^ b.value, mu)
    }

    /// Multiplication: known partial products plus the unknown ones accumulated as masks.
    pub fn times(self, b: Tnum) -> Tnum {
        let acc_v = self.value.wrapping_mul(b.value);
        let mut acc_m = Tnum::constant(0);
        let (mut a, mut b) = (self, b);
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc_m = acc_m.plus(Tnum::new(0, b.mask));
            } else if a.mask & 1 != 0 {
                acc_m = acc_m.plus(Tnum::new(0, b.value | b.mask));
            }
            a = a.rshift(1);
            b = b.lshift(1);
        }
        Tnum::constant(acc_v).plus(acc_m)
    }

    /// Left shift by a known amount (< 64).
    pub fn lshift(self, s: u32) -> Tnum {
        Tnum {
            value: self.value << s,
            mask: self.mask << s,
        }
    }

    /// Logical right shift by a known amount (< 64).
    pub fn rshift(self, s: u32) -> Tnum {
        Tnum {
            value: self.value >> s,
            mask: self.mask >> s,
        }
    }

    /// Arithmetic right shift of the 64-bit value by a known amount (< 64).
    pub fn arshift(self, s: u32) -> Tnum {
        Tnum {
            value: ((self.value as i64) >> s) as u64,
            mask: ((self.mask as i64) >> s) as u64,
        }
    }

    /// Values in both (meaningful when the two describe the same concrete value).
    pub fn intersect(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask & b.mask;
        Tnum::new(v, mu)
    }

    /// Whether `self` and `b` have no member in common (a known bit disagrees).
    pub fn disjoint(self, b: Tnum) -> bool {
        let known_both = !self.mask & !b.mask;
        (self.value ^ b.value) & known_both != 0
    }

    /// The smallest tnum containing both.
    pub fn union(self, b: Tnum) -> Tnum {
        let mu = self.mask | b.mask | (self.value ^ b.value);
        Tnum::new(self.value, mu)
    }

    /// Truncation to the low `bytes` bytes (zero-extended).
    pub fn cast(self, bytes: u32) -> Tnum {
        if bytes >= 8 {
            return self;
        }
        let keep = (1u64 << (8 * bytes)) - 1;
        Tnum {
            value: self.value & keep,
            mask: self.mask & keep,
        }
    }

    /// Sign extension of the low `bits` bits to 64.
    pub fn sext(self, bits: u32) -> Tnum {
        if bits >= 64 {
            return self;
        }
        let s = 64 - bits;
        self.lshift(s).arshift(s)
    }

    /// The low 32 bits, zero-extended.
    pub fn subreg(self) -> Tnum {
        self.cast(4)
    }

    /// `self` with its low 32 bits replaced by those of `low`.
    pub fn with_subreg(self, low: Tnum) -> Tnum {
        let hi = Tnum {
            value: self.value & !0xffff_ffff,
            mask: self.mask & !0xffff_ffff,
        };
        hi.or(low.cast(4))
    }

    /// Byte swap of the low `bits` bits (16, 32 or 64), upper bits cleared.
    pub fn bswap(self, bits: u32) -> Tnum {
        let t = self.cast(bits / 8);
        let sh = 64 - bits;
        Tnum {
            value: t.value.swap_bytes() >> sh,
            mask: t.mask.swap_bytes() >> sh,
        }
    }
}

impl fmt::Display for Tnum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:#x}; {:#x})", self.value, self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BITS: u32 = 4;

    /// Every tnum over the low `BITS` bits (higher bits known zero).
    fn all_tnums() -> Vec<Tnum> {
        let mut v = Vec::new();
        for mask in 0..(1u64 << BITS) {
            for value in 0..(1u64 << BITS) {
                if value & mask == 0 {
                    v.push(Tnum { value, mask });
                }
            }
        }
        v
    }

    /// Members of a tnum over small widths: value plus every submask of mask.
    fn members(t: Tnum) -> Vec<u64> {
        let mut out = Vec::new();
        let mut sub = t.mask;
        loop {
            out.push(t.value | sub);
            if sub == 0 {
                break;
            }
            sub = (sub - 1) & t.mask;
        }
        out
    }

    fn check_binary(name: &str, abs: impl Fn(Tnum, Tnum) -> Tnum, con: impl Fn(u64, u64) -> u64) {
        for a in all_tnums() {
            for b in all_tnums() {
                let r = abs(a, b);
                assert_eq!(r.value & r.mask, 0, "{name}: non-normal {r}");
                for x in members(a) {
                    for y in members(b) {
                        assert!(
                            r.contains(con(x, y)),
                            "{name}: {a} {b}: {x} op {y} = {} not in {r}",
                            con(x, y)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn arithmetic_is_sound_on_all_small_tnums() {
        check_binary("add", Tnum::plus, u64::wrapping_add);
        check_binary("sub", Tnum::minus, u64::wrapping_sub);
        check_binary("and", Tnum::and, |x, y| x & y);
        check_binary("or", Tnum::or, |x, y| x | y);
        check_binary("xor", Tnum::xor, |x, y| x ^ y);
        check_binary("mul", Tnum::times, u64::wrapping_mul);
        check_binary("union", Tnum::union, |x, _| x);
        check_binary("union2", Tnum::union, |_, y| y);
    }

    #[test]
    fn add_and_bitwise_ops_are_exact_on_constants() {
        for a in 0..16u64 {
            for b in 0..16u64 {
                let (ta, tb) = (Tnum::constant(a), Tnum::constant(b));
                assert_eq!(ta.plus(tb), Tnum::constant(a + b));
                assert_eq!(ta.times(tb), Tnum::constant(a * b));
                assert_eq!(ta.minus(tb), Tnum::constant(a.wrapping_sub(b)));
            }
        }
    }

    #[test]
    fn shifts_casts_and_swaps_are_sound() {
        for a in all_tnums() {
            // Move the interesting bits across byte and sign boundaries.
            for place in [0u32, 6, 14, 30, 60] {
                let t = a.lshift(place);
                for s in 0..8 {
                    let (l, r, ar) = (t.lshift(s), t.rshift(s), t.arshift(s));
                    for x in members(a) {
                        let x = x << place;
                        assert!(l.contains(x << s));
                        assert!(r.contains(x >> s));
                        assert!(ar.contains(((x as i64) >> s) as u64));
                    }
                }
                for bits in [16u32, 32, 64] {
                    let sw = t.bswap(bits);
                    let sx = t.sext(bits.min(32));
                    for x in members(a) {
                        let x = x << place;
                        let expect = match bits {
                            16 => u64::from((x as u16).swap_bytes()),
                            32 => u64::from((x as u32).swap_bytes()),
                            _ => x.swap_bytes(),
                        };
                        assert!(sw.contains(expect), "bswap{bits} {t}");
                        let ext = match bits.min(32) {
                            16 => x as u16 as i16 as i64 as u64,
                            _ => x as u32 as i32 as i64 as u64,
                        };
                        assert!(sx.contains(ext));
                    }
                }
            }
        }
    }

    #[test]
    fn range_intersect_and_inclusion() {
        for lo in 0..40u64 {
            for hi in lo..40 {
                let t = Tnum::range(lo, hi);
                for x in lo..=hi {
                    assert!(t.contains(x), "range({lo},{hi}) = {t} misses {x}");
                }
            }
        }
        assert_eq!(Tnum::range(0, u64::MAX), Tnum::UNKNOWN);
        for a in all_tnums() {
            for b in all_tnums() {
                let i = a.intersect(b);
                let common: Vec<u64> = members(a).into_iter().filter(|x| b.contains(*x)).collect();
                assert_eq!(common.is_empty(), a.disjoint(b), "{a} {b}");
                for x in &common {
                    assert!(i.contains(*x));
                }
                let inc = members(b).iter().all(|x| a.contains(*x));
                assert_eq!(a.includes(b), inc, "includes {a} {b}");
            }
        }
    }

    #[test]
    fn bounds_of_members() {
        for a in all_tnums() {
            let t = a.lshift(60);
            let m = members(a);
            let vals: Vec<u64> = m.iter().map(|x| x << 60).collect();
            assert_eq!(t.umin(), *vals.iter().min().expect("nonempty"));
            assert_eq!(t.umax(), *vals.iter().max().expect("nonempty"));
            assert_eq!(
                t.smin(),
                vals.iter().map(|x| *x as i64).min().expect("nonempty")
            );
            assert_eq!(
                t.smax(),
                vals.iter().map(|x| *x as i64).max().expect("nonempty")
            );
        }
    }
}
