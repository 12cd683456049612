//! Soundness: random programs (ALU, loads and stores on the stack and a memory region at random
//! offsets and sizes, pointer arithmetic, forward branches, bounded loops) that the verifier
//! accepts must run in the checked interpreter without a single fault. Rejections are fine;
//! the test also checks that a fair share of programs is accepted, so it keeps testing.

use jit::instr::{AluOp, Cond, Instr, Size, Src, Width};
use jit::interp::{Interpreter, Prepared};
use jit::verifier::{verify, LogLevel, ProgType, VerifyOptions};
use jit::Program;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// One generated piece of program; jumps hold a raw offset fixed up once the length is known.
#[derive(Clone, Debug)]
enum Piece {
    Many(Vec<Instr>),
    /// A forward conditional jump by `skip % room` slots.
    Fwd {
        w: Width,
        cond: Cond,
        dst: u8,
        src: Src,
        skip: u16,
    },
    /// `mov r9, n; body; add r9, -1; jne r9, 0, <body>`.
    Loop {
        n: i32,
        body: Vec<Instr>,
    },
}

const SIZES: [Size; 4] = [Size::B, Size::H, Size::W, Size::DW];

/// Scalar registers (r1 and r6 hold pointers to the memory region, r9 counts loops).
fn data_reg() -> impl Strategy<Value = u8> {
    proptest::sample::select(vec![0u8, 2, 3, 4, 5, 7, 8])
}

/// Mostly scalar registers, sometimes a pointer.
fn any_reg() -> impl Strategy<Value = u8> {
    prop_oneof![6 => data_reg(), 1 => Just(1u8), 1 => Just(6u8), 1 => Just(10u8)]
}

fn simple_instr() -> impl Strategy<Value = Vec<Instr>> {
    let small_imm = prop_oneof![
        -8i32..=40,
        Just(0x7fff_ffff),
        Just(-0x8000_0000),
        any::<i32>()
    ];
    let src = prop_oneof![small_imm.prop_map(Src::Imm), any_reg().prop_map(Src::Reg)];
    let w = prop_oneof![5 => Just(Width::W64), 2 => Just(Width::W32)];
    let alu = (
        w,
        proptest::sample::select(AluOp::ALL.to_vec()),
        data_reg(),
        src,
    )
        .prop_map(|(w, op, dst, src)| Instr::Alu { w, op, dst, src });
    // Pointer arithmetic: r6 += (rX & mask) or r6 += small constant.
    let ptr_add = (
        data_reg(),
        prop_oneof![Just(3i32), Just(7), Just(15), Just(31)],
        -4i32..20,
    )
        .prop_flat_map(|(r, mask, k)| {
            prop_oneof![
                Just(vec![
                    Instr::Alu {
                        w: Width::W64,
                        op: AluOp::And,
                        dst: r,
                        src: Src::Imm(mask)
                    },
                    Instr::Alu {
                        w: Width::W64,
                        op: AluOp::Add,
                        dst: 6,
                        src: Src::Reg(r)
                    },
                ]),
                Just(vec![Instr::Alu {
                    w: Width::W64,
                    op: AluOp::Add,
                    dst: 6,
                    src: Src::Imm(k)
                }]),
                Just(vec![Instr::Alu {
                    w: Width::W64,
                    op: AluOp::Mov,
                    dst: 6,
                    src: Src::Reg(1)
                }]),
            ]
        });
    let base = prop_oneof![3 => Just(10u8), 2 => Just(1u8), 3 => Just(6u8), 1 => data_reg()];
    let load = (
        proptest::sample::select(SIZES.to_vec()),
        any::<bool>(),
        data_reg(),
        base.clone(),
        -24i16..40,
    )
        .prop_map(|(size, sx, dst, base, off)| {
            let off = if base == 10 { off - 40 } else { off };
            Instr::Load {
                size,
                sx: sx && size != Size::DW,
                dst,
                base,
                off,
            }
        });
    let store_src = prop_oneof![
        (-3i32..300).prop_map(Src::Imm),
        data_reg().prop_map(Src::Reg)
    ];
    let store = (
        proptest::sample::select(SIZES.to_vec()),
        base,
        -24i16..40,
        store_src,
    )
        .prop_map(|(size, base, off, src)| {
            let off = if base == 10 { off - 40 } else { off };
            Instr::Store {
                size,
                base,
                off,
                src,
            }
        });
    prop_oneof![
        4 => alu.prop_map(|i| vec![i]),
        4 => load.prop_map(|i| vec![i]),
        2 => store.prop_map(|i| vec![i]),
        2 => ptr_add
    ]
}

fn piece() -> impl Strategy<Value = Piece> {
    let src = prop_oneof![
        (-4i32..64).prop_map(Src::Imm),
        data_reg().prop_map(Src::Reg)
    ];
    let w = prop_oneof![Just(Width::W64), Just(Width::W32)];
    let fwd = (
        w,
        proptest::sample::select(Cond::ALL.to_vec()),
        data_reg(),
        src,
        any::<u16>(),
    )
        .prop_map(|(w, cond, dst, src, skip)| Piece::Fwd {
            w,
            cond,
            dst,
            src,
            skip,
        });
    let lp = (1i32..6, proptest::collection::vec(simple_instr(), 1..4)).prop_map(|(n, body)| {
        Piece::Loop {
            n,
            body: body.concat(),
        }
    });
    prop_oneof![8 => simple_instr().prop_map(Piece::Many), 3 => fwd, 1 => lp]
}

