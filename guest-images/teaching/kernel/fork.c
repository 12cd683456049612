// SPDX-License-Identifier: GPL-2.0
/*
 * kernel/fork.c - creating tasks.
 *
 * This kernel only creates kernel threads (there is no fork() system call);
 * the one user process starts as a kernel thread, kernel_init, which then
 * turns itself into /sbin/init with kernel_execve().
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/sched.h>
#include <linux/slab.h>

void copy_thread(struct task_struct *p, int (*fn)(void *), void *arg);

/* The boot context becomes pid 0, the idle task. Its stack is in .bss. */
unsigned long init_stack[THREAD_SIZE / sizeof(unsigned long)] __aligned(THREAD_SIZE);
static struct files_struct init_files;

struct task_struct init_task = {
	.__state	= TASK_RUNNING,
	.stack		= init_stack,
	.flags		= PF_KTHREAD | PF_IDLE,
	.run_list	= LIST_HEAD_INIT(init_task.run_list),
	.tasks		= LIST_HEAD_INIT(task_list),
	.active_mm	= &init_mm,
	.pid		= 0,
	.comm		= "swapper/0",
	.files		= &init_files,
};

/* All tasks ever created that have not been reaped, in creation order. */
struct list_head task_list = LIST_HEAD_INIT(init_task.tasks);
static struct kmem_cache *task_struct_cachep;
static pid_t last_pid;
unsigned long total_forks;

static struct task_struct *copy_process(int (*fn)(void *), void *arg, const char *name,
					unsigned long flags)
{
	struct task_struct *p;

	if (!task_struct_cachep)
		task_struct_cachep = kmem_cache_create("task_struct", sizeof(struct task_struct));
	p = kmem_cache_alloc(task_struct_cachep, __GFP_ZERO);
	if (!p)
		return NULL;
	p->stack = (void *)__get_free_pages(GFP_KERNEL, THREAD_SIZE_ORDER);
	p->files = kzalloc(sizeof(*p->files), GFP_KERNEL);
	if (!p->stack || !p->files)
		panic("out of memory creating %s", name);

	p->__state = TASK_INTERRUPTIBLE;	/* not runnable until woken */
	p->flags = flags;
	p->usage.refs.counter = 1;
	p->pid = p->tgid = ++last_pid;
	p->real_parent = current;
	p->active_mm = &init_mm;
	INIT_LIST_HEAD(&p->run_list);
	strscpy_simple(p->comm, name, TASK_COMM_LEN);
	copy_thread(p, fn, arg);
	list_add_tail(&p->tasks, &task_list);
	total_forks++;
	return p;
}

/* Create and start a kernel thread; returns its pid. */
noinline pid_t kernel_thread(int (*fn)(void *), void *arg, const char *name, unsigned long flags)
{
	struct task_struct *p = copy_process(fn, arg, name, flags);

	wake_up_process(p);
	return p->pid;
}

struct kthread_create_info {
	int (*threadfn)(void *);
	void *data;
};

/* Every kthread_run() thread starts here and exits when its function returns. */
static int kthread(void *_create)
{
	struct kthread_create_info *create = _create;
	int (*threadfn)(void *) = create->threadfn;
	void *data = create->data;

	kfree(create);
	do_exit(threadfn(data));
}

noinline struct task_struct *kthread_run(int (*fn)(void *), void *arg, const char *name)
{
	struct kthread_create_info *create = kmalloc(sizeof(*create), GFP_KERNEL);
	struct task_struct *p;

	create->threadfn = fn;
	create->data = arg;
	p = copy_process(kthread, create, name, PF_KTHREAD);
	wake_up_process(p);
	return p;
}

struct task_struct *find_task_by_pid(pid_t pid)
{
	struct list_head *pos;

	list_for_each(pos, &task_list) {
		struct task_struct *t = list_entry(pos, struct task_struct, tasks);

		if (t->pid == pid)
			return t;
	}
	return NULL;
}
