//! `bpflab replay`: re-execute a recording with filters attached (same `--attach` syntax and
//! output as `bpflab trace`), verifying every checkpoint; on divergence, name the first
//! checkpoint that differs, what differs, and the last probe hits before it.
//! `bpflab replay --info FILE` describes a recording.

use crate::error::CliError;
use emu::record::{self, Recording, Until};
use probes::image::GuestImage;
use probes::tracer::Tracer;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Probe hits kept to explain a divergence.
const LAST_HITS: usize = 5;

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The recording (.bpfrec).
    file: PathBuf,
    /// Filters to attach, as for `bpflab trace` (`POINT=FILE[:PROGRAM]` or `FILE`). Repeatable.
    #[arg(long = "attach")]
    attach: Vec<String>,
    /// Print events, probe statistics, maps and the verdict as JSON lines.
    #[arg(long)]
    pub json: bool,
    /// Stop after this checkpoint (a number) or at this virtual time (e.g. 1500ms).
    #[arg(long)]
    until: Option<String>,
    /// Print what the recording holds and exit.
    #[arg(long)]
    info: bool,
    /// The image to replay on, if it moved since the recording (its hash must match).
    #[arg(long)]
    image: Option<String>,
    /// Also show the guest's console.
    #[arg(long)]
    console: bool,
    /// Run programs the verifier rejects, checked (as for `bpflab trace`).
    #[arg(long)]
    unverified: bool,
    /// `MAP=N`: a map's max_entries (as for `bpflab trace`). Repeatable.
    #[arg(long = "map-size", value_parser = crate::trace::parse_map_size)]
    map_sizes: Vec<(String, u32)>,
    /// `NAME=VALUE`: a global variable of the attached objects (as for `bpflab trace`).
    /// Repeatable.
    #[arg(long = "set", value_parser = crate::trace::parse_global)]
    globals: Vec<(String, String)>,
}

fn parse_until(s: &str) -> Result<Until, String> {
    if let Ok(n) = s.parse::<u32>() {
        return Ok(Until::Checkpoint(n));
    }
    let ns = emu::duration::parse_ns(s)
        .map_err(|e| format!("--until {s}: neither a checkpoint number nor a duration ({e})"))?;
    Ok(Until::Time(ns))
}

