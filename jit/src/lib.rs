//! bpflab's eBPF engine: everything that runs an eBPF program, with no knowledge of emulators.
//!
//! The pipeline is bytes or text -> [`Program`] (decoded, structurally checked) -> linked against
//! the embedder's [`helpers::Helpers`] -> run by the [`interp`] interpreter or compiled to native
//! code by the [`x86`] JIT.
//!
//! ```
//! use jit::{asm::assemble, helpers::Helpers, interp::{Interpreter, Prepared}, Program};
//! let prog = Program::new(assemble("mov %r0, %r2\nadd %r0, 40\nexit").unwrap()).unwrap();
//! let prepared = Prepared::new(&prog, &Helpers::<()>::new()).unwrap();
//! let mut mem = [0u8; 2];
//! let r0 = Interpreter::new().run_checked(&prepared, &mut mem, &[], &mut (), None).unwrap();
//! assert_eq!(r0, 42);
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
pub mod verifier;
pub mod x86;

pub use program::{Program, ProgramError};
pub use x86::{JitError, JitProgram};
