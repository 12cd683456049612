//! Loads, stores and read-modify-writes at host addresses.
//!
//! bpflab runs each program on one thread, so an eBPF atomic is a plain read-modify-write here;
//! unaligned addresses are allowed (the verifier demands alignment where the kernel does).

use crate::instr::Size;

/// Reads `size` bytes at `addr`, zero-extended.
///
/// # Safety
/// `addr..addr + size` must be readable memory that stays valid for the call.
#[inline(always)]
pub unsafe fn load(addr: u64, size: Size) -> u64 {
    let p = addr as usize as *const u8;
    // SAFETY: the caller guarantees the bytes are readable; unaligned reads are allowed.
    unsafe {
        match size {
            Size::B => u64::from(p.read()),
            Size::H => u64::from(p.cast::<u16>().read_unaligned()),
            Size::W => u64::from(p.cast::<u32>().read_unaligned()),
            Size::DW => p.cast::<u64>().read_unaligned(),
        }
    }
}

/// Writes the low `size` bytes of `value` at `addr`.
///
/// # Safety
/// `addr..addr + size` must be writable memory that no live Rust reference covers.
#[inline(always)]
pub unsafe fn store(addr: u64, size: Size, value: u64) {
    let p = addr as usize as *mut u8;
    // SAFETY: the caller guarantees the bytes are writable and unaliased.
    unsafe {
        match size {
            Size::B => p.write(value as u8),
            Size::H => p.cast::<u16>().write_unaligned(value as u16),
            Size::W => p.cast::<u32>().write_unaligned(value as u32),
            Size::DW => p.cast::<u64>().write_unaligned(value),
        }
    }
}

/// Copies `len` bytes at `addr` into `buf`.
///
/// # Safety
/// `addr..addr + buf.len()` must be readable memory that does not overlap `buf`.
pub unsafe fn copy_from(addr: u64, buf: &mut [u8]) {
    // SAFETY: the caller guarantees the source is readable and disjoint from `buf`.
    unsafe {
        std::ptr::copy_nonoverlapping(addr as usize as *const u8, buf.as_mut_ptr(), buf.len())
    }
}

/// Copies `data` to `addr`.
///
/// # Safety
/// `addr..addr + data.len()` must be writable memory that does not overlap `data`.
pub unsafe fn copy_to(addr: u64, data: &[u8]) {
    // SAFETY: the caller guarantees the destination is writable and disjoint from `data`.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), addr as usize as *mut u8, data.len()) }
}
