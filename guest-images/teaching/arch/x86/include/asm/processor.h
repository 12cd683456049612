/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_PROCESSOR_H
#define _ASM_X86_PROCESSOR_H


/* Control register bits we touch. */
#define X86_CR0_PE	0x1
#define X86_CR0_WP	0x10000
#define X86_CR0_PG	0x80000000
#define X86_CR4_PAE	0x20
#define X86_CR4_PGE	0x80

#define X86_EFLAGS_TF	0x100
#define X86_EFLAGS_IF	0x200
#define X86_EFLAGS_DF	0x400
#define X86_EFLAGS_IOPL	0x3000
#define X86_EFLAGS_NT	0x4000
#define X86_EFLAGS_AC	0x40000
#define X86_EFLAGS_FIXED 0x2

/* Model specific registers (msr-index.h). */
#define MSR_EFER		0xc0000080
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define EFER_SCE		0x1
#define EFER_LME		0x100

#ifndef __ASSEMBLY__
#include <linux/types.h>
#include <linux/compiler.h>

static inline unsigned long read_cr2(void)
{
	unsigned long v;

	asm volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline unsigned long __read_cr3(void)
{
	unsigned long v;

	asm volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

static inline void write_cr3(unsigned long v)
{
	asm volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline unsigned long read_cr4(void)
{
	unsigned long v;

	asm volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static inline void write_cr4(unsigned long v)
{
	asm volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}

static inline u64 rdmsrl(u32 msr)
{
	u32 lo, hi;

	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

static inline void wrmsrl(u32 msr, u64 val)
{
	asm volatile("wrmsr" : : "c"(msr), "a"((u32)val), "d"((u32)(val >> 32)) : "memory");
}

static inline void __flush_tlb_one_kernel(unsigned long addr)
{
	asm volatile("invlpg (%0)" : : "r"(addr) : "memory");
}

/* irqflags.h: the interrupt flag. */
static inline unsigned long native_save_fl(void)
{
	unsigned long flags;

	asm volatile("pushf ; pop %0" : "=rm"(flags) : : "memory");
	return flags;
}

static inline void local_irq_disable(void) { asm volatile("cli" : : : "memory"); }
static inline void local_irq_enable(void)  { asm volatile("sti" : : : "memory"); }

#define local_irq_save(flags) do { (flags) = native_save_fl(); local_irq_disable(); } while (0)
#define local_irq_restore(flags) do { if ((flags) & X86_EFLAGS_IF) local_irq_enable(); } while (0)
#define irqs_disabled() (!(native_save_fl() & X86_EFLAGS_IF))

/*
 * Enable interrupts and halt in one go: STI only takes effect after the next
 * instruction, so no interrupt can slip in between and be missed by HLT.
 * Under bpflab the emulator fast-forwards the virtual clock to the next tick.
 */
static inline void native_safe_halt(void) { asm volatile("sti; hlt" : : : "memory"); }
static inline void native_halt(void) { asm volatile("hlt" : : : "memory"); }
static inline void cpu_relax(void) { asm volatile("pause" : : : "memory"); }

#endif /* __ASSEMBLY__ */

#endif
