// SPDX-License-Identifier: GPL-2.0
/*
 * kernel/workqueue.c - the system workqueue and its worker, kworker/0.
 *
 * schedule_work() appends a work item to the queue and wakes the worker,
 * which calls each item's function in process context, one at a time.
 */
#include <linux/kernel.h>
#include <linux/workqueue.h>
#include <linux/sched.h>
#include <asm/processor.h>

static LIST_HEAD(worklist);
static struct task_struct *kworker;
static bool worker_busy;
unsigned long nr_work_done;

bool schedule_work(struct work_struct *work)
{
	unsigned long flags;
	bool queued = false;

	local_irq_save(flags);
	if (list_empty(&work->entry)) {
		list_add_tail(&work->entry, &worklist);
		queued = true;
		if (kworker)
			wake_up_process(kworker);
	}
	local_irq_restore(flags);
	return queued;
}

static noinline void process_one_work(struct work_struct *work)
{
	work->func(work);
	nr_work_done++;
}

static int worker_thread(void *unused)
{
	(void)unused;
	for (;;) {
		struct work_struct *work;

		local_irq_disable();
		if (list_empty(&worklist)) {
			worker_busy = false;
			set_current_state(TASK_INTERRUPTIBLE);
			local_irq_enable();
			schedule();
			continue;
		}
		worker_busy = true;
		work = list_first_entry(&worklist, struct work_struct, entry);
		list_del_init(&work->entry);
		local_irq_enable();
		process_one_work(work);
	}
	return 0;
}

bool workqueue_idle(void)
{
	return list_empty(&worklist) && !worker_busy;
}

void workqueue_init(void)
{
	kworker = kthread_run(worker_thread, NULL, "kworker/0");
}
