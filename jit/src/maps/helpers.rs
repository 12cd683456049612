//! The map helpers, for any environment that lends a [`MapSet`] ([`MapEnv`]).
//!
//! | id  | helper                  | returns                                         |
//! |-----|-------------------------|-------------------------------------------------|
//! | 1   | `bpf_map_lookup_elem`   | value address or NULL                           |
//! | 2   | `bpf_map_update_elem`   | 0 or -EEXIST/-ENOENT/-E2BIG/-EINVAL             |
//! | 3   | `bpf_map_delete_elem`   | 0 or -ENOENT/-EINVAL                            |
//! | 25  | `bpf_perf_event_output` | 0 or -E2BIG/-ENOENT/-EINVAL (ctx is ignored)    |
//! | 130 | `bpf_ringbuf_output`    | 0 or -EAGAIN/-EINVAL                            |
//! | 131 | `bpf_ringbuf_reserve`   | record address or NULL                          |
//! | 132 | `bpf_ringbuf_submit`    | nothing; fails the run on a bad record pointer  |
//! | 133 | `bpf_ringbuf_discard`   | as submit                                       |
//!
//! Map arguments are handles ([`super::MapSet::handle`]); keys, values and data are read from program
//! memory through [`HelperCx::read`], so a checked run polices them like any other access. A
//! handle that names no map, or an unreadable key, gives NULL / `-EINVAL` / `-EFAULT` (the
//! verifier rules these out for verified programs).
//!
//! A reserved ring-buffer record is a pointer the verifier tracks
//! ([`Ret::RingbufRecordOrNull`], [`Arg::RingbufRecord`]): after the NULL check the program may
//! read and write its bytes, and it must submit or discard it on every path before exiting.

use super::MapKind;
use super::{errno, MapEnv, MapError};
use crate::helpers::{Arg, HelperCx, HelperImpl, Helpers, Proto, Ret};

/// Helper ids, as the kernel's `enum bpf_func_id`.
pub mod ids {
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    pub const MAP_UPDATE_ELEM: u32 = 2;
    pub const MAP_DELETE_ELEM: u32 = 3;
    pub const PERF_EVENT_OUTPUT: u32 = 25;
    pub const RINGBUF_OUTPUT: u32 = 130;
    pub const RINGBUF_RESERVE: u32 = 131;
    pub const RINGBUF_SUBMIT: u32 = 132;
    pub const RINGBUF_DISCARD: u32 = 133;
}

fn neg(e: i64) -> u64 {
    (-e) as u64
}

fn err(e: MapError) -> u64 {
    e.errno() as u64
}

/// Key and value sizes of the map behind `handle`.
fn sizes<E: MapEnv>(cx: &mut HelperCx<'_, '_, E>, handle: u64) -> Option<(usize, usize)> {
    let d = cx.env().maps().by_handle(handle)?.def();
    Some((d.key_size as usize, d.value_size as usize))
}

/// Reads `len` bytes of program memory.
fn read<E>(cx: &HelperCx<'_, '_, E>, addr: u64, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    cx.read(addr, &mut buf).ok()?;
    Some(buf)
}

/// `void *bpf_map_lookup_elem(map, key)`.
#[derive(Debug)]
pub struct MapLookupElem;
impl<E: MapEnv> HelperImpl<E> for MapLookupElem {
    fn call(cx: &mut HelperCx<'_, '_, E>, a: [u64; 5]) -> u64 {
        let Some((ks, _)) = sizes(cx, a[0]) else {
            return 0;
        };
        // Keys are small: read them onto the stack (the hot path of most filters).
        let mut small = [0u8; 64];
        let heap;
        let key: &[u8] = if ks <= small.len() {
            if cx.read(a[1], &mut small[..ks]).is_err() {
                return 0;
            }
            &small[..ks]
        } else {
            let Some(k) = read(cx, a[1], ks) else {
                return 0;
            };
            heap = k;
            &heap
        };
        cx.env()
            .maps()
            .by_handle(a[0])
            .and_then(|m| m.lookup(key))
            .unwrap_or(0)
    }
}

/// `long bpf_map_update_elem(map, key, value, flags)`.
#[derive(Debug)]
pub struct MapUpdateElem;
impl<E: MapEnv> HelperImpl<E> for MapUpdateElem {
    fn call(cx: &mut HelperCx<'_, '_, E>, a: [u64; 5]) -> u64 {
        let Some((ks, vs)) = sizes(cx, a[0]) else {
            return neg(errno::EINVAL);
        };
        let (Some(key), Some(value)) = (read(cx, a[1], ks), read(cx, a[2], vs)) else {
            return neg(errno::EFAULT);
        };
        match cx.env().maps().by_handle(a[0]) {
            Some(m) => m.update(&key, &value, a[3]).map_or_else(err, |()| 0),
            None => neg(errno::EINVAL),
        }
    }
}

/// `long bpf_map_delete_elem(map, key)`.
#[derive(Debug)]
pub struct MapDeleteElem;
impl<E: MapEnv> HelperImpl<E> for MapDeleteElem {
    fn call(cx: &mut HelperCx<'_, '_, E>, a: [u64; 5]) -> u64 {
        let Some((ks, _)) = sizes(cx, a[0]) else {
            return neg(errno::EINVAL);
        };
        let Some(key) = read(cx, a[1], ks) else {
            return neg(errno::EFAULT);
        };
        match cx.env().maps().by_handle(a[0]) {
            Some(m) => m.delete(&key).map_or_else(err, |()| 0),
            None => neg(errno::EINVAL),
        }
    }
}

