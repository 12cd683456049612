// SPDX-License-Identifier: GPL-2.0
/*
 * fs/open.c - open, close and file descriptor tables.
 *
 *   openat(dfd, filename, flags, mode)
 *     -> do_sys_openat2(dfd, filename, &how)
 *          strncpy_from_user  (getname)
 *          get_unused_fd      lowest free slot in current->files
 *          do_filp_open       path lookup (ramfs_lookup) + struct file
 *          fd_install
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/fs.h>
#include <linux/errno.h>
#include <linux/syscalls.h>
#include <asm/processor.h>

#define PATH_MAX 256

static struct kmem_cache *filp_cachep;
unsigned long nr_files_opened;

void vfs_caches_init(void)
{
	filp_cachep = kmem_cache_create("filp", sizeof(struct file));
}

noinline struct file *do_filp_open(const char *pathname, int flags)
{
	struct inode *inode = ramfs_lookup(pathname);
	struct file *f;

	if (!inode)
		return ERR_PTR(-ENOENT);
	f = kmem_cache_alloc(filp_cachep, __GFP_ZERO);
	if (!f)
		return ERR_PTR(-ENOMEM);
	f->f_inode = inode;
	f->f_op = inode->i_fop;
	f->f_flags = flags;
	f->f_mode = ((flags & O_ACCMODE) == O_RDONLY ? FMODE_READ :
		     (flags & O_ACCMODE) == O_WRONLY ? FMODE_WRITE : FMODE_READ | FMODE_WRITE);
	f->f_count = 1;
	nr_files_opened++;
	return f;
}

struct file *filp_open(const char *filename, int flags)
{
	return do_filp_open(filename, flags);
}

void fput(struct file *file)
{
	if (--file->f_count == 0)
		kmem_cache_free(filp_cachep, file);
}

/* Put file in the lowest free descriptor slot of the current task. */
int fd_install_new(struct file *file)
{
	struct files_struct *files = current->files;

	for (int fd = 0; fd < NR_OPEN_DEFAULT; fd++) {
		if (!files->fd_array[fd]) {
			files->fd_array[fd] = file;
			return fd;
		}
	}
	return -EMFILE;
}

struct file *fget(unsigned int fd)
{
	if (fd >= NR_OPEN_DEFAULT)
		return NULL;
	return current->files->fd_array[fd];
}

noinline long do_sys_openat2(int dfd, const char __user *filename, struct open_how *how)
{
	char name[PATH_MAX];
	struct file *f;
	long len;
	int fd;

	if (dfd != AT_FDCWD)
		return -EBADF;		/* we only know absolute paths */
	len = strncpy_from_user(name, filename, sizeof(name));
	if (len < 0)
		return len;
	if (len == sizeof(name))
		return -ENAMETOOLONG;

	f = do_filp_open(name, how->flags);
	if (IS_ERR(f))
		return PTR_ERR(f);
	fd = fd_install_new(f);
	if (fd < 0)
		fput(f);
	return fd;
}

long __x64_sys_openat(const struct pt_regs *regs)
{
	struct open_how how = { .flags = regs->dx, .mode = regs->r10 };

	return do_sys_openat2(regs->di, (const char __user *)regs->si, &how);
}

noinline int close_fd(unsigned int fd)
{
	struct file *f = fget(fd);

	if (!f)
		return -EBADF;
	current->files->fd_array[fd] = NULL;
	fput(f);
	return 0;
}

long __x64_sys_close(const struct pt_regs *regs)
{
	return close_fd(regs->di);
}

/* At exit: close everything. */
void exit_files(void)
{
	for (unsigned int fd = 0; fd < NR_OPEN_DEFAULT; fd++)
		if (current->files->fd_array[fd])
			close_fd(fd);
}
