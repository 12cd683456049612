//! 8254 programmable interval timer on the virtual clock, as a pure state machine.
//!
//! Ports: 0x40-0x42 channel counters, 0x43 mode/command, and 0x61 (system control port B:
//! bit 0 = channel 2 gate, bit 5 = channel 2 output, bit 4 = refresh toggle), which Linux's
//! TSC calibration uses. Channel 0 drives IRQ 0. Counting is a function of the virtual time
//! passed in by the caller (never the host clock), so reads are deterministic.

use serde::{Deserialize, Serialize};

/// Input clock of the PIT in Hz.
pub const PIT_HZ: u64 = 1_193_182;
/// First channel port.
pub const PORT_CH0: u16 = 0x40;
/// Command port.
pub const PORT_CMD: u16 = 0x43;
/// System control port B.
pub const PORT_B: u16 = 0x61;

const ACCESS_LATCH: u8 = 0;
const ACCESS_LO: u8 = 1;
const ACCESS_HI: u8 = 2;
const READBACK: u8 = 3;
const PORTB_GATE2: u8 = 0b0000_0001;
const PORTB_SPEAKER: u8 = 0b0000_0010;
const PORTB_REFRESH: u8 = 0b0001_0000;
const PORTB_OUT2: u8 = 0b0010_0000;
/// DRAM refresh period toggling port B bit 4 (15.085 us).
const REFRESH_NS: u64 = 15_085;

/// PIT ticks elapsed at virtual time `ns`.
pub fn ns_to_ticks(ns: u64) -> u64 {
    (u128::from(ns) * u128::from(PIT_HZ) / 1_000_000_000) as u64
}

/// First virtual nanosecond at which `ticks` PIT ticks have elapsed.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    (u128::from(ticks) * 1_000_000_000).div_ceil(u128::from(PIT_HZ)) as u64
}

/// One counter channel.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Channel {
    mode: u8,
    access: u8,
    /// Reload value as written (0 means 65536).
    reload: u32,
    /// PIT tick at which counting (re)started.
    start_tick: u64,
    /// A count has been loaded and the gate allows counting.
    counting: bool,
    gate: bool,
    /// Count frozen while the gate is low.
    frozen: Option<u32>,
    latched: Option<u16>,
    status_latched: Option<u8>,
    /// Next byte of a lo/hi access is the high byte (read and write flip-flops).
    read_hi: bool,
    write_hi: bool,
    write_lo: u8,
    /// Periods already signalled on the output (IRQ 0 edges for channel 0).
    periods_signalled: u64,
}

impl Channel {
    fn period(&self) -> u64 {
        if self.reload == 0 {
            0x1_0000
        } else {
            u64::from(self.reload)
        }
    }

    fn elapsed(&self, now_tick: u64) -> u64 {
        now_tick.saturating_sub(self.start_tick)
    }

    fn count(&self, now_tick: u64) -> u16 {
        if let Some(f) = self.frozen {
            return f as u16;
        }
        if !self.counting {
            return self.reload as u16;
        }
        let p = self.period();
        let d = self.elapsed(now_tick);
        let c = match self.mode {
            2 => p - d % p,
            3 => p - (2 * d) % p,
            _ => p.wrapping_sub(d) & 0xffff,
        };
        c as u16
    }

    fn out(&self, now_tick: u64) -> bool {
        if !self.counting {
            return self.mode != 0;
        }
        let p = self.period();
        let d = self.elapsed(now_tick);
        match self.mode {
            0 | 1 => d >= p,
            2 => d % p != p - 1,
            3 => d % p < p.div_ceil(2),
            _ => true,
        }
    }

    fn load(&mut self, now_tick: u64) {
        self.start_tick = now_tick;
        self.counting = self.gate;
        self.frozen = None;
        self.periods_signalled = 0;
    }

    fn write(&mut self, v: u8, now_tick: u64) {
        match self.access {
            ACCESS_LO => {
                self.reload = u32::from(v);
                self.load(now_tick);
            }
            ACCESS_HI => {
                self.reload = u32::from(v) << 8;
                self.load(now_tick);
            }
            _ => {
                if self.write_hi {
                    self.reload = u32::from(self.write_lo) | (u32::from(v) << 8);
                    self.write_hi = false;
                    self.load(now_tick);
                } else {
                    self.write_lo = v;
                    self.write_hi = true;
                }
            }
        }
    }

