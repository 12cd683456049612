//! bpflab's eBPF engine: everything that runs an eBPF program, with no knowledge of emulators.
//!
//! The pipeline is bytes, text or a clang object ([`object`]) -> [`Program`] (decoded,
//! structurally checked) -> proven safe by the [`verifier`] for a program type, its [`maps`] and
//! the embedder's [`helpers::Helpers`] -> compiled by the [`x86`] JIT and run without checks
//! ([`proven::ProvenProgram`]). Programs nobody verified still run, with every access checked,
//! on the [`interp`] interpreter or the JIT's checked mode.
//!
//! ```
//! use jit::verifier::{ProgType, VerifyOptions};
//! use jit::{asm::assemble, helpers::Helpers, maps::MapSet, proven::ProvenProgram, Program};
//! let prog = Program::new(assemble("mov %r0, %r2\nadd %r0, 40\nexit").unwrap()).unwrap();
//! let helpers = Helpers::<()>::new();
//! let opts = VerifyOptions::default();
//! let mut p = ProvenProgram::new(&prog, ProgType::mem(2), &helpers, &MapSet::new(), &opts, true)
//!     .unwrap();
//! let mut mem = [0u8; 2];
//! assert_eq!(p.run_mem(&mut mem, &mut ()).unwrap(), 42);
//! // An unsafe program never gets that far:
//! let bad = Program::new(assemble("ldxdw %r0, [%r1+8]\nexit").unwrap()).unwrap();
//! assert!(ProvenProgram::new(&bad, ProgType::mem(2), &helpers, &MapSet::new(), &opts, true).is_err());
//! ```

pub mod asm;
pub mod btf;
pub mod conformance;
pub mod disasm;
pub mod helpers;
pub mod instr;
pub mod interp;
pub mod isa;
pub mod maps;
pub mod native;
pub mod object;
pub mod program;
pub mod proven;
pub mod semantics;
pub mod verifier;
pub mod x86;

pub use program::{Program, ProgramError};
pub use x86::{JitError, JitProgram};
