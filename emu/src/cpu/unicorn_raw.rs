//! The Unicorn glue that the safe crate API cannot express (see the Unicorn facts in `emu/README.md`).
//!
//! This and `memory::ram` are the only modules of `emu` with `unsafe`:
//! - raw saved contexts, so the machine can read the #PF error code and patch CPL and the
//!   hidden CS/SS descriptor state (Unicorn's `reg_write` of CS/SS in 64-bit mode changes only
//!   the selector);
//! - CPUID / RDTSC / RDTSCP hooks through the raw `uc_hook_add` with correctly typed callbacks
//!   returning "skip the native instruction" (the crate's wrapper returns nothing);
//! - the block hook of the virtual clock (raw, to avoid the crate's per-call `Rc` upgrade);
//! - GDTR/IDTR/TR and MSR access with the proper C structs (the crate's `reg_read_long`
//!   overflows a heap buffer for GDTR/IDTR);
//! - mapping guest RAM with `mem_map_ptr`.

use crate::clock::Clock;
use crate::cpu::cpuid::CpuidTable;
use crate::memory::Ram;
use std::ffi::{c_int, c_void};
use unicorn_engine::{
    uc_context_alloc, uc_context_free, uc_context_restore, uc_context_save, uc_context_size,
    uc_emu_stop, uc_engine, uc_error, uc_hook, uc_hook_add, uc_hook_del, uc_reg_read, uc_reg_write,
    uc_x86_mmr, uc_x86_msr, HookType, Prot, RegisterX86, Unicorn, X86Insn,
};

/// A saved CPU context owned by us, with byte access to its data (the start of
/// `CPUX86State` in Unicorn 2.1.5).
#[derive(Debug)]
pub(crate) struct RawContext {
    ptr: *mut c_void,
    header: usize,
    data_len: usize,
}

impl RawContext {
    pub(crate) fn new(uc: *mut uc_engine) -> Result<Self, uc_error> {
        let mut ptr: *mut c_void = std::ptr::null_mut();
        // SAFETY: `uc` is a live engine handle owned by the caller; `ptr` is a valid out-pointer.
        let err = unsafe { uc_context_alloc(uc, (&raw mut ptr).cast()) };
        if err != uc_error::OK {
            return Err(err);
        }
        // SAFETY: `uc` is live; this only reads the engine's configured sizes.
        let total = unsafe { uc_context_size(uc) };
        // SAFETY: uc_context_alloc returned a block of `total` bytes whose first field is the
        // `size_t context_size` (data length) set by Unicorn (uc.c, uc_context_alloc).
        let data_len = unsafe { ptr.cast::<usize>().read() };
        if data_len > total {
            // SAFETY: `ptr` came from uc_context_alloc and is freed exactly once here.
            unsafe { uc_context_free(ptr.cast()) };
            return Err(uc_error::ARG);
        }
        Ok(Self {
            ptr,
            header: total - data_len,
            data_len,
        })
    }

    pub(crate) fn save(&mut self, uc: *mut uc_engine) -> Result<(), uc_error> {
        // SAFETY: `uc` is live and `self.ptr` is a context allocated for this same engine.
        unsafe { uc_context_save(uc, self.ptr.cast()) }.into()
    }

    pub(crate) fn restore(&self, uc: *mut uc_engine) -> Result<(), uc_error> {
        // SAFETY: as in `save`; restore only reads the context.
        unsafe { uc_context_restore(uc, self.ptr.cast()) }.into()
    }

