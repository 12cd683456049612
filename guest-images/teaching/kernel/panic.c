// SPDX-License-Identifier: GPL-2.0
/*
 * kernel/panic.c - give up.
 *
 * panic() prints the reason and stops the machine through the exit port
 * with a nonzero code, so a test harness (QEMU or bpflab) sees the failure.
 */
#include <linux/kernel.h>
#include <linux/bpflab.h>
#include <asm/processor.h>

#define PANIC_EXIT_CODE	1

void panic(const char *fmt, ...)
{
	char buf[256];
	va_list args;

	local_irq_disable();
	va_start(args, fmt);
	vsnprintf(buf, sizeof(buf), fmt, args);
	va_end(args);
	printk(KERN_EMERG "Kernel panic - not syncing: %s\n", buf);
	printk(KERN_EMERG "---[ end Kernel panic - not syncing: %s ]---\n", buf);
	machine_exit(PANIC_EXIT_CODE);
}
