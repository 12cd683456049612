//! x86-64 instruction encodings: one function per encoding the JIT uses.
//!
//! Each function appends one instruction to an [`Asm`] buffer and is named after its form
//! (`alu_rr`, `load`, `shift_cl`...); its doc comment gives the Intel mnemonic. The encoder knows
//! the ISA's traps so that the compiler does not have to:
//! - a memory operand based on `rsp`/`r12` needs a SIB byte, one based on `rbp`/`r13` always needs
//!   a displacement (mod 00 means RIP-relative or disp32 there);
//! - a byte register operand 4-7 means `spl/bpl/sil/dil` only with a REX prefix (and `ah..bh`
//!   without one), so byte forms force an empty REX (0x40) for those;
//! - `r8`-`r15` need REX.B/REX.R; 64-bit forms need REX.W.
//!
//! Tests decode every form with capstone (see `tests` below and `jit/tests/jit_encodings.rs`).

/// An x86-64 general-purpose register, by its hardware number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reg(pub u8);

pub const RAX: Reg = Reg(0);
pub const RCX: Reg = Reg(1);
pub const RDX: Reg = Reg(2);
pub const RBX: Reg = Reg(3);
pub const RSP: Reg = Reg(4);
pub const RBP: Reg = Reg(5);
pub const RSI: Reg = Reg(6);
pub const RDI: Reg = Reg(7);
pub const R8: Reg = Reg(8);
pub const R9: Reg = Reg(9);
pub const R10: Reg = Reg(10);
pub const R11: Reg = Reg(11);
pub const R12: Reg = Reg(12);
pub const R13: Reg = Reg(13);
pub const R14: Reg = Reg(14);
pub const R15: Reg = Reg(15);

impl Reg {
    fn low(self) -> u8 {
        self.0 & 7
    }
    fn ext(self) -> bool {
        self.0 >= 8
    }
    /// Whether the byte form of this register needs a REX prefix to mean the low byte
    /// (`spl`, `bpl`, `sil`, `dil`) rather than `ah`..`bh`.
    fn byte_needs_rex(self) -> bool {
        (4..8).contains(&self.0)
    }
}

/// Operand size of an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// 8-bit operand.
    B,
    /// 16-bit operand (0x66 prefix).
    H,
    /// 32-bit operand (writes to a register zero-extend to 64).
    W,
    /// 64-bit operand (REX.W).
    Q,
}

/// The two-operand ALU group, as the `/r` opcode of `op r/m, reg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alu {
    Add = 0x01,
    Or = 0x09,
    And = 0x21,
    Sub = 0x29,
    Xor = 0x31,
    Cmp = 0x39,
    /// `test` (0x85) is not in the group, but has the same form.
    Test = 0x85,
    /// `mov r/m, reg` (0x89).
    Mov = 0x89,
}

impl Alu {
    /// The `/digit` of the immediate group (0x81/0x83) for this operation.
    fn group1(self) -> Option<u8> {
        Some(match self {
            Alu::Add => 0,
            Alu::Or => 1,
            Alu::And => 4,
            Alu::Sub => 5,
            Alu::Xor => 6,
            Alu::Cmp => 7,
            Alu::Test | Alu::Mov => return None,
        })
    }
}

/// Shift and rotate operations, as the `/digit` of the 0xC1/0xD3 group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shift {
    Rol = 0,
    Ror = 1,
    Shl = 4,
    Shr = 5,
    Sar = 7,
}

/// Condition codes (the low nibble of `jcc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cc {
    /// Below (unsigned <).
    B = 0x2,
    /// Above or equal (unsigned >=).
    Ae = 0x3,
    /// Equal / zero.
    E = 0x4,
    /// Not equal / not zero.
    Ne = 0x5,
    /// Below or equal (unsigned <=).
    Be = 0x6,
    /// Above (unsigned >).
    A = 0x7,
    /// Less (signed <).
    L = 0xc,
    /// Greater or equal (signed >=).
    Ge = 0xd,
    /// Less or equal (signed <=).
    Le = 0xe,
    /// Greater (signed >).
    G = 0xf,
}

/// A growing buffer of machine code.
#[derive(Debug, Default, Clone)]
pub struct Asm {
    pub code: Vec<u8>,
}

/// A memory operand `[base + disp]`.
#[derive(Clone, Copy, Debug)]
pub struct Mem {
    pub base: Reg,
    pub disp: i32,
}

/// `[base + disp]`.
pub fn mem(base: Reg, disp: i32) -> Mem {
    Mem { base, disp }
}

