/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_X86_SEGMENT_H
#define _ASM_X86_SEGMENT_H

/*
 * GDT layout, the same as Linux x86-64 (arch/x86/include/asm/segment.h):
 *
 *   0  null
 *   1  kernel 32-bit code   0x08
 *   2  kernel 64-bit code   0x10  __KERNEL_CS
 *   3  kernel data          0x18  __KERNEL_DS
 *   4  user 32-bit code     0x23  __USER32_CS
 *   5  user data            0x2b  __USER_DS
 *   6  user 64-bit code     0x33  __USER_CS
 *   8  TSS (16 bytes: entries 8 and 9)
 *
 * The order of 4, 5, 6 is dictated by SYSRET: it loads CS from STAR[63:48]+16
 * and SS from STAR[63:48]+8, so user data must sit between 32- and 64-bit code.
 */
#define GDT_ENTRY_KERNEL32_CS		1
#define GDT_ENTRY_KERNEL_CS		2
#define GDT_ENTRY_KERNEL_DS		3
#define GDT_ENTRY_DEFAULT_USER32_CS	4
#define GDT_ENTRY_DEFAULT_USER_DS	5
#define GDT_ENTRY_DEFAULT_USER_CS	6
#define GDT_ENTRY_TSS			8
#define GDT_ENTRIES			16

#define __KERNEL32_CS	(GDT_ENTRY_KERNEL32_CS * 8)
#define __KERNEL_CS	(GDT_ENTRY_KERNEL_CS * 8)
#define __KERNEL_DS	(GDT_ENTRY_KERNEL_DS * 8)
#define __USER32_CS	(GDT_ENTRY_DEFAULT_USER32_CS * 8 + 3)
#define __USER_DS	(GDT_ENTRY_DEFAULT_USER_DS * 8 + 3)
#define __USER_CS	(GDT_ENTRY_DEFAULT_USER_CS * 8 + 3)
#define GDT_ENTRY_TSS_SEL (GDT_ENTRY_TSS * 8)

#endif
