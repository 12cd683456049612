//! Guest images by name and booting them: `teaching` (embedded), `linux` (built by
//! `bpflab image build linux` into a cache directory), or the path of a kernel ELF (a Linux
//! vmlinux is recognised by its ELF note and booted with the x86 boot protocol). Also: running a
//! machine so that Ctrl-C stops the guest, not the program.

use crate::error::CliError;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The teaching kernel, built from guest-images/teaching by build.rs.
pub static TEACHING_ELF: &[u8] = include_bytes!(env!("BPFLAB_TEACHING_ELF"));

/// The built Linux image's directory.
pub fn linux_dir() -> Result<PathBuf, CliError> {
    emu::loader::linux::image_dir()
        .filter(|d| d.join("vmlinux").is_file())
        .ok_or_else(|| {
            CliError::Message("no Linux image built yet: run `bpflab image build linux`".into())
        })
}

/// The image's name and kernel ELF bytes: `teaching`, `linux` or a path.
pub fn read_image(image: &str) -> Result<(String, Vec<u8>), CliError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| CliError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    match image {
        "teaching" => Ok(("teaching".to_string(), TEACHING_ELF.to_vec())),
        "linux" => Ok(("linux".to_string(), read(&linux_dir()?.join("vmlinux"))?)),
        _ if !Path::new(image).exists() => Err(CliError::Message(unknown_image(image))),
        _ => Ok((image.to_string(), read(Path::new(image))?)),
    }
}

/// The message for an image name that is neither a built-in image nor a file, with the
/// closest built-in name when there is one.
fn unknown_image(image: &str) -> String {
    let close = ["teaching", "linux"]
        .into_iter()
        .filter(|n| strsim::levenshtein(n, image) <= 2)
        .min_by_key(|n| strsim::levenshtein(n, image));
    let hint = close
        .map(|n| format!("did you mean {n}? "))
        .unwrap_or_default();
    format!("no image '{image}': {hint}(an image is teaching, linux or the path of a kernel ELF)")
}

/// Why `bytes` (the image `name`) did not parse: its truncation if that is the reason, else
/// `e`.
pub fn image_error(name: &str, bytes: &[u8], e: impl Into<crate::error::Cause>) -> CliError {
    crate::error::elf_truncation(name, bytes).unwrap_or_else(|| CliError::input(name, e))
}

/// The command-line options that choose and boot a guest (shared by `boot`, `trace`, `repl`).
#[derive(clap::Args, Clone, Debug)]
pub struct GuestArgs {
    /// `teaching` (embedded), `linux` (see `bpflab image build linux`) or the path of a kernel
    /// ELF (a Linux vmlinux is booted with the x86 boot protocol).
    #[arg(long, default_value = "teaching")]
    pub image: String,
    /// Guest RAM, e.g. 256M or 1G.
    #[arg(long, default_value = "256M", value_parser = crate::args::parse_size)]
    pub mem: usize,
    /// Kernel command line (for `linux` the default is `console=ttyS0 bpflab.workload`).
    #[arg(long, default_value = "")]
    pub append: String,
    /// Initial ramdisk for a Linux kernel.
    #[arg(long)]
    pub initrd: Option<PathBuf>,
    /// Console input script: text lines are typed, `@wait "TEXT"` waits for output, `@sleep 100ms`.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Type the host's stdin into the guest console (automatic for `linux` on a terminal).
    #[arg(long, conflicts_with = "input")]
    pub stdin: bool,
}

impl GuestArgs {
    pub fn options(&self) -> BootOptions<'_> {
        BootOptions {
            image: &self.image,
            mem: self.mem,
            append: &self.append,
            initrd: self.initrd.as_deref(),
            input: self.input.as_deref(),
            stdin: self.stdin,
            terminal_input: true,
        }
    }
}

/// How to boot a guest.
pub struct BootOptions<'a> {
    pub image: &'a str,
    pub mem: usize,
    /// Kernel command line; for `linux` empty means the image's default
    /// (`console=ttyS0 bpflab.workload`).
    pub append: &'a str,
    /// An initial ramdisk for a Linux kernel (`linux` has its own).
    pub initrd: Option<&'a Path>,
    /// A console input script (`@wait "login:"`, `@sleep 100ms`, text lines).
    pub input: Option<&'a Path>,
    /// Feed the host's stdin to the guest's console as it arrives.
    pub stdin: bool,
    /// Feed the host's stdin to a Linux guest's console when stdin is a terminal (`boot`,
    /// `trace`; not the REPL, which reads its commands there).
    pub terminal_input: bool,
}

/// A booted guest: the machine, the image's name and its ELF bytes (for symbols and types).
pub struct Booted {
    pub machine: emu::Machine,
    pub name: String,
    /// Shared with the machine, which keeps its image (never copied).
    pub elf: std::sync::Arc<Vec<u8>>,
    /// The command line it was booted with.
    pub cmdline: String,
}

