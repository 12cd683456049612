//! Driving a machine while recording ([`Recorder`]) and re-executing a recording with
//! checkpoint verification ([`replay`]).
//!
//! Both sides run the guest in the same segments: the recorder stops at every multiple of the
//! checkpoint interval (a virtual-time budget, which stops at a block boundary), and the replay
//! runs to each recorded checkpoint's virtual time, which lands on the same boundary when the
//! guest does the same work. Console input is replayed from the log
//! ([`crate::InputSource::Replay`]) at the recorded instruction counts.

use super::checkpoint::{self, regs_fields, PageHasher};
use super::format::{
    Checkpoint, EndInfo, Header, RecordWriter, Recording, SectionSizes, SnapshotBlob,
};
use super::RecordError;
use crate::{InputSource, Limits, Machine, StopReason};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// How a recording went.
#[derive(Debug, Clone)]
pub struct RecordSummary {
    /// Why the run stopped.
    pub reason: StopReason,
    /// Bytes per section kind.
    pub sizes: SectionSizes,
    /// Checkpoints written (including the first and the last).
    pub checkpoints: u32,
    /// Input events written.
    pub inputs: usize,
    /// Instructions recorded (from the start of the recording).
    pub insns: u64,
    /// Virtual time recorded (from the start of the recording).
    pub virtual_ns: u64,
    /// Host time spent taking checkpoints.
    pub checkpoint_host: Duration,
    /// Host time of the whole recording run.
    pub host: Duration,
}

/// Records a running machine: checkpoints and input events are streamed to a
/// [`RecordWriter`] as the guest runs.
#[derive(Debug)]
pub struct Recorder {
    w: RecordWriter,
    hasher: PageHasher,
    next_index: u32,
    inputs_written: usize,
    start_insns: u64,
    start_ns: u64,
    interval: u64,
    console_start: usize,
    checkpoint_host: Duration,
}

impl Recorder {
    /// Start recording `m` as it is now into `path`: writes the header, the snapshot (if the
    /// recording starts from one; `m` must be in exactly that state) and checkpoint 0.
    pub fn start(
        m: &Machine,
        path: &Path,
        header: &Header,
        snapshot: Option<&SnapshotBlob>,
    ) -> Result<Self, RecordError> {
        let mut w = RecordWriter::create(path, header)?;
        if let Some(s) = snapshot {
            if let Err(e) = w.snapshot(s) {
                w.abandon();
                return Err(e);
            }
        }
        let t = Instant::now();
        let mut hasher = PageHasher::new(m.memory());
        let cp0 = checkpoint::take(m, &mut hasher, 0);
        let checkpoint_host = t.elapsed();
        if let Err(e) = w.checkpoint(&cp0) {
            w.abandon();
            return Err(e);
        }
        Ok(Self {
            w,
            hasher,
            next_index: 1,
            inputs_written: m.input_log().len(),
            start_insns: m.stats().instructions,
            start_ns: m.now_ns(),
            interval: header.checkpoint_interval_ns.max(1),
            console_start: m.console().len(),
            checkpoint_host,
        })
    }

    fn flush_inputs(&mut self, m: &Machine) -> Result<(), RecordError> {
        let log = m.input_log();
        for e in &log[self.inputs_written.min(log.len())..] {
            self.w.input(e)?;
        }
        self.inputs_written = log.len();
        Ok(())
    }

    fn checkpoint(&mut self, m: &Machine) -> Result<(), RecordError> {
        let t = Instant::now();
        let cp = checkpoint::take(m, &mut self.hasher, self.next_index);
        self.checkpoint_host += t.elapsed();
        self.next_index += 1;
        self.w.checkpoint(&cp)
    }

