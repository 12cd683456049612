// The seed's own example (LKML RFC "use BPF in tracing filters", 2014), made runnable:
//
//   "the user can create kprobe_event on dst_discard() and use logically following code
//    inside BPF filter:  skb = (struct sk_buff *)ctx->arg1;  dev = bpf_load_pointer(&skb->dev);"
//
// For every packet the guest drops, report the device's ifindex and name, and count drops per
// device in a map. Run it with:
//   bpflab trace --attach 'dst_discard=examples/dst_discard.bpf.c'
#include "vmlinux.h"
#include "bpflab.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, char[16]);
	__type(value, __u64);
} drops SEC(".maps");

SEC("bpflab/dst_discard")
int filter(struct bpf_context *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx->arg1;
	struct net_device *dev = bpf_load_pointer(&skb->dev);
	char name[16] = {};
	int ifindex = 0;
	__u64 one = 1, *count;

	if (!dev)
		return 0;
	bpf_probe_read_kernel(&ifindex, sizeof(ifindex), &dev->ifindex);
	bpf_probe_read_kernel_str(name, sizeof(name), dev->name);
	bpf_printk("drop len %u dev %d %s", BPF_CORE_READ(skb, len), ifindex, name);

	count = bpf_map_lookup_elem(&drops, name);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&drops, name, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
