//! The verifier (work in progress).

pub mod bounds;
pub mod tnum;
