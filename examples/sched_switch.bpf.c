// Count context switches by the task switched to, from the sched:sched_switch tracepoint's
// record (struct trace_event_raw_sched_switch from the guest's vmlinux.h, as BCC's
// libbpf-tools read it), and print each switch away from the workload.
//   bpflab trace --image linux --attach examples/sched_switch.bpf.c
#include "vmlinux.h"
#include "bpflab.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[16]);
	__type(value, __u64);
} switches_to SEC(".maps");

SEC("tracepoint/sched/sched_switch")
int on_switch(struct trace_event_raw_sched_switch *ctx)
{
	char next[16];
	__u64 one = 1, *n;

	__builtin_memcpy(next, ctx->next_comm, sizeof(next));
	n = bpf_map_lookup_elem(&switches_to, next);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&switches_to, next, &one, BPF_NOEXIST);
	if (ctx->prev_comm[0] == 'b' && ctx->prev_state != 0)
		bpf_printk("%s sleeps (state %ld), %s runs", ctx->prev_comm, ctx->prev_state, ctx->next_comm);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
