//! Test fixtures: the teaching kernel and a small C program, built with make/gcc on first use.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(cmd: &mut Command) {
    let shown = format!("{cmd:?}");
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {shown}: {e} (are gcc, make and binutils installed?)")
    });
    assert!(
        out.status.success(),
        "{shown} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the teaching kernel (make is incremental) and returns its path.
pub fn teaching_elf_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("teaching");
        run(Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(repo_root().join("guest-images/teaching"))
            .arg(format!("O={}", out.display())));
        out.join("teaching.elf")
    })
}

/// The teaching kernel's bytes.
pub fn teaching_elf() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(teaching_elf_path()).expect("read teaching.elf"))
}

/// The teaching kernel's build directory (for generated headers).
pub fn teaching_build_dir() -> &'static Path {
    teaching_elf_path().parent().expect("build dir")
}

/// The teaching kernel's sources.
pub fn teaching_src() -> PathBuf {
    repo_root().join("guest-images/teaching")
}

/// Builds `tests/fixtures/{a,b}.c` into a static ELF (never run) and returns its bytes.
pub fn fixture_elf() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fixture.elf");
        run(Command::new("gcc")
            .args([
                "-g",
                "-O2",
                "-fno-pic",
                "-fno-pie",
                "-no-pie",
                "-nostdlib",
                "-static",
            ])
            .arg("-o")
            .arg(&out)
            .arg(dir.join("a.c"))
            .arg(dir.join("b.c")));
        std::fs::read(&out).expect("read fixture.elf")
    })
}
