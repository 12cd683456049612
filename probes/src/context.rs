//! Contexts a filter receives, built from the guest's registers at the probe.
//!
//! Two layouts, both read-only for the program:
//! - the seed's `struct bpf_context { long arg1, arg2, arg3, arg4, arg5; struct pt_regs *regs; }`
//!   with arg1..arg5 taken from rdi, rsi, rdx, rcx, r8 (the x86-64 calling convention, as the
//!   RFC's kprobe code does with `regs_get_argument_nth`);
//! - the x86-64 kernel's `struct pt_regs`, for libbpf programs (`SEC("kprobe/...")`,
//!   `PT_REGS_PARM1(ctx)`, `BPF_KPROBE`).
//!
//! In the seed context `regs` is not a pointer the program can follow (the guest has no
//! `pt_regs` for a probe hit); helpers that take the context, such as `bpf_dump_stack`, use the
//! probe's registers directly.

use emu::Regs;

/// Size of the seed's `struct bpf_context`.
pub const SEED_CTX_SIZE: usize = 48;

/// Size of the x86-64 `struct pt_regs` (21 eight-byte fields).
pub const PT_REGS_SIZE: usize = 168;

/// `struct pt_regs` field offsets (arch/x86/include/asm/ptrace.h, 64-bit).
pub mod pt_regs {
    pub const R15: usize = 0;
    pub const R14: usize = 8;
    pub const R13: usize = 16;
    pub const R12: usize = 24;
    pub const RBP: usize = 32;
    pub const RBX: usize = 40;
    pub const R11: usize = 48;
    pub const R10: usize = 56;
    pub const R9: usize = 64;
    pub const R8: usize = 72;
    pub const RAX: usize = 80;
    pub const RCX: usize = 88;
    pub const RDX: usize = 96;
    pub const RSI: usize = 104;
    pub const RDI: usize = 112;
    pub const ORIG_RAX: usize = 120;
    pub const RIP: usize = 128;
    pub const CS: usize = 136;
    pub const EFLAGS: usize = 144;
    pub const RSP: usize = 152;
    pub const SS: usize = 160;
}

/// The program type a filter was written for, which decides its context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContextKind {
    /// The seed's `struct bpf_context`.
    Seed,
    /// `struct pt_regs` (kprobes and kretprobes).
    PtRegs,
}

impl ContextKind {
    /// Bytes of context the program may read.
    pub fn size(self) -> usize {
        match self {
            ContextKind::Seed => SEED_CTX_SIZE,
            ContextKind::PtRegs => PT_REGS_SIZE,
        }
    }

    /// Fills `out` (at least [`ContextKind::size`] bytes) from the registers.
    pub fn build(self, regs: &Regs, out: &mut [u8]) {
        match self {
            ContextKind::Seed => seed_context(regs, out),
            ContextKind::PtRegs => pt_regs_context(regs, out),
        }
    }
}

fn put(out: &mut [u8], off: usize, v: u64) {
    if let Some(d) = out.get_mut(off..off + 8) {
        d.copy_from_slice(&v.to_le_bytes());
    }
}

/// The first five integer arguments of a function at its entry (System V x86-64).
pub fn arguments(regs: &Regs) -> [u64; 5] {
    [regs.rdi, regs.rsi, regs.rdx, regs.rcx, regs.r8]
}

/// Writes the seed's `struct bpf_context`.
pub fn seed_context(regs: &Regs, out: &mut [u8]) {
    for (i, a) in arguments(regs).into_iter().enumerate() {
        put(out, i * 8, a);
    }
    put(out, 40, 0);
}

/// Writes the kernel's `struct pt_regs`. `orig_rax` is -1 (not a system call), as for kprobes.
pub fn pt_regs_context(regs: &Regs, out: &mut [u8]) {
    use pt_regs::*;
    for (off, v) in [
        (R15, regs.r15),
        (R14, regs.r14),
        (R13, regs.r13),
        (R12, regs.r12),
        (RBP, regs.rbp),
        (RBX, regs.rbx),
        (R11, regs.r11),
        (R10, regs.r10),
        (R9, regs.r9),
        (R8, regs.r8),
        (RAX, regs.rax),
        (RCX, regs.rcx),
        (RDX, regs.rdx),
        (RSI, regs.rsi),
        (RDI, regs.rdi),
        (ORIG_RAX, u64::MAX),
        (RIP, regs.rip),
        (CS, u64::from(regs.cs)),
        (EFLAGS, regs.rflags),
        (RSP, regs.rsp),
        (SS, u64::from(regs.ss)),
    ] {
        put(out, off, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regs() -> Regs {
        Regs {
            rdi: 1,
            rsi: 2,
            rdx: 3,
            rcx: 4,
            r8: 5,
            r9: 6,
            rax: 0xaa,
            rsp: 0xffff_8000_0000_1000,
            rip: 0xffff_ffff_8010_0000,
            cs: 0x10,
            ..Regs::default()
        }
    }

    fn word(b: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
    }

    #[test]
    fn seed_context_holds_the_first_five_arguments() {
        let mut b = [0xffu8; SEED_CTX_SIZE];
        ContextKind::Seed.build(&regs(), &mut b);
        let args: Vec<u64> = (0..6).map(|i| word(&b, i * 8)).collect();
        assert_eq!(args, [1, 2, 3, 4, 5, 0]);
    }

    #[test]
    fn pt_regs_matches_the_kernel_layout() {
        let mut b = [0u8; PT_REGS_SIZE];
        ContextKind::PtRegs.build(&regs(), &mut b);
        // PT_REGS_PARM1..5 in libbpf's bpf_tracing.h: di, si, dx, cx, r8.
        assert_eq!(word(&b, pt_regs::RDI), 1);
        assert_eq!(word(&b, pt_regs::RSI), 2);
        assert_eq!(word(&b, pt_regs::RDX), 3);
        assert_eq!(word(&b, pt_regs::RCX), 4);
        assert_eq!(word(&b, pt_regs::R8), 5);
        assert_eq!(word(&b, pt_regs::R9), 6);
        assert_eq!(word(&b, pt_regs::RAX), 0xaa); // PT_REGS_RC
        assert_eq!(word(&b, pt_regs::RSP), 0xffff_8000_0000_1000);
        assert_eq!(word(&b, pt_regs::RIP), 0xffff_ffff_8010_0000);
        assert_eq!(word(&b, pt_regs::CS), 0x10);
        assert_eq!(word(&b, pt_regs::ORIG_RAX), u64::MAX);
        assert_eq!(pt_regs::SS + 8, PT_REGS_SIZE);
    }
}
