//! The evaluator: an [`Expr`] to a typed [`Value`]. Memory is read only when a scalar is
//! needed, through the caller's [`ReadMem`] (the machine's page-table walk), so a bad pointer
//! is an error naming the address.

use super::*;
use emu::Regs;
use probes::image::GuestImage;

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
    use crate::repl::expr::ctype::keyword_int;

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
