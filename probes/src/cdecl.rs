//! `vmlinux.h`: the guest's types written as C declarations for BPF programs, like
//! `bpftool btf dump file vmlinux format c`.
//!
//! - every struct, union, enum and typedef defined at the top level of any unit, in
//!   dependency order: a definition comes after the complete types it embeds by value; types
//!   only reached through pointers get a forward declaration (`struct foo;`) instead, which is
//!   what breaks cycles such as `struct list_head { struct list_head *next; }`;
//! - duplicates across units are merged when identical; different types with the same name
//!   are renamed `name___2`, `name___3`... as bpftool does (enumerators of a renamed enum too).
//!   Identity is a structural hash in which a pointer to a named type counts by name only
//!   (as BTF deduplication starts out), embedded types by their full structure;
//! - members are placed where the DWARF says: explicit padding (`long: N;` unnamed bitfields)
//!   where natural C layout would put a member earlier, `__attribute__((packed))` where a
//!   member or the size is not naturally aligned;
//! - base types keep their DWARF C spelling (`long unsigned int`), whose widths are the same
//!   on x86-64 and on the BPF target (both LP64);
//! - wrapped in `#ifndef __VMLINUX_H__` and `#pragma clang attribute push
//!   (__attribute__((preserve_access_index)), apply_to = record)` for CO-RE.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use crate::types::names::declarator_with;
use crate::types::{Kind, TypeDb, TypeError, TypeId, MAX_DEPTH};

/// C's tag and ordinary name spaces, as far as we print them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ns {
    Struct,
    Union,
    Enum,
    Typedef,
}

