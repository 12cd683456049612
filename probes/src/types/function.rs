//! Function signatures from `DW_TAG_subprogram`, and where each argument arrives at the
//! function's first instruction under the x86-64 System V calling convention.
//!
//! Classification (simplified from the ABI, exact for kernel code which has no floating
//! point): integers, enums, `_Bool` and pointers take the next of rdi, rsi, rdx, rcx, r8, r9;
//! an aggregate of up to 16 bytes takes one or two registers if enough are left (as a whole),
//! otherwise it goes on the stack; larger aggregates go on the stack; floats use SSE registers.

use super::{BaseEncoding, Kind, Reader, TypeDb, TypeError, TypeId};

/// An integer argument register, in System V order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArgReg {
    /// First argument.
    Rdi,
    /// Second.
    Rsi,
    /// Third.
    Rdx,
    /// Fourth.
    Rcx,
    /// Fifth.
    R8,
    /// Sixth.
    R9,
}

impl ArgReg {
    /// The registers in argument order.
    pub const ORDER: [ArgReg; 6] = [
        ArgReg::Rdi,
        ArgReg::Rsi,
        ArgReg::Rdx,
        ArgReg::Rcx,
        ArgReg::R8,
        ArgReg::R9,
    ];

    /// Lower-case register name.
    pub fn name(self) -> &'static str {
        match self {
            ArgReg::Rdi => "rdi",
            ArgReg::Rsi => "rsi",
            ArgReg::Rdx => "rdx",
            ArgReg::Rcx => "rcx",
            ArgReg::R8 => "r8",
            ArgReg::R9 => "r9",
        }
    }
}

/// Where an argument is at function entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgLocation {
    /// In one integer register.
    Reg(ArgReg),
    /// A 9-16 byte aggregate in two integer registers (low half first).
    RegPair(ArgReg, ArgReg),
    /// In an SSE register (`xmm0`..`xmm7`).
    Sse(u8),
    /// In memory on the stack.
    Stack,
}

/// One parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Its name (`None` if the DWARF has none).
    pub name: Option<String>,
    /// Its type (`None`: the DWARF has none).
    pub ty: Option<TypeId>,
    /// Its type in C.
    pub type_name: String,
    /// Where it arrives.
    pub location: ArgLocation,
}

/// A function as the DWARF describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionInfo {
    /// Its name.
    pub name: String,
    /// The subprogram DIE.
    pub id: TypeId,
    /// Parameters in order.
    pub params: Vec<Param>,
    /// Return type (`None`: void).
    pub return_type: Option<TypeId>,
    /// Return type in C.
    pub return_type_name: String,
    /// Takes `...`.
    pub variadic: bool,
    /// Entry address (`None` for a declaration or a function with only `DW_AT_ranges`).
    pub low_pc: Option<u64>,
    /// End address (exclusive), when known.
    pub high_pc: Option<u64>,
}

impl FunctionInfo {
    /// The parameter by name.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name.as_deref() == Some(name))
    }

    /// A C prototype: `int ip_rcv(struct sk_buff *skb, ...)`.
    pub fn prototype(&self) -> String {
        let mut params: Vec<String> = self
            .params
            .iter()
            .map(|p| match &p.name {
                Some(n) if p.type_name.ends_with('*') => format!("{}{n}", p.type_name),
                Some(n) => format!("{} {n}", p.type_name),
                None => p.type_name.clone(),
            })
            .collect();
        if self.variadic {
            params.push("...".into());
        }
        if params.is_empty() {
            params.push("void".into());
        }
        let sep = if self.return_type_name.ends_with('*') {
            ""
        } else {
            " "
        };
        format!(
            "{}{sep}{}({})",
            self.return_type_name,
            self.name,
            params.join(", ")
        )
    }
}

/// How an argument of this type is passed.
enum Class {
    Integer,
    Sse,
    Aggregate(u64),
    Memory,
}

fn classify(db: &TypeDb<'_>, ty: Option<TypeId>) -> Result<Class, TypeError> {
    let Some(stripped) = db.strip(ty)? else {
        return Ok(Class::Integer);
    };
    let t = db.get(stripped)?;
    Ok(match t.kind {
        Kind::Base {
            encoding: BaseEncoding::Float,
        } => Class::Sse,
        Kind::Base { .. } if t.size.unwrap_or(0) > 8 => Class::Aggregate(t.size.unwrap_or(16)),
        Kind::Base { .. } | Kind::Enum { .. } | Kind::Pointer(_) | Kind::Function { .. } => {
            Class::Integer
        }
        Kind::Struct(_) | Kind::Union(_) | Kind::Array { .. } => {
            let size = db.size_of(stripped)?;
            if size <= 16 {
                Class::Aggregate(size)
            } else {
                Class::Memory
            }
        }
        _ => Class::Integer,
    })
}

