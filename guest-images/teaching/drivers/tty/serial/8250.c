// SPDX-License-Identifier: GPL-2.0
/*
 * drivers/tty/serial/8250.c - the 16550A UART on COM1, polled.
 *
 * The console writes one byte at a time, waiting for the transmit holding
 * register to empty (LSR.THRE), exactly like Linux's early serial console.
 * We never enable the UART's interrupt (IRQ 4): output only.
 */
#include <linux/kernel.h>
#include <asm/io.h>

#define COM1_BASE	0x3f8
#define DEFAULT_BAUD	115200

/* Register offsets from the base port. */
#define UART_TX		0	/* out: transmit holding register */
#define UART_DLL	0	/* out, DLAB=1: divisor latch low */
#define UART_IER	1	/* interrupt enable */
#define UART_DLM	1	/* out, DLAB=1: divisor latch high */
#define UART_FCR	2	/* FIFO control */
#define UART_LCR	3	/* line control */
#define UART_MCR	4	/* modem control */
#define UART_LSR	5	/* line status */

#define UART_LCR_WLEN8	0x03	/* 8 data bits, no parity, 1 stop bit */
#define UART_LCR_DLAB	0x80	/* divisor latch access */
#define UART_MCR_DTR	0x01
#define UART_MCR_RTS	0x02
#define UART_LSR_THRE	0x20	/* transmit holding register empty */

static const unsigned short serial_port = COM1_BASE;

/* Same sequence as Linux's early_serial_init() (arch/x86/boot/early_serial_console.c). */
void serial8250_init(void)
{
	unsigned int divisor = 115200 / DEFAULT_BAUD;
	u8 lcr;

	outb(UART_LCR_WLEN8, serial_port + UART_LCR);
	outb(0, serial_port + UART_IER);		/* no interrupts */
	outb(0, serial_port + UART_FCR);		/* no FIFO */
	outb(UART_MCR_DTR | UART_MCR_RTS, serial_port + UART_MCR);

	lcr = inb(serial_port + UART_LCR);
	outb(lcr | UART_LCR_DLAB, serial_port + UART_LCR);
	outb(divisor & 0xff, serial_port + UART_DLL);
	outb((divisor >> 8) & 0xff, serial_port + UART_DLM);
	outb(lcr & ~UART_LCR_DLAB, serial_port + UART_LCR);
}

static void serial8250_putc(char c)
{
	unsigned int timeout = 0xffff;

	while (!(inb(serial_port + UART_LSR) & UART_LSR_THRE) && --timeout)
		;
	outb(c, serial_port + UART_TX);
}

/* Write a buffer to the console, turning "\n" into "\r\n" like a tty would. */
void serial8250_console_write(const char *s, size_t n)
{
	while (n--) {
		if (*s == '\n')
			serial8250_putc('\r');
		serial8250_putc(*s++);
	}
}
