//! The CPU side: registers in one batch, Unicorn's saved-context layout (pinned to
//! unicorn-engine 2.1.5 and verified by a start-up self-test), CPUID, and the delivery of
//! exceptions and interrupts through the guest IDT.

pub mod cpuid;
pub(crate) mod deliver;
pub mod names;
pub(crate) mod unicorn_raw;

use serde::{Deserialize, Serialize};
use unicorn_engine::{uc_engine, uc_error, RegisterX86, Unicorn};
use unicorn_raw::RawContext;

/// RFLAGS.IF.
pub const RFLAGS_IF: u64 = 1 << 9;
/// RFLAGS.TF.
pub const RFLAGS_TF: u64 = 1 << 8;
/// RFLAGS.NT.
pub const RFLAGS_NT: u64 = 1 << 14;
/// RFLAGS.RF.
pub const RFLAGS_RF: u64 = 1 << 16;
/// RFLAGS.VM.
pub const RFLAGS_VM: u64 = 1 << 17;
/// RFLAGS.AC.
pub const RFLAGS_AC: u64 = 1 << 18;

/// MSR numbers.
pub mod msr {
    /// Extended feature enables.
    pub const EFER: u32 = 0xc000_0080;
    /// SYSCALL segment selectors.
    pub const STAR: u32 = 0xc000_0081;
    /// SYSCALL 64-bit entry point.
    pub const LSTAR: u32 = 0xc000_0082;
    /// SYSCALL RFLAGS mask.
    pub const FMASK: u32 = 0xc000_0084;
    /// FS base.
    pub const FS_BASE: u32 = 0xc000_0100;
    /// GS base.
    pub const GS_BASE: u32 = 0xc000_0101;
    /// Swapped by SWAPGS.
    pub const KERNEL_GS_BASE: u32 = 0xc000_0102;
}

/// EFER bits.
pub mod efer {
    /// SYSCALL enable.
    pub const SCE: u64 = 1 << 0;
    /// Long mode enable.
    pub const LME: u64 = 1 << 8;
    /// Long mode active.
    pub const LMA: u64 = 1 << 10;
    /// No-execute enable.
    pub const NXE: u64 = 1 << 11;
}

/// All architectural registers the embedder usually needs, read and written in one batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Regs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub rsp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
    pub cs: u16,
    pub ss: u16,
    pub ds: u16,
    pub es: u16,
    pub fs: u16,
    pub gs: u16,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub kernel_gs_base: u64,
}

const BATCH: [RegisterX86; 30] = [
    RegisterX86::RAX,
    RegisterX86::RBX,
    RegisterX86::RCX,
    RegisterX86::RDX,
    RegisterX86::RSI,
    RegisterX86::RDI,
    RegisterX86::RBP,
    RegisterX86::RSP,
    RegisterX86::R8,
    RegisterX86::R9,
    RegisterX86::R10,
    RegisterX86::R11,
    RegisterX86::R12,
    RegisterX86::R13,
    RegisterX86::R14,
    RegisterX86::R15,
    RegisterX86::RIP,
    RegisterX86::RFLAGS,
    RegisterX86::CS,
    RegisterX86::SS,
    RegisterX86::DS,
    RegisterX86::ES,
    RegisterX86::FS,
    RegisterX86::GS,
    RegisterX86::CR0,
    RegisterX86::CR2,
    RegisterX86::CR3,
    RegisterX86::CR4,
    RegisterX86::FS_BASE,
    RegisterX86::GS_BASE,
];

impl Regs {
    /// The current privilege level (CS.RPL, which equals CPL outside of transitions).
    pub fn cpl(&self) -> u8 {
        (self.cs & 3) as u8
    }

