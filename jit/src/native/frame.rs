//! The per-run frame shared by the engines and the helpers, and the helper trampoline.
//!
//! A run owns one [`RunFrame`]. JIT code keeps its address in a callee-saved register and hands
//! it to every helper as the sixth argument (`r9`), so helpers are called with r1-r5 already in
//! place (the System V argument registers) and no shuffling. The first fields are read by JIT
//! code at fixed offsets ([`FrameHeader`]).

use super::raw;
use std::ffi::c_void;

/// The native signature of every helper: r1-r5 and the run's frame.
pub type NativeHelper = extern "C" fn(u64, u64, u64, u64, u64, *mut c_void) -> u64;

/// The signature of [`check_access`].
pub(crate) type AccessCheck = extern "C" fn(*mut c_void, u64, u64) -> u64;

/// What made a run stop early.
pub(crate) mod abort {
    /// Keep running.
    pub const NONE: u64 = 0;
    /// Exit the program now with `FrameHeader::value` in r0.
    pub const EXIT: u64 = 1;
    /// Fail the run; details in `RunFrame::error`.
    pub const ERROR: u64 = 2;
    /// JIT code found no helper for a `callx`: the id is in `FrameHeader::value`.
    pub const BAD_CALLX: u64 = 3;
    /// Checked JIT code made an access outside its regions: see `RunFrame::fault`.
    pub const FAULT: u64 = 4;
    /// Checked JIT code ran out of its instruction budget.
    pub const BUDGET: u64 = 5;
}

/// The part of the frame JIT code reads; offsets are part of the JIT's ABI.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct FrameHeader {
    /// One of [`abort`]'s codes.
    pub abort: u64,
    /// r0 for [`abort::EXIT`].
    pub value: u64,
    /// Stack pointer right after the JIT prologue, to unwind every BPF frame at once.
    pub saved_rsp: u64,
    /// Dense table of helpers by id, for `callx`.
    pub callx_table: *const Option<NativeHelper>,
    /// Length of `callx_table`.
    pub callx_len: u64,
    /// Instruction index of the call or access that stopped a JIT run (set by JIT code).
    pub pc: u64,
    /// Top of the BPF stack (r10 of the main function) for JIT code.
    pub stack_top: u64,
    /// Instructions left for checked JIT code (decremented at back edges and calls).
    pub budget: u64,
}

/// Offsets of [`FrameHeader`] fields, for the JIT.
pub(crate) mod offsets {
    pub const ABORT: i32 = 0;
    pub const VALUE: i32 = 8;
    pub const SAVED_RSP: i32 = 16;
    pub const CALLX_TABLE: i32 = 24;
    pub const CALLX_LEN: i32 = 32;
    pub const PC: i32 = 40;
    pub const STACK_TOP: i32 = 48;
    pub const BUDGET: i32 = 56;
}

/// A span of host memory a checked run may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub len: u64,
    pub writable: bool,
}

impl Region {
    /// The region covering a slice.
    #[inline]
    pub fn of(slice: &[u8], writable: bool) -> Self {
        Region {
            start: slice.as_ptr() as usize as u64,
            len: slice.len() as u64,
            writable,
        }
    }

    fn contains(&self, addr: u64, len: u64) -> bool {
        addr >= self.start
            && addr
                .checked_add(len)
                .is_some_and(|end| end <= self.start + self.len)
    }
}

/// An access outside the memory a checked run may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} of {len} bytes at {addr:#x} is outside the memory this program may access", if *.write { "write" } else { "read" })]
pub struct MemFault {
    pub addr: u64,
    pub len: u64,
    pub write: bool,
}

/// How memory accesses are policed during a run.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Policy<'r> {
    /// Every access is checked against these regions.
    Checked(&'r [Region]),
    /// Accesses were proven safe before the run (the verifier). The regions are still known,
    /// for helpers that must tell program memory from other addresses.
    Trusted(&'r [Region]),
}

impl Policy<'_> {
    #[inline(always)]
    pub(crate) fn check(&self, addr: u64, len: u64, write: bool) -> Result<(), MemFault> {
        match self {
            Policy::Trusted(_) => Ok(()),
            Policy::Checked(regions) => {
                if regions
                    .iter()
                    .any(|r| r.contains(addr, len) && (r.writable || !write))
                {
                    Ok(())
                } else {
                    Err(MemFault { addr, len, write })
                }
            }
        }
    }
}

/// One run's frame. Created by the engines; helpers see it through [`HelperCx`].
#[repr(C)]
pub struct RunFrame<'r, E> {
    pub(crate) hdr: FrameHeader,
    pub(crate) policy: Policy<'r>,
    pub(crate) env: &'r mut E,
    pub(crate) error: Option<String>,
    /// The access checked JIT code was refused.
    pub(crate) fault: Option<MemFault>,
}

impl<E> std::fmt::Debug for RunFrame<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunFrame")
            .field("hdr", &self.hdr)
            .field("error", &self.error)
            .finish()
    }
}

impl<'r, E> RunFrame<'r, E> {
    #[inline]
    pub(crate) fn new(
        env: &'r mut E,
        policy: Policy<'r>,
        callx: &'r [Option<NativeHelper>],
    ) -> Self {
        RunFrame {
            hdr: FrameHeader {
                abort: abort::NONE,
                value: 0,
                saved_rsp: 0,
                callx_table: callx.as_ptr(),
                callx_len: callx.len() as u64,
                pc: 0,
                stack_top: 0,
                budget: u64::MAX,
            },
            policy,
            env,
            error: None,
            fault: None,
        }
    }

