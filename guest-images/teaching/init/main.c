// SPDX-License-Identifier: GPL-2.0
/*
 * init/main.c - start_kernel() and the workload.
 *
 * Boot order: console, CPU tables, our page tables, memory allocators,
 * interrupt controller and timer, system calls, scheduler, file system and
 * network stack. Then rest_init() creates the tasks:
 *
 *   pid 0  swapper/0     this boot context, becomes the idle task
 *   pid 1  init          kernel_init -> kernel_execve("/sbin/init"): user mode
 *   pid 2  kworker/0     runs work items (the demand-paging demo)
 *   pid 3  ksoftirqd/0   runs softirqs (NET_RX for packets on lo)
 *   pid 4  netrx         generates NETSIM_NR_PACKETS packets, then exits
 *
 * The idle loop halts until the next tick. Once every task has finished its
 * fixed amount of work and RUN_JIFFIES ticks have passed, it prints the
 * summary and stops the machine with exit code 0.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/errno.h>
#include <linux/bpflab.h>
#include <linux/sched.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/fs.h>
#include <linux/syscalls.h>
#include <linux/interrupt.h>
#include <linux/workqueue.h>
#include <linux/netdevice.h>
#include <linux/ip.h>
#include <linux/timer.h>
#include <asm/desc.h>
#include <asm/pgtable.h>
#include <asm/processor.h>

#define RUN_JIFFIES		300
#define DEMO_VMALLOC_SIZE	(64 * 1024)

extern char _text[], _etext[], _end[];
extern const char linux_banner[];
extern unsigned long nr_spurious_irqs, nr_files_opened, nr_work_done;
extern unsigned long nr_skbs_allocated, nr_skbs_consumed, nr_skbs_dropped;
extern unsigned long netsim_generated, udp_in_datagrams, icmp_in_msgs;
extern unsigned long nr_user_preemptions;

void serial8250_init(void);
void init_IRQ(void);
void setup_pit_timer(void);
void rtc_print_time(void);
void netsim_start(void);
unsigned long fib_route_use(int i);
struct task_struct *__switch_to(struct task_struct *prev, struct task_struct *next);

static struct task_struct *init_process;

/* ---- the demand-paging demo, run by kworker/0 ---- */

static unsigned long demo_checksum;

static void vmalloc_demo_workfn(struct work_struct *work)
{
	unsigned char *buf = vmalloc(DEMO_VMALLOC_SIZE);
	unsigned long before = nr_kernel_demand_faults;

	(void)work;
	/* Every first write to a page faults; the handler maps it; we go on. */
	for (unsigned long off = 0; off < DEMO_VMALLOC_SIZE; off += 512)
		buf[off] = (unsigned char)(off >> 9);
	for (unsigned long off = 0; off < DEMO_VMALLOC_SIZE; off += 512)
		demo_checksum += buf[off];
	printk(KERN_INFO "kworker: vmalloc'ed %d KiB at %p, %lu pages demand-mapped, checksum %lu\n",
	       DEMO_VMALLOC_SIZE / 1024, buf, nr_kernel_demand_faults - before, demo_checksum);
}

static struct work_struct vmalloc_demo_work;

/*
 * "crash=<kind>" on the command line makes kworker/0 crash on purpose, to
 * see an oops (and to check that a panic stops the machine with code 1):
 *   crash=null    NULL pointer write      (#PF, not-present page)
 *   crash=guard   write to a vmalloc guard page (#PF in the vmalloc area)
 *   crash=ud2     invalid opcode          (#UD)
 *   crash=div0    divide by zero          (#DE)
 */
static const char *crash_kind;

static noinline void crash_workfn(struct work_struct *work)
{
	volatile unsigned long zero = 0, hundred = 100;

	(void)work;
	printk(KERN_INFO "kworker: crashing on purpose: crash=%s\n", crash_kind);
	if (!strcmp(crash_kind, "null")) {
		*(volatile int *)zero = 1;
	} else if (!strcmp(crash_kind, "guard")) {
		char *p = vmalloc(PAGE_SIZE);

		p[PAGE_SIZE] = 1;	/* one past the end: the guard page */
	} else if (!strcmp(crash_kind, "ud2")) {
		asm volatile("ud2");
	} else if (!strcmp(crash_kind, "div0")) {
		printk("%lu\n", hundred / zero);
	}
	printk(KERN_INFO "kworker: unknown crash kind, carrying on\n");
}

