//! Snapshots: the CPU context, RAM, devices and clock, taken and restored whole.

#[allow(unused_imports)]
use super::*;

/// A snapshot of the whole machine, in memory.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(super) ram: Vec<u8>,
    pub(super) cpu: Vec<u8>,
    pub(super) devices: Devices,
    pub(super) insns: u64,
    pub(super) idle_ns: u64,
}

impl Snapshot {
    /// Guest RAM as captured.
    pub fn ram(&self) -> &[u8] {
        &self.ram
    }

    /// Unicorn's saved CPU context (registers, descriptor tables, MSRs, FPU/SSE state): plain
    /// data for this pinned Unicorn version, checked by size when restored.
    pub fn cpu_context(&self) -> &[u8] {
        &self.cpu
    }

    /// Device states.
    pub fn devices(&self) -> &Devices {
        &self.devices
    }

    /// Instructions executed when the snapshot was taken.
    pub fn insns(&self) -> u64 {
        self.insns
    }

    /// Idle virtual time skipped when the snapshot was taken (virtual time = insns + idle).
    pub fn idle_ns(&self) -> u64 {
        self.idle_ns
    }

    /// Rebuild a snapshot from its parts (e.g. read back from a recording); checked against the
    /// machine when restored.
    pub fn from_parts(
        ram: Vec<u8>,
        cpu_context: Vec<u8>,
        devices: Devices,
        insns: u64,
        idle_ns: u64,
    ) -> Self {
        Self {
            ram,
            cpu: cpu_context,
            devices,
            insns,
            idle_ns,
        }
    }
}

impl Machine {
    /// Capture the whole machine: RAM, CPU context (registers, control registers, MSRs,
    /// descriptor tables), devices and the clock.
    pub fn snapshot(&mut self) -> Result<Snapshot, EmuError> {
        let h = self.uc.get_handle();
        let st = self.uc.get_data_mut();
        let Some(ctx) = st.scratch.as_mut() else {
            return Err(EmuError::Unicorn {
                what: "scratch context",
                err: uc_error::NOMEM,
            });
        };
        ctx.save(h).map_err(uc_err("context save"))?;
        Ok(Snapshot {
            ram: self.ram.to_vec(),
            cpu: ctx.data().to_vec(),
            devices: st.devices.clone(),
            insns: self.clock.insns(),
            idle_ns: self.clock.idle_ns(),
        })
    }

    /// Return to a snapshot taken from this machine (or one with the same RAM size).
    pub fn restore(&mut self, snap: &Snapshot) -> Result<(), EmuError> {
        if !self.ram.restore_from(&snap.ram) {
            return Err(EmuError::Snapshot(format!(
                "RAM is {} bytes, snapshot has {}",
                self.ram.len(),
                snap.ram.len()
            )));
        }
        let h = self.uc.get_handle();
        let st = self.uc.get_data_mut();
        let Some(ctx) = st.scratch.as_mut() else {
            return Err(EmuError::Unicorn {
                what: "scratch context",
                err: uc_error::NOMEM,
            });
        };
        if ctx.data().len() != snap.cpu.len() {
            return Err(EmuError::Snapshot("CPU context size differs".into()));
        }
        ctx.data_mut().copy_from_slice(&snap.cpu);
        ctx.restore(h).map_err(uc_err("context restore"))?;
        st.devices = snap.devices.clone();
        st.stop = None;
        st.hook_skip = None;
        self.clock.set_state(snap.insns, snap.idle_ns);
        let now = self.clock.now_ns();
        self.uc.get_data_mut().timers.rebase(now);
        self.uc.ctl_flush_tb().map_err(uc_err("flush TB"))?;
        self.uc.ctl_flush_tlb().map_err(uc_err("flush TLB"))?;
        Ok(())
    }
}
