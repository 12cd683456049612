//! Loads the objects clang builds from the vendored `jit/tests/data/bpf-samples` (-mcpu=v2 and v3): programs,
//! maps, relocations, subprogram linking (run through the interpreter), line info and CO-RE
//! records, and CO-RE application against another object's BTF.
//!
//! clang runs at test time into a temporary directory (`scripts/setup.sh` installs it); without
//! clang the tests fail, naming the fix.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use jit::btf::core::{self, AccessStep, CoreKind};
use jit::helpers::{Arg, HelperCx, HelperImpl, Helpers, Proto, Ret};
use jit::instr::{Instr, LdImmKind};
use jit::interp::{Interpreter, Prepared};
use jit::maps::MapKind;
use jit::object::{Object, ProgKind};
use std::path::{Path, PathBuf};
use std::process::Command;

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/bpf-samples");

/// Fails the test, naming the fix, when clang is missing.
fn require_clang() {
    let ok = Command::new("clang")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "clang is required: run scripts/setup.sh");
}

/// Compiles `name.bpf.c` for `cpu` into a per-process temp dir; returns the object's bytes.
fn build(name: &str, cpu: &str) -> Vec<u8> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("bpflab-object-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{name}.{cpu}.o"));
    let src = Path::new(SAMPLES).join(format!("{name}.bpf.c"));
    let st = Command::new("clang")
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            &format!("-mcpu={cpu}"),
            "-D__TARGET_ARCH_x86",
        ])
        .arg("-I/usr/include/x86_64-linux-gnu")
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "clang failed on {}", src.display());
    std::fs::read(out).unwrap()
}

/// Map indices referenced by `lddw` in a program: (slot, kind, imm).
fn map_refs(p: &jit::Program) -> Vec<(usize, LdImmKind, u64)> {
    p.instrs()
        .iter()
        .enumerate()
        .filter_map(|(i, ins)| match *ins {
            Instr::LdImm64 { kind, imm, .. } if kind != LdImmKind::Imm64 => Some((i, kind, imm)),
            _ => None,
        })
        .collect()
}

#[test]
fn kprobe_sample_programs_maps_and_relocations() {
    require_clang();
    for cpu in ["v2", "v3"] {
        let obj = Object::parse(&build("kprobe_dst_discard", cpu)).unwrap();
        assert_eq!(obj.license.as_deref(), Some("GPL"));
        let names: Vec<&str> = obj.programs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["trace_dst_discard", "trace_dst_discard_raw"],
            "{cpu}"
        );
        for p in &obj.programs {
            assert_eq!(
                p.kind,
                ProgKind::Kprobe {
                    target: "dst_discard".into()
                }
            );
            assert_eq!(p.section, "kprobe/dst_discard");
        }
        let maps: Vec<(&str, MapKind, u32, u32, u32)> = obj
            .maps
            .iter()
            .map(|m| {
                (
                    m.def.name.as_str(),
                    m.def.kind,
                    m.def.key_size,
                    m.def.value_size,
                    m.def.max_entries,
                )
            })
            .collect();
        assert_eq!(
            maps[..2],
            [
                ("len_hist", MapKind::Hash, 4, 8, 1024),
                ("total", MapKind::Array, 4, 8, 1)
            ],
            "{cpu}"
        );
        let ro = obj.map_index(".rodata").expect(".rodata map");
        let bss = obj.map_index(".bss").expect(".bss map");
        assert!(obj.maps[ro].read_only);
        assert_eq!(
            obj.maps[ro].init.as_deref().map(|b| &b[..4]),
            Some(&112u32.to_le_bytes()[..])
        );
        assert_eq!(obj.maps[bss].def.value_size, 8);
        assert_eq!(obj.maps[bss].init, None);

        // trace_dst_discard references len_hist (lookup and update), total, .rodata+0
        // (len_offset) and .bss+0 (events_seen).
        let p = obj.program("trace_dst_discard").unwrap();
        let refs = map_refs(&p.program);
        let idx = |k: LdImmKind, imm: u64| refs.iter().filter(|r| r.1 == k && r.2 == imm).count();
        assert_eq!(idx(LdImmKind::MapIdx, 0), 2, "{cpu}: {refs:?}");
        assert_eq!(idx(LdImmKind::MapIdx, 1), 1, "{cpu}: {refs:?}");
        assert!(
            idx(LdImmKind::MapIdxValue, ro as u64) >= 1,
            "{cpu}: {refs:?}"
        );
        assert_eq!(
            idx(LdImmKind::MapIdxValue, bss as u64),
            1,
            "{cpu}: {refs:?}"
        );
        // The raw program references len_hist only (and .rodata).
        let raw = obj.program("trace_dst_discard_raw").unwrap();
        let refs = map_refs(&raw.program);
        assert!(
            refs.iter().all(|r| r.1 != LdImmKind::MapIdx || r.2 == 0),
            "{refs:?}"
        );

        // The map table instantiates and every reference resolves against it.
        let set = jit::maps::MapSet::from_object(&obj).unwrap();
        let mut linked = p.program.clone();
        set.resolve_program(&mut linked).unwrap();
        assert!(map_refs(&linked).is_empty());
        let rodata = set.get(ro).unwrap().get(&0u32.to_le_bytes()).unwrap();
        assert_eq!(rodata[..4], 112u32.to_le_bytes());

        // Line info: the first instruction of the raw program is on its first lines.
        let l = obj.line_of("trace_dst_discard_raw", 0).unwrap();
        assert!(l.file.ends_with("kprobe_dst_discard.bpf.c"), "{l:?}");
        assert!((47..=55).contains(&l.line), "{l:?}");
        let last = raw.program.len() - 1;
        let l = obj.line_of("trace_dst_discard_raw", last).unwrap();
        assert!(l.text.contains("return 0") || l.text.contains('}'), "{l:?}");
    }
}

