//! Recording and replaying guest runs (the project's design notes, "Determinism, recording and
//! replay").
//!
//! A run is a pure function of (image, configuration, input log), so a recording stores
//! exactly those, plus periodic **checkpoints** that let a replay prove it re-executed the
//! same run: at a fixed virtual-time interval, the instruction count and virtual time, every
//! register, a hash of the device states, and the hash of every 4 KiB RAM page that changed
//! since the previous checkpoint (found by comparing per-page xxh3 hashes; see
//! [`checkpoint`]).
//!
//! The file (`.bpfrec`, all integers little-endian):
//! ```text
//! "BPFLABRC" version:u32            magic and format version
//! section*                          tag:u8 len:u64 payload[len], in run order:
//!   1 header (JSON)                 image identity, machine configuration, interval
//!   2 snapshot (optional)           a starting machine state, RAM compressed with zstd
//!   3 input                         insns:u64 virtual_ns:u64 bytes
//!   4 checkpoint                    see [`Checkpoint`]
//!   5 end (JSON)                    why and where the run stopped
//! 0xFF len=8 checksum:u64           xxh3-64 of every byte before this trailer
//! ```
//! [`RecordWriter`] streams sections to a temporary file next to the target and only syncs
//! and renames it once the trailer is written, so a finished file is always complete; the
//! recorder finishes on every stop (budget, guest exit or crash, Ctrl-C). [`parse`] checks the
//! magic, the version, the trailer and the checksum before it reads any section, and never
//! panics on bad bytes (a fuzz target can call it directly).
//!
//! [`Recorder`] drives a [`crate::Machine`] while recording; [`replay`] re-runs a recording on a
//! freshly booted machine (with any code hooks the embedder attached), verifying every
//! checkpoint and stopping at the first divergence.

pub mod checkpoint;
mod format;
mod session;

pub use checkpoint::{regs_fields, PageHasher, PAGE_SIZE};
pub use format::{
    parse, read_file, to_bytes, write_file, Checkpoint, EndInfo, FileIdentity, Header,
    ImageIdentity, RecordWriter, RecordedConfig, Recording, SectionSizes, SnapshotBlob,
    FORMAT_VERSION, MAGIC,
};
pub use session::{
    replay, Divergence, PageDiff, RecordSummary, Recorder, RegDiff, ReplayOutcome, Until,
};

/// Errors reading, writing or replaying a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// OS error.
        source: std::io::Error,
    },
    /// Not a recording at all.
    #[error("not a bpflab recording (bad magic)")]
    BadMagic,
    /// Written by a newer bpflab.
    #[error("recording format version {found} is newer than this bpflab reads (up to {supported}); use a newer bpflab")]
    NewerVersion {
        /// Version in the file.
        found: u32,
        /// Newest version this build reads.
        supported: u32,
    },
    /// The file ends early (no trailer): the recorder was killed before it finished, or the
    /// file was cut.
    #[error("recording is truncated ({0})")]
    Truncated(String),
    /// The checksum does not match: the bytes were changed after the recording was written.
    #[error("recording is corrupted: checksum {found:#018x}, expected {expected:#018x}")]
    Checksum {
        /// Checksum stored in the trailer.
        expected: u64,
        /// Checksum of the bytes.
        found: u64,
    },
    /// A section is malformed (only possible with a valid checksum if the writer had a bug).
    #[error("recording is malformed: {0}")]
    Malformed(String),
    /// The recording does not fit the machine or image it is replayed on.
    #[error("{0}")]
    Mismatch(String),
    /// The machine failed (snapshot, restore).
    #[error(transparent)]
    Emu(#[from] crate::EmuError),
}

/// xxh3-64 of bytes (page hashes, device states, checksums).
pub fn hash64(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// xxh3-128 of bytes as 32 hex digits (file identities).
pub fn hash128_hex(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}
