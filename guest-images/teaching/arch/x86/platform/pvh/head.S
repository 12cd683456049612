/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arch/x86/platform/pvh/head.S - entry from a PVH boot loader (QEMU -kernel).
 *
 * The Xen PVH boot ABI, which QEMU implements for ELF kernels carrying the
 * XEN_ELFNOTE_PHYS32_ENTRY note below, enters pvh_start:
 *
 *   32-bit protected mode, paging off, flat CS/DS/ES/SS, interrupts off,
 *   EBX = physical address of struct hvm_start_info, no stack.
 *
 * We only run at our *physical* address here, so every absolute reference
 * is written as _pa(symbol). The job: build the same machine state the bpflab
 * loader gives (BOOT.md), i.e. long mode with physical [0, 1 GiB) mapped both
 * at 0 and at __START_KERNEL_map, then fill a struct bpflab_boot_info from the
 * hvm_start_info and jump to startup_64 like any other bpflab boot.
 */
#include <linux/bpflab.h>
#include <asm/page.h>
#include <asm/processor.h>
#include <asm/segment.h>
#include <generated/asm-offsets.h>

#define _pa(x)		((x) - __START_KERNEL_map)

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define _KERNPG_TABLE_ASM 0x63		/* present | rw | accessed | dirty */

	.section .head.text, "ax"
	.code32
	.globl	pvh_start
	.type	pvh_start, @function
pvh_start:
	cld
	movl	%ebx, %esi			/* keep hvm_start_info */

	/* Our GDT: 0x08 32-bit code, 0x10 64-bit code, 0x18 data (like Linux). */
	lgdt	_pa(pvh_gdt_desc)
	movl	$__KERNEL_DS, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss

	/* Enable PAE, point CR3 at the static early page tables. */
	movl	%cr4, %eax
	orl	$X86_CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$_pa(pvh_init_top_pgt), %eax
	movl	%eax, %cr3

	/* Long mode enable in EFER, then paging: the CPU is now in IA-32e mode. */
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$(X86_CR0_PG | X86_CR0_PE), %eax
	movl	%eax, %cr0

	/* A far jump to a 64-bit code segment leaves compatibility mode. */
	ljmp	$__KERNEL_CS, $_pa(1f)

	.code64
1:	movl	$__KERNEL_DS, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%esi, %r12d			/* zero-extends */

	/* Leave the identity map: continue at our linked, higher-half address. */
	movq	$2f, %rax
	jmp	*%rax
2:
	movq	$init_stack + THREAD_SIZE, %rsp
	xorl	%ebp, %ebp
	movq	%r12, %rdi
	call	pvh_fill_boot_info		/* returns the physical address of the boot info */

	movl	$BPFLAB_BOOT_MAGIC, %edi
	movq	%rax, %rsi
	jmp	startup_64
	.size	pvh_start, . - pvh_start

/*
 * Early page tables, static data: one page directory of 2 MiB pages covering
 * physical [0, 1 GiB), hooked in twice: at virtual 0 (identity, pgd[0]/pud[0])
 * and at __START_KERNEL_map (pgd[511]/pud[510]). This is also exactly what the
 * bpflab loader provides. The kernel replaces them in paging_init().
 */
	.section .data..page_aligned, "aw"
	.balign	4096
pvh_init_top_pgt:
	.quad	_pa(pvh_level3_ident) + _KERNPG_TABLE_ASM
	.fill	510, 8, 0
	.quad	_pa(pvh_level3_kernel) + _KERNPG_TABLE_ASM
pvh_level3_ident:
	.quad	_pa(pvh_level2) + _KERNPG_TABLE_ASM
	.fill	511, 8, 0
pvh_level3_kernel:
	.fill	510, 8, 0
	.quad	_pa(pvh_level2) + _KERNPG_TABLE_ASM
	.quad	0
pvh_level2:
	.set	i, 0
	.rept	512
	.quad	(i << 21) + 0x83		/* present | rw | 2 MiB page */
	.set	i, i + 1
	.endr

	.section .data, "aw"
	.balign	8
pvh_gdt:
	.quad	0				/* null */
	.quad	0x00cf9a000000ffff		/* 0x08: 32-bit code, flat */
	.quad	0x00af9a000000ffff		/* 0x10: 64-bit code */
	.quad	0x00cf92000000ffff		/* 0x18: data, flat */
pvh_gdt_end:
pvh_gdt_desc:
	.word	pvh_gdt_end - pvh_gdt - 1
	.quad	_pa(pvh_gdt)

/*
 * The note QEMU looks for: "Xen", type XEN_ELFNOTE_PHYS32_ENTRY, descriptor
 * the physical address of pvh_start.
 */
	.section .note.Xen, "a"
	.balign	4
	.long	2f - 1f				/* namesz */
	.long	4f - 3f				/* descsz */
	.long	XEN_ELFNOTE_PHYS32_ENTRY	/* type */
1:	.asciz	"Xen"
2:	.balign	4
3:	.quad	_pa(pvh_start)
4:	.balign	4

	.section .note.GNU-stack, "", @progbits
