//! Attach points: the text a user writes to say where a filter runs, parsed and resolved
//! against the guest's [`SymbolTable`].
//!
//! Accepted forms (see `design.md`):
//! `SYMBOL`, `SYMBOL+OFF` (hex `0x1f` or decimal `31`), `0xADDR`, `SYMBOL%return`,
//! `kprobe:SYMBOL[+OFF]`, `kretprobe:SYMBOL`, and globs (`tcp_*`, `ip_rcv?`, `[a-c]*`) that
//! attach to every matching function. Only code can be probed: functions and labels in
//! executable sections.

use crate::symbols::{Symbol, SymbolTable};

/// Why an attach spec could not be parsed or resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    /// Empty spec.
    #[error("empty attach point")]
    Empty,
    /// `foo:bar` with an unknown probe type.
    #[error("unknown probe type '{0}:' (expected kprobe:, kretprobe:, ksyscall:, kretsyscall:, tracepoint:, rawtracepoint:, fentry:, fexit:, profile: or interval:; `bpflab list` shows them all)")]
    UnknownProbeType(String),
    /// A probe type without what it needs (`tracepoint:` without `CATEGORY:NAME`).
    #[error("incomplete attach point: expected {0}")]
    Incomplete(String),
    /// No tracepoint or event of that name.
    #[error("unknown tracepoint '{name}'{}", did_you_mean(.suggestions))]
    UnknownTracepoint {
        /// What was asked for.
        name: String,
        /// Close names.
        suggestions: Vec<String>,
    },
    /// `profile:`/`interval:` with a bad rate.
    #[error("'{spec}': {why} (write profile:hz:99, profile:ms:10, interval:s:1)")]
    BadTimer {
        /// What was written.
        spec: String,
        /// What is wrong.
        why: String,
    },
    /// A syscall event whose system call this architecture lacks (its metadata is built in,
    /// its number is not: `sys_enter_sync_file_range2` on x86-64).
    #[error("'{0}': this kernel has no such system call on x86-64 (only the event's description is built in)")]
    NoSuchSyscall(String),
    /// fentry/fexit need the function's prototype.
    #[error("fentry/fexit on '{name}': {why}")]
    NoPrototype {
        /// The function.
        name: String,
        /// What is missing.
        why: String,
    },
    /// A program type that would change the guest.
    #[error("section '{section}': this program type changes what the kernel does (its return value or behaviour), and bpflab's filters only observe the guest; attach a kprobe, fentry or tracepoint program instead")]
    ChangesGuest {
        /// The section.
        section: String,
    },
    /// The offset or address is not a number.
    #[error("'{0}' is not a number (write hex as 0x1f or decimal as 31)")]
    BadNumber(String),
    /// `%return` or `kretprobe:` combined with an offset or an address.
    #[error("'{0}': a return probe takes a function name, not an offset or address")]
    ReturnWithOffset(String),
    /// A glob that does not compile.
    #[error("bad glob '{pattern}': {message}")]
    BadGlob {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// A glob combined with an offset.
    #[error("'{0}': a glob cannot take an offset")]
    GlobWithOffset(String),
    /// No symbol of that name.
    #[error("unknown symbol '{name}'{}", did_you_mean(.suggestions))]
    UnknownSymbol {
        /// The name asked for.
        name: String,
        /// Close names.
        suggestions: Vec<String>,
    },
    /// The glob matched no function.
    #[error("no function matches '{0}'")]
    NoMatch(String),
    /// The symbol names data, not code.
    #[error("'{0}' is a data symbol, not a function")]
    NotCode(String),
    /// The offset lies outside the function.
    #[error("offset {offset:#x} is beyond the end of {name} (size {size:#x})")]
    OffsetBeyondEnd {
        /// The symbol.
        name: String,
        /// The offset asked for.
        offset: u64,
        /// The function's size (or distance to the next symbol).
        size: u64,
    },
    /// The address is not inside any function.
    #[error("address {0:#x} is not inside any function")]
    AddressNotInCode(u64),
    /// The offset falls inside an instruction (kprobes refuse these too: a breakpoint there
    /// would never be reached).
    #[error(
        "{name}+{offset:#x} is not an instruction boundary: the nearest are {name}+{before:#x}{}",
        after.map(|a| format!(" and {name}+{a:#x}")).unwrap_or_default()
    )]
    NotInstructionBoundary {
        /// The symbol.
        name: String,
        /// The offset asked for.
        offset: u64,
        /// The start of the instruction the offset falls in.
        before: u64,
        /// The start of the next instruction, if it is still inside the function.
        after: Option<u64>,
    },
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}

