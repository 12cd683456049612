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

/*
 * Before calling C from an interrupt or exception: RDI = struct pt_regs *,
 * RBX = the same (to restore RSP afterwards), and RBP set up so that a
 * frame-pointer unwinder walks from the handler into the interrupted code:
 * a fake frame {saved rbp, return address} = {interrupted RBP, interrupted
 * RIP}. Coming from user mode the chain ends here instead (RBP = 0).
 */
.macro ENTRY_FRAME
	movq	%rsp, %rdi
	movq	%rsp, %rbx
	testb	$3, PTREGS_CS(%rsp)
	jz	.Lkernel_frame_\@
	xorl	%ebp, %ebp
	jmp	.Lframe_done_\@
.Lkernel_frame_\@:
	pushq	PTREGS_IP(%rdi)
	pushq	%rbp
	movq	%rsp, %rbp
.Lframe_done_\@:
.endm
