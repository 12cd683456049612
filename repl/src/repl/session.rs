//! The engine of the REPL: one guest machine with its image, tracer, breakpoints and
//! snapshots. Both front ends (rustyline and batch) drive the same [`Session`] through
//! [`crate::repl::commands::execute`]; nothing here knows about terminals.
//!
//! Guest console output and filter events stream to stdout while the guest runs; they are
//! also kept (the console's tail by the machine, recent events by the tracer's log).

use super::style::Style;
use super::{fail, ReplError};
use crate::error::CliError;
use emu::{HookId, Limits, Machine, Snapshot, StopReason};
use probes::image::GuestImage;
use probes::tracer::Tracer;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Write;
use std::rc::Rc;

/// A breakpoint: a code hook that stops the guest.
#[derive(Debug)]
pub struct Breakpoint {
    pub id: u32,
    /// What the user typed.
    pub spec: String,
    pub addr: u64,
    pub hook: HookId,
    pub hits: Rc<Cell<u64>>,
}

/// A named snapshot and where the guest was when it was taken.
#[derive(Debug)]
pub struct Saved {
    pub snapshot: Snapshot,
    pub now_ns: u64,
    pub rip: u64,
    pub last_stop: Option<StopReason>,
    pub panic: Option<String>,
}

/// A filter loaded into the tracer (the tracer cannot forget filters; `reset` replaces it).
#[derive(Debug, Clone)]
pub struct LoadedFilter {
    pub origin: String,
    pub programs: Vec<String>,
}

/// What tab completion needs to know about the session, shared with the line editor.
#[derive(Debug, Default)]
pub struct Shared {
    pub snapshots: Vec<String>,
    pub maps: Vec<String>,
    pub probes: Vec<u32>,
    pub breakpoints: Vec<u32>,
}

/// The state `x` remembers between uses (as gdb does): count, format, unit, next address.
#[derive(Debug, Clone, Copy)]
pub struct XState {
    pub count: usize,
    pub format: char,
    pub unit: usize,
    pub next: Option<u64>,
}

/// One REPL session over one guest.
pub struct Session {
    pub image: Rc<GuestImage>,
    pub machine: Machine,
    pub tracer: Tracer,
    pub style: Style,
    boot_state: Snapshot,
    pub snapshots: BTreeMap<String, Saved>,
    pub breakpoints: BTreeMap<u32, Breakpoint>,
    pub next_breakpoint: u32,
    /// Set by a breakpoint's hook when it stops the guest.
    pub breakpoint_hit: Rc<Cell<Option<u32>>>,
    /// Why the guest last stopped (`None`: not run since boot).
    pub last_stop: Option<StopReason>,
    /// What the kernel said when it panicked (the guest then cannot go on).
    pub panic: Option<String>,
    /// Stops the guest when its kernel calls `panic` (images without one: `None`).
    panic_watch: Option<probes::panic::PanicWatch>,
    /// The kernel command line the guest was booted with.
    pub cmdline: String,
    /// The last load log: compile errors and warnings of the last `attach`.
    pub log: String,
    pub filters: Vec<LoadedFilter>,
    pub x_state: XState,
    pub quit: bool,
    pub shared: Rc<RefCell<Shared>>,
    /// Whether the last console byte streamed was a newline.
    console_at_line_start: Rc<Cell<bool>>,
    /// Whether events print as they happen during runs.
    pub live_events: Rc<Cell<bool>>,
    /// Real-time mode: the write end of the guest's live console stream (idle guest time
    /// then passes no faster than host time, and `input` arrives while the guest runs).
    pub realtime: Option<std::sync::mpsc::Sender<Vec<u8>>>,
    /// Where the last run was stopped by a hook: the machine then skips the hooks there once
    /// when it resumes, so a breakpoint at that place does not fire again.
    stopped_by_hook_at: Option<u64>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("image", &self.image.name())
            .field("breakpoints", &self.breakpoints.len())
            .field("snapshots", &self.snapshots.len())
            .finish()
    }
}