/// A parsed attach spec, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachSpec {
    /// A named symbol, possibly with an offset, possibly a return probe.
    Symbol {
        /// Symbol (unique) name.
        name: String,
        /// Offset into it.
        offset: u64,
        /// Probe the return instead of the entry.
        is_return: bool,
    },
    /// An absolute address.
    Address(u64),
    /// Every function whose name matches.
    Glob {
        /// The glob.
        pattern: String,
        /// Probe the returns.
        is_return: bool,
    },
}

/// One place to attach, after resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedAttach {
    /// Address of the instruction to hook (for a return probe: the function's entry).
    pub addr: u64,
    /// Unique name of the symbol it is in.
    pub symbol: String,
    /// Offset from the symbol's start.
    pub offset: u64,
    /// Whether the filter runs at the function's return.
    pub is_return: bool,
}

fn parse_number(text: &str) -> Result<u64, AttachError> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| AttachError::BadNumber(text.to_string()))
}

fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

impl AttachSpec {
    /// Parses one attach spec.
    pub fn parse(spec: &str) -> Result<AttachSpec, AttachError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(AttachError::Empty);
        }
        let (mut body, mut is_return) = (spec, false);
        // `'file.c'::name` contains "::": not a probe type.
        if let Some((kind, rest)) = spec.split_once(':').filter(|_| !spec.starts_with('\'')) {
            match kind {
                "kprobe" | "p" => body = rest,
                "kretprobe" | "r" => (body, is_return) = (rest, true),
                _ => return Err(AttachError::UnknownProbeType(kind.to_string())),
            }
        }
        if let Some(rest) = body.strip_suffix("%return") {
            (body, is_return) = (rest, true);
        }
        if body.is_empty() {
            return Err(AttachError::Empty);
        }
        if body.starts_with("0x") || body.starts_with("0X") {
            if is_return {
                return Err(AttachError::ReturnWithOffset(spec.to_string()));
            }
            return Ok(AttachSpec::Address(parse_number(body)?));
        }
        let (name, offset) = match body.split_once('+') {
            Some((name, off)) => (name, Some(parse_number(off.trim())?)),
            None => (body, None),
        };
        if is_return && offset.is_some() {
            return Err(AttachError::ReturnWithOffset(spec.to_string()));
        }
        if is_glob(name) {
            if offset.is_some() {
                return Err(AttachError::GlobWithOffset(spec.to_string()));
            }
            glob::Pattern::new(name).map_err(|e| AttachError::BadGlob {
                pattern: name.to_string(),
                message: e.msg.to_string(),
            })?;
            return Ok(AttachSpec::Glob {
                pattern: name.to_string(),
                is_return,
            });
        }
        Ok(AttachSpec::Symbol {
            name: name.trim().to_string(),
            offset: offset.unwrap_or(0),
            is_return,
        })
    }

    /// Resolves against a symbol table to one or more places (globs give several).
    pub fn resolve(&self, symbols: &SymbolTable) -> Result<Vec<ResolvedAttach>, AttachError> {
        match self {
            AttachSpec::Symbol {
                name,
                offset,
                is_return,
            } => {
                let sym = symbols
                    .lookup(name)
                    .ok_or_else(|| AttachError::UnknownSymbol {
                        name: name.clone(),
                        suggestions: symbols
                            .suggest(name, 3)
                            .into_iter()
                            .map(str::to_string)
                            .collect(),
                    })?;
                if !sym.kind.is_text() {
                    return Err(AttachError::NotCode(sym.unique_name.clone()));
                }
                // A plain name covers every local copy of a function (a static inline emitted
                // out of line in several files, like Linux's dst_discard); `name@FILE` picks one.
                let copies: Vec<&Symbol> = if *name == sym.name {
                    symbols
                        .prefix(name)
                        .filter(|s| s.name == *name && s.kind.is_text() && !s.absolute)
                        .collect()
                } else {
                    vec![sym]
                };
                let mut out = Vec::with_capacity(copies.len());
                for s in copies {
                    check_offset(symbols, s, *offset)?;
                    out.push(ResolvedAttach {
                        addr: s.addr.wrapping_add(*offset),
                        symbol: s.unique_name.clone(),
                        offset: *offset,
                        is_return: *is_return,
                    });
                }
                out.sort_by_key(|r| r.addr);
                out.dedup_by_key(|r| r.addr);
                Ok(out)
            }
            AttachSpec::Address(addr) => match symbols.resolve(*addr) {
                Some((sym, offset)) if sym.kind.is_text() => Ok(vec![ResolvedAttach {
                    addr: *addr,
                    symbol: sym.unique_name.clone(),
                    offset,
                    is_return: false,
                }]),
                _ => Err(AttachError::AddressNotInCode(*addr)),
            },
            AttachSpec::Glob { pattern, is_return } => {
                let matches = symbols.glob(pattern).map_err(|e| AttachError::BadGlob {
                    pattern: pattern.clone(),
                    message: e.msg.to_string(),
                })?;
                let out: Vec<ResolvedAttach> = matches
                    .into_iter()
                    .filter(|s| s.kind.is_text())
                    .map(|s| ResolvedAttach {
                        addr: s.addr,
                        symbol: s.unique_name.clone(),
                        offset: 0,
                        is_return: *is_return,
                    })
                    .collect();
                if out.is_empty() {
                    return Err(AttachError::NoMatch(pattern.clone()));
                }
                Ok(out)
            }
        }
    }
}

