//! Execution control: `break`, `delete`, `breakpoints`, `stepi`, `nexti`, `finish`,
//! `snapshot`, `restore`, `snapshots`.
//!
//! Everything here is built on code hooks, the machine's one way to stop at an address:
//! - a breakpoint is a hook that calls `stop()`;
//! - `stepi` decodes the instruction at `rip` (capstone), works out every place control can
//!   go next (the next instruction, a jump or call target from an immediate, a register or
//!   memory, the return address at `[rsp]`) and runs until a temporary hook on one of them
//!   fires; an interrupt taken meanwhile runs to completion first;
//! - `nexti` over a call and `finish` hook the return address and check the stack pointer,
//!   so a recursive or concurrent call of the same function does not stop early.

use super::commands::Invocation;
use super::disasm::{self, Flow, Target};
use super::expr::{self, CType, Loc, Value};
use super::inspect::{return_of_frame, with_eval};
use super::print::{format_value, Radix};
use super::session::{Breakpoint, Saved, Session};
use super::{fail, ReplError};
use emu::{HookContext, Limits, StopReason};
use std::cell::Cell;
use std::rc::Rc;

/// Instructions a single step may take (an interrupt handler, a call stepped over) before
/// giving up.
const STEP_BUDGET: u64 = 50_000_000;

pub fn brk(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    if inv.rest.is_empty() {
        return Err(inv.usage("missing where to stop"));
    }
    let spec = inv.rest;
    let points: Vec<(u64, String)> = match s.image.resolve_attach(spec) {
        Ok(points) => {
            if points.iter().any(|p| p.is_return) {
                return Err(inv.usage(
                    "a breakpoint is at an address; to stop when a function returns use 'finish'",
                ));
            }
            points
                .into_iter()
                .map(|p| {
                    let loc = if p.offset == 0 {
                        p.symbol
                    } else {
                        format!("{}+{:#x}", p.symbol, p.offset)
                    };
                    (p.addr, loc)
                })
                .collect()
        }
        Err(e) => match super::inspect::address(s, spec) {
            Ok(a) => vec![(a, s.image.symbols().format_addr(a).unwrap_or_default())],
            Err(_) => return Err(ReplError::lib(e)),
        },
    };
    let mut out = String::new();
    for (addr, _) in points {
        let id = s.next_breakpoint;
        s.next_breakpoint += 1;
        let hits = Rc::new(Cell::new(0u64));
        let hook = super::session::arm(&mut s.machine, id, addr, &hits, &s.breakpoint_hit);
        s.breakpoints.insert(
            id,
            Breakpoint {
                id,
                spec: spec.to_string(),
                addr,
                hook,
                hits,
            },
        );
        out.push_str(&format!("Breakpoint {id} at {}\n", s.where_is(addr)));
    }
    Ok(out)
}

pub fn delete(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    let ids: Vec<u32> = if inv.words.is_empty() {
        s.breakpoints.keys().copied().collect()
    } else {
        inv.words
            .iter()
            .map(|w| {
                w.parse::<u32>()
                    .map_err(|_| inv.usage(format!("'{w}' is not a breakpoint id")))
            })
            .collect::<Result<_, _>>()?
    };
    if let Some(bad) = ids.iter().find(|i| !s.breakpoints.contains_key(i)) {
        return fail(format!("no breakpoint {bad} (see 'breakpoints')"));
    }
    for id in &ids {
        if let Some(b) = s.breakpoints.remove(id) {
            s.machine.remove_hook(b.hook);
        }
    }
    Ok(format!("deleted {} breakpoint(s)\n", ids.len()))
}

pub fn list(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 0)?;
    if s.breakpoints.is_empty() {
        return Ok("no breakpoints\n".into());
    }
    let mut out = format!("{:>3}  {:<24} {:>6}  where\n", "id", "spec", "hits");
    for b in s.breakpoints.values() {
        out.push_str(&format!(
            "{:>3}  {:<24} {:>6}  {}\n",
            b.id,
            b.spec,
            b.hits.get(),
            s.where_is(b.addr)
        ));
    }
    Ok(out)
}

