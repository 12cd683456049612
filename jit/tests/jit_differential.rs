//! The JIT against its oracle, the interpreter.
//!
//! - A property test generates thousands of random valid programs (all ALU forms and widths,
//!   byte-order and sign-extension ops, loads, stores and atomics on memory and the stack,
//!   some out of bounds, forward branches, helper calls and a subprogram) and requires the same
//!   result, the same error, and the same memory from both engines.
//! - Hand-written cases pin the x86 traps: division by a register whose upper half is set,
//!   modulo by zero, `INT_MIN / -1`, shifts through `rcx`, byte stores from `sil`/`dil`, and
//!   branches whose displacement changes size between passes.

use capstone::prelude::*;
use jit::asm::assemble;
use jit::conformance::suite_helpers;
use jit::instr::{AluOp, AtomicOp, Cond, EndKind, Instr, Size, Src, Width};
use jit::interp::{Interpreter, Prepared, RunError};
use jit::{JitProgram, Program};
use proptest::prelude::*;

/// Runs `prog` on both engines over the same buffer (restored in between, so pointer values
/// agree) and returns both outcomes with the final memory.
fn both(prog: &Program, init: &[u8]) -> [(Result<u64, RunError>, Vec<u8>); 2] {
    let helpers = suite_helpers();
    let mut mem = init.to_vec();
    let prepared = Prepared::new(prog, &helpers).expect("links");
    let r_interp =
        Interpreter::new().run_checked(&prepared, &mut mem, &[], &mut (), Some(1_000_000));
    let m_interp = mem.clone();
    mem.copy_from_slice(init);
    let mut jit = JitProgram::compile_checked(prog, &helpers).expect("compiles");
    let r_jit = jit.run_checked(&mut mem, &[], &mut (), Some(1_000_000));
    [(r_interp, m_interp), (r_jit, mem)]
}

fn run_asm(src: &str, mem: &[u8]) -> u64 {
    let prog = Program::new(assemble(src).expect("assembles")).expect("valid");
    let [(a, ma), (b, mb)] = both(&prog, mem);
    assert_eq!(a, b, "interpreter vs JIT for:\n{src}");
    assert_eq!(ma, mb, "memory after:\n{src}");
    a.expect("runs")
}

#[test]
fn division_traps() {
    // 32-bit division ignores the divisor's upper half (x86 `div r32` does too, but the zero
    // test must look at the low half only).
    let r = run_asm(
        "mov %r0, 100\nlddw %r1, 0x100000005\ndiv32 %r0, %r1\nexit",
        &[],
    );
    assert_eq!(r, 20);
    // ... and a divisor that is zero in its low half divides by zero: 0.
    assert_eq!(
        run_asm(
            "mov %r0, 100\nlddw %r1, 0x100000000\ndiv32 %r0, %r1\nexit",
            &[]
        ),
        0
    );
    // mod32 by zero keeps the dividend, zero-extended.
    assert_eq!(
        run_asm(
            "lddw %r0, 0xffffffff12345678\nmov %r1, 0\nmod32 %r0, %r1\nexit",
            &[]
        ),
        0x12345678
    );
    assert_eq!(
        run_asm("lddw %r0, 0xffffffff12345678\nmod32 %r0, 0\nexit", &[]),
        0x12345678
    );
    // mod64 by zero keeps all of it.
    assert_eq!(
        run_asm(
            "lddw %r0, 0xffffffff12345678\nmov %r2, 0\nmod %r0, %r2\nexit",
            &[]
        ),
        0xffffffff12345678
    );
    // INT_MIN / -1 and INT_MIN % -1, which trap as x86 idiv.
    assert_eq!(
        run_asm(
            "lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1\nexit",
            &[]
        ),
        0x8000000000000000
    );
    assert_eq!(
        run_asm(
            "lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1\nexit",
            &[]
        ),
        0
    );
    assert_eq!(
        run_asm(
            "mov32 %r0, 0x80000000\nmov32 %r3, -1\nsdiv32 %r0, %r3\nexit",
            &[]
        ),
        0x80000000
    );
    assert_eq!(
        run_asm("mov32 %r0, 0x80000000\nsmod32 %r0, -1\nexit", &[]),
        0
    );
    // Division whose destination or source is rax/rdx (r0, r3).
    assert_eq!(
        run_asm(
            "mov %r3, 91\nmov %r0, 7\ndiv %r3, %r0\nmov %r0, %r3\nexit",
            &[]
        ),
        13
    );
    assert_eq!(
        run_asm("mov %r3, 91\nmov %r0, 7\nmod %r0, %r3\nexit", &[]),
        7
    );
    assert_eq!(
        run_asm("mov %r0, -93\nmov %r3, 7\nsmod %r0, %r3\nexit", &[]),
        -2i64 as u64
    );
}

