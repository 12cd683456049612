//! A small two-file C program (tests/fixtures) with every shape the readers must handle:
//! duplicate static names, anonymous unions, bitfields, flexible and 2-D arrays, packed
//! structs, function pointers, conflicting types. gcc is the oracle for offsets.

mod common;

use std::process::Command;

use probes::symbols::SymbolTable;
use probes::types::{ArgLocation, Kind, TypeDb};

#[test]
fn duplicate_locals_are_disambiguated_by_file() {
    let syms = SymbolTable::from_elf(common::fixture_elf()).unwrap();
    let first = syms.lookup("helper").unwrap();
    let second = syms.lookup("helper@b.c").unwrap();
    assert_ne!(first.addr, second.addr);
    assert_eq!(first.file.as_deref(), Some("a.c"));
    assert_eq!(syms.lookup("'b.c'::helper").unwrap().addr, second.addr);
    assert_eq!(
        syms.lookup("counter@b.c").unwrap().file.as_deref(),
        Some("b.c")
    );
    let names: Vec<_> = syms
        .prefix("helper")
        .map(|s| s.unique_name.as_str())
        .collect();
    assert_eq!(names, ["helper", "helper@b.c"]);
    let (s, off) = syms.resolve(second.addr + 1).unwrap();
    assert_eq!((s.unique_name.as_str(), off), ("helper@b.c", 1));
    let at = probes::attach::resolve_attach("kprobe:helper@b.c", &syms).unwrap();
    assert_eq!(at[0].addr, second.addr);
    let all = probes::attach::resolve_attach("helper*", &syms).unwrap();
    assert_eq!(all.len(), 2);
}

