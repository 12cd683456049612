//! Exception and interrupt delivery through the guest IDT, with hand-assembled guests.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use emu::{Limits, StopReason};
use iced_x86::code_asm::*;

fn run(m: &mut emu::Machine) -> StopReason {
    let r = m.run(Limits::insns(10_000_000));
    if !matches!(r, StopReason::Exit(_)) {
        eprintln!("{}", m.report(&r));
    }
    r
}

#[test]
fn page_fault_handler_maps_page_and_resumes() {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut pf = a.create_label();
    prologue(&mut a);
    a.mov(rax, qword_ptr(MISSING + 8)).unwrap(); // #PF, then resumed after the handler maps it
    a.mov(qword_ptr(RESULT + 16), rax).unwrap();
    a.mov(qword_ptr(MISSING + 16), rax).unwrap(); // now mapped writable: no fault
    exit(&mut a, 0);
    a.set_label(&mut pf).unwrap();
    a.mov(rax, cr2).unwrap();
    a.mov(qword_ptr(RESULT), rax).unwrap();
    a.mov(rax, qword_ptr(rsp)).unwrap();
    a.mov(qword_ptr(RESULT + 8), rax).unwrap();
    a.inc(qword_ptr(RESULT + 24)).unwrap();
    a.mov(rax, BACKING | 3).unwrap();
    a.mov(qword_ptr(0x4000 + (MISSING >> 12) * 8), rax).unwrap();
    a.invlpg(ptr(MISSING)).unwrap();
    a.add(rsp, 8).unwrap();
    a.iretq().unwrap();
    let mut m = machine(a, None, &[gate(14, pf)]);
    m.write_phys(BACKING + 8, &0x1122_3344_5566_7788u64.to_le_bytes())
        .unwrap();
    assert_eq!(run(&mut m), StopReason::Exit(0));
    assert_eq!(result(&m, 0), MISSING + 8, "CR2");
    assert_eq!(
        result(&m, 1),
        0,
        "error code: read of a not-present page from ring 0"
    );
    assert_eq!(
        result(&m, 2),
        0x1122_3344_5566_7788,
        "the faulting load was re-executed"
    );
    assert_eq!(result(&m, 3), 1, "one fault");
}

#[test]
fn page_fault_error_code_for_user_write_to_supervisor_page() {
    let mut k = CodeAssembler::new(64).unwrap();
    let mut pf = k.create_label();
    prologue(&mut k);
    enter_user(&mut k, 0x2);
    k.set_label(&mut pf).unwrap();
    k.mov(rax, cr2).unwrap();
    k.mov(qword_ptr(RESULT), rax).unwrap();
    k.mov(rax, qword_ptr(rsp)).unwrap();
    k.mov(qword_ptr(RESULT + 8), rax).unwrap();
    exit(&mut k, 14);
    let mut u = CodeAssembler::new(64).unwrap();
    u.mov(qword_ptr(RESULT + 0x100), rax).unwrap(); // supervisor page: protection fault
    let mut m = machine(k, Some(u), &[gate(14, pf)]);
    assert_eq!(run(&mut m), StopReason::Exit(14));
    assert_eq!(result(&m, 0), RESULT + 0x100);
    assert_eq!(result(&m, 1), 0b111, "present | write | user");
}

