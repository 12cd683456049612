//! `bpflab types` and `bpflab vmlinux-h`: the guest's DWARF types.

use std::process::ExitCode;

fn image(spec: &str) -> Result<probes::image::GuestImage, String> {
    let (name, bytes) = crate::images::read(spec)?;
    probes::image::GuestImage::new(&name, bytes).map_err(|e| format!("{name}: {e}"))
}

/// Prints a type's layout like pahole.
pub fn types(spec: &str, name: &str) -> Result<ExitCode, String> {
    let img = image(spec)?;
    let types = img.types().map_err(|e| format!("{spec}: {e}"))?;
    let id = types
        .find(name)
        .map_err(|e| format!("{spec}: {e}"))?
        .ok_or_else(|| format!("{spec}: no type '{name}'"))?;
    print!(
        "{}",
        types
            .format_pahole(id)
            .map_err(|e| format!("{spec}: {e}"))?
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes vmlinux.h to stdout.
pub fn vmlinux_h(spec: &str) -> Result<ExitCode, String> {
    let img = image(spec)?;
    print!("{}", img.vmlinux_h().map_err(|e| format!("{spec}: {e}"))?);
    Ok(ExitCode::SUCCESS)
}