/// True for stops after which the guest cannot go on.
pub fn is_final(r: &StopReason) -> bool {
    r.is_crash()
        || matches!(
            r,
            StopReason::Exit(_) | StopReason::Reset | StopReason::HaltedIrqsOff
        )
}

impl Session {
    /// A session over a guest booted and stopped at its first instruction.
    pub fn new(booted: crate::images::Booted, style: Style) -> Result<Session, CliError> {
        let crate::images::Booted {
            mut machine,
            name,
            elf,
            cmdline,
        } = booted;
        let img =
            Rc::new(GuestImage::new(&name, elf).map_err(|e| CliError::input(name.as_str(), e))?);
        let panic_watch = probes::panic::PanicWatch::install(&mut machine, &img);
        let boot_state = machine.snapshot().map_err(|e| {
            CliError::input(format!("{name}: cannot snapshot the booted machine"), e)
        })?;
        let console_at_line_start = Rc::new(Cell::new(true));
        let at_start = console_at_line_start.clone();
        machine.set_console_sink(Some(Box::new(move |b: &[u8]| {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(b);
            let _ = out.flush();
            if let Some(&last) = b.last() {
                at_start.set(last == b'\n');
            }
        })));
        let live_events = Rc::new(Cell::new(true));
        let tracer = new_tracer(&img, live_events.clone(), console_at_line_start.clone());
        Ok(Session {
            image: img,
            machine,
            tracer,
            style,
            boot_state,
            snapshots: BTreeMap::new(),
            breakpoints: BTreeMap::new(),
            next_breakpoint: 1,
            breakpoint_hit: Rc::new(Cell::new(None)),
            last_stop: None,
            panic: None,
            panic_watch,
            cmdline,
            log: String::new(),
            filters: Vec::new(),
            x_state: XState {
                count: 1,
                format: 'x',
                unit: 4,
                next: None,
            },
            quit: false,
            shared: Rc::new(RefCell::new(Shared::default())),
            console_at_line_start,
            live_events,
            realtime: None,
            stopped_by_hook_at: None,
        })
    }

    /// Real-time mode on or off (see [`Session::realtime`]).
    pub fn set_realtime(&mut self, on: bool) -> Result<(), ReplError> {
        if on && self.realtime.is_none() {
            let (writer, reader) = std::sync::mpsc::channel();
            self.machine
                .set_input(emu::InputSource::stream(ChannelReader {
                    rx: reader,
                    pending: Vec::new(),
                }));
            self.realtime = Some(writer);
        } else if !on && self.realtime.is_some() {
            self.machine.clear_input();
            self.realtime = None;
        }
        Ok(())
    }

    /// Types bytes on the guest's console: live in real-time mode, else queued.
    pub fn type_input(&mut self, bytes: &[u8]) -> Result<(), ReplError> {
        match self.realtime.as_mut() {
            Some(w) => w
                .send(bytes.to_vec())
                .map_err(|_| ReplError::Failed("the guest's console stream is closed".into())),
            None => {
                self.machine.push_console_input(bytes);
                Ok(())
            }
        }
    }

    /// Back to the first instruction of the kernel. Probes and breakpoints stay.
    pub fn reboot(&mut self) -> Result<(), ReplError> {
        self.machine
            .restore(&self.boot_state)
            .map_err(|e| ReplError::context("cannot reboot", e))?;
        self.machine.take_console();
        self.last_stop = None;
        self.set_panic(None);
        self.stopped_by_hook_at = None;
        self.x_state.next = None;
        Ok(())
    }

    /// Reboots and forgets probes, filters, breakpoints and events (snapshots stay).
    pub fn reset(&mut self) -> Result<(), ReplError> {
        for p in self.tracer.probes() {
            let _ = self.tracer.detach(&mut self.machine, p.id);
        }
        for (_, b) in std::mem::take(&mut self.breakpoints) {
            self.machine.remove_hook(b.hook);
        }
        self.next_breakpoint = 1;
        self.tracer = new_tracer(
            &self.image,
            self.live_events.clone(),
            self.console_at_line_start.clone(),
        );
        self.filters.clear();
        self.log.clear();
        self.reboot()?;
        self.sync_shared();
        Ok(())
    }

