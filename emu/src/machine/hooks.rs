//! Code hooks: the table of callbacks by guest address, the [`HookContext`] a callback sees,
//! the dispatcher Unicorn calls, and keeping Unicorn's hooks in step with the table.

#[allow(unused_imports)]
use super::*;

/// Identifies a code hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HookId(u64);

/// A code-hook callback.
pub type HookFn = Box<dyn FnMut(&mut HookContext<'_>)>;

/// What a hook callback can see and do.
pub struct HookContext<'a> {
    pub(super) uc: &'a mut dyn Engine,
    pub(super) address: u64,
    /// Called by a timer at a block boundary (outside Unicorn's run), not by a code hook.
    pub(super) in_timer: bool,
}

/// The engine as hook callbacks see it (erases Unicorn's lifetime parameter).
pub(super) trait Engine {
    fn regs(&self) -> Result<Regs, uc_error>;
    fn cr3(&self) -> u64;
    fn state(&self) -> &MachineState;
    fn state_mut(&mut self) -> &mut MachineState;
    fn stop(&mut self);
}

impl Engine for Unicorn<'_, MachineState> {
    fn regs(&self) -> Result<Regs, uc_error> {
        Regs::read(self)
    }
    fn cr3(&self) -> u64 {
        self.reg_read(RegisterX86::CR3).unwrap_or(0)
    }
    fn state(&self) -> &MachineState {
        self.get_data()
    }
    fn state_mut(&mut self) -> &mut MachineState {
        self.get_data_mut()
    }
    fn stop(&mut self) {
        request_stop(self);
    }
}

impl std::fmt::Debug for HookContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookContext")
            .field("address", &self.address)
            .finish()
    }
}

impl HookContext<'_> {
    /// The hooked address (the instruction about to execute).
    pub fn address(&self) -> u64 {
        self.address
    }

    /// All registers, one batched read. RIP equals [`HookContext::address`].
    ///
    /// `None` when Unicorn cannot read them: the run then stops with
    /// [`StopReason::CpuError`] naming the address, and the hook must not go on (a filter is
    /// never handed made-up registers).
    pub fn regs(&mut self) -> Option<Regs> {
        match self.uc.regs() {
            Ok(mut r) => {
                r.rip = self.address;
                Some(r)
            }
            Err(e) => {
                let why = format!(
                    "cannot read the registers at hook {:#x}: {e:?}",
                    self.address
                );
                self.uc.state_mut().stop = Some(StopReason::CpuError(why));
                self.uc.stop();
                None
            }
        }
    }

    /// The current CR3 (for [`GuestMemory::read_virt`]).
    pub fn cr3(&self) -> u64 {
        self.uc.cr3()
    }

    /// Guest physical memory (and page-table walks through [`GuestMemory`]).
    pub fn memory(&self) -> &Ram {
        &self.uc.state().ram
    }

    /// A shared handle to guest RAM that outlives this callback (for helpers that read guest
    /// memory while a filter runs).
    pub fn ram_handle(&self) -> Rc<Ram> {
        self.uc.state().ram.clone()
    }

    /// Read guest virtual memory with the current CR3, without faulting the guest.
    pub fn read_virt(&self, va: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let cr3 = self.cr3();
        self.uc.state().ram.read_virt(cr3, va, buf)
    }

    /// Virtual time in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.uc.state().clock.now_ns()
    }

    /// Guest instructions executed so far (counted per block).
    pub fn instructions(&self) -> u64 {
        self.uc.state().clock.insns()
    }

    /// Stop the machine: `run` returns [`StopReason::HookRequest`] before this instruction
    /// executes (a timer: once the timers due now have fired).
    pub fn stop(&mut self) {
        let st = self.uc.state_mut();
        if st.stop.is_none() {
            st.stop = Some(StopReason::HookRequest);
        }
        if self.in_timer {
            // At a block boundary, outside Unicorn: the run loop sees the stop next.
            return;
        }
        st.hook_skip = Some(self.address);
        self.uc.stop();
    }

    /// Add a code hook; it fires the next time `addr` starts executing (if `addr` lies later
    /// in the current translated block it is first seen on the following execution).
    pub fn add_hook(&mut self, addr: u64, f: HookFn) -> HookId {
        let needs_sync = self.uc.state_mut().hooks.add(addr, f);
        let id = HookId(self.uc.state().hooks.next - 1);
        // A timer runs between blocks: the run loop installs the hook before going on.
        if needs_sync && !self.in_timer {
            let st = self.uc.state_mut();
            st.resync = true;
            st.hook_skip = Some(self.address);
            self.uc.stop();
        }
        id
    }

    /// Remove a code hook (also the one currently running). Returns false if unknown.
    pub fn remove_hook(&mut self, id: HookId) -> bool {
        self.uc.state_mut().hooks.remove(id)
    }
}

#[derive(Default)]
pub(super) struct HookTable {
    pub(super) next: u64,
    pub(super) by_addr: BTreeMap<u64, Vec<(HookId, HookFn)>>,
    pub(super) addr_of: HashMap<HookId, u64>,
    /// Hooks removed while their address was being dispatched.
    pub(super) removed_in_dispatch: HashSet<HookId>,
    /// Unicorn hooks installed, one per address.
    pub(super) installed: HashMap<u64, UcHookId>,
}

impl HookTable {
    /// Returns true if Unicorn needs a new hook for this address.
    pub(super) fn add(&mut self, addr: u64, f: HookFn) -> bool {
        let id = HookId(self.next);
        self.next += 1;
        self.by_addr.entry(addr).or_default().push((id, f));
        self.addr_of.insert(id, addr);
        !self.installed.contains_key(&addr)
    }

