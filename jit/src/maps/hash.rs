//! Hash maps (`hash`, `percpu_hash`, `lru_hash`, `lru_percpu_hash`) over preallocated slots.
//!
//! As the kernel's preallocated hash maps, every one of `max_entries` value slots is allocated
//! when the map is created; an insert takes a free slot, a delete returns it to the free list
//! and the value memory never moves, so addresses handed to programs stay valid. Keys are indexed
//! by a hash table with a fixed (unseeded) hasher and free slots are reused last-freed-first, so
//! slot assignment and iteration order are a pure function of the operations: runs replay.
//!
//! LRU maps keep an exact recency list (the kernel's is approximate, per-CPU and batched): a
//! lookup or update makes an element the most recent; inserting into a full map evicts the least
//! recent element instead of failing with `-E2BIG`. With one CPU, per-CPU maps behave as plain
//! maps.

use super::slots::SlotBuf;
use super::{flags_check, MapError, BPF_EXIST, BPF_NOEXIST};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault};

/// The default hasher: SipHash with fixed keys (deterministic across runs).
pub type FixedState = BuildHasherDefault<DefaultHasher>;

/// No slot.
const NIL: u32 = u32::MAX;

/// Exact least-recently-used order over slots, as a doubly linked list.
#[derive(Debug, Clone)]
struct Lru {
    prev: Vec<u32>,
    next: Vec<u32>,
    /// Most recently used.
    head: u32,
    /// Least recently used.
    tail: u32,
}

impl Lru {
    fn new(n: usize) -> Self {
        Lru {
            prev: vec![NIL; n],
            next: vec![NIL; n],
            head: NIL,
            tail: NIL,
        }
    }

    fn unlink(&mut self, s: u32) {
        let (p, n) = (self.prev[s as usize], self.next[s as usize]);
        if p == NIL {
            self.head = n;
        } else {
            self.next[p as usize] = n;
        }
        if n == NIL {
            self.tail = p;
        } else {
            self.prev[n as usize] = p;
        }
        self.prev[s as usize] = NIL;
        self.next[s as usize] = NIL;
    }

    fn push_front(&mut self, s: u32) {
        self.prev[s as usize] = NIL;
        self.next[s as usize] = self.head;
        if self.head != NIL {
            self.prev[self.head as usize] = s;
        }
        self.head = s;
        if self.tail == NIL {
            self.tail = s;
        }
    }

    fn touch(&mut self, s: u32) {
        if self.head != s {
            self.unlink(s);
            self.push_front(s);
        }
    }
}

/// A hash map with preallocated value slots; optionally LRU.
#[derive(Debug)]
pub struct HashTable<S = FixedState> {
    key_size: usize,
    index: HashMap<Box<[u8]>, u32, S>,
    /// The key held by each slot (None when free), for iteration in slot order.
    keys: Vec<Option<Box<[u8]>>>,
    /// Free slots; the last is taken first.
    free: Vec<u32>,
    values: SlotBuf,
    lru: Option<Lru>,
}

impl HashTable<FixedState> {
    /// A table of `max_entries` slots; `lru` selects eviction instead of `-E2BIG` when full.
    pub fn new(key_size: usize, value_size: usize, max_entries: usize, lru: bool) -> Self {
        Self::with_hasher(
            key_size,
            value_size,
            max_entries,
            lru,
            FixedState::default(),
        )
    }
}

