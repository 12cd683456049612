//! The side run's tests: flags against a wide-integer reference, every addressing form,
//! strings, faults, and the real Linux 6.1 tracepoint site it exists for.

use super::*;

/// Immutable test guest: (base, bytes) regions. `GuestRead` only gets `&self`, so a
/// side run cannot change it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mem {
    regions: Vec<(u64, Vec<u8>)>,
}

impl GuestRead for Mem {
    fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), ()> {
        for (i, b) in buf.iter_mut().enumerate() {
            let a = va.wrapping_add(i as u64);
            *b = self
                .regions
                .iter()
                .find_map(|(base, bytes)| {
                    let off = usize::try_from(a.checked_sub(*base)?).ok()?;
                    bytes.get(off).copied()
                })
                .ok_or(())?;
        }
        Ok(())
    }
}

const CODE: u64 = 0xffff_ffff_8100_0000;
/// Initial rsp; [STACK - 0x1000, STACK + 0x100) is mapped, zero-filled.
const STACK: u64 = 0xffff_c900_0000_8000;
const DATA: u64 = 0xffff_8880_0001_0000;

struct Rig {
    mem: Mem,
    ov: Overlay,
    cpu: Cpu,
    end: u64,
}

impl Rig {
    fn new(code: &[u8]) -> Self {
        let mem = Mem {
            regions: vec![(CODE, code.to_vec()), (STACK - 0x1000, vec![0; 0x1100])],
        };
        let mut cpu = Cpu {
            rip: CODE,
            rflags: 2,
            ..Cpu::default()
        };
        cpu.gpr[RSP] = STACK;
        Rig {
            mem,
            ov: Overlay::new(),
            cpu,
            end: CODE + code.len() as u64,
        }
    }

    /// Add a guest region (test setup only).
    fn data(mut self, base: u64, bytes: &[u8]) -> Self {
        self.mem.regions.push((base, bytes.to_vec()));
        self
    }

    fn set(mut self, regs: &[(usize, u64)]) -> Self {
        for &(i, v) in regs {
            self.cpu.gpr[i] = v;
        }
        self
    }

    fn go_to(&mut self, end: u64) -> Result<Exit, SideError> {
        run(
            &mut self.cpu,
            &self.mem,
            &mut self.ov,
            &mut |c| c.rip == end,
            10_000,
        )
    }

    /// Run to the end of the code and insist it got there.
    fn done(mut self) -> Self {
        let end = self.end;
        assert_eq!(self.go_to(end), Ok(Exit::Stopped(end)));
        self
    }

    fn step(&mut self) -> Result<(), SideError> {
        step(&mut self.cpu, &self.mem, &mut self.ov)
    }

    fn r(&self, i: usize) -> u64 {
        self.cpu.gpr[i]
    }

    fn status(&self) -> u64 {
        self.cpu.rflags & STATUS_FLAGS
    }

    fn q(&self, va: u64) -> u64 {
        read_u64(&self.mem, &self.ov, va).unwrap()
    }

    fn bytes(&self, va: u64, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        self.ov.read(&self.mem, va, &mut b).unwrap();
        b
    }
}

/// Run a single instruction on a fresh rig after `set`.
fn one(code: &[u8], set: impl FnOnce(&mut Rig)) -> Rig {
    let mut rig = Rig::new(code);
    set(&mut rig);
    rig.step().unwrap();
    assert_eq!(rig.cpu.rip, rig.end, "one instruction expected");
    rig
}

fn mnemonics(code: &[u8], ip: u64) -> Vec<Mnemonic> {
    Decoder::with_ip(64, code, ip, DecoderOptions::NONE)
        .into_iter()
        .map(|i| i.mnemonic())
        .collect()
}

// --- flag arithmetic against an independent i128 reference ------------------------

fn reference(a: u64, b: u64, c: u64, size: usize, sub: bool) -> (u64, u64) {
    let bits = size * 8;
    let m = (1i128 << bits) - 1;
    let signed = |v: i128| {
        if v >> (bits - 1) & 1 == 1 {
            v - (1i128 << bits)
        } else {
            v
        }
    };
    let (ua, ub, c) = (i128::from(a) & m, i128::from(b) & m, i128::from(c));
    let (u, s, nib) = if sub {
        (
            ua - ub - c,
            signed(ua) - signed(ub) - c,
            (ua & 15) - (ub & 15) - c,
        )
    } else {
        (
            ua + ub + c,
            signed(ua) + signed(ub) + c,
            (ua & 15) + (ub & 15) + c,
        )
    };
    let r = u64::try_from(u & m).unwrap();
    let mut f = 0;
    if !(0..=m).contains(&u) {
        f |= CF;
    }
    if !(-(1i128 << (bits - 1))..(1i128 << (bits - 1))).contains(&s) {
        f |= OF;
    }
    if !(0..=15).contains(&nib) {
        f |= AF;
    }
    if r == 0 {
        f |= ZF;
    }
    if (r >> (bits - 1)) & 1 == 1 {
        f |= SF;
    }
    if (r & 0xff).count_ones() % 2 == 0 {
        f |= PF;
    }
    (r, f)
}

/// Edge values and pseudo-random values for a width.
fn samples(size: usize) -> Vec<u64> {
    let m = mask(size);
    let sign = sign_bit(size);
    let mut v = vec![0, 1, 2, 0xf, 0x10, sign - 1, sign, sign + 1, m - 1, m];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x & m);
    }
    v
}

#[test]
fn add_sub_flags_exhaustive_8bit() {
    for a in 0..256u64 {
        for b in 0..256u64 {
            for c in 0..2 {
                assert_eq!(
                    add_flags(a, b, c, 1),
                    reference(a, b, c, 1, false),
                    "add {a:#x} {b:#x} {c}"
                );
                assert_eq!(
                    sub_flags(a, b, c, 1),
                    reference(a, b, c, 1, true),
                    "sub {a:#x} {b:#x} {c}"
                );
            }
        }
    }
}

#[test]
fn add_sub_flags_wide_widths() {
    for size in [2, 4, 8] {
        for &a in &samples(size) {
            for &b in &samples(size) {
                for c in 0..2 {
                    assert_eq!(add_flags(a, b, c, size), reference(a, b, c, size, false));
                    assert_eq!(sub_flags(a, b, c, size), reference(a, b, c, size, true));
                }
            }
        }
    }
}

#[test]
fn conditions_after_cmp_match_comparisons() {
    for size in [1, 2, 4, 8] {
        for &a in &samples(size) {
            for &b in &samples(size) {
                let (r, f) = sub_flags(a, b, 0, size);
                let (sa, sb) = (sx(a, size), sx(b, size));
                let overflow = i128::from(sa) - i128::from(sb) != i128::from(sx(r, size));
                let expect = [
                    (0, overflow),
                    (2, a < b),
                    (3, a >= b),
                    (4, a == b),
                    (5, a != b),
                    (6, a <= b),
                    (7, a > b),
                    (8, r & sign_bit(size) != 0),
                    (12, sa < sb),
                    (13, sa >= sb),
                    (14, sa <= sb),
                    (15, sa > sb),
                ];
                for (cc, want) in expect {
                    assert_eq!(
                        cond_true(cc, f),
                        want,
                        "cc {cc} a {a:#x} b {b:#x} size {size}"
                    );
                    assert_eq!(cond_true(cc ^ 1, f), !want);
                }
            }
        }
    }
}