impl Asm {
    pub fn new() -> Self {
        Asm::default()
    }

    /// Current offset.
    pub fn pos(&self) -> usize {
        self.code.len()
    }

    fn byte(&mut self, b: u8) {
        self.code.push(b);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.code.extend_from_slice(b);
    }

    fn imm32(&mut self, v: i32) {
        self.bytes(&v.to_le_bytes());
    }

    /// Emits the operand-size prefix and REX for `op` with ModRM `reg` field `r`, base/rm `b`
    /// and SIB index `x`.
    fn prefix(&mut self, op: Op, r: Reg, x: Reg, b: Reg, byte_regs: &[Reg]) {
        let force = op == Op::B && byte_regs.iter().any(|r| r.byte_needs_rex());
        self.prefix_rex(op, r, x, b, force);
    }

    /// Like [`Asm::prefix`], with an explicit "emit REX even if empty".
    fn prefix_rex(&mut self, op: Op, r: Reg, x: Reg, b: Reg, force: bool) {
        if op == Op::H {
            self.byte(0x66);
        }
        let w = op == Op::Q;
        let rex = 0x40
            | (u8::from(w) << 3)
            | (u8::from(r.ext()) << 2)
            | (u8::from(x.ext()) << 1)
            | u8::from(b.ext());
        if rex != 0x40 || force {
            self.byte(rex);
        }
    }

    fn modrm_rr(&mut self, reg: u8, rm: Reg) {
        self.byte(0xc0 | ((reg & 7) << 3) | rm.low());
    }

    /// ModRM (+SIB) (+disp) for `[base + disp]` with `reg` in the reg field.
    fn modrm_mem(&mut self, reg: u8, m: Mem) {
        let (md, disp8) = if m.disp == 0 && m.base.low() != 5 {
            (0u8, false)
        } else if i8::try_from(m.disp).is_ok() {
            (1, true)
        } else {
            (2, false)
        };
        self.byte((md << 6) | ((reg & 7) << 3) | m.base.low());
        if m.base.low() == 4 {
            // SIB: no index, base = rsp/r12.
            self.byte(0x24);
        }
        match md {
            1 if disp8 => self.byte(m.disp as i8 as u8),
            2 => self.imm32(m.disp),
            _ => {}
        }
    }

    // ---- register-register and register-immediate ALU ----

    /// `add|or|and|sub|xor|cmp|test|mov dst, src` (r/m form: `op r/m, reg`).
    pub fn alu_rr(&mut self, op: Alu, w: Op, dst: Reg, src: Reg) {
        self.prefix(w, src, Reg(0), dst, &[]);
        self.byte(op as u8);
        self.modrm_rr(src.0, dst);
    }

    /// `add|or|and|sub|xor|cmp dst, imm` (0x83 /n ib when the immediate fits 8 bits, else
    /// 0x81 /n id; the immediate is sign-extended to the operand size). `test dst, imm` is
    /// 0xF7 /0 id; `mov dst, imm` is 0xC7 /0 id.
    pub fn alu_ri(&mut self, op: Alu, w: Op, dst: Reg, imm: i32) {
        self.prefix(w, Reg(0), Reg(0), dst, &[]);
        match op.group1() {
            Some(n) if i8::try_from(imm).is_ok() => {
                self.byte(0x83);
                self.modrm_rr(n, dst);
                self.byte(imm as i8 as u8);
            }
            Some(n) => {
                self.byte(0x81);
                self.modrm_rr(n, dst);
                self.imm32(imm);
            }
            None => {
                self.byte(if op == Alu::Test { 0xf7 } else { 0xc7 });
                self.modrm_rr(0, dst);
                self.imm32(imm);
            }
        }
    }

    /// `cmp r64, qword ptr [m]` (0x3B /r).
    pub fn cmp_r_mem(&mut self, r: Reg, m: Mem) {
        self.prefix(Op::Q, r, Reg(0), m.base, &[]);
        self.byte(0x3b);
        self.modrm_mem(r.0, m);
    }

    /// `lea r64, [m]` (0x8D /r).
    pub fn lea(&mut self, dst: Reg, m: Mem) {
        self.prefix(Op::Q, dst, Reg(0), m.base, &[]);
        self.byte(0x8d);
        self.modrm_mem(dst.0, m);
    }

    /// `sub qword ptr [m], imm` (0x83 /5 ib or 0x81 /5 id).
    pub fn sub_mem_i(&mut self, m: Mem, imm: i32) {
        self.prefix(Op::Q, Reg(0), Reg(0), m.base, &[]);
        if let Ok(i) = i8::try_from(imm) {
            self.byte(0x83);
            self.modrm_mem(5, m);
            self.byte(i as u8);
        } else {
            self.byte(0x81);
            self.modrm_mem(5, m);
            self.imm32(imm);
        }
    }

