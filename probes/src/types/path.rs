//! Member paths: `dev.name`, `a[2].b`, `thread.sp` -> (offset, type), as `offsetof` computes
//! them and as CO-RE field relocations need them.
//!
//! Members of anonymous structs and unions are found through them, as C does. A path may not
//! go through a pointer (that needs a memory read): the error says where to split it.

use super::{Kind, TypeDb, TypeError, TypeId, MAX_DEPTH};

/// Where a member path leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberRef {
    /// Byte offset from the start of the outer type.
    pub offset: u64,
    /// The member's type.
    pub ty: TypeId,
    /// For a bitfield: (bit offset from `offset`, width).
    pub bitfield: Option<(u64, u64)>,
}

/// One step of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step<'p> {
    Member(&'p str),
    Index(u64),
}

fn parse(path: &str) -> Result<Vec<Step<'_>>, TypeError> {
    let bad = |why: &str| TypeError::BadPath(format!("bad member path '{path}': {why}"));
    let mut steps = Vec::new();
    let mut rest = path.trim();
    let mut expect_member = true;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let (number, tail) = after.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            let number = number.trim();
            let index = match number.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => number.parse(),
            }
            .map_err(|_| bad("array index is not a number"))?;
            steps.push(Step::Index(index));
            rest = tail;
            expect_member = false;
        } else if let Some(after) = rest.strip_prefix('.') {
            if expect_member {
                return Err(bad("empty member name"));
            }
            rest = after;
            expect_member = true;
        } else if rest.starts_with("->") {
            return Err(bad(
                "'->' goes through a pointer, which needs a memory read; resolve each side separately",
            ));
        } else {
            if !expect_member {
                return Err(bad("expected '.' or '['"));
            }
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end == 0 {
                return Err(bad("expected a member name"));
            }
            steps.push(Step::Member(&rest[..end]));
            rest = &rest[end..];
            expect_member = false;
        }
    }
    if steps.is_empty() || expect_member {
        return Err(bad("empty path or trailing '.'"));
    }
    Ok(steps)
}

/// Finds `name` among the members of struct/union `id`, descending into anonymous members.
/// Returns the bit offset, the member's type and its bit size.
fn find_member(
    db: &TypeDb<'_>,
    id: TypeId,
    name: &str,
    depth: usize,
) -> Result<Option<(u64, TypeId, Option<u64>)>, TypeError> {
    if depth > MAX_DEPTH {
        return Err(TypeError::TooDeep(id.0));
    }
    let Some(stripped) = db.strip(Some(id))? else {
        return Ok(None);
    };
    let members = match db.get(stripped)?.kind {
        Kind::Struct(m) | Kind::Union(m) => m,
        _ => return Ok(None),
    };
    for m in &members {
        if m.name.as_deref() == Some(name) {
            return Ok(Some((m.bit_offset, m.ty, m.bit_size)));
        }
    }
    for m in members.iter().filter(|m| m.name.is_none()) {
        if let Some((bits, ty, size)) = find_member(db, m.ty, name, depth + 1)? {
            return Ok(Some((m.bit_offset + bits, ty, size)));
        }
    }
    Ok(None)
}

/// Member names of a struct/union, anonymous members flattened: for error messages.
fn member_names(db: &TypeDb<'_>, id: TypeId, depth: usize, out: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(Some(stripped)) = db.strip(Some(id)) else {
        return;
    };
    if let Ok(Kind::Struct(members) | Kind::Union(members)) = db.get(stripped).map(|t| t.kind) {
        for m in members {
            match m.name {
                Some(n) => out.push(n),
                None => member_names(db, m.ty, depth + 1, out),
            }
        }
    }
}

/// Where the walk is: at a type, or inside a multi-dimensional array whose remaining
/// dimensions have no DIE of their own.
enum Cursor {
    At(TypeId),
    InArray {
        elem: TypeId,
        dims: Vec<Option<u64>>,
    },
}

