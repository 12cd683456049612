//! C types of the guest kernel, read from DWARF with gimli.
//!
//! [`TypeDb::from_elf`] only reads the unit headers. Everything else is lazy:
//! - a unit's abbreviations are parsed the first time one of its DIEs is read, then kept;
//! - the name index (struct/union/enum/typedef/base type/function names -> DIE) is built on
//!   the first [`TypeDb::find`] or [`TypeDb::function`], by one pass over the top-level DIEs
//!   of every unit, keyed by names borrowed from the image (no string copies);
//! - a [`Type`] is decoded from its DIE when asked for ([`TypeDb::get`]) and not kept.
//!
//! A [`TypeId`] is the DIE's offset in `.debug_info`, so ids are stable and cheap. `None`
//! where a type is expected means `void`.
//!
//! Submodules: [`model`] (the decoded shapes), `names` (C declarators), [`layout`] (offsets,
//! holes and pahole's format), `path` (member paths such as `dev.name` and `a[2].b`),
//! [`function`] (parameters and the registers they arrive in).

pub mod function;
mod index;
pub mod layout;
pub mod model;
pub(crate) mod names;
mod path;

use std::sync::OnceLock;

use gimli::{AttributeValue, DebuggingInformationEntry, Unit, UnitHeader, UnitOffset};

use crate::elf::{self, ElfError};
pub use function::{ArgLocation, ArgReg, FunctionInfo, Param};
use index::{Index, Namespace};
pub use layout::{Layout, MemberLayout};
pub use model::{BaseEncoding, Enumerator, Kind, Member, Type, TypeId};
pub use path::MemberRef;

/// The gimli reader over the borrowed image.
pub(crate) type Reader<'data> = gimli::EndianSlice<'data, gimli::LittleEndian>;
pub(crate) type Die<'abbrev, 'unit, 'data> =
    DebuggingInformationEntry<'abbrev, 'unit, Reader<'data>>;

/// Longest chain of typedefs/qualifiers/nesting followed before giving up: real C never
/// comes close; a corrupt file with a reference cycle hits it instead of overflowing the stack.
pub(crate) const MAX_DEPTH: usize = 128;

/// Why a type question could not be answered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TypeError {
    /// The image is not a readable ELF64 file.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// No `.debug_info`.
    #[error("the image has no DWARF type information (.debug_info): build it with -g")]
    NoDebugInfo,
    /// gimli could not parse the DWARF.
    #[error("malformed DWARF: {0}")]
    Dwarf(#[from] gimli::Error),
    /// A type id that is not the offset of a DIE.
    #[error("no DWARF entry at .debug_info offset {0:#x}")]
    BadId(u64),
    /// A DIE that is not a type where one was expected.
    #[error("DWARF entry at {offset:#x} is a {tag}, not a type")]
    NotAType {
        /// Offset of the DIE.
        offset: u64,
        /// Its tag.
        tag: String,
    },
    /// A reference form or attribute we do not read (split DWARF, type units...).
    #[error("unsupported DWARF at {offset:#x}: {what}")]
    Unsupported {
        /// Offset of the DIE.
        offset: u64,
        /// What was found.
        what: String,
    },
    /// A chain of references deeper than [`MAX_DEPTH`]: a cycle in a corrupt file.
    #[error("type chain at {0:#x} is too deep (a reference cycle?)")]
    TooDeep(u64),
    /// No type of that name.
    #[error("unknown type '{0}'")]
    UnknownType(String),
    /// A type without a size where one is needed (void, function, incomplete struct).
    #[error("type '{0}' has no size (incomplete, void or a function)")]
    NoSize(String),
    /// A member path that does not fit the type.
    #[error("{0}")]
    BadPath(String),
}

/// One compilation unit: its header up front, the parsed unit on first use.
#[derive(Debug)]
struct UnitSlot<'data> {
    start: u64,
    end: u64,
    header: UnitHeader<Reader<'data>>,
    unit: OnceLock<Result<Unit<Reader<'data>>, gimli::Error>>,
}

