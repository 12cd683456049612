//! [`Machine`]: the Unicorn CPU, guest RAM, devices and virtual clock put together, with the
//! run loop that delivers interrupts between translated blocks.

use crate::clock::Clock;
use crate::cpu::cpuid::CpuidTable;
use crate::cpu::deliver::{self, has_error_code, Env, Event};
use crate::cpu::unicorn_raw::{self, RawContext, RawHooks};
use crate::cpu::{desc, ContextLayout, Regs, SegLoad, RFLAGS_IF, SEG_CS, SEG_SS};
use crate::devices::{DeviceStop, Devices, UnknownPortCount};
use crate::input::{InputDriver, InputEvent, InputSource};
use crate::loader::{boot, linux, BootProtocol, BootState, KernelImage, LoadError};
use crate::memory::{Fault, GuestMemory, Ram};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use unicorn_engine::{
    uc_error, uc_x86_mmr, Arch, HookType, MemType, Mode, RegisterX86, UcHookId, Unicorn, X86Insn,
};

/// Default guest RAM size.
pub const DEFAULT_MEM_BYTES: usize = 256 << 20;
/// `emu_start`'s "until" argument; ignored because exits are enabled with an empty exit set.
/// (With a plain `until`, Unicorn 2.1.5 ends every `emu_start` by translating that address,
/// which raises a silent #PF, clobbering CR2 and QEMU's `old_exception`, when it is unmapped.)
const NO_UNTIL: u64 = 0;
/// Console bytes kept for stop reports.
const CONSOLE_TAIL: usize = 16 << 10;

/// Errors creating or driving a machine (guest behaviour never produces these: it produces a
/// [`StopReason`]).
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    /// The image could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Guest RAM could not be mapped.
    #[error("cannot map {bytes} bytes of guest RAM: {source}")]
    Ram {
        /// Requested size.
        bytes: usize,
        /// OS error.
        source: std::io::Error,
    },
    /// A Unicorn call failed.
    #[error("unicorn: {what}: {err:?}")]
    Unicorn {
        /// What we were doing.
        what: &'static str,
        /// Unicorn's error.
        err: uc_error,
    },
    /// The start-up self-test of Unicorn's context layout failed.
    #[error("{0}")]
    SelfTest(String),
    /// A snapshot from a different machine (RAM size) was restored.
    #[error("snapshot does not fit this machine: {0}")]
    Snapshot(String),
}

fn uc_err(what: &'static str) -> impl Fn(uc_error) -> EmuError {
    move |err| EmuError::Unicorn { what, err }
}

/// Machine configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineConfig {
    /// Guest RAM in bytes (rounded up to 4 KiB).
    pub mem_bytes: usize,
    /// Kernel command line.
    pub cmdline: String,
}

impl Default for MachineConfig {
    fn default() -> Self {
        Self {
            mem_bytes: DEFAULT_MEM_BYTES,
            cmdline: String::new(),
        }
    }
}

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
    flag: Arc<AtomicBool>,
    trigger: Arc<AtomicU64>,
}

impl StopHandle {
    /// Request a stop; [`Machine::run`] returns [`StopReason::HostRequest`].
    pub fn request_stop(&self) {
        self.flag.store(true, Ordering::Relaxed);
        self.trigger.store(0, Ordering::Relaxed);
    }
}

/// Identifies a code hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HookId(u64);

/// Receives console output as the guest produces it.
pub type ConsoleSink = Box<dyn FnMut(&[u8])>;

/// A console sink that streams guest output to the host's stdout as it is produced.
pub fn stdout_sink() -> ConsoleSink {
    Box::new(|b: &[u8]| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(b);
        let _ = out.flush();
    })
}

/// A code-hook callback.
pub type HookFn = Box<dyn FnMut(&mut HookContext<'_>)>;

/// What a hook callback can see and do.
pub struct HookContext<'a> {
    uc: &'a mut dyn Engine,
    address: u64,
}

