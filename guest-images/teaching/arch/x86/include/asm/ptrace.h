/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_PTRACE_H
#define _ASM_X86_PTRACE_H

/*
 * The register frame every entry into the kernel builds on the kernel stack,
 * laid out exactly like Linux x86-64's struct pt_regs, so kprobe-style
 * PT_REGS_PARM*() accessors and CO-RE relocations see familiar offsets.
 * The asm in entry_64.S pushes it from the bottom (ss) to the top (r15).
 */
struct pt_regs {
	unsigned long r15;
	unsigned long r14;
	unsigned long r13;
	unsigned long r12;
	unsigned long bp;
	unsigned long bx;
	unsigned long r11;
	unsigned long r10;
	unsigned long r9;
	unsigned long r8;
	unsigned long ax;
	unsigned long cx;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	/* syscall number, error code of an exception, or -1 */
	unsigned long orig_ax;
	/* pushed by the CPU (or by entry_SYSCALL_64 imitating it) */
	unsigned long ip;
	unsigned long cs;
	unsigned long flags;
	unsigned long sp;
	unsigned long ss;
};

static inline bool user_mode(const struct pt_regs *regs)
{
	return (regs->cs & 3) == 3;
}

void show_regs(const struct pt_regs *regs);

#endif
