// SPDX-License-Identifier: GPL-2.0
/*
 * kernel/sys.c - small system calls: getpid, sched_yield, exit.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/jiffies.h>
#include <linux/syscalls.h>

/* The vvar page, mapped read-only into every process (VVAR_ADDR). */
struct vdso_data vdso_data_page __aligned(PAGE_SIZE) = { .hz = HZ };

long __x64_sys_getpid(const struct pt_regs *regs)
{
	(void)regs;
	return current->tgid;
}

long __x64_sys_sched_yield(const struct pt_regs *regs)
{
	(void)regs;
	schedule();
	return 0;
}

long __x64_sys_exit(const struct pt_regs *regs)
{
	do_exit(regs->di & 0xff);
}
