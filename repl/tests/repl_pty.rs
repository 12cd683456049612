//! The interactive REPL in a pseudo-terminal: Tab completes a partial symbol, a struct
//! member after `.` and after `->` (typed from a cast), Ctrl-C pauses a running guest and
//! the prompt comes back, Ctrl-C at the prompt does not end the session, and lines typed
//! ahead (while the guest runs, or several in one write) all run, in order.

use expectrl::{ControlCode, Session};
use std::process::Command;
use std::time::Duration;

fn spawn() -> Session {
    let home = std::env::temp_dir().join(format!("bpflab-repl-pty-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("tmp home");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bpflab"));
    cmd.arg("repl")
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
