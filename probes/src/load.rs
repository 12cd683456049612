//! Loading filters: `.o` objects from clang, `.c` sources compiled on the fly, `.s` assembly.
//!
//! A `.c` file is compiled with `clang -O2 -g -target bpf` with `bpflab.h` (shipped with this
//! crate) and, when the caller provides one, the guest's generated `vmlinux.h` on the include
//! path. Objects are parsed by [`jit::object`]; their maps become a [`MapSet`]; their programs
//! keep `map_idx[N]` references into it until they are verified and linked. CO-RE relocations are applied when a resolver
//! is given (see [`LoadOptions::core`]).

use crate::context::ContextKind;
use crate::point::{Point, ProgFamily};
use jit::btf::core::{CoreAnswer, CoreQuery};
use jit::maps::{MapKind, MapSet};
use jit::object::Object;
use jit::Program;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The shipped header.
pub const BPFLAB_H: &str = include_str!("../include/bpflab.h");

/// Why a filter could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}: not a filter: {why} (expected BPF C source, a clang BPF object or BPF assembly)"
    )]
    UnknownKind { path: String, why: String },
    #[error("{path}: clang failed:\n{stderr}")]
    Clang { path: String, stderr: String },
    #[error("{path}: cannot run clang ({source}); install it (apt-get install clang)")]
    NoClang {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Bad { path: String, msg: String },
    #[error("{path}: no program named '{name}' (it has: {have})")]
    NoSuchProgram {
        path: String,
        name: String,
        have: String,
    },
}

/// One program of a loaded filter.
#[derive(Clone, Debug)]
pub struct FilterProgram {
    pub name: String,
    pub section: String,
    /// The kind of program its section declares.
    pub family: ProgFamily,
    /// Where its section says it runs (`None`: the user says where).
    pub point: Option<Point>,
    /// Its context: the family's, made exact when the program is attached (fentry and tp_btf
    /// programs take as many arguments as their target has).
    pub ctx: ContextKind,
    /// The program, its map references still `map_idx[N]` into the filter's [`MapSet`] (the
    /// verifier checks them against the map definitions; running resolves them).
    pub program: Program,
    /// Source lines by instruction (`file:line: text`), for verifier logs.
    pub lines: Vec<(usize, String)>,
}

impl FilterProgram {
    /// The source line of instruction `pc`, when the object carried line info.
    pub fn line_of(&self, pc: usize) -> Option<String> {
        let i = self.lines.partition_point(|(at, _)| *at <= pc);
        i.checked_sub(1).map(|i| self.lines[i].1.clone())
    }
}

/// A loaded filter: its programs and maps.
#[derive(Debug)]
pub struct Filter {
    /// Where it came from (for messages).
    pub origin: String,
    pub programs: Vec<FilterProgram>,
    pub maps: MapSet,
    /// The object's global variables (what [`LoadOptions::globals`] can set).
    pub globals: Vec<String>,
    /// The global variables [`LoadOptions::globals`] set in this object.
    pub globals_set: Vec<String>,
    /// The object's BTF and, per map (in [`Filter::maps`] order), its key and value types
    /// there: what prints keys and values as the program's own C types.
    pub types: MapTypes,
}

/// The BTF types of a filter's map keys and values.
#[derive(Debug, Clone, Default)]
pub struct MapTypes {
    pub btf: Option<std::rc::Rc<jit::btf::Btf>>,
    /// (key type, value type) per map.
    pub maps: Vec<(Option<u32>, Option<u32>)>,
    /// The object's global variables of writable data sections (`.data`, `.bss`): the
    /// counters a tool's user space reads at exit.
    pub globals: Vec<crate::knobs::Knob>,
}

/// Answers CO-RE queries against the guest's types.
pub type CoreResolver<'a> = &'a dyn Fn(&CoreQuery) -> Result<CoreAnswer, String>;

