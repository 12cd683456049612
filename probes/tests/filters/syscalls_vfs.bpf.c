// syscalls:sys_enter_openat (the record's filename pointer), ksyscall on openat (the
// wrapper's pt_regs), and fentry/fexit on vfs_read (arguments and the return value).
#include "bpflab.h"

struct sys_enter_record {
	unsigned long long regs;
	long id;
	unsigned long args[6];
};

struct sys_exit_record {
	unsigned long long regs;
	long id;
	long ret;
};

SEC("tracepoint/syscalls/sys_enter_openat")
int enter_openat(struct sys_enter_record *ctx)
{
	char name[64];
	bpf_probe_read_user_str(name, sizeof(name), (const char *)ctx->args[1]);
	bpf_printk("open %ld %s", ctx->id, name);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat(struct sys_exit_record *ctx)
{
	bpf_printk("opened %ld %ld", ctx->id, ctx->ret);
	return 0;
}

struct pt_regs___x64 {
	unsigned long si;
} __attribute__((preserve_access_index));

SEC("ksyscall/openat")
int ks_openat(struct pt_regs *ctx)
{
	// The wrapper's argument is the syscall's own pt_regs (libbpf's BPF_KSYSCALL reads
	// the arguments from there); the file name is its second argument (si).
	struct pt_regs___x64 *regs = (void *)PT_REGS_PARM1(ctx);
	char name[64];
	unsigned long p = BPF_CORE_READ(regs, si);
	bpf_probe_read_user_str(name, sizeof(name), (const char *)p);
	bpf_printk("ksys %s", name);
	return 0;
}

SEC("fentry/vfs_read")
int fentry_read(unsigned long long *ctx)
{
	bpf_printk("read %lu", ctx[2]);
	return 0;
}

SEC("fexit/vfs_read")
int fexit_read(unsigned long long *ctx)
{
	bpf_printk("read %lu -> %ld", ctx[2], (long)ctx[4]);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
