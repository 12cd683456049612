//! [`Map`]: one runtime map, a [`MapDef`] checked and turned into its storage.

use super::array::ArrayMap;
use super::hash::HashTable;
use super::perf::PerfEventArray;
use super::ringbuf::RingBuf;
use super::slots::SlotBuf;
use super::stack::StackTraceMap;
use super::{MapDef, MapError, MapKind, BPF_F_RDONLY_PROG, MAX_KEY_SIZE, MAX_MAP_BYTES};
use crate::native::frame::Region;

/// The storage behind a map, by kind.
#[derive(Debug)]
pub enum Store {
    /// `hash`, `percpu_hash`, `lru_hash`, `lru_percpu_hash`.
    Hash(HashTable),
    /// `array`, `percpu_array` and global data.
    Array(ArrayMap),
    RingBuf(RingBuf),
    PerfEventArray(PerfEventArray),
    StackTrace(StackTraceMap),
    /// A cgroup array's slots. User space places cgroups there by file descriptor; the
    /// sandbox has no host cgroup that is the guest's, so every slot stays empty.
    CgroupArray {
        slots: u32,
    },
}

/// A runtime map.
#[derive(Debug)]
pub struct Map {
    def: MapDef,
    store: Store,
}

fn bad(def: &MapDef, reason: impl Into<String>) -> MapError {
    MapError::BadDefinition {
        name: def.name.clone(),
        reason: reason.into(),
    }
}

/// Checks `count * size` against [`MAX_MAP_BYTES`].
fn check_bytes(def: &MapDef, size: u64, count: u64) -> Result<(), MapError> {
    match size.checked_mul(count) {
        Some(n) if n <= MAX_MAP_BYTES => Ok(()),
        _ => Err(bad(
            def,
            format!("{count} entries of {size} bytes exceed the limit of {MAX_MAP_BYTES} bytes"),
        )),
    }
}

impl Map {
    /// Checks `def` as the kernel does at map creation and preallocates the map.
    pub fn new(mut def: MapDef) -> Result<Self, MapError> {
        // A perf event array without a size gets one slot per CPU, as libbpf sizes it.
        if def.kind == MapKind::PerfEventArray && def.max_entries == 0 {
            def.max_entries = 1;
        }
        let (ks, vs, n) = (def.key_size, def.value_size, def.max_entries);
        if n == 0 {
            return Err(bad(&def, "max_entries is 0"));
        }
        let store = match def.kind {
            MapKind::Hash | MapKind::PercpuHash | MapKind::LruHash | MapKind::LruPercpuHash => {
                if ks == 0 || ks > MAX_KEY_SIZE {
                    return Err(bad(
                        &def,
                        format!("key_size {ks} is not in 1..={MAX_KEY_SIZE}"),
                    ));
                }
                if vs == 0 {
                    return Err(bad(&def, "value_size is 0"));
                }
                check_bytes(&def, vs.into(), n.into())?;
                let lru = matches!(def.kind, MapKind::LruHash | MapKind::LruPercpuHash);
                Store::Hash(HashTable::new(ks as usize, vs as usize, n as usize, lru))
            }
            MapKind::Array | MapKind::PercpuArray => {
                if ks != 4 {
                    return Err(bad(&def, format!("key_size {ks}, array keys are 4 bytes")));
                }
                if vs == 0 {
                    return Err(bad(&def, "value_size is 0"));
                }
                check_bytes(&def, vs.into(), n.into())?;
                Store::Array(ArrayMap::new(vs as usize, n))
            }
            MapKind::RingBuf => {
                if ks != 0 || vs != 0 {
                    return Err(bad(&def, "ring buffers have no key or value size"));
                }
                if !n.is_power_of_two() || n % 4096 != 0 {
                    return Err(bad(
                        &def,
                        format!("ring buffer size {n} is not a power of two multiple of 4096"),
                    ));
                }
                check_bytes(&def, 2, n.into())?;
                Store::RingBuf(RingBuf::new(n))
            }
            MapKind::PerfEventArray => {
                if !matches!(ks, 0 | 4) || !matches!(vs, 0 | 4) {
                    return Err(bad(&def, "perf event array keys and values are 4 bytes"));
                }
                Store::PerfEventArray(PerfEventArray::new(n))
            }
            MapKind::CgroupArray => {
                if ks != 4 || vs != 4 {
                    return Err(bad(&def, "cgroup array keys and values are 4 bytes"));
                }
                Store::CgroupArray { slots: n }
            }
            MapKind::StackTrace => {
                if ks != 4 {
                    return Err(bad(&def, format!("key_size {ks}, stack ids are 4 bytes")));
                }
                if vs == 0 || vs % 8 != 0 {
                    return Err(bad(&def, format!("value_size {vs} is not a multiple of 8")));
                }
                if n > 1 << 31 {
                    return Err(bad(&def, "too many entries"));
                }
                check_bytes(&def, vs.into(), u64::from(n).next_power_of_two())?;
                Store::StackTrace(StackTraceMap::new(vs as usize, n))
            }
        };
        Ok(Map { def, store })
    }

