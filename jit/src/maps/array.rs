//! Array maps (`array`, `percpu_array`, and the one-entry global-data maps of `.rodata`,
//! `.data`, `.bss`): `max_entries` preallocated, zero-initialised values indexed by a `u32` key.
//!
//! As in the kernel, every index below `max_entries` always exists: `BPF_NOEXIST` fails with
//! `-EEXIST`, delete fails with `-EINVAL`, an index out of range gives `-E2BIG` on update and
//! NULL on lookup.

use super::slots::SlotBuf;
use super::{flags_check, MapError, BPF_NOEXIST};

/// An array of fixed-size values at stable addresses.
#[derive(Debug)]
pub struct ArrayMap {
    values: SlotBuf,
    max_entries: u32,
}

impl ArrayMap {
    /// A zeroed array of `max_entries` values.
    pub fn new(value_size: usize, max_entries: u32) -> Self {
        ArrayMap {
            values: SlotBuf::new(value_size, max_entries as usize),
            max_entries,
        }
    }

    /// The value buffer.
    pub fn values(&self) -> &SlotBuf {
        &self.values
    }

    fn index(key: &[u8]) -> Result<u32, MapError> {
        let b: [u8; 4] = key.try_into().map_err(|_| MapError::KeySize {
            expected: 4,
            got: key.len(),
        })?;
        Ok(u32::from_le_bytes(b))
    }

    /// Address of element `key`, or None when out of range.
    pub fn lookup(&self, key: &[u8]) -> Option<u64> {
        let i = Self::index(key).ok()?;
        (i < self.max_entries).then(|| self.values.slot_addr(i as usize))
    }

    /// Element `key`, copied out.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let i = Self::index(key).ok()?;
        (i < self.max_entries).then(|| self.values.slot(i as usize))
    }

    /// Overwrites element `key`.
    pub fn update(&mut self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        flags_check(flags)?;
        let i = Self::index(key)?;
        if value.len() != self.values.slot_size() {
            return Err(MapError::ValueSize {
                expected: self.values.slot_size(),
                got: value.len(),
            });
        }
        if i >= self.max_entries {
            return Err(MapError::IndexOutOfRange {
                index: i,
                max_entries: self.max_entries,
            });
        }
        if flags == BPF_NOEXIST {
            return Err(MapError::Exists);
        }
        self.values.set_slot(i as usize, value);
        Ok(())
    }

    /// Every (index, value) pair.
    pub fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..self.max_entries)
            .map(|i| (i.to_le_bytes().to_vec(), self.values.slot(i as usize)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::BPF_EXIST;

    #[test]
    fn kernel_semantics() {
        let mut a = ArrayMap::new(8, 3);
        assert_eq!(a.get(&1u32.to_le_bytes()).unwrap(), vec![0; 8]);
        a.update(&1u32.to_le_bytes(), &[7; 8], BPF_EXIST).unwrap();
        assert_eq!(a.get(&1u32.to_le_bytes()).unwrap(), vec![7; 8]);
        assert_eq!(
            a.update(&1u32.to_le_bytes(), &[7; 8], BPF_NOEXIST),
            Err(MapError::Exists)
        );
        assert!(matches!(
            a.update(&3u32.to_le_bytes(), &[7; 8], 0),
            Err(MapError::IndexOutOfRange { index: 3, .. })
        ));
        assert_eq!(a.lookup(&3u32.to_le_bytes()), None);
        let a0 = a.lookup(&0u32.to_le_bytes()).unwrap();
        assert_eq!(a.lookup(&2u32.to_le_bytes()), Some(a0 + 16));
        assert!(matches!(
            a.update(&[0; 8], &[0; 8], 0),
            Err(MapError::KeySize {
                expected: 4,
                got: 8
            })
        ));
        assert_eq!(a.entries().len(), 3);
    }
}
