//! Side-effect-free x86-64 interpreter for "what would this kernel code have computed".
//!
//! When a guest kernel reaches a *disabled* static tracepoint, the code of the enabled
//! branch is still there, just jumped over. This module interprets a short stretch of
//! that guest code on the host, starting from a copy of the guest's registers, so bpflab
//! can see the tracepoint's arguments (or the record the kernel's own code would fill)
//! without changing the guest at all.
//!
//! # Why writes never reach the guest
//!
//! Guest memory is only reachable through [`GuestRead`], which has no way to write.
//! Every store the interpreted code makes (including pushes and `call` return
//! addresses) goes into an [`Overlay`], a private copy-on-write layer: reads see the
//! overlay first and fall back to the guest for bytes never written. The caller throws
//! the overlay away afterwards. The caller may plant fake data in it beforehand
//! ([`Overlay::write`]) and may declare scratch memory that the guest never maps
//! ([`Overlay::map_scratch`]), e.g. a fake ring-buffer record.
//!
//! A store through an address that is neither mapped in the guest nor present in the
//! overlay is reported as [`SideError::Fault`], as the real CPU would fault there.
//!
//! # What is supported
//!
//! 64-bit mode integer code as gcc emits it for the kernel: data movement (`mov` in all
//! forms incl. `movabs`/moffs, `movzx`, `movsx`, `movsxd`, `lea`, `xchg`, `cmovcc`,
//! `setcc`, `bswap`, `cbw`/`cwde`/`cdqe`, `cwd`/`cdq`/`cqo`), arithmetic and logic with
//! exact CF/PF/ZF/SF/OF (AF is computed where cheap), shifts and rotates, `shld`/`shrd`,
//! `imul`/`mul`/`div`/`idiv`, bit tests and scans, `popcnt`/`tzcnt`/`lzcnt`, `xadd` and
//! `cmpxchg` (a `lock` prefix is simply ignored: the side run is single-threaded),
//! control flow (`jmp`, `jcc`, `call`, `ret`, `push`, `pop`, `leave`, `pushfq`, `popfq`),
//! no-ops (`nop` forms, `endbr64`, `pause`, fences, prefetches), flag instructions
//! (`cld`/`std`/`clc`/`stc`/`cmc`) and the string instructions `movs`/`stos`/`lods`/
//! `cmps`/`scas` with `rep`/`repe`/`repne`, honouring DF. `fs:`/`gs:` use
//! [`Cpu::fs_base`]/[`Cpu::gs_base`]; every other segment has base 0.
//!
//! Everything else (privileged and system instructions, `int3`, `ud2`, I/O, segment and
//! control register moves, SSE/AVX, x87, `cpuid`, `rdtsc`, `cmpxchg16b`, ...) ends the run
//! with [`SideError::Unsupported`] naming the mnemonic.
//!
//! # What ends a run
//!
//! [`run`] asks `stop(&cpu)` before every instruction, including the first; when it says
//! yes the run returns [`Exit::Stopped`] with the instruction at `rip` not executed. A run
//! also ends with an error when the instruction budget is used up, an instruction cannot
//! be decoded, is unsupported, touches unmapped memory or raises a divide error. On an
//! error the [`Cpu`] is left as it was *before* the failing instruction (its `rip` points
//! at it); overlay writes that instruction already made are kept. The interpreter never
//! panics.

use iced_x86::{
    Decoder, DecoderError, DecoderOptions, Instruction, MemorySize, Mnemonic, OpKind, Register,
};

/// Index of `rax` in [`Cpu::gpr`].
pub const RAX: usize = 0;
/// Index of `rcx` in [`Cpu::gpr`].
pub const RCX: usize = 1;
/// Index of `rdx` in [`Cpu::gpr`].
pub const RDX: usize = 2;
/// Index of `rbx` in [`Cpu::gpr`].
pub const RBX: usize = 3;
/// Index of `rsp` in [`Cpu::gpr`].
pub const RSP: usize = 4;
/// Index of `rbp` in [`Cpu::gpr`].
pub const RBP: usize = 5;
/// Index of `rsi` in [`Cpu::gpr`].
pub const RSI: usize = 6;
/// Index of `rdi` in [`Cpu::gpr`].
pub const RDI: usize = 7;
/// Index of `r8` in [`Cpu::gpr`].
pub const R8: usize = 8;
/// Index of `r9` in [`Cpu::gpr`].
pub const R9: usize = 9;
/// Index of `r10` in [`Cpu::gpr`].
pub const R10: usize = 10;
/// Index of `r11` in [`Cpu::gpr`].
pub const R11: usize = 11;
/// Index of `r12` in [`Cpu::gpr`].
pub const R12: usize = 12;
/// Index of `r13` in [`Cpu::gpr`].
pub const R13: usize = 13;
/// Index of `r14` in [`Cpu::gpr`].
pub const R14: usize = 14;
/// Index of `r15` in [`Cpu::gpr`].
pub const R15: usize = 15;

/// Carry flag (rflags bit 0).
pub const CF: u64 = 1 << 0;
/// Parity flag (rflags bit 2): set when the low byte of the result has even parity.
pub const PF: u64 = 1 << 2;
/// Auxiliary (BCD) carry flag (rflags bit 4).
pub const AF: u64 = 1 << 4;
/// Zero flag (rflags bit 6).
pub const ZF: u64 = 1 << 6;
/// Sign flag (rflags bit 7).
pub const SF: u64 = 1 << 7;
/// Direction flag (rflags bit 10): string instructions count down when set.
pub const DF: u64 = 1 << 10;
/// Overflow flag (rflags bit 11).
pub const OF: u64 = 1 << 11;
/// All six arithmetic status flags.
pub const STATUS_FLAGS: u64 = CF | PF | AF | ZF | SF | OF;

