//! 8259A programmable interrupt controller pair (master 0x20/0x21, slave 0xa0/0xa1,
//! slave cascaded on master IRQ 2), edge triggered, as a pure state machine.
//!
//! Supported: ICW1-ICW4 initialisation (single/cascade, ICW4 auto-EOI), IMR via OCW1,
//! OCW2 non-specific and specific EOI (rotation commands act as the matching EOI),
//! OCW3 IRR/ISR read select, fixed priority (IRQ 0 highest).

use serde::{Deserialize, Serialize};

/// Master command port.
pub const MASTER_CMD: u16 = 0x20;
/// Master data port.
pub const MASTER_DATA: u16 = 0x21;
/// Slave command port.
pub const SLAVE_CMD: u16 = 0xa0;
/// Slave data port.
pub const SLAVE_DATA: u16 = 0xa1;

const ICW1: u8 = 0b0001_0000;
const ICW1_IC4: u8 = 0b0000_0001;
const ICW1_SINGLE: u8 = 0b0000_0010;
const OCW3: u8 = 0b0000_1000;
const OCW3_RR: u8 = 0b0000_0010;
const OCW3_RIS: u8 = 0b0000_0001;
const ICW4_AEOI: u8 = 0b0000_0010;
/// Master input the slave is wired to.
const CASCADE_IRQ: u8 = 2;

/// One 8259A.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pic {
    irr: u8,
    isr: u8,
    imr: u8,
    /// Input levels last seen (edge detection).
    last_level: u8,
    vector_base: u8,
    /// 0 = operational, 1..=3 = expecting ICW2..ICW4.
    init_step: u8,
    icw4_needed: bool,
    single: bool,
    auto_eoi: bool,
    read_isr: bool,
}

impl Pic {
    fn set_irq(&mut self, irq: u8, level: bool) {
        let mask = 1u8 << irq;
        if level {
            if self.last_level & mask == 0 {
                self.irr |= mask;
            }
            self.last_level |= mask;
        } else {
            self.last_level &= !mask;
        }
    }

    /// Highest-priority requested, unmasked IRQ that beats everything in service.
    fn pending(&self) -> Option<u8> {
        let req = self.irr & !self.imr;
        if req == 0 {
            return None;
        }
        let irq = req.trailing_zeros() as u8;
        let in_service = if self.isr == 0 {
            8
        } else {
            self.isr.trailing_zeros() as u8
        };
        (irq < in_service).then_some(irq)
    }

    fn ack(&mut self, irq: u8) {
        let mask = 1u8 << irq;
        self.irr &= !mask;
        if !self.auto_eoi {
            self.isr |= mask;
        }
    }

    fn write_cmd(&mut self, v: u8) {
        if v & ICW1 != 0 {
            *self = Pic {
                last_level: self.last_level,
                icw4_needed: v & ICW1_IC4 != 0,
                single: v & ICW1_SINGLE != 0,
                init_step: 1,
                ..Pic::default()
            };
        } else if v & OCW3 != 0 {
            if v & OCW3_RR != 0 {
                self.read_isr = v & OCW3_RIS != 0;
            }
        } else {
            // OCW2: bits 7..5 = R, SL, EOI.
            match v >> 5 {
                // Non-specific EOI (with or without rotation): clear the highest-priority ISR bit.
                0b001 | 0b101 if self.isr != 0 => self.isr &= self.isr - 1,
                0b011 | 0b111 => self.isr &= !(1u8 << (v & 7)),
                _ => {}
            }
        }
    }

    fn write_data(&mut self, v: u8) {
        match self.init_step {
            1 => {
                self.vector_base = v & 0xf8;
                self.init_step = if !self.single {
                    2
                } else if self.icw4_needed {
                    3
                } else {
                    0
                };
            }
            2 => self.init_step = if self.icw4_needed { 3 } else { 0 },
            3 => {
                self.auto_eoi = v & ICW4_AEOI != 0;
                self.init_step = 0;
            }
            _ => self.imr = v,
        }
    }

    fn read_cmd(&self) -> u8 {
        if self.read_isr {
            self.isr
        } else {
            self.irr
        }
    }

    /// Interrupt mask register.
    pub fn imr(&self) -> u8 {
        self.imr
    }

    /// In-service register.
    pub fn isr(&self) -> u8 {
        self.isr
    }

    /// Interrupt request register.
    pub fn irr(&self) -> u8 {
        self.irr
    }
}

/// The PC's cascaded pair.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PicPair {
    /// Master (IRQ 0-7).
    pub master: Pic,
    /// Slave (IRQ 8-15), on master IRQ 2.
    pub slave: Pic,
}

impl PicPair {
    /// Both chips after power-on (vector bases 0, everything unmasked until programmed).
    pub fn new() -> Self {
        Self::default()
    }

