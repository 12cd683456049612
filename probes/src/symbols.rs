//! The guest kernel's symbol table: names to addresses and back, like `/proc/kallsyms`.
//!
//! Built from the ELF `.symtab` (goblin) with functions, objects and the untyped labels that
//! assembly code defines, global **and** local. Lookups:
//! - [`SymbolTable::lookup`]: exact name, O(1) (hash map);
//! - [`SymbolTable::resolve`]: address to `symbol+offset`, O(log n) over an address-sorted array;
//! - [`SymbolTable::prefix`] and [`SymbolTable::glob`]: over a name-sorted array, so a prefix
//!   (and a glob's literal prefix) narrows the scan to a binary-searched range.
//!
//! # Duplicate local names
//! Several files may each define a `static` function with the same name. The scheme:
//! - `name` refers to the global definition if there is one, otherwise to the first in
//!   symbol-table order (which is link order);
//! - every other definition is called `name@FILE`, where `FILE` is the `STT_FILE` symbol the
//!   linker put before it (the source file's name as given to the compiler, e.g. `skbuff.c`);
//! - if that is still ambiguous, `name@FILE#2`, `name@FILE#3`... in symbol-table order;
//! - gdb's `'FILE'::name` is accepted by [`SymbolTable::lookup`] as a synonym of `name@FILE`.
//!
//! [`Symbol::unique_name`] gives the name under which each symbol is listed and found.

use std::collections::HashMap;

use goblin::elf::{section_header, sym};

use crate::elf::{self, ElfError};

/// Why a symbol table could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SymbolError {
    /// The image is not a readable ELF64 file.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// The image has no `.symtab` (it was stripped).
    #[error("the image has no symbol table (.symtab): was it stripped?")]
    NoSymtab,
}

/// What a symbol names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    /// `STT_FUNC` (or `STT_GNU_IFUNC`).
    Function,
    /// `STT_OBJECT`, `STT_TLS` or `STT_COMMON`.
    Object,
    /// An untyped label (`STT_NOTYPE`) in an executable section: assembly entry points.
    TextLabel,
    /// An untyped label elsewhere, or an absolute value (linker-script symbols such as `_end`).
    DataLabel,
}

impl SymbolKind {
    /// Code that can be probed: functions and labels in executable sections.
    pub fn is_text(self) -> bool {
        matches!(self, SymbolKind::Function | SymbolKind::TextLabel)
    }
}

/// The ELF binding of a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Binding {
    /// `STB_LOCAL`: `static` in C.
    Local,
    /// `STB_GLOBAL`.
    Global,
    /// `STB_WEAK`.
    Weak,
}

/// One symbol of the guest image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// The name as in the ELF file.
    pub name: String,
    /// The name it is listed and found under: `name`, or `name@FILE[#N]` for a duplicate local.
    pub unique_name: String,
    /// Start address (virtual).
    pub addr: u64,
    /// Size in bytes; 0 when unknown (assembly labels).
    pub size: u64,
    /// What it names.
    pub kind: SymbolKind,
    /// Local, global or weak.
    pub binding: Binding,
    /// The `STT_FILE` it belongs to, for locals.
    pub file: Option<String>,
    /// Whether it is absolute (`SHN_ABS`): a value, not a place in a section.
    pub absolute: bool,
}

impl Symbol {
    /// Whether `addr` lies inside `[addr, addr + size)`.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.addr && addr - self.addr < self.size
    }
}

/// Name and address indexes over the symbols of one ELF image.
#[derive(Debug, Clone)]
pub struct SymbolTable {
    symbols: Vec<Symbol>,
    /// `unique_name` (and the plain name of the preferred definition) -> index.
    by_name: HashMap<String, usize>,
    /// Indices of the resolvable symbols sorted by (address, preference).
    by_addr: Vec<usize>,
    /// End of the section each resolvable symbol lives in, parallel to `symbols`.
    section_end: Vec<u64>,
    /// Indices sorted by `unique_name`.
    sorted_names: Vec<usize>,
}

