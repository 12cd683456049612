//! BTF, the BPF Type Format: the `.BTF` section (types and strings) of an object, and in
//! [`ext`] the `.BTF.ext` records tying instructions to functions, source lines and CO-RE
//! relocations ([`core`]).
//!
//! Every kind of the format is parsed (int, ptr, array, struct, union, enum, enum64, fwd,
//! typedef, volatile, const, restrict, func, func_proto, var, datasec, float, decl_tag,
//! type_tag) into [`BtfType`], with names resolved from the string table. Type 0 is `void`.
//! Every offset, length and type id is checked: corrupt BTF is a [`BtfError`] naming what is
//! wrong and where, never a panic.

pub mod core;
pub mod ext;
mod reader;
pub mod values;

use reader::Reader;
use thiserror::Error;

/// BTF magic number.
pub const BTF_MAGIC: u16 = 0xeb9f;

/// Why BTF could not be parsed or a type could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BtfError {
    #[error("{what}: truncated at byte {offset}")]
    Truncated { what: &'static str, offset: usize },
    #[error("bad magic {0:#06x} (expected 0xeb9f, little-endian)")]
    BadMagic(u16),
    #[error("unsupported version {0}")]
    BadVersion(u8),
    #[error("{what} [{start}, +{len}) lies outside the {total} bytes of data")]
    OutOfBounds {
        what: &'static str,
        start: u64,
        len: u64,
        total: usize,
    },
    #[error("string offset {0} is outside the string table or not NUL-terminated")]
    BadString(u32),
    #[error("type {id}: unknown kind {kind}")]
    UnknownKind { id: u32, kind: u32 },
    #[error("type {id} refers to type {target}, which does not exist")]
    BadTypeId { id: u32, target: u32 },
    #[error("type {0}: reference chain too long (a cycle?)")]
    Cycle(u32),
    #[error("type {0} has no size")]
    Unsized(u32),
    #[error("{0}")]
    Other(String),
}

/// How an int is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IntEncoding {
    pub signed: bool,
    pub char: bool,
    pub bool: bool,
}

/// A struct or union member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub ty: u32,
    pub bit_offset: u32,
    /// Bitfield width in bits; 0 for an ordinary member.
    pub bitfield_size: u32,
}

/// A variable in a data section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatasecVar {
    pub ty: u32,
    pub offset: u32,
    pub size: u32,
}

/// One BTF type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BtfType {
    Void,
    Int {
        name: String,
        size: u32,
        encoding: IntEncoding,
        bit_offset: u32,
        bits: u32,
    },
    Ptr {
        ty: u32,
    },
    Array {
        elem: u32,
        index: u32,
        nelems: u32,
    },
    Struct {
        name: String,
        size: u32,
        members: Vec<Member>,
    },
    Union {
        name: String,
        size: u32,
        members: Vec<Member>,
    },
    Enum {
        name: String,
        size: u32,
        signed: bool,
        values: Vec<(String, i64)>,
    },
    Fwd {
        name: String,
        union: bool,
    },
    Typedef {
        name: String,
        ty: u32,
    },
    Volatile {
        ty: u32,
    },
    Const {
        ty: u32,
    },
    Restrict {
        ty: u32,
    },
    Func {
        name: String,
        proto: u32,
        linkage: u32,
    },
    FuncProto {
        ret: u32,
        params: Vec<(String, u32)>,
    },
    Var {
        name: String,
        ty: u32,
        linkage: u32,
    },
    Datasec {
        name: String,
        size: u32,
        vars: Vec<DatasecVar>,
    },
    Float {
        name: String,
        size: u32,
    },
    DeclTag {
        name: String,
        ty: u32,
        component_idx: i32,
    },
    TypeTag {
        name: String,
        ty: u32,
    },
}

