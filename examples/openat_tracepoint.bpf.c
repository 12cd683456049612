// The file names the guest opens, from the syscalls:sys_enter_openat tracepoint (BCC's
// opensnoop reads the same record), and what each open returned.
//   bpflab trace --image linux --attach examples/openat_tracepoint.bpf.c
#include "vmlinux.h"
#include "bpflab.h"

SEC("tracepoint/syscalls/sys_enter_openat")
int enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	char name[64];

	bpf_probe_read_user_str(name, sizeof(name), (const char *)ctx->args[1]);
	bpf_printk("openat %s flags %lx", name, ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	bpf_printk("openat returned %ld", ctx->ret);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