/// How to load.
#[derive(Default)]
pub struct LoadOptions<'a> {
    /// Extra include directories for `.c` (e.g. where the guest's `vmlinux.h` was written).
    pub include_dirs: Vec<PathBuf>,
    /// The `clang` to run (default `clang`).
    pub clang: Option<PathBuf>,
    /// Resolves CO-RE relocations against the guest; without it, objects that carry CO-RE
    /// relocations are rejected.
    pub core: Option<CoreResolver<'a>>,
    /// Directory for temporary files (default: the system's).
    pub work_dir: Option<PathBuf>,
    /// `max_entries` of maps by name, as a tool's user space sets them before loading
    /// (`bpf_map__set_max_entries`); names an object lacks are ignored.
    pub map_sizes: Vec<(String, u32)>,
    /// Global variables to set before loading (`NAME`, `VALUE`), as a tool's user space sets
    /// `skel->rodata->NAME` ([`crate::knobs`]); names an object lacks are ignored.
    pub globals: Vec<(String, String)>,
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("include_dirs", &self.include_dirs)
            .field("clang", &self.clang)
            .finish()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What a file holds, decided by its content (the extension only breaks a tie between C and
/// assembly text): a BPF ELF object, C source, BPF assembly, or raw bytecode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// An ELF file (clang's `-target bpf` output).
    Object,
    /// C source, compiled with clang.
    C,
    /// bpflab's BPF assembly.
    Asm,
    /// Raw 8-byte instructions (not text, not ELF).
    Bytecode,
}

impl FileKind {
    /// The kind of `bytes`, read from `path`.
    pub fn detect(path: &Path, bytes: &[u8]) -> FileKind {
        if bytes.starts_with(b"\x7fELF") {
            return FileKind::Object;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            return FileKind::Bytecode;
        };
        if text.contains('\0') || (text.is_empty() && !has_ext(path, &["s", "asm", "c"])) {
            return FileKind::Bytecode;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("c" | "h") => return FileKind::C,
            Some("s" | "asm") => return FileKind::Asm,
            _ => {}
        }
        let c_like = text.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("#include")
                || l.starts_with("#define")
                || l.starts_with("SEC(")
                || l.contains("char LICENSE[]")
                || l.contains("char _license[]")
        });
        if c_like {
            FileKind::C
        } else {
            FileKind::Asm
        }
    }

    /// How the kind is named in messages.
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Object => "an ELF object",
            FileKind::C => "C source",
            FileKind::Asm => "BPF assembly",
            FileKind::Bytecode => "raw bytecode",
        }
    }
}

fn has_ext(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.contains(&e))
}

/// Loads a filter file: C source (compiled), a clang object or assembly, told apart by
/// content ([`FileKind`]).
pub fn load_file(path: &Path, opts: &LoadOptions<'_>) -> Result<Filter, LoadError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(io(path))?;
    match FileKind::detect(path, &bytes) {
        FileKind::Object => load_object(&shown, &bytes, opts),
        FileKind::C => {
            let bytes = compile_c(path, opts)?;
            load_object(&shown, &bytes, opts)
        }
        FileKind::Asm => {
            let text = String::from_utf8_lossy(&bytes);
            match load_asm(&shown, &text) {
                // Named as assembly: its errors are assembly errors.
                r if has_ext(path, &["s", "asm"]) => r,
                Ok(f) => Ok(f),
                Err(LoadError::Bad { msg, .. }) => Err(LoadError::UnknownKind {
                    path: shown,
                    why: format!("text that is neither C nor BPF assembly (as assembly: {msg})"),
                }),
                Err(e) => Err(e),
            }
        }
        FileKind::Bytecode => Err(LoadError::UnknownKind {
            path: shown,
            why: format!(
                "{} bytes of binary data that are not an ELF object (raw bytecode has no \
                 maps or sections: `bpflab bpf disasm` reads it)",
                bytes.len()
            ),
        }),
    }
}

/// Assembly: one program, the seed's context, no maps.
pub fn load_asm(origin: &str, text: &str) -> Result<Filter, LoadError> {
    let bad = |msg: String| LoadError::Bad {
        path: origin.to_string(),
        msg,
    };
    let instrs = jit::asm::assemble(text).map_err(|e| bad(e.to_string()))?;
    let program = Program::new(instrs).map_err(|e| bad(e.to_string()))?;
    Ok(Filter {
        origin: origin.to_string(),
        programs: vec![FilterProgram {
            name: "asm".into(),
            section: String::new(),
            family: ProgFamily::Seed,
            point: None,
            ctx: ContextKind::Seed,
            program,
            lines: Vec::new(),
        }],
        maps: MapSet::new(),
        globals: Vec::new(),
        globals_set: Vec::new(),
        types: MapTypes::default(),
    })
}

