// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/kernel/cpu/common.c - per-CPU descriptor tables and MSRs.
 *
 * cpu_init() loads our own GDT (replacing the boot loader's), the TSS with
 * its interrupt stacks, and syscall_init() programs the SYSCALL MSRs.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/syscalls.h>
#include <asm/desc.h>
#include <asm/segment.h>
#include <asm/processor.h>

/*
 * Build a code/data descriptor from a 16-bit flags word laid out like
 * descriptor bytes 5-6: type(4) s(1) dpl(2) p(1) | limit(4) avl l d g.
 */
#define GDT_ENTRY_INIT(flags, base, limit) {			\
	.limit0	= (u16)(limit),					\
	.limit1	= ((limit) >> 16) & 0x0f,			\
	.base0	= (u16)(base),					\
	.base1	= ((base) >> 16) & 0xff,			\
	.base2	= ((base) >> 24) & 0xff,			\
	.type	= (flags) & 0x0f,				\
	.s	= ((flags) >> 4) & 0x01,			\
	.dpl	= ((flags) >> 5) & 0x03,			\
	.p	= ((flags) >> 7) & 0x01,			\
	.avl	= ((flags) >> 12) & 0x01,			\
	.l	= ((flags) >> 13) & 0x01,			\
	.d	= ((flags) >> 14) & 0x01,			\
	.g	= ((flags) >> 15) & 0x01,			\
}

struct gdt_page {
	struct desc_struct gdt[GDT_ENTRIES];
} __aligned(4096);

/* 0xa09b: present, ring 0, code, long mode. 0xc093: present, ring 0, data, 4 GiB. */
struct gdt_page gdt_page = { .gdt = {
	[GDT_ENTRY_KERNEL32_CS]		= GDT_ENTRY_INIT(0xc09b, 0, 0xfffff),
	[GDT_ENTRY_KERNEL_CS]		= GDT_ENTRY_INIT(0xa09b, 0, 0xfffff),
	[GDT_ENTRY_KERNEL_DS]		= GDT_ENTRY_INIT(0xc093, 0, 0xfffff),
	[GDT_ENTRY_DEFAULT_USER32_CS]	= GDT_ENTRY_INIT(0xc0fb, 0, 0xfffff),
	[GDT_ENTRY_DEFAULT_USER_DS]	= GDT_ENTRY_INIT(0xc0f3, 0, 0xfffff),
	[GDT_ENTRY_DEFAULT_USER_CS]	= GDT_ENTRY_INIT(0xa0fb, 0, 0xfffff),
} };

/* The TSS. sp0 is updated on every context switch (__switch_to). */
struct x86_hw_tss cpu_tss_rw __aligned(64) = {
	.io_bitmap_base = sizeof(struct x86_hw_tss),	/* no I/O bitmap: ring 3 can't do I/O */
};

/* Separate stacks for exceptions that must work even on a broken stack. */
static char exception_stacks[N_EXCEPTION_STACKS][EXCEPTION_STKSZ] __aligned(4096);

static void set_tss_desc(struct x86_hw_tss *tss)
{
	struct ldttss_desc *d = (struct ldttss_desc *)&gdt_page.gdt[GDT_ENTRY_TSS];
	unsigned long base = (unsigned long)tss;
	unsigned long limit = sizeof(*tss) - 1;

	*d = (struct ldttss_desc) {
		.limit0	= (u16)limit,
		.base0	= (u16)base,
		.base1	= (base >> 16) & 0xff,
		.type	= DESC_TSS,
		.dpl	= 0,
		.p	= 1,
		.limit1	= (limit >> 16) & 0xf,
		.base2	= (base >> 24) & 0xff,
		.base3	= (u32)(base >> 32),
	};
}

static void load_gdt_and_segments(void)
{
	struct desc_ptr gdt_descr = {
		.size = sizeof(gdt_page.gdt) - 1,
		.address = (unsigned long)gdt_page.gdt,
	};

	asm volatile("lgdt %0" : : "m"(gdt_descr));
	/* Reload CS with a far return, then the data segments. */
	asm volatile("pushq %[cs]\n\t"
		     "leaq 1f(%%rip), %%rax\n\t"
		     "pushq %%rax\n\t"
		     "lretq\n"
		     "1:\n\t"
		     "movl %[ds], %%eax\n\t"
		     "movl %%eax, %%ds\n\t"
		     "movl %%eax, %%es\n\t"
		     "movl %%eax, %%ss\n\t"
		     "xorl %%eax, %%eax\n\t"
		     "movl %%eax, %%fs\n\t"
		     "movl %%eax, %%gs\n\t"
		     : : [cs] "i"(__KERNEL_CS), [ds] "i"(__KERNEL_DS) : "rax", "memory");
}

void cpu_init(void)
{
	for (int i = 0; i < N_EXCEPTION_STACKS; i++)
		cpu_tss_rw.ist[i] = (unsigned long)exception_stacks[i] + EXCEPTION_STKSZ;
	cpu_tss_rw.sp0 = (unsigned long)init_stack + THREAD_SIZE;

	set_tss_desc(&cpu_tss_rw);
	load_gdt_and_segments();
	asm volatile("ltr %w0" : : "r"(GDT_ENTRY_TSS_SEL));
}

extern char entry_SYSCALL_64[];

/*
 * SYSCALL enters at LSTAR with CS = STAR[47:32] and SS = that + 8;
 * SYSRET returns with CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8.
 */
void syscall_init(void)
{
	wrmsrl(MSR_STAR, ((u64)__USER32_CS << 48) | ((u64)__KERNEL_CS << 32));
	wrmsrl(MSR_LSTAR, (unsigned long)entry_SYSCALL_64);
	wrmsrl(MSR_SYSCALL_MASK, X86_EFLAGS_TF | X86_EFLAGS_DF | X86_EFLAGS_IF |
				 X86_EFLAGS_IOPL | X86_EFLAGS_AC | X86_EFLAGS_NT);
	wrmsrl(MSR_EFER, rdmsrl(MSR_EFER) | EFER_SCE);
}
