//! i8042 keyboard controller, only as far as a PC guest needs it to reboot and to probe:
//! command 0xFE on port 0x64 pulses the CPU reset line (the machine stops with `Reset`).

use serde::{Deserialize, Serialize};

/// Data port.
pub const PORT_DATA: u16 = 0x60;
/// Status (read) / command (write) port.
pub const PORT_CMD: u16 = 0x64;

const STATUS_OUTPUT_FULL: u8 = 0b0000_0001;
const STATUS_SYSTEM: u8 = 0b0000_0100;
const STATUS_UNLOCKED: u8 = 0b0001_0000;
const CMD_READ_CTR: u8 = 0x20;
const CMD_WRITE_CTR: u8 = 0x60;
const CMD_SELF_TEST: u8 = 0xaa;
const CMD_WRITE_OUTPUT: u8 = 0xd1;
const CMD_PULSE_RESET: u8 = 0xfe;
const SELF_TEST_OK: u8 = 0x55;

/// Controller state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct I8042 {
    output: Option<u8>,
    ctr: u8,
    /// The next data write is for this command.
    pending_cmd: Option<u8>,
    reset_requested: bool,
}

impl I8042 {
    /// Power-on state.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the guest asked for a CPU reset (cleared by [`I8042::take_reset`]).
    pub fn take_reset(&mut self) -> bool {
        std::mem::take(&mut self.reset_requested)
    }

    /// Guest read.
    pub fn read(&mut self, port: u16) -> u8 {
        match port {
            PORT_DATA => self.output.take().unwrap_or(0),
            PORT_CMD => {
                STATUS_SYSTEM
                    | STATUS_UNLOCKED
                    | if self.output.is_some() {
                        STATUS_OUTPUT_FULL
                    } else {
                        0
                    }
            }
            _ => 0xff,
        }
    }

    /// Guest write.
    pub fn write(&mut self, port: u16, v: u8) {
        match port {
            PORT_CMD => match v {
                CMD_READ_CTR => self.output = Some(self.ctr),
                CMD_SELF_TEST => self.output = Some(SELF_TEST_OK),
                CMD_WRITE_CTR | CMD_WRITE_OUTPUT => self.pending_cmd = Some(v),
                CMD_PULSE_RESET => self.reset_requested = true,
                _ => {}
            },
            PORT_DATA => match self.pending_cmd.take() {
                Some(CMD_WRITE_CTR) => self.ctr = v,
                // Output port bit 0 low = hold the CPU in reset.
                Some(CMD_WRITE_OUTPUT) if v & 1 == 0 => self.reset_requested = true,
                _ => {}
            },
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reset_command() {
        let mut k = I8042::new();
        assert!(!k.take_reset());
        k.write(PORT_CMD, 0xfe);
        assert!(k.take_reset());
        assert!(!k.take_reset());
    }

    #[test]
    fn self_test_and_ctr() {
        let mut k = I8042::new();
        k.write(PORT_CMD, 0xaa);
        assert_eq!(k.read(PORT_CMD) & 1, 1);
        assert_eq!(k.read(PORT_DATA), 0x55);
        k.write(PORT_CMD, 0x60);
        k.write(PORT_DATA, 0x47);
        k.write(PORT_CMD, 0x20);
        assert_eq!(k.read(PORT_DATA), 0x47);
    }
}
