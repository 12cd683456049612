//! Maps printed the way bpftrace prints them at exit, and as JSON.
//!
//! Keys and values are shown by shape: 1-8 byte integers as unsigned decimal (little endian),
//! NUL-padded printable byte strings as text, anything else as hex bytes. Entries are sorted by
//! value, as bpftrace does.

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

/// `@name[key]: value` lines, one block per map.
pub fn text_report(maps: &[MapDump]) -> String {
    let mut out = String::new();
    for m in maps {
        if m.name.starts_with('.') {
            continue; // global data (.rodata, .bss): not a user map
        }
        let mut entries = m.entries.clone();
        entries.sort_by_key(|(k, v)| (value_order(v), k.clone()));
        for (k, v) in &entries {
            out.push_str(&format!("@{}[{}]: {}\n", m.name, show(k), show(v)));
        }
        if !entries.is_empty() {
            out.push('\n');
        }
    }
    out
}

/// One JSON object per map.
pub fn json_report(maps: &[MapDump]) -> Vec<serde_json::Value> {
    maps.iter()
        .filter(|m| !m.name.starts_with('.'))
        .map(|m| {
            let entries: Vec<serde_json::Value> = m
                .entries
                .iter()
                .map(|(k, v)| serde_json::json!({ "key": show(k), "value": show(v) }))
                .collect();
            serde_json::json!({
                "version": probes::events::JSON_VERSION,
                "type": "map",
                "name": m.name,
                "entries": entries,
            })
        })
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
                key_size: 4,
                value_size: 8,
                entries: vec![(vec![0; 4], vec![0; 8])],
            },
        ];
        assert_eq!(text_report(&maps), "@drops[2]: 3\n@drops[1]: 9\n\n");
        assert_eq!(json_report(&maps).len(), 1);
    }
}
