/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bpflab.h - everything a bpflab filter needs besides the guest's vmlinux.h.
 *
 * A filter that includes only "vmlinux.h" and "bpflab.h" compiles with
 *     clang -O2 -g -target bpf -c filter.c
 * It provides: fixed-width types, SEC(), map definition macros, the helpers bpflab implements
 * (declared over their ids, as libbpf's bpf_helper_defs.h does), the seed's helpers and its
 * struct bpf_context, bpf_printk, PT_REGS_PARM*, BPF_KPROBE/BPF_KRETPROBE and BPF_CORE_READ.
 */
#ifndef __BPFLAB_H__
#define __BPFLAB_H__

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;

#ifndef NULL
#define NULL ((void *)0)
#endif

#define SEC(name) __attribute__((section(name), used))
#define __always_inline inline __attribute__((always_inline))
#define __noinline __attribute__((noinline))

/* ---- maps ---- */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]

/*
 * Include "vmlinux.h" first: a Linux guest's vmlinux.h already has these as enumerators, and
 * the macros below then simply name the same values.
 */
#ifndef BPF_MAP_TYPE_HASH
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PERF_EVENT_ARRAY 4
#define BPF_MAP_TYPE_PERCPU_HASH 5
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_MAP_TYPE_STACK_TRACE 7
#define BPF_MAP_TYPE_LRU_HASH 9
#define BPF_MAP_TYPE_LRU_PERCPU_HASH 10
#define BPF_MAP_TYPE_RINGBUF 27
#endif
#ifndef BPF_ANY
#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_EXIST 2
#endif
#ifndef BPF_F_CURRENT_CPU
#define BPF_F_CURRENT_CPU 0xffffffffULL
#endif
#ifndef BPF_F_USER_STACK
#define BPF_F_USER_STACK (1ULL << 8)
#endif

/* ---- helpers (kernel ids) ---- */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2;
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *)3;
static long (*bpf_probe_read)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)4;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static long (*bpf_trace_printk)(const char *fmt, __u32 fmt_size, ...) = (void *)6;
static __u32 (*bpf_get_prandom_u32)(void) = (void *)7;
static __u32 (*bpf_get_smp_processor_id)(void) = (void *)8;
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;
static __u64 (*bpf_get_current_uid_gid)(void) = (void *)15;
static long (*bpf_get_current_comm)(void *buf, __u32 size_of_buf) = (void *)16;
static long (*bpf_current_task_under_cgroup)(void *map, __u32 index) = (void *)37;
static long (*bpf_perf_event_output)(void *ctx, void *map, __u64 flags, void *data, __u64 size) = (void *)25;
static long (*bpf_get_stackid)(void *ctx, void *map, __u64 flags) = (void *)27;
static __u64 (*bpf_get_current_task)(void) = (void *)35;
static long (*bpf_probe_read_str)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)45;
static long (*bpf_get_stack)(void *ctx, void *buf, __u32 size, __u64 flags) = (void *)67;
static long (*bpf_probe_read_user)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)112;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)113;
static long (*bpf_probe_read_user_str)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)114;
static long (*bpf_probe_read_kernel_str)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)115;
static __u64 (*bpf_ktime_get_boot_ns)(void) = (void *)125;
static long (*bpf_ringbuf_output)(void *ringbuf, void *data, __u64 size, __u64 flags) = (void *)130;
static void *(*bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) = (void *)131;
static void (*bpf_ringbuf_submit)(void *data, __u64 flags) = (void *)132;
static void (*bpf_ringbuf_discard)(void *data, __u64 flags) = (void *)133;
static __u64 (*bpf_ktime_get_coarse_ns)(void) = (void *)160;
static __u64 (*bpf_get_attach_cookie)(void *ctx) = (void *)174;