pub(crate) fn member_path(db: &TypeDb<'_>, id: TypeId, path: &str) -> Result<MemberRef, TypeError> {
    let mut bits = 0u64;
    let mut cursor = Cursor::At(id);
    let mut bitfield = None;
    let mut walked = String::new();
    for step in parse(path)? {
        let here = if walked.is_empty() {
            db.name_of(Some(id))?
        } else {
            match &cursor {
                Cursor::At(t) => format!("{walked} ({})", db.name_of(Some(*t))?),
                Cursor::InArray { .. } => walked.clone(),
            }
        };
        if bitfield.is_some() {
            return Err(TypeError::BadPath(format!("{here} is a bitfield")));
        }
        let (elem, dims) = match (&cursor, step) {
            (Cursor::InArray { .. }, Step::Member(name)) => {
                return Err(TypeError::BadPath(format!(
                    "{here} is an array: index every dimension before '.{name}'"
                )))
            }
            (Cursor::InArray { elem, dims }, Step::Index(index)) => {
                (*elem, index_into(db, &here, *elem, dims, index, &mut bits)?)
            }
            (Cursor::At(ty), Step::Index(index)) => {
                let kind = match db.strip(Some(*ty))? {
                    Some(t) => db.get(t)?.kind,
                    None => Kind::Void,
                };
                let Kind::Array {
                    elem: Some(elem),
                    dims,
                } = kind
                else {
                    return Err(TypeError::BadPath(format!(
                        "{here} is not an array, it cannot be indexed"
                    )));
                };
                (elem, index_into(db, &here, elem, &dims, index, &mut bits)?)
            }
            (Cursor::At(ty), Step::Member(name)) => {
                let kind = match db.strip(Some(*ty))? {
                    Some(t) => db.get(t)?.kind,
                    None => Kind::Void,
                };
                match kind {
                    Kind::Struct(_) | Kind::Union(_) => {}
                    Kind::Pointer(_) => {
                        return Err(TypeError::BadPath(format!(
                            "{here} is a pointer: '.{name}' needs a memory read; resolve '{name}' on the pointed-to type separately"
                        )))
                    }
                    _ => {
                        return Err(TypeError::BadPath(format!(
                            "{here} is not a struct or union, it has no member '{name}'"
                        )))
                    }
                }
                let Some((member_bits, member_ty, bit_size)) = find_member(db, *ty, name, 0)?
                else {
                    return Err(TypeError::BadPath(format!(
                        "{here} has no member '{name}'{}",
                        suggest(db, *ty, name)
                    )));
                };
                bits += member_bits;
                bitfield = bit_size.map(|size| (bits % 8, size));
                if !walked.is_empty() {
                    walked.push('.');
                }
                walked.push_str(name);
                cursor = Cursor::At(member_ty);
                continue;
            }
        };
        if let Step::Index(index) = step {
            walked.push_str(&format!("[{index}]"));
        }
        cursor = if dims.is_empty() {
            Cursor::At(elem)
        } else {
            Cursor::InArray { elem, dims }
        };
    }
    match cursor {
        Cursor::At(ty) => Ok(MemberRef {
            offset: bits / 8,
            ty,
            bitfield,
        }),
        Cursor::InArray { .. } => Err(TypeError::BadPath(format!(
            "'{path}' stops inside a multi-dimensional array; index every dimension"
        ))),
    }
}

/// Indexes the outer dimension of `elem[dims...]`; returns the remaining dimensions.
fn index_into(
    db: &TypeDb<'_>,
    here: &str,
    elem: TypeId,
    dims: &[Option<u64>],
    index: u64,
    bits: &mut u64,
) -> Result<Vec<Option<u64>>, TypeError> {
    let Some((&outer, inner)) = dims.split_first() else {
        return Err(TypeError::BadPath(format!("{here} has no dimensions")));
    };
    if let Some(count) = outer {
        if index >= count {
            return Err(TypeError::BadPath(format!(
                "index {index} is out of bounds for {here} ({count} elements)"
            )));
        }
    }
    let inner_count: u64 = inner.iter().map(|d| d.unwrap_or(0)).product();
    let stride = db.size_of(elem)?.saturating_mul(inner_count);
    *bits = bits.saturating_add(index.saturating_mul(stride).saturating_mul(8));
    Ok(inner.to_vec())
}

/// "; did you mean a, b?" from the member names close to `name`.
fn suggest(db: &TypeDb<'_>, ty: TypeId, name: &str) -> String {
    let mut names = Vec::new();
    member_names(db, ty, 0, &mut names);
    let close: Vec<&str> = names
        .iter()
        .filter(|n| strsim::levenshtein(n, name) <= 2 || n.contains(name))
        .map(String::as_str)
        .take(3)
        .collect();
    if close.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", close.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths() {
        assert_eq!(
            parse("a[2].b").unwrap(),
            [Step::Member("a"), Step::Index(2), Step::Member("b")]
        );
        assert_eq!(
            parse("x[0x10]").unwrap(),
            [Step::Member("x"), Step::Index(16)]
        );
        for bad in ["", ".", "a.", "a..b", "a[", "a[x]", "a->b", "a b", "[1"] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
