//! The command table and dispatch.
//!
//! Every command is one row of [`COMMANDS`]: its name and aliases, usage, a one-line summary,
//! longer help, an example, what its arguments are (for completion), and the handler. A
//! handler gets the [`Session`] and the parsed [`Invocation`] and returns the text to print;
//! output that must appear while the guest runs (console, events) streams on its own.
//!
//! gdb's habits: a command may be abbreviated to any unique prefix (`cont`, `disas`), `x` and
//! `print` take a `/FMT` suffix (`x/8xg $rsp`, `print/x jiffies`), `#` starts a comment.

use super::session::Session;
use super::{control, front, inspect, machine, probing, ReplError};

/// What an argument is, for completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// Free text: nothing to complete.
    Text,
    /// A command name.
    Command,
    /// A guest symbol.
    Symbol,
    /// An attach point: a symbol, or `KIND:` and what that kind takes
    /// (`tracepoint:sched:sched_switch`, `fentry:vfs_read`, `profile:hz:99`).
    Point,
    /// An expression: symbols, registers, members after `.` and `->`, types in casts.
    Expr,
    /// A type name.
    Type,
    /// A file path (programs, scripts).
    File,
    /// A snapshot name.
    Snapshot,
    /// A map name.
    Map,
    /// A probe id (or `all`).
    Probe,
    /// A breakpoint id.
    Breakpoint,
}

/// A handler.
pub type Handler = fn(&mut Session, &Invocation<'_>) -> Result<String, ReplError>;

/// One command.
#[derive(Debug)]
pub struct Command {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// `attach SPEC PROGRAM`.
    pub usage: &'static str,
    pub summary: &'static str,
    pub help: &'static str,
    pub example: &'static str,
    pub group: &'static str,
    /// Argument kinds by position; the last one repeats.
    pub args: &'static [ArgKind],
    /// Takes a `/FMT` suffix.
    pub takes_format: bool,
    pub run: Handler,
}

/// A parsed command line.
#[derive(Debug)]
pub struct Invocation<'a> {
    pub cmd: &'static Command,
    /// The `/FMT` suffix, without the slash (empty if none).
    pub format: &'a str,
    /// Everything after the command (and suffix), trimmed.
    pub rest: &'a str,
    /// `rest` split on whitespace.
    pub words: Vec<&'a str>,
}

impl Invocation<'_> {
    /// A usage error for this command.
    pub fn usage(&self, msg: impl Into<String>) -> ReplError {
        ReplError::Usage {
            cmd: self.cmd.name,
            msg: msg.into(),
            usage: self.cmd.usage.to_string(),
            example: self.cmd.example,
        }
    }

    /// Fails unless there are between `min` and `max` words.
    pub fn arity(&self, min: usize, max: usize) -> Result<(), ReplError> {
        match self.words.len() {
            n if n < min => Err(self.usage("missing argument")),
            n if n > max => Err(self.usage(format!(
                "unexpected argument '{}'",
                self.words[max..].join(" ")
            ))),
            _ => Ok(()),
        }
    }
}

const MACHINE: &str = "Machine";
const PROBES: &str = "Probes";
const INSPECT: &str = "Inspection";
const CONTROL: &str = "Execution control";
const SESSION: &str = "Session";

