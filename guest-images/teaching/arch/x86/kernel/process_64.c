// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/kernel/process_64.c - the architecture half of tasks.
 *
 * A task that is switched out has this on top of its kernel stack, pushed by
 * __switch_to_asm; a new task gets a fake one from copy_thread(), so that
 * the first switch to it "returns" into ret_from_fork:
 *
 *   high  +--------------------------+ <- task_top_of_stack
 *         | struct pt_regs           |    user registers (user tasks)
 *         +--------------------------+
 *         | ret_addr (ret_from_fork) |    struct inactive_task_frame
 *         | rbp, rbx, r12-r15        |
 *   low   +--------------------------+ <- thread.sp
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/sched.h>
#include <asm/desc.h>
#include <asm/ptrace.h>
#include <asm/segment.h>
#include <asm/processor.h>

struct inactive_task_frame {
	unsigned long r15;
	unsigned long r14;
	unsigned long r13;
	unsigned long r12;
	unsigned long bx;
	unsigned long bp;
	unsigned long ret_addr;
};

struct fork_frame {
	struct inactive_task_frame frame;
	struct pt_regs regs;
};

extern char ret_from_fork[];

struct task_struct *current_task = &init_task;

/*
 * The C half of a context switch, entered from __switch_to_asm on next's
 * stack. Point the TSS at next's stack (where the CPU will put the frame of
 * the next interrupt or syscall from user mode) and make next current.
 */
noinline struct task_struct *__switch_to(struct task_struct *prev, struct task_struct *next)
{
	cpu_tss_rw.sp0 = task_top_of_stack(next);
	current_task = next;
	return prev;
}

/* Prepare p's stack so that switching to it runs fn(arg) via ret_from_fork. */
void copy_thread(struct task_struct *p, int (*fn)(void *), void *arg)
{
	struct fork_frame *ff = (struct fork_frame *)task_top_of_stack(p) - 1;

	memset(ff, 0, sizeof(*ff));
	ff->frame.ret_addr = (unsigned long)ret_from_fork;
	ff->frame.bx = (unsigned long)fn;
	ff->frame.r12 = (unsigned long)arg;
	/* Until execve fills them, the user registers are a kernel frame. */
	ff->regs.cs = __KERNEL_CS;
	ff->regs.ss = __KERNEL_DS;
	ff->regs.flags = X86_EFLAGS_FIXED;
	p->thread.sp = (unsigned long)&ff->frame;
}

/* Set up the user registers for a fresh program (execve). */
void start_thread(struct pt_regs *regs, unsigned long new_ip, unsigned long new_sp)
{
	memset(regs, 0, sizeof(*regs));
	regs->ip = new_ip;
	regs->sp = new_sp;
	regs->cs = __USER_CS;
	regs->ss = __USER_DS;
	regs->flags = X86_EFLAGS_IF | X86_EFLAGS_FIXED;
	regs->orig_ax = -1UL;
}
