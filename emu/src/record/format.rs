//! The `.bpfrec` file format: a streaming writer and a strict parser (layout in [`super`]).

use super::RecordError;
use crate::input::InputEvent;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::Xxh3;

/// File magic.
pub const MAGIC: &[u8; 8] = b"BPFLABRC";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

const TAG_HEADER: u8 = 1;
const TAG_SNAPSHOT: u8 = 2;
const TAG_INPUT: u8 = 3;
const TAG_CHECKPOINT: u8 = 4;
const TAG_END: u8 = 5;
const TAG_TRAILER: u8 = 0xff;
/// Tag, length, checksum.
const TRAILER_LEN: usize = 1 + 8 + 8;
/// Guest RAM larger than this in a header is refused (a corrupted size must not allocate).
const MAX_MEM_BYTES: u64 = 64 << 30;

/// What identifies an image: its bytes and its symbols.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageIdentity {
    /// The name it was booted by (`teaching`, `linux`, or a path).
    pub name: String,
    /// The file it was read from, if any.
    pub path: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// xxh3-128 of the bytes (hex).
    pub hash: String,
    /// xxh3-128 of the symbol table (sorted name, value, size), hex.
    pub symbols_hash: String,
}

impl ImageIdentity {
    /// The identity of an ELF image's bytes.
    pub fn of(name: &str, path: Option<&Path>, bytes: &[u8]) -> Self {
        Self {
            name: name.to_string(),
            path: path.map(|p| p.display().to_string()),
            size: bytes.len() as u64,
            hash: super::hash128_hex(bytes),
            symbols_hash: symbols_hash(bytes),
        }
    }
}

/// Hash of the ELF symbol table: symbols sorted by (value, name, size).
fn symbols_hash(bytes: &[u8]) -> String {
    let Ok(elf) = goblin::elf::Elf::parse(bytes) else {
        return "none".into();
    };
    let mut syms: Vec<(u64, &str, u64)> = elf
        .syms
        .iter()
        .filter_map(|s| {
            let name = elf.strtab.get_at(s.st_name)?;
            (!name.is_empty()).then_some((s.st_value, name, s.st_size))
        })
        .collect();
    syms.sort_unstable();
    let mut buf = Vec::with_capacity(syms.len() * 32);
    for (v, n, sz) in syms {
        buf.extend_from_slice(&v.to_le_bytes());
        buf.extend_from_slice(n.as_bytes());
        buf.push(0);
        buf.extend_from_slice(&sz.to_le_bytes());
    }
    super::hash128_hex(&buf)
}

/// Identity of an auxiliary file (the initrd).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    /// Where it was read from.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// xxh3-128 of the bytes (hex).
    pub hash: String,
}

/// The machine configuration of the recorded run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedConfig {
    /// Guest RAM in bytes.
    pub mem_bytes: u64,
    /// Kernel command line.
    pub cmdline: String,
    /// `teaching` (bpflab boot protocol) or `linux` (x86 64-bit boot protocol).
    pub kind: String,
    /// The initial ramdisk, if any.
    pub initrd: Option<FileIdentity>,
}

/// The header section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The program that wrote the file, e.g. `bpflab 0.1.0`.
    pub created_by: String,
    /// The guest kernel.
    pub image: ImageIdentity,
    /// The machine.
    pub config: RecordedConfig,
    /// Checkpoint interval in virtual nanoseconds.
    pub checkpoint_interval_ns: u64,
    /// Where console input came from (`none`, `script PATH`, `stdin`), for people.
    pub input: String,
}

/// A starting snapshot as stored (RAM still compressed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotBlob {
    /// Instructions executed at the snapshot.
    pub insns: u64,
    /// Idle virtual time skipped at the snapshot.
    pub idle_ns: u64,
    /// Unicorn CPU context bytes.
    pub cpu_context: Vec<u8>,
    /// Device states (JSON).
    pub devices_json: Vec<u8>,
    /// Uncompressed RAM size.
    pub ram_len: u64,
    /// zstd-compressed RAM.
    pub ram_zstd: Vec<u8>,
}