    /// Drive input `irq` (0..=15) to `level`; a rising edge latches a request.
    pub fn set_irq(&mut self, irq: u8, level: bool) {
        if irq < 8 {
            self.master.set_irq(irq, level);
        } else {
            self.slave.set_irq(irq - 8, level);
        }
        self.cascade();
    }

    /// Raise and lower `irq`: one edge.
    pub fn pulse_irq(&mut self, irq: u8) {
        self.set_irq(irq, true);
        self.set_irq(irq, false);
    }

    fn cascade(&mut self) {
        let slave_out = self.slave.pending().is_some();
        self.master.set_irq(CASCADE_IRQ, slave_out);
    }

    /// True when the INTR output to the CPU is asserted.
    pub fn has_interrupt(&self) -> bool {
        self.master.pending().is_some()
    }

    /// INTA cycle: the vector the CPU receives, updating IRR/ISR; None if nothing is pending.
    pub fn acknowledge(&mut self) -> Option<u8> {
        let irq = self.master.pending()?;
        self.master.ack(irq);
        let vector = if irq == CASCADE_IRQ {
            // A cascaded request vanished before INTA: the slave answers its spurious IRQ 7.
            let sirq = self.slave.pending().unwrap_or(7);
            if self.slave.pending().is_some() {
                self.slave.ack(sirq);
            }
            self.slave.vector_base.wrapping_add(sirq)
        } else {
            self.master.vector_base.wrapping_add(irq)
        };
        self.cascade();
        Some(vector)
    }

    /// Guest read of one of the four ports.
    pub fn read(&mut self, port: u16) -> u8 {
        match port {
            MASTER_CMD => self.master.read_cmd(),
            MASTER_DATA => self.master.imr,
            SLAVE_CMD => self.slave.read_cmd(),
            SLAVE_DATA => self.slave.imr,
            _ => 0xff,
        }
    }

    /// Guest write of one of the four ports.
    pub fn write(&mut self, port: u16, v: u8) {
        match port {
            MASTER_CMD => self.master.write_cmd(v),
            MASTER_DATA => self.master.write_data(v),
            SLAVE_CMD => self.slave.write_cmd(v),
            SLAVE_DATA => self.slave.write_data(v),
            _ => {}
        }
        self.cascade();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Program the pair the way Linux does (init_8259A): bases 0x30/0x38, cascade on IRQ 2.
    fn linux_init(auto_eoi: bool) -> PicPair {
        let mut p = PicPair::new();
        let icw4 = if auto_eoi { 0x03 } else { 0x01 };
        for (cmd, data, base, casc) in [(0x20, 0x21, 0x30, 0x04), (0xa0, 0xa1, 0x38, 0x02)] {
            p.write(cmd, 0x11);
            p.write(data, base);
            p.write(data, casc);
            p.write(data, icw4);
        }
        p.write(0x21, 0x00);
        p.write(0xa1, 0x00);
        p
    }

    #[test]
    fn edge_ack_eoi() {
        let mut p = linux_init(false);
        assert!(!p.has_interrupt());
        p.set_irq(4, true);
        assert!(p.has_interrupt());
        p.set_irq(4, true); // level held: no new edge
        assert_eq!(p.acknowledge(), Some(0x34));
        assert!(!p.has_interrupt());
        p.write(0x20, 0x0b); // OCW3: read ISR
        assert_eq!(p.read(0x20), 0x10);
        // A lower-priority request waits for EOI; a higher one nests.
        p.pulse_irq(5);
        assert!(!p.has_interrupt());
        p.pulse_irq(0);
        assert_eq!(p.acknowledge(), Some(0x30));
        p.write(0x20, 0x60); // specific EOI IRQ 0
        p.write(0x20, 0x20); // non-specific EOI -> IRQ 4
        assert_eq!(p.acknowledge(), Some(0x35));
        p.write(0x20, 0x0a); // read IRR
        assert_eq!(p.read(0x20), 0);
    }

    #[test]
    fn mask_and_cascade() {
        let mut p = linux_init(false);
        p.write(0x21, 0x01);
        p.pulse_irq(0);
        assert!(!p.has_interrupt());
        assert_eq!(p.read(0x21), 0x01);
        p.pulse_irq(12);
        assert!(p.has_interrupt());
        assert_eq!(p.acknowledge(), Some(0x3c));
        assert_eq!(p.slave.isr(), 1 << 4);
        assert_eq!(p.master.isr(), 1 << 2);
        p.write(0x21, 0x00);
        assert!(p.has_interrupt(), "IRQ 0 beats the cascade in service");
    }

    #[test]
    fn auto_eoi_leaves_isr_clear() {
        let mut p = linux_init(true);
        p.pulse_irq(3);
        assert_eq!(p.acknowledge(), Some(0x33));
        assert_eq!(p.master.isr(), 0);
        p.pulse_irq(3);
        assert_eq!(p.acknowledge(), Some(0x33));
    }
}
