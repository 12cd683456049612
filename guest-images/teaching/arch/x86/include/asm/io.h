/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_IO_H
#define _ASM_X86_IO_H

#include <linux/types.h>

/* Port I/O. The platform has only a handful of ports; see README.md. */
static inline void outb(u8 value, u16 port)
{
	asm volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline u8 inb(u16 port)
{
	u8 value;

	asm volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

static inline void outl(u32 value, u16 port)
{
	asm volatile("outl %0, %1" : : "a"(value), "Nd"(port));
}

/*
 * Like Linux, slow down back-to-back accesses to old ISA chips (the PIC)
 * by writing to the POST diagnostic port 0x80.
 */
static inline void native_io_delay(void)
{
	asm volatile("outb %%al, $0x80" : : : "memory");
}

static inline void outb_p(u8 value, u16 port)
{
	outb(value, port);
	native_io_delay();
}

static inline u8 inb_p(u16 port)
{
	u8 value = inb(port);

	native_io_delay();
	return value;
}

#endif