#[test]
fn general_protection_with_error_code() {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut gp = a.create_label();
    let mut faulting = a.create_label();
    prologue(&mut a);
    a.mov(ax, 0x1234u32).unwrap();
    a.set_label(&mut faulting).unwrap();
    a.mov(ds, ax).unwrap(); // selector beyond the GDT limit: #GP(0x1234)
    exit(&mut a, 1);
    a.set_label(&mut gp).unwrap();
    a.mov(rax, qword_ptr(rsp)).unwrap();
    a.mov(qword_ptr(RESULT), rax).unwrap();
    a.mov(rax, qword_ptr(rsp + 8)).unwrap();
    a.mov(qword_ptr(RESULT + 8), rax).unwrap();
    a.mov(rax, qword_ptr(rsp + 16)).unwrap();
    a.mov(qword_ptr(RESULT + 16), rax).unwrap();
    exit(&mut a, 13);
    let (mut m, r, _) = machine_labels(a, None, &[gate(13, gp)]);
    let faulting_ip = r.label_ip(&faulting).unwrap();
    assert_eq!(run(&mut m), StopReason::Exit(13));
    assert_eq!(result(&m, 0), 0x1234, "error code = selector");
    assert_eq!(
        result(&m, 1),
        faulting_ip,
        "RIP of the faulting instruction"
    );
    assert_eq!(result(&m, 2), u64::from(KCS), "CS");
}

#[test]
fn ist_stack_and_int3_resumes_after() {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut bp_handler = a.create_label();
    prologue(&mut a);
    a.int3().unwrap();
    a.mov(qword_ptr(RESULT + 8), 1).unwrap();
    exit(&mut a, 0);
    a.set_label(&mut bp_handler).unwrap();
    a.mov(qword_ptr(RESULT), rsp).unwrap();
    a.iretq().unwrap();
    let mut m = machine(
        a,
        None,
        &[Gate {
            vector: 3,
            label: bp_handler,
            ist: 1,
            dpl: 3,
        }],
    );
    assert_eq!(run(&mut m), StopReason::Exit(0));
    assert_eq!(
        result(&m, 0),
        IST1 - 40,
        "handler ran on IST1 with a 5-word frame"
    );
    assert_eq!(result(&m, 1), 1, "execution resumed after int3");
}

#[test]
fn user_mode_syscall_and_sysretq() {
    let mut k = CodeAssembler::new(64).unwrap();
    let mut entry = k.create_label();
    let mut second = k.create_label();
    prologue(&mut k);
    // STAR: syscall CS=0x10/SS=0x18; sysret base 0x20 -> SS=0x2b, CS=0x33. LSTAR = entry.
    k.mov(ecx, 0xc000_0081u32).unwrap();
    k.mov(eax, 0u32).unwrap();
    k.mov(edx, 0x0020_0010u32).unwrap();
    k.wrmsr().unwrap();
    k.mov(ecx, 0xc000_0082u32).unwrap();
    k.lea(rax, ptr(entry)).unwrap();
    k.mov(rdx, rax).unwrap();
    k.shr(rdx, 32).unwrap();
    k.wrmsr().unwrap();
    k.mov(ecx, 0xc000_0084u32).unwrap(); // FMASK: clear IF and TF... and bit 10 (DF)
    k.mov(eax, 0x700u32).unwrap();
    k.xor(edx, edx).unwrap();
    k.wrmsr().unwrap();
    enter_user(&mut k, 0x2);
    k.set_label(&mut entry).unwrap();
    k.cmp(rdi, 2).unwrap();
    k.je(second).unwrap();
    k.mov(qword_ptr(RESULT), rcx).unwrap();
    k.mov(qword_ptr(RESULT + 8), r11).unwrap();
    k.mov(eax, cs).unwrap();
    k.mov(qword_ptr(RESULT + 16), rax).unwrap();
    k.mov(eax, ss).unwrap();
    k.mov(qword_ptr(RESULT + 24), rax).unwrap();
    k.pushfq().unwrap();
    k.pop(rax).unwrap();
    k.mov(qword_ptr(RESULT + 32), rax).unwrap();
    k.sysretq().unwrap();
    k.set_label(&mut second).unwrap();
    exit(&mut k, 0x5c);
    let mut u = CodeAssembler::new(64).unwrap();
    let mut after = u.create_label();
    u.mov(edi, 1u32).unwrap();
    u.syscall().unwrap();
    u.set_label(&mut after).unwrap();
    u.mov(eax, cs).unwrap();
    u.mov(qword_ptr(UDATA), rax).unwrap();
    u.mov(edi, 2u32).unwrap();
    u.syscall().unwrap();
    let (mut m, _, ur) = machine_labels(k, Some(u), &[]);
    let after_ip = ur.unwrap().label_ip(&after).unwrap();
    assert_eq!(run(&mut m), StopReason::Exit(0x5c));
    assert_eq!(result(&m, 0), after_ip, "RCX = RIP after syscall");
    assert_eq!(result(&m, 1) & 0xff, 0x02, "R11 = user RFLAGS");
    assert_eq!(result(&m, 2), u64::from(KCS), "kernel CS from STAR");
    assert_eq!(result(&m, 3), u64::from(KDS), "kernel SS from STAR");
    let mut b = [0u8; 8];
    emu::GuestMemory::read_phys(m.memory(), UDATA, &mut b).unwrap();
    assert_eq!(
        u64::from_le_bytes(b),
        u64::from(UCS),
        "back in ring 3 after sysretq"
    );
}