impl<S: BuildHasher> HashTable<S> {
    /// As [`HashTable::new`], with a chosen hasher (tests force collisions with this).
    pub fn with_hasher(
        key_size: usize,
        value_size: usize,
        max_entries: usize,
        lru: bool,
        hasher: S,
    ) -> Self {
        HashTable {
            key_size,
            index: HashMap::with_capacity_and_hasher(max_entries.min(1 << 16), hasher),
            keys: vec![None; max_entries],
            free: (0..max_entries as u32).rev().collect(),
            values: SlotBuf::new(value_size, max_entries),
            lru: lru.then(|| Lru::new(max_entries)),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the table holds no element.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The value buffer (all slots).
    pub fn values(&self) -> &SlotBuf {
        &self.values
    }

    fn check_key(&self, key: &[u8]) -> Result<(), MapError> {
        if key.len() != self.key_size {
            return Err(MapError::KeySize {
                expected: self.key_size,
                got: key.len(),
            });
        }
        Ok(())
    }

    /// Address of the value for `key`; an LRU lookup makes the element the most recent.
    pub fn lookup(&mut self, key: &[u8]) -> Option<u64> {
        let s = *self.index.get(key)?;
        if let Some(lru) = &mut self.lru {
            lru.touch(s);
        }
        Some(self.values.slot_addr(s as usize))
    }

    /// The value for `key`, copied out (no LRU effect).
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let s = *self.index.get(key)?;
        Some(self.values.slot(s as usize))
    }

    /// Inserts or replaces, with the kernel's `BPF_ANY`/`BPF_NOEXIST`/`BPF_EXIST` semantics.
    /// Replacing writes the new value in place (the element keeps its address).
    pub fn update(&mut self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        flags_check(flags)?;
        self.check_key(key)?;
        if value.len() != self.values.slot_size() {
            return Err(MapError::ValueSize {
                expected: self.values.slot_size(),
                got: value.len(),
            });
        }
        if let Some(&s) = self.index.get(key) {
            if flags == BPF_NOEXIST {
                return Err(MapError::Exists);
            }
            self.values.set_slot(s as usize, value);
            if let Some(lru) = &mut self.lru {
                lru.touch(s);
            }
            return Ok(());
        }
        if flags == BPF_EXIST {
            return Err(MapError::NotFound);
        }
        let s = match self.free.pop() {
            Some(s) => s,
            None => match &self.lru {
                Some(lru) if lru.tail != NIL => {
                    let victim = lru.tail;
                    self.remove_slot(victim);
                    self.free.pop().ok_or(MapError::Full)?
                }
                _ => return Err(MapError::Full),
            },
        };
        self.values.set_slot(s as usize, value);
        let k: Box<[u8]> = key.into();
        self.keys[s as usize] = Some(k.clone());
        self.index.insert(k, s);
        if let Some(lru) = &mut self.lru {
            lru.push_front(s);
        }
        Ok(())
    }

    fn remove_slot(&mut self, s: u32) {
        if let Some(k) = self.keys[s as usize].take() {
            self.index.remove(&k);
        }
        if let Some(lru) = &mut self.lru {
            lru.unlink(s);
        }
        self.free.push(s);
    }

    /// Removes `key`; `-ENOENT` if absent. The slot's memory stays allocated for reuse.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), MapError> {
        self.check_key(key)?;
        let s = *self.index.get(key).ok_or(MapError::NotFound)?;
        self.remove_slot(s);
        Ok(())
    }

