//! Static tracepoints without touching the guest: the enabled path, run on the side.
//!
//! # The problem
//!
//! A Linux tracepoint is off until something registers a probe: `trace_sched_switch(...)`
//! compiles to a test of the tracepoint's static key (with `CONFIG_JUMP_LABEL` off, a load of
//! `__tracepoint_sched_switch.key.enabled` and a conditional branch) guarding a block that
//! loads `__tracepoint_sched_switch.funcs`, computes the `TP_PROTO` arguments and calls the
//! static call trampoline `__SCT__tp_func_sched_switch`. The kernel turns a tracepoint on by
//! writing the key and `funcs`, and a BPF program on a `tracepoint:` event receives the
//! record that the event class's `perf_trace_TEMPLATE` fills (`TP_fast_assign`).
//!
//! bpflab may not do any of that: a run with tracepoints attached must execute exactly the
//! instructions of a run without (same instruction count, same checkpoints, same RAM). Writing
//! the key would send the guest down the enabled path; even reading the arguments needs that
//! path to run, because the compiler computes them only there.
//!
//! # The design
//!
//! A code hook sits on each *site*: the instruction that reads the key
//! ([`crate::tracepoints::find_sites`] finds them in the image). When the guest reaches it,
//! the hook copies the registers and runs the guest's own code from there on the host, in
//! [`crate::sidestep`]: an interpreter whose reads come from guest memory (through the
//! guest's page tables, as the CPU would read) and whose writes go to a private overlay that
//! is dropped afterwards. Nothing the side run does reaches the guest: not its registers, its
//! memory, its page tables' accessed bits, nor the virtual clock (the side run executes no
//! guest instruction on the emulator, so it is not counted).
//!
//! The overlay starts with what registering one probe would have written: `key.enabled = 1`
//! and `funcs` pointing at a one-entry `struct tracepoint_func` array. The side run then
//! takes the enabled path exactly as the guest would, and ends:
//! - at the static call trampoline or `__traceiter_NAME`: the registers hold the arguments
//!   (`rdi` the probe's data, `rsi`, `rdx`, `rcx`, `r8`, `r9`, then the stack) — a raw
//!   tracepoint's context, and the seed's `arg1..arg5`;
//! - at the site's skip address: the event's condition (`TRACE_EVENT_CONDITION`) was false,
//!   and the kernel would not have fired either;
//! - on anything the interpreter cannot do, or after [`BUDGET`] instructions: the hit is
//!   counted as an error with the reason, and the guest goes on untouched.
//!
//! For `tracepoint:` programs the side run goes on into the class's `perf_trace_TEMPLATE`
//! with the event's `struct trace_event_call` as its data and a planted `prog_array`, as
//! `perf_trace_run_bpf_submit` would see a BPF program attached. Two kernel functions are
//! answered by the side run instead of run: `perf_trace_buf_alloc` returns a scratch buffer
//! that exists only in the overlay, and at `perf_trace_run_bpf_submit` the record is read
//! from it, its first 8 bytes replaced by the `pt_regs` pointer as the kernel does before
//! `trace_call_bpf`. The record is therefore the kernel's own: its `TP_fast_assign`, its
//! string handling, its layout.
//!
//! The overlay is indexed by virtual address; code that wrote through one mapping and read
//! the same bytes back through another within one side run would see the guest's bytes.
//! Tracepoint paths do not do that.

use crate::point::TracepointTarget;
use crate::sidestep::{self, Cpu, DecodeCache, GuestRead, Overlay, SideError};
use crate::tracepoints::{Site, TracingLayout};
use emu::{GuestMemory, Regs};

/// Instructions one side run may execute (a `sched_switch` record takes a few hundred).
pub const BUDGET: u32 = 20_000;

/// Scratch memory that exists only in the overlay: an unused hole of the x86-64 kernel's
/// address map (`fffffc0000000000`, between the KASAN shadow and the cpu entry area).
const SCRATCH: u64 = 0xffff_fc00_0000_0000;
/// The planted `struct tracepoint_func` array.
const FUNCS: u64 = SCRATCH;
/// The record buffer `perf_trace_buf_alloc` hands out.
const RECORD: u64 = SCRATCH + 0x1000;
/// The `pt_regs` `perf_trace_buf_alloc` hands out.
const REGS: u64 = SCRATCH + 0x4000;
/// A non-null `prog_array`.
const PROG_ARRAY: u64 = SCRATCH + 0x5000;
const SCRATCH_LEN: u64 = 0x6000;

