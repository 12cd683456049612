//! 16550A UART (COM1 at 0x3f8, IRQ 4) as a pure state machine.
//!
//! Why not vm-superio's `Serial`: its state is not serde-serialisable (that lives in a separate
//! versionize-based crate), it signals interrupts through an eventfd-style `Trigger` rather than
//! exposing a line level our PIC can sample deterministically, and it does not gate the IRQ
//! with MCR.OUT2 as a PC does. The register model below follows the same datasheet.
//!
//! Register map (offset from the base port; DLAB = LCR bit 7):
//! | off | read              | write             |
//! |-----|-------------------|-------------------|
//! | 0   | RBR / DLL (DLAB)  | THR / DLL (DLAB)  |
//! | 1   | IER / DLM (DLAB)  | IER / DLM (DLAB)  |
//! | 2   | IIR               | FCR               |
//! | 3   | LCR               | LCR               |
//! | 4   | MCR               | MCR               |
//! | 5   | LSR               | -                 |
//! | 6   | MSR               | -                 |
//! | 7   | SCR               | SCR               |

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// COM1 base port.
pub const COM1_BASE: u16 = 0x3f8;
/// COM1 IRQ line on the master PIC.
pub const COM1_IRQ: u8 = 4;

const IER_RDA: u8 = 0b0000_0001;
const IER_THRE: u8 = 0b0000_0010;
const IIR_NONE: u8 = 0b0000_0001;
const IIR_THRE: u8 = 0b0000_0010;
const IIR_RDA: u8 = 0b0000_0100;
const IIR_FIFO_ENABLED: u8 = 0b1100_0000;
const FCR_ENABLE: u8 = 0b0000_0001;
const FCR_CLEAR_RX: u8 = 0b0000_0010;
const LCR_DLAB: u8 = 0b1000_0000;
const MCR_OUT2: u8 = 0b0000_1000;
const MCR_LOOP: u8 = 0b0001_0000;
const LSR_DATA_READY: u8 = 0b0000_0001;
const LSR_THR_EMPTY: u8 = 0b0010_0000;
const LSR_IDLE: u8 = 0b0100_0000;
const MSR_CTS_DSR_DCD: u8 = 0b1011_0000;
/// Receive FIFO depth of a 16550A.
const RX_FIFO: usize = 16;

/// The UART's whole state (serialisable for snapshots).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Uart16550 {
    ier: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    fcr: u8,
    dll: u8,
    dlm: u8,
    /// A THR-empty interrupt is pending (set by a transmit or enabling IER.THRE, cleared by
    /// reading IIR while it is the reported source, or by writing THR).
    thre_pending: bool,
    /// Bytes the guest can read (the RX FIFO; refilled from `input`).
    rx: VecDeque<u8>,
    /// Host input not yet in the FIFO.
    input: VecDeque<u8>,
    /// Bytes the guest transmitted, not yet taken by the host.
    out: Vec<u8>,
}

impl Uart16550 {
    /// A UART after reset.
    pub fn new() -> Self {
        Self {
            dll: 12, // 9600 baud
            ..Self::default()
        }
    }

    /// Queue host bytes for the guest to read.
    pub fn push_input(&mut self, bytes: &[u8]) {
        self.input.extend(bytes);
        self.refill();
    }