impl BtfType {
    /// The type's name ("" for anonymous and nameless kinds).
    pub fn name(&self) -> &str {
        match self {
            BtfType::Int { name, .. }
            | BtfType::Struct { name, .. }
            | BtfType::Union { name, .. }
            | BtfType::Enum { name, .. }
            | BtfType::Fwd { name, .. }
            | BtfType::Typedef { name, .. }
            | BtfType::Func { name, .. }
            | BtfType::Var { name, .. }
            | BtfType::Datasec { name, .. }
            | BtfType::Float { name, .. }
            | BtfType::DeclTag { name, .. }
            | BtfType::TypeTag { name, .. } => name,
            _ => "",
        }
    }

    /// The C-like keyword of the kind (`struct`, `union`, `enum`, `typedef`, `int`...).
    pub fn kind_name(&self) -> &'static str {
        match self {
            BtfType::Void => "void",
            BtfType::Int { .. } => "int",
            BtfType::Ptr { .. } => "ptr",
            BtfType::Array { .. } => "array",
            BtfType::Struct { .. } => "struct",
            BtfType::Union { .. } => "union",
            BtfType::Enum { .. } => "enum",
            BtfType::Fwd { .. } => "fwd",
            BtfType::Typedef { .. } => "typedef",
            BtfType::Volatile { .. } => "volatile",
            BtfType::Const { .. } => "const",
            BtfType::Restrict { .. } => "restrict",
            BtfType::Func { .. } => "func",
            BtfType::FuncProto { .. } => "func_proto",
            BtfType::Var { .. } => "var",
            BtfType::Datasec { .. } => "datasec",
            BtfType::Float { .. } => "float",
            BtfType::DeclTag { .. } => "decl_tag",
            BtfType::TypeTag { .. } => "type_tag",
        }
    }

    /// The type this one refers to, for modifiers, typedefs, pointers, vars, funcs and tags.
    fn referenced(&self) -> Vec<u32> {
        match self {
            BtfType::Ptr { ty }
            | BtfType::Typedef { ty, .. }
            | BtfType::Volatile { ty }
            | BtfType::Const { ty }
            | BtfType::Restrict { ty }
            | BtfType::Var { ty, .. }
            | BtfType::DeclTag { ty, .. }
            | BtfType::TypeTag { ty, .. } => vec![*ty],
            BtfType::Func { proto, .. } => vec![*proto],
            BtfType::Array { elem, index, .. } => vec![*elem, *index],
            BtfType::Struct { members, .. } | BtfType::Union { members, .. } => {
                members.iter().map(|m| m.ty).collect()
            }
            BtfType::FuncProto { ret, params } => std::iter::once(*ret)
                .chain(params.iter().map(|p| p.1))
                .collect(),
            BtfType::Datasec { vars, .. } => vars.iter().map(|v| v.ty).collect(),
            _ => Vec::new(),
        }
    }
}

/// Longest chain of modifiers and typedefs followed before giving up.
const MAX_CHAIN: usize = 64;

/// Parsed `.BTF`: types by id (index 0 is void) and the string table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Btf {
    types: Vec<BtfType>,
    strings: Vec<u8>,
}

/// A string of the table at `off`.
fn string_at(strings: &[u8], off: u32) -> Result<&str, BtfError> {
    let tail = strings
        .get(off as usize..)
        .ok_or(BtfError::BadString(off))?;
    let end = tail
        .iter()
        .position(|&b| b == 0)
        .ok_or(BtfError::BadString(off))?;
    std::str::from_utf8(&tail[..end]).map_err(|_| BtfError::BadString(off))
}