/// Where an offset into a function's `code` (its bytes from the function's first instruction)
/// falls: `Ok` on an instruction boundary, else the instruction it falls in and the next one.
/// Decodes linearly from the start, as the kernel's kprobes do (`can_probe`).
pub fn check_boundary(name: &str, start: u64, code: &[u8], offset: u64) -> Result<(), AttachError> {
    use iced_x86::{Decoder, DecoderOptions};
    let mut decoder = Decoder::with_ip(64, code, start, DecoderOptions::NONE);
    let mut at = 0u64;
    while decoder.can_decode() && at < offset {
        let insn = decoder.decode();
        if insn.is_invalid() {
            // Not code we can decode (data in text, padding): nothing to say about boundaries.
            return Ok(());
        }
        let next = at + insn.len() as u64;
        if next > offset {
            return Err(AttachError::NotInstructionBoundary {
                name: name.to_string(),
                offset,
                before: at,
                after: ((next as usize) < code.len()).then_some(next),
            });
        }
        at = next;
    }
    Ok(())
}

/// Parses and resolves in one step.
pub fn resolve_attach(
    spec: &str,
    symbols: &SymbolTable,
) -> Result<Vec<ResolvedAttach>, AttachError> {
    AttachSpec::parse(spec)?.resolve(symbols)
}

