//! Contexts a filter receives, built from the guest's registers at the probe.
//!
//! Layouts, all read-only for the program:
//! - the seed's `struct bpf_context { long arg1, arg2, arg3, arg4, arg5; struct pt_regs *regs; }`
//!   with arg1..arg5 taken from rdi, rsi, rdx, rcx, r8 (the x86-64 calling convention, as the
//!   RFC's kprobe code does with `regs_get_argument_nth`);
//! - the x86-64 kernel's `struct pt_regs`, for libbpf programs (`SEC("kprobe/...")`,
//!   `PT_REGS_PARM1(ctx)`, `BPF_KPROBE`);
//! - `struct bpf_perf_event_data { pt_regs regs; u64 sample_period; u64 addr; }` for sampling
//!   (`SEC("perf_event")`, `profile:hz:N`): the interrupted registers, the period in ns;
//! - a tracepoint's record, and the u64 arguments of raw tracepoints and fentry/fexit.
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

/// Size of `struct bpf_perf_event_data` (x86-64): `pt_regs`, `sample_period`, `addr`.
pub const PERF_EVENT_CTX_SIZE: usize = PT_REGS_SIZE + 16;

/// The kernel's `PERF_MAX_TRACE_SIZE`: a tracepoint program may read this much of its record.
pub const MAX_RECORD_SIZE: u32 = 8192;

/// The kernel's `MAX_BPF_FUNC_ARGS`: a raw tracepoint program may read this many arguments.
pub const MAX_RAW_ARGS: u32 = 12;

/// The program type a filter was written for, which decides its context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContextKind {
    /// The seed's `struct bpf_context`.
    Seed,
    /// `struct pt_regs` (kprobes and kretprobes).
    PtRegs,
    /// A tracepoint's record (`struct trace_event_raw_NAME`, or a syscall event's), readable
    /// from byte 8 up to [`MAX_RECORD_SIZE`]: what the kernel's `tp_prog_is_valid_access`
    /// allows. Bytes past the record read as zero.
    Record,
    /// `count` u64 arguments: raw tracepoints (`raw_tp`, `tp_btf`), fentry and fexit (the
    /// return value after the arguments). `kind` names the program type in messages.
    Args { count: u32, kind: ArgsKind },
    /// `struct bpf_perf_event_data`: a sample's registers and period.
    PerfEvent,
}

/// Which program type takes u64 arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgsKind {
    RawTracepoint,
    TpBtf,
    Fentry,
    Fexit,
}

impl ArgsKind {
    /// The kernel's name for the program type.
    pub fn name(self) -> &'static str {
        match self {
            ArgsKind::RawTracepoint => "raw_tracepoint",
            ArgsKind::TpBtf => "tp_btf",
            ArgsKind::Fentry => "fentry",
            ArgsKind::Fexit => "fexit",
        }
    }
}

/// What a probe hit offers to build a context from: the registers, and for tracepoints the
/// arguments and record the enabled path computed.
#[derive(Clone, Copy, Debug)]
pub struct HitValues<'a> {
    pub regs: &'a Regs,
    /// Arguments (a tracepoint's `TP_PROTO`, a function's parameters, then a return value).
    pub args: Option<&'a [u64]>,
    /// A tracepoint's record as the kernel hands it to BPF.
    pub record: &'a [u8],
    /// A sample's period in ns (0 for other hits).
    pub sample_period: u64,
}

impl ContextKind {
    /// Bytes of context the program may read.
    pub fn size(self) -> usize {
        match self {
            ContextKind::Seed => SEED_CTX_SIZE,
            ContextKind::PtRegs => PT_REGS_SIZE,
            ContextKind::Record => MAX_RECORD_SIZE as usize,
            ContextKind::Args { count, .. } => 8 * count as usize,
            ContextKind::PerfEvent => PERF_EVENT_CTX_SIZE,
        }
    }

