//! Inspection commands: `sym`, `ptype`, `print`, `x`, `regs`, `bt`, `disas`.
//!
//! All of them read the guest through the machine's page-table walk with fault suppression:
//! an unmapped address is an error naming it, and the session goes on.

use super::commands::Invocation;
use super::disasm;
use super::expr::{self, shape, type_name, CType, Evaluator, Loc, Shape};
use super::print::{format_value, Radix};
use super::session::Session;
use super::{fail, ReplError};
use probes::symbols::{Binding, Symbol, SymbolKind};

// Where kernel addresses start (a kernel stack's walk stops below it).
use probes::guest::KERNEL_HALF;
/// Largest function disassembled whole.
const MAX_FUNCTION_BYTES: u64 = 64 << 10;
/// Most symbols a glob lists.
const MAX_LISTED: usize = 200;

/// Runs `f` with an evaluator over the session's guest.
pub fn with_eval<T>(s: &Session, f: impl FnOnce(&Evaluator<'_>) -> T) -> T {
    let regs = s.machine.regs();
    let m = &s.machine;
    let read = |a: u64, b: &mut [u8]| m.read_virt(a, b).map_err(|e| e.to_string());
    let ev = Evaluator {
        image: &s.image,
        regs: &regs,
        mem: Some(&read),
    };
    f(&ev)
}

/// Evaluates an address expression: a number, a pointer, or the address of an object.
pub fn address(s: &Session, text: &str) -> Result<u64, ReplError> {
    with_eval(s, |ev| {
        let v = ev.eval_str(text)?;
        let sh = shape(ev.image, &v.ty)?;
        Ok(match (sh, v.loc) {
            (
                Shape::Struct(_) | Shape::Union(_) | Shape::Array(..) | Shape::Function,
                Loc::Mem(a),
            ) => a,
            (Shape::Unknown, Loc::Mem(a)) => a,
            _ => ev.scalar(&v)?,
        })
    })
}

/// kallsyms' type letter.
fn kind_letter(sym: &Symbol) -> char {
    let c = match sym.kind {
        SymbolKind::Function | SymbolKind::TextLabel => 't',
        SymbolKind::Object => 'd',
        SymbolKind::DataLabel if sym.absolute => 'a',
        SymbolKind::DataLabel => 'd',
    };
    if sym.binding == Binding::Local {
        c
    } else {
        c.to_ascii_uppercase()
    }
}

pub fn sym(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    if inv.rest.is_empty() {
        return Err(inv.usage("missing a name, glob or address"));
    }
    let q = inv.rest;
    let symbols = s.image.symbols();
    if q.contains(['*', '?', '[']) && !q.contains(['(', '$']) {
        let found = symbols
            .glob(q)
            .map_err(|e| inv.usage(format!("bad glob '{q}': {e}")))?;
        if found.is_empty() {
            return fail(format!("no symbol matches '{q}'"));
        }
        let mut out = String::new();
        for sym in found.iter().take(MAX_LISTED) {
            out.push_str(&format!(
                "{:016x} {} {}\n",
                sym.addr,
                kind_letter(sym),
                s.style.sym(&sym.unique_name)
            ));
        }
        if found.len() > MAX_LISTED {
            out.push_str(&format!("... and {} more\n", found.len() - MAX_LISTED));
        }
        return Ok(out);
    }
    if let Some(sym) = symbols.lookup(q) {
        let kind = match sym.kind {
            SymbolKind::Function => "function",
            SymbolKind::TextLabel => "code label",
            SymbolKind::Object => "object",
            SymbolKind::DataLabel => "label",
        };
        let binding = match sym.binding {
            Binding::Local => "local",
            Binding::Global => "global",
            Binding::Weak => "weak",
        };
        let mut out = format!(
            "{}: {} {kind}, {} bytes, {binding}",
            s.style.sym(&sym.unique_name),
            s.style.addr(&format!("{:#x}", sym.addr)),
            sym.size
        );
        if let (_, Some(src)) = s.describe(sym.addr) {
            out.push_str(&format!(", {src}"));
        }
        out.push('\n');
        if let Ok(db) = s.image.types() {
            if sym.kind.is_text() {
                if let Ok(Some(f)) = db.function(&sym.name) {
                    out.push_str(&format!("  {}\n", s.style.ty(&f.prototype())));
                }
            } else if let Ok(Some(t)) = db.variable(&sym.name) {
                if let Ok(decl) = db.declaration(Some(t), &sym.name) {
                    out.push_str(&format!("  {}\n", s.style.ty(&decl)));
                }
            }
        }
        return Ok(out);
    }
    let looks_like_expr = q
        .starts_with(|c: char| c.is_ascii_digit() || c == '$' || c == '(' || c == '&')
        || q.contains(['+', '-', '*']);
    if !looks_like_expr {
        let near = symbols.suggest(q, 5);
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!(" (did you mean {}?)", near.join(", "))
        };
        return fail(format!("no symbol '{q}'{hint}"));
    }
    let a = address(s, q)?;
    match symbols.resolve(a) {
        Some(_) => Ok(format!(
            "{} is {}\n",
            s.style.addr(&format!("{a:#x}")),
            s.where_is(a)
        )),
        None => fail(format!("no symbol contains {a:#x}")),
    }
}

