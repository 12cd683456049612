//! Relocations and subprogram linking: from the raw code of executable sections to one
//! self-contained [`Program`] per program function.
//!
//! Each relocation of a program section is first classified by its symbol ([`Target`]): a map
//! (its symbol in `maps`/`.maps`), global data (a data section, plus an offset), or code (a
//! function: a call, or `lddw` of a callback's address). Linking a program then copies its
//! function, and walks the copy: map and data references become `lddw map_idx[N]` /
//! `map_idx_value[N]+OFF`, and each called function (relocated call, or pc-relative call
//! inside a section) is appended the first time it is used, with the call's offset fixed to
//! its new place. Line info and CO-RE records follow every instruction to its new index.

use super::{ObjProgram, ObjectError, ProgKind, Section, SourceLine, Symbol};
use crate::btf::core::resolve_record;
use crate::btf::ext::BtfExt;
use crate::btf::Btf;
use crate::isa::{self, ld_src, op, RawInsn};
use crate::program::Program;
use goblin::elf::{sym as elfsym, Elf};
use std::collections::HashMap;

/// ELF relocation types for BPF.
const R_BPF_64_64: u32 = 1;
const R_BPF_64_ABS64: u32 = 2;
const R_BPF_64_ABS32: u32 = 3;
const R_BPF_64_NODYLD32: u32 = 4;
const R_BPF_64_32: u32 = 10;

/// Where the object's maps live, for relocations.
#[derive(Debug)]
pub(super) struct MapLocations<'a> {
    /// (section, offset, map index) of legacy and BTF-defined maps.
    pub by_symbol: &'a [(usize, u64, usize)],
    /// (section, map index) of global data.
    pub data: &'a [(usize, usize)],
}

/// What a relocated instruction refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Map(usize),
    Data {
        map: usize,
        off: u64,
    },
    /// `lddw` of a function's address.
    FuncAddr {
        sec: usize,
        insn: usize,
    },
    /// A call to a function.
    Call {
        sec: usize,
        insn: usize,
    },
}

/// A function of an executable section: slots `[start, end)`.
#[derive(Clone, Debug)]
struct Func {
    name: String,
    start: usize,
    end: usize,
}

/// The code of one executable section.
#[derive(Debug, Default)]
struct Code {
    slots: Vec<RawInsn>,
    funcs: Vec<Func>,
    relocs: HashMap<usize, Target>,
}

fn bad_section(sec: &Section, reason: String) -> ObjectError {
    ObjectError::BadSection {
        index: sec.index,
        name: sec.name.clone(),
        reason,
    }
}

/// Splits executable sections into functions.
fn read_code(
    sections: &[Section],
    symbols: &[Symbol],
) -> Result<HashMap<usize, Code>, ObjectError> {
    let mut codes = HashMap::new();
    for sec in sections.iter().filter(|s| s.exec) {
        let slots = isa::slots_from_bytes(&sec.data).ok_or_else(|| {
            bad_section(
                sec,
                format!("size {} is not a multiple of 8", sec.data.len()),
            )
        })?;
        let mut syms: Vec<&Symbol> = symbols
            .iter()
            .filter(|s| s.shndx == sec.index && s.typ == elfsym::STT_FUNC)
            .collect();
        syms.sort_by_key(|s| s.value);
        let mut funcs = Vec::new();
        for (i, s) in syms.iter().enumerate() {
            if s.value % 8 != 0 || s.size % 8 != 0 {
                return Err(bad_section(
                    sec,
                    format!("function `{}` is not aligned to instructions", s.name),
                ));
            }
            let start = (s.value / 8) as usize;
            let end = if s.size > 0 {
                start.saturating_add((s.size / 8) as usize)
            } else {
                syms.get(i + 1)
                    .map_or(slots.len(), |n| (n.value / 8) as usize)
            };
            if start >= end || end > slots.len() {
                return Err(bad_section(
                    sec,
                    format!(
                        "function `{}` [{start}, {end}) is outside the section's {} instructions",
                        s.name,
                        slots.len()
                    ),
                ));
            }
            funcs.push(Func {
                name: s.name.clone(),
                start,
                end,
            });
        }
        if funcs.is_empty() && sec.name != ".text" && !slots.is_empty() {
            funcs.push(Func {
                name: sec.name.clone(),
                start: 0,
                end: slots.len(),
            });
        }
        codes.insert(
            sec.index,
            Code {
                slots,
                funcs,
                relocs: HashMap::new(),
            },
        );
    }
    Ok(codes)
}