/// Every command.
pub static COMMANDS: &[Command] = &[
    Command {
        name: "boot",
        aliases: &[],
        usage: "boot",
        summary: "reboot the guest (probes and breakpoints stay)",
        help: "Returns the machine to the kernel's first instruction, as just after loading. \
               Attached probes and breakpoints stay; map contents and counters are kept.",
        example: "boot",
        group: MACHINE,
        args: &[],
        takes_format: false,
        run: machine::boot,
    },
    Command {
        name: "run",
        aliases: &["r"],
        usage: "run [DURATION | N insns]",
        summary: "run the guest (until it stops, a breakpoint, the budget or Ctrl-C)",
        help: "Runs the guest from where it is. With a DURATION (virtual time: 10ms, 2s) or an \
               instruction count (5000 insns) it pauses after that much. Guest output and \
               filter events stream while it runs; Ctrl-C pauses it and returns to the prompt.",
        example: "run 100ms",
        group: MACHINE,
        args: &[ArgKind::Text],
        takes_format: false,
        run: machine::run,
    },
    Command {
        name: "continue",
        aliases: &["c"],
        usage: "continue [DURATION | N insns]",
        summary: "same as run",
        help: "Continues the guest after a breakpoint or a pause; the same as 'run'.",
        example: "continue",
        group: MACHINE,
        args: &[ArgKind::Text],
        takes_format: false,
        run: machine::run,
    },
    Command {
        name: "status",
        aliases: &["info"],
        usage: "status",
        summary: "where the guest is, why it stopped, counters",
        help: "Shows the image, the guest's position and last stop, virtual time, executed \
               instructions, probes, breakpoints and snapshots.",
        example: "status",
        group: MACHINE,
        args: &[],
        takes_format: false,
        run: machine::status,
    },
    Command {
        name: "console",
        aliases: &[],
        usage: "console [N]",
        summary: "the last N lines the guest printed (default 20)",
        help: "Shows the guest console's recent output (it also streams while the guest runs).",
        example: "console 5",
        group: MACHINE,
        args: &[ArgKind::Text],
        takes_format: false,
        run: machine::console,
    },
    Command {
        name: "input",
        aliases: &[],
        usage: "input [-n] TEXT",
        summary: "type TEXT on the guest's console (a newline follows unless -n)",
        help: "Queues TEXT for the guest to read from its console UART, then a newline unless \
               -n is given. Escapes: \\n \\t \\r \\\\ \\xHH. The guest reads it when it runs.",
        example: "input ls /proc",
        group: MACHINE,
        args: &[ArgKind::Text],
        takes_format: false,
        run: machine::input,
    },
    Command {
        name: "tty",
        aliases: &[],
        usage: "tty",
        summary: "connect this terminal to the guest's console (Ctrl-] returns)",
        help: "Joins the terminal to the guest's serial console, as screen or QEMU's \
               -serial stdio do: every key goes to the guest (Ctrl-C too) and the guest runs \
               in real time until Ctrl-], a breakpoint, a probe that stops it, a panic or its \
               end. Filter events print as they happen. For a Linux shell: \
               bpflab repl --image linux, then tty.",
        example: "tty",
        group: MACHINE,
        args: &[],
        takes_format: false,
        run: super::tty::tty,
    },
    Command {
        name: "realtime",
        aliases: &[],
        usage: "realtime [on|off]",
        summary: "let idle guest time pass at host speed (off: skip it, deterministic)",
        help: "Off (the default), an idle guest's time is skipped: runs are fast and \
               deterministic. On, idle time passes no faster than the host's clock and \
               'input' reaches the guest while it runs (a live console stream), as an \
               interactive shell in a Linux guest needs.",
        example: "realtime on",
        group: MACHINE,
        args: &[ArgKind::Text],
        takes_format: false,
        run: machine::realtime,
    },
    Command {
        name: "reset",
        aliases: &[],
        usage: "reset",
        summary: "reboot and forget probes, filters, breakpoints and events",
        help: "A fresh start on the same image: detaches every probe, drops loaded filters and \
               their maps, deletes breakpoints, clears events and reboots. Snapshots stay.",
        example: "reset",
        group: MACHINE,
        args: &[],
        takes_format: false,
        run: machine::reset,
    },
    Command {
        name: "list",
        aliases: &[],
        usage: "list [PATTERN] [-v]",
        summary: "list the guest's attach points (like bpftrace -l)",
        help: "Every place a filter can attach: kprobe:, kretprobe:, fentry:, fexit:, \
               tracepoint:CAT:NAME, rawtracepoint:, profile: and interval:. PATTERN is a \
               glob over the whole point ('tracepoint:sched:*'), or over the name after any \
               kind when it has no ':' ('*openat*'). -v adds what a program there reads: \
               the function's parameters, the tracepoint's record fields.",
        example: "list tracepoint:sched:* -v",
        group: PROBES,
        args: &[ArgKind::Point],
        takes_format: false,
        run: probing::list,
    },
    Command {
        name: "attach",
        aliases: &[],
        usage: "attach SPEC PROGRAM   (PROGRAM: FILE.c | FILE.o[:NAME] | FILE.s | { asm ... })",
        summary: "attach a filter to a kernel symbol, tracepoint or timer",
        help: "SPEC is SYMBOL, SYMBOL+OFF, SYMBOL%return, 0xADDR, kprobe:SYMBOL, \
               kretprobe:SYMBOL, a glob (ip_*), tracepoint:CAT:NAME, rawtracepoint:NAME, \
               fentry:F, fexit:F, ksyscall:NAME or profile:hz:N ('list' shows them; Tab \
               completes them). PROGRAM is a C file (compiled with clang \
               against the guest's vmlinux.h), an object, an assembly file, or an inline \
               assembly block between { and } (it may span lines). Use SPEC '-' to attach an \
               object's programs where their ELF sections say.",
        example: "attach dst_discard examples/dst_discard.bpf.c",
        group: PROBES,
        args: &[ArgKind::Point, ArgKind::File],
        takes_format: false,
        run: probing::attach,
    },
    Command {
        name: "detach",
        aliases: &[],
        usage: "detach ID... | all",
        summary: "remove probes",
        help: "Removes the probes with these ids (see 'probes'), or every probe. Maps stay.",
        example: "detach 1",
        group: PROBES,
        args: &[ArgKind::Probe],
        takes_format: false,
        run: probing::detach,
    },
    Command {
        name: "probes",
        aliases: &[],
        usage: "probes",
        summary: "list probes with hits, errors and mean cost",
        help: "One line per probe: id, what was asked, where it is, the program, hits, \
               errors and the mean host cost of a hit; the last error if any.",
        example: "probes",
        group: PROBES,
        args: &[],
        takes_format: false,
        run: probing::probes,
    },
    Command {
        name: "log",
        aliases: &[],
        usage: "log",
        summary: "the last load log (compiler and loader messages, warnings)",
        help: "Shows what the last 'attach' reported while loading. After a load that \
               worked: 'ORIGIN: loaded' and its warnings (JIT fallbacks, checked mode). After \
               one that failed: the whole error: clang's diagnostics, ELF or relocation \
               errors, or the verifier's rejection (the failing instruction, its source line \
               and why). 'reset' clears it.",
        example: "log",
        group: PROBES,
        args: &[],
        takes_format: false,
        run: probing::log,
    },
    Command {
        name: "maps",
        aliases: &[],
        usage: "maps",
        summary: "list the maps of loaded filters",
        help: "Name, kind, key and value sizes, entries and the filter of every map.",
        example: "maps",
        group: PROBES,
        args: &[],
        takes_format: false,
        run: probing::maps,
    },
    Command {
        name: "map",
        aliases: &[],
        usage: "map NAME",
        summary: "dump a map, bpftrace style",
        help: "Prints a map's entries as bpftrace does (@name[key]: value), a log2 \
               histogram for maps whose name ends in 'hist', symbolised stacks for stack maps.",
        example: "map drops",
        group: PROBES,
        args: &[ArgKind::Map],
        takes_format: false,
        run: probing::map,
    },
    Command {
        name: "events",
        aliases: &[],
        usage: "events [N] | events on|off",
        summary: "the last N filter events (default 20); on/off: print them live",
        help: "Shows recent output of filters (trace_printk lines, perf and ring-buffer \
               records, stacks, errors). 'events off' stops printing them while the guest \
               runs (they are still kept).",
        example: "events 5",
        group: PROBES,
        args: &[ArgKind::Text],
        takes_format: false,
        run: probing::events,
    },
    Command {
        name: "clear",
        aliases: &[],
        usage: "clear",
        summary: "forget recorded events and console output",
        help: "Empties the event log and the console buffer (maps and counters stay).",
        example: "clear",
        group: PROBES,
        args: &[],
        takes_format: false,
        run: probing::clear,
    },
    Command {
        name: "sym",
        aliases: &["info symbol"],
        usage: "sym NAME | GLOB | ADDR",
        summary: "look up symbols by name, glob or address",
        help: "An exact name prints its address, size, kind and source line; a glob (*, ?, \
               [..]) lists matches; an address (or expression) prints symbol+offset.",
        example: "sym ip_*",
        group: INSPECT,
        args: &[ArgKind::Symbol],
        takes_format: false,
        run: inspect::sym,
    },
    Command {
        name: "ptype",
        aliases: &["whatis"],
        usage: "ptype TYPE | EXPR",
        summary: "a type's layout (pahole style), or an expression's type",
        help: "For a struct or union: its members with offsets, sizes and holes, as pahole \
               prints them. For a function: its prototype. For an expression: its type.",
        example: "ptype struct sk_buff",
        group: INSPECT,
        args: &[ArgKind::Type],
        takes_format: false,
        run: inspect::ptype,
    },
    Command {
        name: "print",
        aliases: &["p"],
        usage: "print[/x] EXPR",
        summary: "evaluate a C expression over guest memory and print it like drgn",
        help: "EXPR: globals (jiffies, init_task), registers ($rdi, $rip), integers, casts \
               ((struct sk_buff *)$rdi), *, &, ->, ., [i], + - *. Structs print member by \
               member; unreadable memory is reported, never fatal. /x prints integers in hex.",
        example: "print *(struct sk_buff *)$rdi",
        group: INSPECT,
        args: &[ArgKind::Expr],
        takes_format: true,
        run: inspect::print,
    },
    Command {
        name: "x",
        aliases: &[],
        usage: "x/NFU ADDR   (F: x d u c s i, U: b h w g)",
        summary: "examine guest memory, as gdb",
        help: "N units of format F from ADDR (an expression). Formats: x hex, d signed, \
               u unsigned, c char, s string, i instructions; units: b 1, h 2, w 4, g 8 bytes. \
               N, F and U default to the last ones used; with no ADDR, x continues.",
        example: "x/4xg $rsp",
        group: INSPECT,
        args: &[ArgKind::Expr],
        takes_format: true,
        run: inspect::x,
    },
    Command {
        name: "regs",
        aliases: &["info registers"],
        usage: "regs",
        summary: "the guest's registers",
        help: "General purpose, segment and control registers, with symbols for code \
               addresses.",
        example: "regs",
        group: INSPECT,
        args: &[],
        takes_format: false,
        run: inspect::regs,
    },
    Command {
        name: "bt",
        aliases: &["backtrace", "where"],
        usage: "bt [N]",
        summary: "the kernel stack, by frame pointers, with file:line",
        help: "Walks the frame-pointer chain from the current position (innermost first), \
               at most N frames (default 32).",
        example: "bt",
        group: INSPECT,
        args: &[ArgKind::Text],
        takes_format: false,
        run: inspect::bt,
    },
    Command {
        name: "disas",
        aliases: &["disassemble"],
        usage: "disas [SYMBOL | ADDR] [N]",
        summary: "disassemble (capstone), with symbols for call targets",
        help: "With no argument, the function around $rip (=> marks it). With a symbol, that \
               function; with an address or expression, N instructions from there (default \
               16).",
        example: "disas dst_discard",
        group: INSPECT,
        args: &[ArgKind::Symbol, ArgKind::Text],
        takes_format: false,
        run: inspect::disas,
    },
    Command {
        name: "break",
        aliases: &["b"],
        usage: "break SYMBOL | SYMBOL+OFF | ADDR",
        summary: "stop the guest when it reaches a place",
        help: "Sets a breakpoint: the guest stops before executing that instruction. 'continue' \
               goes on. Breakpoints survive 'boot' and 'restore'.",
        example: "break ip_rcv",
        group: CONTROL,
        args: &[ArgKind::Symbol],
        takes_format: false,
        run: control::brk,
    },
    Command {
        name: "delete",
        aliases: &["d"],
        usage: "delete [ID...]",
        summary: "delete breakpoints (all without an id)",
        help: "Deletes the breakpoints with these ids, or all of them.",
        example: "delete 1",
        group: CONTROL,
        args: &[ArgKind::Breakpoint],
        takes_format: false,
        run: control::delete,
    },
    Command {
        name: "breakpoints",
        aliases: &["info breakpoints"],
        usage: "breakpoints",
        summary: "list breakpoints",
        help: "Id, place and hit count of every breakpoint.",
        example: "breakpoints",
        group: CONTROL,
        args: &[],
        takes_format: false,
        run: control::list,
    },
    Command {
        name: "stepi",
        aliases: &["si", "step", "s"],
        usage: "stepi [N]",
        summary: "execute N instructions (default 1), into calls",
        help: "Executes one instruction (N times) and shows the next one. Calls are entered. \
               An interrupt taken meanwhile runs to completion first. ('step' is the same.)",
        example: "stepi 3",
        group: CONTROL,
        args: &[ArgKind::Text],
        takes_format: false,
        run: control::stepi,
    },
    Command {
        name: "nexti",
        aliases: &["ni", "next", "n"],
        usage: "nexti [N]",
        summary: "like stepi, but over calls",
        help: "Executes one instruction; a call runs until it returns to the next instruction \
               of this frame. ('next' is the same.)",
        example: "nexti",
        group: CONTROL,
        args: &[ArgKind::Text],
        takes_format: false,
        run: control::nexti,
    },
    Command {
        name: "finish",
        aliases: &["fin"],
        usage: "finish",
        summary: "run until the current function returns; show the value",
        help: "Finds the return address (at entry from [rsp], later from the frame pointer), \
               runs until this frame returns there, and prints the return value with the \
               function's DWARF return type.",
        example: "finish",
        group: CONTROL,
        args: &[],
        takes_format: false,
        run: control::finish,
    },
    Command {
        name: "snapshot",
        aliases: &[],
        usage: "snapshot NAME",
        summary: "save the whole machine under NAME",
        help: "Captures RAM, CPU and devices in memory. 'restore NAME' returns to it.",
        example: "snapshot before-drop",
        group: CONTROL,
        args: &[ArgKind::Snapshot],
        takes_format: false,
        run: control::snapshot,
    },
    Command {
        name: "restore",
        aliases: &[],
        usage: "restore NAME",
        summary: "return the machine to a snapshot",
        help: "Restores RAM, CPU and devices. Probes, breakpoints and maps are not part of \
               a snapshot and stay as they are.",
        example: "restore before-drop",
        group: CONTROL,
        args: &[ArgKind::Snapshot],
        takes_format: false,
        run: control::restore,
    },
    Command {
        name: "snapshots",
        aliases: &[],
        usage: "snapshots",
        summary: "list snapshots",
        help: "Name, guest time and position of every snapshot.",
        example: "snapshots",
        group: CONTROL,
        args: &[],
        takes_format: false,
        run: control::snapshots,
    },
    Command {
        name: "source",
        aliases: &[],
        usage: "source FILE",
        summary: "run the commands in FILE",
        help: "Runs a command script (as --batch does); stops at the first failing command.",
        example: "source session.bpflab",
        group: SESSION,
        args: &[ArgKind::File],
        takes_format: false,
        run: source,
    },
    Command {
        name: "help",
        aliases: &["h", "?"],
        usage: "help [COMMAND]",
        summary: "list commands, or explain one",
        help: "Without an argument, every command by group; with one, its usage, help and \
               an example.",
        example: "help attach",
        group: SESSION,
        args: &[ArgKind::Command],
        takes_format: false,
        run: help,
    },
    Command {
        name: "quit",
        aliases: &["q", "exit"],
        usage: "quit",
        summary: "leave (Ctrl-D too)",
        help: "Ends the session; history is saved.",
        example: "quit",
        group: SESSION,
        args: &[],
        takes_format: false,
        run: quit,
    },
];

