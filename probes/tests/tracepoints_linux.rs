//! The Linux guest's tracepoints and trace events, read from its image alone: categories,
//! prototypes, syscall metadata and the sites that test each key.
//!
//! Needs the Linux image (`scripts/test.sh` builds it first); without it the tests fail.

use probes::image::GuestImage;
use probes::tracepoints::EventSource;

thread_local! {
    static IMAGE: &'static GuestImage = Box::leak(Box::new({
        let dir = emu::loader::linux::image_dir()
            .filter(|d| d.join("vmlinux").is_file())
            .expect("no Linux image: run `bpflab image build linux` (scripts/test.sh builds it)");
        let bytes = std::fs::read(dir.join("vmlinux")).expect("vmlinux");
        GuestImage::new("linux", bytes).expect("image")
    }));
}

/// The image, read once per test thread.
fn image() -> &'static GuestImage {
    IMAGE.with(|i| *i)
}

#[test]
fn events_have_their_kernel_categories_and_prototypes() {
    let cat = image().catalog();
    assert!(cat.events.len() > 300, "{} events", cat.events.len());
    let sw = cat
        .event("sched", "sched_switch")
        .expect("sched:sched_switch");
    let EventSource::Tracepoint {
        tracepoint,
        perf_probe,
    } = &sw.source
    else {
        panic!("{sw:?}");
    };
    assert_eq!(tracepoint, "sched_switch");
    let perf = image()
        .symbols()
        .resolve(*perf_probe)
        .expect("perf probe")
        .0;
    assert_eq!(perf.name, "perf_trace_sched_switch");
    let tp = &cat.tracepoints["sched_switch"];
    let args: Vec<String> = tp
        .args
        .iter()
        .map(|a| format!("{} {}", a.type_name, a.name))
        .collect();
    assert_eq!(
        args,
        [
            "bool preempt",
            "struct task_struct * prev",
            "struct task_struct * next",
            "unsigned int prev_state"
        ]
    );
    assert_eq!(tp.targets.len(), 2, "trampoline and iterator");
    // An event of a DEFINE_EVENT class uses its template's perf function.
    let wk = cat.event("sched", "sched_wakeup").expect("sched_wakeup");
    let EventSource::Tracepoint { perf_probe, .. } = &wk.source else {
        panic!()
    };
    let perf = image().symbols().resolve(*perf_probe).expect("perf").0;
    assert_eq!(perf.name, "perf_trace_sched_wakeup_template");
    for e in [
        "skb:kfree_skb",
        "net:netif_receive_skb",
        "block:block_rq_issue",
    ] {
        let (c, n) = e.split_once(':').expect("c:n");
        assert!(cat.event(c, n).is_some(), "{e}");
    }
}

#[test]
fn syscall_events_carry_their_metadata_and_numbers() {
    let cat = image().catalog();
    let open = cat
        .event("syscalls", "sys_enter_openat")
        .expect("sys_enter_openat");
    let EventSource::Syscall {
        syscall,
        enter,
        nr,
        args,
    } = &open.source
    else {
        panic!("{open:?}");
    };
    assert_eq!((syscall.as_str(), *enter, *nr), ("openat", true, Some(257)));
    let args: Vec<String> = args
        .iter()
        .map(|a| format!("{} {}", a.type_name, a.name))
        .collect();
    assert_eq!(
        args,
        [
            "int dfd",
            "const char * filename",
            "int flags",
            "umode_t mode"
        ]
    );
    let exit = cat
        .event("syscalls", "sys_exit_read")
        .expect("sys_exit_read");
    assert!(matches!(
        &exit.source,
        EventSource::Syscall {
            enter: false,
            nr: Some(0),
            ..
        }
    ));
    assert!(cat
        .suggest("sched:sched_swich", 3)
        .contains(&"sched:sched_switch".to_string()));
}

#[test]
fn sites_are_found_where_the_key_is_tested() {
    let sites = image().tracepoint_sites("sched_switch");
    assert!(!sites.is_empty());
    assert!(
        sites.iter().any(|s| s.function == "__schedule"),
        "{sites:?}"
    );
    for s in sites {
        assert!(s.skip > s.addr, "{s:?}");
    }
    // Most tracepoints have at least one site (the others are never called in this
    // configuration, or only from code the test does not recognise).
    let cat = image().catalog();
    let with_sites = cat
        .tracepoints
        .keys()
        .filter(|n| !image().tracepoint_sites(n).is_empty())
        .count();
    assert!(
        with_sites * 10 >= cat.tracepoints.len() * 7,
        "{with_sites} of {}",
        cat.tracepoints.len()
    );
}
