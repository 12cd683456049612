//! Kernel loading: parse an image, place it in guest RAM, and prepare the CPU state its boot
//! protocol expects.
//!
//! Two protocols exist, both entering an ELF64 image in long mode and producing a
//! [`BootState`]: [`BootProtocol::Bpflab64`] for kernels such as the teaching kernel (see
//! `guest-images/teaching/BOOT.md`), and [`BootProtocol::Linux64`] for a Linux `vmlinux`
//! (detected by its "Linux" ELF note; `boot_params` with an e820 map, command line and initrd,
//! see [`linux`]). A compressed bzImage is not supported: boot the vmlinux.

pub mod boot;
pub mod elf;
pub mod linux;

pub use boot::{BootState, BOOT_MAGIC};
pub use elf::{ElfImage, Segment};

/// Errors from loading an image. Every message names the image.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoadError {
    /// Not an ELF file at all.
    #[error("{image}: not an ELF image ({detail})")]
    NotElf {
        /// Image name (usually its path).
        image: String,
        /// Parser detail.
        detail: String,
    },
    /// ELF, but not 64-bit little-endian.
    #[error("{image}: not an ELF64 little-endian image (class {class})")]
    WrongClass {
        /// Image name.
        image: String,
        /// "ELF32" etc.
        class: String,
    },
    /// ELF64, but not x86-64.
    #[error("{image}: not an x86-64 image (e_machine {machine})")]
    WrongMachine {
        /// Image name.
        image: String,
        /// e_machine value.
        machine: u16,
    },
    /// A PT_LOAD segment's file bytes run past the end of the file.
    #[error("{image}: segment {index} is truncated (offset {offset:#x} + filesz {filesz:#x} > file size {file_len:#x})")]
    TruncatedSegment {
        /// Image name.
        image: String,
        /// Program header index.
        index: usize,
        /// p_offset.
        offset: u64,
        /// p_filesz.
        filesz: u64,
        /// File length.
        file_len: u64,
    },
    /// Two PT_LOAD segments overlap in physical memory.
    #[error("{image}: segments {a} and {b} overlap in physical memory ({a_start:#x}..{a_end:#x} and {b_start:#x}..{b_end:#x})")]
    OverlappingSegments {
        /// Image name.
        image: String,
        /// First segment index.
        a: usize,
        /// Second segment index.
        b: usize,
        /// First range start.
        a_start: u64,
        /// First range end.
        a_end: u64,
        /// Second range start.
        b_start: u64,
        /// Second range end.
        b_end: u64,
    },
    /// A segment does not fit in guest RAM.
    #[error("{image}: segment {index} at physical {paddr:#x}..{end:#x} lies outside guest RAM (0..{ram:#x})")]
    SegmentOutsideRam {
        /// Image name.
        image: String,
        /// Program header index.
        index: usize,
        /// p_paddr.
        paddr: u64,
        /// p_paddr + p_memsz.
        end: u64,
        /// RAM size.
        ram: u64,
    },
    /// A segment overlaps the area where the loader puts page tables, GDT and boot info.
    #[error("{image}: segment {index} at physical {paddr:#x}..{end:#x} overlaps the loader's boot area {area_start:#x}..{area_end:#x}")]
    SegmentInBootArea {
        /// Image name.
        image: String,
        /// Program header index.
        index: usize,
        /// p_paddr.
        paddr: u64,
        /// End.
        end: u64,
        /// Boot area start.
        area_start: u64,
        /// Boot area end.
        area_end: u64,
    },
    /// No PT_LOAD segment at all.
    #[error("{image}: no loadable segments")]
    NoSegments {
        /// Image name.
        image: String,
    },
    /// The command line does not fit the loader's buffer.
    #[error("{image}: command line is {len} bytes, at most {max} fit")]
    CmdlineTooLong {
        /// Image name.
        image: String,
        /// Its length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// [`crate::Machine::boot_linux`] was given an image that is not a Linux vmlinux.
    #[error("{image}: not a Linux vmlinux (no \"Linux\" ELF note); a bzImage is not supported, boot the vmlinux")]
    NotLinux {
        /// Image name.
        image: String,
    },
    /// A file could not be read.
    #[error("{image}: cannot read: {detail}")]
    Unreadable {
        /// File name.
        image: String,
        /// OS error.
        detail: String,
    },
    /// The initrd does not fit between the kernel and the end of RAM.
    #[error(
        "{image}: initrd of {len} bytes does not fit in the {room} bytes of RAM above the kernel"
    )]
    InitrdTooLarge {
        /// Image name.
        image: String,
        /// Initrd length.
        len: u64,
        /// Bytes between the kernel's end and the end of RAM.
        room: u64,
    },
    /// RAM too small for the boot structures (or larger than the 1 GiB boot identity map).
    #[error("{image}: guest RAM of {ram:#x} bytes is not usable ({why})")]
    BadRamSize {
        /// Image name.
        image: String,
        /// RAM size.
        ram: u64,
        /// Why.
        why: &'static str,
    },
}

/// Which boot protocol an image is entered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootProtocol {
    /// ELF64 kernel entered in long mode at `e_entry` (guest-images/teaching/BOOT.md).
    Bpflab64,
    /// Linux vmlinux entered at `startup_64` with `boot_params` in RSI ([`linux`]).
    Linux64,
}

/// A parsed kernel image, ready to load.
#[derive(Debug, Clone)]
pub enum KernelImage {
    /// An ELF64 x86-64 image.
    Elf(ElfImage),
}

impl KernelImage {
    /// Parse `bytes` (named `name` in errors), detecting the format.
    /// `bytes` is a `Vec<u8>` or, to keep using the bytes after the machine has booted
    /// without copying them, an `Arc<Vec<u8>>`.
    pub fn parse(name: &str, bytes: impl Into<std::sync::Arc<Vec<u8>>>) -> Result<Self, LoadError> {
        Ok(KernelImage::Elf(ElfImage::parse(name, bytes)?))
    }

    /// Image name.
    pub fn name(&self) -> &str {
        match self {
            KernelImage::Elf(e) => &e.name,
        }
    }

    /// The raw image bytes (the probes crate parses symbols and DWARF from these).
    pub fn bytes(&self) -> &[u8] {
        match self {
            KernelImage::Elf(e) => &e.bytes,
        }
    }

    /// Boot protocol.
    pub fn protocol(&self) -> BootProtocol {
        match self {
            KernelImage::Elf(e) if e.is_linux => BootProtocol::Linux64,
            KernelImage::Elf(_) => BootProtocol::Bpflab64,
        }
    }
}