#[test]
fn shifts_through_rcx() {
    // r4 is rcx: count, destination, both.
    assert_eq!(
        run_asm("mov %r0, 1\nmov %r4, 5\nlsh %r0, %r4\nexit", &[]),
        32
    );
    assert_eq!(
        run_asm(
            "mov %r4, 1\nmov %r2, 7\nlsh %r4, %r2\nmov %r0, %r4\nexit",
            &[]
        ),
        128
    );
    assert_eq!(
        run_asm("mov %r4, 3\nlsh %r4, %r4\nmov %r0, %r4\nexit", &[]),
        24
    );
    assert_eq!(
        run_asm(
            "mov %r4, 65\nmov %r0, 4\nrsh %r0, %r4\nadd %r0, %r4\nexit",
            &[]
        ),
        67
    );
    assert_eq!(
        run_asm("mov32 %r0, -8\nmov %r1, 33\narsh32 %r0, %r1\nexit", &[]),
        0xfffffffc
    );
}

#[test]
fn byte_stores_from_sil_and_dil() {
    // r1 = rdi, r2 = rsi: their low bytes need REX to be encodable.
    let r = run_asm(
        "mov %r2, 0x1234\nstxb [%r1+1], %r2\nmov %r3, %r1\nmov %r1, 0x56\nstxb [%r3+2], %r1\nldxw %r0, [%r3]\nexit",
        &[0, 0, 0, 0],
    );
    assert_eq!(r, 0x0056_3400);
}

fn disassemble(code: &[u8]) -> Vec<String> {
    let cs = Capstone::new()
        .x86()
        .mode(arch::x86::ArchMode::Mode64)
        .build()
        .expect("capstone");
    let insns = cs.disasm_all(code, 0).expect("decodes");
    let text = insns
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i.mnemonic().unwrap_or(""),
                i.op_str().unwrap_or("")
            )
        })
        .collect();
    text
}

#[test]
fn long_and_short_branches_converge() {
    // A forward branch over ~40 instructions (far more than 127 bytes) and a short one; a
    // backward loop whose body shrinks below the rel8 limit once inner jumps become short.
    let mut src =
        String::from("mov %r0, 0\nmov %r2, 0\njeq %r2, 0, far\njne %r2, 0, near\nnear:\n");
    for _ in 0..40 {
        src.push_str("lddw %r3, 0x1122334455667788\n");
    }
    src.push_str("far:\nmov %r5, 20\nloop:\nadd %r0, 3\njeq %r0, 1000, out\nsub %r5, 1\njne %r5, 0, loop\nout:\nexit\n");
    let prog = Program::new(assemble(&src).expect("assembles")).expect("valid");
    let [(a, _), (b, _)] = both(&prog, &[]);
    assert_eq!(a, b);
    assert_eq!(a, Ok(60));
    let jit = JitProgram::compile_checked(&prog, &suite_helpers()).expect("compiles");
    let text = disassemble(jit.code());
    let code_len: usize = jit.code().len();
    assert!(code_len > 40 * 10, "{code_len}");
    // Find the rel32 `je` (far) and some rel8 branches.
    let mut cs_long = 0;
    let cs = Capstone::new()
        .x86()
        .mode(arch::x86::ArchMode::Mode64)
        .build()
        .expect("capstone");
    let insns = cs.disasm_all(jit.code(), 0).expect("decodes");
    let mut short_jcc = 0;
    for i in insns.iter() {
        let m = i.mnemonic().unwrap_or("");
        if m.starts_with('j') && m != "jmp" {
            if i.len() == 6 {
                cs_long += 1;
            } else if i.len() == 2 {
                short_jcc += 1;
            }
        }
    }
    assert!(cs_long >= 1, "no rel32 branch in {text:?}");
    assert!(short_jcc >= 3, "no rel8 branches in {text:?}");
}

