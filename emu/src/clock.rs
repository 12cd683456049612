//! The virtual clock: time derived from executed guest work, never from the host clock.
//!
//! A block hook runs at the start of every translated block and adds the block's instruction
//! count (decoded once per block address and cached) to `insns`. Virtual time in nanoseconds is
//! `insns * NS_PER_INSN + idle_ns`, where `idle_ns` grows only when `hlt` skips ahead to the
//! next timer event. The same hook compares the count against a deadline (next timer event or
//! budget) and asks Unicorn to stop *before* the block that starts at or after the deadline;
//! that block is then un-counted, since it will run (and be counted) after the restart.
//!
//! Stops requested in the middle of a block (a code hook, an `out` that raised an interrupt,
//! the exit port) leave the block's tail counted but not executed: [`Clock::uncount_tail`]
//! takes it back, so the count is exact at every stop. When execution resumes in the middle of
//! a block because a hook asked for the stop, that first partial block is exempt from the
//! deadline and interrupt checks ([`Clock::exempt_block`]): the guest then sees timer events at
//! the same block boundaries as a run without the hook.
//!
//! Instruction lengths come from iced-x86's decoder, not from the REPL's capstone: this runs
//! in the block hook of every block (hot, so a pure-Rust decoder without a C library and
//! without allocation per instruction), the recorded runs' instruction counts depend on it
//! (changing decoders could change them), and iced-x86's assembler also builds the emu tests'
//! guest code. The REPL keeps capstone for `disas`'s AT&T/Intel text and operand details.

use crate::memory::{GuestMemory, Ram};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Virtual nanoseconds per guest instruction (a 1 GHz, 1-IPC virtual CPU; the TSC runs at 1 GHz).
pub const NS_PER_INSN: u64 = 1;
const CACHE_SLOTS: usize = 1 << 12;

#[derive(Clone, Copy, Default)]
struct CacheEntry {
    pc: u64,
    size: u32,
    icount: u32,
}

