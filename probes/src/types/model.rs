//! The decoded shape of one type DIE ([`Type`]) and the decoder.
//!
//! Members carry their offsets in **bits** from the start of the enclosing struct, so
//! bitfields and ordinary members are handled alike; both DWARF 5's `DW_AT_data_bit_offset`
//! and DWARF 2-4's big-endian `DW_AT_bit_offset` (as gcc emits for Linux's DWARF 4 builds)
//! are read.

use gimli::{AttributeValue, Reader as _};

use super::{Die, Reader, TypeDb, TypeError};

/// A type: the offset of its DIE in `.debug_info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId(pub u64);

/// How a base type's bits are read (`DW_AT_encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BaseEncoding {
    /// Signed integer.
    Signed,
    /// Unsigned integer.
    Unsigned,
    /// `char` and friends, signed.
    SignedChar,
    /// `unsigned char`.
    UnsignedChar,
    /// `_Bool`.
    Bool,
    /// Floating point.
    Float,
    /// Anything else (complex, decimal float...).
    Other,
}

/// A struct or union member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name; `None` for an anonymous struct/union member (or an unnamed bitfield).
    pub name: Option<String>,
    /// Its type.
    pub ty: TypeId,
    /// Offset in bits from the start of the enclosing type.
    pub bit_offset: u64,
    /// Width for bitfields.
    pub bit_size: Option<u64>,
}

/// An enumerator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Enumerator {
    /// Its name.
    pub name: String,
    /// Its value (for an unsigned enum, the bits of the `u64`).
    pub value: i64,
}

/// What kind of type a DIE describes. `None` in a reference means `void`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `void` (`DW_TAG_unspecified_type` too).
    Void,
    /// `int`, `unsigned char`, `_Bool`...
    Base {
        /// Its encoding.
        encoding: BaseEncoding,
    },
    /// `struct`.
    Struct(Vec<Member>),
    /// `union`.
    Union(Vec<Member>),
    /// `enum`.
    Enum {
        /// Whether the values are signed.
        signed: bool,
        /// The enumerators, in order.
        values: Vec<Enumerator>,
    },
    /// `typedef`.
    Typedef(Option<TypeId>),
    /// `T *`.
    Pointer(Option<TypeId>),
    /// `const T`.
    Const(Option<TypeId>),
    /// `volatile T`.
    Volatile(Option<TypeId>),
    /// `restrict T`.
    Restrict(Option<TypeId>),
    /// `_Atomic T`.
    Atomic(Option<TypeId>),
    /// `T [a][b]`; a `None` dimension is flexible or unknown (`T []`).
    Array {
        /// Element type.
        elem: Option<TypeId>,
        /// Dimensions, outermost first.
        dims: Vec<Option<u64>>,
    },
    /// A function type (`DW_TAG_subroutine_type`, or a subprogram).
    Function {
        /// Return type.
        ret: Option<TypeId>,
        /// Parameter types.
        params: Vec<Option<TypeId>>,
        /// Ends with `...`.
        variadic: bool,
    },
}

/// One decoded type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Type {
    /// Where it is.
    pub id: TypeId,
    /// Its name, if it has one (tag name for struct/union/enum).
    pub name: Option<String>,
    /// `DW_AT_byte_size`, if present.
    pub size: Option<u64>,
    /// Only declared here (`struct foo;`).
    pub declaration: bool,
    /// Its shape.
    pub kind: Kind,
}

fn udata(value: Option<AttributeValue<Reader<'_>>>) -> Option<u64> {
    value.and_then(|v| v.udata_value())
}

fn sdata(value: Option<AttributeValue<Reader<'_>>>) -> Option<i64> {
    value.and_then(|v| match v {
        AttributeValue::Sdata(s) => Some(s),
        other => other.udata_value().map(|u| u as i64),
    })
}

/// A member's byte offset: a constant, or DWARF 2's `DW_OP_plus_uconst` expression.
fn member_location(value: Option<AttributeValue<Reader<'_>>>) -> Option<u64> {
    match value? {
        AttributeValue::Exprloc(expr) => {
            let mut r = expr.0;
            let op = r.read_u8().ok()?;
            (op == gimli::DW_OP_plus_uconst.0)
                .then(|| r.read_uleb128().ok())
                .flatten()
        }
        other => other.udata_value(),
    }
}

fn decode_member<'data>(
    db: &TypeDb<'data>,
    unit: &gimli::Unit<Reader<'data>>,
    entry: &Die<'_, '_, 'data>,
) -> Result<Option<Member>, TypeError> {
    let id = TypeDb::id_of(unit, entry);
    let Some(ty) = db.type_attr(unit, entry)? else {
        return Err(TypeError::Unsupported {
            offset: id.0,
            what: "member without a type".into(),
        });
    };
    let name = db
        .attr_str(unit, entry, gimli::DW_AT_name)?
        .map(str::to_string);
    let bit_size = udata(entry.attr_value(gimli::DW_AT_bit_size)?);
    let byte_offset = member_location(entry.attr_value(gimli::DW_AT_data_member_location)?);
    let bit_offset = if let Some(bits) = udata(entry.attr_value(gimli::DW_AT_data_bit_offset)?) {
        bits
    } else if let (Some(size), Some(be_bits)) =
        (bit_size, udata(entry.attr_value(gimli::DW_AT_bit_offset)?))
    {
        // DWARF 2-4: bit_offset counts from the most significant bit of a storage unit of
        // DW_AT_byte_size bytes at data_member_location.
        let storage = match udata(entry.attr_value(gimli::DW_AT_byte_size)?) {
            Some(s) => s,
            None => db.size_of(ty)?,
        };
        (byte_offset.unwrap_or(0) * 8 + storage * 8)
            .checked_sub(be_bits + size)
            .ok_or(TypeError::Unsupported {
                offset: id.0,
                what: "bitfield offset outside its storage unit".into(),
            })?
    } else {
        byte_offset.unwrap_or(0).saturating_mul(8)
    };
    Ok(Some(Member {
        name,
        ty,
        bit_offset,
        bit_size,
    }))
}

