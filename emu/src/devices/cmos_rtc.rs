//! CMOS RTC (ports 0x70 index / 0x71 data) with a fixed, deterministic wall clock that
//! advances with virtual time.
//!
//! Index port bit 7 is the NMI mask (kept, no NMIs exist here). Registers 0x00-0x09 and 0x32
//! hold the time in BCD, 24-hour mode; A reports the divider and never "update in progress",
//! B = 24h|BCD (writes kept), C = no flags, D = valid RAM.

use serde::{Deserialize, Serialize};

/// Index port.
pub const PORT_INDEX: u16 = 0x70;
/// Data port.
pub const PORT_DATA: u16 = 0x71;
/// Seconds since the Unix epoch shown at virtual time 0: 2014-03-27 00:00:00 UTC, the day the
/// eBPF tracing-filter RFC this project re-creates was posted.
pub const EPOCH_SECONDS: u64 = 1_395_878_400;

const NMI_MASK: u8 = 0b1000_0000;
const REG_A: u8 = 0x0a;
const REG_B: u8 = 0x0b;
const REG_C: u8 = 0x0c;
const REG_D: u8 = 0x0d;
const REG_A_DIVIDER: u8 = 0x26;
const REG_B_24H: u8 = 0b0000_0010;
const REG_D_VRT: u8 = 0b1000_0000;
const REG_CENTURY: u8 = 0x32;

/// RTC state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CmosRtc {
    index: u8,
    nmi_masked: bool,
    reg_b: u8,
    /// Battery-backed RAM bytes 0x0e..0x7f (writes kept, reads return them).
    ram: Vec<u8>,
}

impl Default for CmosRtc {
    fn default() -> Self {
        Self::new()
    }
}

fn bcd(v: u64) -> u8 {
    (((v / 10) % 10) << 4 | (v % 10)) as u8
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl CmosRtc {
    /// Power-on state.
    pub fn new() -> Self {
        Self {
            index: 0,
            nmi_masked: false,
            reg_b: REG_B_24H,
            ram: vec![0; 128],
        }
    }

    /// True if the guest set the NMI mask bit.
    pub fn nmi_masked(&self) -> bool {
        self.nmi_masked
    }

    fn time_reg(&self, reg: u8, now_ns: u64) -> u8 {
        let secs = EPOCH_SECONDS + now_ns / 1_000_000_000;
        let days = (secs / 86_400) as i64;
        let sod = secs % 86_400;
        let (y, m, d) = civil(days);
        let wday = ((days + 4).rem_euclid(7) + 1) as u64; // 1 = Sunday
        let v = match reg {
            0x00 => sod % 60,
            0x02 => (sod / 60) % 60,
            0x04 => sod / 3600,
            0x06 => wday,
            0x07 => d,
            0x08 => m,
            0x09 => (y % 100) as u64,
            REG_CENTURY => (y / 100) as u64,
            _ => 0,
        };
        if self.reg_b & 0b0000_0100 != 0 {
            v as u8
        } else {
            bcd(v)
        }
    }

    /// Guest read at virtual time `now_ns`.
    pub fn read(&mut self, port: u16, now_ns: u64) -> u8 {
        if port != PORT_DATA {
            return 0xff;
        }
        match self.index {
            0x00 | 0x02 | 0x04 | 0x06..=0x09 | REG_CENTURY => self.time_reg(self.index, now_ns),
            0x01 | 0x03 | 0x05 => 0,
            REG_A => REG_A_DIVIDER,
            REG_B => self.reg_b,
            REG_C => 0,
            REG_D => REG_D_VRT,
            i => self.ram[usize::from(i & 0x7f)],
        }
    }

    /// Guest write.
    pub fn write(&mut self, port: u16, v: u8) {
        match port {
            PORT_INDEX => {
                self.nmi_masked = v & NMI_MASK != 0;
                self.index = v & !NMI_MASK;
            }
            PORT_DATA => match self.index {
                REG_B => self.reg_b = v,
                0x00..=REG_D => {}
                i => self.ram[usize::from(i & 0x7f)] = v,
            },
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rd(r: &mut CmosRtc, idx: u8, ns: u64) -> u8 {
        r.write(PORT_INDEX, idx | NMI_MASK);
        r.read(PORT_DATA, ns)
    }

    #[test]
    fn fixed_date_in_bcd() {
        let mut r = CmosRtc::new();
        assert_eq!(rd(&mut r, 0x09, 0), 0x14);
        assert_eq!(rd(&mut r, 0x08, 0), 0x03);
        assert_eq!(rd(&mut r, 0x07, 0), 0x27);
        assert_eq!(rd(&mut r, 0x32, 0), 0x20);
        assert_eq!(rd(&mut r, 0x06, 0), 5, "2014-03-27 was a Thursday");
        assert!(r.nmi_masked());
        assert_eq!(rd(&mut r, 0x00, 61_000_000_000), 0x01);
        assert_eq!(rd(&mut r, 0x02, 61_000_000_000), 0x01);
        assert_eq!(rd(&mut r, 0x0a, 0) & 0x80, 0, "never update-in-progress");
        assert_eq!(rd(&mut r, 0x0d, 0), 0x80);
    }

    #[test]
    fn binary_mode_and_ram() {
        let mut r = CmosRtc::new();
        r.write(PORT_INDEX, REG_B);
        r.write(PORT_DATA, REG_B_24H | 0b100);
        assert_eq!(rd(&mut r, 0x07, 0), 27);
        r.write(PORT_INDEX, 0x40);
        r.write(PORT_DATA, 0xab);
        assert_eq!(rd(&mut r, 0x40, 0), 0xab);
    }
}
