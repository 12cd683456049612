//! The conformance suites vendored in `jit/tests/data/conformance/` (bpf_conformance and uBPF) on the
//! interpreter, in checked mode. Positive tests must produce their result; negative tests must
//! be rejected by the assembler, the loader or the run, or produce a different result.
//! Missing suite data is a failure, never a skip.

use jit::conformance::{parse, suite_helpers, TestCase};
use jit::interp::{Interpreter, Prepared};
use jit::maps::MapSet;
use jit::proven::{EngineKind, ProvenProgram};
use jit::{asm, instr, isa, JitProgram, Program};
use std::path::{Path, PathBuf};

fn suite_dir(rel: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/conformance")
        .join(rel);
    assert!(d.is_dir(), "conformance data missing at {} (it is part of the repository: restore it with git checkout)", d.display());
    d
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable suite dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    v.sort();
    v
}

/// The engine a case runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    /// The interpreter, every access checked.
    Interp,
    /// The JIT, every access checked.
    Jit,
    /// The verifier, then the JIT without checks (or an error when the verifier rejects).
    Verified,
}

/// Assembles, loads and runs one case: Ok(r0) or Err(reason it failed).
fn execute(tc: &TestCase, engine: Engine) -> Result<u64, String> {
    let slots = match (&tc.raw, &tc.asm) {
        (Some(raw), _) => isa::slots_from_bytes(raw).ok_or("partial instruction")?,
        (None, Some(src)) => instr::encode(&asm::assemble(src).map_err(|e| e.to_string())?),
        (None, None) => return Err("no program".into()),
    };
    let prog = Program::from_slots(&slots).map_err(|e| e.to_string())?;
    let mut mem = tc.mem.clone();
    if engine == Engine::Verified {
        let ty = jit::verifier::ProgType::mem(mem.len() as u64);
        let opts = jit::verifier::VerifyOptions::default();
        let mut p = ProvenProgram::new(&prog, ty, &suite_helpers(), &MapSet::new(), &opts, true)
            .map_err(|e| format!("rejected: {e}"))?;
        if p.engine() != EngineKind::Jit {
            return Err(format!("not JIT-compiled: {:?}", p.jit_error()));
        }
        return p.run_mem(&mut mem, &mut ()).map_err(|e| e.to_string());
    }
    // As bpflab's conformance plugin: unverified programs run checked, but one reading a
    // register no path has written is refused at load time, as by every eBPF loader.
    let ty = jit::verifier::ProgType::mem(mem.len() as u64);
    jit::verifier::check_initialised(&prog, &ty).map_err(|e| format!("refused: {e}"))?;
    if engine == Engine::Jit {
        let mut jit =
            JitProgram::compile_checked(&prog, &suite_helpers()).map_err(|e| e.to_string())?;
        return jit
            .run_checked(&mut mem, &[], &mut (), Some(10_000_000))
            .map_err(|e| e.to_string());
    }
    let prepared = Prepared::new(&prog, &suite_helpers()).map_err(|e| e.to_string())?;
    Interpreter::new()
        .run_checked(&prepared, &mut mem, &[], &mut (), Some(10_000_000))
        .map_err(|e| e.to_string())
}

/// Cases that do not apply to this engine, each with the reason. Kept short and explicit.
const NOT_APPLICABLE: &[(&str, &str)] = &[
    (
        "reload.data",
        "tests uBPF's API: loading code twice into one VM object",
    ),
    (
        "err-unknown-opcode.data",
        "0x06 is gotol/ja32 in RFC 9669 (v4), which uBPF predates",
    ),
];

/// Safe programs the verifier rejects, with the reason; on the verified engine they are not
/// run (the checked engines run them). `jit/tests/verifier_conformance.rs` pins this list.
const VERIFIER_REJECTS: &[(&str, &str)] = &[
    (
        "div-by-zero-imm.data",
        "division by the constant 0 is refused, as the kernel does",
    ),
    ("div64-by-zero-imm.data", "division by the constant 0"),
    ("mod-by-zero-imm.data", "modulo by the constant 0"),
    ("mod64-by-zero-imm.data", "modulo by the constant 0"),
    ("early-exit.data", "unreachable instructions after the exit"),
    (
        "err-infinite-loop.data",
        "unreachable code (and the loop itself)",
    ),
    (
        "mul-loop-memory-iterations.data",
        "up to 2^32 iterations: beyond the 1M-instruction budget",
    ),
    (
        "tcp-sack/match.data",
        "reads at packet-derived offsets never checked against the length",
    ),
    (
        "tcp-sack/nomatch.data",
        "reads at packet-derived offsets never checked against the length",
    ),
    ("reload.data", "uBPF API test"),
    ("err-unknown-opcode.data", "0x06 is gotol in v4"),
];