impl SnapshotBlob {
    /// Compress a machine snapshot.
    pub fn from_snapshot(s: &crate::Snapshot) -> Result<Self, RecordError> {
        let ram_zstd = zstd::bulk::compress(s.ram(), 3).map_err(|e| RecordError::Io {
            path: "snapshot".into(),
            source: e,
        })?;
        Ok(Self {
            insns: s.insns(),
            idle_ns: s.idle_ns(),
            cpu_context: s.cpu_context().to_vec(),
            devices_json: serde_json::to_vec(s.devices())
                .map_err(|e| RecordError::Malformed(format!("device state: {e}")))?,
            ram_len: s.ram().len() as u64,
            ram_zstd,
        })
    }

    /// Decompress into a machine snapshot (RAM size checked against the header's).
    pub fn to_snapshot(&self) -> Result<crate::Snapshot, RecordError> {
        let len = usize::try_from(self.ram_len)
            .map_err(|_| RecordError::Malformed("snapshot RAM too large".into()))?;
        let ram = zstd::bulk::decompress(&self.ram_zstd, len)
            .map_err(|e| RecordError::Malformed(format!("snapshot RAM: {e}")))?;
        if ram.len() != len {
            return Err(RecordError::Malformed(format!(
                "snapshot RAM is {} bytes, expected {len}",
                ram.len()
            )));
        }
        let devices = serde_json::from_slice(&self.devices_json)
            .map_err(|e| RecordError::Malformed(format!("snapshot device state: {e}")))?;
        Ok(crate::Snapshot::from_parts(
            ram,
            self.cpu_context.clone(),
            devices,
            self.insns,
            self.idle_ns,
        ))
    }
}

/// One checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// 0 is the start of the recording; the last one is where it stopped.
    pub index: u32,
    /// Instructions executed.
    pub insns: u64,
    /// Virtual time.
    pub virtual_ns: u64,
    /// Register values in [`super::regs_fields`] order.
    pub regs: Vec<u64>,
    /// Hash of the device states.
    pub devices_hash: u64,
    /// Hash of all RAM page hashes.
    pub ram_hash: u64,
    /// Pages changed since the previous checkpoint (page number, new hash).
    pub pages: Vec<(u32, u64)>,
}

/// The end section: why and where the recorded run stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndInfo {
    /// The stop reason, as text.
    pub reason: String,
    /// True if the guest stopped by itself (exit, power-off, crash) rather than by a budget
    /// or the host.
    pub guest_stop: bool,
    /// Instructions executed.
    pub insns: u64,
    /// Virtual time.
    pub virtual_ns: u64,
    /// Console bytes the guest printed during the recording.
    pub console_bytes: u64,
}

/// Bytes per kind of section (for `--info` and the size report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SectionSizes {
    /// Header section.
    pub header: u64,
    /// Snapshot section.
    pub snapshot: u64,
    /// Input sections.
    pub input: u64,
    /// Checkpoint sections.
    pub checkpoints: u64,
    /// End section and trailer.
    pub end: u64,
    /// The whole file.
    pub total: u64,
}

/// A parsed recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// Format version of the file.
    pub version: u32,
    /// Header.
    pub header: Header,
    /// Starting snapshot, if the recording does not start at boot.
    pub snapshot: Option<SnapshotBlob>,
    /// Console input log.
    pub inputs: Vec<InputEvent>,
    /// Checkpoints, in order, index 0 first.
    pub checkpoints: Vec<Checkpoint>,
    /// End.
    pub end: EndInfo,
    /// Section sizes.
    pub sizes: SectionSizes,
}

/// Streams a recording to `.NAME.tmp-PID` next to `PATH`, renamed to `PATH` by
/// [`RecordWriter::finish`].
pub struct RecordWriter {
    file: std::io::BufWriter<std::fs::File>,
    tmp: PathBuf,
    path: PathBuf,
    hasher: Xxh3,
    sizes: SectionSizes,
}

