//! [`MapSet`]: the runtime maps of one loaded object or session, and how programs name them.
//!
//! A program's `lddw map_idx[N]` becomes the tagged handle `MAP_HANDLE_TAG | N` (not an
//! address: the map helpers turn it back into an index, with no pointer to trust), and
//! `lddw map_idx_value[N]+OFF` becomes the host address of byte OFF of the map's value.

use super::{Map, MapDef, MapError};
use crate::instr::LdImmKind;
use crate::native::frame::Region;
use crate::program::Program;

/// High bits of a map handle; the low 32 bits are the map's index in its [`MapSet`].
pub const MAP_HANDLE_TAG: u64 = 0xb9f0_0000_0000_0000;

/// The runtime maps, indexed as the object's map table.
#[derive(Debug, Default)]
pub struct MapSet {
    maps: Vec<Map>,
}

/// An environment the map helpers can run in: anything that can lend its [`MapSet`].
pub trait MapEnv {
    fn maps(&mut self) -> &mut MapSet;
}

impl MapEnv for MapSet {
    fn maps(&mut self) -> &mut MapSet {
        self
    }
}

impl MapSet {
    /// No maps.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a map from `def` with optional initial contents (one-entry arrays only) and
    /// returns its index.
    pub fn add(&mut self, def: MapDef, init: Option<&[u8]>) -> Result<usize, MapError> {
        let mut map = Map::new(def)?;
        if let Some(init) = init {
            map.set_initial(init)?;
        }
        self.maps.push(map);
        Ok(self.maps.len() - 1)
    }

    /// The runtime maps of an object's map table, in its order (so `map_idx[N]` matches).
    pub fn from_object(obj: &crate::object::Object) -> Result<Self, MapError> {
        let mut set = MapSet::new();
        for m in &obj.maps {
            set.add(m.def.clone(), m.init.as_deref())?;
        }
        Ok(set)
    }

    /// The contents of every read-only one-entry map (global `.rodata`), by map index, for
    /// [`crate::verifier::VerifyOptions::map_contents`]; `None` for the other maps.
    pub fn read_only_contents(&self) -> Vec<Option<std::sync::Arc<[u8]>>> {
        self.maps
            .iter()
            .map(|m| match m.store() {
                super::Store::Array(a) if m.read_only() && m.def().max_entries == 1 => {
                    Some(a.values().slot(0).into())
                }
                _ => None,
            })
            .collect()
    }

    /// Number of maps.
    pub fn len(&self) -> usize {
        self.maps.len()
    }

    /// Whether there are no maps.
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// Map `index`.
    pub fn get(&self, index: usize) -> Option<&Map> {
        self.maps.get(index)
    }

    /// Map `index`, mutably.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Map> {
        self.maps.get_mut(index)
    }

    /// The first map called `name`, with its index.
    pub fn by_name(&self, name: &str) -> Option<(usize, &Map)> {
        self.maps
            .iter()
            .enumerate()
            .find(|(_, m)| m.def().name == name)
    }

    /// All maps in index order.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = &Map> {
        self.maps.iter()
    }

    /// The handle of map `index`, as `lddw map_idx[index]` loads it.
    pub fn handle(index: usize) -> u64 {
        MAP_HANDLE_TAG | index as u64
    }

    /// The index a handle names, if it is a handle of a map of this set.
    pub fn index_of(&self, handle: u64) -> Option<usize> {
        let i = handle ^ MAP_HANDLE_TAG;
        (i < self.maps.len() as u64).then_some(i as usize)
    }

    /// The map a handle names.
    pub fn by_handle(&mut self, handle: u64) -> Option<&mut Map> {
        let i = self.index_of(handle)?;
        self.maps.get_mut(i)
    }

    /// The regions of every map's value memory, for [`crate::interp::Interpreter::run_checked`].
    pub fn regions(&self) -> Vec<Region> {
        self.maps.iter().filter_map(Map::region).collect()
    }

    /// The ring buffer whose data memory holds `addr` (for `bpf_ringbuf_submit`).
    pub fn ringbuf_at(&mut self, addr: u64) -> Option<&mut super::ringbuf::RingBuf> {
        self.maps
            .iter_mut()
            .filter_map(Map::ringbuf_mut)
            .find(|r| r.data().offset_of(addr).is_some())
    }

    /// Resolves `lddw map_idx[N]` to map handles and `lddw map_idx_value[N]+OFF` to value
    /// addresses. Other pseudo forms (`map_fd`, `func`, `btf_id`...) are refused: they belong to
    /// other loaders.
    pub fn resolve_program(&self, prog: &mut Program) -> Result<(), MapError> {
        let bad = |pc: usize, reason: String| MapError::BadReference { pc, reason };
        prog.resolve_pseudo(|pc, kind, imm| {
            let index = imm & 0xffff_ffff;
            let map = self
                .maps
                .get(index as usize)
                .ok_or_else(|| bad(pc, format!("no map with index {index}")))?;
            match kind {
                LdImmKind::MapIdx => Ok(Self::handle(index as usize)),
                LdImmKind::MapIdxValue => map
                    .direct_value_addr((imm >> 32) as u32)
                    .map_err(|e| bad(pc, format!("map `{}`: {e}", map.def().name))),
                other => Err(bad(
                    pc,
                    format!(
                        "lddw {} cannot be resolved against a map set",
                        other.keyword()
                    ),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble;
    use crate::instr::Instr;
    use crate::maps::MapKind;

    fn array(name: &str, vs: u32) -> MapDef {
        MapDef {
            name: name.into(),
            kind: MapKind::Array,
            key_size: 4,
            value_size: vs,
            max_entries: 1,
            flags: 0,
        }
    }

    #[test]
    fn handles_and_resolution() {
        let mut set = MapSet::new();
        set.add(array("a", 8), None).unwrap();
        set.add(array("b", 16), Some(&[5; 16])).unwrap();
        assert_eq!(set.index_of(MapSet::handle(1)), Some(1));
        assert_eq!(set.index_of(MapSet::handle(2)), None);
        assert_eq!(set.index_of(1), None);
        assert_eq!(set.by_name("b").unwrap().0, 1);
        let src = "lddw %r1, map_idx[1]\nlddw %r2, map_idx_value[1]+12\nmov %r0, 0\nexit";
        let mut p = Program::new(assemble(src).unwrap()).unwrap();
        set.resolve_program(&mut p).unwrap();
        let value = set.get(1).unwrap().direct_value_addr(0).unwrap();
        assert!(matches!(p.instrs()[0], Instr::LdImm64 { imm, .. } if imm == MapSet::handle(1)));
        assert!(matches!(p.instrs()[2], Instr::LdImm64 { imm, .. } if imm == value + 12));
        assert_eq!(set.regions().len(), 2);

        for bad in [
            "lddw %r1, map_idx[2]",
            "lddw %r1, map_idx_value[0]+8",
            "lddw %r1, map_fd[0]",
        ] {
            let mut p = Program::new(assemble(&format!("{bad}\nexit")).unwrap()).unwrap();
            let e = set.resolve_program(&mut p).unwrap_err();
            assert!(
                matches!(e, MapError::BadReference { pc: 0, .. }),
                "{bad}: {e}"
            );
        }
    }
}
