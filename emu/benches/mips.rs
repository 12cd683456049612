//! Guest MIPS of a tight loop through our `Machine` (block hook for the virtual clock, device
//! and exception hooks installed) against the same loop on bare Unicorn (no hooks), same page
//! tables, same run. Prints both and the ratio after criterion's measurements.
#![allow(clippy::unwrap_used)]

use criterion::Criterion;
use emu::loader::BootState;
use emu::{Limits, Machine, MachineConfig, StopReason};
use std::time::{Duration, Instant};
use unicorn_engine::{Arch, Mode, Prot, RegisterX86, Unicorn};

const CODE: u64 = 0x10000;
const ITERS: u64 = 4_000_000;
/// Instructions per loop iteration.
const BODY: u64 = 5;

/// mov rdx, ITERS; loop: inc rax; add rbx, rax; xor rcx, rbx; dec rdx; jnz loop; out 0xf4, al; hlt
fn code() -> Vec<u8> {
    let mut c = vec![0x48, 0xc7, 0xc2];
    c.extend_from_slice(&(ITERS as u32).to_le_bytes());
    c.extend_from_slice(&[
        0x48, 0xff, 0xc0, // inc rax
        0x48, 0x01, 0xc3, // add rbx, rax
        0x48, 0x31, 0xd9, // xor rcx, rbx
        0x48, 0xff, 0xca, // dec rdx
        0x75, 0xf2, // jnz loop
        0x30, 0xc0, // xor al, al
        0xe6, 0xf4, // out 0xf4, al
        0xf4, // hlt
    ]);
    c
}

/// Identity-map the first 1 GiB with 2 MiB pages; GDT at 0x5000.
fn tables() -> Vec<(u64, u64)> {
    let mut v = vec![(0x1000, 0x2003), (0x2000, 0x3003)];
    for i in 0..512u64 {
        v.push((0x3000 + i * 8, (i << 21) | 0x83));
    }
    v.push((0x5010, 0x00af_9a00_0000_ffff));
    v.push((0x5018, 0x00cf_9200_0000_ffff));
    v
}

fn machine() -> Machine {
    let mut m = Machine::new(&MachineConfig {
        mem_bytes: 4 << 20,
        cmdline: String::new(),
    })
    .unwrap();
    for (pa, v) in tables() {
        m.write_phys(pa, &v.to_le_bytes()).unwrap();
    }
    m.write_phys(CODE, &code()).unwrap();
    m.enter_long_mode(&BootState {
        rip: CODE,
        rsp: 0x8000,
        rdi: 0,
        rsi: 0,
        cr3: 0x1000,
        gdt_base: 0x5000,
        gdt_limit: 0x1f,
    })
    .unwrap();
    m
}

fn run_machine(m: &mut Machine) {
    let mut r = m.regs();
    r.rip = CODE;
    m.set_regs(&r).unwrap();
    assert_eq!(m.run(Limits::none()), StopReason::Exit(0));
}

fn bare() -> Unicorn<'static, ()> {
    let mut uc = Unicorn::new(Arch::X86, Mode::MODE_64).unwrap();
    uc.mem_map(0, 4 << 20, Prot::ALL).unwrap();
    for (pa, v) in tables() {
        uc.mem_write(pa, &v.to_le_bytes()).unwrap();
    }
    uc.mem_write(CODE, &code()).unwrap();
    uc.reg_write(RegisterX86::CR3, 0x1000).unwrap();
    uc.reg_write(RegisterX86::CR4, 1 << 5).unwrap();
    uc.reg_write(RegisterX86::CR0, 0x8001_0011).unwrap();
    uc
}

fn run_bare(uc: &mut Unicorn<'static, ()>) {
    uc.emu_start(CODE, 0, 0, 0).unwrap();
}

fn mips(f: &mut dyn FnMut()) -> f64 {
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
    }
    (ITERS * BODY) as f64 / best.as_secs_f64() / 1e6
}

const PF_CODE: u64 = 0x20000;
const FAULTS: u32 = 100_000;

/// A guest that takes FAULTS page faults: `mov rax, [0x40000000]` (PDPT entry 1 not present),
/// with a #PF handler that skips the 8-byte load and returns.
fn fault_machine() -> Machine {
    let mut m = machine();
    let mut c = vec![0x0f, 0x01, 0x1c, 0x25, 0x00, 0x60, 0x00, 0x00]; // lidt [0x6000]
    c.push(0xb9); // mov ecx, FAULTS
    c.extend_from_slice(&FAULTS.to_le_bytes());
    c.extend_from_slice(&[0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40]); // mov rax, [0x40000000]
    c.extend_from_slice(&[0xff, 0xc9, 0x75, 0xf4]); // dec ecx; jnz
    c.extend_from_slice(&[0x31, 0xc0, 0xe6, 0xf4, 0xf4]); // xor eax, eax; out 0xf4, al; hlt
    m.write_phys(PF_CODE, &c).unwrap();
    // handler: add qword [rsp+8], 8; add rsp, 8; iretq
    m.write_phys(
        PF_CODE + 0x100,
        &[
            0x48, 0x83, 0x44, 0x24, 0x08, 0x08, 0x48, 0x83, 0xc4, 0x08, 0x48, 0xcf,
        ],
    )
    .unwrap();
    let mut idtr = 0xfffu16.to_le_bytes().to_vec();
    idtr.extend_from_slice(&0x7000u64.to_le_bytes());
    m.write_phys(0x6000, &idtr).unwrap();
    let h = PF_CODE + 0x100;
    let gate = (h & 0xffff) | (0x10 << 16) | (0x8e << 40) | (((h >> 16) & 0xffff) << 48);
    m.write_phys(0x7000 + 14 * 16, &gate.to_le_bytes()).unwrap();
    m
}

