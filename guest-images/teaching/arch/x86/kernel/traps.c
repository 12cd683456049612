// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/kernel/traps.c - CPU exceptions.
 *
 * Every exception except #PF (arch/x86/mm/fault.c) ends up in
 * do_error_trap(): a fault in user mode kills the process, like a signal
 * would; a fault in the kernel prints an oops in Linux's format and panics.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <asm/ptrace.h>
#include <asm/processor.h>
#include <asm/irq_vectors.h>

#define SIGILL	4
#define SIGTRAP	5
#define SIGBUS	7
#define SIGFPE	8
#define SIGSEGV	11

static int die_counter;

void show_regs(const struct pt_regs *regs)
{
	printk("RIP: %04lx:%016lx\n", regs->cs & 0xffff, regs->ip);
	printk("RSP: %04lx:%016lx EFLAGS: %08lx ORIG_RAX: %016lx\n",
	       regs->ss & 0xffff, regs->sp, regs->flags, regs->orig_ax);
	printk("RAX: %016lx RBX: %016lx RCX: %016lx\n", regs->ax, regs->bx, regs->cx);
	printk("RDX: %016lx RSI: %016lx RDI: %016lx\n", regs->dx, regs->si, regs->di);
	printk("RBP: %016lx R08: %016lx R09: %016lx\n", regs->bp, regs->r8, regs->r9);
	printk("R10: %016lx R11: %016lx R12: %016lx\n", regs->r10, regs->r11, regs->r12);
	printk("R13: %016lx R14: %016lx R15: %016lx\n", regs->r13, regs->r14, regs->r15);
	printk("CR2: %016lx CR3: %016lx CR4: %016lx\n", read_cr2(), __read_cr3(), read_cr4());
}

/* Walk the frame-pointer chain: each frame is [saved rbp][return address]. */
static void show_trace(unsigned long bp)
{
	unsigned long lo = (unsigned long)current->stack;
	unsigned long hi = lo + THREAD_SIZE;

	printk("Call Trace:\n");
	for (int depth = 0; depth < 16; depth++) {
		unsigned long *frame = (unsigned long *)bp;

		if (bp < lo || bp + 16 > hi || (bp & 7))
			break;
		printk(" [<%016lx>]\n", frame[1]);
		bp = frame[0];
	}
}

void die(const char *str, struct pt_regs *regs, unsigned long err)
{
	printk(KERN_EMERG "%s: %04lx [#%d] PREEMPT NOPTI\n", str, err & 0xffff, ++die_counter);
	printk(KERN_EMERG "CPU: 0 PID: %d Comm: %s Not tainted " UTS_RELEASE "\n",
	       current->pid, current->comm);
	show_regs(regs);
	if (!user_mode(regs))
		show_trace(regs->bp);
	panic("Fatal exception");
}

/* A user process did something illegal: report and kill it. */
static void force_sig_fault(int sig, const char *str, struct pt_regs *regs, unsigned long err)
{
	printk(KERN_INFO "traps: %s[%d] %s ip:%lx sp:%lx error:%lx\n",
	       current->comm, current->pid, str, regs->ip, regs->sp, err);
	local_irq_enable();
	do_exit(128 + sig);
}

static void do_error_trap(struct pt_regs *regs, unsigned long error_code,
			  const char *str, unsigned long trapnr, int signr)
{
	current->thread.trap_nr = trapnr;
	current->thread.error_code = error_code;
	if (user_mode(regs))
		force_sig_fault(signr, str, regs, error_code);
	printk(KERN_EMERG "traps: %s (vector %lu) in kernel mode\n", str, trapnr);
	die(str, regs, error_code);
}

#define DEFINE_IDTENTRY(func, trapnr, signr, str)				\
	void func(struct pt_regs *regs, unsigned long error_code);		\
	void func(struct pt_regs *regs, unsigned long error_code)		\
	{									\
		do_error_trap(regs, error_code, str, trapnr, signr);		\
	}

DEFINE_IDTENTRY(exc_divide_error,	    X86_TRAP_DE,  SIGFPE,  "divide error")
DEFINE_IDTENTRY(exc_debug,		    X86_TRAP_DB,  SIGTRAP, "debug")
DEFINE_IDTENTRY(exc_nmi,		    X86_TRAP_NMI, SIGSEGV, "NMI")
DEFINE_IDTENTRY(exc_int3,		    X86_TRAP_BP,  SIGTRAP, "int3")
DEFINE_IDTENTRY(exc_overflow,		    X86_TRAP_OF,  SIGSEGV, "overflow")
DEFINE_IDTENTRY(exc_bounds,		    X86_TRAP_BR,  SIGSEGV, "bounds")
DEFINE_IDTENTRY(exc_invalid_op,		    X86_TRAP_UD,  SIGILL,  "invalid opcode")
DEFINE_IDTENTRY(exc_device_not_available,   X86_TRAP_NM,  SIGSEGV, "device not available")
DEFINE_IDTENTRY(exc_double_fault,	    X86_TRAP_DF,  SIGSEGV, "double fault")
DEFINE_IDTENTRY(exc_coproc_segment_overrun, X86_TRAP_OLD_MF, SIGFPE, "coprocessor segment overrun")
DEFINE_IDTENTRY(exc_invalid_tss,	    X86_TRAP_TS,  SIGSEGV, "invalid TSS")
DEFINE_IDTENTRY(exc_segment_not_present,    X86_TRAP_NP,  SIGBUS,  "segment not present")
DEFINE_IDTENTRY(exc_stack_segment,	    X86_TRAP_SS,  SIGBUS,  "stack segment")
DEFINE_IDTENTRY(exc_general_protection,	    X86_TRAP_GP,  SIGSEGV, "general protection fault")
DEFINE_IDTENTRY(exc_spurious,		    X86_TRAP_SPURIOUS, SIGSEGV, "spurious interrupt bug")
DEFINE_IDTENTRY(exc_coprocessor_error,	    X86_TRAP_MF,  SIGFPE,  "coprocessor error")
DEFINE_IDTENTRY(exc_alignment_check,	    X86_TRAP_AC,  SIGBUS,  "alignment check")
DEFINE_IDTENTRY(exc_machine_check,	    X86_TRAP_MC,  SIGBUS,  "machine check")
DEFINE_IDTENTRY(exc_simd_coprocessor_error, X86_TRAP_XF,  SIGFPE,  "SIMD coprocessor error")
DEFINE_IDTENTRY(exc_virtualization,	    X86_TRAP_VE,  SIGSEGV, "virtualization exception")
DEFINE_IDTENTRY(exc_control_protection,	    X86_TRAP_CP,  SIGSEGV, "control protection")
DEFINE_IDTENTRY(exc_vmm_communication,	    29,		  SIGSEGV, "VMM communication")
DEFINE_IDTENTRY(exc_security,		    30,		  SIGSEGV, "security exception")
DEFINE_IDTENTRY(exc_reserved,		    31,		  SIGSEGV, "reserved exception")
