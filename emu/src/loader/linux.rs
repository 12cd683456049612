//! The Linux x86-64 boot protocol (Documentation/x86/boot.rst, "64-bit Boot Protocol") for an
//! uncompressed `vmlinux`: what a boot loader leaves behind when it jumps to `startup_64`.
//!
//! At entry: long mode with paging, an identity map covering the kernel, the zero page and
//! the command line; a GDT with flat `__BOOT_CS` (0x10) and `__BOOT_DS` (0x18); interrupts
//! off; RSI = physical address of `struct boot_params` (the "zero page"). The page tables and
//! GDT are the bpflab64 ones ([`super::boot`]: identity map of 0..1 GiB plus the kernel's
//! -2 GiB window); the boot area holds instead:
//! | address | contents                                                                 |
//! |---------|--------------------------------------------------------------------------|
//! | 0x6000  | `struct boot_params` (e820 map, setup header with command line, initrd) |
//! | 0x7000  | command line, NUL-terminated (at most 2047 bytes, x86 COMMAND_LINE_SIZE) |
//!
//! The initrd, if any, is placed at the top of RAM (page aligned). The e820 map describes the
//! platform: RAM below 640 KiB, the EBDA/VGA/BIOS hole reserved, RAM from 1 MiB to the end.
//! There are no ACPI or MP tables: Linux falls back to the 8259 PIC and the PIT.

use super::boot::{self, BootState};
use super::LoadError;
use crate::memory::Ram;

/// Physical address of `struct boot_params`.
pub const ZERO_PAGE: u64 = 0x6000;
/// Physical address of the command line.
pub const CMDLINE: u64 = 0x7000;
/// x86 COMMAND_LINE_SIZE (including the NUL).
pub const CMDLINE_SIZE: usize = 2048;
/// Where usable low memory ends (the EBDA starts here on a PC).
pub const LOW_RAM_END: u64 = 0x9_fc00;

/// Offsets in `struct boot_params` (arch/x86/include/uapi/asm/bootparam.h).
mod bp {
    pub const EXT_RAMDISK_IMAGE: u64 = 0x0c0;
    pub const EXT_RAMDISK_SIZE: u64 = 0x0c4;
    pub const EXT_CMD_LINE_PTR: u64 = 0x0c8;
    pub const E820_ENTRIES: u64 = 0x1e8;
    pub const BOOT_FLAG: u64 = 0x1fe;
    pub const HEADER: u64 = 0x202;
    pub const VERSION: u64 = 0x206;
    pub const TYPE_OF_LOADER: u64 = 0x210;
    pub const LOADFLAGS: u64 = 0x211;
    pub const RAMDISK_IMAGE: u64 = 0x218;
    pub const RAMDISK_SIZE: u64 = 0x21c;
    pub const CMD_LINE_PTR: u64 = 0x228;
    pub const INITRD_ADDR_MAX: u64 = 0x22c;
    pub const CMDLINE_SIZE: u64 = 0x238;
    pub const E820_TABLE: u64 = 0x2d0;
    /// "HdrS".
    pub const HDRS: u32 = 0x5372_6448;
    /// Boot protocol 2.15.
    pub const PROTOCOL: u16 = 0x020f;
    /// "Undefined" boot loader id (any non-zero value tells Linux a loader ran).
    pub const LOADER_UNDEFINED: u8 = 0xff;
    /// LOADED_HIGH: the protected-mode kernel is at 1 MiB or above.
    pub const LOADED_HIGH: u8 = 0x01;
}

/// e820 entry types.
pub mod e820 {
    /// Usable RAM.
    pub const RAM: u32 = 1;
    /// Reserved.
    pub const RESERVED: u32 = 2;
}

/// Environment variable naming the output directory of `guest-images/linux/build.sh`.
pub const IMAGE_DIR_ENV: &str = "BPFLAB_LINUX_IMAGE_DIR";

/// The Linux guest built by `guest-images/linux/build.sh`: `$BPFLAB_LINUX_IMAGE_DIR` if set,
/// else `$BPFLAB_CACHE/linux-latest`, else `${XDG_CACHE_HOME:-$HOME/.cache}/bpflab/linux-latest`. `None` unless the directory
/// holds `vmlinux` and `initramfs.cpio.gz`.
pub fn image_dir() -> Option<std::path::PathBuf> {
    let dir = match std::env::var_os(IMAGE_DIR_ENV) {
        Some(d) => std::path::PathBuf::from(d),
        None if std::env::var_os("BPFLAB_CACHE").is_some() => {
            std::path::PathBuf::from(std::env::var_os("BPFLAB_CACHE")?).join("linux-latest")
        }
        None => {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(std::path::PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache"))
                })?;
            cache.join("bpflab").join("linux-latest")
        }
    };
    (dir.join("vmlinux").is_file() && dir.join("initramfs.cpio.gz").is_file()).then_some(dir)
}

/// The e820 map for `ram_len` bytes of RAM: (start, length, type).
pub fn e820_map(ram_len: u64) -> Vec<(u64, u64, u32)> {
    vec![
        (0, LOW_RAM_END, e820::RAM),
        (LOW_RAM_END, 0xa_0000 - LOW_RAM_END, e820::RESERVED),
        (0xf_0000, 0x1_0000, e820::RESERVED),
        (0x10_0000, ram_len - 0x10_0000, e820::RAM),
    ]
}

