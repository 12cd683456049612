//! The ELF object loader: `clang -O2 -g -target bpf -c` output -> programs, maps, BTF.
//!
//! [`Object::parse`] reads the ELF (goblin), then:
//! - **maps**: the legacy `maps` section, BTF-defined `.maps`, and one single-entry array per
//!   global data section (`.rodata*`, `.data*`, `.bss*`) holding the section's initial bytes, in
//!   that order: the object's map table ([`Object::maps`]);
//! - **programs**: every function (FUNC symbol) of every executable section other than
//!   `.text` is a program; `.text` holds subprograms;
//! - **relocations** ([`link`]): `R_BPF_64_64` on `lddw` of a map becomes `lddw map_idx[N]`, of
//!   global data `lddw map_idx_value[N]+OFF`, of a function `lddw func[REL]`; `R_BPF_64_32`
//!   on calls (and unrelocated pc-relative calls) pull the callee into the program: every
//!   subprogram a program uses is appended once and its calls are fixed up;
//! - **BTF**: `.BTF` and `.BTF.ext`: line info ([`Object::line_of`]) and CO-RE relocation
//!   records per program ([`ObjProgram::core_relos`], applied with [`crate::btf::core::apply`]).
//!
//! Every malformed input gives an [`ObjectError`] naming the section, symbol or offset.
//!
//! ```no_run
//! let bytes = std::fs::read("filter.bpf.o").unwrap();
//! let obj = jit::object::Object::parse(&bytes).unwrap();
//! let prog = obj.program("kprobe/dst_discard").unwrap();
//! println!("{} ({} insns), maps {:?}", prog.name, prog.program.len(), obj.maps);
//! ```

mod link;
mod maps;
pub mod section;

use crate::btf::core::{CoreError, CoreRelo};
use crate::btf::ext::{BtfExt, LineInfo};
use crate::btf::{Btf, BtfError};
use crate::maps::MapDef;
use crate::program::{Program, ProgramError};
use goblin::elf::{header, section_header as sh, sym as elfsym, Elf};
pub use section::ProgKind;
use thiserror::Error;

/// `e_machine` of BPF objects.
pub const EM_BPF: u16 = 247;

/// Why an object could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ObjectError {
    #[error("not a valid ELF file: {0}")]
    Elf(String),
    #[error("not a 64-bit little-endian ELF")]
    NotElf64Le,
    #[error("wrong machine {0} (expected EM_BPF = 247)")]
    WrongMachine(u16),
    #[error("ELF type {0} is not a relocatable object (ET_REL)")]
    NotRelocatable(u16),
    #[error("section {index} (`{name}`): {reason}")]
    BadSection {
        index: usize,
        name: String,
        reason: String,
    },
    #[error("section `{section}`: {source}")]
    Btf {
        section: &'static str,
        #[source]
        source: BtfError,
    },
    #[error("map `{map}`: unknown or unsupported map type {ty}")]
    UnknownMapType { map: String, ty: u32 },
    #[error("map `{map}`: {reason}")]
    BadMapDef { map: String, reason: String },
    #[error("relocation section `{section}`, offset {offset:#x}: {reason}")]
    BadRelocation {
        section: String,
        offset: u64,
        reason: String,
    },
    #[error("program `{program}` (section `{section}`): {reason}")]
    Link {
        program: String,
        section: String,
        reason: String,
    },
    #[error("program `{program}`: {source}")]
    Program {
        program: String,
        #[source]
        source: ProgramError,
    },
    #[error("program `{program}`: {source}")]
    Core {
        program: String,
        #[source]
        source: CoreError,
    },
}

/// A map of the object's map table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjMap {
    pub def: MapDef,
    /// Initial contents of global data (`None`: zeroes).
    pub init: Option<Vec<u8>>,
    /// `.rodata`: programs may not write it.
    pub read_only: bool,
    /// The BTF types of `__type(key, T)` and `__type(value, T)`, when the map says.
    pub key_type: Option<u32>,
    pub value_type: Option<u32>,
}

impl ObjMap {
    fn new(def: MapDef) -> Self {
        ObjMap {
            def,
            init: None,
            read_only: false,
            key_type: None,
            value_type: None,
        }
    }
}

/// A source position of an instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLine {
    pub file: String,
    pub line: u32,
    pub col: u32,
    /// The source line's text, as clang recorded it.
    pub text: String,
}

