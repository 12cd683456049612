//! The fuzz targets' bodies: one function per parser, `fn(&[u8])`, shared by the cargo-fuzz
//! entry points in `fuzz_targets/` and the stable smoke runner.
//!
//! A target must not panic on any input: errors are the parsers' business and are ignored, but
//! where a parser accepts its input the target checks a property that must then hold
//! (round trips, agreement between two engines, queries that must answer without panicking),
//! and a violated property is a panic with a message that says which.
//!
//! [`TARGETS`] lists them with their corpus names and dictionaries.

use jit::conformance::{self, suite_helpers};
use jit::instr::{self, Instr, Src};
use jit::interp::{Interpreter, Prepared, RunError};
use jit::{asm, btf::Btf, disasm, isa, JitError, JitProgram, Program};

/// One fuzz target.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Name of the target, its cargo-fuzz binary and its corpus directory.
    pub name: &'static str,
    /// The body.
    pub run: fn(&[u8]),
    /// Tokens the smoke runner's mutator inserts.
    pub dict: &'static [&'static [u8]],
    /// Inputs longer than this are cut (the seeds of the ELF targets are large).
    pub max_len: usize,
    /// A crash may be a signal (generated machine code) or an abort (an allocation sized by
    /// the input), not a panic: the smoke runner writes each input to disk before running it.
    pub record: bool,
}

