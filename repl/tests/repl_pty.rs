//! The interactive REPL in a pseudo-terminal: Tab completes a partial symbol, an attach point
//! (its kind, then its functions), a struct member after `.` and after `->` (typed from a
//! cast), Ctrl-C pauses a running guest and
//! the prompt comes back, Ctrl-C at the prompt does not end the session, and lines typed
//! ahead (while the guest runs, or several in one write) all run, in order; on Linux, `tty`
//! reaches the guest's shell and a breakpoint on `do_sys_openat2` fires when it runs `cat`.

use expectrl::{ControlCode, Session};
use std::process::Command;
use std::time::Duration;

fn spawn() -> Session {
    spawn_with(&[])
}

fn spawn_with(args: &[&str]) -> Session {
    let home = std::env::temp_dir().join(format!("bpflab-repl-pty-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("tmp home");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bpflab"));
    cmd.arg("repl")
        .args(args)
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("TERM", "xterm")
        .env("NO_COLOR", "1");
    let mut p = Session::spawn(cmd).expect("spawns in a pty");
    p.set_expect_timeout(Some(Duration::from_secs(60)));
    p
}

#[test]
fn tab_completes_symbols_and_members_and_ctrl_c_pauses_the_guest() {
    let mut p = spawn();
    p.expect("'help' lists commands").expect("banner");
    p.expect("(bpflab)").expect("prompt");

    // A partial symbol.
    p.send("sym dst_disc").expect("send");
    p.send("\t").expect("tab");
    p.send("\r").expect("enter");
    p.expect("function, 13 bytes").expect("sym dst_discard ran");
    p.expect("(bpflab)").expect("prompt");

    // An attach point: the kind, then its functions.
    p.send("list fex").expect("send");
    p.send("\t").expect("tab");
    p.send("dst_disc").expect("send");
    p.send("\t").expect("tab");
    p.send(" -v\r").expect("enter");
    p.expect("fexit:dst_discard")
        .expect("list fexit:dst_discard ran");
    p.expect("retval").expect("with the return value");
    p.expect("(bpflab)").expect("prompt");

    // A partial member after '.'.
    p.send("print init_task.com").expect("send");
    p.send("\t").expect("tab");
    p.send("\r").expect("enter");
    p.expect("\"swapper/0\"").expect("print init_task.comm ran");
    p.expect("(bpflab)").expect("prompt");

    // A partial member after '->', typed from a cast.
    p.send("ptype ((struct sk_buff *)0)->de").expect("send");
    p.send("\t").expect("tab");
    p.send("\r").expect("enter");
    p.expect("type = struct net_device *")
        .expect("ptype ...->dev ran");
    p.expect("(bpflab)").expect("prompt");

    // Ctrl-C pauses a running guest (real time: the guest takes 3 s of host time).
    p.send("realtime on\r").expect("send");
    p.expect("real time").expect("realtime on");
    p.expect("(bpflab)").expect("prompt");
    p.send("run\r").expect("send");
    p.expect("Welcome to the bpflab teaching kernel")
        .expect("guest output streams");
    std::thread::sleep(Duration::from_millis(300));
    p.send(ControlCode::EndOfText).expect("ctrl-c");
    p.expect("interrupted").expect("the guest pauses");
    p.expect("(bpflab)").expect("prompt after Ctrl-C");
    p.send("status\r").expect("send");
    p.expect("paused: stopped by host request")
        .expect("status after Ctrl-C");
    p.expect("(bpflab)").expect("prompt");

    // Ctrl-C at the prompt keeps the session.
    p.send(ControlCode::EndOfText).expect("ctrl-c");
    p.expect("^C").expect("echo");
    p.send("print 6 * 7\r").expect("send");
    p.expect("(int)42").expect("still usable");
    p.send("quit\r").expect("send");
    p.expect(expectrl::Eof).expect("exits");
}

