//! The guest as helpers see it: virtual memory read with fault suppression, and the kernel's
//! notion of the current task.
//!
//! Reads walk the guest's page tables from CR3 in host code over guest RAM held by the host
//! (the machine's memmap2 mapping): no Unicorn call, no guest-visible effect, no host fault. A
//! failed read zeroes the destination and reports `-EFAULT`, as the kernel's
//! `copy_from_kernel_nofault` does.

use emu::{Fault, GuestMemory, Ram};
use std::rc::Rc;

/// `-EFAULT`.
pub const EFAULT: i64 = -14;
/// `-EINVAL`.
pub const EINVAL: i64 = -22;

/// Kernel addresses start here on x86-64 (the upper canonical half).
pub const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;

/// Guest virtual memory at one moment (one address space).
#[derive(Clone, Debug)]
pub struct GuestView {
    ram: Rc<Ram>,
    cr3: u64,
}

impl GuestView {
    pub fn new(ram: Rc<Ram>, cr3: u64) -> Self {
        GuestView { ram, cr3 }
    }

    /// The address space (CR3) reads go through.
    pub fn cr3(&self) -> u64 {
        self.cr3
    }

    /// Switches to another address space.
    pub fn set_cr3(&mut self, cr3: u64) {
        self.cr3 = cr3;
    }

    /// Reads `buf.len()` bytes at `va`; on a fault `buf` is zeroed.
    pub fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let r = self.ram.read_virt(self.cr3, va, buf);
        if r.is_err() {
            buf.fill(0);
        }
        r
    }

    /// `0` or `-EFAULT`, with `buf` zeroed on a fault.
    pub fn read_nofault(&self, va: u64, buf: &mut [u8]) -> i64 {
        match self.read(va, buf) {
            Ok(()) => 0,
            Err(_) => EFAULT,
        }
    }

    /// Reads a little-endian u64 (0 on fault).
    pub fn read_u64(&self, va: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        self.read(va, &mut b).ok().map(|()| u64::from_le_bytes(b))
    }

    /// Copies a NUL-terminated string of at most `buf.len()` bytes including the NUL, like
    /// `strncpy_from_kernel_nofault`: returns the length including the NUL (the string is
    /// truncated and terminated when it does not fit), or `-EFAULT` with `buf` zeroed when
    /// the first byte cannot be read... or any byte before the terminator.
    pub fn read_str_nofault(&self, va: u64, buf: &mut [u8]) -> i64 {
        if buf.is_empty() {
            return 0;
        }
        let max = buf.len();
        let mut i = 0;
        while i < max - 1 {
            // Read up to the end of the current page at once.
            let page_left = 4096 - ((va.wrapping_add(i as u64)) & 0xfff) as usize;
            let n = page_left.min(max - 1 - i);
            if self
                .ram
                .read_virt(self.cr3, va.wrapping_add(i as u64), &mut buf[i..i + n])
                .is_err()
            {
                buf.fill(0);
                return EFAULT;
            }
            if let Some(z) = buf[i..i + n].iter().position(|&b| b == 0) {
                // The page read brought guest bytes past the NUL: they are not the string's.
                buf[i + z + 1..].fill(0);
                return (i + z + 1) as i64;
            }
            i += n;
        }
        buf[max - 1] = 0;
        max as i64
    }

    /// A NUL-terminated string of at most `max` bytes, for formatting (`None` on a fault).
    pub fn string(&self, va: u64, max: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; max + 1];
        let n = self.read_str_nofault(va, &mut buf);
        if n < 0 {
            return None;
        }
        buf.truncate((n as usize).saturating_sub(1));
        Some(buf)
    }
}

/// Where the guest kernel keeps its current task and what the fields helpers read are called.
/// Built from the image's symbols and DWARF (for the teaching kernel and Linux alike: both have
/// a `current_task` variable and a `struct task_struct` with `pid`, `tgid` and `comm`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskLayout {
    /// Address of the `current_task` variable (a `struct task_struct *`).
    pub current_task: Option<u64>,
    pub pid_offset: u64,
    pub tgid_offset: u64,
    pub comm_offset: u64,
    /// `TASK_COMM_LEN`.
    pub comm_len: usize,
}

/// The current task's identity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Task {
    pub pid: u32,
    pub tgid: u32,
    pub comm: String,
}

impl TaskLayout {
    /// Reads the current task; `None` when the guest has none (early boot) or it is unreadable.
    pub fn current(&self, guest: &GuestView) -> Option<Task> {
        let task = guest.read_u64(self.current_task?)?;
        if task == 0 {
            return None;
        }
        let mut b4 = [0u8; 4];
        guest
            .read(task.wrapping_add(self.pid_offset), &mut b4)
            .ok()?;
        let pid = u32::from_le_bytes(b4);
        guest
            .read(task.wrapping_add(self.tgid_offset), &mut b4)
            .ok()?;
        let tgid = u32::from_le_bytes(b4);
        let comm = guest
            .string(
                task.wrapping_add(self.comm_offset),
                self.comm_len.saturating_sub(1),
            )
            .unwrap_or_default();
        Some(Task {
            pid,
            tgid,
            comm: String::from_utf8_lossy(&comm).into_owned(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use emu::memory::pte;

    /// 16 MiB of RAM; va == pa for the first 2 MiB through one page table (PML4 0x1000, PDPT
    /// 0x2000, PD 0x3000, PT 0x4000), with the page at 0x21000 left unmapped.
    fn guest() -> GuestView {
        let ram = Rc::new(Ram::new(16 << 20).unwrap());
        let w = |pa: u64, v: u64| assert!(ram.write(pa, &v.to_le_bytes()));
        w(0x1000, 0x2000 | pte::P | pte::RW);
        w(0x2000, 0x3000 | pte::P | pte::RW);
        w(0x3000, 0x4000 | pte::P | pte::RW);
        for page in 0..512u64 {
            if page != 0x21 {
                w(0x4000 + page * 8, (page << 12) | pte::P | pte::RW);
            }
        }
        GuestView::new(ram, 0x1000)
    }

    #[test]
    fn a_string_read_stops_at_its_nul_with_a_page_of_guest_bytes_behind_it() {
        let g = guest();
        let mut page = vec![b'#'; 4096];
        page[..11].copy_from_slice(b"kmem_cache\0");
        assert!(g.ram.write(0x10000, &page));
        let mut buf = [0xaau8; 32];
        assert_eq!(
            g.read_str_nofault(0x10000, &mut buf),
            11,
            "length with the NUL"
        );
        assert_eq!(&buf[..11], b"kmem_cache\0");
        assert!(
            buf[11..].iter().all(|&b| b == 0),
            "no guest bytes after the NUL: {buf:?}"
        );
        assert_eq!(g.string(0x10000, 64).unwrap(), b"kmem_cache");
    }

    #[test]
    fn a_string_longer_than_the_buffer_is_cut_and_terminated() {
        let g = guest();
        assert!(g.ram.write(0x10000, &[b'a'; 100]));
        let mut buf = [0u8; 8];
        assert_eq!(g.read_str_nofault(0x10000, &mut buf), 8);
        assert_eq!(&buf, b"aaaaaaa\0");
    }

    #[test]
    fn a_string_running_into_an_unmapped_page_faults_and_reads_zeroes() {
        let g = guest();
        assert!(g.ram.write(0x20ffc, b"abcd"));
        let mut buf = [0xaau8; 16];
        assert_eq!(g.read_str_nofault(0x20ffc, &mut buf), EFAULT);
        assert!(buf.iter().all(|&b| b == 0));
    }
}
