//! Guest memory seen from the host: physical access and a 4-level page-table walker.
//!
//! [`GuestMemory`] is the small trait other crates use (fault-suppressing BPF helpers, the
//! unwinder, the REPL): they read guest virtual memory by walking the guest's page tables in
//! host code, without calling Unicorn (a Unicorn translation of an unmapped address would also
//! clobber the guest's CR2).

mod ram;

pub use ram::Ram;

/// Page-table entry bits (Intel SDM Vol. 3, 4.5).
pub mod pte {
    /// Present.
    pub const P: u64 = 1 << 0;
    /// Writable.
    pub const RW: u64 = 1 << 1;
    /// User accessible.
    pub const US: u64 = 1 << 2;
    /// Accessed.
    pub const A: u64 = 1 << 5;
    /// Dirty.
    pub const D: u64 = 1 << 6;
    /// Page size (2 MiB in a PDE, 1 GiB in a PDPTE).
    pub const PS: u64 = 1 << 7;
    /// Global.
    pub const G: u64 = 1 << 8;
    /// No-execute.
    pub const NX: u64 = 1 << 63;
    /// Physical address bits 12..51.
    pub const ADDR: u64 = 0x000f_ffff_ffff_f000;
}

/// What an access wants to do, for permission checks and the #PF error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access {
    /// A write (otherwise a read or fetch).
    pub write: bool,
    /// From CPL 3.
    pub user: bool,
    /// An instruction fetch.
    pub fetch: bool,
}

impl Access {
    /// A supervisor read: what host-side probes use.
    pub const READ: Access = Access {
        write: false,
        user: false,
        fetch: false,
    };
    /// A supervisor write.
    pub const WRITE: Access = Access {
        write: true,
        user: false,
        fetch: false,
    };
}

/// Why a guest memory access failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// The address is not canonical (bits 63..48 are not a sign extension of bit 47).
    #[error("non-canonical address {va:#x}")]
    NonCanonical {
        /// The address.
        va: u64,
    },
    /// No present mapping at `level` (4 = PML4 ... 1 = PT).
    #[error("page not present at {va:#x} (level {level})")]
    NotPresent {
        /// The address.
        va: u64,
        /// Paging level whose entry was not present.
        level: u8,
        /// The access that faulted.
        access: Access,
    },
    /// Mapped, but the access is not allowed (write to read-only, user to supervisor, fetch from NX).
    #[error("protection violation at {va:#x}")]
    Protection {
        /// The address.
        va: u64,
        /// The access that faulted.
        access: Access,
    },
    /// The physical address (of the data or of a page-table entry) is outside guest RAM.
    #[error("physical address {pa:#x} is outside guest RAM")]
    OutsideRam {
        /// The physical address.
        pa: u64,
    },
}

impl Fault {
    /// The x86 page-fault error code this fault would push (P, W/R, U/S, I/D bits).
    pub fn error_code(&self) -> u64 {
        let bits = |a: &Access| {
            (u64::from(a.write) << 1) | (u64::from(a.user) << 2) | (u64::from(a.fetch) << 4)
        };
        match self {
            Fault::NotPresent { access, .. } => bits(access),
            Fault::Protection { access, .. } => 1 | bits(access),
            _ => 0,
        }
    }
}

/// The result of a successful translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// Guest physical address.
    pub pa: u64,
    /// Page size in bytes (4 KiB, 2 MiB or 1 GiB).
    pub page_size: u64,
    /// Effective writable bit over all levels.
    pub writable: bool,
    /// Effective user bit over all levels.
    pub user: bool,
    /// Effective no-execute over all levels.
    pub nx: bool,
}

/// True if `va` is canonical for 48-bit virtual addresses.
pub fn is_canonical(va: u64) -> bool {
    let top = va >> 47;
    top == 0 || top == 0x1ffff
}

