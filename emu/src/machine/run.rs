//! The run loop: Unicorn runs translated blocks; between them the machine delivers
//! interrupts, pumps input, honours budgets and idles the clock through `hlt`.

#[allow(unused_imports)]
use super::*;

pub(super) fn request_stop<'x>(uc: &mut Unicorn<'x, MachineState>) {
    uc.get_data().clock.note_stop_requested();
    let _ = uc.emu_stop();
}

/// Run `f` with a delivery environment borrowed from the machine state.
pub(super) fn with_env<'x, R>(
    uc: &mut Unicorn<'x, MachineState>,
    f: impl FnOnce(&mut Unicorn<'x, MachineState>, &mut Env<'_>) -> R,
) -> Option<R> {
    let h = uc.get_handle();
    let (ram, layout, mut ctx) = uc.get_data_mut().env_parts(h)?;
    let r = {
        let mut env = Env {
            ram: &ram,
            layout,
            ctx: &mut ctx,
        };
        f(uc, &mut env)
    };
    uc.get_data_mut().scratch = Some(ctx);
    Some(r)
}

pub(super) fn deliver_or_stop<'x>(uc: &mut Unicorn<'x, MachineState>, ev: Event) {
    let res = with_env(uc, |uc, env| deliver::deliver(uc, env, ev)).unwrap_or_else(|| {
        Err(deliver::TripleFault {
            first: ev,
            why: "cannot allocate a CPU context".into(),
        })
    });
    if let Err(tf) = res {
        let vector = match tf.first {
            Event::Exception { vector, .. }
            | Event::Software { vector }
            | Event::External { vector } => vector,
        };
        uc.get_data_mut().stop = Some(StopReason::TripleFault {
            vector,
            detail: tf.why,
        });
        request_stop(uc);
    }
}

pub(super) fn on_interrupt<'x>(uc: &mut Unicorn<'x, MachineState>, intno: u32) {
    let Ok(vector) = u8::try_from(intno) else {
        uc.get_data_mut().stop = Some(StopReason::CpuError(format!(
            "unknown exception number {intno}"
        )));
        request_stop(uc);
        return;
    };
    let h = uc.get_handle();
    let (is_int, code) = with_env(uc, |_, env| {
        if env.ctx.save(h).is_ok() {
            (
                env.layout.exception_is_int(env.ctx),
                env.layout.error_code(env.ctx),
            )
        } else {
            (false, 0)
        }
    })
    .unwrap_or((false, 0));
    let ev = if is_int {
        Event::Software { vector }
    } else {
        Event::Exception {
            vector,
            error_code: has_error_code(vector).then_some(code),
        }
    };
    deliver_or_stop(uc, ev);
}

impl Machine {
    /// Run the guest until a stop condition. Never panics on guest behaviour.
    pub fn run(&mut self, limits: Limits) -> StopReason {
        let host_start = Instant::now();
        let reason = self.run_inner(limits);
        self.uc.get_data_mut().flush_console();
        self.stats.host_time += host_start.elapsed();
        reason
    }

