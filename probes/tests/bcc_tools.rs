//! BCC's libbpf-tools, unmodified (copies in `tests/bcc/`, with their licences): compiled as
//! BCC compiles them, loaded as objects and attached as a whole where their sections say, on
//! the Linux guest. Their records come out of the perf buffer as the tool's `struct event`.
//!
//! - `exitsnoop`: `tracepoint:sched:sched_process_exit`, a cgroup array (empty: its filter is
//!   a `.rodata` knob left off) and CO-RE reads of `current`; it sees the workload's exits,
//!   the `SIGTERM`ed sleeper and the `exec`'d `false`.
//! - `syncsnoop`: one tracepoint per sync syscall; those this kernel lacks are left out, as
//!   its user space turns them off; a `sync` typed at the guest's shell is reported, and
//!   the one `poweroff` makes.
//!
//! Needs the Linux image (`scripts/test.sh` builds it first) and clang with libbpf's headers.

use emu::{InputScript, InputSource, Limits, Machine, MachineConfig, StopReason};
use probes::events::EventKind;
use probes::image::GuestImage;
use probes::load::{load_file, LoadOptions};
use probes::tracer::Tracer;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

fn image_dir() -> PathBuf {
    emu::loader::linux::image_dir()
        .filter(|d| d.join("vmlinux").is_file())
        .expect("no Linux image: run `bpflab image build linux` (scripts/test.sh builds it)")
}

fn image() -> Rc<GuestImage> {
    let bytes = std::fs::read(image_dir().join("vmlinux")).expect("vmlinux");
    Rc::new(GuestImage::new("linux", bytes).expect("image"))
}