    fn read(&mut self, now_tick: u64) -> u8 {
        if let Some(s) = self.status_latched.take() {
            return s;
        }
        let value = match self.latched {
            Some(l) => l,
            None => self.count(now_tick),
        };
        match self.access {
            ACCESS_LO => {
                self.latched = None;
                value as u8
            }
            ACCESS_HI => {
                self.latched = None;
                (value >> 8) as u8
            }
            _ => {
                if self.read_hi {
                    self.read_hi = false;
                    self.latched = None;
                    (value >> 8) as u8
                } else {
                    self.read_hi = true;
                    value as u8
                }
            }
        }
    }

    fn latch(&mut self, now_tick: u64) {
        if self.latched.is_none() {
            self.latched = Some(self.count(now_tick));
            self.read_hi = false;
        }
    }

    fn status(&self, now_tick: u64) -> u8 {
        (u8::from(self.out(now_tick)) << 7) | (self.access << 4) | (self.mode << 1)
    }

    fn set_gate(&mut self, gate: bool, now_tick: u64) {
        if gate && !self.gate {
            // Rising edge restarts the count (modes 1, 2, 3, 5) or resumes it (mode 0).
            if let Some(f) = self.frozen.take().filter(|_| self.mode == 0) {
                self.start_tick = now_tick.saturating_sub(u64::from(self.reload.wrapping_sub(f)));
            } else {
                self.start_tick = now_tick;
            }
            self.counting = true;
        } else if !gate && self.gate && self.counting {
            self.frozen = Some(u32::from(self.count(now_tick)));
        }
        self.gate = gate;
    }
}

/// The three channels plus port B.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pit8254 {
    channels: [Channel; 3],
    port_b: u8,
}

impl Default for Pit8254 {
    fn default() -> Self {
        Self::new()
    }
}

impl Pit8254 {
    /// Power-on state: channels 0 and 1 gated on, channel 2 gated by port B (off).
    pub fn new() -> Self {
        let mut channels: [Channel; 3] = Default::default();
        channels[0].gate = true;
        channels[1].gate = true;
        Self {
            channels,
            port_b: 0,
        }
    }

    /// Guest read at virtual time `now_ns`.
    pub fn read(&mut self, port: u16, now_ns: u64) -> u8 {
        let t = ns_to_ticks(now_ns);
        match port {
            0x40..=0x42 => self.channels[usize::from(port - PORT_CH0)].read(t),
            PORT_B => {
                let refresh = if (now_ns / REFRESH_NS) & 1 == 1 {
                    PORTB_REFRESH
                } else {
                    0
                };
                let out2 = if self.channels[2].out(t) {
                    PORTB_OUT2
                } else {
                    0
                };
                (self.port_b & (PORTB_GATE2 | PORTB_SPEAKER)) | refresh | out2
            }
            _ => 0xff,
        }
    }

    /// Guest write at virtual time `now_ns`.
    pub fn write(&mut self, port: u16, v: u8, now_ns: u64) {
        let t = ns_to_ticks(now_ns);
        match port {
            0x40..=0x42 => self.channels[usize::from(port - PORT_CH0)].write(v, t),
            PORT_CMD => {
                let sel = v >> 6;
                if sel == READBACK {
                    for (i, ch) in self.channels.iter_mut().enumerate() {
                        if v & (2 << i) != 0 {
                            if v & 0x20 == 0 {
                                ch.latch(t);
                            }
                            if v & 0x10 == 0 {
                                ch.status_latched = Some(ch.status(t));
                            }
                        }
                    }
                    return;
                }
                let ch = &mut self.channels[usize::from(sel)];
                let access = (v >> 4) & 3;
                if access == ACCESS_LATCH {
                    ch.latch(t);
                } else {
                    ch.access = access;
                    ch.mode = match (v >> 1) & 7 {
                        6 => 2,
                        7 => 3,
                        m => m,
                    };
                    ch.read_hi = false;
                    ch.write_hi = false;
                    ch.latched = None;
                    ch.counting = false;
                    ch.frozen = None;
                }
            }
            PORT_B => {
                self.port_b = v;
                self.channels[2].set_gate(v & PORTB_GATE2 != 0, t);
            }
            _ => {}
        }
    }

