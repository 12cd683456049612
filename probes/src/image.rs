//! A guest kernel image as the probes see it: symbols, DWARF types, source lines, and what
//! follows from them (the current-task layout for helpers, stack symbolisation, CO-RE answers,
//! `vmlinux.h`).
//!
//! The image's bytes live as long as the process (they are leaked once), so the lazily built
//! indexes may borrow from them.

use crate::guest::TaskLayout;
use crate::lines::LineTable;
use crate::symbols::SymbolTable;
use crate::types::{TypeDb, TypeError};
use jit::btf::core::{AccessStep, CoreAnswer, CoreKind, CoreQuery};
use std::cell::OnceCell;
use thiserror::Error;

/// Why an image could not be read.
#[derive(Debug, Error)]
pub enum ImageError {
    #[error("{0}")]
    Symbols(#[from] crate::symbols::SymbolError),
    #[error("{0}")]
    Types(#[from] TypeError),
}

/// One guest kernel image.
pub struct GuestImage {
    name: String,
    bytes: &'static [u8],
    symbols: SymbolTable,
    types: Option<TypeDb<'static>>,
    lines: OnceCell<Option<LineTable<'static>>>,
    unwinder: OnceCell<crate::unwind::Unwinder>,
    catalog: OnceCell<crate::tracepoints::Catalog>,
    sites: OnceCell<std::collections::BTreeMap<String, Vec<crate::tracepoints::Site>>>,
    /// Allocated sections: (address, size, file offset or `None` for `.bss`-like ones).
    sections: Vec<(u64, u64, Option<u64>)>,
    /// Executable `PROGBITS` sections: (address, size, file offset).
    text: Vec<(u64, u64, u64)>,
}

impl std::fmt::Debug for GuestImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestImage")
            .field("name", &self.name)
            .field("symbols", &self.symbols.len())
            .field("types", &self.types.is_some())
            .finish()
    }
}

impl GuestImage {
    /// Reads symbols now and prepares types and lines lazily. An image without DWARF still
    /// has symbols; type-dependent features then report what is missing.
    ///
    /// `bytes` is a `Vec<u8>` or an `Arc<Vec<u8>>` shared with the machine that booted the
    /// image (a vmlinux is 70 MB or more: it is never copied). The bytes live as long as the
    /// program: the tables borrow them for `'static`.
    pub fn new(name: &str, bytes: impl Into<std::sync::Arc<Vec<u8>>>) -> Result<Self, ImageError> {
        let shared: &'static std::sync::Arc<Vec<u8>> = Box::leak(Box::new(bytes.into()));
        let bytes: &'static [u8] = shared.as_slice();
        let symbols = SymbolTable::from_elf(bytes)?;
        let types = TypeDb::from_elf(bytes).ok();
        let headers = crate::elf::parse(bytes)
            .map(|elf| elf.section_headers)
            .unwrap_or_default();
        let sections = headers
            .iter()
            .filter(|sh| sh.is_alloc() && sh.sh_addr != 0 && sh.sh_size > 0)
            .map(|sh| {
                let nobits = sh.sh_type == goblin::elf::section_header::SHT_NOBITS;
                (sh.sh_addr, sh.sh_size, (!nobits).then_some(sh.sh_offset))
            })
            .collect();
        let text = headers
            .iter()
            .filter(|sh| {
                sh.is_executable() && sh.sh_type == goblin::elf::section_header::SHT_PROGBITS
            })
            .map(|sh| (sh.sh_addr, sh.sh_size, sh.sh_offset))
            .collect();
        Ok(GuestImage {
            name: name.to_string(),
            bytes,
            symbols,
            types,
            lines: OnceCell::new(),
            unwinder: OnceCell::new(),
            catalog: OnceCell::new(),
            sites: OnceCell::new(),
            sections,
            text,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn bytes(&self) -> &'static [u8] {
        self.bytes
    }

    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// The DWARF types, or an error saying the image has none.
    pub fn types(&self) -> Result<&TypeDb<'static>, TypeError> {
        self.types.as_ref().ok_or(TypeError::NoDebugInfo)
    }

    /// Source lines, when the image has them.
    pub fn lines(&self) -> Option<&LineTable<'static>> {
        self.lines
            .get_or_init(|| LineTable::from_elf(self.bytes).ok())
            .as_ref()
    }

    /// The stack unwinder (DWARF CFI with frame-pointer fallback), built on first use.
    pub fn unwinder(&self) -> &crate::unwind::Unwinder {
        self.unwinder
            .get_or_init(|| crate::unwind::Unwinder::new(self.bytes))
    }

