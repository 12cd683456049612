//! The Linux guest has what real tracing tools expect of a kernel (issue: "a kernel that real
//! tools expect"): BPF's types in DWARF (so the generated `vmlinux.h` declares `BPF_ANY`),
//! tracepoints (scheduler, syscalls, block, network), real BTF, and `bpflab image info`
//! names what the image was built from with the hashes of its files.
//!
//! Needs the Linux image (`scripts/test.sh` builds it first); without it the tests fail.

use std::path::PathBuf;
use std::process::Command;

fn image_dir() -> PathBuf {
    emu::loader::linux::image_dir()
        .filter(|d| d.join("vmlinux").is_file())
        .expect("no Linux image: run `bpflab image build linux` (scripts/test.sh builds it)")
}

fn bpflab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bpflab"))
        .args(args)
        .env(
            "XDG_CACHE_HOME",
            std::env::temp_dir().join(format!("bpflab-linux-image-{}", std::process::id())),
        )
        .output()
        .expect("bpflab runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn image_info_names_the_packages_tracepoints_btf_and_hashes() {
    let dir = image_dir();
    let (code, out, err) = bpflab(&["image", "info", "linux"]);
    assert_eq!(code, 0, "{err}");
    let manifest = std::fs::read_to_string(dir.join("manifest")).expect("manifest");
    for line in manifest.lines() {
        let shown = match line.split_once("  ") {
            Some((hash, file)) => format!("sha256 {file:<18} {hash}"),
            None => line.to_string(),
        };
        assert!(out.contains(&shown), "image info lacks '{shown}':\n{out}");
    }
    assert!(manifest.contains("linux-source-6.1 "), "{manifest}");
    assert!(manifest.contains("busybox-static "), "{manifest}");
    let n: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("tracepoints "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        n > 300,
        "the guest should have hundreds of tracepoints:\n{out}"
    );
    assert!(
        out.contains("BTF         ") && !out.contains("BTF         none"),
        "{out}"
    );
}

#[test]
fn the_guest_declares_bpf_types_and_has_the_tracepoints_tools_attach_to() {
    let dir = image_dir();
    let bytes = std::fs::read(dir.join("vmlinux")).expect("vmlinux");
    let img = probes::image::GuestImage::new("linux", bytes).expect("image");
    let tps = img.tracepoints();
    for want in [
        "sched_switch",
        "sched_process_exec",
        "sched_process_exit",
        "signal_generate",
        "sys_enter",
        "sys_exit",
        "block_rq_issue",
        "block_rq_complete",
        "inet_sock_set_state",
        "tcp_retransmit_skb",
        "kfree_skb",
        "net_dev_xmit",
    ] {
        assert!(tps.binary_search(&want).is_ok(), "no tracepoint {want}");
    }
    let (code, h, err) = bpflab(&["vmlinux-h", "linux"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "BPF_ANY = 0",
        "BPF_NOEXIST = 1",
        "BPF_F_NO_PREALLOC",
        "struct bpf_map {",
        "struct request {",
        "struct trace_event_raw_sched_switch {",
        "struct ipv6_pinfo {",
        "struct cgroup {",
        "struct net {",
    ] {
        assert!(h.contains(want), "vmlinux.h lacks '{want}'");
    }
}
