/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_FS_H
#define _LINUX_FS_H

#include <linux/types.h>

/*
 * A tiny VFS: a fixed table of inodes (fs/ramfs.c) looked up by full path,
 * files opened on them, and per-process file descriptor tables.
 */
struct file;

struct file_operations {
	ssize_t (*read)(struct file *file, char __user *buf, size_t count, loff_t *pos);
	ssize_t (*write)(struct file *file, const char __user *buf, size_t count, loff_t *pos);
};

struct inode {
	unsigned long i_ino;
	unsigned short i_mode;
	loff_t i_size;
	const char *i_path;		/* the one name this inode has */
	const struct file_operations *i_fop;
	void *i_private;		/* file contents for ramfs */
};

struct file {
	struct inode *f_inode;
	const struct file_operations *f_op;
	unsigned int f_flags;
	unsigned int f_mode;
	loff_t f_pos;
	long f_count;
};

#define FMODE_READ	0x1
#define FMODE_WRITE	0x2

#define O_RDONLY	00
#define O_WRONLY	01
#define O_RDWR		02
#define O_ACCMODE	03
#define AT_FDCWD	(-100)

#define S_IFREG		0100000
#define S_IFCHR		0020000

struct open_how {
	u64 flags;
	u64 mode;
	u64 resolve;
};

#define NR_OPEN_DEFAULT 16
struct files_struct {
	struct file *fd_array[NR_OPEN_DEFAULT];
};

struct inode *ramfs_lookup(const char *path);
ssize_t simple_read_from_buffer(void __user *to, size_t count, loff_t *ppos,
				const void *from, size_t available);

long do_sys_openat2(int dfd, const char __user *filename, struct open_how *how);
ssize_t vfs_read(struct file *file, char __user *buf, size_t count, loff_t *pos);
ssize_t vfs_write(struct file *file, const char __user *buf, size_t count, loff_t *pos);
ssize_t ksys_read(unsigned int fd, char __user *buf, size_t count);
ssize_t ksys_write(unsigned int fd, const char __user *buf, size_t count);
int close_fd(unsigned int fd);
struct file *fget(unsigned int fd);
struct file *filp_open(const char *filename, int flags);
void fput(struct file *file);
int fd_install_new(struct file *file);
void exit_files(void);
void vfs_caches_init(void);

unsigned long copy_from_user(void *to, const void __user *from, unsigned long n);
unsigned long copy_to_user(void __user *to, const void *from, unsigned long n);
long strncpy_from_user(char *dst, const char __user *src, long count);

#endif