    /// The verifier's program type for this context.
    pub fn prog_type(self) -> jit::verifier::ProgType {
        use jit::verifier::ProgType;
        match self {
            ContextKind::Seed => ProgType::seed(),
            ContextKind::PtRegs => ProgType::kprobe(),
            ContextKind::Record => ProgType::tracepoint(MAX_RECORD_SIZE),
            ContextKind::Args { count, kind } => ProgType::u64_args(kind.name(), count),
            ContextKind::PerfEvent => ProgType::perf_event(),
        }
    }

    /// Fills `out` (at least [`ContextKind::size`] bytes) from the registers.
    pub fn build(self, regs: &Regs, out: &mut [u8]) {
        self.build_from(
            &HitValues {
                regs,
                args: None,
                record: &[],
                sample_period: 0,
            },
            out,
        );
    }

    /// Fills `out` from what the hit offers. The seed's `arg1..arg5` are the arguments when
    /// there are some (a tracepoint's, as the seed's `ftrace.h` hunk takes them), else the
    /// argument registers. `out` is fully written (a record's tail is zeroed).
    pub fn build_from(self, hit: &HitValues<'_>, out: &mut [u8]) {
        match self {
            ContextKind::Seed => match hit.args {
                Some(args) => {
                    for i in 0..5 {
                        put(out, i * 8, args.get(i).copied().unwrap_or(0));
                    }
                    put(out, 40, 0);
                }
                None => seed_context(hit.regs, out),
            },
            ContextKind::PtRegs => pt_regs_context(hit.regs, out),
            ContextKind::Record => {
                let n = hit.record.len().min(out.len());
                out[..n].copy_from_slice(&hit.record[..n]);
                out[n..].fill(0);
            }
            ContextKind::Args { count, .. } => {
                let args = hit.args.unwrap_or(&[]);
                for i in 0..count as usize {
                    put(out, i * 8, args.get(i).copied().unwrap_or(0));
                }
            }
            ContextKind::PerfEvent => {
                pt_regs_context(hit.regs, out);
                put(out, PT_REGS_SIZE, hit.sample_period);
                // `addr` is the sampled data address of memory events; a timer has none.
                put(out, PT_REGS_SIZE + 8, 0);
            }
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
    fn tracepoint_contexts_hold_the_arguments_and_the_record() {
        let r = regs();
        let args = [7u64, 8, 9];
        let hit = HitValues {
            regs: &r,
            args: Some(&args),
            record: &[1, 2, 3],
            sample_period: 0,
        };
        let mut b = [0xffu8; SEED_CTX_SIZE];
        ContextKind::Seed.build_from(&hit, &mut b);
        let got: Vec<u64> = (0..6).map(|i| word(&b, i * 8)).collect();
        assert_eq!(got, [7, 8, 9, 0, 0, 0]);
        let kind = ContextKind::Args {
            count: 4,
            kind: ArgsKind::RawTracepoint,
        };
        let mut b = vec![0xffu8; kind.size()];
        kind.build_from(&hit, &mut b);
        assert_eq!(
            (0..4).map(|i| word(&b, i * 8)).collect::<Vec<_>>(),
            [7, 8, 9, 0]
        );
        let mut b = vec![0xffu8; ContextKind::Record.size()];
        ContextKind::Record.build_from(&hit, &mut b);
        assert_eq!(&b[..4], &[1, 2, 3, 0]);
        assert!(b.iter().skip(3).all(|&x| x == 0));
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

    #[test]
    fn perf_event_data_is_pt_regs_then_the_period() {
        let r = regs();
        let hit = HitValues {
            regs: &r,
            args: None,
            record: &[],
            sample_period: 10_101_010,
        };
        let mut b = vec![0xffu8; ContextKind::PerfEvent.size()];
        ContextKind::PerfEvent.build_from(&hit, &mut b);
        assert_eq!(word(&b, pt_regs::RIP), 0xffff_ffff_8010_0000);
        assert_eq!(word(&b, pt_regs::RDI), 1);
        assert_eq!(word(&b, PT_REGS_SIZE), 10_101_010, "sample_period");
        assert_eq!(word(&b, PT_REGS_SIZE + 8), 0, "addr");
        assert_eq!(b.len(), ContextKind::PerfEvent.prog_type().ctx_size());
    }
}
