//! Machine commands: `boot`, `run`/`continue`, `status`, `console`, `input`, `reset`.

use super::commands::Invocation;
use super::session::Session;
use super::ReplError;
use emu::Limits;

pub fn boot(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 0)?;
    s.reboot()?;
    Ok(format!(
        "rebooted {}: at {}\n",
        s.image.name(),
        s.where_is(s.machine.regs().rip)
    ))
}

pub fn reset(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 0)?;
    s.reset()?;
    Ok(format!(
        "reset: no probes, filters or breakpoints; at {}\n",
        s.where_is(s.machine.regs().rip)
    ))
}

/// `run`, `run 10ms`, `run 5000 insns`.
pub fn parse_limits(inv: &Invocation<'_>) -> Result<Limits, ReplError> {
    match inv.words.as_slice() {
        [] => Ok(Limits::none()),
        [n, unit] if matches!(*unit, "insns" | "insn" | "instructions" | "i") => n
            .replace('_', "")
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .map(Limits::insns)
            .ok_or_else(|| inv.usage(format!("'{n}' is not a positive instruction count"))),
        [d] => {
            if let Some(n) = d.strip_suffix("insns").or_else(|| d.strip_suffix('i')) {
                if let Ok(n) = n.parse::<u64>() {
                    return Ok(Limits::insns(n.max(1)));
                }
            }
            crate::args::parse_duration(d)
                .map(Limits::virtual_time)
                .map_err(|e| inv.usage(e.to_string()))
        }
        _ => Err(inv.usage("expected a duration (10ms, 2s) or 'N insns'")),
    }
}

pub fn run(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    let limits = parse_limits(inv)?;
    let reason = s.run(limits)?;
    Ok(format!("{}\n", s.describe_stop(&reason)))
}

pub fn status(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 0)?;
    let st = s.machine.stats();
    let state = match (s.stopped_for_good(), &s.last_stop) {
        (Some(why), _) => format!("stopped for good: {why}"),
        (None, None) => "booted, not run yet".to_string(),
        (None, Some(emu::StopReason::HookRequest)) => match s.breakpoint_hit.get() {
            Some(id) => format!("paused: breakpoint {id}"),
            None => "paused: stopped by a probe".to_string(),
        },
        (None, Some(r)) => format!("paused: {r}"),
    };
    let mut out = format!(
        "image:       {} ({} symbols{})\n",
        s.image.name(),
        s.image.symbols().len(),
        if s.image.types().is_ok() {
            ", DWARF"
        } else {
            ", no DWARF"
        }
    );
    out.push_str(&format!("guest:       {state}\n"));
    out.push_str(&format!("cmdline:     {:?}\n", s.cmdline));
    out.push_str(&format!(
        "at:          {}\n",
        s.where_is(s.machine.regs().rip)
    ));
    out.push_str(&format!(
        "time:        {:.6} s virtual ({:.6} s idle), {} instructions\n",
        st.virtual_ns as f64 / 1e9,
        st.idle_ns as f64 / 1e9,
        st.instructions
    ));
    out.push_str(&format!(
        "probes:      {} ({} filters loaded), breakpoints: {}, snapshots: {}\n",
        s.tracer.probes().len(),
        s.filters.len(),
        s.breakpoints.len(),
        s.snapshots.len()
    ));
    for f in &s.filters {
        out.push_str(&format!(
            "filter:      {} ({})\n",
            f.origin,
            f.programs.join(", ")
        ));
    }
    out.push_str(&format!(
        "events:      {} so far\n",
        s.tracer.events().borrow().total()
    ));
    Ok(out)
}

pub fn realtime(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 1)?;
    match inv.words.first().copied() {
        Some("on") => s.set_realtime(true)?,
        Some("off") => s.set_realtime(false)?,
        Some(w) => return Err(inv.usage(format!("'{w}': say on or off"))),
        None => {}
    }
    Ok(if s.realtime.is_some() {
        "real time: an idle guest waits for the host clock; input arrives while it runs\n"
    } else {
        "fast: idle guest time is skipped (deterministic); input is queued\n"
    }
    .to_string())
}

pub fn console(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 1)?;
    let n = match inv.words.first() {
        Some(w) => w
            .parse::<usize>()
            .map_err(|_| inv.usage(format!("'{w}' is not a line count")))?,
        None => 20,
    };
    let text = String::from_utf8_lossy(s.machine.console()).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for l in &lines[lines.len().saturating_sub(n)..] {
        out.push_str(l);
        out.push('\n');
    }
    if lines.is_empty() {
        out.push_str("(no console output yet)\n");
    }
    Ok(out)
}

pub fn input(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    let (newline, text) = match inv.rest.strip_prefix("-n") {
        Some(t) if t.is_empty() || t.starts_with(char::is_whitespace) => (false, t.trim_start()),
        _ => (true, inv.rest),
    };
    if text.is_empty() && !newline {
        return Err(inv.usage("nothing to type"));
    }
    let mut bytes = emu::input::unescape(text).map_err(|e| inv.usage(e))?;
    if newline {
        bytes.push(b'\n');
    }
    s.type_input(&bytes)?;
    Ok(format!(
        "queued {} byte(s) for the guest's console\n",
        bytes.len()
    ))
}