/// Write the zero page, command line and initrd for a vmlinux entered at `entry` whose
/// segments end at physical `kernel_end`.
pub fn setup(
    ram: &Ram,
    image: &str,
    entry: u64,
    kernel_end: u64,
    cmdline: &str,
    initrd: Option<&[u8]>,
) -> Result<BootState, LoadError> {
    let ram_len = ram.len() as u64;
    if ram_len < 2 * (1 << 20) || kernel_end > ram_len {
        return Err(LoadError::BadRamSize {
            image: image.into(),
            ram: ram_len,
            why: "the kernel does not fit (Linux needs RAM well above its load address)",
        });
    }
    if cmdline.len() >= CMDLINE_SIZE {
        return Err(LoadError::CmdlineTooLong {
            image: image.into(),
            len: cmdline.len(),
            max: CMDLINE_SIZE - 1,
        });
    }
    boot::write_tables(ram);
    let w8 = |off: u64, v: u8| ram.write(ZERO_PAGE + off, &[v]);
    let w16 = |off: u64, v: u16| ram.write(ZERO_PAGE + off, &v.to_le_bytes());
    let w32 = |off: u64, v: u32| ram.write(ZERO_PAGE + off, &v.to_le_bytes());
    let w64 = |off: u64, v: u64| ram.write(ZERO_PAGE + off, &v.to_le_bytes());
    let lo = |v: u64| (v & 0xffff_ffff) as u32;
    let hi = |v: u64| (v >> 32) as u32;
    // Setup header.
    w16(bp::BOOT_FLAG, 0xaa55);
    w32(bp::HEADER, bp::HDRS);
    w16(bp::VERSION, bp::PROTOCOL);
    w8(bp::TYPE_OF_LOADER, bp::LOADER_UNDEFINED);
    w8(bp::LOADFLAGS, bp::LOADED_HIGH);
    w32(bp::INITRD_ADDR_MAX, 0x7fff_ffff);
    w32(bp::CMDLINE_SIZE, (CMDLINE_SIZE - 1) as u32);
    // Command line.
    let mut line = cmdline.as_bytes().to_vec();
    line.push(0);
    ram.write(CMDLINE, &line);
    w32(bp::CMD_LINE_PTR, lo(CMDLINE));
    w32(bp::EXT_CMD_LINE_PTR, hi(CMDLINE));
    // Initrd at the top of RAM.
    if let Some(rd) = initrd.filter(|rd| !rd.is_empty()) {
        let len = rd.len() as u64;
        let addr = ram_len.checked_sub(len).map(|a| a & !0xfff);
        let Some(addr) = addr.filter(|a| *a >= kernel_end.next_multiple_of(0x1000)) else {
            return Err(LoadError::InitrdTooLarge {
                image: image.into(),
                len,
                room: ram_len.saturating_sub(kernel_end),
            });
        };
        ram.write(addr, rd);
        w32(bp::RAMDISK_IMAGE, lo(addr));
        w32(bp::EXT_RAMDISK_IMAGE, hi(addr));
        w32(bp::RAMDISK_SIZE, lo(len));
        w32(bp::EXT_RAMDISK_SIZE, hi(len));
    }
    // Memory map.
    let map = e820_map(ram_len);
    for (i, (start, len, kind)) in map.iter().enumerate() {
        let off = bp::E820_TABLE + 20 * i as u64;
        w64(off, *start);
        w64(off + 8, *len);
        w32(off + 16, *kind);
    }
    w8(bp::E820_ENTRIES, map.len() as u8);
    Ok(BootState {
        rsi: ZERO_PAGE,
        ..boot::entry_state(entry, 0)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::memory::GuestMemory;

    fn rd32(ram: &Ram, pa: u64) -> u32 {
        let mut b = [0u8; 4];
        ram.read_phys(pa, &mut b).unwrap();
        u32::from_le_bytes(b)
    }

    #[test]
    fn zero_page_fields() {
        let ram = Ram::new(64 << 20).unwrap();
        let st = setup(
            &ram,
            "vmlinux",
            0x100_0000,
            0x1a0_0000,
            "console=ttyS0",
            Some(&[7; 5000]),
        )
        .unwrap();
        assert_eq!(st.rsi, ZERO_PAGE);
        assert_eq!(st.rip, 0x100_0000);
        assert_eq!(rd32(&ram, ZERO_PAGE + bp::HEADER), bp::HDRS);
        assert_eq!(rd32(&ram, ZERO_PAGE + bp::CMD_LINE_PTR), CMDLINE as u32);
        let mut line = [0u8; 14];
        ram.read_phys(CMDLINE, &mut line).unwrap();
        assert_eq!(&line, b"console=ttyS0\0");
        let rd = rd32(&ram, ZERO_PAGE + bp::RAMDISK_IMAGE);
        assert_eq!(rd, (64 << 20) - 0x2000);
        assert_eq!(rd32(&ram, ZERO_PAGE + bp::RAMDISK_SIZE), 5000);
        let mut b = [0u8; 1];
        ram.read_phys(u64::from(rd) + 4999, &mut b).unwrap();
        assert_eq!(b[0], 7);
        ram.read_phys(ZERO_PAGE + bp::E820_ENTRIES, &mut b).unwrap();
        assert_eq!(b[0], 4);
        assert_eq!(
            rd32(&ram, ZERO_PAGE + bp::E820_TABLE + 3 * 20 + 8),
            (63 << 20) as u32
        );
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let ram = Ram::new(32 << 20).unwrap();
        let e = setup(
            &ram,
            "k",
            0x100_0000,
            0x1f0_0000,
            "",
            Some(&vec![0; 2 << 20]),
        )
        .unwrap_err();
        assert!(matches!(e, LoadError::InitrdTooLarge { .. }), "{e}");
        assert!(
            e.to_string().starts_with("k: initrd of 2097152 bytes"),
            "{e}"
        );
        let long = "x".repeat(CMDLINE_SIZE);
        let e = setup(&ram, "k", 0x100_0000, 0x1f0_0000, &long, None).unwrap_err();
        assert!(matches!(e, LoadError::CmdlineTooLong { .. }), "{e}");
    }
}