/// What the kernel functions the record path calls are at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordFns {
    /// `perf_trace_buf_alloc`.
    pub buf_alloc: u64,
    /// `perf_trace_run_bpf_submit`.
    pub submit: u64,
}

/// One tracepoint hit, as the enabled path computed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// `TP_PROTO`'s arguments.
    pub args: Vec<u64>,
    /// The record, when asked for.
    pub record: Option<Vec<u8>>,
}

/// Guest memory through a hook's page tables, with the translations of one side run
/// remembered (a side run writes only to its overlay, so the guest's page tables cannot
/// change under it): each page is walked once per hit, not once per read.
struct HookMemory<'a, 'b> {
    hc: &'a emu::HookContext<'b>,
    cr3: u64,
    /// Direct-mapped: slot = virtual page number mod [`TLB_SLOTS`]; (virtual page, physical
    /// page), `u64::MAX` when empty.
    tlb: std::cell::RefCell<[(u64, u64); TLB_SLOTS]>,
}

const TLB_SLOTS: usize = 64;

impl<'a, 'b> HookMemory<'a, 'b> {
    fn new(hc: &'a emu::HookContext<'b>) -> Self {
        HookMemory {
            hc,
            cr3: hc.cr3(),
            tlb: std::cell::RefCell::new([(u64::MAX, 0); TLB_SLOTS]),
        }
    }

    /// The guest physical address of `va`'s 4 KiB page.
    fn page(&self, va: u64) -> Result<u64, ()> {
        let vpage = va & !0xfff;
        let slot = ((va >> 12) as usize) % TLB_SLOTS;
        let mut tlb = self.tlb.borrow_mut();
        if tlb[slot].0 == vpage {
            return Ok(tlb[slot].1);
        }
        let t = self
            .hc
            .memory()
            .translate(self.cr3, vpage, emu::Access::READ)
            .map_err(|_| ())?;
        let ppage = t.pa & !0xfff;
        tlb[slot] = (vpage, ppage);
        Ok(ppage)
    }
}

impl GuestRead for HookMemory<'_, '_> {
    fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), ()> {
        let mut done = 0;
        while done < buf.len() {
            let at = va.wrapping_add(done as u64);
            let n = (0x1000 - (at & 0xfff) as usize).min(buf.len() - done);
            let pa = self.page(at)? | (at & 0xfff);
            self.hc
                .memory()
                .read_phys(pa, &mut buf[done..done + n])
                .map_err(|_| ())?;
            done += n;
        }
        Ok(())
    }
}

fn cpu_of(r: &Regs) -> Cpu {
    Cpu {
        gpr: [
            r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi, r.r8, r.r9, r.r10, r.r11,
            r.r12, r.r13, r.r14, r.r15,
        ],
        rip: r.rip,
        rflags: r.rflags,
        fs_base: r.fs_base,
        gs_base: r.gs_base,
    }
}

