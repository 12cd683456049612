//! Seeds made from the bpf_conformance tests: each test's program assembled into bytes for
//! `decoder`, bytes with the test's memory for `interp`, and its source text for `assembler` and
//! `interp_asm`.
//! Run by `build-seeds.sh` (as `smoke --make-seeds DIR`); the results are checked in.

use std::fs;
use std::io;
use std::path::Path;

/// Writes the seeds of every `*.data` test in `tests` under `corpus/{decoder,interp,assembler,interp_asm}`
/// and returns how many tests were used.
pub fn make_seeds(tests: &Path, corpus: &Path) -> io::Result<usize> {
    let mut entries: Vec<_> = fs::read_dir(tests)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    entries.sort();
    for t in ["decoder", "interp", "assembler", "interp_asm"] {
        fs::create_dir_all(corpus.join(t))?;
    }
    let mut used = 0;
    for (i, path) in entries.iter().enumerate() {
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        let Ok(case) = jit::conformance::parse(&text, path.parent()) else {
            continue;
        };
        let bytes = match (&case.raw, &case.asm) {
            (Some(raw), _) => raw.clone(),
            (None, Some(src)) => match jit::asm::assemble(src) {
                Ok(instrs) => jit::isa::slots_to_bytes(&jit::instr::encode(&instrs)),
                Err(_) => continue,
            },
            (None, None) => continue,
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("seed")
            .to_string();
        fs::write(corpus.join("decoder").join(format!("{stem}.bin")), &bytes)?;
        if let Ok(mem_len) = u8::try_from(case.mem.len()) {
            let mut input = vec![mem_len];
            input.extend_from_slice(&case.mem);
            input.extend_from_slice(&bytes);
            fs::write(corpus.join("interp").join(format!("{stem}.bin")), input)?;
        }
        // The assembler gets a fifth of the sources (they are all alike).
        if let (Some(src), 0) = (&case.asm, i % 5) {
            fs::write(corpus.join("assembler").join(format!("{stem}.s")), src)?;
            fs::write(corpus.join("interp_asm").join(format!("{stem}.s")), src)?;
        }
        used += 1;
    }
    Ok(used)
}
