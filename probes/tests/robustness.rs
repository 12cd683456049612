//! Bad input never panics: random bytes, truncated and corrupted images give errors (or,
//! for corruption the parsers cannot see, answers), never a crash.

mod common;

use probes::lines::LineTable;
use probes::symbols::SymbolTable;
use probes::types::TypeDb;
use proptest::prelude::*;

/// Asks every question once; results are ignored, panics are not.
fn exercise(bytes: &[u8]) {
    if let Ok(syms) = SymbolTable::from_elf(bytes) {
        let _ = syms.lookup("ip_rcv");
        let _ = syms.resolve(0xffff_ffff_8010_0000);
        let _ = syms.glob("ip_*");
        let _ = probes::attach::resolve_attach("ip_rcv+4", &syms);
    }
    if let Ok(db) = TypeDb::from_elf(bytes) {
        if let Ok(Some(skb)) = db.find("struct sk_buff") {
            let _ = db.format_pahole(skb);
            let _ = db.member_path(skb, "dev");
        }
        let _ = db.function("ip_rcv");
    }
    if let Ok(lines) = LineTable::from_elf(bytes) {
        let _ = lines.frames(0xffff_ffff_8010_0000);
    }
}

#[test]
fn garbage_gives_errors_that_say_what_is_wrong() {
    let elf = common::teaching_elf();
    let err = SymbolTable::from_elf(b"hello").unwrap_err().to_string();
    assert!(err.contains("ELF"), "{err}");
    assert!(TypeDb::from_elf(&elf[..64]).is_err());
    assert!(LineTable::from_elf(&elf[..elf.len() / 2]).is_err());
    // Cut off the section headers at the end: goblin must notice.
    let err = TypeDb::from_elf(&elf[..elf.len() - 100])
        .unwrap_err()
        .to_string();
    assert!(!err.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        exercise(&bytes);
        let mut with_magic = b"\x7fELF\x02\x01\x01".to_vec();
        with_magic.extend_from_slice(&bytes);
        exercise(&with_magic);
    }

    #[test]
    fn truncated_images_never_panic(cut in 0usize..100_000) {
        let elf = common::teaching_elf();
        exercise(&elf[..cut.min(elf.len())]);
    }

    #[test]
    fn corrupted_images_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16)) {
        let mut elf = common::teaching_elf().to_vec();
        let len = elf.len();
        for (at, byte) in flips {
            elf[at.index(len)] = byte;
        }
        exercise(&elf);
    }
}
