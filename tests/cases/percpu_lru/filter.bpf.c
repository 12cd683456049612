// Per-CPU and LRU maps: packets per CPU (per-CPU array), syscalls per pid (per-CPU hash), the
// last 4 schedule() callers by pid (LRU hash that evicts), and a hash entry deleted again.
#include "vmlinux.h"
#include "bpflab.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rx_per_cpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} syscalls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} recent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} scratch SEC(".maps");

SEC("kprobe/netif_receive_skb")
int BPF_KPROBE(rx)
{
	__u32 zero = 0, cpu = bpf_get_smp_processor_id();
	__u64 *v = bpf_map_lookup_elem(&rx_per_cpu, &zero);
	if (v)
		*v += 1 + cpu;
	return 0;
}

SEC("kprobe/do_syscall_64")
int BPF_KPROBE(sys)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u32 uid = bpf_get_current_uid_gid();
	__u64 one = 1, *v = bpf_map_lookup_elem(&syscalls, &pid);
	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&syscalls, &pid, &one, BPF_NOEXIST);
	bpf_map_update_elem(&scratch, &pid, &uid, BPF_ANY);
	bpf_map_delete_elem(&scratch, &pid);
	return 0;
}

SEC("kprobe/schedule")
int BPF_KPROBE(sched)
{
	__u32 pid = bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();
	bpf_map_update_elem(&recent, &pid, &now, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
