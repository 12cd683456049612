//! Exception and interrupt delivery through the guest's IDT, in host code, as the hardware
//! does it in 64-bit mode (Intel SDM Vol. 3, 6.14): read the gate, pick the stack (IST entry,
//! or the TSS's RSPn on a privilege change), align it to 16 bytes, push SS, RSP, RFLAGS, CS,
//! RIP and the error code, clear TF/NT/RF (and IF for an interrupt gate), load CS from the
//! gate (with its hidden descriptor state and the new CPL) and jump.
//!
//! Unicorn reports faults at the faulting instruction (CR2 already set for #PF) and `int n` /
//! `int3` at the next instruction; external interrupts are delivered by the machine's run
//! loop between translated blocks.

use super::unicorn_raw::{self, RawContext};
use super::{
    desc, ContextLayout, Regs, SegLoad, RFLAGS_IF, RFLAGS_NT, RFLAGS_RF, RFLAGS_TF, RFLAGS_VM,
    SEG_SS,
};
use crate::memory::{Access, GuestMemory, Ram};
use unicorn_engine::{uc_engine, RegisterX86, Unicorn};

/// Vector numbers.
#[allow(dead_code)]
pub mod vector {
    /// Divide error.
    pub const DE: u8 = 0;
    /// Breakpoint.
    pub const BP: u8 = 3;
    /// Invalid opcode.
    pub const UD: u8 = 6;
    /// Double fault.
    pub const DF: u8 = 8;
    /// Invalid TSS.
    pub const TS: u8 = 10;
    /// Segment not present.
    pub const NP: u8 = 11;
    /// Stack fault.
    pub const SS: u8 = 12;
    /// General protection.
    pub const GP: u8 = 13;
    /// Page fault.
    pub const PF: u8 = 14;
    /// Alignment check.
    pub const AC: u8 = 17;
    /// Control protection.
    pub const CP: u8 = 21;
}

/// Vectors for which the CPU pushes an error code.
pub fn has_error_code(v: u8) -> bool {
    matches!(
        v,
        vector::DF
            | vector::TS
            | vector::NP
            | vector::SS
            | vector::GP
            | vector::PF
            | vector::AC
            | vector::CP
    )
}

/// What is being delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// A CPU exception (fault or trap), with its error code if the vector has one.
    Exception { vector: u8, error_code: Option<u32> },
    /// `int n` / `int3` / `into` (gate DPL is checked against CPL).
    Software { vector: u8 },
    /// An external interrupt from the PIC.
    External { vector: u8 },
}

impl Event {
    fn vector(&self) -> u8 {
        match *self {
            Event::Exception { vector, .. }
            | Event::Software { vector }
            | Event::External { vector } => vector,
        }
    }
}

/// Delivery could not complete even through the double-fault handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TripleFault {
    pub first: Event,
    pub why: String,
}

/// What the delivery needs from the machine.
pub(crate) struct Env<'a> {
    pub ram: &'a Ram,
    pub layout: ContextLayout,
    pub ctx: &'a mut RawContext,
}

struct Gate {
    offset: u64,
    selector: u16,
    ist: u8,
    interrupt_gate: bool,
    dpl: u8,
}

/// Deliver `ev`; a failure while delivering becomes #DF, and a failure delivering #DF is a
/// triple fault (returned as an error: the machine stops).
pub(crate) fn deliver<D>(
    uc: &mut Unicorn<'_, D>,
    env: &mut Env<'_>,
    ev: Event,
) -> Result<(), TripleFault> {
    match try_deliver(uc, env, ev) {
        Ok(()) => Ok(()),
        Err(Redirect::Exception(v, code)) if ev.vector() != vector::DF => {
            // A fault while delivering (bad gate, unusable stack) is architecturally a new
            // exception; for a fault during a fault that is #DF. We deliver #DF directly.
            let _ = (v, code);
            let df = Event::Exception {
                vector: vector::DF,
                error_code: Some(0),
            };
            try_deliver(uc, env, df).map_err(|e| TripleFault {
                first: ev,
                why: format!("double fault delivery failed: {e:?}"),
            })
        }
        Err(e) => Err(TripleFault {
            first: ev,
            why: format!("{e:?}"),
        }),
    }
}

#[derive(Debug)]
enum Redirect {
    /// Delivery itself raised this exception (vector, error code).
    Exception(u8, u32),
}

