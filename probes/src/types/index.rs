//! The name index: C names to DIEs, built by one pass over the top-level DIEs of every unit.
//!
//! Keys borrow their names from the image, and each name keeps only its first complete
//! definition and its first declaration, so the index of a vmlinux whose thousands of units
//! repeat the same headers stays as small as its set of distinct names.

use std::collections::HashMap;

use super::{Reader, TypeDb, TypeError, TypeId};

/// The C name spaces we index (struct, union and enum tags share one in C, but
/// `find("struct x")` must not return `union x`, so they are kept apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Namespace {
    Struct,
    Union,
    Enum,
    Typedef,
    Base,
    Function,
    /// Global (top-level) variables: `init_task`, `jiffies`.
    Variable,
}

/// First definition and first declaration seen for one name.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Slot {
    def: Option<TypeId>,
    decl: Option<TypeId>,
}

impl Slot {
    pub(crate) fn best(&self) -> Option<TypeId> {
        self.def.or(self.decl)
    }
}

#[derive(Debug)]
pub(crate) struct Index<'data> {
    names: HashMap<Namespace, HashMap<&'data str, Slot>>,
}

impl<'data> Index<'data> {
    pub(crate) fn get(&self, ns: Namespace, name: &str) -> Option<&Slot> {
        self.names.get(&ns)?.get(name)
    }

    /// Every name of namespace `ns` starting with `prefix` (unordered).
    pub(crate) fn names_with_prefix<'s>(
        &'s self,
        ns: Namespace,
        prefix: &'s str,
    ) -> impl Iterator<Item = &'data str> + 's {
        self.names
            .get(&ns)
            .into_iter()
            .flat_map(|m| m.keys().copied())
            .filter(move |n| n.starts_with(prefix))
    }

    pub(crate) fn len(&self) -> usize {
        self.names.values().map(HashMap::len).sum()
    }

    pub(crate) fn build(db: &TypeDb<'data>) -> Result<Index<'data>, TypeError> {
        let mut names: HashMap<Namespace, HashMap<&'data str, Slot>> = HashMap::new();
        for unit in db.units() {
            let unit = unit?;
            let mut tree = unit.entries_tree(None)?;
            let root = tree.root()?;
            let mut children = root.children();
            while let Some(child) = children.next()? {
                let entry = child.entry();
                let ns = match entry.tag() {
                    gimli::DW_TAG_structure_type => Namespace::Struct,
                    gimli::DW_TAG_union_type => Namespace::Union,
                    gimli::DW_TAG_enumeration_type => Namespace::Enum,
                    gimli::DW_TAG_typedef => Namespace::Typedef,
                    gimli::DW_TAG_base_type => Namespace::Base,
                    gimli::DW_TAG_subprogram => Namespace::Function,
                    gimli::DW_TAG_variable => Namespace::Variable,
                    _ => continue,
                };
                let (name, complete) = if ns == Namespace::Function {
                    function_name(db, unit, entry)?
                } else if ns == Namespace::Variable {
                    variable_name(db, unit, entry)?
                } else {
                    let declaration = entry.attr(gimli::DW_AT_declaration)?.is_some();
                    (db.attr_str(unit, entry, gimli::DW_AT_name)?, !declaration)
                };
                let Some(name) = name else { continue };
                let slot = names.entry(ns).or_default().entry(name).or_default();
                let id = TypeDb::id_of(unit, entry);
                if complete {
                    slot.def.get_or_insert(id);
                } else {
                    slot.decl.get_or_insert(id);
                }
            }
        }
        Ok(Index { names })
    }
}

/// A top-level variable's name (through `DW_AT_specification` when the defining DIE has
/// none) and whether this DIE defines it rather than only declares it (`extern`).
fn variable_name<'data>(
    db: &TypeDb<'data>,
    unit: &gimli::Unit<Reader<'data>>,
    entry: &super::Die<'_, '_, 'data>,
) -> Result<(Option<&'data str>, bool), TypeError> {
    let defines = entry.attr(gimli::DW_AT_declaration)?.is_none();
    if let Some(name) = db.attr_str(unit, entry, gimli::DW_AT_name)? {
        return Ok((Some(name), defines));
    }
    if let Some(spec) = db.ref_attr(unit, entry, gimli::DW_AT_specification)? {
        let name = db.with_die(spec, |u, e| db.attr_str(u, e, gimli::DW_AT_name))?;
        return Ok((name, defines));
    }
    Ok((None, defines))
}

/// A subprogram's name (through `DW_AT_abstract_origin`/`DW_AT_specification` when the
/// concrete DIE has none) and whether it has code.
fn function_name<'data>(
    db: &TypeDb<'data>,
    unit: &gimli::Unit<Reader<'data>>,
    entry: &super::Die<'_, '_, 'data>,
) -> Result<(Option<&'data str>, bool), TypeError> {
    let has_code =
        entry.attr(gimli::DW_AT_low_pc)?.is_some() || entry.attr(gimli::DW_AT_ranges)?.is_some();
    if let Some(name) = db.attr_str(unit, entry, gimli::DW_AT_name)? {
        return Ok((Some(name), has_code));
    }
    for attr in [gimli::DW_AT_abstract_origin, gimli::DW_AT_specification] {
        if let Some(origin) = db.ref_attr(unit, entry, attr)? {
            let name = db.with_die(origin, |u, e| db.attr_str(u, e, gimli::DW_AT_name))?;
            return Ok((name, has_code));
        }
    }
    Ok((None, has_code))
}
