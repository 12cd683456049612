//! The one duration grammar of bpflab: command-line options (`--for 1.5s`), the REPL's
//! `run 10ms`, and console input scripts (`@sleep 100ms`) all parse with [`parse_ns`].
//!
//! A duration is a decimal number and a unit, with no space: `10s`, `1.5s`, `500ms`, `2h`,
//! `1m30s` is *not* accepted (one number, one unit). Units: `h`, `m` (minutes), `s`, `ms`,
//! `us` (or `µs`), `ns`. `0` needs no unit. The value is exact (no floating point): it must
//! be a whole number of nanoseconds and fit in a `u64` of nanoseconds (about 584 years).

use std::time::Duration;

/// The units, longest suffix first, with their length in nanoseconds.
const UNITS: &[(&str, u64)] = &[
    ("ms", 1_000_000),
    ("us", 1_000),
    ("µs", 1_000),
    ("ns", 1),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
];

/// The units as the errors list them.
pub const UNIT_LIST: &str = "h, m, s, ms, us, ns";

/// Why a text is not a duration. Every message quotes the text and says what to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was given.
    #[error("an empty duration: write a number and a unit, e.g. 10s or 500ms")]
    Empty,
    /// A number without a unit (other than `0`).
    #[error("'{0}' has no unit: write e.g. {0}s or {0}ms (units: {UNIT_LIST})")]
    NoUnit(String),
    /// The text after the number is not a unit.
    #[error("'{input}' has an unknown unit '{unit}' (units: {UNIT_LIST})")]
    UnknownUnit {
        /// The whole text.
        input: String,
        /// The part after the number.
        unit: String,
    },
    /// The number is not a plain decimal number.
    #[error("'{0}' is not a duration: write a decimal number and a unit, e.g. 1.5s or 500ms")]
    BadNumber(String),
    /// A number in scientific notation (`1e300s`).
    #[error(
        "'{0}' has an exponent: write the number out, e.g. 1.5s or 2h \
         (a duration is at most 18446744073s, about 584 years)"
    )]
    Exponent(String),
    /// A negative number.
    #[error("'{0}' is negative: a duration is 0 or more")]
    Negative(String),
    /// More than `u64::MAX` nanoseconds.
    #[error("'{0}' is too long: a duration is at most 18446744073s (about 584 years)")]
    TooLong(String),
    /// Not a whole number of nanoseconds.
    #[error("'{0}' is finer than a nanosecond, the virtual clock's resolution")]
    FinerThanNs(String),
}

/// Parses a duration (see the module documentation) to nanoseconds.
pub fn parse_ns(text: &str) -> Result<u64, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s.starts_with('-') {
        return Err(DurationError::Negative(s.to_string()));
    }
    let num_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(num_len);
    let scale = if unit.is_empty() {
        None
    } else {
        match UNITS.iter().find(|(u, _)| *u == unit) {
            Some(&(_, scale)) => Some(scale),
            None if num.is_empty() => return Err(DurationError::BadNumber(s.to_string())),
            None if unit.starts_with(['e', 'E'])
                && unit[1..].starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-') =>
            {
                return Err(DurationError::Exponent(s.to_string()))
            }
            None => {
                return Err(DurationError::UnknownUnit {
                    input: s.to_string(),
                    unit: unit.to_string(),
                })
            }
        }
    };
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    let digits_ok = |d: &str| d.chars().all(|c| c.is_ascii_digit() || c == '_');
    if (int.is_empty() && frac.is_empty())
        || !digits_ok(int)
        || !digits_ok(frac)
        || int.starts_with('_')
        || frac.starts_with('_')
    {
        return Err(DurationError::BadNumber(s.to_string()));
    }
    let int: String = int.chars().filter(|&c| c != '_').collect();
    let frac: String = frac.chars().filter(|&c| c != '_').collect();
    let frac = frac.trim_end_matches('0');
    let is_zero = int.chars().all(|c| c == '0') && frac.is_empty();
    let Some(scale) = scale else {
        return if is_zero {
            Ok(0)
        } else {
            Err(DurationError::NoUnit(s.to_string()))
        };
    };
    let too_long = || DurationError::TooLong(s.to_string());
    let mut whole: u128 = 0;
    for d in int.bytes() {
        whole = whole
            .checked_mul(10)
            .and_then(|w| w.checked_add(u128::from(d - b'0')))
            .filter(|&w| w <= u128::from(u64::MAX))
            .ok_or_else(too_long)?;
    }
    let mut ns = whole * u128::from(scale);
    // The fraction: at most 19 significant digits matter, since a unit is < 10^13 ns; more
    // non-zero digits than the unit's resolution cannot be a whole number of nanoseconds.
    if !frac.is_empty() {
        if frac.len() > 19 {
            return Err(DurationError::FinerThanNs(s.to_string()));
        }
        let mut f: u128 = 0;
        for d in frac.bytes() {
            f = f * 10 + u128::from(d - b'0');
        }
        let denom = 10u128.pow(u32::try_from(frac.len()).unwrap_or(19));
        let part = f * u128::from(scale);
        if !part.is_multiple_of(denom) {
            return Err(DurationError::FinerThanNs(s.to_string()));
        }
        ns += part / denom;
    }
    u64::try_from(ns).map_err(|_| too_long())
}

