//! A tiny hand-assembled "kernel" environment for exception-delivery tests.
//!
//! Physical (= virtual, identity mapped) layout:
//! | 0x1000 PML4 | 0x2000 PDPT | 0x3000 PD | 0x4000 PT (first 2 MiB, 4 KiB pages) |
//! | 0x5000 GDT  | 0x6000 TSS  | 0x7000 IDT | 0x8000 boot stack top | 0x9000 RSP0 top |
//! | 0xa000 IST1 top | 0xb000 results | 0x10000 kernel code | 0x20000 user code (U) |
//! | 0x30000 user data/stack (U) | 0x50000 not present | 0x60000 backing page |
//! PD[1..8] map 2..16 MiB with 2 MiB pages; PD[16] maps 32 MiB (outside a 16 MiB RAM).
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use emu::loader::BootState;
use emu::{Machine, MachineConfig};
use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;

pub const PML4: u64 = 0x1000;
pub const GDT: u64 = 0x5000;
pub const TSS: u64 = 0x6000;
pub const IDT: u64 = 0x7000;
pub const BOOT_STACK: u64 = 0x8000;
pub const RSP0: u64 = 0x9000;
pub const IST1: u64 = 0xa000;
pub const RESULT: u64 = 0xb000;
pub const KCODE: u64 = 0x10000;
pub const UCODE: u64 = 0x20000;
pub const UDATA: u64 = 0x30000;
pub const MISSING: u64 = 0x50000;
pub const BACKING: u64 = 0x60000;
pub const OUTSIDE: u64 = 0x200_0000;

pub const KCS: u16 = 0x10;
pub const KDS: u16 = 0x18;
pub const UDS: u16 = 0x28 | 3;
pub const UCS: u16 = 0x30 | 3;
pub const TSS_SEL: u16 = 0x38;

/// IDT entry to install: vector, handler label, IST index, DPL.
pub struct Gate {
    pub vector: u8,
    pub label: CodeLabel,
    pub ist: u8,
    pub dpl: u8,
}

pub fn gate(vector: u8, label: CodeLabel) -> Gate {
    Gate {
        vector,
        label,
        ist: 0,
        dpl: 0,
    }
}

/// Kernel prologue: load GDT, IDT, TR. Must be emitted first.
pub fn prologue(a: &mut CodeAssembler) {
    a.lgdt(ptr(RESULT + 0xf00)).unwrap();
    a.lidt(ptr(RESULT + 0xf10)).unwrap();
    a.mov(ax, TSS_SEL as u32).unwrap();
    a.ltr(ax).unwrap();
}

/// Exit through port 0xf4 with `code`.
pub fn exit(a: &mut CodeAssembler, code: u8) {
    a.mov(al, code as u32).unwrap();
    a.out(0xf4, al).unwrap();
    a.hlt().unwrap();
}

fn w64(m: &mut Machine, pa: u64, v: u64) {
    m.write_phys(pa, &v.to_le_bytes()).unwrap();
}

pub fn assemble(
    a: &mut CodeAssembler,
    ip: u64,
) -> (Vec<u8>, iced_x86::code_asm::CodeAssemblerResult) {
    let r = a
        .assemble_options(ip, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)
        .unwrap();
    (r.inner.code_buffer.clone(), r)
}

/// Build a machine running `kernel` (at KCODE) and optionally `user` (at UCODE), with `gates`.
pub fn machine(kernel: CodeAssembler, user: Option<CodeAssembler>, gates: &[Gate]) -> Machine {
    machine_labels(kernel, user, gates).0
}