const fn target(name: &'static str, run: fn(&[u8]), dict: &'static [&'static [u8]]) -> Target {
    Target {
        name,
        run,
        dict,
        max_len: 4096,
        record: false,
    }
}

const fn elf_target(name: &'static str, run: fn(&[u8])) -> Target {
    Target {
        name,
        run,
        dict: ELF_DICT,
        max_len: 1 << 20,
        record: false,
    }
}

/// Every target this build has (the probes and kernel targets need their features).
pub const TARGETS: &[Target] = &[
    target("decoder", decoder, &[]),
    target("assembler", assembler, ASM_DICT),
    Target {
        record: true,
        ..target("interp", interp, &[])
    },
    Target {
        record: true,
        ..target("interp_asm", interp_asm, ASM_DICT)
    },
    elf_target("elf_object", elf_object),
    Target {
        max_len: 1 << 16,
        ..target("btf", btf, &[])
    },
    Target {
        max_len: 1 << 16,
        ..target("btf_ext", btf_ext, &[])
    },
    Target {
        max_len: 1 << 14,
        ..target("conformance_data", conformance_data, DATA_DICT)
    },
    #[cfg(feature = "probes")]
    elf_target("symbols", symbols),
    #[cfg(feature = "probes")]
    elf_target("dwarf_types", dwarf_types),
    #[cfg(feature = "probes")]
    elf_target("dwarf_lines", dwarf_lines),
    #[cfg(feature = "probes")]
    target("attach_spec", attach_spec, ATTACH_DICT),
    #[cfg(feature = "probes")]
    Target {
        record: true,
        ..target("printk_format", printk_format, PRINTK_DICT)
    },
    #[cfg(feature = "kernel")]
    elf_target("kernel_image", kernel_image),
    #[cfg(feature = "kernel")]
    Target {
        max_len: 1 << 16,
        ..target("recording", recording, &[b"BPFLABRC"])
    },
    #[cfg(feature = "kernel")]
    target("duration", duration, DURATION_DICT),
];

#[cfg(feature = "kernel")]
const DURATION_DICT: &[&[u8]] = &[
    b"h",
    b"m",
    b"s",
    b"ms",
    b"us",
    b"\xc2\xb5s",
    b"ns",
    b".",
    b"_",
    b"0",
    b"e",
    b"-",
    b"18446744073709551615",
];

/// The target called `name`.
pub fn find(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

const ASM_DICT: &[&[u8]] = &[
    b"\n",
    b"exit",
    b"mov",
    b"mov32",
    b"add",
    b"lddw",
    b"ldxdw",
    b"stxw",
    b"stb",
    b"ja",
    b"jeq",
    b"jsgt32",
    b"call",
    b"call local",
    b"%r0",
    b"%r1",
    b"%r10",
    b"%r11",
    b"[%r1+8]",
    b"[%r10-8]",
    b", ",
    b"+1",
    b"-1",
    b"0x",
    b"-2147483648",
    b"4294967296",
    b"label:",
    b"label",
    b"be16",
    b"le64",
    b"bswap32",
    b"movsx832",
    b"sdiv",
    b"smod32",
    b"neg",
    b"lock",
    b"xadd",
    b"cmpxchg",
    b"map_fd",
    b"map_value",
    b"func",
    b"#",
    b";",
    b"//",
];

const DATA_DICT: &[&[u8]] = &[
    b"-- asm\n",
    b"-- raw\n",
    b"-- mem\n",
    b"-- result\n",
    b"-- error\n",
    b"-- error pattern\n",
    b"-- no jit\n",
    b"-- c\n",
    b"-- asm @ x\n",
    b"0x",
    b"0x0010:  ",
    b"ff",
    b"exit\n",
];

#[cfg(feature = "probes")]
const ATTACH_DICT: &[&[u8]] = &[
    b"kprobe:",
    b"kretprobe:",
    b"fentry:",
    b"fexit:",
    b"+",
    b"+0x",
    b"0x",
    b"%return",
    b"*",
    b"?",
    b"[a-z]",
    b"@",
    b"#",
    b"main",
    b"add",
    b"ffffffff81000000",
    b"18446744073709551615",
];

#[cfg(feature = "probes")]
const PRINTK_DICT: &[&[u8]] = &[
    b"%d", b"%i", b"%u", b"%x", b"%X", b"%ld", b"%llu", b"%lx", b"%c", b"%s", b"%p", b"%px",
    b"%pK", b"%pI4", b"%%", b"%-", b"%0", b"%+", b"% ", b"%10", b"%99999", b"\0", b"\n",
];

const ELF_DICT: &[&[u8]] = &[
    b"\x7fELF\x02\x01\x01",
    b"\xff\xff\xff\xff",
    b"\0\0\0\0\0\0\0\0",
    b".debug_info\0",
    b".symtab\0",
    b".BTF\0",
    b".BTF.ext\0",
    b"license\0",
];

/// Interpreter and JIT instruction budget for one run.
const BUDGET: u64 = 10_000;

/// Size of the allocation the differential runs' memory lives at the start of: above glibc's
/// largest mmap threshold (32 MiB), so it is a mapping of its own (only touched pages cost).
const ISOLATED_ALLOC: usize = 64 << 20;

/// Raw bytes -> [`Program::from_bytes`]. A program that decodes must re-encode to the same
/// bytes, and its disassembly must reassemble to them too.
pub fn decoder(data: &[u8]) {
    let Ok(prog) = Program::from_bytes(data) else {
        return;
    };
    assert_eq!(
        prog.to_bytes(),
        data,
        "a decoded program re-encodes differently"
    );
    let text = disasm::disassemble(prog.instrs());
    let again = asm::assemble(&text)
        .unwrap_or_else(|e| panic!("the disassembly does not reassemble: {e}\n{text}"));
    assert_eq!(
        isa::slots_to_bytes(&instr::encode(&again)),
        data,
        "disassembly and reassembly change the bytes:\n{text}"
    );
    let _ = disasm::listing(prog.instrs());
    for pc in 0..prog.len() {
        let f = prog.function_of(pc);
        assert!(
            f < prog.functions().len(),
            "pc {pc} in function {f} of {}",
            prog.functions().len()
        );
    }
}

/// UTF-8 -> [`asm::assemble`]. Whatever assembles must disassemble to text that reassembles
/// to the same encoding (and disassembles to the same text: the disassembly is a fixed point);
/// if the instructions form a valid [`Program`], decoding their encoding gives them back.
pub fn assembler(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(instrs) = asm::assemble(text) else {
        return;
    };
    let slots = instr::encode(&instrs);
    let listing = disasm::disassemble(&instrs);
    let again = asm::assemble(&listing).unwrap_or_else(|e| {
        panic!("the disassembly of assembled text does not reassemble: {e}\nsource:\n{text}\ndisassembly:\n{listing}")
    });
    assert_eq!(
        instr::encode(&again),
        slots,
        "assemble(disassemble(assemble(src))) encodes differently\nsource:\n{text}\ndisassembly:\n{listing}"
    );
    assert_eq!(
        disasm::disassemble(&again),
        listing,
        "the disassembly is not a fixed point"
    );
    if let Ok(prog) = Program::new(instrs.clone()) {
        let bytes = isa::slots_to_bytes(&slots);
        let decoded = Program::from_bytes(&bytes).unwrap_or_else(|e| {
            panic!("an assembled, valid program does not decode from its encoding: {e}\nsource:\n{text}")
        });
        assert_eq!(
            decoded.instrs(),
            prog.instrs(),
            "decode(encode(p)) != p\nsource:\n{text}"
        );
    }
}

/// Whether any instruction uses r10 as a value rather than as a load/store base. The two
/// engines have their stacks at different addresses, so such programs legitimately disagree.
fn reads_frame_pointer(prog: &Program) -> bool {
    const FP: u8 = 10;
    prog.instrs().iter().any(|ins| match *ins {
        Instr::Alu { dst, src, .. } | Instr::Jcond { dst, src, .. } => {
            dst == FP || src == Src::Reg(FP)
        }
        Instr::Neg { dst, .. } | Instr::End { dst, .. } => dst == FP,
        Instr::MovSx { src, .. } => src == FP,
        Instr::Store { src, .. } => src == Src::Reg(FP),
        Instr::Atomic { src, .. } => src == FP,
        Instr::Callx { reg } => reg == FP,
        _ => false,
    })
}

/// Registers as bits.
fn bit(r: u8) -> u16 {
    1u16.checked_shl(u32::from(r)).unwrap_or(0)
}

/// r1-r5: the helper arguments, unspecified after a helper call.
const SCRATCH: u16 = 0b11_1110;

/// Whether some path reads r1-r5 after a helper call without writing them first. Their values
/// are then unspecified (the kernel's verifier refuses such programs): the interpreter keeps
/// the old ones, the JIT has whatever the native helper left, so the engines may disagree.
/// A may-analysis over the control-flow graph, iterated to a fixed point.
fn reads_scratch_after_call(prog: &Program) -> bool {
    let instrs = prog.instrs();
    let n = instrs.len();
    // clobbered[pc]: registers possibly clobbered on entry to pc.
    let mut clobbered = vec![0u16; n];
    let target = |pc: usize, off: i64| usize::try_from(pc as i64 + 1 + off).ok().filter(|&t| t < n);
    let mut changed = true;
    while changed {
        changed = false;
        for pc in 0..n {
            let (reads, writes, clobbers) = effects(&instrs[pc]);
            if reads & clobbered[pc] != 0 {
                return true;
            }
            let out = (clobbered[pc] & !writes) | clobbers;
            let mut succ: [Option<usize>; 2] = [None, None];
            match instrs[pc] {
                Instr::Exit => {}
                Instr::Ja { off, .. } => succ[0] = target(pc, off.into()),
                Instr::Jcond { off, .. } => {
                    succ = [Some(pc + 1).filter(|&t| t < n), target(pc, off.into())]
                }
                Instr::CallLocal { off } => {
                    succ = [Some(pc + 1).filter(|&t| t < n), target(pc, off.into())]
                }
                _ => succ[0] = Some(pc + 1).filter(|&t| t < n),
            }
            for t in succ.into_iter().flatten() {
                if clobbered[t] | out != clobbered[t] {
                    clobbered[t] |= out;
                    changed = true;
                }
            }
        }
    }
    false
}

/// (registers read, registers written, registers clobbered) by one instruction.
fn effects(ins: &Instr) -> (u16, u16, u16) {
    let src_bit = |s: Src| match s {
        Src::Reg(r) => bit(r),
        Src::Imm(_) => 0,
    };
    match *ins {
        Instr::Alu { op, dst, src, .. } => {
            let dst_read = if op == instr::AluOp::Mov { 0 } else { bit(dst) };
            (dst_read | src_bit(src), bit(dst), 0)
        }
        Instr::Neg { dst, .. } | Instr::End { dst, .. } => (bit(dst), bit(dst), 0),
        Instr::MovSx { dst, src, .. } => (bit(src), bit(dst), 0),
        Instr::LdImm64 { dst, .. } => (0, bit(dst), 0),
        Instr::Load { dst, base, .. } => (bit(base), bit(dst), 0),
        Instr::Store { base, src, .. } => (bit(base) | src_bit(src), 0, 0),
        Instr::Atomic {
            op,
            fetch,
            base,
            src,
            ..
        } => {
            if op == instr::AtomicOp::Cmpxchg {
                (bit(base) | bit(src) | bit(0), bit(0), 0)
            } else {
                (bit(base) | bit(src), if fetch { bit(src) } else { 0 }, 0)
            }
        }
        Instr::Jcond { dst, src, .. } => (bit(dst) | src_bit(src), 0, 0),
        Instr::CallHelper { .. } => (SCRATCH, bit(0), SCRATCH),
        Instr::Callx { reg } => (SCRATCH | bit(reg), bit(0), SCRATCH),
        // The subprogram may call helpers: after it returns, r1-r5 are unspecified too (its
        // entry state flows to it as a successor).
        Instr::CallLocal { .. } => (0, bit(0), SCRATCH),
        Instr::Exit | Instr::Ja { .. } | Instr::LdImm64Hi => (0, 0, 0),
    }
}

/// Whether `a` and `b` are the same outcome. Memory faults are compared without their address
/// when the access was relative to r10 (the engines' stacks are at different addresses).
fn same_outcome(prog: &Program, a: &Result<u64, RunError>, b: &Result<u64, RunError>) -> bool {
    match (a, b) {
        (
            Err(RunError::Memory { pc: pa, fault: fa }),
            Err(RunError::Memory { pc: pb, fault: fb }),
        ) if pa == pb => {
            let stack_based = matches!(
                prog.instrs().get(*pa),
                Some(
                    Instr::Load { base: 10, .. }
                        | Instr::Store { base: 10, .. }
                        | Instr::Atomic { base: 10, .. }
                )
            );
            fa.len == fb.len && fa.write == fb.write && (stack_based || fa.addr == fb.addr)
        }
        _ => a == b,
    }
}

/// Byte 0 = length of the memory (the next bytes, given to the program in r1/r2), the rest =
/// the program (cut to whole instructions) -> [`Program::from_bytes`], then [`differential`].
pub fn interp(data: &[u8]) {
    let Some((&mem_len, rest)) = data.split_first() else {
        return;
    };
    let (init, code) = rest.split_at(usize::from(mem_len).min(rest.len()));
    let code = &code[..code.len() / 8 * 8];
    if let Ok(prog) = Program::from_bytes(code) {
        differential(&prog, init);
    }
}

/// UTF-8 -> [`asm::assemble`] -> [`Program::new`] (the path of `.s` filters, which does not
/// go through the byte decoder's checks), then [`differential`] with 64 bytes of memory.
pub fn interp_asm(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(instrs) = asm::assemble(text) else {
        return;
    };
    if let Ok(prog) = Program::new(instrs) {
        let init: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(0x9d)).collect();
        differential(&prog, &init);
    }
}

/// Runs `prog` in the checked interpreter and as checked JIT code on the same memory (`init`,
/// restored in between so pointers agree, placed away from the heap) and requires the same result, the same error and
/// the same memory afterwards. Not compared: runs that exhaust the budget (the JIT counts
/// instructions only at backward jumps and calls), programs that use r10's value (the engines'
/// stacks are at different addresses) and programs that read r1-r5 after a helper call
/// (unspecified values); those still run, for panics.
pub fn differential(prog: &Program, init: &[u8]) {
    let helpers = suite_helpers();
    let Ok(prepared) = Prepared::new(prog, &helpers) else {
        if let Ok(jit) = JitProgram::compile_checked(prog, &helpers) {
            drop(jit);
            panic!("the JIT compiled a program the interpreter could not link");
        }
        return;
    };
    let mut jit = match JitProgram::compile_checked(prog, &helpers) {
        Ok(jit) => jit,
        Err(JitError::Memory(_)) => return,
        Err(e) => panic!("the interpreter linked the program but the JIT refused it: {e}"),
    };
    // The memory sits at the start of an allocation big enough to get its own mapping, far
    // from the heap where both engines keep their stacks: otherwise an out-of-bounds access
    // can land in one engine's stack (a valid region) and not in the other's.
    thread_local! {
        static BACKING: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; ISOLATED_ALLOC]);
    }
    BACKING.with(|b| {
        run_both(
            prog,
            &prepared,
            &mut jit,
            init,
            &mut b.borrow_mut()[..init.len()],
        )
    });
}

