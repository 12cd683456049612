//! Parsers for command-line values (sizes, durations: the grammar is [`emu::duration`]'s).

use std::time::Duration;

pub fn parse_size(s: &str) -> Result<usize, String> {
    let (num, mult) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1usize << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|&n| n >= 2 << 20)
        .ok_or_else(|| format!("'{s}' is not a memory size of at least 2M (e.g. 256M)"))
}

/// A duration in the grammar of [`emu::duration`] (`10s`, `1.5s`, `500ms`, `2h`, `0`).
pub fn parse_duration(s: &str) -> Result<Duration, emu::DurationError> {
    emu::duration::parse(s)
}

/// A period: a duration that is not zero.
pub fn parse_period(s: &str) -> Result<Duration, String> {
    match parse_duration(s) {
        Ok(d) if d.is_zero() => Err(format!(
            "'{s}' is zero: a period must be longer than 0, e.g. 100ms"
        )),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}
