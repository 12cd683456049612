//! Reject corpus: unsafe programs in assembler syntax, each with the words its rejection must
//! contain. Lines are separated by `|`. Adding a case is one line in [`CASES`] (or in one of
//! the generated families below). Also a few accepted neighbours, so the rejections are about
//! the unsafety and not about the shape of the program.

use jit::helpers::{Arg, HelperCx, HelperImpl, Helpers, Proto, Ret};
use jit::maps::{MapDef, MapKind};
use jit::verifier::{verify, verify_bytes, LogLevel, ProgType, VerifyOptions};
use jit::{asm, instr, isa, Program};

struct Zero;
impl HelperImpl<()> for Zero {
    fn call(_: &mut HelperCx<'_, '_, ()>, _: [u64; 5]) -> u64 {
        0
    }
}

/// Helpers numbered as the kernel's where they exist.
fn helpers() -> Helpers<()> {
    let mut h = Helpers::new();
    h.register::<Zero>(
        1,
        Proto::new(
            "map_lookup_elem",
            [Arg::Map, Arg::MapKey],
            Ret::MapValueOrNull,
        ),
    )
    .register::<Zero>(
        2,
        Proto::new(
            "map_update_elem",
            [Arg::Map, Arg::MapKey, Arg::MapValue, Arg::Scalar],
            Ret::Integer,
        ),
    )
    .register::<Zero>(
        4,
        Proto::new(
            "probe_read",
            [Arg::MemWrite, Arg::Size, Arg::Anything],
            Ret::Integer,
        ),
    )
    .register::<Zero>(5, Proto::new("ktime_get_ns", [], Ret::Integer))
    .register::<Zero>(
        6,
        Proto::new("trace_printk", [Arg::MemRead, Arg::Size], Ret::Integer).printf(),
    )
    .register::<Zero>(
        14,
        Proto::new("get_current_pid_tgid", [Arg::Scalar], Ret::Integer),
    )
    .register::<Zero>(
        25,
        Proto::new("perf_event_output", [Arg::Ctx, Arg::Map], Ret::Integer)
            .for_maps(&[MapKind::PerfEventArray]),
    )
    .register::<Zero>(
        37,
        Proto::new(
            "current_task_under_cgroup",
            [Arg::Map, Arg::Scalar],
            Ret::Integer,
        )
        .for_maps(&[MapKind::CgroupArray]),
    )
    .register::<Zero>(
        131,
        Proto::new(
            "ringbuf_reserve",
            [Arg::Map, Arg::AllocSize, Arg::Scalar],
            Ret::RingbufRecordOrNull,
        )
        .for_maps(&[MapKind::RingBuf]),
    )
    .register::<Zero>(
        132,
        Proto::new(
            "ringbuf_submit",
            [Arg::RingbufRecord, Arg::Scalar],
            Ret::Void,
        ),
    )
    .register::<Zero>(
        133,
        Proto::new(
            "ringbuf_discard",
            [Arg::RingbufRecord, Arg::Scalar],
            Ret::Void,
        ),
    )
    .register::<Zero>(
        99,
        Proto::new(
            "read_or_zero",
            [Arg::MemRead, Arg::SizeOrZero],
            Ret::Integer,
        ),
    );
    h
}

fn maps() -> Vec<MapDef> {
    let m = |name: &str, kind, key_size, value_size| MapDef {
        name: name.into(),
        kind,
        key_size,
        value_size,
        max_entries: 16,
        flags: 0,
    };
    vec![
        m("counts", MapKind::Hash, 4, 8),
        m("cfg", MapKind::Array, 4, 16),
        m("events", MapKind::RingBuf, 0, 0),
        MapDef {
            flags: jit::maps::BPF_F_RDONLY_PROG,
            ..m("consts", MapKind::Array, 4, 16)
        },
        m("cgroups", MapKind::CgroupArray, 4, 4),
    ]
}

/// Looks up key 0 in map 0 (`counts`, 8-byte values): r0 = value or NULL.
const LOOKUP: &str =
    "mov %r1, 0|stxw [%r10-4], %r1|lddw %r1, map_idx[0]|mov %r2, %r10|add %r2, -4|call 1";

/// Reserves 16 bytes of map 2 (`events`, a ring buffer): r0 = record or NULL.
const RESERVE: &str = "lddw %r1, map_idx[2]|mov %r2, 16|mov %r3, 0|call 131";