/// The engine as hook callbacks see it (erases Unicorn's lifetime parameter).
trait Engine {
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
                let why = format!("cannot read the registers at hook {:#x}: {e:?}", self.address);
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

    /// Stop the machine after this instruction's block: `run` returns [`StopReason::HookRequest`].
    pub fn stop(&mut self) {
        let st = self.uc.state_mut();
        if st.stop.is_none() {
            st.stop = Some(StopReason::HookRequest);
        }
        st.hook_skip = Some(self.address);
        self.uc.stop();
    }

    /// Add a code hook; it fires the next time `addr` starts executing (if `addr` lies later
    /// in the current translated block it is first seen on the following execution).
    pub fn add_hook(&mut self, addr: u64, f: HookFn) -> HookId {
        let needs_sync = self.uc.state_mut().hooks.add(addr, f);
        let id = HookId(self.uc.state().hooks.next - 1);
        if needs_sync {
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
struct HookTable {
    next: u64,
    by_addr: BTreeMap<u64, Vec<(HookId, HookFn)>>,
    addr_of: HashMap<HookId, u64>,
    /// Hooks removed while their address was being dispatched.
    removed_in_dispatch: HashSet<HookId>,
    /// Unicorn hooks installed, one per address.
    installed: HashMap<u64, UcHookId>,
}

impl HookTable {
    /// Returns true if Unicorn needs a new hook for this address.
    fn add(&mut self, addr: u64, f: HookFn) -> bool {
        let id = HookId(self.next);
        self.next += 1;
        self.by_addr.entry(addr).or_default().push((id, f));
        self.addr_of.insert(id, addr);
        !self.installed.contains_key(&addr)
    }

    fn remove(&mut self, id: HookId) -> bool {
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

struct Console {
    all: Vec<u8>,
    tail: VecDeque<u8>,
    sink: Option<ConsoleSink>,
}

/// State reachable from Unicorn callbacks (Unicorn's per-engine data).
pub(crate) struct MachineState {
    ram: Rc<Ram>,
    clock: Rc<Clock>,
    layout: ContextLayout,
    scratch: Option<RawContext>,
    devices: Devices,
    console: Console,
    stop: Option<StopReason>,
    resync: bool,
    hooks: HookTable,
    unmapped: Option<(u64, &'static str)>,
    /// Console input (script or live stream) and its log.
    input: InputDriver,
    /// The hooks at this address already ran for the instruction the machine stopped at
    /// (a hook asked for the stop): do not run them again when execution resumes there.
    hook_skip: Option<u64>,
}

fn request_stop<'x>(uc: &mut Unicorn<'x, MachineState>) {
    uc.get_data().clock.note_stop_requested();
    let _ = uc.emu_stop();
}

impl MachineState {
    /// Hand new guest output to the sink, the tail and the input script. True if a script
    /// step waiting for output can now fire.
    fn flush_console(&mut self) -> bool {
        let out = self.devices.uart.take_output();
        if out.is_empty() {
            return false;
        }
        if let Some(sink) = self.console.sink.as_mut() {
            sink(&out);
        }
        let input_due = self.input.on_output(&out, self.clock.insns());
        self.console.all.extend_from_slice(&out);
        self.console.tail.extend(out.iter().copied());
        while self.console.tail.len() > CONSOLE_TAIL {
            self.console.tail.pop_front();
        }
        input_due
    }

    fn env_parts(
        &mut self,
        h: *mut unicorn_engine::uc_engine,
    ) -> Option<(Rc<Ram>, ContextLayout, RawContext)> {
        let ctx = match self.scratch.take() {
            Some(c) => c,
            None => RawContext::new(h).ok()?,
        };
        Some((self.ram.clone(), self.layout, ctx))
    }
}

fn read_image(path: &std::path::Path) -> Result<KernelImage, LoadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| LoadError::NotElf {
        image: name.clone(),
        detail: e.to_string(),
    })?;
    KernelImage::parse(&name, bytes)
}

/// Run `f` with a delivery environment borrowed from the machine state.
fn with_env<'x, R>(
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

fn deliver_or_stop<'x>(uc: &mut Unicorn<'x, MachineState>, ev: Event) {
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

fn on_interrupt<'x>(uc: &mut Unicorn<'x, MachineState>, intno: u32) {
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

fn on_io_out<'x>(uc: &mut Unicorn<'x, MachineState>, port: u32, size: usize, value: u32) {
    let st = uc.get_data_mut();
    let now = st.clock.now_ns();
    let irq_before = st.devices.pic.has_interrupt();
    let stop = st.devices.io_write(port as u16, size, value, now);
    let input_due = st.flush_console();
    let irq = st.devices.pic.has_interrupt();
    if let Some(t) = st.devices.next_event_ns() {
        st.clock.lower_deadline_ns(t);
    }
    match stop {
        Some(DeviceStop::Exit(code)) => {
            st.stop.get_or_insert(StopReason::Exit(code));
            request_stop(uc);
        }
        Some(DeviceStop::Reset) => {
            st.stop.get_or_insert(StopReason::Reset);
            request_stop(uc);
        }
        None if (irq && !irq_before) || input_due => {
            // A device raised an interrupt, or the input script saw the output it waits for:
            // let the run loop deliver or inject right after this instruction.
            st.resync = true;
            request_stop(uc);
        }
        None => {}
    }
}

fn on_io_in<'x>(uc: &mut Unicorn<'x, MachineState>, port: u32, size: usize) -> u32 {
    let st = uc.get_data_mut();
    let now = st.clock.now_ns();
    st.devices.io_read(port as u16, size, now)
}

fn dispatch_hooks<'x>(uc: &mut Unicorn<'x, MachineState>, addr: u64) {
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
        let mut ctx = HookContext { uc, address: addr };
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

/// Cumulative counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stats {
    /// Guest instructions (counted per translated block).
    pub instructions: u64,
    /// Virtual time in nanoseconds.
    pub virtual_ns: u64,
    /// Virtual time skipped by `hlt`.
    pub idle_ns: u64,
    /// Host time spent in [`Machine::run`].
    pub host_time: Duration,
    /// External interrupts delivered.
    pub interrupts: u64,
    /// `emu_start` calls (restarts after stops).
    pub restarts: u64,
}

