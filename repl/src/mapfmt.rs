//! Maps printed the way bpftrace prints them at exit, and as JSON.
//!
//! Keys and values of a struct, union or enum type (from the object's BTF: `__type(key,
//! struct key_t)`) are shown in that type (`{pid=42, comm="cat"}`, enumerators by name).
//! Others are shown by shape: 1-8 byte integers as unsigned decimal (little endian),
//! NUL-padded printable byte strings as text, anything else as hex bytes. Entries are sorted by
//! value, as bpftrace does. Two conventions make richer output:
//! - a map whose name ends in `hist`, keyed by a log2 bucket index, prints as bpftrace's
//!   `hist()` does (`[128, 256)   102 |@@@@...|`);
//! - a stack-trace map prints each stack, symbolised, innermost frame first.
//!
//! The variables of `.data` and `.bss` print as `@name: value` in their C types (a tool's
//! counters, as vfsstat keeps them); `.rodata` holds constants and is not shown.
//!
//! Array entries that are zero are not shown (an array has every key; bpftrace's maps only
//! the ones that were set).

use jit::maps::MapKind;
use probes::tracer::MapDump;

/// How a key or value is shown.
fn show(bytes: &[u8]) -> String {
    match bytes.len() {
        1 | 2 | 4 | 8 => {
            let mut b = [0u8; 8];
            b[..bytes.len()].copy_from_slice(bytes);
            let v = u64::from_le_bytes(b);
            // A short string stored in an integer-sized key still reads better as text.
            if let Some(s) = text(bytes).filter(|s| s.len() > 1) {
                return s;
            }
            v.to_string()
        }
        _ => text(bytes).unwrap_or_else(|| {
            bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        }),
    }
}

/// A key: in its C type when the object's BTF gives a struct, union or enum, else by shape.
fn key(m: &MapDump, bytes: &[u8]) -> String {
    m.typed(true, bytes).unwrap_or_else(|| show(bytes))
}

/// A value, as [`key`].
fn value(m: &MapDump, bytes: &[u8]) -> String {
    m.typed(false, bytes).unwrap_or_else(|| show(bytes))
}

/// The bytes as text if they are printable characters followed only by NULs.
fn text(bytes: &[u8]) -> Option<String> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    if end == 0
        || !bytes[..end]
            .iter()
            .all(|b| b.is_ascii_graphic() || *b == b' ')
        || bytes[end..].iter().any(|&b| b != 0)
    {
        return None;
    }
    Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

fn value_order(v: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    let n = v.len().min(16);
    b[..n].copy_from_slice(&v[..n]);
    u128::from_le_bytes(b)
}

fn int(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(b)
}

