// SPDX-License-Identifier: GPL-2.0
/*
 * mm/slab.c - kmem_cache and kmalloc.
 *
 * A cache hands out objects of one size. When its free list is empty it takes
 * a fresh page, marks it PG_slab with a pointer back to the cache, and cuts
 * it into objects. kfree() finds the cache through virt_to_page(). Requests
 * larger than the biggest kmalloc cache get whole pages.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/slab.h>
#include <asm/processor.h>

#define KMALLOC_MIN_SHIFT	5	/* 32 bytes */
#define KMALLOC_MAX_SHIFT	11	/* 2048 bytes */
#define NR_KMALLOC_CACHES	(KMALLOC_MAX_SHIFT - KMALLOC_MIN_SHIFT + 1)
#define NR_CACHES		16

static struct kmem_cache caches[NR_CACHES];
static unsigned int nr_caches;
static struct kmem_cache *kmalloc_caches[NR_KMALLOC_CACHES];
static const char *const kmalloc_names[NR_KMALLOC_CACHES] = {
	"kmalloc-32", "kmalloc-64", "kmalloc-128", "kmalloc-256",
	"kmalloc-512", "kmalloc-1k", "kmalloc-2k",
};

struct kmem_cache *kmem_cache_create(const char *name, unsigned int size)
{
	struct kmem_cache *s;

	BUG_ON(nr_caches >= NR_CACHES);
	s = &caches[nr_caches++];
	s->name = name;
	s->object_size = ALIGN(max(size, 8u), 8u);
	return s;
}

static bool cache_grow(struct kmem_cache *s)
{
	struct page *page = alloc_pages(GFP_KERNEL, 0);
	char *base;

	if (!page)
		return false;
	page->flags |= PG_slab;
	page->slab_cache = s;
	base = page_address(page);
	for (unsigned int off = 0; off + s->object_size <= PAGE_SIZE; off += s->object_size) {
		*(void **)(base + off) = s->freelist;
		s->freelist = base + off;
	}
	s->nr_pages++;
	return true;
}

noinline void *kmem_cache_alloc(struct kmem_cache *s, gfp_t gfp)
{
	unsigned long flags;
	void *obj = NULL;

	local_irq_save(flags);
	if (s->freelist || cache_grow(s)) {
		obj = s->freelist;
		s->freelist = *(void **)obj;
		s->nr_active++;
		s->nr_allocs++;
	}
	local_irq_restore(flags);
	if (obj && (gfp & __GFP_ZERO))
		memset(obj, 0, s->object_size);
	return obj;
}

noinline void kmem_cache_free(struct kmem_cache *s, void *obj)
{
	unsigned long flags;

	local_irq_save(flags);
	*(void **)obj = s->freelist;
	s->freelist = obj;
	s->nr_active--;
	local_irq_restore(flags);
}

noinline void *kmalloc(size_t size, gfp_t gfp)
{
	unsigned int shift = KMALLOC_MIN_SHIFT;

	if (size > (1UL << KMALLOC_MAX_SHIFT)) {
		unsigned int order = 0;

		while ((PAGE_SIZE << order) < size)
			order++;
		return (void *)__get_free_pages(gfp, order);
	}
	while ((1UL << shift) < size)
		shift++;
	return kmem_cache_alloc(kmalloc_caches[shift - KMALLOC_MIN_SHIFT], gfp);
}

noinline void kfree(const void *obj)
{
	struct page *page;

	if (!obj)
		return;
	page = virt_to_page(obj);
	if (page->flags & PG_slab)
		kmem_cache_free(page->slab_cache, (void *)obj);
	else
		free_pages((unsigned long)obj, page->order);
}

void kmem_cache_init(void)
{
	for (int i = 0; i < NR_KMALLOC_CACHES; i++)
		kmalloc_caches[i] = kmem_cache_create(kmalloc_names[i], 1U << (i + KMALLOC_MIN_SHIFT));
}