/// Like [`machine`], also returning the assembled kernel and user code (for label addresses).
pub fn machine_labels(
    mut kernel: CodeAssembler,
    user: Option<CodeAssembler>,
    gates: &[Gate],
) -> (Machine, CodeAssemblerResult, Option<CodeAssemblerResult>) {
    let mut m = Machine::new(&MachineConfig {
        mem_bytes: 16 << 20,
        cmdline: String::new(),
    })
    .unwrap();
    // Page tables.
    w64(&mut m, PML4, 0x2000 | 7);
    w64(&mut m, 0x2000, 0x3000 | 7);
    w64(&mut m, 0x3000, 0x4000 | 7);
    for i in 1..8u64 {
        w64(&mut m, 0x3000 + i * 8, (i << 21) | 0x83);
    }
    w64(&mut m, 0x3000 + 16 * 8, (16 << 21) | 0x83);
    for i in 0..512u64 {
        let pa = i << 12;
        let user = (UCODE..UDATA + 0x10000).contains(&pa);
        let flags = if pa == MISSING {
            0
        } else if user {
            7
        } else {
            3
        };
        w64(&mut m, 0x4000 + i * 8, pa | flags);
    }
    // GDT: null, null, kcode64, kdata, ucode32 (unused), udata, ucode64, TSS (16 bytes).
    let gdt = [
        0u64,
        0,
        0x00af_9a00_0000_ffff,
        0x00cf_9200_0000_ffff,
        0x00cf_fa00_0000_ffff,
        0x00cf_f200_0000_ffff,
        0x00af_fa00_0000_ffff,
        0x67 | ((TSS & 0xff_ffff) << 16) | (0x89u64 << 40) | (((TSS >> 24) & 0xff) << 56),
        TSS >> 32,
    ];
    for (i, d) in gdt.iter().enumerate() {
        w64(&mut m, GDT + i as u64 * 8, *d);
    }
    // TSS: RSP0 and IST1.
    w64(&mut m, TSS + 4, RSP0);
    w64(&mut m, TSS + 36, IST1);
    // Descriptor-table pointers used by the prologue.
    let mut p = vec![];
    p.extend_from_slice(&((gdt.len() * 8 - 1) as u16).to_le_bytes());
    p.extend_from_slice(&GDT.to_le_bytes());
    m.write_phys(RESULT + 0xf00, &p).unwrap();
    let mut p = vec![];
    p.extend_from_slice(&(256u16 * 16 - 1).to_le_bytes());
    p.extend_from_slice(&IDT.to_le_bytes());
    m.write_phys(RESULT + 0xf10, &p).unwrap();
    let (code, r) = assemble(&mut kernel, KCODE);
    m.write_phys(KCODE, &code).unwrap();
    for g in gates {
        let off = r.label_ip(&g.label).unwrap();
        let lo = (off & 0xffff)
            | (u64::from(KCS) << 16)
            | (u64::from(g.ist) << 32)
            | (0x8eu64 << 40)
            | (u64::from(g.dpl) << 45)
            | ((off >> 16) & 0xffff) << 48;
        w64(&mut m, IDT + u64::from(g.vector) * 16, lo);
        w64(&mut m, IDT + u64::from(g.vector) * 16 + 8, off >> 32);
    }
    let ur = user.map(|mut u| {
        let (code, ur) = assemble(&mut u, UCODE);
        m.write_phys(UCODE, &code).unwrap();
        ur
    });
    m.enter_long_mode(&BootState {
        rip: KCODE,
        rsp: BOOT_STACK,
        rdi: 0,
        rsi: 0,
        cr3: PML4,
        gdt_base: GDT,
        gdt_limit: (gdt.len() * 8 - 1) as u16,
    })
    .unwrap();
    (m, r, ur)
}

pub fn result(m: &Machine, i: u64) -> u64 {
    let mut b = [0u8; 8];
    emu::GuestMemory::read_phys(m.memory(), RESULT + i * 8, &mut b).unwrap();
    u64::from_le_bytes(b)
}

/// Program the PIC like Linux (bases 0x30/0x38, all masked but `unmask`) and PIT channel 0
/// in mode 2 with `count`.
pub fn program_timer(a: &mut CodeAssembler, count: u16, unmask: u8) {
    for (port, v) in [
        (0x20u8, 0x11u8),
        (0x21, 0x30),
        (0x21, 0x04),
        (0x21, 0x01),
        (0xa0, 0x11),
        (0xa1, 0x38),
        (0xa1, 0x02),
        (0xa1, 0x01),
        (0x21, !unmask),
        (0xa1, 0xff),
    ] {
        a.mov(al, v as u32).unwrap();
        a.out(port as i32, al).unwrap();
    }
    a.mov(al, 0x34u32).unwrap();
    a.out(0x43, al).unwrap();
    a.mov(al, (count & 0xff) as u32).unwrap();
    a.out(0x40, al).unwrap();
    a.mov(al, (count >> 8) as u32).unwrap();
    a.out(0x40, al).unwrap();
}

/// EOI to the master PIC.
pub fn eoi(a: &mut CodeAssembler) {
    a.mov(al, 0x20u32).unwrap();
    a.out(0x20, al).unwrap();
}

/// Enter ring 3 at UCODE with stack `UDATA + 0x1000` and RFLAGS `rflags` via iretq.
pub fn enter_user(a: &mut CodeAssembler, rflags: u32) {
    a.push(UDS as i32).unwrap();
    a.push((UDATA + 0x1000) as i32).unwrap();
    a.push(rflags as i32).unwrap();
    a.push(UCS as i32).unwrap();
    a.push(UCODE as i32).unwrap();
    a.iretq().unwrap();
}