    /// Every (key, value) pair, in slot order.
    pub fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.keys
            .iter()
            .enumerate()
            .filter_map(|(s, k)| Some((k.as_ref()?.to_vec(), self.values.slot(s))))
            .collect()
    }

    /// Keys from least to most recently used (LRU tables only; empty otherwise).
    pub fn lru_order(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if let Some(lru) = &self.lru {
            let mut s = lru.tail;
            while s != NIL {
                if let Some(k) = &self.keys[s as usize] {
                    out.push(k.to_vec());
                }
                s = lru.prev[s as usize];
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hasher;

    /// A hasher that sends every key to the same bucket.
    #[derive(Default, Clone)]
    struct Collide;
    impl Hasher for Collide {
        fn finish(&self) -> u64 {
            7
        }
        fn write(&mut self, _: &[u8]) {}
    }
    impl BuildHasher for Collide {
        type Hasher = Collide;
        fn build_hasher(&self) -> Collide {
            Collide
        }
    }

    fn k(i: u32) -> [u8; 4] {
        i.to_le_bytes()
    }

    #[test]
    fn colliding_keys_stay_distinct() {
        let mut t = HashTable::with_hasher(4, 8, 16, false, Collide);
        for i in 0..16 {
            t.update(&k(i), &u64::from(i * 3).to_le_bytes(), 0).unwrap();
        }
        for i in 0..16 {
            assert_eq!(t.get(&k(i)).unwrap(), u64::from(i * 3).to_le_bytes());
        }
        t.delete(&k(5)).unwrap();
        assert_eq!(t.get(&k(5)), None);
        assert_eq!(t.get(&k(6)).unwrap(), 18u64.to_le_bytes());
        assert_eq!(t.len(), 15);
    }

    #[test]
    fn flags_and_full_map_follow_the_kernel() {
        let mut t = HashTable::new(4, 4, 2, false);
        assert_eq!(t.update(&k(1), &[1; 4], BPF_EXIST), Err(MapError::NotFound));
        t.update(&k(1), &[1; 4], BPF_NOEXIST).unwrap();
        assert_eq!(t.update(&k(1), &[2; 4], BPF_NOEXIST), Err(MapError::Exists));
        t.update(&k(1), &[3; 4], BPF_EXIST).unwrap();
        t.update(&k(2), &[4; 4], 0).unwrap();
        assert_eq!(t.update(&k(3), &[5; 4], 0), Err(MapError::Full));
        assert_eq!(t.update(&k(3), &[5; 4], 3), Err(MapError::BadFlags(3)));
        // Replacing in a full map is fine.
        t.update(&k(2), &[6; 4], 0).unwrap();
        assert_eq!(t.delete(&k(3)), Err(MapError::NotFound));
        assert_eq!(t.get(&k(1)).unwrap(), vec![3; 4]);
    }

    #[test]
    fn value_addresses_are_stable_and_slots_recycled() {
        let mut t = HashTable::new(4, 8, 4, false);
        t.update(&k(1), &[1; 8], 0).unwrap();
        let a = t.lookup(&k(1)).unwrap();
        t.update(&k(2), &[2; 8], 0).unwrap();
        t.update(&k(1), &[9; 8], 0).unwrap();
        assert_eq!(t.lookup(&k(1)), Some(a));
        t.delete(&k(1)).unwrap();
        t.update(&k(3), &[3; 8], 0).unwrap();
        // The freed slot is reused first.
        assert_eq!(t.lookup(&k(3)), Some(a));
        assert_eq!(t.get(&k(3)).unwrap(), vec![3; 8]);
    }

    #[test]
    fn lru_evicts_least_recently_used() {
        let mut t = HashTable::new(4, 4, 3, true);
        for i in 1..=3 {
            t.update(&k(i), &[i as u8; 4], 0).unwrap();
        }
        // Order (oldest first): 1 2 3; touching 1 makes 2 the oldest.
        assert!(t.lookup(&k(1)).is_some());
        assert_eq!(
            t.lru_order(),
            vec![k(2).to_vec(), k(3).to_vec(), k(1).to_vec()]
        );
        t.update(&k(4), &[4; 4], 0).unwrap();
        assert_eq!(t.get(&k(2)), None);
        assert_eq!(t.len(), 3);
        // Updating 3 makes 1 the oldest; the next insert evicts it.
        t.update(&k(3), &[33; 4], 0).unwrap();
        t.update(&k(5), &[5; 4], 0).unwrap();
        assert_eq!(t.get(&k(1)), None);
        assert_eq!(
            t.lru_order(),
            vec![k(4).to_vec(), k(3).to_vec(), k(5).to_vec()]
        );
        t.delete(&k(3)).unwrap();
        assert_eq!(t.lru_order(), vec![k(4).to_vec(), k(5).to_vec()]);
    }
}
