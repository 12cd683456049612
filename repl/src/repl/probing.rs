//! Probe commands: `list`, `attach`, `detach`, `probes`, `log`, `maps`, `map`, `events`,
//! `clear`.
//!
//! Filters load as `bpflab trace` loads them: `.c` compiled by clang against the guest's
//! generated `vmlinux.h` (cached per image), CO-RE relocations answered from the guest's
//! DWARF, `.o` objects, `.s` files, plus inline assembly blocks typed at the prompt.

use super::commands::Invocation;
use super::session::{LoadedFilter, Session};
use super::{fail, ReplError};
use probes::load::{load_asm, load_file, Filter, LoadOptions};

/// Loads what `attach` names: a file or an inline `{ ... }` block.
fn load(s: &Session, program: &str) -> Result<(Filter, Option<String>), ReplError> {
    if let Some(body) = program.strip_prefix('{') {
        let body = body
            .trim_end()
            .strip_suffix('}')
            .ok_or_else(|| ReplError::Failed("the inline program does not end with '}'".into()))?;
        // The loader's errors begin with the filter's name (`<inline>: line 2: ...`).
        return load_asm("<inline>", body)
            .map(|f| (f, None))
            .map_err(ReplError::lib);
    }
    let (path, prog) = crate::trace::split_program(program)?;
    let include_dirs = if path.extension().is_some_and(|e| e == "c") {
        vec![crate::images::vmlinux_dir(&s.image)?]
    } else {
        Vec::new()
    };
    let img = &s.image;
    let core = |q: &jit::btf::core::CoreQuery<'_>| img.core_answer(q);
    let opts = LoadOptions {
        include_dirs,
        core: Some(&core),
        ..LoadOptions::default()
    };
    let filter = load_file(&path, &opts).map_err(ReplError::lib)?;
    Ok((filter, prog))
}

pub fn attach(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    let Some(spec) = inv.words.first().copied() else {
        return Err(inv.usage("missing the attach point and the program"));
    };
    let program = inv.rest[spec.len()..].trim();
    if program.is_empty() {
        return Err(inv.usage("missing the program (a .c, .o or .s file, or { asm })"));
    }
    let loaded = load(s, program);
    let (filter, prog) = match loaded {
        Ok(x) => x,
        Err(e) => {
            s.log = format!("{e}\n");
            return Err(ReplError::Logged(Box::new(e)));
        }
    };
    let origin = filter.origin.clone();
    let point = (spec != "-").then_some(spec);
    let attached = match probes::plan::attach_filter(
        &mut s.tracer,
        &mut s.machine,
        filter,
        point,
        prog.as_deref(),
        false,
    ) {
        Ok(a) => a,
        Err(e) => {
            s.log = format!("{e}\n");
            return Err(ReplError::lib(e));
        }
    };
    s.filters.push(LoadedFilter {
        origin: origin.clone(),
        programs: attached.programs.clone(),
    });
    let mut out = String::new();
    let mut log = format!("{origin}: loaded\n");
    for w in &attached.warnings {
        out.push_str(&s.style.warn(&format!("warning: {w}\n")));
        log.push_str(&format!("warning: {w}\n"));
    }
    for p in &attached.probes {
        let what = match &p.target {
            probes::point::Target::Code(r) if r.is_return => "return of ",
            probes::point::Target::Function { exit: true, .. } => "return of ",
            _ => "",
        };
        let addr = match &p.target {
            probes::point::Target::Tracepoint(t) => {
                format!("{}, {} site(s)", p.spec, t.sites.len())
            }
            probes::point::Target::Code(r)
            | probes::point::Target::Function { at: r, .. }
            | probes::point::Target::Syscall { at: r, .. } => format!("{:#x}", r.addr),
            probes::point::Target::Timer(t) => format!("{}, every {} ns", p.spec, t.period_ns),
        };
        out.push_str(&format!(
            "probe {}: {what}{} ({}) runs {origin}:{}\n",
            p.id,
            s.style.sym(&p.target.location()),
            s.style.addr(&addr),
            p.program
        ));
    }
    s.log = log;
    Ok(out)
}

pub fn detach(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    if inv.words.is_empty() {
        return Err(inv.usage("missing a probe id (or 'all')"));
    }
    let ids: Vec<u32> = if inv.words == ["all"] {
        s.tracer.probes().iter().map(|p| p.id).collect()
    } else {
        inv.words
            .iter()
            .map(|w| {
                w.parse::<u32>()
                    .map_err(|_| inv.usage(format!("'{w}' is not a probe id")))
            })
            .collect::<Result<_, _>>()?
    };
    let known: Vec<u32> = s.tracer.probes().iter().map(|p| p.id).collect();
    if let Some(bad) = ids.iter().find(|i| !known.contains(i)) {
        return fail(format!("no probe {bad} (see 'probes')"));
    }
    for id in &ids {
        s.tracer
            .detach(&mut s.machine, *id)
            .map_err(ReplError::lib)?;
    }
    Ok(format!("detached {} probe(s)\n", ids.len()))
}