/// How well a symbol represents the address it starts at (lower is better).
fn preference(s: &Symbol) -> (u8, u8, bool) {
    let kind = match s.kind {
        SymbolKind::Function => 0,
        SymbolKind::Object => 1,
        SymbolKind::TextLabel => 2,
        SymbolKind::DataLabel => 3,
    };
    let binding = match s.binding {
        Binding::Global => 0,
        Binding::Weak => 1,
        Binding::Local => 2,
    };
    (kind, binding, s.size == 0)
}

impl SymbolTable {
    /// Reads `.symtab` of an ELF64 image.
    pub fn from_elf(bytes: &[u8]) -> Result<SymbolTable, SymbolError> {
        let elf = elf::parse(bytes)?;
        if elf.syms.is_empty() {
            return Err(SymbolError::NoSymtab);
        }
        let mut symbols = Vec::new();
        let mut section_end = Vec::new();
        let mut current_file: Option<String> = None;
        for s in elf.syms.iter() {
            let name = elf.strtab.get_at(s.st_name).unwrap_or("");
            let st_type = s.st_type();
            if st_type == sym::STT_FILE {
                current_file = (!name.is_empty()).then(|| name.to_string());
                continue;
            }
            if name.is_empty()
                || st_type == sym::STT_SECTION
                || s.st_shndx == section_header::SHN_UNDEF as usize
            {
                continue;
            }
            let absolute = s.st_shndx == section_header::SHN_ABS as usize;
            let section = if absolute {
                None
            } else {
                elf.section_headers.get(s.st_shndx)
            };
            let executable = section
                .is_some_and(|sh| sh.sh_flags & u64::from(section_header::SHF_EXECINSTR) != 0);
            let kind = match st_type {
                sym::STT_FUNC | sym::STT_GNU_IFUNC => SymbolKind::Function,
                sym::STT_OBJECT | sym::STT_TLS | sym::STT_COMMON => SymbolKind::Object,
                sym::STT_NOTYPE if executable => SymbolKind::TextLabel,
                sym::STT_NOTYPE => SymbolKind::DataLabel,
                _ => continue,
            };
            let binding = match s.st_bind() {
                sym::STB_LOCAL => Binding::Local,
                sym::STB_WEAK => Binding::Weak,
                _ => Binding::Global,
            };
            let end = section.map_or(u64::MAX, |sh| sh.sh_addr.saturating_add(sh.sh_size));
            symbols.push(Symbol {
                name: name.to_string(),
                unique_name: String::new(),
                addr: s.st_value,
                size: s.st_size,
                kind,
                binding,
                file: (binding == Binding::Local)
                    .then(|| current_file.clone())
                    .flatten(),
                absolute,
            });
            section_end.push(end);
        }
        Ok(Self::index(symbols, section_end))
    }

    /// Builds the indexes; assigns unique names (see the module docs).
    fn index(mut symbols: Vec<Symbol>, section_end: Vec<u64>) -> SymbolTable {
        // The preferred definition of each name: the first global, else the first.
        let mut preferred: HashMap<&str, usize> = HashMap::new();
        for (i, s) in symbols.iter().enumerate() {
            match preferred.get(s.name.as_str()) {
                Some(&j) if symbols[j].binding != Binding::Local || s.binding == Binding::Local => {
                }
                _ => {
                    preferred.insert(s.name.as_str(), i);
                }
            }
        }
        let preferred: Vec<bool> = {
            let chosen: std::collections::HashSet<usize> = preferred.values().copied().collect();
            (0..symbols.len()).map(|i| chosen.contains(&i)).collect()
        };
        let mut by_name: HashMap<String, usize> = HashMap::with_capacity(symbols.len());
        for (i, s) in symbols.iter().enumerate() {
            if preferred[i] {
                by_name.insert(s.name.clone(), i);
            }
        }
        for (i, s) in symbols.iter_mut().enumerate() {
            if preferred[i] {
                s.unique_name = s.name.clone();
                continue;
            }
            let base = match &s.file {
                Some(file) => format!("{}@{}", s.name, file),
                None => s.name.clone(),
            };
            let mut unique = base.clone();
            let mut n = 2;
            while by_name.contains_key(&unique) {
                unique = format!("{base}#{n}");
                n += 1;
            }
            by_name.insert(unique.clone(), i);
            s.unique_name = unique;
        }
        let mut by_addr: Vec<usize> = (0..symbols.len())
            .filter(|&i| !symbols[i].absolute)
            .collect();
        by_addr.sort_by(|&a, &b| {
            let (sa, sb) = (&symbols[a], &symbols[b]);
            sa.addr
                .cmp(&sb.addr)
                .then_with(|| preference(sa).cmp(&preference(sb)))
                .then_with(|| a.cmp(&b))
        });
        let mut sorted_names: Vec<usize> = (0..symbols.len()).collect();
        sorted_names.sort_by(|&a, &b| symbols[a].unique_name.cmp(&symbols[b].unique_name));
        SymbolTable {
            symbols,
            by_name,
            by_addr,
            section_end,
            sorted_names,
        }
    }

