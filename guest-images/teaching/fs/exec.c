// SPDX-License-Identifier: GPL-2.0
/*
 * fs/exec.c - turn the current kernel thread into a user process.
 *
 * There is exactly one program, /sbin/init, a flat binary built from
 * user/init.c and linked into the kernel image (_binary_init_start). Its
 * address space:
 *
 *   0x400000        code+data+bss, copied from the kernel image (rwx)
 *   VVAR_ADDR       the vvar page, read-only, shows jiffies
 *   ... STACK_TOP   64 KiB of stack, populated page by page on demand
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/sched.h>
#include <linux/mm.h>
#include <linux/errno.h>
#include <linux/syscalls.h>
#include <asm/pgtable.h>
#include <asm/processor.h>

#define USER_CODE_START	0x400000UL
#define STACK_TOP	TASK_SIZE_MAX
#define STACK_SIZE	(64 * 1024UL)

static void add_vma(struct mm_struct *mm, unsigned long start, unsigned long end,
		    unsigned long flags)
{
	BUG_ON(mm->map_count >= MM_NR_VMAS);
	mm->vmas[mm->map_count++] = (struct vm_area_struct){ start, end, flags };
}

noinline int kernel_execve(const char *filename)
{
	unsigned long size = _binary_init_end - _binary_init_start;
	unsigned long npages = PFN_UP(size);
	struct task_struct *tsk = current;
	struct mm_struct *mm;

	if (strcmp(filename, "/sbin/init"))
		return -ENOENT;
	mm = mm_alloc();
	if (!mm)
		return -ENOMEM;

	/* Code and data: allocated and filled now (this is not a page cache). */
	for (unsigned long i = 0; i < npages; i++) {
		unsigned long page = get_zeroed_page(GFP_KERNEL);
		unsigned long off = i * PAGE_SIZE;

		if (!page)
			return -ENOMEM;
		memcpy((void *)page, _binary_init_start + off, min(size - off, PAGE_SIZE));
		map_page(mm->pgd, USER_CODE_START + off, __pa(page), PAGE_USER_RW);
	}
	mm->start_code = USER_CODE_START;
	mm->end_code = USER_CODE_START + size;
	add_vma(mm, USER_CODE_START, USER_CODE_START + npages * PAGE_SIZE,
		VM_READ | VM_WRITE | VM_EXEC);

	/* vvar: the kernel's vdso_data_page, shared read-only. */
	map_page(mm->pgd, VVAR_ADDR, __pa(&vdso_data_page), PAGE_USER_RO);
	add_vma(mm, VVAR_ADDR, VVAR_ADDR + PAGE_SIZE, VM_READ);

	/* Stack: nothing mapped yet; the page fault handler fills it in. */
	mm->start_stack = STACK_TOP;
	add_vma(mm, STACK_TOP - STACK_SIZE, STACK_TOP, VM_READ | VM_WRITE | VM_GROWSDOWN);

	local_irq_disable();
	tsk->mm = mm;
	tsk->active_mm = mm;
	write_cr3(__pa(mm->pgd));
	local_irq_enable();

	strscpy_simple(tsk->comm, "init", TASK_COMM_LEN);
	tsk->flags &= ~PF_KTHREAD;
	start_thread(task_pt_regs(tsk), USER_CODE_START, STACK_TOP);
	printk(KERN_INFO "exec: %s[%d]: %lu bytes at %#lx, stack top %#lx\n",
	       filename, tsk->pid, size, USER_CODE_START, STACK_TOP);
	return 0;
}
