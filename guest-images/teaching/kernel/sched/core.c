// SPDX-License-Identifier: GPL-2.0
/*
 * kernel/sched/core.c - the scheduler.
 *
 * One CPU, one run queue, round robin. A task gives up the CPU either by
 * blocking (it sets its state to TASK_INTERRUPTIBLE and calls schedule():
 * a voluntary switch) or because the timer tick found it had used up its
 * time slice and set TIF_NEED_RESCHED, which the interrupt exit path turns
 * into a call to schedule() (preempt_schedule_irq: an involuntary switch).
 *
 * The idle task (pid 0, swapper/0) is never on the queue: it runs only when
 * nothing else can.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/timer.h>
#include <asm/desc.h>
#include <asm/processor.h>
#include <asm/pgtable.h>

struct rq runqueues;
#define this_rq()	(&runqueues)

/* Ticks a task may run before being preempted if someone else is waiting. */
#define SCHED_TIMESLICE	1
static unsigned int slice_left = SCHED_TIMESLICE;

struct task_struct *__switch_to_asm(struct task_struct *prev, struct task_struct *next);

void sched_init(void)
{
	struct rq *rq = this_rq();

	INIT_LIST_HEAD(&rq->queue);
	rq->curr = rq->idle = &init_task;
}

static void enqueue_task(struct rq *rq, struct task_struct *p)
{
	list_add_tail(&p->run_list, &rq->queue);
	rq->nr_running++;
}

static void dequeue_task(struct rq *rq, struct task_struct *p)
{
	list_del_init(&p->run_list);
	rq->nr_running--;
}

/* Make a sleeping (or new) task runnable. Returns 1 if it was woken. */
noinline int wake_up_process(struct task_struct *p)
{
	struct rq *rq = this_rq();
	unsigned long flags;
	int woken = 0;

	local_irq_save(flags);
	if (p->__state != TASK_RUNNING && p->__state != TASK_DEAD) {
		p->__state = TASK_RUNNING;
		if (p != rq->idle && list_empty(&p->run_list))
			enqueue_task(rq, p);
		/* The idle task has nothing better to do: switch soon. */
		if (rq->curr == rq->idle)
			set_tsk_need_resched(rq->curr);
		woken = 1;
	}
	local_irq_restore(flags);
	return woken;
}

/* Called from the timer interrupt, every tick. */
noinline void scheduler_tick(int user_tick)
{
	struct rq *rq = this_rq();
	struct task_struct *curr = rq->curr;

	rq->clock++;
	if (user_tick)
		curr->utime++;
	else
		curr->stime++;

	if (curr == rq->idle) {
		if (rq->nr_running)
			set_tsk_need_resched(curr);
		return;
	}
	if (--slice_left == 0) {
		slice_left = SCHED_TIMESLICE;
		if (rq->nr_running > 1 || !list_empty(&rq->queue))
			set_tsk_need_resched(curr);
	}
}

static struct task_struct *pick_next_task(struct rq *rq)
{
	if (list_empty(&rq->queue))
		return rq->idle;
	return list_first_entry(&rq->queue, struct task_struct, run_list);
}

static void switch_mm(struct mm_struct *prev, struct mm_struct *next)
{
	if (prev != next)
		write_cr3(__pa(next->pgd));
}

/* Runs on the new task's stack right after the switch (or in schedule_tail). */
static struct task_struct *finish_task_switch(struct task_struct *prev)
{
	if (prev->__state == TASK_DEAD)
		put_task_struct(prev);		/* frees its stack: we are on another */
	return prev;
}

/*
 * Switch from prev to next: address space first, then registers and stack.
 * switch_to returns in the context of next, possibly much later from
 * prev's point of view.
 */
static noinline struct task_struct *context_switch(struct rq *rq, struct task_struct *prev,
						   struct task_struct *next)
{
	struct mm_struct *oldmm = prev->active_mm;

	if (!next->mm)			/* kernel thread: borrow the current tables */
		next->active_mm = oldmm;
	else
		switch_mm(oldmm, next->mm);
	rq->curr = next;
	rq->nr_switches++;

	prev = __switch_to_asm(prev, next);
	return finish_task_switch(prev);
}

/*
 * The heart of it. Called with interrupts disabled. preempt says whether
 * this is an involuntary switch (from an interrupt), in which case the task
 * stays runnable whatever its state says.
 */
static noinline void __schedule(bool preempt)
{
	struct rq *rq = this_rq();
	struct task_struct *prev = rq->curr, *next;

	clear_tsk_need_resched(prev);

	if (prev != rq->idle) {
		if (!preempt && prev->__state != TASK_RUNNING) {
			dequeue_task(rq, prev);		/* going to sleep or dying */
		} else {
			/* still runnable: to the back of the queue */
			list_del_init(&prev->run_list);
			list_add_tail(&prev->run_list, &rq->queue);
		}
	}
	next = pick_next_task(rq);
	if (next == prev)
		return;
	if (preempt)
		prev->nivcsw++;
	else
		prev->nvcsw++;
	if (preempt && prev != rq->idle)
		rq->nr_preemptions++;
	slice_left = SCHED_TIMESLICE;
	context_switch(rq, prev, next);
}

noinline void schedule(void)
{
	unsigned long flags;

	local_irq_save(flags);
	__schedule(false);
	local_irq_restore(flags);
}

/* From the interrupt exit path, interrupts off. */
noinline void preempt_schedule_irq(void)
{
	__schedule(true);
}

/* The first thing a new task does (from ret_from_fork). */
noinline void schedule_tail(struct task_struct *prev)
{
	finish_task_switch(prev);
	local_irq_enable();
}

static void process_timeout(struct timer_list *t);

struct sleep_timer {
	struct timer_list timer;
	struct task_struct *task;
};

static void process_timeout(struct timer_list *t)
{
	wake_up_process(container_of(t, struct sleep_timer, timer)->task);
}

/* Sleep for timeout ticks (the caller sets its state first, like Linux). */
noinline long schedule_timeout(long timeout)
{
	struct sleep_timer st;

	timer_setup(&st.timer, process_timeout);
	st.timer.expires = jiffies + timeout;
	st.task = current;
	add_timer(&st.timer);
	schedule();
	del_timer(&st.timer);
	return 0;
}