#define bpf_printk(fmt, ...)                                                   \
	({                                                                     \
		static const char ____fmt[] = fmt;                             \
		bpf_trace_printk(____fmt, sizeof(____fmt), ##__VA_ARGS__);     \
	})

/* ---- the seed's filter interface (LKML RFC "use BPF in tracing filters", 2014) ---- */
struct bpf_context {
	long arg1, arg2, arg3, arg4, arg5;
	void *regs; /* not dereferenceable in bpflab; helpers taking ctx use the probe's registers */
};

/* 8 bytes at a guest address; 0 when the pointer is bad (the fault is suppressed). */
static void *(*bpf_load_pointer)(void *unsafe_ptr) = (void *)1000;
/* memcmp of guest memory against program memory; a bad guest pointer reads as zeroes. */
static long (*bpf_memcmp)(void *unsafe_ptr, void *safe_ptr, long size) = (void *)1001;
/* Emits the guest's kernel stack as an event. */
static void (*bpf_dump_stack)(void *ctx) = (void *)1002;
/* The seed's tables are maps: pass the map where the seed passed a table id. */
#define bpf_table_lookup(ctx, table, key) bpf_map_lookup_elem(table, key)
#define bpf_table_update(ctx, table, key, value) bpf_map_update_elem(table, key, value, BPF_ANY)

/* ---- kprobes: struct pt_regs, x86-64 kernel layout ---- */
struct bpflab_pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};
struct pt_regs;
#define ___bpflab_regs(x) ((const struct bpflab_pt_regs *)(x))
#define PT_REGS_PARM1(x) (___bpflab_regs(x)->di)
#define PT_REGS_PARM2(x) (___bpflab_regs(x)->si)
#define PT_REGS_PARM3(x) (___bpflab_regs(x)->dx)
#define PT_REGS_PARM4(x) (___bpflab_regs(x)->cx)
#define PT_REGS_PARM5(x) (___bpflab_regs(x)->r8)
#define PT_REGS_RET(x) (___bpflab_regs(x)->sp)
#define PT_REGS_FP(x) (___bpflab_regs(x)->bp)
#define PT_REGS_RC(x) (___bpflab_regs(x)->ax)
#define PT_REGS_SP(x) (___bpflab_regs(x)->sp)
#define PT_REGS_IP(x) (___bpflab_regs(x)->ip)

/* ---- perf_event programs (sampling): the kernel's struct bpf_perf_event_data, x86-64 ---- */
struct bpflab_perf_event_data {
	struct bpflab_pt_regs regs; /* the interrupted instruction's registers */
	unsigned long long sample_period; /* ns of virtual time between samples */
	unsigned long long addr; /* 0: a timer samples no data address */
};

#define ___bpflab_nth(_, _1, _2, _3, _4, _5, N, ...) N
#define ___bpflab_narg(...) ___bpflab_nth(_, ##__VA_ARGS__, 5, 4, 3, 2, 1, 0)
#define ___bpflab_concat(a, b) a##b
#define ___bpflab_apply(fn, n) ___bpflab_concat(fn, n)
#define ___bpflab_kprobe_args0() ctx
#define ___bpflab_kprobe_args1(x) ___bpflab_kprobe_args0(), (void *)PT_REGS_PARM1(ctx)
#define ___bpflab_kprobe_args2(x, args...) ___bpflab_kprobe_args1(args), (void *)PT_REGS_PARM2(ctx)
#define ___bpflab_kprobe_args3(x, args...) ___bpflab_kprobe_args2(args), (void *)PT_REGS_PARM3(ctx)
#define ___bpflab_kprobe_args4(x, args...) ___bpflab_kprobe_args3(args), (void *)PT_REGS_PARM4(ctx)
#define ___bpflab_kprobe_args5(x, args...) ___bpflab_kprobe_args4(args), (void *)PT_REGS_PARM5(ctx)
#define ___bpflab_kprobe_args(args...) ___bpflab_apply(___bpflab_kprobe_args, ___bpflab_narg(args))(args)

#define BPF_KPROBE(name, args...)                                              \
	name(struct pt_regs *ctx);                                             \
	static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##args); \
	typeof(name(0)) name(struct pt_regs *ctx)                              \
	{                                                                      \
		_Pragma("GCC diagnostic push")                                 \
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")         \
		return ____##name(___bpflab_kprobe_args(args));                \
		_Pragma("GCC diagnostic pop")                                  \
	}                                                                      \
	static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##args)

#define ___bpflab_kretprobe_args0() ctx
#define ___bpflab_kretprobe_args1(x) ___bpflab_kretprobe_args0(), (void *)PT_REGS_RC(ctx)
#define ___bpflab_kretprobe_args(args...) ___bpflab_apply(___bpflab_kretprobe_args, ___bpflab_narg(args))(args)

#define BPF_KRETPROBE(name, args...)                                           \
	name(struct pt_regs *ctx);                                             \
	static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##args); \
	typeof(name(0)) name(struct pt_regs *ctx)                              \
	{                                                                      \
		_Pragma("GCC diagnostic push")                                 \
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")         \
		return ____##name(___bpflab_kretprobe_args(args));             \
		_Pragma("GCC diagnostic pop")                                  \
	}                                                                      \
	static __always_inline typeof(name(0)) ____##name(struct pt_regs *ctx, ##args)

/* ---- CO-RE: relocated against the guest's DWARF when the program is loaded ---- */
#define bpf_core_read(dst, sz, src)                                            \
	bpf_probe_read_kernel(dst, sz, (const void *)__builtin_preserve_access_index(src))
#define BPF_CORE_READ_INTO(dst, src, a)                                        \
	bpf_core_read((void *)(dst), sizeof(*(dst)), &(src)->a)
#define BPF_CORE_READ(src, a)                                                  \
	({                                                                     \
		typeof((src)->a) ____val;                                      \
		bpf_core_read(&____val, sizeof(____val), &(src)->a);           \
		____val;                                                       \
	})

#endif /* __BPFLAB_H__ */