/// An offset must stay inside the function: inside its size, or (size 0) before the next
/// symbol, which is what [`SymbolTable::resolve`] decides.
fn check_offset(symbols: &SymbolTable, sym: &Symbol, offset: u64) -> Result<(), AttachError> {
    if offset == 0 {
        return Ok(());
    }
    let beyond = || AttachError::OffsetBeyondEnd {
        name: sym.unique_name.clone(),
        offset,
        size: sym.size,
    };
    if sym.size > 0 {
        return if offset < sym.size {
            Ok(())
        } else {
            Err(beyond())
        };
    }
    let target = sym.addr.checked_add(offset).ok_or_else(beyond)?;
    match symbols.resolve(target) {
        Some((s, off)) if s.addr == sym.addr && off == offset => Ok(()),
        _ => Err(beyond()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_inside_an_instruction_is_refused_with_the_nearest_boundaries() {
        // push rbp (1); mov rbp, rsp (3); movabs rax, imm64 (10); ret (1)
        let code = [
            0x55, 0x48, 0x89, 0xe5, 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 0xc3,
        ];
        for ok in [0, 1, 4, 14] {
            assert!(check_boundary("f", 0x1000, &code, ok).is_ok(), "{ok}");
        }
        let e = check_boundary("ip_rcv", 0x1000, &code, 8).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ip_rcv+0x8 is not an instruction boundary: the nearest are ip_rcv+0x4 and ip_rcv+0xe"
        );
        assert!(matches!(
            check_boundary("f", 0x1000, &code, 2),
            Err(AttachError::NotInstructionBoundary {
                before: 1,
                after: Some(4),
                ..
            })
        ));
    }

    #[test]
    fn parses_every_form() {
        let sym = |name: &str, offset, is_return| AttachSpec::Symbol {
            name: name.into(),
            offset,
            is_return,
        };
        assert_eq!(
            AttachSpec::parse("ip_rcv").unwrap(),
            sym("ip_rcv", 0, false)
        );
        assert_eq!(
            AttachSpec::parse("ip_rcv+0x1f").unwrap(),
            sym("ip_rcv", 31, false)
        );
        assert_eq!(
            AttachSpec::parse("ip_rcv+31").unwrap(),
            sym("ip_rcv", 31, false)
        );
        assert_eq!(
            AttachSpec::parse("ip_rcv%return").unwrap(),
            sym("ip_rcv", 0, true)
        );
        assert_eq!(
            AttachSpec::parse("kprobe:ip_rcv+4").unwrap(),
            sym("ip_rcv", 4, false)
        );
        assert_eq!(
            AttachSpec::parse("kretprobe:ip_rcv").unwrap(),
            sym("ip_rcv", 0, true)
        );
        assert_eq!(
            AttachSpec::parse("'dev.c'::helper").unwrap(),
            sym("'dev.c'::helper", 0, false)
        );
        assert_eq!(
            AttachSpec::parse("0xffffffff81000000").unwrap(),
            AttachSpec::Address(0xffff_ffff_8100_0000)
        );
        assert_eq!(
            AttachSpec::parse("kretprobe:tcp_*").unwrap(),
            AttachSpec::Glob {
                pattern: "tcp_*".into(),
                is_return: true
            }
        );
    }

    #[test]
    fn rejects_bad_specs_with_a_reason() {
        use AttachError::*;
        assert_eq!(AttachSpec::parse("  "), Err(Empty));
        assert_eq!(AttachSpec::parse("kprobe:"), Err(Empty));
        assert!(matches!(AttachSpec::parse("uprobe:x"), Err(UnknownProbeType(k)) if k == "uprobe"));
        assert!(matches!(AttachSpec::parse("f+0xzz"), Err(BadNumber(_))));
        assert!(matches!(AttachSpec::parse("f+"), Err(BadNumber(_))));
        assert!(matches!(AttachSpec::parse("0xnothex"), Err(BadNumber(_))));
        assert!(matches!(
            AttachSpec::parse("kretprobe:f+4"),
            Err(ReturnWithOffset(_))
        ));
        assert!(matches!(
            AttachSpec::parse("f+4%return"),
            Err(ReturnWithOffset(_))
        ));
        assert!(matches!(
            AttachSpec::parse("tcp_*+4"),
            Err(GlobWithOffset(_))
        ));
        assert!(matches!(AttachSpec::parse("tcp_[a"), Err(BadGlob { .. })));
        let msg = UnknownSymbol {
            name: "ip_rvc".into(),
            suggestions: vec!["ip_rcv".into()],
        }
        .to_string();
        assert_eq!(msg, "unknown symbol 'ip_rvc'; did you mean ip_rcv?");
    }
}
