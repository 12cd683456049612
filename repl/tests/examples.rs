//! Every example in `examples/` traced on the teaching kernel, compared with its golden output
//! (`tests/golden/NAME.txt`). The teaching kernel and the virtual clock make the output
//! deterministic. Set `BPFLAB_BLESS=1` to rewrite the golden files after an intended change.

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
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str("--- stderr (host timings masked)\n");
    for line in stderr
        .lines()
        .filter(|l| !l.starts_with("bpflab: ") && !l.starts_with("linux-image: "))
    {
        let line = match line.strip_suffix("ns") {
            Some(rest) => format!(
                "{} <ns>",
                rest.trim_end_matches(|c: char| c.is_ascii_digit())
                    .trim_end()
            ),
            None => line.to_string(),
        };
        let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
        if let Some(i) = words.iter().position(|w| w == "host") {
            if i >= 3 {
                words[i - 3] = "<host>".into();
            }
        }
        text.push_str(&words.join(" "));
        text.push('\n');
    }
    Ok(text)
}

/// A readable diff: the first differing lines with context.
fn diff(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let first = w
        .iter()
        .zip(&g)
        .position(|(a, b)| a != b)
        .unwrap_or(w.len().min(g.len()));
    let mut out = format!("first difference at line {}:\n", first + 1);
    for i in first.saturating_sub(2)..(first + 4).min(w.len().max(g.len())) {
        match (w.get(i), g.get(i)) {
            (Some(a), Some(b)) if a == b => out.push_str(&format!("  {a}\n")),
            (a, b) => {
                if let Some(a) = a {
                    out.push_str(&format!("- {a}\n"));
                }
                if let Some(b) = b {
                    out.push_str(&format!("+ {b}\n"));
                }
            }
        }
    }
    out.push_str(&format!(
        "(golden {} lines, got {} lines)",
        w.len(),
        g.len()
    ));
    out
}

#[test]
fn every_example_matches_its_golden_output() {
    check_goldens("teaching", CASES);
}

/// Needs the Linux image (`scripts/test.sh` builds it first); without it the test fails.
#[test]
fn the_examples_match_their_golden_output_on_linux() {
    assert!(
        emu::loader::linux::image_dir().is_some(),
        "no Linux image: run `bpflab image build linux` (scripts/test.sh builds it)"
    );
    check_goldens("linux", LINUX_CASES);
}

fn check_goldens(image: &str, cases: &[(&str, &[&str])]) {
    let bless = std::env::var_os("BPFLAB_BLESS").is_some();
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
        if bless {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).expect("golden dir");
            }
            std::fs::write(&path, &got).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} missing: run with BPFLAB_BLESS=1", path.display()));
        if want != got {
            failures.push(format!("{name}: {}", diff(&want, &got)));
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
            CASES.iter().any(|(_, a)| a.iter().any(|x| x.ends_with(&f))),
            "examples/{f} has no golden test"
        );
    }
}
