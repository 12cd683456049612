//! The evaluator's types ([`CType`]): DWARF types from the image, and the ones made up for
//! registers, literals and casts. Their shapes (typedefs and qualifiers peeled), sizes and
//! C names.

use super::*;
use probes::image::GuestImage;
use probes::types::{BaseEncoding, Kind, TypeDb};

/// The DWARF types, or an error saying what is missing.
pub fn types(image: &GuestImage) -> Result<&TypeDb<'static>> {
    image.types().map_err(|e| EvalError::Type(e.to_string()))
}

pub(super) fn tyerr(e: probes::types::TypeError) -> EvalError {
    EvalError::Type(e.to_string())
}

/// C's integer keyword spellings -> (size, signed).
pub(super) fn keyword_int(base: &str) -> Option<(u8, bool)> {
    let mut words: Vec<&str> = base.split_whitespace().collect();
    let unsigned = words.contains(&"unsigned");
    words.retain(|w| *w != "unsigned" && *w != "signed");
    let longs = words.iter().filter(|w| **w == "long").count();
    words.retain(|w| *w != "long" && *w != "int");
    let size = match (words.as_slice(), longs) {
        ([], 0) => 4,
        ([], _) => 8,
        (["char"], 0) => 1,
        (["short"], 0) => 2,
        (["_Bool"], 0) => 1,
        _ => return None,
    };
    Some((size, !unsigned && base != "_Bool"))
}

/// Resolves a type name written in an expression.
pub fn resolve_type(image: &GuestImage, t: &TypeName) -> Result<CType> {
    let mut ty = if t.base == "void" {
        CType::Void
    } else if let Some(id) = image
        .types()
        .ok()
        .and_then(|db| db.find(&t.base).ok().flatten())
    {
        CType::Dwarf(id)
    } else if let Some((size, signed)) = keyword_int(&t.base) {
        CType::Int { size, signed }
    } else {
        return Err(EvalError::UnknownType(t.base.clone()));
    };
    for _ in 0..t.stars {
        ty = CType::Ptr(Box::new(ty));
    }
    Ok(ty)
}

/// Peels typedefs and qualifiers and says what a type is.
pub fn shape(image: &GuestImage, ty: &CType) -> Result<Shape> {
    let id = match ty {
        CType::Void => return Ok(Shape::Void),
        CType::Int { size, signed } => {
            return Ok(Shape::Int {
                size: u64::from(*size),
                signed: *signed,
                is_char: *size == 1,
                is_bool: false,
            })
        }
        CType::Ptr(t) => return Ok(Shape::Ptr((**t).clone())),
        CType::Array(t, n) => return Ok(Shape::Array((**t).clone(), *n)),
        CType::Code => return Ok(Shape::Function),
        CType::Unknown => return Ok(Shape::Unknown),
        CType::Dwarf(id) => *id,
    };
    let db = types(image)?;
    let Some(id) = db.strip(Some(id)).map_err(tyerr)? else {
        return Ok(Shape::Void);
    };
    let t = db.get(id).map_err(tyerr)?;
    Ok(match t.kind {
        Kind::Void => Shape::Void,
        Kind::Base { encoding } => {
            let size = t.size.unwrap_or(0);
            match encoding {
                BaseEncoding::Float => Shape::Float(size),
                e => Shape::Int {
                    size,
                    signed: matches!(e, BaseEncoding::Signed | BaseEncoding::SignedChar),
                    is_char: matches!(e, BaseEncoding::SignedChar | BaseEncoding::UnsignedChar),
                    is_bool: e == BaseEncoding::Bool,
                },
            }
        }
        Kind::Enum { signed, values } => Shape::Enum {
            size: t.size.unwrap_or(4),
            signed,
            values: values.into_iter().map(|e| (e.name, e.value)).collect(),
        },
        Kind::Pointer(target) => Shape::Ptr(target.map_or(CType::Void, CType::Dwarf)),
        Kind::Array { elem, dims } => {
            let elem = elem.map_or(CType::Void, CType::Dwarf);
            let inner = dims[1.min(dims.len())..]
                .iter()
                .rev()
                .fold(elem, |acc, d| CType::Array(Box::new(acc), *d));
            Shape::Array(inner, dims.first().copied().flatten())
        }
        Kind::Struct(_) => Shape::Struct(id),
        Kind::Union(_) => Shape::Union(id),
        Kind::Function { .. } => Shape::Function,
        Kind::Typedef(_)
        | Kind::Const(_)
        | Kind::Volatile(_)
        | Kind::Restrict(_)
        | Kind::Atomic(_) => Shape::Unknown,
    })
}

