//! The verifier's accept corpus of real C: every program in `jit/tests/data/bpf-samples/`, compiled
//! by clang at test time for -mcpu=v2 and v3, loaded (CO-RE resolved against the teaching
//! kernel's DWARF), must be verified with bpflab's real helper prototypes, and must then run
//! unchecked on the teaching kernel's probes without a single error.
//! Without clang the test fails, naming `scripts/setup.sh`.

mod common;

use jit::verifier::{verify, VerifyOptions};
use probes::image::GuestImage;
use probes::load::{load_object, LoadOptions};
use std::path::Path;
use std::process::Command;

fn compile(src: &Path, cpu: &str, out: &Path) -> bool {
    Command::new("clang")
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            &format!("-mcpu={cpu}"),
            "-D__TARGET_ARCH_x86",
        ])
        .arg("-I/usr/include/x86_64-linux-gnu")
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(out)
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn every_sample_program_is_verified_for_v2_and_v3() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../jit/tests/data/bpf-samples");
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the vendored samples at {}: {e}", dir.display()));
    assert!(
        Command::new("clang").arg("--version").output().is_ok(),
        "clang is required: run scripts/setup.sh"
    );
    let img = GuestImage::new("teaching", common::teaching_elf().to_vec()).expect("image");
    let core = |q: &jit::btf::core::CoreQuery<'_>| img.core_answer(q);
    let opts = LoadOptions {
        core: Some(&core),
        ..LoadOptions::default()
    };
    let helpers = probes::helpers::probe_helpers();
    let out = std::env::temp_dir().join(format!("bpflab-verify-samples-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("tmp");
    let mut sources: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    sources.sort();
    let mut verified = 0;
    let mut failures = Vec::new();
    for src in &sources {
        for cpu in ["v2", "v3"] {
            let name = src
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let obj = out.join(format!("{name}.{cpu}.o"));
            assert!(compile(src, cpu, &obj), "clang failed on {name} ({cpu})");
            let bytes = std::fs::read(&obj).expect("object");
            let filter = match load_object(&name, &bytes, &opts) {
                Ok(f) => f,
                // A types-only object (vmlinux_fake) has nothing to verify.
                Err(e) if e.to_string().contains("no programs") => continue,
                Err(e) => panic!("{name} ({cpu}): {e}"),
            };
            let defs: Vec<_> = filter.maps.iter().map(|m| m.def().clone()).collect();
            for p in &filter.programs {
                let ty = p.ctx.prog_type();
                let opts = VerifyOptions {
                    map_contents: filter.maps.read_only_contents(),
                    ..VerifyOptions::default()
                };
                match verify(&p.program, &ty, &helpers, &defs, &opts) {
                    Ok(_) => verified += 1,
                    Err(e) => failures.push(format!("{name} ({cpu}) {}: {e}\n{}", p.name, e.log)),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(verified >= 8, "only {verified} programs verified");
}