#[test]
fn jcc_after_cmp_at_each_width() {
    let code = [
        0x31, 0xc9, // xor ecx, ecx
        0x38, 0xd8, 0x73, 0x03, 0x83, 0xc9, 0x01, // cmp al, bl; jae +3; or ecx, 1
        0x66, 0x39, 0xd8, 0x7d, 0x03, 0x83, 0xc9, 0x02, // cmp ax, bx; jge; or ecx, 2
        0x39, 0xd8, 0x76, 0x03, 0x83, 0xc9, 0x04, // cmp eax, ebx; jbe; or ecx, 4
        0x48, 0x39, 0xd8, 0x7f, 0x03, 0x83, 0xc9, 0x08, // cmp rax, rbx; jg; or ecx, 8
    ];
    let m = Rig::new(&code)
        .set(&[(RAX, (-128i64) as u64), (RBX, 1)])
        .done();
    assert_eq!(m.r(RCX), 0xe);
    let m = Rig::new(&code)
        .set(&[(RAX, 1), (RBX, (-128i64) as u64)])
        .done();
    assert_eq!(m.r(RCX), 0x1);
}

/// Where a step's result is checked: a register or a qword in memory.
enum At {
    R(usize),
    M(u64),
}

/// (instruction, where to look, expected value, expected status flags)
type Step = (&'static [u8], At, u64, u64);

#[test]
fn alu_results_and_flags_step_by_step() {
    let mut data = vec![0xff, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77];
    data.extend_from_slice(&0x8000_0000_0000_0000u64.to_le_bytes());
    let steps: &[Step] = &[
        (&[0xb0, 0x7f], At::R(RAX), 0x7f, 0),            // mov al, 0x7f
        (&[0x04, 0x01], At::R(RAX), 0x80, OF | SF | AF), // add al, 1
        (&[0x01, 0xd8], At::R(RAX), 0, CF | ZF | PF),    // add eax, ebx
        (
            &[0x66, 0x29, 0xd1],
            At::R(RCX),
            0x1_0000_ffff,
            CF | PF | AF | SF,
        ), // sub cx, dx
        (&[0x48, 0x19, 0xfe], At::R(RSI), 0x8000_777f_fffe_ffff, 0x95), // sbb rsi, rdi
        (&[0x41, 0x80, 0xd0, 0x10], At::R(R8), 0x06, CF | PF), // adc r8b, 0x10
        (&[0xf7, 0xd9], At::R(RCX), 0xffff_0001, CF | AF | SF), // neg ecx
        (&[0x66, 0xf7, 0xd2], At::R(RDX), 0xfff9, CF | AF | SF), // not dx
        (
            &[0xfe, 0x07],
            At::M(DATA),
            0x7766_5544_3322_1100,
            CF | ZF | AF | PF,
        ), // inc byte [rdi]
        (
            &[0x48, 0xff, 0x4f, 0x08],
            At::M(DATA + 8),
            i64::MAX as u64,
            CF | OF | AF | PF,
        ), // dec qword [rdi+8]
        (&[0x25, 0xf0, 0, 0, 0], At::R(RAX), 0, ZF | PF), // and eax, 0xf0
        (&[0x49, 0x83, 0xc9, 0xff], At::R(R9), u64::MAX, SF | PF), // or r9, -1
        (&[0x84, 0xdb], At::R(RBX), 0xffff_ff80, SF),    // test bl, bl
        (&[0x48, 0x33, 0x17], At::R(RDX), 0x7766_5544_3322_eef9, PF), // xor rdx, [rdi]
    ];
    let code: Vec<u8> = steps.iter().flat_map(|s| s.0.iter().copied()).collect();
    let mut m = Rig::new(&code).data(DATA, &data).set(&[
        (RBX, 0xffff_ff80),
        (RCX, 0x1_0000_0005),
        (RDX, 6),
        (RSI, 0x8000_0000_0000_0000),
        (RDI, DATA),
        (R8, 0xf5),
    ]);
    for (i, (bytes, at, value, flags)) in steps.iter().enumerate() {
        m.step().unwrap();
        let got = match at {
            At::R(r) => m.r(*r),
            At::M(va) => m.q(*va),
        };
        assert_eq!(
            (got, m.status()),
            (*value, *flags),
            "step {i}: {bytes:02x?}"
        );
    }
    assert_eq!(m.mem.read_bytes(DATA, 1), vec![0xff], "guest untouched");
}

impl Mem {
    fn read_bytes(&self, va: u64, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        self.read(va, &mut b).unwrap();
        b
    }
}

#[test]
fn movzx_movsx_movsxd() {
    let code = [
        0x0f, 0xb6, 0x06, // movzx eax, byte [rsi]
        0x48, 0x0f, 0xbe, 0x1e, // movsx rbx, byte [rsi]
        0x0f, 0xb7, 0x0e, // movzx ecx, word [rsi]
        0x48, 0x0f, 0xbf, 0x16, // movsx rdx, word [rsi]
        0x48, 0x63, 0x3e, // movsxd rdi, dword [rsi]
        0x44, 0x0f, 0xbe, 0xc3, // movsx r8d, bl
    ];
    let m = Rig::new(&code).data(DATA, &[0x80, 0xff, 0x34, 0x92]).set(&[
        (RAX, u64::MAX),
        (RSI, DATA),
        (R8, u64::MAX),
    ]);
    let m = m.done();
    assert_eq!(m.r(RAX), 0x80);
    assert_eq!(m.r(RBX), 0xffff_ffff_ffff_ff80);
    assert_eq!(m.r(RCX), 0xff80);
    assert_eq!(m.r(RDX), 0xffff_ffff_ffff_ff80);
    assert_eq!(m.r(RDI), 0xffff_ffff_9234_ff80);
    assert_eq!(m.r(R8), 0xffff_ff80);
}

#[test]
fn register_width_semantics() {
    let code = [
        0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, // mov rax, -1
        0xb8, 0x78, 0x56, 0x34, 0x12, // mov eax, 0x12345678
        0x48, 0xc7, 0xc3, 0xff, 0xff, 0xff, 0xff, // mov rbx, -1
        0xb3, 0x11, // mov bl, 0x11
        0xb7, 0x22, // mov bh, 0x22
        0x48, 0xc7, 0xc1, 0xff, 0xff, 0xff, 0xff, // mov rcx, -1
        0x66, 0xb9, 0x44, 0x33, // mov cx, 0x3344
        0x48, 0xc7, 0xc2, 0xff, 0xff, 0xff, 0xff, // mov rdx, -1
        0x83, 0xc2, 0x00, // add edx, 0
        0x48, 0xc7, 0xc6, 0xff, 0xff, 0xff, 0xff, // mov rsi, -1
        0x31, 0xf6, // xor esi, esi
        0x48, 0xc7, 0xc7, 0xff, 0xff, 0xff, 0xff, // mov rdi, -1
        0x83, 0xff, 0x00, // cmp edi, 0
        0x88, 0xfc, // mov ah, bh
        0x80, 0xc5, 0xcd, // add ch, 0xcd
    ];
    let m = Rig::new(&code).done();
    assert_eq!(m.r(RAX), 0x1234_2278);
    assert_eq!(m.r(RBX), 0xffff_ffff_ffff_2211);
    assert_eq!(m.r(RCX), 0xffff_ffff_ffff_0044);
    assert_eq!(m.status(), CF | ZF | PF | AF);
    assert_eq!(m.r(RDX), 0xffff_ffff);
    assert_eq!(m.r(RSI), 0);
    assert_eq!(m.r(RDI), u64::MAX);
}

#[test]
fn gpr_mapping_follows_iced_register_order() {
    use Register as R;
    let cases = [
        (R::AL, 0, 1, false),
        (R::BL, 3, 1, false),
        (R::AH, 0, 1, true),
        (R::BH, 3, 1, true),
        (R::SPL, 4, 1, false),
        (R::DIL, 7, 1, false),
        (R::R8L, 8, 1, false),
        (R::R15L, 15, 1, false),
        (R::AX, 0, 2, false),
        (R::R15W, 15, 2, false),
        (R::EAX, 0, 4, false),
        (R::ESP, 4, 4, false),
        (R::R15D, 15, 4, false),
        (R::RAX, 0, 8, false),
        (R::RDI, 7, 8, false),
        (R::R15, 15, 8, false),
    ];
    for (r, idx, size, high) in cases {
        assert_eq!(gpr(r), Some(Gpr { idx, size, high }), "{r:?}");
    }
    for r in [R::None, R::RIP, R::EIP, R::ES, R::GS, R::XMM0, R::CR0] {
        assert_eq!(gpr(r), None, "{r:?}");
    }
}

#[test]
fn rip_relative_load_and_lea() {
    let mut code = vec![
        0x48, 0x8b, 0x05, 0x09, 0, 0, 0, // mov rax, [rip + 9]
        0x48, 0x8d, 0x1d, 0x02, 0, 0, 0, // lea rbx, [rip + 2]
        0x90, 0x90,
    ];
    code.extend_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
    let mut m = Rig::new(&code);
    assert_eq!(m.go_to(CODE + 0x10), Ok(Exit::Stopped(CODE + 0x10)));
    assert_eq!(m.r(RAX), 0x1122_3344_5566_7788);
    assert_eq!(m.r(RBX), CODE + 0x10);
}

#[test]
fn fs_and_gs_relative_accesses() {
    let code = [
        0x65, 0x48, 0x8b, 0x04, 0x25, 0x34, 0x12, 0, 0, // mov rax, gs:[0x1234]
        0x65, 0x8b, 0x4b, 0x08, // mov ecx, gs:[rbx + 8]
        0x65, 0x48, 0x89, 0x14, 0x25, 0x10, 0, 0, 0, // mov gs:[0x10], rdx
        0x64, 0x48, 0x8b, 0x34, 0x25, 0x28, 0, 0, 0, // mov rsi, fs:[0x28]
        0x65, 0xf0, 0x83, 0x00, 0x01, // lock add dword gs:[rax], 1 (rax = 0x20 then)
    ];
    let gs = 0xffff_8880_7fc0_0000u64;
    let fs = 0x7f00_0000_1000u64;
    let mut percpu = vec![0u8; 0x2000];
    percpu[0x1234..0x123c].copy_from_slice(&0x20u64.to_le_bytes());
    percpu[0x108..0x10c].copy_from_slice(&0xcafe_f00du32.to_le_bytes());
    percpu[0x20..0x24].copy_from_slice(&41u32.to_le_bytes());
    let mut canary = vec![0u8; 0x30];
    canary[0x28..].copy_from_slice(&0x5a5a_1234_8765_a5a5u64.to_le_bytes());
    let mut m = Rig::new(&code)
        .data(gs, &percpu)
        .data(fs, &canary)
        .set(&[(RBX, 0x100), (RDX, 0xabcd)]);
    m.cpu.gs_base = gs;
    m.cpu.fs_base = fs;
    let m = m.done();
    assert_eq!(m.r(RAX), 0x20);
    assert_eq!(m.r(RCX), 0xcafe_f00d);
    assert_eq!(m.q(gs + 0x10), 0xabcd);
    assert_eq!(m.r(RSI), 0x5a5a_1234_8765_a5a5);
    assert_eq!(m.bytes(gs + 0x20, 4), 42u32.to_le_bytes());
    assert_eq!(
        m.mem.read_bytes(gs + 0x10, 8),
        [0; 8],
        "guest per-cpu area untouched"
    );
}

#[test]
fn push_call_ret_round_trip_through_overlay() {
    let code = [
        0x53, // push rbx
        0xe8, 0x02, 0, 0, 0,    // call +2 (func)
        0x59, // pop rcx
        0x90, // nop            <- stop here
        0x48, 0x8b, 0x04, 0x24, // func: mov rax, [rsp]
        0x6a, 0x42, // push 0x42
        0x5a, // pop rdx
        0xc3, // ret
    ];
    let mut m = Rig::new(&code).set(&[(RBX, 0x1111)]);
    let guest_before = m.mem.clone();
    assert_eq!(m.go_to(CODE + 7), Ok(Exit::Stopped(CODE + 7)));
    assert_eq!(m.r(RAX), CODE + 6, "return address seen on the stack");
    assert_eq!((m.r(RCX), m.r(RDX), m.r(RSP)), (0x1111, 0x42, STACK));
    assert_eq!(m.q(STACK - 8), 0x1111);
    assert_eq!(m.q(STACK - 16), CODE + 6);
    assert_eq!(m.mem, guest_before);
    assert_eq!(m.mem.read_bytes(STACK - 16, 16), [0; 16]);
}

#[test]
fn writes_never_reach_the_guest() {
    let code = [0x48, 0x89, 0x07]; // mov [rdi], rax
    let original = [1, 2, 3, 4, 5, 6, 7, 8];
    let mut m = Rig::new(&code)
        .data(DATA, &original)
        .set(&[(RAX, 0xdead_beef_cafe_f00d), (RDI, DATA)]);
    let guest_before = m.mem.clone();
    assert!(m.ov.is_empty());
    m = m.done();
    assert_eq!(m.q(DATA), 0xdead_beef_cafe_f00d);
    assert_eq!(m.mem.read_bytes(DATA, 8), original);
    assert_eq!(m.mem, guest_before);
    assert!(!m.ov.is_empty());
}

#[test]
fn rep_movs_and_stos() {
    let src: Vec<u8> = (1..=0x30).collect();
    let m = Rig::new(&[0xf3, 0xa4]).data(DATA, &src).set(&[
        (RSI, DATA),
        (RDI, DATA + 0x100),
        (RCX, 13),
    ]);
    let m = m.data(DATA + 0x100, &[0; 0x100]).done();
    assert_eq!(
        m.bytes(DATA + 0x100, 14),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0]
    );
    assert_eq!((m.r(RSI), m.r(RDI), m.r(RCX)), (DATA + 13, DATA + 0x10d, 0));

    let m = Rig::new(&[0xf3, 0x48, 0xa5]).data(DATA, &src).set(&[
        (RSI, DATA),
        (RDI, DATA + 0x100),
        (RCX, 3),
    ]);
    let m = m.data(DATA + 0x100, &[0; 0x100]).done();
    assert_eq!(m.bytes(DATA + 0x100, 24), src[..24]);
    assert_eq!((m.r(RSI), m.r(RDI), m.r(RCX)), (DATA + 24, DATA + 0x118, 0));

    // Overlapping forward byte copy sees its own earlier writes.
    let m = Rig::new(&[0xf3, 0xa4])
        .data(DATA, &src)
        .set(&[(RSI, DATA), (RDI, DATA + 1), (RCX, 4)])
        .done();
    assert_eq!(m.bytes(DATA, 6), [1, 1, 1, 1, 1, 6]);

    // Backwards with DF: std; rep movsb; cld.
    let m = Rig::new(&[0xfd, 0xf3, 0xa4, 0xfc]).data(DATA, &src);
    let m = m
        .set(&[(RSI, DATA + 3), (RDI, DATA + 0x23), (RCX, 4)])
        .done();
    assert_eq!(m.bytes(DATA + 0x20, 4), [1, 2, 3, 4]);
    assert_eq!(
        (m.r(RSI), m.r(RDI), m.cpu.rflags & DF),
        (DATA - 1, DATA + 0x1f, 0)
    );

    let m = Rig::new(&[0xf3, 0xaa])
        .data(DATA, &src)
        .set(&[(RAX, 0xab), (RDI, DATA), (RCX, 5)])
        .done();
    assert_eq!(m.bytes(DATA, 6), [0xab, 0xab, 0xab, 0xab, 0xab, 6]);
    let m = Rig::new(&[0xf3, 0x48, 0xab]).data(DATA, &src).set(&[
        (RAX, 0x0102_0304_0506_0708),
        (RDI, DATA),
        (RCX, 2),
    ]);
    let m = m.done();
    assert_eq!(
        (m.q(DATA), m.q(DATA + 8), m.r(RDI)),
        (0x0102_0304_0506_0708, 0x0102_0304_0506_0708, DATA + 16)
    );

    // rcx == 0: nothing happens.
    let m = Rig::new(&[0xf3, 0xa4])
        .set(&[(RSI, 0x1000), (RDI, 0x2000)])
        .done();
    assert!(m.ov.is_empty());
}