    pub(crate) fn data(&self) -> &[u8] {
        // SAFETY: `[ptr + header, ptr + header + data_len)` is the context's data array inside
        // the allocation of `header + data_len` bytes; `&self` prevents concurrent mutation
        // through this wrapper and Unicorn only touches it inside save/restore.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>().add(self.header), self.data_len) }
    }

    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`, with `&mut self` guaranteeing exclusive access.
        unsafe {
            std::slice::from_raw_parts_mut(self.ptr.cast::<u8>().add(self.header), self.data_len)
        }
    }
}

impl Drop for RawContext {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from uc_context_alloc and is freed exactly once, here.
        unsafe { uc_context_free(self.ptr.cast()) };
    }
}

/// Map `ram` at guest physical 0.
pub(crate) fn map_ram<D>(uc: &mut Unicorn<'_, D>, ram: &Ram) -> Result<(), uc_error> {
    // SAFETY: `ram.host_base()` points to `ram.len()` bytes of our own page-aligned anonymous
    // mapping (a multiple of 4 KiB long). The caller keeps the `Rc<Ram>` alive in the machine
    // state, which Unicorn's own drop outlives only after `uc_close`, so Unicorn never uses
    // the pointer after the mapping is gone.
    unsafe { uc.mem_map_ptr(0, ram.len() as u64, Prot::ALL, ram.host_base().cast()) }
}

fn reg_read(uc: *mut uc_engine, reg: RegisterX86) -> u64 {
    let mut v = 0u64;
    // SAFETY: `uc` is the live engine passed to a callback or owned by the machine; `v` is a
    // u64, which is large enough for any non-vector x86 register.
    unsafe { uc_reg_read(uc, reg as c_int, (&raw mut v).cast()) };
    v
}

fn reg_write(uc: *mut uc_engine, reg: RegisterX86, v: u64) {
    // SAFETY: as in `reg_read`; Unicorn reads at most 8 bytes from `v`.
    unsafe { uc_reg_write(uc, reg as c_int, (&raw const v).cast()) };
}

/// Read a descriptor-table register (GDTR, IDTR, LDTR, TR) with the proper struct.
pub(crate) fn read_mmr(uc: *mut uc_engine, reg: RegisterX86) -> uc_x86_mmr {
    let mut m = uc_x86_mmr {
        selector: 0,
        base: 0,
        limit: 0,
        flags: 0,
    };
    // SAFETY: for GDTR/IDTR/LDTR/TR Unicorn writes exactly one `uc_x86_mmr`.
    unsafe { uc_reg_read(uc, reg as c_int, (&raw mut m).cast()) };
    m
}

/// Write a descriptor-table register.
pub(crate) fn write_mmr(
    uc: *mut uc_engine,
    reg: RegisterX86,
    m: uc_x86_mmr,
) -> Result<(), uc_error> {
    // SAFETY: Unicorn reads exactly one `uc_x86_mmr` for these registers.
    unsafe { uc_reg_write(uc, reg as c_int, (&raw const m).cast()) }.into()
}

/// Read an MSR (Unicorn reads unknown MSRs as 0).
pub(crate) fn read_msr(uc: *mut uc_engine, msr: u32) -> u64 {
    let mut m = uc_x86_msr { rid: msr, value: 0 };
    // SAFETY: for UC_X86_REG_MSR Unicorn reads `rid` and writes `value` of one `uc_x86_msr`.
    unsafe { uc_reg_read(uc, RegisterX86::MSR as c_int, (&raw mut m).cast()) };
    m.value
}

/// Write an MSR.
pub(crate) fn write_msr(uc: *mut uc_engine, msr: u32, value: u64) -> Result<(), uc_error> {
    let m = uc_x86_msr { rid: msr, value };
    // SAFETY: Unicorn reads one `uc_x86_msr`.
    unsafe { uc_reg_write(uc, RegisterX86::MSR as c_int, (&raw const m).cast()) }.into()
}

unsafe extern "C" fn cpuid_cb(uc: *mut uc_engine, user_data: *mut c_void) -> c_int {
    // SAFETY: `user_data` is `Rc::as_ptr` of the machine's `CpuidTable`, which the machine
    // keeps alive (and never mutates) for as long as the engine can run.
    let table = unsafe { &*user_data.cast::<CpuidTable>() };
    let leaf = reg_read(uc, RegisterX86::EAX) as u32;
    let sub = reg_read(uc, RegisterX86::ECX) as u32;
    let [a, b, c, d] = table.query(leaf, sub);
    reg_write(uc, RegisterX86::RAX, u64::from(a));
    reg_write(uc, RegisterX86::RBX, u64::from(b));
    reg_write(uc, RegisterX86::RCX, u64::from(c));
    reg_write(uc, RegisterX86::RDX, u64::from(d));
    1 // skip the native CPUID
}

unsafe extern "C" fn rdtsc_cb(uc: *mut uc_engine, user_data: *mut c_void) -> c_int {
    // SAFETY: `user_data` is `Rc::as_ptr` of the machine's `Clock`, alive while the engine
    // runs; `Clock` only has interior mutability through `Cell`, so a shared reference is sound.
    let clock = unsafe { &*user_data.cast::<Clock>() };
    let tsc = clock.now_ns();
    reg_write(uc, RegisterX86::RAX, tsc & 0xffff_ffff);
    reg_write(uc, RegisterX86::RDX, tsc >> 32);
    1
}

unsafe extern "C" fn rdtscp_cb(uc: *mut uc_engine, user_data: *mut c_void) -> c_int {
    // SAFETY: see `rdtsc_cb`.
    unsafe { rdtsc_cb(uc, user_data) };
    reg_write(
        uc,
        RegisterX86::RCX,
        read_msr(uc, 0xc000_0103) & 0xffff_ffff,
    );
    1
}

unsafe extern "C" fn block_cb(uc: *mut uc_engine, address: u64, size: u32, user_data: *mut c_void) {
    // SAFETY: see `rdtsc_cb`.
    let clock = unsafe { &*user_data.cast::<Clock>() };
    if clock.on_block_fast(address, size) {
        return;
    }
    let stop = clock.on_block_slow(
        address,
        size,
        || reg_read(uc, RegisterX86::CR3),
        || reg_read(uc, RegisterX86::RFLAGS) & crate::cpu::RFLAGS_IF != 0,
    );
    if stop {
        // SAFETY: `uc` is the engine running this callback; stopping from a hook is supported.
        unsafe { uc_emu_stop(uc) };
    }
}

/// Raw hooks registered by the machine (removed on drop of the engine).
#[derive(Debug, Default)]
pub(crate) struct RawHooks {
    ids: Vec<uc_hook>,
}

impl RawHooks {
    fn add(
        &mut self,
        uc: *mut uc_engine,
        kind: HookType,
        cb: *mut c_void,
        data: *mut c_void,
        insn: Option<X86Insn>,
    ) -> Result<(), uc_error> {
        let mut id: uc_hook = 0;
        // SAFETY: `cb` is an `extern "C"` function with exactly the signature Unicorn calls for
        // `kind` (uc_cb_insn_cpuid_t for CPUID/RDTSC/RDTSCP, uc_cb_hookcode_t for BLOCK);
        // `data` outlives the engine's use of the hook (see the callbacks). begin=1 > end=0
        // means "all addresses". The variadic instruction id is passed as a C int.
        let err = unsafe {
            match insn {
                Some(i) => {
                    uc_hook_add(uc, &raw mut id, kind.0 as c_int, cb, data, 1, 0, i as c_int)
                }
                None => uc_hook_add(uc, &raw mut id, kind.0 as c_int, cb, data, 1, 0),
            }
        };
        if err != uc_error::OK {
            return Err(err);
        }
        self.ids.push(id);
        Ok(())
    }

    /// CPUID answered from `table`, RDTSC/RDTSCP from the virtual clock, and the clock's block hook.
    pub(crate) fn install(
        uc: *mut uc_engine,
        table: *const CpuidTable,
        clock: *const Clock,
    ) -> Result<Self, uc_error> {
        let mut h = Self::default();
        let cpuid: unsafe extern "C" fn(*mut uc_engine, *mut c_void) -> c_int = cpuid_cb;
        let rdtsc: unsafe extern "C" fn(*mut uc_engine, *mut c_void) -> c_int = rdtsc_cb;
        let rdtscp: unsafe extern "C" fn(*mut uc_engine, *mut c_void) -> c_int = rdtscp_cb;
        let block: unsafe extern "C" fn(*mut uc_engine, u64, u32, *mut c_void) = block_cb;
        h.add(
            uc,
            HookType::INSN,
            cpuid as *mut c_void,
            table.cast_mut().cast(),
            Some(X86Insn::CPUID),
        )?;
        h.add(
            uc,
            HookType::INSN,
            rdtsc as *mut c_void,
            clock.cast_mut().cast(),
            Some(X86Insn::RDTSC),
        )?;
        h.add(
            uc,
            HookType::INSN,
            rdtscp as *mut c_void,
            clock.cast_mut().cast(),
            Some(X86Insn::RDTSCP),
        )?;
        h.add(
            uc,
            HookType::BLOCK,
            block as *mut c_void,
            clock.cast_mut().cast(),
            None,
        )?;
        Ok(h)
    }

    /// Remove the hooks from `uc` (used by the benchmark's bare-Unicorn comparison).
    #[allow(dead_code)]
    pub(crate) fn remove(self, uc: *mut uc_engine) {
        for id in self.ids {
            // SAFETY: `id` was returned by uc_hook_add on this engine and is deleted once.
            unsafe { uc_hook_del(uc, id) };
        }
    }
}
