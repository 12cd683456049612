//! The text assembler, for the syntax of the conformance suites (vendored in `jit/tests/data/conformance/`).
//!
//! ```text
//! # comments start with '#' (or '//')
//! mov %r0, 0              # 64-bit ALU; `mov32` etc. for 32-bit
//! ldxw %r1, [%r1+4]       # loads, stores: ldx{b,h,w,dw}, ldxs{b,h,w}, st{..}, stx{..}
//! lock fetch add32 [%r10-8], %r1
//! jne %r1, 0x33, done     # targets: a label or +N / -N slots
//! call 5 | call local f | call %r2
//! lddw %r1, map_idx[0]    # pseudo forms: map_fd[N] map_value[N]+OFF map_idx[N]
//!                         #               map_idx_value[N]+OFF btf_id[N] func[+N]
//! done: exit
//! ```
//! The first `exit` doubles as the label `exit` unless the source defines one, as in the
//! upstream suite. Errors name the line.

use crate::instr::{AluOp, AtomicOp, Cond, EndKind, Instr, LdImmKind, Size, Src, Width};
use std::collections::HashMap;
use thiserror::Error;

/// An assembly error with its 1-based source line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {msg}")]
pub struct AsmError {
    pub line: usize,
    pub msg: String,
}

/// A jump or call whose target is a label, fixed up at the end.
struct Fixup {
    slot: usize,
    label: String,
    line: usize,
}

/// Assembles source text into decoded instructions (one entry per slot).
pub fn assemble(source: &str) -> Result<Vec<Instr>, AsmError> {
    let mut out: Vec<Instr> = Vec::new();
    let mut labels: HashMap<String, usize> = HashMap::new();
    let mut fixups: Vec<Fixup> = Vec::new();
    let mut first_exit: Option<usize> = None;

    for (idx, raw_line) in source.lines().enumerate() {
        let line = idx + 1;
        let err = |msg: String| AsmError { line, msg };
        let mut text = strip_comment(raw_line).trim();
        // Any number of leading labels: `name:`.
        while let Some(colon) = text.find(':') {
            let (name, rest) = text.split_at(colon);
            let name = name.trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
            {
                break;
            }
            if labels.insert(name.to_string(), out.len()).is_some() {
                return Err(err(format!("duplicate label '{name}'")));
            }
            text = rest[1..].trim();
        }
        if text.is_empty() {
            continue;
        }
        let (mnemonic, rest) = match text.find(char::is_whitespace) {
            Some(i) => (&text[..i], text[i..].trim()),
            None => (text, ""),
        };
        let operands: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split(',').map(str::trim).collect()
        };
        if operands.iter().any(|o| o.is_empty()) {
            return Err(err(format!("empty operand in '{text}'")));
        }
        let mut target: Option<String> = None;
        let ins = parse_instr(mnemonic, &operands, &mut target).map_err(err)?;
        if let Some(label) = target {
            fixups.push(Fixup {
                slot: out.len(),
                label,
                line,
            });
        }
        if ins == Instr::Exit && first_exit.is_none() {
            first_exit = Some(out.len());
        }
        let wide = matches!(ins, Instr::LdImm64 { .. });
        out.push(ins);
        if wide {
            out.push(Instr::LdImm64Hi);
        }
    }
    if let Some(e) = first_exit {
        labels.entry("exit".to_string()).or_insert(e);
    }
    for f in fixups {
        let &t = labels.get(&f.label).ok_or_else(|| AsmError {
            line: f.line,
            msg: format!("unknown label '{}'", f.label),
        })?;
        let rel = t as i64 - f.slot as i64 - 1;
        let range_err = || AsmError {
            line: f.line,
            msg: format!("label '{}' is out of jump range", f.label),
        };
        match &mut out[f.slot] {
            Instr::Ja { off, long: true } | Instr::CallLocal { off } => {
                *off = i32::try_from(rel).map_err(|_| range_err())?
            }
            Instr::Ja { off, long: false } => {
                *off = i16::try_from(rel).map_err(|_| range_err())?.into()
            }
            Instr::Jcond { off, .. } => *off = i16::try_from(rel).map_err(|_| range_err())?,
            _ => unreachable!("fixups are only recorded for jumps and calls"),
        }
    }
    Ok(out)
}

fn strip_comment(line: &str) -> &str {
    let cut = [line.find('#'), line.find("//")]
        .into_iter()
        .flatten()
        .min();
    match cut {
        Some(i) => &line[..i],
        None => line,
    }
}

fn want(ops: &[&str], n: usize, mnemonic: &str) -> Result<(), String> {
    if ops.len() != n {
        return Err(format!(
            "invalid number of operands for {mnemonic}: expected {n}, got {}",
            ops.len()
        ));
    }
    Ok(())
}

