// SPDX-License-Identifier: GPL-2.0
/*
 * fs/read_write.c - read(2) and write(2).
 *
 *   read(fd, buf, count) -> ksys_read -> vfs_read(file, buf, count, &pos)
 *                                          -> file->f_op->read(...)
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/fs.h>
#include <linux/errno.h>
#include <linux/syscalls.h>

#define MAX_RW_COUNT	(0x7ffff000UL)

noinline ssize_t vfs_read(struct file *file, char __user *buf, size_t count, loff_t *pos)
{
	if (!(file->f_mode & FMODE_READ))
		return -EBADF;
	if (!file->f_op->read)
		return -EINVAL;
	if (count > MAX_RW_COUNT)
		count = MAX_RW_COUNT;
	return file->f_op->read(file, buf, count, pos);
}

noinline ssize_t vfs_write(struct file *file, const char __user *buf, size_t count, loff_t *pos)
{
	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if (!file->f_op->write)
		return -EINVAL;
	if (count > MAX_RW_COUNT)
		count = MAX_RW_COUNT;
	return file->f_op->write(file, buf, count, pos);
}

noinline ssize_t ksys_read(unsigned int fd, char __user *buf, size_t count)
{
	struct file *f = fget(fd);

	if (!f)
		return -EBADF;
	return vfs_read(f, buf, count, &f->f_pos);
}

noinline ssize_t ksys_write(unsigned int fd, const char __user *buf, size_t count)
{
	struct file *f = fget(fd);

	if (!f)
		return -EBADF;
	return vfs_write(f, buf, count, &f->f_pos);
}

long __x64_sys_read(const struct pt_regs *regs)
{
	return ksys_read(regs->di, (char __user *)regs->si, regs->dx);
}

long __x64_sys_write(const struct pt_regs *regs)
{
	return ksys_write(regs->di, (const char __user *)regs->si, regs->dx);
}
