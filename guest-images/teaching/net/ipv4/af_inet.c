// SPDX-License-Identifier: GPL-2.0
/*
 * net/ipv4/af_inet.c - IPv4 protocol registration, and the two transport
 * protocols we have: UDP and ICMP, which simply count and consume packets
 * (there are no sockets to deliver to).
 */
#include <linux/kernel.h>
#include <linux/netdevice.h>
#include <linux/ip.h>
#include <linux/route.h>

int ip_rcv(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt,
	   struct net_device *orig_dev);

struct net_protocol {
	int (*handler)(struct sk_buff *skb);
};

unsigned long udp_in_datagrams, icmp_in_msgs;

noinline int udp_rcv(struct sk_buff *skb)
{
	udp_in_datagrams++;
	consume_skb(skb);
	return 0;
}

noinline int icmp_rcv(struct sk_buff *skb)
{
	icmp_in_msgs++;
	consume_skb(skb);
	return 0;
}

static const struct net_protocol udp_protocol = { .handler = udp_rcv };
static const struct net_protocol icmp_protocol = { .handler = icmp_rcv };

const struct net_protocol *inet_protos[256] = {
	[IPPROTO_ICMP] = &icmp_protocol,
	[IPPROTO_UDP] = &udp_protocol,
};

static struct packet_type ip_packet_type = {
	.type = htons(ETH_P_IP),
	.func = ip_rcv,
};

/* The Internet checksum of an IP header of ihl 32-bit words: 0 if valid. */
u16 ip_fast_csum(const void *iph, unsigned int ihl)
{
	const u16 *p = iph;
	u32 sum = 0;

	for (unsigned int i = 0; i < ihl * 2; i++)
		sum += p[i];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (u16)~sum;
}

void ip_init(void)
{
	ip_fib_init();
	dev_add_pack(&ip_packet_type);
}