    /// Runs the guest until `limits`, a breakpoint, the guest's end or Ctrl-C.
    pub fn run(&mut self, limits: Limits) -> Result<StopReason, ReplError> {
        if let Some(why) = self.stopped_for_good() {
            return fail(format!(
                "the guest has stopped ({why}); 'boot' starts it again, 'restore NAME' returns to a snapshot"
            ));
        }
        self.breakpoint_hit.set(None);
        let mut reason = self.run_past_breakpoint(limits)?;
        self.stopped_by_hook_at =
            (reason == StopReason::HookRequest).then(|| self.machine.regs().rip);
        if let Some(w) = self.panic_watch.as_ref().filter(|w| w.panicked()) {
            // The kernel called panic(): let it print its message, then report the panic.
            reason = w.settle(&mut self.machine);
            self.panic = w.message(self.machine.console());
            w.clear();
            self.stopped_by_hook_at = None;
        }
        self.end_console_line();
        self.last_stop = Some(reason.clone());
        self.x_state.next = None;
        Ok(reason)
    }

    /// Why the guest cannot run on, if it cannot: a kernel panic or a final stop.
    pub fn stopped_for_good(&self) -> Option<String> {
        match (&self.panic, &self.last_stop) {
            (Some(m), _) => Some(format!("kernel panic: {m}")),
            (None, Some(r)) if is_final(r) => Some(r.to_string()),
            _ => None,
        }
    }

    /// Sets the panic state (restoring a snapshot taken before or after a panic).
    pub fn set_panic(&mut self, panic: Option<String>) {
        if let Some(w) = &self.panic_watch {
            w.clear();
        }
        self.panic = panic;
    }

    /// After a restore the machine no longer skips the hooks where it stands.
    pub fn forget_hook_stop(&mut self) {
        self.stopped_by_hook_at = None;
    }

    /// Runs, first leaving a breakpoint the guest sits on without having been stopped by it
    /// (after `restore` or `boot`): its hooks are set aside for the first block.
    fn run_past_breakpoint(&mut self, limits: Limits) -> Result<StopReason, ReplError> {
        let rip = self.machine.regs().rip;
        let here: Vec<u32> = self
            .breakpoints
            .values()
            .filter(|b| b.addr == rip && self.stopped_by_hook_at != Some(rip))
            .map(|b| b.id)
            .collect();
        if !here.is_empty() {
            for id in &here {
                if let Some(b) = self.breakpoints.get(id) {
                    self.machine.remove_hook(b.hook);
                }
            }
            let first = crate::images::run_interruptible(&mut self.machine, Limits::insns(1));
            for id in &here {
                if let Some(b) = self.breakpoints.get_mut(id) {
                    b.hook = arm(
                        &mut self.machine,
                        *id,
                        b.addr,
                        &b.hits,
                        &self.breakpoint_hit,
                    );
                }
            }
            let first = first?;
            if first != StopReason::InsnBudget || limits.max_insns == Some(1) {
                return Ok(first);
            }
        }
        Ok(crate::images::run_interruptible(&mut self.machine, limits)?)
    }

    /// Ends a partial console line so that what follows starts on its own line.
    pub fn end_console_line(&self) {
        if !self.console_at_line_start.get() {
            println!();
            self.console_at_line_start.set(true);
        }
    }

    /// `symbol+off` and `file:line` of an address (addresses no code can be at are not
    /// looked up in the line table).
    pub fn describe(&self, addr: u64) -> (Option<String>, Option<String>) {
        if addr >= u64::MAX - 16 || self.image.symbols().resolve(addr).is_none() {
            return (self.image.symbols().format_addr(addr), None);
        }
        self.image.describe(addr)
    }

