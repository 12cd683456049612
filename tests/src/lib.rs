//! The regression suite: recorded guest runs replayed against golden outputs.
//!
//! A case is a directory `cases/NAME/` holding `case.json`, the golden outputs
//! `expected.txt` (text, host timings masked) and `expected.json` (`--json`, host timings
//! zeroed), and any case-local filters or input scripts. `case.json`:
//! ```json
//! { "description": "what the case covers",
//!   "record": ["--for", "1s"],            // extra `bpflab record` options
//!   "input": "input.script",              // optional console script in the case directory
//!   "replay": ["--attach", "dst_discard=examples/dst_discard.bpf.c"],
//!   "mutate": {"checkpoint": 7, "register": "rip"},   // optional: corrupt the recording
//!   "exit": 0 }                           // expected exit code of the replay
//! ```
//! Paths in `replay` are relative to the repository root; `{case}` stands for the case
//! directory. The recording is made at test time from the embedded teaching kernel (it is
//! deterministic, so nothing binary is checked in). A `mutate` entry rewrites one checkpoint
//! (a register, or a page hash with `"page": N`) and re-seals the checksum: the replay must
//! report the divergence at exactly that checkpoint.
//!
//! `build.rs` turns every case directory into its own `#[test]`, so
//! `cargo nextest run -p tests --partition count:1/2` shards the suite. `BPFLAB_BLESS=1`
//! rewrites the golden files (the shared harness, the `golden` crate). `BPFLAB_BIN` points at a prebuilt `bpflab`; otherwise the suite
//! builds it once with cargo (same profile).

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A case's `case.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What it covers.
    pub description: String,
    /// The guest recorded: `teaching` (the default) or `linux` (the built image; its goldens
    /// hold on the image they were blessed on, named by `cases/LINUX-IMAGE`).
    #[serde(default = "teaching")]
    pub image: String,
    /// Extra `bpflab record` options.
    #[serde(default)]
    pub record: Vec<String>,
    /// Console input script in the case directory.
    #[serde(default)]
    pub input: Option<String>,
    /// `bpflab replay` options.
    #[serde(default)]
    pub replay: Vec<String>,
    /// A deliberate corruption of the recording.
    #[serde(default)]
    pub mutate: Option<Mutation>,
    /// Expected exit code of the replay.
    #[serde(default)]
    pub exit: i32,
}

fn teaching() -> String {
    "teaching".to_string()
}

/// Change one checkpoint of a recording.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mutation {
    /// Checkpoint index.
    pub checkpoint: u32,
    /// Flip the low bit of this register.
    #[serde(default)]
    pub register: Option<String>,
    /// Record a different hash for this RAM page at the checkpoint.
    #[serde(default)]
    pub page: Option<u32>,
}

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The `bpflab` binary (built once per process unless `BPFLAB_BIN` is set).
pub fn bpflab() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("BPFLAB_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().unwrap_or_default();
        // target/PROFILE/deps/tests-HASH -> target/PROFILE
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| root().join("target/debug"));
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(root())
            .args(["build", "-q", "-p", "repl", "--bin", "bpflab"])
            .env("UNICORN_NO_PKG_CONFIG", "1");
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()),
            "building bpflab failed: {status:?}"
        );
        profile_dir.join("bpflab")
    })
}

fn load_case(dir: &Path) -> Case {
    let path = dir.join("case.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A scratch directory for this process.
fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("bpflab-tests-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

/// Record the case's run; returns the recording's path.
pub fn record_case(name: &str, case: &Case, dir: &Path) -> PathBuf {
    let out = scratch().join(format!("{name}.bpfrec"));
    let mut cmd = Command::new(bpflab());
    cmd.current_dir(root())
        .args(["record", "--image", &case.image, "-o"])
        .arg(&out)
        .args(&case.record);
    if let Some(i) = &case.input {
        cmd.arg("--input").arg(dir.join(i));
    }
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("bpflab record: {e}"));
    assert!(
        o.status.success(),
        "bpflab record failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// Apply a mutation and re-seal the file.
fn mutate(path: &Path, m: &Mutation) {
    let mut rec = emu::record::read_file(path).unwrap_or_else(|e| panic!("{e}"));
    let cp = rec
        .checkpoints
        .get_mut(m.checkpoint as usize)
        .unwrap_or_else(|| panic!("no checkpoint {}", m.checkpoint));
    if let Some(r) = &m.register {
        let names = emu::record::regs_fields(&emu::Regs::default());
        let i = names
            .iter()
            .position(|(n, _)| n == r)
            .unwrap_or_else(|| panic!("unknown register {r}"));
        cp.regs[i] ^= 1;
    }
    if let Some(page) = m.page {
        match cp.pages.iter_mut().find(|(p, _)| *p == page) {
            Some((_, h)) => *h ^= 1,
            None => cp.pages.push((page, 0x5eed)),
        }
        cp.pages.sort_unstable();
        cp.ram_hash ^= 1;
    }
    emu::record::write_file(path, &rec).unwrap_or_else(|e| panic!("{e}"));
}

fn substitute(args: &[String], dir: &Path) -> Vec<String> {
    let d = dir.display().to_string();
    args.iter().map(|a| a.replace("{case}", &d)).collect()
}

/// The text output as compared: stdout, then stderr with host timings masked (the
/// [`golden::mask`] shared with the example traces).
pub fn mask_text(stdout: &str, stderr: &str) -> String {
    format!(
        "{stdout}--- stderr (host timings masked)\n{}",
        golden::mask::stderr_timings(stderr)
    )
}

fn replay(path: &Path, args: &[String], json: bool) -> (i32, String) {
    let mut cmd = Command::new(bpflab());
    cmd.current_dir(root()).arg("replay").arg(path).args(args);
    if json {
        cmd.arg("--json");
    }
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("bpflab replay: {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    let code = o.status.code().unwrap_or(-1);
    let text = if json {
        golden::mask::json_timings(&stdout)
    } else {
        mask_text(&stdout, &stderr)
    };
    (code, text)
}

/// Record, (mutate,) replay as text and JSON, and compare with the golden files.
pub fn run_case(name: &str) {
    let dir = root().join("tests/cases").join(name);
    let case = load_case(&dir);
    if case.image == "linux" {
        let image = emu::loader::linux::image_dir()
            .filter(|d| d.join("vmlinux").is_file())
            .unwrap_or_else(|| {
                panic!("no Linux image: run `bpflab image build linux` (scripts/test.sh builds it)")
            });
        golden::assert_same_image(
            &image,
            &root().join("tests/cases/LINUX-IMAGE"),
            "BPFLAB_BLESS=1 cargo test -p tests --test cases linux",
        );
    }
    let rec = record_case(name, &case, &dir);
    if let Some(m) = &case.mutate {
        mutate(&rec, m);
    }
    let args = substitute(&case.replay, &dir);
    let mut errors = Vec::new();
    for json in [false, true] {
        let (code, text) = replay(&rec, &args, json);
        if code != case.exit {
            errors.push(format!(
                "replay{} exited with {code}, expected {}:\n{text}",
                if json { " --json" } else { "" },
                case.exit
            ));
            continue;
        }
        let golden = dir.join(if json {
            "expected.json"
        } else {
            "expected.txt"
        });
        if let Err(e) = golden::check(&golden, &text) {
            errors.push(e);
        }
    }
    let _ = std::fs::remove_file(&rec);
    assert!(
        errors.is_empty(),
        "case {name} ({}):\n{}",
        case.description,
        errors.join("\n")
    );
}
