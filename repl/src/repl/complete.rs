//! Line editing for the interactive front end (rustyline): tab completion, hints from
//! history, multi-line blocks and a coloured prompt.
//!
//! Completion follows the command table's argument kinds: command names, guest symbols (a
//! binary-searched prefix range, so tens of thousands cost nothing), type names, struct
//! members after `.` and `->` (the expression before them is typed statically, without
//! touching guest memory), registers after `$`, attach points (`tracepoint:` and its events,
//! `fentry:` and functions...), file paths, snapshot and map names.

use super::commands::{lookup, ArgKind, COMMANDS};
use super::expr::{self, shape, Evaluator, Shape};
use super::session::Shared;
use probes::image::GuestImage;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};
use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

/// Most candidates offered at once.
const MAX_CANDIDATES: usize = 2000;

/// The rustyline helper.
pub struct ReplHelper {
    image: Rc<GuestImage>,
    shared: Rc<RefCell<Shared>>,
    files: FilenameCompleter,
    hinter: HistoryHinter,
    colour: bool,
}

impl std::fmt::Debug for ReplHelper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplHelper").finish()
    }
}

impl ReplHelper {
    pub fn new(image: Rc<GuestImage>, shared: Rc<RefCell<Shared>>, colour: bool) -> Self {
        ReplHelper {
            image,
            shared,
            files: FilenameCompleter::new(),
            hinter: HistoryHinter::new(),
            colour,
        }
    }
}

/// Whether a command's text opens more `{` than it closes (an inline program goes on).
pub fn needs_more(text: &str) -> bool {
    let mut depth = 0i64;
    for line in text.lines() {
        let code = line.split('#').next().unwrap_or("");
        depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
    }
    depth > 0
}

fn pairs(cands: impl IntoIterator<Item = String>) -> Vec<Pair> {
    cands
        .into_iter()
        .take(MAX_CANDIDATES)
        .map(|c| Pair {
            display: c.clone(),
            replacement: c,
        })
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '@'
}