    /// The definition the map was made from.
    pub fn def(&self) -> &MapDef {
        &self.def
    }

    /// The storage.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The storage, mutably (ring buffer and perf consumers, stack ids).
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Whether programs may only read the map's values.
    #[inline]
    pub fn read_only(&self) -> bool {
        self.def.flags & BPF_F_RDONLY_PROG != 0
    }

    /// The value memory programs may touch, if the map has any.
    #[inline]
    pub fn memory(&self) -> Option<&SlotBuf> {
        match &self.store {
            Store::Hash(t) => Some(t.values()),
            Store::Array(a) => Some(a.values()),
            Store::RingBuf(r) => Some(r.data()),
            Store::StackTrace(s) => Some(s.values()),
            Store::PerfEventArray(_) | Store::CgroupArray { .. } => None,
        }
    }

    /// The region of the map's value memory, for checked runs.
    #[inline]
    pub fn region(&self) -> Option<Region> {
        let m = self.memory().filter(|m| !m.is_empty())?;
        Some(m.region(!self.read_only()))
    }

    /// `bpf_map_lookup_elem` from a program: the address of the value, or None (NULL). Stack
    /// trace, ring buffer and perf maps have no values a program may look up.
    pub fn lookup(&mut self, key: &[u8]) -> Option<u64> {
        match &mut self.store {
            Store::Hash(t) => t.lookup(key),
            Store::Array(a) => a.lookup(key),
            _ => None,
        }
    }

