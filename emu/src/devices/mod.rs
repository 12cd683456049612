//! The platform's devices and the I/O port bus that routes `in`/`out` to them.
//!
//! | ports          | device                                   |
//! |----------------|------------------------------------------|
//! | 0x20-0x21, 0xa0-0xa1 | [`pic8259::PicPair`]               |
//! | 0x40-0x43, 0x61 | [`pit8254::Pit8254`]                    |
//! | 0x60, 0x64     | [`i8042::I8042`] (reset)                 |
//! | 0x70-0x71      | [`cmos_rtc::CmosRtc`]                    |
//! | 0x80           | [`port80::Port80`]                       |
//! | 0xf4           | [`debug_exit::DebugExit`]                |
//! | 0x3f8-0x3ff    | [`uart16550::Uart16550`] (COM1, IRQ 4)   |
//!
//! Any other port reads as all ones and ignores writes; both are counted per port.

pub mod cmos_rtc;
pub mod debug_exit;
pub mod i8042;
pub mod pic8259;
pub mod pit8254;
pub mod port80;
pub mod uart16550;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Accesses to a port no device claims.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnknownPortCount {
    /// `in` instructions.
    pub reads: u64,
    /// `out` instructions.
    pub writes: u64,
}

/// Something a device asked the machine to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStop {
    /// The exit port was written.
    Exit(u32),
    /// The i8042 pulsed reset.
    Reset,
}

/// All devices: the serialisable part of a machine snapshot besides RAM and CPU.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Devices {
    /// COM1.
    pub uart: uart16550::Uart16550,
    /// Interrupt controllers.
    pub pic: pic8259::PicPair,
    /// Timer.
    pub pit: pit8254::Pit8254,
    /// Real-time clock.
    pub rtc: cmos_rtc::CmosRtc,
    /// Keyboard controller (reset).
    pub i8042: i8042::I8042,
    /// Port 0x80.
    pub port80: port80::Port80,
    /// Exit port.
    pub exit: debug_exit::DebugExit,
    /// Unknown ports touched, by port number.
    pub unknown: BTreeMap<u16, UnknownPortCount>,
    uart_line: bool,
}

impl Default for Devices {
    fn default() -> Self {
        Self::new()
    }
}

impl Devices {
    /// Power-on state.
    pub fn new() -> Self {
        Self {
            uart: uart16550::Uart16550::new(),
            pic: pic8259::PicPair::new(),
            pit: pit8254::Pit8254::new(),
            rtc: cmos_rtc::CmosRtc::new(),
            i8042: i8042::I8042::new(),
            port80: port80::Port80::default(),
            exit: debug_exit::DebugExit::default(),
            unknown: BTreeMap::new(),
            uart_line: false,
        }
    }

    fn read8(&mut self, port: u16, now_ns: u64) -> u8 {
        match port {
            0x20 | 0x21 | 0xa0 | 0xa1 => self.pic.read(port),
            0x40..=0x43 | pit8254::PORT_B => self.pit.read(port, now_ns),
            i8042::PORT_DATA | i8042::PORT_CMD => self.i8042.read(port),
            cmos_rtc::PORT_INDEX | cmos_rtc::PORT_DATA => self.rtc.read(port, now_ns),
            port80::PORT => self.port80.read(),
            0x3f8..=0x3ff => self.uart.read((port - uart16550::COM1_BASE) as u8),
            _ => {
                self.unknown.entry(port).or_default().reads += 1;
                0xff
            }
        }
    }

    fn write8(&mut self, port: u16, v: u8, now_ns: u64) {
        match port {
            0x20 | 0x21 | 0xa0 | 0xa1 => self.pic.write(port, v),
            0x40..=0x43 | pit8254::PORT_B => self.pit.write(port, v, now_ns),
            i8042::PORT_DATA | i8042::PORT_CMD => self.i8042.write(port, v),
            cmos_rtc::PORT_INDEX | cmos_rtc::PORT_DATA => self.rtc.write(port, v),
            port80::PORT => self.port80.write(v),
            0x3f8..=0x3ff => self.uart.write((port - uart16550::COM1_BASE) as u8, v),
            _ => self.unknown.entry(port).or_default().writes += 1,
        }
    }