fn run_both(
    prog: &Program,
    prepared: &Prepared,
    jit: &mut JitProgram<()>,
    init: &[u8],
    mem: &mut [u8],
) {
    mem.copy_from_slice(init);
    let r_interp = Interpreter::new().run_checked(prepared, mem, &[], &mut (), Some(BUDGET));
    let m_interp = mem.to_vec();
    mem.copy_from_slice(init);
    let r_jit = jit.run_checked(mem, &[], &mut (), Some(BUDGET));
    if reads_frame_pointer(prog)
        || reads_scratch_after_call(prog)
        || matches!(r_interp, Err(RunError::Budget(_)))
        || matches!(r_jit, Err(RunError::Budget(_)))
    {
        return;
    }
    let listing = disasm::listing(prog.instrs());
    assert!(
        same_outcome(prog, &r_interp, &r_jit),
        "interpreter {r_interp:?} != JIT {r_jit:?}\n{listing}"
    );
    assert_eq!(
        m_interp, mem,
        "memory after the run differs (interpreter, JIT)\n{listing}"
    );
}

/// An ELF file -> [`jit::object::Object::parse`]. What parses is walked: every program
/// disassembled with its source lines and CO-RE relocations, every BTF type sized.
pub fn elf_object(data: &[u8]) {
    let Ok(obj) = jit::object::Object::parse(data) else {
        return;
    };
    for p in &obj.programs {
        let _ = disasm::listing(p.program.instrs());
        assert_eq!(
            Program::from_bytes(&p.program.to_bytes())
                .map(|q| q.to_bytes())
                .ok(),
            Some(p.program.to_bytes()),
            "program {} does not round-trip through its bytes",
            p.name
        );
        for i in 0..p.program.len() {
            let _ = p.line_of(i);
        }
        for r in &p.core_relos {
            let _ = r.describe();
        }
        assert!(
            obj.program(&p.name).is_some(),
            "program {} not found by name",
            p.name
        );
    }
    for m in &obj.maps {
        let _ = format!("{m:?}");
    }
    if let Some(btf) = &obj.btf {
        walk_btf(btf);
    }
}