impl Stats {
    /// Guest million instructions per host second.
    pub fn mips(&self) -> f64 {
        let s = self.host_time.as_secs_f64();
        if s > 0.0 {
            self.instructions as f64 / s / 1e6
        } else {
            0.0
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "guest instructions {}, virtual time {:.3} ms (idle {:.3} ms), host time {:.3} ms, {:.1} MIPS",
            self.instructions,
            self.virtual_ns as f64 / 1e6,
            self.idle_ns as f64 / 1e6,
            self.host_time.as_secs_f64() * 1e3,
            self.mips()
        )
    }
}

/// A snapshot of the whole machine, in memory.
#[derive(Debug, Clone)]
pub struct Snapshot {
    ram: Vec<u8>,
    cpu: Vec<u8>,
    devices: Devices,
    insns: u64,
    idle_ns: u64,
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

/// The machine.
pub struct Machine {
    uc: Unicorn<'static, MachineState>,
    ram: Rc<Ram>,
    clock: Rc<Clock>,
    _cpuid: Rc<CpuidTable>,
    _raw_hooks: RawHooks,
    host_stop: Arc<AtomicBool>,
    host_input: Arc<AtomicBool>,
    trigger: Arc<AtomicU64>,
    image: Option<KernelImage>,
    stats: Stats,
    mem_hook_ranges: Vec<(u64, u64)>,
}

/// The bounds of the unmapped-memory hook for `ram_len` bytes of RAM at physical 0: every
/// physical address above RAM, none inside it.
fn unmapped_hook_range(ram_len: u64) -> (u64, u64) {
    (ram_len, u64::MAX)
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("ram", &self.ram.len())
            .field("clock", &self.clock)
            .finish()
    }
}

