//! The ISA's arithmetic, defined once: what every ALU operation computes on known operands
//! (RFC 9669). The interpreter runs these definitions and the verifier folds constants with
//! them, so the two cannot disagree; the JIT is tested against the interpreter.
//!
//! - Unsigned division by zero gives 0; unsigned modulo by zero leaves the dividend.
//! - Signed division by zero gives 0, signed modulo by zero the dividend; `INT_MIN / -1`
//!   wraps to `INT_MIN` and `INT_MIN % -1` is 0 (no trap).
//! - Shift amounts are masked to the operand width (`& 63`, `& 31`).
//! - 32-bit operations work on the low halves and zero-extend the result.
//! - `movsx` sign-extends the low 8, 16 or 32 bits; `le` truncates to the width on this
//!   little-endian machine, `be` and `bswap` reverse the bytes of the low 16, 32 or 64 bits.

use crate::instr::{AluOp, EndKind};

#[inline(always)]
pub fn div64(a: u64, b: u64) -> u64 {
    a.checked_div(b).unwrap_or(0)
}

#[inline(always)]
pub fn mod64(a: u64, b: u64) -> u64 {
    a.checked_rem(b).unwrap_or(a)
}

#[inline(always)]
pub fn div32(a: u32, b: u32) -> u32 {
    a.checked_div(b).unwrap_or(0)
}

#[inline(always)]
pub fn mod32(a: u32, b: u32) -> u32 {
    a.checked_rem(b).unwrap_or(a)
}

#[inline(always)]
pub fn sdiv64(a: u64, b: u64) -> u64 {
    if b == 0 {
        0
    } else {
        (a as i64).wrapping_div(b as i64) as u64
    }
}

#[inline(always)]
pub fn smod64(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        (a as i64).wrapping_rem(b as i64) as u64
    }
}

#[inline(always)]
pub fn sdiv32(a: u32, b: u32) -> u32 {
    if b == 0 {
        0
    } else {
        (a as i32).wrapping_div(b as i32) as u32
    }
}

#[inline(always)]
pub fn smod32(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        (a as i32).wrapping_rem(b as i32) as u32
    }
}

#[inline(always)]
pub fn lsh64(a: u64, b: u64) -> u64 {
    a << (b & 63)
}

#[inline(always)]
pub fn rsh64(a: u64, b: u64) -> u64 {
    a >> (b & 63)
}

#[inline(always)]
pub fn arsh64(a: u64, b: u64) -> u64 {
    ((a as i64) >> (b & 63)) as u64
}

#[inline(always)]
pub fn lsh32(a: u32, b: u64) -> u32 {
    a << (b & 31)
}

#[inline(always)]
pub fn rsh32(a: u32, b: u64) -> u32 {
    a >> (b & 31)
}

#[inline(always)]
pub fn arsh32(a: u32, b: u64) -> u32 {
    ((a as i32) >> (b & 31)) as u32
}

/// The low `bits` (8, 16 or 32; anything else: 64) of `v`, sign-extended to 64 bits.
#[inline(always)]
pub fn sign_extend(v: u64, bits: u8) -> u64 {
    match bits {
        8 => v as i8 as i64 as u64,
        16 => v as i16 as i64 as u64,
        32 => v as i32 as i64 as u64,
        _ => v,
    }
}

/// `movsx`: the low `bits` of `v` sign-extended, truncated to 32 bits (zero-extended) for
/// the 32-bit form.
#[inline(always)]
pub fn movsx(v: u64, bits: u8, w32: bool) -> u64 {
    let r = sign_extend(v, bits);
    if w32 {
        u64::from(r as u32)
    } else {
        r
    }
}

/// The low `bits` (16, 32, else 64) of `v` with their bytes reversed.
#[inline(always)]
pub fn bswap(v: u64, bits: u8) -> u64 {
    match bits {
        16 => u64::from((v as u16).swap_bytes()),
        32 => u64::from((v as u32).swap_bytes()),
        _ => v.swap_bytes(),
    }
}

