//! cargo-fuzz entry point for `bpflab_fuzz::targets::duration` (the checks are documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bpflab_fuzz::targets::duration(data));