impl Machine {
    /// A machine with empty RAM and the CPU in 64-bit mode (no paging yet). Tests and custom
    /// loaders use this; kernels use [`Machine::boot_image`].
    pub fn new(config: &MachineConfig) -> Result<Self, EmuError> {
        let layout = ContextLayout::self_test().map_err(EmuError::SelfTest)?;
        let ram = Rc::new(Ram::new(config.mem_bytes).map_err(|source| EmuError::Ram {
            bytes: config.mem_bytes,
            source,
        })?);
        let host_stop = Arc::new(AtomicBool::new(false));
        let host_input = Arc::new(AtomicBool::new(false));
        let trigger = Arc::new(AtomicU64::new(u64::MAX));
        let clock = Rc::new(Clock::new(
            ram.clone(),
            host_stop.clone(),
            host_input.clone(),
            trigger.clone(),
        ));
        let cpuid = Rc::new(CpuidTable::new());
        let state = MachineState {
            ram: ram.clone(),
            clock: clock.clone(),
            layout,
            scratch: None,
            devices: Devices::new(),
            console: Console {
                all: Vec::new(),
                tail: VecDeque::new(),
                sink: None,
            },
            stop: None,
            resync: false,
            hooks: HookTable::default(),
            unmapped: None,
            input: InputDriver::new(host_input.clone()),
            hook_skip: None,
        };
        let mut uc =
            Unicorn::new_with_data(Arch::X86, Mode::MODE_64, state).map_err(uc_err("open"))?;
        uc.ctl_exits_enable().map_err(uc_err("exits"))?;
        let h = uc.get_handle();
        uc.get_data_mut().scratch = Some(RawContext::new(h).map_err(uc_err("context"))?);
        unicorn_raw::map_ram(&mut uc, &ram).map_err(uc_err("map RAM"))?;
        let raw_hooks = RawHooks::install(h, Rc::as_ptr(&cpuid), Rc::as_ptr(&clock))
            .map_err(uc_err("raw hooks"))?;
        uc.add_intr_hook(on_interrupt)
            .map_err(uc_err("interrupt hook"))?;
        uc.add_insn_in_hook(on_io_in).map_err(uc_err("in hook"))?;
        uc.add_insn_out_hook(on_io_out)
            .map_err(uc_err("out hook"))?;
        uc.add_insn_sys_hook(X86Insn::SYSCALL, 1, 0, |uc| {
            let res = with_env(uc, |uc, env| deliver::syscall(uc, env))
                .unwrap_or_else(|| Err("cannot allocate a CPU context".into()));
            if let Err(e) = res {
                uc.get_data_mut().stop =
                    Some(StopReason::CpuError(format!("syscall emulation: {e}")));
                request_stop(uc);
            }
        })
        .map_err(uc_err("syscall hook"))?;
        uc.add_insn_invalid_hook(|uc| {
            deliver_or_stop(
                uc,
                Event::Exception {
                    vector: deliver::vector::UD,
                    error_code: None,
                },
            );
            true
        })
        .map_err(uc_err("invalid-insn hook"))?;
        // Bounded to the physical addresses above guest RAM, never over RAM itself: in Unicorn
        // 2.1.5, `notdirty_write` (qemu/accel/tcg/cputlb.c) never marks a TLB entry dirty
        // while `uc_mem_hook_installed()` is true for the page, and that counts the
        // *_UNMAPPED hooks by their bounds. A hook over all addresses (`1, 0`) kept every
        // store to guest RAM on the slow path (about half of a Linux boot's host time). RAM is
        // mapped contiguously from physical 0, so every unmapped physical address is at or
        // above its end, and the hook still sees all of them.
        let (begin, end) = unmapped_hook_range(ram.len() as u64);
        uc.add_mem_hook(HookType::MEM_UNMAPPED, begin, end, |uc, kind, addr, _size, _v| {
            let access = match kind {
                MemType::WRITE_UNMAPPED => "write",
                MemType::FETCH_UNMAPPED => "fetch",
                _ => "read",
            };
            uc.get_data_mut().unmapped = Some((addr, access));
            false
        })
        .map_err(uc_err("unmapped-memory hook"))?;
        let mem_hook_ranges = vec![(begin, end)];
        Ok(Self {
            uc,
            ram,
            clock,
            _cpuid: cpuid,
            _raw_hooks: raw_hooks,
            host_stop,
            host_input,
            trigger,
            image: None,
            stats: Stats::default(),
            mem_hook_ranges,
        })
    }

