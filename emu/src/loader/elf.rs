//! ELF64 x86-64 kernel images: PT_LOAD segments placed at their physical addresses.

use super::LoadError;
use crate::memory::Ram;
use goblin::elf::{header, program_header::PT_LOAD, Elf};
use std::sync::Arc;

/// One loadable segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Program header index.
    pub index: usize,
    /// Physical load address.
    pub paddr: u64,
    /// Virtual address.
    pub vaddr: u64,
    /// File offset.
    pub offset: u64,
    /// Bytes from the file.
    pub filesz: u64,
    /// Bytes in memory (the rest is zeroed).
    pub memsz: u64,
}

/// A validated ELF64 x86-64 image.
#[derive(Debug, Clone)]
pub struct ElfImage {
    /// Name used in messages.
    pub name: String,
    /// The whole file (symbols, DWARF: parsed by other crates). Shared, never copied: a
    /// vmlinux is 70 MB, and a caller that keeps the bytes (for symbols) after booting gets
    /// them back with `Arc::try_unwrap` once the machine has dropped its image.
    pub bytes: Arc<Vec<u8>>,
    /// e_entry (virtual).
    pub entry: u64,
    /// PT_LOAD segments.
    pub segments: Vec<Segment>,
    /// The image carries a "Linux" ELF note (a vmlinux): it is entered with the Linux 64-bit
    /// boot protocol ([`super::linux`]).
    pub is_linux: bool,
}

impl ElfImage {
    /// Parse and validate everything that does not depend on the machine.
    pub fn parse(name: &str, bytes: impl Into<Arc<Vec<u8>>>) -> Result<Self, LoadError> {
        let bytes: Arc<Vec<u8>> = bytes.into();
        let image = name.to_string();
        if bytes.len() < 4 || &bytes[0..4] != b"\x7fELF" {
            return Err(LoadError::NotElf {
                image,
                detail: "bad magic".into(),
            });
        }
        if bytes.len() > 5 && (bytes[4] != header::ELFCLASS64 || bytes[5] != header::ELFDATA2LSB) {
            let class = match bytes[4] {
                header::ELFCLASS32 => "ELF32".to_string(),
                header::ELFCLASS64 => "ELF64 big-endian".to_string(),
                c => format!("{c}"),
            };
            return Err(LoadError::WrongClass { image, class });
        }
        let elf = Elf::parse(&bytes).map_err(|e| LoadError::NotElf {
            image: image.clone(),
            detail: e.to_string(),
        })?;
        if elf.header.e_machine != header::EM_X86_64 {
            return Err(LoadError::WrongMachine {
                image,
                machine: elf.header.e_machine,
            });
        }
        let file_len = bytes.len() as u64;
        let mut segments = Vec::new();
        for (index, ph) in elf.program_headers.iter().enumerate() {
            if ph.p_type != PT_LOAD || ph.p_memsz == 0 {
                continue;
            }
            if ph
                .p_offset
                .checked_add(ph.p_filesz)
                .is_none_or(|end| end > file_len)
                || ph.p_filesz > ph.p_memsz
            {
                return Err(LoadError::TruncatedSegment {
                    image,
                    index,
                    offset: ph.p_offset,
                    filesz: ph.p_filesz,
                    file_len,
                });
            }
            segments.push(Segment {
                index,
                paddr: ph.p_paddr,
                vaddr: ph.p_vaddr,
                offset: ph.p_offset,
                filesz: ph.p_filesz,
                memsz: ph.p_memsz,
            });
        }
        if segments.is_empty() {
            return Err(LoadError::NoSegments { image });
        }
        for (i, a) in segments.iter().enumerate() {
            for b in &segments[i + 1..] {
                let (a_end, b_end) = (
                    a.paddr.saturating_add(a.memsz),
                    b.paddr.saturating_add(b.memsz),
                );
                if a.paddr < b_end && b.paddr < a_end {
                    return Err(LoadError::OverlappingSegments {
                        image,
                        a: a.index,
                        b: b.index,
                        a_start: a.paddr,
                        a_end,
                        b_start: b.paddr,
                        b_end,
                    });
                }
            }
        }
        let entry = elf.header.e_entry;
        let is_linux = elf
            .iter_note_headers(&bytes)
            .into_iter()
            .flatten()
            // goblin's note iterator repeats an error forever: stop at the first one.
            .map_while(Result::ok)
            .any(|n| n.name == "Linux");
        Ok(Self {
            name: image,
            bytes,
            entry,
            segments,
            is_linux,
        })
    }

    /// Copy the segments into RAM (zero-filling the BSS part), checking they fit and avoid
    /// the loader's boot area `[reserved.0, reserved.1)`.
    pub fn load(&self, ram: &Ram, reserved: (u64, u64)) -> Result<(), LoadError> {
        let ram_len = ram.len() as u64;
        for s in &self.segments {
            let end = s.paddr.saturating_add(s.memsz);
            if end > ram_len {
                return Err(LoadError::SegmentOutsideRam {
                    image: self.name.clone(),
                    index: s.index,
                    paddr: s.paddr,
                    end,
                    ram: ram_len,
                });
            }
            if s.paddr < reserved.1 && reserved.0 < end {
                return Err(LoadError::SegmentInBootArea {
                    image: self.name.clone(),
                    index: s.index,
                    paddr: s.paddr,
                    end,
                    area_start: reserved.0,
                    area_end: reserved.1,
                });
            }
        }
        for s in &self.segments {
            let file = &self.bytes[s.offset as usize..(s.offset + s.filesz) as usize];
            ram.write(s.paddr, file);
            let zeros = [0u8; 4096];
            let (mut pa, end) = (s.paddr + s.filesz, s.paddr + s.memsz);
            while pa < end {
                let n = (end - pa).min(zeros.len() as u64);
                ram.write(pa, &zeros[..n as usize]);
                pa += n;
            }
        }
        Ok(())
    }
}
