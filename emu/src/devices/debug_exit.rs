//! The teaching kernel's exit port (0xf4, QEMU `isa-debug-exit` compatible address): a write of
//! V stops the machine with exit code V.

use serde::{Deserialize, Serialize};

/// The exit port.
pub const PORT: u16 = 0xf4;

/// Exit-port state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DebugExit {
    code: Option<u32>,
}

impl DebugExit {
    /// Guest write of `value` (any width).
    pub fn write(&mut self, value: u32) {
        self.code = Some(value);
    }

    /// Take the exit code if the guest wrote one.
    pub fn take_exit(&mut self) -> Option<u32> {
        self.code.take()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn write_sets_exit_code() {
        let mut d = super::DebugExit::default();
        assert_eq!(d.take_exit(), None);
        d.write(3);
        assert_eq!(d.take_exit(), Some(3));
        assert_eq!(d.take_exit(), None);
    }
}
