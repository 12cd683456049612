//! The cost of a tracepoint hit against a kprobe on the same code, on the Linux guest's boot
//! and workload (2.5 s of virtual time), every program empty (`return 0`):
//!
//! - `kprobe:__schedule` against `tracepoint:sched:sched_switch` (the record built by the
//!   kernel's own `perf_trace_sched_switch`, run on the side) and `raw_tp/sched_switch` (the
//!   arguments only), all inside `__schedule`;
//! - `ksyscall/openat` against `tracepoint:syscalls:sys_enter_openat`;
//! - a 99 Hz `perf_event` sampler.
//!
//! Cost per hit = host time inside the probe's hooks / hits (`ProbeStats::hook_ns`: reading
//! the registers, following the tracepoint's enabled path on the side, building the context,
//! running the program; Unicorn's dispatch of a code hook is the same for every kind). The
//! whole run's time is shown too, but a Linux boot varies by more from run to run than a
//! thousand hits cost. The scenarios run interleaved, round after round, so drift on the
//! machine hits each alike; each row gives the median and the spread (min-max) over the rounds.
//!
//! `UNICORN_NO_PKG_CONFIG=1 cargo bench -p probes --bench tracepoint_cost [-- ROUNDS [NAME]]`
//! (NAME: only the scenarios whose name contains it)
//! (needs the Linux image: `bpflab image build linux`, and clang).

use emu::{Limits, Machine, MachineConfig};
use probes::image::GuestImage;
use probes::load::{load_file, LoadOptions};
use probes::tracer::Tracer;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

const PROGRAMS: &str = r#"
#include "bpflab.h"
SEC("kprobe/__schedule") int kp_schedule(void *ctx) { return 0; }
SEC("tracepoint/sched/sched_switch") int tp_switch(void *ctx) { return 0; }
SEC("raw_tp/sched_switch") int raw_switch(void *ctx) { return 0; }
SEC("ksyscall/openat") int ks_openat(void *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_enter_openat") int tp_openat(void *ctx) { return 0; }
SEC("perf_event") int sample(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
"#;

/// (row name, program, point: `None` where its section says)
const SCENARIOS: [(&str, &str, Option<&str>); 6] = [
    ("kprobe:__schedule", "kp_schedule", None),
    ("tracepoint:sched:sched_switch (record)", "tp_switch", None),
    ("raw_tp:sched_switch", "raw_switch", None),
    ("ksyscall:openat", "ks_openat", None),
    ("tracepoint:syscalls:sys_enter_openat", "tp_openat", None),
    ("profile:hz:99", "sample", Some("profile:hz:99")),
];

const VIRTUAL: Duration = Duration::from_millis(2500);

fn image_dir() -> PathBuf {
    emu::loader::linux::image_dir()
        .filter(|d| d.join("vmlinux").is_file())
        .expect("no Linux image: run `bpflab image build linux` first")
}

/// One run: boot, attach `scenario` (if any), run; (host time of the run, hits, ns in hooks).
fn run(img: &Rc<GuestImage>, source: &Path, scenario: Option<usize>) -> (Duration, u64, u64) {
    let cfg = MachineConfig {
        mem_bytes: 64 << 20,
        cmdline: "console=ttyS0 bpflab.workload".into(),
    };
    let mut m = Machine::boot_linux_dir(&cfg, &image_dir()).expect("boots");
    let mut t = Tracer::new(Some(img.clone()));
    t.events().borrow_mut().set_sink(None);
    if let Some(i) = scenario {
        let (_, program, point) = SCENARIOS[i];
        let core = |q: &jit::btf::core::CoreQuery<'_>| img.core_answer(q);
        let opts = LoadOptions {
            core: Some(&core),
            ..LoadOptions::default()
        };
        let filter = load_file(source, &opts).expect("compiles");
        probes::plan::attach_filter(&mut t, &mut m, filter, point, Some(program), false)
            .expect("attaches");
    }
    let t0 = Instant::now();
    m.run(Limits::virtual_time(VIRTUAL));
    let dt = t0.elapsed();
    let probes = t.probes();
    (
        dt,
        probes.iter().map(|p| p.stats.hits).sum(),
        probes.iter().map(|p| p.stats.hook_ns).sum(),
    )
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rounds: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(5);
    let only = args.iter().find(|a| a.parse::<usize>().is_err());
    let wanted = |s: usize| s == 0 || only.is_none_or(|o| SCENARIOS[s - 1].0.contains(o.as_str()));
    let bytes = std::fs::read(image_dir().join("vmlinux")).expect("vmlinux");
    let img = Rc::new(GuestImage::new("linux", bytes).expect("image"));
    let source = std::env::temp_dir().join("bpflab-bench-tracepoints.bpf.c");
    std::fs::write(&source, PROGRAMS).expect("write");

    // times[s][round] (ms) and per_hit[s][round] (ns); s = 0 is the run without probes.
    let mut times = vec![Vec::new(); SCENARIOS.len() + 1];
    let mut per_hit = vec![Vec::new(); SCENARIOS.len() + 1];
    let mut hits = vec![0u64; SCENARIOS.len() + 1];
    for round in 0..rounds {
        for s in (0..=SCENARIOS.len()).filter(|&s| wanted(s)) {
            let (dt, h, ns) = run(&img, &source, s.checked_sub(1));
            times[s].push(dt.as_secs_f64() * 1e3);
            per_hit[s].push(ns as f64 / h.max(1) as f64);
            hits[s] = h;
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    println!(
        "{:<40} {:>8} {:>22} {:>9} {:>14}",
        "scenario", "hits", "ns/hit med (min-max)", "vs peer", "run ms (med)"
    );
    println!(
        "{:<40} {:>8} {:>22} {:>9} {:>14.1}",
        "no probe",
        0,
        "-",
        "-",
        median(&mut times[0].clone())
    );
    let mut medians = vec![0.0; SCENARIOS.len() + 1];
    for s in (1..=SCENARIOS.len()).filter(|&s| !per_hit[s].is_empty()) {
        let v = &per_hit[s];
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), c| (l.min(*c), h.max(*c)));
        medians[s] = median(&mut v.clone());
        // Each tracepoint against the kprobe on the same code.
        let ratio = |peer: usize| {
            if medians[peer] > 0.0 {
                format!("{:.2}x", medians[s] / medians[peer])
            } else {
                "-".into()
            }
        };
        let peer = match s {
            2 | 3 => ratio(1),
            5 => ratio(4),
            _ => "-".into(),
        };
        println!(
            "{:<40} {:>8} {:>22} {:>9} {:>14.1}",
            SCENARIOS[s - 1].0,
            hits[s],
            format!("{:.0} ({:.0}-{:.0})", medians[s], lo, hi),
            peer,
            median(&mut times[s].clone())
        );
    }
}