/// `bpf_probe_read_kernel` for the test: copies from the "kernel" address (which the test
/// points at its own memory) with the checked accessors.
struct ProbeRead;
impl HelperImpl<()> for ProbeRead {
    fn call(cx: &mut HelperCx<'_, '_, ()>, a: [u64; 5]) -> u64 {
        let mut buf = vec![0u8; a[1] as usize];
        if cx.read(a[2], &mut buf).is_err() || cx.write(a[0], &buf).is_err() {
            return (-14i64) as u64;
        }
        0
    }
}

/// Stub helpers that return 0.
struct Zero;
impl HelperImpl<()> for Zero {
    fn call(_: &mut HelperCx<'_, '_, ()>, _: [u64; 5]) -> u64 {
        0
    }
}

/// Map lookups return the address of a per-run buffer: enough to run `seed_filter` without
/// real maps. The environment is the buffer's address.
struct FakeLookup;
impl HelperImpl<()> for FakeLookup {
    fn call(_: &mut HelperCx<'_, '_, ()>, _: [u64; 5]) -> u64 {
        FAKE_VALUE.with(|v| v.as_ptr() as usize as u64)
    }
}
thread_local! {
    static FAKE_VALUE: std::cell::Cell<[u8; 8]> = const { std::cell::Cell::new([0; 8]) };
}

#[test]
fn seed_filter_links_subprogram_and_runs_it() {
    require_clang();
    for cpu in ["v2", "v3"] {
        let obj = Object::parse(&build("seed_filter", cpu)).unwrap();
        let p = obj.program("tracepoint/net/netif_receive_skb").unwrap();
        assert_eq!(p.name, "seed_filter");
        assert_eq!(
            p.kind,
            ProgKind::Tracepoint {
                category: "net".into(),
                name: "netif_receive_skb".into()
            }
        );
        // The subprogram was appended: two functions, the call points at the second.
        assert_eq!(p.program.functions().len(), 2, "{cpu}");
        let callee = p.program.functions()[1].start;
        let calls: Vec<usize> = p
            .program
            .instrs()
            .iter()
            .enumerate()
            .filter_map(|(i, ins)| match ins {
                Instr::CallLocal { off } => Some((i as i64 + i64::from(*off) + 1) as usize),
                _ => None,
            })
            .collect();
        assert_eq!(calls, vec![callee]);
        // Maps: the legacy one first, then the BTF one, then .rodata (format strings).
        assert_eq!(obj.maps[0].def.name, "legacy_tbl");
        assert_eq!(
            (
                obj.maps[0].def.kind,
                obj.maps[0].def.key_size,
                obj.maps[0].def.value_size,
                obj.maps[0].def.max_entries
            ),
            (MapKind::Array, 4, 8, 4)
        );
        assert_eq!(obj.maps[1].def.name, "seen");
        assert_eq!(
            (obj.maps[1].def.key_size, obj.maps[1].def.value_size),
            (8, 8)
        );
        assert!(obj.maps[2].def.name.starts_with(".rodata"));

        // Run it: ctx = {arg1..arg5, regs}, arg2 points at a device name "lo".
        let mut prog = p.program.clone();
        prog.resolve_pseudo(|_, _, imm| Ok::<u64, ()>(imm)).unwrap();
        let mut h = Helpers::<()>::new();
        h.register::<FakeLookup>(
            1,
            Proto::new("lookup", [Arg::Anything, Arg::Anything], Ret::Integer),
        );
        h.register::<Zero>(2, Proto::new("update", [Arg::Anything; 4], Ret::Integer));
        h.register::<Zero>(
            6,
            Proto::new("trace_printk", [Arg::Anything; 5], Ret::Integer),
        );
        h.register::<Zero>(
            67,
            Proto::new("get_stack", [Arg::Anything; 4], Ret::Integer),
        );
        h.register::<ProbeRead>(
            113,
            Proto::new("probe_read_kernel", [Arg::Anything; 3], Ret::Integer),
        );
        let prepared = Prepared::new(&prog, &h).unwrap();
        let dev = *b"lo\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        let (a3, a4) = (1000i64, 77i64);
        let mut ctx = Vec::new();
        for v in [
            5u64,
            dev.as_ptr() as usize as u64,
            a3 as u64,
            a4 as u64,
            0,
            0,
        ] {
            ctx.extend_from_slice(&v.to_le_bytes());
        }
        let fake = FAKE_VALUE.with(|v| jit::native::frame::Region {
            start: v.as_ptr() as usize as u64,
            len: 8,
            writable: true,
        });
        let regions = [jit::native::frame::Region::of(&dev, false), fake];
        let r0 = Interpreter::new()
            .run_checked(&prepared, &mut ctx, &regions, &mut (), Some(100_000))
            .unwrap();
        assert_eq!(r0, 1, "{cpu}");
        // The subprogram's result went through the fake lookup's value: (a3*31) ^ (a4>>3).
        let got = i64::from_le_bytes(FAKE_VALUE.with(|v| v.get()));
        assert_eq!(got, (a3 * 31) ^ (a4 >> 3), "{cpu}");
    }
}

