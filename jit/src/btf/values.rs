//! Values shown in their C types, by an object's BTF: how map keys and values of a struct type
//! print (`{pid=42, comm="cat"}`), as a tool's user space would print them.
//!
//! Integers in decimal (signed when the type is), `bool`s as `true`/`false`, enums by their
//! enumerator's name, pointers in hex, `char` arrays as quoted strings (up to the NUL,
//! non-printable bytes as `\xNN`), other arrays as `[a, b]`, structs and unions as
//! `{name=value, ...}` with the members of anonymous structs and unions shown in place, as C
//! reaches them. Bitfields are read from their bits. Anything else (floats, functions) and
//! bytes that do not cover the type show as hex.

use super::{Btf, BtfType};

/// Nesting followed before the rest is shown as `{...}`.
const MAX_DEPTH: usize = 8;

/// `bytes` as a value of type `ty`.
pub fn format_value(btf: &Btf, ty: u32, bytes: &[u8]) -> String {
    let mut out = String::new();
    value(btf, ty, bytes, 0, &mut out);
    out
}

fn hex(bytes: &[u8], out: &mut String) {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    out.push_str(&parts.join(" "));
}

fn uint(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(b)
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    if bits == 0 || bits >= 64 {
        return v as i64;
    }
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

fn value(btf: &Btf, ty: u32, bytes: &[u8], depth: usize, out: &mut String) {
    let Ok(t) = btf.skip_mods(ty) else {
        return hex(bytes, out);
    };
    let size = btf.size_of(t).ok().map(|s| s as usize);
    if size.is_some_and(|s| s > bytes.len()) {
        return hex(bytes, out);
    }
    let bytes = &bytes[..size.unwrap_or(bytes.len())];
    match btf.get(t) {
        Some(BtfType::Int { encoding, size, .. }) if *size <= 8 => {
            let v = uint(bytes);
            if encoding.bool {
                out.push_str(if v != 0 { "true" } else { "false" });
            } else if encoding.signed {
                out.push_str(&sign_extend(v, 8 * size).to_string());
            } else {
                out.push_str(&v.to_string());
            }
        }
        Some(BtfType::Enum {
            values,
            signed,
            size,
            ..
        }) => {
            let v = uint(bytes);
            let v = if *signed {
                sign_extend(v, 8 * size)
            } else {
                v as i64
            };
            match values.iter().find(|(_, n)| *n == v) {
                Some((name, _)) => out.push_str(name),
                None => out.push_str(&v.to_string()),
            }
        }
        Some(BtfType::Ptr { .. }) => out.push_str(&format!("{:#x}", uint(bytes))),
        Some(BtfType::Array { elem, nelems, .. }) => {
            let char_like = btf
                .skip_mods(*elem)
                .ok()
                .and_then(|e| btf.get(e))
                .is_some_and(
                    |e| matches!(e, BtfType::Int { size: 1, encoding, .. } if !encoding.bool),
                );
            if char_like {
                return string(bytes, out);
            }
            let n = *nelems as usize;
            let each = bytes.len().checked_div(n).unwrap_or(0);
            out.push('[');
            for i in 0..n {
                if i > 0 {
                    out.push_str(", ");
                }
                if depth >= MAX_DEPTH || each == 0 {
                    out.push_str("...");
                    break;
                }
                value(btf, *elem, &bytes[i * each..(i + 1) * each], depth + 1, out);
            }
            out.push(']');
        }
        Some(BtfType::Struct { .. } | BtfType::Union { .. }) => {
            if depth >= MAX_DEPTH {
                return out.push_str("{...}");
            }
            out.push('{');
            let mut first = true;
            members(btf, t, bytes, 0, depth, &mut first, out);
            out.push('}');
        }
        _ => hex(bytes, out),
    }
}

/// The members of struct/union `t` at `base_bits` into `bytes`, anonymous ones flattened.
fn members(
    btf: &Btf,
    t: u32,
    bytes: &[u8],
    base_bits: u64,
    depth: usize,
    first: &mut bool,
    out: &mut String,
) {
    let (Some(BtfType::Struct { members: ms, .. }) | Some(BtfType::Union { members: ms, .. })) =
        btf.get(t)
    else {
        return;
    };
    for m in ms {
        let bit = base_bits + u64::from(m.bit_offset);
        if m.name.is_empty() {
            let inner = btf.skip_mods(m.ty).unwrap_or(m.ty);
            if matches!(
                btf.get(inner),
                Some(BtfType::Struct { .. } | BtfType::Union { .. })
            ) {
                members(btf, inner, bytes, bit, depth, first, out);
                continue;
            }
        }
        if !*first {
            out.push_str(", ");
        }
        *first = false;
        out.push_str(&m.name);
        out.push('=');
        if m.bitfield_size > 0 {
            let v = bits(bytes, bit, m.bitfield_size);
            out.push_str(&v.to_string());
            continue;
        }
        let start = (bit / 8) as usize;
        let size = btf.size_of(m.ty).unwrap_or(0) as usize;
        match bytes.get(start..start + size) {
            Some(b) => value(btf, m.ty, b, depth + 1, out),
            None => out.push('?'),
        }
    }
}

/// `width` bits of `bytes` from bit `at` (little endian).
fn bits(bytes: &[u8], at: u64, width: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..u64::from(width.min(64)) {
        let b = at + i;
        let byte = bytes.get((b / 8) as usize).copied().unwrap_or(0);
        v |= u64::from((byte >> (b % 8)) & 1) << i;
    }
    v
}

fn string(bytes: &[u8], out: &mut String) {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    out.push('"');
    for &b in &bytes[..end] {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_and_strings() {
        assert_eq!(bits(&[0b1011_0100], 2, 3), 0b101);
        assert_eq!(bits(&[0xff, 0x01], 7, 2), 0b11);
        let mut s = String::new();
        string(b"ca\"t\x01\0junk", &mut s);
        assert_eq!(s, "\"ca\\\"t\\x01\"");
        assert_eq!(sign_extend(0xff, 8), -1);
        assert_eq!(sign_extend(0x7f, 8), 127);
    }
}
