//! Port 0x80, the POST-code / I/O-delay port: writes are ignored, reads return all ones.
//! Counted so `--verbose` can show how much delay I/O a guest does.

use serde::{Deserialize, Serialize};

/// The port.
pub const PORT: u16 = 0x80;

/// Port 0x80 state: only the last POST code written.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Port80 {
    last: u8,
    writes: u64,
}

impl Port80 {
    /// Guest read.
    pub fn read(&mut self) -> u8 {
        0xff
    }

    /// Guest write.
    pub fn write(&mut self, v: u8) {
        self.last = v;
        self.writes += 1;
    }

    /// Last code written.
    pub fn last(&self) -> u8 {
        self.last
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn ignores() {
        let mut p = super::Port80::default();
        p.write(0x12);
        assert_eq!(p.read(), 0xff);
        assert_eq!(p.last(), 0x12);
    }
}
