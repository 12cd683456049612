//! The cost of a probe hit, measured on the teaching kernel's whole workload in one run:
//! no probe, one probe on the hottest function (`memcpy`) with an empty filter, the same with
//! a filter that reads guest memory, and the seed's example on `dst_discard`.
//! Cost per hit = (run time with the probe - run time without) / hits; best of N runs each.
//!
//! `UNICORN_NO_PKG_CONFIG=1 cargo bench -p probes --bench probe_cost`

use emu::{KernelImage, Limits, Machine, MachineConfig, StopReason};
use probes::attach::resolve_attach;
use probes::image::GuestImage;
use probes::load::{load_asm, load_file, Filter, LoadOptions};
use probes::tracer::Tracer;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

/// Makes the probe of one scenario: where, and the filter.
type MakeProbe = dyn Fn() -> Option<(&'static str, Filter)>;

fn teaching_elf() -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::env::temp_dir().join("bpflab-bench-teaching");
    let ok = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(root.join("guest-images/teaching"))
        .arg(format!("O={}", out.display()))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "building the teaching kernel needs gcc and make");
    std::fs::read(out.join("teaching.elf")).expect("teaching.elf")
}

/// One run: boot, attach `filter` at `point` (if any), run to the guest's exit.
fn run(elf: &[u8], img: &Rc<GuestImage>, probe: Option<(&str, Filter)>) -> (Duration, u64, u64) {
    let kernel = KernelImage::parse("teaching", elf.to_vec()).expect("image");
    let mut m = Machine::boot_image(&MachineConfig::default(), kernel).expect("boots");
    let mut t = Tracer::new(Some(img.clone()));
    t.events().borrow_mut().set_sink(None);
    if let Some((point, filter)) = probe {
        let (fi, _) = t.add_filter(&m, filter).expect("compiles");
        for r in resolve_attach(point, img.symbols()).expect("resolves") {
            t.attach(
                &mut m,
                point,
                r.addr,
                &r.symbol,
                r.offset == 0,
                r.is_return,
                fi,
                0,
            )
            .expect("attaches");
        }
    }
    let t0 = Instant::now();
    let stop = m.run(Limits::none());
    let dt = t0.elapsed();
    assert_eq!(stop, StopReason::Exit(0));
    let hits = t.probes().iter().map(|p| p.stats.hits).sum();
    let inside = t.probes().iter().map(|p| p.stats.filter_ns).sum();
    (dt, hits, inside)
}

fn best(
    elf: &[u8],
    img: &Rc<GuestImage>,
    probe: &dyn Fn() -> Option<(&'static str, Filter)>,
) -> (Duration, u64, u64) {
    (0..RUNS)
        .map(|_| run(elf, img, probe()))
        .min_by_key(|r| r.0)
        .expect("runs")
}

fn main() {
    let elf = teaching_elf();
    let img = Rc::new(GuestImage::new("teaching", elf.clone()).expect("image"));
    let vmlinux = std::env::temp_dir().join("bpflab-bench-vmlinux");
    std::fs::create_dir_all(&vmlinux).expect("dir");
    std::fs::write(vmlinux.join("vmlinux.h"), img.vmlinux_h().expect("types")).expect("write");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/dst_discard.bpf.c");
    let img2 = img.clone();
    let seed = move || {
        let core = |q: &jit::btf::core::CoreQuery<'_>| img2.core_answer(q);
        let opts = LoadOptions {
            include_dirs: vec![PathBuf::from(&vmlinux)],
            core: Some(&core),
            ..LoadOptions::default()
        };
        Some((
            "dst_discard",
            load_file(&example, &opts).expect("example loads"),
        ))
    };

    let (base, _, _) = best(&elf, &img, &|| None);
    println!(
        "{:<48} {:>9} {:>8} {:>9} {:>11} {:>9}",
        "scenario", "host ms", "hits", "ns/hit", "in filter", "slowdown"
    );
    println!(
        "{:<48} {:>9.1} {:>8} {:>9} {:>11} {:>8.2}x",
        "no probe",
        base.as_secs_f64() * 1e3,
        0,
        "-",
        "-",
        1.0
    );
    let scenarios: Vec<(&str, Box<MakeProbe>)> = vec![
        (
            "memcpy, empty filter",
            Box::new(|| {
                Some((
                    "memcpy",
                    load_asm("empty.s", "mov %r0, 0\nexit").expect("asm"),
                ))
            }),
        ),
        (
            "every function (glob '*'), empty filter",
            Box::new(|| Some(("*", load_asm("empty.s", "mov %r0, 0\nexit").expect("asm")))),
        ),
        (
            "memcpy, filter reading 3 ctx fields",
            Box::new(|| {
                Some((
                    "memcpy",
                    load_asm(
                        "ctx.s",
                        "ldxdw %r2, [%r1]\nldxdw %r3, [%r1+8]\nldxdw %r4, [%r1+16]\nadd %r2, %r3\nadd %r2, %r4\nmov %r0, %r2\nexit",
                    )
                    .expect("asm"),
                ))
            }),
        ),
        (
            "dst_discard, the seed's example (printk + map)",
            Box::new(seed),
        ),
    ];
    for (name, make) in &scenarios {
        let (dt, hits, inside) = best(&elf, &img, make.as_ref());
        let per_hit = (dt.as_nanos() as f64 - base.as_nanos() as f64) / hits.max(1) as f64;
        println!(
            "{:<48} {:>9.1} {:>8} {:>9.0} {:>11} {:>8.2}x",
            name,
            dt.as_secs_f64() * 1e3,
            hits,
            per_hit,
            inside / hits.max(1),
            dt.as_secs_f64() / base.as_secs_f64()
        );
    }
}
