//! x86-64 disassembly with capstone (Intel syntax), annotated with the guest's symbols, and
//! what `stepi` needs to know about an instruction: where control can go next.

use capstone::arch::x86::{ArchMode, ArchSyntax, X86OperandType};
use capstone::arch::{ArchDetail, BuildsCapstone, BuildsCapstoneSyntax, DetailsArchInsn};
use capstone::Capstone;
use probes::symbols::SymbolTable;

/// A branch or call target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A fixed address.
    Addr(u64),
    /// A register's value.
    Reg(String),
    /// The 8 bytes at `base + index * scale + disp` (`base` "rip" means the next insn).
    Mem {
        base: Option<String>,
        index: Option<String>,
        scale: u64,
        disp: i64,
    },
}

/// How an instruction passes control on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// To the next instruction.
    Next,
    /// A jump: to the target, and also to the next instruction if conditional.
    Jump { target: Target, conditional: bool },
    /// A call.
    Call(Target),
    /// A return: to the address at `[rsp]`.
    Ret,
    /// `syscall`, `sysret`, `iret`, `int`, `ud2`...: somewhere the machine decides.
    Other,
}

/// One decoded instruction.
#[derive(Debug, Clone)]
pub struct Insn {
    pub addr: u64,
    pub len: usize,
    pub mnemonic: String,
    pub operands: String,
    pub flow: Flow,
    /// An address the instruction refers to (rip-relative memory operand), for annotation.
    pub refers_to: Option<u64>,
}

impl Insn {
    /// The address after this instruction.
    pub fn next(&self) -> u64 {
        self.addr.wrapping_add(self.len as u64)
    }

    /// `mnemonic operands`, with ` <symbol+off>` for call and jump targets and `# <symbol>`
    /// for rip-relative data.
    pub fn text(&self, symbols: &SymbolTable) -> String {
        let mut s = if self.operands.is_empty() {
            self.mnemonic.clone()
        } else {
            format!("{:<6} {}", self.mnemonic, self.operands)
        };
        match &self.flow {
            Flow::Jump {
                target: Target::Addr(a),
                ..
            }
            | Flow::Call(Target::Addr(a)) => {
                if let Some(sym) = symbols.format_addr(*a) {
                    s.push_str(&format!(" <{sym}>"));
                }
            }
            _ => {
                if let Some(a) = self.refers_to {
                    match symbols.format_addr(a) {
                        Some(sym) => s.push_str(&format!("  # {a:#x} <{sym}>")),
                        None => s.push_str(&format!("  # {a:#x}")),
                    }
                }
            }
        }
        s
    }
}

fn engine() -> Result<Capstone, String> {
    Capstone::new()
        .x86()
        .mode(ArchMode::Mode64)
        .syntax(ArchSyntax::Intel)
        .detail(true)
        .build()
        .map_err(|e| format!("capstone: {e}"))
}

/// Decodes up to `max` instructions of `code`, which starts at `addr`. Stops early at bytes
/// that are not an instruction.
pub fn decode(code: &[u8], addr: u64, max: usize) -> Result<Vec<Insn>, String> {
    let cs = engine()?;
    let insns = cs
        .disasm_count(code, addr, max)
        .map_err(|e| format!("capstone: {e}"))?;
    let mut out = Vec::new();
    for i in insns.as_ref() {
        let mnemonic = i.mnemonic().unwrap_or("?").to_string();
        let operands = i.op_str().unwrap_or("").to_string();
        let next = i.address().wrapping_add(i.len() as u64);
        let mut first: Option<Target> = None;
        let mut refers_to = None;
        if let Ok(detail) = cs.insn_detail(i) {
            if let ArchDetail::X86Detail(x) = detail.arch_detail() {
                for op in x.operands() {
                    let t = match op.op_type {
                        X86OperandType::Imm(v) => Some(Target::Addr(v as u64)),
                        X86OperandType::Reg(r) => cs.reg_name(r).map(Target::Reg),
                        X86OperandType::Mem(m) => {
                            let base = cs.reg_name(m.base());
                            let index = cs.reg_name(m.index());
                            if base.as_deref() == Some("rip") && index.is_none() {
                                refers_to = Some(next.wrapping_add(m.disp() as u64));
                            }
                            Some(Target::Mem {
                                base,
                                index,
                                scale: u64::try_from(m.scale()).unwrap_or(1),
                                disp: m.disp(),
                            })
                        }
                        X86OperandType::Invalid => None,
                    };
                    if first.is_none() {
                        first = t;
                    }
                }
            }
        }
        let flow = classify(&mnemonic, first);
        out.push(Insn {
            addr: i.address(),
            len: i.len(),
            mnemonic,
            operands,
            flow,
            refers_to,
        });
    }
    Ok(out)
}

fn classify(mnemonic: &str, first: Option<Target>) -> Flow {
    let m = mnemonic
        .trim_start_matches("notrack ")
        .trim_start_matches("bnd ");
    match m {
        "ret" | "retn" => Flow::Ret,
        "call" => first.map_or(Flow::Other, Flow::Call),
        "jmp" => first.map_or(Flow::Other, |target| Flow::Jump {
            target,
            conditional: false,
        }),
        m if (m.starts_with('j') || m.starts_with("loop")) && first.is_some() => Flow::Jump {
            target: first.unwrap_or(Target::Addr(0)),
            conditional: true,
        },
        "syscall" | "sysret" | "sysretq" | "sysenter" | "sysexit" | "iret" | "iretq" | "iretd"
        | "int" | "int3" | "into" | "int1" | "ud2" | "retf" | "retfq" | "lret" | "ljmp"
        | "lcall" => Flow::Other,
        _ => Flow::Next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_flow() {
        // push rbp; mov rbp, rsp; call +0; jne -2; ret; jmp qword ptr [rip+0x10]; syscall
        let code = [
            0x55, 0x48, 0x89, 0xe5, 0xe8, 0, 0, 0, 0, 0x75, 0xfe, 0xc3, 0xff, 0x25, 0x10, 0, 0, 0,
            0x0f, 0x05,
        ];
        let v = decode(&code, 0x1000, 16).expect("decodes");
        assert_eq!(v.len(), 7);
        assert_eq!(v[0].flow, Flow::Next);
        assert_eq!(v[2].flow, Flow::Call(Target::Addr(0x1009)));
        assert_eq!(
            v[3].flow,
            Flow::Jump {
                target: Target::Addr(0x1009),
                conditional: true
            }
        );
        assert_eq!(v[4].flow, Flow::Ret);
        assert!(matches!(
            v[5].flow,
            Flow::Jump {
                target: Target::Mem { .. },
                ..
            }
        ));
        assert_eq!(v[5].refers_to, Some(0x1012 + 0x10));
        assert_eq!(v[6].flow, Flow::Other);
    }
}
