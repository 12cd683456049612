//! End-to-end: build guest-images/teaching and boot it to its exit port, twice.
//! Skipped (with a message) when the kernel sources or gcc/make are not available.
#![allow(clippy::unwrap_used)]

use emu::{Limits, Machine, MachineConfig, StopReason};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn build_teaching() -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-images/teaching");
    if !src.join("Makefile").exists() {
        eprintln!("skipped: {} has no Makefile yet", src.display());
        return None;
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("teaching");
    let status = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(&src)
        .arg(format!("O={}", out.display()))
        .status();
    match status {
        Ok(s) if s.success() => Some(out.join("teaching.elf")),
        other => {
            eprintln!("skipped: building the teaching kernel failed: {other:?}");
            None
        }
    }
}

fn boot(image: &Path) -> (StopReason, Vec<u8>, u64) {
    let mut m = Machine::boot_elf_file(&MachineConfig::default(), image).unwrap();
    let r = m.run(Limits::virtual_time(Duration::from_secs(20)));
    if r != StopReason::Exit(0) {
        eprintln!("{}", m.report(&r));
    }
    (r, m.take_console(), m.stats().instructions)
}

#[test]
fn teaching_kernel_boots_to_exit_code_0_deterministically() {
    let Some(image) = build_teaching() else {
        return;
    };
    let (r1, out1, n1) = boot(&image);
    assert_eq!(r1, StopReason::Exit(0));
    let text = String::from_utf8_lossy(&out1);
    for needle in [
        "summary: net total generated",
        "summary: syscalls",
        "bpflab: exiting with code 0",
        "init: hello from user space",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let (r2, out2, n2) = boot(&image);
    assert_eq!(r2, StopReason::Exit(0));
    assert_eq!(n1, n2, "same instruction count");
    assert!(out1 == out2, "console output differs between two boots");
}

#[test]
fn teaching_kernel_snapshot_mid_boot_resumes_identically() {
    let Some(image) = build_teaching() else {
        return;
    };
    // Snapshot points: in the middle of busy execution, and during idle time skipped by hlt.
    for first in [
        Limits::insns(5_000_000),
        Limits::virtual_time(Duration::from_millis(1500)),
    ] {
        let mut m = Machine::boot_elf_file(&MachineConfig::default(), &image).unwrap();
        let r = m.run(first);
        assert!(
            matches!(r, StopReason::InsnBudget | StopReason::TimeBudget),
            "{r:?}"
        );
        let snap = m.snapshot().unwrap();
        m.take_console();
        let limits = Limits::virtual_time(Duration::from_secs(20));
        let a = (
            m.run(limits),
            m.take_console(),
            m.stats().instructions,
            m.regs(),
        );
        m.restore(&snap).unwrap();
        let b = (
            m.run(limits),
            m.take_console(),
            m.stats().instructions,
            m.regs(),
        );
        assert_eq!(a.0, StopReason::Exit(0));
        assert!(!a.1.is_empty());
        assert!(
            a == b,
            "the restored machine diverged (snapshot after {first:?})"
        );
    }
}