/// `long bpf_perf_event_output(ctx, map, flags, data, size)`.
#[derive(Debug)]
pub struct PerfEventOutput;
impl<E: MapEnv> HelperImpl<E> for PerfEventOutput {
    fn call(cx: &mut HelperCx<'_, '_, E>, a: [u64; 5]) -> u64 {
        let Some(data) = read(cx, a[3], a[4] as usize) else {
            return neg(errno::EFAULT);
        };
        match cx.env().maps().by_handle(a[1]).and_then(|m| m.perf_mut()) {
            Some(p) => p.output(a[2], &data).map_or_else(err, |()| 0),
            None => neg(errno::EINVAL),
        }
    }
}

/// `long bpf_ringbuf_output(ringbuf, data, size, flags)`.
#[derive(Debug)]
pub struct RingbufOutput;
impl<E: MapEnv> HelperImpl<E> for RingbufOutput {
    fn call(cx: &mut HelperCx<'_, '_, E>, a: [u64; 5]) -> u64 {
        let Some(data) = read(cx, a[1], a[2] as usize) else {
            return neg(errno::EFAULT);
        };
        match cx
            .env()
            .maps()
            .by_handle(a[0])
            .and_then(|m| m.ringbuf_mut())
        {
            Some(r) => r.output(&data, a[3]).map_or_else(err, |()| 0),
            None => neg(errno::EINVAL),
        }
    }
}

/// `void *bpf_ringbuf_reserve(ringbuf, size, flags)`.
#[derive(Debug)]
pub struct RingbufReserve;
impl<E: MapEnv> HelperImpl<E> for RingbufReserve {
    fn call(cx: &mut HelperCx<'_, '_, E>, a: [u64; 5]) -> u64 {
        if a[2] != 0 {
            return 0;
        }
        cx.env()
            .maps()
            .by_handle(a[0])
            .and_then(|m| m.ringbuf_mut())
            .and_then(|r| r.reserve(a[1]))
            .unwrap_or(0)
    }
}

/// Commits or discards the record at `a[0]`; a pointer that is no reserved record fails the run.
fn finish<E: MapEnv>(cx: &mut HelperCx<'_, '_, E>, a: [u64; 5], discard: bool) -> u64 {
    let res = match cx.env().maps().ringbuf_at(a[0]) {
        Some(r) => r.finish(a[0], discard),
        None => Err(MapError::BadRecord(a[0])),
    };
    if let Err(e) = res {
        let name = if discard { "discard" } else { "submit" };
        cx.fail(format!("bpf_ringbuf_{name}: {e}"));
    }
    0
}

/// `void bpf_ringbuf_submit(data, flags)`.
#[derive(Debug)]
pub struct RingbufSubmit;
impl<E: MapEnv> HelperImpl<E> for RingbufSubmit {
    fn call(cx: &mut HelperCx<'_, '_, E>, a: [u64; 5]) -> u64 {
        finish(cx, a, false)
    }
}

/// `void bpf_ringbuf_discard(data, flags)`.
#[derive(Debug)]
pub struct RingbufDiscard;
impl<E: MapEnv> HelperImpl<E> for RingbufDiscard {
    fn call(cx: &mut HelperCx<'_, '_, E>, a: [u64; 5]) -> u64 {
        finish(cx, a, true)
    }
}

/// Registers every map helper under its kernel id.
pub fn register_map_helpers<E: MapEnv>(h: &mut Helpers<E>) {
    use Arg::*;
    h.register::<MapLookupElem>(
        ids::MAP_LOOKUP_ELEM,
        Proto::new("bpf_map_lookup_elem", [Map, MapKey], Ret::MapValueOrNull),
    );
    h.register::<MapUpdateElem>(
        ids::MAP_UPDATE_ELEM,
        Proto::new(
            "bpf_map_update_elem",
            [Map, MapKey, MapValue, Scalar],
            Ret::Integer,
        ),
    );
    h.register::<MapDeleteElem>(
        ids::MAP_DELETE_ELEM,
        Proto::new("bpf_map_delete_elem", [Map, MapKey], Ret::Integer),
    );
    h.register::<PerfEventOutput>(
        ids::PERF_EVENT_OUTPUT,
        Proto::new(
            "bpf_perf_event_output",
            [Ctx, Map, Scalar, MemRead, SizeOrZero],
            Ret::Integer,
        )
        .for_maps(&[MapKind::PerfEventArray]),
    );
    h.register::<RingbufOutput>(
        ids::RINGBUF_OUTPUT,
        Proto::new(
            "bpf_ringbuf_output",
            [Map, MemRead, SizeOrZero, Scalar],
            Ret::Integer,
        )
        .for_maps(&[MapKind::RingBuf]),
    );
    h.register::<RingbufReserve>(
        ids::RINGBUF_RESERVE,
        Proto::new(
            "bpf_ringbuf_reserve",
            [Map, AllocSize, Scalar],
            Ret::RingbufRecordOrNull,
        )
        .for_maps(&[MapKind::RingBuf]),
    );
    h.register::<RingbufSubmit>(
        ids::RINGBUF_SUBMIT,
        Proto::new("bpf_ringbuf_submit", [RingbufRecord, Scalar], Ret::Void).may_abort(),
    );
    h.register::<RingbufDiscard>(
        ids::RINGBUF_DISCARD,
        Proto::new("bpf_ringbuf_discard", [RingbufRecord, Scalar], Ret::Void).may_abort(),
    );
}
