/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_TIMER_H
#define _LINUX_TIMER_H

#include <linux/list.h>
#include <linux/jiffies.h>

/* A one-shot kernel timer: function(timer) runs in the tick once jiffies >= expires. */
struct timer_list {
	struct list_head entry;
	unsigned long expires;
	void (*function)(struct timer_list *);
};

void timer_setup(struct timer_list *timer, void (*fn)(struct timer_list *));
void add_timer(struct timer_list *timer);
void del_timer(struct timer_list *timer);
void run_local_timers(void);
void do_timer(unsigned long ticks);
void time_init(void);

#endif
