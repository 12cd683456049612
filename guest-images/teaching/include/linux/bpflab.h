/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_BPFLAB_H
#define _LINUX_BPFLAB_H

/*
 * The bpflab boot protocol (BOOT.md): the loader enters startup_64 in long
 * mode with RDI = BPFLAB_BOOT_MAGIC and RSI = physical address of this struct.
 */
#define BPFLAB_BOOT_MAGIC	0x42504642UL	/* "BFPB" read as a little-endian u32 */

#ifndef __ASSEMBLY__
#include <linux/types.h>

struct bpflab_boot_info {
	u64 magic;		/* BPFLAB_BOOT_MAGIC again */
	u64 mem_bytes;		/* size of RAM, which starts at physical 0 */
	u64 cmdline_phys;	/* kernel command line, not NUL-terminated */
	u64 cmdline_len;
};

/* The debug exit port: writing V stops the machine, bpflab reports V. */
#define BPFLAB_EXIT_PORT	0xf4

extern struct bpflab_boot_info boot_info;	/* our copy */
extern char boot_command_line[256];

void machine_exit(u32 code) __attribute__((noreturn));
#endif

#endif