#[test]
fn timer_interrupt_in_user_mode_switches_to_rsp0() {
    let mut k = CodeAssembler::new(64).unwrap();
    let mut irq0 = k.create_label();
    prologue(&mut k);
    program_timer(&mut k, 1000, 0x01);
    enter_user(&mut k, 0x202);
    k.set_label(&mut irq0).unwrap();
    k.mov(qword_ptr(RESULT), rsp).unwrap();
    k.mov(rax, qword_ptr(rsp + 8)).unwrap();
    k.mov(qword_ptr(RESULT + 8), rax).unwrap();
    k.mov(rax, qword_ptr(rsp + 32)).unwrap();
    k.mov(qword_ptr(RESULT + 16), rax).unwrap();
    k.mov(eax, cs).unwrap();
    k.mov(qword_ptr(RESULT + 24), rax).unwrap();
    k.pushfq().unwrap();
    k.pop(rax).unwrap();
    k.mov(qword_ptr(RESULT + 32), rax).unwrap();
    exit(&mut k, 0x30);
    let mut u = CodeAssembler::new(64).unwrap();
    let mut spin = u.create_label();
    u.set_label(&mut spin).unwrap();
    u.inc(rbx).unwrap();
    u.jmp(spin).unwrap();
    let mut m = machine(k, Some(u), &[gate(0x30, irq0)]);
    assert_eq!(run(&mut m), StopReason::Exit(0x30));
    assert_eq!(result(&m, 0), RSP0 - 40, "stack switched to TSS.RSP0");
    assert_eq!(result(&m, 1), u64::from(UCS), "interrupted CS was ring 3");
    assert_eq!(result(&m, 2), u64::from(UDS), "interrupted SS");
    assert_eq!(result(&m, 3), u64::from(KCS), "handler runs in ring 0");
    assert_eq!(result(&m, 4) & 0x200, 0, "interrupt gate cleared IF");
    let ns = m.now_ns();
    assert!(
        ns >= 838_000,
        "the PIT period (1000 ticks = 838 us) elapsed: {ns}"
    );
}

#[test]
fn hlt_skips_ahead_to_the_timer() {
    let mut k = CodeAssembler::new(64).unwrap();
    let mut irq0 = k.create_label();
    prologue(&mut k);
    program_timer(&mut k, 11932, 0x01); // 10 ms
    k.rdtsc().unwrap();
    k.mov(dword_ptr(RESULT), eax).unwrap();
    k.mov(dword_ptr(RESULT + 4), edx).unwrap();
    k.sti().unwrap();
    k.hlt().unwrap();
    exit(&mut k, 2);
    k.set_label(&mut irq0).unwrap();
    k.rdtsc().unwrap();
    k.mov(dword_ptr(RESULT + 8), eax).unwrap();
    k.mov(dword_ptr(RESULT + 12), edx).unwrap();
    exit(&mut k, 0x30);
    let mut m = machine(k, None, &[gate(0x30, irq0)]);
    assert_eq!(run(&mut m), StopReason::Exit(0x30));
    let (t0, t1) = (result(&m, 0), result(&m, 1));
    assert!(
        t1 - t0 >= 9_900_000 && t1 - t0 < 10_100_000,
        "TSC advanced by ~10 ms: {t0} -> {t1}"
    );
    let s = m.stats();
    assert!(s.instructions < 1000, "{s:?}");
    assert!(s.idle_ns > 9_000_000, "{s:?}");
}

