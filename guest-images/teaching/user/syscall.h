/* SPDX-License-Identifier: GPL-2.0 */
/*
 * user/syscall.h - raw x86-64 system calls for the init program.
 *
 * The Linux convention: number in rax, arguments in rdi, rsi, rdx, r10,
 * r8, r9; the kernel returns in rax (negative errno on failure). The
 * syscall instruction itself clobbers rcx (return address) and r11 (flags).
 */
#ifndef _USER_SYSCALL_H
#define _USER_SYSCALL_H

#define __NR_read	0
#define __NR_write	1
#define __NR_close	3
#define __NR_getpid	39
#define __NR_exit	60
#define __NR_openat	257

#define AT_FDCWD	(-100)
#define O_RDONLY	0
#define O_WRONLY	1

static inline long syscall1(long n, long a)
{
	long ret;

	asm volatile("syscall" : "=a"(ret) : "a"(n), "D"(a) : "rcx", "r11", "memory");
	return ret;
}

static inline long syscall3(long n, long a, long b, long c)
{
	long ret;

	asm volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c)
		     : "rcx", "r11", "memory");
	return ret;
}

static inline long syscall4(long n, long a, long b, long c, long d)
{
	register long r10 asm("r10") = d;
	long ret;

	asm volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
		     : "rcx", "r11", "memory");
	return ret;
}

static inline long read(int fd, void *buf, unsigned long n) { return syscall3(__NR_read, fd, (long)buf, n); }
static inline long write(int fd, const void *buf, unsigned long n) { return syscall3(__NR_write, fd, (long)buf, n); }
static inline long close(int fd) { return syscall1(__NR_close, fd); }
static inline long getpid(void) { return syscall1(__NR_getpid, 0); }
static inline long open(const char *path, int flags)
{
	return syscall4(__NR_openat, AT_FDCWD, (long)path, flags, 0);
}
static inline void __attribute__((noreturn)) exit(int code)
{
	syscall1(__NR_exit, code);
	for (;;)
		;
}

/* The vvar page the kernel maps read-only at this address. */
struct vdso_data {
	unsigned long jiffies;
	unsigned int hz;
};
#define VVAR_ADDR	0x7fffff000000UL

#endif