    /// `cmp qword ptr [base + disp], imm8`.
    pub fn cmp_mem_i8(&mut self, m: Mem, imm: i8) {
        self.prefix(Op::Q, Reg(0), Reg(0), m.base, &[]);
        self.byte(0x83);
        self.modrm_mem(7, m);
        self.byte(imm as u8);
    }

    /// `mov r32, imm32` (0xB8+r; zero-extends into the 64-bit register).
    pub fn mov_r32_imm(&mut self, dst: Reg, imm: u32) {
        self.prefix(Op::W, Reg(0), Reg(0), dst, &[]);
        self.byte(0xb8 + dst.low());
        self.bytes(&imm.to_le_bytes());
    }

    /// `movabs r64, imm64` (REX.W 0xB8+r io).
    pub fn movabs(&mut self, dst: Reg, imm: u64) {
        self.prefix(Op::Q, Reg(0), Reg(0), dst, &[]);
        self.byte(0xb8 + dst.low());
        self.bytes(&imm.to_le_bytes());
    }

    /// The shortest way to put a 64-bit constant into a register: `xor r32, r32`, `mov r32,
    /// imm32`, `mov r64, simm32` or `movabs`. (`xor` changes flags; the JIT never keeps flags
    /// live across instructions.)
    pub fn load_imm(&mut self, dst: Reg, v: u64) {
        if v == 0 {
            self.alu_rr(Alu::Xor, Op::W, dst, dst); // xor dst32, dst32
        } else if let Ok(v32) = u32::try_from(v) {
            self.mov_r32_imm(dst, v32); // mov dst32, imm32
        } else if let Ok(s) = i32::try_from(v as i64) {
            self.alu_ri(Alu::Mov, Op::Q, dst, s); // mov dst, simm32
        } else {
            self.movabs(dst, v); // movabs dst, imm64
        }
    }

    /// `imul dst, src` (0x0F 0xAF /r).
    pub fn imul_rr(&mut self, w: Op, dst: Reg, src: Reg) {
        self.prefix(w, dst, Reg(0), src, &[]);
        self.bytes(&[0x0f, 0xaf]);
        self.modrm_rr(dst.0, src);
    }

    /// `imul dst, src, imm` (0x6B /r ib or 0x69 /r id).
    pub fn imul_rri(&mut self, w: Op, dst: Reg, src: Reg, imm: i32) {
        self.prefix(w, dst, Reg(0), src, &[]);
        if let Ok(i) = i8::try_from(imm) {
            self.byte(0x6b);
            self.modrm_rr(dst.0, src);
            self.byte(i as u8);
        } else {
            self.byte(0x69);
            self.modrm_rr(dst.0, src);
            self.imm32(imm);
        }
    }

    /// `neg dst` (0xF7 /3).
    pub fn neg(&mut self, w: Op, dst: Reg) {
        self.prefix(w, Reg(0), Reg(0), dst, &[]);
        self.byte(0xf7);
        self.modrm_rr(3, dst);
    }

    /// `div src` (0xF7 /6) or `idiv src` (0xF7 /7): rdx:rax / src.
    pub fn div(&mut self, w: Op, signed: bool, src: Reg) {
        self.prefix(w, Reg(0), Reg(0), src, &[]);
        self.byte(0xf7);
        self.modrm_rr(if signed { 7 } else { 6 }, src);
    }

    /// `cqo` (sign-extend rax into rdx) or, for 32 bits, `cdq`.
    pub fn cqo(&mut self, w: Op) {
        if w == Op::Q {
            self.bytes(&[0x48, 0x99]);
        } else {
            self.byte(0x99);
        }
    }

    /// `shl|shr|sar|rol|ror dst, imm8` (0xC1 /n ib), or the 16-bit form with 0x66.
    pub fn shift_ri(&mut self, op: Shift, w: Op, dst: Reg, imm: u8) {
        self.prefix(w, Reg(0), Reg(0), dst, &[dst]);
        self.byte(if w == Op::B { 0xc0 } else { 0xc1 });
        self.modrm_rr(op as u8, dst);
        self.byte(imm);
    }

    /// `shl|shr|sar dst, cl` (0xD3 /n).
    pub fn shift_cl(&mut self, op: Shift, w: Op, dst: Reg) {
        self.prefix(w, Reg(0), Reg(0), dst, &[]);
        self.byte(0xd3);
        self.modrm_rr(op as u8, dst);
    }