/// The command called `name`: exact name or alias, else a unique prefix of a name.
pub fn lookup(name: &str) -> Result<&'static Command, ReplError> {
    if let Some(c) = COMMANDS
        .iter()
        .find(|c| c.name == name || c.aliases.contains(&name))
    {
        return Ok(c);
    }
    let matches: Vec<&Command> = COMMANDS
        .iter()
        .filter(|c| !name.is_empty() && c.name.starts_with(name))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => {
            let near: Vec<&str> = COMMANDS
                .iter()
                .map(|c| c.name)
                .filter(|n| strsim::levenshtein(n, name) <= 2)
                .collect();
            let hint = if near.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", near.join(", "))
            };
            Err(ReplError::UnknownCommand {
                name: name.to_string(),
                hint,
            })
        }
        many => Err(ReplError::UnknownCommand {
            name: name.to_string(),
            hint: format!(
                " (ambiguous: {})",
                many.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// Splits `line` into its command word, `/FMT` suffix and the rest. Two-word aliases
/// (`info registers`) are recognised.
pub fn parse(line: &str) -> Result<Invocation<'_>, ReplError> {
    let line = line.trim();
    let end = line
        .find(|c: char| c.is_whitespace() || c == '/')
        .unwrap_or(line.len());
    let (mut word, mut after) = line.split_at(end);
    // Two-word aliases: `info registers`, `info symbol`.
    let mut two = None;
    if let Some(second) = after.split_whitespace().next() {
        let joined = format!("{word} {second}");
        if let Some(c) = COMMANDS
            .iter()
            .find(|c| c.aliases.contains(&joined.as_str()))
        {
            two = Some(c);
            let skip = after.find(second).unwrap_or(0) + second.len();
            after = &after[skip..];
            word = "";
        }
    }
    let cmd = match two {
        Some(c) => c,
        None => lookup(word)?,
    };
    let (format, rest) = match after.strip_prefix('/') {
        Some(f) => {
            let end = f.find(char::is_whitespace).unwrap_or(f.len());
            (&f[..end], f[end..].trim())
        }
        None => ("", after.trim()),
    };
    let inv = Invocation {
        cmd,
        format,
        rest,
        words: rest.split_whitespace().collect(),
    };
    if !format.is_empty() && !cmd.takes_format {
        return Err(inv.usage(format!("'{}' takes no /FORMAT", cmd.name)));
    }
    Ok(inv)
}

/// Runs one command line (which may hold a multi-line block) and returns what to print.
pub fn execute(session: &mut Session, line: &str) -> Result<String, ReplError> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(String::new());
    }
    let inv = parse(trimmed)?;
    let out = (inv.cmd.run)(session, &inv);
    session.sync_shared();
    out
}