/// Longest x86 instruction, in bytes.
const MAX_INSN_LEN: usize = 15;

/// Most iterations a single `rep`-prefixed string instruction may run before the side
/// run gives up with [`SideError::RepLimit`] (protects the host from a runaway `rcx`).
pub const REP_LIMIT: u64 = 1 << 20;

/// Guest virtual memory, read-only (implemented by bpflab over the guest's page tables).
#[allow(clippy::result_unit_err)]
pub trait GuestRead {
    /// Fill `buf` from virtual address `va`; Err(()) if any byte is unmapped.
    fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), ()>;
}

/// Register state of the side run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cpu {
    /// General purpose registers in iced/Intel order: rax rcx rdx rbx rsp rbp rsi rdi
    /// r8..r15 (see [`RAX`] .. [`R15`]).
    pub gpr: [u64; 16],
    /// Address of the next instruction to execute.
    pub rip: u64,
    /// Flags ([`CF`], [`PF`], [`AF`], [`ZF`], [`SF`], [`DF`], [`OF`]; other bits are kept).
    pub rflags: u64,
    /// Base added to `fs:` memory operands.
    pub fs_base: u64,
    /// Base added to `gs:` memory operands (the kernel's per-CPU area).
    pub gs_base: u64,
}

/// Why a run ended normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// rip reached an address for which `stop(rip)` returned true; the instruction there has NOT executed.
    Stopped(u64),
}

/// Why a run ended abnormally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SideError {
    /// The instruction budget given to [`run`] was used up before `stop` said yes.
    #[error("instruction budget of {0} exhausted")]
    Budget(u32),
    /// The bytes at this address are not a valid instruction.
    #[error("cannot decode the instruction at {0:#x}")]
    Decode(u64),
    /// A valid instruction (or operand form) the side run does not implement.
    #[error("{mnemonic} at {rip:#x} is not supported by the side run")]
    Unsupported {
        /// Address of the instruction.
        rip: u64,
        /// Lower-case iced mnemonic, e.g. `ud2`.
        mnemonic: String,
    },
    /// Memory the instruction needed (code, data or stack) is not mapped.
    #[error("guest memory at {va:#x} is not mapped (instruction at {rip:#x})")]
    Fault {
        /// Address of the instruction.
        rip: u64,
        /// Address of the access that failed.
        va: u64,
    },
    /// `div`/`idiv` by zero or with a quotient that does not fit (#DE).
    #[error("divide error at {0:#x}")]
    DivideError(u64),
    /// A `rep` string instruction ran more than [`REP_LIMIT`] iterations.
    #[error("rep string instruction at {0:#x} exceeded the iteration limit")]
    RepLimit(u64),
}

mod flags;
mod overlay;

use flags::*;
pub use overlay::{pop, push, read_u64, return_from_call, Overlay};

/// Instructions decoded before, by address, with the bytes they were decoded from: a hit
/// re-reads those bytes (through the overlay, as any fetch) and decodes again only if they
/// changed, so code that runs on every hit is decoded once. Keep one per call site across
/// hits.
#[derive(Default)]
pub struct DecodeCache {
    map: overlay::AddrMap<(Instruction, [u8; MAX_INSN_LEN])>,
}

impl std::fmt::Debug for DecodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodeCache")
            .field("instructions", &self.map.len())
            .finish()
    }
}

/// Instructions a [`DecodeCache`] keeps before it starts over.
const DECODE_CACHE_MAX: usize = 1 << 16;

impl DecodeCache {
    /// The instruction at `rip`, from the cache when its bytes are unchanged.
    fn fetch(
        &mut self,
        rip: u64,
        guest: &dyn GuestRead,
        ov: &Overlay,
    ) -> Result<Instruction, SideError> {
        if let Some((ins, bytes)) = self.map.get(&rip) {
            let len = ins.len();
            let mut now = [0u8; MAX_INSN_LEN];
            if ov.read(guest, rip, &mut now[..len]).is_ok() && now[..len] == bytes[..len] {
                return Ok(*ins);
            }
        }
        let (ins, bytes) = fetch_decode(rip, guest, ov)?;
        if self.map.len() >= DECODE_CACHE_MAX {
            self.map.clear();
        }
        self.map.insert(rip, (ins, bytes));
        Ok(ins)
    }
}

/// Interpret from cpu.rip until `stop(&cpu)` is true (checked BEFORE each instruction,
/// including the first), at most `budget` instructions. Code bytes are fetched through the
/// overlay/guest (so code the guest patched at boot is what runs). Never panics.
pub fn run(
    cpu: &mut Cpu,
    guest: &dyn GuestRead,
    overlay: &mut Overlay,
    stop: &mut dyn FnMut(&Cpu) -> bool,
    budget: u32,
) -> Result<Exit, SideError> {
    run_cached(
        cpu,
        guest,
        overlay,
        stop,
        budget,
        &mut DecodeCache::default(),
    )
}

/// [`run`], decoding through `cache`.
pub fn run_cached(
    cpu: &mut Cpu,
    guest: &dyn GuestRead,
    overlay: &mut Overlay,
    stop: &mut dyn FnMut(&Cpu) -> bool,
    budget: u32,
    cache: &mut DecodeCache,
) -> Result<Exit, SideError> {
    let mut executed = 0u32;
    loop {
        if stop(cpu) {
            return Ok(Exit::Stopped(cpu.rip));
        }
        if executed >= budget {
            return Err(SideError::Budget(budget));
        }
        let ins = cache.fetch(cpu.rip, guest, overlay)?;
        execute(cpu, guest, overlay, ins)?;
        executed += 1;
    }
}

