//! The fence around everything that touches host memory by raw address.
//!
//! eBPF programs compute addresses; something has to turn them into loads and stores. All of
//! that lives here, and nowhere else in the crate:
//! - [`exec`]: executable memory for the JIT, W^X (mapped RW, written, then flipped to RX), and
//!   the call into the generated code;
//! - [`raw`]: the interpreter's loads, stores and atomics at host addresses, used only after a
//!   region check (checked mode) or for programs whose accesses are proven safe;
//! - [`frame`]: the per-run frame shared with JIT code and helpers, and the trampoline that turns
//!   a helper's opaque environment pointer back into a typed [`HelperCx`].
//!
//! Everything outside this module is safe Rust.

pub mod exec;
pub mod frame;
pub mod raw;

pub use frame::{HelperCx, MemFault, NativeHelper, Region, RunFrame};
