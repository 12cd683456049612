//! `bpflab image build linux|teaching` and `bpflab image info PATH`.
//!
//! Building runs the checked-in recipes (`guest-images/linux/build.sh`, the teaching kernel's
//! Makefile) from the source tree bpflab was built from; the Linux build installs what it needs
//! from Debian and caches its output outside git (see `guest-images/linux/build.sh`).

use crate::error::CliError;
use std::path::Path;
use std::process::{Command, ExitCode};

#[derive(clap::Subcommand)]
pub enum ImageCmd {
    /// Build a guest: `linux` (Linux 6.1 from Debian's linux-source + a busybox initramfs, cached)
    /// or `teaching` (the teaching kernel, into DIR).
    Build {
        /// `linux` or `teaching`.
        which: String,
        /// Output directory for `teaching` (default: ./teaching-build).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Describe a kernel image: boot protocol, symbols, DWARF, CFI, tracepoints, BTF, and for a
    /// built image what it was built from (package versions) and its files' hashes.
    Info {
        /// `teaching`, `linux` or a path.
        image: String,
    },
}

/// The directory of a built image with a `manifest` (what it was built from and the hashes
/// of its files): `linux`'s, or the directory of a path next to one.
fn manifest_dir(image: &str) -> Option<std::path::PathBuf> {
    let dir = match image {
        "linux" => crate::images::linux_dir().ok()?,
        "teaching" => return None,
        path => Path::new(path).parent()?.to_path_buf(),
    };
    dir.join("manifest").is_file().then_some(dir)
}

/// Runs the Linux build with a spinner that names the stage and counts the objects kbuild
/// has built; the stage lines and anything else the build says (warnings, errors) are printed
/// above it.
fn build_linux_with_progress() -> std::io::Result<std::process::ExitStatus> {
    use std::io::BufRead;
    let mut child = Command::new("bash")
        .arg(source_tree().join("guest-images/linux/build.sh"))
        .env("BPFLAB_BUILD_PROGRESS", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let spinner = crate::progress::spinner("linux-image: starting");
    let mut objects = 0u64;
    let mut stage = String::from("starting");
    if let Some(err) = child.stderr.take() {
        for line in std::io::BufReader::new(err).lines() {
            let line = line?;
            let kbuild = line
                .strip_prefix("  ")
                .and_then(|l| l.split_once(char::is_whitespace))
                .filter(|(cmd, _)| {
                    !cmd.is_empty()
                        && cmd
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                });
            match (kbuild, &spinner) {
                (Some((cmd, what)), Some(sp)) => {
                    objects += 1;
                    sp.set_message(format!(
                        "linux-image: {stage}: {objects} steps ({cmd} {})",
                        what.trim()
                    ));
                }
                (None, Some(sp)) => {
                    if let Some(s) = line.strip_prefix("linux-image: ") {
                        stage = s.to_string();
                    }
                    sp.println(&line);
                    sp.set_message(format!("linux-image: {stage}"));
                }
                (_, None) => eprintln!("{line}"),
            }
        }
    }
    drop(spinner);
    child.wait()
}

fn source_tree() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

pub fn image(cmd: ImageCmd) -> Result<ExitCode, CliError> {
    match cmd {
        ImageCmd::Build { which, out } => {
            let status = match which.as_str() {
                "linux" if crate::progress::enabled() => build_linux_with_progress(),
                "linux" => Command::new("bash")
                    .arg(source_tree().join("guest-images/linux/build.sh"))
                    .status(),
                "teaching" => {
                    let out = out.unwrap_or_else(|| "teaching-build".into());
                    let abs = std::path::absolute(&out).map_err(|e| CliError::path(&out, e))?;
                    let st = Command::new("make")
                        .arg("-C")
                        .arg(source_tree().join("guest-images/teaching"))
                        .arg(format!("O={}", abs.display()))
                        .status();
                    if st.as_ref().is_ok_and(|s| s.success()) {
                        println!("{}", abs.join("teaching.elf").display());
                    }
                    st
                }
                other => {
                    return Err(
                        format!("no recipe for '{other}': expected linux or teaching").into(),
                    )
                }
            }
            .map_err(|e| CliError::input(format!("cannot run the {which} build"), e))?;
            Ok(if status.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        ImageCmd::Info { image } => {
            let (name, bytes) = crate::images::read_image(&image)?;
            let bytes = std::sync::Arc::new(bytes);
            let size = bytes.len();
            let kernel = emu::KernelImage::parse(&name, bytes.clone())
                .map_err(|e| crate::images::image_error(&name, &bytes, e))?;
            let img = probes::image::GuestImage::new(&name, bytes)
                .map_err(|e| CliError::input(name.as_str(), e))?;
            println!("image       {name} ({:.1} MB)", size as f64 / 1e6);
            println!("protocol    {:?}", kernel.protocol());
            println!("symbols     {}", img.symbols().len());
            match img.types() {
                Ok(t) => println!("DWARF       {} compilation units", t.unit_count()),
                Err(e) => println!("DWARF       none ({e})"),
            }
            println!(
                "CFI         {}",
                if img.unwinder().has_cfi() {
                    "yes (stacks unwound with DWARF call-frame information)"
                } else {
                    "no (stacks unwound with frame pointers)"
                }
            );
            let layout = img.task_layout();
            match layout.current_task {
                Some(a) => println!(
                    "current     current_task at {a:#x} (task_struct pid +{}, tgid +{}, comm +{})",
                    layout.pid_offset, layout.tgid_offset, layout.comm_offset
                ),
                None => println!("current     unknown (pid/comm helpers return 0 and \"\")"),
            }
            let tracepoints = img.tracepoints();
            println!(
                "tracepoints {}{}",
                tracepoints.len(),
                if tracepoints.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({}, ...)",
                        tracepoints
                            .iter()
                            .take(3)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            );
            match img.section_len(".BTF") {
                Some(n) => println!("BTF         {:.1} KiB (.BTF)", n as f64 / 1024.0),
                None => println!("BTF         none"),
            }
            if let Some(dir) = manifest_dir(&image) {
                let path = dir.join("manifest");
                let text = std::fs::read_to_string(&path).map_err(|source| CliError::Read {
                    path: path.clone(),
                    source,
                })?;
                println!("built from  {}", path.display());
                for line in text.lines() {
                    match line.split_once("  ") {
                        Some((hash, file)) => println!("  sha256 {file:<18} {hash}"),
                        None => println!("  {line}"),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
