//! Runtime maps through the interpreter: assembled programs call the map helpers with `lddw`
//! handles, over value memory lent to checked runs with `MapSet::regions`; and a property test
//! of the hash map against a `std` model.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use jit::asm::assemble;
use jit::helpers::Helpers;
use jit::interp::{Interpreter, Prepared, RunError};
use jit::maps::helpers::register_map_helpers;
use jit::maps::{MapDef, MapKind, MapSet, BPF_F_RDONLY_PROG};
use jit::Program;
use proptest::prelude::*;
use std::collections::HashMap;

fn def(name: &str, kind: MapKind, ks: u32, vs: u32, n: u32) -> MapDef {
    MapDef {
        name: name.into(),
        kind,
        key_size: ks,
        value_size: vs,
        max_entries: n,
        flags: 0,
    }
}

/// Assembles, resolves map references against `maps` and links the map helpers.
fn prepare(src: &str, maps: &MapSet) -> Prepared {
    let mut prog = Program::new(assemble(src).expect("assembles")).expect("valid");
    maps.resolve_program(&mut prog).expect("resolves");
    let mut h = Helpers::<MapSet>::new();
    register_map_helpers(&mut h);
    Prepared::new(&prog, &h).expect("links")
}

fn run(p: &Prepared, maps: &mut MapSet, mem: &mut [u8]) -> Result<u64, RunError> {
    let regions = maps.regions();
    Interpreter::new().run_checked(p, mem, &regions, maps, Some(100_000))
}

/// Counts occurrences of the u32 key in the input: lookup, then increment in place through the
/// returned pointer, or insert 1 with BPF_NOEXIST.
const COUNTER: &str = "
    ldxw %r2, [%r1+0]
    stxw [%r10-4], %r2
    lddw %r1, map_idx[0]
    mov %r2, %r10
    add %r2, -4
    call 1
    jeq %r0, 0, insert
    ldxdw %r1, [%r0+0]
    add %r1, 1
    stxdw [%r0+0], %r1
    mov %r0, 0
    exit
insert:
    stdw [%r10-16], 1
    lddw %r1, map_idx[0]
    mov %r2, %r10
    add %r2, -4
    mov %r3, %r10
    add %r3, -16
    mov %r4, 1
    call 2
    exit
";

#[test]
fn hash_counter_through_helpers() {
    for kind in [MapKind::Hash, MapKind::PercpuHash, MapKind::LruHash] {
        let mut maps = MapSet::new();
        maps.add(def("counts", kind, 4, 8, 4), None).unwrap();
        let p = prepare(COUNTER, &maps);
        let inputs = [7u32, 3, 7, 7, 9, 3, 1];
        let mut expect: HashMap<u32, u64> = HashMap::new();
        for &k in &inputs {
            let r0 = run(&p, &mut maps, &mut k.to_le_bytes()).unwrap();
            assert_eq!(r0, 0, "{kind:?} key {k}");
            *expect.entry(k).or_default() += 1;
        }
        let m = maps.get(0).unwrap();
        for (k, n) in &expect {
            let v = m.get(&k.to_le_bytes()).unwrap();
            assert_eq!(
                u64::from_le_bytes(v.try_into().unwrap()),
                *n,
                "{kind:?} key {k}"
            );
        }
        // A fifth distinct key: a plain hash map is full (-E2BIG), an LRU one evicts key 7
        // (least recently used: 9, 3 and 1 were used after it).
        let r0 = run(&p, &mut maps, &mut 42u32.to_le_bytes()).unwrap();
        let m = maps.get(0).unwrap();
        if kind == MapKind::LruHash {
            assert_eq!(r0, 0);
            assert!(m.get(&7u32.to_le_bytes()).is_none());
            assert!(m.get(&42u32.to_le_bytes()).is_some());
        } else {
            assert_eq!(r0 as i64, -7, "{kind:?}: -E2BIG");
            assert_eq!(m.entries().len(), 4);
        }
    }
}

