//! `bpf_trace_printk`'s arguments: the verifier refuses a program passing fewer initialised
//! arguments than its (constant, `.rodata`) format reads, and what the helper receives in
//! the arguments the format does not read is the same on every run and engine (zero), never
//! a host value.

use jit::asm::assemble;
use jit::helpers::{Arg, HelperCx, HelperImpl, Helpers, Proto, Ret};
use jit::maps::{MapDef, MapEnv, MapKind, MapSet, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG};
use jit::proven::ProvenProgram;
use jit::verifier::{ProgType, Reason, VerifyOptions};
use jit::Program;

/// The maps, and every `bpf_trace_printk` call: (format bytes, r3-r5).
struct Env {
    maps: MapSet,
    calls: Vec<(Vec<u8>, [u64; 3])>,
}

impl MapEnv for Env {
    fn maps(&mut self) -> &mut MapSet {
        &mut self.maps
    }
}

struct Printk;
impl HelperImpl<Env> for Printk {
    fn call(cx: &mut HelperCx<'_, '_, Env>, a: [u64; 5]) -> u64 {
        let mut fmt = vec![0u8; a[1].min(64) as usize];
        if cx.read(a[0], &mut fmt).is_err() {
            cx.fail("bad format pointer");
            return 0;
        }
        cx.env().calls.push((fmt, [a[2], a[3], a[4]]));
        0
    }
}

struct Clock;
impl HelperImpl<Env> for Clock {
    fn call(_: &mut HelperCx<'_, '_, Env>, _: [u64; 5]) -> u64 {
        1
    }
}

fn helpers() -> Helpers<Env> {
    let mut h = Helpers::new();
    h.register::<Printk>(
        6,
        Proto::new("bpf_trace_printk", [Arg::MemRead, Arg::Size], Ret::Integer)
            .printf()
            .may_abort(),
    )
    .register::<Clock>(5, Proto::new("bpf_ktime_get_ns", [], Ret::Integer));
    h
}

/// One 16-byte global-data map holding `data`, read-only for programs when `ro`.
fn global(data: &[u8], ro: bool) -> MapSet {
    let mut set = MapSet::new();
    let flags = BPF_F_MMAPABLE | if ro { BPF_F_RDONLY_PROG } else { 0 };
    let def = MapDef {
        name: ".rodata".into(),
        kind: MapKind::Array,
        key_size: 4,
        value_size: 16,
        max_entries: 1,
        flags,
    };
    set.add(def, Some(data)).expect("map");
    set
}

fn prove(
    src: &str,
    maps: &MapSet,
    jit: bool,
) -> Result<ProvenProgram<Env>, jit::proven::ProveError> {
    let prog = Program::new(assemble(&src.replace('|', "\n")).expect("assembles")).expect("valid");
    let opts = VerifyOptions::default();
    ProvenProgram::new(&prog, ProgType::mem(0), &helpers(), maps, &opts, jit)
}

fn refusal(src: &str, maps: &MapSet) -> Reason {
    match prove(src, maps, true) {
        Err(jit::proven::ProveError::Verify(e)) => e.reason,
        Err(e) => panic!("{src}: not a verifier refusal: {e}"),
        Ok(_) => panic!("{src}: accepted"),
    }
}

const TWO_ARGS: &str = "lddw %r1, map_idx_value[0]+0|mov %r2, 6|mov %r3, 1|call 6|mov %r0, 0|exit";

#[test]
fn a_rodata_format_reading_an_uninitialised_argument_is_refused() {
    let maps = global(b"%u %u\0", true);
    let r = refusal(TWO_ARGS, &maps);
    assert_eq!(
        r.to_string(),
        "bpf_trace_printk format \"%u %u\" reads r4, which is not initialised"
    );
    // With the second argument, the same program is accepted.
    let ok = TWO_ARGS.replace("mov %r3, 1", "mov %r3, 1|mov %r4, 2");
    prove(&ok, &maps, true).expect("both arguments given");
    // `%%` reads nothing: the format reads only r3.
    prove(TWO_ARGS, &global(b"%u %%u\0", true), true).expect("one conversion");
}

#[test]
fn a_format_the_verifier_cannot_read_needs_all_three_arguments() {
    // A writable map's contents may change before the call: the format is not a constant.
    let maps = global(b"%u %u\0", false);
    let all = TWO_ARGS.replace("mov %r3, 1", "mov %r3, 1|mov %r4, 2|mov %r5, 3");
    prove(&all, &maps, true).expect("r3-r5 initialised");
    let r = refusal(
        &TWO_ARGS.replace("mov %r3, 1", "mov %r3, 1|mov %r4, 2"),
        &maps,
    );
    assert!(matches!(r, Reason::FormatUnknown { reg: 5, .. }), "{r}");
    assert!(
        r.to_string().contains("not known at verification time"),
        "{r}"
    );
}

#[test]
fn programs_may_not_write_read_only_maps() {
    let maps = global(b"%u\0", true);
    let src = "lddw %r1, map_idx_value[0]+0|stb [%r1], 37|mov %r0, 0|exit";
    let r = refusal(src, &maps);
    assert!(matches!(r, Reason::ReadOnlyMap { .. }), "{r}");
    // The same store into a writable map is fine.
    prove(src, &global(b"%u\0", false), true).expect("writable");
}

/// r4 held a host address (r10) before an earlier helper call; the format reads only r3, so
/// the verifier accepts the program; what the helper then receives in r4 and r5 must not
/// depend on the run or the engine.
#[test]
fn arguments_the_format_does_not_read_are_the_same_on_every_run() {
    let src = "mov %r4, %r10|mov %r5, %r10|call 5|lddw %r1, map_idx_value[0]+0|mov %r2, 3|\
        mov %r3, 7|call 6|mov %r0, 0|exit";
    let mut seen = Vec::new();
    for jit in [true, false] {
        let mut env = Env {
            maps: global(b"%u\0", true),
            calls: Vec::new(),
        };
        let mut p = prove(src, &env.maps, jit).expect("verified");
        assert_eq!(p.engine() == jit::proven::EngineKind::Jit, jit);
        for _ in 0..2 {
            assert_eq!(p.run_mem_maps(&mut [], &mut env), Ok(0));
        }
        seen.extend(env.calls);
    }
    assert_eq!(seen.len(), 4);
    for (fmt, args) in &seen {
        assert_eq!((fmt.as_slice(), *args), (&b"%u\0"[..], [7, 0, 0]));
    }
}

/// A pointer the program holds is a host address in bpflab: printing it (`%llx`, `%p`) would
/// put host state into the output, so it is refused; `%s` of a pointer reads the string.
#[test]
fn printing_a_pointer_is_refused_but_a_string_through_one_is_not() {
    let src = "lddw %r1, map_idx_value[0]+0|mov %r2, 6|mov %r3, %r10|call 6|mov %r0, 0|exit";
    for fmt in [&b"%llx\0"[..], b"%p\0", b"%d\0"] {
        let r = refusal(src, &global(fmt, true));
        assert!(
            matches!(r, Reason::FormatPointer { reg: 3, .. }),
            "{}: {r}",
            String::from_utf8_lossy(fmt)
        );
        assert!(r.to_string().contains("host address"), "{r}");
    }
    let with_string = "stdw [%r10-8], 0|mov %r3, %r10|add %r3, -8|\
        lddw %r1, map_idx_value[0]+0|mov %r2, 3|call 6|mov %r0, 0|exit";
    prove(with_string, &global(b"%s\0", true), true).expect("%s of a stack string");
}
