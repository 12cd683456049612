// SPDX-License-Identifier: GPL-2.0
/*
 * mm/vmalloc.c - virtually contiguous kernel memory, populated on demand.
 *
 * vmalloc() only reserves a range of virtual addresses in the vmalloc area
 * (with an unmapped guard page after it) and records it in vmlist. Nothing
 * is mapped yet. The first access to each page raises a #PF; the fault
 * handler calls vmalloc_fault(), which allocates a zeroed physical page, maps
 * it, and returns so the faulting instruction runs again and succeeds.
 *
 * (Linux's vmalloc maps every page up front; doing it lazily here shows
 * demand paging in the kernel with nothing else in the way.)
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <asm/pgtable.h>
#include <asm/processor.h>

static struct vm_struct *vmlist;
static unsigned long vmalloc_next = VMALLOC_START;
unsigned long nr_kernel_demand_faults;

noinline void *vmalloc(unsigned long size)
{
	struct vm_struct *area = kzalloc(sizeof(*area), GFP_KERNEL);
	unsigned long flags;

	if (!area)
		return NULL;
	size = ALIGN(size, PAGE_SIZE);
	local_irq_save(flags);
	area->addr = (void *)vmalloc_next;
	area->size = size;
	vmalloc_next += size + PAGE_SIZE;	/* guard page */
	area->next = vmlist;
	vmlist = area;
	local_irq_restore(flags);
	return area->addr;
}

static struct vm_struct *find_vm_area(unsigned long addr)
{
	for (struct vm_struct *a = vmlist; a; a = a->next)
		if (addr >= (unsigned long)a->addr && addr < (unsigned long)a->addr + a->size)
			return a;
	return NULL;
}

/* Called by the page fault handler for a not-present kernel address. */
noinline bool vmalloc_fault(unsigned long address)
{
	struct vm_struct *area;
	unsigned long page;

	if (address < VMALLOC_START || address > VMALLOC_END)
		return false;
	area = find_vm_area(address);
	if (!area)
		return false;		/* guard page or never allocated: oops */
	page = get_zeroed_page(GFP_KERNEL);
	if (!page)
		return false;
	if (map_page(init_top_pgt, address & PAGE_MASK, __pa(page), PAGE_KERNEL))
		return false;
	area->nr_pages++;
	nr_kernel_demand_faults++;
	return true;
}