impl Ns {
    fn keyword(self) -> &'static str {
        match self {
            Ns::Struct => "struct ",
            Ns::Union => "union ",
            Ns::Enum => "enum ",
            Ns::Typedef => "",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InProgress,
    Done,
}

#[derive(Debug)]
struct Group {
    ns: Ns,
    name: String,
    rep: TypeId,
    suffix: Option<u32>,
}

/// Writes the `vmlinux.h` of every type in the image.
pub fn vmlinux_h(db: &TypeDb<'_>) -> Result<String, TypeError> {
    let mut w = Writer::new(db);
    let mut roots = Vec::new();
    for unit in db.units() {
        let unit = unit?;
        let mut tree = unit.entries_tree(None)?;
        let root = tree.root()?;
        let mut children = root.children();
        while let Some(child) = children.next()? {
            let entry = child.entry();
            let named = entry.attr(gimli::DW_AT_name)?.is_some();
            let wanted = match entry.tag() {
                gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type | gimli::DW_TAG_typedef => {
                    named
                }
                gimli::DW_TAG_enumeration_type => true,
                _ => false,
            };
            if wanted && entry.attr(gimli::DW_AT_declaration)?.is_none() {
                roots.push(TypeDb::id_of(unit, entry));
            }
        }
    }
    for &id in &roots {
        w.register(id)?;
    }
    // Anonymous enums go last, and only those not already printed inside a struct or a
    // typedef (C would see their enumerators twice).
    let mut anonymous_enums = Vec::new();
    for id in roots {
        let key = w.key(id, false, 0)?;
        if w.named(id)?.is_none() {
            anonymous_enums.push(key);
        } else {
            w.emit(key)?;
        }
    }
    for key in anonymous_enums {
        if !w.inline_enums.contains(&key) {
            w.emit(key)?;
        }
    }
    Ok(w.finish())
}

struct Writer<'a, 'data> {
    db: &'a TypeDb<'data>,
    /// (id, through a pointer) -> structural hash.
    hashes: HashMap<(TypeId, bool), u64>,
    groups: HashMap<u64, Group>,
    /// Keys seen for each name, first first.
    names: HashMap<(Ns, String), Vec<u64>>,
    state: HashMap<u64, State>,
    forward: HashSet<(Ns, String)>,
    enumerators: HashSet<String>,
    /// Anonymous enums printed inline.
    inline_enums: HashSet<u64>,
    body: String,
}

fn hash_of(parts: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

fn is_builtin(name: &str) -> bool {
    name.starts_with("__builtin_")
}

fn base_spelling(name: &str) -> String {
    name.replace("complex ", "_Complex ")
}

impl<'a, 'data> Writer<'a, 'data> {
    fn new(db: &'a TypeDb<'data>) -> Self {
        Writer {
            db,
            hashes: HashMap::new(),
            groups: HashMap::new(),
            names: HashMap::new(),
            state: HashMap::new(),
            forward: HashSet::new(),
            enumerators: HashSet::new(),
            inline_enums: HashSet::new(),
            body: String::new(),
        }
    }

    /// Structural hash of a type; `via_pointer`: a named aggregate counts by name only.
    fn key(&mut self, id: TypeId, via_pointer: bool, depth: usize) -> Result<u64, TypeError> {
        if depth > MAX_DEPTH {
            return Err(TypeError::TooDeep(id.0));
        }
        if let Some(&h) = self.hashes.get(&(id, via_pointer)) {
            return Ok(h);
        }
        let ty = self.db.get(id)?;
        let sub = |w: &mut Self, t: Option<TypeId>, p: bool| -> Result<u64, TypeError> {
            match t {
                Some(t) => w.key(t, p, depth + 1),
                None => Ok(0),
            }
        };
        let h = match &ty.kind {
            Kind::Void => hash_of(&"void"),
            Kind::Base { .. } => hash_of(&("base", &ty.name, ty.size)),
            Kind::Struct(members) | Kind::Union(members) => {
                let tag = matches!(ty.kind, Kind::Struct(_));
                if ty.declaration || (via_pointer && ty.name.is_some()) {
                    hash_of(&("tag", tag, &ty.name))
                } else {
                    let mut parts = Vec::with_capacity(members.len());
                    for m in members {
                        parts.push((
                            m.name.clone(),
                            m.bit_offset,
                            m.bit_size,
                            self.key(m.ty, false, depth + 1)?,
                        ));
                    }
                    hash_of(&("def", tag, &ty.name, ty.size, parts))
                }
            }
            Kind::Enum { values, .. } => {
                if ty.declaration || (via_pointer && ty.name.is_some()) {
                    hash_of(&("enum-tag", &ty.name))
                } else {
                    hash_of(&("enum", &ty.name, ty.size, values))
                }
            }
            Kind::Typedef(t) => {
                let target = if via_pointer { 0 } else { sub(self, *t, true)? };
                hash_of(&("typedef", &ty.name, target))
            }
            Kind::Pointer(t) => hash_of(&("ptr", sub(self, *t, true)?)),
            Kind::Const(t) => hash_of(&("const", sub(self, *t, via_pointer)?)),
            Kind::Volatile(t) => hash_of(&("volatile", sub(self, *t, via_pointer)?)),
            Kind::Restrict(t) => hash_of(&("restrict", sub(self, *t, via_pointer)?)),
            Kind::Atomic(t) => hash_of(&("atomic", sub(self, *t, via_pointer)?)),
            Kind::Array { elem, dims } => hash_of(&("array", dims, sub(self, *elem, via_pointer)?)),
            Kind::Function {
                ret,
                params,
                variadic,
            } => {
                let mut parts = vec![sub(self, *ret, true)?];
                for p in params {
                    parts.push(sub(self, *p, true)?);
                }
                hash_of(&("fn", parts, variadic))
            }
        };
        self.hashes.insert((id, via_pointer), h);
        Ok(h)
    }

    /// The name space and name of a printable named type.
    fn named(&self, id: TypeId) -> Result<Option<(Ns, String, bool)>, TypeError> {
        let ty = self.db.get(id)?;
        let ns = match ty.kind {
            Kind::Struct(_) => Ns::Struct,
            Kind::Union(_) => Ns::Union,
            Kind::Enum { .. } => Ns::Enum,
            Kind::Typedef(_) => Ns::Typedef,
            _ => return Ok(None),
        };
        Ok(ty.name.map(|n| (ns, n, ty.declaration)))
    }

    /// Registers a definition: merges it with an identical one or gives it a new name.
    fn register(&mut self, id: TypeId) -> Result<u64, TypeError> {
        let key = self.key(id, false, 0)?;
        if self.groups.contains_key(&key) {
            return Ok(key);
        }
        let ty = self.db.get(id)?;
        let (ns, name) = match self.named(id)? {
            Some((ns, name, _)) => (ns, name),
            // An anonymous enum: printed as `enum { ... };`.
            None => {
                self.groups.insert(
                    key,
                    Group {
                        ns: Ns::Enum,
                        name: String::new(),
                        rep: id,
                        suffix: None,
                    },
                );
                return Ok(key);
            }
        };
        let _ = ty;
        let keys = self.names.entry((ns, name.clone())).or_default();
        keys.push(key);
        let n = keys.len() as u32;
        let (emitted, suffix) = if n == 1 {
            (name, None)
        } else {
            (format!("{name}___{n}"), Some(n))
        };
        self.groups.insert(
            key,
            Group {
                ns,
                name: emitted,
                rep: id,
                suffix,
            },
        );
        Ok(key)
    }

    /// The group a named type belongs to: its own definition, or for a declaration the
    /// first definition of that name (`None`: declared only).
    fn group_of(&mut self, id: TypeId) -> Result<Option<u64>, TypeError> {
        let Some((ns, name, declaration)) = self.named(id)? else {
            return Ok(None);
        };
        if declaration {
            return Ok(self
                .names
                .get(&(ns, name))
                .and_then(|keys| keys.first().copied()));
        }
        self.register(id).map(Some)
    }

    /// How a named type is spelled where it is used.
    fn spell(&mut self, id: TypeId, indent: usize) -> Result<String, TypeError> {
        let ty = self.db.get(id)?;
        if let Kind::Base { .. } = ty.kind {
            return Ok(base_spelling(ty.name.as_deref().unwrap_or("int")));
        }
        if ty.name.is_none() {
            return self.anonymous_body(id, indent);
        }
        let Some((ns, name, _)) = self.named(id)? else {
            return Ok("void".into());
        };
        if ns == Ns::Typedef && is_builtin(&name) {
            return Ok(name);
        }
        Ok(match self.group_of(id)? {
            Some(key) => format!("{}{}", ns.keyword(), self.groups[&key].name),
            None => format!("{}{name}", ns.keyword()),
        })
    }

    fn declare(
        &mut self,
        id: Option<TypeId>,
        name: &str,
        indent: usize,
    ) -> Result<String, TypeError> {
        let db = self.db;
        let mut spell = |_: &TypeDb<'_>, t: TypeId| self.spell(t, indent);
        declarator_with(db, id, name, &mut spell)
    }

    /// Named types that must be complete before `id` is used by value (`strong`) or only
    /// declared (`weak`, reached through pointers).
    fn deps(
        &mut self,
        id: Option<TypeId>,
        via_pointer: bool,
        depth: usize,
        strong: &mut Vec<TypeId>,
        weak: &mut Vec<TypeId>,
    ) -> Result<(), TypeError> {
        let Some(id) = id else { return Ok(()) };
        if depth > MAX_DEPTH {
            return Err(TypeError::TooDeep(id.0));
        }
        let ty = self.db.get(id)?;
        match ty.kind {
            Kind::Void | Kind::Base { .. } => {}
            Kind::Struct(members) | Kind::Union(members) => {
                if ty.name.is_some() {
                    if via_pointer || ty.declaration {
                        weak.push(id);
                    } else {
                        strong.push(id);
                    }
                } else {
                    for m in members {
                        self.deps(Some(m.ty), false, depth + 1, strong, weak)?;
                    }
                }
            }
            Kind::Enum { .. } => {
                if ty.name.is_some() {
                    strong.push(id);
                }
            }
            Kind::Typedef(target) => {
                if !ty.name.as_deref().is_some_and(is_builtin) {
                    strong.push(id);
                    // Used by value: what the typedef names must be complete as well.
                    if !via_pointer {
                        self.deps(target, false, depth + 1, strong, weak)?;
                    }
                }
            }
            Kind::Pointer(t) => self.deps(t, true, depth + 1, strong, weak)?,
            Kind::Const(t) | Kind::Volatile(t) | Kind::Restrict(t) | Kind::Atomic(t) => {
                self.deps(t, via_pointer, depth + 1, strong, weak)?
            }
            Kind::Array { elem, .. } => self.deps(elem, via_pointer, depth + 1, strong, weak)?,
            Kind::Function { ret, params, .. } => {
                self.deps(ret, true, depth + 1, strong, weak)?;
                for p in params {
                    self.deps(p, true, depth + 1, strong, weak)?;
                }
            }
        }
        Ok(())
    }

    /// Emits a group's definition after what it depends on.
    fn emit(&mut self, key: u64) -> Result<(), TypeError> {
        if self.state.contains_key(&key) {
            return Ok(());
        }
        let Some(group) = self.groups.get(&key) else {
            return Ok(());
        };
        let (rep, ns) = (group.rep, group.ns);
        self.state.insert(key, State::InProgress);
        let ty = self.db.get(rep)?;
        let (mut strong, mut weak) = (Vec::new(), Vec::new());
        match &ty.kind {
            Kind::Typedef(t) => self.deps(*t, true, 0, &mut strong, &mut weak)?,
            Kind::Struct(members) | Kind::Union(members) => {
                for m in members {
                    self.deps(Some(m.ty), false, 0, &mut strong, &mut weak)?;
                }
            }
            _ => {}
        }
        for dep in strong {
            match self.group_of(dep)? {
                Some(k) if self.state.get(&k) != Some(&State::InProgress) => self.emit(k)?,
                // A cycle through by-value uses cannot happen in C; be lenient.
                _ => weak.push(dep),
            }
        }
        for dep in weak {
            let done = match self.group_of(dep)? {
                // A struct may point to itself: its tag is declared by its own head.
                Some(k) => k == key || self.state.get(&k) == Some(&State::Done),
                None => false,
            };
            if !done {
                self.forward_declare(dep)?;
            }
        }
        let text = match ty.kind {
            Kind::Typedef(t) => {
                let name = ty.name.clone().unwrap_or_default();
                if is_builtin(&name) {
                    String::new()
                } else {
                    let emitted = self.groups[&key].name.clone();
                    format!("typedef {};\n\n", self.declare(t, &emitted, 0)?)
                }
            }
            _ => {
                let head = if self.groups[&key].name.is_empty() {
                    ns.keyword().trim_end().to_string()
                } else {
                    format!("{}{}", ns.keyword(), self.groups[&key].name)
                };
                let body = self.body_of(rep, &head, 0)?;
                format!("{body};\n\n")
            }
        };
        self.body.push_str(&text);
        self.state.insert(key, State::Done);
        Ok(())
    }

    fn forward_declare(&mut self, id: TypeId) -> Result<(), TypeError> {
        if let Some((ns, _, _)) = self.named(id)? {
            if matches!(ns, Ns::Struct | Ns::Union) {
                let spelled = self.spell(id, 0)?;
                if self.forward.insert((ns, spelled.clone())) {
                    self.body.push_str(&format!("{spelled};\n\n"));
                }
            }
        }
        Ok(())
    }

    fn anonymous_body(&mut self, id: TypeId, indent: usize) -> Result<String, TypeError> {
        let keyword = match self.db.get(id)?.kind {
            Kind::Struct(_) => "struct",
            Kind::Union(_) => "union",
            Kind::Enum { .. } => {
                let key = self.key(id, false, 0)?;
                if !self.inline_enums.insert(key) && self.state.contains_key(&key) {
                    // Printed once already: its enumerators must not be defined again.
                    let size = self.db.get(id)?.size.unwrap_or(4);
                    return Ok(match size {
                        1 => "unsigned char",
                        2 => "short unsigned int",
                        8 => "long unsigned int",
                        _ => "unsigned int",
                    }
                    .into());
                }
                self.state.insert(key, State::Done);
                "enum"
            }
            _ => "void",
        };
        self.body_of(id, keyword, indent)
    }

    /// `struct x {\n\tmembers;\n}` (no semicolon), or an enum's body.
    fn body_of(&mut self, id: TypeId, head: &str, indent: usize) -> Result<String, TypeError> {
        let ty = self.db.get(id)?;
        let tabs = "\t".repeat(indent + 1);
        let close_tabs = "\t".repeat(indent);
        let mut out = format!("{head} {{\n");
        match &ty.kind {
            Kind::Enum { signed, values } => {
                let suffix = self
                    .named(id)?
                    .and_then(|_| self.hashes.get(&(id, false)).copied())
                    .and_then(|k| self.groups.get(&k))
                    .and_then(|g| g.suffix);
                for v in values {
                    let mut name = match suffix {
                        Some(n) => format!("{}___{n}", v.name),
                        None => v.name.clone(),
                    };
                    let mut n = 2;
                    while !self.enumerators.insert(name.clone()) {
                        name = format!("{}___{n}", v.name);
                        n += 1;
                    }
                    let value = if *signed {
                        v.value.to_string()
                    } else {
                        (v.value as u64).to_string()
                    };
                    let value = if *signed && v.value == i64::MIN {
                        "(-9223372036854775807LL - 1)".to_string()
                    } else if !*signed && (v.value as u64) > i64::MAX as u64 {
                        format!("{value}ULL")
                    } else {
                        value
                    };
                    out.push_str(&format!("{tabs}{name} = {value},\n"));
                }
                out.push_str(&format!("{close_tabs}}}"));
            }
            Kind::Struct(members) | Kind::Union(members) => {
                let is_union = matches!(ty.kind, Kind::Union(_));
                let size = ty.size.unwrap_or(0);
                let mut packed = false;
                let mut max_align = 1;
                for m in members {
                    let align = self.db.align_of(m.ty)?;
                    max_align = max_align.max(align);
                    if m.bit_size.is_none() && m.bit_offset % (align * 8) != 0 {
                        packed = true;
                    }
                }
                if size % max_align != 0 {
                    packed = true;
                }
                let mut pos = 0u64; // bits: where natural layout would continue
                for m in members {
                    let member_size = self.db.size_of(m.ty).unwrap_or(0);
                    if !is_union {
                        let natural = match m.bit_size {
                            Some(bits) => {
                                let unit = (member_size * 8).max(8);
                                if pos % unit + bits <= unit {
                                    pos
                                } else {
                                    pos.div_ceil(unit) * unit
                                }
                            }
                            None if packed => pos.div_ceil(8) * 8,
                            None => {
                                let align = self.db.align_of(m.ty)? * 8;
                                pos.div_ceil(align) * align
                            }
                        };
                        if m.bit_offset > natural {
                            pad(&mut out, &tabs, natural, m.bit_offset);
                        }
                    }
                    let decl =
                        self.declare(Some(m.ty), m.name.as_deref().unwrap_or(""), indent + 1)?;
                    match m.bit_size {
                        Some(bits) => out.push_str(&format!("{tabs}{decl}: {bits};\n")),
                        None => out.push_str(&format!("{tabs}{decl};\n")),
                    }
                    if !is_union {
                        pos = m.bit_offset + m.bit_size.unwrap_or(member_size * 8);
                    }
                }
                // Nothing may follow a flexible array member: trailing padding (a
                // cacheline-aligned struct ending in `x[]`) becomes an alignment attribute.
                let ends_flexible = !is_union
                    && members
                        .last()
                        .is_some_and(|m| self.db.size_of(m.ty).unwrap_or(0) == 0);
                let mut aligned = None;
                if !is_union {
                    let natural_end = if packed {
                        pos.div_ceil(8) * 8
                    } else {
                        pos.div_ceil(max_align * 8) * max_align * 8
                    };
                    if size * 8 > natural_end {
                        if ends_flexible {
                            let a = (1u64 << size.trailing_zeros().min(6)).max(max_align);
                            if (natural_end / 8).div_ceil(a) * a == size {
                                aligned = Some(a);
                            }
                        } else {
                            pad(&mut out, &tabs, pos, size * 8);
                        }
                    }
                }
                out.push_str(&format!("{close_tabs}}}"));
                if packed {
                    out.push_str(" __attribute__((packed))");
                }
                if let Some(a) = aligned {
                    out.push_str(&format!(" __attribute__((aligned({a})))"));
                }
            }
            _ => out.push_str(&format!("{close_tabs}}}")),
        }
        Ok(out)
    }

    fn finish(self) -> String {
        let mut out = String::from(
            "/* Generated by bpflab from the guest kernel's DWARF. Do not edit. */\n\
             #ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n\
             #ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n\
             #pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n\
             #endif\n\n",
        );
        out.push_str(&self.body);
        out.push_str(
            "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n\
             #endif /* __VMLINUX_H__ */\n",
        );
        out
    }
}

/// Unnamed bitfields filling bits `[from, to)`; each stays inside one 64-bit unit.
fn pad(out: &mut String, tabs: &str, mut from: u64, to: u64) {
    while from < to {
        let chunk = (64 - from % 64).min(to - from);
        out.push_str(&format!("{tabs}long: {chunk};\n"));
        from += chunk;
    }
}
