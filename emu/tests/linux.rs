//! End-to-end: boot the Linux guest of guest-images/linux (vmlinux + busybox initramfs) to its
//! workload and a clean power-off, and drive its shell with an input script.
//! Needs the image (`scripts/test.sh` builds it first): without it the tests fail, naming
//! `guest-images/linux/build.sh` and BPFLAB_LINUX_IMAGE_DIR.
#![allow(clippy::unwrap_used)]

use emu::loader::linux;
use emu::{InputScript, InputSource, Limits, Machine, MachineConfig, StopReason};
use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

fn image() -> PathBuf {
    linux::image_dir().unwrap_or_else(|| {
        panic!(
            "no Linux guest image: run guest-images/linux/build.sh (scripts/test.sh does) or set {}",
            linux::IMAGE_DIR_ENV
        )
    })
}

fn config(cmdline: &str) -> MachineConfig {
    MachineConfig {
        mem_bytes: 64 << 20,
        cmdline: cmdline.into(),
    }
}

/// Every address of a (possibly local, duplicated) function symbol.
fn symbol_addrs(m: &Machine, name: &str) -> Vec<u64> {
    let elf = goblin::elf::Elf::parse(m.image().unwrap().bytes()).unwrap();
    elf.syms
        .iter()
        .filter(|s| s.is_function() && elf.strtab.get_at(s.st_name) == Some(name))
        .map(|s| s.st_value)
        .collect()
}

#[test]
fn linux_boots_runs_the_workload_and_powers_off() {
    let dir = image();
    let mut m = Machine::boot_linux_dir(&config("console=ttyS0 bpflab.workload"), &dir).unwrap();
    let drops = Rc::new(Cell::new(0u32));
    let sites = symbol_addrs(&m, "dst_discard");
    assert!(!sites.is_empty(), "dst_discard has out-of-line copies");
    for addr in sites {
        let d = drops.clone();
        m.add_hook_fn(addr, move |_| d.set(d.get() + 1));
    }
    let r = m.run(Limits::virtual_time(Duration::from_secs(60)));
    let text = String::from_utf8_lossy(m.console()).to_string();
    assert_eq!(r, StopReason::HaltedIrqsOff, "{}\n{text}", m.report(&r));
    for needle in [
        "Run /init as init process",
        "bpflab-init: up",
        "workload: spawned 10 processes",
        "workload: read /proc/version",
        "workload: loopback ping answered",
        "workload: done",
        "bpflab-init: workload exit status 0",
        "reboot: System halted",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(
        drops.get() >= 3,
        "the multicast pings end in dst_discard ({} hits)",
        drops.get()
    );
    let s = m.stats();
    eprintln!("linux workload: {s}");
    assert!(s.instructions > 10_000_000, "{s:?}");
}

#[test]
fn linux_shell_is_driven_by_an_input_script() {
    let dir = image();
    let mut m = Machine::boot_linux_dir(&config("console=ttyS0"), &dir).unwrap();
    let script = InputScript::parse(
        "shell.script",
        "@wait \"exit it to power off\"\n@sleep 200ms\necho answer-$((6*7))\n@wait \"answer-42\"\nexit\n",
    )
    .unwrap();
    m.set_input(InputSource::Script(script));
    let r = m.run(Limits::virtual_time(Duration::from_secs(60)));
    let text = String::from_utf8_lossy(m.console()).to_string();
    assert_eq!(r, StopReason::HaltedIrqsOff, "{}\n{text}", m.report(&r));
    assert!(text.contains("answer-42"), "{text}");
    assert!(text.contains("bpflab-init: powering off"), "{text}");
    let log = m.input_log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].bytes, b"echo answer-$((6*7))\n");
    assert_eq!(log[1].bytes, b"exit\n");
}