#[test]
fn repne_scasb_strlen_and_repe_cmpsb() {
    let code = [
        0x31, 0xc0, // xor eax, eax
        0x48, 0xc7, 0xc1, 0xff, 0xff, 0xff, 0xff, // mov rcx, -1
        0xf2, 0xae, // repne scasb
        0x48, 0xf7, 0xd1, // not rcx
        0x48, 0xff, 0xc9, // dec rcx
    ];
    let m = Rig::new(&code)
        .data(DATA, b"hello\0world\0")
        .set(&[(RDI, DATA)])
        .done();
    assert_eq!((m.r(RCX), m.r(RDI)), (5, DATA + 6));

    let mut strings = b"abcX______".to_vec();
    strings.extend_from_slice(b"abcY______");
    let m = Rig::new(&[0xf3, 0xa6])
        .data(DATA, &strings)
        .set(&[(RSI, DATA), (RDI, DATA + 10), (RCX, 10)])
        .done();
    assert_eq!((m.r(RCX), m.r(RSI), m.r(RDI)), (6, DATA + 4, DATA + 14));
    assert_eq!(m.status() & (ZF | CF), CF, "'X' < 'Y'");

    let m = Rig::new(&[0x48, 0xad])
        .data(DATA, &7u64.to_le_bytes())
        .set(&[(RSI, DATA)])
        .done(); // lodsq
    assert_eq!((m.r(RAX), m.r(RSI)), (7, DATA + 8));
}