/// `tool.bpf.c` compiled as BCC's Makefile does, against the guest's `vmlinux.h`.
fn build(tool: &str, img: &GuestImage) -> PathBuf {
    let out = std::env::temp_dir().join(format!("bpflab-bcc-{}-{tool}", std::process::id()));
    std::fs::create_dir_all(&out).expect("dir");
    std::fs::write(out.join("vmlinux.h"), img.vmlinux_h().expect("vmlinux.h")).expect("write");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bcc");
    let obj = out.join(format!("{tool}.bpf.o"));
    let o = Command::new("clang")
        .args(["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-w"])
        .arg("-I")
        .arg(&out)
        .arg("-c")
        .arg(src.join(format!("{tool}.bpf.c")))
        .arg("-o")
        .arg(&obj)
        .output()
        .expect("clang (apt-get install clang libbpf-dev)");
    assert!(
        o.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    obj
}

/// Perf-buffer records, in the order they arrive.
type Records = Rc<RefCell<Vec<Vec<u8>>>>;

/// Boots Linux with `cmdline`, attaches the tool's whole object; returns the machine, the
/// tracer, the attach warnings and the perf-buffer records as they arrive.
fn attach(tool: &str, cmdline: &str) -> (Machine, Tracer, Vec<String>, Records) {
    attach_with(tool, cmdline, &[])
}

/// [`attach`], with the tool's knobs set as its user space would (`--set NAME=VALUE`).
fn attach_with(
    tool: &str,
    cmdline: &str,
    globals: &[(&str, &str)],
) -> (Machine, Tracer, Vec<String>, Records) {
    let img = image();
    let obj = build(tool, &img);
    let cfg = MachineConfig {
        mem_bytes: 64 << 20,
        cmdline: cmdline.into(),
    };
    let mut m = Machine::boot_linux_dir(&cfg, &image_dir()).expect("boots");
    let mut t = Tracer::new(Some(img.clone()));
    let records = Rc::new(RefCell::new(Vec::new()));
    let sink = records.clone();
    t.events()
        .borrow_mut()
        .set_sink(Some(Box::new(move |e: &probes::events::Event| {
            if let EventKind::Output { data, .. } = &e.kind {
                sink.borrow_mut().push(data.clone());
            }
        })));
    let core = |q: &jit::btf::core::CoreQuery<'_>| img.core_answer(q);
    let opts = LoadOptions {
        core: Some(&core),
        globals: globals
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        ..LoadOptions::default()
    };
    let filter = load_file(&obj, &opts).unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert_eq!(
        filter.globals_set.len(),
        globals.len(),
        "{:?}",
        filter.globals_set
    );
    let a = probes::plan::attach_filter(&mut t, &mut m, filter, None, None, false)
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    (m, t, a.warnings, records)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

fn comm(b: &[u8]) -> String {
    String::from_utf8_lossy(b.split(|&c| c == 0).next().unwrap_or_default()).into_owned()
}

/// exitsnoop.h's `struct event`, decoded.
#[derive(Debug)]
struct Exit {
    start_time: u64,
    exit_time: u64,
    pid: u32,
    tid: u32,
    ppid: u32,
    sig: u32,
    exit_code: i32,
    comm: String,
}

/// exitsnoop's records of a whole workload run.
fn exits(globals: &[(&str, &str)]) -> (Tracer, Vec<Exit>) {
    let (mut m, t, warnings, records) =
        attach_with("exitsnoop", "console=ttyS0 bpflab.workload", globals);
    assert!(warnings.is_empty(), "{warnings:?}");
    let stop = m.run(Limits::virtual_time(Duration::from_secs(60)));
    assert_eq!(stop, StopReason::HaltedIrqsOff, "{}", m.report(&stop));
    let exits = records
        .borrow()
        .iter()
        .map(|b| {
            assert_eq!(b.len(), 56, "sizeof(struct event)");
            Exit {
                start_time: u64_at(b, 0),
                exit_time: u64_at(b, 8),
                pid: u32_at(b, 16),
                tid: u32_at(b, 20),
                ppid: u32_at(b, 24),
                sig: u32_at(b, 28),
                exit_code: u32_at(b, 32) as i32,
                comm: comm(&b[36..52]),
            }
        })
        .collect();
    (t, exits)
}

#[test]
fn exitsnoop_reports_the_workloads_exits() {
    let (t, exits) = exits(&[]);
    let named = |n: &str| exits.iter().filter(|e| e.comm == n).collect::<Vec<_>>();
    let trues = named("true");
    assert_eq!(trues.len(), 10, "the ten /bin/true: {exits:#?}");
    assert!(trues.iter().all(|e| e.exit_code == 0 && e.sig == 0));
    // The sleeper: killed by SIGTERM (here before its child shell exec'd `sleep`).
    let killed: Vec<&Exit> = exits.iter().filter(|e| e.sig != 0).collect();
    assert_eq!(killed.len(), 1, "{exits:#?}");
    assert_eq!(
        (killed[0].sig, killed[0].exit_code),
        (15, 0),
        "{:?}",
        killed[0]
    );
    assert!(
        named("false")
            .iter()
            .any(|e| e.exit_code == 1 && e.sig == 0),
        "the exec'd false: {exits:#?}"
    );
    for e in &exits {
        assert_eq!(e.pid, e.tid, "trace_by_process: {e:?}");
        assert!(e.ppid > 0 && e.ppid != e.pid, "{e:?}");
        assert!(e.exit_time > e.start_time, "{e:?}");
    }
    let p = &t.probes()[0];
    assert_eq!(p.spec, "tracepoint:sched:sched_process_exit");
    assert_eq!((p.stats.errors, p.stats.hits), (0, exits.len() as u64));
}

#[test]
fn syncsnoop_attaches_what_the_kernel_has_and_sees_a_sync() {
    let (mut m, t, warnings, records) = attach("syncsnoop", "console=ttyS0");
    // x86-64 has neither sync_file_range2 nor arm_sync_file_range.
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings
        .iter()
        .all(|w| w.contains("sync_file_range2") || w.contains("arm_sync_file_range")));
    assert_eq!(
        t.probes().len(),
        6,
        "sync, fsync, fdatasync, msync, sync_file_range, syncfs"
    );
    let script = InputScript::parse(
        "sync.script",
        "@wait \"exit it to power off\"\nsync\necho synced-$((6*7))\n@wait \"synced-42\"\nexit\n",
    )
    .expect("script");
    m.set_input(InputSource::Script(script));
    let stop = m.run(Limits::virtual_time(Duration::from_secs(60)));
    assert_eq!(stop, StopReason::HaltedIrqsOff, "{}", m.report(&stop));
    let recs = records.borrow();
    // syncsnoop.h's struct event { char comm[16]; __u64 ts_us; int sys; }
    let syncs: Vec<(String, u32)> = recs
        .iter()
        .map(|b| (comm(&b[..16]), u32_at(b, 24)))
        .collect();
    // SYS_SYNC from the `sync` typed at the shell, then from busybox's poweroff, which syncs
    // before it halts.
    let want = [("sync".to_string(), 1), ("poweroff".to_string(), 1)];
    assert_eq!(syncs, want);
}

/// exitsnoop's `-x` (`trace_failed_only`, a `const volatile` knob in `.rodata`) set as its
/// user space sets it: only the exits that failed are reported.
#[test]
fn exitsnoop_with_a_knob_reports_only_failures() {
    let (_, all) = exits(&[]);
    let (_, failed) = exits(&[("trace_failed_only", "true")]);
    let want: Vec<&Exit> = all
        .iter()
        .filter(|e| e.exit_code != 0 || e.sig != 0)
        .collect();
    assert!(!want.is_empty() && want.len() < all.len());
    assert_eq!(failed.len(), want.len(), "{failed:#?}");
    assert!(
        failed.iter().all(|e| e.exit_code != 0 || e.sig != 0),
        "{failed:#?}"
    );
    assert!(failed.iter().any(|e| e.comm == "false" && e.exit_code == 1));
}