/// Runs the enabled path of `site` for the hit at `hc` with registers `regs`, decoding
/// through `cache` (kept across hits). `Ok(None)`: the event would not have fired (its
/// condition was false, or the record code returned early).
#[allow(clippy::too_many_arguments)]
pub fn fire(
    hc: &emu::HookContext<'_>,
    regs: &Regs,
    site: &Site,
    tp: &TracepointTarget,
    tp_addr: u64,
    layout: &TracingLayout,
    record: Option<RecordFns>,
    cache: &mut DecodeCache,
) -> Result<Option<Fired>, SideError> {
    let mem = HookMemory::new(hc);
    let mut cpu = cpu_of(regs);
    let mut ov = Overlay::new();
    ov.map_scratch(SCRATCH, SCRATCH_LEN);
    // What registering one probe writes: the key, and `funcs` -> { func, data }, { NULL }.
    ov.write(tp_addr + layout.tp_key_enabled, &1u32.to_le_bytes());
    ov.write(tp_addr + layout.tp_funcs, &FUNCS.to_le_bytes());
    let probe_fn = tp.targets.first().copied().unwrap_or(1);
    ov.write(FUNCS, &probe_fn.to_le_bytes());
    ov.write(FUNCS + layout.func_data, &tp.call.to_le_bytes());
    let mut stop = |c: &Cpu| c.rip == site.skip || tp.targets.contains(&c.rip);
    sidestep::run_cached(&mut cpu, &mem, &mut ov, &mut stop, BUDGET, cache)?;
    if cpu.rip == site.skip {
        return Ok(None);
    }
    let args = arguments(&cpu, &mem, &ov, tp.args.len())?;
    let Some(fns) = record.filter(|_| tp.perf_probe != 0) else {
        return Ok(Some(Fired { args, record: None }));
    };
    // The call to the trampoline pushed a return address: run perf_trace_TEMPLATE in its
    // place, with the event as its data, until it submits the record (or returns early).
    let ret = read_u64(&cpu, &mem, &ov, cpu.gpr[sidestep::RSP])?;
    cpu.rip = tp.perf_probe;
    cpu.gpr[sidestep::RDI] = tp.call;
    ov.write(tp.call + layout.call_prog_array, &PROG_ARRAY.to_le_bytes());
    // At most: into the record function, past perf_trace_buf_alloc, to the submit.
    for _ in 0..3 {
        let mut stop = |c: &Cpu| c.rip == fns.buf_alloc || c.rip == fns.submit || c.rip == ret;
        sidestep::run_cached(&mut cpu, &mem, &mut ov, &mut stop, BUDGET, cache)?;
        if cpu.rip == ret {
            return Ok(None);
        }
        if cpu.rip == fns.buf_alloc {
            // void *perf_trace_buf_alloc(int size, struct pt_regs **regs, int *rctxp)
            let (regs_out, rctx_out) = (cpu.gpr[sidestep::RSI], cpu.gpr[sidestep::RDX]);
            if regs_out != 0 {
                ov.write(regs_out, &REGS.to_le_bytes());
            }
            if rctx_out != 0 {
                ov.write(rctx_out, &0u32.to_le_bytes());
            }
            cpu.gpr[sidestep::RAX] = RECORD;
            cpu.rip = sidestep::pop(&mut cpu, &mem, &mut ov)?;
            continue;
        }
        // void perf_trace_run_bpf_submit(void *raw_data, int size, int rctx, ...,
        //                                struct pt_regs *regs, ...)
        let (at, size) = (cpu.gpr[sidestep::RDI], cpu.gpr[sidestep::RSI] & 0xffff_ffff);
        let size = size.min(u64::from(crate::context::MAX_RECORD_SIZE)) as usize;
        let mut rec = vec![0u8; size];
        ov.read(&mem, at, &mut rec).map_err(|()| SideError::Fault {
            rip: cpu.rip,
            va: at,
        })?;
        let regs_ptr = cpu.gpr[sidestep::R9].to_le_bytes();
        let n = rec.len().min(8);
        rec[..n].copy_from_slice(&regs_ptr[..n]);
        return Ok(Some(Fired {
            args,
            record: Some(rec),
        }));
    }
    Err(SideError::Unsupported {
        rip: cpu.rip,
        mnemonic: "a record path that allocates more than once".into(),
    })
}

fn read_u64(cpu: &Cpu, mem: &dyn GuestRead, ov: &Overlay, va: u64) -> Result<u64, SideError> {
    sidestep::read_u64(mem, ov, va).map_err(|()| SideError::Fault { rip: cpu.rip, va })
}

/// The `n` arguments at a call's target: `rsi`, `rdx`, `rcx`, `r8`, `r9` (after `rdi`, the
/// probe's data), then the stack above the return address.
fn arguments(
    cpu: &Cpu,
    mem: &dyn GuestRead,
    ov: &Overlay,
    n: usize,
) -> Result<Vec<u64>, SideError> {
    let regs = [
        sidestep::RSI,
        sidestep::RDX,
        sidestep::RCX,
        sidestep::R8,
        sidestep::R9,
    ];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        match regs.get(i) {
            Some(&r) => out.push(cpu.gpr[r]),
            None => {
                let at = cpu.gpr[sidestep::RSP] + 8 * (i - regs.len() + 1) as u64;
                out.push(read_u64(cpu, mem, ov, at)?);
            }
        }
    }
    Ok(out)
}