fn walk_btf(btf: &Btf) {
    for (id, t) in btf.types().take(10_000) {
        let _ = btf.size_of(id);
        let _ = btf.skip_mods(id);
        let (kind, name) = (t.kind_name(), t.name());
        if !name.is_empty() {
            let found = btf.find(kind, name);
            assert!(
                found.is_some_and(|f| f <= id),
                "find({kind}, {name}) = {found:?}, but type {id} is one"
            );
        }
    }
}

/// A `.BTF` section -> [`Btf::parse`]; every type of a parsed one is sized and looked up.
pub fn btf(data: &[u8]) {
    if let Ok(btf) = Btf::parse(data) {
        walk_btf(&btf);
    }
}

/// A `.BTF.ext` section -> [`jit::btf::ext::BtfExt::parse`], against the `.BTF` of the
/// `core_read` sample (checked in as `fixtures/core_read.btf`).
pub fn btf_ext(data: &[u8]) {
    static BTF: std::sync::OnceLock<Btf> = std::sync::OnceLock::new();
    let btf = BTF.get_or_init(|| {
        Btf::parse(include_bytes!("../fixtures/core_read.btf")).expect("the fixture .BTF parses")
    });
    let _ = jit::btf::ext::BtfExt::parse(data, btf);
}

/// UTF-8 -> [`conformance::parse`] (no directory: `@ FILE` references fail cleanly); a parsed
/// case's `asm` is assembled and its `raw` bytes decoded.
pub fn conformance_data(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(case) = conformance::parse(text, None) else {
        return;
    };
    if let Some(src) = &case.asm {
        let _ = asm::assemble(src);
    }
    if let Some(raw) = &case.raw {
        let _ = Program::from_bytes(raw);
    }
}

