//! Guest RAM: one anonymous host mapping shared with Unicorn.
//!
//! This is one of the two modules of `emu` that contain `unsafe` (the other is
//! `cpu::unicorn_raw`). The mapping is created here, its address is handed to Unicorn with
//! `mem_map_ptr`, and every host access goes through [`Ram::read`] / [`Ram::write`], which
//! bounds-check and then copy with raw pointers. No Rust reference to the guest bytes is
//! ever kept alive while the guest can run, because Unicorn writes the same memory.

use memmap2::MmapMut;

/// Guest physical memory `[0, len)` backed by one anonymous host mapping.
#[derive(Debug)]
pub struct Ram {
    /// Owns the mapping; never dereferenced as a slice after construction.
    map: MmapMut,
    base: *mut u8,
    len: usize,
}

impl Ram {
    /// Map `len` bytes of zeroed anonymous memory (`len` is rounded up to 4 KiB).
    pub fn new(len: usize) -> std::io::Result<Self> {
        let len = len.div_ceil(4096).max(1) * 4096;
        let mut map = MmapMut::map_anon(len)?;
        let base = map.as_mut_ptr();
        Ok(Self { map, base, len })
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a RAM has at least one page.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Host address of guest physical 0, for `mem_map_ptr`.
    pub(crate) fn host_base(&self) -> *mut u8 {
        self.base
    }

    fn check(&self, pa: u64, n: usize) -> Option<usize> {
        let start = usize::try_from(pa).ok()?;
        let end = start.checked_add(n)?;
        (end <= self.len).then_some(start)
    }

    /// Copy guest physical `[pa, pa + buf.len())` into `buf`; false if outside RAM.
    pub fn read(&self, pa: u64, buf: &mut [u8]) -> bool {
        let Some(start) = self.check(pa, buf.len()) else {
            return false;
        };
        // SAFETY: `start + buf.len() <= self.len` was checked above, so the source range lies
        // inside our own live mapping; `buf` is a distinct host allocation, so the ranges do not
        // overlap. Unicorn runs on this thread only, so no concurrent write races this copy.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(start), buf.as_mut_ptr(), buf.len()) };
        true
    }

    /// Copy `buf` to guest physical `pa`; false if outside RAM.
    pub fn write(&self, pa: u64, buf: &[u8]) -> bool {
        let Some(start) = self.check(pa, buf.len()) else {
            return false;
        };
        // SAFETY: bounds checked above; destination is inside our mapping, which is writable
        // (MmapMut), and `buf` cannot alias it because no slice of the mapping is ever handed out.
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), self.base.add(start), buf.len()) };
        true
    }

    /// Read a little-endian u64 at `pa`.
    pub fn read_u64(&self, pa: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        self.read(pa, &mut b).then(|| u64::from_le_bytes(b))
    }

    /// Copy the whole RAM (for snapshots).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.len];
        self.read(0, &mut v);
        v
    }

    /// Overwrite the whole RAM from a snapshot copy of the same size.
    pub fn restore_from(&self, bytes: &[u8]) -> bool {
        bytes.len() == self.len && self.write(0, bytes)
    }

    /// Zero the whole RAM.
    pub fn clear(&self) {
        // SAFETY: `[base, base + len)` is exactly our own writable mapping.
        unsafe { std::ptr::write_bytes(self.base, 0, self.len) };
    }

    #[allow(dead_code)]
    fn mapping(&self) -> &MmapMut {
        &self.map
    }
}