/// The start of the postfix chain that ends at byte `end` of `s`: identifiers, `$reg`,
/// balanced `(...)` and `[...]`, `.` and `->`.
fn chain_start(s: &str, end: usize) -> usize {
    let b = s.as_bytes();
    let mut i = end;
    while i > 0 {
        let c = char::from(b[i - 1]);
        if is_ident(c) || c == '$' || c == '.' {
            i -= 1;
        } else if c == '>' && i >= 2 && b[i - 2] == b'-' {
            i -= 2;
        } else if c == ')' || c == ']' {
            let (open, close) = if c == ')' { (b'(', b')') } else { (b'[', b']') };
            let mut depth = 0;
            let mut j = i;
            while j > 0 {
                j -= 1;
                if b[j] == close {
                    depth += 1;
                } else if b[j] == open {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
            if depth != 0 {
                return i;
            }
            i = j;
        } else {
            break;
        }
    }
    i
}

impl ReplHelper {
    fn symbols(&self, prefix: &str, text_only: bool) -> Vec<String> {
        self.image
            .symbols()
            .prefix(prefix)
            .filter(|s| !text_only || s.kind.is_text())
            .map(|s| s.unique_name.clone())
            .take(MAX_CANDIDATES)
            .collect()
    }

    /// Struct members for `expr.` / `expr->`: the candidates for `partial`.
    fn members(&self, base: &str, arrow: bool, partial: &str) -> Vec<String> {
        let regs = emu::Regs::default();
        let ev = Evaluator {
            image: &self.image,
            regs: &regs,
            mem: None,
        };
        let Ok(v) = ev.eval_str(base) else {
            return Vec::new();
        };
        let mut ty = v.ty;
        if let Ok(Shape::Ptr(t)) = shape(&self.image, &ty) {
            ty = t;
        } else if arrow {
            return Vec::new();
        }
        let id = match shape(&self.image, &ty) {
            Ok(Shape::Struct(id) | Shape::Union(id)) => id,
            _ => return Vec::new(),
        };
        expr::member_names(&self.image, id)
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.starts_with(partial))
            .collect()
    }

    /// Attach points that start with `word`: the kinds and bare symbols; after a function
    /// kind its symbols; after any other kind what `bpflab list` lists for it.
    fn points(&self, word: &str) -> Vec<String> {
        const FUNCTION_KINDS: [&str; 6] = [
            "kprobe:",
            "kretprobe:",
            "fentry:",
            "fexit:",
            "kfunc:",
            "kretfunc:",
        ];
        if let Some(kind) = FUNCTION_KINDS.iter().find(|k| word.starts_with(**k)) {
            return self
                .symbols(&word[kind.len()..], true)
                .into_iter()
                .map(|s| format!("{kind}{s}"))
                .collect();
        }
        for kind in ["ksyscall:", "kretsyscall:"] {
            if let Some(rest) = word.strip_prefix(kind) {
                return self
                    .symbols(&format!("__x64_sys_{rest}"), true)
                    .into_iter()
                    .filter_map(|s| Some(format!("{kind}{}", s.strip_prefix("__x64_sys_")?)))
                    .collect();
            }
        }
        // Timers take any number: complete the unit.
        for kind in ["profile:", "interval:"] {
            if word.starts_with(kind) {
                return ["hz:", "s:", "ms:", "us:"]
                    .iter()
                    .map(|u| format!("{kind}{u}"))
                    .filter(|c| c.starts_with(word))
                    .collect();
            }
        }
        if word.contains(':') {
            return probes::listing::list(&self.image, Some(&format!("{word}*")), false)
                .map(|v| v.into_iter().map(|p| p.spec).take(MAX_CANDIDATES).collect())
                .unwrap_or_default();
        }
        let mut v: Vec<String> = probes::listing::KINDS
            .iter()
            .map(|k| format!("{k}:"))
            .chain(["ksyscall:".to_string(), "kretsyscall:".to_string()])
            .filter(|k| k.starts_with(word))
            .collect();
        v.sort();
        v.extend(self.symbols(word, true));
        v
    }

    fn types(&self, prefix: &str) -> Vec<String> {
        self.image
            .types()
            .ok()
            .and_then(|db| db.type_names_with_prefix(prefix).ok())
            .unwrap_or_default()
    }

    fn complete_expr(&self, line: &str, pos: usize) -> (usize, Vec<Pair>) {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| !(is_ident(c) || c == '$'))
            .map_or(0, |i| i + 1);
        let tok = &before[start..];
        let head = &before[..start];
        if let Some(reg) = tok.strip_prefix('$') {
            let regs = expr::register_names()
                .filter(|r| r.starts_with(reg))
                .map(|r| format!("${r}"));
            return (start, pairs(regs));
        }
        for (op, arrow) in [("->", true), (".", false)] {
            if let Some(h) = head.strip_suffix(op) {
                let from = chain_start(h, h.len());
                let base = &h[from..];
                return (start, pairs(self.members(base, arrow, tok)));
            }
        }
        for kw in ["struct ", "union ", "enum "] {
            if head.ends_with(kw) {
                let names = self.types(&format!("{kw}{tok}"));
                return (
                    start,
                    pairs(names.into_iter().map(|n| n[kw.len()..].to_string())),
                );
            }
        }
        let mut cands = self.symbols(tok, false);
        if head.trim_end().ends_with('(') {
            cands.extend(self.types(tok));
        }
        (start, pairs(cands))
    }

    fn complete_arg(
        &self,
        kind: ArgKind,
        line: &str,
        pos: usize,
        word_start: usize,
        arg_start: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let word = &line[word_start..pos];
        let shared = self.shared.borrow();
        let filter =
            |v: Vec<String>| -> Vec<Pair> { pairs(v.into_iter().filter(|c| c.starts_with(word))) };
        Ok(match kind {
            ArgKind::Text => (pos, Vec::new()),
            ArgKind::Command => (
                word_start,
                filter(COMMANDS.iter().map(|c| c.name.to_string()).collect()),
            ),
            ArgKind::Symbol => {
                let (skip, rest) = ["kprobe:", "kretprobe:"]
                    .iter()
                    .find_map(|p| word.strip_prefix(p).map(|r| (p.len(), r)))
                    .unwrap_or((0, word));
                (word_start + skip, pairs(self.symbols(rest, false)))
            }
            ArgKind::Point => (word_start, pairs(self.points(word))),
            ArgKind::Expr => self.complete_expr(line, pos),
            ArgKind::Type => {
                let arg = &line[arg_start..pos];
                let mut v = self.types(arg);
                if !arg.contains(' ') {
                    v.extend(self.symbols(arg, false));
                }
                // Replace the whole argument (type names have spaces).
                (arg_start, pairs(v))
            }
            ArgKind::File => return self.files.complete(line, pos, ctx),
            ArgKind::Snapshot => (word_start, filter(shared.snapshots.clone())),
            ArgKind::Map => (word_start, filter(shared.maps.clone())),
            ArgKind::Probe => {
                let mut v: Vec<String> = shared.probes.iter().map(u32::to_string).collect();
                v.push("all".into());
                (word_start, filter(v))
            }
            ArgKind::Breakpoint => (
                word_start,
                filter(shared.breakpoints.iter().map(u32::to_string).collect()),
            ),
        })
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        if before.contains('\n') || before.contains('{') {
            return Ok((pos, Vec::new())); // inside an inline program
        }
        let lead = before.len() - before.trim_start().len();
        let cmd_end = before[lead..]
            .find(|c: char| c.is_whitespace() || c == '/')
            .map(|i| i + lead);
        let Some(cmd_end) = cmd_end else {
            let word = &before[lead..];
            let mut names: Vec<String> = COMMANDS
                .iter()
                .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
                .filter(|n| n.starts_with(word) && !n.contains(' '))
                .map(str::to_string)
                .collect();
            names.sort();
            names.dedup();
            return Ok((lead, pairs(names)));
        };
        let Ok(cmd) = lookup(&before[lead..cmd_end]) else {
            return Ok((pos, Vec::new()));
        };
        // Skip a /FMT suffix.
        let mut arg_start = cmd_end;
        if before[arg_start..].starts_with('/') {
            arg_start = before[arg_start..]
                .find(char::is_whitespace)
                .map_or(pos, |i| arg_start + i);
        }
        let args_text = &before[arg_start..];
        let arg_start = arg_start + (args_text.len() - args_text.trim_start().len());
        let word_start = before
            .rfind(char::is_whitespace)
            .map_or(0, |i| i + 1)
            .max(arg_start);
        let index = before[arg_start..word_start].split_whitespace().count();
        let Some(&kind) = cmd.args.get(index).or(cmd.args.last()) else {
            return Ok((pos, Vec::new()));
        };
        let kind = if cmd.args.first() == Some(&ArgKind::Expr) {
            ArgKind::Expr // expressions may contain spaces
        } else if cmd.args.first() == Some(&ArgKind::Type) {
            // `ptype` takes a type or an expression.
            if before[arg_start..].contains(['.', '>', '(', '$', '*', '&']) {
                ArgKind::Expr
            } else {
                ArgKind::Type
            }
        } else {
            kind
        };
        self.complete_arg(kind, line, pos, word_start, arg_start, ctx)
    }
}

