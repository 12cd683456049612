//! Machine-level behaviour: ELF loading and the boot protocol, console, code hooks,
//! snapshots and determinism.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use emu::{KernelImage, LoadError, Machine, MachineConfig, StopReason};
use emu::{Limits, Regs};
use iced_x86::code_asm::*;
use std::cell::RefCell;
use std::rc::Rc;

/// A minimal ELF64 writer: (paddr, vaddr, file bytes, memsz) per PT_LOAD.
fn elf(segs: &[(u64, u64, Vec<u8>, u64)], entry: u64, class: u8, machine: u16) -> Vec<u8> {
    let phoff = 64u64;
    let mut data_off = phoff + 56 * segs.len() as u64;
    let mut out = vec![
        0x7f, b'E', b'L', b'F', class, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&machine.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&entry.to_le_bytes());
    out.extend_from_slice(&phoff.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for v in [64u16, 56, segs.len() as u16, 64, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (paddr, vaddr, bytes, memsz) in segs {
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&7u32.to_le_bytes());
        for v in [data_off, *vaddr, *paddr, bytes.len() as u64, *memsz, 0x1000] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        data_off += bytes.len() as u64;
    }
    for (_, _, bytes, _) in segs {
        out.extend_from_slice(bytes);
    }
    out
}

const KBASE: u64 = 0xffff_ffff_8010_0000;

/// A tiny higher-half kernel: checks the boot protocol, prints its command line, exits 0.
fn hello_kernel() -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut bad = a.create_label();
    let mut print = a.create_label();
    let mut done = a.create_label();
    a.cmp(rdi, 0x4250_4642).unwrap();
    a.jne(bad).unwrap();
    a.mov(rax, qword_ptr(rsi)).unwrap();
    a.cmp(rax, 0x4250_4642).unwrap();
    a.jne(bad).unwrap();
    a.mov(rbx, qword_ptr(rsi + 16)).unwrap(); // cmdline_phys (identity mapped)
    a.mov(rcx, qword_ptr(rsi + 24)).unwrap(); // cmdline_len
    a.mov(r8, qword_ptr(rsi + 8)).unwrap(); // mem_bytes
    a.mov(dx, 0x3f8u32).unwrap();
    a.set_label(&mut print).unwrap();
    a.test(rcx, rcx).unwrap();
    a.jz(done).unwrap();
    a.mov(al, byte_ptr(rbx)).unwrap();
    a.out(dx, al).unwrap();
    a.inc(rbx).unwrap();
    a.dec(rcx).unwrap();
    a.jmp(print).unwrap();
    a.set_label(&mut done).unwrap();
    a.mov(al, b'\n' as u32).unwrap();
    a.out(dx, al).unwrap();
    a.mov(eax, 0u32).unwrap();
    a.out(0xf4, eax).unwrap();
    a.hlt().unwrap();
    a.set_label(&mut bad).unwrap();
    a.mov(eax, 0x77u32).unwrap();
    a.out(0xf4, eax).unwrap();
    a.hlt().unwrap();
    let (code, _) = assemble(&mut a, KBASE);
    elf(&[(0x10_0000, KBASE, code, 0x3000)], KBASE, 2, 62)
}

fn config() -> MachineConfig {
    MachineConfig {
        mem_bytes: 64 << 20,
        cmdline: "console=ttyS0 quiet".into(),
    }
}

#[test]
fn boots_elf_with_boot_protocol_and_console() {
    let image = KernelImage::parse("hello.elf", hello_kernel()).unwrap();
    let mut m = Machine::boot_image(&config(), image).unwrap();
    let streamed = Rc::new(RefCell::new(Vec::new()));
    let s2 = streamed.clone();
    m.set_console_sink(Some(Box::new(move |b: &[u8]| {
        s2.borrow_mut().extend_from_slice(b)
    })));
    let r = m.run(Limits::insns(1_000_000));
    assert_eq!(r, StopReason::Exit(0), "{}", m.report(&r));
    assert_eq!(m.console(), b"console=ttyS0 quiet\n");
    assert_eq!(*streamed.borrow(), b"console=ttyS0 quiet\n");
    assert_eq!(m.console_tail(1), vec!["console=ttyS0 quiet".to_string()]);
    assert_eq!(m.regs().r8, 64 << 20, "mem_bytes in the boot info");
    assert!(m.image().unwrap().bytes().starts_with(b"\x7fELF"));
}

