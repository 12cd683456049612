//! CO-RE ("compile once, run everywhere") relocations: an instruction whose constant (a field
//! offset, a size, whether a field exists...) clang computed against the program's own view
//! of a type and that must be recomputed against the target kernel's types.
//!
//! [`CoreRelo`] is a record resolved against the local BTF: the kind, the local type's kind and
//! name, and the access string turned into a path of member names and array indices (`0:1:2`
//! on `struct sk_buff` is `[0].dev.ifindex`). [`apply`] asks a resolver one [`CoreQuery`] per
//! record and patches the instruction (the immediate of an ALU op or `lddw`, or the offset of a
//! load or store); when the target lacks the field or type, existence checks become 0 and other
//! instructions are poisoned as libbpf does (a call to helper [`POISON_HELPER`], which no
//! helper table provides, so linking or verification names the instruction). The target may be
//! another BTF ([`Btf::core_answer`]) or, in `probes`, the guest kernel's DWARF.

use super::{Btf, BtfError, BtfType};
use crate::instr::{Instr, Src};
use crate::program::{Program, ProgramError};
use thiserror::Error;

/// The helper id libbpf uses to poison an instruction whose relocation failed (`0xbad2310`).
pub const POISON_HELPER: u32 = 0xbad2310;

/// What the relocated constant means (`enum bpf_core_relo_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CoreKind {
    FieldByteOffset,
    FieldByteSize,
    FieldExists,
    FieldSigned,
    FieldLShiftU64,
    FieldRShiftU64,
    TypeIdLocal,
    TypeIdTarget,
    TypeExists,
    TypeSize,
    EnumvalExists,
    EnumvalValue,
    TypeMatches,
}

impl CoreKind {
    /// The kind for its number.
    pub fn from_raw(k: u32) -> Option<Self> {
        use CoreKind::*;
        Some(match k {
            0 => FieldByteOffset,
            1 => FieldByteSize,
            2 => FieldExists,
            3 => FieldSigned,
            4 => FieldLShiftU64,
            5 => FieldRShiftU64,
            6 => TypeIdLocal,
            7 => TypeIdTarget,
            8 => TypeExists,
            9 => TypeSize,
            10 => EnumvalExists,
            11 => EnumvalValue,
            12 => TypeMatches,
            _ => return None,
        })
    }

    /// Whether the kind is about a field (access path of members and indices).
    pub fn is_field(self) -> bool {
        (self as u32) <= (CoreKind::FieldRShiftU64 as u32)
    }

    /// Whether the kind is about an enumerator.
    pub fn is_enumval(self) -> bool {
        matches!(self, CoreKind::EnumvalExists | CoreKind::EnumvalValue)
    }

    /// Whether a missing field/type/enumerator gives 0 instead of a poisoned instruction.
    pub fn is_existence(self) -> bool {
        matches!(
            self,
            CoreKind::FieldExists
                | CoreKind::TypeExists
                | CoreKind::EnumvalExists
                | CoreKind::TypeMatches
        )
    }
}

/// One step of an access path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessStep {
    /// A struct/union member (or, for enum kinds, an enumerator), by name, with its local index.
    Field { name: String, index: u32 },
    /// An array element.
    Index(u32),
}

/// A CO-RE relocation resolved against the local BTF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreRelo {
    /// Instruction index in the (linked) program.
    pub insn: usize,
    pub kind: CoreKind,
    /// Local type id, and its kind and name (`struct`, `sk_buff`).
    pub type_id: u32,
    pub type_kind: &'static str,
    pub type_name: String,
    /// The raw access string.
    pub access: String,
    /// The leading index (pointer arithmetic on the root, usually 0).
    pub first_index: u32,
    /// Members and indices after the root.
    pub path: Vec<AccessStep>,
}

impl CoreRelo {
    /// The query for this record.
    pub fn query(&self) -> CoreQuery<'_> {
        CoreQuery {
            kind: self.kind,
            type_kind: self.type_kind,
            type_name: &self.type_name,
            first_index: self.first_index,
            path: &self.path,
        }
    }

    /// A readable access path, e.g. `struct sk_buff[0].dev.ifindex`.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}", self.type_kind, self.type_name);
        if self.kind.is_field() {
            s.push_str(&format!("[{}]", self.first_index));
        }
        for step in &self.path {
            match step {
                AccessStep::Field { name, .. } => s.push_str(&format!(".{name}")),
                AccessStep::Index(i) => s.push_str(&format!("[{i}]")),
            }
        }
        s
    }
}

/// A question to the target's types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreQuery<'a> {
    pub kind: CoreKind,
    pub type_kind: &'a str,
    pub type_name: &'a str,
    pub first_index: u32,
    pub path: &'a [AccessStep],
}

