//! `bpflab repl --batch` on the teaching kernel: every script in `tests/repl/*.bpflab` runs
//! with `--echo --keep-going`, and its output (stdout and stderr, interleaved as written) is
//! compared with `tests/repl/NAME.out`. Host timings (probe costs) are masked; everything
//! else is deterministic (virtual time). `BPFLAB_BLESS=1` rewrites the golden files (the
//! shared harness: the `golden` crate).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/repl")
}

/// Runs the REPL on `script` with `args`; returns (exit code, output with stderr merged).
fn repl(args: &[&str], script: &Path) -> (i32, String) {
    let out_path = std::env::temp_dir().join(format!(
        "bpflab-repl-{}-{}.out",
        std::process::id(),
        script.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
    ));
    let file = std::fs::File::create(&out_path).expect("temp file");
    let status = Command::new(env!("CARGO_BIN_EXE_bpflab"))
        .current_dir(root())
        .arg("repl")
        .args(args)
        .arg("--batch")
        .arg(script)
        .env(
            "XDG_CACHE_HOME",
            std::env::temp_dir().join("bpflab-repl-cache"),
        )
        .envs(emu::loader::linux::image_dir().map(|d| ("BPFLAB_LINUX_IMAGE_DIR", d)))
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("clone"))
        .stderr(file)
        .status()
        .expect("bpflab runs");
    let text = std::fs::read_to_string(&out_path).expect("output");
    let _ = std::fs::remove_file(&out_path);
    (status.code().unwrap_or(-1), text)
}

fn golden(name: &str, want_code: i32) {
    golden_with(name, &[], want_code)
}

fn golden_with(name: &str, args: &[&str], want_code: i32) {
    let script = scripts().join(format!("{name}.bpflab"));
    let mut all = vec!["--echo", "--keep-going"];
    all.extend_from_slice(args);
    let (code, out) = repl(&all, &script);
    let got = format!("{}--- exit status {code}\n", golden::mask::ns_words(&out));
    golden::assert_matches(&scripts().join(format!("{name}.out")), &got);
    if !golden::blessing() {
        assert_eq!(code, want_code, "{name}: exit status");
    }
}

#[test]
fn machine_commands() {
    golden("machine", 1);
}

#[test]
fn inspection_commands() {
    golden("inspect", 0);
}

#[test]
fn execution_control() {
    golden("control", 0);
}

#[test]
fn probe_commands() {
    golden("probes", 0);
}

#[test]
fn bad_commands_and_arguments_are_errors_and_the_session_goes_on() {
    golden("errors", 1);
}

/// The Linux image the Linux scripts' goldens were made on (its manifest is beside the
/// example goldens: one stamp for every Linux golden of this crate).
fn linux_image() {
    let dir = emu::loader::linux::image_dir()
        .filter(|d| d.join("vmlinux").is_file())
        .expect("no Linux image: run `bpflab image build linux` (scripts/test.sh builds it)");
    golden::assert_same_image(
        &dir,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/linux/IMAGE"),
        "BPFLAB_BLESS=1 cargo test -p repl --test examples --test repl_batch linux",
    );
}

/// `bpflab repl --image linux` boots the image's initramfs to its shell; a breakpoint on
/// `do_sys_openat2` fires when the shell runs `cat`; `bt` unwinds by DWARF CFI.
#[test]
fn linux_shell_breakpoints_and_backtraces() {
    linux_image();
    golden_with("linux-shell", &["--image", "linux"], 0);
}

/// A kernel panic stops the guest and is reported as one, with the kernel's message.
#[test]
fn linux_panic_is_reported_as_a_panic() {
    linux_image();
    golden_with(
        "linux-panic",
        &[
            "--image",
            "linux",
            "--append",
            "console=ttyS0 rdinit=/bin/false",
        ],
        1,
    );
}

#[test]
fn help_for_every_command() {
    let dir = std::env::temp_dir().join(format!("bpflab-repl-help-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let script = dir.join("help.bpflab");
    std::fs::write(&script, "help\n").expect("write");
    let (code, out) = repl(&[], &script);
    assert_eq!(code, 0, "{out}");
    let names: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.len() > 30, "{out}");
    let all: String = names.iter().map(|n| format!("help {n}\n")).collect();
    std::fs::write(&script, all).expect("write");
    let (code, out) = repl(&[], &script);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("usage: ").count(), names.len(), "{out}");
    assert_eq!(out.matches("example: ").count(), names.len(), "{out}");
}

#[test]
fn batch_stops_at_the_first_failing_command_without_keep_going() {
    let dir = std::env::temp_dir().join(format!("bpflab-repl-stop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let script = dir.join("stop.bpflab");
    std::fs::write(&script, "print 1\nprint nosuch\nprint 2\n").expect("write");
    let (code, out) = repl(&[], &script);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("(int)1"), "{out}");
    assert!(out.contains("no symbol 'nosuch'"), "{out}");
    assert!(!out.contains("(int)2"), "{out}");
    assert!(out.contains("stopped at line 2"), "{out}");
}

#[test]
fn commands_on_a_pipe_run_like_a_batch() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_bpflab"))
        .current_dir(root())
        .arg("repl")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bpflab runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"print init_task.comm\nbreak ip_rcv\nrun\nprint $rip == 0\n")
        .expect("write");
    let out = child.wait_with_output().expect("waits");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("(char [16])\"swapper/0\""), "{stdout}");
    assert!(stdout.contains("Breakpoint 1, 0x"), "{stdout}");
    assert!(stderr.contains("error: "), "{stderr}");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        !stdout.contains('\x1b'),
        "no colours when stdout is not a terminal"
    );
}

#[test]
fn backtraces_use_the_cfi_unwinder() {
    golden("backtrace", 0);
}
