// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/mm/init_64.c - the kernel's own page tables.
 *
 * paging_init() builds init_top_pgt (Linux's swapper_pg_dir) from static
 * tables in .bss, without allocating anything, and loads it into CR3. From
 * then on the boot loader's page tables are garbage we may overwrite.
 *
 *   pgd[273] -> direct map:   PAGE_OFFSET + x     -> phys x   (2 MiB pages)
 *   pgd[402] -> vmalloc area: empty pud, filled on demand (mm/vmalloc.c)
 *   pgd[511] -> kernel image: __START_KERNEL_map + x -> phys x (2 MiB pages)
 *
 * There is no identity map any more: a NULL pointer dereference faults.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/mm.h>
#include <asm/pgtable.h>
#include <asm/processor.h>

#define __page_aligned_bss __section(".bss..page_aligned") __aligned(PAGE_SIZE)

unsigned long init_top_pgt[PTRS_PER_TABLE] __page_aligned_bss;
static unsigned long level3_direct_pgt[PTRS_PER_TABLE] __page_aligned_bss;
static unsigned long level2_direct_pgt[PTRS_PER_TABLE] __page_aligned_bss;
static unsigned long level3_kernel_pgt[PTRS_PER_TABLE] __page_aligned_bss;
static unsigned long level2_kernel_pgt[PTRS_PER_TABLE] __page_aligned_bss;
static unsigned long level3_vmalloc_pgt[PTRS_PER_TABLE] __page_aligned_bss;

void paging_init(unsigned long mem_bytes)
{
	unsigned long direct = min(mem_bytes, MAX_DIRECT_MAP);

	/* Kernel image: all of the first GiB, like the loader's mapping. */
	for (unsigned long i = 0; i < PTRS_PER_TABLE; i++)
		level2_kernel_pgt[i] = (i << PMD_SHIFT) | PAGE_KERNEL_LARGE;
	level3_kernel_pgt[pud_index(__START_KERNEL_map)] = __pa(level2_kernel_pgt) | _KERNPG_TABLE;
	init_top_pgt[pgd_index(__START_KERNEL_map)] = __pa(level3_kernel_pgt) | _KERNPG_TABLE;

	/* Direct map: only as much as there is RAM (rounded up to 2 MiB). */
	for (unsigned long i = 0; i < DIV_ROUND_UP(direct, PMD_SIZE); i++)
		level2_direct_pgt[i] = (i << PMD_SHIFT) | PAGE_KERNEL_LARGE;
	level3_direct_pgt[pud_index(PAGE_OFFSET)] = __pa(level2_direct_pgt) | _KERNPG_TABLE;
	init_top_pgt[pgd_index(PAGE_OFFSET)] = __pa(level3_direct_pgt) | _KERNPG_TABLE;

	/*
	 * vmalloc: allocate the pud now so the pgd entry never changes. Every
	 * process copies the kernel half of the pgd when it is created, and
	 * would not see a pgd entry added later.
	 */
	init_top_pgt[pgd_index(VMALLOC_START)] = __pa(level3_vmalloc_pgt) | _KERNPG_TABLE;

	write_cr4(read_cr4() | X86_CR4_PGE);
	write_cr3(__pa(init_top_pgt));
	init_mm.pgd = init_top_pgt;
	printk(KERN_INFO "paging: own page tables at phys %#lx, direct map %lu MiB\n",
	       __pa(init_top_pgt), direct >> 20);
}

/*
 * Find the pte for addr in the 4 KiB-page hierarchy below pgd, allocating
 * missing intermediate tables if alloc is set. Returns NULL if not mapped
 * (or if a 2 MiB page is in the way).
 */
unsigned long *lookup_pte(unsigned long *pgd, unsigned long addr, bool alloc)
{
	unsigned long *table = pgd;
	static const int shifts[] = { PGDIR_SHIFT, PUD_SHIFT, PMD_SHIFT };

	for (int level = 0; level < 3; level++) {
		unsigned long *entry = &table[(addr >> shifts[level]) & 511];

		if (!(*entry & _PAGE_PRESENT)) {
			unsigned long page;

			if (!alloc)
				return NULL;
			page = get_zeroed_page(GFP_KERNEL);
			if (!page)
				return NULL;
			/* Intermediate tables allow everything; the pte decides. */
			*entry = __pa(page) | (addr < TASK_SIZE_MAX ? _PAGE_TABLE : _KERNPG_TABLE);
		} else if (*entry & _PAGE_PSE) {
			return NULL;
		}
		table = __va(*entry & PTE_PFN_MASK);
	}
	return &table[pte_index(addr)];
}

int map_page(unsigned long *pgd, unsigned long addr, unsigned long phys, unsigned long prot)
{
	unsigned long *pte = lookup_pte(pgd, addr, true);

	if (!pte)
		return -1;
	*pte = (phys & PTE_PFN_MASK) | prot;
	__flush_tlb_one_kernel(addr);
	return 0;
}