/// The target's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreAnswer {
    Value(u64),
    /// The target has no such type, field or enumerator.
    Missing,
}

/// Why CO-RE relocations could not be resolved or applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    #[error("CO-RE relocation at instruction {insn}: unknown kind {kind}")]
    UnknownKind { insn: usize, kind: u32 },
    #[error("CO-RE relocation at instruction {insn}: access `{access}`: {reason}")]
    BadAccess {
        insn: usize,
        access: String,
        reason: String,
    },
    #[error("CO-RE relocation at instruction {insn} ({what}): {reason}")]
    Resolver {
        insn: usize,
        what: String,
        reason: String,
    },
    #[error("CO-RE relocation at instruction {insn} ({what}): {reason}")]
    Patch {
        insn: usize,
        what: String,
        reason: String,
    },
    #[error(transparent)]
    Program(#[from] ProgramError),
}

/// Resolves a raw record's access string against the local BTF.
pub fn resolve_record(
    btf: &Btf,
    insn: usize,
    type_id: u32,
    access: &str,
    kind: u32,
) -> Result<CoreRelo, CoreError> {
    let bad = |reason: String| CoreError::BadAccess {
        insn,
        access: access.to_owned(),
        reason,
    };
    let ck = CoreKind::from_raw(kind).ok_or(CoreError::UnknownKind { insn, kind })?;
    let root = btf
        .get(type_id)
        .ok_or_else(|| bad(format!("no type {type_id}")))?;
    let idx: Vec<u32> = access
        .split(':')
        .map(|p| {
            p.parse::<u32>()
                .map_err(|_| bad(format!("`{p}` is not an index")))
        })
        .collect::<Result<_, _>>()?;
    let first = *idx.first().ok_or_else(|| bad("empty".into()))?;
    let mut path = Vec::new();
    if ck.is_field() {
        let mut cur = type_id;
        for &i in &idx[1..] {
            let t = btf.skip_mods(cur).map_err(|e| bad(e.to_string()))?;
            match btf.get(t) {
                Some(BtfType::Struct { members, .. } | BtfType::Union { members, .. }) => {
                    let m = members
                        .get(i as usize)
                        .ok_or_else(|| bad(format!("member {i} of type {t} does not exist")))?;
                    path.push(AccessStep::Field {
                        name: m.name.clone(),
                        index: i,
                    });
                    cur = m.ty;
                }
                Some(BtfType::Array { elem, .. }) => {
                    path.push(AccessStep::Index(i));
                    cur = *elem;
                }
                _ => {
                    return Err(bad(format!(
                        "type {t} is neither a struct, union nor array"
                    )))
                }
            }
        }
    } else if ck.is_enumval() {
        let t = btf.skip_mods(type_id).map_err(|e| bad(e.to_string()))?;
        match btf.get(t) {
            Some(BtfType::Enum { values, .. }) => {
                let (name, _) = values
                    .get(first as usize)
                    .ok_or_else(|| bad(format!("enumerator {first} does not exist")))?;
                path.push(AccessStep::Field {
                    name: name.clone(),
                    index: first,
                });
            }
            _ => return Err(bad(format!("type {t} is not an enum"))),
        }
    }
    Ok(CoreRelo {
        insn,
        kind: ck,
        type_id,
        type_kind: root.kind_name(),
        type_name: root.name().to_owned(),
        access: access.to_owned(),
        first_index: if ck.is_field() { first } else { 0 },
        path,
    })
}

