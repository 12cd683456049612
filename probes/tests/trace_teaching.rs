//! The seed's loop end to end on the teaching kernel: boot, attach filters, run, check what
//! they saw against what the kernel itself reports.

mod common;

use emu::{KernelImage, Limits, Machine, MachineConfig, StopReason};
use probes::attach::resolve_attach;
use probes::events::EventKind;
use probes::image::GuestImage;
use probes::load::{load_asm, load_file, LoadOptions};
use probes::tracer::Tracer;
use std::rc::Rc;

fn machine() -> Machine {
    let image = KernelImage::parse("teaching", common::teaching_elf().to_vec()).expect("image");
    Machine::boot_image(&MachineConfig::default(), image).expect("boots")
}

fn image() -> Rc<GuestImage> {
    Rc::new(GuestImage::new("teaching", common::teaching_elf().to_vec()).expect("image"))
}

fn attach_all(
    tracer: &mut Tracer,
    m: &mut Machine,
    img: &GuestImage,
    spec: &str,
    filter: usize,
) -> Vec<u32> {
    resolve_attach(spec, img.symbols())
        .expect("resolves")
        .iter()
        .map(|r| {
            tracer
                .attach(
                    m,
                    spec,
                    r.addr,
                    &r.symbol,
                    r.offset == 0 && !r.is_return,
                    r.is_return,
                    filter,
                    0,
                )
                .expect("attaches")
        })
        .collect()
}

/// The kernel counts drops by reason in its summary; `dst_discard` drops with NOT_SPECIFIED.
fn summary_number(console: &str, key: &str) -> u64 {
    let at = console
        .find(key)
        .unwrap_or_else(|| panic!("no '{key}' in:\n{console}"));
    console[at + key.len()..]
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number after '{key}'"))
}

#[test]
fn an_assembly_filter_counts_every_dst_discard() {
    let img = image();
    let mut m = machine();
    let mut t = Tracer::new(Some(img.clone()));
    // r0 = 1; the filter's effect is visible only in the hit count.
    let f = load_asm("count.s", "mov %r0, 1\nexit").expect("assembles");
    let (fi, warnings) = t.add_filter(&m, f).expect("verifies and compiles");
    assert!(warnings.is_empty(), "{warnings:?}");
    let ids = attach_all(&mut t, &mut m, &img, "dst_discard", fi);
    assert_eq!(ids.len(), 1);
    let stop = m.run(Limits::none());
    assert_eq!(stop, StopReason::Exit(0));
    let console = String::from_utf8_lossy(m.console()).into_owned();
    let dropped = summary_number(&console, "NOT_SPECIFIED=");
    let p = &t.probes()[0];
    assert_eq!(p.stats.hits, dropped, "{console}");
    assert_eq!(p.stats.errors, 0);
    assert!(dropped > 100);
}

#[test]
fn the_seeds_example_reports_devices_and_counts_per_device() {
    let img = image();
    let mut m = machine();
    let mut t = Tracer::new(Some(img.clone()));
    let dir = std::env::temp_dir().join(format!("bpflab-vmlinux-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("vmlinux.h"), img.vmlinux_h().expect("vmlinux.h")).expect("write");
    let core = |q: &jit::btf::core::CoreQuery<'_>| img.core_answer(q);
    let opts = LoadOptions {
        include_dirs: vec![dir.clone()],
        core: Some(&core),
        ..LoadOptions::default()
    };
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/dst_discard.bpf.c");
    let filter = load_file(&example, &opts).expect("loads (clang: scripts/setup.sh)");
    let (fi, _) = t.add_filter(&m, filter).expect("compiles");
    attach_all(&mut t, &mut m, &img, "dst_discard", fi);
    assert_eq!(m.run(Limits::none()), StopReason::Exit(0));
    let console = String::from_utf8_lossy(m.console()).into_owned();
    let dropped = summary_number(&console, "NOT_SPECIFIED=");
    let probes = t.probes();
    assert_eq!(probes[0].stats.hits, dropped);
    assert_eq!(
        probes[0].stats.errors, 0,
        "{:?}",
        probes[0].stats.last_error
    );
    // One printk per drop, naming a real device.
    let events = t.events().borrow();
    let lines: Vec<String> = events
        .recent()
        .filter_map(|e| match &e.kind {
            EventKind::Printk { msg } => Some(msg.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(lines.len() as u64, dropped);
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("drop len ") && (l.ends_with(" lo") || l.ends_with(" eth0"))),
        "{:?}",
        &lines[..3]
    );
    // The map's per-device counts add up to the drops.
    let dump = t.map_dump();
    let drops = dump.iter().find(|d| d.name == "drops").expect("drops map");
    let total: u64 = drops
        .entries
        .iter()
        .map(|(_, v)| u64::from_le_bytes(v[..8].try_into().expect("u64")))
        .sum();
    assert_eq!(total, dropped);
}

#[test]
fn probes_come_and_go_while_the_guest_runs() {
    let img = image();
    let mut m = machine();
    let mut t = Tracer::new(Some(img.clone()));
    let f = load_asm("count.s", "mov %r0, 1\nexit").expect("assembles");
    let (fi, _) = t.add_filter(&m, f).expect("compiles");
    // Phase 1: one probe for the first second of guest time.
    let first = attach_all(&mut t, &mut m, &img, "ip_rcv", fi)[0];
    assert_eq!(
        m.run(Limits::virtual_time(std::time::Duration::from_secs(1))),
        StopReason::TimeBudget
    );
    let hits_at_1s = t.probes()[0].stats.hits;
    assert!(hits_at_1s > 0, "ip_rcv runs in the first second");
    // Phase 2: swap it for another probe, then run to the end.
    t.detach(&mut m, first).expect("detaches");
    assert!(t.detach(&mut m, first).is_err(), "a probe detaches once");
    attach_all(&mut t, &mut m, &img, "netif_receive_skb", fi);
    assert_eq!(m.run(Limits::none()), StopReason::Exit(0));
    let probes = t.probes();
    assert_eq!(probes.len(), 1, "only the new probe is left");
    assert_eq!(probes[0].spec, "netif_receive_skb");
    let console = String::from_utf8_lossy(m.console()).into_owned();
    let total_rx = summary_number(&console, "InReceives");
    // The detached probe saw only part of the run; the new one only the rest.
    assert!(hits_at_1s < total_rx, "{hits_at_1s} of {total_rx}");
    assert!(probes[0].stats.hits > 0);
    assert!(
        probes[0].stats.hits < 2000,
        "netif_receive_skb was hooked only after 1 s"
    );
}
