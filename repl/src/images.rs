//! Guest images by name (`teaching` is embedded) and running a machine so that Ctrl-C stops
//! the guest, not the program.

use std::sync::{Mutex, OnceLock};

/// The teaching kernel, built from guest-images/teaching by build.rs.
pub static TEACHING_ELF: &[u8] = include_bytes!(env!("BPFLAB_TEACHING_ELF"));

/// The image's name and bytes: `teaching` or a path.
pub fn read(image: &str) -> Result<(String, Vec<u8>), String> {
    if image == "teaching" {
        Ok(("teaching".to_string(), TEACHING_ELF.to_vec()))
    } else {
        let bytes = std::fs::read(image).map_err(|e| format!("{image}: {e}"))?;
        Ok((image.to_string(), bytes))
    }
}

/// The machine Ctrl-C should stop, if one is running.
static CURRENT: OnceLock<Mutex<Option<emu::StopHandle>>> = OnceLock::new();

/// Runs `m` until `limits`; Ctrl-C stops the guest (the run returns `HostRequest`) instead of
/// killing bpflab, so nothing already reported is lost.
pub fn run_interruptible(
    m: &mut emu::Machine,
    limits: emu::Limits,
) -> Result<emu::StopReason, String> {
    let slot = CURRENT.get_or_init(|| {
        // A failure to install the handler only loses the graceful stop.
        let _ = ctrlc::set_handler(|| {
            if let Some(Ok(guard)) = CURRENT.get().map(|m| m.lock()) {
                if let Some(h) = guard.as_ref() {
                    h.request_stop();
                }
            }
        });
        Mutex::new(None)
    });
    if let Ok(mut g) = slot.lock() {
        *g = Some(m.stop_handle());
    }
    let reason = m.run(limits);
    if let Ok(mut g) = slot.lock() {
        *g = None;
    }
    Ok(reason)
}
