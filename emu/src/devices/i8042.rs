//! i8042 keyboard controller, only as far as a PC guest needs it to reboot and to probe:
//! command 0xFE on port 0x64 pulses the CPU reset line (the machine stops with `Reset`).
//! The controller answers every command Linux's probe sends at once (self test, interface
//! tests, CTR access, port enable/disable, AUX loopback), so no driver busy-waits for a
//! timeout; no keyboard or mouse is attached (device commands get no answer).
//!
//! | command | effect                                 |
//! |---------|----------------------------------------|
//! | 0x20    | read CTR                               |
//! | 0x60    | write CTR (next data byte)             |
//! | 0xa7/a8 | disable/enable AUX (CTR bit 5)         |
//! | 0xa9    | AUX interface test -> 0x00             |
//! | 0xaa    | self test -> 0x55                      |
//! | 0xab    | keyboard interface test -> 0x00        |
//! | 0xad/ae | disable/enable keyboard (CTR bit 4)    |
//! | 0xd1    | write output port (bit 0 low = reset)  |
//! | 0xd2/d3 | loop the next data byte back (keyboard/AUX) |
//! | 0xfe    | pulse reset                            |

use serde::{Deserialize, Serialize};

/// Data port.
pub const PORT_DATA: u16 = 0x60;
/// Status (read) / command (write) port.
pub const PORT_CMD: u16 = 0x64;

const STATUS_OUTPUT_FULL: u8 = 0b0000_0001;
const STATUS_SYSTEM: u8 = 0b0000_0100;
const STATUS_UNLOCKED: u8 = 0b0001_0000;
const STATUS_AUX_DATA: u8 = 0b0010_0000;
const CTR_KBD_DISABLED: u8 = 0b0001_0000;
const CTR_AUX_DISABLED: u8 = 0b0010_0000;
const CMD_READ_CTR: u8 = 0x20;
const CMD_WRITE_CTR: u8 = 0x60;
const CMD_AUX_DISABLE: u8 = 0xa7;
const CMD_AUX_ENABLE: u8 = 0xa8;
const CMD_AUX_TEST: u8 = 0xa9;
const CMD_SELF_TEST: u8 = 0xaa;
const CMD_KBD_TEST: u8 = 0xab;
const CMD_KBD_DISABLE: u8 = 0xad;
const CMD_KBD_ENABLE: u8 = 0xae;
const CMD_WRITE_OUTPUT: u8 = 0xd1;
const CMD_KBD_LOOP: u8 = 0xd2;
const CMD_AUX_LOOP: u8 = 0xd3;
const INTERFACE_OK: u8 = 0x00;
const CMD_PULSE_RESET: u8 = 0xfe;
const SELF_TEST_OK: u8 = 0x55;

/// Controller state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct I8042 {
    output: Option<u8>,
    /// The byte in `output` came from the AUX port.
    output_aux: bool,
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
                    | match self.output {
                        Some(_) if self.output_aux => STATUS_OUTPUT_FULL | STATUS_AUX_DATA,
                        Some(_) => STATUS_OUTPUT_FULL,
                        None => 0,
                    }
            }
            _ => 0xff,
        }
    }

    fn reply(&mut self, byte: u8, aux: bool) {
        self.output = Some(byte);
        self.output_aux = aux;
    }

    /// Guest write.
    pub fn write(&mut self, port: u16, v: u8) {
        match port {
            PORT_CMD => match v {
                CMD_READ_CTR => self.reply(self.ctr, false),
                CMD_SELF_TEST => self.reply(SELF_TEST_OK, false),
                CMD_KBD_TEST | CMD_AUX_TEST => self.reply(INTERFACE_OK, false),
                CMD_AUX_DISABLE => self.ctr |= CTR_AUX_DISABLED,
                CMD_AUX_ENABLE => self.ctr &= !CTR_AUX_DISABLED,
                CMD_KBD_DISABLE => self.ctr |= CTR_KBD_DISABLED,
                CMD_KBD_ENABLE => self.ctr &= !CTR_KBD_DISABLED,
                CMD_WRITE_CTR | CMD_WRITE_OUTPUT | CMD_KBD_LOOP | CMD_AUX_LOOP => {
                    self.pending_cmd = Some(v)
                }
                CMD_PULSE_RESET => self.reset_requested = true,
                _ => {}
            },
            PORT_DATA => match self.pending_cmd.take() {
                Some(CMD_WRITE_CTR) => self.ctr = v,
                Some(CMD_KBD_LOOP) => self.reply(v, false),
                Some(CMD_AUX_LOOP) => self.reply(v, true),
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

    #[test]
    fn linux_probe_commands_answer_at_once() {
        let mut k = I8042::new();
        for cmd in [0xab, 0xa9] {
            k.write(PORT_CMD, cmd);
            assert_eq!(k.read(PORT_CMD) & 0x21, 0x01);
            assert_eq!(k.read(PORT_DATA), 0x00);
        }
        k.write(PORT_CMD, 0xd3);
        k.write(PORT_DATA, 0x5a);
        assert_eq!(
            k.read(PORT_CMD) & 0x21,
            0x21,
            "AUX data in the output buffer"
        );
        assert_eq!(k.read(PORT_DATA), 0x5a);
        assert_eq!(k.read(PORT_CMD) & 1, 0);
        k.write(PORT_CMD, 0xa7);
        k.write(PORT_CMD, 0xad);
        k.write(PORT_CMD, 0x20);
        assert_eq!(k.read(PORT_DATA), 0x30);
        k.write(PORT_CMD, 0xa8);
        k.write(PORT_CMD, 0xae);
        k.write(PORT_CMD, 0x20);
        assert_eq!(k.read(PORT_DATA), 0x00);
    }
}
