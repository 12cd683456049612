// SPDX-License-Identifier: GPL-2.0
/*
 * net/ipv4/ip_input.c - IPv4 receive.
 *
 *   ip_rcv(skb, dev, pt, orig_dev)      sanity checks on the header
 *     ip_rcv_finish(skb)                 route it: ip_route_input_noref
 *       dst_input(skb)                   -> ip_local_deliver / dst_discard / ip_error
 *   ip_local_deliver(skb)
 *     ip_local_deliver_finish(skb)       strip the IP header, hand to udp_rcv/icmp_rcv
 */
#include <linux/kernel.h>
#include <linux/netdevice.h>
#include <linux/ip.h>
#include <linux/route.h>

struct ipstats_mib ip_statistics;

struct net_protocol {
	int (*handler)(struct sk_buff *skb);
};
extern const struct net_protocol *inet_protos[256];

static noinline int ip_local_deliver_finish(struct sk_buff *skb)
{
	const struct iphdr *iph = ip_hdr(skb);
	const struct net_protocol *ipprot = inet_protos[iph->protocol];

	skb_pull(skb, iph->ihl * 4);
	skb->transport_header = skb->data - skb->head;
	if (!ipprot) {
		ip_statistics.InUnknownProtos++;
		kfree_skb_reason(skb, SKB_DROP_REASON_IP_NOPROTO);
		return 0;
	}
	ip_statistics.InDelivers++;
	return ipprot->handler(skb);
}

/* Deliver a packet addressed to this host to the transport layer. */
noinline int ip_local_deliver(struct sk_buff *skb)
{
	/* Fragment reassembly would go here; we never see fragments. */
	return ip_local_deliver_finish(skb);
}

static noinline int ip_rcv_finish(struct sk_buff *skb)
{
	const struct iphdr *iph = ip_hdr(skb);

	if (ip_route_input_noref(skb, iph->daddr, iph->saddr, iph->tos, skb->dev)) {
		ip_statistics.InNoRoutes++;
		kfree_skb_reason(skb, SKB_DROP_REASON_IP_INNOROUTES);
		return 0;
	}
	return dst_input(skb);
}

/* Check the header; returns NULL if the packet was dropped. */
static struct sk_buff *ip_rcv_core(struct sk_buff *skb)
{
	const struct iphdr *iph;
	enum skb_drop_reason reason = SKB_DROP_REASON_PKT_TOO_SMALL;
	unsigned int len;

	ip_statistics.InReceives++;
	if (skb->len < sizeof(struct iphdr))
		goto inhdr_error;
	iph = ip_hdr(skb);
	reason = SKB_DROP_REASON_IP_INHDR;
	if (iph->ihl < 5 || iph->version != 4)
		goto inhdr_error;
	if (ip_fast_csum(iph, iph->ihl)) {
		reason = SKB_DROP_REASON_IP_CSUM;
		ip_statistics.InCsumErrors++;
		goto inhdr_error;
	}
	len = ntohs(iph->tot_len);
	if (skb->len < len || len < iph->ihl * 4u) {
		reason = SKB_DROP_REASON_PKT_TOO_SMALL;
		goto inhdr_error;
	}
	skb->len = len;		/* trim Ethernet padding */
	return skb;

inhdr_error:
	ip_statistics.InHdrErrors++;
	kfree_skb_reason(skb, reason);
	return NULL;
}

/* The ETH_P_IP packet handler: every IPv4 packet received enters here. */
noinline int ip_rcv(struct sk_buff *skb, struct net_device *dev, struct packet_type *pt,
		    struct net_device *orig_dev)
{
	(void)dev;
	(void)pt;
	(void)orig_dev;
	skb = ip_rcv_core(skb);
	if (!skb)
		return 1;
	return ip_rcv_finish(skb);
}
