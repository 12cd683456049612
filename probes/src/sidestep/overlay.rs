//! The overlay the side run writes to: 4 KiB pages with a per-byte validity mask over the
//! guest's read-only memory, scratch regions that exist only here, and stack helpers.

use super::{Cpu, GuestRead, SideError, RAX, RSP};
use std::collections::HashMap;
use std::fmt;

pub(super) const PAGE_SIZE: usize = 4096;
pub(super) const PAGE_MASK: u64 = 4095;

/// One overlay page: its bytes and a bit per byte saying whether the byte is valid
/// (written, or scratch) in the overlay.
#[derive(Clone)]
pub(super) struct Page {
    data: Box<[u8; PAGE_SIZE]>,
    valid: [u64; PAGE_SIZE / 64],
}

impl Page {
    fn new() -> Self {
        Page {
            data: Box::new([0; PAGE_SIZE]),
            valid: [0; PAGE_SIZE / 64],
        }
    }

    fn is_valid(&self, i: usize) -> bool {
        (self.valid[i / 64] >> (i % 64)) & 1 != 0
    }

    fn set_valid(&mut self, from: usize, to: usize) {
        let mut i = from;
        while i < to {
            let (word, bit) = (i / 64, i % 64);
            let n = (64 - bit).min(to - i);
            let mask = if n == 64 {
                u64::MAX
            } else {
                ((1u64 << n) - 1) << bit
            };
            self.valid[word] |= mask;
            i += n;
        }
    }

    fn valid_count(&self) -> u32 {
        self.valid.iter().map(|w| w.count_ones()).sum()
    }
}

/// Hashes a page address: the overlay's and the decode cache's keys are addresses, and
/// SipHash cost more than the lookups it guards (Fibonacci hashing, bits from the top).
#[derive(Default, Clone, Copy)]
pub(super) struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(32);
    }
}

/// A map keyed by guest address.
pub(super) type AddrMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<AddrHasher>>;

/// Writes made by the side run, by virtual address; reads see them first.
///
/// Stored as 4 KiB pages with a per-byte validity mask, so reads of many bytes cost one
/// hash lookup per page touched. Scratch memory is a list of ranges that read as zero until
/// written: declaring it allocates nothing.
#[derive(Default, Clone)]
pub struct Overlay {
    pages: AddrMap<Page>,
    /// Scratch ranges `[start, end)`.
    scratch: Vec<(u64, u64)>,
}

impl fmt::Debug for Overlay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes: u64 = self
            .pages
            .values()
            .map(|p| u64::from(p.valid_count()))
            .sum();
        f.debug_struct("Overlay")
            .field("pages", &self.pages.len())
            .field("bytes", &bytes)
            .finish()
    }
}

/// Splits `[va, va + len)` into per-page pieces `(page base, offset in page, offset in
/// buffer, length)`, wrapping at the top of the address space.
pub(super) fn page_chunks(va: u64, len: usize) -> impl Iterator<Item = (u64, usize, usize, usize)> {
    let mut done = 0usize;
    std::iter::from_fn(move || {
        if done >= len {
            return None;
        }
        let addr = va.wrapping_add(done as u64);
        let off = (addr & PAGE_MASK) as usize;
        let n = (PAGE_SIZE - off).min(len - done);
        let piece = (addr & !PAGE_MASK, off, done, n);
        done += n;
        Some(piece)
    })
}

impl Overlay {
    /// An empty overlay: every read goes to the guest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Write bytes (used by the caller to plant fake data before a run, e.g. a fake pointer).
    pub fn write(&mut self, va: u64, bytes: &[u8]) {
        for (base, off, at, n) in page_chunks(va, bytes.len()) {
            let page = self.pages.entry(base).or_insert_with(Page::new);
            page.data[off..off + n].copy_from_slice(&bytes[at..at + n]);
            page.set_valid(off, off + n);
        }
    }

    /// Read through the overlay, falling back to `guest` for bytes never written.
    #[allow(clippy::result_unit_err)]
    pub fn read(&self, guest: &dyn GuestRead, va: u64, buf: &mut [u8]) -> Result<(), ()> {
        for (base, off, at, n) in page_chunks(va, buf.len()) {
            let dst = &mut buf[at..at + n];
            let Some(page) = self.pages.get(&base) else {
                self.read_below(guest, base | off as u64, dst)?;
                continue;
            };
            let mut i = 0;
            while i < n {
                if page.is_valid(off + i) {
                    dst[i] = page.data[off + i];
                    i += 1;
                    continue;
                }
                let start = i;
                while i < n && !page.is_valid(off + i) {
                    i += 1;
                }
                self.read_below(guest, base | (off + start) as u64, &mut dst[start..i])?;
            }
        }
        Ok(())
    }

