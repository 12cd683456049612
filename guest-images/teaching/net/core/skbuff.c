// SPDX-License-Identifier: GPL-2.0
/*
 * net/core/skbuff.c - allocating and freeing socket buffers.
 *
 * The two ways an skb dies are the classic probe points:
 *   consume_skb(skb)       the packet did its job (delivered)
 *   kfree_skb(skb)         the packet was dropped; kfree_skb_reason() says why
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/slab.h>
#include <linux/skbuff.h>
#include <linux/netdevice.h>
#include <linux/jiffies.h>

static struct kmem_cache *skbuff_head_cache;
unsigned long skb_drop_reasons[SKB_DROP_REASON_MAX];
unsigned long nr_skbs_allocated, nr_skbs_consumed, nr_skbs_dropped;

const char *const drop_reasons[SKB_DROP_REASON_MAX] = {
	[SKB_NOT_DROPPED_YET]			= "NOT_DROPPED_YET",
	[SKB_CONSUMED]				= "CONSUMED",
	[SKB_DROP_REASON_NOT_SPECIFIED]		= "NOT_SPECIFIED",
	[SKB_DROP_REASON_PKT_TOO_SMALL]		= "PKT_TOO_SMALL",
	[SKB_DROP_REASON_IP_CSUM]		= "IP_CSUM",
	[SKB_DROP_REASON_IP_INHDR]		= "IP_INHDR",
	[SKB_DROP_REASON_IP_NOPROTO]		= "IP_NOPROTO",
	[SKB_DROP_REASON_IP_INNOROUTES]		= "IP_INNOROUTES",
	[SKB_DROP_REASON_UNHANDLED_PROTO]	= "UNHANDLED_PROTO",
};

void skb_init(void)
{
	skbuff_head_cache = kmem_cache_create("skbuff_head_cache", sizeof(struct sk_buff));
}

/* An skb with size bytes of buffer, empty: data == tail == head. */
noinline struct sk_buff *alloc_skb(unsigned int size, gfp_t priority)
{
	struct sk_buff *skb = kmem_cache_alloc(skbuff_head_cache, priority | __GFP_ZERO);
	unsigned char *data;

	if (!skb)
		return NULL;
	size = ALIGN(size, 64);
	data = kmalloc(size, priority);
	if (!data) {
		kmem_cache_free(skbuff_head_cache, skb);
		return NULL;
	}
	skb->head = skb->data = data;
	skb->tail = 0;
	skb->end = size;
	skb->truesize = size + sizeof(struct sk_buff);
	skb->users.refs.counter = 1;
	skb->tstamp = jiffies;
	nr_skbs_allocated++;
	return skb;
}

static void __kfree_skb(struct sk_buff *skb)
{
	kfree(skb->head);
	kmem_cache_free(skbuff_head_cache, skb);
}

noinline void kfree_skb_reason(struct sk_buff *skb, enum skb_drop_reason reason)
{
	if (!skb)
		return;
	if (reason >= SKB_DROP_REASON_MAX || reason <= SKB_CONSUMED)
		reason = SKB_DROP_REASON_NOT_SPECIFIED;
	skb_drop_reasons[reason]++;
	nr_skbs_dropped++;
	if (skb->dev)
		skb->dev->stats.rx_dropped++;
	__kfree_skb(skb);
}

/* Free an skb that is being dropped (the tracepoint skb:kfree_skb in Linux). */
noinline void kfree_skb(struct sk_buff *skb)
{
	kfree_skb_reason(skb, SKB_DROP_REASON_NOT_SPECIFIED);
}

/* Free an skb that was successfully processed. */
noinline void consume_skb(struct sk_buff *skb)
{
	if (!skb)
		return;
	skb_drop_reasons[SKB_CONSUMED]++;
	nr_skbs_consumed++;
	__kfree_skb(skb);
}