#[test]
fn cli_hlt_is_halted_with_interrupts_off() {
    let mut k = CodeAssembler::new(64).unwrap();
    prologue(&mut k);
    k.cli().unwrap();
    k.hlt().unwrap();
    let mut m = machine(k, None, &[]);
    let r = m.run(Limits::none());
    assert_eq!(r, StopReason::HaltedIrqsOff);
    assert!(!r.is_crash());
    assert_eq!(
        r.to_string(),
        "guest halted with interrupts disabled (powered off)"
    );
}

#[test]
fn missing_idt_entry_is_a_triple_fault() {
    let mut k = CodeAssembler::new(64).unwrap();
    prologue(&mut k);
    k.ud2().unwrap();
    let mut m = machine(k, None, &[]);
    let r = m.run(Limits::insns(100_000));
    assert!(
        matches!(r, StopReason::TripleFault { vector: 6, .. }),
        "{r:?}"
    );
    let report = m.report(&r).to_string();
    assert!(report.contains("triple fault"), "{report}");
}

#[test]
fn access_outside_ram_stops() {
    let mut k = CodeAssembler::new(64).unwrap();
    prologue(&mut k);
    k.mov(rax, qword_ptr(OUTSIDE)).unwrap();
    exit(&mut k, 0);
    let mut m = machine(k, None, &[]);
    let r = m.run(Limits::insns(100_000));
    assert_eq!(
        r,
        StopReason::OutsideRam {
            addr: OUTSIDE,
            access: "read"
        }
    );
}

#[test]
fn cpuid_is_ours() {
    let mut k = CodeAssembler::new(64).unwrap();
    prologue(&mut k);
    k.mov(eax, 1u32).unwrap();
    k.cpuid().unwrap();
    k.mov(dword_ptr(RESULT), edx).unwrap();
    k.mov(dword_ptr(RESULT + 4), ecx).unwrap();
    exit(&mut k, 0);
    let mut m = machine(k, None, &[]);
    assert_eq!(run(&mut m), StopReason::Exit(0));
    let r = result(&m, 0);
    let (d, c) = (r as u32, (r >> 32) as u32);
    assert_eq!(d & 1, 1, "FPU");
    assert_eq!(d & (1 << 9), 0, "no APIC");
    assert_eq!(c & (1 << 30), 0, "no RDRAND");
}

#[test]
fn i8042_reset_stops_the_machine() {
    let mut k = CodeAssembler::new(64).unwrap();
    prologue(&mut k);
    k.mov(al, 0xfeu32).unwrap();
    k.out(0x64, al).unwrap();
    k.jmp(0u64).unwrap();
    let mut m = machine(k, None, &[]);
    assert_eq!(m.run(Limits::insns(100_000)), StopReason::Reset);
}

#[test]
fn unknown_ports_are_counted() {
    let mut k = CodeAssembler::new(64).unwrap();
    prologue(&mut k);
    k.mov(dx, 0x2f8u32).unwrap();
    k.in_(al, dx).unwrap();
    k.mov(qword_ptr(RESULT), rax).unwrap();
    k.out(dx, al).unwrap();
    k.out(dx, al).unwrap();
    exit(&mut k, 0);
    let mut m = machine(k, None, &[]);
    assert_eq!(run(&mut m), StopReason::Exit(0));
    assert_eq!(result(&m, 0) & 0xff, 0xff, "reads all ones");
    let c = m.unknown_ports()[&0x2f8];
    assert_eq!((c.reads, c.writes), (1, 2));
}
