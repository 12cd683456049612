//! Values printed structurally, the way drgn prints them: `(type)value`, structs member by
//! member with their types, char arrays as strings, pointers in hex with the symbol they
//! point to (and the string behind a `char *`).
//!
//! An aggregate is read from guest memory in one piece and formatted from those bytes, so a
//! struct either prints whole or the error names the address that could not be read.

use super::expr::{
    extend, shape, size_of, type_name, CType, EvalError, Evaluator, Loc, Shape, Value,
};
use probes::types::{Kind, TypeId};

/// Largest object read for printing.
const MAX_OBJECT: u64 = 1 << 20;
/// Array elements shown (gdb's default `print elements`).
const MAX_ELEMENTS: usize = 200;
/// Nested aggregates shown before `{...}`.
const MAX_NESTING: usize = 12;
/// Bytes of a string read behind a `char *`.
const MAX_STRING: usize = 128;

/// How integers are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Radix {
    Natural,
    Hex,
}

/// Formats a value as `(type)value`.
pub fn format_value(ev: &Evaluator<'_>, v: &Value, radix: Radix) -> Result<String, EvalError> {
    let radix = if v.hex { Radix::Hex } else { radix };
    let p = Printer { ev, radix };
    let name = type_name(ev.image, &v.ty);
    let body = match shape(ev.image, &v.ty)? {
        Shape::Struct(_) | Shape::Union(_) | Shape::Array(..) => {
            let Loc::Mem(addr) = v.loc else {
                return Err(EvalError::Type("aggregate not in memory".into()));
            };
            let size = size_of(ev.image, &v.ty)?;
            if size > MAX_OBJECT {
                return Err(EvalError::Type(format!(
                    "{name} is {size} bytes, too large to print; print a member or use x"
                )));
            }
            let mut bytes = vec![0u8; size as usize];
            ev.read(addr, &mut bytes)?;
            p.bytes(&v.ty, &bytes, 0)?
        }
        Shape::Function => {
            let (Loc::Mem(addr) | Loc::Imm(addr)) = v.loc else {
                return Err(EvalError::Type("function not in memory".into()));
            };
            let sym = ev
                .image
                .symbols()
                .format_addr(addr)
                .map(|s| format!(" <{s}>"))
                .unwrap_or_default();
            return Ok(format!("(code){addr:#x}{sym}"));
        }
        Shape::Unknown => {
            let Loc::Mem(addr) = v.loc else {
                return Err(EvalError::Type("unknown value".into()));
            };
            return Err(EvalError::Type(format!(
                "the symbol at {addr:#x} has no DWARF type: cast its address, e.g. *(long *){addr:#x}"
            )));
        }
        sh => {
            let x = ev.scalar(v)?;
            p.scalar(&sh, x)
        }
    };
    Ok(format!("({name}){body}"))
}

struct Printer<'a, 'b> {
    ev: &'a Evaluator<'b>,
    radix: Radix,
}

fn int_of(bytes: &[u8], signed: bool) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    extend(u64::from_le_bytes(b), n.max(1), signed)
}

