//! Timers: host callbacks at a fixed period of virtual time (profilers sampling at N Hz,
//! periodic output), which the guest never notices.
//!
//! A timer is due at virtual times `start + k * period`. Its next due time joins the run
//! loop's deadline, so the block hook stops Unicorn *before* the first block that starts at or
//! after it, exactly as for a device's timer event; the loop then fires every due timer with a
//! [`HookContext`] whose address is the RIP about to execute (the interrupted instruction, as
//! a `perf_event` sample sees it) and goes on. That extra stop is invisible to the guest: the
//! loop delivers nothing there that it would not deliver anyway (a pending interrupt waits for
//! the block boundary where IF=1, device events and input have deadlines of their own), so the
//! instruction stream, the console and every checkpoint are those of a run without the timer
//! (`emu/tests/timers.rs` checks it).
//!
//! Timers are not fired at a stop inside a block (a code hook asked for it): they fire at the
//! next block boundary, where they would without the hook. While the guest idles in `hlt`,
//! skipped idle time fires each period that passes, with RIP after the `hlt` (where a
//! sampling interrupt would find an idle CPU). A sample that falls inside a block fires at the
//! block's end, once: periods missed within one block are skipped, as an overrun `hrtimer`
//! skips them. Restoring a snapshot re-bases every timer to one period after the restored
//! time.

#[allow(unused_imports)]
use super::*;

/// Identifies a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(u64);

/// A timer callback. Its [`HookContext`] reads registers and memory as a code hook's does;
/// [`HookContext::stop`] ends the run after the timers due now have fired.
pub type TimerFn = Box<dyn FnMut(&mut HookContext<'_>)>;

struct Timer {
    id: TimerId,
    period_ns: u64,
    next_ns: u64,
    /// `None` while the callback runs (it may add or remove timers meanwhile).
    f: Option<TimerFn>,
}

#[derive(Default)]
pub(super) struct TimerTable {
    next: u64,
    timers: Vec<Timer>,
}

impl TimerTable {
    /// The earliest due time.
    pub(super) fn next_due(&self) -> Option<u64> {
        self.timers.iter().map(|t| t.next_ns).min()
    }

    /// After a snapshot is restored: a timer whose next due time is not within one period
    /// after `now` is due one period after it.
    pub(super) fn rebase(&mut self, now: u64) {
        for t in &mut self.timers {
            if t.next_ns <= now || t.next_ns > now.saturating_add(t.period_ns) {
                t.next_ns = now.saturating_add(t.period_ns);
            }
        }
    }

    /// The first timer due at or before `now`, taken out to run.
    fn take_due(&mut self, now: u64) -> Option<(TimerId, TimerFn)> {
        let t = self
            .timers
            .iter_mut()
            .filter(|t| t.next_ns <= now && t.f.is_some())
            .min_by_key(|t| (t.next_ns, t.id))?;
        // Skip the periods missed within one block (at most one firing per stop).
        let missed = (now - t.next_ns) / t.period_ns;
        t.next_ns = t
            .next_ns
            .saturating_add(t.period_ns.saturating_mul(missed + 1));
        Some((t.id, t.f.take()?))
    }

    fn put_back(&mut self, id: TimerId, f: TimerFn) {
        if let Some(t) = self.timers.iter_mut().find(|t| t.id == id) {
            t.f = Some(f);
        }
    }
}

/// Fires every timer due at or before the current virtual time, with `rip` as the address.
pub(super) fn fire_due_timers<'x>(uc: &mut Unicorn<'x, MachineState>, rip: u64) {
    loop {
        let now = uc.get_data().clock.now_ns();
        let Some((id, mut f)) = uc.get_data_mut().timers.take_due(now) else {
            return;
        };
        let mut ctx = HookContext {
            uc,
            address: rip,
            in_timer: true,
        };
        f(&mut ctx);
        uc.get_data_mut().timers.put_back(id, f);
    }
}

impl Machine {
    /// Adds a timer that fires every `period_ns` of virtual time (at least 1), first one
    /// period from now, until removed.
    pub fn add_timer(&mut self, period_ns: u64, f: TimerFn) -> TimerId {
        let period_ns = period_ns.max(1);
        let now = self.clock.now_ns();
        let timers = &mut self.uc.get_data_mut().timers;
        let id = TimerId(timers.next);
        timers.next += 1;
        timers.timers.push(Timer {
            id,
            period_ns,
            next_ns: now.saturating_add(period_ns),
            f: Some(f),
        });
        id
    }

    /// Removes a timer. Returns false if it did not exist.
    pub fn remove_timer(&mut self, id: TimerId) -> bool {
        let timers = &mut self.uc.get_data_mut().timers.timers;
        let before = timers.len();
        timers.retain(|t| t.id != id);
        timers.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(periods: &[(u64, u64)]) -> TimerTable {
        let mut t = TimerTable::default();
        for &(period_ns, next_ns) in periods {
            let id = TimerId(t.next);
            t.next += 1;
            t.timers.push(Timer {
                id,
                period_ns,
                next_ns,
                f: Some(Box::new(|_| {})),
            });
        }
        t
    }

    #[test]
    fn due_timers_fire_in_time_order_once_per_stop() {
        let mut t = table(&[(100, 300), (50, 250)]);
        assert_eq!(t.next_due(), Some(250));
        assert!(t.take_due(249).is_none());
        // Both due at 420: the earlier one first; each skips the periods it missed.
        let (a, fa) = t.take_due(420).unwrap();
        assert_eq!(a, TimerId(1));
        let (b, fb) = t.take_due(420).unwrap();
        assert_eq!(b, TimerId(0));
        assert!(
            t.take_due(420).is_none(),
            "running timers are not taken twice"
        );
        t.put_back(a, fa);
        t.put_back(b, fb);
        assert!(t.take_due(420).is_none());
        assert_eq!(t.timers[1].next_ns, 450);
        assert_eq!(t.timers[0].next_ns, 500);
    }

    #[test]
    fn rebase_after_restore_keeps_one_period_ahead() {
        let mut t = table(&[(100, 5_000), (100, 1_050)]);
        t.rebase(1_000);
        assert_eq!(t.timers[0].next_ns, 1_100, "restored to an earlier time");
        assert_eq!(t.timers[1].next_ns, 1_050, "already within a period: kept");
        t.rebase(2_000);
        assert_eq!(t.timers[1].next_ns, 2_100, "restored to a later time");
    }
}
