//! The verifier: proves, before a program runs natively in the host, that it cannot touch
//! memory it was not given, cannot loop forever and cannot leak host addresses.
//!
//! # What is proven
//!
//! For every execution of the program, whatever the context, helper results and map contents:
//! every instruction is reachable in the control-flow graph and every path ends at `exit`
//! within a budget of processed instructions; no register is read before it is written; every
//! load, store and atomic lands inside the object its pointer designates (the stack of a live
//! call frame, the context as the program type's field table allows, a map value, a memory
//! region of known size) for *every* value its variable offset can take; every stack byte read
//! was written; a possibly NULL map value is checked before use; the context is never written;
//! pointer arithmetic keeps offsets bounded; no pointer escapes into a map value, a memory
//! region, a helper's scalar argument, a comparison with a scalar or the return value; every
//! helper call matches its registered [`crate::helpers::Proto`]; a printf-style helper
//! (`bpf_trace_printk`) gets every argument its format consumes initialised (the format read
//! as a constant from the stack or a read-only map's contents, else all of r3-r5); no map
//! flagged read-only for programs (`.rodata`) is written; the combined stack of the
//! deepest bpf-to-bpf call chain fits in 512 bytes; no division by the constant zero.
//!
//! # The abstract domain
//!
//! Each register holds an abstract value ([`state::Reg`]): *uninitialised*, a *scalar*, or a
//! *pointer* to a kind of object plus an offset. A scalar ([`bounds::Scalar`]) is five views of
//! the same set of numbers: known bits as a tristate number ([`tnum::Tnum`]), and signed and
//! unsigned ranges of the 64-bit value and of its low 32 bits. The views are kept consistent
//! after every operation (each tightens the others, as the kernel's `reg_bounds_sync`), so an
//! `and` that clears high bits bounds the unsigned range, and a signed comparison bounds the
//! known bits. A pointer's offset is itself a scalar, so `ptr + (x & 0xf)` is a pointer with
//! offsets 0..15 and each access is checked for the whole range. Conditional jumps refine both
//! operands on each edge (an edge whose refinement is empty is not taken); the NULL check of a
//! map value turns every copy sharing its id into a pointer or into 0. The stack of each frame
//! is tracked per byte (uninitialised, data, known zero) and per 8-byte slot (a spilled register
//! keeps its exact abstract value, so pointers survive spills and scalars keep their bounds).
//!
//! # Exploration and pruning
//!
//! The walk is a depth-first exploration of paths: at a conditional jump whose both edges are
//! possible, one edge is pushed for later and the other followed. At *prune points* (jump
//! targets, the instruction after a conditional jump, return points of calls) the state is
//! compared with the states already stored there. A stored state whose every continuation has
//! been verified (its count of unfinished paths is zero) and which *includes* the current one
//! (every register and stack byte is at least as general) proves the current path safe, and it
//! stops. A stored state still being explored is an ancestor on the current path: reaching it
//! again unchanged is an infinite loop. Loops are thus unrolled until their states repeat in a
//! covered way or their bound makes the exit condition certain; the budget of processed
//! instructions ([`VerifyOptions::max_processed`]) bounds the work.
//!
//! # Limitations (deliberate, documented)
//!
//! Stack accesses need a constant offset from the frame pointer; scalar ids are not tracked
//! (a bound learned on one copy of a scalar does not refine the others); liveness is not
//! tracked, so pruning compares dead registers too (safe, but it explores more states).
//!
//! ```
//! use jit::{asm::assemble, helpers::Helpers, Program};
//! use jit::verifier::{verify, ProgType, VerifyOptions, Reason};
//! let ok = Program::new(assemble("ldxdw %r0, [%r1+8]\nexit").unwrap()).unwrap();
//! let opts = VerifyOptions::default();
//! let v = verify(&ok, &ProgType::seed(), &Helpers::<()>::new(), &[], &opts).unwrap();
//! assert_eq!(v.processed, 2);
//! let bad = Program::new(assemble("ldxdw %r0, [%r1+48]\nexit").unwrap()).unwrap();
//! let e = verify(&bad, &ProgType::seed(), &Helpers::<()>::new(), &[], &opts).unwrap_err();
//! assert_eq!(e.pc, 0);
//! assert!(matches!(e.reason, Reason::ContextAccess { off: 48, .. }));
//! ```