    /// Read all registers in one batch.
    pub(crate) fn read<D>(uc: &Unicorn<'_, D>) -> Result<Regs, uc_error> {
        let mut ids = BATCH;
        let v = uc.reg_read_batch(&mut ids, BATCH.len() as i32)?;
        let h = uc.get_handle();
        Ok(Regs {
            rax: v[0],
            rbx: v[1],
            rcx: v[2],
            rdx: v[3],
            rsi: v[4],
            rdi: v[5],
            rbp: v[6],
            rsp: v[7],
            r8: v[8],
            r9: v[9],
            r10: v[10],
            r11: v[11],
            r12: v[12],
            r13: v[13],
            r14: v[14],
            r15: v[15],
            rip: v[16],
            rflags: v[17],
            cs: v[18] as u16,
            ss: v[19] as u16,
            ds: v[20] as u16,
            es: v[21] as u16,
            fs: v[22] as u16,
            gs: v[23] as u16,
            cr0: v[24],
            cr2: v[25],
            cr3: v[26],
            cr4: v[27],
            fs_base: v[28],
            gs_base: v[29],
            efer: unicorn_raw::read_msr(h, msr::EFER),
            kernel_gs_base: unicorn_raw::read_msr(h, msr::KERNEL_GS_BASE),
        })
    }

    /// Write all registers in one batch. Segment selectors DS/ES/FS/GS are written as
    /// selectors only (Unicorn keeps the hidden parts); CS/SS are loaded with their hidden
    /// descriptor state by the machine (see `Machine::set_regs`).
    pub(crate) fn write_basic<D>(&self, uc: &Unicorn<'_, D>) -> Result<(), uc_error> {
        let ids = [
            RegisterX86::RAX,
            RegisterX86::RBX,
            RegisterX86::RCX,
            RegisterX86::RDX,
            RegisterX86::RSI,
            RegisterX86::RDI,
            RegisterX86::RBP,
            RegisterX86::RSP,
            RegisterX86::R8,
            RegisterX86::R9,
            RegisterX86::R10,
            RegisterX86::R11,
            RegisterX86::R12,
            RegisterX86::R13,
            RegisterX86::R14,
            RegisterX86::R15,
            RegisterX86::RFLAGS,
            RegisterX86::CR0,
            RegisterX86::CR4,
            RegisterX86::CR3,
            RegisterX86::CR2,
            RegisterX86::FS_BASE,
            RegisterX86::GS_BASE,
            RegisterX86::RIP,
        ];
        let vals = [
            self.rax,
            self.rbx,
            self.rcx,
            self.rdx,
            self.rsi,
            self.rdi,
            self.rbp,
            self.rsp,
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
            self.rflags,
            self.cr0,
            self.cr4,
            self.cr3,
            self.cr2,
            self.fs_base,
            self.gs_base,
            self.rip,
        ];
        uc.reg_write_batch(&ids, &vals, ids.len() as i32)?;
        let h = uc.get_handle();
        unicorn_raw::write_msr(h, msr::EFER, self.efer)?;
        unicorn_raw::write_msr(h, msr::KERNEL_GS_BASE, self.kernel_gs_base)?;
        Ok(())
    }
}

/// Segment register indices in `CPUX86State.segs`.
pub(crate) const SEG_CS: usize = 1;
pub(crate) const SEG_SS: usize = 2;

/// Descriptor flag bits as QEMU keeps them (the high dword of a descriptor).
pub(crate) mod desc {
    pub const A: u32 = 1 << 8;
    pub const RW: u32 = 1 << 9;
    pub const CODE: u32 = 1 << 11;
    pub const S: u32 = 1 << 12;
    pub const DPL_SHIFT: u32 = 13;
    pub const P: u32 = 1 << 15;
    pub const L: u32 = 1 << 21;
    pub const B: u32 = 1 << 22;
    pub const G: u32 = 1 << 23;
}

/// `hflags` bits (QEMU target/i386/cpu.h).
mod hf {
    pub const CPL_MASK: u32 = 3;
    pub const CS32: u32 = 1 << 4;
    pub const SS32: u32 = 1 << 5;
    pub const LMA: u32 = 1 << 14;
    pub const CS64: u32 = 1 << 15;
}

