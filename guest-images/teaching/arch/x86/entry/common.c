// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/entry/common.c - the C side of the system call entry.
 *
 * entry_SYSCALL_64 saved the user registers in *regs and calls
 * do_syscall_64(regs, nr). The result goes back in regs->ax, which the
 * assembly restores into RAX before SYSRET.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/syscalls.h>
#include <linux/errno.h>
#include <asm/processor.h>

unsigned long syscall_counts[NR_syscalls];
unsigned long nr_syscalls_total;

noinline void do_syscall_64(struct pt_regs *regs, int nr)
{
	local_irq_enable();		/* system calls are preemptible */

	nr_syscalls_total++;
	current->syscalls++;
	if (likely((unsigned int)nr < NR_syscalls)) {
		syscall_counts[nr]++;
		regs->ax = sys_call_table[nr](regs);
	} else {
		regs->ax = -ENOSYS;
	}

	/* syscall_exit_to_user_mode: reschedule if asked, then back with IRQs off. */
	local_irq_disable();
	if (need_resched())
		preempt_schedule_irq();
}
