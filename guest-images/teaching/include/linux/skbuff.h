/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_SKBUFF_H
#define _LINUX_SKBUFF_H

#include <linux/types.h>
#include <linux/kernel.h>

struct net_device;
struct dst_entry;

/*
 * Why a packet was dropped: a subset of Linux's enum skb_drop_reason
 * (include/net/dropreason.h), passed to kfree_skb_reason().
 */
enum skb_drop_reason {
	SKB_NOT_DROPPED_YET = 0,
	SKB_CONSUMED,
	SKB_DROP_REASON_NOT_SPECIFIED,
	SKB_DROP_REASON_PKT_TOO_SMALL,
	SKB_DROP_REASON_IP_CSUM,
	SKB_DROP_REASON_IP_INHDR,
	SKB_DROP_REASON_IP_NOPROTO,
	SKB_DROP_REASON_IP_INNOROUTES,
	SKB_DROP_REASON_UNHANDLED_PROTO,
	SKB_DROP_REASON_MAX,
};

/*
 * The socket buffer: one packet. The member names are Linux's; the layout is
 * a reduced version of Linux 6.1's, in the same order. head..end is the
 * buffer, data..tail the bytes of the current layer: after eth_type_trans()
 * data points at the IP header and len counts from there.
 */
struct sk_buff {
	struct sk_buff		*next;
	struct sk_buff		*prev;
	struct net_device	*dev;		/* device we arrived on */
	ktime_t			tstamp;		/* arrival, in jiffies (deterministic) */
	char			cb[48];		/* control buffer, per-layer scratch */
	unsigned long		_skb_refdst;	/* struct dst_entry * chosen by routing */
	unsigned int		len;		/* bytes from data to tail */
	unsigned int		data_len;	/* paged data: always 0 here */
	u16			mac_len;
	u16			hdr_len;
	u8			pkt_type;	/* PACKET_HOST, ... */
	u8			ip_summed;
	u32			priority;
	int			skb_iif;	/* ifindex we arrived on */
	u32			hash;
	u32			mark;
	__be16			protocol;	/* ETH_P_IP, from the Ethernet header */
	u16			transport_header;	/* offsets from head */
	u16			network_header;
	u16			mac_header;
	unsigned int		tail;		/* offsets from head */
	unsigned int		end;
	unsigned char		*head;
	unsigned char		*data;
	unsigned int		truesize;
	refcount_t		users;
};

#define PACKET_HOST		0
#define PACKET_BROADCAST	1
#define PACKET_OTHERHOST	3

struct sk_buff *alloc_skb(unsigned int size, gfp_t priority);
void kfree_skb_reason(struct sk_buff *skb, enum skb_drop_reason reason);
void kfree_skb(struct sk_buff *skb);
void consume_skb(struct sk_buff *skb);
void skb_init(void);
extern unsigned long skb_drop_reasons[SKB_DROP_REASON_MAX];
extern const char *const drop_reasons[SKB_DROP_REASON_MAX];

static inline unsigned char *skb_put(struct sk_buff *skb, unsigned int len)
{
	unsigned char *tmp = skb->head + skb->tail;

	skb->tail += len;
	skb->len += len;
	return tmp;
}

static inline void skb_reserve(struct sk_buff *skb, unsigned int len)
{
	skb->data += len;
	skb->tail += len;
}

static inline unsigned char *skb_pull(struct sk_buff *skb, unsigned int len)
{
	skb->len -= len;
	return skb->data += len;
}

static inline unsigned char *skb_tail_pointer(const struct sk_buff *skb)
{
	return skb->head + skb->tail;
}

static inline void skb_reset_network_header(struct sk_buff *skb)
{
	skb->network_header = skb->data - skb->head;
}

static inline void skb_reset_mac_header(struct sk_buff *skb)
{
	skb->mac_header = skb->data - skb->head;
}

static inline unsigned char *skb_network_header(const struct sk_buff *skb)
{
	return skb->head + skb->network_header;
}

static inline struct dst_entry *skb_dst(const struct sk_buff *skb)
{
	return (struct dst_entry *)skb->_skb_refdst;
}

static inline void skb_dst_set_noref(struct sk_buff *skb, struct dst_entry *dst)
{
	skb->_skb_refdst = (unsigned long)dst;
}

/* A FIFO of skbs (used for the per-CPU backlog). */
struct sk_buff_head {
	struct sk_buff *next;
	struct sk_buff *prev;
	u32 qlen;
};

static inline void skb_queue_head_init(struct sk_buff_head *list)
{
	list->next = list->prev = (struct sk_buff *)list;
	list->qlen = 0;
}

static inline void __skb_queue_tail(struct sk_buff_head *list, struct sk_buff *skb)
{
	struct sk_buff *last = list->prev;

	skb->next = (struct sk_buff *)list;
	skb->prev = last;
	last->next = skb;
	list->prev = skb;
	list->qlen++;
}

static inline struct sk_buff *__skb_dequeue(struct sk_buff_head *list)
{
	struct sk_buff *skb = list->next;

	if (skb == (struct sk_buff *)list)
		return NULL;
	list->next = skb->next;
	skb->next->prev = (struct sk_buff *)list;
	skb->next = skb->prev = NULL;
	list->qlen--;
	return skb;
}

#endif