#[test]
fn dec_jnz_loop() {
    let code = [
        0xb9, 0x0a, 0, 0, 0, // mov ecx, 10
        0x31, 0xc0, // xor eax, eax
        0x01, 0xc8, // top: add eax, ecx
        0xff, 0xc9, // dec ecx
        0x75, 0xfa, // jnz top
    ];
    let m = Rig::new(&code).done();
    assert_eq!((m.r(RAX), m.r(RCX)), (55, 0));
    assert_ne!(m.status() & ZF, 0);
}

#[test]
fn shifts_and_rotates() {
    let code = [
        0xb8, 0x81, 0, 0, 0, // mov eax, 0x81
        0xd0, 0xe0, // shl al, 1
        0x0f, 0x92, 0xc3, // setc bl
        0x0f, 0x90, 0xc7, // seto bh
        0xba, 0, 0, 0, 0x80, // mov edx, 0x80000000
        0xc1, 0xfa, 0x04, // sar edx, 4
        0x48, 0xc7, 0xc6, 0xff, 0xff, 0xff, 0xff, // mov rsi, -1
        0x48, 0xc1, 0xee, 0x3c, // shr rsi, 60
        0xb1, 0x04, // mov cl, 4
        0x49, 0xc7, 0xc0, 0x34, 0x12, 0, 0, // mov r8, 0x1234
        0x66, 0x41, 0xd3, 0xc0, // rol r8w, cl
        0x41, 0xc1, 0xc8, 0x08, // ror r8d, 8
    ];
    let m = Rig::new(&code).done();
    assert_eq!((m.r(RAX), m.r(RBX)), (0x02, 0x0101));
    assert_eq!(
        (m.r(RDX), m.r(RSI), m.r(R8)),
        (0xf800_0000, 0xf, 0x4100_0023)
    );
    assert_eq!(m.status(), PF | OF);

    // A zero count leaves the flags alone: stc; shl rax, cl (cl = 0).
    let m = Rig::new(&[0xf9, 0x48, 0xd3, 0xe0]).set(&[(RAX, 5)]).done();
    assert_eq!((m.r(RAX), m.status()), (5, CF));
    // Memory operand: rol byte [rdi], 1.
    let m = Rig::new(&[0xd0, 0x07])
        .data(DATA, &[0x81])
        .set(&[(RDI, DATA)])
        .done();
    assert_eq!(
        (m.bytes(DATA, 1)[0], m.status() & (CF | OF)),
        (0x03, CF | OF)
    );

    assert_eq!(shift_op(Shift::Sar, 0x80, 7, 1, 0).0, 0xff);
    assert_eq!(shift_op(Shift::Sar, 0x80, 8, 1, 0), (0xff, CF | PF | SF));
    assert_eq!(shift_op(Shift::Shr, 1 << 63, 63, 8, 0), (1, OF));
    assert_eq!(shift_op(Shift::Rol, 0x81, 8, 1, 0), (0x81, CF));
    assert_eq!(
        shift_op(Shift::Shl, 0x4000_0000, 2, 4, 0),
        (0, CF | ZF | PF | OF)
    );
    assert_eq!(shift_op(Shift::Ror, 1, 1, 8, 0), (1 << 63, CF | OF));

    // shld rax, rbx, 4 and shrd rax, rbx, cl.
    let m = one(&[0x48, 0x0f, 0xa4, 0xd8, 0x04], |m| {
        m.cpu.gpr[RAX] = 0x1000_0000_0000_0001;
        m.cpu.gpr[RBX] = 0xf000_0000_0000_0000;
    });
    assert_eq!((m.r(RAX), m.status() & (CF | OF)), (0x1f, CF));
    let m = one(&[0x48, 0x0f, 0xad, 0xd8], |m| {
        m.cpu.gpr[RAX] = 0x10;
        m.cpu.gpr[RBX] = 3;
        m.cpu.gpr[RCX] = 4;
    });
    assert_eq!((m.r(RAX), m.status() & CF), (0x3000_0000_0000_0001, 0));
}

