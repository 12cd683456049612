// Where does the guest free packets, and why? Count kfree_skb_reason() calls by kernel stack
// (bpf_get_stackid into a stack-trace map; the caller is included even at function entry)
// and by drop reason.
//   bpflab trace --attach examples/kfree_skb_stacks.bpf.c
#include "vmlinux.h"
#include "bpflab.h"

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 256);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 16 * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} by_stack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} by_reason SEC(".maps");

static __always_inline void bump(void *map, const void *key)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(map, key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
}

SEC("kprobe/kfree_skb_reason")
int BPF_KPROBE(on_free, struct sk_buff *skb, int reason)
{
	long id = bpf_get_stackid(ctx, &stacks, 0);
	__u32 key = id, why = reason;

	if (id >= 0)
		bump(&by_stack, &key);
	bump(&by_reason, &why);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