pub fn replay(a: ReplayArgs) -> Result<ExitCode, CliError> {
    let rec = record::read_file(&a.file).map_err(|e| match e {
        record::RecordError::Io { path, source } => CliError::Read {
            path: path.into(),
            source,
        },
        e => CliError::path(&a.file, e),
    })?;
    if a.info {
        print_info(&a.file, &rec, a.json);
        return Ok(ExitCode::SUCCESS);
    }
    let until = a.until.as_deref().map(parse_until).transpose()?;
    if let Some(Until::Checkpoint(k)) = until {
        if k as usize >= rec.checkpoints.len() {
            return Err(format!(
                "--until {k}: the recording has checkpoints 0..={}",
                rec.checkpoints.len() - 1
            )
            .into());
        }
    }
    let crate::images::Booted {
        machine: mut m,
        name,
        elf,
        ..
    } = crate::record::boot_recorded(&rec.header, a.image.as_deref(), &a.file)?;
    let img = Rc::new(GuestImage::new(&name, elf).map_err(|e| CliError::input(name.as_str(), e))?);
    if a.console {
        m.set_console_sink(Some(emu::stdout_sink()));
    }
    let mut tracer = Tracer::new(Some(img.clone()));
    let json = a.json;
    let last: Rc<RefCell<VecDeque<String>>> = Rc::default();
    let keep = last.clone();
    tracer
        .events()
        .borrow_mut()
        .set_sink(Some(Box::new(move |e: &probes::events::Event| {
            let line = if json { e.to_json() } else { e.to_text() };
            println!("{line}");
            let mut k = keep.borrow_mut();
            if k.len() == LAST_HITS {
                k.pop_front();
            }
            k.push_back(e.to_text());
        })));
    let knobs = crate::trace::Knobs {
        map_sizes: &a.map_sizes,
        globals: &a.globals,
    };
    crate::trace::attach_all(&mut tracer, &mut m, &img, &a.attach, &knobs, a.unverified)?;
    if !json {
        eprintln!(
            "bpflab: {} probe(s) attached to {}; replaying {} ({} checkpoints)",
            tracer.probes().len(),
            name,
            a.file.display(),
            rec.checkpoints.len()
        );
    }
    let started = Instant::now();
    let recorded = rec.checkpoints.last().map(|c| {
        let first = rec.checkpoints.first().map_or(0, |f| f.virtual_ns);
        Duration::from_nanos(c.virtual_ns.saturating_sub(first))
    });
    let progress = crate::progress::RunProgress::start(&m, recorded, "replaying", true);
    let outcome = record::replay(&rec, &mut m, until.unwrap_or_default(), &mut |m, l| {
        crate::images::run_interruptible(m, l).unwrap_or(emu::StopReason::HostRequest)
    })
    .map_err(|e| CliError::path(&a.file, e))?;
    drop(progress);
    let host = started.elapsed();
    if outcome.reason.is_crash() {
        eprintln!("{}", m.report(&outcome.reason));
    }
    let describe = |a: u64| match img.describe(a) {
        (Some(sym), Some(src)) => format!("{sym} ({src})"),
        (Some(sym), None) => sym,
        _ => format!("{a:#x}"),
    };
    crate::trace::report(&tracer, &outcome.reason, &m, host, json, &describe);
    let last: Vec<String> = last.borrow().iter().cloned().collect();
    if json {
        let div = outcome.divergence.as_ref().map(|d| {
            serde_json::json!({
                "checkpoint": d.checkpoint,
                "recorded_insns": d.recorded_at.0,
                "recorded_ns": d.recorded_at.1,
                "replayed_insns": d.replayed_at.0,
                "replayed_ns": d.replayed_at.1,
                "registers": d.regs.iter().map(|r| serde_json::json!({
                    "name": r.name, "recorded": r.recorded, "replayed": r.replayed
                })).collect::<Vec<_>>(),
                "pages": d.pages.iter().map(|p| u64::from(p.page) * record::PAGE_SIZE as u64).collect::<Vec<_>>(),
                "devices": d.devices,
                "input": d.input,
                "stop": d.stop,
                "last_hits": last,
            })
        });
        println!(
            "{}",
            serde_json::json!({
                "version": probes::events::JSON_VERSION,
                "type": "replay",
                "verified": outcome.verified,
                "checkpoints": outcome.total,
                "completed": outcome.completed,
                "diverged": div,
            })
        );
    } else {
        match &outcome.divergence {
            None => eprintln!(
                "replay: {} of {} checkpoints verified{}",
                outcome.verified,
                outcome.total,
                if outcome.completed {
                    ""
                } else {
                    " (stopped early)"
                }
            ),
            Some(d) => {
                eprint!("replay: {d}");
                eprintln!("  last probe hits before it:");
                if last.is_empty() {
                    eprintln!("    (none)");
                }
                for l in &last {
                    eprintln!("    {l}");
                }
                for p in tracer.probes() {
                    eprintln!("    probe {} {}: {} hits", p.id, p.spec, p.stats.hits);
                }
            }
        }
    }
    Ok(if outcome.divergence.is_some() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_info(file: &Path, rec: &Recording, json: bool) {
    let h = &rec.header;
    let first = rec.checkpoints.first();
    let start_ns = first.map_or(0, |c| c.virtual_ns);
    let pages: usize = rec.checkpoints.iter().map(|c| c.pages.len()).sum();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "type": "recording",
                "file": file.display().to_string(),
                "version": probes::events::JSON_VERSION,
                "format_version": rec.version,
                "created_by": h.created_by,
                "image": h.image,
                "config": h.config,
                "input": h.input,
                "checkpoint_interval_ns": h.checkpoint_interval_ns,
                "snapshot": rec.snapshot.as_ref().map(|s| serde_json::json!({
                    "insns": s.insns,
                    "virtual_ns": s.insns + s.idle_ns,
                    "ram_bytes": s.ram_len,
                    "ram_zstd_bytes": s.ram_zstd.len(),
                })),
                "input_events": rec.inputs.len(),
                "input_bytes": rec.inputs.iter().map(|e| e.bytes.len()).sum::<usize>(),
                "checkpoints": rec.checkpoints.len(),
                "dirty_pages": pages,
                "start_ns": start_ns,
                "end": rec.end,
                "sizes": rec.sizes,
            })
        );
        return;
    }
    println!("recording   {}", file.display());
    println!("format      version {} ({})", rec.version, h.created_by);
    println!(
        "image       {} ({} bytes, xxh3 {}, symbols {})",
        h.image.name, h.image.size, h.image.hash, h.image.symbols_hash
    );
    println!(
        "machine     {} MiB RAM, {} boot, cmdline {:?}{}",
        h.config.mem_bytes >> 20,
        h.config.kind,
        h.config.cmdline,
        h.config
            .initrd
            .as_ref()
            .map(|r| format!(", initrd {} (xxh3 {})", r.path, r.hash))
            .unwrap_or_default()
    );
    match &rec.snapshot {
        Some(s) => println!(
            "start       snapshot at {:.6} s ({} instructions), RAM {} bytes -> {} zstd",
            (s.insns + s.idle_ns) as f64 / 1e9,
            s.insns,
            s.ram_len,
            s.ram_zstd.len()
        ),
        None => println!("start       boot"),
    }
    println!(
        "input       {} ({} events, {} bytes)",
        h.input,
        rec.inputs.len(),
        rec.inputs.iter().map(|e| e.bytes.len()).sum::<usize>()
    );
    println!(
        "checkpoints {} every {} ms, {} dirty pages listed",
        rec.checkpoints.len(),
        h.checkpoint_interval_ns as f64 / 1e6,
        pages
    );
    println!(
        "end         {} at {:.6} s ({} instructions), {} console bytes",
        rec.end.reason,
        rec.end.virtual_ns as f64 / 1e9,
        rec.end.insns,
        rec.end.console_bytes
    );
    let s = rec.sizes;
    println!(
        "size        {} bytes: header {}, snapshot {}, input {}, checkpoints {}, end {}",
        s.total, s.header, s.snapshot, s.input, s.checkpoints, s.end
    );
}