/// How deep `source` may nest.
const MAX_SOURCE_DEPTH: usize = 16;

thread_local! {
    static SOURCE_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn source(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    if inv.rest.is_empty() {
        return Err(inv.usage("missing the script file"));
    }
    let path = inv.rest;
    let text = std::fs::read_to_string(path).map_err(|e| ReplError::context(path, e))?;
    let depth = SOURCE_DEPTH.with(|d| d.get());
    if depth >= MAX_SOURCE_DEPTH {
        return super::fail(format!(
            "{path}: 'source' nested more than {MAX_SOURCE_DEPTH} deep"
        ));
    }
    SOURCE_DEPTH.with(|d| d.set(depth + 1));
    let result = front::run_script(s, &text, false, false);
    SOURCE_DEPTH.with(|d| d.set(depth));
    match result {
        Ok(()) => Ok(String::new()),
        Err((line, e)) => super::fail(format!("{path}:{line}: {e}")),
    }
}

fn help(_s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 1)?;
    if let Some(name) = inv.words.first() {
        let c = lookup(name)?;
        let mut out = format!(
            "usage: {}\n{}\n\n{}\n",
            c.usage,
            c.summary,
            wrap(c.help, 78)
        );
        if !c.aliases.is_empty() {
            out.push_str(&format!("aliases: {}\n", c.aliases.join(", ")));
        }
        out.push_str(&format!("example: {}\n", c.example));
        return Ok(out);
    }
    let mut out = String::new();
    let mut groups: Vec<&str> = Vec::new();
    for c in COMMANDS {
        if !groups.contains(&c.group) {
            groups.push(c.group);
        }
    }
    for g in groups {
        out.push_str(&format!("{g}:\n"));
        for c in COMMANDS.iter().filter(|c| c.group == g) {
            out.push_str(&format!("  {:<12} {}\n", c.name, c.summary));
        }
    }
    out.push_str("'help COMMAND' explains one; commands may be abbreviated (cont, disas).\n");
    Ok(out)
}