    /// `bswap r32|r64` (0x0F 0xC8+r).
    pub fn bswap(&mut self, w: Op, dst: Reg) {
        self.prefix(w, Reg(0), Reg(0), dst, &[]);
        self.bytes(&[0x0f, 0xc8 + dst.low()]);
    }

    /// Register-to-register widening moves: `movzx r32, r8|r16`, `movsx r32|r64, r8|r16`,
    /// `movsxd r64, r32`. `from` is the source width (B, H or W), `to` the destination's (W or Q).
    pub fn movx_rr(&mut self, signed: bool, from: Op, to: Op, dst: Reg, src: Reg) {
        // A byte source 4-7 must be spl..dil, not ah..bh: force REX.
        self.prefix_rex(to, dst, Reg(0), src, from == Op::B && src.byte_needs_rex());
        match (signed, from) {
            (false, Op::B) => self.bytes(&[0x0f, 0xb6]), // movzx
            (false, _) => self.bytes(&[0x0f, 0xb7]),     // movzx (word)
            (true, Op::B) => self.bytes(&[0x0f, 0xbe]),  // movsx
            (true, Op::H) => self.bytes(&[0x0f, 0xbf]),  // movsx (word)
            (true, _) => self.byte(0x63),                // movsxd
        }
        self.modrm_rr(dst.0, src);
    }

    /// Loads `dst = [m]` of `size`, zero- or sign-extended to 64 bits:
    /// `movzx r32, byte|word ptr`, `mov r32|r64, ptr`, `movsx r64, byte|word ptr`,
    /// `movsxd r64, dword ptr`.
    pub fn load(&mut self, size: Op, signed: bool, dst: Reg, m: Mem) {
        match (size, signed) {
            (Op::B, false) | (Op::H, false) => {
                self.prefix(Op::W, dst, Reg(0), m.base, &[]);
                self.bytes(&[0x0f, if size == Op::B { 0xb6 } else { 0xb7 }]);
            }
            (Op::B, true) | (Op::H, true) => {
                self.prefix(Op::Q, dst, Reg(0), m.base, &[]);
                self.bytes(&[0x0f, if size == Op::B { 0xbe } else { 0xbf }]);
            }
            (Op::W, true) => {
                self.prefix(Op::Q, dst, Reg(0), m.base, &[]);
                self.byte(0x63);
            }
            (w, _) => {
                self.prefix(w, dst, Reg(0), m.base, &[]);
                self.byte(0x8b);
            }
        }
        self.modrm_mem(dst.0, m);
    }

    /// `mov r64, qword ptr [base + index*8]` (SIB with scale 8).
    pub fn load_indexed8(&mut self, dst: Reg, base: Reg, index: Reg) {
        self.prefix(Op::Q, dst, index, base, &[]);
        self.byte(0x8b);
        let md = if base.low() == 5 { 1 } else { 0 };
        self.byte((md << 6) | (dst.low() << 3) | 4);
        self.byte((3 << 6) | (index.low() << 3) | base.low());
        if md == 1 {
            self.byte(0);
        }
    }

    /// Stores the low `size` bytes of `src`: `mov byte|word|dword|qword ptr [m], src`.
    pub fn store_r(&mut self, size: Op, m: Mem, src: Reg) {
        self.prefix(size, src, Reg(0), m.base, &[src]);
        self.byte(if size == Op::B { 0x88 } else { 0x89 });
        self.modrm_mem(src.0, m);
    }

    /// Stores an immediate: `mov byte|word|dword|qword ptr [m], imm` (qword: imm32
    /// sign-extended).
    pub fn store_i(&mut self, size: Op, m: Mem, imm: i32) {
        self.prefix(size, Reg(0), Reg(0), m.base, &[]);
        self.byte(if size == Op::B { 0xc6 } else { 0xc7 });
        self.modrm_mem(0, m);
        match size {
            Op::B => self.byte(imm as u8),
            Op::H => self.bytes(&(imm as u16).to_le_bytes()),
            _ => self.imm32(imm),
        }
    }

    /// `lock add|or|and|xor dword|qword ptr [m], src`.
    pub fn lock_alu_mem(&mut self, op: Alu, w: Op, m: Mem, src: Reg) {
        self.byte(0xf0);
        self.prefix(w, src, Reg(0), m.base, &[]);
        self.byte(op as u8);
        self.modrm_mem(src.0, m);
    }

