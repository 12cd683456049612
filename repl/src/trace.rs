//! `bpflab trace`: boot a guest with filters attached to its kernel functions and print what
//! they report: events as they happen (trace_pipe lines, or JSON with `--json`), then probe
//! statistics and the filters' maps, bpftrace style, when the guest stops.

use crate::args::parse_duration;
use crate::error::CliError;
use crate::mapfmt;
use probes::image::GuestImage;
use probes::load::{load_file, LoadOptions};
use probes::tracer::Tracer;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct TraceArgs {
    #[command(flatten)]
    guest: crate::images::GuestArgs,
    /// `POINT=FILE[:PROGRAM]` (POINT: SYMBOL, SYMBOL+OFF, SYMBOL%return, 0xADDR,
    /// kprobe:SYMBOL, kretprobe:SYMBOL, a glob such as 'ip_*', ksyscall:NAME,
    /// tracepoint:CAT:NAME, rawtracepoint:NAME, fentry:F, fexit:F, profile:hz:N,
    /// interval:s:N; `bpflab list` shows them), or just `FILE` to attach each program where
    /// its ELF section says (`kprobe/SYMBOL`, `tracepoint/CAT/NAME`, `raw_tp/NAME`,
    /// `fentry/F`, `ksyscall/NAME`, `perf_event` at 49 Hz, `bpflab/SYMBOL`...; programs whose
    /// point the guest lacks are left out with a warning). FILE is a `.c`, `.o` or `.s`;
    /// PROGRAM a program or section name. Repeatable.
    #[arg(long = "attach", required = true)]
    attach: Vec<String>,
    /// Print events, probe statistics and maps as JSON lines.
    #[arg(long)]
    pub json: bool,
    /// Stop after this much virtual time (default: when the guest stops, at most 60s).
    #[arg(long = "for", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Also show the guest's console.
    #[arg(long)]
    console: bool,
    /// Run programs the verifier rejects anyway, with every memory access checked (for
    /// learning what the verifier refuses; never needed for correct programs).
    #[arg(long)]
    unverified: bool,
    /// `MAP=N`: the map's max_entries, as a tool's user space sets it before loading (a map
    /// with max_entries 0 needs one). Repeatable.
    #[arg(long = "map-size", value_parser = parse_map_size)]
    map_sizes: Vec<(String, u32)>,
    /// `NAME=VALUE`: a global variable of the attached objects (a `const volatile` knob in
    /// `.rodata`, or `.data`/`.bss`), set before loading as a tool's user space sets it:
    /// integers, true/false, enum names, strings into char arrays. Repeatable.
    #[arg(long = "set", value_parser = parse_global)]
    globals: Vec<(String, String)>,
}

/// `NAME=VALUE`.
pub(crate) fn parse_global(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(name, _)| !name.trim().is_empty())
        .map(|(n, v)| (n.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("'{s}': expected NAME=VALUE, e.g. targ_pid=42"))
}

/// `MAP=N`.
pub(crate) fn parse_map_size(s: &str) -> Result<(String, u32), String> {
    let (name, n) = s
        .split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| format!("'{s}': expected MAP=N, e.g. stackmap=1024"))?;
    match n.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok((name.to_string(), n)),
        _ => Err(format!(
            "'{s}': the size must be a whole number from 1 to {}",
            u32::MAX
        )),
    }
}

/// What a tool's user space would set before loading: map sizes and global variables.
#[derive(Debug, Default)]
pub(crate) struct Knobs<'a> {
    pub map_sizes: &'a [(String, u32)],
    pub globals: &'a [(String, String)],
}

/// `POINT=FILE[:PROGRAM]` or `FILE[:PROGRAM]`.
struct AttachArg {
    point: Option<String>,
    file: PathBuf,
    program: Option<String>,
}

