//! The verifier log: a bounded list of lines that follows the path being explored.
//!
//! In *path* mode, returning to a pending branch cuts the log back to where that branch was
//! pushed, so at any moment the log holds exactly the current path (the kernel's level-1 log).
//! In *all* mode every processed instruction stays. Either way only the last `limit` bytes
//! are kept, with a note saying how many earlier lines were dropped.

use std::collections::VecDeque;

/// How much the verifier records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogLevel {
    /// Nothing.
    None,
    /// The failing path, when verification fails (the walk is repeated with logging on).
    #[default]
    Failure,
    /// Every processed instruction, success or not.
    All,
}

#[derive(Debug)]
pub(crate) struct PathLog {
    lines: VecDeque<String>,
    /// Absolute index of `lines[0]`.
    base: usize,
    bytes: usize,
    limit: usize,
    follow_path: bool,
}

impl PathLog {
    pub fn new(limit: usize, follow_path: bool) -> Self {
        PathLog {
            lines: VecDeque::new(),
            base: 0,
            bytes: 0,
            limit: limit.max(1),
            follow_path,
        }
    }

    /// A position to come back to.
    pub fn mark(&self) -> usize {
        self.base + self.lines.len()
    }

    /// Cuts back to `mark` (path mode only).
    pub fn rewind(&mut self, mark: usize) {
        if !self.follow_path {
            return;
        }
        if mark >= self.base {
            while self.base + self.lines.len() > mark {
                if let Some(l) = self.lines.pop_back() {
                    self.bytes -= l.len() + 1;
                }
            }
        } else {
            self.lines.clear();
            self.bytes = 0;
            self.base = mark;
        }
    }

    pub fn push(&mut self, line: String) {
        self.bytes += line.len() + 1;
        self.lines.push_back(line);
        while self.bytes > self.limit && self.lines.len() > 1 {
            if let Some(l) = self.lines.pop_front() {
                self.bytes -= l.len() + 1;
                self.base += 1;
            }
        }
    }

    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.bytes + 64);
        if self.base > 0 {
            out.push_str(&format!("... {} earlier lines dropped ...\n", self.base));
        }
        for l in &self.lines {
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewinds_to_the_branch_and_stays_bounded() {
        let mut log = PathLog::new(30, true);
        log.push("0: a".into());
        let m = log.mark();
        log.push("1: b".into());
        log.rewind(m);
        log.push("2: c".into());
        assert_eq!(log.text(), "0: a\n2: c\n");
        for i in 0..20 {
            log.push(format!("{i}: xxxx"));
        }
        let t = log.text();
        assert!(t.starts_with("... ") && t.ends_with("19: xxxx\n"), "{t}");
        assert!(t.len() < 80);
    }
}
