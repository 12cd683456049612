//! Our engines against peers, in one run: the same programs through our interpreter and our
//! JIT (both running verified programs without checks, as bpflab runs filters), the rbpf
//! crate's interpreter and JIT, and native Rust doing the same work.
//!
//! Workloads: a 16-bit one's-complement checksum over 64 bytes, a byte-sum loop over 384
//! bytes, the empty program, and a filter making 16 map lookups through a helper.
//!
//! `cargo bench -p jit --bench engines`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use jit::asm::assemble;
use jit::helpers::Helpers;
use jit::maps::{MapDef, MapEnv, MapKind, MapSet};
use jit::proven::{EngineKind, ProvenProgram};
use jit::verifier::{ProgType, VerifyOptions};
use jit::Program;

const CHECKSUM: &str = "
    mov %r0, 0
    mov %r3, 0
loop:
    mov %r4, %r1
    add %r4, %r3
    ldxh %r5, [%r4]
    add %r0, %r5
    add %r3, 2
    jlt %r3, 64, loop
    mov %r4, %r0
    rsh %r4, 16
    and %r0, 0xffff
    add %r0, %r4
    mov %r4, %r0
    rsh %r4, 16
    add %r0, %r4
    and %r0, 0xffff
    xor %r0, 0xffff
    exit";

const BYTESUM: &str = "
    mov %r0, 0
    mov %r3, 0
loop:
    mov %r4, %r1
    add %r4, %r3
    ldxb %r5, [%r4]
    add %r0, %r5
    add %r3, 1
    jlt %r3, 384, loop
    exit";

const EMPTY: &str = "mov %r0, 0\nexit";

/// For us `MAP`, `KEY` and `VALUE` are the kernel's idiom (a map, a pointer to the key on the
/// stack, a pointer to the value back). rbpf has no maps and its interpreter can only read the
/// stack and the packet, so for it the helper takes the key by value and returns the value.
const LOOKUPS: &str = "
    mov %r6, 0
    mov %r7, 0
loop:
    mov %r1, %r7
    and %r1, 7
    stxw [%r10-4], %r1
    MAP
    KEY
    call 1
    jeq %r0, 0, skip
    VALUE
    add %r6, %r1
skip:
    add %r7, 1
    jlt %r7, 16, loop
    mov %r0, %r6
    exit";

