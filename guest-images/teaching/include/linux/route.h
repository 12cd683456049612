/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_ROUTE_H
#define _LINUX_ROUTE_H

#include <linux/types.h>
#include <linux/skbuff.h>

struct net_device;

/*
 * The outcome of a route lookup: what to do with a packet. Routing attaches
 * one to the skb (skb->_skb_refdst) and dst_input() calls its input hook:
 * ip_local_deliver, dst_discard or ip_error.
 */
struct dst_entry {
	struct net_device	*dev;
	int			(*input)(struct sk_buff *skb);
	unsigned short		flags;
	short			error;		/* -errno for ip_error */
	unsigned long		__use;		/* packets routed through this dst */
};

/* Route types (rtnetlink.h). */
enum {
	RTN_UNSPEC,
	RTN_UNICAST,
	RTN_LOCAL,
	RTN_BROADCAST,
	RTN_ANYCAST,
	RTN_MULTICAST,
	RTN_BLACKHOLE,
	RTN_UNREACHABLE,
	RTN_PROHIBIT,
};

/* One entry of the single routing table; longest prefix wins. */
struct fib_alias {
	__be32		fa_dst;
	u8		fa_dst_len;	/* prefix length */
	u8		fa_type;	/* RTN_* */
	const char	*fa_desc;
	struct dst_entry dst;
};

struct fib_result {
	unsigned char	prefixlen;
	unsigned char	type;
	struct fib_alias *fa;
};

int fib_lookup(__be32 daddr, struct fib_result *res);
int ip_route_input_noref(struct sk_buff *skb, __be32 daddr, __be32 saddr,
			 u8 tos, struct net_device *dev);
int dst_discard(struct sk_buff *skb);
int ip_error(struct sk_buff *skb);
int ip_local_deliver(struct sk_buff *skb);
void ip_fib_init(void);

static inline int dst_input(struct sk_buff *skb)
{
	return skb_dst(skb)->input(skb);
}

#endif
