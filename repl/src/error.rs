//! The CLI's error: what failed on which input, with the cause kept as the error's source
//! chain (`bpflab: FILE: cannot read: Is a directory`). `main` prints the chain on one line,
//! or, under `--json`, as a JSON line ([`CliError::to_json`]).
//!
//! Messages built before this type existed are carried as [`CliError::Message`]; new code
//! should name the input and keep the cause as a source.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};

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
    /// A file's contents are wrong: `input` (a path, an image name, an attach point, or what
    /// was being done with one), then the cause. A cause that already names the input (has
    /// it as a word: `{path}: ...`, `unknown symbol 'x'`) is the whole message, so that the
    /// input is named once.
    #[error("{}", input_message(.input, .source))]
    Input {
        /// The file, image or point.
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

/// The message of [`CliError::Input`]: the cause's text when it names `input` itself, else
/// `input` (the cause follows in the chain).
fn input_message(input: &str, source: &Cause) -> String {
    let text = source.to_string();
    if names(&text, input) {
        text
    } else {
        input.to_string()
    }
}

/// Whether `text` names `name`: has it as a whole word (`k.s: ...`, `'nosuch'`, not inside
/// `k.s2` or `/x/k.s`).
fn names(text: &str, name: &str) -> bool {
    let part_of_a_name = |c: char| c.is_alphanumeric() || "_./-".contains(c);
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(part_of_a_name) && !after.is_some_and(part_of_a_name)
    })
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

    /// The file `path` with `source` as the cause (`{path}: {source}`).
    pub fn path(path: &Path, source: impl Into<Cause>) -> Self {
        Self::input(path.display().to_string(), source)
    }

    /// The causes, outermost first (not including this error's own message). A cause whose
    /// text its effect's message already shows (`{path}: {source}`) is left out.
    pub fn causes(&self) -> Vec<String> {
        causes_of(self)
    }

    /// The whole chain on one line: `message: cause: cause`.
    pub fn chain(&self) -> String {
        chain_of(self)
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

/// The causes of `e`, outermost first, without those whose text is already shown (by the
/// message or a cause before them: `{path}: {source}`, `{source} ({note})`).
fn causes_of(e: &(dyn StdError + 'static)) -> Vec<String> {
    let message = e.to_string();
    let mut out: Vec<String> = Vec::new();
    let mut next = e.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !message.contains(&text) && !out.iter().any(|shown| shown.contains(&text)) {
            out.push(text);
        }
        next = e.source();
    }
    out
}

/// `e` and its causes on one line: `message: cause: cause`.
fn chain_of(e: &(dyn StdError + 'static)) -> String {
    std::iter::once(e.to_string())
        .chain(causes_of(e))
        .collect::<Vec<_>>()
        .join(": ")
}

/// A cause followed by a note on how the input was taken: `{cause} ({note})`, the cause (and
/// its chain) kept as the source.
#[derive(Debug, thiserror::Error)]
#[error("{} ({note})", chain_of(.source.as_ref()))]
pub struct Noted {
    source: Cause,
    note: String,
}

impl Noted {
    /// `source`, then `(note)`.
    pub fn new(source: impl Into<Cause>, note: impl Into<String>) -> Self {
        Noted {
            source: source.into(),
            note: note.into(),
        }
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
    fn a_library_error_keeps_its_source_chain_and_names_the_file_once() {
        let path = std::path::Path::new("/no/such/dir/filter.c");
        let load = probes::load::load_file(path, &probes::load::LoadOptions::default())
            .err()
            .unwrap();
        let flat = load.to_string();
        let e = CliError::path(path, load);
        // The cause is kept: the loader's error, then the OS error under it.
        let cause = e.source().unwrap();
        assert!(cause.downcast_ref::<probes::load::LoadError>().is_some());
        let io = cause.source().unwrap();
        assert!(io.downcast_ref::<std::io::Error>().is_some());
        // The line is the one `map_err(|e| e.to_string())` printed, naming the file once.
        assert_eq!(e.chain(), flat);
        assert_eq!(e.chain().matches("/no/such/dir/filter.c").count(), 1);
        assert!(
            e.chain()
                .ends_with("No such file or directory (os error 2)"),
            "{e:?}"
        );
        let j: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(j["message"], flat);
        assert_eq!(j["cause"], serde_json::json!([]));
    }

    #[test]
    fn a_cause_that_does_not_name_the_input_follows_it() {
        let e = CliError::input("k.s", std::io::Error::from_raw_os_error(21));
        assert_eq!(e.to_string(), "k.s");
        assert_eq!(e.chain(), "k.s: Is a directory (os error 21)");
        // Quoting the input is naming it.
        let e = CliError::input(
            "nosuch",
            CliError::Message("unknown symbol 'nosuch'".into()),
        );
        assert_eq!(e.chain(), "unknown symbol 'nosuch'");
        let e = CliError::input("f+0x3", CliError::Message("f+0x3 is not an insn".into()));
        assert_eq!(e.chain(), "f+0x3 is not an insn");
        // Part of a longer name is not the name.
        let e = CliError::input("k", CliError::Message("k.s: bad".into()));
        assert_eq!(e.chain(), "k: k.s: bad");
        let e = CliError::input("k.s", CliError::Message("/x/k.s: bad".into()));
        assert_eq!(e.chain(), "k.s: /x/k.s: bad");
    }

    #[test]
    fn a_note_follows_the_whole_cause_and_keeps_it() {
        let read = CliError::Read {
            path: "old.elf".into(),
            source: std::io::Error::from_raw_os_error(2),
        };
        let e = CliError::input("old.elf", Noted::new(read, "recorded with it"));
        assert_eq!(
            e.chain(),
            "old.elf: cannot read: No such file or directory (os error 2) (recorded with it)"
        );
        let noted = e.source().unwrap();
        let read = noted.source().unwrap();
        assert!(read.downcast_ref::<CliError>().is_some());
        assert!(read.source().is_some());
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
