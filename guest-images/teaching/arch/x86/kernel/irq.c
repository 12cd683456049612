// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/kernel/irq.c - external interrupt dispatch.
 *
 * common_interrupt() is called by the asm stubs for vectors 0x30-0x3f with
 * interrupts disabled. It runs the handler registered with request_irq()
 * and, on the way out, lets the scheduler preempt the interrupted task if
 * the handler asked for it (TIF_NEED_RESCHED): that is how the timer
 * switches tasks, in kernel and in user mode alike.
 */
#include <linux/kernel.h>
#include <linux/interrupt.h>
#include <linux/sched.h>
#include <asm/ptrace.h>
#include <asm/irq_vectors.h>

void mask_and_ack_8259A(unsigned int irq);
void enable_8259A_irq(unsigned int irq);

struct irq_desc {
	irq_handler_t handler;
	const char *name;
	void *dev_id;
};

static struct irq_desc irq_desc[NR_LEGACY_IRQS];
unsigned long irq_counts[NR_LEGACY_IRQS];
unsigned long nr_spurious_irqs;

/* The registers of the interrupted context, for the timer's accounting. */
static struct pt_regs *irq_regs;
struct pt_regs *get_irq_regs(void)
{
	return irq_regs;
}

int request_irq(unsigned int irq, irq_handler_t handler, const char *name, void *dev_id)
{
	if (irq >= NR_LEGACY_IRQS || irq_desc[irq].handler)
		return -1;
	irq_desc[irq] = (struct irq_desc){ .handler = handler, .name = name, .dev_id = dev_id };
	enable_8259A_irq(irq);
	return 0;
}

/*
 * Return from an interrupt: if the timer (or a wake-up) set need_resched,
 * schedule now, still with interrupts off. We come back here when this task
 * is picked again and return to whatever it was doing.
 */
unsigned long nr_user_preemptions;

static void irqentry_exit(struct pt_regs *regs)
{
	if (need_resched()) {
		if (user_mode(regs))
			nr_user_preemptions++;
		preempt_schedule_irq();
	}
}

noinline void common_interrupt(struct pt_regs *regs, unsigned long vector)
{
	unsigned int irq = vector - ISA_IRQ_VECTOR(0);
	struct pt_regs *old_regs = irq_regs;
	struct irq_desc *desc;

	irq_regs = regs;
	if (irq >= NR_LEGACY_IRQS) {
		nr_spurious_irqs++;
		goto out;
	}
	desc = &irq_desc[irq];
	mask_and_ack_8259A(irq);
	irq_counts[irq]++;
	if (desc->handler)
		desc->handler(irq, desc->dev_id);
	else
		nr_spurious_irqs++;
	if (desc->handler)
		enable_8259A_irq(irq);
out:
	irq_regs = old_regs;
	irqentry_exit(regs);
}

void init_8259A(int auto_eoi);

void init_IRQ(void)
{
	init_8259A(0);
}