/// Execute exactly one instruction at `cpu.rip`. On error `cpu` is unchanged.
pub fn step(cpu: &mut Cpu, guest: &dyn GuestRead, overlay: &mut Overlay) -> Result<(), SideError> {
    let (ins, _) = fetch_decode(cpu.rip, guest, overlay)?;
    execute(cpu, guest, overlay, ins)
}

/// Execute `ins`, the instruction at `cpu.rip`. On error `cpu` is unchanged.
fn execute(
    cpu: &mut Cpu,
    guest: &dyn GuestRead,
    overlay: &mut Overlay,
    ins: Instruction,
) -> Result<(), SideError> {
    let saved = cpu.clone();
    cpu.rip = ins.next_ip();
    let result = Exec {
        cpu: &mut *cpu,
        guest,
        ov: overlay,
        ins,
    }
    .exec();
    if result.is_err() {
        *cpu = saved;
    }
    result
}

/// Fetch up to 15 bytes at `rip` (fewer if the tail is unmapped) and decode them; also
/// returns the bytes.
fn fetch_decode(
    rip: u64,
    guest: &dyn GuestRead,
    ov: &Overlay,
) -> Result<(Instruction, [u8; MAX_INSN_LEN]), SideError> {
    let mut bytes = [0u8; MAX_INSN_LEN];
    let mut n = MAX_INSN_LEN;
    if ov.read(guest, rip, &mut bytes).is_err() {
        n = 0;
        while n < MAX_INSN_LEN
            && ov
                .read(guest, rip.wrapping_add(n as u64), &mut bytes[n..=n])
                .is_ok()
        {
            n += 1;
        }
    }
    if n == 0 {
        return Err(SideError::Fault { rip, va: rip });
    }
    let mut decoder = Decoder::try_with_ip(64, &bytes[..n], rip, DecoderOptions::NONE)
        .map_err(|_| SideError::Decode(rip))?;
    let ins = decoder.decode();
    if !ins.is_invalid() {
        return Ok((ins, bytes));
    }
    if decoder.last_error() != DecoderError::NoMoreBytes {
        return Err(SideError::Decode(rip));
    }
    // The bytes ran out at an unmapped address. Decode again as if that memory held
    // zeros: if the instruction is valid then, it really needed the unmapped bytes;
    // if not, it is invalid whatever follows it.
    bytes[n..].fill(0);
    let mut padded = Decoder::try_with_ip(64, &bytes, rip, DecoderOptions::NONE)
        .map_err(|_| SideError::Decode(rip))?;
    if padded.decode().is_invalid() {
        return Err(SideError::Decode(rip));
    }
    Err(SideError::Fault {
        rip,
        va: rip.wrapping_add(n as u64),
    })
}

// ---------------------------------------------------------------------------------------
// Operands.

/// A general purpose register as an operand: index into [`Cpu::gpr`], width in bytes and
/// whether it is one of AH/CH/DH/BH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Gpr {
    idx: usize,
    size: usize,
    high: bool,
}

/// Map an iced register to a general purpose register (None for anything else).
fn gpr(r: Register) -> Option<Gpr> {
    // iced numbers registers AL..BL, AH..BH, SPL..R15L, AX..R15W, EAX..R15D, RAX..R15
    // consecutively; the tests check this mapping against the register names.
    let n = r as usize;
    let rel = |first: Register, count| n.checked_sub(first as usize).filter(|i| *i < count);
    let (idx, size, high) = if let Some(i) = rel(Register::RAX, 16) {
        (i, 8, false)
    } else if let Some(i) = rel(Register::EAX, 16) {
        (i, 4, false)
    } else if let Some(i) = rel(Register::AX, 16) {
        (i, 2, false)
    } else {
        match rel(Register::AL, 20)? {
            i @ 0..=3 => (i, 1, false),
            i @ 4..=7 => (i - 4, 1, true),
            i => (i - 4, 1, false),
        }
    };
    Some(Gpr { idx, size, high })
}

/// Size in bytes of a scalar integer memory operand.
fn mem_size(ms: MemorySize) -> Option<usize> {
    use MemorySize as S;
    match ms {
        S::UInt8 | S::Int8 => Some(1),
        S::UInt16 | S::Int16 | S::WordOffset => Some(2),
        S::UInt32 | S::Int32 | S::DwordOffset => Some(4),
        S::UInt64 | S::Int64 | S::QwordOffset => Some(8),
        _ => None,
    }
}

/// Where an operand lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loc {
    /// Register index and high-byte flag.
    Reg(usize, bool),
    /// Final virtual address (segment base included).
    Mem(u64),
    /// Immediate, sign-extended as the encoding says.
    Imm(u64),
}

/// An operand and its width in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Opnd {
    loc: Loc,
    size: usize,
}

/// Write `v` to a register with x86-64 width semantics: 32-bit writes zero the upper
/// half, 8/16-bit writes merge, AH..BH write bits 8..15.
fn set_gpr(cpu: &mut Cpu, idx: usize, size: usize, high: bool, v: u64) {
    let old = cpu.gpr[idx];
    cpu.gpr[idx] = match (high, size) {
        (true, _) => (old & !0xff00) | ((v & 0xff) << 8),
        (false, 8) => v,
        (false, 4) => v & 0xffff_ffff,
        _ => (old & !mask(size)) | (v & mask(size)),
    };
}

/// String instruction kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Str {
    Movs,
    Stos,
    Lods,
    Cmps,
    Scas,
}

type Res<T = ()> = Result<T, SideError>;