/// A program of the object, linked with its subprograms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjProgram {
    /// The function's name.
    pub name: String,
    pub section: String,
    pub kind: ProgKind,
    /// Map references are `lddw map_idx[N]` / `map_idx_value[N]+OFF` into [`Object::maps`].
    pub program: Program,
    /// Line info by instruction index, sorted.
    pub lines: Vec<(usize, SourceLine)>,
    /// CO-RE relocation records, by instruction index of `program`.
    pub core_relos: Vec<CoreRelo>,
}

impl ObjProgram {
    /// The source position of instruction `insn` (the nearest line record at or before it).
    pub fn line_of(&self, insn: usize) -> Option<&SourceLine> {
        let i = self.lines.partition_point(|(at, _)| *at <= insn);
        i.checked_sub(1).map(|i| &self.lines[i].1)
    }
}

/// A parsed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub programs: Vec<ObjProgram>,
    pub maps: Vec<ObjMap>,
    pub license: Option<String>,
    pub btf: Option<Btf>,
    pub btf_ext: Option<BtfExt>,
    /// Global variables of the data sections, where their symbols put them (the object's
    /// BTF `DATASEC` offsets are left for the loader to fill in, as libbpf does from these).
    pub globals: Vec<GlobalVar>,
}

/// A global variable: its data section (the name of its map) and place in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalVar {
    pub name: String,
    pub section: String,
    pub offset: u64,
    pub size: u64,
}

/// A section as the loader uses it.
#[derive(Debug)]
pub(crate) struct Section {
    pub index: usize,
    pub name: String,
    pub size: u64,
    pub data: Vec<u8>,
    pub nobits: bool,
    pub exec: bool,
    pub info: u32,
}

/// A symbol as the loader uses it.
#[derive(Debug, Clone)]
pub(crate) struct Symbol {
    pub name: String,
    pub shndx: usize,
    pub value: u64,
    pub size: u64,
    pub typ: u8,
}

/// Largest section (and so global-data map) accepted.
const MAX_SECTION: u64 = crate::maps::MAX_MAP_BYTES;

fn read_sections(bytes: &[u8], elf: &Elf<'_>) -> Result<Vec<Section>, ObjectError> {
    let mut out = Vec::with_capacity(elf.section_headers.len());
    for (index, h) in elf.section_headers.iter().enumerate() {
        let name = elf
            .shdr_strtab
            .get_at(h.sh_name)
            .ok_or_else(|| ObjectError::BadSection {
                index,
                name: String::new(),
                reason: format!("name offset {} is outside the string table", h.sh_name),
            })?
            .to_owned();
        let bad = |reason: String| ObjectError::BadSection {
            index,
            name: name.clone(),
            reason,
        };
        let nobits = h.sh_type == sh::SHT_NOBITS;
        let data = if nobits || h.sh_type == sh::SHT_NULL {
            Vec::new()
        } else {
            let end = h
                .sh_offset
                .checked_add(h.sh_size)
                .filter(|&e| e <= bytes.len() as u64)
                .ok_or_else(|| {
                    bad(format!(
                        "data [{:#x}, +{:#x}) runs past the end of the file ({:#x} bytes)",
                        h.sh_offset,
                        h.sh_size,
                        bytes.len()
                    ))
                })?;
            bytes[h.sh_offset as usize..end as usize].to_vec()
        };
        if nobits && h.sh_size > MAX_SECTION {
            return Err(bad(format!("size {:#x} is too large", h.sh_size)));
        }
        out.push(Section {
            index,
            name,
            size: h.sh_size,
            data,
            nobits,
            exec: h.sh_type == sh::SHT_PROGBITS && h.sh_flags & u64::from(sh::SHF_EXECINSTR) != 0,
            info: h.sh_info,
        });
    }
    Ok(out)
}

fn read_symbols(elf: &Elf<'_>) -> Result<Vec<Symbol>, ObjectError> {
    elf.syms
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let name = elf.strtab.get_at(s.st_name).ok_or_else(|| {
                ObjectError::Elf(format!("symbol {i}: name offset {} is invalid", s.st_name))
            })?;
            Ok(Symbol {
                name: name.to_owned(),
                shndx: s.st_shndx,
                value: s.st_value,
                size: s.st_size,
                typ: s.st_type(),
            })
        })
        .collect()
}

