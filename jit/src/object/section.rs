//! What a program section's name says about the program: `kprobe/NAME`, `kretprobe/NAME`,
//! `tracepoint/CATEGORY/NAME`, `raw_tracepoint/NAME`, `bpflab/NAME`, anything else.

/// Where a program wants to be attached, from its section name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgKind {
    /// `kprobe/TARGET` (target may be empty, `kprobe` alone, for programs attached by hand).
    Kprobe { target: String },
    /// `kretprobe/TARGET`.
    Kretprobe { target: String },
    /// `tracepoint/CATEGORY/NAME` (also `tp/`).
    Tracepoint { category: String, name: String },
    /// `raw_tracepoint/NAME` (also `raw_tp/`).
    RawTracepoint { name: String },
    /// `bpflab/NAME`: a seed-style filter with `struct bpf_context`.
    Bpflab { name: String },
    /// Any other executable section.
    Other,
}

impl ProgKind {
    /// Classifies a section name.
    pub fn from_section(section: &str) -> ProgKind {
        let (head, rest) = section.split_once('/').unwrap_or((section, ""));
        let rest = rest.to_owned();
        match head {
            "kprobe" => ProgKind::Kprobe { target: rest },
            "kretprobe" => ProgKind::Kretprobe { target: rest },
            "tracepoint" | "tp" => {
                let (category, name) = rest.split_once('/').unwrap_or(("", &rest));
                ProgKind::Tracepoint {
                    category: category.to_owned(),
                    name: name.to_owned(),
                }
            }
            "raw_tracepoint" | "raw_tp" => ProgKind::RawTracepoint { name: rest },
            "bpflab" => ProgKind::Bpflab { name: rest },
            _ => ProgKind::Other,
        }
    }
}

/// Global-data sections, each loaded as a one-entry array map.
pub(crate) fn is_data_section(name: &str) -> bool {
    [".rodata", ".data", ".bss"]
        .iter()
        .any(|p| name == *p || name.strip_prefix(p).is_some_and(|r| r.starts_with('.')))
}

/// Read-only global data.
pub(crate) fn is_rodata(name: &str) -> bool {
    name == ".rodata" || name.starts_with(".rodata.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sections() {
        assert_eq!(
            ProgKind::from_section("kprobe/dst_discard"),
            ProgKind::Kprobe {
                target: "dst_discard".into()
            }
        );
        assert_eq!(
            ProgKind::from_section("tracepoint/net/netif_receive_skb"),
            ProgKind::Tracepoint {
                category: "net".into(),
                name: "netif_receive_skb".into()
            }
        );
        assert_eq!(
            ProgKind::from_section("kretprobe/x"),
            ProgKind::Kretprobe { target: "x".into() }
        );
        assert_eq!(
            ProgKind::from_section("raw_tp/sched_switch"),
            ProgKind::RawTracepoint {
                name: "sched_switch".into()
            }
        );
        assert_eq!(
            ProgKind::from_section("bpflab/f"),
            ProgKind::Bpflab { name: "f".into() }
        );
        assert_eq!(ProgKind::from_section("xdp"), ProgKind::Other);
        assert!(is_data_section(".rodata.str1.1") && is_data_section(".bss"));
        assert!(!is_data_section(".rodatax") && !is_data_section(".text"));
        assert!(is_rodata(".rodata.cst16") && !is_rodata(".data"));
    }
}
