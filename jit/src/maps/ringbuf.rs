//! The BPF ring buffer (`ringbuf`): variable-length records reserved, filled in place and
//! committed by programs, consumed in order by the embedder.
//!
//! Positions are logical byte counters as in the kernel: a record takes an 8-byte header plus
//! its length rounded up to 8, reservation fails (NULL / `-EAGAIN`) when the producer would get
//! more than the buffer size ahead of the consumer, and consumption stops at the first record
//! still being written (busy), so records are delivered in reservation order. The kernel maps the
//! data pages twice so a record that wraps is contiguous; here the buffer is allocated twice as
//! long and a wrapping record simply runs on into the second half (the physical bytes of its
//! tail are never needed by another record until it is consumed). Record headers are written
//! as the kernel lays them out (length with the busy/discard bits, page offset).

use super::slots::SlotBuf;
use super::MapError;
use std::collections::VecDeque;

/// Size of a record header.
pub const RINGBUF_HDR_SZ: u64 = 8;
/// Header length bit: the record is still reserved.
pub const RINGBUF_BUSY_BIT: u32 = 1 << 31;
/// Header length bit: the record was discarded.
pub const RINGBUF_DISCARD_BIT: u32 = 1 << 30;
/// `bpf_ringbuf_output`/`submit` flags.
pub const BPF_RB_NO_WAKEUP: u64 = 1;
pub const BPF_RB_FORCE_WAKEUP: u64 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Busy,
    Committed,
    Discarded,
}

#[derive(Clone, Copy, Debug)]
struct Record {
    /// Logical position of the header.
    pos: u64,
    len: u32,
    state: State,
}

/// A ring buffer of `size` data bytes (a power of two).
#[derive(Debug)]
pub struct RingBuf {
    size: u64,
    data: SlotBuf,
    producer: u64,
    consumer: u64,
    records: VecDeque<Record>,
}

fn round8(n: u64) -> u64 {
    (n + 7) & !7
}

impl RingBuf {
    /// A ring of `size` bytes; the caller checked it is a power of two.
    pub fn new(size: u32) -> Self {
        RingBuf {
            size: u64::from(size),
            data: SlotBuf::new(2 * size as usize, 1),
            producer: 0,
            consumer: 0,
            records: VecDeque::new(),
        }
    }

    /// The data memory (programs write reserved records through it).
    pub fn data(&self) -> &SlotBuf {
        &self.data
    }

    /// Logical producer and consumer positions.
    pub fn positions(&self) -> (u64, u64) {
        (self.producer, self.consumer)
    }

    fn phys(&self, pos: u64) -> usize {
        (pos & (self.size - 1)) as usize
    }

    fn write_header(&self, rec: &Record) {
        let bits = match rec.state {
            State::Busy => RINGBUF_BUSY_BIT,
            State::Committed => 0,
            State::Discarded => RINGBUF_DISCARD_BIT,
        };
        let off = self.phys(rec.pos);
        self.data.write(off, &(rec.len | bits).to_le_bytes());
        self.data
            .write(off + 4, &((off / 4096) as u32).to_le_bytes());
    }

    /// Reserves `len` bytes; the address of the record's data, or None when it does not fit.
    pub fn reserve(&mut self, len: u64) -> Option<u64> {
        if len > self.size - RINGBUF_HDR_SZ {
            return None;
        }
        let total = round8(len + RINGBUF_HDR_SZ);
        if self.producer + total - self.consumer > self.size {
            return None;
        }
        let rec = Record {
            pos: self.producer,
            len: len as u32,
            state: State::Busy,
        };
        self.producer += total;
        self.write_header(&rec);
        self.records.push_back(rec);
        Some(self.data.addr(self.phys(rec.pos) + RINGBUF_HDR_SZ as usize))
    }

    /// Commits (or discards) the reserved record whose data starts at `addr`.
    pub fn finish(&mut self, addr: u64, discard: bool) -> Result<(), MapError> {
        let off = self.data.offset_of(addr).ok_or(MapError::BadRecord(addr))?;
        let i = self
            .records
            .iter()
            .position(|r| {
                r.state == State::Busy && self.phys(r.pos) + RINGBUF_HDR_SZ as usize == off
            })
            .ok_or(MapError::BadRecord(addr))?;
        self.records[i].state = if discard {
            State::Discarded
        } else {
            State::Committed
        };
        self.write_header(&self.records[i]);
        Ok(())
    }

