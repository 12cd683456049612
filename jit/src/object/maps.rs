//! Map definitions of an object: the legacy `maps` section (`struct bpf_map_def`), BTF-defined
//! `.maps` (`__uint`/`__type` members of an anonymous struct), and global data sections.

use super::{ObjMap, ObjectError, Section, Symbol};
use crate::btf::{Btf, BtfType};
use crate::maps::{MapDef, MapKind, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG};

/// Size of the fields of `struct bpf_map_def` bpflab reads: type, key_size, value_size,
/// max_entries, map_flags.
const LEGACY_DEF_SIZE: usize = 20;

fn kind_of(map: &str, ty: u32) -> Result<MapKind, ObjectError> {
    MapKind::from_kernel_id(ty).ok_or_else(|| ObjectError::UnknownMapType {
        map: map.to_owned(),
        ty,
    })
}

/// Maps of the legacy `maps` section: one per symbol, in offset order.
pub(super) fn legacy(sec: &Section, syms: &[&Symbol]) -> Result<Vec<(u64, ObjMap)>, ObjectError> {
    let mut out = Vec::new();
    for s in syms {
        let start = s.value as usize;
        let bytes = sec
            .data
            .get(start..)
            .filter(|b| b.len() >= 16)
            .ok_or_else(|| ObjectError::BadMapDef {
                map: s.name.clone(),
                reason: format!("definition at offset {start} runs past the `maps` section"),
            })?;
        let len = (s.size as usize)
            .clamp(16, LEGACY_DEF_SIZE)
            .min(bytes.len());
        let mut f = [0u32; 5];
        for (i, c) in bytes[..len].chunks_exact(4).enumerate() {
            f[i] = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        let def = MapDef {
            name: s.name.clone(),
            kind: kind_of(&s.name, f[0])?,
            key_size: f[1],
            value_size: f[2],
            max_entries: f[3],
            flags: f[4],
        };
        out.push((s.value, fixup(ObjMap::new(def))));
    }
    Ok(out)
}

/// libbpf's defaults: perf event arrays have 4-byte keys and values.
fn fixup(mut m: ObjMap) -> ObjMap {
    if m.def.kind == MapKind::PerfEventArray {
        if m.def.key_size == 0 {
            m.def.key_size = 4;
        }
        if m.def.value_size == 0 {
            m.def.value_size = 4;
        }
    }
    m
}

/// The integer encoded by `__uint(name, N)`: a pointer to an array of N ints.
fn uint_member(btf: &Btf, map: &str, member: &str, ty: u32) -> Result<u32, ObjectError> {
    let bad = |reason: String| ObjectError::BadMapDef {
        map: map.to_owned(),
        reason: format!("member `{member}`: {reason}"),
    };
    let ptr = btf.skip_mods(ty).map_err(|e| bad(e.to_string()))?;
    let Some(BtfType::Ptr { ty: arr }) = btf.get(ptr) else {
        return Err(bad("not a pointer to an array (__uint)".into()));
    };
    match btf.get(btf.skip_mods(*arr).map_err(|e| bad(e.to_string()))?) {
        Some(BtfType::Array { nelems, .. }) => Ok(*nelems),
        _ => Err(bad("not a pointer to an array (__uint)".into())),
    }
}

/// The type of `__type(name, T)` (a pointer to T) and its size.
fn type_member(btf: &Btf, map: &str, member: &str, ty: u32) -> Result<(u32, u32), ObjectError> {
    let bad = |reason: String| ObjectError::BadMapDef {
        map: map.to_owned(),
        reason: format!("member `{member}`: {reason}"),
    };
    let ptr = btf.skip_mods(ty).map_err(|e| bad(e.to_string()))?;
    let Some(BtfType::Ptr { ty: t }) = btf.get(ptr) else {
        return Err(bad("not a pointer (__type)".into()));
    };
    let size = btf.size_of(*t).map_err(|e| bad(e.to_string()))?;
    let size = u32::try_from(size).map_err(|_| bad(format!("size {size} is too large")))?;
    Ok((*t, size))
}

/// Maps of `.maps`: each symbol is a variable of the `.maps` DATASEC whose struct members
/// describe the map.
pub(super) fn btf_defined(
    btf: Option<&Btf>,
    syms: &[&Symbol],
) -> Result<Vec<(u64, ObjMap)>, ObjectError> {
    let mut out = Vec::new();
    for s in syms {
        let btf = btf.ok_or_else(|| ObjectError::BadMapDef {
            map: s.name.clone(),
            reason: "BTF-defined maps need a .BTF section".into(),
        })?;
        let var = btf
            .types()
            .find_map(|(_, t)| match t {
                BtfType::Var { name, ty, .. } if *name == s.name => Some(*ty),
                _ => None,
            })
            .ok_or_else(|| ObjectError::BadMapDef {
                map: s.name.clone(),
                reason: "no BTF variable of that name".into(),
            })?;
        let st = btf.skip_mods(var).map_err(|e| ObjectError::BadMapDef {
            map: s.name.clone(),
            reason: e.to_string(),
        })?;
        let Some(BtfType::Struct { members, .. }) = btf.get(st) else {
            return Err(ObjectError::BadMapDef {
                map: s.name.clone(),
                reason: "the variable is not a struct".into(),
            });
        };
        let mut ty = None;
        let (mut key_type, mut value_type) = (None, None);
        let opt = |(t, size): (u32, u32)| (Some(t), size);
        let mut def = MapDef {
            name: s.name.clone(),
            kind: MapKind::Array,
            key_size: 0,
            value_size: 0,
            max_entries: 0,
            flags: 0,
        };
        for m in members {
            let n = m.name.as_str();
            match n {
                "type" => ty = Some(uint_member(btf, &s.name, n, m.ty)?),
                "max_entries" => def.max_entries = uint_member(btf, &s.name, n, m.ty)?,
                "map_flags" => def.flags = uint_member(btf, &s.name, n, m.ty)?,
                "key_size" => def.key_size = uint_member(btf, &s.name, n, m.ty)?,
                "value_size" => def.value_size = uint_member(btf, &s.name, n, m.ty)?,
                "key" => (key_type, def.key_size) = opt(type_member(btf, &s.name, n, m.ty)?),
                "value" => (value_type, def.value_size) = opt(type_member(btf, &s.name, n, m.ty)?),
                "pinning" | "numa_node" | "map_extra" => {}
                other => {
                    return Err(ObjectError::BadMapDef {
                        map: s.name.clone(),
                        reason: format!("unsupported member `{other}`"),
                    })
                }
            }
        }
        let ty = ty.ok_or_else(|| ObjectError::BadMapDef {
            map: s.name.clone(),
            reason: "no `type` member".into(),
        })?;
        def.kind = kind_of(&s.name, ty)?;
        let mut m = ObjMap::new(def);
        m.key_type = key_type;
        m.value_type = value_type;
        out.push((s.value, fixup(m)));
    }
    Ok(out)
}

/// The one-entry array map of a global data section, holding its initial contents.
pub(super) fn global_data(sec: &Section) -> ObjMap {
    let ro = super::section::is_rodata(&sec.name);
    ObjMap {
        def: MapDef {
            name: sec.name.clone(),
            kind: MapKind::Array,
            key_size: 4,
            value_size: sec.size as u32,
            max_entries: 1,
            flags: BPF_F_MMAPABLE | if ro { BPF_F_RDONLY_PROG } else { 0 },
        },
        init: (!sec.nobits).then(|| sec.data.clone()),
        read_only: ro,
        key_type: None,
        value_type: None,
    }
}
