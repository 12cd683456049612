// SPDX-License-Identifier: GPL-2.0
/*
 * mm/page_alloc.c - the physical page allocator.
 *
 * Much simpler than Linux's buddy allocator: single freed pages go on a free
 * list (through struct page::lru); everything else comes from a "high water
 * mark" that only moves up. Multi-page blocks (kernel stacks) are carved
 * from the high water mark, and are returned page by page to the free list.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/mm.h>
#include <asm/processor.h>

struct page *mem_map;		/* one struct page per page frame */
unsigned long max_pfn;
static unsigned long next_fresh_pfn;	/* high water mark */
static LIST_HEAD(free_list);
static unsigned long nr_free_list;
unsigned long nr_pages_allocated, nr_pages_freed;

/* Memory from start_phys to end_phys is ours; everything below is reserved. */
void mem_init(unsigned long start_phys, unsigned long end_phys)
{
	unsigned long map_bytes;

	end_phys = min(end_phys, MAX_DIRECT_MAP);
	max_pfn = PFN_DOWN(end_phys);
	start_phys = ALIGN(start_phys, PAGE_SIZE);

	/* The mem_map array itself is the first thing allocated. */
	map_bytes = ALIGN(max_pfn * sizeof(struct page), PAGE_SIZE);
	mem_map = __va(start_phys);
	memset(mem_map, 0, map_bytes);
	next_fresh_pfn = PFN_DOWN(start_phys + map_bytes);
	for (unsigned long pfn = 0; pfn < next_fresh_pfn; pfn++)
		mem_map[pfn].flags = PG_reserved;

	printk(KERN_INFO "Memory: %luK/%luK available (kernel+mem_map %luK reserved)\n",
	       (max_pfn - next_fresh_pfn) * 4, max_pfn * 4, next_fresh_pfn * 4);
}

noinline struct page *alloc_pages(gfp_t gfp, unsigned int order)
{
	unsigned long flags, nr = 1UL << order;
	struct page *page = NULL;

	local_irq_save(flags);
	if (order == 0 && !list_empty(&free_list)) {
		page = list_first_entry(&free_list, struct page, lru);
		list_del_init(&page->lru);
		nr_free_list--;
	} else {
		unsigned long pfn = ALIGN(next_fresh_pfn, nr);

		if (pfn + nr <= max_pfn) {
			page = pfn_to_page(pfn);
			next_fresh_pfn = pfn + nr;
		}
	}
	if (page) {
		page->flags = order ? PG_head : 0;
		page->order = order;
		page->slab_cache = NULL;
		nr_pages_allocated += nr;
	}
	local_irq_restore(flags);

	if (!page)
		return NULL;
	if (gfp & __GFP_ZERO)
		memset(page_address(page), 0, nr * PAGE_SIZE);
	return page;
}

unsigned long __get_free_pages(gfp_t gfp, unsigned int order)
{
	struct page *page = alloc_pages(gfp, order);

	return page ? (unsigned long)page_address(page) : 0;
}

unsigned long get_zeroed_page(gfp_t gfp)
{
	return __get_free_pages(gfp | __GFP_ZERO, 0);
}

noinline void free_pages(unsigned long addr, unsigned int order)
{
	struct page *page = virt_to_page(addr);
	unsigned long flags;

	BUG_ON(page->flags & PG_reserved);
	local_irq_save(flags);
	for (unsigned long i = 0; i < (1UL << order); i++) {
		page[i].flags = 0;
		list_add(&page[i].lru, &free_list);
		nr_free_list++;
	}
	nr_pages_freed += 1UL << order;
	local_irq_restore(flags);
}

unsigned long nr_free_pages(void)
{
	return nr_free_list + (max_pfn - next_fresh_pfn);
}
