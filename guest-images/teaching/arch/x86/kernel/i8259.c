// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/kernel/i8259.c - the two cascaded 8259A interrupt controllers.
 *
 * Programmed exactly like Linux's init_8259A(): the master's IRQ 0-7 become
 * vectors 0x30-0x37, the slave (on the master's IRQ 2) 0x38-0x3f. An IRQ is
 * masked and acknowledged (specific EOI) before its handler runs, and
 * unmasked afterwards: Linux's handle_level_irq() flow.
 */
#include <linux/kernel.h>
#include <asm/io.h>
#include <asm/irq_vectors.h>

#define PIC_MASTER_CMD		0x20
#define PIC_MASTER_IMR		0x21
#define PIC_SLAVE_CMD		0xa0
#define PIC_SLAVE_IMR		0xa1
#define PIC_CASCADE_IR		2
#define MASTER_ICW4_DEFAULT	0x01	/* 8086 mode, normal EOI */
#define SLAVE_ICW4_DEFAULT	0x01
#define PIC_ICW4_AEOI		2

/* OCW2: specific EOI for IRQ n is 0x60 + n. */
#define PIC_EOI_SPECIFIC	0x60

/* All masked except the cascade line, until a driver asks for its IRQ. */
static unsigned int cached_irq_mask = 0xffff & ~(1 << PIC_CASCADE_IR);

#define cached_master_mask	((u8)(cached_irq_mask))
#define cached_slave_mask	((u8)(cached_irq_mask >> 8))

static void outb_pic(u8 value, u16 port)
{
	outb(value, port);
	native_io_delay();	/* old PICs need time between accesses */
}

void init_8259A(int auto_eoi)
{
	outb(0xff, PIC_MASTER_IMR);	/* mask all of 8259A-1 */
	outb(0xff, PIC_SLAVE_IMR);	/* mask all of 8259A-2 */

	/* ICW1: edge triggered, cascade, ICW4 needed. */
	outb_pic(0x11, PIC_MASTER_CMD);
	/* ICW2: 8259A-1 IR0-7 mapped to ISA_IRQ_VECTOR(0) */
	outb_pic(ISA_IRQ_VECTOR(0), PIC_MASTER_IMR);
	/* ICW3: 8259A-1 has a slave on IR2 (a bit mask) */
	outb_pic(1U << PIC_CASCADE_IR, PIC_MASTER_IMR);
	/* ICW4: master is x86 mode, normal EOI unless asked for auto-EOI */
	outb_pic(auto_eoi ? MASTER_ICW4_DEFAULT | PIC_ICW4_AEOI : MASTER_ICW4_DEFAULT,
		 PIC_MASTER_IMR);

	outb_pic(0x11, PIC_SLAVE_CMD);			/* ICW1 */
	outb_pic(ISA_IRQ_VECTOR(8), PIC_SLAVE_IMR);	/* ICW2: IR0-7 -> 0x38-0x3f */
	outb_pic(PIC_CASCADE_IR, PIC_SLAVE_IMR);	/* ICW3: slave id 2 (a number) */
	outb_pic(SLAVE_ICW4_DEFAULT, PIC_SLAVE_IMR);	/* ICW4 */

	/* Linux waits udelay(100) here for the PICs to settle: a few port-0x80 writes. */
	for (int i = 0; i < 4; i++)
		native_io_delay();

	outb(cached_master_mask, PIC_MASTER_IMR);
	outb(cached_slave_mask, PIC_SLAVE_IMR);
}

void disable_8259A_irq(unsigned int irq)
{
	cached_irq_mask |= 1U << irq;
	if (irq & 8)
		outb(cached_slave_mask, PIC_SLAVE_IMR);
	else
		outb(cached_master_mask, PIC_MASTER_IMR);
}

void enable_8259A_irq(unsigned int irq)
{
	cached_irq_mask &= ~(1U << irq);
	if (irq & 8)
		outb(cached_slave_mask, PIC_SLAVE_IMR);
	else
		outb(cached_master_mask, PIC_MASTER_IMR);
}

/* Mask the line, then tell the PIC(s) that this IRQ is being serviced. */
void mask_and_ack_8259A(unsigned int irq)
{
	disable_8259A_irq(irq);
	if (irq & 8) {
		outb(PIC_EOI_SPECIFIC + (irq & 7), PIC_SLAVE_CMD);
		outb(PIC_EOI_SPECIFIC + PIC_CASCADE_IR, PIC_MASTER_CMD);
	} else {
		outb(PIC_EOI_SPECIFIC + irq, PIC_MASTER_CMD);
	}
}