#[test]
fn update_flags_and_delete_return_kernel_errnos() {
    // r6 = update(key 5, BPF_EXIST) ; r7 = update(key 5, BPF_NOEXIST) ; r8 = same again ;
    // r9 = delete(key 6); r0 = r6 | r7 << 8 | r8 << 16 | r9 << 24 (low bytes of each errno).
    let src = "
        stw [%r10-4], 5
        stw [%r10-8], 6
        stdw [%r10-16], 77
        lddw %r1, map_idx[0]
        mov %r2, %r10
        add %r2, -4
        mov %r3, %r10
        add %r3, -16
        mov %r4, 2
        call 2
        mov %r6, %r0
        lddw %r1, map_idx[0]
        mov %r2, %r10
        add %r2, -4
        mov %r3, %r10
        add %r3, -16
        mov %r4, 1
        call 2
        mov %r7, %r0
        lddw %r1, map_idx[0]
        mov %r2, %r10
        add %r2, -4
        mov %r3, %r10
        add %r3, -16
        mov %r4, 1
        call 2
        mov %r8, %r0
        lddw %r1, map_idx[0]
        mov %r2, %r10
        add %r2, -8
        call 3
        mov %r9, %r0
        and %r6, 0xff
        and %r7, 0xff
        and %r8, 0xff
        and %r9, 0xff
        lsh %r7, 8
        lsh %r8, 16
        lsh %r9, 24
        mov %r0, %r6
        or %r0, %r7
        or %r0, %r8
        or %r0, %r9
        exit
    ";
    let mut maps = MapSet::new();
    maps.add(def("h", MapKind::Hash, 4, 8, 8), None).unwrap();
    let p = prepare(src, &maps);
    let r0 = run(&p, &mut maps, &mut []).unwrap();
    let enoent = (-2i64) as u8 as u64;
    let eexist = (-17i64) as u8 as u64;
    assert_eq!(r0, enoent | (eexist << 16) | (enoent << 24));
    let v = maps.get(0).unwrap().get(&5u32.to_le_bytes()).unwrap();
    assert_eq!(v, 77u64.to_le_bytes());
}

#[test]
fn global_data_by_direct_value_address() {
    let mut maps = MapSet::new();
    let mut rodata = def(".rodata", MapKind::Array, 4, 8, 1);
    rodata.flags = BPF_F_RDONLY_PROG;
    maps.add(rodata, Some(&[1, 0, 0, 0, 40, 0, 0, 0])).unwrap();
    maps.add(def(".bss", MapKind::Array, 4, 8, 1), None)
        .unwrap();
    // .bss += .rodata[4..8] + 2 ; return it.
    let src = "
        lddw %r1, map_idx_value[0]+4
        ldxw %r2, [%r1+0]
        add %r2, 2
        lddw %r3, map_idx_value[1]+0
        ldxdw %r0, [%r3+0]
        add %r0, %r2
        stxdw [%r3+0], %r0
        exit
    ";
    let p = prepare(src, &maps);
    assert_eq!(run(&p, &mut maps, &mut []).unwrap(), 42);
    assert_eq!(run(&p, &mut maps, &mut []).unwrap(), 84);
    let bss = maps.get(1).unwrap().get(&0u32.to_le_bytes()).unwrap();
    assert_eq!(u64::from_le_bytes(bss.try_into().unwrap()), 84);
    // .rodata is read-only to programs: a checked run refuses the write.
    let w = prepare(
        "lddw %r1, map_idx_value[0]+0\nstw [%r1+0], 9\nmov %r0, 0\nexit",
        &maps,
    );
    assert!(matches!(
        run(&w, &mut maps, &mut []),
        Err(RunError::Memory { .. })
    ));
}

#[test]
fn ringbuf_reserve_submit_discard_output() {
    // Reserve 12 bytes, write the input's first u64 and a marker, submit; reserve 8 and discard;
    // then output the input's 8 bytes directly.
    let src = "
        mov %r6, %r1
        lddw %r1, map_idx[0]
        mov %r2, 12
        mov %r3, 0
        call 131
        jeq %r0, 0, fail
        ldxdw %r1, [%r6+0]
        stxdw [%r0+0], %r1
        stw [%r0+8], 0x55
        mov %r1, %r0
        mov %r2, 0
        call 132
        lddw %r1, map_idx[0]
        mov %r2, 8
        mov %r3, 0
        call 131
        jeq %r0, 0, fail
        mov %r1, %r0
        mov %r2, 0
        call 133
        lddw %r1, map_idx[0]
        mov %r2, %r6
        mov %r3, 8
        mov %r4, 0
        call 130
        exit
    fail:
        mov %r0, 1
        exit
    ";
    let mut maps = MapSet::new();
    maps.add(def("rb", MapKind::RingBuf, 0, 0, 4096), None)
        .unwrap();
    let p = prepare(src, &maps);
    let input = 0x1122_3344_5566_7788u64.to_le_bytes();
    let mut runs = 0;
    // Each run takes 24 + 16 + 16 = 56 bytes of the 4096-byte ring.
    loop {
        let r0 = run(&p, &mut maps, &mut input.clone()).unwrap();
        if r0 != 0 {
            break;
        }
        runs += 1;
        assert!(runs < 100);
    }
    assert_eq!(runs, 4096 / 56);
    let rb = maps.get_mut(0).unwrap().ringbuf_mut().unwrap();
    let records = rb.drain();
    // Per run, the discarded record is skipped; the failing run found only 4096 - 73 * 56 = 8
    // bytes free, too few for its first 24-byte record.
    assert_eq!(records.len(), 2 * runs);
    let mut first = input.to_vec();
    first.extend_from_slice(&[0x55, 0, 0, 0]);
    assert_eq!(records[0], first);
    assert_eq!(records[1], input.to_vec());
    // After draining, the ring has room again (and wraps around).
    assert_eq!(run(&p, &mut maps, &mut input.clone()).unwrap(), 0);
    assert_eq!(
        maps.get_mut(0)
            .unwrap()
            .ringbuf_mut()
            .unwrap()
            .drain()
            .len(),
        2
    );
}

