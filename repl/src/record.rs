//! `bpflab record`: run a guest and write a recording (`.bpfrec`, see `emu::record`) that
//! `bpflab replay` re-executes with any filters attached.
//!
//! The recording holds the image's identity, the machine configuration, the console input
//! log, a checkpoint every `--checkpoint-every` of virtual time, optionally a starting snapshot
//! (`--start-at`: boot, run that long, then record from there), and a checksum. It is
//! streamed to a temporary file and renamed when complete; Ctrl-C or a guest crash ends the
//! recording cleanly at that point.

use crate::args::{parse_duration, parse_period};
use crate::error::{CliError, Noted};
use crate::images;
use emu::record::{FileIdentity, Header, ImageIdentity, RecordedConfig, Recorder, SnapshotBlob};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct RecordArgs {
    #[command(flatten)]
    guest: images::GuestArgs,
    /// The recording to write (e.g. run.bpfrec).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Stop after this much virtual time (default: when the guest stops, at most 60s).
    #[arg(long = "for", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Virtual time between checkpoints.
    #[arg(long, default_value = "100ms", value_parser = parse_period)]
    checkpoint_every: Duration,
    /// Boot and run this long first, then start recording from a snapshot of that state
    /// (the recording then does not contain the boot).
    #[arg(long, value_parser = parse_duration)]
    start_at: Option<Duration>,
    /// Also show the guest's console.
    #[arg(long)]
    console: bool,
}

/// The identity and configuration of the guest `args` boots.
pub(crate) struct GuestSetup {
    pub header_image: ImageIdentity,
    pub config: RecordedConfig,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Path of the image file `image` names, if it is a file.
/// Where the image lives, for the header: built-in images are found by name on any machine,
/// so their host paths are not recorded.
fn image_path(image: &str) -> Result<Option<PathBuf>, CliError> {
    Ok(match image {
        "teaching" | "linux" => None,
        p => Some(std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p))),
    })
}

fn setup(g: &images::GuestArgs, booted: &images::Booted) -> Result<GuestSetup, CliError> {
    let path = image_path(&g.image)?;
    let header_image = ImageIdentity::of(&booted.name, path.as_deref(), &booted.elf);
    let linux = booted
        .machine
        .image()
        .is_some_and(|k| k.protocol() == emu::loader::BootProtocol::Linux64);
    // The built image's initramfs is recorded as `linux/initramfs.cpio.gz`: found in the
    // image directory of whichever machine replays (its hash says whether it is the same).
    let initrd_path = match (&g.initrd, g.image.as_str()) {
        (Some(p), _) => Some((std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()), None)),
        (None, "linux") => Some((
            images::linux_dir()?.join("initramfs.cpio.gz"),
            Some(format!("{LINUX_IMAGE_PREFIX}initramfs.cpio.gz")),
        )),
        _ => None,
    };
    let initrd = match initrd_path {
        Some((p, shown)) => {
            let bytes = std::fs::read(&p).map_err(|e| CliError::path(&p, e))?;
            Some(FileIdentity {
                path: shown.unwrap_or_else(|| p.display().to_string()),
                size: bytes.len() as u64,
                hash: emu::record::hash128_hex(&bytes),
            })
        }
        None => None,
    };
    Ok(GuestSetup {
        header_image,
        config: RecordedConfig {
            mem_bytes: booted.machine.memory().len() as u64,
            cmdline: booted.cmdline.clone(),
            kind: if linux { "linux" } else { "bpflab" }.into(),
            initrd,
        },
    })
}

fn human(bytes: u64) -> String {
    if bytes >= 10 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
    } else if bytes >= 10 << 10 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