static struct work_struct crash_work;

/* Find "key=value" in the command line; copies value into buf. */
static bool cmdline_get(const char *key, char *buf, size_t size)
{
	size_t klen = strlen(key);

	for (const char *p = boot_command_line; *p; p++) {
		if ((p == boot_command_line || p[-1] == ' ') &&
		    !memcmp(p, key, klen) && p[klen] == '=') {
			size_t n = 0;

			for (p += klen + 1; *p && *p != ' ' && n + 1 < size; p++)
				buf[n++] = *p;
			buf[n] = '\0';
			return true;
		}
	}
	return false;
}

/* ---- pid 1 ---- */

static int kernel_init(void *unused)
{
	(void)unused;
	/* stdin, stdout, stderr: the console */
	for (int i = 0; i < 3; i++) {
		struct file *f = filp_open("/dev/console", O_RDWR);

		if (IS_ERR(f) || fd_install_new(f) != i)
			panic("no console for init");
	}
	if (kernel_execve("/sbin/init"))
		panic("No working init found.");
	return 0;	/* ret_from_fork continues in user space */
}

static void rest_init(void)
{
	pid_t pid = kernel_thread(kernel_init, NULL, "kernel_init", PF_KTHREAD);

	init_process = find_task_by_pid(pid);
	workqueue_init();		/* pid 2: kworker/0 */
	spawn_ksoftirqd();		/* pid 3: ksoftirqd/0 */
	netsim_start();			/* pid 4: netrx */
	INIT_WORK(&vmalloc_demo_work, vmalloc_demo_workfn);
	schedule_work(&vmalloc_demo_work);

	static char crash_buf[16];
	if (cmdline_get("crash", crash_buf, sizeof(crash_buf))) {
		crash_kind = crash_buf;
		INIT_WORK(&crash_work, crash_workfn);
		schedule_work(&crash_work);
	}
}

/* ---- the end ---- */

static bool workload_done(void)
{
	return init_process->__state == TASK_DEAD && netrx_done && net_backlog_empty() &&
	       workqueue_idle() && jiffies >= RUN_JIFFIES;
}

static void print_summary(void)
{
	struct net_device *devs[] = { loopback_dev, eth0_dev };
	struct list_head *pos;
	unsigned long tasks = 0;

	printk("bpflab: workload finished at jiffies %lu\n", (unsigned long)jiffies);
	for (size_t i = 0; i < ARRAY_SIZE(devs); i++) {
		struct net_device *d = devs[i];

		printk("summary: net %s ifindex %d rx_packets %lu delivered %lu dropped %lu rx_bytes %lu\n",
		       d->name, d->ifindex, d->stats.rx_packets,
		       d->stats.rx_packets - d->stats.rx_dropped, d->stats.rx_dropped,
		       d->stats.rx_bytes);
	}
	printk("summary: net total generated %lu delivered %lu dropped %lu (udp %lu icmp %lu)\n",
	       netsim_generated, nr_skbs_consumed, nr_skbs_dropped, udp_in_datagrams, icmp_in_msgs);
	printk("summary: drop reasons");
	for (int r = SKB_DROP_REASON_NOT_SPECIFIED; r < SKB_DROP_REASON_MAX; r++)
		if (skb_drop_reasons[r])
			printk(" %s=%lu", drop_reasons[r], skb_drop_reasons[r]);
	printk("\n");
	printk("summary: ip InReceives %lu InHdrErrors %lu InCsumErrors %lu InNoRoutes %lu InUnknownProtos %lu InDelivers %lu\n",
	       ip_statistics.InReceives, ip_statistics.InHdrErrors, ip_statistics.InCsumErrors,
	       ip_statistics.InNoRoutes, ip_statistics.InUnknownProtos, ip_statistics.InDelivers);
	printk("summary: syscalls %lu (read %lu write %lu openat %lu close %lu getpid %lu exit %lu)\n",
	       nr_syscalls_total, syscall_counts[__NR_read], syscall_counts[__NR_write],
	       syscall_counts[__NR_openat], syscall_counts[__NR_close],
	       syscall_counts[__NR_getpid], syscall_counts[__NR_exit]);
	list_for_each(pos, &task_list)
		tasks++;
	printk("summary: tasks %lu created %lu exited %lu\n", tasks, total_forks + 1, nr_exited);
	list_for_each(pos, &task_list) {
		struct task_struct *t = list_entry(pos, struct task_struct, tasks);

		printk("summary: task pid %d comm %-12s %s exit_code %d syscalls %lu\n",
		       t->pid, t->comm, t->__state == TASK_DEAD ? "exited " : "running",
		       t->exit_code, t->syscalls);
	}
	printk("summary: demand-mapped pages %lu (kernel vmalloc %lu, user stack %lu)\n",
	       nr_kernel_demand_faults + nr_user_demand_faults,
	       nr_kernel_demand_faults, nr_user_demand_faults);
	printk("summary: work items %lu, files opened %lu\n", nr_work_done, nr_files_opened);
	/* These depend on where timer interrupts land, i.e. on timing under QEMU. */
	printk("timing: context switches %lu (preemptions %lu, of user mode %lu), timer irqs %lu, jiffies %lu\n",
	       runqueues.nr_switches, runqueues.nr_preemptions, nr_user_preemptions,
	       irq_counts[0], (unsigned long)jiffies);
	list_for_each(pos, &task_list) {
		struct task_struct *t = list_entry(pos, struct task_struct, tasks);

		printk("timing: task pid %d comm %-12s utime %llu stime %llu nvcsw %lu nivcsw %lu\n",
		       t->pid, t->comm, t->utime, t->stime, t->nvcsw, t->nivcsw);
	}
	printk("timing: free pages %lu\n", nr_free_pages());
	printk("bpflab: exiting with code 0\n");
}