    /// Every symbol, in symbol-table order.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Exact lookup by name, unique name (`name@file.c`, `name@file.c#2`) or gdb's
    /// `'file.c'::name`.
    pub fn lookup(&self, name: &str) -> Option<&Symbol> {
        if let Some(&i) = self.by_name.get(name) {
            return Some(&self.symbols[i]);
        }
        let (file, sym) = name.strip_prefix('\'')?.split_once("'::")?;
        self.by_name
            .get(&format!("{sym}@{file}"))
            .map(|&i| &self.symbols[i])
    }

    /// The symbol an address belongs to and the offset into it, like kallsyms: an address
    /// inside a symbol's size, or (for code symbols of size 0, such as assembly labels) after
    /// the nearest preceding one in the same section.
    pub fn resolve(&self, addr: u64) -> Option<(&Symbol, u64)> {
        let end = self
            .by_addr
            .partition_point(|&i| self.symbols[i].addr <= addr);
        let last = *self.by_addr.get(end.checked_sub(1)?)?;
        let group_addr = self.symbols[last].addr;
        let start = self.by_addr[..end].partition_point(|&i| self.symbols[i].addr < group_addr);
        let group = &self.by_addr[start..end];
        // The group is sorted by preference: the first that contains the address wins.
        if let Some(&i) = group.iter().find(|&&i| self.symbols[i].contains(addr)) {
            return Some((&self.symbols[i], addr - group_addr));
        }
        if let Some(&i) = group.iter().find(|&&i| {
            let s = &self.symbols[i];
            s.size == 0 && s.kind.is_text() && addr < self.section_end[i]
        }) {
            return Some((&self.symbols[i], addr - group_addr));
        }
        // A sized symbol that encloses smaller ones (a function with labels inside it).
        const NESTING_LOOKBACK: usize = 16;
        self.by_addr[start.saturating_sub(NESTING_LOOKBACK)..start]
            .iter()
            .rev()
            .map(|&i| &self.symbols[i])
            .find(|s| s.contains(addr))
            .map(|s| (s, addr - s.addr))
    }

    /// The addresses a symbol covers: its size, or for a size-0 symbol up to the next
    /// symbol's start (at most `MAX_UNSIZED` bytes, as a listing bound).
    pub fn extent(&self, sym: &Symbol) -> std::ops::Range<u64> {
        const MAX_UNSIZED: u64 = 1 << 20;
        if sym.size > 0 {
            return sym.addr..sym.addr.saturating_add(sym.size);
        }
        let next = self
            .by_addr
            .partition_point(|&i| self.symbols[i].addr <= sym.addr);
        let end = self
            .by_addr
            .get(next)
            .map_or(u64::MAX, |&i| self.symbols[i].addr);
        sym.addr..end.min(sym.addr.saturating_add(MAX_UNSIZED))
    }