fn parse_reg(s: &str) -> Result<u8, String> {
    let n = s
        .strip_prefix("%r")
        .or_else(|| s.strip_prefix('r'))
        .and_then(|d| d.parse::<u8>().ok())
        .ok_or_else(|| format!("invalid register '{s}'"))?;
    if n > 10 {
        return Err(format!("invalid register '{s}'"));
    }
    Ok(n)
}

/// Parses an integer literal: decimal or `0x` hex, with an optional sign.
fn parse_int(s: &str) -> Result<i128, String> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i128::from_str_radix(h, 16)
    } else {
        body.parse::<i128>()
    }
    .map_err(|_| format!("invalid number '{s}'"))?;
    Ok(if neg { -v } else { v })
}

fn is_hex(s: &str) -> bool {
    s.trim_start_matches(['-', '+']).starts_with("0x")
}

/// A 32-bit immediate: decimals in the signed range, hex up to 0xffffffff (as the upstream suite).
fn parse_imm32(s: &str) -> Result<i32, String> {
    let v = parse_int(s)?;
    let ok = if is_hex(s) && v >= 0 {
        v <= 0xffff_ffff
    } else {
        (i128::from(i32::MIN)..=i128::from(i32::MAX)).contains(&v)
    };
    if !ok {
        return Err(format!("immediate {s} does not fit in 32 bits"));
    }
    Ok(v as u32 as i32)
}

fn parse_imm64(s: &str) -> Result<u64, String> {
    let v = parse_int(s)?;
    if !(i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&v) {
        return Err(format!("immediate {s} does not fit in 64 bits"));
    }
    Ok(v as u64)
}

fn parse_off16(s: &str) -> Result<i16, String> {
    let v = parse_int(s)?;
    i16::try_from(v).map_err(|_| format!("offset {s} does not fit in 16 bits"))
}

/// `[%rN]`, `[%rN+off]`, `[%rN-off]`.
fn parse_mem(s: &str) -> Result<(u8, i16), String> {
    let inner = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .ok_or_else(|| format!("expected a memory operand like [%r1+4], got '{s}'"))?
        .trim();
    match inner.find(['+', '-']) {
        Some(i) => Ok((
            parse_reg(inner[..i].trim())?,
            parse_off16(inner[i..].trim())?,
        )),
        None => Ok((parse_reg(inner)?, 0)),
    }
}

/// A jump target: `+N`/`-N` slots, or a label recorded for fix-up.
fn parse_target(s: &str, label: &mut Option<String>) -> Result<i64, String> {
    if s.starts_with(['+', '-']) {
        return parse_int(s).map(|v| v as i64);
    }
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
    {
        return Err(format!("invalid jump target '{s}'"));
    }
    *label = Some(s.to_string());
    Ok(0)
}

fn width_of(m: &str) -> (Width, &str) {
    if let Some(b) = m.strip_suffix("32") {
        (Width::W32, b)
    } else if let Some(b) = m.strip_suffix("64") {
        (Width::W64, b)
    } else {
        (Width::W64, m)
    }
}

fn size_of(s: &str) -> Option<Size> {
    Some(match s {
        "b" => Size::B,
        "h" => Size::H,
        "w" => Size::W,
        "dw" => Size::DW,
        _ => return None,
    })
}