impl RecordWriter {
    /// Create the temporary file and write the magic, version and header.
    pub fn create(path: &Path, header: &Header) -> Result<Self, RecordError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "recording".into());
        let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        let file = std::fs::File::create(&tmp).map_err(|source| RecordError::Io {
            path: tmp.display().to_string(),
            source,
        })?;
        let mut w = Self {
            file: std::io::BufWriter::with_capacity(1 << 16, file),
            tmp,
            path: path.to_path_buf(),
            hasher: Xxh3::new(),
            sizes: SectionSizes::default(),
        };
        let mut head = MAGIC.to_vec();
        head.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        w.raw(&head)?;
        let json = serde_json::to_vec(header)
            .map_err(|e| RecordError::Malformed(format!("header: {e}")))?;
        w.sizes.header = w.section(TAG_HEADER, &json)? + head.len() as u64;
        Ok(w)
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<(), RecordError> {
        self.hasher.update(bytes);
        self.sizes.total += bytes.len() as u64;
        self.file
            .write_all(bytes)
            .map_err(|source| RecordError::Io {
                path: self.tmp.display().to_string(),
                source,
            })
    }

    fn section(&mut self, tag: u8, payload: &[u8]) -> Result<u64, RecordError> {
        let mut head = [0u8; 9];
        head[0] = tag;
        head[1..].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        self.raw(&head)?;
        self.raw(payload)?;
        Ok(9 + payload.len() as u64)
    }

    /// The starting snapshot (right after the header).
    pub fn snapshot(&mut self, s: &SnapshotBlob) -> Result<(), RecordError> {
        self.sizes.snapshot += self.section(TAG_SNAPSHOT, &encode_snapshot(s))?;
        Ok(())
    }

    /// One console input event.
    pub fn input(&mut self, e: &InputEvent) -> Result<(), RecordError> {
        self.sizes.input += self.section(TAG_INPUT, &encode_input(e))?;
        Ok(())
    }

    /// One checkpoint (flushed to the OS at once).
    pub fn checkpoint(&mut self, c: &Checkpoint) -> Result<(), RecordError> {
        let p = encode_checkpoint(c);
        self.sizes.checkpoints += self.section(TAG_CHECKPOINT, &p)?;
        self.file.flush().map_err(|source| RecordError::Io {
            path: self.tmp.display().to_string(),
            source,
        })
    }

    /// Bytes written so far.
    pub fn sizes(&self) -> SectionSizes {
        self.sizes
    }

    /// Write the end section and the trailer, sync, and rename to the final path.
    pub fn finish(mut self, end: &EndInfo) -> Result<SectionSizes, RecordError> {
        let json =
            serde_json::to_vec(end).map_err(|e| RecordError::Malformed(format!("end: {e}")))?;
        self.sizes.end += self.section(TAG_END, &json)?;
        let sum = self.hasher.digest();
        let mut t = [0u8; TRAILER_LEN];
        t[0] = TAG_TRAILER;
        t[1..9].copy_from_slice(&8u64.to_le_bytes());
        t[9..].copy_from_slice(&sum.to_le_bytes());
        self.raw(&t)?;
        self.sizes.end += TRAILER_LEN as u64;
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| RecordError::Io { path, source }
        };
        let file = self.file.into_inner().map_err(|e| RecordError::Io {
            path: self.tmp.display().to_string(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io(&self.tmp))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path).map_err(io(&self.path))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename durable; not every file system lets a directory be synced.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(self.sizes)
    }

    /// Give up: remove the temporary file.
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter")
            .field("path", &self.path)
            .field("sizes", &self.sizes)
            .finish()
    }
}

fn encode_snapshot(s: &SnapshotBlob) -> Vec<u8> {
    let mut p = Vec::with_capacity(s.ram_zstd.len() + s.cpu_context.len() + 4096);
    p.extend_from_slice(&s.insns.to_le_bytes());
    p.extend_from_slice(&s.idle_ns.to_le_bytes());
    put_bytes(&mut p, &s.cpu_context);
    put_bytes(&mut p, &s.devices_json);
    p.extend_from_slice(&s.ram_len.to_le_bytes());
    p.extend_from_slice(&s.ram_zstd);
    p
}

