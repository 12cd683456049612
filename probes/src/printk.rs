//! `bpf_trace_printk` formatting with the kernel's rules (kernel/bpf/helpers.c,
//! `bpf_bprintf_prepare`, Linux 6.1).
//!
//! - The format must be NUL-terminated within `fmt_size` bytes and printable (ASCII printable
//!   or whitespace); at most three conversions.
//! - Conversions: `%d %i %u %x %X` with optional `l`/`ll` (without them the argument is a 32-bit
//!   `int`), `%c`, `%s` (a string read from guest memory with fault suppression: on a fault it
//!   prints as empty, as the kernel's does), `%p` and `%px` (printed as the 16 hex digits of the
//!   address, like `%px`: a sandbox has nothing to hide by hashing), `%pK`, and `%%`.
//! - Flags `0 + - space` and a width are accepted before the conversion.
//!
//! A malformed format is `-EINVAL` (the helper's return value); nothing is printed.

/// `-EINVAL`.
pub const EINVAL: i64 = -22;

/// The longest line `bpf_trace_printk` produces (the kernel's `BPF_TRACE_PRINTK_SIZE`);
/// longer output is truncated.
pub const MAX_OUTPUT: usize = 1024;

/// One conversion's flags and width.
#[derive(Default, Clone, Copy)]
struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    width: usize,
}

impl Spec {
    fn pad(&self, body: String, numeric: bool) -> String {
        if body.len() >= self.width {
            return body;
        }
        let fill = self.width - body.len();
        if self.left {
            format!("{body}{}", " ".repeat(fill))
        } else if self.zero && numeric {
            // Zeros go after any sign.
            let (sign, digits) = match body.strip_prefix(['-', '+', ' ']) {
                Some(rest) => (&body[..1], rest),
                None => ("", body.as_str()),
            };
            format!("{sign}{}{digits}", "0".repeat(fill))
        } else {
            format!("{}{body}", " ".repeat(fill))
        }
    }

    fn signed(&self, v: i64) -> String {
        let s = if v >= 0 && self.plus {
            format!("+{v}")
        } else if v >= 0 && self.space {
            format!(" {v}")
        } else {
            v.to_string()
        };
        self.pad(s, true)
    }
}

