//! The raw eBPF instruction encoding (RFC 9669, "BPF Instruction Set Architecture").
//!
//! An instruction is 64 bits: `opcode:8 | dst:4 | src:4 | offset:16 | imm:32`, little-endian,
//! with the register nibbles in the second byte (dst in the low nibble). `lddw` takes two slots:
//! the second carries the upper 32 bits of the immediate in its `imm` and must be otherwise zero.
//!
//! This module only names the bits; [`crate::instr`] turns slots into typed instructions.

/// Size of one instruction slot in bytes.
pub const INSN_SIZE: usize = 8;

/// Instruction classes: the low three bits of the opcode.
pub mod class {
    /// Non-standard loads: only `lddw` (`0x18`) is defined.
    pub const LD: u8 = 0x00;
    /// Loads from memory into a register.
    pub const LDX: u8 = 0x01;
    /// Stores of an immediate.
    pub const ST: u8 = 0x02;
    /// Stores of a register, and atomics.
    pub const STX: u8 = 0x03;
    /// 32-bit arithmetic.
    pub const ALU: u8 = 0x04;
    /// 64-bit jumps, calls and exit.
    pub const JMP: u8 = 0x05;
    /// 32-bit jumps (and `gotol`).
    pub const JMP32: u8 = 0x06;
    /// 64-bit arithmetic.
    pub const ALU64: u8 = 0x07;
}

/// Source bit of ALU and JMP opcodes.
pub mod source {
    /// Operand is the 32-bit immediate.
    pub const K: u8 = 0x00;
    /// Operand is the source register.
    pub const X: u8 = 0x08;
}

/// ALU operation codes (the high four bits).
pub mod alu {
    pub const ADD: u8 = 0x00;
    pub const SUB: u8 = 0x10;
    pub const MUL: u8 = 0x20;
    /// `div`, or `sdiv` when the offset is 1.
    pub const DIV: u8 = 0x30;
    pub const OR: u8 = 0x40;
    pub const AND: u8 = 0x50;
    pub const LSH: u8 = 0x60;
    pub const RSH: u8 = 0x70;
    pub const NEG: u8 = 0x80;
    /// `mod`, or `smod` when the offset is 1.
    pub const MOD: u8 = 0x90;
    pub const XOR: u8 = 0xa0;
    /// `mov`, or `movsx` when the offset is 8, 16 or 32.
    pub const MOV: u8 = 0xb0;
    pub const ARSH: u8 = 0xc0;
    /// Byte swaps: `le`/`be` in the ALU class, `bswap` in ALU64.
    pub const END: u8 = 0xd0;
}

/// Jump operation codes (the high four bits).
pub mod jmp {
    pub const JA: u8 = 0x00;
    pub const JEQ: u8 = 0x10;
    pub const JGT: u8 = 0x20;
    pub const JGE: u8 = 0x30;
    pub const JSET: u8 = 0x40;
    pub const JNE: u8 = 0x50;
    pub const JSGT: u8 = 0x60;
    pub const JSGE: u8 = 0x70;
    pub const CALL: u8 = 0x80;
    pub const EXIT: u8 = 0x90;
    pub const JLT: u8 = 0xa0;
    pub const JLE: u8 = 0xb0;
    pub const JSLT: u8 = 0xc0;
    pub const JSLE: u8 = 0xd0;
}

/// Load/store size field (bits 3-4).
pub mod size {
    pub const W: u8 = 0x00;
    pub const H: u8 = 0x08;
    pub const B: u8 = 0x10;
    pub const DW: u8 = 0x18;
}

/// Load/store mode field (bits 5-7).
pub mod mode {
    pub const IMM: u8 = 0x00;
    pub const ABS: u8 = 0x20;
    pub const IND: u8 = 0x40;
    pub const MEM: u8 = 0x60;
    pub const MEMSX: u8 = 0x80;
    pub const ATOMIC: u8 = 0xc0;
}

/// Atomic operation codes, carried in the immediate of `STX|ATOMIC`.
pub mod atomic {
    pub const ADD: i32 = 0x00;
    pub const OR: i32 = 0x40;
    pub const AND: i32 = 0x50;
    pub const XOR: i32 = 0xa0;
    /// Modifier: return the old value in the source register.
    pub const FETCH: i32 = 0x01;
    pub const XCHG: i32 = 0xe0 | FETCH;
    pub const CMPXCHG: i32 = 0xf0 | FETCH;
}

