//! Accept corpus: every program of the conformance suites (bpf_conformance and uBPF), verified
//! as type "mem" with the test's memory size and the suites' helpers. Each rejection must be a
//! listed, genuine unsafety or documented limitation; every listed case must still be rejected
//! for the listed reason, so the list cannot go stale. Missing data fails.

use jit::conformance::{parse, suite_helpers, TestCase};
use jit::verifier::{verify, ProgType, VerifyOptions};
use jit::{asm, instr, isa, Program};
use std::path::{Path, PathBuf};

fn suite_root() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance");
    assert!(d.is_dir(), "conformance data missing at {} (it is part of the repository: restore it with git checkout)", d.display());
    d
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == "data"));
    v.sort();
    v
}

/// The program of a case, if it assembles and passes the structural checks.
fn program(tc: &TestCase) -> Option<Program> {
    let slots = match (&tc.raw, &tc.asm) {
        (Some(raw), _) => isa::slots_from_bytes(raw)?,
        (None, Some(src)) => instr::encode(&asm::assemble(src).ok()?),
        (None, None) => return None,
    };
    Program::from_slots(&slots).ok()
}

/// Cases the verifier rejects, with the reason (a substring of the error). Each is a genuine
/// unsafety or a documented limitation.
const REJECTED: &[(&str, &str)] = &[
    // Unsafe: reads r0 before writing it (the suite expects an error).
    (
        "bpf_conformance/negative/error.data",
        "reads uninitialised register r0",
    ),
    // 0x06 is gotol in RFC 9669: the decoded program then returns the unwritten r0.
    (
        "ubpf/tests/errors/err-unknown-opcode.data",
        "reads uninitialised register r0",
    ),
    // Division by the immediate 0 is refused, as the kernel does (the ISA would give 0 / dst).
    ("ubpf/tests/div-by-zero-imm.data", "by the constant 0"),
    ("ubpf/tests/div64-by-zero-imm.data", "by the constant 0"),
    ("ubpf/tests/mod-by-zero-imm.data", "by the constant 0"),
    ("ubpf/tests/mod64-by-zero-imm.data", "by the constant 0"),
    // Policy, as the kernel's check_cfg: dead code after an exit / an endless loop body.
    ("ubpf/tests/early-exit.data", "unreachable instruction"),
    (
        "ubpf/tests/errors/err-infinite-loop.data",
        "unreachable instruction",
    ),
    // Limitation: a loop counted down from a 32-bit value read from memory: up to 2^32
    // iterations, so the walk runs out of budget (the kernel rejects it the same way).
    (
        "ubpf/tests/mul-loop-memory-iterations.data",
        "program too complex",
    ),
    // Unsafe for other packets: offsets computed from packet bytes are never checked
    // against the packet length (r2).
    (
        "ubpf/tests/tcp-sack/match.data",
        "out of bounds of the memory region",
    ),
    (
        "ubpf/tests/tcp-sack/nomatch.data",
        "out of bounds of the memory region",
    ),
    // Unsafe: stores through a number used as an address (uBPF catches them at run time).
    (
        "ubpf/tests/errors/err-address-overflow-offset.data",
        "r6 is a scalar, not a pointer",
    ),
    (
        "ubpf/tests/errors/err-address-underflow.data",
        "r6 is a scalar, not a pointer",
    ),
    (
        "ubpf/tests/errors/err-integer-overflow-bounds.data",
        "r6 is a scalar, not a pointer",
    ),
    // Unsafe: a store above the frame pointer.
    (
        "ubpf/tests/errors/err-stack-oob.data",
        "out of bounds of the stack",
    ),
    // Unknown helpers.
    (
        "ubpf/tests/errors/err-call-bad-imm.data",
        "unknown helper 64",
    ),
    ("ubpf/tests/errors/err-call-unreg.data", "unknown helper 63"),
];

#[test]
fn conformance_programs_verify_as_mem() {
    let root = suite_root();
    let dirs = [
        "bpf_conformance/tests",
        "bpf_conformance/negative",
        "ubpf/tests",
        "ubpf/tests/helpers",
        "ubpf/tests/extensions",
        "ubpf/tests/tcp-port-80",
        "ubpf/tests/tcp-sack",
        "ubpf/tests/errors",
    ];
    let helpers = suite_helpers();
    let opts = VerifyOptions {
        log_level: jit::verifier::LogLevel::None,
        ..VerifyOptions::default()
    };
    let (mut accepted, mut rejected, mut skipped) = (0, Vec::new(), 0);
    let mut problems = Vec::new();
    for d in dirs {
        let dir = root.join(d);
        for f in data_files(&dir) {
            let name = format!(
                "{d}/{}",
                f.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            );
            let text = std::fs::read_to_string(&f).expect("readable");
            let Ok(tc) = parse(&text, Some(&dir)) else {
                skipped += 1;
                continue;
            };
            if tc.result.is_none() && tc.error.is_none() && tc.raw.is_some() && tc.asm.is_some() {
                skipped += 1; // an assembler encoding test
                continue;
            }
            let Some(prog) = program(&tc) else {
                skipped += 1; // refused before verification (decoder or structure)
                continue;
            };
            let ty = ProgType::mem(tc.mem.len() as u64);
            let t0 = std::time::Instant::now();
            let res = verify(&prog, &ty, &helpers, &[], &opts);
            if t0.elapsed().as_millis() > 500 {
                eprintln!("slow: {name}: {:?}", t0.elapsed());
            }
            match res {
                Ok(_) => {
                    accepted += 1;
                    if let Some((_, why)) = REJECTED.iter().find(|(n, _)| *n == name) {
                        problems.push(format!("{name}: listed as rejected ({why}) but accepted"));
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    match REJECTED.iter().find(|(n, _)| *n == name) {
                        Some((_, why)) if msg.contains(why) => {}
                        _ => problems.push(format!("(\"{name}\", \"{msg}\"),")),
                    }
                    rejected.push(name);
                }
            }
        }
    }
    eprintln!(
        "verifier accept corpus: {accepted} accepted, {} rejected, {skipped} not verifiable programs",
        rejected.len()
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(accepted >= 350, "only {accepted} accepted");
    assert_eq!(
        rejected.len(),
        REJECTED.len(),
        "every listed case is still rejected"
    );
}
