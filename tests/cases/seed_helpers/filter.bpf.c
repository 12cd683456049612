// The seed's helpers and the remaining readers: bpf_memcmp on the device name,
// bpf_dump_stack once, bpf_get_stack into a buffer, bpf_probe_read / bpf_probe_read_str, and
// bpf_get_current_comm, on every packet ip_rcv sees.
#include "vmlinux.h"
#include "bpflab.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

int dumped;

SEC("bpflab/ip_rcv")
int filter(struct bpf_context *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx->arg1;
	struct net_device *dev = bpf_load_pointer(&skb->dev);
	char lo[] = "lo";
	char name[16] = {};
	char comm[16] = {};
	__u64 stack[4] = {};
	__u32 k;
	__u64 *c;

	if (!dev)
		return 0;
	k = bpf_memcmp(dev->name, lo, 3) == 0 ? 0 : 1;
	c = bpf_map_lookup_elem(&counts, &k);
	if (c)
		__sync_fetch_and_add(c, 1);
	k = 2;
	c = bpf_map_lookup_elem(&counts, &k);
	if (c && bpf_get_stack(ctx, stack, sizeof(stack), 0) > 0)
		__sync_fetch_and_add(c, 1);
	if (!dumped) {
		dumped = 1;
		bpf_dump_stack(ctx);
		bpf_probe_read_str(name, sizeof(name), dev->name);
		bpf_get_current_comm(comm, sizeof(comm));
		__u32 len = 0;
		bpf_probe_read(&len, sizeof(len), &skb->len);
		bpf_printk("first packet: dev %s len %u comm %s", name, len, comm);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