/// Compiles a C filter to an object's bytes.
pub fn compile_c(path: &Path, opts: &LoadOptions<'_>) -> Result<Vec<u8>, LoadError> {
    let shown = path.display().to_string();
    let work = opts
        .work_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("bpflab-cc-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(io(&work))?;
    let header = work.join("bpflab.h");
    std::fs::write(&header, BPFLAB_H).map_err(io(&header))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "filter".into());
    let out = work.join(format!("{stem}.o"));
    let clang = opts.clang.clone().unwrap_or_else(|| PathBuf::from("clang"));
    let mut cmd = std::process::Command::new(&clang);
    cmd.args([
        "-O2",
        "-g",
        "-target",
        "bpf",
        "-mcpu=v3",
        "-Wall",
        "-Wno-unused-function",
    ])
    .arg("-I")
    .arg(&work);
    for d in &opts.include_dirs {
        cmd.arg("-I").arg(d);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        cmd.arg("-I").arg(dir);
    }
    // `-x c`: the file is C whatever its name says (FileKind decided that by content).
    cmd.arg("-x")
        .arg("c")
        .arg("-c")
        .arg(path)
        .arg("-o")
        .arg(&out);
    let output = cmd.output().map_err(|source| LoadError::NoClang {
        path: shown.clone(),
        source,
    })?;
    if !output.status.success() {
        return Err(LoadError::Clang {
            path: shown,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let bytes = std::fs::read(&out).map_err(io(&out))?;
    let _ = std::fs::remove_file(&out);
    Ok(bytes)
}

/// The object's maps, sized by `sizes` where they name one. A map left with `max_entries`
/// 0 is one its tool's user space sizes: the error says how to size it here.
fn instantiate_maps(obj: &Object, sizes: &[(String, u32)]) -> Result<MapSet, String> {
    let mut set = MapSet::new();
    for m in &obj.maps {
        let mut def = m.def.clone();
        if let Some((_, n)) = sizes.iter().rev().find(|(name, _)| *name == def.name) {
            def.max_entries = *n;
        }
        let sized_by_kernel = matches!(def.kind, MapKind::PerfEventArray);
        if def.max_entries == 0 && !sized_by_kernel {
            return Err(format!(
                "map '{}' ({}) has max_entries 0: its tool's user space sets the size before \
                 loading; give it one with --map-size {}=N",
                def.name,
                def.kind.name(),
                def.name
            ));
        }
        set.add(def, m.init.as_deref()).map_err(|e| e.to_string())?;
    }
    Ok(set)
}

/// An object's programs with maps instantiated and references resolved.
pub fn load_object(
    origin: &str,
    bytes: &[u8],
    opts: &LoadOptions<'_>,
) -> Result<Filter, LoadError> {
    let bad = |msg: String| LoadError::Bad {
        path: origin.to_string(),
        msg,
    };
    let mut obj = Object::parse(bytes).map_err(|e| bad(e.to_string()))?;
    let mut globals_set = Vec::new();
    for (name, value) in &opts.globals {
        if crate::knobs::set(&mut obj, name, value).map_err(|e| bad(e.to_string()))? {
            globals_set.push(name.clone());
        }
    }
    let maps = instantiate_maps(&obj, &opts.map_sizes).map_err(bad)?;
    let mut programs = Vec::new();
    for p in &obj.programs {
        let (mut family, point) = Point::from_section(&p.section)
            .map_err(|e| bad(format!("program '{}': {e}", p.name)))?;
        // A seed-style filter (`int f(struct bpf_context *ctx)`) keeps the seed's context
        // wherever its section puts it, as the seed's tracepoint hunk hands it.
        if takes_seed_context(&obj, &p.name) {
            family = ProgFamily::Seed;
        }
        let ctx = family.default_context();
        let program = if p.core_relos.is_empty() {
            p.program.clone()
        } else {
            let Some(core) = opts.core else {
                return Err(bad(format!(
                    "program '{}' has {} CO-RE relocations but no guest types to resolve them against",
                    p.name,
                    p.core_relos.len()
                )));
            };
            jit::btf::core::apply(&p.program, &p.core_relos, core)
                .map_err(|e| bad(format!("program '{}': CO-RE: {e}", p.name)))?
        };
        let lines = p
            .lines
            .iter()
            .map(|(at, l)| {
                let file = l.file.rsplit('/').next().unwrap_or(&l.file);
                (*at, format!("{file}:{}: {}", l.line, l.text.trim()))
            })
            .collect();
        programs.push(FilterProgram {
            name: p.name.clone(),
            section: p.section.clone(),
            family,
            point,
            ctx,
            program,
            lines,
        });
    }
    if programs.is_empty() {
        return Err(bad("the object holds no programs".into()));
    }
    Ok(Filter {
        origin: origin.to_string(),
        programs,
        maps,
        globals: crate::knobs::knobs(&obj)
            .into_iter()
            .map(|k| k.name)
            .collect(),
        globals_set,
        types: MapTypes {
            globals: crate::knobs::knobs(&obj)
                .into_iter()
                .filter(|k| k.section.starts_with(".data") || k.section.starts_with(".bss"))
                .collect(),
            maps: obj
                .maps
                .iter()
                .map(|m| (m.key_type, m.value_type))
                .collect(),
            btf: obj.btf.map(std::rc::Rc::new),
        },
    })
}

/// Whether the object's BTF declares function `name` with a `struct bpf_context *` first
/// parameter.
fn takes_seed_context(obj: &Object, name: &str) -> bool {
    use jit::btf::BtfType;
    let Some(btf) = &obj.btf else {
        return false;
    };
    let Some(func) = btf.find("func", name) else {
        return false;
    };
    let Some(BtfType::Func { proto, .. }) = btf.get(func) else {
        return false;
    };
    let Some(BtfType::FuncProto { params, .. }) = btf.get(*proto) else {
        return false;
    };
    let Some(&(_, param)) = params.first() else {
        return false;
    };
    let pointee = match btf.skip_mods(param).ok().and_then(|t| btf.get(t)) {
        Some(BtfType::Ptr { ty }) => *ty,
        _ => return false,
    };
    matches!(
        btf.skip_mods(pointee).ok().and_then(|t| btf.get(t)),
        Some(BtfType::Struct { name, .. }) if name == "bpf_context"
    )
}

impl Filter {
    /// The program called `name` (or the only one when `name` is `None`).
    pub fn program_index(&self, name: Option<&str>) -> Result<Vec<usize>, LoadError> {
        match name {
            None => Ok((0..self.programs.len()).collect()),
            Some(n) => self
                .programs
                .iter()
                .position(|p| p.name == n || p.section == n)
                .map(|i| vec![i])
                .ok_or_else(|| LoadError::NoSuchProgram {
                    path: self.origin.clone(),
                    name: n.to_string(),
                    have: self
                        .programs
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FileKind;
    use std::path::Path;

    #[test]
    fn kinds_are_told_by_content() {
        let k = |name: &str, bytes: &[u8]| FileKind::detect(Path::new(name), bytes);
        assert_eq!(k("x.o", b"\x7fELF\x02\x01"), FileKind::Object);
        assert_eq!(k("x.bin", b"\x7fELF\x02\x01"), FileKind::Object);
        assert_eq!(k("x.c", b"int x;"), FileKind::C);
        assert_eq!(
            k("filter", b"#include \"vmlinux.h\"\nSEC(\"kprobe/x\")"),
            FileKind::C
        );
        assert_eq!(k("x.s", b"mov %r0, 1\nexit\n"), FileKind::Asm);
        assert_eq!(k("prog", b"mov %r0, 1\nexit\n"), FileKind::Asm);
        let raw = [0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(k("x.bin", &raw), FileKind::Bytecode);
        assert_eq!(k("x.o", &[0xff, 0xfe, 0x00]), FileKind::Bytecode);
    }
}