pub fn ptype(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    if inv.rest.is_empty() {
        return Err(inv.usage("missing a type or expression"));
    }
    let q = inv.rest;
    let db = s
        .image
        .types()
        .map_err(|e| ReplError::context(s.image.name(), e))?;
    let ty_err = |e: probes::types::TypeError| ReplError::lib(e);
    let looks_like_type = q.starts_with("struct ")
        || q.starts_with("union ")
        || q.starts_with("enum ")
        || s.image.symbols().lookup(q).is_none();
    if looks_like_type {
        if let Some(id) = db.find(q).map_err(ty_err)? {
            return describe_type(s, &CType::Dwarf(id));
        }
        if q.starts_with("struct ") || q.starts_with("union ") || q.starts_with("enum ") {
            let kw = q.split_whitespace().next().unwrap_or("");
            let near: Vec<String> = db
                .type_names_with_prefix(&format!("{kw} "))
                .unwrap_or_default()
                .into_iter()
                .filter(|n| strsim::levenshtein(n, q) <= 3)
                .take(4)
                .collect();
            let hint = if near.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", near.join(", "))
            };
            return fail(format!("unknown type '{q}'{hint}"));
        }
    }
    if let Some(sym) = s.image.symbols().lookup(q).filter(|x| x.kind.is_text()) {
        if let Some(f) = db.function(&sym.name).map_err(ty_err)? {
            return Ok(format!("type = {}\n", s.style.ty(&f.prototype())));
        }
        return Ok(format!("{q}: code without DWARF (an assembly label)\n"));
    }
    let v = with_eval(s, |ev| ev.eval_str(q))?;
    describe_type(s, &v.ty)
}

/// `type = NAME`, then the layout of the struct it is (or points to).
fn describe_type(s: &Session, ty: &CType) -> Result<String, ReplError> {
    let db = s.image.types().map_err(ReplError::lib)?;
    let mut out = format!("type = {}", s.style.ty(&type_name(&s.image, ty)));
    if let Ok(size) = expr::size_of(&s.image, ty) {
        out.push_str(&format!("  ({size} bytes)"));
    }
    out.push('\n');
    let mut target = ty.clone();
    for _ in 0..8 {
        match shape(&s.image, &target)? {
            Shape::Ptr(t) | Shape::Array(t, _) => target = t,
            Shape::Struct(id) | Shape::Union(id) => {
                out.push_str(&db.format_pahole(id).map_err(ReplError::lib)?);
                break;
            }
            Shape::Enum { values, .. } => {
                for (n, v) in values {
                    out.push_str(&format!("\t{n} = {v},\n"));
                }
                break;
            }
            _ => break,
        }
    }
    Ok(out)
}

pub fn print(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    let radix = match inv.format {
        "" => Radix::Natural,
        "x" => Radix::Hex,
        f => return Err(inv.usage(format!("unknown format '/{f}' (print takes /x)"))),
    };
    if inv.rest.is_empty() {
        return Err(inv.usage("missing an expression"));
    }
    let text = with_eval(s, |ev| {
        let v = ev.eval_str(inv.rest)?;
        format_value(ev, &v, radix)
    })?;
    Ok(format!("{text}\n"))
}

/// Parses `NFU` (any order, each optional) against the remembered defaults.
fn parse_x_format(f: &str, st: &super::session::XState) -> Result<(usize, char, usize), String> {
    let digits: String = f.chars().take_while(char::is_ascii_digit).collect();
    // As in gdb, the count is 1 unless given; format and unit are remembered.
    let mut count = if digits.is_empty() {
        1
    } else {
        digits
            .parse::<usize>()
            .map_err(|_| format!("'{digits}' is not a count"))?
    };
    let (mut format, mut unit) = (st.format, st.unit);
    for c in f[digits.len()..].chars() {
        match c {
            'x' | 'd' | 'u' | 'c' | 's' | 'i' => format = c,
            'b' => unit = 1,
            'h' => unit = 2,
            'w' => unit = 4,
            'g' => unit = 8,
            _ => {
                return Err(format!(
                    "unknown letter '{c}' in /{f} (formats x d u c s i, units b h w g)"
                ))
            }
        }
    }
    if format == 'c' {
        unit = 1;
    }
    count = count.clamp(1, 4096);
    Ok((count, format, unit))
}