impl Hinter for ReplHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, ctx: &Context<'_>) -> Option<String> {
        self.hinter.hint(line, pos, ctx)
    }
}

impl Highlighter for ReplHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        if self.colour {
            Cow::Owned(format!("\x1b[1;34m{prompt}\x1b[0m"))
        } else {
            Cow::Borrowed(prompt)
        }
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.colour {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        false
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if needs_more(ctx.input()) {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_chains() {
        assert!(needs_more("attach x {"));
        assert!(needs_more("attach x {\nmov %r0, 1\n"));
        assert!(!needs_more("attach x {\nmov %r0, 1\n}"));
        assert!(!needs_more("attach x {} # {"));
        let s = "print ((struct sk_buff *)$rdi)->dev";
        let end = s.len() - "->dev".len();
        assert_eq!(&s[chain_start(s, end)..end], "((struct sk_buff *)$rdi)");
        let s = "print init_task.se";
        assert_eq!(&s[chain_start(s, s.len() - 3)..s.len() - 3], "init_task");
    }

    #[test]
    fn attach_points_complete_by_kind() {
        let (name, elf) = crate::images::read_image("teaching").expect("embedded image");
        let image = Rc::new(GuestImage::new(&name, elf).expect("image"));
        let h = ReplHelper::new(image, Rc::default(), false);
        let kinds = h.points("tr");
        assert_eq!(
            kinds,
            ["tracepoint:"],
            "a kind, then no symbol starts with tr"
        );
        assert!(h
            .points("f")
            .starts_with(&["fentry:".into(), "fexit:".into()]));
        assert_eq!(h.points("kprobe:dst_disc"), ["kprobe:dst_discard"]);
        assert_eq!(h.points("fexit:dst_disc"), ["fexit:dst_discard"]);
        assert_eq!(h.points("profile:m"), ["profile:ms:"]);
        assert_eq!(h.points("interval:").len(), 4);
        assert!(h.points("dst_disc").contains(&"dst_discard".to_string()));
        let sys = h.points("ksyscall:");
        assert!(
            !sys.is_empty() && sys.iter().all(|s| !s.contains("__x64_sys_")),
            "{sys:?}"
        );
    }
}
