//! Probes: attach filters to guest kernel code and give them a guest-aware world.
//!
//! - [`context`]: the contexts a filter receives (the seed's `struct bpf_context`, `pt_regs`);
//! - [`guest`]: guest virtual memory with fault suppression, the current task;
//! - [`env`]: what helpers see during one probe hit;
//! - [`helpers`]: the guest-aware helpers and the seed's (`bpf_load_pointer`...);
//! - [`printk`]: `bpf_trace_printk` formatting by the kernel's rules;
//! - [`events`]: what filters emit, as trace_pipe text or versioned JSON.

pub mod context;
pub mod env;
pub mod events;
pub mod guest;
pub mod helpers;
pub mod printk;
