//! The machine: a Unicorn-based x86-64 system emulator (see ../shared/design.md). Work in progress.
