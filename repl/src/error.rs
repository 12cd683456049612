//! The CLI's error: what failed on which input, with the cause kept as the error's source
//! chain (`bpflab: FILE: cannot read: Is a directory`). `main` prints the chain on one line,
//! or, under `--json`, as a JSON line ([`CliError::to_json`]).
//!
//! Messages built before this type existed are carried as [`CliError::Message`]; new code
//! should name the input and keep the cause as a source.

use std::error::Error as StdError;
use std::path::PathBuf;

/// A boxed cause.
pub type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// An error of a `bpflab` subcommand.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A complete message (names its input and the problem).
    #[error("{0}")]
    Message(String),
    /// A file could not be read.
    #[error("{}: cannot read", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file's contents are wrong: `input` (a path or an image name), then the cause.
    #[error("{input}")]
    Input {
        /// The file or image.
        input: String,
        /// What is wrong with it.
        #[source]
        source: Cause,
    },
    /// A file is shorter than its own headers say.
    #[error(
        "{input}: truncated: its ELF headers describe {needed} bytes but the file has {len} \
         (was it copied or built completely?)"
    )]
    Truncated {
        /// The file or image.
        input: String,
        /// The end of the furthest header table.
        needed: u64,
        /// The file's length.
        len: u64,
    },
}

impl From<String> for CliError {
    fn from(m: String) -> Self {
        CliError::Message(m)
    }
}

impl CliError {
    /// `input` with `source` as the cause.
    pub fn input(input: impl Into<String>, source: impl Into<Cause>) -> Self {
        CliError::Input {
            input: input.into(),
            source: source.into(),
        }
    }

    /// The causes, outermost first (not including this error's own message). A cause whose
    /// text its effect's message already shows (`{path}: {source}`) is left out.
    pub fn causes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut shown = self.to_string();
        let mut next = self.source();
        while let Some(e) = next {
            let text = e.to_string();
            if !shown.contains(&text) {
                out.push(text.clone());
            }
            shown = text;
            next = e.source();
        }
        out
    }

    /// The whole chain on one line: `message: cause: cause`.
    pub fn chain(&self) -> String {
        std::iter::once(self.to_string())
            .chain(self.causes())
            .collect::<Vec<_>>()
            .join(": ")
    }

    /// The error as a versioned JSON document (one line).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "type": "error",
            "version": probes::events::JSON_VERSION,
            "message": self.to_string(),
            "cause": self.causes(),
        })
        .to_string()
    }
}

/// If `bytes` is an ELF file whose program or section header table ends past the end of the
/// file, says so in words (a parser would only report the offset it could not read).
pub fn elf_truncation(input: &str, bytes: &[u8]) -> Option<CliError> {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return None;
    }
    let u16_at = |o: usize| u64::from(u16::from_le_bytes([bytes[o], bytes[o + 1]]));
    let u64_at = |o: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[o..o + 8]);
        u64::from_le_bytes(w)
    };
    let table_end = |off: u64, size: u64, n: u64| off.saturating_add(size.saturating_mul(n));
    let needed = table_end(u64_at(0x20), u16_at(0x36), u16_at(0x38)).max(table_end(
        u64_at(0x28),
        u16_at(0x3a),
        u16_at(0x3c),
    ));
    let len = bytes.len() as u64;
    (needed > len).then(|| CliError::Truncated {
        input: input.to_string(),
        needed,
        len,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_the_input_once() {
        let e = CliError::Read {
            path: "adir".into(),
            source: std::io::Error::from_raw_os_error(21),
        };
        assert_eq!(e.chain(), "adir: cannot read: Is a directory (os error 21)");
        let j: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(j["type"], "error");
        assert_eq!(j["version"], probes::events::JSON_VERSION);
        assert_eq!(j["cause"][0], "Is a directory (os error 21)");
    }

    #[test]
    fn truncated_elf_is_said_in_words() {
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x28..0x30].copy_from_slice(&1000u64.to_le_bytes());
        elf[0x3a] = 64;
        elf[0x3c] = 2;
        let e = elf_truncation("k.elf", &elf).unwrap();
        assert_eq!(
            e.to_string(),
            "k.elf: truncated: its ELF headers describe 1128 bytes but the file has 64 \
             (was it copied or built completely?)"
        );
        elf.resize(1128, 0);
        assert!(elf_truncation("k.elf", &elf).is_none());
        assert!(elf_truncation("x", b"not an elf").is_none());
    }
}
