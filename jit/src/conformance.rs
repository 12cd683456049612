//! The `.data` test format of bpf_conformance and uBPF, and the helpers those suites expect.
//!
//! A file has sections introduced by `-- NAME` lines: `asm` (our assembler's syntax), `raw`
//! (bytes such as `b7 00 ..` or 64-bit words such as `0x00000000000000b7`), `mem` (hex bytes
//! given to the program in r1, length in r2), `result` (expected r0), `error` /
//! `error pattern` (expected failure). `-- asm @ FILE` and `-- mem @ FILE` read a sibling file.

use crate::helpers::{Arg, HelperCx, HelperImpl, Helpers, Proto, Ret};
use std::path::Path;

/// One parsed test file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestCase {
    pub asm: Option<String>,
    pub raw: Option<Vec<u8>>,
    pub mem: Vec<u8>,
    pub result: Option<u64>,
    pub error: Option<String>,
    /// The suite says the JIT need not pass this test (uBPF runtime checks).
    pub no_jit: bool,
}

/// Why a test file could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn hex_bytes(text: &str) -> Result<Vec<u8>, ParseError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        // tcpdump-style dumps: "0x0010:  0040 a8de ..."
        let line = match line.find(':') {
            Some(i) if line.starts_with("0x") => &line[i + 1..],
            _ => line,
        };
        for tok in line.split_whitespace() {
            if let Some(h) = tok.strip_prefix("0x") {
                // A little-endian 64-bit instruction word.
                let w = u64::from_str_radix(h, 16)
                    .map_err(|_| ParseError(format!("bad word '{tok}'")))?;
                out.extend_from_slice(&w.to_le_bytes());
            } else {
                if tok.len() % 2 != 0 || !tok.is_ascii() {
                    return Err(ParseError(format!("bad hex '{tok}'")));
                }
                for i in (0..tok.len()).step_by(2) {
                    out.push(
                        u8::from_str_radix(&tok[i..i + 2], 16)
                            .map_err(|_| ParseError(format!("bad hex '{tok}'")))?,
                    );
                }
            }
        }
    }
    Ok(out)
}

