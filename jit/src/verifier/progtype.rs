//! Program types: what r1 points to at entry, which context fields are readable, and which
//! helpers a program of the type may call.

/// One readable field of a context structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtxField {
    pub name: &'static str,
    pub off: u32,
    pub size: u32,
    /// A naturally aligned 1/2/4-byte part of the field may be loaded too.
    pub narrow: bool,
}

/// What the program receives in r1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Context {
    /// A read-only structure of `size` bytes; loads must hit a field of `fields`: the whole
    /// field, or, for a field that allows it, a naturally aligned 1/2/4-byte part of it.
    Table { size: u32, fields: Vec<CtxField> },
    /// A read-only record of `size` bytes read at any naturally aligned 1/2/4/8-byte place in
    /// `[from, size)`: a tracepoint's record (the kernel refuses its first 8 bytes, which hold
    /// a `pt_regs` pointer), the u64 arguments of a raw tracepoint or of fentry/fexit.
    Record { size: u32, from: u32 },
    /// A read-write memory region of `size` bytes (a scalar 0 when `size` is 0), its length in
    /// r2: the conformance suites' calling convention.
    Mem { size: u64 },
}

/// A program type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgType {
    pub name: String,
    pub context: Context,
    /// Helper ids the type may call; `None` allows every registered helper.
    pub helpers: Option<Vec<u32>>,
}

/// x86-64 `struct pt_regs` in kernel order.
const PT_REGS: [&str; 21] = [
    "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di",
    "orig_ax", "ip", "cs", "flags", "sp", "ss",
];

