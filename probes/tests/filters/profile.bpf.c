// A sampler (SEC("perf_event"): 49 Hz when attached where its section says): each sample
// prints its period, the interrupted instruction and its kernel stack id (-EFAULT in user
// mode, where a sample has no kernel stack), and the stacks go to a stack-trace map.
#include "bpflab.h"

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1024);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 32 * sizeof(__u64));
} profile_stacks SEC(".maps");

SEC("perf_event")
int sample(struct bpflab_perf_event_data *ctx)
{
	long id = bpf_get_stackid(&ctx->regs, &profile_stacks, 0);
	bpf_printk("sample %llu %lx %ld", ctx->sample_period, ctx->regs.ip, id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