#[cfg(feature = "probes")]
pub use guest::*;

#[cfg(feature = "probes")]
mod guest {
    use probes::attach::AttachSpec;
    use probes::lines::LineTable;
    use probes::symbols::SymbolTable;
    use probes::types::{Kind, TypeDb, TypeId};

    /// An ELF image -> [`SymbolTable::from_elf`]; each symbol of a parsed table is found by
    /// its unique name and by its address, and the name queries (prefix, glob, suggestions)
    /// answer.
    pub fn symbols(data: &[u8]) {
        let Ok(table) = SymbolTable::from_elf(data) else {
            return;
        };
        for sym in table.symbols().iter().take(2000) {
            assert!(
                table.lookup(&sym.unique_name).is_some(),
                "symbol {} not found by its unique name",
                sym.unique_name
            );
            let _ = table.resolve(sym.addr);
            let _ = table.resolve(sym.addr.wrapping_add(sym.size));
            let _ = table.format_addr(sym.addr.wrapping_add(1));
            let _ = table.extent(sym);
        }
        let first = table
            .symbols()
            .first()
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let _ = table.prefix(&first[..first.len().min(3)]).count();
        let _ = table.glob("*_*");
        let _ = table.suggest("schedul", 3);
        let _ = table.resolve(0);
        let _ = table.resolve(u64::MAX);
    }