fn gp(code: u32) -> Redirect {
    Redirect::Exception(vector::GP, code)
}

fn read_u64(ram: &Ram, cr3: u64, va: u64) -> Result<u64, Redirect> {
    ram.read_virt_u64(cr3, va)
        .map_err(|_| Redirect::Exception(vector::PF, 0))
}

fn try_deliver<D>(uc: &mut Unicorn<'_, D>, env: &mut Env<'_>, ev: Event) -> Result<(), Redirect> {
    let h: *mut uc_engine = uc.get_handle();
    let regs = Regs::read(uc).map_err(|_| gp(0))?;
    let v = ev.vector();
    let idt_err = u32::from(v) * 8 + 2;
    let idtr = unicorn_raw::read_mmr(h, RegisterX86::IDTR);
    if u64::from(v) * 16 + 15 > u64::from(idtr.limit) {
        return Err(gp(idt_err));
    }
    let lo = read_u64(env.ram, regs.cr3, idtr.base + u64::from(v) * 16)?;
    let hi = read_u64(env.ram, regs.cr3, idtr.base + u64::from(v) * 16 + 8)?;
    let kind = ((lo >> 40) & 0xf) as u8;
    let gate = Gate {
        offset: (lo & 0xffff) | ((lo >> 32) & 0xffff_0000) | (hi << 32),
        selector: (lo >> 16) as u16,
        ist: ((lo >> 32) & 7) as u8,
        interrupt_gate: kind == 0xe,
        dpl: ((lo >> 45) & 3) as u8,
    };
    if kind != 0xe && kind != 0xf {
        return Err(gp(idt_err));
    }
    if lo & (1 << 47) == 0 {
        return Err(Redirect::Exception(vector::NP, idt_err));
    }
    let cpl = super::current_cpl(h, &env.layout, env.ctx);
    if let Event::Software { .. } = ev {
        if gate.dpl < cpl {
            // `int n` to a gate the caller may not use: #GP(vector*8+2) instead.
            return try_deliver(
                uc,
                env,
                Event::Exception {
                    vector: vector::GP,
                    error_code: Some(idt_err),
                },
            );
        }
    }
    // Target code segment from the GDT.
    let gdtr = unicorn_raw::read_mmr(h, RegisterX86::GDTR);
    let sel_index = u64::from(gate.selector & !7);
    if gate.selector & !3 == 0 || sel_index + 7 > u64::from(gdtr.limit) {
        return Err(gp(u32::from(gate.selector & !3)));
    }
    let cs_desc = read_u64(env.ram, regs.cr3, gdtr.base + sel_index)?;
    let cs_flags = (cs_desc >> 32) as u32;
    if cs_flags & desc::P == 0 {
        return Err(Redirect::Exception(
            vector::NP,
            u32::from(gate.selector & !3),
        ));
    }
    let new_cpl = ((cs_flags >> desc::DPL_SHIFT) & 3) as u8;
    if new_cpl > cpl {
        return Err(gp(u32::from(gate.selector & !3)));
    }
    // Stack: IST always; otherwise RSPn from the TSS on a privilege change.
    let tr = unicorn_raw::read_mmr(h, RegisterX86::TR);
    let stack_switch = new_cpl < cpl;
    let mut rsp = if gate.ist != 0 {
        read_u64(
            env.ram,
            regs.cr3,
            tr.base + 36 + (u64::from(gate.ist) - 1) * 8,
        )?
    } else if stack_switch {
        read_u64(env.ram, regs.cr3, tr.base + 4 + u64::from(new_cpl) * 8)?
    } else {
        regs.rsp
    };
    rsp &= !0xf;
    let error_code = match ev {
        Event::Exception { vector, error_code } if has_error_code(vector) => {
            Some(error_code.unwrap_or(0))
        }
        _ => None,
    };
    let mut frame: Vec<u64> = Vec::with_capacity(6);
    if let Some(code) = error_code {
        frame.push(u64::from(code));
    }
    frame.extend([
        regs.rip,
        u64::from(regs.cs),
        regs.rflags,
        regs.rsp,
        u64::from(regs.ss),
    ]);
    let bytes: Vec<u8> = frame.iter().flat_map(|w| w.to_le_bytes()).collect();
    let new_rsp = rsp - bytes.len() as u64;
    env.ram
        .write_virt(
            regs.cr3,
            new_rsp,
            &bytes,
            Access {
                user: false,
                ..Access::WRITE
            },
        )
        .map_err(|f| Redirect::Exception(vector::PF, f.error_code() as u32))?;

    let mut rflags = regs.rflags & !(RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM);
    if gate.interrupt_gate {
        rflags &= !RFLAGS_IF;
    }
    // RIP is written in the saved context below, not with reg_write: a PC write from inside a
    // hook makes Unicorn abandon the current execution loop, which re-raises the fault.
    let ids = [RegisterX86::RSP, RegisterX86::RFLAGS];
    uc.reg_write_batch(&ids, &[new_rsp, rflags], 2)
        .map_err(|_| gp(0))?;
    // Load CS (and SS on a privilege change) with hidden state through a saved context.
    env.ctx.save(h).map_err(|_| gp(0))?;
    let cs = SegLoad {
        selector: gate.selector & !3 | u16::from(new_cpl),
        base: 0,
        limit: 0xffff_ffff,
        flags: cs_flags & 0x00ff_ff00,
    };
    let ss = if stack_switch {
        SegLoad {
            selector: u16::from(new_cpl),
            base: 0,
            limit: 0,
            flags: u32::from(new_cpl) << desc::DPL_SHIFT,
        }
    } else {
        current_seg(env, SEG_SS)
    };
    env.layout.load_cs_ss(env.ctx, cs, ss);
    env.layout.set_rip(env.ctx, gate.offset);
    env.layout.clear_old_exception(env.ctx);
    env.ctx.restore(h).map_err(|_| gp(0))?;
    Ok(())
}

