//! The teaching kernel through symbols, attach points, types, lines and vmlinux.h.
//! Expected values come from the kernel's own sources and its generated asm-offsets.h.

mod common;

use std::collections::HashMap;
use std::process::Command;

use probes::attach::{resolve_attach, AttachError};
use probes::lines::LineTable;
use probes::symbols::{SymbolKind, SymbolTable};
use probes::types::{ArgLocation, ArgReg, TypeDb};

fn symbols() -> SymbolTable {
    SymbolTable::from_elf(common::teaching_elf()).expect("symbols")
}

fn types() -> TypeDb<'static> {
    TypeDb::from_elf(common::teaching_elf()).expect("types")
}

/// `(file, line)` of the first source line starting with `prefix` under the kernel tree.
fn source_line(prefix: &str) -> (String, u32) {
    let out = Command::new("grep")
        .args(["-rn", "--include=*.c", &format!("^{prefix}")])
        .arg(common::teaching_src())
        .output()
        .expect("grep");
    let text = String::from_utf8(out.stdout).expect("utf-8 grep output");
    let first = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("{prefix} not in the sources"));
    let mut parts = first.splitn(3, ':');
    let file = parts.next().expect("file").to_string();
    let line = parts.next().and_then(|l| l.parse().ok()).expect("line");
    (file, line)
}

#[test]
fn symbols_resolve_both_ways() {
    let syms = symbols();
    assert!(syms.len() > 200, "only {} symbols", syms.len());
    let ip_rcv = syms.lookup("ip_rcv").expect("ip_rcv");
    assert_eq!(ip_rcv.kind, SymbolKind::Function);
    assert!(ip_rcv.size > 0);
    for off in [0, 1, ip_rcv.size / 2, ip_rcv.size - 1] {
        let (s, o) = syms.resolve(ip_rcv.addr + off).unwrap();
        assert_eq!((s.name.as_str(), o), ("ip_rcv", off));
    }
    assert_eq!(syms.format_addr(ip_rcv.addr + 0x1f).unwrap(), "ip_rcv+0x1f");
    // Assembly entry points have size 0: kallsyms-style resolution.
    let entry = syms.lookup("entry_SYSCALL_64").expect("entry_SYSCALL_64");
    assert!(entry.kind.is_text());
    let (s, off) = syms.resolve(entry.addr + 3).unwrap();
    assert_eq!(s.addr, entry.addr);
    assert_eq!(off, 3);
    // Every function resolves to itself at its start.
    for s in syms
        .symbols()
        .iter()
        .filter(|s| s.kind == SymbolKind::Function)
    {
        let (r, off) = syms.resolve(s.addr).unwrap();
        assert_eq!((r.addr, off), (s.addr, 0), "{}", s.name);
    }
    // Local (static) functions are there too.
    let local = syms.lookup("ip_rcv_finish").expect("static ip_rcv_finish");
    assert_eq!(local.binding, probes::symbols::Binding::Local);
    assert_eq!(local.file.as_deref(), Some("ip_input.c"));
}

