//! Console input during a run: scripts (deterministic) and live host streams, injected into
//! the UART of a hand-assembled guest that echoes what it reads.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use emu::{InputScript, InputSource, Limits, Machine, StopReason};
use iced_x86::code_asm::*;
use std::io::Write;
use std::time::Duration;

/// Echo guest: prints "ready> ", then on every UART receive interrupt (IRQ 4) echoes each byte
/// read; `q` exits with code 0. With `busy`, the main loop spins instead of halting.
fn echo_guest(busy: bool) -> Machine {
    let mut k = CodeAssembler::new(64).unwrap();
    let mut idle = k.create_label();
    let mut drain = k.create_label();
    let mut done = k.create_label();
    let mut quit = k.create_label();
    prologue(&mut k);
    program_timer(&mut k, 0, 0x10); // PIC set up, only IRQ 4 unmasked (PIT programmed but masked)
    k.mov(dx, 0x3fcu32).unwrap();
    k.mov(al, 0x08u32).unwrap(); // MCR.OUT2
    k.out(dx, al).unwrap();
    k.mov(dx, 0x3f9u32).unwrap();
    k.mov(al, 0x01u32).unwrap(); // IER: receive data available
    k.out(dx, al).unwrap();
    k.mov(dx, 0x3f8u32).unwrap();
    for b in b"ready> " {
        k.mov(al, u32::from(*b)).unwrap();
        k.out(dx, al).unwrap();
    }
    k.sti().unwrap();
    k.set_label(&mut idle).unwrap();
    if busy {
        k.inc(rbx).unwrap();
    } else {
        k.hlt().unwrap();
    }
    k.jmp(idle).unwrap();
    k.set_label(&mut drain).unwrap();
    k.mov(dx, 0x3fdu32).unwrap(); // LSR
    k.in_(al, dx).unwrap();
    k.test(al, 1).unwrap();
    k.jz(done).unwrap();
    k.mov(dx, 0x3f8u32).unwrap();
    k.in_(al, dx).unwrap();
    k.out(dx, al).unwrap();
    k.cmp(al, b'q' as u32).unwrap();
    k.je(quit).unwrap();
    k.jmp(drain).unwrap();
    k.set_label(&mut done).unwrap();
    eoi(&mut k);
    k.iretq().unwrap();
    k.set_label(&mut quit).unwrap();
    exit(&mut k, 0);
    machine(k, None, &[gate(0x34, drain)])
}

fn scripted_run() -> (StopReason, Vec<u8>, Vec<emu::InputEvent>, u64) {
    let script = InputScript::parse(
        "echo.script",
        "@wait \"ready> \"\nhello\n@sleep 1ms\n@send \"q\"\n",
    )
    .unwrap();
    let mut m = echo_guest(false);
    m.set_input(InputSource::Script(script));
    let r = m.run(Limits::virtual_time(Duration::from_secs(1)));
    (r, m.take_console(), m.input_log().to_vec(), m.now_ns())
}

#[test]
fn script_types_after_output_and_sleep_deterministically() {
    let (r, out, log, now) = scripted_run();
    assert_eq!(r, StopReason::Exit(0), "{}", String::from_utf8_lossy(&out));
    assert_eq!(out, b"ready> hello\nq");
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].bytes, b"hello\n");
    assert_eq!(log[1].bytes, b"q");
    assert_eq!(
        log[1].virtual_ns,
        log[0].virtual_ns + 1_000_000,
        "@sleep is virtual time after the previous step (idle time skipped exactly)"
    );
    assert!(now >= 1_000_000);
    assert_eq!(
        scripted_run(),
        (r, out, log, now),
        "a second run is identical"
    );
}

#[test]
fn script_input_reaches_a_busy_guest_at_a_deterministic_block() {
    let run = || {
        let mut m = echo_guest(true);
        m.set_input(InputSource::Script(
            InputScript::parse("s", "@sleep 50us\nab\n@sleep 20us\n@send \"q\"").unwrap(),
        ));
        let r = m.run(Limits::insns(10_000_000));
        (r, m.take_console(), m.input_log().to_vec(), m.regs().rbx)
    };
    let a = run();
    assert_eq!(a.0, StopReason::Exit(0));
    assert_eq!(a.1, b"ready> ab\nq");
    assert!(
        a.2[0].virtual_ns >= 50_000 && a.2[0].virtual_ns < 50_010,
        "{:?}",
        a.2
    );
    assert_eq!(a, run());
}

#[test]
fn live_stream_wakes_an_idle_guest_and_is_logged() {
    let (reader, mut writer) = std::io::pipe().unwrap();
    let mut m = echo_guest(false);
    m.set_input(InputSource::stream(reader));
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        writer.write_all(b"hi").unwrap();
        std::thread::sleep(Duration::from_millis(30));
        writer.write_all(b"q").unwrap();
    });
    let r = m.run(Limits::virtual_time(Duration::from_secs(10)));
    feeder.join().unwrap();
    assert_eq!(r, StopReason::Exit(0), "{}", m.report(&r));
    assert_eq!(m.console(), b"ready> hiq");
    let logged: Vec<u8> = m.input_log().iter().flat_map(|e| e.bytes.clone()).collect();
    assert_eq!(logged, b"hiq");
    let log = m.input_log();
    assert!(
        log.windows(2).all(|w| w[0].virtual_ns <= w[1].virtual_ns),
        "{log:?}"
    );
    assert!(
        log[0].virtual_ns >= 10_000_000,
        "idle time passes no faster than host time while a live stream is attached: {log:?}"
    );
}

#[test]
fn live_stream_reaches_a_busy_guest_at_a_block_boundary() {
    let mut m = echo_guest(true);
    m.set_input(InputSource::stream(std::io::Cursor::new(b"xyzq".to_vec())));
    let r = m.run(Limits::insns(2_000_000_000));
    assert_eq!(r, StopReason::Exit(0), "{}", m.report(&r));
    assert_eq!(m.console(), b"ready> xyzq");
    let log = m.input_log();
    let logged: Vec<u8> = log.iter().flat_map(|e| e.bytes.clone()).collect();
    assert_eq!(logged, b"xyzq");
    assert!(log.windows(2).all(|w| w[0].insns <= w[1].insns), "{log:?}");
}