/// Parses a test file's text; `dir` resolves `@ FILE` references.
pub fn parse(text: &str, dir: Option<&Path>) -> Result<TestCase, ParseError> {
    let mut tc = TestCase::default();
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("-- ") {
            sections.push((name.trim().to_string(), String::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    let read_ref = |name: &str| -> Result<Option<String>, ParseError> {
        match name.split_once('@') {
            Some((_, file)) => {
                let dir =
                    dir.ok_or_else(|| ParseError("file reference without a directory".into()))?;
                std::fs::read_to_string(dir.join(file.trim()))
                    .map(Some)
                    .map_err(|e| ParseError(format!("{}: {e}", file.trim())))
            }
            None => Ok(None),
        }
    };
    for (name, body) in sections {
        let key = name.split('@').next().unwrap_or("").trim();
        match key {
            "asm" => tc.asm = Some(read_ref(&name)?.unwrap_or(body)),
            "raw" => tc.raw = Some(hex_bytes(&body)?),
            "mem" => tc.mem = hex_bytes(&read_ref(&name)?.unwrap_or(body))?,
            "result" => {
                let t = body.trim();
                let v = t.strip_prefix("0x").map_or_else(
                    || t.parse::<u64>().ok(),
                    |h| u64::from_str_radix(h, 16).ok(),
                );
                tc.result = Some(v.ok_or_else(|| ParseError(format!("bad result '{t}'")))?);
            }
            "error" | "error pattern" => tc.error = Some(body.trim().to_string()),
            "no jit" => tc.no_jit = true,
            "c" | "description" | "no register offset" | "reload" | "unload" => {}
            other => return Err(ParseError(format!("unknown directive '-- {other}'"))),
        }
    }
    Ok(tc)
}

/// uBPF's test helpers, the environment the suites assume: 0 gather_bytes, 1 memfrob,
/// 2 no_op, 3 sqrti, 4 strcmp_ext, 5 unwind (returning 0 stops the program with r0 = 0).
pub fn suite_helpers() -> Helpers<()> {
    struct Gather;
    impl HelperImpl<()> for Gather {
        fn call(_: &mut HelperCx<'_, '_, ()>, a: [u64; 5]) -> u64 {
            ((a[0] & 0xff) << 32)
                | ((a[1] & 0xff) << 24)
                | ((a[2] & 0xff) << 16)
                | ((a[3] & 0xff) << 8)
                | (a[4] & 0xff)
        }
    }
    struct Memfrob;
    impl HelperImpl<()> for Memfrob {
        fn call(cx: &mut HelperCx<'_, '_, ()>, a: [u64; 5]) -> u64 {
            let mut buf = vec![0u8; a[1].min(1 << 20) as usize];
            if cx.read(a[0], &mut buf).is_err() {
                cx.fail("memfrob: bad pointer");
                return 0;
            }
            buf.iter_mut().for_each(|b| *b ^= 42);
            if cx.write(a[0], &buf).is_err() {
                cx.fail("memfrob: bad pointer");
            }
            0
        }
    }
    struct NoOp;
    impl HelperImpl<()> for NoOp {
        fn call(_: &mut HelperCx<'_, '_, ()>, _: [u64; 5]) -> u64 {
            0
        }
    }
    struct Sqrti;
    impl HelperImpl<()> for Sqrti {
        fn call(_: &mut HelperCx<'_, '_, ()>, a: [u64; 5]) -> u64 {
            (a[0] as f64).sqrt() as u64
        }
    }
    struct Strcmp;
    impl HelperImpl<()> for Strcmp {
        fn call(cx: &mut HelperCx<'_, '_, ()>, a: [u64; 5]) -> u64 {
            match (cx.read_cstr(a[0], 4096), cx.read_cstr(a[1], 4096)) {
                (Ok(x), Ok(y)) => match x.cmp(&y) {
                    std::cmp::Ordering::Less => -1i64 as u64,
                    std::cmp::Ordering::Equal => 0,
                    std::cmp::Ordering::Greater => 1,
                },
                _ => {
                    cx.fail("strcmp_ext: bad pointer");
                    0
                }
            }
        }
    }
    struct Unwind;
    impl HelperImpl<()> for Unwind {
        fn call(cx: &mut HelperCx<'_, '_, ()>, a: [u64; 5]) -> u64 {
            if a[0] == 0 {
                cx.exit_program(0);
            }
            a[0]
        }
    }
    let mut h = Helpers::new();
    let any5 = [Arg::Anything; 5];
    h.register::<Gather>(0, Proto::new("gather_bytes", any5, Ret::Integer))
        .register::<Memfrob>(
            1,
            Proto::new("memfrob", [Arg::MemWrite, Arg::Size], Ret::Integer).may_abort(),
        )
        .register::<NoOp>(2, Proto::new("no_op", [], Ret::Integer))
        .register::<Sqrti>(3, Proto::new("sqrti", [Arg::Scalar], Ret::Integer))
        .register::<Strcmp>(
            4,
            Proto::new("strcmp_ext", [Arg::Anything, Arg::Anything], Ret::Integer).may_abort(),
        )
        .register::<Unwind>(
            5,
            Proto::new("unwind", [Arg::Scalar], Ret::Integer).may_abort(),
        );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_and_both_raw_forms() {
        let tc = parse(
            "# c\n-- asm\nmov %r0, 1\nexit\n-- mem\n00 01\n-- result\n0x1\n",
            None,
        )
        .expect("ok");
        assert_eq!(tc.asm.as_deref(), Some("mov %r0, 1\nexit\n"));
        assert_eq!(tc.mem, vec![0, 1]);
        assert_eq!(tc.result, Some(1));
        let tc = parse(
            "-- raw\n0x0000000000000095\n95 00 00 00 00 00 00 00\n-- error\n",
            None,
        )
        .expect("ok");
        assert_eq!(tc.raw.map(|r| r.len()), Some(16));
        assert!(parse("-- asm\n-- Unknown directive\n", None).is_err());
    }
}