fn native_checksum(mem: &[u8]) -> u64 {
    let mut sum = 0u64;
    for c in mem[..64].chunks_exact(2) {
        sum += u64::from(u16::from_le_bytes([c[0], c[1]]));
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum += sum >> 16;
    (sum & 0xffff) ^ 0xffff
}

fn native_bytesum(mem: &[u8]) -> u64 {
    mem[..384].iter().map(|&b| u64::from(b)).sum()
}

static TABLE: [u64; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

fn native_lookups(table: &[u64; 8]) -> u64 {
    (0..16u32).map(|i| table[(black_box(i) & 7) as usize]).sum()
}

/// rbpf's helper 1: a lookup in [`TABLE`] by key, returning the value.
fn rbpf_lookup(_map: u64, key: u64, _: u64, _: u64, _: u64) -> u64 {
    TABLE.get(key as usize).copied().unwrap_or(0)
}

struct Env {
    maps: MapSet,
}

impl MapEnv for Env {
    fn maps(&mut self) -> &mut MapSet {
        &mut self.maps
    }
}

fn ours(src: &str, mem_len: u64, maps: &MapSet, jit: bool) -> ProvenProgram<Env> {
    let mut h = Helpers::<Env>::new();
    jit::maps::helpers::register_map_helpers(&mut h);
    let src = src
        .replace("MAP", "lddw %r1, map_idx[0]")
        .replace("KEY", "mov %r2, %r10\nadd %r2, -4")
        .replace("VALUE", "ldxdw %r1, [%r0]");
    let prog = Program::new(assemble(&src).expect("asm")).expect("valid");
    let p = ProvenProgram::new(
        &prog,
        ProgType::mem(mem_len),
        &h,
        maps,
        &VerifyOptions::default(),
        jit,
    )
    .expect("verifies");
    assert_eq!(
        p.engine(),
        if jit {
            EngineKind::Jit
        } else {
            EngineKind::Interpreter
        }
    );
    p
}

fn rbpf_bytes(src: &str) -> Vec<u8> {
    let src = src
        .replace("MAP", "mov %r1, 0")
        .replace("KEY", "ldxw %r2, [%r10-4]")
        .replace("VALUE", "mov %r1, %r0");
    let prog = Program::new(assemble(&src).expect("asm")).expect("valid");
    prog.to_bytes()
}

fn engines(c: &mut Criterion) {
    let mut mem: Vec<u8> = (0..384u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut maps = MapSet::new();
    maps.add(
        MapDef {
            name: "table".into(),
            kind: MapKind::Array,
            key_size: 4,
            value_size: 8,
            max_entries: 8,
            flags: 0,
        },
        None,
    )
    .expect("map");
    for (i, v) in TABLE.iter().enumerate() {
        maps.get_mut(0)
            .expect("map 0")
            .update(&(i as u32).to_le_bytes(), &v.to_le_bytes(), 0)
            .expect("update");
    }
    let mut env = Env { maps };

    let workloads: [(&str, &str, usize, u64); 4] = [
        ("checksum64", CHECKSUM, 64, native_checksum(&mem)),
        ("bytesum384", BYTESUM, 384, native_bytesum(&mem)),
        ("empty", EMPTY, 64, 0),
        ("map_lookups16", LOOKUPS, 64, native_lookups(&TABLE)),
    ];
    for (name, src, len, want) in workloads {
        let mut g = c.benchmark_group(name);
        let mut our_jit = ours(src, len as u64, &env.maps, true);
        let mut our_interp = ours(src, len as u64, &env.maps, false);
        let m = &mut mem[..len];
        assert_eq!(our_jit.run_mem_maps(m, &mut env), Ok(want), "{name} jit");
        assert_eq!(
            our_interp.run_mem_maps(m, &mut env),
            Ok(want),
            "{name} interp"
        );
        g.bench_function("bpflab_jit", |b| {
            b.iter(|| our_jit.run_mem_maps(black_box(&mut *m), &mut env))
        });
        g.bench_function("bpflab_interp", |b| {
            b.iter(|| our_interp.run_mem_maps(black_box(&mut *m), &mut env))
        });
        let bytes = rbpf_bytes(src);
        let mut vm = rbpf::EbpfVmRaw::new(Some(&bytes)).expect("rbpf loads");
        vm.register_helper(1, rbpf_lookup).expect("helper");
        vm.jit_compile().expect("rbpf jit");
        assert_eq!(
            vm.execute_program(m).expect("rbpf runs"),
            want,
            "{name} rbpf"
        );
        // SAFETY: rbpf's JIT runs the same program, which rbpf's bounds-checking interpreter
        // just ran on this very buffer; the helper returns values, never pointers.
        let r = unsafe { vm.execute_program_jit(m) }.expect("rbpf jit runs");
        assert_eq!(r, want, "{name} rbpf jit");
        g.bench_function("rbpf_interp", |b| {
            b.iter(|| vm.execute_program(black_box(&mut *m)))
        });
        g.bench_function("rbpf_jit", |b| {
            // SAFETY: as above: the program's accesses stay inside `m` and the stack (checked
            // by rbpf's interpreter on the same input).
            b.iter(|| unsafe { vm.execute_program_jit(black_box(&mut *m)) })
        });
        match name {
            "checksum64" => {
                g.bench_function("native", |b| b.iter(|| native_checksum(black_box(&*m))))
            }
            "bytesum384" => {
                g.bench_function("native", |b| b.iter(|| native_bytesum(black_box(&*m))))
            }
            "empty" => g.bench_function("native", |b| b.iter(|| black_box(0u64))),
            _ => g.bench_function("native", |b| b.iter(|| native_lookups(black_box(&TABLE)))),
        };
        g.finish();
    }
}

criterion_group!(benches, engines);
criterion_main!(benches);