/// One instruction being executed. `cpu.rip` already points past it.
struct Exec<'a> {
    cpu: &'a mut Cpu,
    guest: &'a dyn GuestRead,
    ov: &'a mut Overlay,
    ins: Instruction,
}

impl Exec<'_> {
    fn rip(&self) -> u64 {
        self.ins.ip()
    }

    fn unsupported(&self) -> SideError {
        SideError::Unsupported {
            rip: self.rip(),
            mnemonic: format!("{:?}", self.ins.mnemonic()).to_lowercase(),
        }
    }

    fn fault(&self, va: u64) -> SideError {
        SideError::Fault {
            rip: self.rip(),
            va,
        }
    }

    fn flag(&self, f: u64) -> bool {
        self.cpu.rflags & f != 0
    }

    /// Replace the `affected` flags with those in `value`.
    fn set_flags(&mut self, affected: u64, value: u64) {
        self.cpu.rflags = (self.cpu.rflags & !affected) | (value & affected);
    }

    fn reg(&self, idx: usize, size: usize) -> u64 {
        self.cpu.gpr[idx] & mask(size)
    }

    fn set_reg(&mut self, idx: usize, size: usize, v: u64) {
        set_gpr(self.cpu, idx, size, false, v);
    }

    fn mem_read(&self, va: u64, size: usize) -> Res<u64> {
        let mut b = [0u8; 8];
        self.ov
            .read(self.guest, va, &mut b[..size])
            .map_err(|()| self.fault(va))?;
        Ok(u64::from_le_bytes(b))
    }

    /// Store into the overlay; the target must be mapped (guest, overlay or scratch).
    fn mem_write(&mut self, va: u64, size: usize, v: u64) -> Res {
        let bytes = v.to_le_bytes();
        if !self.ov.covers(va, size) {
            let mut probe = [0u8; 8];
            self.ov
                .read(self.guest, va, &mut probe[..size])
                .map_err(|()| self.fault(va))?;
        }
        self.ov.write(va, &bytes[..size]);
        Ok(())
    }

    fn seg_base(&self) -> u64 {
        match self.ins.memory_segment() {
            Register::FS => self.cpu.fs_base,
            Register::GS => self.cpu.gs_base,
            _ => 0,
        }
    }

    /// Effective address of the memory operand, without the segment base (as `lea`).
    fn ea(&self) -> Res<u64> {
        let ins = &self.ins;
        let base = ins.memory_base();
        if base == Register::RIP || base == Register::EIP {
            // iced already resolved RIP-relative operands to an absolute address.
            return Ok(ins.memory_displacement64());
        }
        let mut addr = ins.memory_displacement64();
        let mut narrow = false;
        for (r, scale) in [
            (base, 1u64),
            (ins.memory_index(), u64::from(ins.memory_index_scale())),
        ] {
            if r == Register::None {
                continue;
            }
            let g = gpr(r)
                .filter(|g| g.size >= 4)
                .ok_or_else(|| self.unsupported())?;
            narrow |= g.size == 4;
            addr = addr.wrapping_add(self.reg(g.idx, g.size).wrapping_mul(scale));
        }
        Ok(if narrow { addr & 0xffff_ffff } else { addr })
    }

    /// Decode operand `i`.
    fn opnd(&self, i: u32) -> Res<Opnd> {
        let ins = &self.ins;
        let kind = ins.try_op_kind(i).map_err(|_| self.unsupported())?;
        let imm = |size: usize| -> Res<Opnd> {
            Ok(Opnd {
                loc: Loc::Imm(ins.try_immediate(i).map_err(|_| self.unsupported())?),
                size,
            })
        };
        match kind {
            OpKind::Register => {
                let g = gpr(ins.op_register(i)).ok_or_else(|| self.unsupported())?;
                Ok(Opnd {
                    loc: Loc::Reg(g.idx, g.high),
                    size: g.size,
                })
            }
            OpKind::Memory => {
                let size = mem_size(ins.memory_size()).ok_or_else(|| self.unsupported())?;
                let loc = Loc::Mem(self.ea()?.wrapping_add(self.seg_base()));
                Ok(Opnd { loc, size })
            }
            OpKind::Immediate8 => imm(1),
            OpKind::Immediate16 | OpKind::Immediate8to16 => imm(2),
            OpKind::Immediate32 | OpKind::Immediate8to32 => imm(4),
            OpKind::Immediate64 | OpKind::Immediate8to64 | OpKind::Immediate32to64 => imm(8),
            _ => Err(self.unsupported()),
        }
    }

    fn read(&self, o: Opnd) -> Res<u64> {
        match o.loc {
            Loc::Reg(idx, true) => Ok((self.cpu.gpr[idx] >> 8) & 0xff),
            Loc::Reg(idx, false) => Ok(self.reg(idx, o.size)),
            Loc::Mem(va) => self.mem_read(va, o.size),
            Loc::Imm(v) => Ok(v & mask(o.size)),
        }
    }

    fn write(&mut self, o: Opnd, v: u64) -> Res {
        match o.loc {
            Loc::Reg(idx, high) => {
                set_gpr(self.cpu, idx, o.size, high, v);
                Ok(())
            }
            Loc::Mem(va) => self.mem_write(va, o.size, v & mask(o.size)),
            Loc::Imm(_) => Err(self.unsupported()),
        }
    }

    fn push_val(&mut self, size: usize, v: u64) -> Res {
        let sp = self.cpu.gpr[RSP].wrapping_sub(size as u64);
        self.mem_write(sp, size, v)?;
        self.cpu.gpr[RSP] = sp;
        Ok(())
    }

    fn pop_val(&mut self, size: usize) -> Res<u64> {
        let sp = self.cpu.gpr[RSP];
        let v = self.mem_read(sp, size)?;
        self.cpu.gpr[RSP] = sp.wrapping_add(size as u64);
        Ok(v)
    }

    fn exec(&mut self) -> Res {
        use Mnemonic as M;
        let m = self.ins.mnemonic();
        match m {
            M::Mov => self.mov(),
            M::Movzx => self.movx(false),
            M::Movsx | M::Movsxd => self.movx(true),
            M::Lea => self.lea(),
            M::Xchg => self.xchg(),
            M::Bswap => self.bswap(),
            M::Cbw | M::Cwde | M::Cdqe => self.widen_acc(m),
            M::Cwd | M::Cdq | M::Cqo => self.sign_into_rdx(m),
            M::Add | M::Adc | M::Sub | M::Sbb | M::And | M::Or | M::Xor | M::Cmp | M::Test => {
                self.alu(m)
            }
            M::Inc | M::Dec | M::Neg | M::Not => self.unary(m),
            M::Shl | M::Sal => self.shift(Shift::Shl),
            M::Shr => self.shift(Shift::Shr),
            M::Sar => self.shift(Shift::Sar),
            M::Rol => self.shift(Shift::Rol),
            M::Ror => self.shift(Shift::Ror),
            M::Shld | M::Shrd => self.double_shift(m == M::Shld),
            M::Imul => self.imul(),
            M::Mul => self.mul(),
            M::Div | M::Idiv => self.div(m == M::Idiv),
            M::Bt | M::Bts | M::Btr | M::Btc => self.bit_test(m),
            M::Popcnt | M::Tzcnt | M::Lzcnt | M::Bsf | M::Bsr => self.bit_scan(m),
            M::Xadd => self.xadd(),
            M::Cmpxchg => self.cmpxchg(),
            M::Jmp => self.jmp(),
            M::Call => self.call(),
            M::Ret => self.ret(),
            M::Push => self.push_op(),
            M::Pop => self.pop_op(),
            M::Leave => self.leave(),
            M::Pushfq => self.push_val(8, self.cpu.rflags),
            M::Popfq => {
                self.cpu.rflags = self.pop_val(8)? | 2;
                Ok(())
            }
            M::Cld | M::Std | M::Clc | M::Stc | M::Cmc => {
                self.flag_op(m);
                Ok(())
            }
            M::Nop
            | M::Endbr64
            | M::Endbr32
            | M::Pause
            | M::Lfence
            | M::Mfence
            | M::Sfence
            | M::Prefetch
            | M::Prefetchw
            | M::Prefetcht0
            | M::Prefetcht1
            | M::Prefetcht2
            | M::Prefetchnta => Ok(()),
            M::Movsb | M::Movsw | M::Movsd | M::Movsq => self.string(Str::Movs, m),
            M::Stosb | M::Stosw | M::Stosd | M::Stosq => self.string(Str::Stos, m),
            M::Lodsb | M::Lodsw | M::Lodsd | M::Lodsq => self.string(Str::Lods, m),
            M::Cmpsb | M::Cmpsw | M::Cmpsd | M::Cmpsq => self.string(Str::Cmps, m),
            M::Scasb | M::Scasw | M::Scasd | M::Scasq => self.string(Str::Scas, m),
            _ => match condition(m) {
                Some((CondUse::Jump, cc)) => self.jcc(cc),
                Some((CondUse::Move, cc)) => self.cmov(cc),
                Some((CondUse::Set, cc)) => self.setcc(cc),
                None => Err(self.unsupported()),
            },
        }
    }

    // --- data movement ---------------------------------------------------------------

    fn mov(&mut self) -> Res {
        let (d, s) = (self.opnd(0)?, self.opnd(1)?);
        let v = self.read(s)?;
        self.write(d, v)
    }

    fn movx(&mut self, signed: bool) -> Res {
        let (d, s) = (self.opnd(0)?, self.opnd(1)?);
        let v = self.read(s)?;
        self.write(d, if signed { sx(v, s.size) as u64 } else { v })
    }

    fn lea(&mut self) -> Res {
        let d = self.opnd(0)?;
        if self.ins.try_op_kind(1).ok() != Some(OpKind::Memory) {
            return Err(self.unsupported());
        }
        let ea = self.ea()?;
        self.write(d, ea)
    }

    fn xchg(&mut self) -> Res {
        let (a, b) = (self.opnd(0)?, self.opnd(1)?);
        let (va, vb) = (self.read(a)?, self.read(b)?);
        self.write(a, vb)?;
        self.write(b, va)
    }

    fn cmov(&mut self, cc: u8) -> Res {
        let (d, s) = (self.opnd(0)?, self.opnd(1)?);
        // The source is read (and may fault) even when the condition is false, and a
        // 32-bit destination is zero-extended either way.
        let v = if cond_true(cc, self.cpu.rflags) {
            self.read(s)?
        } else {
            self.read(s).and(self.read(d))?
        };
        self.write(d, v)
    }

    fn setcc(&mut self, cc: u8) -> Res {
        let d = self.opnd(0)?;
        self.write(d, u64::from(cond_true(cc, self.cpu.rflags)))
    }

    fn bswap(&mut self) -> Res {
        let d = self.opnd(0)?;
        let v = self.read(d)?;
        let r = match d.size {
            8 => v.swap_bytes(),
            4 => v.swap_bytes() >> 32,
            _ => return Err(self.unsupported()),
        };
        self.write(d, r)
    }

    /// cbw / cwde / cdqe: sign-extend the lower half of the accumulator into all of it.
    fn widen_acc(&mut self, m: Mnemonic) -> Res {
        let to = match m {
            Mnemonic::Cbw => 2,
            Mnemonic::Cwde => 4,
            _ => 8,
        };
        let v = sx(self.reg(RAX, to / 2), to / 2) as u64;
        self.set_reg(RAX, to, v);
        Ok(())
    }

    /// cwd / cdq / cqo: fill the rdx part with the accumulator's sign.
    fn sign_into_rdx(&mut self, m: Mnemonic) -> Res {
        let size = match m {
            Mnemonic::Cwd => 2,
            Mnemonic::Cdq => 4,
            _ => 8,
        };
        let neg = self.reg(RAX, size) & sign_bit(size) != 0;
        self.set_reg(RDX, size, if neg { u64::MAX } else { 0 });
        Ok(())
    }

    // --- arithmetic and logic --------------------------------------------------------

    fn alu(&mut self, m: Mnemonic) -> Res {
        use Mnemonic as M;
        let (d, s) = (self.opnd(0)?, self.opnd(1)?);
        let size = d.size;
        let (a, b) = (self.read(d)?, self.read(s)? & mask(size));
        let carry = self.cpu.rflags & CF;
        let (r, f) = match m {
            M::Add => add_flags(a, b, 0, size),
            M::Adc => add_flags(a, b, carry, size),
            M::Sub | M::Cmp => sub_flags(a, b, 0, size),
            M::Sbb => sub_flags(a, b, carry, size),
            M::And | M::Test => (a & b, logic_flags(a & b, size)),
            M::Or => (a | b, logic_flags(a | b, size)),
            _ => (a ^ b, logic_flags(a ^ b, size)),
        };
        self.set_flags(STATUS_FLAGS, f);
        if matches!(m, M::Cmp | M::Test) {
            Ok(())
        } else {
            self.write(d, r)
        }
    }

    fn unary(&mut self, m: Mnemonic) -> Res {
        use Mnemonic as M;
        let d = self.opnd(0)?;
        let a = self.read(d)?;
        let (r, affected, f) = match m {
            M::Inc => {
                let (r, f) = add_flags(a, 1, 0, d.size);
                (r, STATUS_FLAGS & !CF, f)
            }
            M::Dec => {
                let (r, f) = sub_flags(a, 1, 0, d.size);
                (r, STATUS_FLAGS & !CF, f)
            }
            M::Neg => {
                let (r, f) = sub_flags(0, a, 0, d.size);
                (r, STATUS_FLAGS, f)
            }
            _ => (!a, 0, 0),
        };
        self.set_flags(affected, f);
        self.write(d, r)
    }

    fn shift_count(&self, i: u32, size: usize) -> Res<u32> {
        let c = self.read(self.opnd(i)?)?;
        let c = c & if size == 8 { 63 } else { 31 };
        Ok(u32::try_from(c).unwrap_or(0))
    }

    fn shift(&mut self, kind: Shift) -> Res {
        let d = self.opnd(0)?;
        let count = self.shift_count(1, d.size)?;
        let a = self.read(d)?;
        let (r, flags) = shift_op(kind, a, count, d.size, self.cpu.rflags);
        self.cpu.rflags = flags;
        self.write(d, r)
    }

    fn double_shift(&mut self, left: bool) -> Res {
        let (d, s) = (self.opnd(0)?, self.opnd(1)?);
        let size = d.size;
        let count = self.shift_count(2, size)?;
        let (a, b) = (self.read(d)?, self.read(s)?);
        if count == 0 {
            return self.write(d, a);
        }
        let bits = u32::try_from(size * 8).unwrap_or(64);
        let m = mask(size);
        let (r, cf) = if left {
            let cat = (u128::from(a) << bits) | u128::from(b);
            (
                lo64((cat << count) >> bits) & m,
                (cat >> (2 * bits - count)) & 1 != 0,
            )
        } else {
            let cat = (u128::from(b) << bits) | u128::from(a);
            (lo64(cat >> count) & m, (cat >> (count - 1)) & 1 != 0)
        };
        let mut f = szp(r, size);
        if cf {
            f |= CF;
        }
        if (r ^ a) & sign_bit(size) != 0 {
            f |= OF;
        }
        self.set_flags(STATUS_FLAGS, f);
        self.write(d, r)
    }

    /// Store a double-width product: al/ax for 8-bit, else the rdx:rax parts.
    fn store_wide(&mut self, size: usize, lo: u64, hi: u64) {
        if size == 1 {
            self.set_reg(RAX, 2, (hi << 8) | (lo & 0xff));
        } else {
            self.set_reg(RAX, size, lo);
            self.set_reg(RDX, size, hi);
        }
    }

    fn imul(&mut self) -> Res {
        let (d, a, b) = match self.ins.op_count() {
            1 => {
                let s = self.opnd(0)?;
                (None, self.reg(RAX, s.size), self.read(s)?)
            }
            2 => {
                let d = self.opnd(0)?;
                (Some(d), self.read(d)?, self.read(self.opnd(1)?)?)
            }
            _ => (
                Some(self.opnd(0)?),
                self.read(self.opnd(1)?)?,
                self.read(self.opnd(2)?)?,
            ),
        };
        let size = self.opnd(0)?.size;
        let p = i128::from(sx(a, size)) * i128::from(sx(b, size));
        let lo = lo64(p as u128) & mask(size);
        let overflow = i128::from(sx(lo, size)) != p;
        let mut f = szp(lo, size);
        if overflow {
            f |= CF | OF;
        }
        self.set_flags(STATUS_FLAGS, f);
        match d {
            Some(d) => self.write(d, lo),
            None => {
                let hi = lo64((p >> (size * 8)) as u128) & mask(size);
                self.store_wide(size, lo, hi);
                Ok(())
            }
        }
    }

    fn mul(&mut self) -> Res {
        let s = self.opnd(0)?;
        let size = s.size;
        let p = u128::from(self.reg(RAX, size)) * u128::from(self.read(s)?);
        let lo = lo64(p) & mask(size);
        let hi = lo64(p >> (size * 8)) & mask(size);
        let mut f = szp(lo, size);
        if hi != 0 {
            f |= CF | OF;
        }
        self.set_flags(STATUS_FLAGS, f);
        self.store_wide(size, lo, hi);
        Ok(())
    }

    fn div(&mut self, signed: bool) -> Res {
        let s = self.opnd(0)?;
        let size = s.size;
        let bits = size * 8;
        let divisor = self.read(s)?;
        let de = SideError::DivideError(self.rip());
        if divisor == 0 {
            return Err(de);
        }
        let dividend = if size == 1 {
            u128::from(self.reg(RAX, 2))
        } else {
            (u128::from(self.reg(RDX, size)) << bits) | u128::from(self.reg(RAX, size))
        };
        let (q, r) = if signed {
            let sh = 128 - 2 * bits;
            let n = ((dividend << sh) as i128) >> sh;
            let dv = i128::from(sx(divisor, size));
            let (q, r) = n.checked_div(dv).zip(n.checked_rem(dv)).ok_or(de.clone())?;
            let limit = 1i128 << (bits - 1);
            if q < -limit || q >= limit {
                return Err(de);
            }
            (lo64(q as u128) & mask(size), lo64(r as u128) & mask(size))
        } else {
            let dv = u128::from(divisor);
            let q = dividend / dv;
            if q > u128::from(mask(size)) {
                return Err(de);
            }
            (lo64(q), lo64(dividend % dv))
        };
        self.store_wide(size, q, r);
        Ok(())
    }

    // --- bits ------------------------------------------------------------------------

    fn bit_test(&mut self, m: Mnemonic) -> Res {
        let (d, s) = (self.opnd(0)?, self.opnd(1)?);
        let bits = d.size * 8;
        let off = self.read(s)?;
        let (target, bit) = match (d.loc, s.loc) {
            (Loc::Mem(va), Loc::Reg(..)) => {
                // Register offset into a memory bit string: signed, may leave the operand.
                let off = sx(off, s.size);
                let words = off >> bits.trailing_zeros();
                let size = i64::try_from(d.size).unwrap_or(8);
                let va = va.wrapping_add_signed(words.wrapping_mul(size));
                (
                    Opnd {
                        loc: Loc::Mem(va),
                        size: d.size,
                    },
                    (off as u64) & (bits as u64 - 1),
                )
            }
            _ => (d, off & (bits as u64 - 1)),
        };
        let v = self.read(target)?;
        let cf = (v >> bit) & 1;
        self.set_flags(CF, if cf != 0 { CF } else { 0 });
        let r = match m {
            Mnemonic::Bts => v | (1 << bit),
            Mnemonic::Btr => v & !(1 << bit),
            Mnemonic::Btc => v ^ (1 << bit),
            _ => return Ok(()),
        };
        self.write(target, r)
    }

    fn bit_scan(&mut self, m: Mnemonic) -> Res {
        use Mnemonic as M;
        let (d, s) = (self.opnd(0)?, self.opnd(1)?);
        let v = self.read(s)?;
        let bits = d.size as u32 * 8;
        let zero = if v == 0 { ZF } else { 0 };
        match m {
            M::Popcnt => {
                self.set_flags(STATUS_FLAGS, zero);
                self.write(d, u64::from(v.count_ones()))
            }
            M::Tzcnt | M::Lzcnt => {
                let r = match (v, m) {
                    (0, _) => bits,
                    (_, M::Tzcnt) => v.trailing_zeros(),
                    _ => v.leading_zeros().saturating_sub(64 - bits),
                };
                let cf = if v == 0 { CF } else { 0 };
                self.set_flags(CF | ZF, cf | if r == 0 { ZF } else { 0 });
                self.write(d, u64::from(r))
            }
            _ => {
                self.set_flags(ZF, zero);
                if v == 0 {
                    return Ok(()); // destination left unchanged, as AMD documents
                }
                let r = if m == M::Bsf {
                    v.trailing_zeros()
                } else {
                    63 - v.leading_zeros()
                };
                self.write(d, u64::from(r))
            }
        }
    }

    fn xadd(&mut self) -> Res {
        let (d, s) = (self.opnd(0)?, self.opnd(1)?);
        let (a, b) = (self.read(d)?, self.read(s)?);
        let (r, f) = add_flags(a, b, 0, d.size);
        self.set_flags(STATUS_FLAGS, f);
        self.write(s, a)?;
        self.write(d, r)
    }

    fn cmpxchg(&mut self) -> Res {
        let (d, s) = (self.opnd(0)?, self.opnd(1)?);
        let acc = self.reg(RAX, d.size);
        let v = self.read(d)?;
        let (_, f) = sub_flags(acc, v, 0, d.size);
        self.set_flags(STATUS_FLAGS, f);
        if acc == v {
            let n = self.read(s)?;
            self.write(d, n)
        } else {
            self.set_reg(RAX, d.size, v);
            Ok(())
        }
    }

    // --- control flow ----------------------------------------------------------------

    /// Target of a near jmp/call: relative, register or memory.
    fn branch_target(&self) -> Res<u64> {
        match self.ins.try_op_kind(0).map_err(|_| self.unsupported())? {
            OpKind::NearBranch64 => Ok(self.ins.near_branch_target()),
            OpKind::Register | OpKind::Memory => {
                let o = self.opnd(0)?;
                if o.size != 8 {
                    return Err(self.unsupported());
                }
                self.read(o)
            }
            _ => Err(self.unsupported()),
        }
    }

    fn jmp(&mut self) -> Res {
        self.cpu.rip = self.branch_target()?;
        Ok(())
    }

    fn jcc(&mut self, cc: u8) -> Res {
        let target = self.branch_target()?;
        if cond_true(cc, self.cpu.rflags) {
            self.cpu.rip = target;
        }
        Ok(())
    }

    fn call(&mut self) -> Res {
        let target = self.branch_target()?;
        self.push_val(8, self.ins.next_ip())?;
        self.cpu.rip = target;
        Ok(())
    }

    fn ret(&mut self) -> Res {
        let target = self.pop_val(8)?;
        if self.ins.op_count() == 1 {
            let extra = self.read(self.opnd(0)?)?;
            self.cpu.gpr[RSP] = self.cpu.gpr[RSP].wrapping_add(extra);
        }
        self.cpu.rip = target;
        Ok(())
    }

    fn push_op(&mut self) -> Res {
        let o = self.opnd(0)?;
        let v = self.read(o)?;
        self.push_val(o.size, v)
    }

    fn pop_op(&mut self) -> Res {
        let size = self.opnd(0)?.size;
        let v = self.pop_val(size)?;
        // A memory destination's address is computed after rsp was incremented.
        let d = self.opnd(0)?;
        self.write(d, v)
    }

    fn leave(&mut self) -> Res {
        self.cpu.gpr[RSP] = self.cpu.gpr[RBP];
        let v = self.pop_val(8)?;
        self.cpu.gpr[RBP] = v;
        Ok(())
    }

    fn flag_op(&mut self, m: Mnemonic) {
        let f = &mut self.cpu.rflags;
        match m {
            Mnemonic::Cld => *f &= !DF,
            Mnemonic::Std => *f |= DF,
            Mnemonic::Clc => *f &= !CF,
            Mnemonic::Stc => *f |= CF,
            _ => *f ^= CF,
        }
    }

    // --- strings ---------------------------------------------------------------------

    fn string(&mut self, op: Str, m: Mnemonic) -> Res {
        use Mnemonic as M;
        let size = match m {
            M::Movsb | M::Stosb | M::Lodsb | M::Cmpsb | M::Scasb => 1,
            M::Movsw | M::Stosw | M::Lodsw | M::Cmpsw | M::Scasw => 2,
            M::Movsd | M::Stosd | M::Lodsd | M::Cmpsd | M::Scasd => 4,
            _ => 8,
        };
        // Only the 64-bit-address string forms (this also rejects SSE movsd/cmpsd).
        let kinds: Vec<OpKind> = (0..self.ins.op_count())
            .filter_map(|i| self.ins.try_op_kind(i).ok())
            .collect();
        let string_form = kinds
            .iter()
            .any(|k| matches!(k, OpKind::MemorySegRSI | OpKind::MemoryESRDI));
        let narrow = kinds.iter().any(|k| {
            matches!(
                k,
                OpKind::MemorySegESI
                    | OpKind::MemorySegSI
                    | OpKind::MemoryESEDI
                    | OpKind::MemoryESDI
            )
        });
        if !string_form || narrow {
            return Err(self.unsupported());
        }
        let rep = self.ins.has_rep_prefix() || self.ins.has_repne_prefix();
        let mut iterations = 0u64;
        loop {
            if rep {
                if self.cpu.gpr[RCX] == 0 {
                    return Ok(());
                }
                iterations += 1;
                if iterations > REP_LIMIT {
                    return Err(SideError::RepLimit(self.rip()));
                }
            }
            self.string_once(op, size)?;
            if !rep {
                return Ok(());
            }
            self.cpu.gpr[RCX] = self.cpu.gpr[RCX].wrapping_sub(1);
            if matches!(op, Str::Cmps | Str::Scas) {
                let zf = self.flag(ZF);
                if (self.ins.has_repe_prefix() && !zf) || (self.ins.has_repne_prefix() && zf) {
                    return Ok(());
                }
            }
        }
    }

    fn string_once(&mut self, op: Str, size: usize) -> Res {
        let step = if self.flag(DF) {
            (size as u64).wrapping_neg()
        } else {
            size as u64
        };
        let (rsi, rdi) = (self.cpu.gpr[RSI], self.cpu.gpr[RDI]);
        let src = rsi.wrapping_add(self.seg_base());
        let (adv_si, adv_di) = match op {
            Str::Movs => {
                let v = self.mem_read(src, size)?;
                self.mem_write(rdi, size, v)?;
                (true, true)
            }
            Str::Stos => {
                self.mem_write(rdi, size, self.reg(RAX, size))?;
                (false, true)
            }
            Str::Lods => {
                let v = self.mem_read(src, size)?;
                self.set_reg(RAX, size, v);
                (true, false)
            }
            Str::Cmps => {
                let (a, b) = (self.mem_read(src, size)?, self.mem_read(rdi, size)?);
                self.set_flags(STATUS_FLAGS, sub_flags(a, b, 0, size).1);
                (true, true)
            }
            Str::Scas => {
                let b = self.mem_read(rdi, size)?;
                self.set_flags(STATUS_FLAGS, sub_flags(self.reg(RAX, size), b, 0, size).1);
                (false, true)
            }
        };
        if adv_si {
            self.cpu.gpr[RSI] = rsi.wrapping_add(step);
        }
        if adv_di {
            self.cpu.gpr[RDI] = rdi.wrapping_add(step);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
