// SPDX-License-Identifier: GPL-2.0
/*
 * kernel/exit.c - the end of a task.
 *
 * do_exit() releases what the task owns, marks it TASK_DEAD and schedules
 * away for the last time. Its kernel stack can't be freed while we are still
 * running on it, so the next task frees it in finish_task_switch(). The
 * task_struct itself stays on task_list as a zombie so the summary can
 * report its pid, comm and exit code.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <asm/processor.h>
#include <asm/pgtable.h>

unsigned long nr_exited;

void put_task_struct(struct task_struct *t)
{
	if (t->stack) {
		free_pages((unsigned long)t->stack, THREAD_SIZE_ORDER);
		t->stack = NULL;
	}
}

static void exit_mm(struct task_struct *tsk)
{
	struct mm_struct *mm = tsk->mm;

	if (!mm)
		return;
	/* Stop using the page tables we are about to free. */
	write_cr3(__pa(init_mm.pgd));
	tsk->active_mm = &init_mm;
	tsk->mm = NULL;
	mmput(mm);
}

noinline void __noreturn do_exit(long code)
{
	struct task_struct *tsk = current;

	BUG_ON(tsk == &init_task);
	tsk->flags |= PF_EXITING;
	tsk->exit_code = code;
	exit_files();
	exit_mm(tsk);
	printk(KERN_INFO "exit: %s[%d] exited with code %ld\n", tsk->comm, tsk->pid, code);

	local_irq_disable();
	nr_exited++;
	tsk->__state = TASK_DEAD;
	schedule();
	panic("do_exit: dead task %d scheduled again", tsk->pid);
}
