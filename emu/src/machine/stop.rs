//! Why a run stops and how to ask it to: budgets ([`Limits`]), [`StopReason`] with its
//! report, and the cross-thread [`StopHandle`].

#[allow(unused_imports)]
use super::*;

/// Budgets for one [`Machine::run`] call, relative to where the run starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Stop after this many more guest instructions (checked at block boundaries).
    pub max_insns: Option<u64>,
    /// Stop after this much more virtual time in nanoseconds.
    pub max_virtual_ns: Option<u64>,
}

impl Limits {
    /// No budget: run until the guest stops or the host asks.
    pub fn none() -> Self {
        Self::default()
    }

    /// An instruction budget.
    pub fn insns(n: u64) -> Self {
        Self {
            max_insns: Some(n),
            ..Self::default()
        }
    }

    /// A virtual-time budget.
    pub fn virtual_time(d: Duration) -> Self {
        Self {
            max_virtual_ns: Some(d.as_nanos().min(u128::from(u64::MAX)) as u64),
            ..Self::default()
        }
    }
}

/// Why [`Machine::run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The guest wrote this value to the exit port.
    Exit(u32),
    /// The guest reset the machine (i8042 command 0xFE).
    Reset,
    /// Delivering an exception failed even through #DF.
    TripleFault {
        /// The vector whose delivery failed.
        vector: u8,
        /// Why.
        detail: String,
    },
    /// `hlt` with interrupts enabled but nothing that could ever raise one (no timer, no input).
    Halted,
    /// `hlt` with interrupts disabled: the guest stopped itself for good. This is how a PC
    /// without ACPI powers off (Linux `poweroff` prints "reboot: System halted" and does
    /// this). Not counted as a crash; the console says whether it was a panic.
    HaltedIrqsOff,
    /// The instruction budget was used up.
    InsnBudget,
    /// The virtual-time budget was used up.
    TimeBudget,
    /// The host asked to stop (a [`StopHandle`], e.g. from a Ctrl-C handler).
    HostRequest,
    /// A code hook asked to stop.
    HookRequest,
    /// The guest touched physical memory outside RAM.
    OutsideRam {
        /// Physical address.
        addr: u64,
        /// "read", "write" or "fetch".
        access: &'static str,
    },
    /// Unicorn reported an error we cannot turn into a guest exception.
    CpuError(String),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Exit(c) => write!(f, "exit port, code {c}"),
            StopReason::Reset => write!(f, "guest reset"),
            StopReason::TripleFault { vector, detail } => {
                write!(f, "triple fault (vector {vector}: {detail})")
            }
            StopReason::Halted => write!(f, "guest halted forever (no interrupt source left)"),
            StopReason::HaltedIrqsOff => {
                write!(f, "guest halted with interrupts disabled (powered off)")
            }
            StopReason::InsnBudget => write!(f, "instruction budget reached"),
            StopReason::TimeBudget => write!(f, "virtual-time budget reached"),
            StopReason::HostRequest => write!(f, "stopped by host request"),
            StopReason::HookRequest => write!(f, "stopped by a hook"),
            StopReason::OutsideRam { addr, access } => {
                write!(f, "{access} of physical {addr:#x} outside guest RAM")
            }
            StopReason::CpuError(e) => write!(f, "CPU error: {e}"),
        }
    }
}

impl StopReason {
    /// True for stops that mean the guest crashed.
    pub fn is_crash(&self) -> bool {
        matches!(
            self,
            StopReason::TripleFault { .. }
                | StopReason::OutsideRam { .. }
                | StopReason::CpuError(_)
                | StopReason::Halted
        )
    }
}

/// Everything needed to explain a stop.
#[derive(Debug, Clone)]
pub struct StopReport {
    /// Why.
    pub reason: StopReason,
    /// Registers at the stop (RIP for the embedder to symbolise).
    pub regs: Regs,
    /// The last lines the guest printed.
    pub console_tail: Vec<String>,
}

impl std::fmt::Display for StopReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.regs;
        writeln!(f, "stop: {}", self.reason)?;
        writeln!(
            f,
            "RIP {:#018x} RSP {:#018x} RFLAGS {:#x} CS {:#x} SS {:#x}",
            r.rip, r.rsp, r.rflags, r.cs, r.ss
        )?;
        writeln!(
            f,
            "RAX {:#018x} RBX {:#018x} RCX {:#018x} RDX {:#018x}",
            r.rax, r.rbx, r.rcx, r.rdx
        )?;
        writeln!(
            f,
            "RSI {:#018x} RDI {:#018x} RBP {:#018x} R8  {:#018x}",
            r.rsi, r.rdi, r.rbp, r.r8
        )?;
        writeln!(
            f,
            "R9  {:#018x} R10 {:#018x} R11 {:#018x} R12 {:#018x}",
            r.r9, r.r10, r.r11, r.r12
        )?;
        writeln!(
            f,
            "R13 {:#018x} R14 {:#018x} R15 {:#018x}",
            r.r13, r.r14, r.r15
        )?;
        writeln!(
            f,
            "CR0 {:#x} CR2 {:#x} CR3 {:#x} CR4 {:#x} EFER {:#x}",
            r.cr0, r.cr2, r.cr3, r.cr4, r.efer
        )?;
        if !self.console_tail.is_empty() {
            writeln!(f, "last console lines:")?;
            for l in &self.console_tail {
                writeln!(f, "  | {l}")?;
            }
        }
        Ok(())
    }
}

/// A thread-safe handle that asks a running machine to stop at the next block boundary.
#[derive(Debug, Clone)]
pub struct StopHandle {
    pub(super) flag: Arc<AtomicBool>,
    pub(super) trigger: Arc<AtomicU64>,
}

impl StopHandle {
    /// Request a stop; [`Machine::run`] returns [`StopReason::HostRequest`].
    pub fn request_stop(&self) {
        self.flag.store(true, Ordering::Relaxed);
        self.trigger.store(0, Ordering::Relaxed);
    }
}
