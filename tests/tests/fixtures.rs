//! Recordings checked into `tests/fixtures/`, replayed on the images this machine builds:
//!
//! - `teaching-v1.bpfrec`: format version 1 from the embedded teaching kernel. A format change
//!   that can no longer read or replay it fails here.
//! - `linux-4s.bpfrec`: 4 s of the Linux guest's boot and workload, recorded on another
//!   machine's build of the image. It replays with every checkpoint verified on the image built
//!   here, with and without probes: a run is a function of (image, config, inputs) and of
//!   nothing else. `linux-4s.manifest` is the image's manifest at recording time; when Debian
//!   has moved a source package on, the test says so and how to re-record.
//!
//! `BPFLAB_BLESS=1` re-records both from the current images.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    tests::root().join("tests/fixtures").join(name)
}

fn bless() -> bool {
    std::env::var_os("BPFLAB_BLESS").is_some()
}

fn bpflab(args: &[&str]) -> Output {
    Command::new(tests::bpflab())
        .current_dir(tests::root())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bpflab {args:?}: {e}"))
}

fn record(image: &str, time: &str, out: &Path) {
    let o = bpflab(&[
        "record",
        "--image",
        image,
        "--for",
        time,
        "-o",
        out.to_str().expect("utf-8 path"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Replays `rec` with `extra` options; returns stderr after asserting every checkpoint held.
fn replay_verified(rec: &Path, extra: &[&str], checkpoints: u32) -> String {
    let mut args = vec!["replay", rec.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    let o = bpflab(&args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "replay {extra:?} failed:\n{err}");
    let want = format!("replay: {checkpoints} of {checkpoints} checkpoints verified");
    assert!(err.contains(&want), "{want:?} missing:\n{err}");
    err
}

#[test]
fn a_format_v1_recording_still_parses_and_replays() {
    let rec = fixture("teaching-v1.bpfrec");
    if bless() {
        record("teaching", "300ms", &rec);
    }
    let parsed = emu::record::read_file(&rec).unwrap_or_else(|e| panic!("{}: {e}", rec.display()));
    assert_eq!(parsed.version, 1, "the fixture is format version 1");
    assert_eq!(parsed.checkpoints.len(), 4);
    replay_verified(&rec, &[], 4);
}

/// The `linux-source-6.1` and `busybox-static` lines of a manifest.
fn package_lines(manifest: &str) -> Vec<&str> {
    manifest
        .lines()
        .filter(|l| l.starts_with("linux-source") || l.starts_with("busybox"))
        .collect()
}

#[test]
fn a_linux_recording_from_another_machine_replays_with_and_without_probes() {
    let dir = emu::loader::linux::image_dir()
        .expect("no Linux image: run guest-images/linux/build.sh (scripts/test.sh does)");
    let rec = fixture("linux-4s.bpfrec");
    let manifest = fixture("linux-4s.manifest");
    let here = std::fs::read_to_string(dir.join("manifest"))
        .unwrap_or_else(|e| panic!("{}/manifest: {e}", dir.display()));
    if bless() {
        record("linux", "4s", &rec);
        std::fs::write(&manifest, &here).expect("write the manifest");
    }
    let then = std::fs::read_to_string(&manifest).expect("the fixture's manifest");
    assert!(
        then == here,
        "the Linux image differs from the one {} was recorded on:\n  recorded on: {}\n  built here:  {}\n\
         If the package versions differ, Debian has moved on: re-record with \
         `BPFLAB_BLESS=1 cargo test -p tests --test fixtures` (and re-bless the Linux goldens). \
         If they are the same, the image build is not reproducible: that is a bug.",
        rec.display(),
        package_lines(&then).join(", "),
        package_lines(&here).join(", "),
    );
    replay_verified(&rec, &[], 41);
    let count = "examples/count_hits.s";
    let err = replay_verified(
        &rec,
        &[
            "--attach",
            &format!("vfs_read={count}"),
            "--attach",
            &format!("vfs_read%return={count}"),
            "--attach",
            &format!("tcp_*={count}"),
        ],
        41,
    );
    assert!(err.contains("vfs_read%return"), "{err}");
    // Tracepoints replay too: every checkpoint holds with them attached.
    let err = replay_verified(
        &rec,
        &[
            "--attach",
            "examples/sched_switch.bpf.c",
            "--attach",
            "examples/openat_tracepoint.bpf.c",
            "--attach",
            &format!("rawtracepoint:sched_wakeup={count}"),
        ],
        41,
    );
    assert!(err.contains("tracepoint:sched:sched_switch"), "{err}");
}