    /// Type names looked up in every image: the teaching kernel's and the fixture's.
    const TYPE_NAMES: &[&str] = &[
        "task_struct",
        "sk_buff",
        "net_device",
        "list_head",
        "pt_regs",
        "file",
        "int",
        "long unsigned int",
        "char",
        "shape",
        "point",
        "packet",
        "flags",
        "u32",
        "pid_t",
    ];

    /// An ELF image -> [`TypeDb::from_elf`]; a parsed one answers `find` for common names, and
    /// each type found has a size, a name, a declaration, a layout and member paths. The
    /// ident padding (bytes 9..13, ignored by ELF readers) is also tried as a type id.
    pub fn dwarf_types(data: &[u8]) {
        let Ok(db) = TypeDb::from_elf(data) else {
            return;
        };
        let _ = db.unit_count();
        let _ = db.indexed_names();
        for name in TYPE_NAMES {
            if let Ok(Some(id)) = db.find(name) {
                walk_type(&db, id, 0);
            }
        }
        if let Some(pad) = data.get(9..13) {
            let id = TypeId(u64::from(u32::from_le_bytes([
                pad[0], pad[1], pad[2], pad[3],
            ])));
            walk_type(&db, id, 0);
        }
        if let Ok(table) = SymbolTable::from_elf(data) {
            for sym in table.symbols().iter().filter(|s| s.kind.is_text()).take(16) {
                if let Ok(Some(f)) = db.function(&sym.name) {
                    let _ = f.prototype();
                }
            }
        }
        if data.len() < 1 << 16 {
            let _ = probes::cdecl::vmlinux_h(&db);
        }
    }

    fn walk_type(db: &TypeDb<'_>, id: TypeId, depth: usize) {
        let _ = db.size_of(id);
        let _ = db.align_of(id);
        let _ = db.name_of(Some(id));
        let _ = db.declaration(Some(id), "x");
        let _ = db.strip(Some(id));
        let _ = db.format_pahole(id);
        let Ok(t) = db.get(id) else {
            return;
        };
        if let Kind::Struct(members) | Kind::Union(members) = &t.kind {
            if let Ok(layout) = db.layout(id) {
                let _ = (layout.holes(), layout.sum_holes(), layout.bit_holes());
            }
            for m in members.iter().take(8) {
                if let Some(name) = &m.name {
                    let _ = db.member_path(id, name);
                    let _ = db.member_path(id, &format!("{name}[1].x"));
                }
                if depth < 3 {
                    walk_type(db, m.ty, depth + 1);
                }
            }
        }
    }

    /// An ELF image -> [`LineTable::from_elf`]; a parsed table answers location, inline
    /// frames and line listings for the first text symbols.
    pub fn dwarf_lines(data: &[u8]) {
        let Ok(lines) = LineTable::from_elf(data) else {
            return;
        };
        let Ok(table) = SymbolTable::from_elf(data) else {
            let _ = lines.location(0);
            return;
        };
        for sym in table.symbols().iter().filter(|s| s.kind.is_text()).take(16) {
            let _ = lines.location(sym.addr);
            let _ = lines.frames(sym.addr.wrapping_add(4));
            let end = sym.addr.saturating_add(sym.size.min(4096));
            let _ = lines.lines_in(sym.addr..end);
        }
    }