    /// Bytes nothing has written: zero in scratch ranges, the guest's elsewhere.
    fn read_below(&self, guest: &dyn GuestRead, va: u64, dst: &mut [u8]) -> Result<(), ()> {
        if self.scratch.is_empty() {
            return guest.read(va, dst);
        }
        let mut p = 0usize;
        while p < dst.len() {
            let at = va.wrapping_add(p as u64);
            let rest = (dst.len() - p) as u64;
            let end = if let Some(&(_, e)) = self.scratch.iter().find(|(s, e)| *s <= at && at < *e)
            {
                let n = (e - at).min(rest) as usize;
                dst[p..p + n].fill(0);
                n
            } else {
                let next = self
                    .scratch
                    .iter()
                    .filter(|(s, _)| *s > at)
                    .map(|(s, _)| s - at)
                    .min()
                    .unwrap_or(rest);
                let n = next.min(rest) as usize;
                guest.read(at, &mut dst[p..p + n])?;
                n
            };
            p += end;
        }
        Ok(())
    }

    fn in_scratch(&self, va: u64) -> bool {
        self.scratch.iter().any(|(s, e)| *s <= va && va < *e)
    }

    /// Mark [va, va+len) as readable memory that does not exist in the guest (zero-filled
    /// scratch, e.g. a fake record buffer at an address the guest never maps).
    ///
    /// Bytes already written keep their value.
    pub fn map_scratch(&mut self, va: u64, len: u64) {
        if len > 0 {
            self.scratch.push((va, va.saturating_add(len)));
        }
    }

    /// True when nothing has been written or mapped.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty() && self.scratch.is_empty()
    }

    /// True when every byte of `[va, va+len)` lives in the overlay (written or scratch),
    /// i.e. reading it never consults the guest.
    pub fn covers(&self, va: u64, len: usize) -> bool {
        page_chunks(va, len).all(|(base, off, _, n)| {
            let page = self.pages.get(&base);
            (off..off + n)
                .all(|i| page.is_some_and(|p| p.is_valid(i)) || self.in_scratch(base | i as u64))
        })
    }

    /// Forget every write and scratch mapping.
    pub fn clear(&mut self) {
        self.pages.clear();
        self.scratch.clear();
    }
}

/// Read a little-endian u64 at `va` through the overlay; Err(()) if any byte is unmapped.
#[allow(clippy::result_unit_err)]
pub fn read_u64(guest: &dyn GuestRead, overlay: &Overlay, va: u64) -> Result<u64, ()> {
    let mut b = [0u8; 8];
    overlay.read(guest, va, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Push `v` onto the side run's stack: `rsp -= 8`, then store `v` at `rsp` in the overlay.
/// Unlike a `push` instruction this does not check that the stack is mapped.
pub fn push(cpu: &mut Cpu, overlay: &mut Overlay, v: u64) {
    cpu.gpr[RSP] = cpu.gpr[RSP].wrapping_sub(8);
    overlay.write(cpu.gpr[RSP], &v.to_le_bytes());
}

/// Pop a u64 from the side run's stack (overlay first, then guest) and add 8 to `rsp`.
pub fn pop(cpu: &mut Cpu, guest: &dyn GuestRead, overlay: &mut Overlay) -> Result<u64, SideError> {
    let sp = cpu.gpr[RSP];
    let v = read_u64(guest, overlay, sp).map_err(|()| SideError::Fault {
        rip: cpu.rip,
        va: sp,
    })?;
    cpu.gpr[RSP] = sp.wrapping_add(8);
    Ok(v)
}

/// Finish a call the caller emulated itself: set `rax` to `ret_val` and return to the
/// address on top of the stack, as the callee's `ret` would.
pub fn return_from_call(
    cpu: &mut Cpu,
    guest: &dyn GuestRead,
    overlay: &mut Overlay,
    ret_val: u64,
) -> Result<(), SideError> {
    cpu.rip = pop(cpu, guest, overlay)?;
    cpu.gpr[RAX] = ret_val;
    Ok(())
}