/// Parses a duration (see the module documentation).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    parse_ns(text).map(Duration::from_nanos)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_unit() {
        assert_eq!(parse_ns("2h"), Ok(7_200_000_000_000));
        assert_eq!(parse_ns("10h"), Ok(36_000_000_000_000));
        assert_eq!(parse_ns("3m"), Ok(180_000_000_000));
        assert_eq!(parse_ns("10s"), Ok(10_000_000_000));
        assert_eq!(parse_ns("500ms"), Ok(500_000_000));
        assert_eq!(parse_ns("7us"), Ok(7_000));
        assert_eq!(parse_ns("7µs"), Ok(7_000));
        assert_eq!(parse_ns("42ns"), Ok(42));
        assert_eq!(parse("1_000ms"), Ok(Duration::from_secs(1)));
    }

    #[test]
    fn decimals_and_zero() {
        assert_eq!(parse_ns("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_ns(".5s"), Ok(500_000_000));
        assert_eq!(parse_ns("2.s"), Ok(2_000_000_000));
        assert_eq!(parse_ns("0.000000001s"), Ok(1));
        assert_eq!(
            parse_ns("1.50000000000000000000000000000s"),
            Ok(1_500_000_000)
        );
        assert_eq!(parse_ns("0.25h"), Ok(900_000_000_000));
        assert_eq!(parse_ns("0"), Ok(0));
        assert_eq!(parse_ns("0.0"), Ok(0));
        assert_eq!(parse_ns("0s"), Ok(0));
        assert_eq!(parse_ns(" 10ms "), Ok(10_000_000));
    }

    #[test]
    fn limits() {
        assert_eq!(parse_ns("18446744073709551615ns"), Ok(u64::MAX));
        assert_eq!(parse_ns("18446744073.709551615s"), Ok(u64::MAX));
        assert!(matches!(
            parse_ns("18446744073709551616ns"),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(
            parse_ns("1e300s"),
            Err(DurationError::Exponent(_))
        ));
        assert!(matches!(
            parse_ns("18446744074s"),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(
            parse_ns(&format!("{}s", "9".repeat(400))),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(
            parse_ns("1.5ns"),
            Err(DurationError::FinerThanNs(_))
        ));
        assert!(matches!(
            parse_ns("0.00000000000000000001s"),
            Err(DurationError::FinerThanNs(_))
        ));
    }

    #[test]
    fn errors_say_what_to_write() {
        let msg = |t: &str| parse_ns(t).unwrap_err().to_string();
        assert_eq!(
            msg("10"),
            "'10' has no unit: write e.g. 10s or 10ms (units: h, m, s, ms, us, ns)"
        );
        assert!(
            msg("10 parsecs").contains("unknown unit ' parsecs'"),
            "{}",
            msg("10 parsecs")
        );
        assert!(msg("10d").contains("unknown unit 'd'"));
        assert!(
            msg("1e300s").starts_with("'1e300s' has an exponent"),
            "{}",
            msg("1e300s")
        );
        assert!(msg("-1s").contains("negative"));
        assert!(msg("").contains("empty"));
        assert!(msg("s").contains("not a duration"));
        assert!(msg("1.2.3s").contains("not a duration"));
        assert!(msg("18446744074s").contains("too long"));
        assert!(msg("inf").contains("not a duration"));
        assert!(msg("NaNs").contains("not a duration"));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = parse_ns(&s);
        }

        #[test]
        fn whole_numbers_of_every_unit(n in 0u64..1_000_000, u in 0usize..UNITS.len()) {
            let (unit, scale) = UNITS[u];
            prop_assert_eq!(parse_ns(&format!("{n}{unit}")), Ok(n * scale));
        }

        #[test]
        fn nanoseconds_round_trip_as_seconds(ns in any::<u64>()) {
            let text = format!("{}.{:09}s", ns / 1_000_000_000, ns % 1_000_000_000);
            prop_assert_eq!(parse_ns(&text), Ok(ns));
        }
    }
}
