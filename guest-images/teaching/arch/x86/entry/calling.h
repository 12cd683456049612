/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arch/x86/entry/calling.h - build and tear down struct pt_regs.
 *
 * On entry the CPU (or entry_SYSCALL_64) has pushed ss, sp, flags, cs, ip,
 * and the entry code has pushed orig_ax. PUSH_REGS adds the general purpose
 * registers so that %rsp then points at a complete struct pt_regs.
 */
.macro PUSH_REGS rax=%rax
	pushq	%rdi
	pushq	%rsi
	pushq	%rdx
	pushq	%rcx
	pushq	\rax
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%rbx
	pushq	%rbp
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
.endm

.macro POP_REGS
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbp
	popq	%rbx
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rax
	popq	%rcx
	popq	%rdx
	popq	%rsi
	popq	%rdi
.endm