/// Formats `fmt` (the bytes the program passed, `fmt_size` of them) with up to three
/// arguments. `read_str` reads a NUL-terminated guest string at an address (`None` on fault).
pub fn format(
    fmt: &[u8],
    args: [u64; 3],
    read_str: &mut dyn FnMut(u64) -> Option<Vec<u8>>,
) -> Result<String, i64> {
    let end = fmt.iter().position(|&b| b == 0).ok_or(EINVAL)?;
    let fmt = &fmt[..end];
    if fmt
        .iter()
        .any(|&b| !(b.is_ascii_graphic() || b == b' ' || b.is_ascii_whitespace()))
    {
        return Err(EINVAL);
    }
    let mut out = String::new();
    let mut next_arg = 0usize;
    let mut take = || -> Result<u64, i64> {
        let v = *args.get(next_arg).ok_or(EINVAL)?;
        next_arg += 1;
        Ok(v)
    };
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        if c != b'%' {
            out.push(char::from(c));
            continue;
        }
        if fmt.get(i) == Some(&b'%') {
            out.push('%');
            i += 1;
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = fmt.get(i) {
            match f {
                b'-' => spec.left = true,
                b'0' => spec.zero = true,
                b'+' => spec.plus = true,
                b' ' => spec.space = true,
                _ => break,
            }
            i += 1;
        }
        while let Some(d) = fmt.get(i).filter(|d| d.is_ascii_digit()) {
            spec.width = spec
                .width
                .saturating_mul(10)
                .saturating_add(usize::from(d - b'0'));
            i += 1;
        }
        // The kernel formats into a bounded buffer; so do we.
        spec.width = spec.width.min(MAX_OUTPUT);
        let conv = *fmt.get(i).ok_or(EINVAL)?;
        i += 1;
        match conv {
            b'c' => {
                let v = take()?;
                out.push_str(&spec.pad(char::from(v as u8).to_string(), false));
            }
            b's' => {
                let v = take()?;
                let s = read_str(v).unwrap_or_default();
                out.push_str(&spec.pad(String::from_utf8_lossy(&s).into_owned(), false));
            }
            b'p' => {
                let v = take()?;
                // %p, %px, %pK print the address; other %p extensions are not supported.
                match fmt.get(i) {
                    Some(b'x' | b'K') => i += 1,
                    Some(c) if c.is_ascii_alphanumeric() => return Err(EINVAL),
                    _ => {}
                }
                out.push_str(&spec.pad(format!("{v:016x}"), false));
            }
            b'l' | b'd' | b'i' | b'u' | b'x' | b'X' => {
                let mut long = false;
                let mut conv = conv;
                if conv == b'l' {
                    long = true;
                    conv = *fmt.get(i).ok_or(EINVAL)?;
                    i += 1;
                    if conv == b'l' {
                        conv = *fmt.get(i).ok_or(EINVAL)?;
                        i += 1;
                    }
                }
                let v = take()?;
                let v = if long { v } else { u64::from(v as u32) };
                let text = match conv {
                    b'd' | b'i' if long => spec.signed(v as i64),
                    b'd' | b'i' => spec.signed(i64::from(v as u32 as i32)),
                    b'u' => spec.pad(v.to_string(), true),
                    b'x' => spec.pad(format!("{v:x}"), true),
                    b'X' => spec.pad(format!("{v:X}"), true),
                    _ => return Err(EINVAL),
                };
                out.push_str(&text);
            }
            _ => return Err(EINVAL),
        }
        if out.len() > MAX_OUTPUT {
            break;
        }
    }
    if out.len() > MAX_OUTPUT {
        let mut end = MAX_OUTPUT;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(fmt: &str, args: [u64; 3]) -> Result<String, i64> {
        let mut bytes = fmt.as_bytes().to_vec();
        bytes.push(0);
        format(&bytes, args, &mut |a| {
            (a == 0x1000).then(|| b"eth0".to_vec())
        })
    }

    #[test]
    fn integers_follow_c_widths() {
        assert_eq!(
            f("%d %u %x", [u64::MAX, u64::MAX, u64::MAX]),
            Ok("-1 4294967295 ffffffff".into())
        );
        assert_eq!(
            f("%ld %lu %llx", [u64::MAX, u64::MAX, u64::MAX]),
            Ok("-1 18446744073709551615 ffffffffffffffff".into())
        );
        assert_eq!(
            f("[%5d|%-4d|%05d]", [42, 7, (-42i64) as u64]),
            Ok("[   42|7   |-0042]".into())
        );
        assert_eq!(f("%05d", [(-42i64) as u64, 0, 0]), Ok("-0042".into()));
        assert_eq!(f("%+d % d %X", [5, 5, 0xab]), Ok("+5  5 AB".into()));
        assert_eq!(f("100%%", [0; 3]), Ok("100%".into()));
    }

    #[test]
    fn strings_pointers_and_chars() {
        assert_eq!(f("dev %s!", [0x1000, 0, 0]), Ok("dev eth0!".into()));
        // A bad pointer prints as an empty string, as the kernel's does.
        assert_eq!(f("dev %s!", [0xdead, 0, 0]), Ok("dev !".into()));
        assert_eq!(
            f("%p %px %pK", [0xffff_8880_0000_1000, 1, 2]),
            Ok("ffff888000001000 0000000000000001 0000000000000002".into())
        );
        assert_eq!(f("%c%c", [b'o' as u64, b'k' as u64, 0]), Ok("ok".into()));
    }

    #[test]
    fn widths_and_output_are_bounded() {
        assert_eq!(f("%99999x", [1, 0, 0]).map(|s| s.len()), Ok(MAX_OUTPUT));
        let huge = f("%99999999999999999999999x", [1, 0, 0]);
        assert_eq!(huge.map(|s| s.len()), Ok(MAX_OUTPUT));
        assert_eq!(
            f("%1000d%1000d", [1, 2, 0]).map(|s| s.len()),
            Ok(MAX_OUTPUT)
        );
    }

    #[test]
    fn malformed_formats_are_einval() {
        assert_eq!(f("%d %d %d %d", [0; 3]), Err(EINVAL));
        assert_eq!(f("%q", [0; 3]), Err(EINVAL));
        assert_eq!(f("%pI4", [0; 3]), Err(EINVAL));
        assert_eq!(f("trailing %", [0; 3]), Err(EINVAL));
        assert_eq!(format(b"no nul", [0; 3], &mut |_| None), Err(EINVAL));
        assert_eq!(format(b"bad \x01\0", [0; 3], &mut |_| None), Err(EINVAL));
    }
}