fn parse_attach(arg: &str) -> Result<AttachArg, String> {
    let (point, rest) = match arg.split_once('=') {
        Some((p, f)) if !p.is_empty() => (Some(p.to_string()), f),
        Some(_) => return Err(format!("--attach '{arg}': missing the point before '='")),
        None => (None, arg),
    };
    if rest.is_empty() {
        return Err(format!("--attach '{arg}': missing the filter file"));
    }
    let (file, program) = split_program(rest)?;
    Ok(AttachArg {
        point,
        file,
        program,
    })
}

/// `FILE` or `FILE:PROGRAM`, where PROGRAM is a program or section name, slashes and all
/// (`FILE:kprobe/vfs_read`): the file is the whole text when it exists, else the first
/// prefix before a ':' that does.
pub(crate) fn split_program(text: &str) -> Result<(PathBuf, Option<String>), String> {
    if Path::new(text).exists() {
        return Ok((PathBuf::from(text), None));
    }
    text.match_indices(':')
        .map(|(i, _)| (&text[..i], &text[i + 1..]))
        .find(|(f, p)| !p.is_empty() && Path::new(f).is_file())
        .map(|(f, p)| (PathBuf::from(f), Some(p.to_string())))
        .ok_or_else(|| format!("{text}: no such file"))
}