    /// The value for `key`, copied out (user-space lookup: no LRU effect).
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match &self.store {
            Store::Hash(t) => t.get(key),
            Store::Array(a) => a.get(key),
            Store::StackTrace(s) => s.get(key),
            _ => None,
        }
    }

    /// `bpf_map_update_elem`.
    pub fn update(&mut self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        match &mut self.store {
            Store::Hash(t) => t.update(key, value, flags),
            Store::Array(a) => a.update(key, value, flags),
            _ => Err(MapError::Unsupported {
                op: "update",
                kind: self.def.kind,
            }),
        }
    }

    /// `bpf_map_delete_elem`.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), MapError> {
        match &mut self.store {
            Store::Hash(t) => t.delete(key),
            Store::StackTrace(s) => s.delete(key),
            _ => Err(MapError::Unsupported {
                op: "delete",
                kind: self.def.kind,
            }),
        }
    }

    /// Every (key, value) pair, for dumping (empty for ring buffers and perf arrays).
    pub fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        match &self.store {
            Store::Hash(t) => t.entries(),
            Store::Array(a) => a.entries(),
            Store::StackTrace(s) => s.entries(),
            _ => Vec::new(),
        }
    }

    /// Address of byte `off` of the single value of a one-entry array (what `lddw
    /// map_idx_value` loads; the kernel allows it only there).
    pub fn direct_value_addr(&self, off: u32) -> Result<u64, MapError> {
        match &self.store {
            Store::Array(a) if self.def.max_entries == 1 => {
                if off >= self.def.value_size {
                    return Err(MapError::BadDefinition {
                        name: self.def.name.clone(),
                        reason: format!(
                            "value offset {off} is past the value size {}",
                            self.def.value_size
                        ),
                    });
                }
                Ok(a.values().addr(off as usize))
            }
            _ => Err(MapError::Unsupported {
                op: "direct value access",
                kind: self.def.kind,
            }),
        }
    }

    /// Writes the initial contents of a one-entry array (global data).
    pub fn set_initial(&mut self, init: &[u8]) -> Result<(), MapError> {
        match &self.store {
            Store::Array(a) if self.def.max_entries == 1 => {
                if init.len() > self.def.value_size as usize {
                    return Err(MapError::ValueSize {
                        expected: self.def.value_size as usize,
                        got: init.len(),
                    });
                }
                a.values().set_slot(0, init);
                Ok(())
            }
            _ => Err(MapError::Unsupported {
                op: "initial contents",
                kind: self.def.kind,
            }),
        }
    }

    /// The ring buffer, if this is one.
    pub fn ringbuf_mut(&mut self) -> Option<&mut RingBuf> {
        match &mut self.store {
            Store::RingBuf(r) => Some(r),
            _ => None,
        }
    }

    /// Whether slot `index` of a cgroup array holds a cgroup: `None` when this is no cgroup
    /// array or the index is past its end.
    pub fn cgroup_slot(&self, index: u32) -> Option<bool> {
        match self.store {
            Store::CgroupArray { slots } if index < slots => Some(false),
            _ => None,
        }
    }

    /// The perf event array, if this is one.
    pub fn perf_mut(&mut self) -> Option<&mut PerfEventArray> {
        match &mut self.store {
            Store::PerfEventArray(p) => Some(p),
            _ => None,
        }
    }

    /// The stack trace map, if this is one.
    pub fn stack_mut(&mut self) -> Option<&mut StackTraceMap> {
        match &mut self.store {
            Store::StackTrace(s) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: MapKind, ks: u32, vs: u32, n: u32) -> MapDef {
        MapDef {
            name: "m".into(),
            kind,
            key_size: ks,
            value_size: vs,
            max_entries: n,
            flags: 0,
        }
    }

    #[test]
    fn creation_checks_definitions() {
        let e = |d| Map::new(d).err().map(|e| e.to_string());
        assert!(e(def(MapKind::Hash, 4, 8, 0))
            .unwrap()
            .contains("max_entries is 0"));
        assert!(e(def(MapKind::Hash, 0, 8, 1))
            .unwrap()
            .contains("key_size 0"));
        assert!(e(def(MapKind::Array, 8, 8, 1))
            .unwrap()
            .contains("array keys"));
        assert!(e(def(MapKind::RingBuf, 0, 0, 5000))
            .unwrap()
            .contains("power of two"));
        assert!(e(def(MapKind::StackTrace, 4, 12, 1))
            .unwrap()
            .contains("multiple of 8"));
        assert!(e(def(MapKind::Hash, 4, 1 << 20, 1 << 20))
            .unwrap()
            .contains("limit"));
        assert!(e(def(MapKind::CgroupArray, 4, 8, 1))
            .unwrap()
            .contains("cgroup array"));
        for d in [
            def(MapKind::Hash, 4, 8, 16),
            def(MapKind::LruPercpuHash, 4, 8, 16),
            def(MapKind::PercpuArray, 4, 8, 16),
            def(MapKind::RingBuf, 0, 0, 8192),
            def(MapKind::PerfEventArray, 4, 4, 1),
            def(MapKind::StackTrace, 4, 64, 10),
            def(MapKind::CgroupArray, 4, 4, 1),
        ] {
            assert!(Map::new(d.clone()).is_ok(), "{d:?}");
        }
    }

    #[test]
    fn unsupported_operations_give_kernel_errnos() {
        let mut a = Map::new(def(MapKind::Array, 4, 8, 2)).unwrap();
        let err = a.delete(&0u32.to_le_bytes()).unwrap_err();
        assert_eq!(err.errno(), -22);
        let mut r = Map::new(def(MapKind::RingBuf, 0, 0, 4096)).unwrap();
        assert_eq!(r.update(&[], &[], 0).unwrap_err().errno(), -95);
        assert_eq!(r.lookup(&[]), None);
        assert!(a.direct_value_addr(0).is_err(), "two entries");
        let mut g = Map::new(MapDef {
            flags: BPF_F_RDONLY_PROG,
            ..def(MapKind::Array, 4, 6, 1)
        })
        .unwrap();
        g.set_initial(b"abc").unwrap();
        assert_eq!(g.get(&0u32.to_le_bytes()).unwrap(), b"abc\0\0\0");
        assert!(g.direct_value_addr(6).is_err());
        assert_eq!(
            g.direct_value_addr(2).unwrap(),
            g.lookup(&0u32.to_le_bytes()).unwrap() + 2
        );
        assert!(!g.region().unwrap().writable);
        assert!(g.set_initial(&[0; 7]).is_err());
        let c = Map::new(def(MapKind::CgroupArray, 4, 4, 2)).unwrap();
        assert_eq!(c.cgroup_slot(1), Some(false), "every slot is empty");
        assert_eq!(c.cgroup_slot(2), None, "past the end");
        assert_eq!(a.cgroup_slot(0), None, "not a cgroup array");
        assert!(c.memory().is_none() && c.entries().is_empty());
    }
}