    /// Run the guest until it stops, `duration_ns` of virtual time passes, or the host asks
    /// (`run` is how one segment is run, e.g. with Ctrl-C turned into a stop request), then
    /// finish the file. Whatever stopped the guest, the file is completed.
    pub fn run(
        mut self,
        m: &mut Machine,
        duration_ns: Option<u64>,
        run: &mut dyn FnMut(&mut Machine, Limits) -> StopReason,
    ) -> Result<RecordSummary, RecordError> {
        let host = Instant::now();
        let end_ns = duration_ns.map(|d| self.start_ns.saturating_add(d));
        let reason = loop {
            let now = m.now_ns();
            let k = (now - self.start_ns) / self.interval + 1;
            let target = self
                .start_ns
                .saturating_add(k.saturating_mul(self.interval));
            let stop_at = end_ns.map_or(target, |e| e.min(target));
            let reason = run(
                m,
                Limits {
                    max_insns: None,
                    max_virtual_ns: Some(stop_at.saturating_sub(now)),
                },
            );
            self.flush_inputs(m)?;
            let at_end = end_ns.is_some_and(|e| m.now_ns() >= e);
            if reason == StopReason::TimeBudget && !at_end {
                self.checkpoint(m)?;
                continue;
            }
            break reason;
        };
        self.checkpoint(m)?;
        let guest_stop = !matches!(
            reason,
            StopReason::TimeBudget
                | StopReason::InsnBudget
                | StopReason::HostRequest
                | StopReason::HookRequest
        );
        let end = EndInfo {
            reason: reason.to_string(),
            guest_stop,
            insns: m.stats().instructions,
            virtual_ns: m.now_ns(),
            console_bytes: (m.console().len().saturating_sub(self.console_start)) as u64,
        };
        let checkpoints = self.next_index;
        let inputs = self.inputs_written;
        let sizes = self.w.finish(&end)?;
        Ok(RecordSummary {
            reason,
            sizes,
            checkpoints,
            inputs,
            insns: end.insns - self.start_insns,
            virtual_ns: end.virtual_ns - self.start_ns,
            checkpoint_host: self.checkpoint_host,
            host: host.elapsed(),
        })
    }
}

/// Where a replay stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Until {
    /// At the end of the recording.
    #[default]
    End,
    /// After verifying this checkpoint.
    Checkpoint(u32),
    /// At this virtual time (ns since boot; checkpoints up to it are verified).
    Time(u64),
}

/// A register that differs at a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegDiff {
    /// Register name.
    pub name: &'static str,
    /// Value in the recording.
    pub recorded: u64,
    /// Value in the replay.
    pub replayed: u64,
}

/// A RAM page that differs at a checkpoint (hash since the previous checkpoint; `None` means
/// "unchanged since the previous checkpoint").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageDiff {
    /// Page number (physical address / 4096).
    pub page: u32,
    /// New hash in the recording.
    pub recorded: Option<u64>,
    /// New hash in the replay.
    pub replayed: Option<u64>,
}

/// The first checkpoint at which the replay differs from the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Checkpoint index.
    pub checkpoint: u32,
    /// (instructions, virtual ns) in the recording.
    pub recorded_at: (u64, u64),
    /// (instructions, virtual ns) in the replay.
    pub replayed_at: (u64, u64),
    /// Registers that differ.
    pub regs: Vec<RegDiff>,
    /// Pages that differ.
    pub pages: Vec<PageDiff>,
    /// The device states differ.
    pub devices: bool,
    /// Console input was injected differently.
    pub input: Option<String>,
    /// The replayed guest stopped differently (e.g. crashed before the checkpoint).
    pub stop: Option<String>,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "diverged at checkpoint {} (recorded at {} instructions, {:.6} s; replay at {} instructions, {:.6} s)",
            self.checkpoint,
            self.recorded_at.0,
            self.recorded_at.1 as f64 / 1e9,
            self.replayed_at.0,
            self.replayed_at.1 as f64 / 1e9
        )?;
        if let Some(s) = &self.stop {
            writeln!(f, "  stop: {s}")?;
        }
        if let Some(s) = &self.input {
            writeln!(f, "  input: {s}")?;
        }
        if !self.regs.is_empty() {
            writeln!(f, "  registers ({} differ):", self.regs.len())?;
            for r in &self.regs {
                writeln!(
                    f,
                    "    {:<6} recorded {:#018x} replayed {:#018x}",
                    r.name, r.recorded, r.replayed
                )?;
            }
        }
        if self.devices {
            writeln!(f, "  device state differs")?;
        }
        if !self.pages.is_empty() {
            let show = |h: Option<u64>| match h {
                Some(h) => format!("{h:016x}"),
                None => "unchanged".to_string(),
            };
            writeln!(f, "  RAM pages ({} differ):", self.pages.len())?;
            for p in self.pages.iter().take(16) {
                writeln!(
                    f,
                    "    {:#010x}  recorded {} replayed {}",
                    u64::from(p.page) * super::PAGE_SIZE as u64,
                    show(p.recorded),
                    show(p.replayed)
                )?;
            }
            if self.pages.len() > 16 {
                writeln!(f, "    ... {} more", self.pages.len() - 16)?;
            }
        }
        Ok(())
    }
}