    /// `lock xadd dword|qword ptr [m], src`.
    pub fn lock_xadd(&mut self, w: Op, m: Mem, src: Reg) {
        self.byte(0xf0);
        self.prefix(w, src, Reg(0), m.base, &[]);
        self.bytes(&[0x0f, 0xc1]);
        self.modrm_mem(src.0, m);
    }

    /// `xchg dword|qword ptr [m], src` (always locked).
    pub fn xchg_mem(&mut self, w: Op, m: Mem, src: Reg) {
        self.prefix(w, src, Reg(0), m.base, &[]);
        self.byte(0x87);
        self.modrm_mem(src.0, m);
    }

    /// `lock cmpxchg dword|qword ptr [m], src` (compares with eax/rax).
    pub fn lock_cmpxchg(&mut self, w: Op, m: Mem, src: Reg) {
        self.byte(0xf0);
        self.prefix(w, src, Reg(0), m.base, &[]);
        self.bytes(&[0x0f, 0xb1]);
        self.modrm_mem(src.0, m);
    }

    /// `mov qword ptr [m], src` — a convenience for frame fields.
    pub fn store_q(&mut self, m: Mem, src: Reg) {
        self.store_r(Op::Q, m, src);
    }

    /// `push r64`.
    pub fn push(&mut self, r: Reg) {
        if r.ext() {
            self.byte(0x41);
        }
        self.byte(0x50 + r.low());
    }

    /// `pop r64`.
    pub fn pop(&mut self, r: Reg) {
        if r.ext() {
            self.byte(0x41);
        }
        self.byte(0x58 + r.low());
    }

    /// `leave`.
    pub fn leave(&mut self) {
        self.byte(0xc9);
    }

    /// `ret`.
    pub fn ret(&mut self) {
        self.byte(0xc3);
    }

    /// `call r64` (0xFF /2).
    pub fn call_r(&mut self, r: Reg) {
        self.prefix(Op::W, Reg(0), Reg(0), r, &[]);
        self.byte(0xff);
        self.modrm_rr(2, r);
    }

    /// `call rel32` to absolute code offset `target`.
    pub fn call_rel(&mut self, target: usize) {
        self.byte(0xe8);
        let rel = target as i64 - (self.pos() as i64 + 4);
        self.imm32(rel as i32);
    }

    /// `jmp rel8|rel32` to code offset `target`; `short` picks the rel8 form (the caller
    /// guarantees it fits).
    pub fn jmp(&mut self, target: usize, short: bool) {
        if short {
            let rel = target as i64 - (self.pos() as i64 + 2);
            self.bytes(&[0xeb, rel as i8 as u8]);
        } else {
            let rel = target as i64 - (self.pos() as i64 + 5);
            self.byte(0xe9);
            self.imm32(rel as i32);
        }
    }

    /// `jcc rel8|rel32` to code offset `target`.
    pub fn jcc(&mut self, cc: Cc, target: usize, short: bool) {
        if short {
            let rel = target as i64 - (self.pos() as i64 + 2);
            self.bytes(&[0x70 + cc as u8, rel as i8 as u8]);
        } else {
            let rel = target as i64 - (self.pos() as i64 + 6);
            self.bytes(&[0x0f, 0x80 + cc as u8]);
            self.imm32(rel as i32);
        }
    }

    /// `jcc rel8` to a label bound later with [`Asm::bind_short`]; returns the patch site.
    pub fn jcc_fwd(&mut self, cc: Cc) -> usize {
        self.bytes(&[0x70 + cc as u8, 0]);
        self.pos() - 1
    }

    /// `jmp rel8` to a label bound later with [`Asm::bind_short`]; returns the patch site.
    pub fn jmp_fwd(&mut self) -> usize {
        self.bytes(&[0xeb, 0]);
        self.pos() - 1
    }

    /// Binds a forward rel8 jump emitted by [`Asm::jcc_fwd`]/[`Asm::jmp_fwd`] to here.
    pub fn bind_short(&mut self, site: usize) {
        let rel = self.pos() - (site + 1);
        debug_assert!(rel <= 127, "short forward jump of {rel} bytes");
        self.code[site] = rel as u8;
    }
}