pub(crate) fn function_info(db: &TypeDb<'_>, id: TypeId) -> Result<FunctionInfo, TypeError> {
    let (unit, offset) = db.locate(id)?;
    let mut tree = unit.entries_tree(Some(offset))?;
    let root = tree.root()?;
    let entry = root.entry();
    let (low_pc, high_pc) = pc_range(db, unit, entry)?;
    // A concrete out-of-line instance keeps name, type and parameter names in its origin.
    let origin = match db.ref_attr(unit, entry, gimli::DW_AT_abstract_origin)? {
        Some(o) => Some(o),
        None => db.ref_attr(unit, entry, gimli::DW_AT_specification)?,
    };
    let described = origin.unwrap_or(id);
    let (name, return_type) = db.with_die(described, |u, e| {
        Ok((
            db.attr_str(u, e, gimli::DW_AT_name)?
                .unwrap_or("")
                .to_string(),
            db.type_attr(u, e)?,
        ))
    })?;
    let mut raw_params = Vec::new();
    let mut variadic = false;
    let mut children = root.children();
    while let Some(child) = children.next()? {
        let e = child.entry();
        match e.tag() {
            gimli::DW_TAG_formal_parameter => {
                let mut pname = db.attr_str(unit, e, gimli::DW_AT_name)?.map(str::to_string);
                let mut pty = db.type_attr(unit, e)?;
                if let Some(o) = db.ref_attr(unit, e, gimli::DW_AT_abstract_origin)? {
                    let (n, t) = db.with_die(o, |u, oe| {
                        Ok((
                            db.attr_str(u, oe, gimli::DW_AT_name)?.map(str::to_string),
                            db.type_attr(u, oe)?,
                        ))
                    })?;
                    pname = pname.or(n);
                    pty = pty.or(t);
                }
                raw_params.push((pname, pty));
            }
            gimli::DW_TAG_unspecified_parameters => variadic = true,
            _ => {}
        }
    }
    if raw_params.is_empty() && origin.is_some() {
        // Some producers keep the parameters only in the abstract origin.
        (raw_params, variadic) = origin_params(db, described)?;
    }
    let mut params = Vec::with_capacity(raw_params.len());
    let mut next_reg = 0usize;
    let mut next_sse = 0u8;
    // A function returning a large aggregate takes a hidden pointer in rdi.
    if let Class::Memory = classify(db, return_type)? {
        next_reg = 1;
    }
    for (pname, pty) in raw_params {
        let location = match classify(db, pty)? {
            Class::Integer if next_reg < 6 => {
                next_reg += 1;
                ArgLocation::Reg(ArgReg::ORDER[next_reg - 1])
            }
            Class::Sse if next_sse < 8 => {
                next_sse += 1;
                ArgLocation::Sse(next_sse - 1)
            }
            Class::Aggregate(size) if size <= 8 && next_reg < 6 => {
                next_reg += 1;
                ArgLocation::Reg(ArgReg::ORDER[next_reg - 1])
            }
            Class::Aggregate(_) if next_reg + 2 <= 6 => {
                next_reg += 2;
                ArgLocation::RegPair(ArgReg::ORDER[next_reg - 2], ArgReg::ORDER[next_reg - 1])
            }
            _ => ArgLocation::Stack,
        };
        params.push(Param {
            name: pname,
            ty: pty,
            type_name: db.name_of(pty)?,
            location,
        });
    }
    Ok(FunctionInfo {
        name,
        id,
        params,
        return_type,
        return_type_name: db.name_of(return_type)?,
        variadic,
        low_pc,
        high_pc,
    })
}

/// Parameter names and types of an abstract origin (no further origins followed).
type RawParams = Vec<(Option<String>, Option<TypeId>)>;

fn origin_params(db: &TypeDb<'_>, id: TypeId) -> Result<(RawParams, bool), TypeError> {
    let (unit, offset) = db.locate(id)?;
    let mut tree = unit.entries_tree(Some(offset))?;
    let root = tree.root()?;
    let mut params = Vec::new();
    let mut variadic = false;
    let mut children = root.children();
    while let Some(child) = children.next()? {
        let e = child.entry();
        match e.tag() {
            gimli::DW_TAG_formal_parameter => params.push((
                db.attr_str(unit, e, gimli::DW_AT_name)?.map(str::to_string),
                db.type_attr(unit, e)?,
            )),
            gimli::DW_TAG_unspecified_parameters => variadic = true,
            _ => {}
        }
    }
    Ok((params, variadic))
}

/// `DW_AT_low_pc` and `DW_AT_high_pc` (an address, or in DWARF 4+ a length).
fn pc_range<'data>(
    db: &TypeDb<'data>,
    unit: &gimli::Unit<Reader<'data>>,
    entry: &super::Die<'_, '_, 'data>,
) -> Result<(Option<u64>, Option<u64>), TypeError> {
    let low = match entry.attr_value(gimli::DW_AT_low_pc)? {
        Some(gimli::AttributeValue::Addr(a)) => Some(a),
        Some(gimli::AttributeValue::DebugAddrIndex(i)) => Some(db.dwarf.address(unit, i)?),
        _ => None,
    };
    let high = match (low, entry.attr_value(gimli::DW_AT_high_pc)?) {
        (_, Some(gimli::AttributeValue::Addr(a))) => Some(a),
        (_, Some(gimli::AttributeValue::DebugAddrIndex(i))) => Some(db.dwarf.address(unit, i)?),
        (Some(low), Some(v)) => v.udata_value().map(|len| low.wrapping_add(len)),
        _ => None,
    };
    Ok((low, high))
}
