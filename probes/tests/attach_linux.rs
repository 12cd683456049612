//! Every attach kind on the Linux guest, end to end: C programs compiled by clang, attached
//! where their sections say through `probes::plan`, on a booted Linux.
//!
//! - `sched:sched_switch` as a record (built by the kernel's own `perf_trace_sched_switch`),
//!   as raw arguments and as tp_btf agree with each other and with the scheduler (the task
//!   `finish_task_switch` then runs in);
//! - `syscalls:sys_enter_openat` reads the file names the workload opens, and ksyscall and
//!   sys_exit see the same calls; fentry/fexit on `vfs_read` see its arguments and results;
//! - a `perf_event` sampler fires once per period of virtual time at the interrupted
//!   instruction, with symbolisable kernel stacks (none in user mode);
//! - none of it changes the guest: the run has the instruction count, registers, console and
//!   RAM of the run without probes.
//!
//! Needs the Linux image (`scripts/test.sh` builds it first) and clang.

use emu::{Limits, Machine, MachineConfig};
use probes::image::GuestImage;
use probes::load::{load_file, LoadOptions};
use probes::tracer::Tracer;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

fn image_dir() -> PathBuf {
    emu::loader::linux::image_dir()
        .filter(|d| d.join("vmlinux").is_file())
        .expect("no Linux image: run `bpflab image build linux` (scripts/test.sh builds it)")
}

fn filter(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/filters")
        .join(name)
}

fn boot() -> Machine {
    let cfg = MachineConfig {
        mem_bytes: 64 << 20,
        cmdline: "console=ttyS0 bpflab.workload".into(),
    };
    Machine::boot_linux_dir(&cfg, &image_dir()).expect("boots")
}

/// The run both sides make: the same segments (a stop lands on a block boundary, so the
/// segments are part of the run's definition).
const SEGMENTS: [u64; 2] = [800, 700];

fn run(m: &mut Machine) {
    for ms in SEGMENTS {
        m.run(Limits::virtual_time(Duration::from_millis(ms)));
    }
}

fn end_state(m: &Machine) -> (u64, emu::Regs, Vec<u8>, Vec<u8>) {
    (
        m.stats().instructions,
        m.regs(),
        m.console().to_vec(),
        m.ram_handle().to_vec(),
    )
}

/// Boots Linux with `files` attached where their sections say; returns the machine, the
/// tracer and the text of every event in order.
fn traced(files: &[&str]) -> (Machine, Tracer, Rc<RefCell<Vec<String>>>) {
    let mut m = boot();
    let bytes = std::fs::read(image_dir().join("vmlinux")).expect("vmlinux");
    let img = Rc::new(GuestImage::new("linux", bytes).expect("image"));
    let mut t = Tracer::new(Some(img.clone()));
    let lines = Rc::new(RefCell::new(Vec::new()));
    let sink = lines.clone();
    t.events()
        .borrow_mut()
        .set_sink(Some(Box::new(move |e: &probes::events::Event| {
            sink.borrow_mut().push(e.to_text());
        })));
    let core = |q: &jit::btf::core::CoreQuery<'_>| img.core_answer(q);
    let opts = LoadOptions {
        core: Some(&core),
        ..LoadOptions::default()
    };
    for f in files {
        let loaded = load_file(&filter(f), &opts).unwrap_or_else(|e| panic!("{f}: {e}"));
        let n = loaded.programs.len();
        let a = probes::plan::attach_filter(&mut t, &mut m, loaded, None, None, false)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(a.probes.len(), n, "{f}: one probe per program");
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    }
    (m, t, lines)
}

/// The message of each `bpf_trace_printk` line.
fn messages(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            l.split_once("bpf_trace_printk: ")
                .map(|(_, m)| m.to_string())
        })
        .collect()
}

fn with_prefix<'a>(msgs: &'a [String], p: &str) -> Vec<&'a str> {
    msgs.iter()
        .filter_map(|m| m.strip_prefix(p))
        .map(str::trim)
        .collect()
}

#[test]
fn sched_switch_as_record_raw_and_btf_agrees_with_the_scheduler() {
    let (mut m, t, lines) = traced(&["sched_switch.bpf.c"]);
    run(&mut m);
    let msgs = messages(&lines.borrow());
    let (tp, raw, btf) = (
        with_prefix(&msgs, "tp "),
        with_prefix(&msgs, "raw "),
        with_prefix(&msgs, "btf "),
    );
    assert!(tp.len() > 100, "{} switches", tp.len());
    assert_eq!(tp, raw, "the record and the raw arguments");
    assert_eq!(tp, btf, "the record and tp_btf");
    // Each switch's next task is the one finish_task_switch then runs in, and the next
    // switch starts from it.
    let runs = with_prefix(&msgs, "run ");
    let next: Vec<&str> = tp
        .iter()
        .map(|l| l.split(' ').nth(1).expect("next pid"))
        .collect();
    let n = runs.len().min(next.len());
    assert!(
        n + 1 >= tp.len(),
        "{} runs for {} switches",
        runs.len(),
        tp.len()
    );
    assert_eq!(&next[..n], &runs[..n]);
    for w in tp.windows(2) {
        let prev_of_second = w[1].split(' ').next();
        assert_eq!(w[0].split(' ').nth(1), prev_of_second, "{w:?}");
    }
    assert!(tp.iter().any(|l| l.ends_with(" bpflab-workload")), "{tp:?}");
    for p in t.probes() {
        assert_eq!(p.stats.errors, 0, "{}: {:?}", p.spec, p.stats.last_error);
    }
}