pub fn record(a: RecordArgs) -> Result<ExitCode, CliError> {
    if a.output.is_dir() {
        return Err(CliError::Message(format!(
            "-o {}: is a directory; give the recording a file name, e.g. {}",
            a.output.display(),
            a.output.join("run.bpfrec").display()
        )));
    }
    let mut opts = a.guest.options();
    opts.input = None;
    opts.stdin = false;
    let booted = images::boot(&opts)?;
    let setup = setup(&a.guest, &booted)?;
    let mut m = booted.machine;
    if a.console {
        m.set_console_sink(Some(emu::stdout_sink()));
    }
    let mut snapshot = None;
    if let Some(d) = a.start_at {
        let reason = images::run_interruptible(&mut m, emu::Limits::virtual_time(d))?;
        if reason != emu::StopReason::TimeBudget {
            return Err(
                format!("--start-at {d:?}: the guest stopped before that ({reason})").into(),
            );
        }
        let at = format!("--start-at {d:?}: the snapshot the recording starts from");
        let snap = m.snapshot().map_err(|e| CliError::input(at.clone(), e))?;
        // Continue from the restored state, exactly as a replay will.
        m.restore(&snap)
            .map_err(|e| CliError::input(at.clone(), e))?;
        snapshot = Some(SnapshotBlob::from_snapshot(&snap).map_err(|e| CliError::input(at, e))?);
    }
    let linux = setup.config.kind == "linux";
    let input = if let Some(p) = &a.guest.input {
        // The script's errors begin with its path (`FILE:LINE: ...`).
        let script = emu::InputScript::from_file(p).map_err(|e| CliError::path(p, e))?;
        m.set_input(emu::InputSource::Script(script));
        format!("script {}", p.display())
    } else if a.guest.stdin || (linux && std::io::stdin().is_terminal()) {
        m.set_input(emu::InputSource::stream(std::io::stdin()));
        "stdin".to_string()
    } else {
        "none".to_string()
    };
    let header = Header {
        created_by: format!("bpflab {}", env!("CARGO_PKG_VERSION")),
        image: setup.header_image,
        config: setup.config,
        checkpoint_interval_ns: ns(a.checkpoint_every).max(1),
        input,
    };
    // The recorder's errors are about the recording (most name the file they write).
    let recorder = Recorder::start(&m, &a.output, &header, snapshot.as_ref())
        .map_err(|e| CliError::path(&a.output, e))?;
    eprintln!(
        "bpflab: recording {} to {} (checkpoint every {:?})",
        header.image.name,
        a.output.display(),
        a.checkpoint_every
    );
    let duration = a.duration.unwrap_or(Duration::from_secs(60));
    let progress = crate::progress::RunProgress::start(&m, Some(duration), "recording", a.console);
    let summary = recorder
        .run(&mut m, Some(ns(duration)), &mut |m, limits| {
            images::run_interruptible(m, limits).unwrap_or(emu::StopReason::HostRequest)
        })
        .map_err(|e| CliError::path(&a.output, e))?;
    drop(progress);
    if summary.reason.is_crash() {
        eprintln!("{}", m.report(&summary.reason));
    }
    let s = summary.sizes;
    let per_s = if summary.virtual_ns > 0 {
        (s.total - s.snapshot) as f64 * 1e9 / summary.virtual_ns as f64
    } else {
        0.0
    };
    eprintln!(
        "stop: {} after {:.3} s of guest time ({} instructions), {:.3} s of host time",
        summary.reason,
        summary.virtual_ns as f64 / 1e9,
        summary.insns,
        summary.host.as_secs_f64()
    );
    eprintln!(
        "wrote {}: {} ({} checkpoints {}, {} input events {}, snapshot {}, header+end {}); {}/s of guest time without the snapshot; checkpoints took {:.1} ms",
        a.output.display(),
        human(s.total),
        summary.checkpoints,
        human(s.checkpoints),
        summary.inputs,
        human(s.input),
        human(s.snapshot),
        human(s.header + s.end),
        human(per_s as u64),
        summary.checkpoint_host.as_secs_f64() * 1e3
    );
    Ok(if images::clean_stop(&summary.reason) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// How a recorded file path names a file of the built Linux image's directory.
const LINUX_IMAGE_PREFIX: &str = "linux/";

/// The file a recorded initrd path names: `linux/FILE` is in this machine's built Linux image;
/// a path recorded by an older bpflab that no longer exists is looked for there too.
fn recorded_file(path: &str, kind: &str) -> PathBuf {
    if let Some(f) = path.strip_prefix(LINUX_IMAGE_PREFIX) {
        if let Ok(dir) = images::linux_dir() {
            return dir.join(f);
        }
    }
    let p = PathBuf::from(path);
    if kind == "linux" && !p.exists() {
        if let (Ok(dir), Some(f)) = (images::linux_dir(), p.file_name()) {
            return dir.join(f);
        }
    }
    p
}

/// Boot the guest a recording names (or `image_override`), checking its identity.
pub(crate) fn boot_recorded(
    header: &Header,
    image_override: Option<&str>,
    file: &Path,
) -> Result<images::Booted, CliError> {
    let wanted = &header.image;
    let (name, elf) = match image_override {
        Some(i) => images::read_image(i)?,
        None => match wanted.name.as_str() {
            "teaching" | "linux" => images::read_image(&wanted.name)?,
            other => {
                let p = wanted.path.as_deref().unwrap_or(other);
                images::read_image(p).map_err(|e| {
                    let note = format!(
                        "the image {} was recorded with; give its new place with --image",
                        file.display()
                    );
                    CliError::input(p, Noted::new(e, note))
                })?
            }
        },
    };
    let hash = emu::record::hash128_hex(&elf);
    if hash != wanted.hash {
        return Err(CliError::Message(format!(
            "{}: recorded with image '{}' (xxh3 {}), but '{}' is a different image (xxh3 {})",
            file.display(),
            wanted.name,
            wanted.hash,
            name,
            hash
        )));
    }
    let elf = std::sync::Arc::new(elf);
    // The loader's errors begin with the image's name.
    let kernel = emu::KernelImage::parse(&name, elf.clone())
        .map_err(|e| CliError::input(name.as_str(), e))?;
    let cfg = &header.config;
    let mem_bytes = usize::try_from(cfg.mem_bytes)
        .map_err(|_| CliError::Message(format!("{}: guest RAM too large", file.display())))?;
    let config = emu::MachineConfig {
        mem_bytes,
        cmdline: cfg.cmdline.clone(),
    };
    let machine = match (&cfg.initrd, cfg.kind.as_str()) {
        (Some(rd), kind) => {
            let path = recorded_file(&rd.path, kind);
            let bytes = std::fs::read(&path).map_err(|e| {
                let what = format!(
                    "{}: the recording's initrd {}",
                    file.display(),
                    path.display()
                );
                CliError::input(what, e)
            })?;
            let h = emu::record::hash128_hex(&bytes);
            if h != rd.hash {
                return Err(CliError::Message(format!(
                    "{}: the initrd {} changed since the recording (xxh3 {h}, recorded {})",
                    file.display(),
                    rd.path,
                    rd.hash
                )));
            }
            emu::Machine::boot_linux(&config, kernel, Some(&bytes))
        }
        (None, "linux") => emu::Machine::boot_linux(&config, kernel, None),
        (None, "bpflab") => emu::Machine::boot_image(&config, kernel),
        (None, other) => {
            return Err(CliError::Message(format!(
                "{}: unknown machine kind '{other}'",
                file.display()
            )))
        }
    }
    .map_err(|e| CliError::input(name.as_str(), e))?;
    Ok(images::Booted {
        machine,
        name,
        elf,
        cmdline: cfg.cmdline.clone(),
    })
}
