//! Guest-aware helpers: what a filter can ask of the guest, and the seed's own helpers.
//!
//! | id   | helper                          | notes |
//! |------|---------------------------------|-------|
//! | 4    | `bpf_probe_read`                | any guest address |
//! | 112  | `bpf_probe_read_user`           | lower half only |
//! | 113  | `bpf_probe_read_kernel`         | upper (kernel) half only |
//! | 45   | `bpf_probe_read_str`            | returns the length with the NUL |
//! | 114  | `bpf_probe_read_user_str`       | |
//! | 115  | `bpf_probe_read_kernel_str`     | |
//! | 6    | `bpf_trace_printk`              | the kernel's format rules ([`crate::printk`]) |
//! | 5    | `bpf_ktime_get_ns`              | guest virtual time |
//! | 125  | `bpf_ktime_get_boot_ns`         | same clock (the guest never suspends) |
//! | 160  | `bpf_ktime_get_coarse_ns`       | same clock (virtual time is exact, so no coarser) |
//! | 7    | `bpf_get_prandom_u32`           | xorshift64*, seeded the same every run: a run's output stays a function of the guest |
//! | 174  | `bpf_get_attach_cookie`         | 0: bpflab attaches without cookies |
//! | 8    | `bpf_get_smp_processor_id`      | 0: the machine has one CPU |
//! | 14   | `bpf_get_current_pid_tgid`      | `tgid << 32 \| pid` of the guest's `current` |
//! | 15   | `bpf_get_current_uid_gid`       | 0 (the guests run everything as root) |
//! | 16   | `bpf_get_current_comm`          | |
//! | 35   | `bpf_get_current_task`          | guest address of `current` |
//! | 37   | `bpf_current_task_under_cgroup` | `-EAGAIN`: no cgroup can be placed in a cgroup array here |
//! | 67   | `bpf_get_stack`                 | kernel stack, frame pointers, caller included at entry |
//! | 27   | `bpf_get_stackid`               | into a stack-trace map |
//! | 1000 | `bpf_load_pointer` (seed)       | 8 bytes at a guest address, 0 on a fault |
//! | 1001 | `bpf_memcmp` (seed)             | guest memory against program memory |
//! | 1002 | `bpf_dump_stack` (seed)         | a stack event |
//!
//! Every guest read is fault-suppressing: on any fault the destination is zeroed and `-EFAULT`
//! returned; the guest never notices. Map helpers (1, 2, 3, 25, 130-133) come from
//! [`jit::maps`].

use crate::env::ProbeEnv;
use crate::events::EventKind;
use crate::guest::{EFAULT, EINVAL, KERNEL_HALF};
use jit::helpers::{Arg, HelperCx, HelperImpl, Helpers, Proto, Ret};
use jit::maps::errno::{E2BIG, EAGAIN};
use jit::maps::stack::{BPF_F_SKIP_FIELD_MASK, BPF_F_USER_STACK};
use jit::maps::MapKind;

/// Helper ids.
pub mod ids {
    pub const PROBE_READ: u32 = 4;
    pub const KTIME_GET_NS: u32 = 5;
    pub const TRACE_PRINTK: u32 = 6;
    pub const GET_SMP_PROCESSOR_ID: u32 = 8;
    pub const GET_CURRENT_PID_TGID: u32 = 14;
    pub const GET_CURRENT_UID_GID: u32 = 15;
    pub const GET_CURRENT_COMM: u32 = 16;
    pub const GET_STACKID: u32 = 27;
    pub const GET_CURRENT_TASK: u32 = 35;
    pub const CURRENT_TASK_UNDER_CGROUP: u32 = 37;
    pub const PROBE_READ_STR: u32 = 45;
    pub const GET_STACK: u32 = 67;
    pub const PROBE_READ_USER: u32 = 112;
    pub const PROBE_READ_KERNEL: u32 = 113;
    pub const PROBE_READ_USER_STR: u32 = 114;
    pub const PROBE_READ_KERNEL_STR: u32 = 115;
    pub const KTIME_GET_BOOT_NS: u32 = 125;
    pub const GET_PRANDOM_U32: u32 = 7;
    pub const KTIME_GET_COARSE_NS: u32 = 160;
    pub const GET_ATTACH_COOKIE: u32 = 174;
    /// The seed's helpers, outside the kernel's id range.
    pub const LOAD_POINTER: u32 = 1000;
    pub const MEMCMP: u32 = 1001;
    pub const DUMP_STACK: u32 = 1002;
}