#[test]
fn syscall_tracepoints_ksyscall_and_fentry_see_the_workload() {
    let (mut m, t, lines) = traced(&["syscalls_vfs.bpf.c"]);
    run(&mut m);
    let msgs = messages(&lines.borrow());
    let opens = with_prefix(&msgs, "open ");
    assert!(opens.contains(&"257 /tmp/hello.txt"), "{opens:?}");
    assert!(opens.contains(&"257 /proc/version"), "{opens:?}");
    let ksys = with_prefix(&msgs, "ksys ");
    let names: Vec<&str> = opens.iter().map(|o| &o[4..]).collect();
    assert_eq!(ksys, names, "ksyscall sees the same calls");
    let opened = with_prefix(&msgs, "opened ");
    assert!(opened.len() + 1 >= opens.len(), "{opened:?}");
    assert!(opened.iter().all(|o| o.starts_with("257 ")), "{opened:?}");
    // fexit: the count asked for, then what vfs_read returned (never more).
    let reads = with_prefix(&msgs, "read ");
    let done: Vec<(u64, i64)> = reads
        .iter()
        .filter_map(|r| {
            let (asked, got) = r.split_once(" -> ")?;
            Some((asked.parse().ok()?, got.parse().ok()?))
        })
        .collect();
    assert!(done.len() > 5, "{reads:?}");
    assert!(
        done.iter().all(|(asked, got)| *got <= *asked as i64),
        "{done:?}"
    );
    assert!(done.iter().any(|(_, got)| *got > 0));
    for p in t.probes() {
        assert_eq!(p.stats.errors, 0, "{}: {:?}", p.spec, p.stats.last_error);
        assert!(p.stats.hits > 0, "{} never fired", p.spec);
    }
}

/// A sampler where its section puts it (49 Hz, BCC profile's default): one sample per period
/// of virtual time, each with the interrupted instruction, and a kernel stack that starts
/// there and symbolises (none for a sample in user mode: -EFAULT, as the kernel answers).
#[test]
fn perf_event_samples_the_cpu_with_symbolised_stacks() {
    let (mut m, t, lines) = traced(&["profile.bpf.c"]);
    run(&mut m);
    let msgs = messages(&lines.borrow());
    let samples: Vec<(u64, u64, i64)> = with_prefix(&msgs, "sample ")
        .iter()
        .map(|s| {
            let f: Vec<&str> = s.split(' ').collect();
            let ip = u64::from_str_radix(f[1], 16).expect("hex");
            (f[0].parse().expect("period"), ip, f[2].parse().expect("id"))
        })
        .collect();
    let period = 1_000_000_000 / 49;
    let total_ms: u64 = SEGMENTS.iter().sum();
    assert_eq!(
        samples.len() as u64,
        total_ms * 1_000_000 / period,
        "one per period"
    );
    assert!(samples.iter().all(|s| s.0 == period), "sample_period");
    let stacks: std::collections::HashMap<i64, Vec<u64>> = t
        .map_dump()
        .into_iter()
        .find(|d| d.name == "profile_stacks")
        .expect("stack map")
        .entries
        .into_iter()
        .map(|(k, v)| {
            let id = u32::from_le_bytes(k[..4].try_into().expect("key")) as i64;
            let ips = v
                .chunks(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("ip")))
                .take_while(|&ip| ip != 0)
                .collect();
            (id, ips)
        })
        .collect();
    let bytes = std::fs::read(image_dir().join("vmlinux")).expect("vmlinux");
    let img = GuestImage::new("linux", bytes).expect("image");
    let mut kernel = 0;
    let mut seen = std::collections::BTreeSet::new();
    for &(_, ip, id) in &samples {
        if ip < 0xffff_8000_0000_0000 {
            assert_eq!(id, -14, "a user-mode sample has no kernel stack");
            continue;
        }
        kernel += 1;
        let ips = stacks.get(&id).unwrap_or_else(|| panic!("stack {id}"));
        assert_eq!(ips.first(), Some(&ip), "the stack starts at the sample");
        for ip in ips {
            let (sym, _) = img
                .symbols()
                .resolve_return(*ip)
                .unwrap_or_else(|| panic!("frame {ip:#x} of {ips:x?} does not symbolise"));
            seen.insert(sym.name.clone());
        }
    }
    assert!(kernel > samples.len() / 2, "{kernel} kernel samples");
    // Boot runs in start_kernel's callees; later the idle loop.
    assert!(seen.contains("start_kernel"), "{seen:?}");
    let p = &t.probes()[0];
    assert_eq!((p.spec.as_str(), p.stats.errors), ("profile:hz:49", 0));
}

/// The guest never notices: with every kind attached, the run is the run without.
#[test]
fn tracepoints_and_fentry_never_change_a_linux_run() {
    let mut plain = boot();
    run(&mut plain);
    let want = end_state(&plain);
    drop(plain);
    let (mut m, t, _lines) = traced(&["sched_switch.bpf.c", "syscalls_vfs.bpf.c", "profile.bpf.c"]);
    run(&mut m);
    let hits: u64 = t.probes().iter().map(|p| p.stats.hits).sum();
    assert!(hits > 200, "the probes fired ({hits} hits)");
    let got = end_state(&m);
    assert_eq!(got.0, want.0, "instruction count");
    assert_eq!(got.1, want.1, "registers");
    assert!(got.2 == want.2, "console differs");
    let pages: Vec<usize> = (0..want.3.len() / 4096)
        .filter(|p| got.3[p * 4096..(p + 1) * 4096] != want.3[p * 4096..(p + 1) * 4096])
        .take(8)
        .collect();
    assert!(pages.is_empty(), "RAM pages differ: {pages:x?}");
}
