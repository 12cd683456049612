// SPDX-License-Identifier: GPL-2.0
/*
 * mm/memory.c - user address spaces and their page faults.
 *
 * A user mm has its own pgd whose upper (kernel) half is a copy of
 * init_top_pgt's, so the kernel is mapped in every process. The lower half
 * holds the process's own mappings, described by up to MM_NR_VMAS regions.
 * Anonymous memory (the stack) is populated on first touch by
 * do_anonymous_page(), like Linux.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <asm/pgtable.h>

struct mm_struct init_mm;
unsigned long nr_user_demand_faults;

struct mm_struct *mm_alloc(void)
{
	struct mm_struct *mm = kzalloc(sizeof(*mm), GFP_KERNEL);

	if (!mm)
		return NULL;
	mm->pgd = (unsigned long *)get_zeroed_page(GFP_KERNEL);
	if (!mm->pgd) {
		kfree(mm);
		return NULL;
	}
	/* Share the kernel half (entries 256-511). */
	memcpy(mm->pgd + 256, init_top_pgt + 256, 256 * sizeof(unsigned long));
	return mm;
}

/* Free a page table level and, at the bottom, the mapped user pages. */
static void free_pgtable(unsigned long *table, int level)
{
	for (int i = 0; i < PTRS_PER_TABLE; i++) {
		unsigned long e = table[i];

		if (!(e & _PAGE_PRESENT))
			continue;
		if (level > 0)
			free_pgtable(__va(e & PTE_PFN_MASK), level - 1);
		else if (e & _PAGE_USER && virt_to_page(__va(e & PTE_PFN_MASK))->flags == 0)
			free_pages((unsigned long)__va(e & PTE_PFN_MASK), 0);
	}
	free_pages((unsigned long)table, 0);
}

void mmput(struct mm_struct *mm)
{
	/* Only the user half: the kernel half belongs to init_mm. */
	for (int i = 0; i < 256; i++)
		if (mm->pgd[i] & _PAGE_PRESENT)
			free_pgtable(__va(mm->pgd[i] & PTE_PFN_MASK), 2);
	free_pages((unsigned long)mm->pgd, 0);
	kfree(mm);
}

struct vm_area_struct *find_vma(struct mm_struct *mm, unsigned long addr)
{
	for (int i = 0; i < mm->map_count; i++)
		if (addr >= mm->vmas[i].vm_start && addr < mm->vmas[i].vm_end)
			return &mm->vmas[i];
	return NULL;
}

static int do_anonymous_page(struct mm_struct *mm, struct vm_area_struct *vma,
			     unsigned long address)
{
	unsigned long page = get_zeroed_page(GFP_KERNEL);
	unsigned long prot = (vma->vm_flags & VM_WRITE) ? PAGE_USER_RW : PAGE_USER_RO;

	if (!page)
		return -1;
	if (map_page(mm->pgd, address & PAGE_MASK, __pa(page), prot)) {
		free_pages(page, 0);
		return -1;
	}
	mm->nr_ptes_populated++;
	nr_user_demand_faults++;
	return 0;
}

/* Resolve a fault on a user address inside vma. Returns 0 if fixed. */
noinline int handle_mm_fault(struct mm_struct *mm, struct vm_area_struct *vma,
			     unsigned long address, unsigned long error_code)
{
	unsigned long *pte = lookup_pte(mm->pgd, address, false);

	if (pte && (*pte & _PAGE_PRESENT))
		return -1;		/* present: a protection fault, not ours to fix */
	if ((error_code & X86_PF_WRITE) && !(vma->vm_flags & VM_WRITE))
		return -1;
	return do_anonymous_page(mm, vma, address);
}