#[test]
fn globs_prefixes_and_attach_points() {
    let syms = symbols();
    let ip: Vec<_> = syms
        .glob("ip_*")
        .unwrap()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert!(ip.contains(&"ip_rcv".to_string()) && ip.contains(&"ip_error".to_string()));
    assert!(ip.iter().all(|n| n.starts_with("ip_")));
    assert_eq!(syms.prefix("ip_").count(), ip.len());
    assert!(syms
        .glob("ip_rc?")
        .unwrap()
        .iter()
        .any(|s| s.name == "ip_rcv"));

    let skb = syms.lookup("kfree_skb").unwrap().clone();
    let at = resolve_attach("kprobe:kfree_skb+0x4", &syms).unwrap();
    assert_eq!(
        (at[0].addr, at[0].offset, at[0].is_return),
        (skb.addr + 4, 4, false)
    );
    let at = resolve_attach("kfree_skb%return", &syms).unwrap();
    assert!(at[0].is_return && at[0].addr == skb.addr);
    let at = resolve_attach(&format!("{:#x}", skb.addr + 2), &syms).unwrap();
    assert_eq!((at[0].symbol.as_str(), at[0].offset), ("kfree_skb", 2));
    let all = resolve_attach("kretprobe:*_rcv", &syms).unwrap();
    assert!(
        all.len() >= 3
            && all
                .iter()
                .all(|a| a.is_return && a.symbol.ends_with("_rcv"))
    );

    let err = resolve_attach("ip_rvc", &syms).unwrap_err();
    assert!(
        matches!(&err, AttachError::UnknownSymbol { suggestions, .. } if suggestions.iter().any(|s| s == "ip_rcv"))
    );
    assert!(err.to_string().contains("did you mean"));
    let err = resolve_attach(&format!("kfree_skb+{}", skb.size), &syms).unwrap_err();
    assert!(matches!(err, AttachError::OffsetBeyondEnd { .. }), "{err}");
    assert!(matches!(
        resolve_attach("jiffies", &syms),
        Err(AttachError::NotCode(_))
    ));
    assert!(matches!(
        resolve_attach("nothing_like_this_*", &syms),
        Err(AttachError::NoMatch(_))
    ));
    assert!(matches!(
        resolve_attach("0x10", &syms),
        Err(AttachError::AddressNotInCode(0x10))
    ));
}

#[test]
fn sk_buff_layout_matches_the_source() {
    let db = types();
    let skb = db.find("struct sk_buff").unwrap().expect("struct sk_buff");
    assert_eq!(db.find("sk_buff").unwrap(), Some(skb));
    let layout = db.layout(skb).unwrap();
    let offset = |m: &str| layout.member(m).unwrap_or_else(|| panic!("no {m}")).offset;
    // From include/linux/skbuff.h, counted by hand from the member list.
    assert_eq!(
        [
            offset("dev"),
            offset("len"),
            offset("protocol"),
            offset("head"),
            offset("data")
        ],
        [16, 88, 120, 136, 144]
    );
    assert_eq!(layout.size, 160);
    assert_eq!(layout.member("cb").unwrap().decl, "char cb[48]");
    assert_eq!(
        layout.member("dev").unwrap().type_name,
        "struct net_device *"
    );
    assert_eq!(
        (layout.holes(), layout.sum_holes(), layout.padding),
        (1, 2, 0)
    );
    let text = db.format_pahole(skb).unwrap();
    assert!(text.starts_with("struct sk_buff {\n"), "{text}");
    assert!(
        text.contains("/* XXX 2 bytes hole, try to pack */"),
        "{text}"
    );
    assert!(
        text.contains("/* size: 160, cachelines: 3, members: 26 */"),
        "{text}"
    );
    assert!(
        text.contains("/* sum members: 158, holes: 1, sum holes: 2 */"),
        "{text}"
    );

    assert_eq!(db.member_path(skb, "dev").unwrap().offset, 16);
    let ndev = db.require("struct net_device").unwrap();
    let ifindex = db.member_path(ndev, "ifindex").unwrap();
    assert_eq!(db.name_of(Some(ifindex.ty)).unwrap(), "int");
    let name5 = db.member_path(ndev, "name[5]").unwrap();
    assert_eq!(
        name5.offset,
        db.member_path(ndev, "name").unwrap().offset + 5
    );
    let err = db.member_path(skb, "dev.name").unwrap_err().to_string();
    assert!(err.contains("pointer"), "{err}");
    let err = db.member_path(skb, "lenn").unwrap_err().to_string();
    assert!(err.contains("did you mean len"), "{err}");
    assert!(db.member_path(skb, "cb[48]").is_err());
    assert!(matches!(
        db.require("struct no_such_thing"),
        Err(probes::types::TypeError::UnknownType(_))
    ));
}