    /// Copies `data` into a new committed record (`bpf_ringbuf_output`).
    pub fn output(&mut self, data: &[u8], flags: u64) -> Result<(), MapError> {
        if flags & !(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP) != 0 {
            return Err(MapError::BadFlags(flags));
        }
        let addr = self.reserve(data.len() as u64).ok_or(MapError::NoSpace)?;
        let off = self.data.offset_of(addr).ok_or(MapError::BadRecord(addr))?;
        self.data.write(off, data);
        self.finish(addr, false)
    }

    /// Consumes and returns the next committed record, skipping discarded ones; None when the
    /// buffer is empty or the oldest record is still reserved.
    pub fn pop(&mut self) -> Option<Vec<u8>> {
        while let Some(rec) = self.records.front().copied() {
            if rec.state == State::Busy {
                return None;
            }
            self.records.pop_front();
            self.consumer = rec.pos + round8(u64::from(rec.len) + RINGBUF_HDR_SZ);
            if rec.state == State::Committed {
                let off = self.phys(rec.pos) + RINGBUF_HDR_SZ as usize;
                return Some(self.data.to_vec(off, rec.len as usize));
            }
        }
        None
    }

    /// Consumes every available record.
    pub fn drain(&mut self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.pop()).collect()
    }

    /// Records reserved or committed but not consumed yet.
    pub fn pending(&self) -> usize {
        self.records.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_consume_in_order() {
        let mut r = RingBuf::new(4096);
        r.output(b"hello", 0).unwrap();
        r.output(b"world!!!", BPF_RB_NO_WAKEUP).unwrap();
        assert_eq!(r.positions(), (16 + 16, 0));
        assert_eq!(r.drain(), vec![b"hello".to_vec(), b"world!!!".to_vec()]);
        assert_eq!(r.positions(), (32, 32));
        assert_eq!(r.output(b"x", 4), Err(MapError::BadFlags(4)));
    }

    #[test]
    fn reserve_blocks_consumption_until_submitted() {
        let mut r = RingBuf::new(4096);
        let a = r.reserve(4).unwrap();
        r.output(b"later", 0).unwrap();
        assert_eq!(r.pop(), None, "a busy record blocks the ones after it");
        let off = r.data().offset_of(a).unwrap();
        // Header says busy, length 4.
        let hdr = u32::from_le_bytes(r.data().to_vec(off - 8, 4).try_into().unwrap());
        assert_eq!(hdr, 4 | RINGBUF_BUSY_BIT);
        r.data().write(off, &[1, 2, 3, 4]);
        r.finish(a, false).unwrap();
        assert_eq!(r.finish(a, false), Err(MapError::BadRecord(a)));
        assert_eq!(r.drain(), vec![vec![1, 2, 3, 4], b"later".to_vec()]);
        let b = r.reserve(8).unwrap();
        r.finish(b, true).unwrap();
        assert_eq!(r.pop(), None);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn full_buffer_and_wraparound() {
        let mut r = RingBuf::new(4096);
        assert_eq!(r.reserve(4096 - 7), None, "larger than the ring");
        // Four records of 1000 bytes (1008 with their header) fit; a fifth does not.
        for i in 0..4u8 {
            r.output(&[i; 1000], 0).unwrap();
        }
        assert_eq!(r.output(&[9; 1000], 0), Err(MapError::NoSpace));
        assert_eq!(r.pop().unwrap(), vec![0; 1000]);
        assert_eq!(r.pop().unwrap(), vec![1; 1000]);
        // Producer at 4032: the next record wraps past the end of the ring.
        let a = r.reserve(1000).unwrap();
        let off = r.data().offset_of(a).unwrap();
        assert_eq!(off, 4032 + 8);
        r.data().write(off, &[7; 1000]);
        r.finish(a, false).unwrap();
        let b = r.reserve(500).unwrap();
        let boff = r.data().offset_of(b).unwrap();
        assert_eq!(boff, (4032 + 1008 - 4096) + 8);
        r.data().write(boff, &[5; 500]);
        r.finish(b, false).unwrap();
        let got = r.drain();
        assert_eq!(
            got,
            vec![vec![2; 1000], vec![3; 1000], vec![7; 1000], vec![5; 500]]
        );
        let (p, c) = r.positions();
        assert_eq!(p, c);
        assert_eq!(
            p,
            4 * 1008 + 1008 + 512,
            "500 bytes + header round up to 512"
        );
    }
}
