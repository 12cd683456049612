//! `.BTF.ext`: per-section records keyed by instruction byte offset: function info (which BTF
//! `FUNC` starts where), line info (file, line, column and the source text of an instruction)
//! and CO-RE relocations (an instruction whose constant depends on the target kernel's types).

use super::reader::Reader;
use super::{Btf, BtfError};

/// `func_info`: a function starts at `insn_off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncInfo {
    pub insn_off: u32,
    pub type_id: u32,
}

/// `line_info`: the instruction at `insn_off` comes from this source position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineInfo {
    pub insn_off: u32,
    pub file: String,
    pub text: String,
    pub line: u32,
    pub col: u32,
}

/// `bpf_core_relo`, as recorded by clang.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreReloRecord {
    pub insn_off: u32,
    pub type_id: u32,
    /// Access string, e.g. `0:1:2`.
    pub access: String,
    pub kind: u32,
}

/// The records of one program section.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SectionExt {
    pub func_info: Vec<FuncInfo>,
    pub line_info: Vec<LineInfo>,
    pub core_relos: Vec<CoreReloRecord>,
}

/// Parsed `.BTF.ext`, by section name.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BtfExt {
    pub sections: Vec<(String, SectionExt)>,
}

impl BtfExt {
    /// Parses `.BTF.ext`; strings are looked up in `btf`.
    pub fn parse(data: &[u8], btf: &Btf) -> Result<BtfExt, BtfError> {
        let mut r = Reader::new(data, "BTF.ext header");
        let magic = r.u16()?;
        if magic != super::BTF_MAGIC {
            return Err(BtfError::BadMagic(magic));
        }
        let version = r.u8()?;
        if version != 1 {
            return Err(BtfError::BadVersion(version));
        }
        let _flags = r.u8()?;
        let hdr_len = r.u32()?;
        let mut words = [0u32; 6];
        for (i, w) in words.iter_mut().enumerate() {
            // func_info, line_info, then core_relo (only in headers of 32 bytes or more).
            if 8 + 4 * (i as u32 + 1) <= hdr_len {
                *w = r.u32()?;
            }
        }
        let mut ext = BtfExt::default();
        let sub = |what: &'static str, off: u32, len: u32| -> Result<&[u8], BtfError> {
            let start = u64::from(hdr_len) + u64::from(off);
            let end = start + u64::from(len);
            if len == 0 {
                return Ok(&[]);
            }
            if end > data.len() as u64 {
                return Err(BtfError::OutOfBounds {
                    what,
                    start,
                    len: len.into(),
                    total: data.len(),
                });
            }
            Ok(&data[start as usize..end as usize])
        };
        for (kind, what) in [(0, "func_info"), (1, "line_info"), (2, "core_relo")] {
            let d = sub(what, words[2 * kind], words[2 * kind + 1])?;
            if d.is_empty() {
                continue;
            }
            let mut r = Reader::new(d, what);
            let rec_size = r.u32()? as usize;
            let min = [8, 16, 16][kind];
            if rec_size < min {
                return Err(BtfError::Other(format!(
                    "{what}: record size {rec_size} is smaller than {min}"
                )));
            }
            while !r.is_empty() {
                let sec = btf.string(r.u32()?)?.to_owned();
                let n = r.u32()?;
                let idx = match ext.sections.iter().position(|(s, _)| *s == sec) {
                    Some(i) => i,
                    None => {
                        ext.sections.push((sec, SectionExt::default()));
                        ext.sections.len() - 1
                    }
                };
                for _ in 0..n {
                    let rec = r.bytes(rec_size)?;
                    let mut rr = Reader::new(rec, what);
                    let s = &mut ext.sections[idx].1;
                    match kind {
                        0 => s.func_info.push(FuncInfo {
                            insn_off: rr.u32()?,
                            type_id: rr.u32()?,
                        }),
                        1 => {
                            let insn_off = rr.u32()?;
                            let file = btf.string(rr.u32()?)?.to_owned();
                            let text = btf.string(rr.u32()?)?.to_owned();
                            let lc = rr.u32()?;
                            s.line_info.push(LineInfo {
                                insn_off,
                                file,
                                text,
                                line: lc >> 10,
                                col: lc & 0x3ff,
                            });
                        }
                        _ => s.core_relos.push(CoreReloRecord {
                            insn_off: rr.u32()?,
                            type_id: rr.u32()?,
                            access: btf.string(rr.u32()?)?.to_owned(),
                            kind: rr.u32()?,
                        }),
                    }
                }
            }
        }
        Ok(ext)
    }

    /// The records of section `name`.
    pub fn section(&self, name: &str) -> Option<&SectionExt> {
        self.sections
            .iter()
            .find(|(s, _)| s == name)
            .map(|(_, e)| e)
    }
}
