//! Why a program was refused: [`Reason`] in plain words, and [`VerifyError`] with the
//! instruction index and the log of the failing path.

use crate::program::ProgramError;
use thiserror::Error;

/// Why the verifier refused a program.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Reason {
    #[error("{0}")]
    Program(ProgramError),
    #[error("unreachable instruction (no path from the entry leads here)")]
    Unreachable,
    #[error("reads uninitialised register r{reg}")]
    UninitRegister { reg: u8 },
    #[error("reads uninitialised stack: {size} bytes at fp{off:+}")]
    UninitStack { off: i64, size: usize },
    #[error("{size}-byte access at offset {off_min}..={off_max} is out of bounds of {region}")]
    OutOfBounds {
        region: String,
        off_min: i64,
        off_max: i64,
        size: usize,
    },
    #[error("stack access through r{reg} at a variable offset (only constant stack offsets are supported)")]
    VariableStackOffset { reg: u8 },
    #[error("possibly NULL pointer r{reg} dereferenced (compare it with 0 first)")]
    NullDeref { reg: u8 },
    #[error("r{reg} is {what}, not a pointer to memory")]
    NotAPointer { reg: u8, what: String },
    #[error("invalid context access: {size} bytes at offset {off} ({detail})")]
    ContextAccess {
        off: i64,
        size: usize,
        detail: &'static str,
    },
    #[error("the context is read-only")]
    ContextWrite,
    #[error("pointer leak: {what}")]
    PointerLeak { what: &'static str },
    #[error("pointer arithmetic on r{reg} not allowed: {detail}")]
    PointerArith { reg: u8, detail: String },
    #[error("pointer comparison not allowed: {detail}")]
    PointerCompare { detail: &'static str },
    #[error("partial spill or fill of a pointer on the stack at fp{off:+}")]
    PartialPointer { off: i64 },
    #[error("atomic operation not allowed: {detail}")]
    Atomic { detail: String },
    #[error("infinite loop detected (the same state is reached again on the same path)")]
    InfiniteLoop,
    #[error("program too complex: more than {limit} instructions processed")]
    TooComplex { limit: u64 },
    #[error("call to unknown helper {id}")]
    UnknownHelper { id: u64 },
    #[error("helper {id} ({name}) is not allowed for program type {prog_type}")]
    HelperNotAllowed {
        id: u32,
        name: &'static str,
        prog_type: String,
    },
    #[error("helper {helper}: argument {arg} (r{arg}): {detail}")]
    HelperArg {
        helper: &'static str,
        arg: u8,
        detail: String,
    },
    #[error("combined stack of {depth} bytes across the call chain exceeds 512")]
    StackTooDeep { depth: u64 },
    #[error("division or modulo by the constant 0")]
    DivByZero,
    #[error("invalid lddw: {detail}")]
    Lddw { detail: String },
    #[error("function returns a pointer to its own stack")]
    ReturnStackPointer,
    #[error("ring-buffer record {id} is neither submitted nor discarded on this path")]
    UnreleasedRecord { id: u32 },
    #[error("{helper} format \"{format}\" reads r{reg}, which is not initialised")]
    FormatArg {
        helper: &'static str,
        /// The format as the verifier read it (escaped, up to its NUL).
        format: String,
        reg: u8,
    },
    #[error("{helper} format \"{format}\" prints r{reg}, a pointer: in bpflab its value is a host address, which would make the output depend on the host (print the value it points to, or %s for a string)")]
    FormatPointer {
        helper: &'static str,
        /// The format as the verifier read it (escaped, up to its NUL).
        format: String,
        reg: u8,
    },
    #[error("{helper} may read r{reg}, which is not initialised: the format is not known at verification time ({why}), so r3-r5 must all be initialised")]
    FormatUnknown {
        helper: &'static str,
        reg: u8,
        why: String,
    },
    #[error("writes {region}, which programs may only read (BPF_F_RDONLY_PROG)")]
    ReadOnlyMap { region: String },
}

/// A refused program: where, why, and the log of the failing path.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("instruction {pc}: {reason}")]
pub struct VerifyError {
    pub pc: usize,
    pub reason: Reason,
    /// Kernel-like log of the failing path (empty unless logging was requested).
    pub log: String,
}

impl VerifyError {
    pub(crate) fn new(pc: usize, reason: Reason) -> Self {
        VerifyError {
            pc,
            reason,
            log: String::new(),
        }
    }
}

/// The instruction a structural error names.
pub(crate) fn program_error_pc(e: &ProgramError) -> usize {
    use crate::instr::DecodeError as D;
    match e {
        ProgramError::JumpOutOfBounds { pc, .. }
        | ProgramError::JumpIntoLddw { pc, .. }
        | ProgramError::JumpAcrossFunctions { pc, .. }
        | ProgramError::CallOutOfBounds { pc, .. }
        | ProgramError::CallIntoLddw { pc, .. }
        | ProgramError::FallsOffEnd { pc } => *pc,
        ProgramError::Recursion(f) | ProgramError::CallsTooDeep(f) => *f,
        ProgramError::MalformedLddw(pc) => *pc,
        ProgramError::Decode(d) => match d {
            D::UnknownOpcode { pc, .. }
            | D::UnusedField { pc, .. }
            | D::BadField { pc, .. }
            | D::BadRegister { pc, .. }
            | D::WriteToFramePointer { pc }
            | D::IncompleteLddw { pc }
            | D::BadLddwSecondHalf { pc }
            | D::Kfunc { pc } => *pc,
        },
        ProgramError::Empty | ProgramError::TooLarge(_) | ProgramError::PartialInstruction(_) => 0,
    }
}
