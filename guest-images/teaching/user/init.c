// SPDX-License-Identifier: GPL-2.0
/*
 * user/init.c - /sbin/init, the one user-mode process (pid 1).
 *
 * Built as a static flat binary linked at 0x400000 and embedded in the
 * kernel image. Its work is fixed, so the number of system calls it makes
 * is the same on every run:
 *
 *   greeting, getpid, read /etc/motd and /proc/version, a failing open,
 *   a loop of 300 system calls, a burst of stack use (demand-faulted),
 *   a few ticks of pure computation (the timer preempts us), exit(0).
 */
#include "syscall.h"

#define LOOP_ITERATIONS	100	/* x 3 system calls */
#define SPIN_TICKS	2

/* Entry point: the kernel starts us here with an empty, 16-byte aligned stack. */
asm(".section .text.start, \"ax\"\n"
    ".globl _start\n"
    "_start:\n"
    "	xorl %ebp, %ebp\n"
    "	call main\n"
    "	movl %eax, %edi\n"
    "	movl $60, %eax\n"		/* exit(main()) */
    "	syscall\n"
    "	hlt\n"
    ".previous\n");

int main(void);

static unsigned long str_len(const char *s)
{
	unsigned long n = 0;

	while (s[n])
		n++;
	return n;
}

static void puts_fd(int fd, const char *s)
{
	write(fd, s, str_len(s));
}

/* Format "prefix<number>suffix" without a C library. */
static void put_num_line(const char *prefix, long v, const char *suffix)
{
	char buf[96], digits[24];
	unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
	int n = 0, d = 0;

	for (const char *p = prefix; *p && n < 40; p++)
		buf[n++] = *p;
	if (v < 0)
		buf[n++] = '-';
	do {
		digits[d++] = '0' + u % 10;
		u /= 10;
	} while (u);
	while (d)
		buf[n++] = digits[--d];
	for (const char *p = suffix; *p && n < 94; p++)
		buf[n++] = *p;
	write(1, buf, n);
}

static void cat(const char *path)
{
	char buf[128];
	long fd = open(path, O_RDONLY), n;

	if (fd < 0) {
		put_num_line("init: open failed: ", fd, "\n");
		return;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		write(1, buf, n);
	close(fd);
}

/* Touch 16 KiB of stack: four-plus pages the kernel maps on first touch. */
static unsigned long __attribute__((noinline)) stack_burst(void)
{
	volatile unsigned char big[16 * 1024];
	unsigned long sum = 0;

	for (unsigned long i = 0; i < sizeof(big); i += 256)
		big[i] = (unsigned char)(i / 256);
	for (unsigned long i = 0; i < sizeof(big); i += 256)
		sum += big[i];
	return sum;
}

int main(void)
{
	const volatile struct vdso_data *vvar = (const void *)VVAR_ADDR;
	unsigned long start, spins = 0;
	long pid, fd_zero, fd_null;
	char buf[64];

	puts_fd(1, "init: hello from user space\n");
	pid = getpid();
	put_num_line("init: getpid() = ", pid, "\n");

	cat("/etc/motd");
	cat("/proc/version");
	put_num_line("init: open(\"/etc/shadow\") = ", open("/etc/shadow", O_RDONLY), "\n");

	fd_zero = open("/dev/zero", O_RDONLY);
	fd_null = open("/dev/null", O_WRONLY);
	for (int i = 0; i < LOOP_ITERATIONS; i++) {
		getpid();
		read(fd_zero, buf, sizeof(buf));
		write(fd_null, buf, sizeof(buf));
	}
	close(fd_zero);
	close(fd_null);
	put_num_line("init: syscall loop done, ", LOOP_ITERATIONS * 3, " calls\n");

	put_num_line("init: stack burst checksum ", (long)stack_burst(), "\n");

	/* Compute until the clock has moved on a few ticks: the timer preempts us. */
	start = vvar->jiffies;
	while (vvar->jiffies - start < SPIN_TICKS)
		spins++;
	puts_fd(1, "init: spun for a few ticks, exiting\n");
	(void)spins;
	return 0;
}
