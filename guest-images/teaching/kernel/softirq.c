// SPDX-License-Identifier: GPL-2.0
/*
 * kernel/softirq.c - deferred work, run by ksoftirqd/0.
 *
 * raise_softirq(nr) marks softirq nr pending and wakes ksoftirqd, which runs
 * the handlers of all pending softirqs (__do_softirq) and sleeps when none is
 * left. The network stack uses NET_RX_SOFTIRQ for packets queued with
 * netif_rx() (the loopback device).
 */
#include <linux/kernel.h>
#include <linux/interrupt.h>
#include <linux/sched.h>
#include <asm/processor.h>

static struct softirq_action softirq_vec[NR_SOFTIRQS];
static unsigned long softirq_pending;
static struct task_struct *ksoftirqd;
unsigned long softirq_counts[NR_SOFTIRQS];

void open_softirq(int nr, void (*action)(struct softirq_action *))
{
	softirq_vec[nr].action = action;
}

void raise_softirq(unsigned int nr)
{
	unsigned long flags;

	local_irq_save(flags);
	softirq_pending |= 1UL << nr;
	if (ksoftirqd)
		wake_up_process(ksoftirqd);
	local_irq_restore(flags);
}

static noinline void __do_softirq(void)
{
	unsigned long pending;

	local_irq_disable();
	pending = softirq_pending;
	softirq_pending = 0;
	local_irq_enable();

	for (int nr = 0; pending; nr++, pending >>= 1) {
		if (!(pending & 1))
			continue;
		softirq_counts[nr]++;
		softirq_vec[nr].action(&softirq_vec[nr]);
	}
}

static int run_ksoftirqd(void *unused)
{
	(void)unused;
	for (;;) {
		local_irq_disable();
		if (!softirq_pending) {
			/* Nothing to do: sleep until raise_softirq() wakes us. */
			set_current_state(TASK_INTERRUPTIBLE);
			local_irq_enable();
			schedule();
			continue;
		}
		local_irq_enable();
		__do_softirq();
	}
	return 0;
}

void spawn_ksoftirqd(void)
{
	ksoftirqd = kthread_run(run_ksoftirqd, NULL, "ksoftirqd/0");
}
