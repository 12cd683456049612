// A kprobe/kretprobe pair sharing a map: the latency of vfs_read() in guest virtual time,
// as a log2 histogram (printed like bpftrace's hist()).
//   bpflab trace --attach examples/read_latency.bpf.c
#include "vmlinux.h"
#include "bpflab.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} read_ns_hist SEC(".maps");

SEC("kprobe/vfs_read")
int BPF_KPROBE(read_entry)
{
	__u64 id = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &id, &now, BPF_ANY);
	return 0;
}

SEC("kretprobe/vfs_read")
int BPF_KRETPROBE(read_return, long ret)
{
	__u64 id = bpf_get_current_pid_tgid(), *t0, *slot;
	__u32 bucket = 0;

	t0 = bpf_map_lookup_elem(&start, &id);
	if (!t0)
		return 0;
	__u64 delta = bpf_ktime_get_ns() - *t0;
	bpf_map_delete_elem(&start, &id);
	while (delta > 1 && bucket < 63) {
		delta >>= 1;
		bucket++;
	}
	slot = bpf_map_lookup_elem(&read_ns_hist, &bucket);
	if (slot)
		__sync_fetch_and_add(slot, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
