//! Every fuzz target for a second and a half under `cargo test`: the corpus, the known-bug
//! inputs of `regressions/`, then mutated inputs. Each target runs in the smoke binary (a child
//! process), so a hang or a signal fails only its own test. Known bugs do not fail a test; a new
//! panic does, and prints its input (saved under `artifacts/`).

use std::process::Command;

fn smoke(target: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_smoke"))
        .args([target, "--seconds", "1.5", "--timeout", "10", "--seed"])
        .arg(std::env::var("BPFLAB_FUZZ_SEED").unwrap_or_else(|_| "1".into()))
        .output()
        .expect("run the smoke binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "fuzz target {target} failed:\n{text}");
}

macro_rules! smoke_tests {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        $(
            $(#[$attr])*
            #[test]
            fn $name() {
                smoke(stringify!($name));
            }
        )*
    };
}

smoke_tests! {
    decoder,
    assembler,
    interp,
    interp_asm,
    elf_object,
    btf,
    btf_ext,
    conformance_data,
    #[cfg(feature = "probes")] symbols,
    #[cfg(feature = "probes")] dwarf_types,
    #[cfg(feature = "probes")] dwarf_lines,
    #[cfg(feature = "probes")] attach_spec,
    #[cfg(feature = "probes")] printk_format,
    #[cfg(feature = "kernel")] kernel_image,
    #[cfg(feature = "kernel")] duration,
}

#[test]
fn every_target_has_a_test_and_seeds() {
    let tests = include_str!("smoke.rs");
    for t in bpflab_fuzz::targets::TARGETS {
        assert!(
            tests.contains(&format!("    {},", t.name))
                || tests.contains(&format!("] {},", t.name)),
            "no smoke test for {}",
            t.name
        );
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(t.name);
        let n = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert!(n > 0, "no seeds in {}", dir.display());
        let entry = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz_targets")
            .join(format!("{}.rs", t.name));
        assert!(
            entry.exists(),
            "no cargo-fuzz entry point {}",
            entry.display()
        );
    }
}
