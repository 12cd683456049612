// Which files does the guest open? do_sys_openat2()'s file name is a user-space pointer
// (bpf_probe_read_user_str); the task's pid and comm are read through CO-RE
// (BPF_CORE_READ on task_struct, relocated against the guest's DWARF when loaded).
//   bpflab trace --attach examples/openat_files.bpf.c
#include "vmlinux.h"
#include "bpflab.h"

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(on_open, int dfd, const char *filename)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	char path[64] = {};
	int pid = BPF_CORE_READ(task, pid);

	bpf_probe_read_user_str(path, sizeof(path), filename);
	bpf_printk("pid %d opens %s", pid, path);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
