// SPDX-License-Identifier: GPL-2.0
/*
 * net/ethernet/eth.c - Ethernet framing.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/netdevice.h>

/*
 * Determine the packet's protocol and type from its Ethernet header, then
 * pull the header: afterwards skb->data points at the network header.
 */
noinline __be16 eth_type_trans(struct sk_buff *skb, struct net_device *dev)
{
	const struct ethhdr *eth;

	skb->dev = dev;
	skb_reset_mac_header(skb);
	eth = (const struct ethhdr *)skb->data;
	skb->mac_len = ETH_HLEN;
	skb_pull(skb, ETH_HLEN);

	if (eth->h_dest[0] & 1)
		skb->pkt_type = PACKET_BROADCAST;
	else if (memcmp(eth->h_dest, dev->dev_addr, ETH_ALEN))
		skb->pkt_type = PACKET_OTHERHOST;
	else
		skb->pkt_type = PACKET_HOST;
	return eth->h_proto;
}
