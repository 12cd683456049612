/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_MM_H
#define _LINUX_MM_H

#include <linux/types.h>
#include <linux/list.h>
#include <asm/page.h>

/*
 * One struct page per physical page frame, in the mem_map array, like Linux's
 * FLATMEM model. Free pages are chained through lru; slab pages point back to
 * their cache so kfree() knows where an object belongs.
 */
struct kmem_cache;

struct page {
	unsigned long flags;
	struct list_head lru;
	struct kmem_cache *slab_cache;	/* PG_slab pages */
	unsigned int order;		/* first page of a multi-page allocation */
	unsigned int inuse;
};

#define PG_reserved	(1UL << 0)	/* kernel image, boot memory: never freed */
#define PG_slab		(1UL << 1)
#define PG_head		(1UL << 2)	/* first page of a higher-order block */

#define GFP_KERNEL	0x0u
#define __GFP_ZERO	0x100u

extern struct page *mem_map;
extern unsigned long max_pfn;

#define page_to_pfn(page)	((unsigned long)((page) - mem_map))
#define pfn_to_page(pfn)	(mem_map + (pfn))
#define virt_to_page(addr)	pfn_to_page(__pa(addr) >> PAGE_SHIFT)
#define page_address(page)	__va(page_to_pfn(page) << PAGE_SHIFT)

void mem_init(unsigned long start_phys, unsigned long end_phys);
struct page *alloc_pages(gfp_t gfp, unsigned int order);
unsigned long __get_free_pages(gfp_t gfp, unsigned int order);
unsigned long get_zeroed_page(gfp_t gfp);
void free_pages(unsigned long addr, unsigned int order);
unsigned long nr_free_pages(void);

/* A process's memory: its page tables and three regions (mm_types.h, much reduced). */
struct vm_area_struct {
	unsigned long vm_start;
	unsigned long vm_end;
	unsigned long vm_flags;
};

#define VM_READ		0x1UL
#define VM_WRITE	0x2UL
#define VM_EXEC		0x4UL
#define VM_GROWSDOWN	0x100UL

#define MM_NR_VMAS	3
struct mm_struct {
	unsigned long *pgd;		/* top-level page table, loaded into CR3 */
	unsigned long start_code, end_code;
	unsigned long start_stack;
	struct vm_area_struct vmas[MM_NR_VMAS];
	int map_count;
	unsigned long nr_ptes_populated;	/* demand-faulted pages */
};

extern struct mm_struct init_mm;

struct mm_struct *mm_alloc(void);
void mmput(struct mm_struct *mm);
struct vm_area_struct *find_vma(struct mm_struct *mm, unsigned long addr);
int handle_mm_fault(struct mm_struct *mm, struct vm_area_struct *vma,
		    unsigned long address, unsigned long error_code);

/* vmalloc: virtually contiguous kernel memory, mapped lazily (see mm/vmalloc.c). */
struct vm_struct {
	struct vm_struct *next;
	void *addr;
	unsigned long size;
	unsigned long nr_pages;		/* pages populated so far */
};

void *vmalloc(unsigned long size);
bool vmalloc_fault(unsigned long address);
extern unsigned long nr_kernel_demand_faults;
extern unsigned long nr_user_demand_faults;

#endif
