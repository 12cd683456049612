/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_PGTABLE_H
#define _ASM_X86_PGTABLE_H

#include <linux/types.h>
#include <asm/page.h>

/*
 * Four-level paging: pgd (PML4) -> pud (PDPT) -> pmd (PD) -> pte (PT).
 * An entry is a plain unsigned long: physical address of the next level (or
 * of the page) ORed with these flag bits.
 */
#define _PAGE_PRESENT	0x001UL
#define _PAGE_RW	0x002UL
#define _PAGE_USER	0x004UL
#define _PAGE_ACCESSED	0x020UL
#define _PAGE_DIRTY	0x040UL
#define _PAGE_PSE	0x080UL		/* 2 MiB page in a pmd */
#define _PAGE_GLOBAL	0x100UL
#define PTE_PFN_MASK	0x000ffffffffff000UL

#define _KERNPG_TABLE	(_PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY)
#define _PAGE_TABLE	(_KERNPG_TABLE | _PAGE_USER)
#define PAGE_KERNEL	(_PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_GLOBAL)
#define PAGE_KERNEL_LARGE (PAGE_KERNEL | _PAGE_PSE)
#define PAGE_USER_RW	(_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED)
#define PAGE_USER_RO	(_PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED)

#define pgd_index(a)	(((a) >> PGDIR_SHIFT) & 511)
#define pud_index(a)	(((a) >> PUD_SHIFT) & 511)
#define pmd_index(a)	(((a) >> PMD_SHIFT) & 511)
#define pte_index(a)	(((a) >> PAGE_SHIFT) & 511)

/* Page-fault error code bits (arch/x86/include/asm/trap_pf.h). */
#define X86_PF_PROT	(1UL << 0)	/* 0: not-present page, 1: protection */
#define X86_PF_WRITE	(1UL << 1)
#define X86_PF_USER	(1UL << 2)
#define X86_PF_RSVD	(1UL << 3)
#define X86_PF_INSTR	(1UL << 4)

extern unsigned long init_top_pgt[PTRS_PER_TABLE];

void paging_init(unsigned long mem_bytes);
unsigned long *lookup_pte(unsigned long *pgd, unsigned long addr, bool alloc);
int map_page(unsigned long *pgd, unsigned long addr, unsigned long phys, unsigned long prot);

#endif
