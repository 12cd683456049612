//! Host-dependent values in outputs, replaced by placeholders before comparing: everything
//! else bpflab prints on the teaching kernel is deterministic (virtual time).

/// `bpflab trace` and `bpflab replay` stderr: drops the `bpflab: ` and `linux-image: `
/// progress lines; a line ending in a number of `ns` (a probe's mean cost) ends in ` <ns>`;
/// the number three words before `host` (`0.12 s of host time`) becomes `<host>`.
pub fn stderr_timings(stderr: &str) -> String {
    let mut text = String::new();
    for line in stderr
        .lines()
        .filter(|l| !l.starts_with("bpflab: ") && !l.starts_with("linux-image: "))
    {
        let line = match line.strip_suffix("ns") {
            Some(rest) if rest.ends_with(|c: char| c.is_ascii_digit()) => format!(
                "{} <ns>",
                rest.trim_end_matches(|c: char| c.is_ascii_digit())
                    .trim_end()
            ),
            _ => line.to_string(),
        };
        let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
        if let Some(i) = words.iter().position(|w| w == "host") {
            if i >= 3 {
                words[i - 3] = "<host>".into();
            }
        }
        text.push_str(&words.join(" "));
        text.push('\n');
    }
    text
}

/// The REPL's output: every `1234ns` word becomes `<ns>`, right-aligned in the same width
/// (so table columns stay put).
pub fn ns_words(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(i) = rest.find("ns") {
            let head = &rest[..i];
            let digits = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            let after = rest[i + 2..].chars().next();
            if digits > 0 && after.is_none_or(|c| !c.is_alphanumeric()) {
                out.push_str(&head[..head.len() - digits]);
                out.push_str(&format!("{:>w$}", "<ns>", w = digits + 2));
            } else {
                out.push_str(&rest[..i + 2]);
            }
            rest = &rest[i + 2..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

/// JSON lines: the host timing fields (`mean_ns`, `host_ms`) of each object become 0; lines
/// that are not JSON stay as they are.
pub fn json_timings(stdout: &str) -> String {
    let mut out = String::new();
    for line in stdout.lines() {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(mut v) => {
                if let Some(o) = v.as_object_mut() {
                    for k in ["mean_ns", "host_ms"] {
                        if o.contains_key(k) {
                            o.insert(k.into(), 0.into());
                        }
                    }
                }
                out.push_str(&v.to_string());
            }
            Err(_) => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_are_masked_and_nothing_else() {
        assert_eq!(
            stderr_timings("bpflab: booting\n  1  x  f  245  0 1234ns\nstop: after 3.001 s of guest time, 0.52 s of host time\nruns\n"),
            "  1  x  f  245  0 <ns>\nstop: after 3.001 s of guest time, <host> s of host time\nruns\n"
        );
        assert_eq!(ns_words("cost 1234ns, 5 insns\n"), "cost   <ns>, 5 insns\n");
        assert_eq!(
            json_timings("{\"mean_ns\":17,\"hits\":3}\nplain\n"),
            "{\"hits\":3,\"mean_ns\":0}\nplain\n"
        );
    }
}
