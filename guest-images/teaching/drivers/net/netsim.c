// SPDX-License-Identifier: GPL-2.0
/*
 * drivers/net/netsim.c - eth0, a simulated Ethernet card, and the packet
 * source that drives the whole network workload.
 *
 * The kernel thread "netrx" wakes up every tick and produces a batch of
 * packets from a fixed-seed pseudo-random generator, so every run sees the
 * same packets in the same order:
 *
 *  - about 70% arrive on eth0: the "card" writes the frame into its receive
 *    ring (vmalloc'ed, so its pages are demand-faulted in on first use), the
 *    driver copies it into a fresh skb and calls netif_receive_skb() directly,
 *    like a NAPI poll loop;
 *  - about 30% are sent to ourselves through lo with dev_queue_xmit(), which
 *    loops them back via netif_rx() to be received by ksoftirqd/0.
 *
 * The destinations are chosen so that roughly 70% are delivered locally
 * and 30% are dropped, for different reasons, at different places.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/sched.h>
#include <linux/mm.h>
#include <linux/netdevice.h>
#include <linux/ip.h>

#define NETSIM_SEED		0x42504642u
#define NETSIM_BATCHES		250
#define NETSIM_BATCH_SIZE	8
#define NETSIM_NR_PACKETS	(NETSIM_BATCHES * NETSIM_BATCH_SIZE)
#define RX_RING_SIZE		(32 * 1024)
#define RX_SLOT_SIZE		2048
#define NET_IP_ALIGN		2

#define IP4(a, b, c, d)	htonl(((u32)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))

static struct net_device eth0_device;
struct net_device *eth0_dev = &eth0_device;
bool netrx_done;
unsigned long netsim_generated;

/* A 64-bit LCG (Knuth's MMIX constants); we use the high bits. */
static u64 netsim_rand_state = NETSIM_SEED;
static u32 netsim_rand(void)
{
	netsim_rand_state = netsim_rand_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (u32)(netsim_rand_state >> 33);
}

static unsigned char *rx_ring;		/* the card's receive ring, demand-paged */
static unsigned int rx_ring_next;

static const unsigned char peer_mac[ETH_ALEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 };

/* Pick where a packet is going; see the table in route.c for what happens. */
static __be32 pick_daddr(bool on_lo, bool *bad_csum, __be16 *proto)
{
	u32 r = netsim_rand() % 100;

	*bad_csum = false;
	*proto = htons(ETH_P_IP);
	if (on_lo) {
		if (r < 62) return IP4(127, 0, 0, 1);
		if (r < 74) return IP4(127, 0, 0, 53);
		if (r < 88) return IP4(203, 0, 113, 9);		/* blackhole */
		if (r < 95) return IP4(198, 51, 100, 7);	/* unreachable */
		*bad_csum = true;
		return IP4(127, 0, 0, 1);
	}
	if (r < 62) return IP4(10, 0, 2, 15);
	if (r < 68) return IP4(10, 0, 2, 255);			/* broadcast */
	if (r < 80) return IP4(203, 0, 113, netsim_rand() & 0xff);	/* blackhole */
	if (r < 86) return IP4(198, 51, 100, netsim_rand() & 0xff);	/* unreachable */
	if (r < 90) return IP4(10, 0, 2, 77);			/* not ours, no forwarding */
	if (r < 93) return IP4(8, 8, 8, 8);			/* default route */
	if (r < 97) {
		*bad_csum = true;
		return IP4(10, 0, 2, 15);
	}
	*proto = htons(ETH_P_IPV6);				/* no handler */
	return IP4(10, 0, 2, 15);
}

