//! Every example in `examples/` traced on the teaching kernel, compared with its golden output
//! (`tests/golden/NAME.txt`). The teaching kernel and the virtual clock make the output
//! deterministic. Set `BPFLAB_BLESS=1` to rewrite the golden files after an intended change
//! (the shared harness: the `golden` crate).

use std::path::Path;
use std::process::Command;

/// (golden name, attach arguments)
const CASES: &[(&str, &[&str])] = &[
    ("dst_discard", &["dst_discard=examples/dst_discard.bpf.c"]),
    ("syscalls_by_comm", &["examples/syscalls_by_comm.bpf.c"]),
    ("read_latency", &["examples/read_latency.bpf.c"]),
    ("kfree_skb_stacks", &["examples/kfree_skb_stacks.bpf.c"]),
    ("openat_files", &["examples/openat_files.bpf.c"]),
    ("bad_pointer", &["ip_rcv=examples/bad_pointer.bpf.c"]),
    ("profile", &["profile:hz:99=examples/profile.bpf.c"]),
    (
        "count_hits",
        &[
            "netif_receive_skb=examples/count_hits.s",
            "ip_local_deliver=examples/count_hits.s",
        ],
    ),
];

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The same examples on the Linux guest (`bpflab image build linux`), where they make sense.
const LINUX_CASES: &[(&str, &[&str])] = &[
    (
        "linux/dst_discard",
        &["dst_discard=examples/dst_discard.bpf.c"],
    ),
    (
        "linux/syscalls_by_comm",
        &["examples/syscalls_by_comm.bpf.c"],
    ),
    ("linux/read_latency", &["examples/read_latency.bpf.c"]),
    ("linux/openat_files", &["examples/openat_files.bpf.c"]),
    ("linux/bad_pointer", &["ip_rcv=examples/bad_pointer.bpf.c"]),
    ("linux/sched_switch", &["examples/sched_switch.bpf.c"]),
    (
        "linux/openat_tracepoint",
        &["examples/openat_tracepoint.bpf.c"],
    ),
    ("linux/profile", &["examples/profile.bpf.c"]),
];

fn trace_on(image: &str, attach: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bpflab"));
    cmd.current_dir(root())
        .stdin(std::process::Stdio::null())
        .arg("trace")
        .arg("--image")
        .arg(image);
    for a in attach {
        cmd.arg("--attach").arg(a);
    }
    let out = cmd.output().map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(stderr);
    }
    // stdout is deterministic; of stderr keep the stop line and the probe table with host
    // timings masked.
    let stdout = String::from_utf8_lossy(&out.stdout);
    Ok(format!(
        "{stdout}--- stderr (host timings masked)\n{}",
        golden::mask::stderr_timings(&stderr)
    ))
}

#[test]
fn every_example_matches_its_golden_output() {
    check_goldens("teaching", CASES);
}

/// Needs the Linux image (`scripts/test.sh` builds it first); without it the test fails.
#[test]
fn the_examples_match_their_golden_output_on_linux() {
    let dir = emu::loader::linux::image_dir()
        .expect("no Linux image: run `bpflab image build linux` (scripts/test.sh builds it)");
    // The goldens hold virtual timestamps, so they are exact only on the image they were
    // blessed on: `golden/linux/IMAGE` is that image's manifest (package versions, hashes).
    golden::assert_same_image(
        &dir,
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/linux/IMAGE"),
        "BPFLAB_BLESS=1 cargo test -p repl --test examples --test repl_batch linux",
    );
    check_goldens("linux", LINUX_CASES);
}

fn check_goldens(image: &str, cases: &[(&str, &[&str])]) {
    let mut failures = Vec::new();
    for (name, attach) in cases {
        let got = match trace_on(image, attach) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{name}: bpflab failed:\n{e}"));
                continue;
            }
        };
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{name}.txt"));
        if let Err(e) = golden::check(&path, &got) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn examples_listed_here_are_all_the_examples() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("examples"))
        .expect("examples dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bpf.c") || (n.ends_with(".s") && n != "sum.s"))
        .collect();
    files.sort();
    for f in files {
        assert!(
            CASES
                .iter()
                .chain(LINUX_CASES)
                .any(|(_, a)| a.iter().any(|x| x.ends_with(&f))),
            "examples/{f} has no golden test"
        );
    }
}
