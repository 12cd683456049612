/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_PAGE_H
#define _ASM_X86_PAGE_H

/*
 * The virtual memory map, a reduced version of Linux's
 * Documentation/x86/x86_64/mm.rst:
 *
 *   0000000000000000 - 00007fffffffffff  user space (per process)
 *   ffff888000000000 - ffff8880bfffffff  direct map of physical RAM (max 1 GiB here)
 *   ffffc90000000000 - ffffc9ffffffffff  vmalloc area, populated on demand by #PF
 *   ffffffff80000000 - ffffffffbfffffff  kernel image (text, data, bss), phys 0 + x
 */
#ifdef __ASSEMBLY__
#define _AC(X, Y)	X
#else
#define _AC(X, Y)	X##Y
#endif

#define PAGE_SHIFT	12
#define PAGE_SIZE	(_AC(1, UL) << PAGE_SHIFT)
#define PAGE_MASK	(~(PAGE_SIZE - 1))
#define PMD_SHIFT	21
#define PMD_SIZE	(_AC(1, UL) << PMD_SHIFT)
#define PUD_SHIFT	30
#define PGDIR_SHIFT	39
#define PTRS_PER_TABLE	512

#define __START_KERNEL_map	_AC(0xffffffff80000000, UL)
#define __PHYSICAL_START	_AC(0x100000, UL)
#define PAGE_OFFSET		_AC(0xffff888000000000, UL)
#define VMALLOC_START		_AC(0xffffc90000000000, UL)
#define VMALLOC_END		_AC(0xffffc9ffffffffff, UL)
#define TASK_SIZE_MAX		_AC(0x00007ffffffff000, UL)
#define MAX_DIRECT_MAP		(_AC(1, UL) << 30)

#ifndef __ASSEMBLY__
/* Kernel image and direct-map addresses both translate to physical. */
static inline unsigned long __phys_addr(unsigned long x)
{
	return x >= __START_KERNEL_map ? x - __START_KERNEL_map : x - PAGE_OFFSET;
}
#define __pa(x)		__phys_addr((unsigned long)(x))
#define __va(x)		((void *)((unsigned long)(x) + PAGE_OFFSET))
#define PFN_DOWN(x)	((x) >> PAGE_SHIFT)
#define PFN_UP(x)	(((x) + PAGE_SIZE - 1) >> PAGE_SHIFT)
#endif

#endif
