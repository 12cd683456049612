//! Stack trace maps (`stack_trace`): stack id -> array of instruction pointers.
//!
//! As the kernel's stackmap: `max_entries` is rounded up to a power of two buckets, the id of a
//! stack is a hash of its ips masked to the bucket count, and a bucket holding a different stack
//! is a collision: `-EEXIST`, unless `BPF_F_REUSE_STACKID` asks to replace it. The value is
//! `value_size / 8` ips, zero-padded. Programs never look stacks up (the kernel refuses it);
//! the stack-id helper (in `probes`, which unwinds the guest) calls [`StackTraceMap::get_stackid`].

use super::slots::SlotBuf;
use super::MapError;

/// `bpf_get_stackid` flag: replace a colliding stack.
pub const BPF_F_REUSE_STACKID: u64 = 1 << 10;
/// `bpf_get_stackid` flag: compare by hash only (accepted; stacks are always compared fully).
pub const BPF_F_FAST_STACK_CMP: u64 = 1 << 9;
/// `bpf_get_stackid` flags: frames to skip (the caller applies them before calling).
pub const BPF_F_SKIP_FIELD_MASK: u64 = 0xff;
/// `bpf_get_stackid` flag: user stack (accepted; the caller chooses the stack).
pub const BPF_F_USER_STACK: u64 = 1 << 8;

/// A table of stacks by id.
#[derive(Debug)]
pub struct StackTraceMap {
    values: SlotBuf,
    /// Number of ips stored per bucket; None when empty.
    depth: Vec<Option<u32>>,
}

/// FNV-1a over the ips' bytes: deterministic.
fn hash_ips(ips: &[u64]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in ips.iter().flat_map(|ip| ip.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl StackTraceMap {
    /// A map of `max_entries` (rounded up to a power of two) stacks of `value_size / 8` ips.
    pub fn new(value_size: usize, max_entries: u32) -> Self {
        let buckets = max_entries.next_power_of_two() as usize;
        StackTraceMap {
            values: SlotBuf::new(value_size, buckets),
            depth: vec![None; buckets],
        }
    }

    /// The value buffer.
    pub fn values(&self) -> &SlotBuf {
        &self.values
    }

    fn max_depth(&self) -> usize {
        self.values.slot_size() / 8
    }

    /// Stores a stack (truncated to the value size) and returns its id.
    pub fn get_stackid(&mut self, ips: &[u64], flags: u64) -> Result<u32, MapError> {
        let known =
            BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP | BPF_F_REUSE_STACKID;
        if flags & !known != 0 {
            return Err(MapError::BadFlags(flags));
        }
        let ips = &ips[..ips.len().min(self.max_depth())];
        let id = (hash_ips(ips) & (self.depth.len() as u64 - 1)) as usize;
        if let Some(d) = self.depth[id] {
            if self.stack(id as u32).as_deref() == Some(ips) && d as usize == ips.len() {
                return Ok(id as u32);
            }
            if flags & BPF_F_REUSE_STACKID == 0 {
                return Err(MapError::Exists);
            }
        }
        let bytes: Vec<u8> = ips.iter().flat_map(|ip| ip.to_le_bytes()).collect();
        self.values.set_slot(id, &bytes);
        self.depth[id] = Some(ips.len() as u32);
        Ok(id as u32)
    }

    /// The ips of stack `id`.
    pub fn stack(&self, id: u32) -> Option<Vec<u64>> {
        let d = (*self.depth.get(id as usize)?)? as usize;
        let bytes = self
            .values
            .to_vec(id as usize * self.values.slot_size(), d * 8);
        Some(
            bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
        )
    }

    fn id(key: &[u8]) -> Result<u32, MapError> {
        let b: [u8; 4] = key.try_into().map_err(|_| MapError::KeySize {
            expected: 4,
            got: key.len(),
        })?;
        Ok(u32::from_le_bytes(b))
    }

    /// The value (zero-padded ips) of the stack with id `key`.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let id = Self::id(key).ok()? as usize;
        self.depth.get(id)?.as_ref()?;
        Some(self.values.slot(id))
    }

    /// Forgets stack `key`.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), MapError> {
        let id = Self::id(key)? as usize;
        match self.depth.get_mut(id) {
            Some(d @ Some(_)) => {
                *d = None;
                self.values.set_slot(id, &[]);
                Ok(())
            }
            _ => Err(MapError::NotFound),
        }
    }

    /// Every (id, value) pair.
    pub fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..self.depth.len())
            .filter(|&i| self.depth[i].is_some())
            .map(|i| ((i as u32).to_le_bytes().to_vec(), self.values.slot(i)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_stack_same_id_and_collisions() {
        let mut m = StackTraceMap::new(3 * 8, 1);
        let a = m.get_stackid(&[1, 2, 3, 4], 0).unwrap();
        assert_eq!(a, 0, "one bucket");
        assert_eq!(m.stack(a).unwrap(), vec![1, 2, 3], "truncated to 3 ips");
        assert_eq!(m.get_stackid(&[1, 2, 3], 0), Ok(a));
        assert_eq!(m.get_stackid(&[9], 0), Err(MapError::Exists));
        assert_eq!(m.get_stackid(&[9], BPF_F_REUSE_STACKID), Ok(a));
        let v = m.get(&0u32.to_le_bytes()).unwrap();
        assert_eq!(v[..8], 9u64.to_le_bytes());
        assert_eq!(v[8..], [0; 16]);
        m.delete(&0u32.to_le_bytes()).unwrap();
        assert_eq!(m.delete(&0u32.to_le_bytes()), Err(MapError::NotFound));
        assert!(m.entries().is_empty());
    }

    #[test]
    fn ids_spread_over_buckets() {
        let mut m = StackTraceMap::new(8 * 8, 1000);
        assert_eq!(m.values().len(), 1024 * 64);
        let ids: std::collections::BTreeSet<u32> = (0..50u64)
            .filter_map(|i| m.get_stackid(&[0xffff_ffff_8100_0000 + i * 16, i], 0).ok())
            .collect();
        assert!(ids.len() > 40, "ids {ids:?}");
        for &id in &ids {
            assert!(id < 1024);
        }
    }
}