fn u64_fields(names: &[&'static str], narrow: bool) -> Vec<CtxField> {
    names
        .iter()
        .enumerate()
        .map(|(i, &name)| CtxField {
            name,
            off: 8 * i as u32,
            size: 8,
            narrow,
        })
        .collect()
}

impl ProgType {
    /// The seed's tracing filter: `struct bpf_context { long arg1..arg5; struct pt_regs *regs; }`.
    pub fn seed() -> Self {
        ProgType {
            name: "seed".into(),
            context: Context::Table {
                size: 48,
                fields: u64_fields(&["arg1", "arg2", "arg3", "arg4", "arg5", "regs"], false),
            },
            helpers: None,
        }
    }

    /// A kprobe: the context is the x86-64 kernel's `struct pt_regs` (168 bytes, read-only).
    pub fn kprobe() -> Self {
        ProgType {
            name: "kprobe".into(),
            context: Context::Table {
                size: 8 * PT_REGS.len() as u32,
                fields: u64_fields(&PT_REGS, true),
            },
            helpers: None,
        }
    }

    /// A `perf_event` program (sampling): `struct bpf_perf_event_data { bpf_user_pt_regs_t
    /// regs; __u64 sample_period; __u64 addr; }` (184 bytes, read-only). As the kernel's
    /// `pe_prog_is_valid_access` allows: the registers as whole u64s, `sample_period` and
    /// `addr` also in naturally aligned parts.
    pub fn perf_event() -> Self {
        let mut fields = u64_fields(&PT_REGS, false);
        let end = 8 * PT_REGS.len() as u32;
        for (i, name) in ["sample_period", "addr"].into_iter().enumerate() {
            fields.push(CtxField {
                name,
                off: end + 8 * i as u32,
                size: 8,
                narrow: true,
            });
        }
        ProgType {
            name: "perf_event".into(),
            context: Context::Table {
                size: end + 16,
                fields,
            },
            helpers: None,
        }
    }

    /// The conformance suites' type: r1 = a read-write region of `size` bytes, r2 = `size`.
    pub fn mem(size: u64) -> Self {
        ProgType {
            name: "mem".into(),
            context: Context::Mem { size },
            helpers: None,
        }
    }

    /// A tracepoint program: `struct trace_event_raw_NAME` of `size` bytes (at most 8192, the
    /// kernel's `PERF_MAX_TRACE_SIZE`), its common header unreadable.
    pub fn tracepoint(size: u32) -> Self {
        ProgType {
            name: "tracepoint".into(),
            context: Context::Record { size, from: 8 },
            helpers: None,
        }
    }

    /// A raw tracepoint, tp_btf, fentry or fexit program (`name`): `args` u64 values.
    pub fn u64_args(name: &str, args: u32) -> Self {
        ProgType {
            name: name.into(),
            context: Context::Record {
                size: 8 * args,
                from: 0,
            },
            helpers: None,
        }
    }

    /// Bytes of context a program of this type may read (0 for memory programs).
    pub fn ctx_size(&self) -> usize {
        match &self.context {
            Context::Table { size, .. } | Context::Record { size, .. } => *size as usize,
            Context::Mem { .. } => 0,
        }
    }

    /// Whether a `size`-byte load at context offset `off` is allowed.
    pub fn ctx_readable(&self, off: i64, size: usize) -> bool {
        match &self.context {
            Context::Record { size: len, from } => {
                let n = size as i64;
                off >= i64::from(*from)
                    && off + n <= i64::from(*len)
                    && matches!(size, 1 | 2 | 4 | 8)
                    && off % n == 0
            }
            _ => self.ctx_field(off, size).is_some(),
        }
    }

    /// `seed`, `kprobe` or `perf_event` by name (`mem` needs a size: use [`ProgType::mem`]).
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "seed" => Some(Self::seed()),
            "kprobe" => Some(Self::kprobe()),
            "perf_event" => Some(Self::perf_event()),
            _ => None,
        }
    }

    /// Restricts the helpers this type may call.
    pub fn with_helpers(mut self, ids: Vec<u32>) -> Self {
        self.helpers = Some(ids);
        self
    }

    /// Whether a program of this type may call helper `id`.
    pub fn allows_helper(&self, id: u32) -> bool {
        self.helpers.as_ref().is_none_or(|ids| ids.contains(&id))
    }

    /// The field a `size`-byte load at context offset `off` reads, if the type allows it.
    pub fn ctx_field(&self, off: i64, size: usize) -> Option<&CtxField> {
        let Context::Table { fields, .. } = &self.context else {
            return None;
        };
        let size = size as i64;
        fields.iter().find(|f| {
            let (start, len) = (i64::from(f.off), i64::from(f.size));
            if f.narrow {
                off >= start && off + size <= start + len && off % size == 0
            } else {
                off == start && size == len
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_tables_follow_the_structures() {
        let seed = ProgType::seed();
        assert_eq!(seed.ctx_field(40, 8).map(|f| f.name), Some("regs"));
        assert!(
            seed.ctx_field(4, 4).is_none(),
            "seed allows only whole fields"
        );
        assert!(seed.ctx_field(48, 8).is_none());
        let kp = ProgType::kprobe();
        assert_eq!(kp.ctx_field(8 * 14, 8).map(|f| f.name), Some("di"));
        assert_eq!(kp.ctx_field(8 * 14 + 4, 4).map(|f| f.name), Some("di"));
        assert!(kp.ctx_field(8 * 14 + 2, 4).is_none(), "misaligned");
        assert!(kp.ctx_field(168, 1).is_none());
        assert!(ProgType::by_name("mem").is_none());
        let pe = ProgType::by_name("perf_event").unwrap();
        assert_eq!(pe.ctx_size(), 184);
        assert_eq!(pe.ctx_field(128, 8).map(|f| f.name), Some("ip"));
        assert!(
            pe.ctx_field(128, 4).is_none(),
            "registers only as whole u64s"
        );
        assert_eq!(pe.ctx_field(168, 8).map(|f| f.name), Some("sample_period"));
        assert_eq!(pe.ctx_field(172, 4).map(|f| f.name), Some("sample_period"));
        assert_eq!(pe.ctx_field(176, 2).map(|f| f.name), Some("addr"));
        assert!(pe.ctx_field(184, 8).is_none());
        let tp = ProgType::tracepoint(24);
        assert!(!tp.ctx_readable(0, 8), "the pt_regs pointer");
        assert!(tp.ctx_readable(8, 4) && tp.ctx_readable(16, 8) && tp.ctx_readable(12, 2));
        assert!(!tp.ctx_readable(20, 8) && !tp.ctx_readable(9, 2) && !tp.ctx_readable(24, 1));
        let raw = ProgType::u64_args("raw_tracepoint", 2);
        assert!(raw.ctx_readable(0, 8) && raw.ctx_readable(8, 8) && !raw.ctx_readable(16, 8));
        assert!(ProgType::seed().with_helpers(vec![1]).allows_helper(1));
        assert!(!ProgType::seed().with_helpers(vec![1]).allows_helper(2));
    }
}