/// Decodes the DIE `id` as a type.
pub(crate) fn decode(db: &TypeDb<'_>, id: TypeId) -> Result<Type, TypeError> {
    let (unit, offset) = db.locate(id)?;
    let mut tree = unit
        .entries_tree(Some(offset))
        .map_err(|_| TypeError::BadId(id.0))?;
    let root = tree.root()?;
    let entry = root.entry();
    let name = db
        .attr_str(unit, entry, gimli::DW_AT_name)?
        .map(str::to_string);
    let size = udata(entry.attr_value(gimli::DW_AT_byte_size)?);
    let declaration = entry.attr(gimli::DW_AT_declaration)?.is_some();
    let target = db.type_attr(unit, entry)?;
    let tag = entry.tag();
    let kind = match tag {
        gimli::DW_TAG_base_type => {
            let encoding = match entry.attr_value(gimli::DW_AT_encoding)? {
                Some(AttributeValue::Encoding(e)) => match e {
                    gimli::DW_ATE_signed => BaseEncoding::Signed,
                    gimli::DW_ATE_unsigned => BaseEncoding::Unsigned,
                    gimli::DW_ATE_signed_char => BaseEncoding::SignedChar,
                    gimli::DW_ATE_unsigned_char => BaseEncoding::UnsignedChar,
                    gimli::DW_ATE_boolean => BaseEncoding::Bool,
                    gimli::DW_ATE_float => BaseEncoding::Float,
                    _ => BaseEncoding::Other,
                },
                _ => BaseEncoding::Other,
            };
            Kind::Base { encoding }
        }
        gimli::DW_TAG_unspecified_type => Kind::Void,
        gimli::DW_TAG_typedef => Kind::Typedef(target),
        gimli::DW_TAG_pointer_type | gimli::DW_TAG_reference_type => Kind::Pointer(target),
        gimli::DW_TAG_const_type => Kind::Const(target),
        gimli::DW_TAG_volatile_type => Kind::Volatile(target),
        gimli::DW_TAG_restrict_type => Kind::Restrict(target),
        gimli::DW_TAG_atomic_type => Kind::Atomic(target),
        gimli::DW_TAG_structure_type | gimli::DW_TAG_union_type => {
            let mut members = Vec::new();
            let mut children = root.children();
            while let Some(child) = children.next()? {
                if child.entry().tag() == gimli::DW_TAG_member {
                    if let Some(m) = decode_member(db, unit, child.entry())? {
                        members.push(m);
                    }
                }
            }
            if tag == gimli::DW_TAG_structure_type {
                Kind::Struct(members)
            } else {
                Kind::Union(members)
            }
        }
        gimli::DW_TAG_enumeration_type => {
            let signed = match target {
                Some(t) => match db.strip(Some(t))?.map(|t| db.get(t)).transpose()? {
                    Some(Type {
                        kind: Kind::Base { encoding },
                        ..
                    }) => matches!(encoding, BaseEncoding::Signed | BaseEncoding::SignedChar),
                    _ => false,
                },
                None => false,
            };
            let mut values = Vec::new();
            let mut children = root.children();
            while let Some(child) = children.next()? {
                let e = child.entry();
                if e.tag() != gimli::DW_TAG_enumerator {
                    continue;
                }
                let name = db.attr_str(unit, e, gimli::DW_AT_name)?.unwrap_or("");
                let value = sdata(e.attr_value(gimli::DW_AT_const_value)?).unwrap_or(0);
                values.push(Enumerator {
                    name: name.to_string(),
                    value,
                });
            }
            let signed = signed || values.iter().any(|v| v.value < 0);
            Kind::Enum { signed, values }
        }
        gimli::DW_TAG_array_type => {
            let mut dims = Vec::new();
            let mut children = root.children();
            while let Some(child) = children.next()? {
                let e = child.entry();
                if e.tag() != gimli::DW_TAG_subrange_type {
                    continue;
                }
                let count = match udata(e.attr_value(gimli::DW_AT_count)?) {
                    Some(c) => Some(c),
                    None => match e.attr_value(gimli::DW_AT_upper_bound)? {
                        // gcc writes -1 (or all ones) for `T x[0]`.
                        Some(AttributeValue::Sdata(-1)) => Some(0),
                        Some(v) => match v.udata_value() {
                            Some(u64::MAX) | Some(0xffff_ffff) => Some(0),
                            Some(ub) => Some(ub.saturating_add(1)),
                            None => None,
                        },
                        None => None,
                    },
                };
                dims.push(count);
            }
            if dims.is_empty() {
                dims.push(None);
            }
            Kind::Array { elem: target, dims }
        }
        gimli::DW_TAG_subroutine_type | gimli::DW_TAG_subprogram => {
            let mut params = Vec::new();
            let mut variadic = false;
            let mut children = root.children();
            while let Some(child) = children.next()? {
                let e = child.entry();
                match e.tag() {
                    gimli::DW_TAG_formal_parameter => params.push(db.type_attr(unit, e)?),
                    gimli::DW_TAG_unspecified_parameters => variadic = true,
                    _ => {}
                }
            }
            Kind::Function {
                ret: target,
                params,
                variadic,
            }
        }
        other => {
            return Err(TypeError::NotAType {
                offset: id.0,
                tag: other.static_string().unwrap_or("unknown tag").to_string(),
            })
        }
    };
    Ok(Type {
        id,
        name,
        size,
        declaration,
        kind,
    })
}
