// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/kernel/idt.c - the interrupt descriptor table.
 *
 * Vectors 0-31 go to the exception stubs in entry_64.S, 0x30-0x3f to the
 * legacy PIC interrupt stubs. All gates are interrupt gates (the CPU clears
 * IF on entry) with DPL 0, so user space can't raise them with `int N`.
 * #DB, NMI, #DF and #MC run on their own IST stacks.
 */
#include <linux/kernel.h>
#include <asm/desc.h>
#include <asm/segment.h>
#include <asm/irq_vectors.h>

struct gate_struct idt_table[NR_VECTORS] __aligned(4096);

extern const unsigned long exception_entries[32];
extern const char irq_entries_start[];
#define IRQ_ENTRY_SIZE	8

static void set_intr_gate(unsigned int vector, unsigned long addr, unsigned int ist)
{
	struct gate_struct *g = &idt_table[vector];

	g->offset_low = (u16)addr;
	g->segment = __KERNEL_CS;
	g->bits.ist = ist;
	g->bits.zero = 0;
	g->bits.type = GATE_INTERRUPT;
	g->bits.dpl = 0;
	g->bits.p = 1;
	g->offset_middle = (u16)(addr >> 16);
	g->offset_high = (u32)(addr >> 32);
	g->reserved = 0;
}

void idt_setup(void)
{
	struct desc_ptr idt_descr = {
		.size = sizeof(idt_table) - 1,
		.address = (unsigned long)idt_table,
	};

	for (unsigned int v = 0; v < 32; v++) {
		unsigned int ist = 0;

		if (v == X86_TRAP_DF)
			ist = IST_INDEX_DF + 1;
		else if (v == X86_TRAP_NMI)
			ist = IST_INDEX_NMI + 1;
		else if (v == X86_TRAP_DB)
			ist = IST_INDEX_DB + 1;
		else if (v == X86_TRAP_MC)
			ist = IST_INDEX_MCE + 1;
		set_intr_gate(v, exception_entries[v], ist);
	}
	for (unsigned int irq = 0; irq < NR_LEGACY_IRQS; irq++)
		set_intr_gate(ISA_IRQ_VECTOR(irq),
			      (unsigned long)irq_entries_start + irq * IRQ_ENTRY_SIZE, 0);

	asm volatile("lidt %0" : : "m"(idt_descr));
}
