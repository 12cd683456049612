//! End-to-end: boot the Linux guest of guest-images/linux (vmlinux + busybox initramfs) to its
//! workload and a clean power-off, and drive its shell with an input script.
//! Needs the image (`scripts/test.sh` builds it first): without it the tests fail, naming
//! `guest-images/linux/build.sh` and BPFLAB_LINUX_IMAGE_DIR.
#![allow(clippy::unwrap_used)]

use emu::loader::linux;
use emu::{InputScript, InputSource, Limits, Machine, MachineConfig, Regs, StopReason};
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

/// What a run leaves behind: the instruction count, registers, console and all of RAM.
fn end_state(m: &Machine) -> (u64, Regs, Vec<u8>, Vec<u8>) {
    (
        m.stats().instructions,
        m.regs(),
        m.console().to_vec(),
        m.ram_handle().to_vec(),
    )
}

/// `m` ended where the run without probes or timers did: instruction count, registers,
/// console, every RAM page.
fn assert_same_end(m: &Machine, want: &(u64, Regs, Vec<u8>, Vec<u8>)) {
    let got = end_state(m);
    assert_eq!(got.0, want.0, "instruction count");
    assert_eq!(got.1, want.1, "registers");
    assert!(got.2 == want.2, "console differs");
    let pages: Vec<usize> = (0..want.3.len() / 4096)
        .filter(|p| got.3[p * 4096..(p + 1) * 4096] != want.3[p * 4096..(p + 1) * 4096])
        .take(8)
        .collect();
    assert!(pages.is_empty(), "RAM pages differ: {pages:x?}");
}

/// The guest never notices probes: a run with hooks on hundreds of functions, return hooks
/// that hooks add and remove while the guest runs, and hooks added and removed between runs
/// (as a REPL session does) executes exactly as the run without (instruction count,
/// registers, console, every byte of RAM). Adding a hook once walked the guest's page tables through Unicorn
/// (setting Accessed bits) and a replay with one probe diverged.
#[test]
fn hooks_never_change_a_linux_run() {
    let dir = image();
    let cfg = config("console=ttyS0 bpflab.workload");
    // Both runs stop at the same three points (a stop lands on a block boundary, so the
    // segments are part of the run's definition).
    let segments = [700, 300, 500].map(|ms| Limits::virtual_time(Duration::from_millis(ms)));
    let mut plain = Machine::boot_linux_dir(&cfg, &dir).unwrap();
    for l in segments {
        plain.run(l);
    }
    let want = end_state(&plain);
    drop(plain);

    let mut m = Machine::boot_linux_dir(&cfg, &dir).unwrap();
    let elf = goblin::elf::Elf::parse(m.image().unwrap().bytes()).unwrap();
    let mut funcs: Vec<u64> = elf
        .syms
        .iter()
        .filter(|s| s.is_function() && s.st_value != 0)
        .filter(|s| {
            elf.strtab
                .get_at(s.st_name)
                .is_some_and(|n| n.starts_with('s'))
        })
        .map(|s| s.st_value)
        .collect();
    funcs.sort_unstable();
    funcs.dedup();
    assert!(funcs.len() > 500, "{} functions", funcs.len());
    let hits = Rc::new(Cell::new(0u64));
    for &addr in &funcs {
        let h = hits.clone();
        m.add_hook_fn(addr, move |_| h.set(h.get() + 1));
    }
    // A return-probe-like pair: at each vfs_read entry, a hook at the return address that
    // removes itself when hit.
    for addr in symbol_addrs(&m, "vfs_read") {
        m.add_hook_fn(addr, |cx| {
            let mut ret = [0u8; 8];
            let rsp = cx.regs().unwrap().rsp;
            if cx.read_virt(rsp, &mut ret).is_ok() {
                let id = Rc::new(Cell::new(None));
                let me = id.clone();
                let hid = cx.add_hook(
                    u64::from_le_bytes(ret),
                    Box::new(move |cx| {
                        if let Some(h) = me.take() {
                            cx.remove_hook(h);
                        }
                    }),
                );
                id.set(Some(hid));
            }
        });
    }
    // Half-way, more hooks arrive and some go, as in a REPL session.
    m.run(segments[0]);
    let extra: Vec<_> = symbol_addrs(&m, "do_sys_openat2")
        .into_iter()
        .map(|a| m.add_hook_fn(a, |_| {}))
        .collect();
    m.run(segments[1]);
    for id in extra {
        assert!(m.remove_hook(id));
    }
    m.run(segments[2]);
    assert!(hits.get() > 1000, "the probes fired ({} hits)", hits.get());
    assert_same_end(&m, &want);
}

/// The guest never notices timers: sampling at 99 Hz and at an odd period (the run loop stops
/// at extra block boundaries, and idle time is cut into pieces) executes exactly as the run
/// without, and the samples see both busy and idle CPU (RIP right after a `hlt`).
#[test]
fn timers_never_change_a_linux_run() {
    let dir = image();
    let cfg = config("console=ttyS0 bpflab.workload");
    let segments = [900, 600].map(|ms| Limits::virtual_time(Duration::from_millis(ms)));
    let mut plain = Machine::boot_linux_dir(&cfg, &dir).unwrap();
    for l in segments {
        plain.run(l);
    }
    let want = end_state(&plain);
    drop(plain);

    let mut m = Machine::boot_linux_dir(&cfg, &dir).unwrap();
    let samples = Rc::new(std::cell::RefCell::new(Vec::new()));
    let s = samples.clone();
    m.add_timer(
        1_000_000_000 / 99,
        Box::new(move |cx| {
            let regs = cx.regs().unwrap();
            assert_eq!(regs.rip, cx.address());
            let mut b = [0u8; 1];
            let after_hlt = cx.read_virt(regs.rip - 1, &mut b).is_ok() && b[0] == 0xf4;
            s.borrow_mut().push((cx.now_ns(), after_hlt));
        }),
    );
    let odd = Rc::new(Cell::new(0u64));
    let o = odd.clone();
    let odd_id = m.add_timer(1_234_567, Box::new(move |_| o.set(o.get() + 1)));
    m.run(segments[0]);
    assert!(m.remove_timer(odd_id));
    assert!(!m.remove_timer(odd_id));
    m.run(segments[1]);

    assert_same_end(&m, &want);

    let samples = samples.borrow();
    // 1.5 s at 99 Hz: one sample per period, each at or just after its due time.
    assert_eq!(samples.len(), 148, "99 Hz over 1.5 s");
    for (k, (t, _)) in samples.iter().enumerate() {
        let due = (k as u64 + 1) * (1_000_000_000 / 99);
        assert!(
            *t >= due && *t < due + 100_000,
            "sample {k} at {t}, due {due}"
        );
    }
    let idle = samples.iter().filter(|(_, h)| *h).count();
    assert!(
        idle > 0 && idle < samples.len(),
        "{idle} of {} idle",
        samples.len()
    );
    assert_eq!(
        odd.get(),
        900_000_000 / 1_234_567,
        "the odd timer until it was removed"
    );
}
