/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_SLAB_H
#define _LINUX_SLAB_H

#include <linux/types.h>
#include <linux/mm.h>

/*
 * A cache of equally sized objects carved out of whole pages. Free objects
 * form a singly linked list through their first word.
 */
struct kmem_cache {
	const char *name;
	unsigned int object_size;
	void *freelist;
	unsigned long nr_pages;
	unsigned long nr_active;	/* objects handed out and not yet freed */
	unsigned long nr_allocs;
};

struct kmem_cache *kmem_cache_create(const char *name, unsigned int size);
void *kmem_cache_alloc(struct kmem_cache *s, gfp_t gfp);
void kmem_cache_free(struct kmem_cache *s, void *obj);
void *kmalloc(size_t size, gfp_t gfp);
void kfree(const void *obj);
void kmem_cache_init(void);

static inline void *kzalloc(size_t size, gfp_t gfp)
{
	return kmalloc(size, gfp | __GFP_ZERO);
}

#endif