    /// [`SymbolTable::resolve`], or, for an address just past a function's end, that
    /// function: a return address after a call to a `noreturn` function that ends its caller
    /// (`arch_call_rest_init` calls `rest_init` last), as the kernel's `%pB` looks up
    /// `addr - 1`. The offset is from that function's start (`arch_call_rest_init+0x5`).
    pub fn resolve_return(&self, addr: u64) -> Option<(&Symbol, u64)> {
        self.resolve(addr).or_else(|| {
            let (s, _) = self.resolve(addr.checked_sub(1)?)?;
            s.kind.is_text().then(|| (s, addr - s.addr))
        })
    }

    /// [`SymbolTable::format_addr`] for a stack frame's address (see
    /// [`SymbolTable::resolve_return`]).
    pub fn format_return(&self, addr: u64) -> Option<String> {
        self.resolve_return(addr).map(|(s, off)| format_sym(s, off))
    }

    /// `symbol+0x1f` (or `symbol` at offset 0) for an address, if it resolves.
    pub fn format_addr(&self, addr: u64) -> Option<String> {
        self.resolve(addr).map(|(s, off)| format_sym(s, off))
    }

    /// Symbols whose unique name starts with `prefix`, in name order (tab completion).
    pub fn prefix<'s>(&'s self, prefix: &str) -> impl Iterator<Item = &'s Symbol> + 's {
        let name = |i: usize| self.symbols[i].unique_name.as_str();
        let start = self.sorted_names.partition_point(|&i| name(i) < prefix);
        let len = self.sorted_names[start..].partition_point(|&i| name(i).starts_with(prefix));
        self.sorted_names[start..start + len]
            .iter()
            .map(|&i| &self.symbols[i])
    }

    /// Symbols whose unique name matches a shell glob (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`),
    /// in name order.
    pub fn glob(&self, pattern: &str) -> Result<Vec<&Symbol>, glob::PatternError> {
        let compiled = glob::Pattern::new(pattern)?;
        let literal_end = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
        Ok(self
            .prefix(&pattern[..literal_end])
            .filter(|s| compiled.matches(&s.unique_name))
            .collect())
    }

    /// Up to `n` names close to `name` (edit distance, or containing it), best first:
    /// "did you mean" suggestions.
    pub fn suggest(&self, name: &str, n: usize) -> Vec<&str> {
        let mut scored: Vec<(usize, &str)> = self
            .symbols
            .iter()
            .map(|s| {
                let candidate = s.unique_name.as_str();
                let distance = strsim::levenshtein(name, candidate);
                let distance = if candidate.contains(name) && !name.is_empty() {
                    distance.min(candidate.len() - name.len()).min(2)
                } else {
                    distance
                };
                (distance, candidate)
            })
            .filter(|&(d, c)| d <= (name.len().max(c.len()) / 3).max(2))
            .collect();
        scored.sort();
        scored.dedup_by(|a, b| a.1 == b.1);
        scored.into_iter().take(n).map(|(_, c)| c).collect()
    }
}

