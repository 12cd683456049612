//! Verification speed: instructions processed per second, for the sample BPF C programs
//! (compiled with clang at set-up, skipped without it) and for a loop-heavy program that
//! processes close to the verifier's one-million-instruction budget.
//!
//! `cargo bench -p jit --bench verifier`

use criterion::{criterion_group, criterion_main, Criterion};
use jit::asm::assemble;
use jit::helpers::{Arg, HelperCx, HelperImpl, Helpers, Proto, Ret};
use jit::maps::MapSet;
use jit::object::{Object, ProgKind};
use jit::verifier::{verify, ProgType, VerifyOptions};
use jit::Program;
use std::path::Path;
use std::process::Command;

/// The loop runs 110 000 times through 9 instructions: about 990 000 processed.
const LOOPY: &str = "
    mov %r0, 0
    mov %r6, 0
loop:
    mov %r2, %r6
    and %r2, 7
    mov %r3, %r1
    add %r3, %r2
    ldxb %r4, [%r3]
    add %r0, %r4
    add %r6, 1
    jlt %r6, 110000, loop
    exit";

struct Stub;
impl HelperImpl<()> for Stub {
    fn call(_: &mut HelperCx<'_, '_, ()>, _: [u64; 5]) -> u64 {
        0
    }
}

/// The helpers the samples call, with their real prototypes (bodies do not matter here).
fn helpers() -> Helpers<()> {
    use Arg::*;
    let mut h = Helpers::new();
    h.register::<Stub>(
        1,
        Proto::new("map_lookup_elem", [Map, MapKey], Ret::MapValueOrNull),
    )
    .register::<Stub>(
        2,
        Proto::new(
            "map_update_elem",
            [Map, MapKey, MapValue, Scalar],
            Ret::Integer,
        ),
    )
    .register::<Stub>(6, Proto::new("trace_printk", [MemRead, Size], Ret::Integer))
    .register::<Stub>(
        67,
        Proto::new("get_stack", [Ctx, MemWrite, Size, Scalar], Ret::Integer),
    )
    .register::<Stub>(
        113,
        Proto::new(
            "probe_read_kernel",
            [MemWrite, Size, Anything],
            Ret::Integer,
        ),
    )
    .register::<Stub>(14, Proto::new("get_current_pid_tgid", [], Ret::Integer));
    h
}

fn samples() -> Vec<(String, Program, ProgType, Vec<jit::maps::MapDef>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bpf-samples");
    let out = std::env::temp_dir().join("bpflab-verifier-bench");
    let _ = std::fs::create_dir_all(&out);
    let mut v = Vec::new();
    for name in ["seed_filter", "kprobe_dst_discard"] {
        let o = out.join(format!("{name}.o"));
        let ok = Command::new("clang")
            .args(["-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86"])
            .arg("-I/usr/include/x86_64-linux-gnu")
            .arg("-c")
            .arg(dir.join(format!("{name}.bpf.c")))
            .arg("-o")
            .arg(&o)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipping {name}: clang or the sample is missing");
            continue;
        }
        let obj = Object::parse(&std::fs::read(&o).expect("object")).expect("parses");
        let maps = MapSet::from_object(&obj).expect("maps");
        let defs: Vec<_> = maps.iter().map(|m| m.def().clone()).collect();
        for p in &obj.programs {
            let ty = match p.kind {
                ProgKind::Kprobe { .. } | ProgKind::Kretprobe { .. } => ProgType::kprobe(),
                _ => ProgType::seed(),
            };
            v.push((
                format!("{name}/{}", p.name),
                p.program.clone(),
                ty,
                defs.clone(),
            ));
        }
    }
    v
}

fn bench(c: &mut Criterion) {
    let h = helpers();
    let opts = VerifyOptions::default();
    let mut g = c.benchmark_group("verify");
    for (name, prog, ty, maps) in samples() {
        let processed = verify(&prog, &ty, &h, &maps, &opts)
            .expect("verifies")
            .processed;
        println!("{name}: {} instructions, {processed} processed", prog.len());
        g.bench_function(&name, |b| b.iter(|| verify(&prog, &ty, &h, &maps, &opts)));
    }
    let loopy = Program::new(assemble(LOOPY).expect("asm")).expect("valid");
    let ty = ProgType::mem(8);
    let processed = verify(&loopy, &ty, &h, &[], &opts)
        .expect("verifies")
        .processed;
    println!("loop: {processed} processed");
    g.sample_size(10);
    g.bench_function("loop_near_budget", |b| {
        b.iter(|| verify(&loopy, &ty, &h, &[], &opts))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
