//! Checkpoints: what a replay compares to prove it is re-executing the recorded run.
//!
//! Dirty pages are found by hashing: [`PageHasher`] keeps one xxh3-64 per 4 KiB page and, at
//! each checkpoint, re-hashes RAM and reports the pages whose hash changed. The whole-RAM hash
//! is the hash of the page-hash vector.
//!
//! Why hashing and not a dirty log: Unicorn offers none for a RAM block mapped with
//! `mem_map_ptr`; write-protecting the host mapping would need a SIGSEGV handler around
//! Unicorn's own stores; and the kernel's soft-dirty bits (`/proc/self/clear_refs`) are
//! missing on the kernels we run on (measured: no `CONFIG_MEM_SOFT_DIRTY`). What Linux does
//! offer everywhere is the *present* bit of `/proc/self/pagemap`: a page of the private
//! anonymous RAM mapping that was never written is not present and reads as zeros, so it is
//! not read at all (its hash is the zero page's). Only the guest's working set is hashed: the
//! teaching kernel touches a few MiB of its 256 MiB. Without pagemap every page is hashed.

use super::format::Checkpoint;
use super::hash64;
use crate::{Machine, Ram, Regs};

/// Page size used for hashing.
pub const PAGE_SIZE: usize = 4096;

/// Per-page hashes of guest RAM, updated at every checkpoint.
#[derive(Debug)]
pub struct PageHasher {
    hashes: Vec<u64>,
    buf: Vec<u8>,
    zero_hash: u64,
    /// `/proc/self/pagemap`, if readable.
    pagemap: Option<std::fs::File>,
    /// Pages read and hashed at the last update (for measurements).
    pub hashed_last: usize,
}

/// pagemap entry bits: page present in RAM, page swapped out.
const PM_PRESENT: u64 = 1 << 63;
const PM_SWAPPED: u64 = 1 << 62;

impl PageHasher {
    /// Hash every page of `ram` (the state at the first checkpoint).
    pub fn new(ram: &Ram) -> Self {
        Self::with_pagemap(ram, true)
    }

    /// As [`PageHasher::new`]; `use_pagemap: false` hashes every page every time (the
    /// fallback, kept for measurements and tests).
    pub fn with_pagemap(ram: &Ram, use_pagemap: bool) -> Self {
        let pagemap = if use_pagemap {
            std::fs::File::open("/proc/self/pagemap").ok()
        } else {
            None
        };
        let mut h = Self {
            hashes: vec![0; ram.len() / PAGE_SIZE],
            buf: vec![0; 1 << 20],
            zero_hash: hash64(&[0u8; PAGE_SIZE]),
            pagemap,
            hashed_last: 0,
        };
        h.update(ram);
        h
    }

    /// Which pages may hold non-zero bytes, from pagemap (None: unknown, hash them all).
    fn resident(&mut self, ram: &Ram) -> Option<Vec<u64>> {
        use std::os::unix::fs::FileExt;
        let f = self.pagemap.as_ref()?;
        let first = ram.host_base() as usize / PAGE_SIZE;
        let mut raw = vec![0u8; self.hashes.len() * 8];
        let ok = f.read_exact_at(&mut raw, (first as u64) * 8).is_ok();
        if !ok {
            self.pagemap = None;
            return None;
        }
        Some(
            raw.chunks_exact(8)
                .map(|c| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    u64::from_le_bytes(a)
                })
                .collect(),
        )
    }

    /// Re-hash RAM; returns the pages whose hash changed, with their new hashes.
    pub fn update(&mut self, ram: &Ram) -> Vec<(u32, u64)> {
        let mut changed = Vec::new();
        if let Some(entries) = self.resident(ram) {
            let mut page_buf = [0u8; PAGE_SIZE];
            self.hashed_last = 0;
            for (i, e) in entries.iter().enumerate() {
                let h = if e & (PM_PRESENT | PM_SWAPPED) == 0 {
                    self.zero_hash
                } else {
                    self.hashed_last += 1;
                    if !ram.read((i * PAGE_SIZE) as u64, &mut page_buf) {
                        break;
                    }
                    hash64(&page_buf)
                };
                let slot = &mut self.hashes[i];
                if *slot != h {
                    *slot = h;
                    changed.push((i as u32, h));
                }
            }
            return changed;
        }
        self.hashed_last = self.hashes.len();
        let per_chunk = self.buf.len() / PAGE_SIZE;
        let mut page = 0usize;
        while page < self.hashes.len() {
            let n = per_chunk.min(self.hashes.len() - page);
            let chunk = &mut self.buf[..n * PAGE_SIZE];
            if !ram.read((page * PAGE_SIZE) as u64, chunk) {
                break;
            }
            for (i, bytes) in chunk.chunks_exact(PAGE_SIZE).enumerate() {
                let h = hash64(bytes);
                let slot = &mut self.hashes[page + i];
                if *slot != h {
                    *slot = h;
                    changed.push(((page + i) as u32, h));
                }
            }
            page += n;
        }
        changed
    }

    /// Hash of all page hashes.
    pub fn ram_hash(&self) -> u64 {
        let bytes: Vec<u8> = self.hashes.iter().flat_map(|h| h.to_le_bytes()).collect();
        hash64(&bytes)
    }

    /// The current hash of one page.
    pub fn page(&self, index: u32) -> Option<u64> {
        self.hashes.get(index as usize).copied()
    }
}

/// Every register of [`Regs`] with its name, in the order checkpoints store them (the
/// table is [`crate::cpu::names`]).
pub fn regs_fields(r: &Regs) -> [(&'static str, u64); 32] {
    r.fields()
}

/// Hash of the device states (their serialised form).
pub fn devices_hash(m: &Machine) -> u64 {
    match serde_json::to_vec(m.devices()) {
        Ok(b) => hash64(&b),
        Err(_) => 0,
    }
}

/// Take checkpoint `index` of the machine now; `first` hashes everything without listing pages.
pub(crate) fn take(m: &Machine, hasher: &mut PageHasher, index: u32) -> Checkpoint {
    let pages = if index == 0 {
        Vec::new()
    } else {
        hasher.update(m.memory())
    };
    Checkpoint {
        index,
        insns: m.stats().instructions,
        virtual_ns: m.now_ns(),
        regs: regs_fields(&m.regs()).iter().map(|(_, v)| *v).collect(),
        devices_hash: devices_hash(m),
        ram_hash: hasher.ram_hash(),
        pages,
    }
}
