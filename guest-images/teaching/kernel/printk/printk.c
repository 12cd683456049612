// SPDX-License-Identifier: GPL-2.0
/*
 * kernel/printk/printk.c - the kernel log.
 *
 * printk() formats a message, prefixes it with a timestamp taken from jiffies
 * (so it is deterministic under bpflab), appends it to the log buffer
 * __log_buf and writes it to the serial console. A leading KERN_<LEVEL>
 * marker is stripped; the level is kept only in log_levels[] statistics.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/jiffies.h>
#include <asm/processor.h>

void serial8250_console_write(const char *s, size_t n);

#define LOG_BUF_LEN	(16 * 1024)
char __log_buf[LOG_BUF_LEN];		/* ring buffer of everything printed */
unsigned long log_next_idx;		/* total bytes ever written */
unsigned long log_levels[8];
static bool at_line_start = true;

static void log_store(const char *s, size_t n)
{
	while (n--)
		__log_buf[log_next_idx++ % LOG_BUF_LEN] = *s++;
}

static void emit(const char *s, size_t n)
{
	log_store(s, n);
	serial8250_console_write(s, n);
}

noinline int vprintk(const char *fmt, va_list args)
{
	char text[512];
	char stamp[24];
	unsigned long flags;
	int level = 6, len;
	const char *p;

	if (fmt[0] == KERN_SOH[0] && fmt[1] >= '0' && fmt[1] <= '7') {
		level = fmt[1] - '0';
		fmt += 2;
	}
	len = vsnprintf(text, sizeof(text), fmt, args);
	if (len > (int)sizeof(text) - 1)
		len = sizeof(text) - 1;

	local_irq_save(flags);
	log_levels[level]++;
	/* Emit line by line so every line gets a timestamp. */
	for (p = text; p < text + len; ) {
		const char *nl = p;
		int n;

		while (nl < text + len && *nl != '\n')
			nl++;
		if (at_line_start) {
			unsigned long j = jiffies;

			n = snprintf(stamp, sizeof(stamp), "[%5lu.%06lu] ",
				     j / HZ, (j % HZ) * (1000000 / HZ));
			emit(stamp, n);
		}
		if (nl < text + len) {
			emit(p, nl - p + 1);	/* including the newline */
			at_line_start = true;
			p = nl + 1;
		} else {
			emit(p, nl - p);
			at_line_start = false;
			p = nl;
		}
	}
	local_irq_restore(flags);
	return len;
}

int printk(const char *fmt, ...)
{
	va_list args;
	int n;

	va_start(args, fmt);
	n = vprintk(fmt, args);
	va_end(args);
	return n;
}

/* Raw console output for user space (write(1, ...)): no timestamp, but logged. */
void console_write_raw(const char *s, size_t n)
{
	unsigned long flags;

	local_irq_save(flags);
	emit(s, n);
	if (n)
		at_line_start = s[n - 1] == '\n';
	local_irq_restore(flags);
}