/// The types, functions and names of one image's DWARF.
#[derive(Debug)]
pub struct TypeDb<'data> {
    dwarf: gimli::Dwarf<Reader<'data>>,
    units: Vec<UnitSlot<'data>>,
    index: OnceLock<Result<Index<'data>, TypeError>>,
}

impl<'data> TypeDb<'data> {
    /// Reads the DWARF sections of an ELF64 image and the unit headers; nothing more.
    pub fn from_elf(bytes: &'data [u8]) -> Result<TypeDb<'data>, TypeError> {
        let elf = elf::parse(bytes)?;
        if elf::section(&elf, bytes, ".debug_info")?.is_none_or(<[u8]>::is_empty) {
            return Err(TypeError::NoDebugInfo);
        }
        let dwarf = elf::load_dwarf(&elf, bytes)?;
        let mut units = Vec::new();
        let mut headers = dwarf.units();
        while let Some(header) = headers.next()? {
            let Some(start) = header.offset().as_debug_info_offset() else {
                continue;
            };
            let start = start.0 as u64;
            units.push(UnitSlot {
                start,
                end: start + header.length_including_self() as u64,
                header,
                unit: OnceLock::new(),
            });
        }
        Ok(TypeDb {
            dwarf,
            units,
            index: OnceLock::new(),
        })
    }

    /// Number of compilation units.
    pub fn unit_count(&self) -> usize {
        self.units.len()
    }

    fn slot_unit<'s>(
        &'s self,
        slot: &'s UnitSlot<'data>,
    ) -> Result<&'s Unit<Reader<'data>>, TypeError> {
        slot.unit
            .get_or_init(|| self.dwarf.unit(slot.header))
            .as_ref()
            .map_err(|e| TypeError::Dwarf(*e))
    }

    /// Every unit, parsed (for whole-image passes such as the index and `vmlinux.h`).
    pub(crate) fn units(
        &self,
    ) -> impl Iterator<Item = Result<&Unit<Reader<'data>>, TypeError>> + '_ {
        self.units.iter().map(|slot| self.slot_unit(slot))
    }

    /// The unit holding a DIE and the DIE's unit-relative offset.
    pub(crate) fn locate(
        &self,
        id: TypeId,
    ) -> Result<(&Unit<Reader<'data>>, UnitOffset), TypeError> {
        let i = self.units.partition_point(|u| u.start <= id.0);
        let slot = i
            .checked_sub(1)
            .and_then(|i| self.units.get(i))
            .filter(|s| id.0 < s.end)
            .ok_or(TypeError::BadId(id.0))?;
        let unit = self.slot_unit(slot)?;
        let offset = gimli::DebugInfoOffset(id.0 as usize)
            .to_unit_offset(&unit.header)
            .ok_or(TypeError::BadId(id.0))?;
        Ok((unit, offset))
    }

    /// Runs `f` on the DIE `id`.
    pub(crate) fn with_die<T>(
        &self,
        id: TypeId,
        f: impl FnOnce(&Unit<Reader<'data>>, &Die<'_, '_, 'data>) -> Result<T, TypeError>,
    ) -> Result<T, TypeError> {
        let (unit, offset) = self.locate(id)?;
        let entry = unit.entry(offset).map_err(|_| TypeError::BadId(id.0))?;
        f(unit, &entry)
    }

