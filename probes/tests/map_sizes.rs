//! Maps whose size a tool's user space sets (`max_entries` 0 in the object, as BCC's
//! `profile` leaves its stack map): refused with the way to size them, and sized by
//! `LoadOptions::map_sizes` (`--map-size NAME=N`), as `bpf_map__set_max_entries` does.

use probes::load::{load_file, LoadOptions};

const SOURCE: &str = r#"
#include "bpflab.h"
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 127 * sizeof(__u64));
} stackmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("kprobe/dst_discard")
int f(void *ctx)
{
	return bpf_get_stackid(ctx, &stackmap, 0) < 0;
}
char LICENSE[] SEC("license") = "GPL";
"#;

#[test]
fn unsized_maps_are_refused_with_the_fix_and_sized_on_request() {
    let dir = std::env::temp_dir().join(format!("bpflab-map-sizes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let src = dir.join("unsized.bpf.c");
    std::fs::write(&src, SOURCE).expect("write");

    let e = load_file(&src, &LoadOptions::default())
        .expect_err("max_entries 0")
        .to_string();
    assert!(
        e.contains("map 'stackmap' (stack_trace) has max_entries 0")
            && e.contains("--map-size stackmap=N"),
        "{e}"
    );

    let opts = LoadOptions {
        map_sizes: vec![
            ("stackmap".into(), 1024),
            ("counts".into(), 64),
            ("not_in_this_object".into(), 1),
        ],
        ..LoadOptions::default()
    };
    let f = load_file(&src, &opts).expect("sized");
    let sizes: Vec<(String, u32)> = f
        .maps
        .iter()
        .map(|m| (m.def().name.clone(), m.def().max_entries))
        .collect();
    assert_eq!(sizes, [("stackmap".into(), 1024), ("counts".into(), 64)]);
}