/// The result of a replay.
#[derive(Debug, Clone)]
pub struct ReplayOutcome {
    /// Checkpoints verified (index 0 included).
    pub verified: u32,
    /// Checkpoints in the recording.
    pub total: u32,
    /// Why the last segment stopped.
    pub reason: StopReason,
    /// The first divergence, if any (the replay stopped there).
    pub divergence: Option<Divergence>,
    /// The replay reached the end of the recording (not stopped early by `until`, a
    /// divergence or the host).
    pub completed: bool,
}

/// Compare the machine with recorded checkpoint `cp`.
fn verify(
    m: &Machine,
    hasher: &mut PageHasher,
    cp: &Checkpoint,
    rec: &Recording,
    log_base: usize,
) -> Option<Divergence> {
    let mine = checkpoint::take(m, hasher, cp.index);
    let mut d = Divergence {
        checkpoint: cp.index,
        recorded_at: (cp.insns, cp.virtual_ns),
        replayed_at: (mine.insns, mine.virtual_ns),
        regs: Vec::new(),
        pages: Vec::new(),
        devices: mine.devices_hash != cp.devices_hash,
        input: None,
        stop: None,
    };
    let names = regs_fields(&crate::Regs::default());
    for (i, (name, _)) in names.iter().enumerate() {
        let (a, b) = (cp.regs.get(i).copied(), mine.regs.get(i).copied());
        if a != b {
            d.regs.push(RegDiff {
                name,
                recorded: a.unwrap_or(0),
                replayed: b.unwrap_or(0),
            });
        }
    }
    if mine.ram_hash != cp.ram_hash {
        let rec_pages: BTreeMap<u32, u64> = cp.pages.iter().copied().collect();
        let my_pages: BTreeMap<u32, u64> = mine.pages.iter().copied().collect();
        let mut all: Vec<u32> = rec_pages.keys().chain(my_pages.keys()).copied().collect();
        all.sort_unstable();
        all.dedup();
        for page in all {
            let (a, b) = (rec_pages.get(&page).copied(), my_pages.get(&page).copied());
            if a != b {
                d.pages.push(PageDiff {
                    page,
                    recorded: a,
                    replayed: b,
                });
            }
        }
        if d.pages.is_empty() && cp.index == 0 {
            d.pages.push(PageDiff {
                page: 0,
                recorded: Some(cp.ram_hash),
                replayed: Some(mine.ram_hash),
            });
        }
    }
    let injected = &m.input_log()[log_base.min(m.input_log().len())..];
    let expected = rec
        .inputs
        .iter()
        .filter(|e| e.virtual_ns < cp.virtual_ns)
        .count();
    if let Some((i, e)) = injected
        .iter()
        .enumerate()
        .find(|(i, e)| rec.inputs.get(*i) != Some(*e))
    {
        d.input = Some(match rec.inputs.get(i) {
            Some(r) => format!(
                "input event {i} injected at {} instructions, {} ns; recorded at {}, {} ns",
                e.insns, e.virtual_ns, r.insns, r.virtual_ns
            ),
            None => format!("input event {i} was not recorded"),
        });
    } else if injected.len() != expected {
        d.input = Some(format!(
            "{} input events injected before this checkpoint, {expected} recorded",
            injected.len()
        ));
    }
    let same = d.recorded_at == d.replayed_at
        && d.regs.is_empty()
        && d.pages.is_empty()
        && !d.devices
        && d.input.is_none();
    (!same).then_some(d)
}

