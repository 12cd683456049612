/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_COMPILER_H
#define _LINUX_COMPILER_H

/*
 * Every function a tracing filter may want to attach to is marked noinline,
 * so it exists exactly once, at an address the symbol table names, and takes
 * its arguments in the SysV registers (rdi, rsi, rdx, rcx, r8, r9). Unlike
 * Linux we also forbid cloning: gcc's interprocedural optimisations would
 * otherwise emit e.g. "context_switch.constprop.0.isra.0" with a changed
 * argument list, and the name users type would not exist.
 */
#define noinline	__attribute__((noinline, noclone))
#define __always_inline	inline __attribute__((always_inline))
#define __noreturn	__attribute__((noreturn))
#define __packed	__attribute__((packed))
#define __aligned(x)	__attribute__((aligned(x)))
#define __section(s)	__attribute__((section(s)))
#define __used		__attribute__((used))
#define __maybe_unused	__attribute__((unused))
#define __printf(a, b)	__attribute__((format(printf, a, b)))

/* Annotations that mean something to Linux's sparse checker; here only documentation. */
#define __user
#define __init
#define __initdata

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define barrier()	__asm__ __volatile__("" : : : "memory")

#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, val)	(*(volatile __typeof__(x) *)&(x) = (val))

#define BUILD_BUG_ON(cond)	_Static_assert(!(cond), "BUILD_BUG_ON: " #cond)

#endif