    /// The physical address ranges (inclusive) of every memory hook installed on the CPU.
    /// None may cover guest RAM: a memory hook over RAM makes every store take Unicorn's
    /// slow path (see [`Machine::new`]).
    pub fn memory_hook_ranges(&self) -> &[(u64, u64)] {
        &self.mem_hook_ranges
    }

    /// Create a machine, load `image` and set the CPU up as its boot protocol requires
    /// (a Linux vmlinux boots without an initrd; see [`Machine::boot_linux`]).
    pub fn boot_image(config: &MachineConfig, image: KernelImage) -> Result<Self, EmuError> {
        Self::boot_with_initrd(config, image, None)
    }

    /// Boot a Linux vmlinux (an image whose [`KernelImage::protocol`] is
    /// [`BootProtocol::Linux64`]) with `config.cmdline` and an optional initrd (e.g. a
    /// gzip-compressed cpio initramfs), placed at the top of RAM.
    pub fn boot_linux(
        config: &MachineConfig,
        image: KernelImage,
        initrd: Option<&[u8]>,
    ) -> Result<Self, EmuError> {
        if image.protocol() != BootProtocol::Linux64 {
            return Err(EmuError::Load(LoadError::NotLinux {
                image: image.name().to_string(),
            }));
        }
        Self::boot_with_initrd(config, image, initrd)
    }

    /// Convenience: boot the Linux guest built by `guest-images/linux/build.sh` from its
    /// output directory (`vmlinux`, `initramfs.cpio.gz`), with `config.cmdline`.
    pub fn boot_linux_dir(config: &MachineConfig, dir: &std::path::Path) -> Result<Self, EmuError> {
        let image = read_image(&dir.join("vmlinux"))?;
        let rd_path = dir.join("initramfs.cpio.gz");
        let initrd = std::fs::read(&rd_path).map_err(|e| LoadError::Unreadable {
            image: rd_path.display().to_string(),
            detail: e.to_string(),
        })?;
        Self::boot_linux(config, image, Some(&initrd))
    }

    fn boot_with_initrd(
        config: &MachineConfig,
        image: KernelImage,
        initrd: Option<&[u8]>,
    ) -> Result<Self, EmuError> {
        let mut m = Self::new(config)?;
        let state = match &image {
            KernelImage::Elf(elf) => {
                elf.load(&m.ram, (boot::AREA_START, boot::AREA_END))?;
                if elf.is_linux {
                    let kernel_end = elf
                        .segments
                        .iter()
                        .map(|s| s.paddr.saturating_add(s.memsz))
                        .max()
                        .unwrap_or(0);
                    linux::setup(
                        &m.ram,
                        &elf.name,
                        elf.entry,
                        kernel_end,
                        &config.cmdline,
                        initrd,
                    )?
                } else {
                    boot::setup(&m.ram, &elf.name, elf.entry, &config.cmdline)?
                }
            }
        };
        m.enter_long_mode(&state)?;
        m.image = Some(image);
        Ok(m)
    }

    /// Convenience: read an ELF file from disk and boot it.
    pub fn boot_elf_file(config: &MachineConfig, path: &std::path::Path) -> Result<Self, EmuError> {
        Self::boot_image(config, read_image(path)?)
    }

