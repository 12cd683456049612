//! The virtual clock: time derived from executed guest work, never from the host clock.
//!
//! A block hook runs at the start of every translated block and adds the block's instruction
//! count (decoded once per block address and cached) to `insns`. Virtual time in nanoseconds is
//! `insns * NS_PER_INSN + idle_ns`, where `idle_ns` grows only when `hlt` skips ahead to the
//! next timer event. The same hook compares the count against a deadline (next timer event or
//! budget) and asks Unicorn to stop *before* the block that starts at or after the deadline;
//! that block is then un-counted, since it will run (and be counted) after the restart.

use crate::memory::{GuestMemory, Ram};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Virtual nanoseconds per guest instruction (a 1 GHz, 1-IPC virtual CPU; the TSC runs at 1 GHz).
pub const NS_PER_INSN: u64 = 1;
const CACHE_SLOTS: usize = 1 << 14;

#[derive(Clone, Copy, Default)]
struct CacheEntry {
    pc: u64,
    size: u32,
    icount: u32,
}

/// Shared between the machine and the raw block/RDTSC hooks (interior mutability only, so the
/// hooks can hold a shared reference while the machine holds another).
pub(crate) struct Clock {
    insns: Cell<u64>,
    idle_ns: Cell<u64>,
    /// Stop before a block once `insns` has reached this.
    deadline: Cell<u64>,
    /// An interrupt is pending while IF may be 0: stop as soon as a block starts with IF=1.
    irq_waiting: Cell<bool>,
    /// Set by the block hook when it requested a stop.
    stopped: Cell<bool>,
    /// Some hook asked Unicorn to stop: a block hook that still runs before the stop takes
    /// effect (Unicorn calls it before the block's exit check) must not count its block.
    stop_pending: Cell<bool>,
    host_stop: Arc<AtomicBool>,
    cache: RefCell<Vec<CacheEntry>>,
    ram: Rc<Ram>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("insns", &self.insns.get())
            .field("idle_ns", &self.idle_ns.get())
            .finish()
    }
}

/// What the block hook decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockVerdict {
    Run,
    Stop,
    /// Ask the caller for RFLAGS.IF and stop only if it is set.
    StopIfInterruptible,
}

impl Clock {
    pub(crate) fn new(ram: Rc<Ram>, host_stop: Arc<AtomicBool>) -> Self {
        Self {
            insns: Cell::new(0),
            idle_ns: Cell::new(0),
            deadline: Cell::new(u64::MAX),
            irq_waiting: Cell::new(false),
            stopped: Cell::new(false),
            stop_pending: Cell::new(false),
            host_stop,
            cache: RefCell::new(vec![CacheEntry::default(); CACHE_SLOTS]),
            ram,
        }
    }

    pub(crate) fn insns(&self) -> u64 {
        self.insns.get()
    }

    pub(crate) fn now_ns(&self) -> u64 {
        self.insns.get() * NS_PER_INSN + self.idle_ns.get()
    }

    pub(crate) fn idle_ns(&self) -> u64 {
        self.idle_ns.get()
    }

    pub(crate) fn set_state(&self, insns: u64, idle_ns: u64) {
        self.insns.set(insns);
        self.idle_ns.set(idle_ns);
    }

    /// Skip idle time forward to `ns` (no-op if already past).
    pub(crate) fn skip_to(&self, ns: u64) {
        let now = self.now_ns();
        if ns > now {
            self.idle_ns.set(self.idle_ns.get() + (ns - now));
        }
    }

    /// Deadline as a virtual time; converted to an instruction count.
    pub(crate) fn set_deadline_ns(&self, ns: u64) {
        let insns = ns.saturating_sub(self.idle_ns.get()).div_ceil(NS_PER_INSN);
        self.deadline.set(insns);
    }

    /// Move the deadline earlier if `ns` comes first (a device was reprogrammed mid-run).
    pub(crate) fn lower_deadline_ns(&self, ns: u64) {
        let insns = ns.saturating_sub(self.idle_ns.get()).div_ceil(NS_PER_INSN);
        if insns < self.deadline.get() {
            self.deadline.set(insns);
        }
    }

    pub(crate) fn set_deadline_insns(&self, insns: u64) {
        self.deadline.set(self.deadline.get().min(insns));
    }

    pub(crate) fn set_irq_waiting(&self, w: bool) {
        self.irq_waiting.set(w);
    }

    pub(crate) fn take_stopped(&self) -> bool {
        self.stopped.replace(false)
    }

    /// Record that a hook called `emu_stop`.
    pub(crate) fn note_stop_requested(&self) {
        self.stop_pending.set(true);
    }

    /// Called before each `emu_start`.
    pub(crate) fn clear_stop_pending(&self) {
        self.stop_pending.set(false);
        self.stopped.set(false);
    }

    /// Called at the start of every block. `cr3` is read lazily on a cache miss.
    pub(crate) fn on_block(&self, pc: u64, size: u32, cr3: impl FnOnce() -> u64) -> BlockVerdict {
        let before = self.insns.get();
        if self.stop_pending.get() {
            return BlockVerdict::Stop;
        }
        if before >= self.deadline.get() || self.host_stop.load(Ordering::Relaxed) {
            self.stopped.set(true);
            self.stop_pending.set(true);
            return BlockVerdict::Stop;
        }
        let n = self.icount(pc, size, cr3);
        self.insns.set(before + n);
        if self.irq_waiting.get() {
            return BlockVerdict::StopIfInterruptible;
        }
        BlockVerdict::Run
    }

    /// The block hook decided to stop before a block it already counted.
    pub(crate) fn uncount_block(&self, pc: u64, size: u32) {
        let n = self.icount(pc, size, || 0);
        self.insns.set(self.insns.get().saturating_sub(n));
        self.stopped.set(true);
        self.stop_pending.set(true);
    }

    fn icount(&self, pc: u64, size: u32, cr3: impl FnOnce() -> u64) -> u64 {
        let slot = ((pc ^ (pc >> 14) ^ (pc >> 28)) as usize) & (CACHE_SLOTS - 1);
        let mut cache = self.cache.borrow_mut();
        let e = cache[slot];
        if e.pc == pc && e.size == size && e.icount != 0 {
            return u64::from(e.icount);
        }
        let icount = count_instructions(&self.ram, cr3(), pc, size);
        cache[slot] = CacheEntry { pc, size, icount };
        u64::from(icount)
    }
}

/// Decode the block's bytes to count its instructions (once per block; cached).
fn count_instructions(ram: &Ram, cr3: u64, pc: u64, size: u32) -> u32 {
    let mut bytes = vec![0u8; size as usize];
    if size == 0 || ram.read_virt(cr3, pc, &mut bytes).is_err() {
        return 1;
    }
    let mut dec = iced_x86::Decoder::with_ip(64, &bytes, pc, iced_x86::DecoderOptions::NONE);
    let mut n = 0u32;
    let mut insn = iced_x86::Instruction::default();
    while dec.can_decode() {
        dec.decode_out(&mut insn);
        n += 1;
    }
    n.max(1)
}
