// Where does the guest spend its time? A sampling profiler like BCC's `profile`: a perf_event
// program that runs 99 times a second of virtual time at whatever instruction the CPU is at,
// counting samples by kernel stack (symbolised at exit). Samples taken in user mode have no
// kernel stack (bpf_get_stackid fails with -EFAULT, as in the kernel): those are counted by
// task name instead.
//   bpflab trace --attach 'profile:hz:99=examples/profile.bpf.c'
//   (with no point, a perf_event program samples at 49 Hz, BCC profile's default)
#include "vmlinux.h"
#include "bpflab.h"

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1024);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 32 * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} by_stack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[16]);
	__type(value, __u64);
} user_by_comm SEC(".maps");

static __always_inline void bump(void *map, const void *key)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(map, key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
}

SEC("perf_event")
int sample(struct bpflab_perf_event_data *ctx)
{
	long id = bpf_get_stackid(&ctx->regs, &stacks, 0);

	if (id >= 0) {
		__u32 key = id;
		bump(&by_stack, &key);
	} else {
		char comm[16] = {};
		bpf_get_current_comm(comm, sizeof(comm));
		bump(&user_by_comm, comm);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