/// Where a branch target points, given the registers and memory.
fn target_addr(s: &Session, insn: &disasm::Insn, t: &Target) -> Option<u64> {
    let regs = s.machine.regs();
    let reg = |name: &str| {
        if name == "rip" {
            Some(insn.next())
        } else {
            expr::register(&regs, name)
        }
    };
    match t {
        Target::Addr(a) => Some(*a),
        Target::Reg(r) => reg(r),
        Target::Mem {
            base,
            index,
            scale,
            disp,
        } => {
            let b = match base {
                Some(b) => reg(b)?,
                None => 0,
            };
            let i = match index {
                Some(i) => reg(i)?.wrapping_mul(*scale),
                None => 0,
            };
            let a = b.wrapping_add(i).wrapping_add(*disp as u64);
            let mut buf = [0u8; 8];
            s.machine.read_virt(a, &mut buf).ok()?;
            Some(u64::from_le_bytes(buf))
        }
    }
}

/// The instruction at `rip`.
fn current_insn(s: &Session) -> Result<disasm::Insn, ReplError> {
    let rip = s.machine.regs().rip;
    let mut code = [0u8; 16];
    let mut n = code.len();
    while s.machine.read_virt(rip, &mut code[..n]).is_err() {
        if n == 1 {
            return fail(format!("cannot read the instruction at {rip:#x}"));
        }
        n -= 1;
    }
    disasm::decode(&code[..n], rip, 1)?
        .into_iter()
        .next()
        .ok_or_else(|| ReplError::Failed(format!("no valid instruction at {rip:#x}")))
}

/// Runs until a temporary hook at one of `targets` fires (with the stack pointer `sp`, if
/// given). Returns whether one was reached, and the stop.
fn run_to(
    s: &mut Session,
    targets: &[u64],
    sp: Option<u64>,
    limits: Limits,
) -> Result<(bool, StopReason), ReplError> {
    let reached = Rc::new(Cell::new(false));
    let mut hooks = Vec::new();
    let mut seen = Vec::new();
    for &t in targets {
        if seen.contains(&t) {
            continue;
        }
        seen.push(t);
        let r = reached.clone();
        hooks.push(s.machine.add_hook(
            t,
            Box::new(move |hc: &mut HookContext<'_>| {
                if sp.is_none_or(|sp| hc.regs().is_some_and(|r| r.rsp == sp)) {
                    r.set(true);
                    hc.stop();
                }
            }),
        ));
    }
    let result = s.run(limits);
    for h in hooks {
        s.machine.remove_hook(h);
    }
    let reason = result?;
    Ok((reached.get(), reason))
}

/// One instruction; over calls if `over`.
fn step_once(s: &mut Session, over: bool) -> Result<(bool, StopReason), ReplError> {
    let insn = current_insn(s)?;
    let regs = s.machine.regs();
    let next = insn.next();
    let mut targets = Vec::new();
    let mut sp = None;
    match &insn.flow {
        Flow::Next => targets.push(next),
        Flow::Jump {
            target,
            conditional,
        } => {
            targets.extend(target_addr(s, &insn, target));
            if *conditional {
                targets.push(next);
            }
        }
        Flow::Call(_) if over => {
            targets.push(next);
            sp = Some(regs.rsp);
        }
        Flow::Call(t) => targets.extend(target_addr(s, &insn, t)),
        Flow::Ret => {
            let mut b = [0u8; 8];
            if s.machine.read_virt(regs.rsp, &mut b).is_ok() {
                targets.push(u64::from_le_bytes(b));
            }
        }
        Flow::Other => {
            targets.push(next);
            if insn.mnemonic == "syscall" {
                if let Some(e) = s.image.symbols().lookup("entry_SYSCALL_64") {
                    targets.push(e.addr);
                }
            }
        }
    }
    if targets.is_empty() {
        return fail(format!(
            "cannot tell where '{}' goes next",
            insn.text(s.image.symbols())
        ));
    }
    run_to(s, &targets, sp, Limits::insns(STEP_BUDGET))
}

/// The position after a step: where, and the instruction there.
fn show_position(s: &Session) -> String {
    let rip = s.machine.regs().rip;
    let mut out = format!("{}\n", s.where_is(rip));
    if let Ok(i) = current_insn(s) {
        out.push_str(&format!("=> {}\n", i.text(s.image.symbols())));
    }
    out
}

fn steps(s: &mut Session, inv: &Invocation<'_>, over: bool) -> Result<String, ReplError> {
    inv.arity(0, 1)?;
    let n = match inv.words.first() {
        Some(w) => w
            .parse::<u64>()
            .ok()
            .filter(|&n| (1..=100_000).contains(&n))
            .ok_or_else(|| inv.usage(format!("'{w}' is not a step count (1..100000)")))?,
        None => 1,
    };
    for _ in 0..n {
        let (reached, reason) = step_once(s, over)?;
        if !reached {
            if reason == StopReason::InsnBudget {
                return fail(format!(
                    "the next instruction was not reached within {STEP_BUDGET} instructions; now at {}",
                    s.where_is(s.machine.regs().rip)
                ));
            }
            return Ok(format!("{}\n", s.describe_stop(&reason)));
        }
    }
    Ok(show_position(s))
}

