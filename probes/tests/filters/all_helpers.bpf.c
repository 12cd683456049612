// Every guest-aware helper and every map type, at every dst_discard. Checks that fail bump
// fails[N]; the test asserts there are none, and that the outputs reached the event log.
#include "vmlinux.h"
#include "bpflab.h"

#define MAP(name, t, n, k, v)                                                  \
	struct {                                                               \
		__uint(type, t);                                               \
		__uint(max_entries, n);                                        \
		__type(key, k);                                                \
		__type(value, v);                                              \
	} name SEC(".maps")

MAP(hash, BPF_MAP_TYPE_HASH, 16, __u32, __u64);
MAP(array, BPF_MAP_TYPE_ARRAY, 4, __u32, __u64);
MAP(pcpu_hash, BPF_MAP_TYPE_PERCPU_HASH, 16, __u32, __u64);
MAP(pcpu_array, BPF_MAP_TYPE_PERCPU_ARRAY, 4, __u32, __u64);
MAP(lru, BPF_MAP_TYPE_LRU_HASH, 2, __u32, __u64);
MAP(fails, BPF_MAP_TYPE_ARRAY, 32, __u32, __u64);

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 64);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 16 * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring SEC(".maps");

struct rec {
	__u64 ts;
	__u32 pid;
	__u32 len;
};

__u64 dumps = 0;

static __always_inline void bump(void *map, __u32 key)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(map, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(map, &key, &one, BPF_NOEXIST);
}

static __always_inline void fail(__u32 code)
{
	__u64 *v = bpf_map_lookup_elem(&fails, &code);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("bpflab/dst_discard")
int all_helpers(struct bpf_context *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx->arg1;
	__u64 now = bpf_ktime_get_ns();
	__u64 id = bpf_get_current_pid_tgid();
	char comm[16] = {}, name[16] = {}, name2[16] = {};
	unsigned int len = 0, junk = 7;
	int pid = 0;

	if (bpf_get_current_comm(comm, sizeof(comm)) != 0 || comm[0] == 0)
		fail(1);
	if (bpf_get_smp_processor_id() != 0)
		fail(2);
	if (bpf_get_current_uid_gid() != 0)
		fail(3);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (bpf_probe_read_kernel(&pid, sizeof(pid), &task->pid) != 0 || pid != (__u32)id)
		fail(4);
	if (bpf_probe_read(&len, sizeof(len), &skb->len) != 0 || len == 0)
		fail(5);
	struct net_device *dev = bpf_load_pointer(&skb->dev);
	if (!dev)
		fail(6);
	if (bpf_probe_read_kernel_str(name, sizeof(name), dev->name) <= 1)
		fail(7);
	if (bpf_probe_read_str(name2, sizeof(name2), dev->name) <= 1)
		fail(8);
	/* A kernel address is not a user address: -EFAULT, destination zeroed. */
	if (bpf_probe_read_user(&junk, sizeof(junk), &skb->len) != -14 || junk != 0)
		fail(9);
	if (bpf_probe_read_user_str(name2, sizeof(name2), dev->name) != -14)
		fail(10);
	if (bpf_memcmp(dev->name, name, 2) != 0)
		fail(11);
	if (now == 0)
		fail(12);

	bump(&hash, len & 15);
	bump(&array, len & 3);
	bump(&pcpu_hash, len & 15);
	bump(&pcpu_array, len & 3);
	bump(&lru, len & 15);
	__u32 gone = 99;
	if (bpf_map_delete_elem(&hash, &gone) != -2)
		fail(13);

	__u64 stack[8] = {};
	if (bpf_get_stack(ctx, stack, sizeof(stack), 0) < 16)
		fail(14);
	if (bpf_get_stackid(ctx, &stacks, 0) < 0)
		fail(15);

	struct rec r = { .ts = now, .pid = pid, .len = len };
	if (bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &r, sizeof(r)) != 0)
		fail(16);
	if (bpf_ringbuf_output(&ring, &r, sizeof(r), 0) != 0)
		fail(17);
	struct rec *rr = bpf_ringbuf_reserve(&ring, sizeof(*rr), 0);
	if (rr) {
		rr->ts = now;
		rr->pid = pid;
		rr->len = len;
		bpf_ringbuf_submit(rr, 0);
	} else {
		fail(18);
	}
	struct rec *rd = bpf_ringbuf_reserve(&ring, sizeof(*rd), 0);
	if (rd)
		bpf_ringbuf_discard(rd, 0);
	else
		fail(19);

	if (bpf_ktime_get_coarse_ns() != now)
		fail(20);
	__u32 r1 = bpf_get_prandom_u32(), r2 = bpf_get_prandom_u32();
	if (r1 == r2)
		fail(21);
	if (bpf_get_attach_cookie(ctx) != 0)
		fail(22);

	if (dumps++ == 0)
		bpf_dump_stack(ctx);
	bpf_printk("ok %s len %u", name, len);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