fn ret(v: i64) -> u64 {
    v as u64
}

/// Which half of the address space a probe read may touch.
#[derive(Clone, Copy)]
enum Half {
    Any,
    User,
    Kernel,
}

fn allowed(half: Half, va: u64) -> bool {
    match half {
        Half::Any => true,
        Half::User => va < KERNEL_HALF,
        Half::Kernel => va >= KERNEL_HALF,
    }
}

/// Largest buffer a read helper fills at once (the verifier bounds real sizes far lower).
const MAX_READ: u64 = 1 << 20;

fn probe_read(cx: &mut HelperCx<'_, '_, ProbeEnv>, a: [u64; 5], half: Half) -> u64 {
    let (dst, size, src) = (a[0], a[1].min(MAX_READ) as usize, a[2]);
    let mut buf = vec![0u8; size];
    let r = if allowed(half, src) {
        cx.env().guest.read_nofault(src, &mut buf)
    } else {
        EFAULT
    };
    if cx.write(dst, &buf).is_err() {
        return ret(EFAULT);
    }
    ret(r)
}

fn probe_read_str(cx: &mut HelperCx<'_, '_, ProbeEnv>, a: [u64; 5], half: Half) -> u64 {
    let (dst, size, src) = (a[0], a[1].min(MAX_READ) as usize, a[2]);
    let mut buf = vec![0u8; size];
    let r = if allowed(half, src) {
        cx.env().guest.read_str_nofault(src, &mut buf)
    } else {
        EFAULT
    };
    // As the kernel's strncpy_from_kernel_nofault: the string up to and including its NUL is
    // copied and the rest of `dst` is left as it was; a fault zeroes all of `dst`.
    let copied = if r < 0 { size } else { r as usize };
    if cx.write(dst, &buf[..copied]).is_err() {
        return ret(EFAULT);
    }
    ret(r)
}

