//! Value memory at stable addresses: one preallocated buffer of fixed-size slots per map.
//!
//! Programs receive raw addresses of map values (from `bpf_map_lookup_elem`, `lddw
//! map_idx_value`, `bpf_ringbuf_reserve`) and read and write through them while the map lives, so
//! the memory behind a map is allocated once, at creation, and never moved, grown or freed before
//! the map is dropped. Bytes are [`AtomicU8`]s: interior mutability is what lets the engines write
//! through those addresses while Rust code holds a shared reference to the buffer, without any
//! `unsafe` here. Rust-side accesses are relaxed per-byte loads and stores (plain moves on x86).

use crate::native::frame::Region;
use std::sync::atomic::{AtomicU8, Ordering};

/// A buffer of `count` slots of `slot_size` bytes each, zero-initialised, never reallocated.
#[derive(Debug)]
pub struct SlotBuf {
    bytes: Box<[AtomicU8]>,
    slot_size: usize,
}

impl SlotBuf {
    /// Allocates `count * slot_size` zero bytes (the caller bounds the product).
    pub fn new(slot_size: usize, count: usize) -> Self {
        let bytes = (0..slot_size * count).map(|_| AtomicU8::new(0)).collect();
        SlotBuf { bytes, slot_size }
    }

    /// Size of one slot.
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the buffer holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Host address of byte `off` (stable for the buffer's lifetime).
    pub fn addr(&self, off: usize) -> u64 {
        self.base() + off as u64
    }

    /// Host address of the first byte.
    pub fn base(&self) -> u64 {
        AtomicU8::as_ptr(self.bytes.first().unwrap_or(&DANGLING_ZERO)) as usize as u64
    }

    /// Host address of slot `i`.
    pub fn slot_addr(&self, i: usize) -> u64 {
        self.addr(i * self.slot_size)
    }

    /// Byte offset of host address `addr` inside the buffer, if it lies in it.
    pub fn offset_of(&self, addr: u64) -> Option<usize> {
        let base = self.base();
        (addr >= base && addr - base < self.len() as u64).then(|| (addr - base) as usize)
    }

    /// Copies `out.len()` bytes starting at byte `off` into `out`.
    pub fn read(&self, off: usize, out: &mut [u8]) {
        let n = out.len();
        for (o, b) in out.iter_mut().zip(&self.bytes[off..off + n]) {
            *o = b.load(Ordering::Relaxed);
        }
    }

    /// `len` bytes starting at byte `off`, copied out.
    pub fn to_vec(&self, off: usize, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.read(off, &mut v);
        v
    }

    /// Copies `data` to byte `off`.
    pub fn write(&self, off: usize, data: &[u8]) {
        for (b, &d) in self.bytes[off..off + data.len()].iter().zip(data) {
            b.store(d, Ordering::Relaxed);
        }
    }

    /// Zeroes `len` bytes from byte `off`.
    pub fn zero(&self, off: usize, len: usize) {
        for b in &self.bytes[off..off + len] {
            b.store(0, Ordering::Relaxed);
        }
    }

    /// Slot `i`'s bytes, copied out.
    pub fn slot(&self, i: usize) -> Vec<u8> {
        self.to_vec(i * self.slot_size, self.slot_size)
    }

    /// Overwrites slot `i` with `data` (at most one slot; the rest of the slot is zeroed).
    pub fn set_slot(&self, i: usize, data: &[u8]) {
        let off = i * self.slot_size;
        let n = data.len().min(self.slot_size);
        self.write(off, &data[..n]);
        self.zero(off + n, self.slot_size - n);
    }

    /// The region covering the whole buffer, for checked runs.
    #[inline]
    pub fn region(&self, writable: bool) -> Region {
        Region {
            start: self.base(),
            len: self.len() as u64,
            writable,
        }
    }
}

/// Address stand-in for empty buffers (never dereferenced: empty buffers have no valid offset).
static DANGLING_ZERO: AtomicU8 = AtomicU8::new(0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_stable_and_independent() {
        let b = SlotBuf::new(8, 4);
        let a1 = b.slot_addr(1);
        b.set_slot(1, &[1, 2, 3]);
        b.set_slot(2, &[9; 8]);
        assert_eq!(b.slot(1), vec![1, 2, 3, 0, 0, 0, 0, 0]);
        assert_eq!(b.slot(2), vec![9; 8]);
        assert_eq!(b.slot_addr(1), a1);
        assert_eq!(b.slot_addr(2) - a1, 8);
        assert_eq!(b.offset_of(a1 + 3), Some(11));
        assert_eq!(b.offset_of(b.base() + 32), None);
        assert_eq!(b.region(true).len, 32);
    }
}