/// (program type, expected words, source).
const CASES: &[(&str, &str, &str)] = &[
    // --- ring-buffer records: NULL checks, bounds, release on every path, no use after ---
    ("seed", "neither submitted nor discarded", "RESERVE|jeq %r0, 0, +1|stdw [%r0], 1|mov %r0, 0|exit"),
    ("seed", "possibly NULL pointer r0", "RESERVE|stdw [%r0], 1|mov %r0, 0|exit"),
    ("seed", "uninitialised register r6", "RESERVE|jeq %r0, 0, +5|mov %r6, %r0|mov %r1, %r0|mov %r2, 0|call 132|stdw [%r6], 1|mov %r0, 0|exit"),
    ("seed", "out of bounds of the ring-buffer record", "RESERVE|jeq %r0, 0, +4|stdw [%r0+16], 1|mov %r1, %r0|mov %r2, 0|call 133|mov %r0, 0|exit"),
    ("seed", "must be a positive constant", "lddw %r1, map_idx[2]|mov %r6, %r1|call 5|mov %r1, %r6|mov %r2, %r0|mov %r3, 0|call 131|mov %r0, 0|exit"),
    ("seed", "map 'counts' is a hash map, which ringbuf_reserve does not take", "lddw %r1, map_idx[0]|mov %r2, 16|mov %r3, 0|call 131|mov %r0, 0|exit"),
    ("seed", "expected a ring-buffer record", "RESERVE|jeq %r0, 0, +4|mov %r1, %r0|add %r1, 8|mov %r2, 0|call 132|mov %r0, 0|exit"),
    ("seed", "expected a ring-buffer record", "mov %r1, %r10|add %r1, -8|mov %r2, 0|call 132|mov %r0, 0|exit"),
    ("seed", "pointer is stored", "RESERVE|jeq %r0, 0, +4|stxdw [%r0], %r10|mov %r1, %r0|mov %r2, 0|call 132|mov %r0, 0|exit"),
    // --- context: reads outside the table, writes ---
    ("seed", "invalid context access", "ldxdw %r0, [%r1+48]|exit"),
    ("seed", "invalid context access", "ldxdw %r0, [%r1-8]|exit"),
    ("seed", "invalid context access", "ldxdw %r0, [%r1+4]|exit"),
    ("seed", "invalid context access", "ldxw %r0, [%r1]|exit"),
    ("seed", "invalid context access", "ldxh %r0, [%r1+8]|exit"),
    ("seed", "invalid context access", "ldxb %r0, [%r1+40]|exit"),
    ("seed", "invalid context access", "add %r1, 48|ldxdw %r0, [%r1]|exit"),
    ("seed", "offset must be a constant", "ldxdw %r2, [%r1]|and %r2, 8|add %r1, %r2|ldxdw %r0, [%r1]|exit"),
    ("kprobe", "invalid context access", "ldxdw %r0, [%r1+168]|exit"),
    ("kprobe", "invalid context access", "ldxw %r0, [%r1+168]|exit"),
    ("kprobe", "invalid context access", "ldxh %r0, [%r1+170]|exit"),
    ("kprobe", "invalid context access", "ldxb %r0, [%r1+200]|exit"),
    ("kprobe", "invalid context access", "ldxdw %r0, [%r1+4]|exit"),
    ("kprobe", "invalid context access", "ldxw %r0, [%r1+2]|exit"),
    ("kprobe", "invalid context access", "ldxh %r0, [%r1+7]|exit"),
    ("kprobe", "invalid context access", "ldxb %r0, [%r1-1]|exit"),
    ("seed", "context is read-only", "stdw [%r1], 0|mov %r0, 0|exit"),
    ("seed", "context is read-only", "stw [%r1+8], 0|mov %r0, 0|exit"),
    ("seed", "context is read-only", "mov %r2, 1|stxdw [%r1+16], %r2|mov %r0, 0|exit"),
    ("kprobe", "context is read-only", "stb [%r1], 0|mov %r0, 0|exit"),
    ("kprobe", "context is read-only", "sth [%r1+80], 0|mov %r0, 0|exit"),
    ("kprobe", "context is read-only", "mov %r2, 1|lock add [%r1], %r2|mov %r0, 0|exit"),
    // --- uninitialised registers ---
    ("seed", "uninitialised register r0", "exit"),
    ("seed", "uninitialised register r2", "mov %r0, %r2|exit"),
    ("seed", "uninitialised register r3", "mov %r0, 0|add %r0, %r3|exit"),
    ("seed", "uninitialised register r4", "mov %r0, 0|jeq %r4, 0, +0|exit"),
    ("seed", "uninitialised register r5", "stxdw [%r10-8], %r5|mov %r0, 0|exit"),
    ("seed", "uninitialised register r6", "ldxdw %r0, [%r6]|exit"),
    ("seed", "uninitialised register r7", "mov %r0, 0|neg %r7|exit"),
    ("seed", "uninitialised register r8", "mov %r0, 0|be16 %r8|exit"),
    ("seed", "uninitialised register r9", "mov %r0, 0|add32 %r9, 1|exit"),
    ("seed", "uninitialised register r0", "mov %r1, 1|jeq %r1, 1, +1|mov %r0, 2|exit"),
    ("seed", "uninitialised register r1", "call 5|mov %r0, %r1|exit"),
    ("seed", "uninitialised register r6", "call local f|exit|f:|mov %r0, %r6|exit"),
    ("seed", "uninitialised register r2", "mov %r6, 1|call local f|mov %r0, %r2|exit|f:|mov %r0, 0|exit"),
    ("seed", "uninitialised register r0", "call local f|exit|f:|exit"),
    ("seed", "uninitialised register r3", "mov %r0, 0|stxdw [%r10-8], %r3|exit"),
    // --- uninitialised stack ---
    ("seed", "uninitialised stack", "ldxdw %r0, [%r10-8]|exit"),
    ("seed", "uninitialised stack", "ldxw %r0, [%r10-4]|exit"),
    ("seed", "uninitialised stack", "ldxh %r0, [%r10-2]|exit"),
    ("seed", "uninitialised stack", "ldxb %r0, [%r10-1]|exit"),
    ("seed", "uninitialised stack", "stw [%r10-8], 1|ldxdw %r0, [%r10-8]|exit"),
    ("seed", "uninitialised stack", "stb [%r10-1], 1|ldxh %r0, [%r10-2]|exit"),
    ("seed", "uninitialised stack", "stdw [%r10-8], 1|ldxdw %r0, [%r10-16]|exit"),
    ("seed", "uninitialised stack", "mov %r1, %r10|add %r1, -8|mov %r2, 8|call 6|exit"),
    ("seed", "uninitialised stack", "lddw %r1, map_idx[0]|mov %r2, %r10|add %r2, -4|call 1|mov %r0, 0|exit"),
    ("seed", "uninitialised stack", "mov %r1, 1|lock add [%r10-8], %r1|mov %r0, 0|exit"),
    ("seed", "uninitialised stack", "stdw [%r10-8], 1|call local f|exit|f:|ldxdw %r0, [%r10-8]|exit"),
    // --- NULL map values ---
    ("seed", "possibly NULL pointer r0", "LOOKUP|ldxdw %r0, [%r0]|exit"),
    ("seed", "possibly NULL pointer r0", "LOOKUP|stdw [%r0], 1|mov %r0, 0|exit"),
    ("seed", "possibly NULL pointer r6", "LOOKUP|mov %r6, %r0|ldxb %r0, [%r6+1]|exit"),
    ("seed", "possibly NULL", "LOOKUP|add %r0, 8|mov %r0, 0|exit"),
    ("seed", "a scalar, not a pointer", "LOOKUP|jne %r0, 0, +1|ldxdw %r0, [%r0]|mov %r0, 0|exit"),
    ("seed", "a scalar, not a pointer", "LOOKUP|mov %r6, %r0|jne %r0, 0, +2|ldxdw %r1, [%r6]|exit|mov %r0, 0|exit"),
    ("seed", "pointer comparison", "LOOKUP|jeq32 %r0, 0, +1|ldxdw %r0, [%r0]|mov %r0, 0|exit"),
    ("seed", "possibly NULL pointer r3", "LOOKUP|mov %r3, %r0|lddw %r1, map_idx[0]|mov %r2, %r10|add %r2, -4|mov %r4, 0|call 2|mov %r0, 0|exit"),
    // --- map values: bounds after the NULL check ---
    ("seed", "out of bounds of the value of map 0", "LOOKUP|jeq %r0, 0, +1|ldxdw %r0, [%r0+1]|mov %r0, 0|exit"),
    ("seed", "out of bounds of the value of map 0", "LOOKUP|jeq %r0, 0, +1|ldxw %r0, [%r0+5]|mov %r0, 0|exit"),
    ("seed", "out of bounds of the value of map 0", "LOOKUP|jeq %r0, 0, +1|ldxh %r0, [%r0+7]|mov %r0, 0|exit"),
    ("seed", "out of bounds of the value of map 0", "LOOKUP|jeq %r0, 0, +1|ldxb %r0, [%r0+8]|mov %r0, 0|exit"),
    ("seed", "out of bounds of the value of map 0", "LOOKUP|jeq %r0, 0, +1|ldxb %r0, [%r0-1]|mov %r0, 0|exit"),
    ("seed", "out of bounds of the value of map 0", "LOOKUP|jeq %r0, 0, +1|stdw [%r0+4], 1|mov %r0, 0|exit"),
    ("seed", "out of bounds of the value of map 0", "LOOKUP|jeq %r0, 0, +1|stw [%r0+6], 1|mov %r0, 0|exit"),
    ("seed", "out of bounds of the value of map 0", "LOOKUP|jeq %r0, 0, +1|sth [%r0-2], 1|mov %r0, 0|exit"),
    ("seed", "out of bounds of the value of map 0", "LOOKUP|jeq %r0, 0, +1|stb [%r0+8], 1|mov %r0, 0|exit"),
    ("seed", "out of bounds of the value of map 0", "ldxdw %r6, [%r1]|LOOKUP|jeq %r0, 0, +3|mov %r1, %r6|and %r1, 15|add %r0, %r1|ldxb %r0, [%r0]|mov %r0, 0|exit"),
    ("seed", "out of bounds of the value of map 0", "ldxdw %r6, [%r1]|LOOKUP|jeq %r0, 0, +4|and %r6, 7|add %r0, %r6|ldxh %r0, [%r0]|exit|mov %r0, 0|exit"),
    ("seed", "out of bounds of the value of map 0", "ldxdw %r6, [%r1]|LOOKUP|jeq %r0, 0, +3|jgt %r6, 8, +2|add %r0, %r6|ldxb %r0, [%r0]|mov %r0, 0|exit"),
    ("seed", "not bounded", "ldxdw %r6, [%r1]|LOOKUP|jeq %r0, 0, +3|jsgt %r6, 7, +2|add %r0, %r6|ldxb %r1, [%r0]|mov %r0, 0|exit"),
    ("seed", "out of bounds of the value of map 1", "lddw %r1, map_idx_value[1]+8|ldxdw %r0, [%r1+8]|exit"),
    ("seed", "invalid lddw", "lddw %r1, map_idx_value[1]+16|mov %r0, 0|exit"),
    ("seed", "invalid lddw", "lddw %r1, map_idx[7]|mov %r0, 0|exit"),
    ("seed", "invalid lddw", "lddw %r1, map_idx_value[2]+0|mov %r0, 0|exit"),
    ("seed", "invalid lddw", "lddw %r1, btf_id[3]|mov %r0, 0|exit"),
    ("seed", "not a pointer to memory", "lddw %r1, map_idx[0]|ldxdw %r0, [%r1]|exit"),
    // --- memory regions ("mem" with 16 bytes) ---
    ("mem16", "out of bounds of the memory region", "ldxdw %r0, [%r1+9]|exit"),
    ("mem16", "out of bounds of the memory region", "ldxw %r0, [%r1+13]|exit"),
    ("mem16", "out of bounds of the memory region", "ldxh %r0, [%r1+15]|exit"),
    ("mem16", "out of bounds of the memory region", "ldxb %r0, [%r1+16]|exit"),
    ("mem16", "out of bounds of the memory region", "ldxb %r0, [%r1-1]|exit"),
    ("mem16", "out of bounds of the memory region", "stdw [%r1+12], 0|mov %r0, 0|exit"),
    ("mem16", "out of bounds of the memory region", "ldxb %r2, [%r1]|add %r1, %r2|ldxb %r0, [%r1]|exit"),
    ("mem16", "out of bounds of the memory region", "ldxb %r2, [%r1]|jgt %r2, 16, +2|add %r1, %r2|ldxb %r0, [%r1]|mov %r0, 0|exit"),
    ("mem16", "out of bounds of the memory region", "ldxb %r2, [%r1]|jlt %r2, 8, +2|mov %r0, 0|exit|add %r1, %r2|ldxdw %r0, [%r1+2]|exit"),
    ("mem16", "out of bounds of the memory region", "ldxw %r2, [%r1]|and32 %r2, 0x1f|add %r1, %r2|ldxb %r0, [%r1]|exit"),
    ("mem16", "out of bounds of the memory region", "ldxsb %r2, [%r1]|and %r2, 7|add %r1, %r2|ldxdw %r0, [%r1+2]|exit"),
    ("mem16", "out of bounds of the memory region", "mov %r2, 8|lsh %r2, 1|add %r1, %r2|ldxb %r0, [%r1]|exit"),
    ("mem16", "out of bounds of the memory region", "ldxb %r2, [%r1]|rsh %r2, 3|add %r1, %r2|ldxdw %r0, [%r1]|exit"),
    ("mem16", "out of bounds of the memory region", "ldxb %r2, [%r1]|mod %r2, 10|add %r1, %r2|ldxdw %r0, [%r1]|exit"),
    ("mem16", "out of bounds of the memory region", "mov %r0, 0|mov %r2, 0|l:|ldxb %r3, [%r1]|add %r1, 1|add %r2, 1|jlt %r2, 17, l|exit"),
    ("mem16", "out of bounds of the memory region", "mov %r2, 16|mov %r3, %r1|add %r3, %r2|ldxb %r0, [%r3]|exit"),
    ("mem0", "a scalar, not a pointer", "ldxb %r0, [%r1]|exit"),
    ("mem16", "out of bounds of the memory region", "mov %r2, 1|lock add [%r1+12], %r2|mov %r0, 0|exit"),
    // --- stack: variable offsets, helpers ---
    ("seed", "variable offset", "ldxdw %r2, [%r1]|and %r2, 8|mov %r3, %r10|sub %r3, %r2|stb [%r3-1], 0|mov %r0, 0|exit"),
    ("seed", "out of bounds of the stack", "mov %r1, %r10|add %r1, -4|mov %r2, 8|call 6|exit"),
    ("seed", "out of bounds of the stack", "mov %r1, %r10|add %r1, -512|mov %r2, 513|mov %r3, 0|call 4|exit"),
    ("seed", "out of bounds of the stack", "stdw [%r10-8], 0|lddw %r1, map_idx[0]|mov %r2, %r10|add %r2, -2|call 1|mov %r0, 0|exit"),
    // --- pointer leaks ---
    ("seed", "pointer leak", "mov %r0, %r1|exit"),
    ("seed", "pointer leak", "mov %r0, %r10|exit"),
    ("seed", "pointer leak", "lddw %r0, map_idx[0]|exit"),
    ("seed", "pointer leak", "LOOKUP|jeq %r0, 0, +1|exit|mov %r0, 0|exit"),
    ("seed", "pointer leak", "LOOKUP|exit"),
    ("seed", "pointer leak", "stxdw [%r10-8], %r1|ldxdw %r0, [%r10-8]|exit"),
    ("seed", "pointer leak", "mov %r6, %r1|LOOKUP|jeq %r0, 0, +1|stxdw [%r0], %r6|mov %r0, 0|exit"),
    ("mem16", "pointer leak", "stxdw [%r1], %r1|mov %r0, 0|exit"),
    ("mem16", "pointer leak", "mov %r2, %r10|stxdw [%r1+8], %r2|mov %r0, 0|exit"),
    ("seed", "pointer leak", "mov %r1, %r10|call 14|exit"),
    ("seed", "pointer leak", "stxdw [%r10-8], %r1|stdw [%r10-16], 0|mov %r1, %r10|add %r1, -16|mov %r2, 16|call 6|exit"),
    ("seed", "pointer leak", "mov %r2, %r1|lock add [%r10-8], %r2|mov %r0, 0|exit"),
    ("seed", "pointer leak", "stdw [%r10-8], 0|mov %r2, %r1|lock fetch add [%r10-8], %r2|mov %r0, 0|exit"),
    ("seed", "pointer comparison", "mov %r0, 0|jgt %r1, 5, +1|exit|exit"),
    ("seed", "pointer comparison", "mov %r0, 0|jeq %r1, 5, +1|exit|exit"),
    ("seed", "pointer comparison", "mov %r0, 0|mov %r2, 3|jlt %r2, %r1, +1|exit|exit"),
    ("seed", "pointer comparison", "mov %r0, 0|jset %r10, 4, +1|exit|exit"),
    ("seed", "pointer comparison", "mov %r0, 0|jne %r1, %r10, +1|exit|exit"),
    ("seed", "pointer comparison", "mov %r0, 0|jeq32 %r1, 0, +1|exit|exit"),
    // --- pointer arithmetic ---
    ("seed", "32-bit move of a pointer", "mov32 %r0, %r1|exit"),
    ("seed", "pointer arithmetic", "add32 %r1, 4|mov %r0, 0|exit"),
    ("seed", "pointer arithmetic", "and %r1, 0xff|mov %r0, 0|exit"),
    ("seed", "pointer arithmetic", "or %r1, 1|mov %r0, 0|exit"),
    ("seed", "pointer arithmetic", "xor %r1, 1|mov %r0, 0|exit"),
    ("seed", "pointer arithmetic", "mul %r1, 2|mov %r0, 0|exit"),
    ("seed", "pointer arithmetic", "div %r1, 2|mov %r0, 0|exit"),
    ("seed", "pointer arithmetic", "lsh %r1, 1|mov %r0, 0|exit"),
    ("seed", "pointer arithmetic", "rsh %r1, 1|mov %r0, 0|exit"),
    ("seed", "pointer arithmetic", "arsh %r1, 1|mov %r0, 0|exit"),
    ("seed", "pointer arithmetic", "neg %r1|mov %r0, 0|exit"),
    ("seed", "pointer arithmetic", "be64 %r1|mov %r0, 0|exit"),
    ("seed", "pointer arithmetic", "movsx3264 %r0, %r1|exit"),
    ("seed", "pointer arithmetic", "mov %r0, 1|sub %r0, %r1|exit"),
    ("seed", "pointer arithmetic", "mov %r2, %r10|add %r1, %r2|mov %r0, 0|exit"),
    ("seed", "different objects", "mov %r0, %r1|sub %r0, %r10|exit"),
    ("seed", "not bounded", "ldxdw %r2, [%r1]|mov %r3, %r10|add %r3, %r2|mov %r0, 0|exit"),
    ("seed", "not bounded", "lddw %r2, 0x40000000|add %r1, %r2|mov %r0, 0|exit"),
    ("seed", "map reference", "lddw %r1, map_idx[0]|add %r1, 8|mov %r0, 0|exit"),
    ("seed", "partial spill or fill", "stxw [%r10-8], %r1|mov %r0, 0|exit"),
    ("seed", "partial spill or fill", "stxdw [%r10-12], %r1|mov %r0, 0|exit"),
    ("seed", "partial spill or fill", "stxdw [%r10-8], %r1|ldxw %r0, [%r10-8]|exit"),
    ("seed", "partial spill or fill", "stxdw [%r10-8], %r1|ldxb %r0, [%r10-1]|exit"),
    ("seed", "uninitialised stack", "stxdw [%r10-8], %r1|stw [%r10-4], 0|ldxdw %r0, [%r10-8]|exit"),
    // --- loops ---
    ("seed", "infinite loop", "l:|ja l"),
    ("seed", "infinite loop", "mov %r0, 0|l:|jeq %r0, 0, l|exit"),
    ("seed", "infinite loop", "ldxdw %r2, [%r1]|l:|jgt %r2, 10, +1|ja l|mov %r0, 0|exit"),
    ("seed", "infinite loop", "ldxdw %r2, [%r1]|mov %r0, 0|l:|add %r2, -1|jne %r2, 0, l|exit"),
    ("seed", "infinite loop", "mov %r0, 0|mov %r1, 0|l:|add %r1, 0|jlt %r1, 10, l|exit"),
    ("seed", "too complex", "mov %r0, 0|mov %r1, 0|l:|add %r1, 1|jlt %r1, 1000000, l|exit"),
    ("seed", "infinite loop", "mov %r0, 0|stdw [%r10-8], 0|l:|ldxdw %r1, [%r10-8]|jeq %r1, 0, l|exit"),
    ("seed", "infinite loop", "call local f|exit|f:|mov %r0, 1|l:|jne %r0, 0, l|exit"),
    // --- helpers ---
    ("seed", "unknown helper 1000", "call 1000|exit"),
    ("seed", "unknown helper 3", "call 3|exit"),
    ("seed-limited", "not allowed for program type", "call 14|exit"),
    ("seed", "expected a map reference", "mov %r1, 0|mov %r2, %r10|call 1|mov %r0, 0|exit"),
    ("seed", "expected a pointer to memory", "stw [%r10-4], 0|lddw %r1, map_idx[0]|mov %r2, 0|call 1|mov %r0, 0|exit"),
    ("seed", "may be zero", "stdw [%r10-8], 0|mov %r1, %r10|add %r1, -8|mov %r2, 0|call 6|exit"),
    ("seed", "may be zero", "stdw [%r10-8], 0|ldxdw %r2, [%r1]|mov %r1, %r10|add %r1, -8|and %r2, 7|call 6|exit"),
    ("seed", "out of bounds of the stack", "stdw [%r10-8], 0|ldxdw %r2, [%r1]|mov %r1, %r10|add %r1, -8|and %r2, 15|add %r2, 1|call 6|exit"),
    ("seed", "not bounded", "stdw [%r10-8], 0|ldxdw %r2, [%r1]|mov %r1, %r10|add %r1, -8|or %r2, 1|call 6|exit"),
    ("seed", "expected a pointer to stack, map value or memory", "mov %r2, 8|call 6|exit"),
    // --- bpf_trace_printk: every argument the format reads is initialised ---
    ("seed", "format \"%u %u\" reads r4, which is not initialised", "lddw %r1, 0x7525207525|stxdw [%r10-8], %r1|mov %r1, %r10|add %r1, -8|mov %r2, 8|mov %r3, 1|call 6|exit"),
    ("seed", "format \"%-5llu\" reads r3, which is not initialised", "lddw %r1, 0x756c6c352d25|stxdw [%r10-8], %r1|mov %r1, %r10|add %r1, -8|mov %r2, 8|call 6|exit"),
    ("seed", "may read r4, which is not initialised: the format is not known", "mov %r1, %r10|add %r1, -16|mov %r2, 16|mov %r3, 0|call 4|mov %r1, %r10|add %r1, -16|mov %r2, 16|mov %r3, 0|call 6|exit"),
    ("seed", "writes the value of map 3 'consts' (16 bytes), which programs may only read", "lddw %r1, map_idx_value[3]+0|stb [%r1], 1|mov %r0, 0|exit"),
    ("seed", "writes the value of map 3 'consts'", "mov %r1, 0|stxw [%r10-4], %r1|stdw [%r10-24], 0|stdw [%r10-16], 0|lddw %r1, map_idx[3]|mov %r2, %r10|add %r2, -4|mov %r3, %r10|add %r3, -24|mov %r4, 0|call 2|mov %r0, 0|exit"),
    ("seed", "expected a pointer to memory", "mov %r1, 0|mov %r2, 0|call 99|exit"),
    ("seed", "expected the context pointer", "lddw %r2, map_idx[2]|mov %r1, %r10|call 25|exit"),
    ("seed", "expected the context pointer", "lddw %r2, map_idx[2]|add %r1, 8|call 25|exit"),
    ("seed", "expected a map reference", "mov %r2, 0|call 25|exit"),
    ("seed", "map 'events' is a ringbuf map, which map_lookup_elem does not take", "stw [%r10-4], 0|lddw %r1, map_idx[2]|mov %r2, %r10|add %r2, -4|call 1|mov %r0, 0|exit"),
    // --- frozen (read-only) map values are constants: the branch they rule out is pruned,
    //     the one they take is checked ---
    ("seed", "uninitialised register r3", "lddw %r1, map_idx_value[3]+4|ldxw %r2, [%r1]|jne %r2, 7, +1|mov %r0, %r3|mov %r0, 0|exit"),
    ("seed", "uninitialised register r3", "lddw %r1, map_idx_value[3]+8|ldxb %r2, [%r1]|jslt %r2, 0, +1|mov %r0, %r3|mov %r0, 0|exit"),
    // --- maps go only to the helpers that take their kind (check_map_func_compatibility) ---
    ("seed", "map 'cgroups' is a cgroup_array map, which map_lookup_elem does not take", "stw [%r10-4], 0|lddw %r1, map_idx[4]|mov %r2, %r10|add %r2, -4|call 1|mov %r0, 0|exit"),
    ("seed", "map 'counts' is a hash map, which current_task_under_cgroup does not take", "lddw %r1, map_idx[0]|mov %r2, 0|call 37|exit"),
    ("seed", "map 'cgroups' is a cgroup_array map, which ringbuf_reserve does not take", "lddw %r1, map_idx[4]|mov %r2, 16|mov %r3, 0|call 131|exit"),
    ("seed", "helper id must be a known constant", "ldxdw %r3, [%r1]|call %r3|exit"),
    ("seed", "unknown helper 77", "mov %r3, 77|call %r3|exit"),
    ("seed", "expected a pointer to memory", "mov %r1, 8|mov %r2, 8|mov %r3, 0|call 4|ldxdw %r0, [%r1]|exit"),
    ("seed", "uninitialised register r1", "mov %r1, %r10|add %r1, -8|mov %r2, 8|mov %r3, 0|call 4|ldxdw %r0, [%r1]|exit"),
    ("seed", "uninitialised register r3", "mov %r1, %r10|add %r1, -8|mov %r2, 8|call 4|exit"),
    ("seed", "out of bounds of the value of map 0", "LOOKUP|jeq %r0, 0, +4|mov %r1, %r0|mov %r2, 9|mov %r3, 0|call 4|mov %r0, 0|exit"),
    // --- calls: stack, frames ---
    ("seed", "uninitialised register r0", "call local f|exit|f:|mov %r1, 1|exit"),
    ("seed", "uninitialised register r0", "call local f|add %r0, 1|mov %r0, 0|exit|f:|exit"),
    ("seed", "exceeds 512", "stdw [%r10-512], 0|call local f|mov %r0, 0|exit|f:|stdw [%r10-8], 0|mov %r0, 0|exit"),
    ("seed", "exceeds 512", "stdw [%r10-256], 0|call local f|mov %r0, 0|exit|f:|stdw [%r10-200], 0|call local g|exit|g:|stdw [%r10-64], 0|mov %r0, 0|exit"),
    ("seed", "exceeds 512", "call local f|mov %r0, 0|exit|f:|stdw [%r10-300], 0|call local g|exit|g:|stdw [%r10-300], 0|mov %r0, 0|exit"),
    ("seed", "own stack", "call local f|mov %r0, 0|exit|f:|mov %r0, %r10|exit"),
    ("seed", "uninitialised register r1", "mov %r1, %r10|call local f|ldxdw %r0, [%r1]|exit|f:|mov %r0, 0|exit"),
    ("seed", "out of bounds of the stack", "mov %r1, %r10|call local f|mov %r0, 0|exit|f:|stdw [%r1], 0|mov %r0, 0|exit"),
    // --- division by the constant zero ---
    ("seed", "by the constant 0", "mov %r0, 1|div %r0, 0|exit"),
    ("seed", "by the constant 0", "mov %r0, 1|div32 %r0, 0|exit"),
    ("seed", "by the constant 0", "mov %r0, 1|mod %r0, 0|exit"),
    ("seed", "by the constant 0", "mov %r0, 1|mod32 %r0, 0|exit"),
    ("seed", "by the constant 0", "mov %r0, 1|sdiv %r0, 0|exit"),
    ("seed", "by the constant 0", "mov %r0, 1|sdiv32 %r0, 0|exit"),
    ("seed", "by the constant 0", "mov %r0, 1|smod %r0, 0|exit"),
    ("seed", "by the constant 0", "mov %r0, 1|smod32 %r0, 0|exit"),
    // --- control flow ---
    ("seed", "unreachable instruction", "mov %r0, 0|exit|mov %r0, 1|exit"),
    ("seed", "unreachable instruction", "mov %r0, 0|ja +1|mov %r0, 1|exit"),
    // --- atomics ---
    ("seed", "context is read-only", "mov %r2, 1|lock xchg [%r1+8], %r2|mov %r0, 0|exit"),
    ("seed", "possibly NULL", "LOOKUP|mov %r1, 1|lock add [%r0], %r1|mov %r0, 0|exit"),
    ("seed", "pointer leak", "stdw [%r10-8], 0|mov %r0, %r1|mov %r2, 0|lock cmpxchg [%r10-8], %r2|mov %r0, 0|exit"),
    ("seed", "out of bounds of the value of map 0", "LOOKUP|jeq %r0, 0, +2|mov %r1, 1|lock add32 [%r0+6], %r1|mov %r0, 0|exit"),
];