pub fn stepi(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    steps(s, inv, false)
}

pub fn nexti(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    steps(s, inv, true)
}

pub fn finish(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 0)?;
    let rip = s.machine.regs().rip;
    let Some((sym, _)) = s.image.symbols().resolve(rip) else {
        return fail(format!("{rip:#x} is in no known function"));
    };
    let func = sym.name.clone();
    let Some((ret, sp)) = return_of_frame(s) else {
        return fail(format!(
            "cannot find where {func} returns to (stack unreadable); use 'break'"
        ));
    };
    let mut out = format!("Run till exit from {}\n", s.where_is(rip));
    let (reached, reason) = run_to(s, &[ret], Some(sp), Limits::none())?;
    if !reached {
        out.push_str(&format!("{}\n", s.describe_stop(&reason)));
        return Ok(out);
    }
    out.push_str(&show_position(s));
    let ret_ty = s
        .image
        .types()
        .ok()
        .and_then(|db| db.function(&func).ok().flatten())
        .and_then(|f| f.return_type);
    if let Some(t) = ret_ty {
        let rax = s.machine.regs().rax;
        let v = Value {
            ty: CType::Dwarf(t),
            loc: Loc::Imm(rax),
            hex: false,
        };
        let text = with_eval(s, |ev| format_value(ev, &v, Radix::Natural));
        match text {
            Ok(t) => out.push_str(&format!("Value returned: {t}\n")),
            Err(_) => out.push_str(&format!("Value returned in rax: {rax:#x}\n")),
        }
    }
    Ok(out)
}

fn snapshot_name<'a>(inv: &Invocation<'a>) -> Result<&'a str, ReplError> {
    match inv.words.as_slice() {
        [name]
            if name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
        {
            Ok(name)
        }
        [name] => Err(inv.usage(format!(
            "'{name}' is not a snapshot name (letters, digits, - _ .)"
        ))),
        [] => Err(inv.usage("missing the snapshot name")),
        _ => Err(inv.usage("a snapshot name is one word")),
    }
}

pub fn snapshot(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    let name = snapshot_name(inv)?;
    let snap = s
        .machine
        .snapshot()
        .map_err(|e| ReplError::context("cannot snapshot", e))?;
    let saved = Saved {
        snapshot: snap,
        now_ns: s.machine.now_ns(),
        rip: s.machine.regs().rip,
        last_stop: s.last_stop.clone(),
        panic: s.panic.clone(),
    };
    let replaced = s.snapshots.insert(name.to_string(), saved).is_some();
    Ok(format!(
        "{} snapshot '{name}' at {} [{:.6} s]\n",
        if replaced { "replaced" } else { "saved" },
        s.where_is(s.machine.regs().rip),
        s.machine.now_ns() as f64 / 1e9
    ))
}

pub fn restore(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    let name = snapshot_name(inv)?;
    let Some(saved) = s.snapshots.get(name) else {
        let have: Vec<&String> = s.snapshots.keys().collect();
        return fail(format!(
            "no snapshot '{name}'{}",
            if have.is_empty() {
                " (none saved yet)".to_string()
            } else {
                format!(
                    " (have: {})",
                    have.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ));
    };
    s.machine
        .restore(&saved.snapshot)
        .map_err(|e| ReplError::context(format!("cannot restore '{name}'"), e))?;
    s.last_stop = saved.last_stop.clone();
    s.set_panic(saved.panic.clone());
    s.forget_hook_stop();
    s.x_state.next = None;
    Ok(format!(
        "restored '{name}': at {} [{:.6} s]\n",
        s.where_is(s.machine.regs().rip),
        s.machine.now_ns() as f64 / 1e9
    ))
}

pub fn snapshots(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 0)?;
    if s.snapshots.is_empty() {
        return Ok("no snapshots (snapshot NAME saves one)\n".into());
    }
    let mut out = String::new();
    for (name, saved) in &s.snapshots {
        out.push_str(&format!(
            "{name:<20} [{:.6} s] {}\n",
            saved.now_ns as f64 / 1e9,
            s.where_is(saved.rip)
        ));
    }
    Ok(out)
}
