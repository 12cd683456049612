//! The disassembler: the inverse of [`crate::asm`], in the same syntax.
//!
//! Every instruction prints in a form the assembler turns back into the same bytes: 32-bit
//! immediates as signed decimals, `lddw` constants in hex, jump and call targets as `+N`/`-N`.

use crate::instr::{EndKind, Instr, LdImmKind, Src, Width};
use std::fmt::Write;

fn w_suffix(w: Width) -> &'static str {
    match w {
        Width::W32 => "32",
        Width::W64 => "",
    }
}

fn src(s: Src) -> String {
    match s {
        Src::Reg(r) => format!("%r{r}"),
        Src::Imm(i) => i.to_string(),
    }
}

fn mem(base: u8, off: i16) -> String {
    match off {
        0 => format!("[%r{base}]"),
        o if o < 0 => format!("[%r{base}{o}]"),
        o => format!("[%r{base}+{o}]"),
    }
}

fn rel(off: i64) -> String {
    if off < 0 {
        off.to_string()
    } else {
        format!("+{off}")
    }
}

/// One instruction as text; `None` for the second slot of `lddw`.
pub fn format_instr(ins: &Instr) -> Option<String> {
    Some(match *ins {
        Instr::Alu { w, op, dst, src: s } => {
            format!("{}{} %r{dst}, {}", op.mnemonic(), w_suffix(w), src(s))
        }
        Instr::Neg { w, dst } => format!("neg{} %r{dst}", w_suffix(w)),
        Instr::MovSx { w, dst, src, bits } => {
            let to = if w == Width::W32 { 32 } else { 64 };
            format!("movsx{bits}{to} %r{dst}, %r{src}")
        }
        Instr::End { kind, bits, dst } => {
            let name = match kind {
                EndKind::Le => "le",
                EndKind::Be => "be",
                EndKind::Swap => "bswap",
            };
            format!("{name}{bits} %r{dst}")
        }
        Instr::LdImm64 { dst, kind, imm } => match kind {
            LdImmKind::Imm64 => format!("lddw %r{dst}, {imm:#x}"),
            LdImmKind::MapValue | LdImmKind::MapIdxValue => format!(
                "lddw %r{dst}, {}[{}]+{}",
                kind.keyword(),
                imm as u32 as i32,
                (imm >> 32) as u32 as i32
            ),
            LdImmKind::Func => format!("lddw %r{dst}, func[{}]", rel((imm as u32 as i32).into())),
            _ => format!("lddw %r{dst}, {}[{}]", kind.keyword(), imm as u32 as i32),
        },
        Instr::LdImm64Hi => return None,
        Instr::Load {
            size,
            sx,
            dst,
            base,
            off,
        } => {
            format!(
                "ldx{}{} %r{dst}, {}",
                if sx { "s" } else { "" },
                size.suffix(),
                mem(base, off)
            )
        }
        Instr::Store {
            size,
            base,
            off,
            src: Src::Imm(i),
        } => {
            format!("st{} {}, {i}", size.suffix(), mem(base, off))
        }
        Instr::Store {
            size,
            base,
            off,
            src: Src::Reg(r),
        } => {
            format!("stx{} {}, %r{r}", size.suffix(), mem(base, off))
        }
        Instr::Atomic {
            size,
            op,
            fetch,
            base,
            off,
            src,
        } => {
            let fetch = if fetch
                && !matches!(
                    op,
                    crate::instr::AtomicOp::Xchg | crate::instr::AtomicOp::Cmpxchg
                ) {
                "fetch "
            } else {
                ""
            };
            let w = if size == crate::instr::Size::W {
                "32"
            } else {
                ""
            };
            format!(
                "lock {fetch}{}{w} {}, %r{src}",
                op.mnemonic(),
                mem(base, off)
            )
        }
        Instr::Ja { off, long: false } => format!("ja {}", rel(off.into())),
        Instr::Ja { off, long: true } => format!("ja32 {}", rel(off.into())),
        Instr::Jcond {
            w,
            cond,
            dst,
            src: s,
            off,
        } => {
            format!(
                "{}{} %r{dst}, {}, {}",
                cond.mnemonic(),
                w_suffix(w),
                src(s),
                rel(off.into())
            )
        }
        Instr::CallHelper { id } => format!("call {id}"),
        Instr::CallLocal { off } => format!("call local {}", rel(off.into())),
        Instr::Callx { reg } => format!("call %r{reg}"),
        Instr::Exit => "exit".to_string(),
    })
}

/// The program as assembler source, one instruction per line.
pub fn disassemble(instrs: &[Instr]) -> String {
    let mut out = String::new();
    for line in instrs.iter().filter_map(format_instr) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A listing for people: slot index, raw bytes and the instruction, like `llvm-objdump -d`.
pub fn listing(instrs: &[Instr]) -> String {
    let slots = crate::instr::encode(instrs);
    let mut out = String::new();
    let mut slot = 0;
    for ins in instrs {
        let Some(text) = format_instr(ins) else {
            continue;
        };
        let n = if matches!(ins, Instr::LdImm64 { .. }) {
            2
        } else {
            1
        };
        for (k, s) in slots[slot..slot + n].iter().enumerate() {
            let bytes: Vec<String> = s.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
            let _ = if k == 0 {
                writeln!(out, "{:>6}:  {}  {}", slot, bytes.join(" "), text)
            } else {
                writeln!(out, "{:>6}:  {}", slot + k, bytes.join(" "))
            };
        }
        slot += n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;
    use crate::instr;

    #[test]
    fn text_round_trips_exactly() {
        let src = "mov %r0, -1\nadd32 %r1, %r2\nneg32 %r3\nmovsx1664 %r1, %r2\nle16 %r1\nbe64 %r2\n\
bswap32 %r3\nlddw %r4, 0x1122334455667788\nlddw %r1, map_idx[2]\nlddw %r1, map_value[1]+16\n\
ldxw %r0, [%r1+4]\nldxsb %r0, [%r10-1]\nstb [%r1], 7\nstxdw [%r10-8], %r1\nlock fetch add32 [%r1+4], %r2\n\
lock xchg [%r1], %r2\nlock cmpxchg32 [%r1-4], %r2\nlock or [%r1], %r2\nja -1\nja32 +70000\n\
jsle32 %r1, -5, +2\njset %r1, %r2, -3\ncall 6\ncall local +2\ncall %r3\nexit\n";
        let prog = assemble(src).expect("assembles");
        assert_eq!(disassemble(&prog), src);
        let again = assemble(&disassemble(&prog)).expect("reassembles");
        assert_eq!(instr::encode(&again), instr::encode(&prog));
    }

    #[test]
    fn listing_shows_both_lddw_slots() {
        let l = listing(&assemble("lddw %r0, 0x100000001\nexit").expect("ok"));
        assert_eq!(
            l,
            "     0:  18 00 00 00 01 00 00 00  lddw %r0, 0x100000001\n     1:  00 00 00 00 01 00 00 00\n     2:  95 00 00 00 00 00 00 00  exit\n"
        );
    }
}
