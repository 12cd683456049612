/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_INTERRUPT_H
#define _LINUX_INTERRUPT_H

#include <linux/types.h>

/*
 * Softirqs: deferred work raised from anywhere, run by ksoftirqd/0. Unlike
 * Linux we never run them on interrupt exit, so they always show up in a
 * thread with a pid and a comm, easy to attribute in traces.
 */
enum {
	HI_SOFTIRQ = 0,
	TIMER_SOFTIRQ,
	NET_TX_SOFTIRQ,
	NET_RX_SOFTIRQ,
	NR_SOFTIRQS
};

struct softirq_action {
	void (*action)(struct softirq_action *);
};

void open_softirq(int nr, void (*action)(struct softirq_action *));
void raise_softirq(unsigned int nr);
void spawn_ksoftirqd(void);
extern unsigned long softirq_counts[NR_SOFTIRQS];

typedef void (*irq_handler_t)(unsigned int irq, void *dev_id);
int request_irq(unsigned int irq, irq_handler_t handler, const char *name, void *dev_id);
extern unsigned long irq_counts[16];

#endif
