//! `bpflab types` and `bpflab vmlinux-h`: the guest's DWARF types.

use crate::error::CliError;
use std::process::ExitCode;

fn image(spec: &str) -> Result<probes::image::GuestImage, CliError> {
    let (name, bytes) = crate::images::read_image(spec)?;
    if let Some(e) = crate::error::elf_truncation(&name, &bytes) {
        return Err(e);
    }
    probes::image::GuestImage::new(&name, bytes).map_err(|e| CliError::input(name, e))
}

/// Prints a type's layout like pahole.
pub fn types(spec: &str, name: &str) -> Result<ExitCode, CliError> {
    let img = image(spec)?;
    let types = img.types().map_err(|e| CliError::input(spec, e))?;
    let id = types
        .find(name)
        .map_err(|e| CliError::input(spec, e))?
        .ok_or_else(|| {
            let close = types.suggest(name, 3).unwrap_or_default();
            let hint = if close.is_empty() {
                String::new()
            } else {
                format!("; did you mean {}?", close.join(", "))
            };
            CliError::Message(format!("{spec}: no type '{name}'{hint}"))
        })?;
    print!(
        "{}",
        types
            .format_pahole(id)
            .map_err(|e| CliError::input(spec, e))?
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes vmlinux.h to stdout.
pub fn vmlinux_h(spec: &str) -> Result<ExitCode, CliError> {
    let img = image(spec)?;
    print!("{}", img.vmlinux_h().map_err(|e| CliError::input(spec, e))?);
    Ok(ExitCode::SUCCESS)
}

/// `bpflab list`: every attach point of an image, as `bpftrace -l` lists them.
pub fn list(spec: &str, pattern: Option<&str>, verbose: bool) -> Result<ExitCode, CliError> {
    let img = image(spec)?;
    let points = probes::listing::list(&img, pattern, verbose).map_err(|e| {
        CliError::Message(format!(
            "bad pattern '{}': {}",
            pattern.unwrap_or_default(),
            e.msg
        ))
    })?;
    if points.is_empty() {
        if let Some(p) = pattern {
            return Err(CliError::Message(format!(
                "{spec}: {}",
                probes::listing::no_match(p)
            )));
        }
    }
    let out = probes::listing::render(&points);
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
