// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/entry/syscall_64.c - the system call table.
 *
 * Indexed by the number in RAX; every unimplemented slot returns -ENOSYS.
 */
#include <linux/kernel.h>
#include <linux/syscalls.h>
#include <linux/errno.h>

long __x64_sys_ni_syscall(const struct pt_regs *regs)
{
	(void)regs;
	return -ENOSYS;
}

/* Designated initialisers override the default on purpose (Linux builds this file with -Wno-override-init). */
#pragma GCC diagnostic ignored "-Woverride-init"
const sys_call_ptr_t sys_call_table[NR_syscalls] = {
	[0 ... NR_syscalls - 1]	= __x64_sys_ni_syscall,
	[__NR_read]		= __x64_sys_read,
	[__NR_write]		= __x64_sys_write,
	[__NR_close]		= __x64_sys_close,
	[__NR_sched_yield]	= __x64_sys_sched_yield,
	[__NR_getpid]		= __x64_sys_getpid,
	[__NR_exit]		= __x64_sys_exit,
	[__NR_openat]		= __x64_sys_openat,
};