/// Lays pieces out into instructions, with an initialising prologue and a scalar exit.
fn layout(init: &[(u8, i32)], pieces: &[Piece]) -> Vec<Instr> {
    let mov = |dst: u8, imm: i32| Instr::Alu {
        w: Width::W64,
        op: AluOp::Mov,
        dst,
        src: Src::Imm(imm),
    };
    let mut out: Vec<Instr> = init.iter().map(|&(r, v)| mov(r, v)).collect();
    // Initialised stack from fp-64 to fp-1.
    for off in (-64i16..0).step_by(8) {
        out.push(Instr::Store {
            size: Size::DW,
            base: 10,
            off,
            src: Src::Imm(0),
        });
    }
    out.push(Instr::Alu {
        w: Width::W64,
        op: AluOp::Mov,
        dst: 6,
        src: Src::Reg(1),
    });
    let mut fwd: Vec<(usize, u16)> = Vec::new();
    for p in pieces {
        match p {
            Piece::Many(v) => out.extend_from_slice(v),
            Piece::Fwd {
                w,
                cond,
                dst,
                src,
                skip,
            } => {
                fwd.push((out.len(), *skip));
                out.push(Instr::Jcond {
                    w: *w,
                    cond: *cond,
                    dst: *dst,
                    src: *src,
                    off: 0,
                });
            }
            Piece::Loop { n, body } => {
                out.push(mov(9, *n));
                out.extend_from_slice(body);
                out.push(Instr::Alu {
                    w: Width::W64,
                    op: AluOp::Add,
                    dst: 9,
                    src: Src::Imm(-1),
                });
                out.push(Instr::Jcond {
                    w: Width::W64,
                    cond: Cond::Ne,
                    dst: 9,
                    src: Src::Imm(0),
                    off: -(body.len() as i16) - 2,
                });
            }
        }
    }
    out.push(mov(0, 0));
    out.push(Instr::Alu {
        w: Width::W64,
        op: AluOp::Add,
        dst: 0,
        src: Src::Reg(3),
    });
    out.push(Instr::Exit);
    let len = out.len();
    for (pc, skip) in fwd {
        // Land anywhere after the jump, up to the final exit.
        let room = (len - pc - 1) as u16;
        if let Instr::Jcond { off, .. } = &mut out[pc] {
            *off = (skip % room) as i16;
        }
    }
    out
}

fn program() -> impl Strategy<Value = (Vec<Instr>, usize, Vec<u8>)> {
    let init = proptest::collection::vec(-4i32..64, 7).prop_map(|v| {
        [0u8, 2, 3, 4, 5, 7, 8]
            .into_iter()
            .zip(v)
            .collect::<Vec<_>>()
    });
    let pieces = proptest::collection::vec(piece(), 1..24);
    (
        init,
        pieces,
        prop_oneof![1 => Just(0usize), 8 => 1usize..48],
        any::<u64>(),
    )
        .prop_map(|(init, pieces, mem_len, seed)| {
            let mem = (0..mem_len)
                .map(|i| (seed.rotate_left(i as u32 * 8) & 0xff) as u8)
                .collect();
            (layout(&init, &pieces), mem_len, mem)
        })
}

#[test]
fn accepted_programs_never_fault() {
    let helpers = jit::conformance::suite_helpers();
    let opts = VerifyOptions {
        max_processed: 20_000,
        log_level: LogLevel::None,
        ..VerifyOptions::default()
    };
    let mut runner = TestRunner::new(Config {
        cases: 8000,
        failure_persistence: None,
        ..Config::default()
    });
    let accepted = std::cell::Cell::new(0usize);
    let with_mem_access = std::cell::Cell::new(0usize);
    let total = std::cell::Cell::new(0usize);
    let interp = std::cell::RefCell::new(Interpreter::new());
    let result = runner.run(&program(), |(instrs, mem_len, mem)| {
        total.set(total.get() + 1);
        let Ok(prog) = Program::new(instrs.clone()) else {
            return Ok(());
        };
        let ty = ProgType::mem(mem_len as u64);
        if verify(&prog, &ty, &helpers, &[], &opts).is_err() {
            return Ok(());
        }
        accepted.set(accepted.get() + 1);
        if instrs.iter().any(|i| {
            matches!(
                i,
                Instr::Load { base: 1 | 6, .. } | Instr::Store { base: 1 | 6, .. }
            )
        }) {
            with_mem_access.set(with_mem_access.get() + 1);
        }
        let prepared = Prepared::new(&prog, &helpers).expect("links");
        let mut mem = mem.clone();
        let run =
            interp
                .borrow_mut()
                .run_checked(&prepared, &mut mem, &[], &mut (), Some(1_000_000));
        prop_assert!(
            run.is_ok(),
            "verified program faulted: {:?}\n{}",
            run,
            jit::disasm::listing(prog.instrs())
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "soundness: {} of {} programs accepted, {} of them touching the memory region",
        accepted.get(),
        total.get(),
        with_mem_access.get()
    );
    assert!(
        accepted.get() * 10 >= total.get(),
        "too few accepted: the generator is off"
    );
    assert!(
        with_mem_access.get() * 20 >= total.get(),
        "too few memory accesses accepted"
    );
}
