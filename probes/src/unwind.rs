//! Guest kernel stack unwinding with DWARF call-frame information (`.debug_frame`, `.eh_frame`),
//! falling back to frame pointers where there is none.
//!
//! Linux built without frame pointers (the bpflab Linux config uses the "guess" unwinder) can
//! only be unwound through its CFI; the teaching kernel has both. For each frame the CFI row for
//! the program counter gives the canonical frame address (a register plus an offset) and where
//! the return address and the callee-saved registers were saved, so the walk restores `rsp`,
//! `rbp`, `rbx`, `r12`-`r15` and the return address frame by frame. At a function's first
//! instruction the row says the return address is at `[rsp]`: the probed function's caller is
//! never lost. Callers are looked up at `return address - 1` (inside the call instruction).
//!
//! The FDE index is built on first use: one pass over the section, sorted by start address.
//!
//! (framehop was considered: it is built for user-space modules found through
//! `.eh_frame_hdr` and would add a second gimli version; a kernel image needs one module, one
//! `.debug_frame` and a per-register walk, which this file does in a page.)

use emu::Regs;
use gimli::{
    BaseAddresses, CfaRule, CieOrFde, DebugFrame, EhFrame, EndianSlice, LittleEndian, RegisterRule,
    UnwindContext, UnwindSection, X86_64,
};
use goblin::elf::Elf;
use std::cell::OnceCell;

type Slice = EndianSlice<'static, LittleEndian>;

/// Which section an FDE came from.
#[derive(Clone, Copy)]
enum From {
    Debug,
    Eh,
}

/// One function's CFI.
struct Entry {
    start: u64,
    end: u64,
    from: From,
    fde: gimli::FrameDescriptionEntry<Slice>,
}

/// The unwinder for one kernel image.
pub struct Unwinder {
    debug_frame: Option<DebugFrame<Slice>>,
    eh_frame: Option<(EhFrame<Slice>, BaseAddresses)>,
    index: OnceCell<Vec<Entry>>,
}

impl std::fmt::Debug for Unwinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unwinder")
            .field("debug_frame", &self.debug_frame.is_some())
            .field("eh_frame", &self.eh_frame.is_some())
            .finish()
    }
}

/// The registers a walk tracks, by DWARF number (x86-64 psABI).
#[derive(Clone, Copy, Default)]
struct Frame {
    regs: [Option<u64>; 17],
}

impl Frame {
    fn get(&self, r: gimli::Register) -> Option<u64> {
        self.regs.get(usize::from(r.0)).copied().flatten()
    }
    fn set(&mut self, r: gimli::Register, v: Option<u64>) {
        if let Some(slot) = self.regs.get_mut(usize::from(r.0)) {
            *slot = v;
        }
    }
}

impl Unwinder {
    /// The CFI sections of a kernel image (none is fine: frame pointers only).
    pub fn new(bytes: &'static [u8]) -> Self {
        let mut u = Unwinder {
            debug_frame: None,
            eh_frame: None,
            index: OnceCell::new(),
        };
        let Ok(elf) = Elf::parse(bytes) else {
            return u;
        };
        for sh in &elf.section_headers {
            let name = elf.shdr_strtab.get_at(sh.sh_name).unwrap_or("");
            let Some(data) = usize::try_from(sh.sh_offset)
                .ok()
                .zip(usize::try_from(sh.sh_size).ok())
                .and_then(|(o, n)| bytes.get(o..o.checked_add(n)?))
            else {
                continue;
            };
            match name {
                ".debug_frame" => {
                    let mut df = DebugFrame::new(data, LittleEndian);
                    df.set_address_size(8);
                    u.debug_frame = Some(df);
                }
                ".eh_frame" => {
                    let bases = BaseAddresses::default().set_eh_frame(sh.sh_addr);
                    u.eh_frame = Some((EhFrame::new(data, LittleEndian), bases));
                }
                _ => {}
            }
        }
        u
    }

    /// Whether the image has any CFI.
    pub fn has_cfi(&self) -> bool {
        self.debug_frame.is_some() || self.eh_frame.is_some()
    }

    fn index(&self) -> &[Entry] {
        self.index.get_or_init(|| {
            let mut v = Vec::new();
            if let Some(df) = &self.debug_frame {
                let bases = BaseAddresses::default();
                let mut it = df.entries(&bases);
                while let Ok(Some(e)) = it.next() {
                    if let CieOrFde::Fde(p) = e {
                        if let Ok(fde) = p.parse(DebugFrame::cie_from_offset) {
                            let start = fde.initial_address();
                            v.push(Entry {
                                start,
                                end: start.saturating_add(fde.len()),
                                from: From::Debug,
                                fde,
                            });
                        }
                    }
                }
            }
            if let Some((eh, bases)) = &self.eh_frame {
                let mut it = eh.entries(bases);
                while let Ok(Some(e)) = it.next() {
                    if let CieOrFde::Fde(p) = e {
                        if let Ok(fde) = p.parse(EhFrame::cie_from_offset) {
                            let start = fde.initial_address();
                            v.push(Entry {
                                start,
                                end: start.saturating_add(fde.len()),
                                from: From::Eh,
                                fde,
                            });
                        }
                    }
                }
            }
            v.sort_by_key(|e| e.start);
            v
        })
    }

