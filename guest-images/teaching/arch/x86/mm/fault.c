// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/mm/fault.c - the page fault handler (#PF, vector 14).
 *
 * The CPU gives us the faulting address in CR2 and an error code saying
 * why (X86_PF_* bits). Three outcomes:
 *   - a kernel address in a vmalloc area: map a page, retry (vmalloc_fault)
 *   - a user address inside a region of the process: map a page, retry
 *   - anything else: kill the process (user mode) or oops (kernel mode)
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/mm.h>
#include <asm/pgtable.h>
#include <asm/processor.h>
#include <asm/ptrace.h>

void die(const char *str, struct pt_regs *regs, unsigned long err);

#define SIGSEGV 11

static void show_fault_oops(struct pt_regs *regs, unsigned long error_code,
			    unsigned long address)
{
	printk(KERN_EMERG "BUG: unable to handle page fault for address: %016lx\n", address);
	printk(KERN_EMERG "#PF: %s %s access in %s mode\n",
	       (error_code & X86_PF_USER) ? "user" : "supervisor",
	       (error_code & X86_PF_INSTR) ? "instruction fetch" :
	       (error_code & X86_PF_WRITE) ? "write" : "read",
	       user_mode(regs) ? "user" : "kernel");
	printk(KERN_EMERG "#PF: error_code(0x%04lx) - %s\n", error_code,
	       !(error_code & X86_PF_PROT) ? "not-present page" :
	       (error_code & X86_PF_RSVD) ? "reserved bit violation" :
	       "permissions violation");
}

static void page_fault_oops(struct pt_regs *regs, unsigned long error_code,
			    unsigned long address)
{
	show_fault_oops(regs, error_code, address);
	die("Oops", regs, error_code);
}

static void do_kern_addr_fault(struct pt_regs *regs, unsigned long error_code,
			       unsigned long address)
{
	if (!(error_code & (X86_PF_PROT | X86_PF_USER | X86_PF_RSVD)) &&
	    vmalloc_fault(address))
		return;
	if (user_mode(regs)) {
		printk(KERN_INFO "%s[%d]: segfault at %lx ip %016lx sp %016lx error %lx\n",
		       current->comm, current->pid, address, regs->ip, regs->sp, error_code);
		local_irq_enable();
		do_exit(128 + SIGSEGV);
	}
	page_fault_oops(regs, error_code, address);
}

static void do_user_addr_fault(struct pt_regs *regs, unsigned long error_code,
			       unsigned long address)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma = mm ? find_vma(mm, address) : NULL;

	if (vma && handle_mm_fault(mm, vma, address, error_code) == 0)
		return;
	if (!user_mode(regs))
		page_fault_oops(regs, error_code, address);	/* no fixup tables here */
	printk(KERN_INFO "%s[%d]: segfault at %lx ip %016lx sp %016lx error %lx\n",
	       current->comm, current->pid, address, regs->ip, regs->sp, error_code);
	local_irq_enable();
	do_exit(128 + SIGSEGV);
}

noinline void exc_page_fault(struct pt_regs *regs, unsigned long error_code)
{
	unsigned long address = read_cr2();

	current->thread.cr2 = address;
	current->thread.error_code = error_code;
	current->thread.trap_nr = 14;

	if (address >= TASK_SIZE_MAX)
		do_kern_addr_fault(regs, error_code, address);
	else
		do_user_addr_fault(regs, error_code, address);
}