    /// `0xffffffff80104d21 <dst_discard+1> (net/core/dst.c:12)`.
    pub fn where_is(&self, addr: u64) -> String {
        let (sym, src) = self.describe(addr);
        let mut s = self.style.addr(&format!("{addr:#018x}"));
        if let Some(sym) = sym {
            s.push_str(&format!(" <{}>", self.style.sym(&sym)));
        }
        if let Some(src) = src {
            s.push_str(&format!(" {}", self.style.dim(&format!("({src})"))));
        }
        s
    }

    /// What to say about a stop.
    pub fn describe_stop(&self, reason: &StopReason) -> String {
        let rip = self.machine.regs().rip;
        let t = self.machine.now_ns() as f64 / 1e9;
        if let Some(m) = &self.panic {
            return format!(
                "{} [{t:.6} s] at {}",
                self.style.error(&format!("kernel panic: {m}")),
                self.where_is(rip)
            );
        }
        match reason {
            StopReason::HookRequest => match self.breakpoint_hit.get() {
                Some(id) => format!(
                    "{} {}",
                    self.style.bold(&format!("Breakpoint {id},")),
                    self.where_is(rip)
                ),
                None => format!("stopped at {}", self.where_is(rip)),
            },
            StopReason::HostRequest => format!(
                "{} at {} [{t:.6} s]",
                self.style.bold("interrupted"),
                self.where_is(rip)
            ),
            StopReason::InsnBudget | StopReason::TimeBudget => {
                format!("paused at {} [{t:.6} s]", self.where_is(rip))
            }
            StopReason::Exit(c) => format!(
                "{} after {t:.6} s of guest time",
                self.style.bold(&format!("the guest exited with code {c}"))
            ),
            r if r.is_crash() => format!(
                "{}{}",
                self.style.error(&self.machine.report(r).to_string()),
                format_args!("at {}", self.where_is(rip))
            ),
            r => format!("{} [{t:.6} s]", self.style.bold(&r.to_string())),
        }
    }

    /// Copies what completion needs into the shared state.
    pub fn sync_shared(&self) {
        let mut s = self.shared.borrow_mut();
        s.snapshots = self.snapshots.keys().cloned().collect();
        let mut maps: Vec<String> = self
            .tracer
            .map_dump()
            .into_iter()
            .map(|m| m.name)
            .filter(|n| !n.starts_with('.'))
            .collect();
        maps.sort();
        maps.dedup();
        s.maps = maps;
        s.probes = self.tracer.probes().iter().map(|p| p.id).collect();
        s.breakpoints = self.breakpoints.keys().copied().collect();
    }
}

/// Places breakpoint `id`'s hook at `addr`: count the hit, say which, stop the guest.
pub fn arm(
    machine: &mut Machine,
    id: u32,
    addr: u64,
    hits: &Rc<Cell<u64>>,
    hit: &Rc<Cell<Option<u32>>>,
) -> HookId {
    let (h, hit) = (hits.clone(), hit.clone());
    machine.add_hook(
        addr,
        Box::new(move |hc: &mut emu::HookContext<'_>| {
            h.set(h.get() + 1);
            hit.set(Some(id));
            hc.stop();
        }),
    )
}

/// The guest's end of the live console stream: blocks until `input` sends bytes; EOF once
/// real-time mode is turned off.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    pending: Vec<u8>,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            match self.rx.recv() {
                Ok(bytes) => self.pending = bytes,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

/// A tracer whose events print as they happen (when `live` is set).
fn new_tracer(img: &Rc<GuestImage>, live: Rc<Cell<bool>>, at_start: Rc<Cell<bool>>) -> Tracer {
    let tracer = Tracer::new(Some(img.clone()));
    tracer
        .events()
        .borrow_mut()
        .set_sink(Some(Box::new(move |e: &probes::events::Event| {
            if live.get() {
                if !at_start.get() {
                    println!();
                    at_start.set(true);
                }
                println!("{}", e.to_text());
            }
        })));
    tracer
}
