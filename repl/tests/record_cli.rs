//! `bpflab record` / `bpflab replay` end to end: a recording replays and verifies; `--info`
//! describes it; a truncated, corrupted, newer-version or other-image recording is refused with
//! a clear error (exit code 2, no panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bpflab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bpflab"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(args)
        .output()
        .expect("bpflab runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bpflab-record-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d.join(name)
}

fn record(path: &Path) {
    let o = bpflab(&[
        "record",
        "--for",
        "300ms",
        "-o",
        path.to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("4 checkpoints"), "{t}");
}

fn refused(path: &Path, want: &str) {
    let o = bpflab(&["replay", path.to_str().expect("utf-8")]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains(want), "expected {want:?} in:\n{t}");
    assert!(!t.contains("panicked"), "{t}");
}

#[test]
fn record_replay_info_and_refusals() {
    let rec = scratch("ok.bpfrec");
    record(&rec);
    let p = rec.to_str().expect("utf-8");
    let o = bpflab(&["replay", p]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("replay: 4 of 4 checkpoints verified"),
        "{}",
        text(&o)
    );

    let o = bpflab(&["replay", "--info", p]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for want in [
        "format      version 1",
        "image       teaching",
        "start       boot",
        "checkpoints 4 every 100 ms",
    ] {
        assert!(t.contains(want), "{want:?} in:\n{t}");
    }
    let o = bpflab(&["replay", "--info", "--json", p]);
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("--info --json prints one JSON object");
    assert_eq!(v["checkpoints"], 4);

    let bytes = std::fs::read(&rec).expect("recording");
    let bad = scratch("bad.bpfrec");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).expect("write");
    refused(&bad, "recording is truncated");
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 3] ^= 0x40;
    std::fs::write(&bad, &flipped).expect("write");
    refused(&bad, "recording is corrupted");
    let mut newer = bytes.clone();
    newer[8] = 9;
    std::fs::write(&bad, &newer).expect("write");
    refused(&bad, "format version 9 is newer");
    std::fs::write(&bad, b"hello").expect("write");
    refused(&bad, "not a bpflab recording");

    // The same recording claimed for another image: re-seal with a different image hash.
    let mut r = emu::record::parse(&bytes).expect("parses");
    r.header.image.hash = "0".repeat(32);
    emu::record::write_file(&bad, &r).expect("rewrite");
    refused(&bad, "is a different image");
    let _ = std::fs::remove_dir_all(rec.parent().expect("dir"));
}

#[test]
fn recording_into_a_directory_is_refused_before_the_guest_boots() {
    let dir = std::env::temp_dir();
    let o = bpflab(&[
        "record",
        "--for",
        "10ms",
        "-o",
        dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("is a directory; give the recording a file name"),
        "{t}"
    );
    assert!(
        !t.contains("recording teaching"),
        "refused before booting: {t}"
    );
}
