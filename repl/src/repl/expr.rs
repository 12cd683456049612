//! C-like expressions over the guest: globals (typed by their DWARF), registers (`$rdi`),
//! integer literals, casts (`(struct sk_buff *)$rdi`), `*`, `&`, `->`, `.`, `[i]`, unary `-`
//! and `+ - * / %` with C's pointer arithmetic.
//!
//! [`parse`] builds an [`Expr`]; [`Evaluator::eval`] turns it into a [`Value`]: a type and a
//! location (guest memory, a bitfield in memory, or an immediate). Memory is read only when a
//! scalar is needed (following a pointer, arithmetic), through the machine's page-table walk,
//! so a bad pointer is an error that names the address, never a crash. Without memory (the
//! completer's static mode) reads yield 0, which is enough to know the type of `a->b.c`.

use emu::Regs;
use probes::image::GuestImage;
use probes::types::{BaseEncoding, Kind, TypeDb, TypeId};
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

/// A parsed type name: `struct sk_buff *`, `unsigned long`, `u32`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeName {
    pub base: String,
    pub stars: usize,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// An expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Num(u64),
    Reg(String),
    Ident(String),
    Deref(Box<Expr>),
    AddrOf(Box<Expr>),
    Neg(Box<Expr>),
    Cast(TypeName, Box<Expr>),
    Member {
        base: Box<Expr>,
        name: String,
        arrow: bool,
    },
    Index(Box<Expr>, Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Sizeof(TypeName),
}

// ---------------------------------------------------------------------------------------
// Lexer and parser.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Num(u64),
    Ident(String),
    Reg(String),
    Punct(&'static str),
}

const PUNCTS: [&str; 12] = ["->", "(", ")", "[", "]", "*", "&", ".", "+", "-", "/", "%"];

fn lex(text: &str) -> Result<Vec<(usize, Tok)>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = text[start..i].replace('_', "");
            let word = word.trim_end_matches(['u', 'U', 'l', 'L']);
            let v = if let Some(h) = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
                u64::from_str_radix(h, 16)
            } else if let Some(b) = word.strip_prefix("0b") {
                u64::from_str_radix(b, 2)
            } else {
                word.parse::<u64>()
            };
            let v = v.map_err(|_| EvalError::Syntax {
                col: start + 1,
                msg: format!("'{}' is not a number", &text[start..i]),
            })?;
            out.push((start, Tok::Num(v)));
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            i += 1;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'@'))
            {
                i += 1;
            }
            let word = &text[start..i];
            match word.strip_prefix('$') {
                Some("") => {
                    return Err(EvalError::Syntax {
                        col: start + 1,
                        msg: "'$' without a register name".into(),
                    })
                }
                Some(r) => out.push((start, Tok::Reg(r.to_ascii_lowercase()))),
                None => out.push((start, Tok::Ident(word.to_string()))),
            }
        } else if let Some(p) = PUNCTS.iter().find(|p| text[i..].starts_with(*p)) {
            out.push((start, Tok::Punct(p)));
            i += p.len();
        } else {
            let ch = text[i..].chars().next().unwrap_or('?');
            return Err(EvalError::Syntax {
                col: start + 1,
                msg: format!("unexpected '{ch}'"),
            });
        }
    }
    Ok(out)
}

