//! C declarators: how a type is written around a name, inside out, the way C reads it.
//!
//! `char *names[3]` is an array of 3 pointers to char: the declarator grows from the name
//! outwards, suffixes (`[3]`, `(args)`) binding tighter than the `*` prefix, with parentheses
//! where a pointer meets an array or a function: `int (*handler)(struct packet *, void *)`.

use super::{Kind, TypeDb, TypeError, TypeId, MAX_DEPTH};

/// How a named type is referred to: `struct x`, `union y`, `enum z`, a typedef or base name.
/// Anonymous struct/union/enum types are spelled out by `spell_anonymous` if given.
pub(crate) fn type_keyword(db: &TypeDb<'_>, id: TypeId) -> Result<String, TypeError> {
    let ty = db.get(id)?;
    let keyword = match ty.kind {
        Kind::Struct(_) => "struct ",
        Kind::Union(_) => "union ",
        Kind::Enum { .. } => "enum ",
        Kind::Void => return Ok("void".into()),
        _ => "",
    };
    Ok(match ty.name {
        Some(name) => format!("{keyword}{name}"),
        None => format!("{keyword}{{...}}"),
    })
}

/// Writes type `id` around `inner` (a name, or empty for an abstract declarator).
pub(crate) fn declarator(
    db: &TypeDb<'_>,
    id: Option<TypeId>,
    inner: &str,
) -> Result<String, TypeError> {
    declarator_with(db, id, inner, &mut |db, id| type_keyword(db, id))
}

/// [`declarator`] with a caller-chosen spelling of named and anonymous aggregates (the
/// `vmlinux.h` writer renames duplicates and prints anonymous bodies inline).
pub(crate) fn declarator_with(
    db: &TypeDb<'_>,
    mut id: Option<TypeId>,
    inner: &str,
    spell: &mut dyn FnMut(&TypeDb<'_>, TypeId) -> Result<String, TypeError>,
) -> Result<String, TypeError> {
    let mut inner = inner.to_string();
    // Qualifiers seen since the last pointer: they apply to what comes next (the pointer
    // they sit right of, or the base type). A qualified array qualifies its elements, so a
    // word can arrive twice; it is kept once.
    let mut qualifiers: Vec<&'static str> = Vec::new();
    let spelled = |q: &mut Vec<&'static str>| -> String {
        q.sort_by_key(|w| QUALIFIER_ORDER.iter().position(|o| o == w));
        let words = q.iter().map(|w| format!("{w} ")).collect::<String>();
        q.clear();
        words
    };
    for _ in 0..MAX_DEPTH {
        let Some(current) = id else {
            return Ok(join(&format!("{}void", spelled(&mut qualifiers)), &inner));
        };
        let ty = db.get(current)?;
        match ty.kind {
            Kind::Pointer(target) => {
                let target_kind = match target {
                    Some(t) => Some(db.get(t)?.kind),
                    None => None,
                };
                let quals = spelled(&mut qualifiers);
                inner = if inner.is_empty() {
                    format!("*{}", quals.trim_end())
                } else {
                    format!("*{quals}{inner}")
                };
                if matches!(
                    target_kind,
                    Some(Kind::Array { .. } | Kind::Function { .. })
                ) {
                    inner = format!("({inner})");
                }
                id = target;
            }
            Kind::Const(target)
            | Kind::Volatile(target)
            | Kind::Restrict(target)
            | Kind::Atomic(target) => {
                let word = match ty.kind {
                    Kind::Const(_) => "const",
                    Kind::Volatile(_) => "volatile",
                    Kind::Restrict(_) => "restrict",
                    _ => "_Atomic",
                };
                if !qualifiers.contains(&word) {
                    qualifiers.push(word);
                }
                id = target;
            }
            Kind::Array { elem, dims } => {
                for d in dims {
                    match d {
                        Some(n) => inner.push_str(&format!("[{n}]")),
                        None => inner.push_str("[]"),
                    }
                }
                id = elem;
            }
            Kind::Function {
                ret,
                params,
                variadic,
            } => {
                let mut list = Vec::with_capacity(params.len() + 1);
                for p in params {
                    list.push(declarator_with(db, p, "", spell)?);
                }
                if variadic {
                    list.push("...".into());
                }
                if list.is_empty() {
                    list.push("void".into());
                }
                inner = format!("{inner}({})", list.join(", "));
                id = ret;
            }
            Kind::Void => return Ok(join(&format!("{}void", spelled(&mut qualifiers)), &inner)),
            Kind::Base { .. }
            | Kind::Struct(_)
            | Kind::Union(_)
            | Kind::Enum { .. }
            | Kind::Typedef(_) => {
                let base = spell(db, current)?;
                return Ok(join(&format!("{}{base}", spelled(&mut qualifiers)), &inner));
            }
        }
    }
    Err(TypeError::TooDeep(id.map_or(0, |t| t.0)))
}

/// C's order of qualifiers when printed.
const QUALIFIER_ORDER: [&str; 4] = ["const", "volatile", "restrict", "_Atomic"];

/// `int` + `*p` -> `int *p`; `int` + `` -> `int`; `char` + `[3]` -> `char [3]`.
fn join(base: &str, inner: &str) -> String {
    if inner.is_empty() {
        base.to_string()
    } else {
        format!("{base} {inner}")
    }
}
