//! Booting: loading an image by its protocol (ELF, Linux 64-bit boot protocol) and entering
//! long mode.

#[allow(unused_imports)]
use super::*;

pub(super) fn read_image(path: &std::path::Path) -> Result<KernelImage, LoadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| LoadError::NotElf {
        image: name.clone(),
        detail: e.to_string(),
    })?;
    KernelImage::parse(&name, bytes)
}

impl Machine {
    /// Create a machine, load `image` and set the CPU up as its boot protocol requires
    /// (a Linux vmlinux boots without an initrd; see [`Machine::boot_linux`]).
    pub fn boot_image(config: &MachineConfig, image: KernelImage) -> Result<Self, EmuError> {
        Self::boot_with_initrd(config, image, None)
    }

    /// Boot a Linux vmlinux (an image whose [`KernelImage::protocol`] is
    /// [`BootProtocol::Linux64`]) with `config.cmdline` and an optional initrd (e.g. a
    /// gzip-compressed cpio initramfs), placed at the top of RAM.
    pub fn boot_linux(
        config: &MachineConfig,
        image: KernelImage,
        initrd: Option<&[u8]>,
    ) -> Result<Self, EmuError> {
        if image.protocol() != BootProtocol::Linux64 {
            return Err(EmuError::Load(LoadError::NotLinux {
                image: image.name().to_string(),
            }));
        }
        Self::boot_with_initrd(config, image, initrd)
    }

    /// Convenience: boot the Linux guest built by `guest-images/linux/build.sh` from its
    /// output directory (`vmlinux`, `initramfs.cpio.gz`), with `config.cmdline`.
    pub fn boot_linux_dir(config: &MachineConfig, dir: &std::path::Path) -> Result<Self, EmuError> {
        let image = read_image(&dir.join("vmlinux"))?;
        let rd_path = dir.join("initramfs.cpio.gz");
        let initrd = std::fs::read(&rd_path).map_err(|e| LoadError::Unreadable {
            image: rd_path.display().to_string(),
            detail: e.to_string(),
        })?;
        Self::boot_linux(config, image, Some(&initrd))
    }

    pub(super) fn boot_with_initrd(
        config: &MachineConfig,
        image: KernelImage,
        initrd: Option<&[u8]>,
    ) -> Result<Self, EmuError> {
        let mut m = Self::new(config)?;
        let state = match &image {
            KernelImage::Elf(elf) => {
                elf.load(&m.ram, (boot::AREA_START, boot::AREA_END))?;
                if elf.is_linux {
                    let kernel_end = elf
                        .segments
                        .iter()
                        .map(|s| s.paddr.saturating_add(s.memsz))
                        .max()
                        .unwrap_or(0);
                    linux::setup(
                        &m.ram,
                        &elf.name,
                        elf.entry,
                        kernel_end,
                        &config.cmdline,
                        initrd,
                    )?
                } else {
                    boot::setup(&m.ram, &elf.name, elf.entry, &config.cmdline)?
                }
            }
        };
        m.enter_long_mode(&state)?;
        m.image = Some(image);
        Ok(m)
    }

    /// Convenience: read an ELF file from disk and boot it.
    pub fn boot_elf_file(config: &MachineConfig, path: &std::path::Path) -> Result<Self, EmuError> {
        Self::boot_image(config, read_image(path)?)
    }

    /// Put the CPU in the state a boot loader leaves: long mode, paging with `state.cr3`, flat
    /// GDT with CS=0x10 and DS/ES/SS=0x18, interrupts off.
    pub fn enter_long_mode(&mut self, state: &BootState) -> Result<(), EmuError> {
        use crate::cpu::{efer, msr};
        let h = self.uc.get_handle();
        unicorn_raw::write_mmr(
            h,
            RegisterX86::GDTR,
            uc_x86_mmr {
                selector: 0,
                base: state.gdt_base,
                limit: u32::from(state.gdt_limit),
                flags: 0,
            },
        )
        .map_err(uc_err("GDTR"))?;
        unicorn_raw::write_msr(h, msr::EFER, efer::LME | efer::LMA | efer::NXE | efer::SCE)
            .map_err(uc_err("EFER"))?;
        let w = |uc: &mut Unicorn<'static, MachineState>, r, v| {
            uc.reg_write(r, v).map_err(uc_err("register"))
        };
        w(&mut self.uc, RegisterX86::CR3, state.cr3)?;
        w(
            &mut self.uc,
            RegisterX86::CR4,
            (1 << 5) | (1 << 7) | (1 << 9) | (1 << 10),
        )?; // PAE PGE OSFXSR OSXMMEXCPT
        w(&mut self.uc, RegisterX86::CR0, 0x8005_0033)?; // PG WP NE ET MP PE
        w(&mut self.uc, RegisterX86::RIP, state.rip)?;
        w(&mut self.uc, RegisterX86::RSP, state.rsp)?;
        w(&mut self.uc, RegisterX86::RDI, state.rdi)?;
        w(&mut self.uc, RegisterX86::RSI, state.rsi)?;
        w(&mut self.uc, RegisterX86::RFLAGS, 0x2)?;
        for r in [
            RegisterX86::DS,
            RegisterX86::ES,
            RegisterX86::FS,
            RegisterX86::GS,
        ] {
            w(&mut self.uc, r, u64::from(boot::KERNEL_DS))?;
        }
        let cs_flags =
            (boot::GDT_ENTRIES[usize::from(boot::KERNEL_CS >> 3)] >> 32) as u32 & 0x00ff_ff00;
        let ss_flags =
            (boot::GDT_ENTRIES[usize::from(boot::KERNEL_DS >> 3)] >> 32) as u32 & 0x00ff_ff00;
        self.load_cs_ss(
            SegLoad {
                selector: boot::KERNEL_CS,
                base: 0,
                limit: 0xffff_ffff,
                flags: cs_flags,
            },
            SegLoad {
                selector: boot::KERNEL_DS,
                base: 0,
                limit: 0xffff_ffff,
                flags: ss_flags,
            },
        )
    }

    pub(super) fn load_cs_ss(&mut self, cs: SegLoad, ss: SegLoad) -> Result<(), EmuError> {
        let h = self.uc.get_handle();
        let st = self.uc.get_data_mut();
        let layout = st.layout;
        let Some(ctx) = st.scratch.as_mut() else {
            return Err(EmuError::Unicorn {
                what: "scratch context",
                err: uc_error::NOMEM,
            });
        };
        ctx.save(h).map_err(uc_err("context save"))?;
        layout.load_cs_ss(ctx, cs, ss);
        ctx.restore(h).map_err(uc_err("context restore"))
    }
}
