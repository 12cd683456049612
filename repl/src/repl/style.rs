//! Colours for a terminal, nothing otherwise: every piece of output goes through a [`Style`]
//! so batch output (and golden files) stay plain text.

/// ANSI colouring, on or off.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    enabled: bool,
}

const RESET: &str = "\x1b[0m";

impl Style {
    pub fn new(enabled: bool) -> Self {
        Style { enabled }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.enabled {
            format!("\x1b[{code}m{s}{RESET}")
        } else {
            s.to_string()
        }
    }

    /// Errors.
    pub fn error(&self, s: &str) -> String {
        self.paint("1;31", s)
    }

    /// Warnings.
    pub fn warn(&self, s: &str) -> String {
        self.paint("33", s)
    }

    /// Type names.
    pub fn ty(&self, s: &str) -> String {
        self.paint("32", s)
    }

    /// Symbols and functions.
    pub fn sym(&self, s: &str) -> String {
        self.paint("33", s)
    }

    /// Addresses.
    pub fn addr(&self, s: &str) -> String {
        self.paint("34", s)
    }

    /// Headings and stop messages.
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }

    /// Less important text (source locations, hints).
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}