/// Boots the guest `opts` describes.
pub fn boot(opts: &BootOptions<'_>) -> Result<Booted, CliError> {
    let (name, elf) = read_image(opts.image)?;
    // One copy of the (70 MB for Linux) image, shared by the machine and the symbol tables.
    let elf = std::sync::Arc::new(elf);
    let kernel =
        emu::KernelImage::parse(&name, elf.clone()).map_err(|e| image_error(&name, &elf, e))?;
    let linux = kernel.protocol() == emu::loader::BootProtocol::Linux64;
    let mut cmdline = opts.append.to_string();
    let initrd = match (opts.initrd, opts.image) {
        (Some(p), _) => Some(std::fs::read(p).map_err(|source| CliError::Read {
            path: p.to_path_buf(),
            source,
        })?),
        (None, "linux") => {
            let dir = linux_dir()?;
            if cmdline.is_empty() {
                cmdline = std::fs::read_to_string(dir.join("cmdline"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "console=ttyS0".into());
            }
            let rd = dir.join("initramfs.cpio.gz");
            Some(std::fs::read(&rd).map_err(|source| CliError::Read { path: rd, source })?)
        }
        (None, _) => None,
    };
    let config = emu::MachineConfig {
        mem_bytes: opts.mem,
        cmdline: cmdline.clone(),
    };
    let mut machine = if linux {
        emu::Machine::boot_linux(&config, kernel, initrd.as_deref())
    } else if initrd.is_some() {
        return Err(format!("{name}: --initrd needs a Linux kernel").into());
    } else {
        emu::Machine::boot_image(&config, kernel)
    }
    .map_err(|e| CliError::input(name.clone(), e))?;
    if let Some(p) = opts.input {
        // The script's errors begin with its path (`FILE:LINE: ...`).
        let script = emu::InputScript::from_file(p).map_err(|e| CliError::path(p, e))?;
        machine.set_input(emu::InputSource::Script(script));
    } else if opts.stdin || (opts.terminal_input && linux && std::io::stdin().is_terminal()) {
        machine.set_input(emu::InputSource::stream(std::io::stdin()));
    }
    Ok(Booted {
        machine,
        name,
        elf,
        cmdline,
    })
}

/// Whether a stop is a normal end of the guest's run.
pub fn clean_stop(reason: &emu::StopReason) -> bool {
    matches!(
        reason,
        emu::StopReason::Exit(0)
            | emu::StopReason::HaltedIrqsOff
            | emu::StopReason::Reset
            | emu::StopReason::TimeBudget
            | emu::StopReason::HostRequest
    )
}

/// The machine Ctrl-C should stop, if one is running.
static CURRENT: OnceLock<Mutex<Option<emu::StopHandle>>> = OnceLock::new();

/// Runs `m` until `limits`; Ctrl-C stops the guest (the run returns `HostRequest`) instead of
/// killing bpflab, so nothing already reported is lost.
pub fn run_interruptible(
    m: &mut emu::Machine,
    limits: emu::Limits,
) -> Result<emu::StopReason, CliError> {
    let slot = CURRENT.get_or_init(|| {
        // A failure to install the handler only loses the graceful stop.
        let _ = ctrlc::set_handler(|| {
            if let Some(Ok(guard)) = CURRENT.get().map(|m| m.lock()) {
                if let Some(h) = guard.as_ref() {
                    h.request_stop();
                }
            }
        });
        Mutex::new(None)
    });
    if let Ok(mut g) = slot.lock() {
        *g = Some(m.stop_handle());
    }
    let reason = m.run(limits);
    if let Ok(mut g) = slot.lock() {
        *g = None;
    }
    Ok(reason)
}

/// The directory holding the image's `vmlinux.h`, written once into the user's cache (keyed
/// by the xxh3 of the image's bytes, the project's one hash) for `.c` filters to include.
pub fn vmlinux_dir(img: &probes::image::GuestImage) -> Result<PathBuf, CliError> {
    let base = dirs::cache_dir().unwrap_or_else(std::env::temp_dir);
    let dir = base
        .join("bpflab/vmlinux")
        .join(format!("{:016x}", emu::record::hash64(img.bytes())));
    let file = dir.join("vmlinux.h");
    if !file.exists() {
        let _progress = crate::progress::spinner(&format!(
            "writing vmlinux.h for {} (once per image)",
            img.name()
        ));
        let text = img
            .vmlinux_h()
            .map_err(|e| CliError::input(format!("{}: cannot write vmlinux.h", img.name()), e))?;
        std::fs::create_dir_all(&dir).map_err(|e| CliError::path(&dir, e))?;
        let tmp = dir.join(format!("vmlinux.h.{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| CliError::path(&tmp, e))?;
        std::fs::rename(&tmp, &file).map_err(|e| CliError::path(&file, e))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_image_name_gets_a_suggestion() {
        let e = read_image("linx")
            .err()
            .map(|e| e.chain())
            .unwrap_or_default();
        assert!(e.contains("no image 'linx': did you mean linux?"), "{e}");
        let e = read_image("teachng")
            .err()
            .map(|e| e.chain())
            .unwrap_or_default();
        assert!(e.contains("did you mean teaching?"), "{e}");
        let e = read_image("/no/such/vmlinux")
            .err()
            .map(|e| e.chain())
            .unwrap_or_default();
        assert!(!e.contains("did you mean"), "{e}");
        assert!(e.contains("path of a kernel ELF"), "{e}");
    }
}
