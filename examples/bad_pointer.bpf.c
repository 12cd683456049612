// A filter that follows bad pointers and survives: every read of guest memory is
// fault-suppressing (the destination is zeroed and -EFAULT returned), so neither the guest nor
// bpflab notices. Counts what happened.
//   bpflab trace --attach 'ip_rcv=examples/bad_pointer.bpf.c'
#include "vmlinux.h"
#include "bpflab.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} outcome SEC(".maps");

SEC("bpflab/ip_rcv")
int filter(struct bpf_context *ctx)
{
	__u64 junk = 0x1234;
	__u32 faulted = 0, zeroed = 1, null_ok = 2;
	__u64 *v;

	/* Not mapped in any guest address space. */
	long err = bpf_probe_read_kernel(&junk, sizeof(junk), (void *)0xdead000000000000ULL);
	if (err < 0 && (v = bpf_map_lookup_elem(&outcome, &faulted)))
		__sync_fetch_and_add(v, 1);
	if (junk == 0 && (v = bpf_map_lookup_elem(&outcome, &zeroed)))
		__sync_fetch_and_add(v, 1);
	/* The seed's bpf_load_pointer(NULL) is 0, not a crash. */
	if (bpf_load_pointer((void *)0) == 0 && (v = bpf_map_lookup_elem(&outcome, &null_ok)))
		__sync_fetch_and_add(v, 1);
	/* The first argument is a real sk_buff: its device pointer reads fine. */
	struct sk_buff *skb = (struct sk_buff *)ctx->arg1;
	return bpf_load_pointer(&skb->dev) != 0;
}

char LICENSE[] SEC("license") = "GPL";
