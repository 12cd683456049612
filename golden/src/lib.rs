//! The one golden-file harness of bpflab's test suites: the example traces
//! (`repl/tests/examples.rs`), the REPL's batch scripts (`repl/tests/repl_batch.rs`) and the
//! record/replay cases (`tests/`) all compare their output with [`check`] or
//! [`assert_matches`], and all bless the same way: `BPFLAB_BLESS=1` rewrites every golden
//! file the run produced instead of comparing.
//!
//! - [`check`]: compare (or bless) one file; a mismatch is a unified diff of the golden file
//!   against the output (from `similar`), naming the file and how to bless.
//! - [`check_image`]: goldens made on a built guest image name it (its manifest); another
//!   image fails with both images' package versions, not a diff of timestamps.
//! - [`mask`]: the host-dependent values the outputs contain (probe costs in ns, host run
//!   times, JSON timing fields), replaced by placeholders before comparing.
//!
//! Why a small crate of our own and not `insta`: the golden files are plain text compared
//! whole, in the directories where they are today (`tests/golden/NAME.txt`,
//! `tests/repl/NAME.out`, `tests/cases/NAME/expected.{txt,json}`), read and edited as
//! ordinary files. insta keeps its own `.snap` format with a metadata header (or needs a
//! per-assertion path and settings to write bare files), blesses through `INSTA_UPDATE` and
//! `cargo insta review` rather than one variable, and would bring a larger dependency tree
//! into two crates; what the suites need is a compare, a diff and a write, which is this
//! page. The diff is the well-kept `similar` crate's (insta uses it too).

use std::path::Path;

pub mod mask;

/// The environment variable that turns comparing into rewriting.
pub const BLESS_VAR: &str = "BPFLAB_BLESS";

/// Whether this run rewrites golden files (`BPFLAB_BLESS` set, and not empty or `0`).
pub fn blessing() -> bool {
    std::env::var_os(BLESS_VAR).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Compares `got` with the golden file at `path`; when [`blessing`], writes `got` there
/// instead (creating its directory). The error says what differs and how to bless.
pub fn check(path: &Path, got: &str) -> Result<(), String> {
    if blessing() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        return std::fs::write(path, got).map_err(|e| format!("{}: {e}", path.display()));
    }
    let want = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{}: {e}\n(no golden file yet? rerun with {BLESS_VAR}=1 to write it)",
            path.display()
        )
    })?;
    if want == got {
        return Ok(());
    }
    Err(format!(
        "{} differs from the output (if the change is intended, rerun with {BLESS_VAR}=1 to accept it):\n{}",
        path.display(),
        diff(&want, got)
    ))
}

/// [`check`], panicking with its message: for tests with one golden file.
#[allow(clippy::panic)]
#[track_caller]
pub fn assert_matches(path: &Path, got: &str) {
    if let Err(e) = check(path, got) {
        panic!("{e}");
    }
}

/// Goldens made on a built guest image (Linux: virtual timestamps depend on every byte of
/// the kernel and initramfs) hold only on that image. `stamp` is the manifest of the image
/// they were blessed on (package versions and file hashes, `manifest` in the image's
/// directory); this checks that `image_dir` holds the same image, and when [`blessing`]
/// writes its manifest to `stamp` instead. The error names both images' package versions
/// and `bless`, the command that re-blesses.
pub fn check_image(image_dir: &Path, stamp: &Path, bless: &str) -> Result<(), String> {
    let here = std::fs::read_to_string(image_dir.join("manifest"))
        .map_err(|e| format!("{}/manifest: {e} (rebuild the image)", image_dir.display()))?;
    if blessing() {
        return std::fs::write(stamp, &here).map_err(|e| format!("{}: {e}", stamp.display()));
    }
    let then = std::fs::read_to_string(stamp).unwrap_or_default();
    if then == here {
        return Ok(());
    }
    let packages = |m: &str| -> String {
        m.lines()
            .filter(|l| !l.contains("  "))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(format!(
        "the goldens beside {} were blessed on another image:\n  blessed on: {}\n  built here: {}\n\
         If the package versions differ, Debian has moved on: re-bless with `{bless}`. If they \
         are the same, the image build is not reproducible: that is a bug.",
        stamp.display(),
        packages(&then),
        packages(&here)
    ))
}

/// [`check_image`], panicking with its message.
#[allow(clippy::panic)]
#[track_caller]
pub fn assert_same_image(image_dir: &Path, stamp: &Path, bless: &str) {
    if let Err(e) = check_image(image_dir, stamp, bless) {
        panic!("{e}");
    }
}

/// A unified diff of `want` (the golden file) against `got` (this run), three lines of
/// context, with both line counts.
pub fn diff(want: &str, got: &str) -> String {
    let d = similar::TextDiff::from_lines(want, got);
    let mut out = d
        .unified_diff()
        .context_radius(3)
        .header("golden", "got")
        .to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!(
        "(golden {} lines, got {} lines)",
        want.lines().count(),
        got.lines().count()
    ));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_mismatch_shows_a_diff_and_how_to_bless() {
        let dir = std::env::temp_dir().join(format!("golden-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.txt");
        std::fs::write(&path, "a\nb\nc\n").unwrap();
        assert_eq!(check(&path, "a\nb\nc\n"), Ok(()));
        if !blessing() {
            let e = check(&path, "a\nB\nc\n").unwrap_err();
            assert!(e.contains("-b\n+B\n"), "{e}");
            assert!(e.contains("BPFLAB_BLESS=1"), "{e}");
            assert!(e.contains("x.txt"), "{e}");
            let e = check(&dir.join("missing.txt"), "").unwrap_err();
            assert!(e.contains("BPFLAB_BLESS=1"), "{e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn another_image_names_both_package_sets_and_the_bless_command() {
        let dir = std::env::temp_dir().join(format!("golden-image-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let m = |v: &str| format!("linux-source-6.1 {v}\ngcc 12.2.0\nabcd  vmlinux\n");
        std::fs::write(dir.join("manifest"), m("6.1.200-1")).expect("write");
        let stamp = dir.join("IMAGE");
        std::fs::write(&stamp, m("6.1.192-3")).expect("write");
        let e = check_image(&dir, &stamp, "BLESS CMD").expect_err("differs");
        assert!(
            e.contains("blessed on: linux-source-6.1 6.1.192-3, gcc 12.2.0"),
            "{e}"
        );
        assert!(
            e.contains("built here: linux-source-6.1 6.1.200-1, gcc 12.2.0"),
            "{e}"
        );
        assert!(e.contains("`BLESS CMD`"), "{e}");
        std::fs::write(&stamp, m("6.1.200-1")).expect("write");
        assert_eq!(check_image(&dir, &stamp, "x"), Ok(()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