    pub(super) fn run_inner(&mut self, limits: Limits) -> StopReason {
        let insn_limit = limits
            .max_insns
            .map(|n| self.clock.insns().saturating_add(n));
        let time_limit = limits
            .max_virtual_ns
            .map(|n| self.clock.now_ns().saturating_add(n));
        loop {
            self.progress.store(self.clock.now_ns(), Ordering::Relaxed);
            if self.host_stop.swap(false, Ordering::Relaxed) {
                return StopReason::HostRequest;
            }
            if let Some(r) = self.uc.get_data_mut().stop.take() {
                return r;
            }
            let rip = match self.uc.reg_read(RegisterX86::RIP) {
                Ok(r) => r,
                Err(e) => return StopReason::CpuError(format!("{e:?}")),
            };
            // Resuming in the middle of a block after a hook-requested stop: the guest must not
            // notice the stop, so no interrupt or input is delivered here and the partial block
            // is exempt from deadline checks; pending events land at the next block boundary,
            // as they would have without the hook.
            let hook_resume = self.uc.get_data().hook_skip == Some(rip);
            // Timers due by now fire at a block boundary (even one where the run then ends),
            // seeing the instruction about to run before any interrupt is delivered (the
            // interrupted context, as a sampling interrupt sees it).
            let now = self.clock.now_ns();
            if !hook_resume
                && self
                    .uc
                    .get_data()
                    .timers
                    .next_due()
                    .is_some_and(|t| t <= now)
            {
                timers::fire_due_timers(&mut self.uc, rip);
                if let Some(r) = self.uc.get_data_mut().stop.take() {
                    return r;
                }
            }
            if insn_limit.is_some_and(|l| self.clock.insns() >= l) {
                return StopReason::InsnBudget;
            }
            if time_limit.is_some_and(|l| self.clock.now_ns() >= l) {
                return StopReason::TimeBudget;
            }
            if let Err(e) = self.sync_hooks() {
                return StopReason::CpuError(e.to_string());
            }
            if hook_resume {
                let pending = self.uc.get_data().devices.pic.has_interrupt();
                self.clock.set_irq_waiting(pending);
            } else {
                self.uc.get_data_mut().hook_skip = None;
                self.pump_input();
                self.deliver_pending_interrupt();
                if let Some(r) = self.uc.get_data_mut().stop.take() {
                    return r;
                }
            }
            let st = self.uc.get_data();
            let deadline = [
                st.devices.next_event_ns(),
                st.input.next_due_ns(),
                st.timers.next_due(),
                time_limit,
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(u64::MAX);
            self.clock.set_deadline_ns(deadline);
            if let Some(l) = insn_limit {
                self.clock.set_deadline_insns(l);
            }
            let rip = match self.uc.reg_read(RegisterX86::RIP) {
                Ok(r) => r,
                Err(e) => return StopReason::CpuError(format!("{e:?}")),
            };
            self.clock.clear_stop_pending();
            if hook_resume {
                self.clock.exempt_block(rip);
            }
            self.uc.get_data_mut().resync = false;
            self.stats.restarts += 1;
            let res = self.uc.emu_start(rip, NO_UNTIL, 0, 0);
            let st = self.uc.get_data_mut();
            st.flush_console();
            let clock_stop = self.clock.take_stopped();
            let resync = std::mem::take(&mut st.resync);
            if res.is_ok() && !clock_stop {
                // A stop requested mid-block (code hook, `out`, exit port) or `hlt`: make the
                // instruction count exact at the stop.
                let rip = self.uc.reg_read(RegisterX86::RIP).unwrap_or(0);
                let cr3 = self.uc.reg_read(RegisterX86::CR3).unwrap_or(0);
                self.clock.uncount_tail(rip, cr3);
            }
            let st = self.uc.get_data_mut();
            match res {
                Err(e) => {
                    if let Some(r) = st.stop.take() {
                        return r;
                    }
                    if let Some((addr, access)) = st.unmapped.take() {
                        return StopReason::OutsideRam { addr, access };
                    }
                    return StopReason::CpuError(format!("{e:?}"));
                }
                Ok(()) => {
                    if clock_stop
                        || resync
                        || st.stop.is_some()
                        || self.host_stop.load(Ordering::Relaxed)
                    {
                        continue;
                    }
                    // Unicorn returns Ok without a stop request only after `hlt` (RIP is past
                    // it). Anything else is unexpected: report it rather than skip time.
                    let rip = self.uc.reg_read(RegisterX86::RIP).unwrap_or(0);
                    let mut byte = [0u8; 1];
                    let after_hlt =
                        self.read_virt(rip.wrapping_sub(1), &mut byte).is_ok() && byte[0] == 0xf4;
                    if !after_hlt {
                        return StopReason::CpuError(format!(
                            "emulation ended unexpectedly at {rip:#x}"
                        ));
                    }
                    if let Some(r) = self.on_hlt(time_limit) {
                        return r;
                    }
                }
            }
        }
    }

    /// The PIC's INTR line, sampled between blocks: deliver if IF=1, else arm the block hook
    /// to stop as soon as a block starts with IF=1.
    pub(super) fn deliver_pending_interrupt(&mut self) {
        let now = self.clock.now_ns();
        let st = self.uc.get_data_mut();
        st.devices.advance(now);
        if !st.devices.pic.has_interrupt() {
            self.clock.set_irq_waiting(false);
            return;
        }
        let rflags = self.uc.reg_read(RegisterX86::RFLAGS).unwrap_or(0);
        if rflags & RFLAGS_IF == 0 {
            self.clock.set_irq_waiting(true);
            return;
        }
        self.clock.set_irq_waiting(false);
        if let Some(vector) = self.uc.get_data_mut().devices.pic.acknowledge() {
            self.stats.interrupts += 1;
            deliver_or_stop(&mut self.uc, Event::External { vector });
        }
    }

    /// `emu_start` returned without a stop request: the guest executed `hlt`. Skip idle
    /// virtual time to the next event (timer or scripted input). With a live input stream
    /// attached, idle time passes no faster than host time, and input arriving meanwhile
    /// wakes the guest (its moment is recorded in the input log).
    pub(super) fn on_hlt(&mut self, time_limit: Option<u64>) -> Option<StopReason> {
        let rflags = self.uc.reg_read(RegisterX86::RFLAGS).unwrap_or(0);
        if rflags & RFLAGS_IF == 0 {
            return Some(StopReason::HaltedIrqsOff);
        }
        loop {
            let st = self.uc.get_data_mut();
            if st.devices.pic.has_interrupt() {
                return None;
            }
            let timer_masked = st.devices.pic.master.imr() & 1 != 0;
            let timer = st.devices.next_event_ns().filter(|_| !timer_masked);
            let input_due = st.input.next_due_ns();
            let live = st.input.live();
            let next = match [timer, input_due].into_iter().flatten().min() {
                Some(t) => t,
                None if live => u64::MAX,
                None => return Some(StopReason::Halted),
            };
            // A timer due before the next event fires while the CPU idles.
            let timer = st.timers.next_due().filter(|t| *t < next);
            let target = next
                .min(time_limit.unwrap_or(u64::MAX))
                .min(timer.unwrap_or(u64::MAX));
            if live {
                const IDLE_POLL: Duration = Duration::from_millis(50);
                let now = self.clock.now_ns();
                let wait = Duration::from_nanos(target.saturating_sub(now)).min(IDLE_POLL);
                let start = Instant::now();
                let arrived = self.uc.get_data_mut().input.wait_idle(wait);
                let waited = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                let reached = now.saturating_add(waited);
                if arrived {
                    self.clock.skip_to(reached.min(target.saturating_sub(1)));
                    return None;
                }
                if self.host_stop.load(Ordering::Relaxed) {
                    return None;
                }
                if reached < target {
                    self.clock.skip_to(reached);
                    continue;
                }
            }
            if let Some(l) = time_limit.filter(|l| *l < next && timer.is_none_or(|t| *l < t)) {
                self.clock.skip_to(l);
                return Some(StopReason::TimeBudget);
            }
            if let Some(t) = timer {
                self.clock.skip_to(t);
                let rip = self.uc.reg_read(RegisterX86::RIP).unwrap_or(0);
                timers::fire_due_timers(&mut self.uc, rip);
                if let Some(r) = self.uc.get_data_mut().stop.take() {
                    return Some(r);
                }
                continue;
            }
            self.clock.skip_to(next);
            if input_due.is_some_and(|t| t <= next) {
                return None;
            }
            let now = self.clock.now_ns();
            self.uc.get_data_mut().devices.advance(now);
        }
    }
}
