/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_SYSCALLS_H
#define _LINUX_SYSCALLS_H

#include <linux/types.h>
#include <asm/ptrace.h>

/* x86-64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
#define __NR_read	0
#define __NR_write	1
#define __NR_close	3
#define __NR_sched_yield 24
#define __NR_getpid	39
#define __NR_exit	60
#define __NR_openat	257
#define NR_syscalls	258

/*
 * Like Linux since 4.17, every entry of sys_call_table takes the saved user
 * registers and unpacks its own arguments (di, si, dx, r10, r8, r9).
 */
typedef long (*sys_call_ptr_t)(const struct pt_regs *regs);
extern const sys_call_ptr_t sys_call_table[NR_syscalls];
extern unsigned long syscall_counts[NR_syscalls];
extern unsigned long nr_syscalls_total;

void do_syscall_64(struct pt_regs *regs, int nr);
void syscall_init(void);

long __x64_sys_read(const struct pt_regs *regs);
long __x64_sys_write(const struct pt_regs *regs);
long __x64_sys_close(const struct pt_regs *regs);
long __x64_sys_sched_yield(const struct pt_regs *regs);
long __x64_sys_getpid(const struct pt_regs *regs);
long __x64_sys_exit(const struct pt_regs *regs);
long __x64_sys_openat(const struct pt_regs *regs);
long __x64_sys_ni_syscall(const struct pt_regs *regs);

/* The user program embedded in the kernel image (user/init.c). */
extern const char _binary_init_start[], _binary_init_end[];
int kernel_execve(const char *filename);
void start_thread(struct pt_regs *regs, unsigned long new_ip, unsigned long new_sp);

/* The vvar page: read-only to user space, like Linux's vDSO data. */
struct vdso_data {
	unsigned long jiffies;
	unsigned int hz;
};
extern struct vdso_data vdso_data_page;
#define VVAR_ADDR	0x7fffff000000UL

#endif
