// SPDX-License-Identifier: GPL-2.0
/*
 * arch/x86/lib/usercopy.c - copying to and from user space.
 *
 * User memory is mapped in the current page tables, so a copy is a memcpy
 * after checking that the range lies below TASK_SIZE_MAX (access_ok). A
 * not-yet-populated page faults and is filled in by the #PF handler. There
 * are no exception tables: an unmapped user pointer would oops the kernel,
 * so the checks also reject ranges outside the process's regions.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/sched.h>
#include <linux/fs.h>

static bool access_ok(const void __user *ptr, unsigned long n, bool write)
{
	unsigned long addr = (unsigned long)ptr;
	struct vm_area_struct *vma;

	if (addr + n < addr || addr + n > TASK_SIZE_MAX || !current->mm)
		return false;
	vma = find_vma(current->mm, addr);
	return vma && addr + n <= vma->vm_end && (!write || (vma->vm_flags & VM_WRITE));
}

noinline unsigned long copy_from_user(void *to, const void __user *from, unsigned long n)
{
	if (!access_ok(from, n, false))
		return n;
	memcpy(to, (const void *)from, n);
	return 0;
}

noinline unsigned long copy_to_user(void __user *to, const void *from, unsigned long n)
{
	if (!access_ok(to, n, true))
		return n;
	memcpy((void *)to, from, n);
	return 0;
}

/* Copy a NUL-terminated string of at most count bytes; returns its length. */
long strncpy_from_user(char *dst, const char __user *src, long count)
{
	for (long i = 0; i < count; i++) {
		if (!access_ok(src + i, 1, false))
			return -14;	/* -EFAULT */
		dst[i] = ((const char *)src)[i];
		if (!dst[i])
			return i;
	}
	return count;
}