#[test]
fn offsets_agree_with_the_kernels_asm_offsets() {
    let header = std::fs::read_to_string(
        common::teaching_build_dir().join("include/generated/asm-offsets.h"),
    )
    .unwrap();
    let defines: HashMap<&str, u64> = header
        .lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k, v.trim().parse().unwrap()))
        .collect();
    let db = types();
    let checks = [
        ("TASK_threadsp", "struct task_struct", "thread.sp"),
        ("TSS_sp0", "struct x86_hw_tss", "sp0"),
        ("TSS_sp2", "struct x86_hw_tss", "sp2"),
        ("PTREGS_ORIG_AX", "struct pt_regs", "orig_ax"),
        ("PTREGS_IP", "struct pt_regs", "ip"),
        ("PTREGS_CX", "struct pt_regs", "cx"),
        ("PTREGS_R11", "struct pt_regs", "r11"),
        ("PTREGS_SP", "struct pt_regs", "sp"),
        ("PTREGS_AX", "struct pt_regs", "ax"),
    ];
    for (define, ty, path) in checks {
        let id = db.require(ty).unwrap();
        assert_eq!(
            db.member_path(id, path).unwrap().offset,
            defines[define],
            "{define}"
        );
    }
    let regs = db.require("struct pt_regs").unwrap();
    assert_eq!(db.size_of(regs).unwrap(), defines["PTREGS_SIZE"]);
}

#[test]
fn function_parameters_and_registers() {
    let db = types();
    let f = db.function("dst_discard").unwrap().expect("dst_discard");
    assert_eq!(f.prototype(), "int dst_discard(struct sk_buff *skb)");
    assert_eq!(
        f.param("skb").unwrap().location,
        ArgLocation::Reg(ArgReg::Rdi)
    );
    let syms = symbols();
    assert_eq!(f.low_pc, Some(syms.lookup("dst_discard").unwrap().addr));
    let f = db.function("ip_route_input_noref").unwrap().unwrap();
    let regs: Vec<_> = f.params.iter().map(|p| p.location).collect();
    use ArgReg::*;
    assert_eq!(
        regs,
        [Rdi, Rsi, Rdx, Rcx, R8].map(ArgLocation::Reg).to_vec(),
        "{}",
        f.prototype()
    );
    assert_eq!(f.params[3].type_name, "u8");
    assert!(db.function("no_such_function").unwrap().is_none());
}

#[test]
fn lines_and_source_files() {
    let syms = symbols();
    let lines = LineTable::from_elf(common::teaching_elf()).unwrap();
    let (file, line) = source_line("noinline int ip_rcv(");
    let ip_rcv = syms.lookup("ip_rcv").unwrap();
    let at_entry = lines.location(ip_rcv.addr).unwrap().unwrap();
    assert!(
        file.ends_with(&at_entry.file.rsplit('/').next().unwrap().to_string()),
        "{at_entry} vs {file}"
    );
    // gcc puts the entry on the declarator's lines, before the opening brace.
    let entry_line = at_entry.line.unwrap();
    assert!(
        (line..line + 3).contains(&entry_line),
        "{at_entry}: ip_rcv starts at line {line}"
    );
    let listing = lines.lines_of(&syms, "ip_rcv").unwrap();
    assert!(listing.len() > 2);
    assert!(listing.windows(2).all(|w| w[0].addr <= w[1].addr));
    assert!(listing
        .iter()
        .all(|r| syms.extent(ip_rcv).contains(&r.addr)));
    // An address in the middle: the outermost frame is ip_rcv itself, in its file.
    let mid = ip_rcv.addr + ip_rcv.size / 2;
    let frames = lines.frames(mid).unwrap();
    let outer = frames.last().unwrap();
    assert_eq!(outer.function.as_deref(), Some("ip_rcv"));
    assert!(outer
        .location
        .as_ref()
        .unwrap()
        .file
        .ends_with("ip_input.c"));
    let frames_of_entry = lines.frames(ip_rcv.addr).unwrap();
    assert_eq!(
        frames_of_entry.last().unwrap().function.as_deref(),
        Some("ip_rcv")
    );
    assert!(matches!(
        lines.lines_of(&syms, "nope"),
        Err(probes::lines::LineError::UnknownFunction(_))
    ));
    // Inlined code somewhere: some address has more than one frame, innermost first.
    let inlined = syms
        .symbols()
        .iter()
        .filter(|s| s.kind == SymbolKind::Function)
        .flat_map(|s| (s.addr..s.addr + s.size).step_by(4))
        .find_map(|a| lines.frames(a).ok().filter(|f| f.len() > 1));
    let inlined = inlined.expect("no inlined frame anywhere");
    assert!(inlined.iter().all(|f| f.function.is_some()));
}