/// Compiles `asserts` after `#include "shapes.h"` with gcc: the C compiler checks our numbers.
fn gcc_agrees(asserts: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join("shapes_asserts.c");
    std::fs::write(
        &file,
        format!("#include \"shapes.h\"\n#include <stddef.h>\n{asserts}"),
    )
    .expect("write the assert file");
    let out = Command::new("gcc")
        .args(["-fsyntax-only", "-I"])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
        .arg(&file)
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc disagrees:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn member_paths_match_offsetof() {
    let db = TypeDb::from_elf(common::fixture_elf()).unwrap();
    let packet = db.require("struct packet").unwrap();
    assert_eq!(
        db.find("packet_t")
            .unwrap()
            .map(|t| db.strip(Some(t)).unwrap()),
        Some(Some(packet))
    );
    let paths = [
        "len",
        "sport",
        "dport",
        "ports",
        "ip.tos",
        "cv",
        "handler",
        "names[2]",
        "grid[1][2]",
        "list.prev",
        "stamp",
        "tail_byte",
        "payload",
        "payload[100]",
    ];
    let mut asserts = String::new();
    for path in paths {
        let r = db.member_path(packet, path).unwrap();
        asserts.push_str(&format!(
            "_Static_assert(offsetof(struct packet, {path}) == {}, \"{path}\");\n",
            r.offset
        ));
    }
    let size = db.size_of(packet).unwrap();
    asserts.push_str(&format!(
        "_Static_assert(sizeof(struct packet) == {size}, \"size\");\n"
    ));
    let wire = db.require("struct wire").unwrap();
    for m in ["kind", "value", "port"] {
        let off = db.member_path(wire, m).unwrap().offset;
        asserts.push_str(&format!(
            "_Static_assert(offsetof(struct wire, {m}) == {off}, \"{m}\");\n"
        ));
    }
    gcc_agrees(&asserts);

    assert_eq!(
        db.name_of(Some(db.member_path(packet, "grid[1][2]").unwrap().ty))
            .unwrap(),
        "u8"
    );
    // A row of a 2-D array has no DWARF type of its own.
    assert!(db
        .member_path(packet, "grid[1]")
        .unwrap_err()
        .to_string()
        .contains("every dimension"));
    assert!(db
        .member_path(packet, "grid[2][0]")
        .unwrap_err()
        .to_string()
        .contains("out of bounds"));
    assert!(db.member_path(packet, "grid[1].x").is_err());
    assert!(db
        .member_path(packet, "len.x")
        .unwrap_err()
        .to_string()
        .contains("not a struct"));
    assert!(db
        .member_path(packet, "list.next.prev")
        .unwrap_err()
        .to_string()
        .contains("pointer"));
}

#[test]
fn declarators_bitfields_enums_and_registers() {
    let db = TypeDb::from_elf(common::fixture_elf()).unwrap();
    let packet = db.require("struct packet").unwrap();
    let layout = db.layout(packet).unwrap();
    let decl = |m: &str| layout.member(m).unwrap().decl.clone();
    assert_eq!(decl("handler"), "int (*handler)(struct packet *, void *)");
    assert_eq!(decl("names"), "char *const names[3]");
    assert_eq!(decl("grid"), "u8 grid[2][3]");
    assert_eq!(decl("cv"), "const volatile int cv");
    assert_eq!(decl("payload"), "u8 payload[]");
    assert!(layout.members[1]
        .nested
        .as_ref()
        .is_some_and(|n| n.is_union));
    let text = db.format_pahole(packet).unwrap();
    assert!(text.contains("\tunion {\n\t\tstruct {\n"), "{text}");

    let flags = db.layout(db.require("struct flags").unwrap()).unwrap();
    let bits = |m: &str| {
        let m = flags.member(m).unwrap();
        (m.offset, m.bit_offset, m.bit_size)
    };
    assert_eq!(bits("a"), (0, Some(0), Some(3)));
    assert_eq!(bits("b"), (0, Some(3), Some(7)));
    assert_eq!(bits("c"), (4, Some(0), Some(1)));
    assert_eq!(bits("e"), (8, Some(0), Some(40)));
    assert_eq!(flags.member("b").unwrap().bit_hole_after, 22);

    let color = db.get(db.require("enum color").unwrap()).unwrap();
    let Kind::Enum { signed, values } = color.kind else {
        panic!("not an enum")
    };
    assert!(signed);
    let values: Vec<_> = values.iter().map(|v| (v.name.as_str(), v.value)).collect();
    assert_eq!(values, [("RED", 0), ("GREEN", 5), ("BLUE", -1)]);

    let f = db.function("use_a").unwrap().unwrap();
    assert_eq!(f.params[0].type_name, "packet_t *");
    assert_eq!(f.params.last().unwrap().location, ArgLocation::Stack);
    assert_eq!(f.params.len(), 7);
    let cmp = db.require("cmp_fn").unwrap();
    assert_eq!(db.name_of(Some(cmp)).unwrap(), "cmp_fn");
    let Kind::Typedef(target) = db.get(cmp).unwrap().kind else {
        panic!()
    };
    assert_eq!(
        db.name_of(target).unwrap(),
        "int (*)(const void *, const void *)"
    );
}

#[test]
fn vmlinux_h_renames_conflicts_and_keeps_layouts() {
    let db = TypeDb::from_elf(common::fixture_elf()).unwrap();
    let header = probes::cdecl::vmlinux_h(&db).unwrap();
    assert!(header.contains("struct conflict {"), "{header}");
    assert!(header.contains("struct conflict___2 {"), "{header}");
    assert_eq!(
        header.matches("struct list_head {").count(),
        1,
        "merged across units"
    );
    assert!(header.contains("} __attribute__((packed));"), "{header}");
    let def = header.find("struct list_head {").unwrap();
    let used = header.find("struct list_head list;").unwrap();
    assert!(def < used, "embedded type defined first");
    let clang_ok = Command::new("clang")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(clang_ok, "clang is required: run scripts/setup.sh");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("shapes-h");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("vmlinux.h"), &header).unwrap();
    let mut prog = String::from("#include \"vmlinux.h\"\n");
    for (name, member) in [
        ("packet", "stamp"),
        ("packet", "payload"),
        ("flags", "d"),
        ("wire", "port"),
    ] {
        let id = db.require(&format!("struct {name}")).unwrap();
        let off = db.member_path(id, member).unwrap().offset;
        let size = db.size_of(id).unwrap();
        prog.push_str(&format!(
            "_Static_assert(__builtin_offsetof(struct {name}, {member}) == {off}, \"{name}.{member}\");\n\
             _Static_assert(sizeof(struct {name}) == {size}, \"{name}\");\n"
        ));
    }
    std::fs::write(dir.join("check.c"), prog).unwrap();
    let out = Command::new("clang")
        .args(["-target", "bpf", "-fsyntax-only", "check.c"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
