// Count system calls by the name of the task making them, from the guest's `current`
// (bpf_get_current_comm reads the guest's task_struct), and by number.
//   bpflab trace --attach examples/syscalls_by_comm.bpf.c
#include "vmlinux.h"
#include "bpflab.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[16]);
	__type(value, __u64);
} syscalls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u64);
} by_nr SEC(".maps");

static __always_inline void bump(void *map, const void *key)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(map, key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
}

SEC("kprobe/do_syscall_64")
int BPF_KPROBE(count_syscall, struct pt_regs *regs, int nr)
{
	char comm[16] = {};
	__u32 n = nr;

	bpf_get_current_comm(comm, sizeof(comm));
	bump(&syscalls, comm);
	bump(&by_nr, &n);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
