/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arch/x86/kernel/head_64.S - the 64-bit entry point.
 *
 * startup_64 is e_entry. Whoever jumps here (the bpflab loader, or our own
 * PVH code in arch/x86/platform/pvh/head.S) has already put the CPU in long
 * mode with the higher half mapped; see BOOT.md for the full contract:
 *
 *   RDI = BPFLAB_BOOT_MAGIC, RSI = physical address of struct bpflab_boot_info
 *   interrupts off, RSP undefined.
 *
 * All we do here is get a stack, clear .bss and call C.
 */
#include <linux/bpflab.h>
#include <asm/segment.h>
#include <generated/asm-offsets.h>

	.section .head.text, "ax"
	.code64
	.globl	startup_64
	.type	startup_64, @function
startup_64:
	cli
	cld

	/* Our first stack: the top of init_task's stack. It lives in .bss, which
	 * we clear below: harmless, nothing has been pushed yet. */
	movq	$init_stack + THREAD_SIZE, %rsp

	/* Keep the boot arguments out of the way while clearing .bss. */
	movq	%rdi, %r12
	movq	%rsi, %r13

	/* Zero .bss: loaders normally do it, but this costs nothing and is safe. */
	xorl	%eax, %eax
	movq	$__bss_start, %rdi
	movq	$__bss_stop, %rcx
	subq	%rdi, %rcx
	shrq	$3, %rcx
	rep stosq

	/* x86_64_start_kernel(magic, boot_info_phys): never returns. */
	movq	%r12, %rdi
	movq	%r13, %rsi
	xorl	%ebp, %ebp			/* terminate frame-pointer chains here */
	pushq	$0				/* fake return address for unwinders */
	jmp	x86_64_start_kernel
	.size	startup_64, . - startup_64

	.section .note.GNU-stack, "", @progbits
