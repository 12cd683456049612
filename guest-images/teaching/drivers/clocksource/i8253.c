// SPDX-License-Identifier: GPL-2.0
/*
 * drivers/clocksource/i8253.c - the 8254 programmable interval timer.
 *
 * Channel 0 in mode 2 (rate generator) divides the 1.193182 MHz input by
 * LATCH = 11932 and raises IRQ 0 (vector 0x30) HZ = 100 times a second.
 * That is the only clock this kernel has: jiffies.
 */
#include <linux/kernel.h>
#include <linux/interrupt.h>
#include <linux/timer.h>
#include <asm/io.h>

#define PIT_MODE	0x43
#define PIT_CH0		0x40

/* Mode/command byte: channel 0, access lobyte/hibyte, mode 2, binary. */
#define PIT_CMD_CH0_LOHI_MODE2	0x34

void tick_handle_periodic(void);

static void timer_interrupt(unsigned int irq, void *dev_id)
{
	(void)irq;
	(void)dev_id;
	tick_handle_periodic();
}

void setup_pit_timer(void)
{
	outb_p(PIT_CMD_CH0_LOHI_MODE2, PIT_MODE);
	outb_p(LATCH & 0xff, PIT_CH0);		/* LSB */
	outb_p(LATCH >> 8, PIT_CH0);		/* MSB */
	request_irq(0, timer_interrupt, "timer", NULL);
	printk(KERN_INFO "clocksource: i8253 PIT channel 0, mode 2, HZ=%d, LATCH=%lu\n",
	       HZ, (unsigned long)LATCH);
}