#[test]
fn helpers_callx_and_abort() {
    // Helper 5 (unwind) stops the program with r0 = 0 when its argument is 0.
    assert_eq!(
        run_asm("mov %r6, 7\nmov %r1, 0\ncall 5\nmov %r0, 99\nexit", &[]),
        0
    );
    assert_eq!(run_asm("mov %r1, 3\ncall 5\nadd %r0, 1\nexit", &[]), 4);
    // callx through a register, and to an id with no helper.
    assert_eq!(
        run_asm("mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\nmov %r8, 0\ncall %r8\nexit", &[]),
        0x0102030405
    );
    let prog = Program::new(assemble("mov %r7, 77\ncall %r7\nexit").expect("asm")).expect("valid");
    let [(a, _), (b, _)] = both(&prog, &[]);
    assert_eq!(a, Err(RunError::BadCallx { pc: 1, id: 77 }));
    assert_eq!(a, b);
}

#[test]
fn budget_stops_an_infinite_loop() {
    let prog = Program::new(assemble("l:\nadd %r0, 1\nja l").expect("asm")).expect("valid");
    let mut jit = JitProgram::compile_checked(&prog, &suite_helpers()).expect("compiles");
    let r = jit.run_checked(&mut [], &[], &mut (), Some(100_000));
    assert_eq!(r, Err(RunError::Budget(100_000)));
}

// ---- random programs ----

/// Registers a generated program may write: not r6 (memory base) or r10.
const DSTS: [u8; 9] = [0, 1, 2, 3, 4, 5, 7, 8, 9];
/// Registers it may read as scalars: not r10 (stack addresses differ between engines).
const SRCS: [u8; 10] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
const MEM_LEN: usize = 64;

#[derive(Clone, Debug)]
enum Item {
    Ins(Instr),
    /// A forward conditional jump over `skip` items.
    Jump {
        w: Width,
        cond: Cond,
        dst: u8,
        src: Src,
        skip: usize,
    },
    /// A forward unconditional jump.
    Ja {
        skip: usize,
    },
    /// A helper call, then r1-r5 reset (helpers may clobber them in native code).
    Helper(u32),
    /// A call to the subprogram.
    Local,
}

fn imm() -> impl Strategy<Value = i32> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(-1),
        Just(i32::MIN),
        Just(i32::MAX),
        -70i32..70,
        any::<i32>(),
    ]
}

fn src() -> impl Strategy<Value = Src> {
    prop_oneof![
        prop::sample::select(&SRCS[..]).prop_map(Src::Reg),
        imm().prop_map(Src::Imm)
    ]
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W32), Just(Width::W64)]
}

fn size() -> impl Strategy<Value = Size> {
    prop::sample::select(vec![Size::B, Size::H, Size::W, Size::DW])
}

/// A base register and offset: mostly inside memory or the stack, sometimes just outside.
fn place(sz: usize) -> impl Strategy<Value = (u8, i16)> {
    let m = MEM_LEN as i16 - sz as i16;
    prop_oneof![
        8 => (0..=m).prop_map(|o| (6u8, o)),
        4 => (-512i16..=-(sz as i16)).prop_map(|o| (10u8, o)),
        1 => (-16i16..(MEM_LEN as i16 + 8)).prop_map(|o| (6u8, o)),
        1 => (-530i16..8).prop_map(|o| (10u8, o)),
    ]
}

