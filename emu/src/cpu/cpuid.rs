//! The CPUID the guest sees: a fixed table answered by our hook (never the host's or
//! Unicorn's default Haswell model, which reports RDRAND and lacks FPU/TSC/MSR/PAE).
//!
//! Leaf 1 EDX: FPU, PSE, TSC, MSR, PAE, CX8, PGE, CMOV, PAT, CLFSH, MMX, FXSR, SSE, SSE2.
//! Leaf 1 ECX: SSE3, CX16. No APIC (so Linux uses the 8259 PIC and the PIT), no RDRAND,
//! no XSAVE, no hypervisor bit. Extended leaf 0x80000001: SYSCALL, NX, LM, LAHF.

/// Leaf 1 EDX feature bits.
pub mod edx1 {
    /// x87 FPU.
    pub const FPU: u32 = 1 << 0;
    /// Page size extension.
    pub const PSE: u32 = 1 << 3;
    /// Time-stamp counter.
    pub const TSC: u32 = 1 << 4;
    /// RDMSR/WRMSR.
    pub const MSR: u32 = 1 << 5;
    /// Physical address extension.
    pub const PAE: u32 = 1 << 6;
    /// CMPXCHG8B.
    pub const CX8: u32 = 1 << 8;
    /// On-chip APIC (never set here).
    pub const APIC: u32 = 1 << 9;
    /// Global pages.
    pub const PGE: u32 = 1 << 13;
    /// CMOV.
    pub const CMOV: u32 = 1 << 15;
    /// Page attribute table.
    pub const PAT: u32 = 1 << 16;
    /// CLFLUSH.
    pub const CLFSH: u32 = 1 << 19;
    /// MMX.
    pub const MMX: u32 = 1 << 23;
    /// FXSAVE/FXRSTOR.
    pub const FXSR: u32 = 1 << 24;
    /// SSE.
    pub const SSE: u32 = 1 << 25;
    /// SSE2.
    pub const SSE2: u32 = 1 << 26;
}

/// Leaf 1 ECX feature bits.
pub mod ecx1 {
    /// SSE3.
    pub const SSE3: u32 = 1 << 0;
    /// CMPXCHG16B.
    pub const CX16: u32 = 1 << 13;
    /// RDRAND (never set here).
    pub const RDRAND: u32 = 1 << 30;
}

/// Leaf 0x80000001 EDX bits.
pub mod edx_ext1 {
    /// SYSCALL/SYSRET.
    pub const SYSCALL: u32 = 1 << 11;
    /// No-execute.
    pub const NX: u32 = 1 << 20;
    /// Long mode.
    pub const LM: u32 = 1 << 29;
}

const VENDOR: &[u8; 12] = b"GenuineIntel";
const BRAND: &[u8; 48] = b"bpflab virtual x86-64 CPU (Unicorn 2.1.5)\0\0\0\0\0\0\0";

/// The CPUID table.
#[derive(Debug, Clone)]
pub struct CpuidTable {
    leaves: Vec<(u32, [u32; 4])>,
}

impl Default for CpuidTable {
    fn default() -> Self {
        Self::new()
    }
}

fn le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl CpuidTable {
    /// The platform's CPU.
    pub fn new() -> Self {
        use edx1::*;
        let edx =
            FPU | PSE | TSC | MSR | PAE | CX8 | PGE | CMOV | PAT | CLFSH | MMX | FXSR | SSE | SSE2;
        let ecx = ecx1::SSE3 | ecx1::CX16;
        // family 6, model 0x3c (Haswell-like), stepping 1; CLFLUSH line 8*8 bytes, 1 logical CPU.
        let signature = (6 << 8) | (0xc << 4) | (0x3 << 16) | 1;
        let ebx1 = (8 << 8) | (1 << 16);
        let mut leaves = vec![
            (
                0,
                [1, le(&VENDOR[0..4]), le(&VENDOR[8..12]), le(&VENDOR[4..8])],
            ),
            (1, [signature, ebx1, ecx, edx]),
            (0x8000_0000, [0x8000_0008, 0, 0, 0]),
            (
                0x8000_0001,
                [0, 0, 1, edx_ext1::SYSCALL | edx_ext1::NX | edx_ext1::LM],
            ),
            (0x8000_0008, [0x3028, 0, 0, 0]), // 40 physical, 48 virtual address bits
        ];
        for i in 0..3u32 {
            let s = &BRAND[(i as usize) * 16..(i as usize + 1) * 16];
            leaves.push((
                0x8000_0002 + i,
                [le(&s[0..4]), le(&s[4..8]), le(&s[8..12]), le(&s[12..16])],
            ));
        }
        Self { leaves }
    }

    /// EAX, EBX, ECX, EDX for `leaf` (sub-leaf ignored: no leaf here has sub-leaves).
    /// Leaves above the maximum answer like the highest basic leaf, as Intel CPUs do.
    pub fn query(&self, leaf: u32, _subleaf: u32) -> [u32; 4] {
        if let Some((_, v)) = self.leaves.iter().find(|(l, _)| *l == leaf) {
            return *v;
        }
        if leaf >= 0x8000_0000 {
            [0; 4]
        } else {
            self.query(1, 0)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn features_as_specified() {
        let t = CpuidTable::new();
        let [_, _, c, d] = t.query(1, 0);
        for bit in [
            edx1::FPU,
            edx1::TSC,
            edx1::MSR,
            edx1::PAE,
            edx1::CX8,
            edx1::CMOV,
            edx1::PGE,
            edx1::FXSR,
            edx1::SSE,
            edx1::SSE2,
        ] {
            assert_ne!(d & bit, 0);
        }
        assert_eq!(d & edx1::APIC, 0);
        assert_eq!(c & ecx1::RDRAND, 0);
        let [_, _, _, d] = t.query(0x8000_0001, 0);
        assert_ne!(d & edx_ext1::SYSCALL, 0);
        assert_ne!(d & edx_ext1::NX, 0);
        let [_, b, c, d] = t.query(0, 0);
        let mut v = Vec::new();
        for r in [b, d, c] {
            v.extend_from_slice(&r.to_le_bytes());
        }
        assert_eq!(&v, b"GenuineIntel");
    }
}