fn run_faults(m: &mut Machine) {
    let mut r = m.regs();
    r.rip = PF_CODE;
    m.set_regs(&r).unwrap();
    assert_eq!(m.run(Limits::none()), StopReason::Exit(0));
}

const TLB_ITERS: u32 = 20_000;
const TLB_PAGES: u64 = 16;

/// Reload CR3 (flushing the TLB) then load from TLB_PAGES distinct 4 KiB pages, TLB_ITERS times.
fn tlb_code() -> Vec<u8> {
    let mut c = vec![0xb9];
    c.extend_from_slice(&TLB_ITERS.to_le_bytes()); // mov ecx, TLB_ITERS
    let top = c.len();
    c.extend_from_slice(&[0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8]); // mov rax, cr3; mov cr3, rax
    for i in 0..TLB_PAGES {
        c.extend_from_slice(&[0x48, 0x8b, 0x14, 0x25]); // mov rdx, [0x100000 + i * 4096]
        c.extend_from_slice(&((0x10_0000 + i * 4096) as u32).to_le_bytes());
    }
    c.extend_from_slice(&[0xff, 0xc9]); // dec ecx
    let rel = top as i64 - (c.len() as i64 + 6);
    c.extend_from_slice(&[0x0f, 0x85]); // jnz top (rel32)
    c.extend_from_slice(&(rel as i32).to_le_bytes());
    c.push(0xf4); // hlt
    c
}

/// Bare Unicorn running `tlb_code`, with QEMU's own page walker (`tlb_hook` false) or with the
/// TLB in "virtual" mode filled by a Rust hook that walks the page tables (`tlb_hook` true),
/// the alternative way of knowing the #PF error code.
fn tlb_bare(tlb_hook: bool) -> Unicorn<'static, ()> {
    let mut uc = bare();
    uc.mem_write(CODE, &tlb_code()).unwrap();
    if tlb_hook {
        uc.ctl_set_tlb_type(unicorn_engine::TlbType::VIRTUAL)
            .unwrap();
        uc.add_tlb_hook(1, 0, |uc, va, _kind| {
            let cr3 = uc.reg_read(RegisterX86::CR3).ok()?;
            let mut table = cr3 & 0x000f_ffff_ffff_f000;
            for level in (2..=4u32).rev() {
                let idx = (va >> (12 + 9 * (level - 1))) & 0x1ff;
                let mut b = [0u8; 8];
                uc.mem_read(table + idx * 8, &mut b).ok()?;
                let e = u64::from_le_bytes(b);
                if e & 1 == 0 {
                    return None;
                }
                if level == 2 && e & 0x80 != 0 {
                    let pa = (e & 0x000f_ffff_ffe0_0000) | (va & 0x1f_ffff);
                    return Some(unicorn_engine::TlbEntry {
                        paddr: pa & !0xfff,
                        perms: Prot::ALL,
                    });
                }
                table = e & 0x000f_ffff_ffff_f000;
            }
            None
        })
        .unwrap();
    }
    uc
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut m = machine();
    let mut uc = bare();
    c.bench_function("tight_loop/machine", |b| b.iter(|| run_machine(&mut m)));
    c.bench_function("tight_loop/bare_unicorn", |b| b.iter(|| run_bare(&mut uc)));
    c.final_summary();
    let a = mips(&mut || run_machine(&mut m));
    let b = mips(&mut || run_bare(&mut uc));
    let mut f = fault_machine();
    c.bench_function("page_fault_delivery_100k", |b| {
        b.iter(|| run_faults(&mut f))
    });
    let t = Instant::now();
    run_faults(&mut f);
    println!(
        "page fault delivered through the guest IDT and returned with iretq: {:.0} ns each",
        t.elapsed().as_nanos() as f64 / f64::from(FAULTS)
    );
    for hook in [false, true] {
        let mut uc = tlb_bare(hook);
        let t = Instant::now();
        uc.emu_start(CODE, 0, 0, 0).unwrap();
        let fills = u64::from(TLB_ITERS) * TLB_PAGES;
        let what = if hook {
            "TLB-fill hook (Rust walker)"
        } else {
            "QEMU's own walker"
        };
        println!(
            "CR3 reload + {TLB_PAGES} page touches: {:.0} ns per TLB refill with {what}",
            t.elapsed().as_nanos() as f64 / fills as f64
        );
    }
    let t = Instant::now();
    let _m2 = machine();
    println!(
        "Machine::new (context self-test already done in this process): {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    println!("tight loop ({} instructions, {BODY}-instruction blocks): machine {a:.0} MIPS, bare Unicorn {b:.0} MIPS, ratio {:.2}x", ITERS * BODY, a / b);
}
