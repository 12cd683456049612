/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_IP_H
#define _LINUX_IP_H

#include <linux/types.h>
#include <linux/skbuff.h>

struct iphdr {
	u8	ihl:4,
		version:4;
	u8	tos;
	__be16	tot_len;
	__be16	id;
	__be16	frag_off;
	u8	ttl;
	u8	protocol;
	__sum16	check;
	__be32	saddr;
	__be32	daddr;
} __packed;

struct udphdr {
	__be16	source;
	__be16	dest;
	__be16	len;
	__sum16	check;
} __packed;

struct icmphdr {
	u8	type;
	u8	code;
	__sum16	checksum;
	__be16	id;
	__be16	sequence;
} __packed;

#define IPPROTO_ICMP	1
#define IPPROTO_TCP	6
#define IPPROTO_UDP	17

static inline struct iphdr *ip_hdr(const struct sk_buff *skb)
{
	return (struct iphdr *)skb_network_header(skb);
}

/* A subset of Linux's IPSTATS_MIB_* counters (/proc/net/snmp "Ip:" line). */
struct ipstats_mib {
	unsigned long InReceives;
	unsigned long InHdrErrors;
	unsigned long InCsumErrors;
	unsigned long InNoRoutes;
	unsigned long InAddrErrors;
	unsigned long InUnknownProtos;
	unsigned long InDiscards;
	unsigned long InDelivers;
};
extern struct ipstats_mib ip_statistics;
extern unsigned long udp_in_datagrams, icmp_in_msgs;

u16 ip_fast_csum(const void *iph, unsigned int ihl);
void ip_init(void);

#endif
