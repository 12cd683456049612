/* SPDX-License-Identifier: GPL-2.0 */
/*
 * user/init_blob.S - the flat /sbin/init binary, inside the kernel image
 * (like Linux's usr/initramfs_data.S). INIT_BIN is set by the Makefile.
 */
	.section .rodata, "a"
	.balign	4096
	.globl	_binary_init_start
_binary_init_start:
	.incbin	INIT_BIN
	.globl	_binary_init_end
_binary_init_end:

	.section .note.GNU-stack, "", @progbits
