/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_TYPES_H
#define _LINUX_TYPES_H

/* Fixed-size integers, spelled the way Linux spells them (asm-generic/int-ll64.h). */
typedef signed char		s8;
typedef unsigned char		u8;
typedef signed short		s16;
typedef unsigned short		u16;
typedef signed int		s32;
typedef unsigned int		u32;
typedef signed long long	s64;
typedef unsigned long long	u64;

typedef u8  __u8;
typedef u16 __u16;
typedef u32 __u32;
typedef u64 __u64;

/* Network byte order ("big endian") types: only a naming convention for us. */
typedef u16 __be16;
typedef u32 __be32;
typedef u16 __sum16;

typedef unsigned long	size_t;
typedef long		ssize_t;
typedef long long	loff_t;
typedef int		pid_t;
typedef unsigned int	gfp_t;
typedef unsigned long	uintptr_t;
typedef s64		ktime_t;

typedef _Bool bool;
#define true	1
#define false	0
#define NULL	((void *)0)

typedef struct {
	int counter;
} atomic_t;

typedef struct {
	atomic_t refs;
} refcount_t;

#endif
