//! Builds the teaching kernel from `guest-images/teaching/` with gcc and make, so the binary can
//! embed it as the default guest.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let src = manifest.join("../guest-images/teaching");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("teaching");
    println!("cargo:rerun-if-changed={}", src.display());
    let status = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(&src)
        .arg(format!("O={}", out.display()))
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            panic!("building the teaching kernel failed ({s}); it needs gcc, binutils and make")
        }
        Err(e) => panic!("cannot run make to build the teaching kernel: {e}"),
    }
    println!(
        "cargo:rustc-env=BPFLAB_TEACHING_ELF={}",
        out.join("teaching.elf").display()
    );
}
