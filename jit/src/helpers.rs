//! The helper registry: the embedder's table of `id -> (prototype, native function)`.
//!
//! A helper is a type implementing [`HelperImpl`] for the embedder's environment type `E`.
//! Registering it under an id with a [`Proto`] instantiates a native trampoline that JIT code
//! calls directly with r1-r5 in the System V argument registers and the run's frame in the
//! sixth; the interpreter calls the same function pointer.
//!
//! ```
//! use jit::helpers::{Arg, Helpers, HelperCx, HelperImpl, Proto, Ret};
//! struct Add;
//! impl HelperImpl<u64> for Add {
//!     fn call(cx: &mut HelperCx<'_, '_, u64>, a: [u64; 5]) -> u64 {
//!         *cx.env() += 1; // count calls in the environment
//!         a[0] + a[1]
//!     }
//! }
//! let mut h = Helpers::<u64>::new();
//! h.register::<Add>(1000, Proto::new("add", [Arg::Anything, Arg::Anything], Ret::Integer));
//! assert!(h.get(1000).is_some());
//! ```

use crate::native::frame::{trampoline, NativeHelper};
pub use crate::native::frame::{HelperCx, HelperImpl};
use std::collections::BTreeMap;
use std::marker::PhantomData;

/// Largest helper id usable with `callx` (the dense dispatch table's size).
pub const MAX_CALLX_ID: u32 = 4096;

/// What a helper expects in one argument register, for the verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arg {
    /// The argument is not used (its register need not be initialised).
    Unused,
    /// Any initialised value, pointer or scalar.
    Anything,
    /// A scalar (not a pointer).
    Scalar,
    /// The program's context pointer.
    Ctx,
    /// A map reference (from `lddw map`).
    Map,
    /// A pointer to an initialised key of the map in an earlier argument.
    MapKey,
    /// A pointer to an initialised value of the map in an earlier argument.
    MapValue,
    /// A pointer to initialised memory the helper reads; the next argument is its size.
    MemRead,
    /// A pointer to memory the helper fills (may be uninitialised); the next argument is its size.
    MemWrite,
    /// The size of the preceding memory argument: a known, positive bound.
    Size,
    /// Like [`Arg::Size`] but zero is allowed.
    SizeOrZero,
    /// A constant, positive size for memory the helper hands out (`bpf_ringbuf_reserve`).
    AllocSize,
    /// A ring-buffer record from `bpf_ringbuf_reserve`, which the helper consumes
    /// (submit/discard): the program must not touch it afterwards.
    RingbufRecord,
}

/// What a helper returns in r0, for the verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// A scalar.
    Integer,
    /// Nothing meaningful (r0 becomes unknown).
    Void,
    /// A pointer to a value of the map in argument 1, or NULL.
    MapValueOrNull,
    /// A reserved record of the ring buffer in argument 1 ([`Arg::AllocSize`] bytes), or NULL;
    /// it must be submitted or discarded before the program exits.
    RingbufRecordOrNull,
}

/// A helper's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Proto {
    pub name: &'static str,
    pub args: [Arg; 5],
    pub ret: Ret,
    /// The helper may stop the program ([`HelperCx::exit_program`] or [`HelperCx::fail`]).
    pub may_abort: bool,
    /// r1/r2 are a printf-style format and its size, and r3-r5 the arguments its conversions
    /// consume (`bpf_trace_printk`): the verifier requires every argument the format reads to
    /// be initialised (all three when the format is not a constant it can read).
    pub printf: bool,
    /// The map kinds its [`Arg::Map`] takes (`None`: any kind but those that need helpers
    /// of their own, see [`crate::maps::MapKind::needs_own_helpers`]).
    pub map_kinds: Option<&'static [crate::maps::MapKind]>,
}

impl Proto {
    /// A prototype with up to five arguments; the rest are [`Arg::Unused`].
    pub fn new<const N: usize>(name: &'static str, args: [Arg; N], ret: Ret) -> Self {
        let mut a = [Arg::Unused; 5];
        a[..N].copy_from_slice(&args);
        Proto {
            name,
            args: a,
            ret,
            may_abort: false,
            printf: false,
            map_kinds: None,
        }
    }

    /// Restricts the map argument to these kinds.
    pub fn for_maps(mut self, kinds: &'static [crate::maps::MapKind]) -> Self {
        self.map_kinds = Some(kinds);
        self
    }

    /// Marks r1/r2 as a printf-style format whose conversions read r3-r5 ([`Proto::printf`]).
    pub fn printf(mut self) -> Self {
        self.printf = true;
        self
    }

    /// Marks the helper as able to stop the program.
    pub fn may_abort(mut self) -> Self {
        self.may_abort = true;
        self
    }
}

/// One registered helper.
#[derive(Clone, Copy, Debug)]
pub struct HelperEntry {
    pub id: u32,
    pub proto: Proto,
    pub native: NativeHelper,
}

/// The helper table for environment type `E`.
#[derive(Debug)]
pub struct Helpers<E> {
    entries: BTreeMap<u32, HelperEntry>,
    callx: Vec<Option<NativeHelper>>,
    _env: PhantomData<fn(&mut E)>,
}

impl<E> Clone for Helpers<E> {
    fn clone(&self) -> Self {
        Helpers {
            entries: self.entries.clone(),
            callx: self.callx.clone(),
            _env: PhantomData,
        }
    }
}

impl<E> Default for Helpers<E> {
    fn default() -> Self {
        Helpers {
            entries: BTreeMap::new(),
            callx: Vec::new(),
            _env: PhantomData,
        }
    }
}

impl<E> Helpers<E> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers helper `H` under `id` (replacing any previous one).
    pub fn register<H: HelperImpl<E>>(&mut self, id: u32, proto: Proto) -> &mut Self {
        let native: NativeHelper = trampoline::<E, H>;
        self.entries.insert(id, HelperEntry { id, proto, native });
        if id < MAX_CALLX_ID {
            let i = id as usize;
            if self.callx.len() <= i {
                self.callx.resize(i + 1, None);
            }
            self.callx[i] = Some(native);
        }
        self
    }

    /// The helper registered under `id`.
    pub fn get(&self, id: u32) -> Option<&HelperEntry> {
        self.entries.get(&id)
    }

    /// All helpers, by id.
    pub fn iter(&self) -> impl Iterator<Item = &HelperEntry> {
        self.entries.values()
    }

    /// The dense `callx` dispatch table.
    pub(crate) fn callx_table(&self) -> &[Option<NativeHelper>] {
        &self.callx
    }
}