/// Reads every relocation section and records the targets of program relocations.
fn read_relocs(
    sections: &[Section],
    symbols: &[Symbol],
    elf: &Elf<'_>,
    maps: &MapLocations<'_>,
    codes: &mut HashMap<usize, Code>,
) -> Result<(), ObjectError> {
    for (rel_idx, relocs) in &elf.shdr_relocs {
        let Some(rsec) = sections.get(*rel_idx) else {
            continue;
        };
        let target_idx = rsec.info as usize;
        let target = sections.get(target_idx).ok_or_else(|| {
            bad_section(
                rsec,
                format!("relocates section {target_idx}, which does not exist"),
            )
        })?;
        let err = |offset: u64, reason: String| ObjectError::BadRelocation {
            section: rsec.name.clone(),
            offset,
            reason,
        };
        let Some(code) = codes.get_mut(&target_idx) else {
            let data_like = super::section::is_data_section(&target.name) || target.name == ".maps";
            if data_like {
                if let Some(r) = relocs.iter().next() {
                    return Err(err(
                        r.r_offset,
                        format!(
                            "relocations in `{}` (pointers in global data or map \
                             initialisers) are not supported",
                            target.name
                        ),
                    ));
                }
            }
            continue; // debug info, BTF: nothing to do
        };
        for r in relocs.iter() {
            let off = r.r_offset;
            let idx = (off / 8) as usize;
            if off % 8 != 0 || idx >= code.slots.len() {
                return Err(err(
                    off,
                    format!(
                        "offset is not an instruction of `{}` ({} instructions)",
                        target.name,
                        code.slots.len()
                    ),
                ));
            }
            let sym = symbols
                .get(r.r_sym)
                .ok_or_else(|| err(off, format!("unknown symbol index {}", r.r_sym)))?;
            let ins = code.slots[idx];
            let t = match r.r_type {
                R_BPF_64_64 => {
                    if ins.opcode != op::LDDW || idx + 1 >= code.slots.len() {
                        return Err(err(
                            off,
                            format!(
                                "R_BPF_64_64 against `{}` on a non-lddw instruction",
                                sym.name
                            ),
                        ));
                    }
                    if sym.shndx == 0 {
                        return Err(err(
                            off,
                            format!("extern symbol `{}` is not supported", sym.name),
                        ));
                    }
                    let addend = u64::from(ins.imm as u32);
                    let value = sym.value.wrapping_add(if sym.typ == elfsym::STT_SECTION {
                        addend
                    } else {
                        0
                    });
                    if let Some(&(_, _, m)) = maps
                        .by_symbol
                        .iter()
                        .find(|(s, o, _)| *s == sym.shndx && *o == value)
                    {
                        Target::Map(m)
                    } else if let Some(&(_, m)) = maps.data.iter().find(|(s, _)| *s == sym.shndx) {
                        Target::Data {
                            map: m,
                            off: sym.value.wrapping_add(addend),
                        }
                    } else if sections.get(sym.shndx).is_some_and(|s| s.exec) {
                        Target::FuncAddr {
                            sec: sym.shndx,
                            insn: (sym.value.wrapping_add(addend) / 8) as usize,
                        }
                    } else {
                        return Err(err(
                            off,
                            format!(
                                "symbol `{}` (section {}) is neither a map, global data nor code",
                                sym.name, sym.shndx
                            ),
                        ));
                    }
                }
                R_BPF_64_32 => {
                    if ins.opcode != op::CALL || ins.src != isa::call_src::LOCAL {
                        return Err(err(
                            off,
                            format!(
                                "R_BPF_64_32 against `{}` on a non-call instruction",
                                sym.name
                            ),
                        ));
                    }
                    if !sections.get(sym.shndx).is_some_and(|s| s.exec) {
                        return Err(err(
                            off,
                            format!("call target `{}` is not in an executable section", sym.name),
                        ));
                    }
                    let t = (sym.value / 8) as i64 + i64::from(ins.imm) + 1;
                    Target::Call {
                        sec: sym.shndx,
                        insn: usize::try_from(t)
                            .map_err(|_| err(off, format!("call target {t} is negative")))?,
                    }
                }
                R_BPF_64_ABS64 | R_BPF_64_ABS32 | R_BPF_64_NODYLD32 => {
                    return Err(err(
                        off,
                        format!("data relocation type {} in code", r.r_type),
                    ))
                }
                other => return Err(err(off, format!("unknown relocation type {other}"))),
            };
            code.relocs.insert(idx, t);
        }
    }
    Ok(())
}

/// Links every program of the object.
pub(super) fn link_all(
    sections: &[Section],
    symbols: &[Symbol],
    elf: &Elf<'_>,
    maps: &MapLocations<'_>,
    btf: Option<&Btf>,
    ext: Option<&BtfExt>,
) -> Result<Vec<ObjProgram>, ObjectError> {
    let mut codes = read_code(sections, symbols)?;
    read_relocs(sections, symbols, elf, maps, &mut codes)?;
    let mut order: Vec<usize> = codes.keys().copied().collect();
    order.sort_unstable();
    let mut programs = Vec::new();
    for sec_idx in order {
        let sec = &sections[sec_idx];
        if sec.name == ".text" {
            continue;
        }
        for f in &codes[&sec_idx].funcs {
            programs.push(link_one(sections, &codes, sec_idx, f, btf, ext)?);
        }
    }
    Ok(programs)
}