#[test]
fn lines_typed_while_the_guest_runs_all_run_in_order() {
    let mut p = spawn();
    p.expect("(bpflab)").expect("prompt");
    p.send("realtime on\r").expect("send");
    p.expect("real time").expect("realtime on");
    p.expect("(bpflab)").expect("prompt");
    // The guest runs for 500 ms of host time; three lines are typed meanwhile.
    p.send("run 500ms\r").expect("send");
    p.expect("Welcome to the bpflab teaching kernel")
        .expect("the guest runs");
    p.send("print 1000 + 1\rprint 1000 + 2\r").expect("send");
    p.send("print 1000 + 3\r").expect("send");
    p.expect("paused at").expect("the run ends");
    p.expect("(int)1001")
        .expect("the first typed-ahead line ran");
    p.expect("(int)1002")
        .expect("the second typed-ahead line ran");
    p.expect("(int)1003")
        .expect("the third typed-ahead line ran");
    // Several lines in one write at the prompt.
    p.send("print 2000 + 1\rprint 2000 + 2\rquit\r")
        .expect("send");
    p.expect("(int)2001").expect("first of one write");
    p.expect("(int)2002").expect("second of one write");
    p.expect(expectrl::Eof).expect("quit, the third, ran");
}

/// Ctrl-] leaves `tty`.
fn detach(p: &mut Session) {
    p.send([0x1du8]).expect("ctrl-]");
    p.expect("back at the prompt").expect("detached");
}

#[test]
fn the_linux_shell_through_tty_and_a_breakpoint_when_it_runs_cat() {
    emu::loader::linux::image_dir()
        .filter(|d| d.join("vmlinux").is_file())
        .expect("no Linux image: run `bpflab image build linux` (scripts/test.sh builds it)");
    let mut p = spawn_with(&["--image", "linux"]);
    p.expect("linux booted").expect("banner");
    p.expect("(bpflab)").expect("prompt");

    // The shell, typed at through the terminal; Ctrl-] comes back.
    p.send("tty\r").expect("send");
    p.expect("Ctrl-] returns").expect("tty connects");
    p.expect("/ # ").expect("the guest's shell prompt");
    p.send("echo hi-$((6 * 7))\r").expect("send");
    p.expect("hi-42").expect("the shell ran what was typed");
    detach(&mut p);
    p.expect("(bpflab)").expect("prompt");

    // A breakpoint fires when the shell runs cat.
    p.send("break do_sys_openat2\r").expect("send");
    p.expect("Breakpoint 1 at").expect("break");
    p.expect("(bpflab)").expect("prompt");
    p.send("tty\r").expect("send");
    p.expect("Ctrl-] returns").expect("tty connects");
    p.send("cat /proc/version\r").expect("send");
    // The shell may open a file of its own first (busybox ash looks up /etc/passwd for its
    // prompt, depending on when the keys arrive): go on until cat's open.
    let mut opened = Vec::new();
    for _ in 0..4 {
        p.expect("Breakpoint 1,").expect("the breakpoint fires");
        p.expect("(bpflab)").expect("prompt");
        p.send("print (char *)$rsi\r").expect("send");
        let name = p
            .expect(expectrl::Regex(r#"= "[^"]*""#))
            .expect("the file name");
        let name = String::from_utf8_lossy(name.get(0).unwrap_or_default()).into_owned();
        p.expect("(bpflab)").expect("prompt");
        opened.push(name);
        if opened.last().is_some_and(|n| n.contains("/proc/version")) {
            break;
        }
        p.send("tty\r").expect("send");
    }
    assert!(
        opened.last().is_some_and(|n| n.contains("/proc/version")),
        "cat's open never stopped at the breakpoint; opened: {opened:?}"
    );

    // Without the breakpoint, cat finishes.
    p.send("delete 1\r").expect("send");
    p.expect("(bpflab)").expect("prompt");
    p.send("tty\r").expect("send");
    p.expect("Linux version 6.1").expect("cat's output");
    p.expect("/ # ").expect("the shell prompt again");
    detach(&mut p);
    p.send("quit\r").expect("send");
    p.expect(expectrl::Eof).expect("exits");
}
