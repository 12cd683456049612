//! C-like expressions over the guest: globals (typed by their DWARF), registers (`$rdi`),
//! integer literals, casts (`(struct sk_buff *)$rdi`), `*`, `&`, `->`, `.`, `[i]`, unary `-`
//! and `+ - * / %` with C's pointer arithmetic.
//!
//! [`parse`] builds an [`Expr`]; [`Evaluator::eval`] turns it into a [`Value`]: a type and a
//! location (guest memory, a bitfield in memory, or an immediate). Memory is read only when a
//! scalar is needed (following a pointer, arithmetic), through the machine's page-table walk,
//! so a bad pointer is an error that names the address, never a crash. Without memory (the
//! completer's static mode) reads yield 0, which is enough to know the type of `a->b.c`.
//!
//! The pieces: [`parse`] (the lexer and parser: text to [`Expr`]), [`ctype`] (the
//! evaluator's types: DWARF types, made-up pointers and integers, their shapes, sizes and C
//! names, spelled by `probes::types`' declarator) and [`eval`] (the [`Evaluator`]: an
//! [`Expr`] to a [`Value`] over registers and guest memory). This file holds what all three
//! share: the error, the type and the value.

pub mod ctype;
pub mod eval;
pub mod parse;

pub use ctype::{member_names, resolve_type, shape, size_of, type_name, types};
pub use eval::{extend, register, register_names, Evaluator};
pub use parse::{parse, BinOp, Expr, TypeName};

use probes::types::TypeId;
use thiserror::Error;

/// Nesting limit of the parser (and of type chains followed here).
const MAX_DEPTH: usize = 64;

/// Why an expression could not be parsed or evaluated.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EvalError {
    #[error("syntax error at column {col}: {msg}")]
    Syntax { col: usize, msg: String },
    #[error("no symbol '{name}' in the guest{hint}")]
    UnknownSymbol { name: String, hint: String },
    #[error("unknown type '{0}'")]
    UnknownType(String),
    #[error("unknown register '${0}' (try $rax..$r15, $rip, $rsp, $rbp, $rflags, $cr3)")]
    UnknownRegister(String),
    #[error("cannot read {len} byte(s) of guest memory at {addr:#x} ({why})")]
    Fault { addr: u64, len: usize, why: String },
    #[error("{0}")]
    Type(String),
}

type Result<T> = std::result::Result<T, EvalError>;

fn type_err<T>(msg: impl Into<String>) -> Result<T> {
    Err(EvalError::Type(msg.into()))
}

/// A type as the evaluator sees it: a DWARF type, or one made up here (registers, literals,
/// casts to `T *` whose DWARF pointer type may not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CType {
    Void,
    /// An integer of `size` bytes (`size` 1 prints as a character).
    Int {
        size: u8,
        signed: bool,
    },
    Dwarf(TypeId),
    Ptr(Box<CType>),
    Array(Box<CType>, Option<u64>),
    /// Code without a DWARF function type (an assembly label).
    Code,
    /// A data symbol without DWARF type.
    Unknown,
}

/// The shape of a type once typedefs and qualifiers are peeled off.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Void,
    Int {
        size: u64,
        signed: bool,
        is_char: bool,
        is_bool: bool,
    },
    Float(u64),
    Enum {
        size: u64,
        signed: bool,
        values: Vec<(String, i64)>,
    },
    Ptr(CType),
    Array(CType, Option<u64>),
    Struct(TypeId),
    Union(TypeId),
    Function,
    Unknown,
}

impl CType {
    /// `unsigned long`.
    pub const ULONG: CType = CType::Int {
        size: 8,
        signed: false,
    };
}

/// Where a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// In guest memory at this virtual address.
    Mem(u64),
    /// A bitfield: storage at `addr`, `bits` wide, `bit` bits in.
    Bits { addr: u64, bit: u64, bits: u64 },
    /// Not in memory: the value's bits.
    Imm(u64),
}

/// A typed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub ty: CType,
    pub loc: Loc,
    /// Registers print in hex.
    pub hex: bool,
}