#[test]
fn bad_images_give_clear_errors() {
    let parse = |bytes: Vec<u8>| KernelImage::parse("k.img", bytes).unwrap_err();
    let e = parse(b"hello".to_vec());
    assert!(matches!(e, LoadError::NotElf { .. }), "{e}");
    assert!(e.to_string().starts_with("k.img: not an ELF image"), "{e}");
    let e = parse(elf(&[(0x10_0000, KBASE, vec![0x90], 1)], KBASE, 1, 62));
    assert!(matches!(e, LoadError::WrongClass { .. }), "{e}");
    assert!(e.to_string().contains("ELF32"), "{e}");
    let e = parse(elf(&[(0x10_0000, KBASE, vec![0x90], 1)], KBASE, 2, 183));
    assert_eq!(e.to_string(), "k.img: not an x86-64 image (e_machine 183)");
    let mut truncated = elf(&[(0x10_0000, KBASE, vec![0x90; 64], 64)], KBASE, 2, 62);
    truncated.truncate(truncated.len() - 10);
    let e = parse(truncated);
    assert!(
        matches!(e, LoadError::TruncatedSegment { index: 0, .. }),
        "{e}"
    );
    let e = parse(elf(
        &[
            (0x10_0000, KBASE, vec![0x90; 16], 0x2000),
            (0x10_1000, KBASE + 0x1000, vec![0x90], 1),
        ],
        KBASE,
        2,
        62,
    ));
    assert!(
        matches!(e, LoadError::OverlappingSegments { a: 0, b: 1, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("overlap"), "{e}");
    let far = KernelImage::parse(
        "far.elf",
        elf(&[(0x1000_0000, KBASE, vec![0x90], 1)], KBASE, 2, 62),
    )
    .unwrap();
    let e = Machine::boot_image(&config(), far).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("far.elf: segment 0 at physical 0x10000000"),
        "{e}"
    );
    assert!(e.to_string().contains("outside guest RAM"), "{e}");
    let low = KernelImage::parse(
        "low.elf",
        elf(&[(0x2000, 0x2000, vec![0x90], 1)], 0x2000, 2, 62),
    )
    .unwrap();
    let e = Machine::boot_image(&config(), low).unwrap_err();
    assert!(e.to_string().contains("boot area"), "{e}");
}

/// Kernel: timer every 500 PIT ticks (419 us); the main loop counts in RBX; the IRQ 0 handler prints
/// a letter chosen by RBX, so the output depends on exactly where each interrupt lands.
fn ticker() -> Machine {
    let mut k = CodeAssembler::new(64).unwrap();
    let mut irq0 = k.create_label();
    let mut spin = k.create_label();
    prologue(&mut k);
    program_timer(&mut k, 500, 0x01);
    k.sti().unwrap();
    k.set_label(&mut spin).unwrap();
    k.inc(rbx).unwrap();
    k.add(r12, rbx).unwrap();
    k.jmp(spin).unwrap();
    k.set_label(&mut irq0).unwrap();
    k.push(rax).unwrap();
    k.push(rdx).unwrap();
    k.mov(rax, rbx).unwrap();
    k.xor(edx, edx).unwrap();
    k.mov(ecx, 26u32).unwrap();
    k.div(rcx).unwrap();
    k.lea(eax, ptr(rdx + 0x61)).unwrap();
    k.mov(dx, 0x3f8u32).unwrap();
    k.out(dx, al).unwrap();
    eoi(&mut k);
    k.pop(rdx).unwrap();
    k.pop(rax).unwrap();
    k.iretq().unwrap();
    machine(k, None, &[gate(0x30, irq0)])
}

fn outcome(m: &mut Machine, insns: u64) -> (StopReason, Vec<u8>, Regs, u64, u64) {
    m.take_console();
    let r = m.run(Limits::insns(insns));
    (
        r,
        m.take_console(),
        m.regs(),
        m.stats().instructions,
        m.now_ns(),
    )
}

#[test]
fn snapshot_restore_resumes_identically() {
    let mut m = ticker();
    let first = outcome(&mut m, 2_000_000);
    assert_eq!(first.0, StopReason::InsnBudget);
    assert!(!first.1.is_empty(), "timer interrupts printed something");
    let snap = m.snapshot().unwrap();
    let a = outcome(&mut m, 3_000_000);
    m.restore(&snap).unwrap();
    let b = outcome(&mut m, 3_000_000);
    assert_eq!(a.1.len(), b.1.len());
    assert_eq!(a, b);
    assert!(a.1.len() >= 5, "{}", a.1.len());
}

#[test]
fn two_runs_are_identical() {
    let mut m1 = ticker();
    let mut m2 = ticker();
    let a = outcome(&mut m1, 5_000_000);
    let b = outcome(&mut m2, 5_000_000);
    assert_eq!(a, b);
    let t = m1.stats();
    assert!(
        t.instructions >= 5_000_000 && t.instructions < 5_000_100,
        "{t:?}"
    );
}

#[test]
fn code_hooks_add_and_remove_from_inside_callbacks() {
    let mut k = CodeAssembler::new(64).unwrap();
    let mut spin = k.create_label();
    let mut other = k.create_label();
    prologue(&mut k);
    k.set_label(&mut spin).unwrap();
    k.inc(rbx).unwrap();
    k.cmp(rbx, 10).unwrap();
    k.jb(spin).unwrap();
    k.set_label(&mut other).unwrap();
    k.nop().unwrap();
    k.mov(rbx, 0u64).unwrap();
    k.jmp(spin).unwrap();
    let (mut m, r, _) = machine_labels(k, None, &[]);
    let spin_ip = r.label_ip(&spin).unwrap();
    let other_ip = r.label_ip(&other).unwrap();
    let hits = Rc::new(RefCell::new(Vec::new()));
    let h = hits.clone();
    m.add_hook_fn(spin_ip, move |ctx| {
        let regs = ctx.regs().unwrap();
        assert_eq!(regs.rip, spin_ip);
        let mut byte = [0u8; 1];
        ctx.read_virt(spin_ip, &mut byte).unwrap();
        h.borrow_mut().push(("spin", regs.rbx, byte[0]));
        if regs.rbx == 2 {
            // Replace ourselves with a hook elsewhere that stops the machine.
            let me = emu::HookId::clone(&first_id());
            ctx.remove_hook(me);
            let h2 = h.clone();
            ctx.add_hook(
                other_ip,
                Box::new(move |ctx| {
                    h2.borrow_mut().push(("other", ctx.regs().unwrap().rbx, 0));
                    ctx.stop();
                }),
            );
        }
    });
    let r = m.run(Limits::insns(1_000_000));
    assert_eq!(r, StopReason::HookRequest);
    let hits = hits.borrow();
    assert_eq!(hits.len(), 4, "{hits:?}");
    assert_eq!(
        &hits[..3],
        &[("spin", 0, 0x48), ("spin", 1, 0x48), ("spin", 2, 0x48)]
    );
    assert_eq!(hits[3], ("other", 10, 0));
    assert_eq!(
        m.regs().rip,
        other_ip,
        "a stop requested by a hook takes effect before the hooked instruction"
    );
}

/// The first hook id a machine hands out.
fn first_id() -> emu::HookId {
    let mut m = Machine::new(&MachineConfig {
        mem_bytes: 1 << 20,
        cmdline: String::new(),
    })
    .unwrap();
    m.add_hook_fn(0, |_| {})
}

#[test]
fn hooks_added_between_runs_fire() {
    let mut m = ticker();
    m.run(Limits::insns(10_000));
    let rip = m.regs().rip;
    let count = Rc::new(RefCell::new(0u32));
    let c = count.clone();
    let id = m.add_hook_fn(rip, move |_| *c.borrow_mut() += 1);
    m.run(Limits::insns(10_000));
    let n = *count.borrow();
    assert!(n > 100, "{n}");
    assert!(m.remove_hook(id));
    m.run(Limits::insns(10_000));
    assert_eq!(*count.borrow(), n, "removed hooks do not fire");
}

#[test]
fn host_stop_handle() {
    let mut m = ticker();
    let h = m.stop_handle();
    h.request_stop();
    assert_eq!(m.run(Limits::none()), StopReason::HostRequest);
    assert_eq!(
        m.run(Limits::insns(1000)),
        StopReason::InsnBudget,
        "the request is consumed"
    );
}

#[test]
fn virtual_time_budget() {
    let mut m = ticker();
    let r = m.run(Limits::virtual_time(std::time::Duration::from_millis(3)));
    assert_eq!(r, StopReason::TimeBudget);
    let ns = m.now_ns();
    assert!((3_000_000..3_000_100).contains(&ns), "{ns}");
}

#[test]
fn hooks_fire_once_per_execution_across_stops_and_resyncs() {
    // Loop of 5 iterations; the hook at `spin` adds a hook elsewhere on every hit (forcing a
    // resync stop) and stops the machine on the third hit. Each execution of `spin` must be
    // seen exactly once, even though both requests restart Unicorn at the hooked instruction.
    let mut k = CodeAssembler::new(64).unwrap();
    let mut spin = k.create_label();
    let mut tail = k.create_label();
    prologue(&mut k);
    k.set_label(&mut spin).unwrap();
    k.inc(rbx).unwrap();
    k.cmp(rbx, 5).unwrap();
    k.jb(spin).unwrap();
    k.set_label(&mut tail).unwrap();
    exit(&mut k, 0);
    let (mut m, r, _) = machine_labels(k, None, &[]);
    let spin_ip = r.label_ip(&spin).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s2 = seen.clone();
    m.add_hook_fn(spin_ip, move |ctx| {
        let count = ctx.regs().unwrap().rbx;
        s2.borrow_mut().push(count);
        ctx.add_hook(0x1000 + count, Box::new(|_| {}));
        if count == 2 {
            ctx.stop();
        }
    });
    assert_eq!(m.run(Limits::insns(100_000)), StopReason::HookRequest);
    assert_eq!(m.regs().rip, spin_ip);
    assert_eq!(m.run(Limits::insns(100_000)), StopReason::Exit(0));
    assert_eq!(*seen.borrow(), vec![0u64, 1, 2, 3, 4]);
}

/// A timer-driven guest whose spin loop has a hookable instruction in the middle of its block:
/// `inc rbx; <hooked: add r12, rbx>; inc r13; jmp spin`. The IRQ 0 handler prints a letter
/// chosen by RBX, so the output records exactly where each interrupt landed.
fn ticker_mid_block() -> (Machine, u64) {
    let mut k = CodeAssembler::new(64).unwrap();
    let mut irq0 = k.create_label();
    let mut spin = k.create_label();
    let mut hooked = k.create_label();
    prologue(&mut k);
    program_timer(&mut k, 50, 0x01);
    k.sti().unwrap();
    k.set_label(&mut spin).unwrap();
    k.inc(rbx).unwrap();
    k.set_label(&mut hooked).unwrap();
    k.add(r12, rbx).unwrap();
    k.inc(r13).unwrap();
    k.jmp(spin).unwrap();
    k.set_label(&mut irq0).unwrap();
    k.push(rax).unwrap();
    k.push(rdx).unwrap();
    k.mov(rax, rbx).unwrap();
    k.xor(edx, edx).unwrap();
    k.mov(ecx, 26u32).unwrap();
    k.div(rcx).unwrap();
    k.lea(eax, ptr(rdx + 0x61)).unwrap();
    k.mov(dx, 0x3f8u32).unwrap();
    k.out(dx, al).unwrap();
    eoi(&mut k);
    k.pop(rdx).unwrap();
    k.pop(rax).unwrap();
    k.iretq().unwrap();
    let (m, r, _) = machine_labels(k, None, &[gate(0x30, irq0)]);
    let ip = r.label_ip(&hooked).unwrap();
    (m, ip)
}

#[test]
fn hook_requested_stops_do_not_double_fire_or_perturb_the_guest() {
    const BUDGET: u64 = 400_000;
    // Reference: no hooks.
    let (mut plain, _) = ticker_mid_block();
    assert_eq!(plain.run(Limits::insns(BUDGET)), StopReason::InsnBudget);
    let reference = (
        plain.take_console(),
        plain.regs(),
        plain.stats().instructions,
    );
    assert!(reference.0.len() > 5, "the timer fired: {:?}", reference.0);

    // Same guest, a hook on the mid-block instruction that stops the machine on every hit.
    let (mut m, hooked) = ticker_mid_block();
    let hits = Rc::new(RefCell::new(0u64));
    let h = hits.clone();
    m.add_hook_fn(hooked, move |ctx| {
        *h.borrow_mut() += 1;
        ctx.stop();
    });
    let mut stops = 0u64;
    loop {
        let left = BUDGET.saturating_sub(m.stats().instructions);
        match m.run(Limits::insns(left)) {
            StopReason::HookRequest => stops += 1,
            StopReason::InsnBudget => break,
            other => panic!("{}", m.report(&other)),
        }
    }
    let regs = m.regs();
    assert_eq!(
        *hits.borrow(),
        regs.r13 + u64::from(regs.rip == hooked),
        "one hook call per execution of the hooked instruction"
    );
    assert_eq!(stops, *hits.borrow());
    assert_eq!(
        (m.take_console(), regs, m.stats().instructions),
        reference,
        "a stopping hook must not change what the guest does or when interrupts land"
    );
}

/// No memory hook may cover guest RAM: Unicorn keeps every store to a page that a memory
/// hook's bounds cover on its slow path (about 2x on a Linux boot). The unmapped-access hook
/// covers exactly the physical addresses above RAM.
#[test]
fn no_memory_hook_covers_guest_ram() {
    let m = Machine::new(&config()).unwrap();
    let ram = config().mem_bytes as u64;
    assert!(!m.memory_hook_ranges().is_empty());
    for &(begin, end) in m.memory_hook_ranges() {
        assert!(
            begin <= end,
            "an unbounded hook ({begin:#x}, {end:#x}) covers RAM"
        );
        assert!(
            begin >= ram,
            "hook ({begin:#x}, {end:#x}) overlaps RAM [0, {ram:#x})"
        );
    }
    assert!(m
        .memory_hook_ranges()
        .iter()
        .any(|&(b, e)| b == ram && e == u64::MAX));
}
