//! A tool's knobs: global variables set before loading, as its user space sets
//! `skel->rodata->targ_pid = 42` (`--set NAME=VALUE`).
//!
//! A knob is a variable of a global data section (`const volatile` ones in `.rodata`, which
//! the kernel freezes; others in `.data` and `.bss`), found by name in the object's BTF
//! (`DATASEC` entries give each variable's section, offset and type). The value is written
//! into the section's initial contents in the variable's own type: integers (decimal, `0x`
//! hex, negative for signed types, range-checked), `_Bool`/`bool` (`true`/`false`/`1`/`0`),
//! enums (an enumerator's name or a number) and `char` arrays (a string that fits with its
//! NUL). `.rodata` stays read-only to the program, and the verifier reads its values as
//! constants, so a knob prunes the branches it turns off, as in the kernel.

use jit::btf::{Btf, BtfType};
use jit::object::{ObjMap, Object};

/// Why a knob could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnobError {
    /// No global variable of that name.
    #[error("no global variable named '{name}' (its knobs: {known})")]
    Unknown { name: String, known: String },
    /// The value does not fit the variable's type.
    #[error("{name} = '{value}': {why}")]
    BadValue {
        name: String,
        value: String,
        why: String,
    },
    /// The object has no BTF to type its globals with.
    #[error("the object has no BTF, so its global variables cannot be found by name")]
    NoBtf,
}

/// A global variable: its section's map, offset, size and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Knob {
    pub name: String,
    /// The section (`.rodata`, `.data`, `.bss`).
    pub section: String,
    pub offset: u32,
    pub size: u32,
    /// BTF type id.
    pub ty: u32,
}

/// Every global variable of the object: its place from the ELF symbols (the object's BTF
/// `DATASEC` offsets are zero until a loader fills them in, as libbpf does from the same
/// symbols), its type from the BTF `VAR` of that name.
pub fn knobs(obj: &Object) -> Vec<Knob> {
    let Some(btf) = &obj.btf else {
        return Vec::new();
    };
    let mut types = std::collections::HashMap::new();
    for id in 1..btf.len() as u32 {
        let Some(BtfType::Datasec { name, vars, .. }) = btf.get(id) else {
            continue;
        };
        for v in vars {
            if let Some(BtfType::Var { name: var, ty, .. }) = btf.get(v.ty) {
                types.insert((name.clone(), var.clone()), *ty);
            }
        }
    }
    obj.globals
        .iter()
        .filter_map(|g| {
            let ty = *types.get(&(g.section.clone(), g.name.clone()))?;
            Some(Knob {
                name: g.name.clone(),
                section: g.section.clone(),
                offset: u32::try_from(g.offset).ok()?,
                size: u32::try_from(g.size).ok()?,
                ty,
            })
        })
        .collect()
}

/// Sets `name` to `value` in the object's global data. Returns false when the object has no
/// such variable (so a command line may set knobs of several objects).
pub fn set(obj: &mut Object, name: &str, value: &str) -> Result<bool, KnobError> {
    let Some(btf) = obj.btf.as_ref() else {
        return Err(KnobError::NoBtf);
    };
    let all = knobs(obj);
    let Some(k) = all.iter().find(|k| k.name == name) else {
        return Ok(false);
    };
    let bytes = encode(btf, k, value)?;
    let Some(map) = obj.maps.iter_mut().find(|m| m.def.name == k.section) else {
        return Ok(false);
    };
    write(map, k.offset as usize, &bytes).map_err(|why| KnobError::BadValue {
        name: name.into(),
        value: value.into(),
        why,
    })?;
    Ok(true)
}

/// The names of the object's knobs, for messages.
pub fn names(obj: &Object) -> String {
    let v: Vec<String> = knobs(obj).into_iter().map(|k| k.name).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn write(map: &mut ObjMap, at: usize, bytes: &[u8]) -> Result<(), String> {
    let size = map.def.value_size as usize;
    let init = map.init.get_or_insert_with(|| vec![0; size]);
    if init.len() < size {
        init.resize(size, 0);
    }
    let dst = init
        .get_mut(at..at + bytes.len())
        .ok_or_else(|| format!("the variable lies outside its section ({size} bytes)"))?;
    dst.copy_from_slice(bytes);
    Ok(())
}

/// `value` in the variable's type, `k.size` bytes little-endian.
fn encode(btf: &Btf, k: &Knob, value: &str) -> Result<Vec<u8>, KnobError> {
    let bad = |why: String| KnobError::BadValue {
        name: k.name.clone(),
        value: value.into(),
        why,
    };
    let ty = btf.skip_mods(k.ty).map_err(|e| bad(e.to_string()))?;
    let size = k.size as usize;
    let v = value.trim();
    match btf.get(ty) {
        Some(BtfType::Int { encoding, .. }) if encoding.bool => {
            let b = match v {
                "true" | "1" => 1,
                "false" | "0" => 0,
                _ => return Err(bad("a bool is true or false".into())),
            };
            Ok(int_bytes(b, size))
        }
        Some(BtfType::Int { encoding, .. }) => {
            let signed = encoding.signed;
            let n = parse_int(v).ok_or_else(|| bad("not a number".into()))?;
            let bits = 8 * size as u32;
            let fits = if signed {
                let (lo, hi) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
                (lo..=hi).contains(&n)
            } else {
                (0..=((1i128 << bits) - 1)).contains(&n)
            };
            if !fits {
                return Err(bad(format!(
                    "out of range for a {}{bits}-bit integer",
                    if signed { "signed " } else { "unsigned " }
                )));
            }
            Ok(int_bytes(n, size))
        }
        Some(BtfType::Enum { values, .. }) => {
            let n = match values.iter().find(|(name, _)| name == v) {
                Some((_, n)) => i128::from(*n),
                None => parse_int(v).ok_or_else(|| {
                    let names: Vec<&str> = values.iter().map(|(n, _)| n.as_str()).collect();
                    bad(format!("not one of {}", names.join(", ")))
                })?,
            };
            Ok(int_bytes(n, size))
        }
        Some(BtfType::Array { elem, nelems, .. }) if is_char(btf, *elem) => {
            let s = v.as_bytes();
            if s.len() >= *nelems as usize {
                return Err(bad(format!(
                    "{} bytes do not fit char[{nelems}] with its NUL",
                    s.len()
                )));
            }
            let mut out = vec![0u8; size];
            out[..s.len()].copy_from_slice(s);
            Ok(out)
        }
        Some(other) => Err(bad(format!(
            "a {} cannot be set from the command line (integers, bools, enums and char arrays can)",
            other.kind_name()
        ))),
        None => Err(bad(format!("BTF type {ty} is missing"))),
    }
}

fn is_char(btf: &Btf, elem: u32) -> bool {
    btf.skip_mods(elem)
        .ok()
        .and_then(|t| btf.get(t))
        .is_some_and(|t| matches!(t, BtfType::Int { size: 1, .. }))
}

/// Decimal, `0x` hex, or negative decimal.
fn parse_int(v: &str) -> Option<i128> {
    let (neg, digits) = match v.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, v),
    };
    let n = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => i128::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<i128>().ok()?,
    };
    Some(if neg { -n } else { n })
}

fn int_bytes(n: i128, size: usize) -> Vec<u8> {
    n.to_le_bytes()[..size.min(16)].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_in_every_spelling() {
        assert_eq!(parse_int("42"), Some(42));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("0x1f"), Some(31));
        assert_eq!(parse_int("x"), None);
        assert_eq!(int_bytes(-1, 4), [0xff; 4]);
        assert_eq!(int_bytes(258, 2), [2, 1]);
    }
}