    /// The symbols the attach specs resolve against: the fixture ELF's.
    fn fixture_symbols() -> &'static SymbolTable {
        static TABLE: std::sync::OnceLock<SymbolTable> = std::sync::OnceLock::new();
        TABLE.get_or_init(|| {
            SymbolTable::from_elf(include_bytes!("../fixtures/tiny.elf")).expect("fixture symbols")
        })
    }

    /// UTF-8 -> [`AttachSpec::parse`]; a parsed spec is resolved against the fixture's
    /// symbols.
    pub fn attach_spec(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(spec) = AttachSpec::parse(text) {
            let _ = spec.resolve(fixture_symbols());
        }
    }

    /// 24 bytes of arguments (three little-endian u64), then the format bytes, as a filter
    /// would pass them to `bpf_trace_printk` -> [`probes::printk::format`]. `%s` reads the
    /// input itself (an argument is an offset into it). The kernel's output buffer is 512
    /// bytes, so a much longer result means a guest can make the host allocate at will.
    pub fn printk_format(data: &[u8]) {
        let Some((args, fmt)) = data.split_first_chunk::<24>() else {
            return;
        };
        let arg = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&args[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        let mut read_str = |addr: u64| -> Option<Vec<u8>> {
            let tail = data.get(usize::try_from(addr).ok()?..)?;
            let end = tail.iter().position(|&b| b == 0)?;
            Some(tail[..end].to_vec())
        };
        if let Ok(out) = probes::printk::format(fmt, [arg(0), arg(1), arg(2)], &mut read_str) {
            assert!(
                out.len() <= 64 * 1024,
                "trace_printk produced {} bytes from a {}-byte format",
                out.len(),
                fmt.len()
            );
        }
    }
}

/// An ELF image -> [`emu::KernelImage::parse`]; a parsed image is loaded into 16 MiB of
/// guest RAM (segments outside it must be refused, not written).
#[cfg(feature = "kernel")]
pub fn kernel_image(data: &[u8]) {
    use emu::{KernelImage, Ram};
    thread_local! {
        static RAM: Option<Ram> = Ram::new(16 << 20).ok();
    }
    let Ok(image) = KernelImage::parse("fuzz", data.to_vec()) else {
        return;
    };
    let _ = (image.name(), image.bytes().len(), image.protocol());
    let KernelImage::Elf(elf) = &image;
    RAM.with(|ram| {
        if let Some(ram) = ram {
            let _ = elf.load(ram, (0x7000, 0x9000));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(src: &str) -> Program {
        Program::new(asm::assemble(src).expect("assembles")).expect("valid")
    }

    #[test]
    fn scratch_reads_after_calls_are_found() {
        assert!(reads_scratch_after_call(&prog(
            "mov %r1, -1\ncall 5\nstxh [%r1+2], %r2\nexit"
        )));
        assert!(!reads_scratch_after_call(&prog(
            "mov %r1, -1\ncall 5\nmov %r1, 0\nmov %r0, %r1\nexit"
        )));
        // Through a back edge: the second call passes the first one's leftovers.
        assert!(reads_scratch_after_call(&prog(
            "mov %r1, 1\nloop:\ncall 2\njne %r0, 0, loop\nexit"
        )));
        assert!(!reads_scratch_after_call(&prog("mov %r0, 1\nexit")));
    }
}

/// A `.bpfrec` recording -> [`emu::record::parse`]: any bytes give a recording or an error,
/// never a panic; a parsed recording re-encodes to bytes that parse to the same recording.
#[cfg(feature = "kernel")]
pub fn recording(data: &[u8]) {
    let Ok(rec) = emu::record::parse(data) else {
        return;
    };
    let Ok(again) = emu::record::to_bytes(&rec) else {
        return;
    };
    let back = emu::record::parse(&again).expect("a re-encoded recording parses");
    let third = emu::record::to_bytes(&back).expect("and encodes again");
    assert_eq!(third, again, "re-encoding is stable");
}

/// A duration (`--for`, `run`, `@sleep`) -> [`emu::duration::parse_ns`]: any text gives a
/// duration or an error, never a panic; an accepted duration printed as seconds with nine
/// decimals parses back to the same nanoseconds.
#[cfg(feature = "kernel")]
pub fn duration(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ns) = emu::duration::parse_ns(text) else {
        return;
    };
    let again = format!("{}.{:09}s", ns / 1_000_000_000, ns % 1_000_000_000);
    assert_eq!(
        emu::duration::parse_ns(&again),
        Ok(ns),
        "{text:?} -> {ns} ns -> {again:?}"
    );
}
