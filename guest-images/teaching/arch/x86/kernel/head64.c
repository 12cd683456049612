// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/kernel/head64.c - the first C code.
 *
 * Entered from startup_64 on the boot loader's page tables. Copy what the
 * loader told us (boot info and command line) into the kernel image before
 * anything can overwrite it, then start the kernel proper.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/bpflab.h>
#include <asm/page.h>

struct bpflab_boot_info boot_info;
char boot_command_line[256];

void start_kernel(void) __noreturn;
void x86_64_start_kernel(unsigned long magic, unsigned long boot_info_phys) __noreturn;

/*
 * The loader's map covers physical [0, 1 GiB) at __START_KERNEL_map, so
 * that is how we reach its data (the identity map would work too).
 */
static const void *early_phys_to_virt(unsigned long phys)
{
	return (const void *)(phys + __START_KERNEL_map);
}

void x86_64_start_kernel(unsigned long magic, unsigned long boot_info_phys)
{
	const struct bpflab_boot_info *bi;

	if (magic != BPFLAB_BOOT_MAGIC)
		machine_exit(2);	/* nobody to tell yet: the console isn't up */

	bi = early_phys_to_virt(boot_info_phys);
	boot_info = *bi;
	if (boot_info.magic != BPFLAB_BOOT_MAGIC)
		machine_exit(2);
	if (boot_info.cmdline_phys && boot_info.cmdline_len) {
		size_t n = min(boot_info.cmdline_len, (u64)sizeof(boot_command_line) - 1);

		memcpy(boot_command_line, early_phys_to_virt(boot_info.cmdline_phys), n);
		boot_command_line[n] = '\0';
	}
	start_kernel();
}