    /// Take everything the guest transmitted since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    fn refill(&mut self) {
        while self.rx.len() < RX_FIFO {
            match self.input.pop_front() {
                Some(b) => self.rx.push_back(b),
                None => break,
            }
        }
    }

    fn iir(&self) -> u8 {
        let fifo = if self.fcr & FCR_ENABLE != 0 {
            IIR_FIFO_ENABLED
        } else {
            0
        };
        let id = if self.ier & IER_RDA != 0 && !self.rx.is_empty() {
            IIR_RDA
        } else if self.ier & IER_THRE != 0 && self.thre_pending {
            IIR_THRE
        } else {
            IIR_NONE
        };
        fifo | id
    }

    /// Level of the interrupt output as the PC wires it (gated by MCR.OUT2).
    pub fn irq_line(&self) -> bool {
        self.mcr & MCR_OUT2 != 0 && self.iir() & IIR_NONE == 0
    }

    /// Guest read of register `offset` (0..=7).
    pub fn read(&mut self, offset: u8) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            0 if dlab => self.dll,
            0 => {
                let b = self.rx.pop_front().unwrap_or(0);
                self.refill();
                b
            }
            1 if dlab => self.dlm,
            1 => self.ier,
            2 => {
                let iir = self.iir();
                if iir & 0x0f == IIR_THRE {
                    self.thre_pending = false;
                }
                iir
            }
            3 => self.lcr,
            4 => self.mcr,
            5 => {
                let dr = if self.rx.is_empty() {
                    0
                } else {
                    LSR_DATA_READY
                };
                dr | LSR_THR_EMPTY | LSR_IDLE
            }
            6 if self.mcr & MCR_LOOP != 0 => (self.mcr & 0x0f) << 4,
            6 => MSR_CTS_DSR_DCD,
            7 => self.scr,
            _ => 0xff,
        }
    }

    /// Guest write of `value` to register `offset` (0..=7).
    pub fn write(&mut self, offset: u8, value: u8) {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            0 if dlab => self.dll = value,
            0 => {
                if self.mcr & MCR_LOOP != 0 {
                    self.rx.push_back(value);
                } else {
                    self.out.push(value);
                }
                // Transmission is instantaneous: THR is empty again at once.
                self.thre_pending = true;
            }
            1 if dlab => self.dlm = value,
            1 => {
                let enabling_thre = value & IER_THRE != 0 && self.ier & IER_THRE == 0;
                self.ier = value & 0x0f;
                if enabling_thre {
                    self.thre_pending = true;
                }
            }
            2 => {
                if value & FCR_CLEAR_RX != 0 {
                    self.rx.clear();
                    self.refill();
                }
                self.fcr = value & !0b0000_0110;
            }
            3 => self.lcr = value,
            4 => self.mcr = value & 0x1f,
            7 => self.scr = value,
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn transmit_and_thre_interrupt() {
        let mut u = Uart16550::new();
        u.write(4, MCR_OUT2);
        assert!(!u.irq_line());
        u.write(1, IER_THRE);
        assert!(
            u.irq_line(),
            "enabling THRE with an empty THR raises the interrupt"
        );
        assert_eq!(u.read(2) & 0x0f, IIR_THRE);
        assert!(!u.irq_line(), "reading IIR clears THRE");
        u.write(0, b'h');
        assert!(u.irq_line());
        u.write(0, b'i');
        assert_eq!(u.take_output(), b"hi");
        assert_eq!(u.read(5) & LSR_THR_EMPTY, LSR_THR_EMPTY);
    }

    #[test]
    fn receive_fifo_and_rda() {
        let mut u = Uart16550::new();
        u.write(4, MCR_OUT2);
        u.write(1, IER_RDA);
        assert!(!u.irq_line());
        u.push_input(&[b'x'; 20]);
        assert!(u.irq_line());
        assert_eq!(u.read(2) & 0x0f, IIR_RDA);
        for _ in 0..20 {
            assert_eq!(u.read(5) & LSR_DATA_READY, 1);
            assert_eq!(u.read(0), b'x');
        }
        assert_eq!(u.read(5) & LSR_DATA_READY, 0);
        assert!(!u.irq_line());
    }

    #[test]
    fn divisor_latch_and_scratch() {
        let mut u = Uart16550::new();
        u.write(3, LCR_DLAB | 3);
        u.write(0, 1);
        u.write(1, 0);
        assert_eq!(u.read(0), 1);
        u.write(3, 3);
        u.write(7, 0x5a);
        assert_eq!(u.read(7), 0x5a);
        assert_eq!(u.read(3), 3);
        assert_eq!(u.take_output(), b"", "DLL writes are not output");
    }

    #[test]
    fn out2_gates_irq() {
        let mut u = Uart16550::new();
        u.write(1, IER_THRE);
        assert!(!u.irq_line());
        u.write(4, MCR_OUT2);
        assert!(u.irq_line());
    }
}