/// `0xffffffff80123000 <jiffies+8>:`.
fn x_label(s: &Session, a: u64) -> String {
    match s.image.symbols().format_addr(a) {
        Some(sym) => format!(
            "{} <{}>:",
            s.style.addr(&format!("{a:#018x}")),
            s.style.sym(&sym)
        ),
        None => format!("{}:", s.style.addr(&format!("{a:#018x}"))),
    }
}

pub fn x(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    let (mut count, format, unit) =
        parse_x_format(inv.format, &s.x_state).map_err(|e| inv.usage(e))?;
    if inv.format.is_empty() && inv.rest.is_empty() {
        count = s.x_state.count; // a bare `x` goes on as the last one did
    }
    let start = if inv.rest.is_empty() {
        match s.x_state.next {
            Some(a) => a,
            None => return Err(inv.usage("missing an address")),
        }
    } else {
        address(s, inv.rest)?
    };
    let mut out = String::new();
    let rip = s.machine.regs().rip;
    let read = |a: u64, buf: &mut [u8]| {
        s.machine
            .read_virt(a, buf)
            .map_err(|e| ReplError::Failed(format!("cannot access memory at {a:#x}: {e}")))
    };
    let next = match format {
        'i' => {
            let mut code = vec![0u8; count * 15];
            let mut n = code.len();
            // Read what is mapped (code near the end of a mapping).
            while read(start, &mut code[..n]).is_err() {
                if n <= 16 {
                    read(start, &mut code[..1])?;
                    n = 1;
                    break;
                }
                n /= 2;
            }
            let insns = disasm::decode(&code[..n], start, count)?;
            if insns.is_empty() {
                return fail(format!("no valid instruction at {start:#x}"));
            }
            for i in &insns {
                let mark = if i.addr == rip { "=> " } else { "   " };
                out.push_str(&format!(
                    "{mark}{}\t{}\n",
                    x_label(s, i.addr),
                    i.text(s.image.symbols())
                ));
            }
            insns.last().map_or(start, disasm::Insn::next)
        }
        's' => {
            let mut a = start;
            for _ in 0..count {
                let mut bytes = Vec::new();
                let mut b = [0u8; 1];
                loop {
                    read(a.wrapping_add(bytes.len() as u64), &mut b)?;
                    if b[0] == 0 || bytes.len() >= 4096 {
                        break;
                    }
                    bytes.push(b[0]);
                }
                let text: String = bytes
                    .iter()
                    .map(|&c| match c {
                        0x20..=0x7e if c != b'"' && c != b'\\' => char::from(c).to_string(),
                        b'\n' => "\\n".into(),
                        _ => format!("\\{c:03o}"),
                    })
                    .collect();
                out.push_str(&format!("{}\t\"{text}\"\n", x_label(s, a)));
                a = a.wrapping_add(bytes.len() as u64 + 1);
            }
            a
        }
        _ => {
            let mut buf = vec![0u8; count * unit];
            read(start, &mut buf)?;
            let per_line = match unit {
                8 => 2,
                4 => 4,
                _ => 8,
            };
            for (line, chunk) in buf.chunks(per_line * unit).enumerate() {
                let a = start.wrapping_add((line * per_line * unit) as u64);
                out.push_str(&x_label(s, a));
                for item in chunk.chunks(unit) {
                    let mut b = [0u8; 8];
                    b[..item.len()].copy_from_slice(item);
                    let v = u64::from_le_bytes(b);
                    let text = match format {
                        'd' => (expr::extend(v, unit, true) as i64).to_string(),
                        'u' => v.to_string(),
                        'c' => {
                            let c = v as u8;
                            if (0x20..0x7f).contains(&c) {
                                format!("{c} '{}'", char::from(c))
                            } else {
                                format!("{c} '\\{c:03o}'")
                            }
                        }
                        _ => format!("{v:#0w$x}", w = unit * 2 + 2),
                    };
                    out.push('\t');
                    out.push_str(&text);
                }
                out.push('\n');
            }
            start.wrapping_add(buf.len() as u64)
        }
    };
    s.x_state.count = count;
    s.x_state.format = format;
    s.x_state.unit = unit;
    s.x_state.next = Some(next);
    Ok(out)
}

