// SPDX-License-Identifier: GPL-2.0
/*
 * drivers/net/loopback.c - lo, ifindex 1.
 *
 * Whatever is transmitted on lo is received on lo: loopback_xmit() turns
 * the outgoing skb around and queues it with netif_rx(), so it reaches
 * ip_rcv() later, from ksoftirqd/0.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/netdevice.h>

static struct net_device loopback_device;
struct net_device *loopback_dev = &loopback_device;

static noinline int loopback_xmit(struct sk_buff *skb, struct net_device *dev)
{
	unsigned int len = skb->len;

	dev->stats.tx_packets++;
	dev->stats.tx_bytes += len;

	skb->protocol = eth_type_trans(skb, dev);
	dev->stats.rx_packets++;
	dev->stats.rx_bytes += len;
	netif_rx(skb);
	return NETDEV_TX_OK;
}

static const struct net_device_ops loopback_ops = {
	.ndo_start_xmit = loopback_xmit,
};

void loopback_init(void)
{
	struct net_device *dev = &loopback_device;

	strscpy_simple(dev->name, "lo", IFNAMSIZ);
	dev->mtu = 65536;
	dev->type = ARPHRD_LOOPBACK;
	dev->hard_header_len = ETH_HLEN;
	dev->flags = IFF_LOOPBACK;
	dev->netdev_ops = &loopback_ops;
	dev->ip_addr = htonl(0x7f000001);	/* 127.0.0.1 */
	register_netdevice(dev);		/* first: ifindex 1 */
}
