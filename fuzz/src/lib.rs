//! Fuzz targets for bpflab's parsers, in a crate of their own (like cloud-hypervisor's `fuzz/`).
//!
//! Each target is a plain `fn(&[u8])` in [`targets`], so the same body runs under two drivers:
//!
//! - cargo-fuzz (nightly, libFuzzer, coverage-guided): `cargo fuzz run decoder`, through the
//!   thin entry points in `fuzz_targets/` (feature `libfuzzer`);
//! - the stable smoke runner ([`runner`], `src/bin/smoke.rs`): the checked-in corpus, then
//!   blind mutations ([`mutate`]) from a seeded PRNG for a time budget, catching panics and
//!   hangs; `tests/smoke.rs` runs it for a second or two per target under `cargo test`.
//!
//! ```
//! let t = bpflab_fuzz::targets::find("decoder").unwrap();
//! (t.run)(&[0x95, 0, 0, 0, 0, 0, 0, 0]); // exit
//! ```
#![forbid(unsafe_code)]

pub mod mutate;
pub mod runner;
pub mod seeds;
pub mod targets;