/// rflags bits as gdb names them.
fn flags(v: u64) -> String {
    const NAMES: [(u32, &str); 9] = [
        (0, "CF"),
        (2, "PF"),
        (4, "AF"),
        (6, "ZF"),
        (7, "SF"),
        (8, "TF"),
        (9, "IF"),
        (10, "DF"),
        (11, "OF"),
    ];
    let set: Vec<&str> = NAMES
        .iter()
        .filter(|(b, _)| v >> b & 1 == 1)
        .map(|(_, n)| *n)
        .collect();
    if set.is_empty() {
        "[ ]".into()
    } else {
        format!("[ {} ]", set.join(" "))
    }
}

pub fn regs(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 0)?;
    let r = s.machine.regs();
    let gp = &r.fields()[..emu::cpu::names::GENERAL_PURPOSE];
    let mut out = String::new();
    for &(n, v) in gp {
        let sym = s
            .image
            .symbols()
            .resolve(v)
            .filter(|(sym, _)| sym.kind.is_text())
            .and_then(|_| s.image.symbols().format_addr(v))
            .map(|x| format!("<{x}>"))
            .unwrap_or_else(|| (v as i64).to_string());
        out.push_str(&format!("{n:<8}{:<20}{sym}\n", format!("{v:#x}")));
    }
    let (sym, src) = s.describe(r.rip);
    out.push_str(&format!(
        "{:<8}{:<20}<{}>{}\n",
        "rip",
        format!("{:#x}", r.rip),
        s.style.sym(sym.as_deref().unwrap_or("??")),
        src.map(|x| format!(" ({x})")).unwrap_or_default()
    ));
    out.push_str(&format!(
        "{:<8}{:<20}{}\n",
        "rflags",
        format!("{:#x}", r.rflags),
        flags(r.rflags)
    ));
    out.push_str(&format!(
        "cs {:#x}  ss {:#x}  ds {:#x}  es {:#x}  fs {:#x}  gs {:#x}\n",
        r.cs, r.ss, r.ds, r.es, r.fs, r.gs
    ));
    out.push_str(&format!(
        "cr0 {:#x}  cr2 {:#x}  cr3 {:#x}  cr4 {:#x}  efer {:#x}\n",
        r.cr0, r.cr2, r.cr3, r.cr4, r.efer
    ));
    out.push_str(&format!(
        "fs_base {:#x}  gs_base {:#x}  kernel_gs_base {:#x}\n",
        r.fs_base, r.gs_base, r.kernel_gs_base
    ));
    Ok(out)
}

/// Where the current function's frame is, from the code at its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameState {
    /// Before `push rbp`: the return address is at `[rsp]`.
    AtEntry,
    /// After `push rbp`, before `mov rbp, rsp`: at `[rsp+8]`.
    AfterPush,
    /// In the body: at `[rbp+8]`.
    Body,
}

/// Reads the prologue of the function around `rip`: `[endbr64] push rbp; mov rbp, rsp`.
pub fn frame_state(s: &Session, rip: u64) -> FrameState {
    let Some((sym, off)) = s.image.symbols().resolve(rip) else {
        return FrameState::Body;
    };
    let mut code = [0u8; 8];
    if s.machine.read_virt(sym.addr, &mut code).is_err() {
        return if off == 0 {
            FrameState::AtEntry
        } else {
            FrameState::Body
        };
    }
    let p = if code[..4] == [0xf3, 0x0f, 0x1e, 0xfa] {
        4
    } else {
        0
    };
    if code[p] != 0x55 {
        // No frame-pointer prologue (an assembly routine): only its entry is known.
        return if off as usize <= p {
            FrameState::AtEntry
        } else {
            FrameState::Body
        };
    }
    match off as usize {
        o if o <= p => FrameState::AtEntry,
        o if o == p + 1 && code[p + 1..p + 4] == [0x48, 0x89, 0xe5] => FrameState::AfterPush,
        _ => FrameState::Body,
    }
}

fn read_u64(s: &Session, a: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    s.machine.read_virt(a, &mut b).ok()?;
    Some(u64::from_le_bytes(b))
}

/// The return address of the current frame and the stack pointer just after it returns.
pub fn return_of_frame(s: &Session) -> Option<(u64, u64)> {
    let r = s.machine.regs();
    match frame_state(s, r.rip) {
        FrameState::AtEntry => Some((read_u64(s, r.rsp)?, r.rsp.wrapping_add(8))),
        FrameState::AfterPush => {
            Some((read_u64(s, r.rsp.wrapping_add(8))?, r.rsp.wrapping_add(16)))
        }
        FrameState::Body => Some((read_u64(s, r.rbp.wrapping_add(8))?, r.rbp.wrapping_add(16))),
    }
}