    pub(super) fn remove(&mut self, id: HookId) -> bool {
        let Some(addr) = self.addr_of.remove(&id) else {
            return false;
        };
        if let Some(v) = self.by_addr.get_mut(&addr) {
            let before = v.len();
            v.retain(|(i, _)| *i != id);
            if v.len() != before {
                if v.is_empty() {
                    self.by_addr.remove(&addr);
                }
                return true;
            }
        }
        self.removed_in_dispatch.insert(id);
        true
    }
}

pub(super) fn dispatch_hooks<'x>(uc: &mut Unicorn<'x, MachineState>, addr: u64) {
    if uc.get_data().hook_skip == Some(addr) {
        uc.get_data_mut().hook_skip = None;
        return;
    }
    let mut cbs = match uc.get_data_mut().hooks.by_addr.get_mut(&addr) {
        Some(v) => std::mem::take(v),
        None => return,
    };
    for (id, f) in cbs.iter_mut() {
        if uc.get_data().hooks.removed_in_dispatch.contains(id) {
            continue;
        }
        let mut ctx = HookContext {
            uc,
            address: addr,
            in_timer: false,
        };
        f(&mut ctx);
    }
    let hooks = &mut uc.get_data_mut().hooks;
    cbs.retain(|(id, _)| !hooks.removed_in_dispatch.remove(id));
    let added = hooks.by_addr.remove(&addr).unwrap_or_default();
    cbs.extend(added);
    if !cbs.is_empty() {
        hooks.by_addr.insert(addr, cbs);
    }
}

impl Machine {
    /// Add a code hook at `addr`; it fires each time the instruction at `addr` is about to
    /// execute, until removed.
    pub fn add_hook(&mut self, addr: u64, f: HookFn) -> HookId {
        self.uc.get_data_mut().hooks.add(addr, f);
        HookId(self.uc.get_data().hooks.next - 1)
    }

    /// Convenience wrapper for closures.
    pub fn add_hook_fn(
        &mut self,
        addr: u64,
        f: impl FnMut(&mut HookContext<'_>) + 'static,
    ) -> HookId {
        self.add_hook(addr, Box::new(f))
    }

    /// Remove a code hook. Returns false if it did not exist.
    pub fn remove_hook(&mut self, id: HookId) -> bool {
        self.uc.get_data_mut().hooks.remove(id)
    }

    pub(super) fn sync_hooks(&mut self) -> Result<(), EmuError> {
        let st = self.uc.get_data_mut();
        let want: Vec<u64> = st
            .hooks
            .by_addr
            .keys()
            .copied()
            .filter(|a| !st.hooks.installed.contains_key(a))
            .collect();
        let stale: Vec<(u64, UcHookId)> = st
            .hooks
            .installed
            .iter()
            .filter(|(a, _)| !st.hooks.by_addr.contains_key(a))
            .map(|(a, id)| (*a, *id))
            .collect();
        let changed = !stale.is_empty() || !want.is_empty();
        for (addr, id) in stale {
            self.uc.remove_hook(id).map_err(uc_err("remove hook"))?;
            self.uc.get_data_mut().hooks.installed.remove(&addr);
        }
        for addr in want {
            let id = self
                .uc
                .add_code_hook(addr, addr, |uc, a, _size| dispatch_hooks(uc, a))
                .map_err(uc_err("add hook"))?;
            self.uc.get_data_mut().hooks.installed.insert(addr, id);
        }
        // Translations made before a hook changed must go, and the whole cache is flushed
        // because the per-address alternative changes the guest: `uc_ctl_remove_cache` takes
        // a *virtual* address and translates it with `get_page_addr_code`, which on a TLB miss
        // walks the guest's page tables through the MMU (setting Accessed bits in guest RAM and
        // filling the TLB) or takes a guest fault. A Linux replay with one probe attached
        // diverged at its first checkpoint on exactly that (the boot page tables at 0x1000
        // and 0x3000). A full flush touches no guest state.
        if changed {
            self.uc.ctl_flush_tb().map_err(uc_err("flush TB"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The machine's engine, except that reading the registers fails.
    struct NoRegs<'a, 'x>(&'a mut Unicorn<'x, MachineState>);

    impl Engine for NoRegs<'_, '_> {
        fn regs(&self) -> Result<Regs, uc_error> {
            Err(uc_error::EXCEPTION)
        }
        fn cr3(&self) -> u64 {
            self.0.cr3()
        }
        fn state(&self) -> &MachineState {
            self.0.get_data()
        }
        fn state_mut(&mut self) -> &mut MachineState {
            self.0.get_data_mut()
        }
        fn stop(&mut self) {
            Engine::stop(self.0)
        }
    }

    /// A hook never gets made-up registers: when Unicorn cannot read them, `regs` is `None`
    /// and the run stops with a CPU error naming the hook's address.
    #[test]
    fn unreadable_registers_stop_the_run_instead_of_reaching_a_hook() {
        let mut m = Machine::new(&MachineConfig {
            mem_bytes: 1 << 20,
            cmdline: String::new(),
        })
        .expect("machine");
        let mut engine = NoRegs(&mut m.uc);
        let mut cx = HookContext {
            uc: &mut engine,
            address: 0xffff_ffff_8100_0000,
            in_timer: false,
        };
        assert!(cx.regs().is_none());
        match &m.uc.get_data().stop {
            Some(StopReason::CpuError(why)) => {
                assert!(why.contains("0xffffffff81000000"), "{why}");
                assert!(why.contains("registers"), "{why}");
            }
            other => panic!("expected a CPU error stop, got {other:?}"),
        }
        let mut ok = HookContext {
            uc: &mut m.uc,
            address: 0x1000,
            in_timer: false,
        };
        assert_eq!(ok.regs().map(|r| r.rip), Some(0x1000), "a readable engine");
    }
}