fn prog_type(name: &str) -> ProgType {
    match name {
        "seed" => ProgType::seed(),
        "kprobe" => ProgType::kprobe(),
        "seed-limited" => ProgType::seed().with_helpers(vec![1, 2]),
        "mem16" => ProgType::mem(16),
        "mem0" => ProgType::mem(0),
        other => panic!("unknown type {other}"),
    }
}

fn source(text: &str) -> String {
    text.replace("LOOKUP", LOOKUP)
        .replace("RESERVE", RESERVE)
        .replace('|', "\n")
}

/// The generated families: every size, both directions, for stack accesses.
fn generated() -> Vec<(String, String, String)> {
    let mut v = Vec::new();
    for (s, n) in [("b", 1i32), ("h", 2), ("w", 4), ("dw", 8)] {
        for off in [-513 - n, -513, 0, 8, 1 - n] {
            if off == 1 - n && n == 1 {
                continue; // [-0, 1) is the same as off 0 for bytes
            }
            v.push((
                "seed".into(),
                "out of bounds of the stack".into(),
                format!("st{s} [%r10{off:+}], 1|mov %r0, 0|exit"),
            ));
            v.push((
                "seed".into(),
                "out of bounds of the stack".into(),
                format!("ldx{s} %r0, [%r10{off:+}]|exit"),
            ));
        }
        v.push((
            "kprobe".into(),
            "invalid context access".into(),
            format!("ldx{s} %r0, [%r1+{}]|exit", 168 - n + 1),
        ));
    }
    v
}

