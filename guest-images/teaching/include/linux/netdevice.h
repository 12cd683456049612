/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_NETDEVICE_H
#define _LINUX_NETDEVICE_H

#include <linux/types.h>
#include <linux/list.h>
#include <linux/skbuff.h>

#define IFNAMSIZ	16
#define ETH_ALEN	6
#define ETH_HLEN	14
#define ETH_P_IP	0x0800
#define ETH_P_ARP	0x0806
#define ETH_P_IPV6	0x86DD

#define NETDEV_TX_OK	0

/* Byte order: x86 is little endian, the wire is big endian. */
#define htons(x)	((__be16)__builtin_bswap16(x))
#define ntohs(x)	((u16)__builtin_bswap16(x))
#define htonl(x)	((__be32)__builtin_bswap32(x))
#define ntohl(x)	((u32)__builtin_bswap32(x))

struct ethhdr {
	unsigned char	h_dest[ETH_ALEN];
	unsigned char	h_source[ETH_ALEN];
	__be16		h_proto;
} __packed;

/* The classic per-device counters (include/uapi/linux/if_link.h order). */
struct net_device_stats {
	unsigned long	rx_packets;
	unsigned long	tx_packets;
	unsigned long	rx_bytes;
	unsigned long	tx_bytes;
	unsigned long	rx_errors;
	unsigned long	tx_errors;
	unsigned long	rx_dropped;	/* here: every received skb freed by kfree_skb() */
	unsigned long	tx_dropped;
	unsigned long	multicast;
	unsigned long	collisions;
	unsigned long	rx_length_errors;
	unsigned long	rx_over_errors;
	unsigned long	rx_crc_errors;
	unsigned long	rx_frame_errors;
	unsigned long	rx_fifo_errors;
	unsigned long	rx_missed_errors;
	unsigned long	rx_nohandler;
};

struct net_device;
struct net_device_ops {
	int (*ndo_start_xmit)(struct sk_buff *skb, struct net_device *dev);
};

/*
 * A network interface. name is the first member, as in Linux, so a filter
 * holding a struct net_device * can read the name at offset 0.
 */
struct net_device {
	char			name[IFNAMSIZ];
	struct list_head	dev_list;
	unsigned long		state;
	unsigned int		flags;		/* IFF_UP, IFF_LOOPBACK */
	int			ifindex;
	unsigned int		mtu;
	unsigned short		type;		/* ARPHRD_ETHER / ARPHRD_LOOPBACK */
	unsigned short		hard_header_len;
	struct net_device_stats	stats;
	const struct net_device_ops *netdev_ops;
	__be32			ip_addr;	/* our address on this link (in_device, flattened) */
	unsigned char		dev_addr[ETH_ALEN];
	unsigned char		broadcast[ETH_ALEN];
};

#define IFF_UP		0x1
#define IFF_BROADCAST	0x2
#define IFF_LOOPBACK	0x8
#define ARPHRD_ETHER	1
#define ARPHRD_LOOPBACK	772

/* Who handles which ethertype (ip_packet_type for ETH_P_IP). */
struct packet_type {
	__be16		type;
	int		(*func)(struct sk_buff *skb, struct net_device *dev,
				struct packet_type *pt, struct net_device *orig_dev);
	struct list_head list;
};

extern struct net_device *loopback_dev;	/* lo, ifindex 1 */
extern struct net_device *eth0_dev;	/* eth0, ifindex 2 */
extern struct list_head net_devices;

int register_netdevice(struct net_device *dev);
struct net_device *dev_get_by_index(int ifindex);
void dev_add_pack(struct packet_type *pt);
int netif_receive_skb(struct sk_buff *skb);
int netif_rx(struct sk_buff *skb);
int dev_queue_xmit(struct sk_buff *skb);
__be16 eth_type_trans(struct sk_buff *skb, struct net_device *dev);
void net_dev_init(void);
bool net_backlog_empty(void);

void loopback_init(void);
void netsim_init(void);
extern bool netrx_done;

#endif