/// The low `bits` (16, 32, else 64) of `v`, zero-extended.
#[inline(always)]
pub fn truncate(v: u64, bits: u8) -> u64 {
    match bits {
        16 => u64::from(v as u16),
        32 => u64::from(v as u32),
        _ => v,
    }
}

/// A byte-order instruction (`le`, `be`, `bswap`) on this little-endian machine.
#[inline(always)]
pub fn byte_order(kind: EndKind, bits: u8, v: u64) -> u64 {
    match kind {
        EndKind::Le => truncate(v, bits),
        EndKind::Be | EndKind::Swap => bswap(v, bits),
    }
}

/// A binary operation on 64-bit operands.
pub fn alu64(op: AluOp, a: u64, b: u64) -> u64 {
    match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => div64(a, b),
        AluOp::Mod => mod64(a, b),
        AluOp::SDiv => sdiv64(a, b),
        AluOp::SMod => smod64(a, b),
        AluOp::Or => a | b,
        AluOp::And => a & b,
        AluOp::Xor => a ^ b,
        AluOp::Lsh => lsh64(a, b),
        AluOp::Rsh => rsh64(a, b),
        AluOp::Arsh => arsh64(a, b),
        AluOp::Mov => b,
    }
}

/// A binary operation on 32-bit operands, zero-extended.
pub fn alu32(op: AluOp, a: u32, b: u32) -> u64 {
    let r = match op {
        AluOp::Add => a.wrapping_add(b),
        AluOp::Sub => a.wrapping_sub(b),
        AluOp::Mul => a.wrapping_mul(b),
        AluOp::Div => div32(a, b),
        AluOp::Mod => mod32(a, b),
        AluOp::SDiv => sdiv32(a, b),
        AluOp::SMod => smod32(a, b),
        AluOp::Or => a | b,
        AluOp::And => a & b,
        AluOp::Xor => a ^ b,
        AluOp::Lsh => lsh32(a, b.into()),
        AluOp::Rsh => rsh32(a, b.into()),
        AluOp::Arsh => arsh32(a, b.into()),
        AluOp::Mov => b,
    };
    u64::from(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_and_modulo_by_zero_and_overflow() {
        assert_eq!(
            (div64(7, 0), mod64(7, 0), div32(7, 0), mod32(7, 0)),
            (0, 7, 0, 7)
        );
        assert_eq!(
            (sdiv64(7, 0), smod64(7, 0), sdiv32(7, 0), smod32(7, 0)),
            (0, 7, 0, 7)
        );
        let min = i64::MIN as u64;
        assert_eq!((sdiv64(min, u64::MAX), smod64(min, u64::MAX)), (min, 0));
        let min32 = i32::MIN as u32;
        assert_eq!(
            (sdiv32(min32, u32::MAX), smod32(min32, u32::MAX)),
            (min32, 0)
        );
        assert_eq!(sdiv64(-7i64 as u64, 2), -3i64 as u64);
        assert_eq!(smod64(-7i64 as u64, 2), -1i64 as u64);
    }

    #[test]
    fn shifts_mask_their_amount() {
        assert_eq!(
            (lsh64(1, 65), rsh64(4, 66), arsh64(u64::MAX << 1, 65)),
            (2, 1, u64::MAX)
        );
        assert_eq!(
            (lsh32(1, 33), rsh32(4, 34), arsh32(0x8000_0000, 63)),
            (2, 1, u32::MAX)
        );
        assert_eq!(alu32(AluOp::Lsh, 1, 32), 1);
    }

    #[test]
    fn sign_extension_and_byte_order() {
        assert_eq!(movsx(0x80, 8, false), 0xffff_ffff_ffff_ff80);
        assert_eq!(movsx(0x8000, 16, true), 0xffff_8000);
        assert_eq!(movsx(0x8000_0000, 32, false), 0xffff_ffff_8000_0000);
        assert_eq!(byte_order(EndKind::Le, 16, 0x1234_5678), 0x5678);
        assert_eq!(
            byte_order(EndKind::Be, 32, 0x1122_3344_5566_7788),
            0x8877_6655
        );
        assert_eq!(byte_order(EndKind::Swap, 64, 0x0102), 0x0201 << 48);
    }
}