    /// A string attribute, borrowed from the image.
    pub(crate) fn attr_str(
        &self,
        unit: &Unit<Reader<'data>>,
        entry: &Die<'_, '_, 'data>,
        attr: gimli::DwAt,
    ) -> Result<Option<&'data str>, TypeError> {
        match entry.attr_value(attr)? {
            None => Ok(None),
            Some(value) => {
                let s = self.dwarf.attr_string(unit, value)?;
                Ok(std::str::from_utf8(s.slice()).ok())
            }
        }
    }

    /// The name index, built on first use.
    fn index(&self) -> Result<&Index<'data>, TypeError> {
        self.index
            .get_or_init(|| Index::build(self))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Finds a type by C name: `struct sk_buff`, `union x`, `enum y`, a typedef such as `u32`,
    /// a base type such as `unsigned int`, or a bare tag (`sk_buff`: typedef first, then
    /// struct, union, enum). Returns a complete definition when one exists anywhere.
    pub fn find(&self, name: &str) -> Result<Option<TypeId>, TypeError> {
        let index = self.index()?;
        let name = name.trim();
        let (namespaces, bare): (&[Namespace], &str) =
            if let Some(tag) = name.strip_prefix("struct ") {
                (&[Namespace::Struct], tag)
            } else if let Some(tag) = name.strip_prefix("union ") {
                (&[Namespace::Union], tag)
            } else if let Some(tag) = name.strip_prefix("enum ") {
                (&[Namespace::Enum], tag)
            } else {
                (
                    &[
                        Namespace::Typedef,
                        Namespace::Base,
                        Namespace::Struct,
                        Namespace::Union,
                        Namespace::Enum,
                    ],
                    name,
                )
            };
        let bare = bare.trim();
        Ok(namespaces
            .iter()
            .find_map(|&ns| index.get(ns, bare).and_then(|slot| slot.best())))
    }

    /// Up to `n` type names close to `name` (edit distance at most 2, or a third of the
    /// name), spelled as [`TypeDb::find`] takes them (`struct sk_buff`), closest first.
    pub fn suggest(&self, name: &str, n: usize) -> Result<Vec<String>, TypeError> {
        let index = self.index()?;
        let name = name.trim();
        let spaces: Vec<(Namespace, &str)> = [
            (Namespace::Struct, "struct "),
            (Namespace::Union, "union "),
            (Namespace::Enum, "enum "),
            (Namespace::Typedef, ""),
            (Namespace::Base, ""),
        ]
        .into_iter()
        .filter(|(_, kw)| kw.is_empty() || name.starts_with(kw) || !name.contains(' '))
        .collect();
        let mut out: Vec<(usize, String)> = Vec::new();
        for (ns, kw) in spaces {
            let bare = name.strip_prefix(kw).unwrap_or(name).trim();
            let limit = (bare.len() / 3).max(2);
            for cand in index.names_with_prefix(ns, "") {
                let d = strsim::levenshtein(bare, cand);
                if d <= limit && d > 0 {
                    out.push((d, format!("{kw}{cand}")));
                }
            }
        }
        out.sort();
        out.dedup_by(|a, b| a.1 == b.1);
        Ok(out.into_iter().take(n).map(|(_, s)| s).collect())
    }

    /// Like [`TypeDb::find`], but an unknown name is an error that names it.
    pub fn require(&self, name: &str) -> Result<TypeId, TypeError> {
        self.find(name)?
            .ok_or_else(|| TypeError::UnknownType(name.to_string()))
    }

    /// How many names the index holds (builds it).
    pub fn indexed_names(&self) -> Result<usize, TypeError> {
        Ok(self.index()?.len())
    }

    /// Decodes one type.
    pub fn get(&self, id: TypeId) -> Result<Type, TypeError> {
        model::decode(self, id)
    }

    /// Follows typedefs and qualifiers to the underlying type (`None`: void).
    pub fn strip(&self, mut id: Option<TypeId>) -> Result<Option<TypeId>, TypeError> {
        for _ in 0..MAX_DEPTH {
            let Some(current) = id else { return Ok(None) };
            match self.get(current)?.kind {
                Kind::Typedef(t)
                | Kind::Const(t)
                | Kind::Volatile(t)
                | Kind::Restrict(t)
                | Kind::Atomic(t) => id = t,
                _ => return Ok(Some(current)),
            }
        }
        Err(TypeError::TooDeep(id.map_or(0, |t| t.0)))
    }

    /// Size in bytes.
    pub fn size_of(&self, id: TypeId) -> Result<u64, TypeError> {
        self.size_of_depth(id, 0)
    }

    fn size_of_depth(&self, id: TypeId, depth: usize) -> Result<u64, TypeError> {
        if depth > MAX_DEPTH {
            return Err(TypeError::TooDeep(id.0));
        }
        let ty = self.get(id)?;
        if let Some(size) = ty.size {
            return Ok(size);
        }
        let no_size =
            || -> Result<u64, TypeError> { Err(TypeError::NoSize(self.name_of(Some(id))?)) };
        match ty.kind {
            Kind::Pointer(_) => Ok(8),
            Kind::Typedef(Some(t))
            | Kind::Const(Some(t))
            | Kind::Volatile(Some(t))
            | Kind::Restrict(Some(t))
            | Kind::Atomic(Some(t)) => self.size_of_depth(t, depth + 1),
            Kind::Array {
                elem: Some(elem),
                ref dims,
            } => {
                let elem_size = self.size_of_depth(elem, depth + 1)?;
                Ok(dims
                    .iter()
                    .fold(elem_size, |acc, d| acc.saturating_mul(d.unwrap_or(0))))
            }
            _ => no_size(),
        }
    }

    /// Alignment in bytes as the x86-64 System V ABI gives it (packed structs aside).
    pub fn align_of(&self, id: TypeId) -> Result<u64, TypeError> {
        self.align_of_depth(id, 0)
    }

    fn align_of_depth(&self, id: TypeId, depth: usize) -> Result<u64, TypeError> {
        if depth > MAX_DEPTH {
            return Err(TypeError::TooDeep(id.0));
        }
        let ty = self.get(id)?;
        Ok(match ty.kind {
            Kind::Void | Kind::Function { .. } => 1,
            Kind::Pointer(_) => 8,
            Kind::Base { .. } | Kind::Enum { .. } => ty.size.unwrap_or(1).clamp(1, 16),
            Kind::Typedef(t)
            | Kind::Const(t)
            | Kind::Volatile(t)
            | Kind::Restrict(t)
            | Kind::Atomic(t) => match t {
                Some(t) => self.align_of_depth(t, depth + 1)?,
                None => 1,
            },
            Kind::Array { elem, .. } => match elem {
                Some(e) => self.align_of_depth(e, depth + 1)?,
                None => 1,
            },
            Kind::Struct(members) | Kind::Union(members) => {
                let mut align = 1;
                for m in &members {
                    align = align.max(self.align_of_depth(m.ty, depth + 1)?);
                }
                align
            }
        })
    }

    /// The C name of a type: `struct sk_buff *`, `char [48]`, `int (*)(struct sk_buff *)`.
    pub fn name_of(&self, id: Option<TypeId>) -> Result<String, TypeError> {
        names::declarator(self, id, "")
    }

    /// A C declaration of `name` with type `id`: `char cb[48]`, `int (*fn)(void *)`.
    pub fn declaration(&self, id: Option<TypeId>, name: &str) -> Result<String, TypeError> {
        names::declarator(self, id, name)
    }

    /// The layout of a struct or union (typedefs followed): members, holes and padding.
    pub fn layout(&self, id: TypeId) -> Result<Layout, TypeError> {
        layout::layout(self, id)
    }

    /// The layout printed the way pahole prints it.
    pub fn format_pahole(&self, id: TypeId) -> Result<String, TypeError> {
        Ok(layout::format_pahole(&self.layout(id)?))
    }

    /// Resolves a member path such as `dev.name`, `a[2].b` or `u.anon_member` (members of
    /// anonymous structs and unions are found as in C) to an offset and a type.
    pub fn member_path(&self, id: TypeId, path: &str) -> Result<MemberRef, TypeError> {
        path::member_path(self, id, path)
    }

    /// A function's parameters, return type, address and the registers its arguments
    /// arrive in. Prefers an out-of-line definition with code.
    pub fn function(&self, name: &str) -> Result<Option<FunctionInfo>, TypeError> {
        let Some(id) = self
            .index()?
            .get(Namespace::Function, name)
            .and_then(|slot| slot.best())
        else {
            return Ok(None);
        };
        function::function_info(self, id).map(Some)
    }

    /// The type of a global (top-level) variable such as `init_task` or `jiffies`, from its
    /// defining DIE (or its declaration; through `DW_AT_specification` when the definition
    /// carries no type). `Ok(None)` when there is no such variable.
    pub fn variable(&self, name: &str) -> Result<Option<TypeId>, TypeError> {
        let Some(id) = self
            .index()?
            .get(Namespace::Variable, name)
            .and_then(|slot| slot.best())
        else {
            return Ok(None);
        };
        let ty = self.with_die(id, |unit, entry| {
            if let Some(t) = self.type_attr(unit, entry)? {
                return Ok(Some(t));
            }
            match self.ref_attr(unit, entry, gimli::DW_AT_specification)? {
                Some(spec) => self.with_die(spec, |u, e| self.type_attr(u, e)),
                None => Ok(None),
            }
        })?;
        ty.map(Some).ok_or_else(|| TypeError::Unsupported {
            offset: id.0,
            what: format!("variable '{name}' has no DW_AT_type"),
        })
    }

    /// Type names starting with `prefix`, spelled as [`TypeDb::find`] takes them
    /// (`struct sk_buff`, `u32`, `unsigned int`), sorted (tab completion). A prefix that
    /// starts with `struct `, `union ` or `enum ` completes tags of that kind only.
    pub fn type_names_with_prefix(&self, prefix: &str) -> Result<Vec<String>, TypeError> {
        let index = self.index()?;
        let mut out: Vec<String> = Vec::new();
        let tagged = [
            ("struct ", Namespace::Struct),
            ("union ", Namespace::Union),
            ("enum ", Namespace::Enum),
        ];
        if let Some((kw, ns)) = tagged.iter().find(|(kw, _)| prefix.starts_with(kw)) {
            let tag = &prefix[kw.len()..];
            out.extend(
                index
                    .names_with_prefix(*ns, tag)
                    .map(|n| format!("{kw}{n}")),
            );
        } else {
            for ns in [Namespace::Typedef, Namespace::Base] {
                out.extend(index.names_with_prefix(ns, prefix).map(str::to_string));
            }
            for (kw, _) in tagged {
                if kw.starts_with(prefix) {
                    out.push(kw.trim_end().to_string());
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// A DW_AT_type reference as a [`TypeId`] (`None`: void).
    pub(crate) fn type_attr(
        &self,
        unit: &Unit<Reader<'data>>,
        entry: &Die<'_, '_, 'data>,
    ) -> Result<Option<TypeId>, TypeError> {
        self.ref_attr(unit, entry, gimli::DW_AT_type)
    }

    /// Any reference attribute as a [`TypeId`].
    pub(crate) fn ref_attr(
        &self,
        unit: &Unit<Reader<'data>>,
        entry: &Die<'_, '_, 'data>,
        attr: gimli::DwAt,
    ) -> Result<Option<TypeId>, TypeError> {
        let offset = entry
            .offset()
            .to_debug_info_offset(&unit.header)
            .map_or(0, |o| o.0 as u64);
        match entry.attr_value(attr)? {
            None => Ok(None),
            Some(AttributeValue::UnitRef(r)) => r
                .to_debug_info_offset(&unit.header)
                .map(|o| Some(TypeId(o.0 as u64)))
                .ok_or(TypeError::BadId(r.0 as u64)),
            Some(AttributeValue::DebugInfoRef(o)) => Ok(Some(TypeId(o.0 as u64))),
            Some(other) => Err(TypeError::Unsupported {
                offset,
                what: format!("{attr} as {other:?}"),
            }),
        }
    }

    /// The global id of a DIE.
    pub(crate) fn id_of(unit: &Unit<Reader<'data>>, entry: &Die<'_, '_, 'data>) -> TypeId {
        TypeId(
            entry
                .offset()
                .to_debug_info_offset(&unit.header)
                .map_or(0, |o| o.0 as u64),
        )
    }
}