fn opts() -> VerifyOptions {
    // Map 3 (`consts`, read-only) holds 0, 0, 0, 0, then 7 at byte 4 and 0xff at byte 8.
    let mut consts = [0u8; 16];
    consts[4] = 7;
    consts[8] = 0xff;
    VerifyOptions {
        max_processed: 100_000,
        map_contents: vec![None, None, None, Some(consts.to_vec().into()), None],
        ..VerifyOptions::default()
    }
}

fn check(ty: &str, expect: &str, src: &str) -> Result<(), String> {
    let text = source(src);
    let instrs = asm::assemble(&text).map_err(|e| format!("{src}: does not assemble: {e}"))?;
    let prog = Program::new(instrs).map_err(|e| format!("{src}: refused by Program::new: {e}"))?;
    match verify(&prog, &prog_type(ty), &helpers(), &maps(), &opts()) {
        Ok(_) => Err(format!("{src}: accepted, expected '{expect}'")),
        Err(e) if e.to_string().contains(expect) => {
            if !e.log.contains("error: ") {
                return Err(format!("{src}: no log for the failing path"));
            }
            Ok(())
        }
        Err(e) => Err(format!("{src}: '{e}', expected '{expect}'")),
    }
}

#[test]
fn every_unsafe_program_is_rejected_for_its_reason() {
    let mut failures = Vec::new();
    let mut n = 0;
    for (ty, expect, src) in CASES {
        n += 1;
        if let Err(e) = check(ty, expect, src) {
            failures.push(e);
        }
    }
    for (ty, expect, src) in generated() {
        n += 1;
        if let Err(e) = check(&ty, &expect, &src) {
            failures.push(e);
        }
    }
    assert!(n >= 150, "only {n} cases");
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Safe neighbours of the rejected programs: the verifier must not refuse these.
const ACCEPTED: &[(&str, &str)] = &[
    ("seed", "ldxdw %r0, [%r1+40]|exit"),
    ("seed", "lddw %r1, map_idx[4]|mov %r2, 0|call 37|exit"),
    // A knob that is 0 (`const volatile` in `.rodata`) turns off the path that would fail.
    ("seed", "lddw %r1, map_idx_value[3]+0|ldxw %r2, [%r1]|jeq %r2, 0, +1|mov %r0, %r3|mov %r0, 0|exit"),
    ("seed", "lddw %r1, map_idx_value[3]+4|ldxh %r2, [%r1]|jeq %r2, 7, +1|mov %r0, %r3|mov %r0, 0|exit"),
    // A void subprogram (r0 never set): Linux 6.1 checks r0 only at the main exit.
    ("seed", "call local f|mov %r0, 0|exit|f:|mov %r1, 1|exit"),
    ("seed", "RESERVE|jeq %r0, 0, +4|stdw [%r0+8], 1|mov %r1, %r0|mov %r2, 0|call 132|mov %r0, 0|exit"),
    ("seed", "RESERVE|mov %r6, %r0|jeq %r6, 0, +4|mov %r1, %r6|mov %r2, 0|call 133|ja +0|mov %r0, 0|exit"),
    ("kprobe", "ldxw %r0, [%r1+116]|ldxb %r2, [%r1+167]|exit"),
    ("seed", "LOOKUP|jeq %r0, 0, +1|ldxdw %r0, [%r0]|mov %r0, 0|exit"),
    ("seed", "LOOKUP|mov %r6, %r0|jeq %r0, 0, +2|ldxb %r1, [%r6+7]|stdw [%r6], 1|mov %r0, 0|exit"),
    ("seed", "ldxdw %r6, [%r1]|LOOKUP|jeq %r0, 0, +4|and %r6, 7|add %r0, %r6|ldxb %r0, [%r0]|exit|mov %r0, 0|exit"),
    ("seed", "ldxdw %r6, [%r1]|LOOKUP|jeq %r0, 0, +3|jgt %r6, 7, +2|add %r0, %r6|ldxb %r0, [%r0]|mov %r0, 0|exit"),
    ("mem16", "ldxb %r2, [%r1]|jgt %r2, 15, +2|add %r1, %r2|ldxb %r0, [%r1]|mov %r0, 0|exit"),
    ("mem16", "mov %r0, 0|mov %r2, 0|l:|ldxb %r3, [%r1]|add %r0, %r3|add %r1, 1|add %r2, 1|jlt %r2, 16, l|exit"),
    ("seed", "stxdw [%r10-8], %r1|ldxdw %r1, [%r10-8]|ldxdw %r0, [%r1]|exit"),
    ("seed", "mov %r0, %r10|sub %r0, %r10|exit"),
    ("seed", "stdw [%r10-8], 0|mov %r1, %r10|add %r1, -8|mov %r2, 8|mov %r3, 0|call 4|ldxdw %r0, [%r10-8]|exit"),
    ("seed", "mov %r1, %r10|add %r1, -16|mov %r2, 16|mov %r3, 0|call 4|mov %r1, %r10|add %r1, -16|mov %r2, 16|mov %r3, 0|mov %r4, 0|mov %r5, 0|call 6|exit"),
    // Constant formats on the stack: "%u %u" reads r3 and r4, "hi %%d\n" nothing, "%-5llu" r3.
    ("seed", "lddw %r1, 0x7525207525|stxdw [%r10-8], %r1|mov %r1, %r10|add %r1, -8|mov %r2, 8|mov %r3, 1|mov %r4, 2|call 6|exit"),
    ("seed", "lddw %r1, 0xa642525206968|stxdw [%r10-8], %r1|mov %r1, %r10|add %r1, -8|mov %r2, 8|call 6|exit"),
    ("seed", "lddw %r1, 0x756c6c352d25|stxdw [%r10-8], %r1|mov %r1, %r10|add %r1, -8|mov %r2, 8|mov %r3, 1|call 6|exit"),
    ("seed", "mov %r3, 5|call %r3|exit"),
    ("seed", "stdw [%r10-256], 0|call local f|mov %r0, 0|exit|f:|stdw [%r10-256], 0|mov %r0, 0|exit"),
    ("seed", "mov %r1, %r10|add %r1, -8|call local f|ldxdw %r0, [%r10-8]|exit|f:|stdw [%r1], 3|mov %r0, 0|exit"),
    ("seed", "mov %r0, 1|ldxdw %r2, [%r1]|div %r0, %r2|mod %r0, %r2|exit"),
    ("seed", "mov %r0, 0|mov %r1, 0|l:|add %r1, 1|jlt %r1, 1000, l|exit"),
    ("seed", "LOOKUP|jeq %r0, 0, +2|mov %r1, 1|lock add [%r0], %r1|mov %r0, 0|exit"),
    ("mem16", "mov %r2, 1|lock fetch add32 [%r1+12], %r2|mov %r0, %r2|exit"),
    ("seed", "lddw %r1, map_idx_value[1]+8|ldxdw %r0, [%r1]|exit"),
];

#[test]
fn safe_neighbours_are_accepted() {
    let mut failures = Vec::new();
    for (ty, src) in ACCEPTED {
        let prog = Program::new(asm::assemble(&source(src)).expect("assembles")).expect("valid");
        let o = VerifyOptions {
            max_processed: 1_000_000,
            ..opts()
        };
        if let Err(e) = verify(&prog, &prog_type(ty), &helpers(), &maps(), &o) {
            failures.push(format!("{src}: {e}\n{}", e.log));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Structural errors surface through `verify_bytes` with their instruction index.
#[test]
fn structural_errors_surface_from_bytes() {
    let bytes = |src: &str| {
        isa::slots_to_bytes(&instr::encode(
            &asm::assemble(&source(src)).expect("assembles"),
        ))
    };
    let mut cases: Vec<(Vec<u8>, usize, &str)> = vec![
        (bytes("ja +5|exit"), 0, "jump out of bounds"),
        (
            bytes("ja +1|lddw %r0, 1|exit"),
            0,
            "jump to the middle of lddw",
        ),
        (
            bytes("call local +1|lddw %r0, 1|exit"),
            0,
            "local call to the middle of lddw",
        ),
        (bytes("mov %r0, 0"), 0, "does not end with exit"),
        (
            bytes("call local f|exit|f:|call local f|exit"),
            2,
            "recursion",
        ),
    ];
    // Hand-made slots: a write to r10, an incomplete lddw, an unknown opcode.
    let mut w10 = bytes("mov %r0, 0|exit");
    w10[1] = 0x0a; // dst = r10
    cases.push((w10, 0, "read-only frame pointer"));
    let mut inc = bytes("mov %r0, 0|exit");
    inc.truncate(8);
    inc[0] = isa::op::LDDW;
    cases.push((inc, 0, "incomplete lddw"));
    let mut unk = bytes("mov %r0, 0|exit");
    unk[8] = 0xff;
    cases.push((unk, 1, "unknown opcode"));
    for (b, pc, expect) in cases {
        let e = verify_bytes(&b, &ProgType::seed(), &helpers(), &maps(), &opts())
            .expect_err("structurally invalid");
        assert_eq!(e.pc, pc, "{e}");
        assert!(e.to_string().contains(expect), "{e}: expected '{expect}'");
    }
}

#[test]
fn the_log_shows_the_failing_path_with_states() {
    let prog = Program::new(
        asm::assemble(&source(
            "ldxdw %r2, [%r1]|jgt %r2, 10, +2|mov %r0, 0|exit|ldxdw %r0, [%r10-8]|exit",
        ))
        .expect("ok"),
    )
    .expect("valid");
    let e =
        verify(&prog, &ProgType::seed(), &helpers(), &maps(), &opts()).expect_err("uninit stack");
    assert_eq!(e.pc, 4);
    // The failing path is the taken edge: the fall-through path was cut from the log.
    assert!(e.log.contains("from 1 to 4:"), "{}", e.log);
    assert!(!e.log.contains("2: mov %r0, 0"), "{}", e.log);
    assert!(e.log.contains("R2=scalar(umin=11)"), "{}", e.log);
    assert!(e.log.contains("R1=ctx() R2=scalar() R10=fp0"), "{}", e.log);
    assert!(
        e.log.contains("4: error: reads uninitialised stack"),
        "{}",
        e.log
    );
    // Source lines from the hook, and no log at all when not asked for.
    let with_lines = VerifyOptions {
        line_info: Some(std::sync::Arc::new(|pc| {
            Some(format!("filter.c:{}", 10 + pc))
        })),
        ..opts()
    };
    let e = verify(&prog, &ProgType::seed(), &helpers(), &maps(), &with_lines).expect_err("x");
    assert!(e.log.contains("; filter.c:14"), "{}", e.log);
    let quiet = VerifyOptions {
        log_level: LogLevel::None,
        ..opts()
    };
    let e = verify(&prog, &ProgType::seed(), &helpers(), &maps(), &quiet).expect_err("x");
    assert!(e.log.is_empty());
    // A bounded log keeps the tail.
    let small = VerifyOptions {
        log_limit: 120,
        ..opts()
    };
    let e = verify(&prog, &ProgType::seed(), &helpers(), &maps(), &small).expect_err("x");
    assert!(e.log.len() < 300 && e.log.contains("error:"), "{}", e.log);
}

#[test]
fn facts_for_the_jit() {
    let prog = Program::new(
        asm::assemble(&source(
            "ldxdw %r2, [%r1]|mov %r0, 1|div %r0, %r2|or %r2, 1|div %r0, %r2|exit",
        ))
        .expect("ok"),
    )
    .expect("valid");
    let all = VerifyOptions {
        log_level: LogLevel::All,
        ..opts()
    };
    let v = verify(&prog, &ProgType::seed(), &helpers(), &maps(), &all).expect("safe");
    assert!(v.facts[2].divisor_may_be_zero);
    assert!(!v.facts[4].divisor_may_be_zero);
    assert!(v.facts.iter().all(|f| f.reached));
    assert_eq!(v.processed, 6);
    assert!(v.log.contains("4: div %r0, %r2"), "{}", v.log);
    let calls = Program::new(
        asm::assemble(&source(
            "stdw [%r10-16], 0|call local f|mov %r0, 0|exit|f:|stdw [%r10-40], 0|mov %r0, 0|exit",
        ))
        .expect("ok"),
    )
    .expect("valid");
    let v = verify(&calls, &ProgType::seed(), &helpers(), &maps(), &opts()).expect("safe");
    assert_eq!(v.stack_depth, vec![16, 40]);
}
