//! x86-64 register names: the one table that everything naming registers uses (checkpoints
//! store registers in its order; the REPL's `regs`, `$rax` in expressions and completion
//! read it too).

use super::Regs;

/// Every register of [`Regs`] by name, in the order checkpoints store them.
pub const NAMES: [&str; 32] = [
    "rax",
    "rbx",
    "rcx",
    "rdx",
    "rsi",
    "rdi",
    "rbp",
    "rsp",
    "r8",
    "r9",
    "r10",
    "r11",
    "r12",
    "r13",
    "r14",
    "r15",
    "rip",
    "rflags",
    "cs",
    "ss",
    "ds",
    "es",
    "fs",
    "gs",
    "cr0",
    "cr2",
    "cr3",
    "cr4",
    "efer",
    "fs_base",
    "gs_base",
    "kernel_gs_base",
];

/// How many general-purpose registers lead [`NAMES`] (`rax` to `r15`).
pub const GENERAL_PURPOSE: usize = 16;

/// gdb's other names for registers: (alias, register).
pub const ALIASES: [(&str, &str); 4] = [
    ("fp", "rbp"),
    ("sp", "rsp"),
    ("pc", "rip"),
    ("eflags", "rflags"),
];

impl Regs {
    /// The values in [`NAMES`] order.
    pub fn values(&self) -> [u64; 32] {
        let r = self;
        [
            r.rax,
            r.rbx,
            r.rcx,
            r.rdx,
            r.rsi,
            r.rdi,
            r.rbp,
            r.rsp,
            r.r8,
            r.r9,
            r.r10,
            r.r11,
            r.r12,
            r.r13,
            r.r14,
            r.r15,
            r.rip,
            r.rflags,
            u64::from(r.cs),
            u64::from(r.ss),
            u64::from(r.ds),
            u64::from(r.es),
            u64::from(r.fs),
            u64::from(r.gs),
            r.cr0,
            r.cr2,
            r.cr3,
            r.cr4,
            r.efer,
            r.fs_base,
            r.gs_base,
            r.kernel_gs_base,
        ]
    }

    /// Every register with its name, in [`NAMES`] order.
    pub fn fields(&self) -> [(&'static str, u64); 32] {
        let v = self.values();
        std::array::from_fn(|i| (NAMES[i], v[i]))
    }

    /// A register by name or gdb alias (`rax`, `sp`, `pc`, `eflags`...).
    pub fn by_name(&self, name: &str) -> Option<u64> {
        let name = ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or(name, |(_, reg)| *reg);
        let i = NAMES.iter().position(|n| *n == name)?;
        Some(self.values()[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_values_and_aliases_agree() {
        let r = Regs {
            rax: 1,
            rsp: 2,
            rip: 3,
            rflags: 4,
            gs: 5,
            kernel_gs_base: 6,
            ..Regs::default()
        };
        assert_eq!(r.by_name("rax"), Some(1));
        assert_eq!(r.by_name("sp"), Some(2));
        assert_eq!(r.by_name("pc"), Some(3));
        assert_eq!(r.by_name("eflags"), Some(4));
        assert_eq!(r.by_name("gs"), Some(5));
        assert_eq!(r.by_name("kernel_gs_base"), Some(6));
        assert_eq!(r.by_name("xmm0"), None);
        assert_eq!(r.fields()[7], ("rsp", 2));
        assert_eq!(NAMES[GENERAL_PURPOSE - 1], "r15");
    }
}