fn parse_instr(m: &str, ops: &[&str], label: &mut Option<String>) -> Result<Instr, String> {
    let m = m.to_ascii_lowercase();
    let m = m.as_str();
    match m {
        "exit" => {
            want(ops, 0, m)?;
            return Ok(Instr::Exit);
        }
        "lddw" => {
            want(ops, 2, m)?;
            let dst = parse_reg(ops[0])?;
            let (kind, imm) = parse_lddw_operand(ops[1])?;
            return Ok(Instr::LdImm64 { dst, kind, imm });
        }
        "ja" | "ja32" | "gotol" => {
            want(ops, 1, m)?;
            let off = parse_target(ops[0], label)?;
            return Ok(if m == "ja" {
                Instr::Ja {
                    off: i16::try_from(off)
                        .map_err(|_| "jump offset out of range")?
                        .into(),
                    long: false,
                }
            } else {
                Instr::Ja {
                    off: i32::try_from(off).map_err(|_| "jump offset out of range")?,
                    long: true,
                }
            });
        }
        "call" => return parse_call(ops, label),
        "lock" => return parse_lock(ops),
        "neg" | "neg32" | "neg64" => {
            want(ops, 1, m)?;
            let (w, _) = width_of(m);
            return Ok(Instr::Neg {
                w,
                dst: parse_reg(ops[0])?,
            });
        }
        _ => {}
    }
    for (prefix, kind) in [
        ("le", EndKind::Le),
        ("be", EndKind::Be),
        ("bswap", EndKind::Swap),
        ("swap", EndKind::Swap),
    ] {
        if let Some(bits) = m.strip_prefix(prefix).and_then(|b| b.parse::<u8>().ok()) {
            if matches!(bits, 16 | 32 | 64) {
                want(ops, 1, m)?;
                return Ok(Instr::End {
                    kind,
                    bits,
                    dst: parse_reg(ops[0])?,
                });
            }
        }
    }
    if let Some(rest) = m.strip_prefix("movsx") {
        let (bits, w) = match rest {
            "832" => (8, Width::W32),
            "1632" => (16, Width::W32),
            "864" => (8, Width::W64),
            "1664" => (16, Width::W64),
            "3264" => (32, Width::W64),
            _ => return Err(format!("invalid mnemonic '{m}'")),
        };
        want(ops, 2, m)?;
        return Ok(Instr::MovSx {
            w,
            dst: parse_reg(ops[0])?,
            src: parse_reg(ops[1])?,
            bits,
        });
    }
    if let Some(rest) = m.strip_prefix("ldxs") {
        if let Some(size) = size_of(rest).filter(|s| *s != Size::DW) {
            want(ops, 2, m)?;
            let (base, off) = parse_mem(ops[1])?;
            return Ok(Instr::Load {
                size,
                sx: true,
                dst: parse_reg(ops[0])?,
                base,
                off,
            });
        }
    }
    if let Some(size) = m.strip_prefix("ldx").and_then(size_of) {
        want(ops, 2, m)?;
        let (base, off) = parse_mem(ops[1])?;
        return Ok(Instr::Load {
            size,
            sx: false,
            dst: parse_reg(ops[0])?,
            base,
            off,
        });
    }
    if let Some(size) = m.strip_prefix("stx").and_then(size_of) {
        want(ops, 2, m)?;
        let (base, off) = parse_mem(ops[0])?;
        return Ok(Instr::Store {
            size,
            base,
            off,
            src: Src::Reg(parse_reg(ops[1])?),
        });
    }
    if let Some(size) = m.strip_prefix("st").and_then(size_of) {
        want(ops, 2, m)?;
        let (base, off) = parse_mem(ops[0])?;
        return Ok(Instr::Store {
            size,
            base,
            off,
            src: Src::Imm(parse_imm32(ops[1])?),
        });
    }
    let (w, base) = width_of(m);
    if let Some(cond) = Cond::ALL.iter().copied().find(|c| c.mnemonic() == base) {
        want(ops, 3, m)?;
        let dst = parse_reg(ops[0])?;
        let src = parse_src(ops[1])?;
        let off = parse_target(ops[2], label)?;
        let off = i16::try_from(off).map_err(|_| "jump offset out of range")?;
        return Ok(Instr::Jcond {
            w,
            cond,
            dst,
            src,
            off,
        });
    }
    if let Some(op) = AluOp::ALL.iter().copied().find(|o| o.mnemonic() == base) {
        want(ops, 2, m)?;
        return Ok(Instr::Alu {
            w,
            op,
            dst: parse_reg(ops[0])?,
            src: parse_src(ops[1])?,
        });
    }
    Err(format!("invalid mnemonic '{m}'"))
}

fn parse_src(s: &str) -> Result<Src, String> {
    if s.starts_with('%') || (s.starts_with('r') && s[1..].chars().all(|c| c.is_ascii_digit())) {
        Ok(Src::Reg(parse_reg(s)?))
    } else {
        Ok(Src::Imm(parse_imm32(s)?))
    }
}

fn parse_lddw_operand(s: &str) -> Result<(LdImmKind, u64), String> {
    let Some(open) = s.find('[') else {
        return Ok((LdImmKind::Imm64, parse_imm64(s)?));
    };
    let kw = s[..open].trim();
    let kind = LdImmKind::ALL
        .iter()
        .copied()
        .find(|k| k.keyword() == kw && *k != LdImmKind::Imm64)
        .ok_or_else(|| format!("unknown lddw pseudo form '{kw}'"))?;
    let close = s.find(']').ok_or_else(|| format!("missing ']' in '{s}'"))?;
    let lo = parse_imm32(s[open + 1..close].trim())?;
    let tail = s[close + 1..].trim();
    let hi = match kind {
        LdImmKind::MapValue | LdImmKind::MapIdxValue if !tail.is_empty() => parse_imm32(tail)?,
        _ if tail.is_empty() => 0,
        _ => return Err(format!("unexpected '{tail}' after {kw}[..]")),
    };
    Ok((kind, u64::from(lo as u32) | (u64::from(hi as u32) << 32)))
}