    fn entry_for(&self, pc: u64) -> Option<&Entry> {
        let idx = self.index();
        let i = idx.partition_point(|e| e.start <= pc).checked_sub(1)?;
        let e = &idx[i];
        (pc < e.end).then_some(e)
    }

    /// One step: the caller's frame, or `None` when the CFI does not cover `pc` or cannot
    /// be evaluated.
    fn step(
        &self,
        ctx: &mut UnwindContext<usize>,
        frame: &Frame,
        lookup_pc: u64,
        read: &dyn Fn(u64) -> Option<u64>,
    ) -> Option<Frame> {
        let e = self.entry_for(lookup_pc)?;
        let row = match e.from {
            From::Debug => {
                let df = self.debug_frame.as_ref()?;
                e.fde
                    .unwind_info_for_address(df, &BaseAddresses::default(), ctx, lookup_pc)
                    .ok()?
                    .clone()
            }
            From::Eh => {
                let (eh, bases) = self.eh_frame.as_ref()?;
                e.fde
                    .unwind_info_for_address(eh, bases, ctx, lookup_pc)
                    .ok()?
                    .clone()
            }
        };
        let cfa = match row.cfa() {
            CfaRule::RegisterAndOffset { register, offset } => {
                frame.get(*register)?.wrapping_add_signed(*offset)
            }
            CfaRule::Expression(_) => return None,
        };
        let mut caller = Frame::default();
        for r in [
            X86_64::RBX,
            X86_64::RBP,
            X86_64::R12,
            X86_64::R13,
            X86_64::R14,
            X86_64::R15,
            X86_64::RA,
        ] {
            let v = match row.register(r) {
                // gimli reports registers the CFI never mentions as undefined; for the
                // callee-saved ones the psABI default is "same value".
                RegisterRule::Undefined if r == X86_64::RA => None,
                RegisterRule::Undefined | RegisterRule::SameValue => frame.get(r),
                RegisterRule::Offset(o) => read(cfa.wrapping_add_signed(o)),
                RegisterRule::ValOffset(o) => Some(cfa.wrapping_add_signed(o)),
                RegisterRule::Register(other) => frame.get(other),
                // Callee-saved registers without a rule keep their value (the psABI default).
                _ if r != X86_64::RA => frame.get(r),
                _ => None,
            };
            caller.set(r, v);
        }
        caller.set(X86_64::RSP, Some(cfa));
        Some(caller)
    }

    /// The stack at `regs`, innermost first: the interrupted address, then each return
    /// address, at most `max` entries. CFI where it exists, frame pointers elsewhere;
    /// `is_kernel` accepts a return address.
    pub fn unwind(
        &self,
        regs: &Regs,
        read: &dyn Fn(u64) -> Option<u64>,
        max: usize,
        is_kernel: &dyn Fn(u64) -> bool,
    ) -> Vec<u64> {
        let mut ips = vec![regs.rip];
        let mut frame = Frame::default();
        for (r, v) in [
            (X86_64::RSP, regs.rsp),
            (X86_64::RBP, regs.rbp),
            (X86_64::RBX, regs.rbx),
            (X86_64::R12, regs.r12),
            (X86_64::R13, regs.r13),
            (X86_64::R14, regs.r14),
            (X86_64::R15, regs.r15),
        ] {
            frame.set(r, Some(v));
        }
        let mut ctx = UnwindContext::new();
        let mut pc = regs.rip;
        let mut first = true;
        while ips.len() < max {
            let lookup = if first { pc } else { pc.wrapping_sub(1) };
            let sp = frame.get(X86_64::RSP).unwrap_or(0);
            let stepped = self.step(&mut ctx, &frame, lookup, read);
            let next = match stepped {
                Some(f) => f,
                None => {
                    // Frame pointers: [rbp] = caller's rbp, [rbp + 8] = return address.
                    let Some(fp) = frame.get(X86_64::RBP).filter(|&fp| fp > sp) else {
                        break;
                    };
                    let mut f = Frame::default();
                    f.set(X86_64::RBP, read(fp));
                    f.set(X86_64::RA, read(fp.wrapping_add(8)));
                    f.set(X86_64::RSP, Some(fp.wrapping_add(16)));
                    f
                }
            };
            let Some(ra) = next.get(X86_64::RA).filter(|&a| is_kernel(a)) else {
                break;
            };
            // The stack only grows upwards as we unwind.
            if next.get(X86_64::RSP).is_none_or(|nsp| nsp <= sp) {
                break;
            }
            ips.push(ra);
            pc = ra;
            frame = next;
            first = false;
        }
        ips
    }
}