pub fn trace(a: TraceArgs) -> Result<ExitCode, CliError> {
    let crate::images::Booted {
        machine: mut m,
        name,
        elf,
        ..
    } = crate::images::boot(&a.guest.options())?;
    let img = Rc::new(GuestImage::new(&name, elf).map_err(|e| CliError::input(name.as_str(), e))?);
    if a.console {
        m.set_console_sink(Some(emu::stdout_sink()));
    }
    let mut tracer = Tracer::new(Some(img.clone()));
    let json = a.json;
    tracer
        .events()
        .borrow_mut()
        .set_sink(Some(Box::new(move |e: &probes::events::Event| {
            if json {
                println!("{}", e.to_json());
            } else {
                println!("{}", e.to_text());
            }
        })));

    let knobs = Knobs {
        map_sizes: &a.map_sizes,
        globals: &a.globals,
    };
    attach_all(&mut tracer, &mut m, &img, &a.attach, &knobs, a.unverified)?;
    if !json {
        eprintln!(
            "bpflab: {} probe(s) attached to {}; running the guest",
            tracer.probes().len(),
            name
        );
    }
    let started = Instant::now();
    let total = a.duration.unwrap_or(Duration::from_secs(60));
    let progress = crate::progress::RunProgress::start(&m, Some(total), "tracing", true);
    let reason = crate::images::run_interruptible(&mut m, emu::Limits::virtual_time(total))?;
    drop(progress);
    let host = started.elapsed();
    if reason.is_crash() {
        eprintln!("{}", m.report(&reason));
    }
    let describe = |a: u64| match img.describe(a) {
        (Some(sym), Some(src)) => format!("{sym} ({src})"),
        (Some(sym), None) => sym,
        _ => format!("{a:#x}"),
    };
    report(&tracer, &reason, &m, host, json, &describe);
    Ok(if crate::images::clean_stop(&reason) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Compiles, loads and attaches every `--attach` argument (shared by `trace` and `replay`).
pub(crate) fn attach_all(
    tracer: &mut Tracer,
    m: &mut emu::Machine,
    img: &Rc<GuestImage>,
    attach: &[String],
    knobs: &Knobs<'_>,
    unverified: bool,
) -> Result<(), CliError> {
    let map_sizes = knobs.map_sizes;
    let args: Vec<AttachArg> = attach
        .iter()
        .map(|s| parse_attach(s))
        .collect::<Result<_, String>>()?;
    let include_dirs = if args
        .iter()
        .any(|x| x.file.extension().is_some_and(|e| e == "c"))
    {
        vec![crate::images::vmlinux_dir(img)?]
    } else {
        Vec::new()
    };
    let core = |q: &jit::btf::core::CoreQuery<'_>| img.core_answer(q);
    let opts = LoadOptions {
        include_dirs,
        core: Some(&core),
        map_sizes: map_sizes.to_vec(),
        globals: knobs.globals.to_vec(),
        ..LoadOptions::default()
    };
    let mut maps_seen = Vec::new();
    let mut globals_set = Vec::new();
    let mut globals_seen = Vec::new();
    for arg in &args {
        // An explicit point must exist before anything is compiled.
        if let Some(p) = &arg.point {
            probes::point::Point::parse(p)
                .and_then(|pt| pt.resolve(img))
                .map_err(|e| CliError::input(p.as_str(), e))?;
        }
        let filter = load_file(&arg.file, &opts).map_err(|e| CliError::path(&arg.file, e))?;
        maps_seen.extend(filter.maps.iter().map(|m| m.def().name.clone()));
        globals_set.extend(filter.globals_set.iter().cloned());
        globals_seen.extend(filter.globals.iter().cloned());
        let attached = probes::plan::attach_filter(
            tracer,
            m,
            filter,
            arg.point.as_deref(),
            arg.program.as_deref(),
            unverified,
        )
        .map_err(|e| CliError::path(&arg.file, e))?;
        for w in attached.warnings {
            eprintln!("bpflab: warning: {w}");
        }
    }
    if let Some((name, v)) = knobs.globals.iter().find(|(n, _)| !globals_set.contains(n)) {
        return Err(CliError::Message(format!(
            "--set {name}={v}: no attached object has a global variable named '{name}' \
             (their globals: {})",
            if globals_seen.is_empty() {
                "none".to_string()
            } else {
                globals_seen.join(", ")
            }
        )));
    }
    if let Some((name, n)) = map_sizes.iter().find(|(name, _)| !maps_seen.contains(name)) {
        return Err(CliError::Message(format!(
            "--map-size {name}={n}: no attached object has a map named '{name}' (its maps: {})",
            if maps_seen.is_empty() {
                "none".to_string()
            } else {
                maps_seen.join(", ")
            }
        )));
    }
    Ok(())
}

pub(crate) fn report(
    tracer: &Tracer,
    reason: &emu::StopReason,
    m: &emu::Machine,
    host: Duration,
    json: bool,
    describe: &dyn Fn(u64) -> String,
) {
    let maps = tracer.map_dump();
    if json {
        for p in tracer.probes() {
            println!(
                "{}",
                serde_json::json!({
                    "version": probes::events::JSON_VERSION,
                    "type": "probe",
                    "id": p.id,
                    "spec": p.spec,
                    "location": p.location,
                    "addr": p.addr,
                    "program": p.program,
                    "hits": p.stats.hits,
                    "errors": p.stats.errors,
                    "missed": p.stats.missed,
                    "mean_ns": p.stats.mean_ns(),
                    "last_error": p.stats.last_error,
                })
            );
        }
        for v in mapfmt::json_report(&maps) {
            println!("{v}");
        }
        println!(
            "{}",
            serde_json::json!({
                "version": probes::events::JSON_VERSION,
                "type": "stop",
                "reason": reason.to_string(),
                "guest_ns": m.now_ns(),
                "host_ms": host.as_millis() as u64,
            })
        );
        return;
    }
    println!();
    print!("{}", mapfmt::text_report(&maps, describe));
    eprintln!(
        "stop: {reason} after {:.3} s of guest time, {:.3} s of host time",
        m.now_ns() as f64 / 1e9,
        host.as_secs_f64()
    );
    eprintln!(
        "{:>3}  {:<24} {:<20} {:<16} {:>8} {:>7} {:>9}",
        "id", "probe", "location", "program", "hits", "errors", "mean"
    );
    for p in tracer.probes() {
        eprintln!(
            "{:>3}  {:<24} {:<20} {:<16} {:>8} {:>7} {:>7}ns",
            p.id,
            p.spec,
            p.location,
            p.program,
            p.stats.hits,
            p.stats.errors,
            p.stats.mean_ns()
        );
        if let Some(e) = &p.stats.last_error {
            eprintln!("     last error: {e}");
        }
    }
}