    /// Put the CPU in the state a boot loader leaves: long mode, paging with `state.cr3`, flat
    /// GDT with CS=0x10 and DS/ES/SS=0x18, interrupts off.
    pub fn enter_long_mode(&mut self, state: &BootState) -> Result<(), EmuError> {
        use crate::cpu::{efer, msr};
        let h = self.uc.get_handle();
        unicorn_raw::write_mmr(
            h,
            RegisterX86::GDTR,
            uc_x86_mmr {
                selector: 0,
                base: state.gdt_base,
                limit: u32::from(state.gdt_limit),
                flags: 0,
            },
        )
        .map_err(uc_err("GDTR"))?;
        unicorn_raw::write_msr(h, msr::EFER, efer::LME | efer::LMA | efer::NXE | efer::SCE)
            .map_err(uc_err("EFER"))?;
        let w = |uc: &mut Unicorn<'static, MachineState>, r, v| {
            uc.reg_write(r, v).map_err(uc_err("register"))
        };
        w(&mut self.uc, RegisterX86::CR3, state.cr3)?;
        w(
            &mut self.uc,
            RegisterX86::CR4,
            (1 << 5) | (1 << 7) | (1 << 9) | (1 << 10),
        )?; // PAE PGE OSFXSR OSXMMEXCPT
        w(&mut self.uc, RegisterX86::CR0, 0x8005_0033)?; // PG WP NE ET MP PE
        w(&mut self.uc, RegisterX86::RIP, state.rip)?;
        w(&mut self.uc, RegisterX86::RSP, state.rsp)?;
        w(&mut self.uc, RegisterX86::RDI, state.rdi)?;
        w(&mut self.uc, RegisterX86::RSI, state.rsi)?;
        w(&mut self.uc, RegisterX86::RFLAGS, 0x2)?;
        for r in [
            RegisterX86::DS,
            RegisterX86::ES,
            RegisterX86::FS,
            RegisterX86::GS,
        ] {
            w(&mut self.uc, r, u64::from(boot::KERNEL_DS))?;
        }
        let cs_flags =
            (boot::GDT_ENTRIES[usize::from(boot::KERNEL_CS >> 3)] >> 32) as u32 & 0x00ff_ff00;
        let ss_flags =
            (boot::GDT_ENTRIES[usize::from(boot::KERNEL_DS >> 3)] >> 32) as u32 & 0x00ff_ff00;
        self.load_cs_ss(
            SegLoad {
                selector: boot::KERNEL_CS,
                base: 0,
                limit: 0xffff_ffff,
                flags: cs_flags,
            },
            SegLoad {
                selector: boot::KERNEL_DS,
                base: 0,
                limit: 0xffff_ffff,
                flags: ss_flags,
            },
        )
    }

    fn load_cs_ss(&mut self, cs: SegLoad, ss: SegLoad) -> Result<(), EmuError> {
        let h = self.uc.get_handle();
        let st = self.uc.get_data_mut();
        let layout = st.layout;
        let Some(ctx) = st.scratch.as_mut() else {
            return Err(EmuError::Unicorn {
                what: "scratch context",
                err: uc_error::NOMEM,
            });
        };
        ctx.save(h).map_err(uc_err("context save"))?;
        layout.load_cs_ss(ctx, cs, ss);
        ctx.restore(h).map_err(uc_err("context restore"))
    }

    /// The loaded image, if any (its bytes hold the symbols and DWARF).
    pub fn image(&self) -> Option<&KernelImage> {
        self.image.as_ref()
    }

    /// A handle that can stop a running machine from another thread (e.g. a Ctrl-C handler).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            flag: self.host_stop.clone(),
            trigger: self.trigger.clone(),
        }
    }

    /// Guest memory (physical access and page-table walks).
    pub fn memory(&self) -> &Ram {
        &self.ram
    }

    /// A shared handle to guest RAM, valid for the machine's lifetime (snapshot restores write
    /// into the same mapping).
    pub fn ram_handle(&self) -> Rc<Ram> {
        self.ram.clone()
    }

    /// Read guest virtual memory through the current CR3.
    pub fn read_virt(&self, va: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let cr3 = self.uc.reg_read(RegisterX86::CR3).unwrap_or(0);
        self.ram.read_virt(cr3, va, buf)
    }

    /// Write guest physical memory, dropping any translated code for it.
    pub fn write_phys(&mut self, pa: u64, bytes: &[u8]) -> Result<(), Fault> {
        self.ram.write_phys(pa, bytes)?;
        let _ = self.uc.ctl_flush_tb();
        Ok(())
    }

    /// All registers in one batch.
    pub fn regs(&self) -> Regs {
        Regs::read(&self.uc).unwrap_or_default()
    }

    /// Write all registers in one batch. CS and SS are loaded with hidden state from the
    /// guest's GDT (so CPL follows CS), like a far jump would.
    pub fn set_regs(&mut self, r: &Regs) -> Result<(), EmuError> {
        r.write_basic(&self.uc).map_err(uc_err("registers"))?;
        for (reg, v) in [
            (RegisterX86::DS, r.ds),
            (RegisterX86::ES, r.es),
            (RegisterX86::FS, r.fs),
        ] {
            self.uc
                .reg_write(reg, u64::from(v))
                .map_err(uc_err("segment"))?;
        }
        let gdtr = unicorn_raw::read_mmr(self.uc.get_handle(), RegisterX86::GDTR);
        let flags = |sel: u16| -> u32 {
            if sel & !3 == 0 {
                return u32::from(sel & 3) << desc::DPL_SHIFT;
            }
            let mut d = [0u8; 8];
            let ok = self
                .ram
                .read_virt(r.cr3, gdtr.base + u64::from(sel & !7), &mut d)
                .is_ok();
            if ok {
                (u64::from_le_bytes(d) >> 32) as u32 & 0x00ff_ff00
            } else {
                0
            }
        };
        let (cf, sf) = (flags(r.cs), flags(r.ss));
        self.load_cs_ss(
            SegLoad {
                selector: r.cs,
                base: 0,
                limit: 0xffff_ffff,
                flags: cf,
            },
            SegLoad {
                selector: r.ss,
                base: 0,
                limit: 0xffff_ffff,
                flags: sf,
            },
        )?;
        let _ = (SEG_CS, SEG_SS);
        Ok(())
    }

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

    fn sync_hooks(&mut self) -> Result<(), EmuError> {
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

    /// Send a console function the guest's output as it is produced (e.g. to stdout).
    pub fn set_console_sink(&mut self, sink: Option<ConsoleSink>) {
        self.uc.get_data_mut().console.sink = sink;
    }

    /// Everything the guest printed so far (kept until taken).
    pub fn console(&self) -> &[u8] {
        &self.uc.get_data().console.all
    }

    /// Take the console output accumulated so far.
    pub fn take_console(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.uc.get_data_mut().console.all)
    }

    /// Queue bytes for the guest to read from the console UART (between runs; during a run
    /// use [`Machine::set_input`]).
    pub fn push_console_input(&mut self, bytes: &[u8]) {
        self.uc.get_data_mut().devices.push_console_input(bytes);
    }

    /// Attach a console input source for the following runs (replacing any previous one).
    /// A script's first step is armed now (a `@sleep` counts from the current virtual time);
    /// a stream starts its reader thread now.
    pub fn set_input(&mut self, source: InputSource) {
        let now = self.clock.now_ns();
        self.uc
            .get_data_mut()
            .input
            .set(Some(source), now, &self.trigger);
    }

    /// Detach the console input source (the log is kept).
    pub fn clear_input(&mut self) {
        self.uc.get_data_mut().input.set(None, 0, &self.trigger);
        self.host_input.store(false, Ordering::Relaxed);
    }

    /// Every console input injected so far, with the instruction count and virtual time at
    /// which it became readable (what a recording must store to replay a live session).
    pub fn input_log(&self) -> &[InputEvent] {
        self.uc.get_data().input.log()
    }

    /// Inject the input that is due now (at a block boundary).
    fn pump_input(&mut self) {
        let (insns, now) = (self.clock.insns(), self.clock.now_ns());
        let st = self.uc.get_data_mut();
        let bytes = st.input.pump(insns, now);
        if !bytes.is_empty() {
            st.devices.push_console_input(&bytes);
        }
    }

    /// The last `n` console lines.
    pub fn console_tail(&self, n: usize) -> Vec<String> {
        let tail: Vec<u8> = self.uc.get_data().console.tail.iter().copied().collect();
        let text = String::from_utf8_lossy(&tail);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// Device state (read-only).
    pub fn devices(&self) -> &Devices {
        &self.uc.get_data().devices
    }

    /// Unknown ports the guest touched, with counts.
    pub fn unknown_ports(&self) -> &BTreeMap<u16, UnknownPortCount> {
        &self.uc.get_data().devices.unknown
    }

    /// The `--verbose` details for people: interrupt counts and every unknown port touched.
    pub fn verbose_summary(&self) -> String {
        let s = self.stats();
        let mut out = format!(
            "interrupts delivered {}, emu_start calls {}\n",
            s.interrupts, s.restarts
        );
        for (port, c) in self.unknown_ports() {
            out.push_str(&format!(
                "unknown port {port:#06x}: {:>6} reads {:>6} writes\n",
                c.reads, c.writes
            ));
        }
        out
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            instructions: self.clock.insns(),
            virtual_ns: self.clock.now_ns(),
            idle_ns: self.clock.idle_ns(),
            ..self.stats
        }
    }

    /// Virtual time in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }

    /// A report for `reason`: registers, and the last console lines.
    pub fn report(&self, reason: &StopReason) -> StopReport {
        StopReport {
            reason: reason.clone(),
            regs: self.regs(),
            console_tail: self.console_tail(10),
        }
    }

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
        self.uc.ctl_flush_tb().map_err(uc_err("flush TB"))?;
        self.uc.ctl_flush_tlb().map_err(uc_err("flush TLB"))?;
        Ok(())
    }

    /// Run the guest until a stop condition. Never panics on guest behaviour.
    pub fn run(&mut self, limits: Limits) -> StopReason {
        let host_start = Instant::now();
        let reason = self.run_inner(limits);
        self.uc.get_data_mut().flush_console();
        self.stats.host_time += host_start.elapsed();
        reason
    }

    fn run_inner(&mut self, limits: Limits) -> StopReason {
        let insn_limit = limits
            .max_insns
            .map(|n| self.clock.insns().saturating_add(n));
        let time_limit = limits
            .max_virtual_ns
            .map(|n| self.clock.now_ns().saturating_add(n));
        loop {
            if self.host_stop.swap(false, Ordering::Relaxed) {
                return StopReason::HostRequest;
            }
            if let Some(r) = self.uc.get_data_mut().stop.take() {
                return r;
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
            let rip = match self.uc.reg_read(RegisterX86::RIP) {
                Ok(r) => r,
                Err(e) => return StopReason::CpuError(format!("{e:?}")),
            };
            // Resuming in the middle of a block after a hook-requested stop: the guest must not
            // notice the stop, so no interrupt or input is delivered here and the partial block
            // is exempt from deadline checks; pending events land at the next block boundary,
            // as they would have without the hook.
            let hook_resume = self.uc.get_data().hook_skip == Some(rip);
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
    fn deliver_pending_interrupt(&mut self) {
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
    fn on_hlt(&mut self, time_limit: Option<u64>) -> Option<StopReason> {
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
            let target = next.min(time_limit.unwrap_or(u64::MAX));
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
            if let Some(l) = time_limit.filter(|l| *l < next) {
                self.clock.skip_to(l);
                return Some(StopReason::TimeBudget);
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
