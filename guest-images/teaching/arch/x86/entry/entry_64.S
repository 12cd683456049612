/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arch/x86/entry/entry_64.S - every way into and out of the kernel.
 *
 *  entry_SYSCALL_64	the `syscall` instruction from user space
 *  asm_exc_*		CPU exceptions 0-31 (IDT), each calls its exc_*() in C
 *  irq_entries_start	external interrupts 0x30-0x3f, call common_interrupt()
 *  __switch_to_asm	switch kernel stacks between two tasks
 *  ret_from_fork	where a new task starts running
 *
 * This kernel does not use swapgs: there is one CPU, so per-CPU data is
 * plain global data (cpu_tss_rw, current_task).
 */
#include <asm/segment.h>
#include <generated/asm-offsets.h>
#include "calling.h"

#define ENOSYS 38

	.text

/*
 * entry_SYSCALL_64 - 64-bit system call entry.
 *
 * The CPU has loaded CS/SS from MSR_STAR, RIP from MSR_LSTAR, saved the user
 * RIP in RCX and RFLAGS in R11, and cleared the RFLAGS bits in
 * MSR_SYSCALL_MASK (so interrupts are off). RSP is still the user stack.
 *
 * Registers on entry:  rax system call number, rdi rsi rdx r10 r8 r9 args.
 * Only called from user space.
 */
	.globl	entry_SYSCALL_64
	.type	entry_SYSCALL_64, @function
entry_SYSCALL_64:
	/* Switch to this task's kernel stack, parking the user RSP in the TSS's
	 * unused sp2 slot (Linux does the same, per CPU). */
	movq	%rsp, cpu_tss_rw + TSS_sp2(%rip)
	movq	cpu_tss_rw + TSS_sp0(%rip), %rsp

	/* Build the same frame an interrupt from user space would have. */
	pushq	$__USER_DS			/* pt_regs->ss */
	pushq	cpu_tss_rw + TSS_sp2(%rip)	/* pt_regs->sp */
	pushq	%r11				/* pt_regs->flags */
	pushq	$__USER_CS			/* pt_regs->cs */
	pushq	%rcx				/* pt_regs->ip */
	pushq	%rax				/* pt_regs->orig_ax */
	PUSH_REGS rax=$-ENOSYS

	/* do_syscall_64(regs, nr); the frame-pointer chain ends here. */
	xorl	%ebp, %ebp
	movq	%rsp, %rdi
	movslq	%eax, %rsi
	call	do_syscall_64

	/* Back to user space with SYSRET: it wants RIP in RCX and RFLAGS in R11.
	 * (do_syscall_64 returns with interrupts off.) */
	movq	PTREGS_IP(%rsp), %rcx
	movq	%rcx, PTREGS_CX(%rsp)
	movq	PTREGS_FLAGS(%rsp), %r11
	movq	%r11, PTREGS_R11(%rsp)
	POP_REGS
	movq	PTREGS_SP - PTREGS_ORIG_AX(%rsp), %rsp	/* user stack */
	sysretq
	.size	entry_SYSCALL_64, . - entry_SYSCALL_64

/*
 * Exception entry stubs. Exceptions that don't push an error code get a 0
 * so that every frame looks the same; the C handler gets (regs, error_code).
 */
.macro idtentry vector asmsym cfunc has_error_code
	.globl	\asmsym
	.type	\asmsym, @function
\asmsym:
	.if \has_error_code == 0
	pushq	$0
	.endif
	PUSH_REGS
	movq	PTREGS_ORIG_AX(%rsp), %rsi	/* error code */
	movq	$-1, PTREGS_ORIG_AX(%rsp)	/* not a system call */
	ENTRY_FRAME				/* rdi = struct pt_regs * */
	call	\cfunc
	movq	%rbx, %rsp
	jmp	restore_regs_and_return
	.size	\asmsym, . - \asmsym
.endm

	idtentry  0 asm_exc_divide_error		exc_divide_error		0
	idtentry  1 asm_exc_debug			exc_debug			0
	idtentry  2 asm_exc_nmi				exc_nmi				0
	idtentry  3 asm_exc_int3			exc_int3			0
	idtentry  4 asm_exc_overflow			exc_overflow			0
	idtentry  5 asm_exc_bounds			exc_bounds			0
	idtentry  6 asm_exc_invalid_op			exc_invalid_op			0
	idtentry  7 asm_exc_device_not_available	exc_device_not_available	0
	idtentry  8 asm_exc_double_fault		exc_double_fault		1
	idtentry  9 asm_exc_coproc_segment_overrun	exc_coproc_segment_overrun	0
	idtentry 10 asm_exc_invalid_tss			exc_invalid_tss			1
	idtentry 11 asm_exc_segment_not_present		exc_segment_not_present		1
	idtentry 12 asm_exc_stack_segment		exc_stack_segment		1
	idtentry 13 asm_exc_general_protection		exc_general_protection		1
	idtentry 14 asm_exc_page_fault			exc_page_fault			1
	idtentry 15 asm_exc_spurious			exc_spurious			0
	idtentry 16 asm_exc_coprocessor_error		exc_coprocessor_error		0
	idtentry 17 asm_exc_alignment_check		exc_alignment_check		1
	idtentry 18 asm_exc_machine_check		exc_machine_check		0
	idtentry 19 asm_exc_simd_coprocessor_error	exc_simd_coprocessor_error	0
	idtentry 20 asm_exc_virtualization		exc_virtualization		0
	idtentry 21 asm_exc_control_protection		exc_control_protection		1
	idtentry 22 asm_exc_reserved22			exc_reserved			0
	idtentry 23 asm_exc_reserved23			exc_reserved			0
	idtentry 24 asm_exc_reserved24			exc_reserved			0
	idtentry 25 asm_exc_reserved25			exc_reserved			0
	idtentry 26 asm_exc_reserved26			exc_reserved			0
	idtentry 27 asm_exc_reserved27			exc_reserved			0
	idtentry 28 asm_exc_hypervisor_injection	exc_reserved			0
	idtentry 29 asm_exc_vmm_communication		exc_vmm_communication		1
	idtentry 30 asm_exc_security			exc_security			1
	idtentry 31 asm_exc_reserved31			exc_reserved			0