#[test]
fn core_records_resolve_and_apply_against_target_btf() {
    require_clang();
    let target_obj = Object::parse(&build("vmlinux_fake", "v2")).unwrap();
    let target = target_obj.btf.as_ref().expect("target BTF");
    for cpu in ["v2", "v3"] {
        let obj = Object::parse(&build("core_read", cpu)).unwrap();
        let local = obj.btf.as_ref().unwrap();
        let p = obj.program("core_probe").unwrap();
        let described: Vec<String> = p
            .core_relos
            .iter()
            .map(|r| format!("{:?} {}", r.kind, r.describe()))
            .collect();
        for want in [
            "FieldByteOffset struct pt_regs[0].di",
            "FieldByteOffset struct sk_buff[0].len",
            "FieldByteOffset struct sk_buff[0].dev",
            "FieldByteOffset struct net_device[0].ifindex",
            "FieldExists struct sk_buff[0].dev",
            "FieldByteSize struct sk_buff[0].len",
        ] {
            assert!(
                described.iter().any(|d| d == want),
                "{cpu}: {want} not in {described:?}"
            );
        }
        // Against the local BTF, every patched value equals what clang compiled in.
        let same = core::apply(&p.program, &p.core_relos, &|q| local.core_answer(q)).unwrap();
        assert_eq!(same.instrs(), p.program.instrs(), "{cpu}");
        // Against the fake kernel, offsets move to the kernel's layout.
        let patched = core::apply(&p.program, &p.core_relos, &|q| target.core_answer(q)).unwrap();
        for r in &p.core_relos {
            let field = match r.path.last() {
                Some(AccessStep::Field { name, .. }) => name.as_str(),
                _ => "",
            };
            let want: i64 = match (r.kind, r.type_name.as_str(), field) {
                (CoreKind::FieldByteOffset, "pt_regs", "di") => 14 * 8,
                (CoreKind::FieldByteOffset, "sk_buff", "len") => 72,
                (CoreKind::FieldByteOffset, "sk_buff", "dev") => 16,
                (CoreKind::FieldByteOffset, "net_device", "ifindex") => 40,
                (CoreKind::FieldByteSize, "sk_buff", "len") => 4,
                (CoreKind::FieldExists, _, _) => 1,
                other => panic!("unexpected record {other:?}"),
            };
            let got = match patched.instrs()[r.insn] {
                Instr::Alu {
                    src: jit::instr::Src::Imm(v),
                    ..
                } => i64::from(v),
                Instr::Load { off, .. } => i64::from(off),
                Instr::LdImm64 { imm, .. } => imm as i64,
                other => panic!("patched {other:?}"),
            };
            assert_eq!(got, want, "{cpu}: {}", r.describe());
        }
        // A target without the types: existence becomes 0, offsets are poisoned.
        let empty = core::apply(&p.program, &p.core_relos, &|_| {
            Ok::<_, String>(core::CoreAnswer::Missing)
        })
        .unwrap();
        let poisoned = empty
            .instrs()
            .iter()
            .filter(|i| matches!(i, Instr::CallHelper { id } if *id == core::POISON_HELPER))
            .count();
        assert!(poisoned >= 1, "{cpu}");
        // A failing resolver names the record.
        let e = core::apply(&p.program, &p.core_relos, &|_| Err("no DWARF")).unwrap_err();
        assert!(
            e.to_string().contains("no DWARF") && e.to_string().contains("struct"),
            "{e}"
        );
    }
}