/// A C string literal for bytes up to the first NUL.
fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let mut s = String::from("\"");
    for &b in &bytes[..end] {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

impl Printer<'_, '_> {
    /// A scalar's text (no type prefix).
    fn scalar(&self, sh: &Shape, x: u64) -> String {
        match sh {
            Shape::Int { is_bool: true, .. } => (if x != 0 { "true" } else { "false" }).into(),
            Shape::Int {
                signed,
                is_char,
                size,
                ..
            } => {
                let mut s = match self.radix {
                    Radix::Hex => format!("{x:#x}"),
                    Radix::Natural if *signed => (x as i64).to_string(),
                    Radix::Natural => x.to_string(),
                };
                if *is_char && *size == 1 && (0x20..0x7f).contains(&(x & 0xff)) {
                    s.push_str(&format!(" '{}'", char::from((x & 0xff) as u8)));
                }
                s
            }
            Shape::Enum { values, .. } => values
                .iter()
                .find(|(_, v)| *v as u64 == x)
                .map(|(n, _)| n.clone())
                .unwrap_or_else(|| (x as i64).to_string()),
            Shape::Float(4) => f32::from_bits(x as u32).to_string(),
            Shape::Float(_) => f64::from_bits(x).to_string(),
            Shape::Ptr(target) => self.pointer(target, x),
            _ => format!("{x:#x}"),
        }
    }

    /// `0xffff888000105000`, with ` <symbol>` and, for `char *`, ` = "string"`.
    fn pointer(&self, target: &CType, x: u64) -> String {
        let mut s = format!("{x:#x}");
        if x == 0 {
            return s;
        }
        if let Some(sym) = self.ev.image.symbols().format_addr(x) {
            s.push_str(&format!(" <{sym}>"));
        }
        if let Ok(Shape::Int {
            is_char: true,
            size: 1,
            ..
        }) = shape(self.ev.image, target)
        {
            if self.ev.mem.is_some() {
                let mut buf = [0u8; MAX_STRING];
                // Read as much as is mapped: shrink on faults (a string near a page end).
                let mut n = MAX_STRING;
                while n > 0 && self.ev.read(x, &mut buf[..n]).is_err() {
                    n = if n > 8 { n / 2 } else { 0 };
                }
                if n > 0 {
                    s.push_str(&format!(" = {}", c_string(&buf[..n])));
                }
            }
        }
        s
    }

    /// The text of a value of type `ty` held in `bytes` (no type prefix).
    fn bytes(&self, ty: &CType, bytes: &[u8], depth: usize) -> Result<String, EvalError> {
        let sh = shape(self.ev.image, ty)?;
        match sh {
            Shape::Struct(id) | Shape::Union(id) => {
                if depth >= MAX_NESTING {
                    return Ok("{...}".into());
                }
                let mut out = String::from("{\n");
                self.members(id, bytes, 0, depth, &mut out)?;
                out.push_str(&"\t".repeat(depth));
                out.push('}');
                Ok(out)
            }
            Shape::Array(elem, n) => self.array(&elem, n, bytes, depth),
            Shape::Int { size, signed, .. } | Shape::Enum { size, signed, .. } => {
                let n = (size as usize).min(bytes.len());
                Ok(self.scalar(&sh, int_of(&bytes[..n], signed)))
            }
            Shape::Float(size) => Ok(self.scalar(
                &sh,
                int_of(&bytes[..(size as usize).min(bytes.len())], false),
            )),
            Shape::Ptr(_) => Ok(self.scalar(&sh, int_of(&bytes[..8.min(bytes.len())], false))),
            _ => Ok("?".into()),
        }
    }

    fn array(
        &self,
        elem: &CType,
        n: Option<u64>,
        bytes: &[u8],
        depth: usize,
    ) -> Result<String, EvalError> {
        let esh = shape(self.ev.image, elem)?;
        if let Shape::Int {
            is_char: true,
            size: 1,
            ..
        } = esh
        {
            return Ok(c_string(bytes));
        }
        let esize = size_of(self.ev.image, elem)?.max(1) as usize;
        let count = (n.unwrap_or(0) as usize).min(bytes.len() / esize);
        let aggregate = matches!(esh, Shape::Struct(_) | Shape::Union(_) | Shape::Array(..));
        // Trailing zero elements are left out, as drgn does.
        let mut last = count;
        while last > 0
            && bytes[(last - 1) * esize..last * esize]
                .iter()
                .all(|&b| b == 0)
        {
            last -= 1;
        }
        let shown = last.min(MAX_ELEMENTS);
        let mut items = Vec::with_capacity(shown);
        for i in 0..shown {
            items.push(self.bytes(elem, &bytes[i * esize..(i + 1) * esize], depth + 1)?);
        }
        if last > shown {
            items.push("...".into());
        }
        if items.is_empty() {
            return Ok("{}".into());
        }
        if aggregate {
            let pad = "\t".repeat(depth + 1);
            let mut out = String::from("{\n");
            for it in items {
                out.push_str(&format!("{pad}{it},\n"));
            }
            out.push_str(&"\t".repeat(depth));
            out.push('}');
            Ok(out)
        } else {
            Ok(format!("{{ {} }}", items.join(", ")))
        }
    }

    /// `.name = (type)value,` lines for the members of `id` at byte `base` of `bytes`;
    /// members of anonymous structs and unions are listed in place, as C names them.
    fn members(
        &self,
        id: TypeId,
        bytes: &[u8],
        base: usize,
        depth: usize,
        out: &mut String,
    ) -> Result<(), EvalError> {
        let db = super::expr::types(self.ev.image)?;
        let err = |e: probes::types::TypeError| EvalError::Type(e.to_string());
        let Some(sid) = db.strip(Some(id)).map_err(err)? else {
            return Ok(());
        };
        let (Kind::Struct(members) | Kind::Union(members)) = db.get(sid).map_err(err)?.kind else {
            return Ok(());
        };
        let pad = "\t".repeat(depth + 1);
        for m in members {
            let off = base + (m.bit_offset / 8) as usize;
            let mty = CType::Dwarf(m.ty);
            let Some(name) = &m.name else {
                if depth < MAX_NESTING {
                    self.members(m.ty, bytes, off, depth, out)?;
                }
                continue;
            };
            let tname = type_name(self.ev.image, &mty);
            let text = match m.bit_size {
                Some(bits) => {
                    let signed = matches!(
                        shape(self.ev.image, &mty)?,
                        Shape::Int { signed: true, .. } | Shape::Enum { signed: true, .. }
                    );
                    let first = (base * 8) as u64 + m.bit_offset;
                    let mut x: u64 = 0;
                    for i in 0..bits.min(64) {
                        let bit = first + i;
                        let byte = bytes.get((bit / 8) as usize).copied().unwrap_or(0);
                        x |= u64::from((byte >> (bit % 8)) & 1) << i;
                    }
                    if signed && bits > 0 && bits < 64 && (x >> (bits - 1)) & 1 == 1 {
                        x |= !((1u64 << bits) - 1);
                    }
                    self.scalar(&shape(self.ev.image, &mty)?, x)
                }
                None => {
                    let size = size_of(self.ev.image, &mty).unwrap_or(0) as usize;
                    match bytes.get(off..off.saturating_add(size)) {
                        Some(b) => self.bytes(&mty, b, depth + 1)?,
                        None => "<outside the object>".into(),
                    }
                }
            };
            out.push_str(&format!("{pad}.{name} = ({tname}){text},\n"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_end_at_nul() {
        assert_eq!(c_string(b"eth0\0\0junk"), "\"eth0\"");
        assert_eq!(c_string(b"a\"b\n\x01"), "\"a\\\"b\\n\\x01\"");
        assert_eq!(int_of(&[0xfe, 0xff], true), u64::MAX - 1);
    }
}
