/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_ERRNO_H
#define _LINUX_ERRNO_H

/* The few errno values we use, with Linux's numbers. */
#define EPERM		1
#define ENOENT		2
#define ESRCH		3
#define EINTR		4
#define EBADF		9
#define ENOMEM		12
#define EFAULT		14
#define EINVAL		22
#define EMFILE		24
#define ENAMETOOLONG	36
#define ENOSYS		38

#define MAX_ERRNO	4095
#define IS_ERR_VALUE(x)	((unsigned long)(x) >= (unsigned long)-MAX_ERRNO)

static inline void *ERR_PTR(long error) { return (void *)error; }
static inline long PTR_ERR(const void *ptr) { return (long)ptr; }
static inline bool IS_ERR(const void *ptr) { return IS_ERR_VALUE((unsigned long)ptr); }

#endif
