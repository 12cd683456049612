//! Executable memory for generated code: W^X, never writable and executable at once.
//!
//! The code is written into an anonymous read-write mapping, which is then turned read-execute
//! with `mprotect` (memmap2's `make_exec`). The mapping is never made writable again; it is
//! unmapped when the [`ExecMemory`] is dropped.

use memmap2::{Mmap, MmapMut};
use std::ffi::c_void;

/// The entry point of compiled code: `(r1, r2, frame) -> r0`.
type Entry = unsafe extern "C" fn(u64, u64, *mut c_void) -> u64;

/// A token saying "the program about to run was proven safe for this run's inputs". It can
/// only be made inside this crate, by the code that holds such a proof.
#[derive(Debug)]
pub(crate) struct RunPermit(());

impl RunPermit {
    /// Made by the verifier's and the pre-flight's callers only.
    pub(crate) fn proven() -> Self {
        RunPermit(())
    }
}

/// A read-execute mapping holding one compiled program.
#[derive(Debug)]
pub struct ExecMemory {
    map: Mmap,
    len: usize,
}

impl ExecMemory {
    /// Copies `code` into fresh memory and makes it executable.
    pub fn new(code: &[u8]) -> std::io::Result<Self> {
        let mut rw = MmapMut::map_anon(code.len().max(1))?;
        rw[..code.len()].copy_from_slice(code);
        let map = rw.make_exec()?;
        Ok(ExecMemory {
            map,
            len: code.len(),
        })
    }

    /// The code bytes (for disassembly and tests).
    pub fn code(&self) -> &[u8] {
        &self.map[..self.len]
    }

    /// Runs JIT code for a program the crate has proven safe for this run (see [`RunPermit`]).
    #[inline]
    pub(crate) fn run<E>(
        &self,
        _permit: RunPermit,
        r1: u64,
        r2: u64,
        frame: &mut super::RunFrame<'_, E>,
    ) -> u64 {
        // SAFETY: a `RunPermit` is only made where the program's accesses have been proven safe
        // for these inputs (the verifier, or a checked pre-flight run of the same inputs with
        // deterministic helpers), the code comes from `x86::compile` for that program with
        // helpers of environment type `E`, and `frame` is this run's live frame.
        unsafe { self.call(r1, r2, frame.as_ptr()) }
    }

    /// Calls the code at offset 0 with the JIT's entry convention.
    ///
    /// # Safety
    /// The code must have been produced by this crate's JIT for a program whose memory accesses
    /// and helper arguments are safe for `r1`/`r2` (proven by the verifier or by a checked run of
    /// the same inputs), and `frame` must point to the live `RunFrame` of this run, whose
    /// environment type matches the helpers compiled into the code.
    #[inline]
    pub unsafe fn call(&self, r1: u64, r2: u64, frame: *mut c_void) -> u64 {
        // SAFETY: the mapping is readable and executable for its whole length and starts with
        // the JIT's entry stub, which follows the System V ABI with this signature.
        let entry: Entry = unsafe { std::mem::transmute::<*const u8, Entry>(self.map.as_ptr()) };
        // SAFETY: the caller guarantees the generated code only touches memory it may.
        unsafe { entry(r1, r2, frame) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_code_and_is_not_writable() {
        // mov rax, rdi ; add rax, rsi ; ret
        let code = [0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0, 0xc3];
        let mem = ExecMemory::new(&code).expect("maps");
        assert_eq!(mem.code(), &code);
        // SAFETY: the code above reads only its argument registers.
        let r = unsafe { mem.call(40, 2, std::ptr::null_mut()) };
        assert_eq!(r, 42);
        // The mapping is executable and read-only: /proc/self/maps shows r-xp for it.
        let start = mem.code().as_ptr() as usize;
        let maps = std::fs::read_to_string("/proc/self/maps").expect("procfs");
        let line = maps
            .lines()
            .find(|l| {
                let mut it = l.split(['-', ' ']);
                let a = usize::from_str_radix(it.next().unwrap_or("0"), 16).unwrap_or(0);
                let b = usize::from_str_radix(it.next().unwrap_or("0"), 16).unwrap_or(0);
                (a..b).contains(&start)
            })
            .expect("mapping listed");
        assert!(line.contains(" r-xp "), "{line}");
    }
}
