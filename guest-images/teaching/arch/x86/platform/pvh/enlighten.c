// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/platform/pvh/enlighten.c - translate PVH's start info into
 * the bpflab boot info.
 *
 * Called from pvh_start (head.S) in long mode, on the early page tables,
 * with the identity map of [0, 1 GiB) still present, so the physical
 * addresses in hvm_start_info can be dereferenced directly.
 */
#include <linux/kernel.h>
#include <linux/bpflab.h>
#include <linux/string.h>
#include <asm/page.h>

/* xen/include/public/arch-x86/hvm/start_info.h */
#define XEN_HVM_START_MAGIC_VALUE	0x336ec578
#define XEN_HVM_MEMMAP_TYPE_RAM		1

struct hvm_start_info {
	u32 magic;
	u32 version;		/* >= 1 has the memory map */
	u32 flags;
	u32 nr_modules;
	u64 modlist_paddr;
	u64 cmdline_paddr;
	u64 rsdp_paddr;
	u64 memmap_paddr;
	u32 memmap_entries;
	u32 reserved;
};

struct hvm_memmap_table_entry {
	u64 addr;
	u64 size;
	u32 type;
	u32 reserved;
};

#define PVH_DEFAULT_MEM	(128UL << 20)

/* In .data, not .bss: startup_64 clears .bss after we return. */
static struct bpflab_boot_info pvh_boot_info __section(".data");

unsigned long pvh_fill_boot_info(unsigned long start_info_phys);
unsigned long pvh_fill_boot_info(unsigned long start_info_phys)
{
	const struct hvm_start_info *si = (const void *)start_info_phys;
	u64 mem = 0;

	pvh_boot_info.magic = BPFLAB_BOOT_MAGIC;
	pvh_boot_info.mem_bytes = PVH_DEFAULT_MEM;

	if (si->magic != XEN_HVM_START_MAGIC_VALUE)
		return __pa(&pvh_boot_info);

	if (si->version >= 1 && si->memmap_paddr) {
		const struct hvm_memmap_table_entry *e = (const void *)si->memmap_paddr;

		/* RAM ends where the highest RAM range ends. */
		for (u32 i = 0; i < si->memmap_entries; i++)
			if (e[i].type == XEN_HVM_MEMMAP_TYPE_RAM && e[i].addr + e[i].size > mem)
				mem = e[i].addr + e[i].size;
		if (mem)
			pvh_boot_info.mem_bytes = mem;
	}
	if (si->cmdline_paddr) {
		pvh_boot_info.cmdline_phys = si->cmdline_paddr;
		pvh_boot_info.cmdline_len = strnlen((const char *)si->cmdline_paddr, 255);
	}
	return __pa(&pvh_boot_info);
}