fn current_seg(env: &Env<'_>, seg: usize) -> SegLoad {
    let d = env.ctx.data();
    let off = env.layout.segs + seg * 24;
    let r32 = |o: usize| u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
    let mut base = [0u8; 8];
    base.copy_from_slice(&d[off + 8..off + 16]);
    SegLoad {
        selector: r32(off) as u16,
        base: u64::from_le_bytes(base),
        limit: r32(off + 16),
        flags: r32(off + 20),
    }
}

/// Architectural `syscall` (Intel SDM SYSCALL): RCX = next RIP, R11 = RFLAGS, RFLAGS &= !FMASK,
/// CS = STAR[47:32], SS = STAR[47:32] + 8 (flat, DPL 0), CPL 0, RIP = LSTAR. Unicorn adds the
/// instruction length (2) to RIP after the hook, so RIP is set to LSTAR - 2.
pub(crate) fn syscall<D>(uc: &mut Unicorn<'_, D>, env: &mut Env<'_>) -> Result<(), String> {
    use super::msr;
    let h = uc.get_handle();
    let rip = uc
        .reg_read(RegisterX86::RIP)
        .map_err(|e| format!("{e:?}"))?;
    let rflags = uc
        .reg_read(RegisterX86::RFLAGS)
        .map_err(|e| format!("{e:?}"))?;
    let star = unicorn_raw::read_msr(h, msr::STAR);
    let lstar = unicorn_raw::read_msr(h, msr::LSTAR);
    let fmask = unicorn_raw::read_msr(h, msr::FMASK);
    let ids = [RegisterX86::RCX, RegisterX86::R11, RegisterX86::RFLAGS];
    let vals = [rip + 2, rflags, rflags & !fmask & !RFLAGS_RF];
    uc.reg_write_batch(&ids, &vals, 3)
        .map_err(|e| format!("{e:?}"))?;
    env.ctx.save(h).map_err(|e| format!("{e:?}"))?;
    env.layout.set_rip(env.ctx, lstar.wrapping_sub(2));
    let sel = ((star >> 32) & 0xfffc) as u16;
    let cs = SegLoad {
        selector: sel,
        base: 0,
        limit: 0xffff_ffff,
        flags: desc::G | desc::P | desc::S | desc::CODE | desc::RW | desc::A | desc::L,
    };
    let ss = SegLoad {
        selector: sel + 8,
        base: 0,
        limit: 0xffff_ffff,
        flags: desc::G | desc::B | desc::P | desc::S | desc::RW | desc::A,
    };
    env.layout.load_cs_ss(env.ctx, cs, ss);
    env.ctx.restore(h).map_err(|e| format!("{e:?}"))
}