#[test]
fn ringbuf_submit_of_a_bad_pointer_fails_the_run() {
    let mut maps = MapSet::new();
    maps.add(def("rb", MapKind::RingBuf, 0, 0, 4096), None)
        .unwrap();
    let p = prepare(
        "mov %r1, %r10\nmov %r2, 0\ncall 132\nmov %r0, 0\nexit",
        &maps,
    );
    let e = run(&p, &mut maps, &mut []).unwrap_err();
    assert!(
        matches!(&e, RunError::Helper { msg, .. } if msg.contains("bpf_ringbuf_submit")),
        "{e}"
    );
}

#[test]
fn perf_event_output_delivers_samples() {
    let src = "
        mov %r4, %r1
        mov %r1, 0
        lddw %r2, map_idx[0]
        lddw %r3, 0xffffffff
        mov %r5, 6
        call 25
        exit
    ";
    let mut maps = MapSet::new();
    maps.add(def("events", MapKind::PerfEventArray, 4, 4, 1), None)
        .unwrap();
    let p = prepare(src, &maps);
    assert_eq!(run(&p, &mut maps, &mut b"abcdef".clone()).unwrap(), 0);
    assert_eq!(run(&p, &mut maps, &mut b"ghijkl".clone()).unwrap(), 0);
    let samples = maps.get_mut(0).unwrap().perf_mut().unwrap().drain();
    let data: Vec<&[u8]> = samples.iter().map(|s| s.data.as_slice()).collect();
    assert_eq!(data, vec![&b"abcdef"[..], &b"ghijkl"[..]]);
}

/// One operation on the map and on the model.
#[derive(Debug, Clone)]
enum Op {
    Update(u8, u8, u64),
    Delete(u8),
    Lookup(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..12, any::<u8>(), 0u64..4).prop_map(|(k, v, f)| Op::Update(k, v, f)),
        (0u8..12).prop_map(Op::Delete),
        (0u8..12).prop_map(Op::Lookup),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The hash map agrees with a `std` model (capacity 8, 12 possible keys, every flag value),
    /// and an element keeps its value address for as long as it exists.
    #[test]
    fn hash_map_matches_model(ops in prop::collection::vec(op(), 1..80)) {
        let mut maps = MapSet::new();
        maps.add(def("h", MapKind::Hash, 1, 2, 8), None).unwrap();
        let m = maps.get_mut(0).unwrap();
        let mut model: HashMap<u8, [u8; 2]> = HashMap::new();
        let mut addrs: HashMap<u8, u64> = HashMap::new();
        for op in ops {
            match op {
                Op::Update(k, v, flags) => {
                    let exists = model.contains_key(&k);
                    let expect = match flags {
                        0..=2 if flags == 1 && exists => Err(-17),
                        0..=2 if flags == 2 && !exists => Err(-2),
                        0..=2 if !exists && model.len() == 8 => Err(-7),
                        0..=2 => Ok(()),
                        _ => Err(-22),
                    };
                    let got = m.update(&[k], &[v, !v], flags).map_err(|e| e.errno());
                    prop_assert_eq!(got, expect);
                    if got.is_ok() {
                        model.insert(k, [v, !v]);
                    }
                }
                Op::Delete(k) => {
                    let got = m.delete(&[k]).map_err(|e| e.errno());
                    prop_assert_eq!(got, if model.remove(&k).is_some() { Ok(()) } else { Err(-2) });
                    addrs.remove(&k);
                }
                Op::Lookup(k) => {
                    let a = m.lookup(&[k]);
                    prop_assert_eq!(a.is_some(), model.contains_key(&k));
                    if let Some(a) = a {
                        let first = *addrs.entry(k).or_insert(a);
                        prop_assert_eq!(first, a, "value moved");
                    }
                }
            }
            prop_assert_eq!(m.get(&[0]).map(|v| [v[0], v[1]]), model.get(&0).copied());
        }
        let mut got: Vec<(Vec<u8>, Vec<u8>)> = m.entries();
        got.sort();
        let mut want: Vec<(Vec<u8>, Vec<u8>)> =
            model.iter().map(|(k, v)| (vec![*k], v.to_vec())).collect();
        want.sort();
        prop_assert_eq!(got, want);
    }
}
