//! Maps: the key/value tables a program shares with the embedder and with later runs.
//!
//! [`MapDef`] is what a program declares (ELF `maps`/`.maps` sections, or the assembler's
//! `map_idx[N]` references against a table the embedder supplies). The verifier checks every
//! access against a definition; the loader and the embedder turn definitions into runtime maps.
//! Programs refer to a map through `lddw` pseudo forms (`map_idx[N]` / `map_fd[N]`, index into
//! the program's map table) until the embedder resolves them to the runtime map's address.

/// The kinds of map bpflab knows, numbered as the kernel's `enum bpf_map_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapKind {
    Hash,
    Array,
    PercpuHash,
    PercpuArray,
    StackTrace,
    LruHash,
    LruPercpuHash,
    PerfEventArray,
    RingBuf,
}

impl MapKind {
    /// The kernel's `BPF_MAP_TYPE_*` number.
    pub fn kernel_id(self) -> u32 {
        match self {
            MapKind::Hash => 1,
            MapKind::Array => 2,
            MapKind::PerfEventArray => 4,
            MapKind::PercpuHash => 5,
            MapKind::PercpuArray => 6,
            MapKind::StackTrace => 7,
            MapKind::LruHash => 9,
            MapKind::LruPercpuHash => 10,
            MapKind::RingBuf => 27,
        }
    }

    /// The kind for a kernel `BPF_MAP_TYPE_*` number, if bpflab supports it.
    pub fn from_kernel_id(id: u32) -> Option<Self> {
        Some(match id {
            1 => MapKind::Hash,
            2 => MapKind::Array,
            4 => MapKind::PerfEventArray,
            5 => MapKind::PercpuHash,
            6 => MapKind::PercpuArray,
            7 => MapKind::StackTrace,
            9 => MapKind::LruHash,
            10 => MapKind::LruPercpuHash,
            27 => MapKind::RingBuf,
            _ => return None,
        })
    }

    /// The name bpftool uses (`hash`, `array`, ...).
    pub fn name(self) -> &'static str {
        match self {
            MapKind::Hash => "hash",
            MapKind::Array => "array",
            MapKind::PercpuHash => "percpu_hash",
            MapKind::PercpuArray => "percpu_array",
            MapKind::StackTrace => "stack_trace",
            MapKind::LruHash => "lru_hash",
            MapKind::LruPercpuHash => "lru_percpu_hash",
            MapKind::PerfEventArray => "perf_event_array",
            MapKind::RingBuf => "ringbuf",
        }
    }

    /// Whether `bpf_map_lookup_elem` returns a pointer into this map's values (the program may
    /// then read and write `value_size` bytes through it).
    pub fn has_values(self) -> bool {
        !matches!(self, MapKind::PerfEventArray | MapKind::RingBuf)
    }
}

/// A map as a program declares it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MapDef {
    pub name: String,
    pub kind: MapKind,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}