    /// The opaque pointer handed to helpers and JIT code.
    #[inline]
    pub(crate) fn as_ptr(&mut self) -> *mut c_void {
        (self as *mut Self).cast()
    }
}

/// What a helper sees of the run: the embedder's environment, memory access under the run's
/// policy, and the means to stop the program.
pub struct HelperCx<'a, 'r, E> {
    frame: &'a mut RunFrame<'r, E>,
}

impl<E> std::fmt::Debug for HelperCx<'_, '_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.frame.fmt(f)
    }
}

impl<E> HelperCx<'_, '_, E> {
    /// The embedder's environment for this run.
    pub fn env(&mut self) -> &mut E {
        self.frame.env
    }

    /// Copies program memory at `addr` (a pointer argument) into `buf`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemFault> {
        self.frame.policy.check(addr, buf.len() as u64, false)?;
        if buf.is_empty() {
            return Ok(());
        }
        // SAFETY: in checked mode the span lies in a region lent to this run; in trusted mode
        // the verifier (or a checked pre-flight of this very run) proved this argument points to
        // at least `buf.len()` readable bytes. Program memory never overlaps a helper's buffer.
        unsafe { raw::copy_from(addr, buf) };
        Ok(())
    }

    /// Copies `data` into program memory at `addr` (a pointer argument).
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), MemFault> {
        self.frame.policy.check(addr, data.len() as u64, true)?;
        if data.is_empty() {
            return Ok(());
        }
        // SAFETY: as in `read`, with the region writable; no Rust reference covers program
        // memory while the program runs (the engines hold only raw addresses to it).
        unsafe { raw::copy_to(addr, data) };
        Ok(())
    }

    /// Whether `addr..addr + len` lies in memory lent to this run (stack, context, maps...),
    /// whatever the run's policy. Helpers whose argument may point either at program memory or
    /// elsewhere (a `%s` of `bpf_trace_printk`) ask this first.
    pub fn is_program_memory(&self, addr: u64, len: u64) -> bool {
        let regions = match self.frame.policy {
            Policy::Checked(r) | Policy::Trusted(r) => r,
        };
        regions.iter().any(|r| r.contains(addr, len))
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without the NUL). The string must
    /// lie in program memory, under any policy (its length is not known in advance).
    pub fn read_cstr(&self, addr: u64, max: usize) -> Result<Vec<u8>, MemFault> {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        for i in 0..max as u64 {
            let a = addr.wrapping_add(i);
            if !self.is_program_memory(a, 1) {
                return Err(MemFault {
                    addr: a,
                    len: 1,
                    write: false,
                });
            }
            self.read(a, &mut b)?;
            if b[0] == 0 {
                break;
            }
            out.push(b[0]);
        }
        Ok(out)
    }

    /// Stops the whole program now, as if the main function returned `r0`. Only helpers whose
    /// prototype says `may_abort` may do this.
    pub fn exit_program(&mut self, r0: u64) {
        self.frame.hdr.abort = abort::EXIT;
        self.frame.hdr.value = r0;
    }

    /// Fails the run with a message. Only helpers whose prototype says `may_abort` may do this.
    pub fn fail(&mut self, msg: impl Into<String>) {
        self.frame.hdr.abort = abort::ERROR;
        self.frame.error = Some(msg.into());
    }
}

/// A helper as a type: its id, prototype and body. Registering it instantiates a native
/// trampoline, so JIT code calls it directly.
pub trait HelperImpl<E>: 'static {
    /// The body: gets r1-r5, returns r0.
    fn call(cx: &mut HelperCx<'_, '_, E>, args: [u64; 5]) -> u64;
}

/// The native entry of helper `H`: recovers the typed frame and calls `H::call`.
pub(crate) extern "C" fn trampoline<E, H: HelperImpl<E>>(
    a: u64,
    b: u64,
    c: u64,
    d: u64,
    e: u64,
    frame: *mut c_void,
) -> u64 {
    // SAFETY: every engine passes the address of its live `RunFrame<'_, E>` for this run as the
    // sixth argument (`RunFrame::as_ptr`), and the registry only hands out `trampoline::<E, H>`
    // for helpers registered in a `Helpers<E>`, so the type matches. The frame outlives the call
    // and nothing else borrows it while a helper runs.
    let frame = unsafe { &mut *frame.cast::<RunFrame<'_, E>>() };
    H::call(&mut HelperCx { frame }, [a, b, c, d, e])
}

/// The bounds check called by checked JIT code before every load, store and atomic: `info` is
/// `pc << 16 | write << 8 | len`. Returns 0 when the access is allowed; otherwise records the
/// fault in the frame and returns 1 (the code then unwinds through its abort stub).
pub(crate) extern "C" fn check_access<E>(frame: *mut c_void, addr: u64, info: u64) -> u64 {
    // SAFETY: checked JIT code passes its run's live `RunFrame<'_, E>` (r12, set from the
    // entry argument that `JitProgram` provides), and `check_access::<E>` is only compiled into
    // programs for helpers of environment type `E`. Nothing else borrows the frame during the call.
    let frame = unsafe { &mut *frame.cast::<RunFrame<'_, E>>() };
    let len = info & 0xff;
    let write = (info >> 8) & 1 != 0;
    match frame.policy.check(addr, len, write) {
        Ok(()) => 0,
        Err(fault) => {
            frame.hdr.abort = abort::FAULT;
            frame.hdr.pc = info >> 16;
            frame.fault = Some(fault);
            1
        }
    }
}