    /// An `in` of `size` bytes (1, 2 or 4) at virtual time `now_ns`.
    pub fn io_read(&mut self, port: u16, size: usize, now_ns: u64) -> u32 {
        let mut v = 0u32;
        for i in 0..size.clamp(1, 4) {
            v |= u32::from(self.read8(port.wrapping_add(i as u16), now_ns)) << (8 * i);
        }
        self.sync_irqs();
        v
    }

    /// An `out` of `size` bytes at virtual time `now_ns`; returns a stop request if the write
    /// was to the exit port or asked for a reset.
    pub fn io_write(
        &mut self,
        port: u16,
        size: usize,
        value: u32,
        now_ns: u64,
    ) -> Option<DeviceStop> {
        if port == debug_exit::PORT {
            self.exit.write(value);
        } else {
            for i in 0..size.clamp(1, 4) {
                self.write8(
                    port.wrapping_add(i as u16),
                    (value >> (8 * i)) as u8,
                    now_ns,
                );
            }
        }
        self.sync_irqs();
        if let Some(code) = self.exit.take_exit() {
            return Some(DeviceStop::Exit(code));
        }
        self.i8042.take_reset().then_some(DeviceStop::Reset)
    }

    /// Propagate device interrupt lines to the PIC (the UART's level drives an edge on change).
    pub fn sync_irqs(&mut self) {
        let line = self.uart.irq_line();
        if line != self.uart_line {
            self.uart_line = line;
            self.pic.set_irq(uart16550::COM1_IRQ, line);
        }
    }

    /// Advance timers to `now_ns`, raising IRQ 0 if the PIT fired.
    pub fn advance(&mut self, now_ns: u64) {
        if self.pit.advance(now_ns) {
            self.pic.pulse_irq(0);
        }
    }

    /// Virtual time of the next timer event.
    pub fn next_event_ns(&self) -> Option<u64> {
        self.pit.next_irq_ns()
    }

    /// Feed host input to the console UART.
    pub fn push_console_input(&mut self, bytes: &[u8]) {
        self.uart.push_input(bytes);
        self.sync_irqs();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unknown_ports_read_ones_and_are_counted() {
        let mut d = Devices::new();
        assert_eq!(d.io_read(0x1234, 2, 0), 0xffff);
        d.io_write(0x1234, 1, 0, 0);
        assert_eq!(
            d.unknown[&0x1234],
            UnknownPortCount {
                reads: 1,
                writes: 1
            }
        );
        assert_eq!(d.unknown[&0x1235].reads, 1);
    }

    #[test]
    fn exit_and_reset() {
        let mut d = Devices::new();
        assert_eq!(d.io_write(0xf4, 4, 0x31, 0), Some(DeviceStop::Exit(0x31)));
        assert_eq!(d.io_write(0x64, 1, 0xfe, 0), Some(DeviceStop::Reset));
        assert_eq!(d.io_write(0x80, 1, 0, 0), None);
    }

    #[test]
    fn uart_irq_reaches_pic() {
        let mut d = Devices::new();
        d.io_write(0x20, 1, 0x11, 0);
        d.io_write(0x21, 1, 0x30, 0);
        d.io_write(0x21, 1, 0x04, 0);
        d.io_write(0x21, 1, 0x01, 0);
        d.io_write(0x21, 1, 0x00, 0);
        d.io_write(0x3fc, 1, 0x08, 0); // OUT2
        d.io_write(0x3f9, 1, 0x02, 0); // IER.THRE
        assert!(d.pic.has_interrupt());
        assert_eq!(d.pic.acknowledge(), Some(0x34));
    }
}
