/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_DESC_H
#define _ASM_X86_DESC_H

#include <linux/types.h>
#include <linux/compiler.h>

/* An 8-byte code/data segment descriptor (desc_defs.h). */
struct desc_struct {
	u16	limit0;
	u16	base0;
	u16	base1: 8, type: 4, s: 1, dpl: 2, p: 1;
	u16	limit1: 4, avl: 1, l: 1, d: 1, g: 1, base2: 8;
} __packed;

/* The 16-byte system descriptor that points at the TSS. */
struct ldttss_desc {
	u16	limit0;
	u16	base0;
	u16	base1: 8, type: 5, dpl: 2, p: 1;
	u16	limit1: 4, zero0: 3, g: 1, base2: 8;
	u32	base3;
	u32	zero1;
} __packed;

/* A 16-byte IDT gate. */
struct idt_bits {
	u16	ist	: 3,
		zero	: 5,
		type	: 5,
		dpl	: 2,
		p	: 1;
} __packed;

struct gate_struct {
	u16		offset_low;
	u16		segment;
	struct idt_bits	bits;
	u16		offset_middle;
	u32		offset_high;
	u32		reserved;
} __packed;

struct desc_ptr {
	u16 size;
	unsigned long address;
} __packed;

#define GATE_INTERRUPT	0xE
#define GATE_TRAP	0xF
#define DESC_TSS	0x9

/* The 64-bit hardware task state segment: only stacks matter in long mode. */
struct x86_hw_tss {
	u32	reserved1;
	u64	sp0;		/* stack loaded on a ring 3 -> ring 0 transition */
	u64	sp1;
	u64	sp2;		/* unused by hardware: entry_SYSCALL_64's scratch slot */
	u64	reserved2;
	u64	ist[7];		/* Interrupt Stack Table, IDT gates pick one by index */
	u32	reserved3;
	u32	reserved4;
	u16	reserved5;
	u16	io_bitmap_base;
} __packed;

/* IST slots, numbered like Linux's IST_INDEX_* (the gate holds index + 1). */
#define IST_INDEX_DF	0
#define IST_INDEX_NMI	1
#define IST_INDEX_DB	2
#define IST_INDEX_MCE	3
#define N_EXCEPTION_STACKS 4
#define EXCEPTION_STKSZ	4096

extern struct x86_hw_tss cpu_tss_rw;

void cpu_init(void);
void idt_setup(void);

#endif
