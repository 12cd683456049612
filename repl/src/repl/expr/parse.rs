//! The expression parser: a lexer, then recursive descent with C's precedence (postfix
//! `->` `.` `[]`, unary `*` `&` `-` and casts, then `* / %`, then `+ -`).

use super::*;

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
}
