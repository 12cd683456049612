//! Maps: the key/value tables a program shares with the embedder and with later runs.
//!
//! [`MapDef`] is what a program declares (ELF `maps`/`.maps` sections, or the assembler's
//! `map_idx[N]` references against a table the embedder supplies). The verifier checks every
//! access against a definition; the loader and the embedder turn definitions into runtime maps.
//! Programs refer to a map through `lddw` pseudo forms (`map_idx[N]` / `map_fd[N]`, index into
//! the program's map table) until the embedder resolves them to the runtime map's address.
//!
//! At run time a [`MapSet`] holds the maps of one loaded object or session ([`Map`]: hash and
//! LRU hash in [`hash`], arrays and global data in [`array`], [`ringbuf`], [`perf`] event arrays,
//! [`stack`] traces). Every map's value memory is preallocated in one buffer ([`slots`]) and
//! never moves, so programs can keep raw value addresses. A program's `lddw map_idx[N]` is
//! resolved to a tagged handle ([`MapSet::handle`]) that the [`helpers`] map back to the map,
//! and `lddw map_idx_value[N]+OFF` to the address of the value plus OFF.

pub mod array;
pub mod hash;
pub mod helpers;
pub mod perf;
pub mod ringbuf;
mod runtime;
mod set;
pub mod slots;
pub mod stack;

pub use runtime::{Map, Store};
pub use set::{MapEnv, MapSet, MAP_HANDLE_TAG};

use thiserror::Error;

/// Update flags, as the kernel's `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`.
pub const BPF_ANY: u64 = 0;
pub const BPF_NOEXIST: u64 = 1;
pub const BPF_EXIST: u64 = 2;
/// Map flag: programs may only read the map (libbpf sets it on `.rodata`).
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// Map flag: the map can be mmap-ed (libbpf sets it on global-data maps).
pub const BPF_F_MMAPABLE: u32 = 1 << 10;
/// Largest key a map may have (the kernel bounds keys by the BPF stack size).
pub const MAX_KEY_SIZE: u32 = 512;
/// Largest memory one map may preallocate.
pub const MAX_MAP_BYTES: u64 = 256 << 20;

/// Kernel error numbers helpers return (negated).
pub mod errno {
    pub const ENOENT: i64 = 2;
    pub const E2BIG: i64 = 7;
    pub const EAGAIN: i64 = 11;
    pub const EFAULT: i64 = 14;
    pub const EEXIST: i64 = 17;
    pub const EINVAL: i64 = 22;
    pub const EOPNOTSUPP: i64 = 95;
}

/// Why a map operation or a map's creation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MapError {
    #[error("no such element")]
    NotFound,
    #[error("element already exists")]
    Exists,
    #[error("map is full")]
    Full,
    #[error("index {index} out of range (max_entries {max_entries})")]
    IndexOutOfRange { index: u32, max_entries: u32 },
    #[error("invalid flags {0:#x}")]
    BadFlags(u64),
    #[error("key is {got} bytes, the map's keys are {expected}")]
    KeySize { expected: usize, got: usize },
    #[error("value is {got} bytes, the map's values are {expected}")]
    ValueSize { expected: usize, got: usize },
    #[error("{op} is not supported on {} maps", .kind.name())]
    Unsupported { op: &'static str, kind: MapKind },
    #[error("ring buffer has no space for the record")]
    NoSpace,
    #[error("{0:#x} is not the start of a reserved ring buffer record")]
    BadRecord(u64),
    #[error("map `{name}`: {reason}")]
    BadDefinition { name: String, reason: String },
    #[error("no map with index {0}")]
    NoSuchMap(u64),
    #[error("instruction {pc}: {reason}")]
    BadReference { pc: usize, reason: String },
}

impl MapError {
    /// The negated errno the kernel returns for this failure.
    pub fn errno(&self) -> i64 {
        -match self {
            MapError::NotFound => errno::ENOENT,
            MapError::Exists => errno::EEXIST,
            MapError::Full | MapError::IndexOutOfRange { .. } => errno::E2BIG,
            MapError::NoSpace => errno::EAGAIN,
            MapError::Unsupported {
                op: "delete",
                kind: MapKind::Array | MapKind::PercpuArray,
            }
            | MapError::Unsupported {
                op: "update",
                kind: MapKind::StackTrace,
            } => errno::EINVAL,
            MapError::Unsupported { .. } => errno::EOPNOTSUPP,
            MapError::BadRecord(_) => errno::EFAULT,
            _ => errno::EINVAL,
        }
    }
}

/// Rejects update flags other than `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST` (as `-EINVAL`).
pub(crate) fn flags_check(flags: u64) -> Result<(), MapError> {
    if flags > BPF_EXIST {
        return Err(MapError::BadFlags(flags));
    }
    Ok(())
}

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
    /// Cgroups by index, set by user space (`bpf_current_task_under_cgroup` tests them).
    CgroupArray,
}

impl MapKind {
    /// The kernel's `BPF_MAP_TYPE_*` number.
    pub fn kernel_id(self) -> u32 {
        match self {
            MapKind::Hash => 1,
            MapKind::Array => 2,
            MapKind::PerfEventArray => 4,
            MapKind::PercpuHash => 5,
            MapKind::CgroupArray => 8,
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
            8 => MapKind::CgroupArray,
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
            MapKind::CgroupArray => "cgroup_array",
        }
    }

    /// Maps of this kind go only to the helpers made for them, as the kernel's
    /// `check_map_func_compatibility` rules: a stack trace map to `bpf_get_stackid`, a perf
    /// event array to `bpf_perf_event_output`, a ring buffer to the `bpf_ringbuf_*` helpers,
    /// a cgroup array to `bpf_current_task_under_cgroup` (never `bpf_map_lookup_elem`).
    pub fn needs_own_helpers(self) -> bool {
        matches!(
            self,
            MapKind::StackTrace | MapKind::PerfEventArray | MapKind::RingBuf | MapKind::CgroupArray
        )
    }

    /// Whether `bpf_map_lookup_elem` returns a pointer into this map's values (the program may
    /// then read and write `value_size` bytes through it).
    pub fn has_values(self) -> bool {
        !matches!(
            self,
            MapKind::PerfEventArray | MapKind::RingBuf | MapKind::CgroupArray
        )
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