fn encode_input(e: &InputEvent) -> Vec<u8> {
    let mut p = Vec::with_capacity(16 + e.bytes.len());
    p.extend_from_slice(&e.insns.to_le_bytes());
    p.extend_from_slice(&e.virtual_ns.to_le_bytes());
    p.extend_from_slice(&e.bytes);
    p
}

fn encode_checkpoint(c: &Checkpoint) -> Vec<u8> {
    let mut p = Vec::with_capacity(64 + c.regs.len() * 8 + c.pages.len() * 12);
    p.extend_from_slice(&c.index.to_le_bytes());
    p.extend_from_slice(&c.insns.to_le_bytes());
    p.extend_from_slice(&c.virtual_ns.to_le_bytes());
    p.extend_from_slice(&(c.regs.len() as u32).to_le_bytes());
    for r in &c.regs {
        p.extend_from_slice(&r.to_le_bytes());
    }
    p.extend_from_slice(&c.devices_hash.to_le_bytes());
    p.extend_from_slice(&c.ram_hash.to_le_bytes());
    p.extend_from_slice(&(c.pages.len() as u32).to_le_bytes());
    for (page, h) in &c.pages {
        p.extend_from_slice(&page.to_le_bytes());
        p.extend_from_slice(&h.to_le_bytes());
    }
    p
}

fn push_section(out: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Encode a whole recording in memory, in the order [`RecordWriter`] streams it (input events
/// before the first checkpoint at or after them). Used to rewrite recordings (tests, tools).
pub fn to_bytes(rec: &Recording) -> Result<Vec<u8>, RecordError> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&rec.version.to_le_bytes());
    let header = serde_json::to_vec(&rec.header)
        .map_err(|e| RecordError::Malformed(format!("header: {e}")))?;
    push_section(&mut out, TAG_HEADER, &header);
    if let Some(s) = &rec.snapshot {
        push_section(&mut out, TAG_SNAPSHOT, &encode_snapshot(s));
    }
    let mut inputs = rec.inputs.iter().peekable();
    for c in &rec.checkpoints {
        while let Some(e) = inputs.next_if(|e| e.virtual_ns < c.virtual_ns) {
            push_section(&mut out, TAG_INPUT, &encode_input(e));
        }
        push_section(&mut out, TAG_CHECKPOINT, &encode_checkpoint(c));
    }
    for e in inputs {
        push_section(&mut out, TAG_INPUT, &encode_input(e));
    }
    let end =
        serde_json::to_vec(&rec.end).map_err(|e| RecordError::Malformed(format!("end: {e}")))?;
    push_section(&mut out, TAG_END, &end);
    let sum = xxhash_rust::xxh3::xxh3_64(&out);
    out.push(TAG_TRAILER);
    out.extend_from_slice(&8u64.to_le_bytes());
    out.extend_from_slice(&sum.to_le_bytes());
    Ok(out)
}

/// Write a whole recording to `path` (temporary file, sync, rename).
pub fn write_file(path: &Path, rec: &Recording) -> Result<(), RecordError> {
    let bytes = to_bytes(rec)?;
    let tmp = path.with_extension("tmp-rewrite");
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| RecordError::Io { path, source }
    };
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(&bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn put_bytes(p: &mut Vec<u8>, b: &[u8]) {
    p.extend_from_slice(&(b.len() as u32).to_le_bytes());
    p.extend_from_slice(b);
}

/// A bounds-checked reader over one section's payload.
struct Cursor<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if n > self.bytes.len() {
            return Err(RecordError::Malformed(format!(
                "{} section too short ({} bytes left, {n} needed)",
                self.what,
                self.bytes.len()
            )));
        }
        let (a, b) = self.bytes.split_at(n);
        self.bytes = b;
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, RecordError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, RecordError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn bytes32(&mut self) -> Result<&'a [u8], RecordError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    fn done(&self) -> Result<(), RecordError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(RecordError::Malformed(format!(
                "{} section has {} unexpected trailing bytes",
                self.what,
                self.bytes.len()
            )))
        }
    }
}