fn dst() -> impl Strategy<Value = u8> {
    prop::sample::select(&DSTS[..])
}

fn item(allow_calls: bool) -> impl Strategy<Value = Item> {
    let alu = (width(), prop::sample::select(&AluOp::ALL[..]), dst(), src())
        .prop_map(|(w, op, dst, src)| Item::Ins(Instr::Alu { w, op, dst, src }));
    let neg = (width(), dst()).prop_map(|(w, dst)| Item::Ins(Instr::Neg { w, dst }));
    let movsx = (width(), dst(), prop::sample::select(&SRCS[..]), 0usize..3).prop_map(
        |(w, dst, src, b)| {
            let bits = match (w, b) {
                (Width::W32, 2) => 16,
                (_, 0) => 8,
                (_, 1) => 16,
                _ => 32,
            };
            Item::Ins(Instr::MovSx { w, dst, src, bits })
        },
    );
    let end =
        (0usize..3, prop::sample::select(vec![16u8, 32, 64]), dst()).prop_map(|(k, bits, dst)| {
            let kind = [EndKind::Le, EndKind::Be, EndKind::Swap][k];
            Item::Ins(Instr::End { kind, bits, dst })
        });
    let lddw = (dst(), any::<u64>()).prop_map(|(dst, imm)| {
        Item::Ins(Instr::LdImm64 {
            dst,
            kind: jit::instr::LdImmKind::Imm64,
            imm,
        })
    });
    let load = (size(), any::<bool>(), dst())
        .prop_flat_map(|(size, sx, dst)| {
            (
                Just(size),
                Just(sx && size != Size::DW),
                Just(dst),
                place(size.bytes()),
            )
        })
        .prop_map(|(size, sx, dst, (base, off))| {
            Item::Ins(Instr::Load {
                size,
                sx,
                dst,
                base,
                off,
            })
        });
    let store = (size(), src())
        .prop_flat_map(|(size, src)| (Just(size), Just(src), place(size.bytes())))
        .prop_map(|(size, src, (base, off))| {
            Item::Ins(Instr::Store {
                size,
                base,
                off,
                src,
            })
        });
    let atomic = (
        prop::sample::select(vec![Size::W, Size::DW]),
        prop::sample::select(vec![
            AtomicOp::Add,
            AtomicOp::Or,
            AtomicOp::And,
            AtomicOp::Xor,
            AtomicOp::Xchg,
            AtomicOp::Cmpxchg,
        ]),
        any::<bool>(),
        prop::sample::select(&DSTS[..]),
    )
        .prop_flat_map(|(size, op, fetch, src)| {
            (
                Just(size),
                Just(op),
                Just(fetch),
                Just(src),
                place(size.bytes()),
            )
        })
        .prop_map(|(size, op, fetch, src, (base, off))| {
            let fetch = fetch || matches!(op, AtomicOp::Xchg | AtomicOp::Cmpxchg);
            Item::Ins(Instr::Atomic {
                size,
                op,
                fetch,
                base,
                off,
                src,
            })
        });
    let jump = (
        width(),
        prop::sample::select(vec![
            Cond::Eq,
            Cond::Ne,
            Cond::Gt,
            Cond::Ge,
            Cond::Lt,
            Cond::Le,
            Cond::Sgt,
            Cond::Sge,
            Cond::Slt,
            Cond::Sle,
            Cond::Set,
        ]),
        prop::sample::select(&SRCS[..]),
        src(),
        0usize..12,
    )
        .prop_map(|(w, cond, dst, src, skip)| Item::Jump {
            w,
            cond,
            dst,
            src,
            skip,
        });
    let ja = (0usize..6).prop_map(|skip| Item::Ja { skip });
    let calls = if allow_calls {
        prop_oneof![
            prop::sample::select(vec![0u32, 2, 3]).prop_map(Item::Helper),
            Just(Item::Local)
        ]
        .boxed()
    } else {
        prop::sample::select(vec![0u32, 2, 3])
            .prop_map(Item::Helper)
            .boxed()
    };
    prop_oneof![
        10 => alu,
        1 => neg,
        1 => movsx,
        1 => end,
        1 => lddw,
        4 => load,
        4 => store,
        2 => atomic,
        3 => jump,
        1 => ja,
        1 => calls,
    ]
}