fn run_dir(dir: &Path, expect_negative: bool, engine: Engine) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let files = data_files(dir);
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if engine != Engine::Verified && NOT_APPLICABLE.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let in_dir = format!(
            "{}/{name}",
            dir.file_name()
                .map(|d| d.to_string_lossy())
                .unwrap_or_default()
        );
        if engine == Engine::Verified
            && VERIFIER_REJECTS
                .iter()
                .any(|(n, _)| *n == name || *n == in_dir)
        {
            continue;
        }
        if std::env::var_os("CONFORMANCE_TRACE").is_some() {
            eprintln!("{name}");
        }
        let text = std::fs::read_to_string(f).expect("readable");
        let tc = match parse(&text, f.parent()) {
            Ok(tc) => tc,
            Err(e) if expect_negative => {
                let _ = e;
                continue;
            }
            Err(e) => {
                failures.push(format!("{name}: unparsable: {e}"));
                continue;
            }
        };
        if tc.result.is_none() && tc.error.is_none() && tc.raw.is_some() && tc.asm.is_some() {
            continue; // an assembler test: see ubpf_assembler_encodings_match_and_round_trip
        }
        let outcome = execute(&tc, engine);
        let negative = expect_negative || tc.error.is_some();
        match (negative, outcome) {
            (false, Ok(r0)) if Some(r0) == tc.result => {}
            (false, got) => failures.push(format!("{name}: expected {:?}, got {got:?}", tc.result)),
            (true, Err(_)) => {}
            (true, Ok(r0))
                if tc.result.is_some() && Some(r0) != tc.result && tc.error.is_none() => {}
            (true, Ok(r0)) => failures.push(format!("{name}: should fail, returned {r0:#x}")),
        }
    }
    (files.len(), failures)
}

fn assert_all_passed(n: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} of {n} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn bpf_conformance(engine: Engine) {
    let dir = suite_dir("bpf_conformance/tests");
    let (n, failures) = run_dir(&dir, false, engine);
    assert!(n >= 313, "only {n} test files found");
    assert_all_passed(n, &failures);
}

fn bpf_conformance_negative(engine: Engine) {
    let dir = suite_dir("bpf_conformance/negative");
    let (n, failures) = run_dir(&dir, true, engine);
    assert!(n >= 60, "only {n} negative files found");
    assert_all_passed(n, &failures);
}

fn ubpf(engine: Engine) {
    let root = suite_dir("ubpf/tests");
    let mut total = 0;
    let mut failures = Vec::new();
    for sub in [
        "",
        "helpers",
        "extensions",
        "tcp-port-80",
        "tcp-sack",
        "errors",
    ] {
        let (n, f) = run_dir(&root.join(sub), false, engine);
        total += n;
        failures.extend(f.into_iter().map(|x| format!("{sub}/{x}")));
    }
    assert!(total >= 80, "only {total} uBPF files found");
    assert_all_passed(total, &failures);
}

#[test]
fn bpf_conformance_tests_pass_on_the_interpreter() {
    bpf_conformance(Engine::Interp);
}

#[test]
fn bpf_conformance_tests_pass_on_the_jit() {
    bpf_conformance(Engine::Jit);
}

#[test]
fn bpf_conformance_negative_cases_are_rejected_by_the_interpreter() {
    bpf_conformance_negative(Engine::Interp);
}

#[test]
fn bpf_conformance_negative_cases_are_rejected_by_the_jit() {
    bpf_conformance_negative(Engine::Jit);
}

#[test]
fn ubpf_tests_pass_on_the_interpreter() {
    ubpf(Engine::Interp);
}

#[test]
fn ubpf_tests_pass_on_the_jit() {
    ubpf(Engine::Jit);
}

#[test]
fn bpf_conformance_tests_pass_verified_on_the_unchecked_jit() {
    bpf_conformance(Engine::Verified);
}

#[test]
fn bpf_conformance_negative_cases_are_rejected_when_verified() {
    bpf_conformance_negative(Engine::Verified);
}

#[test]
fn ubpf_tests_pass_verified_on_the_unchecked_jit() {
    ubpf(Engine::Verified);
}

/// The uBPF assembler tests: `-- asm` must encode to `-- raw`, and disassembly round-trips.
#[test]
fn ubpf_assembler_encodings_match_and_round_trip() {
    let root = suite_dir("ubpf/tests");
    let mut checked = 0;
    for f in data_files(&root) {
        let tc =
            parse(&std::fs::read_to_string(&f).expect("readable"), Some(&root)).expect("parses");
        let (Some(src), Some(raw), None) = (&tc.asm, &tc.raw, tc.result) else {
            continue;
        };
        let ours = isa::slots_to_bytes(&instr::encode(&asm::assemble(src).expect("assembles")));
        assert_eq!(&ours, raw, "{}", f.display());
        let back = asm::assemble(&jit::disasm::disassemble(
            &instr::decode(&isa::slots_from_bytes(raw).expect("slots")).expect("decodes"),
        ))
        .expect("reassembles");
        assert_eq!(
            isa::slots_to_bytes(&instr::encode(&back)),
            *raw,
            "{}",
            f.display()
        );
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} encoding files");
}
