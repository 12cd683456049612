/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_SCHED_H
#define _LINUX_SCHED_H

#include <linux/types.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/fs.h>

#define TASK_COMM_LEN		16
#define THREAD_SIZE_ORDER	2
#define THREAD_SIZE		(PAGE_SIZE << THREAD_SIZE_ORDER)	/* 16 KiB kernel stacks */

/* task_struct::__state */
#define TASK_RUNNING		0x0000
#define TASK_INTERRUPTIBLE	0x0001
#define TASK_UNINTERRUPTIBLE	0x0002
#define TASK_DEAD		0x0080

/* task_struct::flags */
#define PF_IDLE			0x00000002
#define PF_EXITING		0x00000004
#define PF_KTHREAD		0x00200000

/* thread_info::flags */
#define TIF_NEED_RESCHED	3

struct thread_info {
	unsigned long flags;		/* TIF_* bits */
	u32 status;
};

/* Architecture state that is not in pt_regs: where __switch_to_asm left the stack. */
struct thread_struct {
	unsigned long sp;		/* saved kernel RSP while switched out */
	unsigned long cr2, trap_nr, error_code;	/* last fault, for the oops */
};

/*
 * The process descriptor. The first members follow Linux's order (thread_info
 * first, then __state and stack); pid and comm are at fixed, documented
 * offsets (README.md) so filters can read them by hand as well as via DWARF.
 */
struct task_struct {
	struct thread_info	thread_info;
	unsigned int		__state;
	void			*stack;		/* lowest address of the THREAD_SIZE kernel stack */
	refcount_t		usage;
	unsigned int		flags;		/* PF_* */
	int			prio;
	int			exit_code;
	struct list_head	run_list;	/* on the runqueue while TASK_RUNNING */
	struct list_head	tasks;		/* all tasks, for the summary */
	struct mm_struct	*mm;		/* NULL for kernel threads */
	struct mm_struct	*active_mm;	/* the page tables actually loaded */
	pid_t			pid;
	pid_t			tgid;
	struct task_struct	*real_parent;
	u64			utime;		/* ticks spent in user mode */
	u64			stime;		/* ticks spent in kernel mode */
	unsigned long		nvcsw;		/* voluntary context switches */
	unsigned long		nivcsw;		/* involuntary (preemptions) */
	char			comm[TASK_COMM_LEN];
	struct files_struct	*files;
	unsigned long		syscalls;	/* system calls made, for the summary */
	struct thread_struct	thread;
};

/* The running task. Linux keeps it per CPU in %gs; we have one CPU. */
extern struct task_struct *current_task;
static __always_inline struct task_struct *get_current(void)
{
	return current_task;
}
#define current get_current()

extern struct task_struct init_task;
extern struct list_head task_list;
extern unsigned long init_stack[THREAD_SIZE / sizeof(unsigned long)];

/* Per-CPU run queue: a round-robin FIFO of runnable tasks. */
struct rq {
	struct list_head queue;
	unsigned int nr_running;
	unsigned long nr_switches;
	unsigned long nr_preemptions;
	struct task_struct *curr;
	struct task_struct *idle;
	u64 clock;			/* ticks */
};
extern struct rq runqueues;

static inline void set_tsk_need_resched(struct task_struct *t)
{
	t->thread_info.flags |= 1UL << TIF_NEED_RESCHED;
}
static inline void clear_tsk_need_resched(struct task_struct *t)
{
	t->thread_info.flags &= ~(1UL << TIF_NEED_RESCHED);
}
static inline bool need_resched(void)
{
	return current->thread_info.flags & (1UL << TIF_NEED_RESCHED);
}
#define set_current_state(s) WRITE_ONCE(current->__state, (s))

void sched_init(void);
void schedule(void);
void preempt_schedule_irq(void);
void scheduler_tick(int user_tick);
int wake_up_process(struct task_struct *p);
long schedule_timeout(long timeout);
void schedule_tail(struct task_struct *prev);
struct task_struct *__switch_to(struct task_struct *prev, struct task_struct *next);

/* kernel/fork.c, kernel/exit.c */
struct task_struct *kthread_run(int (*fn)(void *), void *arg, const char *name);
pid_t kernel_thread(int (*fn)(void *), void *arg, const char *name, unsigned long flags);
void __noreturn do_exit(long code);
void put_task_struct(struct task_struct *t);
extern unsigned long total_forks, nr_exited;
struct task_struct *find_task_by_pid(pid_t pid);

static inline void *task_stack_page(const struct task_struct *t) { return t->stack; }
#define task_top_of_stack(t)	((unsigned long)(t)->stack + THREAD_SIZE)
#define task_pt_regs(t)		((struct pt_regs *)task_top_of_stack(t) - 1)

#endif
