//! The environment a filter's helpers see: the guest at the moment of the hit, the program's
//! maps, and where events go.
//!
//! One [`ProbeEnv`] belongs to one loaded object (all its programs share its maps, so an entry
//! probe and a return probe can talk through a map). Before each run the probe updates the
//! [`Hit`]: registers, address space, virtual time.

use crate::events::{Event, EventKind, EventLog, Frame};
use crate::guest::{GuestView, Task, TaskLayout, KERNEL_HALF};
use emu::{Ram, Regs};
use jit::maps::{MapEnv, MapSet};
use std::cell::RefCell;
use std::rc::Rc;

/// The most frames a stack walk collects (the kernel's `PERF_MAX_STACK_DEPTH`).
pub const MAX_STACK_DEPTH: usize = 127;

/// Turns an address into `symbol+off` and `file:line` for stack events.
pub type Symbolizer = Rc<dyn Fn(u64) -> (Option<String>, Option<String>)>;

/// Unwinds the guest kernel stack from registers, reading guest memory, up to a depth.
pub type StackWalker = Rc<dyn Fn(&Regs, &dyn Fn(u64) -> Option<u64>, usize) -> Vec<u64>>;

/// The probe hit being handled.
#[derive(Clone, Debug, Default)]
pub struct Hit {
    pub regs: Regs,
    pub now_ns: u64,
    /// The probe's id (for events).
    pub probe: u32,
    /// Whether the probe sits on the first instruction of a function, where the return
    /// address is at `[rsp]` and `rbp` is still the caller's frame pointer.
    pub at_entry: bool,
}

/// Everything helpers may touch, for one loaded object.
pub struct ProbeEnv {
    pub guest: GuestView,
    pub hit: Hit,
    pub maps: MapSet,
    pub events: Rc<RefCell<EventLog>>,
    pub tasks: Rc<TaskLayout>,
    pub symbolize: Option<Symbolizer>,
    /// DWARF CFI unwinding for the image; without it, frame pointers.
    pub unwind: Option<StackWalker>,
    /// `bpf_get_prandom_u32`'s state: seeded the same in every run, so a run's output is a
    /// function of the guest alone.
    pub prandom: u64,
}

/// The seed of [`ProbeEnv::prandom`].
pub const PRANDOM_SEED: u64 = 0x853c_49e6_748f_ea9b;

impl std::fmt::Debug for ProbeEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeEnv")
            .field("hit", &self.hit)
            .field("maps", &self.maps.len())
            .finish()
    }
}

impl MapEnv for ProbeEnv {
    fn maps(&mut self) -> &mut MapSet {
        &mut self.maps
    }
}

impl ProbeEnv {
    pub fn new(
        ram: Rc<Ram>,
        maps: MapSet,
        events: Rc<RefCell<EventLog>>,
        tasks: Rc<TaskLayout>,
    ) -> Self {
        ProbeEnv {
            guest: GuestView::new(ram, 0),
            hit: Hit::default(),
            maps,
            events,
            tasks,
            symbolize: None,
            unwind: None,
            prandom: PRANDOM_SEED,
        }
    }

    /// The next `bpf_get_prandom_u32` value (xorshift64*, upper half).
    pub fn next_prandom(&mut self) -> u32 {
        let mut x = self.prandom;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.prandom = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    /// The task running at the hit.
    pub fn current_task(&self) -> Option<Task> {
        self.tasks.current(&self.guest)
    }

    /// Address of the current `struct task_struct` (0 when unknown).
    pub fn current_task_addr(&self) -> u64 {
        self.tasks
            .current_task
            .and_then(|v| self.guest.read_u64(v))
            .unwrap_or(0)
    }

    /// Emits an event stamped with the hit's time, probe and task.
    pub fn emit(&self, kind: EventKind) {
        let task = self.current_task().unwrap_or_default();
        self.events.borrow_mut().push(Event {
            ts_ns: self.hit.now_ns,
            probe: self.hit.probe,
            pid: task.pid,
            comm: task.comm,
            kind,
        });
    }

    /// The guest kernel stack at the hit, innermost first: the probed address, then its
    /// callers (the caller of a probed function's entry included). DWARF CFI when the image
    /// has it, else the frame-pointer chain.
    /// Empty when the hit is in user mode (a sample of a user instruction has no kernel
    /// stack, as the kernel's `get_perf_callchain` gives none).
    pub fn kernel_stack(&self, max: usize) -> Vec<u64> {
        let max = max.min(MAX_STACK_DEPTH);
        if self.hit.regs.cs & 3 == 3 {
            return Vec::new();
        }
        if let Some(walk) = &self.unwind {
            let guest = &self.guest;
            return walk(&self.hit.regs, &|va| guest.read_u64(va), max);
        }
        let r = &self.hit.regs;
        let mut ips = vec![r.rip];
        if self.hit.at_entry {
            if let Some(ret) = self.guest.read_u64(r.rsp).filter(|&a| a >= KERNEL_HALF) {
                ips.push(ret);
            }
        }
        let mut fp = r.rbp;
        while ips.len() < max.min(MAX_STACK_DEPTH) && fp >= KERNEL_HALF {
            let (Some(next), Some(ret)) = (
                self.guest.read_u64(fp),
                self.guest.read_u64(fp.wrapping_add(8)),
            ) else {
                break;
            };
            if ret < KERNEL_HALF {
                break;
            }
            ips.push(ret);
            // Frames grow towards higher addresses as we unwind; anything else ends the walk.
            if next <= fp {
                break;
            }
            fp = next;
        }
        ips.truncate(max);
        ips
    }

    /// Frames for a stack event.
    pub fn frames(&self, ips: &[u64]) -> Vec<Frame> {
        ips.iter()
            .map(|&addr| {
                let (symbol, source) = match &self.symbolize {
                    Some(f) => f(addr),
                    None => (None, None),
                };
                Frame {
                    addr,
                    symbol,
                    source,
                }
            })
            .collect()
    }

    /// Moves perf-event and ring-buffer records produced by the last run into events.
    pub fn drain_outputs(&mut self) {
        let mut out = Vec::new();
        for i in 0..self.maps.len() {
            let Some(m) = self.maps.get_mut(i) else {
                continue;
            };
            let name = m.def().name.clone();
            if let Some(p) = m.perf_mut() {
                out.extend(p.drain().into_iter().map(|s| (name.clone(), s.data)));
            } else if let Some(rb) = m.ringbuf_mut() {
                out.extend(rb.drain().into_iter().map(|d| (name.clone(), d)));
            }
        }
        for (map, data) in out {
            self.emit(EventKind::Output { map, data });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prandom_is_the_same_sequence_in_every_run() {
        let env = || {
            let ram = Rc::new(Ram::new(4096).expect("ram"));
            ProbeEnv::new(
                ram,
                MapSet::default(),
                Rc::default(),
                Rc::new(TaskLayout::default()),
            )
        };
        let (mut a, mut b) = (env(), env());
        let xs: Vec<u32> = (0..64).map(|_| a.next_prandom()).collect();
        let ys: Vec<u32> = (0..64).map(|_| b.next_prandom()).collect();
        assert_eq!(xs, ys);
        let mut distinct = xs.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 64);
        assert!(xs.iter().any(|x| x >> 31 == 1) && xs.iter().any(|x| x >> 31 == 0));
    }
}