impl Btf {
    /// Answers a CO-RE query against these types (as the target). Names are matched exactly
    /// (libbpf also ignores `___flavor` suffixes; this BTF resolver does not yet, the guest DWARF one does).
    pub fn core_answer(&self, q: &CoreQuery<'_>) -> Result<CoreAnswer, BtfError> {
        use CoreAnswer::{Missing, Value};
        let Some(root) = self.find(q.type_kind, q.type_name) else {
            return Ok(Missing);
        };
        if q.kind.is_enumval() {
            let Some(BtfType::Enum { values, .. }) = self.get(self.skip_mods(root)?) else {
                return Ok(Missing);
            };
            let Some(AccessStep::Field { name, .. }) = q.path.first() else {
                return Ok(Missing);
            };
            return Ok(match values.iter().find(|(n, _)| n == name) {
                None => Missing,
                Some(_) if q.kind == CoreKind::EnumvalExists => Value(1),
                Some((_, v)) => Value(*v as u64),
            });
        }
        if !q.kind.is_field() {
            return Ok(match q.kind {
                CoreKind::TypeSize => Value(self.size_of(root)?),
                CoreKind::TypeIdLocal | CoreKind::TypeIdTarget => Value(root.into()),
                _ => Value(1),
            });
        }
        let mut cur = root;
        let mut bit_off = u64::from(q.first_index) * self.size_of(root)? * 8;
        let mut bitfield = 0u64;
        for step in q.path {
            let t = self.skip_mods(cur)?;
            match (step, self.get(t)) {
                (
                    AccessStep::Field { name, .. },
                    Some(BtfType::Struct { members, .. } | BtfType::Union { members, .. }),
                ) => {
                    let Some(m) = members.iter().find(|m| m.name == *name) else {
                        return Ok(Missing);
                    };
                    bit_off += u64::from(m.bit_offset);
                    bitfield = m.bitfield_size.into();
                    cur = m.ty;
                }
                (AccessStep::Index(i), Some(BtfType::Array { elem, nelems, .. })) => {
                    if *i >= *nelems && *nelems != 0 {
                        return Ok(Missing);
                    }
                    bit_off += u64::from(*i) * self.size_of(*elem)? * 8;
                    bitfield = 0;
                    cur = *elem;
                }
                _ => return Ok(Missing),
            }
        }
        let size = self.size_of(cur)?;
        let (byte_off, bit_size) = if bitfield == 0 {
            (bit_off / 8, size * 8)
        } else {
            ((bit_off / 8) / size.max(1) * size, bitfield)
        };
        let signed = match self.get(self.skip_mods(cur)?) {
            Some(BtfType::Int { encoding, .. }) => encoding.signed,
            Some(BtfType::Enum { signed, .. }) => *signed,
            _ => false,
        };
        Ok(Value(match q.kind {
            CoreKind::FieldByteOffset => byte_off,
            CoreKind::FieldByteSize => size,
            CoreKind::FieldExists => 1,
            CoreKind::FieldSigned => signed.into(),
            CoreKind::FieldLShiftU64 => 64u64.wrapping_sub(bit_off + bit_size - byte_off * 8),
            _ => 64u64.wrapping_sub(bit_size),
        }))
    }
}

/// Patches `prog` for `relos` with the resolver's answers; returns the patched program.
pub fn apply<E: std::fmt::Display>(
    prog: &Program,
    relos: &[CoreRelo],
    resolver: &dyn Fn(&CoreQuery<'_>) -> Result<CoreAnswer, E>,
) -> Result<Program, CoreError> {
    let mut instrs = prog.instrs().to_vec();
    for r in relos {
        let what = r.describe();
        let answer = resolver(&r.query()).map_err(|e| CoreError::Resolver {
            insn: r.insn,
            what: what.clone(),
            reason: e.to_string(),
        })?;
        let patch_err = |reason: String| CoreError::Patch {
            insn: r.insn,
            what: what.clone(),
            reason,
        };
        let value = match answer {
            CoreAnswer::Value(v) => Some(v),
            CoreAnswer::Missing if r.kind.is_existence() => Some(0),
            CoreAnswer::Missing => None,
        };
        let ins = instrs
            .get_mut(r.insn)
            .ok_or_else(|| patch_err("no such instruction".into()))?;
        match (value, *ins) {
            (None, Instr::LdImm64 { .. }) => {
                return Err(patch_err("the target has no such field or type".into()))
            }
            (None, _) => *ins = Instr::CallHelper { id: POISON_HELPER },
            (
                Some(v),
                Instr::Alu {
                    w,
                    op,
                    dst,
                    src: Src::Imm(_),
                },
            ) => {
                let imm = i32::try_from(v)
                    .map_err(|_| patch_err(format!("value {v} does not fit an immediate")))?;
                *ins = Instr::Alu {
                    w,
                    op,
                    dst,
                    src: Src::Imm(imm),
                };
            }
            (Some(v), Instr::LdImm64 { dst, kind, .. }) => {
                *ins = Instr::LdImm64 { dst, kind, imm: v }
            }
            (
                Some(v),
                Instr::Load {
                    size,
                    sx,
                    dst,
                    base,
                    ..
                },
            ) if r.kind == CoreKind::FieldByteOffset => {
                let off = i16::try_from(v)
                    .map_err(|_| patch_err(format!("offset {v} does not fit 16 bits")))?;
                *ins = Instr::Load {
                    size,
                    sx,
                    dst,
                    base,
                    off,
                };
            }
            (
                Some(v),
                Instr::Store {
                    size, base, src, ..
                },
            ) if r.kind == CoreKind::FieldByteOffset => {
                let off = i16::try_from(v)
                    .map_err(|_| patch_err(format!("offset {v} does not fit 16 bits")))?;
                *ins = Instr::Store {
                    size,
                    base,
                    off,
                    src,
                };
            }
            (Some(_), other) => {
                return Err(patch_err(format!("cannot patch instruction {other:?}")))
            }
        }
    }
    Ok(Program::new(instrs)?)
}