/* The idle task: pid 0. */
static void __noreturn cpu_startup_entry(void)
{
	for (;;) {
		local_irq_disable();
		if (workload_done()) {
			print_summary();
			machine_exit(0);
		}
		if (need_resched()) {
			local_irq_enable();
			schedule();
			continue;
		}
		native_safe_halt();	/* sti; hlt: wait for the next interrupt */
	}
}

void __noreturn start_kernel(void)
{
	serial8250_init();
	printk(KERN_NOTICE "%s", linux_banner);
	printk(KERN_INFO "Command line: %s\n", boot_command_line);
	printk(KERN_INFO "bpflab: boot info at magic %#llx, RAM %llu MiB\n",
	       boot_info.magic, boot_info.mem_bytes >> 20);
	printk(KERN_INFO "kernel: text %p-%p, end %p (phys %#lx-%#lx)\n",
	       _text, _etext, _end, __pa(_text), __pa(_end));

	cpu_init();			/* our GDT and TSS */
	idt_setup();			/* our IDT */
	paging_init(boot_info.mem_bytes);	/* our page tables */
	mem_init(__pa(_end), boot_info.mem_bytes);
	kmem_cache_init();

	init_IRQ();			/* 8259A pair: vectors 0x30-0x3f */
	setup_pit_timer();		/* 8254: IRQ 0 at HZ */
	syscall_init();			/* SYSCALL MSRs */
	sched_init();
	rtc_print_time();

	vfs_caches_init();
	skb_init();
	net_dev_init();
	loopback_init();		/* ifindex 1 */
	netsim_init();			/* ifindex 2 */
	ip_init();

	rest_init();
	printk(KERN_INFO "start_kernel: %lu tasks created, entering idle loop\n", total_forks);
	cpu_startup_entry();
}

/*
 * Offsets that bpflab's documentation and hand-written filters rely on.
 * DWARF describes all of them; these asserts keep the README honest.
 */
BUILD_BUG_ON(offsetof(struct task_struct, pid) != 96);
BUILD_BUG_ON(offsetof(struct task_struct, comm) != 144);
BUILD_BUG_ON(offsetof(struct sk_buff, dev) != 16);
BUILD_BUG_ON(offsetof(struct sk_buff, len) != 88);
BUILD_BUG_ON(offsetof(struct sk_buff, protocol) != 120);
BUILD_BUG_ON(offsetof(struct sk_buff, data) != 144);
BUILD_BUG_ON(offsetof(struct net_device, name) != 0);
BUILD_BUG_ON(offsetof(struct net_device, ifindex) != 44);
BUILD_BUG_ON(sizeof(struct pt_regs) != 21 * 8);
