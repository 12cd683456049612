// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/kernel/reboot.c - stop the machine.
 *
 * The platform has a debug exit port at 0xf4 (QEMU's isa-debug-exit): a
 * write of V ends the run; QEMU's exit status becomes (V << 1) | 1 and
 * bpflab reports V. If nothing listens we halt forever with interrupts off.
 */
#include <linux/kernel.h>
#include <linux/bpflab.h>
#include <asm/io.h>
#include <asm/processor.h>

void machine_exit(u32 code)
{
	local_irq_disable();
	outl(code, BPFLAB_EXIT_PORT);
	for (;;)
		native_halt();
}