impl Btf {
    /// Parses a `.BTF` section.
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        let mut r = Reader::new(data, "BTF header");
        let magic = r.u16()?;
        if magic != BTF_MAGIC {
            return Err(BtfError::BadMagic(magic));
        }
        let version = r.u8()?;
        if version != 1 {
            return Err(BtfError::BadVersion(version));
        }
        let _flags = r.u8()?;
        let hdr_len = r.u32()?;
        let type_off = r.u32()?;
        let type_len = r.u32()?;
        let str_off = r.u32()?;
        let str_len = r.u32()?;
        let section = |what, off: u32, len: u32| -> Result<&[u8], BtfError> {
            let start = u64::from(hdr_len) + u64::from(off);
            let end = start + u64::from(len);
            if end > data.len() as u64 {
                return Err(BtfError::OutOfBounds {
                    what,
                    start,
                    len: len.into(),
                    total: data.len(),
                });
            }
            Ok(&data[start as usize..end as usize])
        };
        let strings = section("string table", str_off, str_len)?.to_vec();
        let type_data = section("type section", type_off, type_len)?;
        let mut types = vec![BtfType::Void];
        let mut r = Reader::new(type_data, "BTF type");
        while !r.is_empty() {
            let id = types.len() as u32;
            types.push(Self::parse_type(&mut r, &strings, id)?);
        }
        let btf = Btf { types, strings };
        for (id, t) in btf.types.iter().enumerate() {
            for target in t.referenced() {
                if target as usize >= btf.types.len() {
                    return Err(BtfError::BadTypeId {
                        id: id as u32,
                        target,
                    });
                }
            }
        }
        Ok(btf)
    }

    fn parse_type(r: &mut Reader<'_>, strings: &[u8], id: u32) -> Result<BtfType, BtfError> {
        let name_off = r.u32()?;
        let info = r.u32()?;
        let size_or_type = r.u32()?;
        let vlen = (info & 0xffff) as usize;
        let kind = (info >> 24) & 0x1f;
        let kflag = info >> 31 != 0;
        let name = string_at(strings, name_off)?.to_owned();
        let s = |off| string_at(strings, off).map(str::to_owned);
        Ok(match kind {
            1 => {
                let enc = r.u32()?;
                BtfType::Int {
                    name,
                    size: size_or_type,
                    encoding: IntEncoding {
                        signed: enc >> 24 & 1 != 0,
                        char: enc >> 24 & 2 != 0,
                        bool: enc >> 24 & 4 != 0,
                    },
                    bit_offset: (enc >> 16) & 0xff,
                    bits: enc & 0xff,
                }
            }
            2 => BtfType::Ptr { ty: size_or_type },
            3 => BtfType::Array {
                elem: r.u32()?,
                index: r.u32()?,
                nelems: r.u32()?,
            },
            4 | 5 => {
                let mut members = Vec::with_capacity(vlen.min(r.remaining() / 12));
                for _ in 0..vlen {
                    let (n, ty, off) = (r.u32()?, r.u32()?, r.u32()?);
                    members.push(Member {
                        name: s(n)?,
                        ty,
                        bit_offset: if kflag { off & 0xff_ffff } else { off },
                        bitfield_size: if kflag { off >> 24 } else { 0 },
                    });
                }
                if kind == 4 {
                    BtfType::Struct {
                        name,
                        size: size_or_type,
                        members,
                    }
                } else {
                    BtfType::Union {
                        name,
                        size: size_or_type,
                        members,
                    }
                }
            }
            6 | 19 => {
                let mut values = Vec::with_capacity(vlen.min(r.remaining() / 8));
                for _ in 0..vlen {
                    let n = s(r.u32()?)?;
                    let v = if kind == 6 {
                        let v = r.u32()?;
                        if kflag {
                            i64::from(v as i32)
                        } else {
                            i64::from(v)
                        }
                    } else {
                        let lo = u64::from(r.u32()?);
                        let hi = u64::from(r.u32()?);
                        (hi << 32 | lo) as i64
                    };
                    values.push((n, v));
                }
                BtfType::Enum {
                    name,
                    size: size_or_type,
                    signed: kflag,
                    values,
                }
            }
            7 => BtfType::Fwd { name, union: kflag },
            8 => BtfType::Typedef {
                name,
                ty: size_or_type,
            },
            9 => BtfType::Volatile { ty: size_or_type },
            10 => BtfType::Const { ty: size_or_type },
            11 => BtfType::Restrict { ty: size_or_type },
            12 => BtfType::Func {
                name,
                proto: size_or_type,
                linkage: vlen as u32,
            },
            13 => {
                let mut params = Vec::with_capacity(vlen.min(r.remaining() / 8));
                for _ in 0..vlen {
                    let n = s(r.u32()?)?;
                    params.push((n, r.u32()?));
                }
                BtfType::FuncProto {
                    ret: size_or_type,
                    params,
                }
            }
            14 => BtfType::Var {
                name,
                ty: size_or_type,
                linkage: r.u32()?,
            },
            15 => {
                let mut vars = Vec::with_capacity(vlen.min(r.remaining() / 12));
                for _ in 0..vlen {
                    vars.push(DatasecVar {
                        ty: r.u32()?,
                        offset: r.u32()?,
                        size: r.u32()?,
                    });
                }
                BtfType::Datasec {
                    name,
                    size: size_or_type,
                    vars,
                }
            }
            16 => BtfType::Float {
                name,
                size: size_or_type,
            },
            17 => BtfType::DeclTag {
                name,
                ty: size_or_type,
                component_idx: r.u32()? as i32,
            },
            18 => BtfType::TypeTag {
                name,
                ty: size_or_type,
            },
            _ => return Err(BtfError::UnknownKind { id, kind }),
        })
    }

    /// Number of types, void included.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Always false: void is always there.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// Type `id`.
    pub fn get(&self, id: u32) -> Option<&BtfType> {
        self.types.get(id as usize)
    }

    /// Type `id`, or an error naming the referrer.
    pub fn type_of(&self, from: u32, id: u32) -> Result<&BtfType, BtfError> {
        self.get(id).ok_or(BtfError::BadTypeId {
            id: from,
            target: id,
        })
    }

    /// All types with their ids.
    pub fn types(&self) -> impl Iterator<Item = (u32, &BtfType)> {
        self.types.iter().enumerate().map(|(i, t)| (i as u32, t))
    }

    /// The string at `off` of the string table.
    pub fn string(&self, off: u32) -> Result<&str, BtfError> {
        string_at(&self.strings, off)
    }

    /// The first type called `name` of kind `kind` (as [`BtfType::kind_name`]).
    pub fn find(&self, kind: &str, name: &str) -> Option<u32> {
        self.types()
            .find(|(_, t)| t.kind_name() == kind && t.name() == name)
            .map(|(id, _)| id)
    }

    /// Follows typedefs and modifiers (const, volatile, restrict, type tags) to the underlying
    /// type's id.
    pub fn skip_mods(&self, id: u32) -> Result<u32, BtfError> {
        let mut cur = id;
        for _ in 0..MAX_CHAIN {
            match self.type_of(id, cur)? {
                BtfType::Typedef { ty, .. }
                | BtfType::Volatile { ty }
                | BtfType::Const { ty }
                | BtfType::Restrict { ty }
                | BtfType::TypeTag { ty, .. } => cur = *ty,
                _ => return Ok(cur),
            }
        }
        Err(BtfError::Cycle(id))
    }

    /// Size in bytes of type `id`, as `sizeof` would give it.
    pub fn size_of(&self, id: u32) -> Result<u64, BtfError> {
        self.size_rec(id, 0)
    }

    fn size_rec(&self, id: u32, depth: usize) -> Result<u64, BtfError> {
        if depth > MAX_CHAIN {
            return Err(BtfError::Cycle(id));
        }
        let t = self.skip_mods(id)?;
        Ok(match self.type_of(id, t)? {
            BtfType::Int { size, .. }
            | BtfType::Struct { size, .. }
            | BtfType::Union { size, .. }
            | BtfType::Enum { size, .. }
            | BtfType::Float { size, .. }
            | BtfType::Datasec { size, .. } => u64::from(*size),
            BtfType::Ptr { .. } => 8,
            BtfType::Array { elem, nelems, .. } => self
                .size_rec(*elem, depth + 1)?
                .checked_mul(u64::from(*nelems))
                .ok_or(BtfError::Unsized(id))?,
            BtfType::Var { ty, .. } => self.size_rec(*ty, depth + 1)?,
            _ => return Err(BtfError::Unsized(id)),
        })
    }

    /// A readable name: `struct sk_buff`, `u32` (typedef), `int`, `void`, `ptr` for anonymous.
    pub fn display_name(&self, id: u32) -> String {
        match self.get(id) {
            Some(t @ (BtfType::Struct { .. } | BtfType::Union { .. } | BtfType::Enum { .. })) => {
                format!("{} {}", t.kind_name(), t.name())
            }
            Some(BtfType::Void) => "void".into(),
            Some(t) if !t.name().is_empty() => t.name().into(),
            Some(t) => t.kind_name().into(),
            None => format!("<bad type {id}>"),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds `.BTF` bytes from raw type words and a string table.
    pub(crate) fn build(types: &[u32], strings: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        let tlen = (types.len() * 4) as u32;
        for w in [24, 0, tlen, tlen, strings.len() as u32] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for w in types {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(strings);
        out
    }

    const INT: u32 = 1 << 24;
    const PTR: u32 = 2 << 24;
    const ARRAY: u32 = 3 << 24;
    const STRUCT: u32 = 4 << 24;
    const TYPEDEF: u32 = 8 << 24;

    /// `int` (1), `struct s { int a; u32 b[3]; }` (2), `typedef int u32` (3), `int[3]` (4),
    /// `struct s *` (5).
    pub(crate) fn sample() -> Vec<u8> {
        let strings = b"\0int\0s\0a\0b\0u32\0";
        build(
            &[
                1,
                INT,
                4,
                1 << 24 | 32, // [1] int, signed, 32 bits
                5,
                STRUCT | 2,
                16,
                7,
                1,
                0,
                9,
                4,
                32, // [2] struct s
                11,
                TYPEDEF,
                1, // [3] typedef u32 -> int
                0,
                ARRAY,
                0,
                3,
                1,
                3, // [4] u32[3]
                0,
                PTR,
                2, // [5] struct s *
            ],
            strings,
        )
    }

    #[test]
    fn parses_types_and_sizes() {
        let btf = Btf::parse(&sample()).unwrap();
        assert_eq!(btf.len(), 6);
        assert!(
            matches!(btf.get(1), Some(BtfType::Int { size: 4, bits: 32, encoding, .. }) if encoding.signed)
        );
        let Some(BtfType::Struct { name, members, .. }) = btf.get(2) else {
            panic!("struct expected")
        };
        assert_eq!(name, "s");
        assert_eq!(members[1].name, "b");
        assert_eq!(members[1].bit_offset, 32);
        assert_eq!(btf.size_of(4).unwrap(), 12);
        assert_eq!(btf.size_of(3).unwrap(), 4);
        assert_eq!(btf.size_of(5).unwrap(), 8);
        assert_eq!(btf.find("struct", "s"), Some(2));
        assert_eq!(btf.display_name(2), "struct s");
        assert_eq!(btf.skip_mods(3).unwrap(), 1);
    }

    #[test]
    fn corrupt_btf_gives_errors() {
        let good = sample();
        assert!(matches!(
            Btf::parse(&good[..10]),
            Err(BtfError::Truncated { .. })
        ));
        let mut bad = good.clone();
        bad[0] = 0;
        assert!(matches!(Btf::parse(&bad), Err(BtfError::BadMagic(_))));
        // The string table length runs past the end.
        let mut bad = good.clone();
        bad[20..24].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(
            Btf::parse(&bad),
            Err(BtfError::OutOfBounds {
                what: "string table",
                ..
            })
        ));
        // The pointer (type 5) points at type 9.
        let mut bad = good.clone();
        let at = 24 + (4 + 9 + 3 + 6 + 2) * 4;
        bad[at..at + 4].copy_from_slice(&9u32.to_le_bytes());
        assert_eq!(
            Btf::parse(&bad),
            Err(BtfError::BadTypeId { id: 5, target: 9 })
        );
        // An unknown kind.
        let mut bad = good;
        bad[24 + 7] = 31;
        assert!(matches!(
            Btf::parse(&bad),
            Err(BtfError::UnknownKind { id: 1, kind: 31 })
        ));
        // A typedef cycle is caught when used.
        let cyc = build(&[1, TYPEDEF, 2, 1, TYPEDEF, 1], b"\0t\0");
        let btf = Btf::parse(&cyc).unwrap();
        assert_eq!(btf.size_of(1), Err(BtfError::Cycle(1)));
    }
}