/* Write one Ethernet frame into buf; returns its length. */
static unsigned int build_frame(unsigned char *buf, struct net_device *dev, bool on_lo)
{
	struct ethhdr *eth = (struct ethhdr *)buf;
	struct iphdr *iph = (struct iphdr *)(buf + ETH_HLEN);
	unsigned int payload = 16 + netsim_rand() % 240;
	u32 r = netsim_rand() % 100;
	u8 protocol = r < 80 ? IPPROTO_UDP : r < 97 ? IPPROTO_ICMP : 47 /* GRE: unknown */;
	unsigned int l4len = protocol == IPPROTO_UDP ? sizeof(struct udphdr) : sizeof(struct icmphdr);
	unsigned char *l4 = (unsigned char *)(iph + 1);
	bool bad_csum;
	__be16 proto;
	__be32 daddr = pick_daddr(on_lo, &bad_csum, &proto);

	memcpy(eth->h_dest, dev->dev_addr, ETH_ALEN);
	memcpy(eth->h_source, on_lo ? dev->dev_addr : peer_mac, ETH_ALEN);
	eth->h_proto = proto;

	memset(iph, 0, sizeof(*iph));
	iph->version = 4;
	iph->ihl = 5;
	iph->tot_len = htons(sizeof(*iph) + l4len + payload);
	iph->id = htons(netsim_generated & 0xffff);
	iph->ttl = 64;
	iph->protocol = protocol;
	iph->saddr = on_lo ? IP4(127, 0, 0, 1) : IP4(192, 168, 1, 1 + netsim_rand() % 200);
	iph->daddr = daddr;
	iph->check = ip_fast_csum(iph, iph->ihl);
	if (bad_csum)
		iph->check ^= 0x5a5a;

	if (protocol == IPPROTO_UDP) {
		struct udphdr *uh = (struct udphdr *)l4;

		uh->source = htons(1024 + netsim_rand() % 60000);
		uh->dest = htons(r < 40 ? 53 : 9999);
		uh->len = htons(sizeof(*uh) + payload);
		uh->check = 0;
	} else {
		struct icmphdr *ih = (struct icmphdr *)l4;

		ih->type = 8;	/* echo request */
		ih->code = 0;
		ih->checksum = 0;
		ih->id = htons(0x4242);
		ih->sequence = htons(netsim_generated & 0xffff);
	}
	memset(l4 + l4len, netsim_rand() & 0xff, payload);	/* the content doesn't matter */
	return ETH_HLEN + sizeof(*iph) + l4len + payload;
}

/* eth0's receive path: frame in the ring -> skb -> netif_receive_skb(). */
static noinline void netsim_rx(struct net_device *dev)
{
	unsigned char *slot = rx_ring + rx_ring_next * RX_SLOT_SIZE;
	unsigned int len = build_frame(slot, dev, false);	/* "DMA" by the card */
	struct sk_buff *skb;

	rx_ring_next = (rx_ring_next + 1) % (RX_RING_SIZE / RX_SLOT_SIZE);
	skb = alloc_skb(len + NET_IP_ALIGN, GFP_KERNEL);
	if (!skb) {
		dev->stats.rx_dropped++;
		return;
	}
	skb_reserve(skb, NET_IP_ALIGN);
	memcpy(skb_put(skb, len), slot, len);
	skb->protocol = eth_type_trans(skb, dev);
	dev->stats.rx_packets++;
	dev->stats.rx_bytes += skb->len;
	netif_receive_skb(skb);
}

/* A local process "sends" a packet to itself over lo. */
static noinline void netsim_lo_send(struct net_device *lo)
{
	unsigned char frame[ETH_HLEN + 20 + 8 + 256];
	unsigned int len = build_frame(frame, lo, true);
	struct sk_buff *skb = alloc_skb(len + NET_IP_ALIGN, GFP_KERNEL);

	if (!skb)
		return;
	skb_reserve(skb, NET_IP_ALIGN);
	memcpy(skb_put(skb, len), frame, len);
	skb->dev = lo;
	dev_queue_xmit(skb);
}

static int netrx_thread(void *unused)
{
	(void)unused;
	rx_ring = vmalloc(RX_RING_SIZE);

	for (int batch = 0; batch < NETSIM_BATCHES; batch++) {
		for (int i = 0; i < NETSIM_BATCH_SIZE; i++) {
			if (netsim_rand() % 10 < 7)
				netsim_rx(eth0_dev);
			else
				netsim_lo_send(loopback_dev);
			netsim_generated++;
		}
		/* Wait for the next tick, like a NIC interrupt would pace us. */
		set_current_state(TASK_INTERRUPTIBLE);
		schedule_timeout(1);
	}
	netrx_done = true;
	printk(KERN_INFO "netrx: generated %lu packets\n", netsim_generated);
	return 0;
}

static int netsim_xmit(struct sk_buff *skb, struct net_device *dev)
{
	dev->stats.tx_packets++;
	dev->stats.tx_bytes += skb->len;
	consume_skb(skb);	/* the wire goes nowhere */
	return NETDEV_TX_OK;
}

static const struct net_device_ops netsim_ops = {
	.ndo_start_xmit = netsim_xmit,
};

void netsim_init(void)
{
	static const unsigned char mac[ETH_ALEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	struct net_device *dev = &eth0_device;

	strscpy_simple(dev->name, "eth0", IFNAMSIZ);
	dev->mtu = 1500;
	dev->type = ARPHRD_ETHER;
	dev->hard_header_len = ETH_HLEN;
	dev->flags = IFF_BROADCAST;
	dev->netdev_ops = &netsim_ops;
	dev->ip_addr = IP4(10, 0, 2, 15);
	memcpy(dev->dev_addr, mac, ETH_ALEN);
	memset(dev->broadcast, 0xff, ETH_ALEN);
	register_netdevice(dev);		/* second: ifindex 2 */
}

void netsim_start(void)
{
	kthread_run(netrx_thread, NULL, "netrx");
}