/// Replay `rec` on `m`, a machine freshly booted from the recorded image and configuration
/// (with any code hooks already attached: hooks that only read guest state do not change the
/// run). Restores the starting snapshot if there is one, feeds the input log, and verifies
/// every checkpoint up to `until`; `run` runs one segment (e.g. interruptibly).
pub fn replay(
    rec: &Recording,
    m: &mut Machine,
    until: Until,
    run: &mut dyn FnMut(&mut Machine, Limits) -> StopReason,
) -> Result<ReplayOutcome, RecordError> {
    let mem = m.memory().len() as u64;
    if mem != rec.header.config.mem_bytes {
        return Err(RecordError::Mismatch(format!(
            "the machine has {mem} bytes of RAM, the recording {}",
            rec.header.config.mem_bytes
        )));
    }
    if let Some(s) = &rec.snapshot {
        m.restore(&s.to_snapshot()?)?;
    }
    let log_base = m.input_log().len();
    m.set_input(InputSource::Replay(rec.inputs.clone()));
    let total = rec.checkpoints.len() as u32;
    let mut hasher = PageHasher::new(m.memory());
    let mut outcome = ReplayOutcome {
        verified: 0,
        total,
        reason: StopReason::TimeBudget,
        divergence: None,
        completed: false,
    };
    let last = total.saturating_sub(1);
    for cp in &rec.checkpoints {
        if cp.index > 0 {
            let now = m.now_ns();
            let target = match until {
                Until::Time(t) if t < cp.virtual_ns => t,
                _ => cp.virtual_ns,
            };
            let reason = run(
                m,
                Limits {
                    max_insns: None,
                    max_virtual_ns: Some(target.saturating_sub(now)),
                },
            );
            outcome.reason = reason.clone();
            if reason == StopReason::HostRequest {
                return Ok(outcome);
            }
            if target < cp.virtual_ns {
                if reason == StopReason::TimeBudget {
                    return Ok(outcome);
                }
            } else {
                let budget = reason == StopReason::TimeBudget;
                let recorded_guest_stop = cp.index == last && rec.end.guest_stop;
                let stop_differs = if recorded_guest_stop {
                    reason.to_string() != rec.end.reason
                } else {
                    !budget
                };
                let mut d = verify(m, &mut hasher, cp, rec, log_base);
                if stop_differs {
                    let want = if recorded_guest_stop {
                        rec.end.reason.clone()
                    } else {
                        "virtual-time budget reached".to_string()
                    };
                    let dd = d.get_or_insert_with(|| Divergence {
                        checkpoint: cp.index,
                        recorded_at: (cp.insns, cp.virtual_ns),
                        replayed_at: (m.stats().instructions, m.now_ns()),
                        regs: Vec::new(),
                        pages: Vec::new(),
                        devices: false,
                        input: None,
                        stop: None,
                    });
                    dd.stop = Some(format!(
                        "replay stopped with \"{reason}\", recording with \"{want}\""
                    ));
                }
                if let Some(d) = d {
                    outcome.divergence = Some(d);
                    return Ok(outcome);
                }
            }
        } else if let Some(d) = verify(m, &mut hasher, cp, rec, log_base) {
            outcome.divergence = Some(d);
            return Ok(outcome);
        }
        outcome.verified = cp.index + 1;
        match until {
            Until::Checkpoint(k) if k == cp.index => return Ok(outcome),
            Until::Time(t) if t <= cp.virtual_ns => return Ok(outcome),
            _ => {}
        }
    }
    outcome.completed = true;
    Ok(outcome)
}