/// Words that start a type name.
const TYPE_WORDS: &[&str] = &[
    "struct", "union", "enum", "unsigned", "signed", "char", "short", "int", "long", "void",
    "_Bool", "const", "volatile", "float", "double",
];

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    len: usize,
    is_type: &'a dyn Fn(&str) -> bool,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.1)
    }

    fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(self.len, |t| t.0) + 1
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T> {
        Err(EvalError::Syntax {
            col: self.col(),
            msg: msg.into(),
        })
    }

    fn eat(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Punct(q)) if *q == p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: &str) -> Result<()> {
        if self.eat(p) {
            Ok(())
        } else {
            self.err(format!("expected '{p}'"))
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("expression nested too deeply");
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr> {
        self.enter()?;
        let mut lhs = self.term()?;
        loop {
            let op = if self.eat("+") {
                BinOp::Add
            } else if self.eat("-") {
                BinOp::Sub
            } else {
                break;
            };
            let rhs = self.term()?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn term(&mut self) -> Result<Expr> {
        let mut lhs = self.unary()?;
        loop {
            let op = if self.eat("*") {
                BinOp::Mul
            } else if self.eat("/") {
                BinOp::Div
            } else if self.eat("%") {
                BinOp::Rem
            } else {
                break;
            };
            let rhs = self.unary()?;
            lhs = Expr::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    /// Whether the token after the `(` at `self.pos` starts a type name.
    fn type_follows_paren(&self) -> bool {
        match self.toks.get(self.pos + 1).map(|t| &t.1) {
            Some(Tok::Ident(w)) => TYPE_WORDS.contains(&w.as_str()) || (self.is_type)(w),
            _ => false,
        }
    }

    fn type_name(&mut self) -> Result<TypeName> {
        let mut words: Vec<String> = Vec::new();
        while let Some(Tok::Ident(w)) = self.peek() {
            let w = w.clone();
            self.pos += 1;
            if w != "const" && w != "volatile" {
                words.push(w);
            }
        }
        if words.is_empty() {
            return self.err("expected a type name");
        }
        let mut stars = 0;
        while self.eat("*") {
            stars += 1;
        }
        Ok(TypeName {
            base: words.join(" "),
            stars,
        })
    }

    fn unary(&mut self) -> Result<Expr> {
        self.enter()?;
        let e = if self.eat("*") {
            Expr::Deref(Box::new(self.unary()?))
        } else if self.eat("&") {
            Expr::AddrOf(Box::new(self.unary()?))
        } else if self.eat("-") {
            Expr::Neg(Box::new(self.unary()?))
        } else if self.eat("+") {
            self.unary()?
        } else if matches!(self.peek(), Some(Tok::Ident(w)) if w == "sizeof") {
            self.pos += 1;
            self.expect("(")?;
            let t = self.type_name()?;
            self.expect(")")?;
            Expr::Sizeof(t)
        } else if matches!(self.peek(), Some(Tok::Punct("("))) && self.type_follows_paren() {
            self.pos += 1;
            let t = self.type_name()?;
            self.expect(")")?;
            Expr::Cast(t, Box::new(self.unary()?))
        } else {
            self.postfix()?
        };
        self.depth -= 1;
        Ok(e)
    }

    fn member_name(&mut self) -> Result<String> {
        match self.peek() {
            Some(Tok::Ident(n)) => {
                let n = n.clone();
                self.pos += 1;
                Ok(n)
            }
            _ => self.err("expected a member name"),
        }
    }

    fn postfix(&mut self) -> Result<Expr> {
        let mut e = self.primary()?;
        loop {
            if self.eat(".") {
                let name = self.member_name()?;
                e = Expr::Member {
                    base: Box::new(e),
                    name,
                    arrow: false,
                };
            } else if self.eat("->") {
                let name = self.member_name()?;
                e = Expr::Member {
                    base: Box::new(e),
                    name,
                    arrow: true,
                };
            } else if self.eat("[") {
                let i = self.expr()?;
                self.expect("]")?;
                e = Expr::Index(Box::new(e), Box::new(i));
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr> {
        match self.peek().cloned() {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Expr::Num(n))
            }
            Some(Tok::Reg(r)) => {
                self.pos += 1;
                Ok(Expr::Reg(r))
            }
            Some(Tok::Ident(w)) => {
                self.pos += 1;
                Ok(Expr::Ident(w))
            }
            Some(Tok::Punct("(")) => {
                self.pos += 1;
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Some(Tok::Punct(p)) => self.err(format!("unexpected '{p}'")),
            None => self.err("unexpected end of expression"),
        }
    }
}

/// Parses an expression. `is_type` says whether an identifier names a type (for casts).
pub fn parse(text: &str, is_type: &dyn Fn(&str) -> bool) -> Result<Expr> {
    let toks = lex(text)?;
    let mut p = Parser {
        toks,
        pos: 0,
        len: text.len(),
        is_type,
        depth: 0,
    };
    if p.peek().is_none() {
        return p.err("empty expression");
    }
    let e = p.expr()?;
    if p.peek().is_some() {
        return p.err("unexpected text after the expression");
    }
    Ok(e)
}

// ---------------------------------------------------------------------------------------
// Types.

/// The DWARF types, or an error saying what is missing.
pub fn types(image: &GuestImage) -> Result<&TypeDb<'static>> {
    image.types().map_err(|e| EvalError::Type(e.to_string()))
}

fn tyerr(e: probes::types::TypeError) -> EvalError {
    EvalError::Type(e.to_string())
}

/// C's integer keyword spellings -> (size, signed).
fn keyword_int(base: &str) -> Option<(u8, bool)> {
    let mut words: Vec<&str> = base.split_whitespace().collect();
    let unsigned = words.contains(&"unsigned");
    words.retain(|w| *w != "unsigned" && *w != "signed");
    let longs = words.iter().filter(|w| **w == "long").count();
    words.retain(|w| *w != "long" && *w != "int");
    let size = match (words.as_slice(), longs) {
        ([], 0) => 4,
        ([], _) => 8,
        (["char"], 0) => 1,
        (["short"], 0) => 2,
        (["_Bool"], 0) => 1,
        _ => return None,
    };
    Some((size, !unsigned && base != "_Bool"))
}

/// Resolves a type name written in an expression.
pub fn resolve_type(image: &GuestImage, t: &TypeName) -> Result<CType> {
    let mut ty = if t.base == "void" {
        CType::Void
    } else if let Some(id) = image
        .types()
        .ok()
        .and_then(|db| db.find(&t.base).ok().flatten())
    {
        CType::Dwarf(id)
    } else if let Some((size, signed)) = keyword_int(&t.base) {
        CType::Int { size, signed }
    } else {
        return Err(EvalError::UnknownType(t.base.clone()));
    };
    for _ in 0..t.stars {
        ty = CType::Ptr(Box::new(ty));
    }
    Ok(ty)
}

/// Peels typedefs and qualifiers and says what a type is.
pub fn shape(image: &GuestImage, ty: &CType) -> Result<Shape> {
    let id = match ty {
        CType::Void => return Ok(Shape::Void),
        CType::Int { size, signed } => {
            return Ok(Shape::Int {
                size: u64::from(*size),
                signed: *signed,
                is_char: *size == 1,
                is_bool: false,
            })
        }
        CType::Ptr(t) => return Ok(Shape::Ptr((**t).clone())),
        CType::Array(t, n) => return Ok(Shape::Array((**t).clone(), *n)),
        CType::Code => return Ok(Shape::Function),
        CType::Unknown => return Ok(Shape::Unknown),
        CType::Dwarf(id) => *id,
    };
    let db = types(image)?;
    let Some(id) = db.strip(Some(id)).map_err(tyerr)? else {
        return Ok(Shape::Void);
    };
    let t = db.get(id).map_err(tyerr)?;
    Ok(match t.kind {
        Kind::Void => Shape::Void,
        Kind::Base { encoding } => {
            let size = t.size.unwrap_or(0);
            match encoding {
                BaseEncoding::Float => Shape::Float(size),
                e => Shape::Int {
                    size,
                    signed: matches!(e, BaseEncoding::Signed | BaseEncoding::SignedChar),
                    is_char: matches!(e, BaseEncoding::SignedChar | BaseEncoding::UnsignedChar),
                    is_bool: e == BaseEncoding::Bool,
                },
            }
        }
        Kind::Enum { signed, values } => Shape::Enum {
            size: t.size.unwrap_or(4),
            signed,
            values: values.into_iter().map(|e| (e.name, e.value)).collect(),
        },
        Kind::Pointer(target) => Shape::Ptr(target.map_or(CType::Void, CType::Dwarf)),
        Kind::Array { elem, dims } => {
            let elem = elem.map_or(CType::Void, CType::Dwarf);
            let inner = dims[1.min(dims.len())..]
                .iter()
                .rev()
                .fold(elem, |acc, d| CType::Array(Box::new(acc), *d));
            Shape::Array(inner, dims.first().copied().flatten())
        }
        Kind::Struct(_) => Shape::Struct(id),
        Kind::Union(_) => Shape::Union(id),
        Kind::Function { .. } => Shape::Function,
        Kind::Typedef(_)
        | Kind::Const(_)
        | Kind::Volatile(_)
        | Kind::Restrict(_)
        | Kind::Atomic(_) => Shape::Unknown,
    })
}

/// The C name of a type.
pub fn type_name(image: &GuestImage, ty: &CType) -> String {
    match ty {
        CType::Void => "void".into(),
        CType::Int { size, signed } => {
            let base = match size {
                1 => "char",
                2 => "short",
                4 => "int",
                _ => "long",
            };
            if *signed {
                base.into()
            } else {
                format!("unsigned {base}")
            }
        }
        CType::Dwarf(id) => image
            .types()
            .ok()
            .and_then(|db| db.name_of(Some(*id)).ok())
            .unwrap_or_else(|| format!("<type {:#x}>", id.0)),
        CType::Ptr(t) => {
            let inner = type_name(image, t);
            if inner.ends_with('*') {
                format!("{inner}*")
            } else {
                format!("{inner} *")
            }
        }
        CType::Array(t, n) => match n {
            Some(n) => format!("{} [{n}]", type_name(image, t)),
            None => format!("{} []", type_name(image, t)),
        },
        CType::Code => "code".into(),
        CType::Unknown => "<unknown type>".into(),
    }
}

/// Size in bytes.
pub fn size_of(image: &GuestImage, ty: &CType) -> Result<u64> {
    match ty {
        CType::Void => type_err("void has no size"),
        CType::Int { size, .. } => Ok(u64::from(*size)),
        CType::Ptr(_) => Ok(8),
        CType::Array(t, n) => Ok(size_of(image, t)?.saturating_mul(n.unwrap_or(0))),
        CType::Dwarf(id) => types(image)?.size_of(*id).map_err(tyerr),
        CType::Code | CType::Unknown => type_err("this symbol's type (and size) is unknown"),
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation.

/// Reads guest virtual memory.
pub type ReadMem<'a> = &'a dyn Fn(u64, &mut [u8]) -> std::result::Result<(), String>;

/// What an expression is evaluated against.
pub struct Evaluator<'a> {
    pub image: &'a GuestImage,
    pub regs: &'a Regs,
    /// `None`: static mode (reads yield zeros), to learn types without a guest.
    pub mem: Option<ReadMem<'a>>,
}

impl std::fmt::Debug for Evaluator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("static", &self.mem.is_none())
            .finish()
    }
}

/// A register by gdb name (the table is [`emu::cpu::names`]).
pub fn register(regs: &Regs, name: &str) -> Option<u64> {
    regs.by_name(name)
}

/// Register names and gdb's aliases, for completion.
pub fn register_names() -> impl Iterator<Item = &'static str> {
    emu::cpu::names::NAMES
        .into_iter()
        .chain(emu::cpu::names::ALIASES.into_iter().map(|(alias, _)| alias))
}

fn imm(ty: CType, v: u64) -> Value {
    Value {
        ty,
        loc: Loc::Imm(v),
        hex: false,
    }
}

impl Evaluator<'_> {
    /// Parses and evaluates `text`.
    pub fn eval_str(&self, text: &str) -> Result<Value> {
        let e = parse(text, &|w| self.is_type_name(w))?;
        self.eval(&e)
    }

    /// Whether an identifier names a type rather than a symbol (for casts).
    pub fn is_type_name(&self, w: &str) -> bool {
        self.image.symbols().lookup(w).is_none()
            && self
                .image
                .types()
                .ok()
                .and_then(|db| db.find(w).ok().flatten())
                .is_some()
    }

    /// Reads guest memory (zeros in static mode).
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        match self.mem {
            None => {
                buf.fill(0);
                Ok(())
            }
            Some(f) => f(addr, buf).map_err(|why| EvalError::Fault {
                addr,
                len: buf.len(),
                why,
            }),
        }
    }

    pub fn eval(&self, e: &Expr) -> Result<Value> {
        match e {
            Expr::Num(n) => Ok(imm(
                if *n <= i32::MAX as u64 {
                    CType::Int {
                        size: 4,
                        signed: true,
                    }
                } else if *n <= i64::MAX as u64 {
                    CType::Int {
                        size: 8,
                        signed: true,
                    }
                } else {
                    CType::ULONG
                },
                *n,
            )),
            Expr::Reg(r) => {
                let v =
                    register(self.regs, r).ok_or_else(|| EvalError::UnknownRegister(r.clone()))?;
                Ok(Value {
                    ty: CType::ULONG,
                    loc: Loc::Imm(v),
                    hex: true,
                })
            }
            Expr::Ident(name) => self.ident(name),
            Expr::Sizeof(t) => {
                let ty = resolve_type(self.image, t)?;
                Ok(imm(CType::ULONG, size_of(self.image, &ty)?))
            }
            Expr::Deref(inner) => {
                let v = self.eval(inner)?;
                self.deref(&v)
            }
            Expr::AddrOf(inner) => {
                let v = self.eval(inner)?;
                match v.loc {
                    Loc::Mem(a) => Ok(Value {
                        ty: CType::Ptr(Box::new(match v.ty {
                            CType::Unknown => CType::Void,
                            t => t,
                        })),
                        loc: Loc::Imm(a),
                        hex: false,
                    }),
                    Loc::Bits { .. } => type_err("cannot take the address of a bitfield"),
                    Loc::Imm(_) => type_err("cannot take the address of a value not in memory"),
                }
            }
            Expr::Neg(inner) => {
                let v = self.eval(inner)?;
                let (x, ty) = self.integer(&v)?;
                Ok(imm(ty, x.wrapping_neg()))
            }
            Expr::Cast(t, inner) => {
                let target = resolve_type(self.image, t)?;
                let v = self.eval(inner)?;
                self.cast(v, target)
            }
            Expr::Member { base, name, arrow } => {
                let mut v = self.eval(base)?;
                let sh = shape(self.image, &v.ty)?;
                if *arrow {
                    match sh {
                        Shape::Ptr(_) => v = self.deref(&v)?,
                        Shape::Struct(_) | Shape::Union(_) => {
                            return type_err(format!(
                                "'->{name}' on a {}: use '.{name}'",
                                type_name(self.image, &v.ty)
                            ))
                        }
                        _ => {
                            return type_err(format!(
                                "'->{name}' needs a pointer to a struct, not {}",
                                type_name(self.image, &v.ty)
                            ))
                        }
                    }
                } else if let Shape::Ptr(_) = sh {
                    v = self.deref(&v)?; // gdb's leniency: `p.x` on a pointer
                }
                self.member(&v, name)
            }
            Expr::Index(base, index) => {
                let b = self.eval(base)?;
                let i = self.eval(index)?;
                let (i, _) = self.integer(&i)?;
                let elem = match shape(self.image, &b.ty)? {
                    Shape::Array(elem, _) => {
                        // Out-of-bounds indexes are allowed, as in C (flexible arrays).
                        let Loc::Mem(a) = b.loc else {
                            return type_err("cannot index an array that is not in memory");
                        };
                        let size = size_of(self.image, &elem)?;
                        return Ok(Value {
                            ty: elem,
                            loc: Loc::Mem(a.wrapping_add(i.wrapping_mul(size))),
                            hex: false,
                        });
                    }
                    Shape::Ptr(elem) => elem,
                    _ => {
                        return type_err(format!("cannot index a {}", type_name(self.image, &b.ty)))
                    }
                };
                let p = self.scalar(&b)?;
                let size = self.elem_size(&elem)?;
                Ok(Value {
                    ty: elem,
                    loc: Loc::Mem(p.wrapping_add(i.wrapping_mul(size))),
                    hex: false,
                })
            }
            Expr::Bin(op, a, b) => {
                let a = self.eval(a)?;
                let b = self.eval(b)?;
                self.binary(*op, &a, &b)
            }
        }
    }

    fn ident(&self, name: &str) -> Result<Value> {
        let Some(sym) = self.image.symbols().lookup(name) else {
            let near = self.image.symbols().suggest(name, 3);
            let hint = if near.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", near.join(", "))
            };
            return Err(EvalError::UnknownSymbol {
                name: name.to_string(),
                hint,
            });
        };
        let ty = if sym.kind.is_text() {
            CType::Code
        } else {
            let plain = sym.name.as_str();
            match self
                .image
                .types()
                .ok()
                .and_then(|db| db.variable(plain).ok().flatten())
            {
                Some(t) => CType::Dwarf(t),
                None => CType::Unknown,
            }
        };
        Ok(Value {
            ty,
            loc: Loc::Mem(sym.addr),
            hex: false,
        })
    }

    fn elem_size(&self, elem: &CType) -> Result<u64> {
        match elem {
            CType::Void => Ok(1),
            t => size_of(self.image, t),
        }
    }

    /// `*v`.
    pub fn deref(&self, v: &Value) -> Result<Value> {
        match shape(self.image, &v.ty)? {
            Shape::Ptr(CType::Void) => {
                type_err("dereferencing a 'void *': cast it first, e.g. *(long *)p")
            }
            Shape::Ptr(t) => {
                if let Shape::Function = shape(self.image, &t)? {
                    return type_err("dereferencing a function pointer shows nothing more");
                }
                Ok(Value {
                    ty: t,
                    loc: Loc::Mem(self.scalar(v)?),
                    hex: false,
                })
            }
            Shape::Array(elem, _) => match v.loc {
                Loc::Mem(a) => Ok(Value {
                    ty: elem,
                    loc: Loc::Mem(a),
                    hex: false,
                }),
                _ => type_err("array not in memory"),
            },
            _ => type_err(format!(
                "cannot dereference '{}' (cast it to a pointer first)",
                type_name(self.image, &v.ty)
            )),
        }
    }

    /// `v.name`.
    pub fn member(&self, v: &Value, name: &str) -> Result<Value> {
        let id = match shape(self.image, &v.ty)? {
            Shape::Struct(id) | Shape::Union(id) => id,
            _ => {
                return type_err(format!(
                    "'.{name}' needs a struct or union, not {}",
                    type_name(self.image, &v.ty)
                ))
            }
        };
        let Loc::Mem(addr) = v.loc else {
            return type_err("struct not in memory");
        };
        let db = types(self.image)?;
        let m = db.member_path(id, name).map_err(|_| {
            let tn = type_name(self.image, &v.ty);
            let names = member_names(self.image, id).unwrap_or_default();
            let near: Vec<&String> = names
                .iter()
                .filter(|n| strsim::levenshtein(n, name) <= 2 || n.starts_with(name))
                .take(4)
                .collect();
            let hint = if near.is_empty() {
                String::new()
            } else {
                format!(
                    " (did you mean {}?)",
                    near.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            EvalError::Type(format!("{tn} has no member '{name}'{hint}"))
        })?;
        let loc = match m.bitfield {
            Some((bit, bits)) => Loc::Bits {
                addr: addr.wrapping_add(m.offset),
                bit,
                bits,
            },
            None => Loc::Mem(addr.wrapping_add(m.offset)),
        };
        Ok(Value {
            ty: CType::Dwarf(m.ty),
            loc,
            hex: false,
        })
    }

    /// The value as a number: integers (sign-extended), pointers, enums; arrays and
    /// functions give their address.
    pub fn scalar(&self, v: &Value) -> Result<u64> {
        let sh = shape(self.image, &v.ty)?;
        let (size, signed) = match &sh {
            Shape::Int { size, signed, .. } => (*size, *signed),
            Shape::Enum { size, signed, .. } => (*size, *signed),
            Shape::Ptr(_) => (8, false),
            Shape::Array(..) | Shape::Function => {
                return match v.loc {
                    Loc::Mem(a) => Ok(a),
                    Loc::Imm(x) => Ok(x),
                    Loc::Bits { addr, .. } => Ok(addr),
                }
            }
            Shape::Unknown => {
                return type_err(
                    "this symbol has no DWARF type: cast its address, e.g. *(long *)&sym",
                )
            }
            Shape::Float(_) => return type_err("floating point values cannot be used here"),
            Shape::Void => return type_err("a void value cannot be used"),
            Shape::Struct(_) | Shape::Union(_) => {
                return type_err(format!(
                    "a {} cannot be used as a number",
                    type_name(self.image, &v.ty)
                ))
            }
        };
        let size = size.clamp(1, 8) as usize;
        match v.loc {
            Loc::Imm(x) => Ok(extend(x, size, signed)),
            Loc::Mem(a) => {
                let mut b = [0u8; 8];
                self.read(a, &mut b[..size])?;
                Ok(extend(u64::from_le_bytes(b), size, signed))
            }
            Loc::Bits { addr, bit, bits } => {
                let mut b = [0u8; 16];
                let n = ((bit + bits).div_ceil(8)).clamp(1, 16) as usize;
                self.read(addr, &mut b[..n])?;
                let raw = u128::from_le_bytes(b) >> bit;
                let mask = if bits >= 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                };
                let x = (raw as u64) & mask;
                Ok(
                    if signed && bits > 0 && bits < 64 && x >> (bits - 1) & 1 == 1 {
                        x | !mask
                    } else {
                        x
                    },
                )
            }
        }
    }

    /// An integer operand and its type (pointers are rejected by the caller where needed).
    fn integer(&self, v: &Value) -> Result<(u64, CType)> {
        let x = self.scalar(v)?;
        let ty = match shape(self.image, &v.ty)? {
            Shape::Int { size, signed, .. } | Shape::Enum { size, signed, .. } => CType::Int {
                size: size.clamp(4, 8) as u8,
                signed,
            },
            _ => CType::ULONG,
        };
        Ok((x, ty))
    }

    fn binary(&self, op: BinOp, a: &Value, b: &Value) -> Result<Value> {
        let (sa, sb) = (shape(self.image, &a.ty)?, shape(self.image, &b.ty)?);
        let ptr_of = |s: &Shape| match s {
            Shape::Ptr(t) => Some(t.clone()),
            Shape::Array(t, _) => Some(t.clone()),
            _ => None,
        };
        match (ptr_of(&sa), ptr_of(&sb), op) {
            (Some(t), None, BinOp::Add | BinOp::Sub) | (None, Some(t), BinOp::Add) => {
                let (p, i) = if ptr_of(&sa).is_some() {
                    (self.scalar(a)?, self.integer(b)?.0)
                } else {
                    (self.scalar(b)?, self.integer(a)?.0)
                };
                let off = i.wrapping_mul(self.elem_size(&t)?);
                let r = if op == BinOp::Add {
                    p.wrapping_add(off)
                } else {
                    p.wrapping_sub(off)
                };
                Ok(imm(CType::Ptr(Box::new(t)), r))
            }
            (Some(t), Some(_), BinOp::Sub) => {
                let size = self.elem_size(&t)?.max(1);
                let d = self.scalar(a)?.wrapping_sub(self.scalar(b)?) as i64;
                Ok(imm(
                    CType::Int {
                        size: 8,
                        signed: true,
                    },
                    (d / size as i64) as u64,
                ))
            }
            (Some(_), _, _) | (_, Some(_), _) => {
                type_err("only + and - work on pointers (and - between two)")
            }
            (None, None, _) => {
                let (x, tx) = self.integer(a)?;
                let (y, ty) = self.integer(b)?;
                let (
                    CType::Int {
                        size: s1,
                        signed: g1,
                    },
                    CType::Int {
                        size: s2,
                        signed: g2,
                    },
                ) = (tx, ty)
                else {
                    return type_err("not integers");
                };
                let signed = g1 && g2;
                let size = s1.max(s2);
                let r = match op {
                    BinOp::Add => x.wrapping_add(y),
                    BinOp::Sub => x.wrapping_sub(y),
                    BinOp::Mul => x.wrapping_mul(y),
                    BinOp::Div | BinOp::Rem if y == 0 => return type_err("division by zero"),
                    BinOp::Div if signed => (x as i64).wrapping_div(y as i64) as u64,
                    BinOp::Div => x / y,
                    BinOp::Rem if signed => (x as i64).wrapping_rem(y as i64) as u64,
                    BinOp::Rem => x % y,
                };
                Ok(imm(CType::Int { size, signed }, r))
            }
        }
    }

    fn cast(&self, v: Value, target: CType) -> Result<Value> {
        match shape(self.image, &target)? {
            Shape::Struct(_) | Shape::Union(_) | Shape::Array(..) => type_err(format!(
                "cannot cast to {}: cast a pointer and dereference it, e.g. *({} *)ADDR",
                type_name(self.image, &target),
                type_name(self.image, &target)
            )),
            Shape::Void => Ok(imm(CType::Void, 0)),
            Shape::Float(_) => type_err("casts to floating point are not supported"),
            Shape::Unknown | Shape::Function => type_err("cannot cast to a function type"),
            Shape::Int { size, signed, .. } | Shape::Enum { size, signed, .. } => {
                let x = self.scalar(&v)?;
                let size = size.clamp(1, 8) as usize;
                Ok(imm(target, extend(truncate(x, size), size, signed)))
            }
            Shape::Ptr(_) => Ok(imm(target, self.scalar(&v)?)),
        }
    }
}

/// The names of a struct's members (anonymous members' members included), for completion
/// and hints.
pub fn member_names(image: &GuestImage, id: TypeId) -> Result<Vec<String>> {
    let db = types(image)?;
    let mut out = Vec::new();
    collect_members(db, id, &mut out, 0)?;
    Ok(out)
}

fn collect_members(db: &TypeDb<'_>, id: TypeId, out: &mut Vec<String>, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let Some(id) = db.strip(Some(id)).map_err(tyerr)? else {
        return Ok(());
    };
    if let Kind::Struct(members) | Kind::Union(members) = db.get(id).map_err(tyerr)?.kind {
        for m in members {
            match m.name {
                Some(n) => out.push(n),
                None => collect_members(db, m.ty, out, depth + 1)?,
            }
        }
    }
    Ok(())
}

fn truncate(x: u64, size: usize) -> u64 {
    if size >= 8 {
        x
    } else {
        x & ((1u64 << (size * 8)) - 1)
    }
}

/// Sign-extends the low `size` bytes of `x` when `signed`, else keeps them.
pub fn extend(x: u64, size: usize, signed: bool) -> u64 {
    if size >= 8 {
        return x;
    }
    let bits = size * 8;
    let x = truncate(x, size);
    if signed && (x >> (bits - 1)) & 1 == 1 {
        x | !((1u64 << bits) - 1)
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Expr> {
        parse(s, &|w| w == "u32")
    }

    #[test]
    fn parses_casts_members_and_precedence() {
        let e = p("((struct sk_buff *)$rdi)->dev->name[1]").expect("parses");
        assert!(matches!(e, Expr::Index(..)));
        let e = p("*(u32 *)&jiffies + 2 * 3").expect("parses");
        let Expr::Bin(BinOp::Add, lhs, rhs) = e else {
            panic!("not an add")
        };
        assert!(matches!(*lhs, Expr::Deref(_)));
        assert!(matches!(*rhs, Expr::Bin(BinOp::Mul, ..)));
        assert_eq!(
            p("0x10 - 1_000").expect("n"),
            Expr::Bin(
                BinOp::Sub,
                Box::new(Expr::Num(16)),
                Box::new(Expr::Num(1000))
            )
        );
        assert_eq!(
            p("(jiffies)").expect("paren"),
            Expr::Ident("jiffies".into())
        );
    }

    #[test]
    fn syntax_errors_name_the_column() {
        for bad in [
            "",
            "(",
            "a->",
            "1 +",
            "$",
            "a b",
            "0xzz",
            "a @",
            "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1",
        ] {
            match p(bad) {
                Err(EvalError::Syntax { col, .. }) => assert!(col >= 1, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn sign_extension() {
        assert_eq!(extend(0xff, 1, true), u64::MAX);
        assert_eq!(extend(0xff, 1, false), 0xff);
        assert_eq!(extend(0x1_0000_0001, 4, false), 1);
        assert_eq!(keyword_int("unsigned long"), Some((8, false)));
        assert_eq!(keyword_int("long long int"), Some((8, true)));
        assert_eq!(keyword_int("char"), Some((1, true)));
        assert_eq!(keyword_int("struct x"), None);
    }
}