/// Walk the 4-level page tables rooted at `cr3` for `va`, reading entries with `read_pte`.
/// Checks present, write, user and NX (CR0.WP and EFER.NXE are taken as set, as the guests we
/// run configure them). Accessed/dirty bits are not updated.
pub fn walk(
    read_pte: impl Fn(u64) -> Option<u64>,
    cr3: u64,
    va: u64,
    access: Access,
) -> Result<Translation, Fault> {
    if !is_canonical(va) {
        return Err(Fault::NonCanonical { va });
    }
    let mut table = cr3 & pte::ADDR;
    let (mut writable, mut user, mut nx) = (true, true, false);
    for level in (1..=4u8).rev() {
        let shift = 12 + 9 * u32::from(level - 1);
        let index = (va >> shift) & 0x1ff;
        let entry_pa = table + index * 8;
        let entry = read_pte(entry_pa).ok_or(Fault::OutsideRam { pa: entry_pa })?;
        if entry & pte::P == 0 {
            return Err(Fault::NotPresent { va, level, access });
        }
        writable &= entry & pte::RW != 0;
        user &= entry & pte::US != 0;
        nx |= entry & pte::NX != 0;
        let leaf = level == 1 || ((level == 2 || level == 3) && entry & pte::PS != 0);
        if leaf {
            let page_size = 1u64 << shift;
            let frame = entry & pte::ADDR & !(page_size - 1);
            if (access.write && !writable) || (access.user && !user) || (access.fetch && nx) {
                return Err(Fault::Protection { va, access });
            }
            return Ok(Translation {
                pa: frame | (va & (page_size - 1)),
                page_size,
                writable,
                user,
                nx,
            });
        }
        table = entry & pte::ADDR;
    }
    unreachable!("level 1 is always a leaf")
}

/// Guest memory as the host sees it: physical access plus page-table walks.
///
/// ```
/// use emu::memory::{GuestMemory, Ram};
/// let ram = Ram::new(1 << 20).unwrap();
/// ram.write_phys(0x1000, &[1, 2, 3]).unwrap();
/// let mut b = [0u8; 3];
/// ram.read_phys(0x1000, &mut b).unwrap();
/// assert_eq!(b, [1, 2, 3]);
/// ```
pub trait GuestMemory {
    /// Read guest physical memory.
    fn read_phys(&self, pa: u64, buf: &mut [u8]) -> Result<(), Fault>;
    /// Write guest physical memory.
    fn write_phys(&self, pa: u64, buf: &[u8]) -> Result<(), Fault>;

    /// Translate `va` with the page tables at `cr3`.
    fn translate(&self, cr3: u64, va: u64, access: Access) -> Result<Translation, Fault> {
        walk(
            |pa| {
                let mut b = [0u8; 8];
                self.read_phys(pa, &mut b)
                    .ok()
                    .map(|()| u64::from_le_bytes(b))
            },
            cr3,
            va,
            access,
        )
    }

    /// Read guest virtual memory (supervisor read), page by page. On a fault nothing is
    /// guaranteed about `buf`'s contents; callers that suppress faults zero it themselves.
    fn read_virt(&self, cr3: u64, va: u64, buf: &mut [u8]) -> Result<(), Fault> {
        self.access_virt(cr3, va, buf.len(), Access::READ, &mut |pa, off, n| {
            self.read_phys(pa, &mut buf[off..off + n])
        })
    }

    /// Write guest virtual memory with the given access rights, page by page.
    fn write_virt(&self, cr3: u64, va: u64, buf: &[u8], access: Access) -> Result<(), Fault> {
        let access = Access {
            write: true,
            ..access
        };
        self.access_virt(cr3, va, buf.len(), access, &mut |pa, off, n| {
            self.write_phys(pa, &buf[off..off + n])
        })
    }

    /// Split `[va, va+len)` at page boundaries, translate each piece and call `f(pa, offset, n)`.
    fn access_virt(
        &self,
        cr3: u64,
        va: u64,
        len: usize,
        access: Access,
        f: &mut dyn FnMut(u64, usize, usize) -> Result<(), Fault>,
    ) -> Result<(), Fault> {
        let mut done = 0usize;
        while done < len {
            let cur = va.wrapping_add(done as u64);
            let t = self.translate(cr3, cur, access)?;
            let in_page = (t.page_size - (cur & (t.page_size - 1))) as usize;
            let n = in_page.min(len - done);
            f(t.pa, done, n)?;
            done += n;
        }
        Ok(())
    }