#[test]
fn multiply() {
    let code = [
        0x4c, 0x6b, 0xce, 0x03, // imul r9, rsi, 3
        0x49, 0xc7, 0xc2, 0xfb, 0xff, 0xff, 0xff, // mov r10, -5
        0x4c, 0x0f, 0xaf, 0xd6, // imul r10, rsi
    ];
    let m = Rig::new(&code).set(&[(RSI, 0xf)]).done();
    assert_eq!((m.r(R9), m.r(R10) as i64), (45, -75));
    assert_eq!(m.status() & (CF | OF), 0);

    let m = one(&[0x49, 0xf7, 0xeb], |m| {
        m.cpu.gpr[RAX] = 1 << 32; // imul r11
        m.cpu.gpr[R11] = 1 << 32;
    });
    assert_eq!(
        (m.r(RAX), m.r(RDX), m.status() & (CF | OF)),
        (0, 1, CF | OF)
    );
    let m = one(&[0x48, 0xf7, 0xe3], |m| {
        m.cpu.gpr = [u64::MAX, 0, 0, 2, STACK, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    }); // mul rbx
    assert_eq!(
        (m.r(RAX), m.r(RDX), m.status() & (CF | OF)),
        (u64::MAX - 1, 1, CF | OF)
    );
    let m = one(&[0xf7, 0xe9], |m| {
        m.cpu.gpr[RAX] = 0xffff_ffff_ffff_fffe; // imul ecx: -2 * -2
        m.cpu.gpr[RCX] = 0xffff_fffe;
        m.cpu.gpr[RDX] = u64::MAX;
    });
    assert_eq!((m.r(RAX), m.r(RDX), m.status() & (CF | OF)), (4, 0, 0));
    let m = one(&[0xf6, 0xeb], |m| {
        m.cpu.gpr[RAX] = 0xaa04; // imul bl: 4 * 0x40 overflows i8
        m.cpu.gpr[RBX] = 0x40;
    });
    assert_eq!((m.r(RAX), m.status() & (CF | OF)), (0x0100, CF | OF));
}

#[test]
fn divide_and_divide_errors() {
    let m = one(&[0x48, 0xf7, 0xf3], |m| {
        m.cpu.gpr[RDX] = 1; // div rbx: 2^64 / 3
        m.cpu.gpr[RBX] = 3;
    });
    assert_eq!((m.r(RAX), m.r(RDX)), (0x5555_5555_5555_5555, 1));
    let m = one(&[0xf7, 0xf9], |m| {
        m.cpu.gpr[RAX] = 0x1234_5678_ffff_fff0; // idiv ecx: -16 / 3
        m.cpu.gpr[RDX] = u64::MAX;
        m.cpu.gpr[RCX] = 3;
    });
    assert_eq!((m.r(RAX), m.r(RDX)), (0xffff_fffb, 0xffff_ffff));
    let m = one(&[0xf6, 0xfb], |m| {
        m.cpu.gpr[RAX] = 0xaaaa_0000_0000_ff9c; // idiv bl: -100 / 7
        m.cpu.gpr[RBX] = 7;
    });
    assert_eq!(m.r(RAX), 0xaaaa_0000_0000_fef2);

    for (code, rax, rcx, rdx) in [
        (&[0xf6, 0xf1][..], 0x1000, 0, 0),               // div cl by zero
        (&[0xf6, 0xf1][..], 0x1000, 0x10, 0),            // div cl: quotient 0x100
        (&[0x48, 0xf7, 0xf9][..], 0, u64::MAX, 1 << 63), // idiv rcx: i128::MIN / -1
        (&[0xf7, 0xf9][..], 0, 1, 1),                    // idiv ecx: 2^32 / 1
    ] {
        let mut m = Rig::new(code).set(&[(RAX, rax), (RCX, rcx), (RDX, rdx)]);
        let before = m.cpu.clone();
        assert_eq!(m.step(), Err(SideError::DivideError(CODE)));
        assert_eq!(m.cpu, before);
    }
}

#[test]
fn cmov_and_setcc() {
    let code = [
        0x39, 0xd8, // cmp eax, ebx
        0x0f, 0x42, 0xca, // cmovb ecx, edx      (taken)
        0x0f, 0x43, 0xf7, // cmovae esi, edi     (not taken, still zero-extends)
        0x41, 0x0f, 0x9c, 0xc0, // setl r8b
        0x0f, 0x9f, 0x04, 0x24, // setg byte [rsp]
        0x0f, 0x45, 0x07, // cmovne eax, dword [rdi]
    ];
    let m = Rig::new(&code).data(DATA, &[0x80, 0xff, 0x34, 0x92]).set(&[
        (RAX, 1),
        (RBX, 2),
        (RCX, 0xffff_ffff_0000_0000),
        (RDX, 0x1234_5678_9abc_def0),
        (RSI, 0xffff_ffff_1111_1111),
        (RDI, DATA),
        (R8, 0xffff),
    ]);
    let mut m = m;
    m.ov.write(STACK, &[0x55]);
    let m = m.done();
    assert_eq!(m.r(RCX), 0x9abc_def0);
    assert_eq!(m.r(RSI), 0x1111_1111);
    assert_eq!(m.r(R8), 0xff01);
    assert_eq!(m.bytes(STACK, 1), [0]);
    assert_eq!(m.r(RAX), 0x9234_ff80);
}

#[test]
fn bit_tests_and_scans() {
    let code = [
        0x0f, 0xba, 0xe0, 0x03, // bt eax, 3
        0x0f, 0x92, 0xc1, // setc cl
        0x48, 0x0f, 0xba, 0xea, 0x3f, // bts rdx, 63
        0x66, 0x0f, 0xba, 0x37, 0x01, // btr word [rdi], 1
        0x48, 0x0f, 0xbb, 0x1f, // btc qword [rdi], rbx  (bit 68 -> next qword)
        0x0f, 0xab, 0x37, // bts dword [rdi], esi  (bit -1 -> previous dword)
    ];
    let mut bytes = vec![0u8; 0x20];
    bytes[0x10] = 3;
    let m = Rig::new(&code).data(DATA - 0x10, &bytes).set(&[
        (RAX, 8),
        (RBX, 68),
        (RSI, 0xffff_ffff),
        (RDI, DATA),
    ]);
    let m = m.done();
    assert_eq!((m.r(RCX), m.r(RDX)), (1, 1 << 63));
    assert_eq!(m.bytes(DATA, 2), [1, 0]);
    assert_eq!(m.q(DATA + 8), 0x10);
    assert_eq!(m.bytes(DATA - 4, 4), 0x8000_0000u32.to_le_bytes());
    assert_eq!(m.status() & CF, 0);

    let scan = [
        0xf3, 0x48, 0x0f, 0xb8, 0xc3, // popcnt rax, rbx
        0xf3, 0x48, 0x0f, 0xbc, 0xcb, // tzcnt rcx, rbx
        0xf3, 0x0f, 0xbd, 0xd3, // lzcnt edx, ebx
        0x48, 0x0f, 0xbc, 0xf3, // bsf rsi, rbx
        0x48, 0x0f, 0xbd, 0xfb, // bsr rdi, rbx
    ];
    let m = Rig::new(&scan).set(&[(RBX, 0x0000_0100_0000_00f0)]).done();
    assert_eq!(
        [m.r(RAX), m.r(RCX), m.r(RDX), m.r(RSI), m.r(RDI)],
        [5, 4, 24, 4, 40]
    );
    let m = Rig::new(&scan).set(&[(RSI, 0x77), (RDI, 0x88)]).done();
    assert_eq!(
        [m.r(RAX), m.r(RCX), m.r(RDX), m.r(RSI), m.r(RDI)],
        [0, 64, 32, 0x77, 0x88]
    );
    assert_ne!(m.status() & ZF, 0);
}

#[test]
fn xadd_and_cmpxchg() {
    let code = [
        0xf0, 0x48, 0x0f, 0xc1, 0x07, // lock xadd [rdi], rax
        0xf0, 0x0f, 0xb1, 0x4f, 0x08, // lock cmpxchg dword [rdi + 8], ecx
    ];
    let mut bytes = 10u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(&10u64.to_le_bytes());
    let m = Rig::new(&code)
        .data(DATA, &bytes)
        .set(&[(RAX, 5), (RCX, 0x77), (RDI, DATA)])
        .done();
    assert_eq!((m.q(DATA), m.r(RAX), m.q(DATA + 8)), (15, 10, 0x77));
    assert_ne!(m.status() & ZF, 0);
    let m = one(&[0x48, 0x0f, 0xb1, 0xd3], |m| {
        m.cpu.gpr[RAX] = 10; // cmpxchg rbx, rdx (mismatch)
        m.cpu.gpr[RBX] = 11;
        m.cpu.gpr[RDX] = 12;
    });
    assert_eq!((m.r(RAX), m.r(RBX), m.status() & ZF), (11, 11, 0));
}

#[test]
fn exchanges_and_conversions() {
    let m = one(&[0x48, 0x93], |m| {
        m.cpu.gpr[RAX..=RBX].copy_from_slice(&[1, 0, 0, 2])
    });
    assert_eq!((m.r(RAX), m.r(RBX)), (2, 1));
    let m = one(&[0x87, 0x0c, 0x24], |m| {
        m.cpu.gpr[RCX] = 0xffff_ffff_1234_5678
    }); // xchg [rsp], ecx
    assert_eq!(
        (m.r(RCX), m.bytes(STACK, 4)),
        (0, 0x1234_5678u32.to_le_bytes().to_vec())
    );
    let m = one(&[0x0f, 0xca], |m| m.cpu.gpr[RDX] = 0xffff_ffff_1122_3344); // bswap edx
    assert_eq!(m.r(RDX), 0x4433_2211);
    let m = one(&[0x48, 0x0f, 0xce], |m| {
        m.cpu.gpr[RSI] = 0x0102_0304_0506_0708
    }); // bswap rsi
    assert_eq!(m.r(RSI), 0x0807_0605_0403_0201);
    let m = one(&[0x48, 0x99], |m| m.cpu.gpr[RAX] = 1 << 63); // cqo
    assert_eq!(m.r(RDX), u64::MAX);
    let m = one(&[0x99], |m| {
        m.cpu.gpr[RAX..=RDX].copy_from_slice(&[0x7fff_ffff, 0, u64::MAX])
    }); // cdq
    assert_eq!(m.r(RDX), 0);
    let m = one(&[0x48, 0x98], |m| m.cpu.gpr[RAX] = 0x8000_0000); // cdqe
    assert_eq!(m.r(RAX), 0xffff_ffff_8000_0000);
    let m = one(&[0x98], |m| m.cpu.gpr[RAX] = 0xffff_ffff_0000_8000); // cwde
    assert_eq!(m.r(RAX), 0xffff_8000);
    let m = one(&[0x66, 0x98], |m| m.cpu.gpr[RAX] = 0x1234_0080); // cbw
    assert_eq!(m.r(RAX), 0x1234_ff80);
    let big = [0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]; // mov rax, imm64
    assert_eq!(one(&big, |_| {}).r(RAX), 0x1122_3344_5566_7788);
    let moffs = [0x48, 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]; // movabs rax, [moffs]
    assert_eq!(
        one(&moffs, |m| m
            .ov
            .write(0x1122_3344_5566_7788, &9u64.to_le_bytes()))
        .r(RAX),
        9
    );
    let moffs8 = [0xa0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]; // movabs al, [moffs]
    let m = one(&moffs8, |m| {
        m.ov.write(0x1122_3344_5566_7788, &[0xee]);
        m.cpu.gpr[RAX] = 0x1100;
    });
    assert_eq!(m.r(RAX), 0x11ee);
}

#[test]
fn stack_frames_and_indirect_branches() {
    let code = [
        0x55, // push rbp
        0x48, 0x89, 0xe5, // mov rbp, rsp
        0x48, 0x83, 0xec, 0x20, // sub rsp, 0x20
        0xc7, 0x45, 0xfc, 0x07, 0, 0, 0,    // mov dword [rbp - 4], 7
        0xc9, // leave
    ];
    let m = Rig::new(&code).set(&[(RBP, 0xbbbb)]).done();
    assert_eq!(
        (m.r(RSP), m.r(RBP), m.q(STACK - 8)),
        (STACK, 0xbbbb, 0xbbbb)
    );
    assert_eq!(m.bytes(STACK - 12, 4), 7u32.to_le_bytes());

    let target = CODE + 0x40;
    let mut m = Rig::new(&[0xff, 0xd0]).set(&[(RAX, target)]); // call rax
    m.step().unwrap();
    assert_eq!(
        (m.cpu.rip, m.q(STACK - 8), m.r(RSP)),
        (target, CODE + 2, STACK - 8)
    );

    let mut m = Rig::new(&[0xff, 0x53, 0x08])
        .data(DATA, &[0; 8])
        .set(&[(RBX, DATA - 8)]); // call [rbx + 8]
    m.ov.write(DATA, &target.to_le_bytes());
    m.step().unwrap();
    assert_eq!((m.cpu.rip, m.q(STACK - 8)), (target, CODE + 3));

    let mut m = Rig::new(&[0xff, 0xe1]).set(&[(RCX, target)]); // jmp rcx
    m.step().unwrap();
    assert_eq!((m.cpu.rip, m.r(RSP)), (target, STACK));

    let mut m = Rig::new(&[0xff, 0x25, 0x00, 0x01, 0, 0]); // jmp [rip + 0x100]
    m.ov.write(CODE + 0x106, &target.to_le_bytes());
    m.step().unwrap();
    assert_eq!(m.cpu.rip, target);

    let mut m = Rig::new(&[0xc2, 0x08, 0x00]); // ret 8
    m.ov.write(STACK, &target.to_le_bytes());
    m.step().unwrap();
    assert_eq!((m.cpu.rip, m.r(RSP)), (target, STACK + 16));

    let m = one(&[0x8f, 0x44, 0x24, 0x08], |m| {
        m.ov.write(STACK, &0xaau64.to_le_bytes())
    }); // pop [rsp + 8]
    assert_eq!((m.r(RSP), m.q(STACK + 16)), (STACK + 8, 0xaa));
    let m = one(&[0xff, 0x74, 0x24, 0x08], |m| {
        m.ov.write(STACK + 8, &0xbbu64.to_le_bytes())
    }); // push [rsp + 8]
    assert_eq!((m.r(RSP), m.q(STACK - 8)), (STACK - 8, 0xbb));
    let m = one(&[0x68, 0x34, 0x12, 0, 0], |_| {}); // push 0x1234
    assert_eq!((m.r(RSP), m.q(STACK - 8)), (STACK - 8, 0x1234));
    let m = one(&[0x66, 0x6a, 0x12], |_| {}); // pushw 0x12
    assert_eq!(
        (m.r(RSP), m.bytes(STACK - 2, 2)),
        (STACK - 2, vec![0x12, 0])
    );

    let mut m = Rig::new(&[0x9c, 0x9d]); // pushfq; popfq
    m.cpu.rflags = 0x8d7;
    m.step().unwrap();
    m.cpu.rflags = 0;
    m.step().unwrap();
    assert_eq!((m.cpu.rflags, m.r(RSP)), (0x8d7, STACK));
}

#[test]
fn no_ops_and_flag_instructions() {
    let code = [
        0xf3, 0x0f, 0x1e, 0xfa, // endbr64
        0x2e, 0x66, 0x0f, 0x1f, 0x04, 0x00, // nop word cs:[rax + rax]
        0xf3, 0x90, // pause
        0x0f, 0xae, 0xe8, // lfence
        0x90, // nop
        0xf9, 0xf5, 0xf5, // stc; cmc; cmc
        0xfd, // std
    ];
    let m = Rig::new(&code).done();
    let mut expect = Rig::new(&code).cpu;
    expect.rip = m.end;
    expect.rflags |= CF | DF;
    assert_eq!(m.cpu, expect);
    assert!(m.ov.is_empty());
    let m = one(&[0xf8], |m| m.cpu.rflags = CF | ZF); // clc
    assert_eq!(m.cpu.rflags, ZF);
}

#[test]
fn unsupported_instructions_are_named() {
    for (code, name) in [
        (&[0x0f, 0x0b][..], "ud2"),
        (&[0xcc][..], "int3"),
        (&[0xf4][..], "hlt"),
        (&[0xfa][..], "cli"),
        (&[0x0f, 0x05][..], "syscall"),
        (&[0x0f, 0xa2][..], "cpuid"),
        (&[0x0f, 0x31][..], "rdtsc"),
        (&[0xf2, 0x0f, 0x10, 0xc1][..], "movsd"),
        (&[0x0f, 0x20, 0xc0][..], "mov"), // mov rax, cr0
        (&[0x8c, 0xd8][..], "mov"),       // mov eax, ds
    ] {
        let mut m = Rig::new(code);
        let before = m.cpu.clone();
        assert_eq!(
            m.step(),
            Err(SideError::Unsupported {
                rip: CODE,
                mnemonic: name.into()
            })
        );
        assert_eq!(m.cpu, before);
    }
    let mut m = Rig::new(&[0x06]); // push es: invalid in 64-bit mode, even at the end of memory
    assert_eq!(m.step(), Err(SideError::Decode(CODE)));
}

#[test]
fn faults_on_unmapped_memory() {
    let mut m = Rig::new(&[0x48, 0x8b, 0x03]).set(&[(RBX, 0x1000)]); // mov rax, [rbx]
    let before = m.cpu.clone();
    assert_eq!(
        m.go_to(0),
        Err(SideError::Fault {
            rip: CODE,
            va: 0x1000
        })
    );
    assert_eq!(m.cpu, before);

    let mut m = Rig::new(&[0x48, 0x89, 0x07]).set(&[(RDI, 0x2000), (RAX, 5)]); // mov [rdi], rax
    assert_eq!(
        m.step(),
        Err(SideError::Fault {
            rip: CODE,
            va: 0x2000
        })
    );
    assert!(m.ov.is_empty());
    m.ov.map_scratch(0x2000, 16);
    m.step().unwrap();
    assert_eq!((m.q(0x2000), m.q(0x2008)), (5, 0));

    let mut m = Rig::new(&[0x53]).set(&[(RSP, 0x3000)]); // push rbx on an unmapped stack
    assert_eq!(
        m.step(),
        Err(SideError::Fault {
            rip: CODE,
            va: 0x2ff8
        })
    );
    assert_eq!(m.r(RSP), 0x3000);

    let mut m = Rig::new(&[0x48, 0x8b]); // instruction cut off by the end of mapped code
    assert_eq!(
        m.step(),
        Err(SideError::Fault {
            rip: CODE,
            va: CODE + 2
        })
    );
    m.cpu.rip = 0x5000;
    assert_eq!(
        m.step(),
        Err(SideError::Fault {
            rip: 0x5000,
            va: 0x5000
        })
    );
}

#[test]
fn budget_and_stop() {
    let mut m = Rig::new(&[0xeb, 0xfe]); // jmp .
    assert_eq!(
        run(&mut m.cpu, &m.mem, &mut m.ov, &mut |_| false, 100),
        Err(SideError::Budget(100))
    );
    assert_eq!(m.cpu.rip, CODE);
    assert_eq!(
        run(&mut m.cpu, &m.mem, &mut m.ov, &mut |_| false, 0),
        Err(SideError::Budget(0))
    );

    // stop is asked before the first instruction, which therefore never runs.
    let mut m = Rig::new(&[0x0f, 0x0b]);
    let before = m.cpu.clone();
    assert_eq!(
        run(&mut m.cpu, &m.mem, &mut m.ov, &mut |_| true, 0),
        Ok(Exit::Stopped(CODE))
    );
    assert_eq!(m.cpu, before);
    let mut seen = Vec::new();
    let mut m = Rig::new(&[0x90, 0x90, 0x0f, 0x0b]);
    let r = run(
        &mut m.cpu,
        &m.mem,
        &mut m.ov,
        &mut |c| {
            seen.push(c.rip);
            c.rip == CODE + 2
        },
        10,
    );
    assert_eq!(
        (r, seen),
        (Ok(Exit::Stopped(CODE + 2)), vec![CODE, CODE + 1, CODE + 2])
    );
}

#[test]
fn caller_emulates_an_intercepted_call() {
    let code = [
        0xe8, 0xfb, 0x0f, 0, 0, // call CODE + 0x1000 (not even mapped)
        0x48, 0x89, 0xc3, // mov rbx, rax
    ];
    let mut m = Rig::new(&code);
    assert_eq!(m.go_to(CODE + 0x1000), Ok(Exit::Stopped(CODE + 0x1000)));
    return_from_call(&mut m.cpu, &m.mem, &mut m.ov, 42).unwrap();
    assert_eq!((m.cpu.rip, m.r(RSP)), (CODE + 5, STACK));
    let m = m.done();
    assert_eq!(m.r(RBX), 42);

    let mut cpu = Cpu {
        gpr: [0, 0, 0, 0, STACK, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ..Cpu::default()
    };
    let mut ov = Overlay::new();
    let mem = Mem { regions: vec![] };
    push(&mut cpu, &mut ov, 0x1234);
    assert_eq!(
        (cpu.gpr[RSP], pop(&mut cpu, &mem, &mut ov)),
        (STACK - 8, Ok(0x1234))
    );
    assert_eq!(
        pop(&mut cpu, &mem, &mut ov),
        Err(SideError::Fault { rip: 0, va: STACK })
    );
}

#[test]
fn overlay_merges_with_guest_across_pages() {
    let base = 0x10_0ff8u64;
    let guest = Mem {
        regions: vec![(base, (0..16).collect())],
    };
    let mut ov = Overlay::new();
    ov.write(base + 6, &[0xa6, 0xa7, 0xa8]); // straddles the page boundary at 0x10_1000
    let mut buf = [0u8; 16];
    ov.read(&guest, base, &mut buf).unwrap();
    assert_eq!(
        buf,
        [0, 1, 2, 3, 4, 5, 0xa6, 0xa7, 0xa8, 9, 10, 11, 12, 13, 14, 15]
    );
    assert!(
        ov.read(&guest, base + 10, &mut buf).is_err(),
        "tail beyond the guest region"
    );
    ov.map_scratch(base + 16, 100);
    ov.read(&guest, base + 10, &mut buf).unwrap();
    assert_eq!(buf[..6], [10, 11, 12, 13, 14, 15]);
    assert_eq!(buf[6..], [0; 10]);
    ov.map_scratch(base + 6, 1);
    assert_eq!(
        read_u64(&guest, &ov, base + 6).unwrap() & 0xff,
        0xa6,
        "scratch keeps written bytes"
    );
    assert!(ov.covers(base + 16, 100) && !ov.covers(base, 8));
    assert!(format!("{ov:?}").contains("pages: 2"));
    ov.clear();
    assert!(ov.is_empty());
}

// --- the real use case: sched_switch in Linux 6.1 __schedule ---------------------

const SCHED_CODE: u64 = 0xffff_ffff_812e_b559;
const SCHED_CALL: u64 = 0xffff_ffff_812e_b57f;
const SCHED_SKIP: u64 = 0xffff_ffff_812e_b584;
const KEY_ENABLED: u64 = 0xffff_ffff_81d2_eb48;
const FUNCS: u64 = 0xffff_ffff_81d2_eb78;
const SCHED_BYTES: [u8; 43] = [
    0x8b, 0x05, 0xe9, 0x35, 0xa4, 0x00, // mov 0xa435e9(%rip),%eax
    0x85, 0xc0, // test %eax,%eax
    0x7e, 0x21, // jle ffffffff812eb584
    0x48, 0x8b, 0x05, 0x0e, 0x36, 0xa4, 0x00, // mov 0xa4360e(%rip),%rax
    0x48, 0x85, 0xc0, // test %rax,%rax
    0x74, 0x15, // je ffffffff812eb584
    0x48, 0x8b, 0x78, 0x08, // mov 0x8(%rax),%rdi
    0x8b, 0x75, 0xc4, // mov -0x3c(%rbp),%esi
    0x45, 0x89, 0xe8, // mov %r13d,%r8d
    0x4c, 0x89, 0xe1, // mov %r12,%rcx
    0x48, 0x89, 0xda, // mov %rbx,%rdx
    0xe8, 0x84, 0x4d, 0x31, 0x00, // call ffffffff81600308
];
const PREV: u64 = 0xffff_8880_0a00_0000;
const NEXT: u64 = 0xffff_8880_0b00_0000;

fn sched_rig() -> Rig {
    let mut m = Rig::new(&SCHED_BYTES)
        .data(0xffff_ffff_81d2_eb00, &[0; 0x100]) // key and funcs: 0 in the guest
        .set(&[
            (RBX, PREV),
            (R12, NEXT),
            (R13, 0xdead_0000_0000_0002),
            (RSI, u64::MAX),
            (RBP, STACK),
        ]);
    m.mem.regions[0].0 = SCHED_CODE;
    m.mem.regions[1].1[0x1000 - 0x3c] = 1; // preempt flag at -0x3c(%rbp), in the guest stack
    m.cpu.rip = SCHED_CODE;
    m
}

fn sched_run(m: &mut Rig) -> Result<Exit, SideError> {
    run(
        &mut m.cpu,
        &m.mem,
        &mut m.ov,
        &mut |c| c.rip == SCHED_CALL || c.rip == SCHED_SKIP,
        100,
    )
}

#[test]
fn sched_switch_bytes_decode_as_objdump_shows() {
    use Mnemonic as M;
    let want = [
        M::Mov,
        M::Test,
        M::Jle,
        M::Mov,
        M::Test,
        M::Je,
        M::Mov,
        M::Mov,
        M::Mov,
        M::Mov,
        M::Mov,
        M::Call,
    ];
    assert_eq!(mnemonics(&SCHED_BYTES, SCHED_CODE), want);
    let mut d = Decoder::with_ip(64, &SCHED_BYTES, SCHED_CODE, DecoderOptions::NONE);
    let first = d.decode();
    assert_eq!(first.memory_displacement64(), KEY_ENABLED);
    let targets: Vec<u64> = d
        .into_iter()
        .filter(|i| i.op_count() == 1)
        .map(|i| i.near_branch_target())
        .collect();
    assert_eq!(targets, [SCHED_SKIP, SCHED_SKIP, 0xffff_ffff_8160_0308]);
}

#[test]
fn sched_switch_enabled_branch_computes_tracepoint_arguments() {
    let mut m = sched_rig();
    let fake = 0xdead_0000_0000u64; // not mapped in the guest
    m.ov.map_scratch(fake, 64);
    m.ov.write(fake + 8, &0xffff_8880_0c0d_a7a0u64.to_le_bytes()); // funcs->data
    m.ov.write(KEY_ENABLED, &1u32.to_le_bytes());
    m.ov.write(FUNCS, &fake.to_le_bytes());
    let guest_before = m.mem.clone();
    assert_eq!(sched_run(&mut m), Ok(Exit::Stopped(SCHED_CALL)));
    assert_eq!(m.r(RDI), 0xffff_8880_0c0d_a7a0, "__data");
    assert_eq!(m.r(RSI), 1, "preempt");
    assert_eq!(m.r(RDX), PREV, "prev");
    assert_eq!(m.r(RCX), NEXT, "next");
    assert_eq!(m.r(R8), 2, "prev_state");
    assert_eq!(m.r(RAX), fake);
    assert_eq!(m.mem, guest_before);
}

#[test]
fn sched_switch_disabled_branch_skips_the_call() {
    let mut m = sched_rig();
    assert_eq!(sched_run(&mut m), Ok(Exit::Stopped(SCHED_SKIP)));
    assert_eq!((m.r(RAX), m.r(RDI), m.r(RSI)), (0, 0, u64::MAX));
    assert!(m.ov.is_empty(), "nothing was written");

    // key enabled but no probe registered: funcs == NULL also skips.
    let mut m = sched_rig();
    m.ov.write(KEY_ENABLED, &1u32.to_le_bytes());
    assert_eq!(sched_run(&mut m), Ok(Exit::Stopped(SCHED_SKIP)));
    assert_eq!(m.r(RAX), 0);
}

#[test]
fn a_decode_cache_decodes_once_and_sees_patched_code() {
    // add rax, 1 ; add rax, 1 ; (end)
    let code = [0x48, 0x83, 0xc0, 0x01, 0x48, 0x83, 0xc0, 0x01];
    let mut cache = DecodeCache::default();
    let mut m = Rig::new(&code);
    let end = m.end;
    let r = run_cached(
        &mut m.cpu,
        &m.mem,
        &mut m.ov,
        &mut |c| c.rip == end,
        100,
        &mut cache,
    );
    assert_eq!((r, m.r(RAX)), (Ok(Exit::Stopped(end)), 2));
    assert_eq!(cache.map.len(), 2, "two instructions decoded");
    // Another hit over the same code reuses them.
    let mut again = Rig::new(&code);
    let r = run_cached(
        &mut again.cpu,
        &again.mem,
        &mut again.ov,
        &mut |c| c.rip == end,
        100,
        &mut cache,
    );
    assert_eq!((r, again.r(RAX)), (Ok(Exit::Stopped(end)), 2));
    // Code patched since (here through the overlay: add rax, 2) is decoded anew.
    let mut patched = Rig::new(&code);
    patched.ov.write(CODE + 3, &[2]);
    let r = run_cached(
        &mut patched.cpu,
        &patched.mem,
        &mut patched.ov,
        &mut |c| c.rip == end,
        100,
        &mut cache,
    );
    assert_eq!((r, patched.r(RAX)), (Ok(Exit::Stopped(end)), 3));
    // And the guest's own bytes again: the cached (patched) decoding is not used.
    let mut back = Rig::new(&code);
    let r = run_cached(
        &mut back.cpu,
        &back.mem,
        &mut back.ov,
        &mut |c| c.rip == end,
        100,
        &mut cache,
    );
    assert_eq!((r, back.r(RAX)), (Ok(Exit::Stopped(end)), 2));
}
