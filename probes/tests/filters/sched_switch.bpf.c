// sched:sched_switch three ways (the record, the raw arguments, tp_btf) and what the
// scheduler then runs (finish_task_switch, in the new task): they must agree.
#include "bpflab.h"

struct task_struct {
	int pid;
	char comm[16];
} __attribute__((preserve_access_index));

// The event's record as Linux 6.1's format file describes it (an independent layout:
// bpflab builds the record with the kernel's own code).
struct sched_switch_record {
	unsigned long long regs;
	char prev_comm[16];
	int prev_pid;
	int prev_prio;
	long prev_state;
	char next_comm[16];
	int next_pid;
	int next_prio;
};

SEC("tracepoint/sched/sched_switch")
int tp(struct sched_switch_record *ctx)
{
	bpf_printk("tp %d %d %s", ctx->prev_pid, ctx->next_pid, ctx->next_comm);
	return 0;
}

SEC("raw_tp/sched_switch")
int raw(unsigned long long *ctx)
{
	struct task_struct *prev = (void *)ctx[1], *next = (void *)ctx[2];
	char comm[16];
	BPF_CORE_READ_INTO(&comm, next, comm);
	bpf_printk("raw %d %d %s", BPF_CORE_READ(prev, pid), BPF_CORE_READ(next, pid), comm);
	return 0;
}

SEC("tp_btf/sched_switch")
int btf(unsigned long long *ctx)
{
	struct task_struct *prev = (void *)ctx[1], *next = (void *)ctx[2];
	char comm[16];
	BPF_CORE_READ_INTO(&comm, next, comm);
	bpf_printk("btf %d %d %s", BPF_CORE_READ(prev, pid), BPF_CORE_READ(next, pid), comm);
	return 0;
}

SEC("kprobe/finish_task_switch.isra.0")
int run(void *ctx)
{
	bpf_printk("run %d", (int)bpf_get_current_pid_tgid());
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