/// `src` values of `call`.
pub mod call_src {
    /// Call a helper by its static id.
    pub const HELPER: u8 = 0;
    /// Call a BPF function at `pc + imm + 1` (bpf-to-bpf call).
    pub const LOCAL: u8 = 1;
    /// Call a kernel function by BTF id (kfunc): not supported by bpflab.
    pub const KFUNC: u8 = 2;
}

/// `src` values of `lddw` (the kernel's `BPF_PSEUDO_*` forms).
pub mod ld_src {
    /// Plain 64-bit immediate.
    pub const IMM64: u8 = 0;
    /// imm = map file descriptor / map handle.
    pub const MAP_FD: u8 = 1;
    /// imm = map handle, next imm = offset into the map's value.
    pub const MAP_VALUE: u8 = 2;
    /// imm = BTF id of a kernel variable.
    pub const BTF_ID: u8 = 3;
    /// imm = instruction offset of a BPF function.
    pub const FUNC: u8 = 4;
    /// imm = index of a map in the program's map table.
    pub const MAP_IDX: u8 = 5;
    /// imm = map index, next imm = offset into the map's value.
    pub const MAP_IDX_VALUE: u8 = 6;
}

/// Well-known opcodes.
pub mod op {
    pub const LDDW: u8 = 0x18;
    pub const CALL: u8 = 0x85;
    pub const CALLX: u8 = 0x8d;
    pub const EXIT: u8 = 0x95;
    pub const JA: u8 = 0x05;
    pub const JA32: u8 = 0x06;
}

/// Number of architectural registers r0..r10.
pub const NUM_REGS: usize = 11;
/// The read-only frame pointer.
pub const FRAME_PTR: u8 = 10;
/// Bytes of stack per BPF frame.
pub const STACK_SIZE: usize = 512;
/// Deepest chain of bpf-to-bpf calls, counting the main program.
pub const MAX_CALL_FRAMES: usize = 8;
/// Largest program accepted, in slots (uBPF's limit; ample for tracing filters, whose verified
/// size the kernel caps at 4096 for unprivileged users).
pub const MAX_INSNS: usize = 65_536;

/// One raw instruction slot, fields unpacked but not interpreted.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub struct RawInsn {
    pub opcode: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl RawInsn {
    /// Builds a slot from its fields.
    pub const fn new(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        Self {
            opcode,
            dst,
            src,
            off,
            imm,
        }
    }

    /// Unpacks 8 little-endian bytes.
    pub fn from_bytes(b: [u8; INSN_SIZE]) -> Self {
        Self {
            opcode: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Packs into 8 little-endian bytes.
    pub fn to_bytes(self) -> [u8; INSN_SIZE] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.opcode,
            (self.dst & 0x0f) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// The instruction class (low three bits of the opcode).
    pub fn class(self) -> u8 {
        self.opcode & 0x07
    }
}

/// Splits a byte string into slots; the length must be a multiple of 8.
pub fn slots_from_bytes(bytes: &[u8]) -> Option<Vec<RawInsn>> {
    if !bytes.len().is_multiple_of(INSN_SIZE) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(INSN_SIZE)
            .map(|c| {
                let mut b = [0u8; INSN_SIZE];
                b.copy_from_slice(c);
                RawInsn::from_bytes(b)
            })
            .collect(),
    )
}

/// Packs slots into bytes.
pub fn slots_to_bytes(slots: &[RawInsn]) -> Vec<u8> {
    slots.iter().flat_map(|s| s.to_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_nibbles() {
        let i = RawInsn::new(0xbf, 1, 10, -8, -1);
        let b = i.to_bytes();
        assert_eq!(b, [0xbf, 0xa1, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(RawInsn::from_bytes(b), i);
    }

    #[test]
    fn slots_need_whole_instructions() {
        assert!(slots_from_bytes(&[0; 7]).is_none());
        assert_eq!(slots_from_bytes(&[0; 16]).map(|v| v.len()), Some(2));
    }
}