fn require_clang() {
    let ok = Command::new("clang")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "clang is required for the vmlinux.h test: run scripts/setup.sh"
    );
}

#[test]
fn vmlinux_h_compiles_for_bpf_with_the_right_layouts() {
    require_clang();
    let db = types();
    let header = probes::cdecl::vmlinux_h(&db).unwrap();
    assert!(header.contains("#ifndef __VMLINUX_H__"));
    assert!(header.contains("preserve_access_index"));
    assert!(header.contains("struct sk_buff {"));
    // Every struct's size and member offsets as static asserts: if the C we wrote lays out
    // differently from the DWARF, clang says so.
    let mut asserts = String::new();
    for line in header.lines() {
        let Some(name) = line
            .strip_prefix("struct ")
            .and_then(|l| l.strip_suffix(" {"))
        else {
            continue;
        };
        if name.contains("___") {
            continue;
        }
        let id = db.require(&format!("struct {name}")).unwrap();
        let layout = db.layout(id).unwrap();
        asserts.push_str(&format!(
            "_Static_assert(sizeof(struct {name}) == {}, \"size of {name}\");\n",
            layout.size
        ));
        for m in layout.members.iter().filter(|m| m.bit_size.is_none()) {
            if let Some(member) = &m.name {
                asserts.push_str(&format!(
                    "_Static_assert(__builtin_offsetof(struct {name}, {member}) == {}, \"{name}.{member}\");\n",
                    m.offset
                ));
            }
        }
    }
    assert!(asserts.lines().count() > 100);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("vmlinux-h");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("vmlinux.h"), &header).unwrap();
    let prog = format!(
        "#include \"vmlinux.h\"\n{asserts}\n{}",
        r#"
static long (*bpf_probe_read_kernel)(void *dst, unsigned int size, const void *src) = (void *)113;
__attribute__((section("kprobe/dst_discard"), used))
int read_ifindex(struct pt_regs *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx->di;
	struct net_device *dev = 0;
	int ifindex = 0;
	bpf_probe_read_kernel(&dev, sizeof(dev), &skb->dev);
	bpf_probe_read_kernel(&ifindex, sizeof(ifindex), &dev->ifindex);
	return ifindex;
}
char _license[] __attribute__((section("license"), used)) = "GPL";
"#
    );
    std::fs::write(dir.join("prog.c"), prog).unwrap();
    let out = Command::new("clang")
        .args([
            "-O2", "-g", "-target", "bpf", "-Wall", "-c", "prog.c", "-o", "prog.o",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "clang failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let object = std::fs::read(dir.join("prog.o")).unwrap();
    let elf = goblin::elf::Elf::parse(&object).unwrap();
    let has = |name: &str| {
        elf.section_headers
            .iter()
            .any(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(name))
    };
    assert!(has(".BTF.ext"), "no CO-RE relocation section");
}

#[test]
fn addresses_at_the_top_of_the_address_space_have_no_line() {
    let lines = LineTable::from_elf(common::teaching_elf()).expect("lines");
    for a in [u64::MAX, u64::MAX - 1, u64::MAX - 0x800] {
        assert!(lines.location(a).expect("no error").is_none());
        assert!(lines.frames(a).expect("no error").is_empty());
    }
}