fn parse_call(ops: &[&str], label: &mut Option<String>) -> Result<Instr, String> {
    let [op] = ops else {
        return Err("invalid number of operands for call".into());
    };
    let words: Vec<&str> = op.split_whitespace().collect();
    match words[..] {
        [t] if t.starts_with('%') => Ok(Instr::Callx { reg: parse_reg(t)? }),
        // Helper ids are unsigned: the disassembler prints them so, and they must read back.
        [id] | ["helper", id] => {
            let id = match id.parse::<u32>() {
                Ok(v) => v,
                Err(_) => parse_imm32(id)? as u32,
            };
            Ok(Instr::CallHelper { id })
        }
        ["local", t] => {
            let off = parse_target(t, label)?;
            Ok(Instr::CallLocal {
                off: i32::try_from(off).map_err(|_| "call offset out of range")?,
            })
        }
        ["runtime", _] => Err("calls to runtime functions (kfuncs) are not supported".into()),
        _ => Err(format!("invalid call operand '{op}'")),
    }
}

fn parse_lock(ops: &[&str]) -> Result<Instr, String> {
    // `lock [fetch] op[32] [mem], %src`: the first operand carries the words before the comma.
    if ops.len() != 2 {
        return Err("invalid number of operands for lock".into());
    }
    let mut words: Vec<&str> = ops[0].split_whitespace().collect();
    let mem = words.pop().ok_or("invalid number of operands for lock")?;
    let fetch_word = words.first() == Some(&"fetch");
    if fetch_word {
        words.remove(0);
    }
    let [opname] = words[..] else {
        return Err("invalid number of operands for lock".into());
    };
    let (w, base_name) = width_of(opname);
    let size = if w == Width::W32 { Size::W } else { Size::DW };
    let op = match base_name {
        "add" => AtomicOp::Add,
        "or" => AtomicOp::Or,
        "and" => AtomicOp::And,
        "xor" => AtomicOp::Xor,
        "xchg" => AtomicOp::Xchg,
        "cmpxchg" => AtomicOp::Cmpxchg,
        _ => return Err(format!("invalid atomic operation '{opname}'")),
    };
    let fetch = fetch_word || matches!(op, AtomicOp::Xchg | AtomicOp::Cmpxchg);
    let (base, off) = parse_mem(mem)?;
    Ok(Instr::Atomic {
        size,
        op,
        fetch,
        base,
        off,
        src: parse_reg(ops[1])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{instr, isa};

    fn words(src: &str) -> Vec<u64> {
        instr::encode(&assemble(src).expect("assembles"))
            .iter()
            .map(|s| u64::from_le_bytes(s.to_bytes()))
            .collect()
    }

    #[test]
    fn encodes_like_ubpf_reference() {
        // From ubpf/tests/jmp.data and alu.data.
        assert_eq!(words("ja -32768"), vec![0x0000000080000005]);
        assert_eq!(words("jeq %r1, 0x33, +1"), vec![0x0000003300010115]);
        assert_eq!(words("call 0x1"), vec![0x0000000100000085]);
        assert_eq!(words("add32 %r9, 0xffffffff"), vec![0xffffffff00000904]);
        assert_eq!(words("be64 %r1"), vec![0x00000040000001dc]);
    }

    #[test]
    fn labels_and_the_implicit_exit_label() {
        let p = assemble("jne %r1, 0, exit\nmov %r0, 1\nexit").expect("ok");
        assert_eq!(
            p[0],
            Instr::Jcond {
                w: Width::W64,
                cond: Cond::Ne,
                dst: 1,
                src: Src::Imm(0),
                off: 1
            }
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = assemble("mov %r0, 1\nldxq %r0, %r1\nexit").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.msg.contains("invalid mnemonic"));
        assert!(assemble("mov32 %r0, 2147483648").is_err());
        assert!(assemble("mov32 %r0, 0x100000000").is_err());
        assert!(assemble("ldxb %r0, [%r1+0x10000]").is_err());
        assert!(assemble("ldxb %r0, %r1").is_err());
        assert!(assemble("lddw %r0").is_err());
        assert!(assemble("ja NOT_A_LABEL\nexit").is_err());
        assert!(assemble("or %r0, %r50").is_err());
        assert!(assemble("lock or [%r10-8]").is_err());
        assert!(assemble("lock").is_err());
        assert!(assemble("a:\na:\nexit").is_err());
    }

    #[test]
    fn pseudo_lddw_and_calls() {
        let p = assemble("lddw %r1, map_value[3]+8\ncall local +1\ncall %r2\nexit").expect("ok");
        assert_eq!(
            p[0],
            Instr::LdImm64 {
                dst: 1,
                kind: LdImmKind::MapValue,
                imm: (8 << 32) | 3
            }
        );
        assert_eq!(p[2], Instr::CallLocal { off: 1 });
        assert_eq!(p[3], Instr::Callx { reg: 2 });
        let _ = isa::INSN_SIZE;
    }
}
