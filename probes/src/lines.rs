//! Source lines: address -> `file:line`, with the chain of inlined functions, and the
//! line listing of a function; addr2line over gimli.
//!
//! addr2line parses each unit's line program and function ranges on first use, so building
//! a [`LineTable`] only reads the section headers and `.debug_aranges`.

use std::fmt;
use std::ops::Range;

use crate::elf::{self, ElfError};
use crate::symbols::SymbolTable;
use crate::types::Reader;

/// Why a line question could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The image is not a readable ELF64 file.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// No `.debug_line`/`.debug_info`.
    #[error("the image has no line information (.debug_line): build it with -g")]
    NoLineInfo,
    /// Malformed DWARF.
    #[error("malformed DWARF: {0}")]
    Dwarf(#[from] gimli::Error),
    /// `lines_of` for a name the symbol table does not have.
    #[error("unknown function '{0}'")]
    UnknownFunction(String),
}

/// A place in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    /// File path as recorded by the compiler (directory joined).
    pub file: String,
    /// 1-based line, if known.
    pub line: Option<u32>,
    /// 1-based column, if known.
    pub column: Option<u32>,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        Ok(())
    }
}

/// One frame of the inline chain at an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineFrame {
    /// The function (inlined, or the out-of-line one for the outermost frame).
    pub function: Option<String>,
    /// Where in that function the address is (for inlined frames: the inlined code's line;
    /// for callers: the call site).
    pub location: Option<SourceLocation>,
}

/// One row of a line listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRow {
    /// First address of the row.
    pub addr: u64,
    /// Bytes covered.
    pub len: u64,
    /// Its source location.
    pub location: SourceLocation,
}

/// Line tables and inline information of one image.
pub struct LineTable<'data> {
    ctx: addr2line::Context<Reader<'data>>,
}

impl fmt::Debug for LineTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineTable").finish_non_exhaustive()
    }
}

fn location(loc: addr2line::Location<'_>) -> Option<SourceLocation> {
    Some(SourceLocation {
        file: loc.file?.to_string(),
        line: loc.line,
        column: loc.column,
    })
}

impl<'data> LineTable<'data> {
    /// Reads the DWARF sections of an ELF64 image.
    pub fn from_elf(bytes: &'data [u8]) -> Result<LineTable<'data>, LineError> {
        let elf = elf::parse(bytes)?;
        if elf::section(&elf, bytes, ".debug_line")?.is_none_or(<[u8]>::is_empty) {
            return Err(LineError::NoLineInfo);
        }
        let dwarf = elf::load_dwarf(&elf, bytes)?;
        Ok(LineTable {
            ctx: addr2line::Context::from_dwarf(dwarf)?,
        })
    }

    /// `file:line` of the innermost code at `addr`.
    pub fn location(&self, addr: u64) -> Result<Option<SourceLocation>, LineError> {
        // addr2line 0.24 adds to the address internally (overflow at the very top).
        if addr > u64::MAX - 0x1000 {
            return Ok(None);
        }
        Ok(self.ctx.find_location(addr)?.and_then(location))
    }

    /// The inline chain at `addr`, innermost first: the inlined function and its line, then
    /// each caller with its call site, ending with the out-of-line function.
    pub fn frames(&self, addr: u64) -> Result<Vec<InlineFrame>, LineError> {
        if addr > u64::MAX - 0x1000 {
            return Ok(Vec::new());
        }
        let mut frames = self.ctx.find_frames(addr).skip_all_loads()?;
        let mut out = Vec::new();
        while let Some(frame) = frames.next()? {
            let function = match frame.function {
                Some(name) => Some(name.demangle()?.into_owned()),
                None => None,
            };
            out.push(InlineFrame {
                function,
                location: frame.location.and_then(location),
            });
        }
        Ok(out)
    }

    /// Line rows covering `range`, in address order.
    pub fn lines_in(&self, range: Range<u64>) -> Result<Vec<LineRow>, LineError> {
        let range = range.start.min(u64::MAX - 0x1000)..range.end.min(u64::MAX - 0x1000);
        let mut rows = Vec::new();
        for (addr, len, loc) in self.ctx.find_location_range(range.start, range.end)? {
            if let Some(location) = location(loc) {
                rows.push(LineRow {
                    addr,
                    len,
                    location,
                });
            }
        }
        Ok(rows)
    }

    /// The line listing of a function, its range taken from the symbol table.
    pub fn lines_of(
        &self,
        symbols: &SymbolTable,
        function: &str,
    ) -> Result<Vec<LineRow>, LineError> {
        let sym = symbols
            .lookup(function)
            .filter(|s| s.kind.is_text())
            .ok_or_else(|| LineError::UnknownFunction(function.to_string()))?;
        self.lines_in(symbols.extent(sym))
    }
}