    /// Read a little-endian u64 at a virtual address.
    fn read_virt_u64(&self, cr3: u64, va: u64) -> Result<u64, Fault> {
        let mut b = [0u8; 8];
        self.read_virt(cr3, va, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}

impl GuestMemory for Ram {
    fn read_phys(&self, pa: u64, buf: &mut [u8]) -> Result<(), Fault> {
        if self.read(pa, buf) {
            Ok(())
        } else {
            Err(Fault::OutsideRam { pa })
        }
    }

    fn write_phys(&self, pa: u64, buf: &[u8]) -> Result<(), Fault> {
        if self.write(pa, buf) {
            Ok(())
        } else {
            Err(Fault::OutsideRam { pa })
        }
    }

    fn translate(&self, cr3: u64, va: u64, access: Access) -> Result<Translation, Fault> {
        walk(|pa| self.read_u64(pa), cr3, va, access)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn setup() -> Ram {
        let ram = Ram::new(16 << 20).unwrap();
        // PML4 at 0x1000; PDPT at 0x2000; PD at 0x3000; PT at 0x4000.
        let w = |pa: u64, v: u64| assert!(ram.write(pa, &v.to_le_bytes()));
        w(0x1000, 0x2000 | pte::P | pte::RW | pte::US);
        w(0x1000 + 511 * 8, 0x2000 | pte::P | pte::RW); // kernel half -> same PDPT
        w(0x2000, 0x3000 | pte::P | pte::RW | pte::US);
        w(0x2000 + 8, pte::P | pte::RW | pte::PS); // 1 GiB page at va 1 GiB -> pa 0
        w(0x3000, 0x4000 | pte::P | pte::RW | pte::US); // va 0..2M via PT
        w(0x3000 + 8, 0x20_0000 | pte::P | pte::PS | pte::NX); // 2 MiB page, read-only, NX, supervisor
        w(0x4000 + 5 * 8, 0x9000 | pte::P | pte::US); // va 0x5000 -> pa 0x9000 user read-only
        ram
    }

    #[test]
    fn walks_4k_2m_1g() {
        let ram = setup();
        let t = ram.translate(0x1000, 0x5123, Access::READ).unwrap();
        assert_eq!((t.pa, t.page_size), (0x9123, 4096));
        let t = ram.translate(0x1000, 0x20_0010, Access::READ).unwrap();
        assert_eq!((t.pa, t.page_size), (0x20_0010, 2 << 20));
        let t = ram.translate(0x1000, 0x4000_0042, Access::READ).unwrap();
        assert_eq!((t.pa, t.page_size), (0x42, 1 << 30));
    }

    #[test]
    fn faults_are_typed_with_error_codes() {
        let ram = setup();
        let user_write = Access {
            write: true,
            user: true,
            fetch: false,
        };
        let e = ram.translate(0x1000, 0x5000, user_write).unwrap_err();
        assert!(matches!(e, Fault::Protection { .. }));
        assert_eq!(e.error_code(), 0b111);
        let e = ram.translate(0x1000, 0x6000, Access::WRITE).unwrap_err();
        assert!(matches!(e, Fault::NotPresent { level: 1, .. }));
        assert_eq!(e.error_code(), 0b010);
        let fetch = Access {
            fetch: true,
            ..Access::READ
        };
        let e = ram.translate(0x1000, 0x20_0000, fetch).unwrap_err();
        assert_eq!(e.error_code(), 0b1_0001);
        let e = ram
            .translate(
                0x1000,
                0x20_0000,
                Access {
                    user: true,
                    ..Access::READ
                },
            )
            .unwrap_err();
        assert!(matches!(e, Fault::Protection { .. }));
        assert!(matches!(
            ram.translate(0x1000, 0x8000_0000_0000, Access::READ),
            Err(Fault::NonCanonical { .. })
        ));
        assert!(matches!(
            ram.translate(0x1000, 0x80_0000_0000, Access::READ),
            Err(Fault::NotPresent { level: 4, .. })
        ));
    }

    #[test]
    fn virtual_reads_cross_pages() {
        let ram = setup();
        assert!(ram.write(0x001f_fffe, &[7, 8]));
        assert!(ram.write(0x20_0000, &[9, 10]));
        let mut b = [0u8; 4];
        ram.read_virt(0x1000, 0x001f_fffe, &mut b).unwrap_err(); // va 0x1ff000 not mapped in the PT
        ram.read_virt(0x1000, 0x4000_0000 + 0x001f_fffe, &mut b)
            .unwrap();
        assert_eq!(b, [7, 8, 9, 10]);
        assert!(matches!(
            ram.read_phys(16 << 20, &mut b),
            Err(Fault::OutsideRam { .. })
        ));
    }
}
