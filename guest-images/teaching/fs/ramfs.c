// SPDX-License-Identifier: GPL-2.0
/*
 * fs/ramfs.c - the whole file system: a table of inodes compiled into the
 * kernel, looked up by absolute path. Regular files are read-only strings;
 * the character devices are /dev/console, /dev/null and /dev/zero.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/fs.h>
#include <linux/errno.h>

void console_write_raw(const char *s, size_t n);

static const char motd[] =
	"Welcome to the bpflab teaching kernel.\n"
	"Attach a filter to dst_discard, kfree_skb or do_syscall_64 and watch.\n";

const char linux_banner[] =
	"Linux version " UTS_RELEASE " (bpflab@teaching) (gcc " __VERSION__ ") #1 PREEMPT\n";

static const char hostname[] = "bpflab\n";

/* Copy up to count bytes from a kernel buffer at *ppos to user space. */
ssize_t simple_read_from_buffer(void __user *to, size_t count, loff_t *ppos,
				const void *from, size_t available)
{
	loff_t pos = *ppos;
	size_t n;

	if (pos < 0)
		return -EINVAL;
	if ((size_t)pos >= available || !count)
		return 0;
	n = min(count, available - (size_t)pos);
	if (copy_to_user(to, (const char *)from + pos, n))
		return -EFAULT;
	*ppos = pos + n;
	return n;
}

static ssize_t ramfs_read(struct file *file, char __user *buf, size_t count, loff_t *pos)
{
	struct inode *inode = file->f_inode;

	return simple_read_from_buffer(buf, count, pos, inode->i_private, inode->i_size);
}

static const struct file_operations ramfs_file_operations = {
	.read = ramfs_read,
};

static ssize_t read_null(struct file *f, char __user *b, size_t c, loff_t *p)
{
	(void)f; (void)b; (void)c; (void)p;
	return 0;
}

static ssize_t write_null(struct file *f, const char __user *b, size_t c, loff_t *p)
{
	(void)f; (void)b; (void)p;
	return c;
}

static ssize_t read_zero(struct file *f, char __user *buf, size_t count, loff_t *p)
{
	static const char zeros[64];
	size_t done = 0;

	(void)f; (void)p;
	while (done < count) {
		size_t n = min(count - done, sizeof(zeros));

		if (copy_to_user(buf + done, zeros, n))
			return done ? (ssize_t)done : -EFAULT;
		done += n;
	}
	return done;
}

/* The console: writes go to the serial port, reads see end of file. */
static ssize_t console_write(struct file *f, const char __user *buf, size_t count, loff_t *p)
{
	char tmp[128];
	size_t done = 0;

	(void)f; (void)p;
	while (done < count) {
		size_t n = min(count - done, sizeof(tmp));

		if (copy_from_user(tmp, buf + done, n))
			return done ? (ssize_t)done : -EFAULT;
		console_write_raw(tmp, n);
		done += n;
	}
	return done;
}

static const struct file_operations null_fops = { .read = read_null, .write = write_null };
static const struct file_operations zero_fops = { .read = read_zero, .write = write_null };
static const struct file_operations console_fops = { .read = read_null, .write = console_write };

#define RAMFS_FILE(ino, path, text) \
	{ ino, S_IFREG | 0444, sizeof(text) - 1, path, &ramfs_file_operations, (void *)text }
#define CHRDEV(ino, path, fops) \
	{ ino, S_IFCHR | 0666, 0, path, &fops, NULL }

static struct inode inodes[] = {
	RAMFS_FILE(2, "/etc/motd", motd),
	RAMFS_FILE(3, "/etc/hostname", hostname),
	RAMFS_FILE(4, "/proc/version", linux_banner),
	CHRDEV(5, "/dev/console", console_fops),
	CHRDEV(6, "/dev/null", null_fops),
	CHRDEV(7, "/dev/zero", zero_fops),
};

struct inode *ramfs_lookup(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(inodes); i++)
		if (!strcmp(inodes[i].i_path, path))
			return &inodes[i];
	return NULL;
}