/// Read and parse a recording file.
pub fn read_file(path: &Path) -> Result<Recording, RecordError> {
    let bytes = std::fs::read(path).map_err(|source| RecordError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&bytes)
}

/// Parse a recording: magic, version, trailer and checksum first, then every section,
/// strictly. Never panics.
pub fn parse(bytes: &[u8]) -> Result<Recording, RecordError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(RecordError::BadMagic);
    }
    let mut top = Cursor {
        bytes: &bytes[MAGIC.len()..],
        what: "file",
    };
    let version = top
        .u32()
        .map_err(|_| RecordError::Truncated("no format version".into()))?;
    if version > FORMAT_VERSION {
        return Err(RecordError::NewerVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(RecordError::Malformed("format version 0".into()));
    }
    let body_len = bytes
        .len()
        .checked_sub(TRAILER_LEN)
        .ok_or_else(|| RecordError::Truncated(format!("{} bytes, no trailer", bytes.len())))?;
    if body_len < MAGIC.len() + 4 {
        return Err(RecordError::Truncated(format!(
            "{} bytes, no trailer",
            bytes.len()
        )));
    }
    let trailer = &bytes[body_len..];
    if trailer[0] != TAG_TRAILER || trailer[1..9] != 8u64.to_le_bytes() {
        return Err(RecordError::Truncated(format!(
            "{} bytes, no trailer: the recorder did not finish",
            bytes.len()
        )));
    }
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&trailer[9..]);
    let expected = u64::from_le_bytes(sum);
    let found = xxhash_rust::xxh3::xxh3_64(&bytes[..body_len]);
    if found != expected {
        return Err(RecordError::Checksum { expected, found });
    }
    let mut sec = Cursor {
        bytes: &bytes[MAGIC.len() + 4..body_len],
        what: "file",
    };
    let mut sizes = SectionSizes {
        total: bytes.len() as u64,
        header: (MAGIC.len() + 4) as u64,
        end: TRAILER_LEN as u64,
        ..SectionSizes::default()
    };
    let mut header: Option<Header> = None;
    let mut snapshot = None;
    let mut inputs = Vec::new();
    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    let mut end: Option<EndInfo> = None;
    while !sec.bytes.is_empty() {
        let tag = sec.take(1)?[0];
        let len = sec.u64()?;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= sec.bytes.len())
            .ok_or_else(|| {
                RecordError::Malformed(format!("section {tag} length {len} past the end"))
            })?;
        let payload = sec.take(len)?;
        let size = 9 + len as u64;
        if end.is_some() {
            return Err(RecordError::Malformed("section after the end".into()));
        }
        if header.is_none() && tag != TAG_HEADER {
            return Err(RecordError::Malformed(
                "the first section is not the header".into(),
            ));
        }
        match tag {
            TAG_HEADER => {
                if header.is_some() {
                    return Err(RecordError::Malformed("two headers".into()));
                }
                let h: Header = serde_json::from_slice(payload)
                    .map_err(|e| RecordError::Malformed(format!("header: {e}")))?;
                if h.config.mem_bytes == 0 || h.config.mem_bytes > MAX_MEM_BYTES {
                    return Err(RecordError::Malformed(format!(
                        "guest RAM of {} bytes",
                        h.config.mem_bytes
                    )));
                }
                if h.checkpoint_interval_ns == 0 {
                    return Err(RecordError::Malformed("checkpoint interval 0".into()));
                }
                header = Some(h);
                sizes.header += size;
            }
            TAG_SNAPSHOT => {
                if snapshot.is_some() || !checkpoints.is_empty() {
                    return Err(RecordError::Malformed(
                        "snapshot after the start of the run".into(),
                    ));
                }
                let mut c = Cursor {
                    bytes: payload,
                    what: "snapshot",
                };
                let insns = c.u64()?;
                let idle_ns = c.u64()?;
                let cpu_context = c.bytes32()?.to_vec();
                let devices_json = c.bytes32()?.to_vec();
                let ram_len = c.u64()?;
                let ram_zstd = c.rest().to_vec();
                let mem = header.as_ref().map_or(0, |h| h.config.mem_bytes);
                if ram_len != mem {
                    return Err(RecordError::Malformed(format!(
                        "snapshot RAM {ram_len} bytes, machine has {mem}"
                    )));
                }
                snapshot = Some(SnapshotBlob {
                    insns,
                    idle_ns,
                    cpu_context,
                    devices_json,
                    ram_len,
                    ram_zstd,
                });
                sizes.snapshot += size;
            }
            TAG_INPUT => {
                let mut c = Cursor {
                    bytes: payload,
                    what: "input",
                };
                let e = InputEvent {
                    insns: c.u64()?,
                    virtual_ns: c.u64()?,
                    bytes: c.rest().to_vec(),
                };
                if inputs
                    .last()
                    .is_some_and(|p: &InputEvent| (p.insns, p.virtual_ns) > (e.insns, e.virtual_ns))
                {
                    return Err(RecordError::Malformed("input events out of order".into()));
                }
                inputs.push(e);
                sizes.input += size;
            }
            TAG_CHECKPOINT => {
                let mut c = Cursor {
                    bytes: payload,
                    what: "checkpoint",
                };
                let index = c.u32()?;
                let insns = c.u64()?;
                let virtual_ns = c.u64()?;
                let n = c.u32()? as usize;
                if n != 32 {
                    return Err(RecordError::Malformed(format!(
                        "checkpoint {index}: {n} registers, expected 32"
                    )));
                }
                let regs = (0..n).map(|_| c.u64()).collect::<Result<Vec<_>, _>>()?;
                let devices_hash = c.u64()?;
                let ram_hash = c.u64()?;
                let np = c.u32()? as usize;
                if np.checked_mul(12) != Some(c.bytes.len()) {
                    return Err(RecordError::Malformed(format!(
                        "checkpoint {index}: page list of {np} entries does not fit"
                    )));
                }
                let pages = (0..np)
                    .map(|_| Ok((c.u32()?, c.u64()?)))
                    .collect::<Result<Vec<_>, RecordError>>()?;
                c.done()?;
                let expect = checkpoints.len() as u32;
                if index != expect {
                    return Err(RecordError::Malformed(format!(
                        "checkpoint {index} where {expect} was expected"
                    )));
                }
                if let Some(p) = checkpoints.last() {
                    if (insns, virtual_ns) < (p.insns, p.virtual_ns) {
                        return Err(RecordError::Malformed(format!(
                            "checkpoint {index} goes back in time"
                        )));
                    }
                }
                checkpoints.push(Checkpoint {
                    index,
                    insns,
                    virtual_ns,
                    regs,
                    devices_hash,
                    ram_hash,
                    pages,
                });
                sizes.checkpoints += size;
            }
            TAG_END => {
                end = Some(
                    serde_json::from_slice(payload)
                        .map_err(|e| RecordError::Malformed(format!("end: {e}")))?,
                );
                sizes.end += size;
            }
            other => {
                return Err(RecordError::Malformed(format!(
                    "unknown section tag {other}"
                )))
            }
        }
    }
    let header = header.ok_or_else(|| RecordError::Malformed("no header".into()))?;
    let end = end.ok_or_else(|| RecordError::Malformed("no end section".into()))?;
    if checkpoints.is_empty() {
        return Err(RecordError::Malformed("no checkpoints".into()));
    }
    Ok(Recording {
        version,
        header,
        snapshot,
        inputs,
        checkpoints,
        end,
        sizes,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Recording {
        let ram: Vec<u8> = (0..8192u32).map(|i| (i % 7) as u8).collect();
        Recording {
            version: FORMAT_VERSION,
            header: Header {
                created_by: "test".into(),
                image: ImageIdentity::of("teaching", None, b"not an elf"),
                config: RecordedConfig {
                    mem_bytes: 8192,
                    cmdline: "quiet".into(),
                    kind: "bpflab".into(),
                    initrd: None,
                },
                checkpoint_interval_ns: 100,
                input: "none".into(),
            },
            snapshot: Some(SnapshotBlob {
                insns: 5,
                idle_ns: 7,
                cpu_context: vec![1, 2, 3],
                devices_json: b"{}".to_vec(),
                ram_len: 8192,
                ram_zstd: zstd::bulk::compress(&ram, 3).unwrap(),
            }),
            inputs: vec![
                InputEvent {
                    insns: 10,
                    virtual_ns: 20,
                    bytes: b"ls\n".to_vec(),
                },
                InputEvent {
                    insns: 150,
                    virtual_ns: 160,
                    bytes: b"x".to_vec(),
                },
            ],
            checkpoints: (0..3u32)
                .map(|i| Checkpoint {
                    index: i,
                    insns: u64::from(i) * 100,
                    virtual_ns: u64::from(i) * 100 + 12,
                    regs: (0..32).map(|r| r * u64::from(i)).collect(),
                    devices_hash: 9,
                    ram_hash: u64::from(i),
                    pages: (0..i).map(|p| (p, u64::from(p) + 1)).collect(),
                })
                .collect(),
            end: EndInfo {
                reason: "exit port, code 0".into(),
                guest_stop: true,
                insns: 200,
                virtual_ns: 212,
                console_bytes: 3,
            },
            sizes: SectionSizes::default(),
        }
    }

    #[test]
    fn round_trips() {
        let rec = sample();
        let bytes = to_bytes(&rec).unwrap();
        let mut back = parse(&bytes).unwrap();
        assert_eq!(back.sizes.total, bytes.len() as u64);
        back.sizes = SectionSizes::default();
        assert_eq!(back, rec);
        let snap = back.snapshot.unwrap();
        assert_eq!(snap.ram_len, 8192);
    }

    #[test]
    fn clear_errors() {
        let bytes = to_bytes(&sample()).unwrap();
        assert!(matches!(parse(b"hello"), Err(RecordError::BadMagic)));
        let mut newer = bytes.clone();
        newer[8..12].copy_from_slice(&2u32.to_le_bytes());
        let e = parse(&newer).unwrap_err();
        assert!(e.to_string().contains("version 2 is newer"), "{e}");
        let e = parse(&bytes[..bytes.len() - 5]).unwrap_err();
        assert!(matches!(e, RecordError::Truncated(_)), "{e}");
        let mut flipped = bytes.clone();
        flipped[40] ^= 1;
        assert!(matches!(parse(&flipped), Err(RecordError::Checksum { .. })));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_truncation_is_an_error(cut in 0usize..4096) {
            let bytes = to_bytes(&sample()).unwrap();
            let cut = cut % bytes.len();
            prop_assert!(parse(&bytes[..cut]).is_err());
        }

        #[test]
        fn any_mutation_is_an_error(at in any::<prop::sample::Index>(), xor in 1u8..=255) {
            let mut bytes = to_bytes(&sample()).unwrap();
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
            prop_assert!(parse(&bytes).is_err());
        }

        #[test]
        fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&1u32.to_le_bytes());
            bytes.extend_from_slice(&body);
            // With a valid checksum, the section parser sees the garbage too.
            let sum = xxhash_rust::xxh3::xxh3_64(&bytes);
            bytes.push(TAG_TRAILER);
            bytes.extend_from_slice(&8u64.to_le_bytes());
            bytes.extend_from_slice(&sum.to_le_bytes());
            let _ = parse(&bytes);
        }

        #[test]
        fn resealed_mutations_never_panic(at in any::<prop::sample::Index>(), xor in 1u8..=255) {
            // A mutation with the checksum recomputed reaches the section parser.
            let mut bytes = to_bytes(&sample()).unwrap();
            let body = bytes.len() - TRAILER_LEN;
            let i = at.index(body);
            bytes[i] ^= xor;
            let sum = xxhash_rust::xxh3::xxh3_64(&bytes[..body]);
            bytes[body + 9..].copy_from_slice(&sum.to_le_bytes());
            if let Ok(rec) = parse(&bytes) {
                if let Some(s) = &rec.snapshot {
                    let _ = s.to_snapshot();
                }
            }
        }
    }
}