/// Code addresses of the stack, innermost first: probes' unwinder (the image's DWARF CFI,
/// frame pointers where it has none), so `bt` agrees with the stacks filters record and
/// works on kernels built without frame pointers.
pub fn stack(s: &Session, max: usize) -> Vec<u64> {
    let r = s.machine.regs();
    let kernel = r.rip >= KERNEL_HALF;
    let is_code = |a: u64| a != 0 && (!kernel || a >= KERNEL_HALF);
    s.image
        .unwinder()
        .unwind(&r, &|a| read_u64(s, a), max, &is_code)
}

pub fn bt(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 1)?;
    let max = match inv.words.first() {
        Some(w) => w
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| inv.usage(format!("'{w}' is not a frame count")))?,
        None => 32,
    };
    let mut out = String::new();
    for (i, ip) in stack(s, max).into_iter().enumerate() {
        // A return address's line is the call's: look up the byte before it.
        let sym = s.image.symbols().format_addr(ip);
        let (_, src) = s
            .image
            .describe(if i == 0 { ip } else { ip.wrapping_sub(1) });
        out.push_str(&format!(
            "#{i:<2} {} in {}{}\n",
            s.style.addr(&format!("{ip:#018x}")),
            s.style.sym(sym.as_deref().unwrap_or("??")),
            src.map(|x| format!(" ({x})")).unwrap_or_default()
        ));
    }
    Ok(out)
}

pub fn disas(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    let rip = s.machine.regs().rip;
    let symbols = s.image.symbols();
    // `disas`, `disas SYMBOL`, `disas EXPR`, `disas EXPR N` (the count is the last word).
    let (target, count) = match inv.words.as_slice() {
        [] => (None, None),
        [.., last] if inv.words.len() > 1 && last.parse::<usize>().is_ok() => {
            let n = last.parse::<usize>().unwrap_or(16);
            let t = inv.rest[..inv.rest.len() - last.len()].trim();
            (Some(t), Some(n.clamp(1, 4096)))
        }
        _ => (Some(inv.rest), None),
    };
    let start = match target {
        None => rip,
        Some(t) => match symbols.lookup(t) {
            Some(sym) => sym.addr,
            None => address(s, t)?,
        },
    };
    let (from, len, whole) = match (count, symbols.resolve(start)) {
        (None, Some((sym, _))) if sym.kind.is_text() => {
            let ext = symbols.extent(sym);
            (
                ext.start,
                (ext.end - ext.start).min(MAX_FUNCTION_BYTES),
                Some(sym.unique_name.clone()),
            )
        }
        (n, _) => (start, n.unwrap_or(16) as u64 * 15, None),
    };
    let mut code = vec![0u8; len as usize];
    if let Err(e) = s.machine.read_virt(from, &mut code) {
        return fail(format!("cannot read code at {from:#x}: {e}"));
    }
    let insns = disasm::decode(&code, from, count.unwrap_or(usize::MAX).min(65536))?;
    let mut out = String::new();
    if let Some(name) = &whole {
        out.push_str(&format!(
            "Dump of assembler code for function {}:\n",
            s.style.sym(name)
        ));
    }
    for i in &insns {
        let mark = if i.addr == rip { "=> " } else { "   " };
        let label = match &whole {
            Some(_) => format!("<+{}>", i.addr - from),
            None => symbols
                .format_addr(i.addr)
                .map(|x| format!("<{x}>"))
                .unwrap_or_default(),
        };
        out.push_str(&format!(
            "{mark}{} {label}:\t{}\n",
            s.style.addr(&format!("{:#018x}", i.addr)),
            i.text(symbols)
        ));
    }
    if whole.is_some() {
        out.push_str("End of assembler dump.\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repl::session::XState;

    #[test]
    fn x_formats() {
        let st = XState {
            count: 1,
            format: 'x',
            unit: 4,
            next: None,
        };
        assert_eq!(parse_x_format("4xg", &st), Ok((4, 'x', 8)));
        assert_eq!(parse_x_format("", &st), Ok((1, 'x', 4)));
        assert_eq!(parse_x_format("2i", &st), Ok((2, 'i', 4)));
        assert_eq!(parse_x_format("c", &st), Ok((1, 'c', 1)));
        assert!(parse_x_format("4q", &st).is_err());
        assert_eq!(flags(0x246), "[ PF ZF IF ]");
    }
}
