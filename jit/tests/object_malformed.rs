//! Malformed objects give errors naming the problem, never a panic: truncation, wrong machine,
//! bad relocation offsets and symbols, corrupt BTF, plus random byte mutations of a valid object.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use jit::object::{Object, ObjectError};
use proptest::prelude::*;
use std::process::Command;
use std::sync::OnceLock;

/// A valid object: the vendored kprobe sample built by clang (the test fails without clang).
fn sample() -> &'static [u8] {
    static OBJ: OnceLock<Vec<u8>> = OnceLock::new();
    OBJ.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("bpflab-malformed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let out = dir.join("k.o");
        let src = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/bpf-samples/kprobe_dst_discard.bpf.c"
        );
        let st = Command::new("clang")
            .args(["-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86"])
            .arg("-I/usr/include/x86_64-linux-gnu")
            .arg("-c")
            .arg(src)
            .arg("-o")
            .arg(&out)
            .status();
        assert!(
            st.is_ok_and(|s| s.success()),
            "clang could not build {src} (clang is required: run scripts/setup.sh)"
        );
        std::fs::read(out).expect("object")
    })
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// (name, header offset) of every section.
fn sections(b: &[u8]) -> Vec<(String, usize)> {
    let shoff = u64_at(b, 0x28) as usize;
    let shnum = u16_at(b, 0x3c) as usize;
    let shstrndx = u16_at(b, 0x3e) as usize;
    let str_off = u64_at(b, shoff + shstrndx * 64 + 0x18) as usize;
    (0..shnum)
        .map(|i| {
            let h = shoff + i * 64;
            let n = str_off + u32_at(b, h) as usize;
            let end = b[n..].iter().position(|&c| c == 0).unwrap();
            (String::from_utf8_lossy(&b[n..n + end]).into_owned(), h)
        })
        .collect()
}

fn section_data(b: &[u8], name: &str) -> (usize, usize) {
    let (_, h) = sections(b).into_iter().find(|(n, _)| n == name).unwrap();
    (u64_at(b, h + 0x18) as usize, u64_at(b, h + 0x20) as usize)
}

#[test]
fn truncated_files_are_errors() {
    let obj = sample();
    assert!(Object::parse(obj).is_ok());
    for len in [0, 10, 63, 64, 1000, obj.len() / 2, obj.len() - 1] {
        let e = Object::parse(&obj[..len]);
        assert!(e.is_err(), "truncated to {len}");
    }
}

#[test]
fn wrong_machine_is_named() {
    let obj = sample();
    let mut b = obj.to_vec();
    b[0x12..0x14].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    assert_eq!(Object::parse(&b), Err(ObjectError::WrongMachine(62)));
}

#[test]
fn bad_relocations_are_named() {
    let obj = sample();
    let (off, _) = section_data(obj, ".relkprobe/dst_discard");
    // First relocation: offset off the end of the section.
    let mut b = obj.to_vec();
    b[off..off + 8].copy_from_slice(&0x10_0000u64.to_le_bytes());
    let e = Object::parse(&b).unwrap_err();
    assert!(
        matches!(&e, ObjectError::BadRelocation { section, offset: 0x10_0000, .. } if section == ".relkprobe/dst_discard"),
        "{e}"
    );
    // Misaligned offset.
    let mut b = obj.to_vec();
    let first = u64_at(obj, off);
    b[off..off + 8].copy_from_slice(&(first + 3).to_le_bytes());
    assert!(matches!(
        Object::parse(&b),
        Err(ObjectError::BadRelocation { .. })
    ));
    // Symbol index beyond the symbol table.
    let mut b = obj.to_vec();
    let info = u64_at(obj, off + 8);
    b[off + 8..off + 16].copy_from_slice(&((info & 0xffff_ffff) | (9999 << 32)).to_le_bytes());
    let e = Object::parse(&b).unwrap_err();
    assert!(e.to_string().contains("unknown symbol index 9999"), "{e}");
    // Unknown relocation type.
    let mut b = obj.to_vec();
    b[off + 8..off + 16].copy_from_slice(&((info & !0xffff_ffff) | 77).to_le_bytes());
    let e = Object::parse(&b).unwrap_err();
    assert!(e.to_string().contains("unknown relocation type 77"), "{e}");
}

#[test]
fn corrupt_btf_is_named() {
    let obj = sample();
    let (off, _) = section_data(obj, ".BTF");
    let mut b = obj.to_vec();
    b[off] ^= 0xff; // magic
    let e = Object::parse(&b).unwrap_err();
    assert!(
        matches!(
            e,
            ObjectError::Btf {
                section: ".BTF",
                ..
            }
        ),
        "{e}"
    );
    // String table length past the section.
    let mut b = obj.to_vec();
    b[off + 20..off + 24].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    let e = Object::parse(&b).unwrap_err();
    assert!(e.to_string().contains("string table"), "{e}");
}

#[test]
fn unknown_map_type_is_named() {
    let obj = sample();
    // `__uint(type, BPF_MAP_TYPE_HASH)` is a pointer to an array of 1 element: rewrite every
    // anonymous 1-element array of .BTF to 99 elements (map type 99 does not exist).
    let parsed = Object::parse(obj).unwrap();
    let btf = parsed.btf.as_ref().unwrap();
    let hash_arrays: Vec<u32> = btf
        .types()
        .filter_map(|(id, t)| match t {
            jit::btf::BtfType::Array { nelems: 1, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert!(!hash_arrays.is_empty());
    // Find the raw bytes of an array record with nelems == 1 in .BTF and set it to 99.
    let (off, size) = section_data(obj, ".BTF");
    let mut b = obj.to_vec();
    let type_start = off + u32_at(obj, off + 4) as usize + u32_at(obj, off + 8) as usize;
    let mut patched = 0;
    let mut i = type_start;
    while i + 24 <= off + size {
        // An array record: name 0, info = kind 3, size 0, then elem, index, nelems.
        if u32_at(&b, i) == 0
            && u32_at(&b, i + 4) == 3 << 24
            && u32_at(&b, i + 8) == 0
            && u32_at(&b, i + 20) == 1
        {
            b[i + 20..i + 24].copy_from_slice(&99u32.to_le_bytes());
            patched += 1;
        }
        i += 4;
    }
    assert!(patched > 0);
    let e = Object::parse(&b).unwrap_err();
    assert!(
        matches!(
            &e,
            ObjectError::UnknownMapType { ty: 99, .. } | ObjectError::BadMapDef { .. }
        ),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Random byte mutations of a valid object never panic the loader.
    #[test]
    fn mutated_objects_never_panic(muts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut b = sample().to_vec();
        for (i, v) in muts {
            let at = i.index(b.len());
            b[at] = v;
        }
        let _ = Object::parse(&b);
    }
}
