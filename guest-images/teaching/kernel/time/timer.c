// SPDX-License-Identifier: GPL-2.0
/*
 * kernel/time/timer.c - jiffies, the periodic tick, and kernel timers.
 *
 * tick_handle_periodic() runs in the timer interrupt: it advances jiffies,
 * charges the tick to the current task, fires expired timers and lets the
 * scheduler decide whether the current task has run long enough.
 */
#include <linux/kernel.h>
#include <linux/timer.h>
#include <linux/sched.h>
#include <linux/syscalls.h>
#include <asm/processor.h>
#include <asm/ptrace.h>

volatile unsigned long jiffies;

/* Pending timers, sorted by expiry. */
static LIST_HEAD(timer_list_head);
unsigned long nr_timers_fired;

struct pt_regs *get_irq_regs(void);

void timer_setup(struct timer_list *timer, void (*fn)(struct timer_list *))
{
	INIT_LIST_HEAD(&timer->entry);
	timer->function = fn;
	timer->expires = 0;
}

void add_timer(struct timer_list *timer)
{
	unsigned long flags;
	struct list_head *pos;

	local_irq_save(flags);
	list_for_each(pos, &timer_list_head) {
		struct timer_list *t = list_entry(pos, struct timer_list, entry);

		if (time_before(timer->expires, t->expires))
			break;
	}
	list_add_tail(&timer->entry, pos);	/* i.e. insert before pos */
	local_irq_restore(flags);
}

void del_timer(struct timer_list *timer)
{
	unsigned long flags;

	local_irq_save(flags);
	if (!list_empty(&timer->entry))
		list_del_init(&timer->entry);
	local_irq_restore(flags);
}

/* Called from the tick with interrupts off. */
void run_local_timers(void)
{
	while (!list_empty(&timer_list_head)) {
		struct timer_list *t = list_first_entry(&timer_list_head, struct timer_list, entry);

		if (time_before(jiffies, t->expires))
			break;
		list_del_init(&t->entry);
		nr_timers_fired++;
		t->function(t);
	}
}

void do_timer(unsigned long ticks)
{
	jiffies += ticks;
	vdso_data_page.jiffies = jiffies;	/* what user space sees in the vvar page */
}

static void update_process_times(int user_tick)
{
	run_local_timers();
	scheduler_tick(user_tick);
}

noinline void tick_handle_periodic(void)
{
	struct pt_regs *regs = get_irq_regs();

	do_timer(1);
	update_process_times(regs && user_mode(regs));
}
