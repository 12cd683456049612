// Event streams: a ring buffer record per dropped packet (reserve/submit, every third one
// discarded, plus bpf_ringbuf_output), and a perf event per ip_rcv return with its value.
#include "vmlinux.h"
#include "bpflab.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 1);
} rets SEC(".maps");

struct drop {
	__u64 boot_ns;
	__u32 len;
	__u32 seq;
};

__u32 seq;

SEC("kprobe/dst_discard")
int BPF_KPROBE(on_drop, struct sk_buff *skb)
{
	struct drop *d = bpf_ringbuf_reserve(&drops, sizeof(*d), 0);
	if (!d)
		return 0;
	d->boot_ns = bpf_ktime_get_boot_ns();
	d->len = BPF_CORE_READ(skb, len);
	d->seq = ++seq;
	if (d->seq % 3 == 0) {
		bpf_ringbuf_discard(d, 0);
		__u64 task = bpf_get_current_task() != 0;
		bpf_ringbuf_output(&drops, &task, sizeof(task), 0);
	} else {
		bpf_ringbuf_submit(d, 0);
	}
	return 0;
}

SEC("kretprobe/ip_rcv")
int BPF_KRETPROBE(on_ip_rcv_ret, long ret)
{
	struct { long ret; __u32 pid; __u32 pad; } e = { ret, bpf_get_current_pid_tgid() >> 32, 0 };
	bpf_perf_event_output(ctx, &rets, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
