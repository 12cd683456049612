// SPDX-License-Identifier: GPL-2.0
/*
 * net/ipv4/route.c - input routing over a tiny FIB.
 *
 * One table, scanned for the longest matching prefix (fib_lookup). The
 * result's dst_entry decides the packet's fate through its input hook:
 *
 *   RTN_LOCAL, RTN_BROADCAST  ip_local_deliver   for us
 *   RTN_BLACKHOLE             dst_discard        silently dropped
 *   RTN_UNREACHABLE           ip_error           dropped, "no route"
 *   RTN_UNICAST               ip_error           not for us, and we don't forward
 */
#include <linux/kernel.h>
#include <linux/netdevice.h>
#include <linux/route.h>
#include <linux/ip.h>

#define IP4(a, b, c, d)	htonl(((u32)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))

#define FIB_ENTRY(dst_, len, type, desc) \
	{ .fa_dst = (dst_), .fa_dst_len = (len), .fa_type = (type), .fa_desc = (desc) }

static struct fib_alias fib_table[] = {
	FIB_ENTRY(IP4(127, 0, 0, 0), 8, RTN_LOCAL, "127.0.0.0/8 local (lo)"),
	FIB_ENTRY(IP4(10, 0, 2, 15), 32, RTN_LOCAL, "10.0.2.15 local (eth0)"),
	FIB_ENTRY(IP4(10, 0, 2, 255), 32, RTN_BROADCAST, "10.0.2.255 broadcast (eth0)"),
	FIB_ENTRY(IP4(10, 0, 2, 0), 24, RTN_UNICAST, "10.0.2.0/24 dev eth0"),
	FIB_ENTRY(IP4(203, 0, 113, 0), 24, RTN_BLACKHOLE, "blackhole 203.0.113.0/24"),
	FIB_ENTRY(IP4(198, 51, 100, 0), 24, RTN_UNREACHABLE, "unreachable 198.51.100.0/24"),
	FIB_ENTRY(IP4(0, 0, 0, 0), 0, RTN_UNICAST, "default via 10.0.2.2 dev eth0"),
};

static inline u32 inet_make_mask(int len)
{
	return len ? htonl(~0U << (32 - len)) : 0;
}

/* Longest prefix match. Returns 0 and fills res, or -1 if nothing matches. */
noinline int fib_lookup(__be32 daddr, struct fib_result *res)
{
	struct fib_alias *best = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(fib_table); i++) {
		struct fib_alias *fa = &fib_table[i];

		if ((daddr & inet_make_mask(fa->fa_dst_len)) != fa->fa_dst)
			continue;
		if (!best || fa->fa_dst_len > best->fa_dst_len)
			best = fa;
	}
	if (!best)
		return -1;
	res->fa = best;
	res->prefixlen = best->fa_dst_len;
	res->type = best->fa_type;
	return 0;
}

/* Drop without a word: the input hook of blackhole routes. */
noinline int dst_discard(struct sk_buff *skb)
{
	kfree_skb(skb);
	return 0;
}

/* The input hook of unreachable routes (Linux would also send ICMP). */
noinline int ip_error(struct sk_buff *skb)
{
	ip_statistics.InNoRoutes++;
	kfree_skb_reason(skb, SKB_DROP_REASON_IP_INNOROUTES);
	return 0;
}

/* Decide what to do with an incoming packet: attach a dst to the skb. */
noinline int ip_route_input_noref(struct sk_buff *skb, __be32 daddr, __be32 saddr,
				  u8 tos, struct net_device *dev)
{
	struct fib_result res;
	struct dst_entry *dst;

	(void)saddr;
	(void)tos;
	if (fib_lookup(daddr, &res))
		return -1;
	dst = &res.fa->dst;
	dst->__use++;
	if (!dst->dev)
		dst->dev = dev;
	skb_dst_set_noref(skb, dst);
	return 0;
}

void ip_fib_init(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(fib_table); i++) {
		struct fib_alias *fa = &fib_table[i];

		switch (fa->fa_type) {
		case RTN_LOCAL:
		case RTN_BROADCAST:
			fa->dst.input = ip_local_deliver;
			break;
		case RTN_BLACKHOLE:
			fa->dst.input = dst_discard;
			break;
		default:
			fa->dst.input = ip_error;
			fa->dst.error = -113;	/* EHOSTUNREACH */
			break;
		}
		printk(KERN_INFO "fib: %s\n", fa->fa_desc);
	}
}

unsigned long fib_route_use(int i);
unsigned long fib_route_use(int i)
{
	return fib_table[i].dst.__use;
}