/// `1K`, `16M`... as bpftrace labels buckets.
fn power_label(v: u128) -> String {
    const UNITS: [(u128, &str); 6] = [
        (1 << 60, "E"),
        (1 << 50, "P"),
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (scale, unit) in UNITS {
        if v >= scale && v.is_multiple_of(scale) {
            return format!("{}{unit}", v / scale);
        }
    }
    v.to_string()
}

/// A log2 histogram: bucket `b` counts values in `[2^b, 2^(b+1))`, bucket 0 also holds 0.
fn histogram(m: &MapDump) -> String {
    let counts: Vec<(u64, u64)> = m
        .entries
        .iter()
        .map(|(k, v)| (int(k), int(v)))
        .filter(|&(b, c)| c > 0 && b < 64)
        .collect();
    let mut out = format!("@{}:\n", m.name);
    let (Some(lo), Some(hi)) = (
        counts.iter().map(|c| c.0).min(),
        counts.iter().map(|c| c.0).max(),
    ) else {
        return out;
    };
    let max = counts.iter().map(|c| c.1).max().unwrap_or(1).max(1);
    for b in lo..=hi {
        let c = counts.iter().find(|x| x.0 == b).map_or(0, |x| x.1);
        let from = if b == 0 { 0 } else { 1u128 << b };
        let range = format!("[{}, {})", power_label(from), power_label(1u128 << (b + 1)));
        let bar = "@".repeat(((c as u128 * 52) / u128::from(max)) as usize);
        out.push_str(&format!("{range:<20}{c:>8} |{bar:<52}|\n"));
    }
    out
}

/// Each stack of a stack-trace map, symbolised by `describe`.
fn stacks(m: &MapDump, describe: &dyn Fn(u64) -> String) -> String {
    let mut out = String::new();
    let mut entries = m.entries.clone();
    entries.sort();
    for (k, v) in entries {
        out.push_str(&format!("@{}[{}]:\n", m.name, int(&k)));
        for ip in v.chunks_exact(8).map(int).take_while(|&ip| ip != 0) {
            out.push_str(&format!("        {}\n", describe(ip)));
        }
    }
    out
}

/// `@name[key]: value` lines, one block per map. `describe` symbolises a code address.
pub fn text_report(maps: &[MapDump], describe: &dyn Fn(u64) -> String) -> String {
    let mut out = String::new();
    for m in maps {
        if m.name.starts_with('.') {
            // Global data: `.data`/`.bss` variables as bpftrace prints scalar maps (a tool's
            // counters); `.rodata` holds constants.
            let globals = m.globals();
            for (name, v) in &globals {
                out.push_str(&format!("@{name}: {v}\n"));
            }
            if !globals.is_empty() {
                out.push('\n');
            }
            continue;
        }
        if m.kind == MapKind::StackTrace {
            out.push_str(&stacks(m, describe));
            out.push('\n');
            continue;
        }
        if m.name.ends_with("hist") && m.key_size <= 8 && m.value_size <= 8 {
            out.push_str(&histogram(m));
            out.push('\n');
            continue;
        }
        let mut entries = m.entries.clone();
        if matches!(m.kind, MapKind::Array | MapKind::PercpuArray) {
            entries.retain(|(_, v)| v.iter().any(|&b| b != 0));
        }
        entries.sort_by_key(|(k, v)| (value_order(v), k.clone()));
        for (k, v) in &entries {
            out.push_str(&format!("@{}[{}]: {}\n", m.name, key(m, k), value(m, v)));
        }
        if !entries.is_empty() {
            out.push('\n');
        }
    }
    out
}

/// One JSON object per map.
pub fn json_report(maps: &[MapDump]) -> Vec<serde_json::Value> {
    let globals = maps.iter().flat_map(|m| {
        m.globals().into_iter().map(move |(name, value)| {
            serde_json::json!({
                "version": probes::events::JSON_VERSION,
                "type": "global",
                "section": m.name,
                "name": name,
                "value": value,
            })
        })
    });
    maps.iter()
        .filter(|m| !m.name.starts_with('.'))
        .map(|m| {
            let entries: Vec<serde_json::Value> = m
                .entries
                .iter()
                .map(|(k, v)| serde_json::json!({ "key": key(m, k), "value": value(m, v) }))
                .collect();
            serde_json::json!({
                "version": probes::events::JSON_VERSION,
                "type": "map",
                "name": m.name,
                "entries": entries,
            })
        })
        .chain(globals)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_integers_strings_and_bytes() {
        assert_eq!(show(&7u32.to_le_bytes()), "7");
        assert_eq!(show(&u64::MAX.to_le_bytes()), "18446744073709551615");
        let mut name = [0u8; 16];
        name[..4].copy_from_slice(b"eth0");
        assert_eq!(show(&name), "eth0");
        assert_eq!(show(&[1, 2, 3]), "01 02 03");
        assert_eq!(show(b"lo\0\0\0\0\0\0"), "lo");
    }

    #[test]
    fn report_is_sorted_by_value_and_skips_global_data() {
        let maps = vec![
            MapDump {
                origin: "f".into(),
                name: "drops".into(),
                kind: MapKind::Hash,
                types: None,
                key_size: 4,
                value_size: 8,
                entries: vec![
                    (1u32.to_le_bytes().to_vec(), 9u64.to_le_bytes().to_vec()),
                    (2u32.to_le_bytes().to_vec(), 3u64.to_le_bytes().to_vec()),
                ],
            },
            MapDump {
                origin: "f".into(),
                name: ".bss".into(),
                kind: MapKind::Array,
                types: None,
                key_size: 4,
                value_size: 8,
                entries: vec![(vec![0; 4], vec![0; 8])],
            },
        ];
        assert_eq!(
            text_report(&maps, &|a| format!("{a:#x}")),
            "@drops[2]: 3\n@drops[1]: 9\n\n"
        );
        assert_eq!(json_report(&maps).len(), 1);
    }

    #[test]
    fn histograms_and_stacks() {
        let hist = MapDump {
            origin: "f".into(),
            name: "lat_hist".into(),
            kind: MapKind::Array,
            types: None,
            key_size: 4,
            value_size: 8,
            entries: (0u32..64)
                .map(|b| {
                    let c: u64 = match b {
                        5 => 2,
                        7 => 104,
                        10 => 52,
                        _ => 0,
                    };
                    (b.to_le_bytes().to_vec(), c.to_le_bytes().to_vec())
                })
                .collect(),
        };
        let text = text_report(&[hist], &|a| format!("{a:#x}"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "@lat_hist:");
        assert_eq!(
            lines[1],
            format!("{:<20}{:>8} |{:<52}|", "[32, 64)", 2, "@")
        );
        assert_eq!(
            lines[2],
            format!("{:<20}{:>8} |{:<52}|", "[64, 128)", 0, "")
        );
        assert_eq!(
            lines[3],
            format!("{:<20}{:>8} |{}|", "[128, 256)", 104, "@".repeat(52))
        );
        assert_eq!(
            lines[6],
            format!("{:<20}{:>8} |{:<52}|", "[1K, 2K)", 52, "@".repeat(26))
        );
        let st = MapDump {
            origin: "f".into(),
            name: "stacks".into(),
            kind: MapKind::StackTrace,
            types: None,
            key_size: 4,
            value_size: 24,
            entries: vec![(
                3u32.to_le_bytes().to_vec(),
                [0x10u64, 0x20, 0]
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect(),
            )],
        };
        assert_eq!(
            text_report(&[st], &|a| format!("f{a:x}")),
            "@stacks[3]:\n        f10\n        f20\n\n"
        );
    }
}
