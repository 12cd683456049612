//! Shared ELF plumbing: parse the headers once with goblin, check that the image is a
//! little-endian ELF64, and hand out section contents by name with bounds checked.
//!
//! Symbols, types and lines all start here, so a truncated or garbage image fails the same
//! way everywhere: with an [`ElfError`] that names what was wrong.

use goblin::elf::Elf;

/// Why an image could not be read as an ELF file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ElfError {
    /// goblin could not parse the headers.
    #[error("not a readable ELF image: {0}")]
    Parse(String),
    /// The image is ELF but not 64-bit little-endian.
    #[error("not a 64-bit little-endian ELF image")]
    NotElf64Le,
    /// A section's header points outside the file.
    #[error("section {name} lies outside the file (offset {offset:#x}, size {size:#x}, file {file_len:#x})")]
    SectionOutOfBounds {
        /// Section name.
        name: String,
        /// File offset from the section header.
        offset: u64,
        /// Size from the section header.
        size: u64,
        /// Length of the image.
        file_len: usize,
    },
}

/// Parses `bytes` as a 64-bit little-endian ELF image.
pub(crate) fn parse(bytes: &[u8]) -> Result<Elf<'_>, ElfError> {
    let elf = Elf::parse(bytes).map_err(|e| ElfError::Parse(e.to_string()))?;
    if !elf.is_64 || !elf.little_endian {
        return Err(ElfError::NotElf64Le);
    }
    Ok(elf)
}

/// The contents of the section called `name`, `Ok(None)` if there is none (or it has no
/// file contents, like `.bss`).
pub(crate) fn section<'a>(
    elf: &Elf<'_>,
    bytes: &'a [u8],
    name: &str,
) -> Result<Option<&'a [u8]>, ElfError> {
    for sh in &elf.section_headers {
        if elf.shdr_strtab.get_at(sh.sh_name) != Some(name) {
            continue;
        }
        if sh.sh_type == goblin::elf::section_header::SHT_NOBITS {
            return Ok(None);
        }
        let out_of_bounds = || ElfError::SectionOutOfBounds {
            name: name.to_string(),
            offset: sh.sh_offset,
            size: sh.sh_size,
            file_len: bytes.len(),
        };
        let start = usize::try_from(sh.sh_offset).map_err(|_| out_of_bounds())?;
        let len = usize::try_from(sh.sh_size).map_err(|_| out_of_bounds())?;
        let end = start.checked_add(len).ok_or_else(out_of_bounds)?;
        return bytes.get(start..end).map(Some).ok_or_else(out_of_bounds);
    }
    Ok(None)
}

/// Loads every DWARF section gimli asks for; missing sections are empty.
pub(crate) fn load_dwarf<'a>(
    elf: &Elf<'_>,
    bytes: &'a [u8],
) -> Result<gimli::Dwarf<gimli::EndianSlice<'a, gimli::LittleEndian>>, ElfError> {
    gimli::Dwarf::load(|id: gimli::SectionId| {
        let data = section(elf, bytes, id.name())?.unwrap_or(&[]);
        Ok::<_, ElfError>(gimli::EndianSlice::new(data, gimli::LittleEndian))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(b"not an elf at all").is_err());
        assert!(parse(&[]).is_err());
        let mut header = vec![0x7f, b'E', b'L', b'F', 2, 1, 1];
        header.resize(20, 0);
        assert!(parse(&header).is_err());
    }
}