    fn irq_periodic(&self) -> bool {
        let c = &self.channels[0];
        c.counting && matches!(c.mode, 2 | 3)
    }

    /// Virtual time of the next IRQ 0 edge, if channel 0 will raise one.
    pub fn next_irq_ns(&self) -> Option<u64> {
        let c = &self.channels[0];
        if !c.counting {
            return None;
        }
        let n = if self.irq_periodic() {
            c.periods_signalled + 1
        } else if c.mode == 0 && c.periods_signalled == 0 {
            1
        } else {
            return None;
        };
        Some(ticks_to_ns(c.start_tick + n * c.period()))
    }

    /// Advance to `now_ns`: true if channel 0 produced at least one IRQ 0 edge since the last
    /// call (several missed periods coalesce into one edge, like a busy PIC would).
    pub fn advance(&mut self, now_ns: u64) -> bool {
        let t = ns_to_ticks(now_ns);
        let periodic = self.irq_periodic();
        let c = &mut self.channels[0];
        if !c.counting {
            return false;
        }
        let periods = c.elapsed(t) / c.period();
        let periods = if periodic { periods } else { periods.min(1) };
        if periods > c.periods_signalled {
            c.periods_signalled = periods;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn channel0_rate_generator_hz100() {
        let mut p = Pit8254::new();
        let latch = (PIT_HZ + 50) / 100; // LATCH for HZ=100, as Linux computes it
        p.write(0x43, 0x34, 0); // ch0, lo/hi, mode 2
        p.write(0x40, latch as u8, 0);
        p.write(0x40, (latch >> 8) as u8, 0);
        let first = p.next_irq_ns().unwrap();
        assert!((9_990_000..10_010_000).contains(&first), "{first}");
        assert!(!p.advance(first - 1));
        assert!(p.advance(first));
        assert!(!p.advance(first));
        let second = p.next_irq_ns().unwrap();
        assert!(second > first + 9_000_000);
        // Many missed periods coalesce into one edge.
        assert!(p.advance(first + 55_000_000));
        assert!(!p.advance(first + 55_000_001));
    }

    #[test]
    fn counter_latch_reads_decreasing_counts() {
        let mut p = Pit8254::new();
        p.write(0x43, 0x34, 0);
        p.write(0x40, 0xff, 0);
        p.write(0x40, 0xff, 0);
        let read = |p: &mut Pit8254, ns| {
            p.write(0x43, 0x00, ns); // latch ch0
            let lo = p.read(0x40, ns);
            let hi = p.read(0x40, ns + 1_000_000); // latched: later time does not matter
            u16::from_le_bytes([lo, hi])
        };
        let a = read(&mut p, 1_000);
        let b = read(&mut p, 10_000);
        assert!(a > b, "{a} {b}");
        assert_eq!(a, 0xffff - ns_to_ticks(1_000) as u16);
    }

    #[test]
    fn channel2_gate_and_output_via_port_61() {
        let mut p = Pit8254::new();
        p.write(0x61, 0x00, 0);
        p.write(0x43, 0xb0, 0); // ch2, lo/hi, mode 0
        p.write(0x42, 0x00, 0);
        p.write(0x42, 0x10, 0); // 4096 ticks
        assert_eq!(p.read(0x61, 100) & PORTB_OUT2, 0);
        p.write(0x61, 0x01, 1_000); // gate on
        assert_eq!(p.read(0x61, 1_000 + ticks_to_ns(4095)) & PORTB_OUT2, 0);
        assert_eq!(
            p.read(0x61, 1_000 + ticks_to_ns(4097)) & PORTB_OUT2,
            PORTB_OUT2
        );
        assert!(p.next_irq_ns().is_none(), "channel 2 never raises IRQ 0");
    }

    #[test]
    fn readback_status() {
        let mut p = Pit8254::new();
        p.write(0x43, 0x36, 0); // ch0 lo/hi mode 3
        p.write(0x43, 0xe2, 0); // read-back status of ch0
        assert_eq!(p.read(0x40, 0) & 0x3f, 0x36);
    }
}
