//! Bad input never panics: random bytes into the decoder and program checks, random text into
//! the assembler, and whatever decodes must re-encode to the same bytes and run (checked) to a
//! result or an error.

use jit::interp::{Interpreter, Prepared};
use jit::{asm, conformance, disasm, instr, isa, Program};
use proptest::prelude::*;

/// Byte strings biased towards plausible instructions: valid opcodes, small registers.
fn insn_bytes() -> impl Strategy<Value = Vec<u8>> {
    let opcodes: Vec<u8> = (0..=255u8).collect();
    prop::collection::vec(
        (
            prop::sample::select(opcodes),
            0u8..0xbb,
            any::<i16>(),
            any::<i32>(),
        )
            .prop_map(|(op, regs, off, imm)| {
                isa::RawInsn {
                    opcode: op,
                    dst: regs & 0xf,
                    src: regs >> 4,
                    off: off % 8,
                    imm,
                }
                .to_bytes()
            }),
        1..24,
    )
    .prop_map(|v| {
        let mut b = v.concat();
        b.extend_from_slice(&[0x95, 0, 0, 0, 0, 0, 0, 0]); // end in exit, so more programs are valid
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn decoder_never_panics_and_round_trips(bytes in insn_bytes()) {
        if let Ok(prog) = Program::from_bytes(&bytes) {
            prop_assert_eq!(prog.to_bytes(), bytes.clone());
            let text = disasm::disassemble(prog.instrs());
            let again = asm::assemble(&text).expect("disassembly reassembles");
            prop_assert_eq!(isa::slots_to_bytes(&instr::encode(&again)), bytes);
            if let Ok(prepared) = Prepared::new(&prog, &conformance::suite_helpers()) {
                let mut mem = vec![0u8; 64];
                let _ = Interpreter::new().run_checked(&prepared, &mut mem, &[], &mut (), Some(10_000));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_are_refused_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Program::from_bytes(&bytes);
    }

    #[test]
    fn assembler_never_panics(src in "[a-z0-9%\\[\\]+\\-, :#x\n]{0,120}") {
        if let Ok(instrs) = asm::assemble(&src) {
            let _ = Program::new(instrs);
        }
    }
}