/// Whether a jump of `rel` bytes measured from the end of a 2-byte short form fits in rel8.
pub fn fits_short(from: usize, to: usize) -> bool {
    let rel = to as i64 - (from as i64 + 2);
    i8::try_from(rel).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use capstone::prelude::*;

    fn dis(code: &[u8]) -> String {
        let cs = Capstone::new()
            .x86()
            .mode(arch::x86::ArchMode::Mode64)
            .build()
            .expect("capstone");
        let insns = cs.disasm_all(code, 0x1000).expect("disassembles");
        let v: Vec<String> = insns
            .iter()
            .map(|i| {
                format!(
                    "{} {}",
                    i.mnemonic().unwrap_or(""),
                    i.op_str().unwrap_or("")
                )
            })
            .map(|s| s.trim().to_string())
            .collect();
        let total: usize = insns.iter().map(|i| i.len()).sum();
        assert_eq!(total, code.len(), "trailing bytes in {code:02x?}: {v:?}");
        v.join("; ")
    }

    fn check(f: impl FnOnce(&mut Asm), bytes: &[u8], text: &str) {
        let mut a = Asm::new();
        f(&mut a);
        assert_eq!(dis(&a.code), text, "bytes {:02x?}", a.code);
        assert_eq!(a.code, bytes, "{text}");
    }

    #[test]
    fn alu_forms() {
        check(
            |a| a.alu_rr(Alu::Add, Op::Q, RAX, RDI),
            &[0x48, 0x01, 0xf8],
            "add rax, rdi",
        );
        check(
            |a| a.alu_rr(Alu::Sub, Op::W, R15, RSI),
            &[0x41, 0x29, 0xf7],
            "sub r15d, esi",
        );
        check(
            |a| a.alu_rr(Alu::Mov, Op::Q, R11, R13),
            &[0x4d, 0x89, 0xeb],
            "mov r11, r13",
        );
        check(
            |a| a.alu_ri(Alu::And, Op::Q, RBX, 0x7f),
            &[0x48, 0x83, 0xe3, 0x7f],
            "and rbx, 0x7f",
        );
        check(
            |a| a.alu_ri(Alu::Xor, Op::W, R8, 0x1234),
            &[0x41, 0x81, 0xf0, 0x34, 0x12, 0, 0],
            "xor r8d, 0x1234",
        );
        check(
            |a| a.alu_ri(Alu::Mov, Op::Q, RDX, -1),
            &[0x48, 0xc7, 0xc2, 0xff, 0xff, 0xff, 0xff],
            "mov rdx, 0xffffffffffffffff",
        );
        check(
            |a| a.alu_ri(Alu::Cmp, Op::W, RCX, -2),
            &[0x83, 0xf9, 0xfe],
            "cmp ecx, -2",
        );
        check(
            |a| a.alu_ri(Alu::Test, Op::Q, R14, 8),
            &[0x49, 0xf7, 0xc6, 8, 0, 0, 0],
            "test r14, 8",
        );
    }

    #[test]
    fn immediates_and_arithmetic() {
        check(
            |a| a.mov_r32_imm(R9, 7),
            &[0x41, 0xb9, 7, 0, 0, 0],
            "mov r9d, 7",
        );
        check(
            |a| a.movabs(RAX, 0x8000_0000_0000_0000),
            &[0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0x80],
            "movabs rax, 0x8000000000000000",
        );
        check(|a| a.load_imm(RSI, 0), &[0x31, 0xf6], "xor esi, esi");
        check(
            |a| a.load_imm(RBX, 0xffff_ffff),
            &[0xbb, 0xff, 0xff, 0xff, 0xff],
            "mov ebx, 0xffffffff",
        );
        check(
            |a| a.imul_rr(Op::Q, R13, RCX),
            &[0x4c, 0x0f, 0xaf, 0xe9],
            "imul r13, rcx",
        );
        check(
            |a| a.imul_rri(Op::W, RAX, RAX, 3),
            &[0x6b, 0xc0, 3],
            "imul eax, eax, 3",
        );
        check(
            |a| a.imul_rri(Op::Q, R14, R14, 1000),
            &[0x4d, 0x69, 0xf6, 0xe8, 0x03, 0, 0],
            "imul r14, r14, 0x3e8",
        );
        check(|a| a.neg(Op::W, R15), &[0x41, 0xf7, 0xdf], "neg r15d");
        check(|a| a.div(Op::Q, false, R11), &[0x49, 0xf7, 0xf3], "div r11");
        check(
            |a| a.div(Op::W, true, R11),
            &[0x41, 0xf7, 0xfb],
            "idiv r11d",
        );
        check(|a| a.cqo(Op::Q), &[0x48, 0x99], "cqo");
        check(|a| a.cqo(Op::W), &[0x99], "cdq");
    }

    #[test]
    fn shifts_and_byte_order() {
        check(
            |a| a.shift_ri(Shift::Shl, Op::Q, RDI, 3),
            &[0x48, 0xc1, 0xe7, 3],
            "shl rdi, 3",
        );
        check(
            |a| a.shift_ri(Shift::Sar, Op::W, R8, 31),
            &[0x41, 0xc1, 0xf8, 31],
            "sar r8d, 0x1f",
        );
        check(
            |a| a.shift_ri(Shift::Ror, Op::H, RDX, 8),
            &[0x66, 0xc1, 0xca, 8],
            "ror dx, 8",
        );
        // The count register is rcx (BPF r4): the destination may be rcx itself.
        check(
            |a| a.shift_cl(Shift::Shr, Op::Q, RCX),
            &[0x48, 0xd3, 0xe9],
            "shr rcx, cl",
        );
        check(
            |a| a.shift_cl(Shift::Shl, Op::W, R11),
            &[0x41, 0xd3, 0xe3],
            "shl r11d, cl",
        );
        check(|a| a.bswap(Op::W, RSI), &[0x0f, 0xce], "bswap esi");
        check(|a| a.bswap(Op::Q, R13), &[0x49, 0x0f, 0xcd], "bswap r13");
        check(
            |a| a.movx_rr(false, Op::H, Op::W, RDI, RDI),
            &[0x0f, 0xb7, 0xff],
            "movzx edi, di",
        );
        // Byte sources 4-7 need REX to mean sil/dil rather than dh/bh.
        check(
            |a| a.movx_rr(true, Op::B, Op::W, RAX, RSI),
            &[0x40, 0x0f, 0xbe, 0xc6],
            "movsx eax, sil",
        );
        check(
            |a| a.movx_rr(true, Op::B, Op::Q, RBX, RDI),
            &[0x48, 0x0f, 0xbe, 0xdf],
            "movsx rbx, dil",
        );
        check(
            |a| a.movx_rr(true, Op::H, Op::Q, RAX, R8),
            &[0x49, 0x0f, 0xbf, 0xc0],
            "movsx rax, r8w",
        );
        check(
            |a| a.movx_rr(true, Op::W, Op::Q, R15, RDX),
            &[0x4c, 0x63, 0xfa],
            "movsxd r15, edx",
        );
    }

    #[test]
    fn memory_forms() {
        // rbp and r13 bases always carry a displacement; r12 needs a SIB byte.
        check(
            |a| a.load(Op::Q, false, RAX, mem(RBP, 0)),
            &[0x48, 0x8b, 0x45, 0],
            "mov rax, qword ptr [rbp]",
        );
        check(
            |a| a.load(Op::W, false, RDI, mem(R13, -8)),
            &[0x41, 0x8b, 0x7d, 0xf8],
            "mov edi, dword ptr [r13 - 8]",
        );
        check(
            |a| a.load(Op::B, false, RSI, mem(RDI, 2)),
            &[0x0f, 0xb6, 0x77, 2],
            "movzx esi, byte ptr [rdi + 2]",
        );
        check(
            |a| a.load(Op::H, true, RCX, mem(RSI, 0x1000)),
            &[0x48, 0x0f, 0xbf, 0x8e, 0, 0x10, 0, 0],
            "movsx rcx, word ptr [rsi + 0x1000]",
        );
        check(
            |a| a.load(Op::W, true, R8, mem(RDX, 0)),
            &[0x4c, 0x63, 0x02],
            "movsxd r8, dword ptr [rdx]",
        );
        check(
            |a| a.load(Op::Q, false, RSP, mem(R12, 16)),
            &[0x49, 0x8b, 0x64, 0x24, 0x10],
            "mov rsp, qword ptr [r12 + 0x10]",
        );
        check(
            |a| a.load_indexed8(R11, R10, R11),
            &[0x4f, 0x8b, 0x1c, 0xda],
            "mov r11, qword ptr [r10 + r11*8]",
        );
        // Byte stores from rsi/rdi need an empty REX prefix (sil/dil, not dh/bh).
        check(
            |a| a.store_r(Op::B, mem(RAX, 1), RSI),
            &[0x40, 0x88, 0x70, 1],
            "mov byte ptr [rax + 1], sil",
        );
        check(
            |a| a.store_r(Op::B, mem(RBP, -1), RDI),
            &[0x40, 0x88, 0x7d, 0xff],
            "mov byte ptr [rbp - 1], dil",
        );
        check(
            |a| a.store_r(Op::B, mem(RDI, 0), RCX),
            &[0x88, 0x0f],
            "mov byte ptr [rdi], cl",
        );
        check(
            |a| a.store_r(Op::H, mem(R14, 6), RBX),
            &[0x66, 0x41, 0x89, 0x5e, 6],
            "mov word ptr [r14 + 6], bx",
        );
        check(
            |a| a.store_q(mem(R12, 16), RSP),
            &[0x49, 0x89, 0x64, 0x24, 0x10],
            "mov qword ptr [r12 + 0x10], rsp",
        );
        check(
            |a| a.store_i(Op::B, mem(RDI, 0), 0x11),
            &[0xc6, 0x07, 0x11],
            "mov byte ptr [rdi], 0x11",
        );
        check(
            |a| a.store_i(Op::H, mem(RDI, 2), 0x2211),
            &[0x66, 0xc7, 0x47, 2, 0x11, 0x22],
            "mov word ptr [rdi + 2], 0x2211",
        );
        check(
            |a| a.store_i(Op::Q, mem(RBP, -8), -1),
            &[0x48, 0xc7, 0x45, 0xf8, 0xff, 0xff, 0xff, 0xff],
            "mov qword ptr [rbp - 8], 0xffffffffffffffff",
        );
        check(
            |a| a.lea(R11, mem(RSI, -4)),
            &[0x4c, 0x8d, 0x5e, 0xfc],
            "lea r11, [rsi - 4]",
        );
        check(
            |a| a.cmp_r_mem(R11, mem(R12, 32)),
            &[0x4d, 0x3b, 0x5c, 0x24, 0x20],
            "cmp r11, qword ptr [r12 + 0x20]",
        );
        check(
            |a| a.cmp_mem_i8(mem(R12, 0), 0),
            &[0x49, 0x83, 0x3c, 0x24, 0],
            "cmp qword ptr [r12], 0",
        );
        check(
            |a| a.sub_mem_i(mem(R12, 56), 3),
            &[0x49, 0x83, 0x6c, 0x24, 0x38, 3],
            "sub qword ptr [r12 + 0x38], 3",
        );
    }

    #[test]
    fn atomics() {
        check(
            |a| a.lock_alu_mem(Alu::Add, Op::Q, mem(RDI, 8), RSI),
            &[0xf0, 0x48, 0x01, 0x77, 8],
            "lock add qword ptr [rdi + 8], rsi",
        );
        check(
            |a| a.lock_alu_mem(Alu::Xor, Op::W, mem(RBP, -4), RAX),
            &[0xf0, 0x31, 0x45, 0xfc],
            "lock xor dword ptr [rbp - 4], eax",
        );
        check(
            |a| a.lock_xadd(Op::W, mem(R13, 0), RBX),
            &[0xf0, 0x41, 0x0f, 0xc1, 0x5d, 0],
            "lock xadd dword ptr [r13], ebx",
        );
        check(
            |a| a.xchg_mem(Op::Q, mem(RDX, 0), RCX),
            &[0x48, 0x87, 0x0a],
            "xchg qword ptr [rdx], rcx",
        );
        check(
            |a| a.lock_cmpxchg(Op::Q, mem(R9, 4), R11),
            &[0xf0, 0x4d, 0x0f, 0xb1, 0x59, 4],
            "lock cmpxchg qword ptr [r9 + 4], r11",
        );
    }

    #[test]
    fn control_flow() {
        check(|a| a.push(R12), &[0x41, 0x54], "push r12");
        check(|a| a.pop(RBP), &[0x5d], "pop rbp");
        check(|a| a.ret(), &[0xc3], "ret");
        check(|a| a.leave(), &[0xc9], "leave");
        check(|a| a.call_r(R11), &[0x41, 0xff, 0xd3], "call r11");
        check(|a| a.call_rel(0x100), &[0xe8, 0xfb, 0, 0, 0], "call 0x1100");
        check(|a| a.jmp(0, true), &[0xeb, 0xfe], "jmp 0x1000");
        check(
            |a| a.jmp(0x200, false),
            &[0xe9, 0xfb, 1, 0, 0],
            "jmp 0x1200",
        );
        check(|a| a.jcc(Cc::Le, 0x10, true), &[0x7e, 0x0e], "jle 0x1010");
        check(
            |a| a.jcc(Cc::A, 0x1000, false),
            &[0x0f, 0x87, 0xfa, 0x0f, 0, 0],
            "ja 0x2000",
        );
        check(
            |a| {
                let s = a.jcc_fwd(Cc::B);
                a.ret();
                a.bind_short(s);
            },
            &[0x72, 0x01, 0xc3],
            "jb 0x1003; ret",
        );
        assert!(
            fits_short(0, 129)
                && !fits_short(0, 130)
                && fits_short(200, 74)
                && !fits_short(200, 73)
        );
    }
}
