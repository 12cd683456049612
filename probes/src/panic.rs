//! Kernel panics, noticed when they happen.
//!
//! A panicking Linux prints `Kernel panic - not syncing: MESSAGE` and then spins in `panic()`
//! forever (with `panic=0`, the default): to the machine that is a guest that keeps running
//! until its budget, which is how a panic used to look in bpflab ("virtual-time budget
//! reached"). A [`PanicWatch`] puts a code hook on the image's `panic` function: the hook
//! notes the format string `panic()` was called with (`%rdi`, read with fault suppression)
//! and stops the guest. [`PanicWatch::settle`] then lets the guest run a little longer (a
//! bounded slice of virtual time, so the report is deterministic) for the message to reach
//! the console, and [`PanicWatch::message`] says what the kernel said.
//!
//! The hook only reads: like every probe it leaves the guest's run unchanged up to the stop.

use crate::guest::GuestView;
use crate::image::GuestImage;
use emu::{Limits, Machine, StopReason};
use std::cell::RefCell;
use std::rc::Rc;

/// The console line a panicking Linux prints first.
const LINUX_BANNER: &str = "Kernel panic - not syncing: ";

/// How long a panicked guest runs on so that its message reaches the console (virtual time;
/// Linux prints the banner, a stack dump and `---[ end Kernel panic`, all well within this).
pub const SETTLE: std::time::Duration = std::time::Duration::from_millis(50);

/// A hook on `panic` that stops the guest when the kernel panics.
#[derive(Debug)]
pub struct PanicWatch {
    hit: Rc<RefCell<Option<String>>>,
}

impl PanicWatch {
    /// Watches `machine` for a call of the image's `panic` function; `None` when the image
    /// has no function of that name.
    pub fn install(machine: &mut Machine, image: &GuestImage) -> Option<PanicWatch> {
        let sym = image.symbols().lookup("panic")?;
        if !sym.kind.is_text() {
            return None;
        }
        let hit = Rc::new(RefCell::new(None));
        let seen = hit.clone();
        machine.add_hook(
            sym.addr,
            Box::new(move |hc: &mut emu::HookContext<'_>| {
                let Some(regs) = hc.regs() else {
                    return;
                };
                let format = GuestView::new(hc.ram_handle(), hc.cr3())
                    .string(regs.rdi, 256)
                    .map(|b| String::from_utf8_lossy(&b).trim_end().to_string())
                    .unwrap_or_default();
                *seen.borrow_mut() = Some(format);
                hc.stop();
            }),
        );
        Some(PanicWatch { hit })
    }

    /// Whether the guest has called `panic` since the last [`PanicWatch::clear`].
    pub fn panicked(&self) -> bool {
        self.hit.borrow().is_some()
    }

    /// Forgets a panic (after a reboot or a restore to before it).
    pub fn clear(&self) {
        *self.hit.borrow_mut() = None;
    }

    /// Runs a panicked guest on for [`SETTLE`] of virtual time so that its message is
    /// printed; returns how that run ended (a guest that powers off or resets on panic ends
    /// sooner).
    pub fn settle(&self, machine: &mut Machine) -> StopReason {
        machine.run(Limits::virtual_time(SETTLE))
    }

    /// What the kernel said: the console's `Kernel panic - not syncing:` line when there is
    /// one, else the format string `panic` was called with.
    pub fn message(&self, console: &[u8]) -> Option<String> {
        let format = self.hit.borrow().clone()?;
        Some(message(&format, console))
    }
}

/// The console's last `Kernel panic - not syncing:` line (not the `---[ end Kernel panic`
/// line that repeats it), else `format`.
fn message(format: &str, console: &[u8]) -> String {
    let text = String::from_utf8_lossy(console);
    text.lines()
        .rev()
        .filter(|l| !l.contains("---[ end "))
        .find_map(|l| {
            l.split_once(LINUX_BANNER)
                .map(|(_, m)| m.trim_end().to_string())
        })
        .unwrap_or_else(|| format.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_the_consoles_banner_line_else_the_format() {
        let format = "Attempted to kill init! exitcode=0x%08x";
        let console = b"[    0.5] Run /init as init process\r\n[    0.6] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\r\n[    0.6] CPU: 0 PID: 1\r\n---[ end Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100 ]---\r\n";
        assert_eq!(
            message(format, console),
            "Attempted to kill init! exitcode=0x00000100"
        );
        assert_eq!(message(format, b"nothing printed"), format);
    }
}
