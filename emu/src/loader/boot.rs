//! The bpflab64 boot protocol (guest-images/teaching/BOOT.md): what a boot loader leaves
//! behind when it enters an ELF64 kernel at `e_entry` in long mode.
//!
//! Physical layout built by [`setup`] (the "boot area", kept free of kernel segments):
//! | address  | contents                                                      |
//! |----------|---------------------------------------------------------------|
//! | 0x1000   | PML4: [0] -> low PDPT, [511] -> high PDPT                      |
//! | 0x2000   | low PDPT: [0] -> PD (identity map of physical 0..1 GiB)        |
//! | 0x3000   | high PDPT: [510] -> PD (0xffffffff80000000 -> physical 0)      |
//! | 0x4000   | PD: 512 x 2 MiB pages covering 0..1 GiB                       |
//! | 0x5000   | GDT: null, null, 0x10 = 64-bit kernel code, 0x18 = kernel data |
//! | 0x6000   | `struct bpflab_boot_info { magic, mem_bytes, cmdline_phys, cmdline_len }` |
//! | 0x7000   | command line (not NUL-terminated; up to 4 KiB)                 |
//! | 0x8000.. | boot stack, RSP = 0x10000 at entry                             |

use super::LoadError;
use crate::memory::{pte, Ram};

/// RDI at entry and `bpflab_boot_info.magic`.
pub const BOOT_MAGIC: u64 = 0x4250_4642;
/// Boot area start.
pub const AREA_START: u64 = 0x1000;
/// Boot area end (exclusive).
pub const AREA_END: u64 = 0x10000;
const PML4: u64 = 0x1000;
const PDPT_LOW: u64 = 0x2000;
const PDPT_HIGH: u64 = 0x3000;
const PD: u64 = 0x4000;
const GDT: u64 = 0x5000;
const BOOT_INFO: u64 = 0x6000;
const CMDLINE: u64 = 0x7000;
const CMDLINE_MAX: usize = 0x1000;
const STACK_TOP: u64 = 0x10000;
const TWO_MIB: u64 = 2 << 20;

/// Kernel code selector at entry.
pub const KERNEL_CS: u16 = 0x10;
/// Kernel data selector at entry (DS, ES, SS).
pub const KERNEL_DS: u16 = 0x18;
/// GDT entries as loaded: null, null, 64-bit code (DPL 0, L), data (DPL 0, writable).
pub const GDT_ENTRIES: [u64; 4] = [0, 0, 0x00af_9a00_0000_ffff, 0x00cf_9200_0000_ffff];

/// CPU state at kernel entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootState {
    /// Entry point (virtual).
    pub rip: u64,
    /// Initial stack.
    pub rsp: u64,
    /// BOOT_MAGIC.
    pub rdi: u64,
    /// Physical address of the boot info.
    pub rsi: u64,
    /// Page-table root.
    pub cr3: u64,
    /// GDT base (physical = identity-mapped virtual).
    pub gdt_base: u64,
    /// GDT limit.
    pub gdt_limit: u16,
}

/// Build page tables, GDT, boot info and command line in `ram` for a kernel entered at `entry`.
pub fn setup(ram: &Ram, image: &str, entry: u64, cmdline: &str) -> Result<BootState, LoadError> {
    let ram_len = ram.len() as u64;
    if ram_len < 2 * TWO_MIB {
        return Err(LoadError::BadRamSize {
            image: image.into(),
            ram: ram_len,
            why: "at least 4 MiB are needed",
        });
    }
    if cmdline.len() > CMDLINE_MAX {
        return Err(LoadError::CmdlineTooLong {
            image: image.into(),
            len: cmdline.len(),
            max: CMDLINE_MAX,
        });
    }
    let w = |pa: u64, v: u64| ram.write(pa, &v.to_le_bytes());
    write_tables(ram);
    w(BOOT_INFO, BOOT_MAGIC);
    w(BOOT_INFO + 8, ram_len);
    w(BOOT_INFO + 16, CMDLINE);
    w(BOOT_INFO + 24, cmdline.len() as u64);
    ram.write(CMDLINE, cmdline.as_bytes());
    Ok(BootState {
        rsi: BOOT_INFO,
        ..entry_state(entry, BOOT_MAGIC)
    })
}

/// Clear the boot area and write the page tables and the GDT (shared with the Linux loader).
pub(crate) fn write_tables(ram: &Ram) {
    let w = |pa: u64, v: u64| ram.write(pa, &v.to_le_bytes());
    ram.write(AREA_START, &vec![0u8; (AREA_END - AREA_START) as usize]);
    w(PML4, PDPT_LOW | pte::P | pte::RW);
    w(PML4 + 511 * 8, PDPT_HIGH | pte::P | pte::RW);
    w(PDPT_LOW, PD | pte::P | pte::RW);
    w(PDPT_HIGH + 510 * 8, PD | pte::P | pte::RW);
    for i in 0..512u64 {
        w(PD + i * 8, (i * TWO_MIB) | pte::P | pte::RW | pte::PS);
    }
    for (i, d) in GDT_ENTRIES.iter().enumerate() {
        w(GDT + i as u64 * 8, *d);
    }
}

/// The CPU state at entry with the tables of [`write_tables`] (RSI still to be set).
pub(crate) fn entry_state(entry: u64, rdi: u64) -> BootState {
    BootState {
        rip: entry,
        rsp: STACK_TOP,
        rdi,
        rsi: 0,
        cr3: PML4,
        gdt_base: GDT,
        gdt_limit: (GDT_ENTRIES.len() * 8 - 1) as u16,
    }
}