impl Object {
    /// Parses an object file.
    pub fn parse(bytes: &[u8]) -> Result<Object, ObjectError> {
        let elf = Elf::parse(bytes).map_err(|e| ObjectError::Elf(e.to_string()))?;
        if !elf.is_64 || !elf.little_endian {
            return Err(ObjectError::NotElf64Le);
        }
        if elf.header.e_machine != EM_BPF {
            return Err(ObjectError::WrongMachine(elf.header.e_machine));
        }
        if elf.header.e_type != header::ET_REL {
            return Err(ObjectError::NotRelocatable(elf.header.e_type));
        }
        let sections = read_sections(bytes, &elf)?;
        let symbols = read_symbols(&elf)?;
        let by_name = |n: &str| sections.iter().find(|s| s.name == n);

        let btf = by_name(".BTF")
            .map(|s| Btf::parse(&s.data))
            .transpose()
            .map_err(|source| ObjectError::Btf {
                section: ".BTF",
                source,
            })?;
        let btf_ext = match (by_name(".BTF.ext"), &btf) {
            (Some(s), Some(b)) => {
                Some(
                    BtfExt::parse(&s.data, b).map_err(|source| ObjectError::Btf {
                        section: ".BTF.ext",
                        source,
                    })?,
                )
            }
            _ => None,
        };
        let license = by_name("license").map(|s| {
            let end = s.data.iter().position(|&b| b == 0).unwrap_or(s.data.len());
            String::from_utf8_lossy(&s.data[..end]).into_owned()
        });

        // The map table: legacy maps, BTF maps, global data; and where each one's symbol is.
        let mut maps: Vec<ObjMap> = Vec::new();
        let mut map_at: Vec<(usize, u64, usize)> = Vec::new(); // (section, offset, map index)
        let syms_in = |sec: usize| {
            let mut v: Vec<&Symbol> = symbols
                .iter()
                .filter(|s| s.shndx == sec && s.typ != elfsym::STT_SECTION && !s.name.is_empty())
                .collect();
            v.sort_by_key(|s| s.value);
            v
        };
        if let Some(sec) = by_name("maps") {
            for (off, m) in maps::legacy(sec, &syms_in(sec.index))? {
                map_at.push((sec.index, off, maps.len()));
                maps.push(m);
            }
        }
        if let Some(sec) = by_name(".maps") {
            for (off, m) in maps::btf_defined(btf.as_ref(), &syms_in(sec.index))? {
                map_at.push((sec.index, off, maps.len()));
                maps.push(m);
            }
        }
        let mut data_map: Vec<(usize, usize)> = Vec::new(); // (section, map index)
        let mut globals = Vec::new();
        for sec in &sections {
            if section::is_data_section(&sec.name) && sec.size > 0 && !sec.exec {
                if sec.size > MAX_SECTION {
                    return Err(ObjectError::BadSection {
                        index: sec.index,
                        name: sec.name.clone(),
                        reason: format!("size {:#x} is too large", sec.size),
                    });
                }
                data_map.push((sec.index, maps.len()));
                maps.push(maps::global_data(sec));
                globals.extend(
                    syms_in(sec.index)
                        .into_iter()
                        // Function-static variables (`f.____fmt`) are not the program's
                        // globals: C names have no '.'.
                        .filter(|s| s.typ == elfsym::STT_OBJECT && !s.name.contains('.'))
                        .map(|s| GlobalVar {
                            name: s.name.clone(),
                            section: sec.name.clone(),
                            offset: s.value,
                            size: s.size,
                        }),
                );
            }
        }

        let programs = link::link_all(
            &sections,
            &symbols,
            &elf,
            &link::MapLocations {
                by_symbol: &map_at,
                data: &data_map,
            },
            btf.as_ref(),
            btf_ext.as_ref(),
        )?;
        Ok(Object {
            programs,
            maps,
            license,
            btf,
            btf_ext,
            globals,
        })
    }

    /// The program called `name`, or the first program of section `name`.
    pub fn program(&self, name_or_section: &str) -> Option<&ObjProgram> {
        self.programs
            .iter()
            .find(|p| p.name == name_or_section)
            .or_else(|| self.programs.iter().find(|p| p.section == name_or_section))
    }

    /// The source line of instruction `insn` of program `prog` (name or section).
    pub fn line_of(&self, prog: &str, insn: usize) -> Option<SourceLine> {
        self.program(prog)?.line_of(insn).cloned()
    }

    /// The index of the map called `name` in [`Object::maps`].
    pub fn map_index(&self, name: &str) -> Option<usize> {
        self.maps.iter().position(|m| m.def.name == name)
    }
}

impl From<&LineInfo> for SourceLine {
    fn from(l: &LineInfo) -> Self {
        SourceLine {
            file: l.file.clone(),
            line: l.line,
            col: l.col,
            text: l.text.clone(),
        }
    }
}