/* The table idt.c walks to fill IDT entries 0-31, in vector order. */
	.section .rodata
	.balign	8
	.globl	exception_entries
exception_entries:
	.quad	asm_exc_divide_error, asm_exc_debug, asm_exc_nmi, asm_exc_int3
	.quad	asm_exc_overflow, asm_exc_bounds, asm_exc_invalid_op, asm_exc_device_not_available
	.quad	asm_exc_double_fault, asm_exc_coproc_segment_overrun, asm_exc_invalid_tss, asm_exc_segment_not_present
	.quad	asm_exc_stack_segment, asm_exc_general_protection, asm_exc_page_fault, asm_exc_spurious
	.quad	asm_exc_coprocessor_error, asm_exc_alignment_check, asm_exc_machine_check, asm_exc_simd_coprocessor_error
	.quad	asm_exc_virtualization, asm_exc_control_protection, asm_exc_reserved22, asm_exc_reserved23
	.quad	asm_exc_reserved24, asm_exc_reserved25, asm_exc_reserved26, asm_exc_reserved27
	.quad	asm_exc_hypervisor_injection, asm_exc_vmm_communication, asm_exc_security, asm_exc_reserved31
	.text

/*
 * External interrupts: 16 stubs of 8 bytes each (push imm8 is 2 bytes, jmp
 * rel32 is 5, plus padding), for vectors 0x30-0x3f. Each pushes its vector
 * into the orig_ax slot and joins the common path.
 */
	.balign	8
	.globl	irq_entries_start
irq_entries_start:
	.set	vector, 0x30
	.rept	16
	.balign	8
	pushq	$vector
	jmp	asm_common_interrupt
	.set	vector, vector + 1
	.endr

	.type	asm_common_interrupt, @function
asm_common_interrupt:
	PUSH_REGS
	movq	PTREGS_ORIG_AX(%rsp), %rsi	/* vector */
	movq	$-1, PTREGS_ORIG_AX(%rsp)
	ENTRY_FRAME				/* rdi = struct pt_regs * */
	call	common_interrupt
	movq	%rbx, %rsp
	/* fall through */

/* Common exit for interrupts and exceptions, to kernel or user mode. */
	.globl	restore_regs_and_return
restore_regs_and_return:
	POP_REGS
	addq	$8, %rsp			/* skip orig_ax */
	iretq
	.size	asm_common_interrupt, . - asm_common_interrupt

/*
 * __switch_to_asm(prev, next): save prev's callee-saved registers on its
 * stack, remember that stack in prev->thread.sp, load next's, restore next's
 * registers, and tail-call __switch_to(prev, next) in C. When that returns,
 * the `ret` pops the return address from *next's* stack: either back into
 * context_switch() where next once called us, or ret_from_fork for a new task.
 * The saved layout is struct inactive_task_frame (process_64.c).
 */
	.globl	__switch_to_asm
	.type	__switch_to_asm, @function
__switch_to_asm:
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15

	movq	%rsp, TASK_threadsp(%rdi)
	movq	TASK_threadsp(%rsi), %rsp

	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	jmp	__switch_to
	.size	__switch_to_asm, . - __switch_to_asm

/*
 * ret_from_fork - first instructions of every new task. RAX is prev (the
 * return value of __switch_to). For a kernel thread RBX holds the function
 * and R12 its argument (set by copy_thread). If the function returns, the
 * task has become a user process (kernel_execve filled pt_regs): leave for
 * user space through the pt_regs at the top of the stack.
 */
	.globl	ret_from_fork
	.type	ret_from_fork, @function
ret_from_fork:
	movq	%rax, %rdi
	call	schedule_tail			/* finish the switch, enable interrupts */
	testq	%rbx, %rbx
	jz	1f
	movq	%r12, %rdi
	call	*%rbx				/* the kernel thread's function */
	movq	$0, PTREGS_AX(%rsp)		/* a successful execve returns 0 */
1:	cli
	jmp	restore_regs_and_return
	.size	ret_from_fork, . - ret_from_fork

	.section .note.GNU-stack, "", @progbits