fn format_sym(s: &Symbol, off: u64) -> String {
    if off == 0 {
        s.unique_name.clone()
    } else {
        format!("{}+{off:#x}", s.unique_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(name: &str, addr: u64, size: u64, kind: SymbolKind, binding: Binding) -> Symbol {
        Symbol {
            name: name.into(),
            unique_name: String::new(),
            addr,
            size,
            kind,
            binding,
            file: None,
            absolute: false,
        }
    }

    fn table(mut syms: Vec<(Symbol, Option<&str>)>) -> SymbolTable {
        let ends = vec![0x2000; syms.len()];
        let syms = syms
            .drain(..)
            .map(|(mut s, f)| {
                s.file = f.map(str::to_string);
                s
            })
            .collect();
        SymbolTable::index(syms, ends)
    }

    #[test]
    fn duplicates_get_file_names_and_the_global_keeps_the_plain_name() {
        use Binding::*;
        use SymbolKind::*;
        let t = table(vec![
            (sym("helper", 0x1000, 0x10, Function, Local), Some("a.c")),
            (sym("helper", 0x1010, 0x10, Function, Local), Some("b.c")),
            (sym("helper", 0x1020, 0x10, Function, Local), Some("b.c")),
            (sym("other", 0x1030, 0x10, Function, Local), Some("b.c")),
            (sym("other", 0x1040, 0x10, Function, Global), None),
        ]);
        assert_eq!(t.lookup("helper").unwrap().addr, 0x1000);
        assert_eq!(t.lookup("helper@b.c").unwrap().addr, 0x1010);
        assert_eq!(t.lookup("helper@b.c#2").unwrap().addr, 0x1020);
        assert_eq!(t.lookup("'b.c'::helper").unwrap().addr, 0x1010);
        assert_eq!(t.lookup("other").unwrap().addr, 0x1040);
        assert_eq!(t.lookup("other@b.c").unwrap().addr, 0x1030);
        assert!(t.lookup("helper@c.c").is_none());
        let names: Vec<_> = t.prefix("helper").map(|s| s.unique_name.as_str()).collect();
        assert_eq!(names, ["helper", "helper@b.c", "helper@b.c#2"]);
    }

    #[test]
    fn resolve_uses_sizes_and_falls_back_to_labels() {
        use Binding::*;
        use SymbolKind::*;
        let t = table(vec![
            (sym("f", 0x1000, 0x20, Function, Global), None),
            (sym("gap_after_f", 0x1040, 0, TextLabel, Global), None),
            (sym("g", 0x1080, 0x10, Function, Global), None),
            (sym("inner_label", 0x1084, 0, TextLabel, Global), None),
            (sym("obj", 0x1100, 8, Object, Global), None),
        ]);
        assert_eq!(t.format_addr(0x1000).unwrap(), "f");
        assert_eq!(t.format_addr(0x101f).unwrap(), "f+0x1f");
        assert!(
            t.resolve(0x1020).is_none(),
            "past f's size, before the label"
        );
        assert_eq!(t.format_addr(0x1050).unwrap(), "gap_after_f+0x10");
        assert_eq!(t.format_addr(0x1088).unwrap(), "inner_label+0x4");
        assert_eq!(t.format_addr(0x1104).unwrap(), "obj+0x4");
        assert!(t.resolve(0x1108).is_none());
        assert!(t.resolve(0xfff).is_none());
        assert!(t.resolve(0x2000).is_none(), "past the section's end");
    }

    #[test]
    fn a_return_address_past_its_function_belongs_to_it() {
        use Binding::*;
        use SymbolKind::*;
        let t = table(vec![
            (sym("calls_noreturn", 0x1000, 5, Function, Global), None),
            (sym("next", 0x1006, 4, Function, Global), None),
            (sym("obj", 0x1100, 8, Object, Global), None),
        ]);
        assert!(t.format_addr(0x1005).is_none());
        assert_eq!(t.format_return(0x1005).unwrap(), "calls_noreturn+0x5");
        assert_eq!(t.format_return(0x1006).unwrap(), "next");
        assert!(t.format_return(0x1108).is_none(), "only code");
    }

    #[test]
    fn globs_and_prefixes() {
        use Binding::*;
        use SymbolKind::*;
        let t = table(vec![
            (sym("tcp_v4_rcv", 0x1000, 1, Function, Global), None),
            (sym("tcp_close", 0x1001, 1, Function, Global), None),
            (sym("udp_rcv", 0x1002, 1, Function, Global), None),
            (sym("tcp", 0x1003, 1, Function, Global), None),
        ]);
        let names = |v: Vec<&Symbol>| v.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(t.glob("tcp_*").unwrap()), ["tcp_close", "tcp_v4_rcv"]);
        assert_eq!(names(t.glob("*_rcv").unwrap()), ["tcp_v4_rcv", "udp_rcv"]);
        assert_eq!(names(t.glob("[tu]?p").unwrap()), ["tcp"]);
        assert_eq!(names(t.glob("[!t]*").unwrap()), ["udp_rcv"]);
        assert!(t.glob("tcp_[").is_err());
        assert_eq!(t.prefix("tc").count(), 3);
        assert_eq!(t.prefix("x").count(), 0);
        assert_eq!(t.suggest("tcp_v4_rvc", 3)[0], "tcp_v4_rcv");
    }
}
