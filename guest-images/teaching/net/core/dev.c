// SPDX-License-Identifier: GPL-2.0
/*
 * net/core/dev.c - network devices and the receive path.
 *
 * A driver hands a received packet to the stack in one of two ways:
 *   netif_receive_skb(skb)   process it now, in the caller (eth0, NAPI style)
 *   netif_rx(skb)            queue it on the per-CPU backlog and raise
 *                            NET_RX_SOFTIRQ; ksoftirqd/0 then runs
 *                            net_rx_action -> process_backlog ->
 *                            __netif_receive_skb (lo)
 * Either way __netif_receive_skb_core() looks up the handler for
 * skb->protocol (ip_rcv for ETH_P_IP) and calls it.
 */
#include <linux/kernel.h>
#include <linux/netdevice.h>
#include <linux/interrupt.h>
#include <asm/processor.h>

LIST_HEAD(net_devices);
static LIST_HEAD(ptype_base);
static int dev_next_ifindex = 1;

/* struct softnet_data, reduced to its backlog queue. */
struct softnet_data {
	struct sk_buff_head input_pkt_queue;
	unsigned long processed;
	unsigned long dropped;
	unsigned long time_squeeze;	/* net_rx_action ran out of budget */
};
static struct softnet_data softnet_data;

#define NETDEV_BUDGET		64
#define NETDEV_MAX_BACKLOG	1000

int register_netdevice(struct net_device *dev)
{
	dev->ifindex = dev_next_ifindex++;
	dev->flags |= IFF_UP;
	list_add_tail(&dev->dev_list, &net_devices);
	printk(KERN_INFO "net: registered %s, ifindex %d, mtu %u\n",
	       dev->name, dev->ifindex, dev->mtu);
	return 0;
}

struct net_device *dev_get_by_index(int ifindex)
{
	struct list_head *pos;

	list_for_each(pos, &net_devices) {
		struct net_device *dev = list_entry(pos, struct net_device, dev_list);

		if (dev->ifindex == ifindex)
			return dev;
	}
	return NULL;
}

void dev_add_pack(struct packet_type *pt)
{
	list_add_tail(&pt->list, &ptype_base);
}

static noinline int __netif_receive_skb_core(struct sk_buff *skb)
{
	struct net_device *orig_dev = skb->dev;
	struct list_head *pos;

	skb_reset_network_header(skb);
	skb->skb_iif = skb->dev->ifindex;

	list_for_each(pos, &ptype_base) {
		struct packet_type *pt = list_entry(pos, struct packet_type, list);

		if (pt->type == skb->protocol)
			return pt->func(skb, skb->dev, pt, orig_dev);
	}
	/* Nobody wants this protocol. */
	skb->dev->stats.rx_nohandler++;
	kfree_skb_reason(skb, SKB_DROP_REASON_UNHANDLED_PROTO);
	return -1;
}

static int __netif_receive_skb(struct sk_buff *skb)
{
	return __netif_receive_skb_core(skb);
}

/* Deliver a received packet to the protocol layers, now. */
noinline int netif_receive_skb(struct sk_buff *skb)
{
	return __netif_receive_skb(skb);
}

/* Queue a received packet for later (softirq) processing. */
noinline int netif_rx(struct sk_buff *skb)
{
	struct softnet_data *sd = &softnet_data;
	unsigned long flags;

	local_irq_save(flags);
	if (sd->input_pkt_queue.qlen >= NETDEV_MAX_BACKLOG) {
		sd->dropped++;
		local_irq_restore(flags);
		kfree_skb(skb);
		return 1;
	}
	__skb_queue_tail(&sd->input_pkt_queue, skb);
	local_irq_restore(flags);
	raise_softirq(NET_RX_SOFTIRQ);
	return 0;
}

static int process_backlog(struct softnet_data *sd, int quota)
{
	int work = 0;

	while (work < quota) {
		struct sk_buff *skb;
		unsigned long flags;

		local_irq_save(flags);
		skb = __skb_dequeue(&sd->input_pkt_queue);
		local_irq_restore(flags);
		if (!skb)
			break;
		__netif_receive_skb(skb);
		sd->processed++;
		work++;
	}
	return work;
}

/* NET_RX_SOFTIRQ handler. */
static noinline void net_rx_action(struct softirq_action *h)
{
	struct softnet_data *sd = &softnet_data;

	(void)h;
	process_backlog(sd, NETDEV_BUDGET);
	if (sd->input_pkt_queue.qlen) {
		sd->time_squeeze++;
		raise_softirq(NET_RX_SOFTIRQ);	/* more next time round */
	}
}

bool net_backlog_empty(void)
{
	return softnet_data.input_pkt_queue.qlen == 0;
}

/* Transmit: hand the skb to the device's driver. */
noinline int dev_queue_xmit(struct sk_buff *skb)
{
	struct net_device *dev = skb->dev;

	return dev->netdev_ops->ndo_start_xmit(skb, dev);
}

void net_dev_init(void)
{
	skb_queue_head_init(&softnet_data.input_pkt_queue);
	open_softirq(NET_RX_SOFTIRQ, net_rx_action);
}