pub mod bounds;
mod error;
mod init;
mod log;
mod progtype;
pub mod state;
pub mod tnum;
mod walk;

pub use error::{Reason, VerifyError};
pub use init::check_initialised;
pub use log::LogLevel;
pub use progtype::{Context, CtxField, ProgType};

use crate::helpers::Helpers;
use crate::maps::MapDef;
use crate::program::Program;
use std::fmt;
use std::sync::Arc;

/// Source line text for an instruction index (from the ELF loader's line info).
pub type LineInfo = Arc<dyn Fn(usize) -> Option<String> + Send + Sync>;

/// How the verifier works and what it records.
#[derive(Clone)]
pub struct VerifyOptions {
    /// Budget of processed instructions over all paths.
    pub max_processed: u64,
    pub log_level: LogLevel,
    /// Bytes of log kept (the most recent).
    pub log_limit: usize,
    /// Shows the source line of each instruction in the log, when known.
    pub line_info: Option<LineInfo>,
    /// Contents of the map table's read-only maps (by map index; `None` or missing: unknown).
    /// Only maps flagged [`crate::maps::BPF_F_RDONLY_PROG`] are read (programs may not write
    /// them, the verifier checks), for constant `bpf_trace_printk` formats in `.rodata`.
    /// [`crate::proven::ProvenProgram::new`] fills it from its map set when it is empty.
    pub map_contents: Vec<Option<Arc<[u8]>>>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            max_processed: 1_000_000,
            log_level: LogLevel::Failure,
            log_limit: 64 * 1024,
            line_info: None,
            map_contents: Vec::new(),
        }
    }
}

impl fmt::Debug for VerifyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("max_processed", &self.max_processed)
            .field("log_level", &self.log_level)
            .field("log_limit", &self.log_limit)
            .field("line_info", &self.line_info.is_some())
            .field("map_contents", &self.map_contents.len())
            .finish()
    }
}

/// What the verifier learned about one instruction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InsnFacts {
    /// Some path reached it (instructions never reached are dead code).
    pub reached: bool,
    /// For `div`/`mod` by a register: on some path the divisor may be zero, so the JIT must
    /// keep the ISA's zero handling. False means the divisor is proven non-zero.
    pub divisor_may_be_zero: bool,
}

/// A verified program's facts.
#[derive(Clone, Debug)]
pub struct Verified {
    /// Instructions processed over all paths.
    pub processed: u64,
    /// States stored at prune points.
    pub checkpoints: usize,
    /// Largest stack depth in bytes used by each function (index as [`Program::functions`]).
    pub stack_depth: Vec<u32>,
    /// Per-instruction facts, indexed by slot.
    pub facts: Vec<InsnFacts>,
    /// The log ([`LogLevel::All`] only).
    pub log: String,
}

/// Verifies `prog` as a program of type `ty`, calling `helpers`, with map table `maps`.
pub fn verify<E>(
    prog: &Program,
    ty: &ProgType,
    helpers: &Helpers<E>,
    maps: &[MapDef],
    opts: &VerifyOptions,
) -> Result<Verified, VerifyError> {
    let all = opts.log_level == LogLevel::All;
    let log = all.then(|| log::PathLog::new(opts.log_limit, false));
    match walk::Walk::new(prog, ty, helpers, maps, opts, log).run() {
        Ok(v) => Ok(v),
        Err(mut e) if opts.log_level == LogLevel::Failure => {
            // The walk is deterministic: repeat it with a path log to explain the failure.
            let log = Some(log::PathLog::new(opts.log_limit, true));
            if let Err(again) = walk::Walk::new(prog, ty, helpers, maps, opts, log).run() {
                e.log = again.log;
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Decodes and checks `bytes`, then verifies: structural errors become [`Reason::Program`].
pub fn verify_bytes<E>(
    bytes: &[u8],
    ty: &ProgType,
    helpers: &Helpers<E>,
    maps: &[MapDef],
    opts: &VerifyOptions,
) -> Result<(Program, Verified), VerifyError> {
    let prog = Program::from_bytes(bytes)
        .map_err(|e| VerifyError::new(error::program_error_pc(&e), Reason::Program(e)))?;
    let v = verify(&prog, ty, helpers, maps, opts)?;
    Ok((prog, v))
}