fn link_one(
    sections: &[Section],
    codes: &HashMap<usize, Code>,
    sec_idx: usize,
    main: &Func,
    btf: Option<&Btf>,
    ext: Option<&BtfExt>,
) -> Result<ObjProgram, ObjectError> {
    let section = sections[sec_idx].name.clone();
    let fail = |reason: String| ObjectError::Link {
        program: main.name.clone(),
        section: section.clone(),
        reason,
    };
    let mut out: Vec<RawInsn> = Vec::new();
    let mut origin: Vec<(usize, usize)> = Vec::new();
    let mut placed: HashMap<(usize, usize), usize> = HashMap::new();
    let append = |out: &mut Vec<RawInsn>,
                  origin: &mut Vec<(usize, usize)>,
                  placed: &mut HashMap<(usize, usize), usize>,
                  sec: usize,
                  f: &Func| {
        placed.insert((sec, f.start), out.len());
        out.extend_from_slice(&codes[&sec].slots[f.start..f.end]);
        origin.extend((f.start..f.end).map(|i| (sec, i)));
    };
    append(&mut out, &mut origin, &mut placed, sec_idx, main);

    let mut i = 0;
    while i < out.len() {
        let (sec, idx) = origin[i];
        let code = &codes[&sec];
        let ins = out[i];
        let is_lddw = ins.opcode == op::LDDW;
        if is_lddw && i + 1 >= out.len() {
            return Err(fail(format!("lddw at instruction {i} has no second slot")));
        }
        let target = match code.relocs.get(&idx) {
            Some(t) => Some(*t),
            None if ins.opcode == op::CALL && ins.src == isa::call_src::LOCAL => {
                let t = idx as i64 + i64::from(ins.imm) + 1;
                let t = usize::try_from(t)
                    .map_err(|_| fail(format!("call at instruction {i} targets {t}")))?;
                Some(Target::Call { sec, insn: t })
            }
            None => None,
        };
        match target {
            Some(Target::Map(m)) => {
                out[i].src = ld_src::MAP_IDX;
                out[i].imm = m as i32;
                out[i + 1].imm = 0;
            }
            Some(Target::Data { map, off }) => {
                let off = i32::try_from(off).map_err(|_| {
                    fail(format!("data offset {off} at instruction {i} is too large"))
                })?;
                out[i].src = ld_src::MAP_IDX_VALUE;
                out[i].imm = map as i32;
                out[i + 1].imm = off;
            }
            Some(Target::Call { sec: ts, insn: ti } | Target::FuncAddr { sec: ts, insn: ti }) => {
                let callee = codes
                    .get(&ts)
                    .and_then(|c| c.funcs.iter().find(|f| f.start == ti))
                    .ok_or_else(|| {
                        fail(format!(
                            "instruction {i} refers to `{}`+{ti}, which is not the start of a function",
                            sections.get(ts).map_or("?", |s| s.name.as_str())
                        ))
                    })?;
                let pos = match placed.get(&(ts, ti)) {
                    Some(&p) => p,
                    None => {
                        let p = out.len();
                        append(&mut out, &mut origin, &mut placed, ts, callee);
                        p
                    }
                };
                let rel = i32::try_from(pos as i64 - i as i64 - 1)
                    .map_err(|_| fail("program too large".into()))?;
                out[i].imm = rel;
                if is_lddw {
                    out[i].src = ld_src::FUNC;
                    out[i + 1].imm = 0;
                }
            }
            None => {}
        }
        i += if is_lddw { 2 } else { 1 };
    }

    let program = Program::from_slots(&out).map_err(|source| ObjectError::Program {
        program: main.name.clone(),
        source,
    })?;

    let mut lines = Vec::new();
    let mut core_relos = Vec::new();
    if let Some(ext) = ext {
        // Per section: instruction index -> line record / CO-RE records.
        let mut line_at: HashMap<(usize, usize), SourceLine> = HashMap::new();
        let mut core_at: HashMap<(usize, usize), Vec<&crate::btf::ext::CoreReloRecord>> =
            HashMap::new();
        for (sidx, code) in codes {
            let _ = code;
            let Some(se) = ext.section(&sections[*sidx].name) else {
                continue;
            };
            for l in &se.line_info {
                line_at.insert((*sidx, (l.insn_off / 8) as usize), l.into());
            }
            for c in &se.core_relos {
                core_at
                    .entry((*sidx, (c.insn_off / 8) as usize))
                    .or_default()
                    .push(c);
            }
        }
        for (i, o) in origin.iter().enumerate() {
            if let Some(l) = line_at.get(o) {
                lines.push((i, l.clone()));
            }
            for c in core_at.get(o).into_iter().flatten() {
                let btf = btf.ok_or_else(|| fail("CO-RE records without .BTF".into()))?;
                core_relos.push(
                    resolve_record(btf, i, c.type_id, &c.access, c.kind).map_err(|source| {
                        ObjectError::Core {
                            program: main.name.clone(),
                            source,
                        }
                    })?,
                );
            }
        }
    }

    Ok(ObjProgram {
        name: main.name.clone(),
        kind: ProgKind::from_section(&section),
        section,
        program,
        lines,
        core_relos,
    })
}