macro_rules! helper {
    ($(#[$m:meta])* $name:ident, |$cx:ident, $a:ident| $body:expr) => {
        $(#[$m])*
        #[derive(Debug)]
        pub struct $name;
        impl HelperImpl<ProbeEnv> for $name {
            fn call($cx: &mut HelperCx<'_, '_, ProbeEnv>, $a: [u64; 5]) -> u64 {
                $body
            }
        }
    };
}

helper!(
    /// `long bpf_probe_read(void *dst, u32 size, const void *unsafe_ptr)`.
    ProbeRead, |cx, a| probe_read(cx, a, Half::Any));
helper!(
    /// `long bpf_probe_read_user(void *dst, u32 size, const void *unsafe_ptr)`.
    ProbeReadUser, |cx, a| probe_read(cx, a, Half::User));
helper!(
    /// `long bpf_probe_read_kernel(void *dst, u32 size, const void *unsafe_ptr)`.
    ProbeReadKernel, |cx, a| probe_read(cx, a, Half::Kernel));
helper!(
    /// `long bpf_probe_read_str(void *dst, u32 size, const void *unsafe_ptr)`.
    ProbeReadStr, |cx, a| probe_read_str(cx, a, Half::Any));
helper!(
    /// `long bpf_probe_read_user_str(void *dst, u32 size, const void *unsafe_ptr)`.
    ProbeReadUserStr, |cx, a| probe_read_str(cx, a, Half::User));
helper!(
    /// `long bpf_probe_read_kernel_str(void *dst, u32 size, const void *unsafe_ptr)`.
    ProbeReadKernelStr, |cx, a| probe_read_str(cx, a, Half::Kernel));

helper!(
/// `long bpf_trace_printk(const char *fmt, u32 fmt_size, ...)`: up to three arguments.
TracePrintk, |cx, a| {
    let mut fmt = vec![0u8; a[1].min(4096) as usize];
    if cx.read(a[0], &mut fmt).is_err() {
        return ret(EFAULT);
    }
    // A `%s` argument is a string in program memory (the stack, a map value) or in the
    // guest (the kernel's printk reads either the same way).
    let guest = cx.env().guest.clone();
    let mut strings = Vec::new();
    for &arg in &a[2..5] {
        if cx.is_program_memory(arg, 1) {
            strings.push((arg, cx.read_cstr(arg, 4096).ok()));
        }
    }
    let mut read_str = |va: u64| match strings.iter().find(|(a, _)| *a == va) {
        Some((_, s)) => s.clone(),
        None => guest.string(va, 4096),
    };
    let formatted = crate::printk::format(&fmt, [a[2], a[3], a[4]], &mut read_str);
    let env = cx.env();
    match formatted {
        Ok(msg) => {
            let n = msg.len() as u64;
            env.emit(EventKind::Printk { msg });
            n
        }
        Err(e) => ret(e),
    }
});

helper!(
    /// `u64 bpf_ktime_get_ns(void)`: the guest's virtual time.
    KtimeGetNs, |cx, _a| cx.env().hit.now_ns);
helper!(
    /// `u32 bpf_get_prandom_u32(void)`.
    Prandom, |cx, _a| u64::from(cx.env().next_prandom()));
helper!(
    /// `u64 bpf_get_attach_cookie(void *ctx)`: no attachment carries a cookie.
    AttachCookie, |_cx, _a| 0);
helper!(
    /// `u32 bpf_get_smp_processor_id(void)`.
    SmpProcessorId, |_cx, _a| 0);
helper!(
/// `u64 bpf_get_current_pid_tgid(void)`.
CurrentPidTgid, |cx, _a| {
    let t = cx.env().current_task().unwrap_or_default();
    (u64::from(t.tgid) << 32) | u64::from(t.pid)
});
helper!(
    /// `u64 bpf_get_current_uid_gid(void)`.
    CurrentUidGid, |_cx, _a| 0);
helper!(
/// `long bpf_get_current_comm(void *buf, u32 size_of_buf)`.
CurrentComm, |cx, a| {
    let size = a[1].min(MAX_READ) as usize;
    if size == 0 {
        return ret(EINVAL);
    }
    let mut buf = vec![0u8; size];
    let comm = cx.env().current_task().map(|t| t.comm).unwrap_or_default();
    let n = comm.len().min(size - 1);
    buf[..n].copy_from_slice(&comm.as_bytes()[..n]);
    if cx.write(a[0], &buf).is_err() {
        return ret(EFAULT);
    }
    0
});
helper!(
    /// `u64 bpf_get_current_task(void)`.
    CurrentTask, |cx, _a| cx.env().current_task_addr());

helper!(
/// `long bpf_current_task_under_cgroup(struct bpf_map *map, u32 index)`: as the kernel's,
/// `-E2BIG` past the array's end and `-EAGAIN` for an empty slot. User space places cgroups
/// in a cgroup array by file descriptor, and no host cgroup is the guest's, so every slot is
/// empty: a tool's cgroup filter (`-c` in BCC's tools) cannot be set in bpflab.
CurrentTaskUnderCgroup, |cx, a| {
    match cx.env().maps.by_handle(a[0]).map(|m| m.cgroup_slot(a[1] as u32)) {
        Some(Some(_)) => ret(-EAGAIN),
        Some(None) => ret(-E2BIG),
        None => ret(EINVAL),
    }
});

helper!(
/// `long bpf_get_stack(void *ctx, void *buf, u32 size, u64 flags)`.
GetStack, |cx, a| {
    let (buf_addr, size, flags) = (a[1], a[2].min(MAX_READ) as usize, a[3]);
    if flags & !(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | (1 << 11)) != 0 || size % 8 != 0 {
        return ret(EINVAL);
    }
    let mut buf = vec![0u8; size];
    let mut n = 0;
    if flags & BPF_F_USER_STACK == 0 {
        let skip = (flags & BPF_F_SKIP_FIELD_MASK) as usize;
        let ips = cx.env().kernel_stack(skip + size / 8);
        for (i, ip) in ips.iter().skip(skip).enumerate() {
            buf[i * 8..i * 8 + 8].copy_from_slice(&ip.to_le_bytes());
            n = (i + 1) * 8;
        }
    }
    if cx.write(buf_addr, &buf).is_err() {
        return ret(EFAULT);
    }
    n as u64
});

helper!(
/// `long bpf_get_stackid(void *ctx, struct bpf_map *map, u64 flags)`.
GetStackid, |cx, a| {
    let (handle, flags) = (a[1], a[2]);
    let skip = (flags & BPF_F_SKIP_FIELD_MASK) as usize;
    let env = cx.env();
    let ips = if flags & BPF_F_USER_STACK == 0 {
        env.kernel_stack(skip + 127)
    } else {
        Vec::new()
    };
    let ips: Vec<u64> = ips.into_iter().skip(skip).collect();
    if ips.is_empty() {
        // No frames past `skip` (a user stack, a sample in user mode): the kernel's
        // `__bpf_get_stackid` answers -EFAULT.
        return ret(EFAULT);
    }
    match env.maps.by_handle(handle).and_then(|m| m.stack_mut()) {
        Some(st) => match st.get_stackid(&ips, flags & !BPF_F_SKIP_FIELD_MASK) {
            Ok(id) => u64::from(id),
            Err(e) => ret(e.errno()),
        },
        None => ret(EINVAL),
    }
});

helper!(
    /// The seed's `void *bpf_load_pointer(void *unsafe_ptr)`: 8 bytes from the guest, 0 when
    /// the pointer is bad.
    LoadPointer, |cx, a| cx.env().guest.read_u64(a[0]).unwrap_or(0));

helper!(
/// The seed's `long bpf_memcmp(void *unsafe_ptr, void *safe_ptr, long size)`: compares
/// guest memory with program memory like `memcmp`; a bad guest pointer compares as zeroes.
Memcmp, |cx, a| {
    let size = a[2].min(MAX_READ) as usize;
    let mut mine = vec![0u8; size];
    if cx.read(a[1], &mut mine).is_err() {
        return ret(EFAULT);
    }
    let mut theirs = vec![0u8; size];
    cx.env().guest.read_nofault(a[0], &mut theirs);
    match theirs.iter().zip(&mine).find(|(x, y)| x != y) {
        Some((x, y)) => ret(i64::from(*x) - i64::from(*y)),
        None => 0,
    }
});

helper!(
/// The seed's `void bpf_dump_stack(struct bpf_context *ctx)`: a stack event.
DumpStack, |cx, _a| {
    let env = cx.env();
    let ips = env.kernel_stack(crate::env::MAX_STACK_DEPTH);
    let frames = env.frames(&ips);
    env.emit(EventKind::Stack { frames });
    0
});

/// Every helper a filter may call: the guest-aware ones above plus the map helpers.
pub fn probe_helpers() -> Helpers<ProbeEnv> {
    use ids::*;
    use Arg::*;
    let mut h = Helpers::new();
    let read = [MemWrite, Size, Anything];
    let read_str = [MemWrite, Size, Anything];
    h.register::<ProbeRead>(PROBE_READ, Proto::new("bpf_probe_read", read, Ret::Integer))
        .register::<ProbeReadUser>(
            PROBE_READ_USER,
            Proto::new("bpf_probe_read_user", read, Ret::Integer),
        )
        .register::<ProbeReadKernel>(
            PROBE_READ_KERNEL,
            Proto::new("bpf_probe_read_kernel", read, Ret::Integer),
        )
        .register::<ProbeReadStr>(
            PROBE_READ_STR,
            Proto::new("bpf_probe_read_str", read_str, Ret::Integer),
        )
        .register::<ProbeReadUserStr>(
            PROBE_READ_USER_STR,
            Proto::new("bpf_probe_read_user_str", read_str, Ret::Integer),
        )
        .register::<ProbeReadKernelStr>(
            PROBE_READ_KERNEL_STR,
            Proto::new("bpf_probe_read_kernel_str", read_str, Ret::Integer),
        )
        .register::<TracePrintk>(
            TRACE_PRINTK,
            // The format is checked; the (up to three) arguments may be scalars or pointers
            // for %s (read fault-suppressed), and unlike the kernel's every argument the
            // format consumes must be initialised (no host value is ever printed).
            Proto::new("bpf_trace_printk", [MemRead, Size], Ret::Integer).printf(),
        )
        .register::<KtimeGetNs>(
            KTIME_GET_NS,
            Proto::new("bpf_ktime_get_ns", [], Ret::Integer),
        )
        .register::<KtimeGetNs>(
            KTIME_GET_BOOT_NS,
            Proto::new("bpf_ktime_get_boot_ns", [], Ret::Integer),
        )
        .register::<KtimeGetNs>(
            KTIME_GET_COARSE_NS,
            Proto::new("bpf_ktime_get_coarse_ns", [], Ret::Integer),
        )
        .register::<Prandom>(
            GET_PRANDOM_U32,
            Proto::new("bpf_get_prandom_u32", [], Ret::Integer),
        )
        .register::<AttachCookie>(
            GET_ATTACH_COOKIE,
            Proto::new("bpf_get_attach_cookie", [Ctx], Ret::Integer),
        )
        .register::<SmpProcessorId>(
            GET_SMP_PROCESSOR_ID,
            Proto::new("bpf_get_smp_processor_id", [], Ret::Integer),
        )
        .register::<CurrentPidTgid>(
            GET_CURRENT_PID_TGID,
            Proto::new("bpf_get_current_pid_tgid", [], Ret::Integer),
        )
        .register::<CurrentUidGid>(
            GET_CURRENT_UID_GID,
            Proto::new("bpf_get_current_uid_gid", [], Ret::Integer),
        )
        .register::<CurrentComm>(
            GET_CURRENT_COMM,
            Proto::new("bpf_get_current_comm", [MemWrite, Size], Ret::Integer),
        )
        .register::<CurrentTask>(
            GET_CURRENT_TASK,
            Proto::new("bpf_get_current_task", [], Ret::Integer),
        )
        .register::<CurrentTaskUnderCgroup>(
            CURRENT_TASK_UNDER_CGROUP,
            Proto::new("bpf_current_task_under_cgroup", [Map, Scalar], Ret::Integer)
                .for_maps(&[MapKind::CgroupArray]),
        )
        .register::<GetStack>(
            GET_STACK,
            Proto::new("bpf_get_stack", [Ctx, MemWrite, Size, Scalar], Ret::Integer),
        )
        .register::<GetStackid>(
            GET_STACKID,
            Proto::new("bpf_get_stackid", [Ctx, Map, Scalar], Ret::Integer)
                .for_maps(&[MapKind::StackTrace]),
        )
        .register::<LoadPointer>(
            LOAD_POINTER,
            Proto::new("bpf_load_pointer", [Anything], Ret::Integer),
        )
        .register::<Memcmp>(
            MEMCMP,
            Proto::new("bpf_memcmp", [Anything, MemRead, Size], Ret::Integer),
        )
        .register::<DumpStack>(DUMP_STACK, Proto::new("bpf_dump_stack", [Ctx], Ret::Void));
    jit::maps::helpers::register_map_helpers(&mut h);
    h
}