/// The C name of a type: `struct sk_buff *`, `char [16]`, `int (*)[3]`.
pub fn type_name(image: &GuestImage, ty: &CType) -> String {
    declarator(image, ty, String::new())
}

/// Writes `ty` around `inner` (empty: an abstract declarator) inside out, as C reads
/// declarators: pointers prefix `*`, arrays suffix `[n]`, parentheses where a pointer meets
/// an array or a function. DWARF types are written by `probes::types`' declarator, which
/// takes the inner text too, so made-up pointers to DWARF arrays come out right.
fn declarator(image: &GuestImage, ty: &CType, inner: String) -> String {
    match ty {
        CType::Ptr(t) => {
            let inner = if binds_tighter_than_star(image, t) {
                format!("(*{inner})")
            } else {
                format!("*{inner}")
            };
            declarator(image, t, inner)
        }
        CType::Array(t, n) => {
            let dim = n.map(|n| n.to_string()).unwrap_or_default();
            declarator(image, t, format!("{inner}[{dim}]"))
        }
        CType::Dwarf(id) => image
            .types()
            .ok()
            .and_then(|db| db.declaration(Some(*id), &inner).ok())
            .unwrap_or_else(|| join(&format!("<type {:#x}>", id.0), &inner)),
        CType::Void => join("void", &inner),
        CType::Int { size, signed } => {
            let base = match size {
                1 => "char",
                2 => "short",
                4 => "int",
                _ => "long",
            };
            let base = if *signed {
                base.to_string()
            } else {
                format!("unsigned {base}")
            };
            join(&base, &inner)
        }
        CType::Code => join("code", &inner),
        CType::Unknown => join("<unknown type>", &inner),
    }
}

/// Whether a pointer to `t` needs parentheses: `t` is an array or a function (a typedef of
/// one is a name and needs none).
fn binds_tighter_than_star(image: &GuestImage, t: &CType) -> bool {
    match t {
        CType::Array(..) => true,
        CType::Dwarf(id) => image
            .types()
            .ok()
            .and_then(|db| db.get(*id).ok())
            .is_some_and(|ty| matches!(ty.kind, Kind::Array { .. } | Kind::Function { .. })),
        _ => false,
    }
}

/// `int` + `*p` -> `int *p`; `int` + `` -> `int`.
fn join(base: &str, inner: &str) -> String {
    if inner.is_empty() {
        base.to_string()
    } else {
        format!("{base} {inner}")
    }
}

/// Size in bytes.
pub fn size_of(image: &GuestImage, ty: &CType) -> Result<u64> {
    match ty {
        CType::Void => type_err("void has no size"),
        CType::Int { size, .. } => Ok(u64::from(*size)),
        CType::Ptr(_) => Ok(8),
        CType::Array(t, n) => Ok(size_of(image, t)?.saturating_mul(n.unwrap_or(0))),
        CType::Dwarf(id) => types(image)?.size_of(*id).map_err(tyerr),
        CType::Code | CType::Unknown => type_err("this symbol's type (and size) is unknown"),
    }
}

/// The names of a struct's members (anonymous members' members included), for completion
/// and hints.
pub fn member_names(image: &GuestImage, id: TypeId) -> Result<Vec<String>> {
    let db = types(image)?;
    let mut out = Vec::new();
    collect_members(db, id, &mut out, 0)?;
    Ok(out)
}

fn collect_members(db: &TypeDb<'_>, id: TypeId, out: &mut Vec<String>, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let Some(id) = db.strip(Some(id)).map_err(tyerr)? else {
        return Ok(());
    };
    if let Kind::Struct(members) | Kind::Union(members) = db.get(id).map_err(tyerr)?.kind {
        for m in members {
            match m.name {
                Some(n) => out.push(n),
                None => collect_members(db, m.ty, out, depth + 1)?,
            }
        }
    }
    Ok(())
}