    /// The image's bytes at `[addr, addr + len)` from the executable section holding them
    /// (shorter at the section's end), or `None` when no code section holds `addr`.
    pub fn code(&self, addr: u64, len: usize) -> Option<&'static [u8]> {
        let &(start, size, file) = self
            .text
            .iter()
            .find(|(a, s, _)| (*a..a.saturating_add(*s)).contains(&addr))?;
        let from = (file + (addr - start)) as usize;
        let end = (file + size) as usize;
        self.bytes.get(from..end.min(from.saturating_add(len)))
    }

    /// Parses and resolves an attach spec against this image, refusing an offset or address
    /// that falls inside an instruction (as the kernel's kprobes do), with the nearest
    /// boundaries named.
    pub fn resolve_attach(
        &self,
        spec: &str,
    ) -> Result<Vec<crate::attach::ResolvedAttach>, crate::attach::AttachError> {
        let points = crate::attach::resolve_attach(spec, &self.symbols)?;
        for p in points.iter().filter(|p| p.offset > 0) {
            let start = p.addr - p.offset;
            // Enough bytes to decode the instruction the offset falls in (at most 15 long).
            if let Some(code) = self.code(start, p.offset as usize + 15) {
                let name = p.symbol.as_str();
                crate::attach::check_boundary(name, start, code, p.offset)?;
            }
        }
        Ok(points)
    }

    /// `symbol+0xoff` and `file:line` for a stack frame's address (a return address just
    /// past a function's end belongs to that function, see
    /// [`crate::symbols::SymbolTable::resolve_return`]).
    pub fn describe(&self, addr: u64) -> (Option<String>, Option<String>) {
        let sym = self.symbols.format_return(addr);
        let src = self
            .lines()
            .and_then(|l| l.location(addr).ok().flatten())
            .map(|loc| match loc.line {
                Some(line) => format!("{}:{line}", short_path(&loc.file)),
                None => short_path(&loc.file),
            });
        (sym, src)
    }

    /// The size of the section called `name` (`None`: no such section, or no contents).
    pub fn section_len(&self, name: &str) -> Option<usize> {
        let elf = crate::elf::parse(self.bytes).ok()?;
        crate::elf::section(&elf, self.bytes, name)
            .ok()
            .flatten()
            .map(<[u8]>::len)
    }

    /// The image's initial contents at `[addr, addr + buf.len())` from its allocated sections
    /// (zeroes for `.bss`): the kernel's static data as linked, before it ran. False when a
    /// byte lies outside every section.
    pub fn read_static(&self, addr: u64, buf: &mut [u8]) -> bool {
        let Some(&(start, size, file)) = self
            .sections
            .iter()
            .find(|(a, s, _)| addr >= *a && addr - *a < *s)
        else {
            return false;
        };
        let off = addr - start;
        if off + buf.len() as u64 > size {
            return false;
        }
        match file {
            None => buf.fill(0),
            Some(f) => {
                let at = (f + off) as usize;
                match self.bytes.get(at..at + buf.len()) {
                    Some(src) => buf.copy_from_slice(src),
                    None => return false,
                }
            }
        }
        true
    }

    /// The kernel's tracepoints and trace events, read on first use.
    pub fn catalog(&self) -> &crate::tracepoints::Catalog {
        self.catalog
            .get_or_init(|| crate::tracepoints::Catalog::read(self))
    }

    /// The sites of tracepoint `name` (where the guest tests its key), found on first use by
    /// one pass over the image's code for every tracepoint.
    pub fn tracepoint_sites(&self, name: &str) -> &[crate::tracepoints::Site] {
        let all = self.sites.get_or_init(|| {
            let cat = self.catalog();
            match &cat.layout {
                Some(l) => {
                    let tps: Vec<_> = cat.tracepoints.values().collect();
                    crate::tracepoints::find_sites(self, l, &tps)
                }
                None => Default::default(),
            }
        });
        all.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The kernel's tracepoints: the names of its `__tracepoint_NAME` objects, sorted.
    pub fn tracepoints(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .symbols
            .prefix("__tracepoint_")
            .filter(|s| !s.kind.is_text())
            .map(|s| &s.name["__tracepoint_".len()..])
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Where the kernel keeps `current` and the `task_struct` fields helpers read.
    pub fn task_layout(&self) -> TaskLayout {
        let current_task = self
            .symbols
            .lookup("current_task")
            .filter(|s| !s.kind.is_text())
            .map(|s| s.addr);
        let field = |types: &TypeDb<'_>, task, name: &str| {
            types.member_path(task, name).ok().map(|m| (m.offset, m.ty))
        };
        let Some((types, task)) = self
            .types
            .as_ref()
            .and_then(|t| Some((t, t.find("struct task_struct").ok().flatten()?)))
        else {
            return TaskLayout::default();
        };
        let (Some(pid), Some(tgid), Some((comm, comm_ty))) = (
            field(types, task, "pid"),
            field(types, task, "tgid"),
            field(types, task, "comm"),
        ) else {
            return TaskLayout::default();
        };
        TaskLayout {
            current_task,
            pid_offset: pid.0,
            tgid_offset: tgid.0,
            comm_offset: comm,
            comm_len: types.size_of(comm_ty).unwrap_or(16) as usize,
        }
    }

    /// `vmlinux.h` for this image.
    pub fn vmlinux_h(&self) -> Result<String, TypeError> {
        crate::cdecl::vmlinux_h(self.types()?)
    }

    /// Answers a CO-RE query from the image's DWARF: field offsets, sizes, existence and type
    /// sizes, by name.
    pub fn core_answer(&self, q: &CoreQuery<'_>) -> Result<CoreAnswer, String> {
        let types = self.types().map_err(|e| e.to_string())?;
        // `struct pt_regs___x64` is `struct pt_regs`: libbpf ignores a `___flavor` suffix.
        let name = match q.type_name.rfind("___") {
            Some(i) if i > 0 => &q.type_name[..i],
            _ => q.type_name,
        };
        let spelled = match q.type_kind {
            "struct" | "union" | "enum" => format!("{} {name}", q.type_kind),
            _ => name.to_string(),
        };
        let Some(root) = types.find(&spelled).map_err(|e| e.to_string())? else {
            return Ok(CoreAnswer::Missing);
        };
        match q.kind {
            CoreKind::TypeExists | CoreKind::TypeMatches => return Ok(CoreAnswer::Value(1)),
            CoreKind::TypeSize => {
                return types
                    .size_of(root)
                    .map(CoreAnswer::Value)
                    .map_err(|e| e.to_string())
            }
            CoreKind::TypeIdLocal | CoreKind::TypeIdTarget => {
                return Err("type id relocations need BTF ids, which a DWARF guest has not".into())
            }
            CoreKind::EnumvalExists | CoreKind::EnumvalValue => {
                let Some(AccessStep::Field { name, .. }) = q.path.first() else {
                    return Ok(CoreAnswer::Missing);
                };
                let t = types
                    .strip(Some(root))
                    .map_err(|e| e.to_string())?
                    .ok_or("an enum relocation names void")?;
                let crate::types::Kind::Enum { values, .. } =
                    types.get(t).map_err(|e| e.to_string())?.kind
                else {
                    return Ok(CoreAnswer::Missing);
                };
                return Ok(match values.iter().find(|e| e.name == *name) {
                    None => CoreAnswer::Missing,
                    Some(_) if q.kind == CoreKind::EnumvalExists => CoreAnswer::Value(1),
                    Some(e) => CoreAnswer::Value(e.value as u64),
                });
            }
            _ => {}
        }
        // Members of anonymous structs and unions have no name in the access path: the path
        // goes through them as C does (`sk->__sk_common.skc_num` is `__sk_common.<anon>.
        // skc_num` in the access string, and `__sk_common.skc_num` here).
        let mut path = String::new();
        for step in q.path {
            match step {
                AccessStep::Field { name, .. } if name.is_empty() => {}
                AccessStep::Field { name, .. } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(name);
                }
                AccessStep::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        if matches!(q.path.last(), Some(AccessStep::Field { name, .. }) if name.is_empty()) {
            return Err(format!(
                "the access path of {spelled} ends at an anonymous member, which names cannot reach"
            ));
        }
        let root_size = types.size_of(root).map_err(|e| e.to_string())?;
        let base = u64::from(q.first_index) * root_size;
        let (offset, ty, bitfield) = if path.is_empty() {
            (0, root, None)
        } else {
            match types.member_path(root, &path) {
                Ok(m) => (m.offset, m.ty, m.bitfield),
                Err(_) => return Ok(CoreAnswer::Missing),
            }
        };
        let size = types.size_of(ty).map_err(|e| e.to_string())?.max(1);
        // Bit position and width of the field from the root's start, and the aligned unit a
        // program loads it from (libbpf's bpf_core_calc_field_relo, little endian).
        let (bit_off, bits) = match bitfield {
            Some((bo, bw)) => (offset * 8 + bo, bw),
            None => (offset * 8, size * 8),
        };
        let byte_off = if bitfield.is_some() {
            bit_off / 8 / size * size
        } else {
            offset
        };
        let v = match q.kind {
            CoreKind::FieldByteOffset => base + byte_off,
            CoreKind::FieldByteSize => size,
            CoreKind::FieldExists => 1,
            CoreKind::FieldSigned => {
                let name = types.name_of(Some(ty)).unwrap_or_default();
                let unsigned = [
                    "unsigned", "u8", "u16", "u32", "u64", "__u", "_Bool", "bool", "size_t",
                ]
                .iter()
                .any(|p| name.starts_with(p));
                u64::from(!unsigned)
            }
            CoreKind::FieldLShiftU64 => 64 - (bit_off + bits - byte_off * 8),
            CoreKind::FieldRShiftU64 => 64 - bits,
            _ => return Err(format!("unsupported CO-RE relocation kind {:?}", q.kind)),
        };
        Ok(CoreAnswer::Value(v))
    }
}

/// The last two components of a source path (`net/ip.c`).
fn short_path(p: &str) -> String {
    let parts: Vec<&str> = p.rsplit('/').take(2).collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}
