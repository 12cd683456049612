//! Width helpers and flag arithmetic of the side run: pure functions, tested directly.

use super::*;

/// All-ones mask of an operand of `size` bytes.
pub(super) fn mask(size: usize) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size * 8)) - 1
    }
}

/// The sign bit of an operand of `size` bytes.
pub(super) fn sign_bit(size: usize) -> u64 {
    1u64 << (size * 8 - 1)
}

/// Sign-extend the low `size` bytes of `v`.
pub(super) fn sx(v: u64, size: usize) -> i64 {
    let sh = 64 - size * 8;
    ((v << sh) as i64) >> sh
}

/// Low 64 bits of a u128.
pub(super) fn lo64(v: u128) -> u64 {
    v as u64
}

/// ZF, SF and PF of a result.
pub(super) fn szp(r: u64, size: usize) -> u64 {
    let r = r & mask(size);
    let mut f = 0;
    if r == 0 {
        f |= ZF;
    }
    if r & sign_bit(size) != 0 {
        f |= SF;
    }
    if (r & 0xff).count_ones() & 1 == 0 {
        f |= PF;
    }
    f
}

/// `a + b + carry` at `size` bytes: (result, status flags).
pub(super) fn add_flags(a: u64, b: u64, carry: u64, size: usize) -> (u64, u64) {
    let m = mask(size);
    let (a, b) = (a & m, b & m);
    let wide = u128::from(a) + u128::from(b) + u128::from(carry & 1);
    let r = lo64(wide) & m;
    let mut f = szp(r, size);
    if wide > u128::from(m) {
        f |= CF;
    }
    if (a ^ r) & (b ^ r) & sign_bit(size) != 0 {
        f |= OF;
    }
    f |= (a ^ b ^ r) & AF;
    (r, f)
}

/// `a - b - borrow` at `size` bytes: (result, status flags), as `sub`/`sbb`/`cmp`.
pub(super) fn sub_flags(a: u64, b: u64, borrow: u64, size: usize) -> (u64, u64) {
    let m = mask(size);
    let (a, b) = (a & m, b & m);
    let r = a.wrapping_sub(b).wrapping_sub(borrow & 1) & m;
    let mut f = szp(r, size);
    if u128::from(a) < u128::from(b) + u128::from(borrow & 1) {
        f |= CF;
    }
    if (a ^ b) & (a ^ r) & sign_bit(size) != 0 {
        f |= OF;
    }
    f |= (a ^ b ^ r) & AF;
    (r, f)
}

/// Flags of `and`/`or`/`xor`/`test`: CF = OF = 0.
pub(super) fn logic_flags(r: u64, size: usize) -> u64 {
    szp(r, size)
}

/// Shift and rotate kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shift {
    Shl,
    Shr,
    Sar,
    Rol,
    Ror,
}

/// Shift `a` (already masked to `size`) by the masked `count`; returns (result, new rflags).
/// A zero count returns `a` and `rflags` unchanged.
pub(super) fn shift_op(kind: Shift, a: u64, count: u32, size: usize, rflags: u64) -> (u64, u64) {
    let m = mask(size);
    let a = a & m;
    if count == 0 {
        return (a, rflags);
    }
    let bits = u32::try_from(size * 8).unwrap_or(64);
    let msb = |v: u64| v & sign_bit(size) != 0;
    let (r, cf, of, arith) = match kind {
        Shift::Shl => {
            let wide = u128::from(a) << count;
            let r = lo64(wide) & m;
            let cf = (wide >> bits) & 1 != 0;
            (r, cf, msb(r) != cf, true)
        }
        Shift::Shr => {
            let cf = (a >> (count - 1)) & 1 != 0;
            (a >> count, cf, msb(a), true)
        }
        Shift::Sar => {
            let s = sx(a, size);
            let r = ((s >> count.min(63)) as u64) & m;
            let cf = (s >> (count - 1).min(63)) & 1 != 0;
            (r, cf, false, true)
        }
        Shift::Rol | Shift::Ror => {
            let c = count % bits;
            let r = match (c, kind) {
                (0, _) => a,
                (_, Shift::Rol) => ((a << c) | (a >> (bits - c))) & m,
                _ => ((a >> c) | (a << (bits - c))) & m,
            };
            if kind == Shift::Rol {
                let cf = r & 1 != 0;
                (r, cf, msb(r) != cf, false)
            } else {
                let second = (r >> (bits - 2)) & 1 != 0;
                (r, msb(r), msb(r) != second, false)
            }
        }
    };
    let mut flags = if arith {
        (rflags & !STATUS_FLAGS) | szp(r, size)
    } else {
        rflags & !(CF | OF)
    };
    if cf {
        flags |= CF;
    }
    if of {
        flags |= OF;
    }
    (r, flags)
}

/// Is condition `cc` (the x86 encoding 0..15: o no b ae e ne be a s ns p np l ge le g) true?
pub(super) fn cond_true(cc: u8, rflags: u64) -> bool {
    let f = |bit: u64| rflags & bit != 0;
    let base = match cc >> 1 {
        0 => f(OF),
        1 => f(CF),
        2 => f(ZF),
        3 => f(CF) || f(ZF),
        4 => f(SF),
        5 => f(PF),
        6 => f(SF) != f(OF),
        _ => f(ZF) || f(SF) != f(OF),
    };
    base != (cc & 1 == 1)
}

/// Which instruction family a condition code belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CondUse {
    Jump,
    Move,
    Set,
}

/// jcc, cmovcc and setcc mnemonics indexed by condition code.
pub(super) const CONDITIONS: [[Mnemonic; 3]; 16] = {
    use Mnemonic as M;
    [
        [M::Jo, M::Cmovo, M::Seto],
        [M::Jno, M::Cmovno, M::Setno],
        [M::Jb, M::Cmovb, M::Setb],
        [M::Jae, M::Cmovae, M::Setae],
        [M::Je, M::Cmove, M::Sete],
        [M::Jne, M::Cmovne, M::Setne],
        [M::Jbe, M::Cmovbe, M::Setbe],
        [M::Ja, M::Cmova, M::Seta],
        [M::Js, M::Cmovs, M::Sets],
        [M::Jns, M::Cmovns, M::Setns],
        [M::Jp, M::Cmovp, M::Setp],
        [M::Jnp, M::Cmovnp, M::Setnp],
        [M::Jl, M::Cmovl, M::Setl],
        [M::Jge, M::Cmovge, M::Setge],
        [M::Jle, M::Cmovle, M::Setle],
        [M::Jg, M::Cmovg, M::Setg],
    ]
};

pub(super) fn condition(m: Mnemonic) -> Option<(CondUse, u8)> {
    const USES: [CondUse; 3] = [CondUse::Jump, CondUse::Move, CondUse::Set];
    (0u8..).zip(CONDITIONS.iter()).find_map(|(cc, row)| {
        row.iter()
            .zip(USES)
            .find(|(mm, _)| **mm == m)
            .map(|(_, u)| (u, cc))
    })
}