/// Wraps text at `width` columns.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for w in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + w.len() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    out.push_str(&line);
    out
}

fn quit(s: &mut Session, inv: &Invocation<'_>) -> Result<String, ReplError> {
    inv.arity(0, 0)?;
    s.quit = true;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_help_usage_and_an_example_that_parses() {
        for c in COMMANDS {
            assert!(!c.help.is_empty() && !c.summary.is_empty(), "{}", c.name);
            assert!(c.usage.starts_with(c.name), "{}", c.name);
            let parsed = parse(c.example).expect("example parses");
            assert_eq!(parsed.cmd.name, c.name);
        }
    }

    #[test]
    fn help_describes_what_commands_do_not_future_plans() {
        for c in COMMANDS {
            assert!(!c.help.contains("will appear"), "{}: {}", c.name, c.help);
        }
        let log = parse("log").expect("log").cmd;
        assert!(log.help.contains("verifier's rejection"), "{}", log.help);
    }

    #[test]
    fn prefixes_aliases_and_formats() {
        assert_eq!(parse("cont").expect("cont").cmd.name, "continue");
        assert_eq!(parse("disas foo").expect("disas").cmd.name, "disas");
        assert_eq!(parse("info registers").expect("info").cmd.name, "regs");
        let x = parse("x/4xg $rsp").expect("x");
        assert_eq!((x.cmd.name, x.format, x.rest), ("x", "4xg", "$rsp"));
        assert!(matches!(
            parse("frobnicate"),
            Err(ReplError::UnknownCommand { .. })
        ));
        assert!(matches!(parse("s"), Ok(i) if i.cmd.name == "stepi"));
        assert!(parse("run/x").is_err());
    }
}