/// Byte offsets into Unicorn 2.1.5's saved x86-64 context (`CPUX86State` up to
/// `end_reset_fields`). Derived from QEMU 5.0's `CPUX86State` as vendored by unicorn-engine-sys
/// 2.1.5 and verified by [`ContextLayout::self_test`] each time a machine is created, so a
/// different Unicorn build fails loudly instead of corrupting the CPU state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ContextLayout {
    pub eip: usize,
    pub hflags: usize,
    pub segs: usize,
    pub error_code: usize,
    pub exception_is_int: usize,
    /// `old_exception`: QEMU's "exception in flight", reset to -1 by its own delivery. Since we
    /// deliver instead, we must reset it, or the next #PF would be escalated to #DF.
    pub old_exception: usize,
}

/// Size of a QEMU `SegmentCache` (selector u32, pad, base u64, limit u32, flags u32).
const SEG_SIZE: usize = 24;

pub(crate) const LAYOUT_2_1_5: ContextLayout = ContextLayout {
    eip: 128,
    hflags: 176,
    segs: 184,
    error_code: 5384,
    exception_is_int: 5388,
    old_exception: 5496,
};

fn rd32(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([d[off], d[off + 1], d[off + 2], d[off + 3]])
}

fn wr32(d: &mut [u8], off: usize, v: u32) {
    d[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// A hidden segment state to load.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SegLoad {
    pub selector: u16,
    pub base: u64,
    pub limit: u32,
    pub flags: u32,
}

impl ContextLayout {
    pub(crate) fn error_code(&self, ctx: &RawContext) -> u32 {
        rd32(ctx.data(), self.error_code)
    }

    pub(crate) fn exception_is_int(&self, ctx: &RawContext) -> bool {
        rd32(ctx.data(), self.exception_is_int) != 0
    }

    pub(crate) fn old_exception(&self, ctx: &RawContext) -> i32 {
        rd32(ctx.data(), self.old_exception) as i32
    }

    pub(crate) fn set_rip(&self, ctx: &mut RawContext, rip: u64) {
        ctx.data_mut()[self.eip..self.eip + 8].copy_from_slice(&rip.to_le_bytes());
    }

    pub(crate) fn clear_old_exception(&self, ctx: &mut RawContext) {
        wr32(ctx.data_mut(), self.old_exception, u32::MAX);
    }

    pub(crate) fn cpl(&self, ctx: &RawContext) -> u8 {
        (rd32(ctx.data(), self.hflags) & hf::CPL_MASK) as u8
    }

    fn write_seg(&self, d: &mut [u8], seg: usize, s: SegLoad) {
        let off = self.segs + seg * SEG_SIZE;
        wr32(d, off, u32::from(s.selector));
        d[off + 8..off + 16].copy_from_slice(&s.base.to_le_bytes());
        wr32(d, off + 16, s.limit);
        wr32(d, off + 20, s.flags);
    }

    /// Load CS and SS with hidden state into a saved context and recompute CPL and the
    /// code-size hflags the way QEMU's `cpu_x86_load_seg_cache` does in long mode.
    pub(crate) fn load_cs_ss(&self, ctx: &mut RawContext, cs: SegLoad, ss: SegLoad) {
        let d = ctx.data_mut();
        self.write_seg(d, SEG_CS, cs);
        self.write_seg(d, SEG_SS, ss);
        let mut h = rd32(d, self.hflags);
        if h & hf::LMA != 0 && cs.flags & desc::L != 0 {
            h |= hf::CS32 | hf::CS64;
        } else {
            h &= !(hf::CS32 | hf::CS64);
            if cs.flags & desc::B != 0 {
                h |= hf::CS32;
            }
        }
        h = (h & !hf::SS32) | if ss.flags & desc::B != 0 { hf::SS32 } else { 0 };
        h = (h & !hf::CPL_MASK) | ((ss.flags >> desc::DPL_SHIFT) & 3);
        wr32(d, self.hflags, h);
    }

    /// Verify the layout against a scratch engine: known register values must appear at the
    /// expected offsets, and real page faults must leave the expected error codes.
    pub(crate) fn self_test() -> Result<ContextLayout, String> {
        static RESULT: std::sync::OnceLock<Result<ContextLayout, String>> =
            std::sync::OnceLock::new();
        RESULT.get_or_init(selftest::run).clone()
    }
}

mod selftest {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use unicorn_engine::{Arch, Mode, Prot};

    const PML4: u64 = 0x1000;
    const CODE: u64 = 0x8000;
    const HLT_AT: u64 = 0x9000;
    const MISSING: u64 = 0x10000;
    const READ_ONLY: u64 = 0x11000;
    const NO_EXEC: u64 = 0x12000;

    fn check(what: &str, ok: bool) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!(
                "Unicorn context layout self-test failed: {what} (emu pins unicorn-engine =2.1.5)"
            ))
        }
    }

    pub(super) fn run() -> Result<ContextLayout, String> {
        let l = LAYOUT_2_1_5;
        fn e(what: &'static str) -> impl Fn(uc_error) -> String {
            move |err| format!("Unicorn context self-test: {what}: {err:?}")
        }
        let mut uc = Unicorn::new(Arch::X86, Mode::MODE_64).map_err(e("open"))?;
        uc.mem_map(0, 0x20_0000, Prot::ALL).map_err(e("map"))?;
        // Without this, every emu_start ends by translating its `until` address, which raises
        // a silent #PF (setting CR2 and old_exception) when that address is unmapped.
        uc.ctl_exits_enable().map_err(e("exits"))?;
        // Identity map the first 2 MiB with 4 KiB pages.
        let w64 = |uc: &mut Unicorn<'_, ()>, pa: u64, v: u64| uc.mem_write(pa, &v.to_le_bytes());
        w64(&mut uc, PML4, 0x2000 | 3).map_err(e("pt"))?;
        w64(&mut uc, 0x2000, 0x3000 | 3).map_err(e("pt"))?;
        w64(&mut uc, 0x3000, 0x4000 | 3).map_err(e("pt"))?;
        for i in 0..512u64 {
            let pa = i * 0x1000;
            let flags = match pa {
                MISSING => 0,
                READ_ONLY => 1,
                NO_EXEC => 3 | (1 << 63),
                _ => 3,
            };
            w64(&mut uc, 0x4000 + i * 8, pa | flags).map_err(e("pt"))?;
        }
        uc.mem_write(HLT_AT, &[0xf4]).map_err(e("code"))?;
        uc.mem_write(NO_EXEC, &[0x90]).map_err(e("code"))?;
        let h = uc.get_handle();
        unicorn_raw::write_msr(h, msr::EFER, efer::LME | efer::LMA | efer::NXE)
            .map_err(e("efer"))?;
        uc.reg_write(RegisterX86::CR3, PML4).map_err(e("cr3"))?;
        uc.reg_write(RegisterX86::CR4, 1 << 5).map_err(e("cr4"))?;
        uc.reg_write(RegisterX86::CR0, 0x8001_0011)
            .map_err(e("cr0"))?; // PG WP ET PE
        uc.reg_write(RegisterX86::RSP, 0x7000).map_err(e("rsp"))?;

        // 1. Plain register offsets.
        uc.reg_write(RegisterX86::FS_BASE, 0x1234_5678_9abc)
            .map_err(e("fs"))?;
        uc.reg_write(RegisterX86::RIP, 0x4242_4242)
            .map_err(e("rip"))?;
        let mut ctx = RawContext::new(h).map_err(e("ctx"))?;
        ctx.save(h).map_err(e("save"))?;
        let d = ctx.data();
        check("data too short", d.len() > l.exception_is_int + 4)?;
        let fs_base = l.segs + 4 * SEG_SIZE + 8;
        check(
            "FS base offset",
            d[fs_base..fs_base + 8] == 0x1234_5678_9abc_u64.to_le_bytes(),
        )?;
        check(
            "EIP offset",
            d[l.eip..l.eip + 8] == 0x4242_4242_u64.to_le_bytes(),
        )?;
        check("hflags LMA bit", rd32(d, l.hflags) & hf::LMA != 0)?;

        // 2. Error codes of real faults: (code, expected #PF error code).
        let cases: [(&[u8], u32); 4] = [
            (&[0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x01, 0x00], 0x00), // mov rax, [0x10000]
            (&[0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x01, 0x00], 0x02), // mov [0x10000], rax
            (&[0x48, 0x89, 0x04, 0x25, 0x00, 0x10, 0x01, 0x00], 0x03), // mov [0x11000], rax
            (&[0xe9, 0xfb, 0x9f, 0x00, 0x00], 0x11),                   // jmp 0x12000 (NX page)
        ];
        // (vector, error code, exception_is_int, old_exception) per interrupt-hook call.
        type Seen = Rc<RefCell<Vec<(u32, u32, bool, i32)>>>;
        let seen: Seen = Rc::default();
        let seen2 = seen.clone();
        let mut hctx = RawContext::new(h).map_err(e("ctx"))?;
        uc.add_intr_hook(move |uc, intno| {
            let h = uc.get_handle();
            let ok = hctx.save(h).is_ok();
            let code = if ok { l.error_code(&hctx) } else { u32::MAX };
            seen2.borrow_mut().push((
                intno,
                code,
                l.exception_is_int(&hctx),
                l.old_exception(&hctx),
            ));
            // Resume at the `hlt` the way our delivery does: RIP and old_exception are written
            // in the saved context (a `reg_write` of RIP inside the hook makes Unicorn re-raise
            // the fault without calling the hook, leaving old_exception set).
            if ok {
                l.set_rip(&mut hctx, HLT_AT);
                l.clear_old_exception(&mut hctx);
                let _ = hctx.restore(h);
            }
        })
        .map_err(e("hook"))?;
        for (code, expected) in cases {
            uc.mem_write(CODE, code).map_err(e("code"))?;
            uc.ctl_flush_tb().map_err(e("flush"))?;
            seen.borrow_mut().clear();
            uc.emu_start(CODE, 0, 0, 0).map_err(e("run"))?;
            let s = seen.borrow();
            check(
                &format!("expected one #PF, saw {:?}", *s),
                s.len() == 1 && s[0].0 == 14,
            )?;
            check(
                &format!(
                    "#PF error code at offset {} is {:#x}, expected {expected:#x}",
                    l.error_code, s[0].1
                ),
                s[0].1 == expected,
            )?;
            check("exception_is_int for a fault", !s[0].2)?;
            check(
                &format!("old_exception is {} after a #PF", s[0].3),
                s[0].3 == 14,
            )?;
        }
        // 3. `int3` is a software interrupt.
        uc.mem_write(CODE, &[0xcc]).map_err(e("code"))?;
        uc.ctl_flush_tb().map_err(e("flush"))?;
        seen.borrow_mut().clear();
        uc.emu_start(CODE, 0, 0, 0).map_err(e("run"))?;
        let s = seen.borrow();
        check(
            "int3 seen as software interrupt",
            s.len() == 1 && s[0].0 == 3 && s[0].2,
        )?;
        Ok(l)
    }
}

/// Current privilege level as Unicorn holds it (from hflags in a fresh context save).
pub(crate) fn current_cpl(uc: *mut uc_engine, layout: &ContextLayout, ctx: &mut RawContext) -> u8 {
    if ctx.save(uc).is_ok() {
        layout.cpl(ctx)
    } else {
        0
    }
}
