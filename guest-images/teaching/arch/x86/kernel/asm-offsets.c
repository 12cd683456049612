// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/kernel/asm-offsets.c - C struct offsets for the assembly code.
 *
 * Compiled to assembly only; the Makefile turns each "->SYM value" marker
 * into "#define SYM value" in include/generated/asm-offsets.h, the way
 * Linux's Kbuild does.
 */
#include <linux/sched.h>
#include <asm/desc.h>
#include <asm/ptrace.h>

#define DEFINE(sym, val) \
	asm volatile("\n.ascii \"->" #sym " %0\"" : : "i" (val))
#define OFFSET(sym, str, mem) DEFINE(sym, offsetof(struct str, mem))

void common(void);
void common(void)
{
	OFFSET(TASK_threadsp, task_struct, thread.sp);
	OFFSET(TSS_sp0, x86_hw_tss, sp0);
	OFFSET(TSS_sp2, x86_hw_tss, sp2);

	OFFSET(PTREGS_ORIG_AX, pt_regs, orig_ax);
	OFFSET(PTREGS_IP, pt_regs, ip);
	OFFSET(PTREGS_CS, pt_regs, cs);
	OFFSET(PTREGS_CX, pt_regs, cx);
	OFFSET(PTREGS_R11, pt_regs, r11);
	OFFSET(PTREGS_FLAGS, pt_regs, flags);
	OFFSET(PTREGS_SP, pt_regs, sp);
	OFFSET(PTREGS_AX, pt_regs, ax);
	DEFINE(THREAD_SIZE, THREAD_SIZE);
	DEFINE(PTREGS_SIZE, sizeof(struct pt_regs));
}
