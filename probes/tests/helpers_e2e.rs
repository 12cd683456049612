//! Every guest-aware helper and every map type in one verified C filter on the teaching
//! kernel (`tests/filters/all_helpers.bpf.c`): the filter checks each helper's result itself
//! and counts failures in a map; here we check there are none and that every kind of output
//! (printk lines, perf and ring-buffer records, a stack dump) reached the event log.

mod common;

use emu::{KernelImage, Limits, Machine, MachineConfig, StopReason};
use probes::attach::resolve_attach;
use probes::events::EventKind;
use probes::image::GuestImage;
use probes::load::{load_file, LoadOptions};
use probes::tracer::Tracer;
use std::rc::Rc;

fn u64_at(v: &[u8]) -> u64 {
    u64::from_le_bytes(v[..8].try_into().expect("8 bytes"))
}

#[test]
fn every_helper_and_map_type_works_from_one_verified_filter() {
    let img = Rc::new(GuestImage::new("teaching", common::teaching_elf().to_vec()).expect("image"));
    let kernel = KernelImage::parse("teaching", common::teaching_elf().to_vec()).expect("image");
    let mut m = Machine::boot_image(&MachineConfig::default(), kernel).expect("boots");
    let dir = std::env::temp_dir().join(format!("bpflab-helpers-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("vmlinux.h"), img.vmlinux_h().expect("vmlinux.h")).expect("write");
    let core = |q: &jit::btf::core::CoreQuery<'_>| img.core_answer(q);
    let opts = LoadOptions {
        include_dirs: vec![dir],
        core: Some(&core),
        ..LoadOptions::default()
    };
    let src =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filters/all_helpers.bpf.c");
    let filter = load_file(&src, &opts).expect("compiles and loads (clang: scripts/setup.sh)");
    let mut t = Tracer::new(Some(img.clone()));
    let (fi, warnings) = t.add_filter(&m, filter).expect("verified");
    assert!(warnings.is_empty(), "{warnings:?}");
    for r in resolve_attach("dst_discard", img.symbols()).expect("resolves") {
        t.attach(&mut m, "dst_discard", r.addr, &r.symbol, true, false, fi, 0)
            .expect("attaches");
    }
    assert_eq!(m.run(Limits::none()), StopReason::Exit(0));
    let p = &t.probes()[0];
    assert!(p.stats.hits > 100);
    assert_eq!(p.stats.errors, 0, "{:?}", p.stats.last_error);
    let maps = t.map_dump();
    let get = |n: &str| {
        maps.iter()
            .find(|d| d.name == n)
            .unwrap_or_else(|| panic!("map {n}"))
    };
    let fails: Vec<(u64, u64)> = get("fails")
        .entries
        .iter()
        .map(|(k, v)| {
            (
                u64::from(u32::from_le_bytes(k[..4].try_into().expect("key"))),
                u64_at(v),
            )
        })
        .filter(|&(_, n)| n > 0)
        .collect();
    assert!(fails.is_empty(), "failed checks (code, times): {fails:?}");
    for name in ["hash", "array", "pcpu_hash", "pcpu_array"] {
        let total: u64 = get(name).entries.iter().map(|(_, v)| u64_at(v)).sum();
        assert_eq!(total, p.stats.hits, "{name} counts every hit");
    }
    assert!(
        get("lru").entries.len() <= 2,
        "the LRU map keeps at most 2 entries"
    );
    assert!(!get("stacks").entries.is_empty());
    let events = t.events().borrow();
    let count =
        |f: &dyn Fn(&EventKind) -> bool| events.recent().filter(|e| f(&e.kind)).count() as u64;
    assert_eq!(
        count(&|k| matches!(k, EventKind::Printk { msg } if msg.starts_with("ok "))),
        p.stats.hits
    );
    assert_eq!(
        count(&|k| matches!(k, EventKind::Output { map, .. } if map == "perf")),
        p.stats.hits
    );
    // bpf_ringbuf_output, plus a reserved, written and submitted record (the discarded one
    // is never seen).
    assert_eq!(
        count(
            &|k| matches!(k, EventKind::Output { map, data } if map == "ring" && data.len() == 16)
        ),
        2 * p.stats.hits
    );
    let stacks: Vec<_> = events
        .recent()
        .filter_map(|e| match &e.kind {
            EventKind::Stack { frames } => Some(frames.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(stacks.len(), 1, "one bpf_dump_stack");
    let names: Vec<String> = stacks[0].iter().filter_map(|f| f.symbol.clone()).collect();
    assert!(names[0].starts_with("dst_discard"), "{names:?}");
    assert!(
        names.len() >= 3 && names.iter().any(|n| n.starts_with("kthread")),
        "{names:?}"
    );
}
