//! Perf event arrays (`perf_event_array`): `bpf_perf_event_output` appends a sample to the
//! event stream of one CPU's slot; the embedder drains the samples (its "sink").
//!
//! bpflab has one CPU: slot 0 is CPU 0's event, any other slot has none. As in the kernel,
//! `BPF_F_CURRENT_CPU` selects the running CPU's slot, an index out of range is `-E2BIG`, an
//! empty slot `-ENOENT`, unknown flag bits `-EINVAL`. The queue is bounded: past
//! [`PERF_QUEUE_LIMIT`] samples, new ones are counted as lost (as a full perf buffer does).

use super::MapError;
use std::collections::VecDeque;

/// The low 32 bits of the flags: the slot index, or [`BPF_F_CURRENT_CPU`].
pub const BPF_F_INDEX_MASK: u64 = 0xffff_ffff;
/// Flags index meaning "the CPU running the program".
pub const BPF_F_CURRENT_CPU: u64 = 0xffff_ffff;
/// Samples kept before new ones are dropped.
pub const PERF_QUEUE_LIMIT: usize = 1 << 16;

/// One sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerfSample {
    pub cpu: u32,
    pub data: Vec<u8>,
}

/// A perf event array with its queue of samples.
#[derive(Debug)]
pub struct PerfEventArray {
    max_entries: u32,
    samples: VecDeque<PerfSample>,
    lost: u64,
}

impl PerfEventArray {
    /// An array of `max_entries` slots.
    pub fn new(max_entries: u32) -> Self {
        PerfEventArray {
            max_entries,
            samples: VecDeque::new(),
            lost: 0,
        }
    }

    /// `bpf_perf_event_output`'s data part.
    pub fn output(&mut self, flags: u64, data: &[u8]) -> Result<(), MapError> {
        if flags & !BPF_F_INDEX_MASK != 0 {
            return Err(MapError::BadFlags(flags));
        }
        let cpu = 0u32;
        let index = match flags & BPF_F_INDEX_MASK {
            BPF_F_CURRENT_CPU => cpu,
            i => i as u32,
        };
        if index >= self.max_entries {
            return Err(MapError::IndexOutOfRange {
                index,
                max_entries: self.max_entries,
            });
        }
        if index != cpu {
            return Err(MapError::NotFound);
        }
        if self.samples.len() >= PERF_QUEUE_LIMIT {
            self.lost += 1;
        } else {
            self.samples.push_back(PerfSample {
                cpu,
                data: data.to_vec(),
            });
        }
        Ok(())
    }

    /// Takes every queued sample.
    pub fn drain(&mut self) -> Vec<PerfSample> {
        self.samples.drain(..).collect()
    }

    /// Samples dropped because the queue was full.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_to_the_current_cpu_only() {
        let mut p = PerfEventArray::new(2);
        p.output(BPF_F_CURRENT_CPU, b"a").unwrap();
        p.output(0, b"b").unwrap();
        assert_eq!(p.output(1, b"c"), Err(MapError::NotFound));
        assert!(matches!(
            p.output(2, b"c"),
            Err(MapError::IndexOutOfRange { .. })
        ));
        assert_eq!(p.output(1 << 32, b"c"), Err(MapError::BadFlags(1 << 32)));
        let got = p.drain();
        assert_eq!(
            got.iter().map(|s| s.data.clone()).collect::<Vec<_>>(),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        assert!(p.drain().is_empty());
        assert_eq!(p.lost(), 0);
    }
}