/// Shared between the machine and the raw block/RDTSC hooks (interior mutability only, so the
/// hooks can hold a shared reference while the machine holds another).
///
/// The block hook's fast path is one compare against `trigger` plus one cache probe: `trigger`
/// is the instruction deadline, lowered to 0 whenever something needs the slow path (a stop
/// was requested by a hook or by the host, or an interrupt waits for IF=1).
pub(crate) struct Clock {
    insns: Cell<u64>,
    idle_ns: Cell<u64>,
    /// Stop before a block once `insns` has reached this (next timer event or budget).
    deadline: Cell<u64>,
    /// Fast-path trigger: `deadline`, or 0 to force the slow path. Atomic so that a
    /// [`crate::StopHandle`] on another thread can force it.
    trigger: Arc<AtomicU64>,
    /// An interrupt is pending while IF may be 0: stop as soon as a block starts with IF=1.
    irq_waiting: Cell<bool>,
    /// Set by the block hook when it requested a stop.
    stopped: Cell<bool>,
    /// Some hook asked Unicorn to stop: a block hook that still runs before the stop takes
    /// effect (Unicorn calls it before the block's exit check) must not count its block.
    stop_pending: Cell<bool>,
    /// The last block counted (start, size in bytes); size 0 once a block was refused.
    last: Cell<(u64, u32)>,
    /// A block starting here is counted without deadline or interrupt checks (once).
    exempt: Cell<Option<u64>>,
    host_stop: Arc<AtomicBool>,
    /// Host console input arrived (a live stream): stop at the next block to inject it.
    host_input: Arc<AtomicBool>,
    cache: Box<[Cell<CacheEntry>]>,
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

impl Clock {
    pub(crate) fn new(
        ram: Rc<Ram>,
        host_stop: Arc<AtomicBool>,
        host_input: Arc<AtomicBool>,
        trigger: Arc<AtomicU64>,
    ) -> Self {
        Self {
            insns: Cell::new(0),
            idle_ns: Cell::new(0),
            deadline: Cell::new(u64::MAX),
            trigger,
            irq_waiting: Cell::new(false),
            stopped: Cell::new(false),
            stop_pending: Cell::new(false),
            last: Cell::new((0, 0)),
            exempt: Cell::new(None),
            host_stop,
            host_input,
            cache: (0..CACHE_SLOTS)
                .map(|_| Cell::new(CacheEntry::default()))
                .collect(),
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

    fn update_trigger(&self) {
        let force = self.stop_pending.get()
            || self.irq_waiting.get()
            || self.exempt.get().is_some()
            || self.host_attention();
        let t = if force { 0 } else { self.deadline.get() };
        self.trigger.store(t, Ordering::Relaxed);
        // A host stop or input that raced with the store above must still force the slow path.
        if self.host_attention() {
            self.trigger.store(0, Ordering::Relaxed);
        }
    }

    fn host_attention(&self) -> bool {
        self.host_stop.load(Ordering::Relaxed) || self.host_input.load(Ordering::Relaxed)
    }

    /// Deadline as a virtual time; converted to an instruction count.
    pub(crate) fn set_deadline_ns(&self, ns: u64) {
        let insns = ns.saturating_sub(self.idle_ns.get()).div_ceil(NS_PER_INSN);
        self.deadline.set(insns);
        self.update_trigger();
    }

    /// Move the deadline earlier if `ns` comes first (a device was reprogrammed mid-run).
    pub(crate) fn lower_deadline_ns(&self, ns: u64) {
        let insns = ns.saturating_sub(self.idle_ns.get()).div_ceil(NS_PER_INSN);
        if insns < self.deadline.get() {
            self.deadline.set(insns);
            self.update_trigger();
        }
    }

    pub(crate) fn set_deadline_insns(&self, insns: u64) {
        self.deadline.set(self.deadline.get().min(insns));
        self.update_trigger();
    }

    pub(crate) fn set_irq_waiting(&self, w: bool) {
        self.irq_waiting.set(w);
        self.update_trigger();
    }

    pub(crate) fn take_stopped(&self) -> bool {
        self.stopped.replace(false)
    }

    /// Record that a hook called `emu_stop`.
    pub(crate) fn note_stop_requested(&self) {
        self.stop_pending.set(true);
        self.trigger.store(0, Ordering::Relaxed);
    }

    /// Called before each `emu_start`.
    pub(crate) fn clear_stop_pending(&self) {
        self.stop_pending.set(false);
        self.stopped.set(false);
        self.update_trigger();
    }

    /// The block hook's fast path: count a cached block below the trigger. False means
    /// "take the slow path" ([`Clock::on_block_slow`]).
    #[inline(always)]
    pub(crate) fn on_block_fast(&self, pc: u64, size: u32) -> bool {
        let before = self.insns.get();
        if before >= self.trigger.load(Ordering::Relaxed) {
            return false;
        }
        let e = self.cache[slot(pc)].get();
        if e.pc != pc || e.size != size {
            return false;
        }
        self.insns.set(before + u64::from(e.icount));
        self.last.set((pc, size));
        true
    }

    /// The run stopped at `rip` without the block hook asking: if `rip` lies inside the last
    /// counted block, the instructions from `rip` to the block's end were counted but did not
    /// run; take them back. Returns how many.
    pub(crate) fn uncount_tail(&self, rip: u64, cr3: u64) -> u64 {
        let (pc, size) = self.last.replace((0, 0));
        if size == 0 || rip < pc || rip >= pc + u64::from(size) {
            return 0;
        }
        let (total, before_rip) = count_until(&self.ram, cr3, pc, size, rip);
        let tail = u64::from(total - before_rip);
        self.insns.set(self.insns.get().saturating_sub(tail));
        tail
    }

    /// Count the next block if it starts at `pc` without stopping for deadlines or waiting
    /// interrupts (execution resumes mid-block after a hook-requested stop).
    pub(crate) fn exempt_block(&self, pc: u64) {
        self.exempt.set(Some(pc));
        self.trigger.store(0, Ordering::Relaxed);
    }

    /// The block hook's slow path. Returns true if Unicorn must stop before this block.
    /// `cr3` is read on a cache miss; `interruptible` (RFLAGS.IF) only if an IRQ is waiting.
    #[cold]
    #[inline(never)]
    pub(crate) fn on_block_slow(
        &self,
        pc: u64,
        size: u32,
        cr3: impl FnOnce() -> u64,
        interruptible: impl FnOnce() -> bool,
    ) -> bool {
        let before = self.insns.get();
        if self.stop_pending.get() {
            self.last.set((0, 0));
            return true;
        }
        if self.exempt.take() == Some(pc) {
            self.update_trigger();
            let n = self.icount(pc, size, cr3);
            self.insns.set(before + n);
            self.last.set((pc, size));
            return false;
        }
        self.exempt.set(None);
        if before >= self.deadline.get() || self.host_attention() {
            self.stopped.set(true);
            self.note_stop_requested();
            self.last.set((0, 0));
            return true;
        }
        let n = self.icount(pc, size, cr3);
        if self.irq_waiting.get() && interruptible() {
            // Stop before this block (not counted: it runs after the interrupt is delivered).
            self.stopped.set(true);
            self.note_stop_requested();
            self.last.set((0, 0));
            return true;
        }
        self.insns.set(before + n);
        self.last.set((pc, size));
        false
    }

    fn icount(&self, pc: u64, size: u32, cr3: impl FnOnce() -> u64) -> u64 {
        let i = slot(pc);
        let e = self.cache[i].get();
        if e.pc == pc && e.size == size && e.icount != 0 {
            return u64::from(e.icount);
        }
        let icount = count_instructions(&self.ram, cr3(), pc, size);
        self.cache[i].set(CacheEntry { pc, size, icount });
        u64::from(icount)
    }
}

#[inline(always)]
fn slot(pc: u64) -> usize {
    ((pc ^ (pc >> 12)) as usize) & (CACHE_SLOTS - 1)
}

/// Decode the block's bytes to count its instructions (once per block; cached).
fn count_instructions(ram: &Ram, cr3: u64, pc: u64, size: u32) -> u32 {
    count_until(ram, cr3, pc, size, u64::MAX).0
}

/// Instructions in the block at `pc`, and how many of them start before `stop`.
fn count_until(ram: &Ram, cr3: u64, pc: u64, size: u32, stop: u64) -> (u32, u32) {
    let mut bytes = vec![0u8; size as usize];
    if size == 0 || ram.read_virt(cr3, pc, &mut bytes).is_err() {
        return (1, u32::from(stop > pc));
    }
    let mut dec = iced_x86::Decoder::with_ip(64, &bytes, pc, iced_x86::DecoderOptions::NONE);
    let (mut n, mut before) = (0u32, 0u32);
    let mut insn = iced_x86::Instruction::default();
    while dec.can_decode() {
        dec.decode_out(&mut insn);
        n += 1;
        if insn.ip() < stop {
            before += 1;
        }
    }
    (n.max(1), before.min(n.max(1)))
}