/// Lowers a function's items to instructions ending in `exit`; `local` is the slot index the
/// subprogram will start at, relative to this function's first slot (`base`).
fn lower(items: &[Item], out: &mut Vec<Instr>, sub_start: Option<usize>, fixups: &mut Vec<usize>) {
    // Slot index of each item, and of the final exit.
    let mut starts = Vec::with_capacity(items.len() + 1);
    let mut pos = out.len();
    for it in items {
        starts.push(pos);
        pos += match it {
            Item::Ins(Instr::LdImm64 { .. }) => 2,
            Item::Helper(_) => 6,
            _ => 1,
        };
    }
    starts.push(pos);
    let n = items.len();
    for (i, it) in items.iter().enumerate() {
        let here = out.len();
        let to = |skip: usize| starts[(i + 1 + skip).min(n)];
        match *it {
            Item::Ins(ins) => {
                out.push(ins);
                if matches!(ins, Instr::LdImm64 { .. }) {
                    out.push(Instr::LdImm64Hi);
                }
            }
            Item::Jump {
                w,
                cond,
                dst,
                src,
                skip,
            } => out.push(Instr::Jcond {
                w,
                cond,
                dst,
                src,
                off: (to(skip) - here - 1) as i16,
            }),
            Item::Ja { skip } => out.push(Instr::Ja {
                off: (to(skip) - here - 1) as i32,
                long: false,
            }),
            Item::Helper(id) => {
                out.push(Instr::CallHelper { id });
                for r in 1..=5 {
                    out.push(Instr::Alu {
                        w: Width::W64,
                        op: AluOp::Mov,
                        dst: r,
                        src: Src::Imm(r.into()),
                    });
                }
            }
            Item::Local => {
                if sub_start.is_some() {
                    fixups.push(here);
                }
                out.push(Instr::CallLocal { off: 0 });
            }
        }
    }
    out.push(Instr::Exit);
}

fn build(main: &[Item], sub: &[Item]) -> Program {
    let mut out = vec![
        // r6 = memory base for the whole program.
        Instr::Alu {
            w: Width::W64,
            op: AluOp::Mov,
            dst: 6,
            src: Src::Reg(1),
        },
    ];
    let mut fixups = Vec::new();
    lower(main, &mut out, Some(0), &mut fixups);
    let sub_start = out.len();
    lower(sub, &mut out, None, &mut Vec::new());
    for at in fixups {
        out[at] = Instr::CallLocal {
            off: (sub_start - at - 1) as i32,
        };
    }
    Program::new(out).expect("generated programs are valid")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn jit_matches_interpreter(
        main in prop::collection::vec(item(true), 1..40),
        sub in prop::collection::vec(item(false), 0..12),
        mem in prop::collection::vec(any::<u8>(), MEM_LEN),
    ) {
        let prog = build(&main, &sub);
        let [(a, ma), (b, mb)] = both(&prog, &mem);
        prop_assert_eq!(
            normalize(&a),
            normalize(&b),
            "{}",
            jit::disasm::disassemble(prog.instrs())
        );
        prop_assert_eq!(ma, mb);
    }
}

/// A fault's address is relative to the engine's own stack when the base is r10 (each engine
/// has its stack buffer): compare where and how it faulted, not the absolute address, unless
/// it is in the shared memory buffer.
fn normalize(r: &Result<u64, RunError>) -> Result<u64, (usize, u64, bool)> {
    match r {
        Ok(v) => Ok(*v),
        Err(RunError::Memory { pc, fault }) => Err((*pc, fault.len, fault.write)),
        Err(e) => Err((usize::MAX, e.to_string().len() as u64, false)),
    }
}