/// `list [PATTERN] [-v]`: the guest's attach points, as `bpflab list` prints them.
pub fn list(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    let verbose = inv.words.contains(&"-v");
    let patterns: Vec<&str> = inv.words.iter().copied().filter(|w| *w != "-v").collect();
    if patterns.len() > 1 {
        return Err(inv.usage(format!(
            "one pattern at a time (got {})",
            patterns.join(" ")
        )));
    }
    let pattern = patterns.first().copied();
    let points = probes::listing::list(&s.image, pattern, verbose)
        .map_err(|e| inv.usage(format!("bad pattern: {}", e.msg)))?;
    match pattern {
        Some(p) if points.is_empty() => fail(probes::listing::no_match(p)),
        _ => Ok(probes::listing::render(&points)),
    }
}

pub fn probes(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 0)?;
    let list = s.tracer.probes();
    if list.is_empty() {
        return Ok("no probes (attach SPEC PROGRAM adds one)\n".into());
    }
    let mut out = format!(
        "{:>3}  {:<24} {:<24} {:<16} {:>8} {:>7} {:>9}\n",
        "id", "probe", "location", "program", "hits", "errors", "mean"
    );
    for p in list {
        out.push_str(&format!(
            "{:>3}  {:<24} {:<24} {:<16} {:>8} {:>7} {:>7}ns\n",
            p.id,
            p.spec,
            p.location,
            p.program,
            p.stats.hits,
            p.stats.errors,
            p.stats.mean_ns()
        ));
        if p.stats.missed > 0 {
            out.push_str(&format!("     missed returns: {}\n", p.stats.missed));
        }
        if let Some(e) = &p.stats.last_error {
            out.push_str(&format!("     last error: {e}\n"));
        }
    }
    Ok(out)
}

pub fn log(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 0)?;
    if s.log.is_empty() {
        return Ok("(nothing loaded yet)\n".into());
    }
    Ok(s.log.clone())
}

pub fn maps(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 0)?;
    let dumps: Vec<_> = s
        .tracer
        .map_dump()
        .into_iter()
        .filter(|m| !m.name.starts_with('.'))
        .collect();
    if dumps.is_empty() {
        return Ok("no maps\n".into());
    }
    let mut out = format!(
        "{:<20} {:<14} {:>5} {:>6} {:>8}  {}\n",
        "name", "kind", "key", "value", "entries", "filter"
    );
    for m in dumps {
        out.push_str(&format!(
            "{:<20} {:<14} {:>5} {:>6} {:>8}  {}\n",
            m.name,
            format!("{:?}", m.kind),
            m.key_size,
            m.value_size,
            m.entries.len(),
            m.origin
        ));
    }
    Ok(out)
}

pub fn map(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(1, 1)?;
    let name = inv.words[0].trim_start_matches('@');
    let dumps: Vec<_> = s
        .tracer
        .map_dump()
        .into_iter()
        .filter(|m| m.name == name)
        .collect();
    if dumps.is_empty() {
        let maps = s.shared.borrow().maps.clone();
        let close = maps
            .iter()
            .filter(|m| strsim::levenshtein(m, name) <= 2.max(name.len() / 3))
            .min_by_key(|m| strsim::levenshtein(m, name));
        return fail(format!(
            "no map '{name}'{}{}",
            close
                .map(|m| format!("; did you mean {m}?"))
                .unwrap_or_default(),
            if maps.is_empty() {
                String::new()
            } else {
                format!(" (maps: {})", maps.join(", "))
            }
        ));
    }
    let describe = |a: u64| match s.describe(a) {
        (Some(sym), Some(src)) => format!("{sym} ({src})"),
        (Some(sym), None) => sym,
        _ => format!("{a:#x}"),
    };
    let text = crate::mapfmt::text_report(&dumps, &describe);
    if text.trim().is_empty() {
        return Ok(format!("@{name}: empty\n"));
    }
    Ok(text)
}

pub fn events(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 1)?;
    let n = match inv.words.first().copied() {
        Some("on") => {
            s.live_events.set(true);
            return Ok("events print while the guest runs\n".into());
        }
        Some("off") => {
            s.live_events.set(false);
            return Ok("events are kept but not printed while the guest runs\n".into());
        }
        Some(w) => w
            .parse::<usize>()
            .map_err(|_| inv.usage(format!("'{w}' is not a count, 'on' or 'off'")))?,
        None => 20,
    };
    let log = s.tracer.events().borrow();
    let all: Vec<_> = log.recent().collect();
    if all.is_empty() {
        return Ok("no events\n".into());
    }
    let mut out = String::new();
    for e in &all[all.len().saturating_sub(n)..] {
        out.push_str(&e.to_text());
        out.push('\n');
    }
    Ok(out)
}

pub fn clear(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 0)?;
    s.tracer.events().borrow_mut().clear();
    s.machine.take_console();
    Ok("events and console output cleared\n".into())
}
