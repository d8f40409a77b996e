//! What glibc's loader relies on beyond the tables' own consistency: every
//! dynamic tag is one it reads (an unknown tag is skipped, and a table it
//! described is never applied), a size tag comes with its table, `DT_PLTGOT`
//! is a writable GOT, the lazy (`DT_JMPREL`) table holds the types the loader
//! binds lazily, each write is aligned to its width and no two writes
//! overlap, GOT slots lie in a `.got` section without addend, thread-local
//! types name thread-local symbols, what the loader calls is a function's
//! start and every init and fini array entry is relocated, `PT_TLS` and
//! `PT_PHDR` are mapped where they say, no two `PT_LOAD`s share a page, and
//! the memory image is one the loader can reserve.

use super::{dynamic::tag_name, *};

/// The largest memory image (from the first `PT_LOAD`'s page to the end of
/// the last) accepted: the loader reserves it at once and maps its zero-fill
/// as private writable memory, which the kernel refuses beyond what the
/// machine has. Real libraries are a few MiB.
const MAX_IMAGE: u64 = 1 << 30;

/// A size or count tag and the table tag without which the loader ignores it.
const SIZED: [(u64, u64); 12] = [
    (dt::DT_RELASZ, dt::DT_RELA),
    (dt::DT_RELACOUNT, dt::DT_RELA),
    (dt::DT_RELSZ, dt::DT_REL),
    (dt::DT_RELCOUNT, dt::DT_REL),
    (dt::DT_PLTRELSZ, dt::DT_JMPREL),
    (dt::DT_PLTREL, dt::DT_JMPREL),
    (DT_RELRSZ, DT_RELR),
    (dt::DT_INIT_ARRAYSZ, dt::DT_INIT_ARRAY),
    (dt::DT_FINI_ARRAYSZ, dt::DT_FINI_ARRAY),
    (dt::DT_PREINIT_ARRAYSZ, dt::DT_PREINIT_ARRAY),
    (dt::DT_VERNEEDNUM, dt::DT_VERNEED),
    (dt::DT_VERDEFNUM, dt::DT_VERDEF),
];

/// Whether glibc's loader reads dynamic tag `t` (`_dl_dynamic`'s ranges: the
/// generic tags up to `DT_RELRENT`, the GNU value, address and version tags,
/// the processor-specific range and the filters).
fn known_tag(t: u64) -> bool {
    t <= DT_RELRENT
        || (0x6fff_fd00..=0x6fff_feff).contains(&t)
        || (0x6fff_fff0..=0x6fff_ffff).contains(&t)
        || (0x7000_0000..=0x7fff_ffff).contains(&t)
}

/// `DT_AUXILIARY` and `DT_FILTER`: tags of the processor-specific range's
/// end that glibc reads on every machine, as libraries to load.
fn filter_name(t: u64) -> Option<&'static str> {
    match t {
        0x7fff_fffd => Some("DT_AUXILIARY"),
        0x7fff_ffff => Some("DT_FILTER"),
        _ => None,
    }
}

/// The types glibc binds through `DT_JMPREL` (`elf_machine_lazy_rel`; any
/// other stops a lazy load, and in an eager one leaves the slot unbound).
fn plt_type(machine: u16, t: u32) -> Option<bool> {
    Some(match machine {
        // JUMP_SLOT, TLSDESC, IRELATIVE.
        header::EM_X86_64 => matches!(t, 7 | 36 | 37),
        header::EM_AARCH64 => matches!(t, 1026 | 1031 | 1032),
        // JUMP_SLOT, TLSDESC, IRELATIVE.
        header::EM_RISCV => matches!(t, 5 | 12 | 58),
        _ => return None,
    })
}

/// Whether dynamic relocation type `t` fills a slot with a symbol's address
/// (`GLOB_DAT`, `JUMP_SLOT`): ld writes no addend there, and glibc adds it
/// on some machines (AArch64), so a call through the slot lands beside the
/// function.
fn slot_type(machine: u16, t: u32) -> bool {
    match machine {
        header::EM_X86_64 => matches!(t, 6 | 7),
        header::EM_AARCH64 => matches!(t, 1025 | 1026),
        header::EM_RISCV => t == 5,
        _ => false,
    }
}

/// Whether dynamic relocation type `t` is a thread-local one (module,
/// offset, descriptor), whose symbol must be thread-local.
fn tls_type(machine: u16, t: u32) -> Option<bool> {
    Some(match machine {
        // DTPMOD64, DTPOFF64, TPOFF64, TLSDESC.
        header::EM_X86_64 => matches!(t, 16..=18 | 36),
        // TLS_DTPMOD, TLS_DTPREL, TLS_TPREL, TLSDESC.
        header::EM_AARCH64 => matches!(t, 1028..=1031),
        // TLS_DTPMOD32 … TLS_TPREL64, TLSDESC.
        header::EM_RISCV => matches!(t, 6..=12),
        _ => return None,
    })
}

/// One write of the loader: address, width, and its entry (file offset and
/// name).
pub(super) struct Write {
    at: u64,
    len: u64,
    entry: u64,
    what: String,
}

impl Write {
    pub(super) fn new(at: u64, len: u64, entry: u64, what: String) -> Write {
        Write { at, len, entry, what }
    }
}

impl File<'_> {
    /// Whether `addr` can be where the loader calls (an initialiser or
    /// finaliser): aligned to the machine's instructions (4 bytes on
    /// AArch64, 2 on RISC-V with compressed instructions), when the file has
    /// section headers for its allocated contents inside an executable
    /// section (an executable `PT_LOAD` also maps read-only data on
    /// AArch64), and a function's start.
    pub(super) fn code_at(&self, addr: u64) -> bool {
        let align = match self.h.e_machine {
            header::EM_AARCH64 => 4,
            header::EM_RISCV => 2,
            _ => 1,
        };
        let mut alloc = self.shdrs.iter().filter(|s| s.sh_flags & u64::from(sh::SHF_ALLOC) != 0).peekable();
        let in_code = alloc.peek().is_none()
            || alloc.any(|s| {
                s.sh_flags & u64::from(sh::SHF_EXECINSTR) != 0
                    && addr >= s.sh_addr
                    && addr < s.sh_addr.saturating_add(s.sh_size)
            });
        addr.is_multiple_of(align) && in_code && self.function_start(addr)
    }

    /// Whether `addr` is where a function of `.symtab` starts (`_init`,
    /// `_fini`, a constructor), when the file has a `.symtab` (what ld's
    /// `-init`/`-fini` and the init arrays name is a function; a stripped
    /// file can only be held to code).
    fn function_start(&self, addr: u64) -> bool {
        let Some(i) = self.section_of_type(sh::SHT_SYMTAB) else { return true };
        let t = &self.shdrs[i];
        let n = t.sh_size / self.sym_size();
        (0..n).any(|k| {
            let off = (t.sh_offset + k * self.sym_size()) as usize;
            self.b.pread_with::<Sym>(off, self.ctx).is_ok_and(|s| {
                s.st_value == addr && s.st_shndx != 0 && matches!(s.st_type(), sym::STT_FUNC | STT_GNU_IFUNC)
            })
        })
    }

    /// The bytes the loader writes for type `t`: 32-bit fields where the
    /// type names one, else a word.
    fn write_width(&self, t: u32) -> u64 {
        let narrow = match self.h.e_machine {
            // PC32, 32, SIZE32.
            header::EM_X86_64 => matches!(t, 2 | 10 | 32),
            // 32, TLS_DTPMOD32, TLS_DTPREL32, TLS_TPREL32.
            header::EM_RISCV => matches!(t, 1 | 6 | 8 | 10),
            _ => false,
        };
        if narrow {
            4
        } else {
            self.word()
        }
    }

    /// Every dynamic tag one the loader reads, and every size with its table.
    pub(super) fn check_tags(&self, d: &super::dynamic::Dyns, at: &dyn Fn(u64) -> String) -> Result<()> {
        for (t, off) in d.entries() {
            ensure!(
                known_tag(t),
                "dynamic entry at offset {}: tag {} is not one the loader reads (it skips the entry, so what it \
                 described is never applied)",
                hex(off),
                hex(t)
            );
        }
        // A filter names a library the loader loads beside this one (and,
        // for DT_FILTER, refuses this one without): a dependency that the
        // `needed` check does not see. The libraries have none.
        for (t, off) in d.entries() {
            if let Some(name) = filter_name(t) {
                bail!(
                    "dynamic entry at offset {}: {name} names a filter library that the loader must load, which \
                     the `needed` check does not cover (a linker writes one only for `-F`/`-f`)",
                    hex(off)
                );
            }
        }
        // The loader writes the first slots of DT_PLTGOT (the resolver and
        // the link map; on RISC-V even when binding eagerly).
        if let Some(a) = d.get(dt::DT_PLTGOT) {
            ensure!(
                a.is_multiple_of(self.word()) && self.writable(a, 2 * self.word()),
                "{}: address {} is not an aligned GOT inside a writable PT_LOAD (the loader writes its first slots)",
                at(dt::DT_PLTGOT),
                hex(a)
            );
        }
        // Bits past the last one defined mean nothing to any loader; two
        // make the library one that dlopen refuses or cannot complete
        // (DF_1_PIE, which dlopen refuses too, marks an executable: the
        // type check holds a library to not being one).
        if let Some(f) = d.get(dt::DT_FLAGS_1) {
            ensure!(f <= 0x7fff_ffff, "{}: {} has bits no loader defines", at(dt::DT_FLAGS_1), hex(f));
            for (bit, name, why) in [
                (0x40, "DF_1_NOOPEN", "dlopen refuses the file"),
                (0x800, "DF_1_NODEFLIB", "the loader looks for its NEEDED libraries in its RUNPATH only"),
            ] {
                ensure!(f & bit == 0, "{}: {} has {name}: {why}", at(dt::DT_FLAGS_1), hex(f));
            }
        }
        for (size, table) in SIZED {
            ensure!(
                d.get(size).is_none() || d.get(table).is_some(),
                "{}: without {} (the loader ignores it, and the table it sizes is never applied)",
                at(size),
                tag_name(table)
            );
        }
        // Each relocation section the linker wrote is a table the loader
        // applies: one outside DT_RELA/DT_REL/DT_JMPREL is never applied.
        let tables: Vec<(u64, u64)> =
            [(dt::DT_RELA, dt::DT_RELASZ), (dt::DT_REL, dt::DT_RELSZ), (dt::DT_JMPREL, dt::DT_PLTRELSZ)]
                .into_iter()
                .filter_map(|(t, sz)| Some((d.get(t)?, d.get(sz).unwrap_or(0))))
                .collect();
        for (i, s) in self.shdrs.iter().enumerate() {
            let reloc = matches!(s.sh_type, sh::SHT_RELA | sh::SHT_REL);
            if reloc && s.sh_flags & u64::from(sh::SHF_ALLOC) != 0 && s.sh_size > 0 {
                let end = s.sh_addr.saturating_add(s.sh_size);
                ensure!(
                    tables.iter().any(|&(a, n)| s.sh_addr >= a && end <= a.saturating_add(n)),
                    "{}: relocations at {}+{} outside every table the dynamic entries give the loader (DT_RELA, \
                     DT_REL, DT_JMPREL and their sizes)",
                    self.sec(i),
                    hex(s.sh_addr),
                    hex(s.sh_size)
                );
            }
        }
        Ok(())
    }

    /// Relocation `r` (entry `what`) of table `tag` as the loader applies it:
    /// a type the lazy table may hold, thread-local types on thread-local
    /// symbols (`types`: each dynamic symbol's `st_type`) and the others on
    /// none, `r_offset` aligned to the width written. The write is added to
    /// `writes` for [`File::check_writes`].
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_loader_reloc(
        &self,
        tag: u64,
        r: &Reloc,
        entry: u64,
        pltgot: Option<u64>,
        types: &[u8],
        what: &dyn Fn() -> String,
        writes: &mut Vec<Write>,
    ) -> Result<()> {
        let m = self.h.e_machine;
        let t = u64::from(r.r_type);
        if tag == dt::DT_JMPREL {
            // The first GOT slots at DT_PLTGOT are the loader's own (3 words;
            // 2 on RISC-V): a jump slot there leaves its function unbound.
            let reserved = if m == header::EM_RISCV { 2 } else { 3 } * self.word();
            if let Some(got) = pltgot {
                ensure!(
                    !slot_type(m, r.r_type) || r.r_offset < got || r.r_offset >= got.saturating_add(reserved),
                    "{}: r_offset {} is one of the loader's own slots at DT_PLTGOT ({})",
                    what(),
                    hex(r.r_offset),
                    hex(got)
                );
            }
            ensure!(
                plt_type(m, r.r_type) != Some(false),
                "{}: type {} in DT_JMPREL, which holds only the types the loader binds lazily (jump slots, TLS \
                 descriptors, IRELATIVE)",
                what(),
                hex(t)
            );
        }
        if r.r_type == 0 {
            return Ok(());
        }
        if let (Some(tls), Some(&st)) = (tls_type(m, r.r_type), types.get(r.r_sym)) {
            let sym_tls = st == sym::STT_TLS;
            ensure!(
                r.r_sym == 0 || tls == sym_tls,
                "{}: type {} is {}a thread-local relocation, but dynamic symbol {} is {}thread-local",
                what(),
                hex(t),
                if tls { "" } else { "not " },
                r.r_sym,
                if sym_tls { "" } else { "not " }
            );
        }
        ensure!(
            !slot_type(m, r.r_type) || r.r_sym != 0,
            "{}: type {} fills a GOT or PLT slot with a symbol's address, but names no symbol",
            what(),
            hex(t)
        );
        ensure!(
            !slot_type(m, r.r_type) || r.r_addend.unwrap_or(0) == 0,
            "{}: type {} fills a GOT or PLT slot with a symbol's address, but its addend is {} (ld writes 0)",
            what(),
            hex(t),
            r.r_addend.unwrap_or(0)
        );
        // ld puts the slots GLOB_DAT and JUMP_SLOT fill in the GOT (`.got`,
        // `.got.plt`); one elsewhere overwrites data and leaves its slot
        // unbound.
        // (Outside every PT_LOAD: the caller names that.)
        if slot_type(m, r.r_type) && self.in_memory(r.r_offset, 1) {
            let got = self.shdrs.iter().enumerate().any(|(i, s)| {
                self.names.get(i).is_some_and(|n| n.starts_with(".got"))
                    && r.r_offset >= s.sh_addr
                    && r.r_offset < s.sh_addr.saturating_add(s.sh_size)
            });
            let sections = self.shdrs.iter().any(|s| s.sh_flags & u64::from(sh::SHF_ALLOC) != 0);
            ensure!(
                got || !sections,
                "{}: type {} fills a GOT slot, but r_offset {} is in no .got section",
                what(),
                hex(t),
                hex(r.r_offset)
            );
        }
        let len = self.write_width(r.r_type);
        ensure!(
            r.r_offset.is_multiple_of(len),
            "{}: r_offset {} is not aligned to the {len} bytes the loader writes there",
            what(),
            hex(r.r_offset)
        );
        writes.push(Write::new(r.r_offset, len, entry, what()));
        Ok(())
    }

    /// No two writes of the loader overlap: each relocated field is one
    /// relocation's (a second one over it, or half over it, corrupts it).
    /// An entry read through two tags (`DT_RELASZ` covering `DT_JMPREL`, as
    /// RISC-V's ld writes them) is applied once: glibc skips the overlap.
    ///
    /// In a shared object or PIE (loaded at an address of the loader's
    /// choosing) each entry of the init and fini arrays (`functions`: tag,
    /// address, size) is written by a relocation: the loader calls what the
    /// entry holds, and an unrelocated one is a link-time address.
    pub(super) fn check_writes(
        &self,
        mut writes: Vec<Write>,
        functions: &[(u64, u64, u64)],
        at: &dyn Fn(u64) -> String,
    ) -> Result<()> {
        writes.sort_by_key(|w| (w.at, w.len, w.entry));
        writes.dedup_by(|b, a| (a.at, a.len, a.entry) == (b.at, b.len, b.entry));
        for p in writes.windows(2) {
            let (a, b) = (&p[0], &p[1]);
            ensure!(
                a.at + a.len <= b.at,
                "{}: writes {}+{} over what {} writes at {}+{} (one of the two relocations is misplaced)",
                b.what,
                hex(b.at),
                b.len,
                a.what,
                hex(a.at),
                a.len
            );
        }
        if self.h.e_type == header::ET_DYN {
            let w = self.word();
            for &(tag, a, n) in functions {
                for k in 0..n / w {
                    let e = a + k * w;
                    ensure!(
                        writes.binary_search_by_key(&(e, w), |x| (x.at, x.len)).is_ok(),
                        "{}: entry {k} (address {}) is written by no relocation, so the loader would call its \
                         link-time address",
                        at(tag),
                        hex(e)
                    );
                }
            }
        }
        Ok(())
    }

    /// No two `PT_LOAD`s (ascending, see `check_program_headers`) share a
    /// page.
    pub(super) fn check_load_pages(&self) -> Result<()> {
        let loads: Vec<usize> = (0..self.phdrs.len()).filter(|&i| self.phdrs[i].p_type == ph::PT_LOAD).collect();
        // The loader maps whole pages, each segment over what the one before
        // mapped: a page two segments share takes the second's file page and
        // protections (the first's code would lose PROT_EXEC, say).
        for w in loads.windows(2) {
            let (a, b) = (&self.phdrs[w[0]], &self.phdrs[w[1]]);
            let end = (a.p_vaddr + a.p_memsz).div_ceil(PAGE).saturating_mul(PAGE);
            ensure!(
                b.p_vaddr & !(PAGE - 1) >= end,
                "{}: PT_LOAD at {} starts in the last page of the one before (program header {}, ending at {}): the \
                 loader's mapping of one would replace the other's",
                self.phdr(w[1]),
                hex(b.p_vaddr),
                w[0],
                hex(a.p_vaddr + a.p_memsz)
            );
        }
        Ok(())
    }

    /// The memory image of the `PT_LOAD`s (ascending, see
    /// `check_program_headers`) is at most [`MAX_IMAGE`], and the TLS
    /// initialisation image (`PT_TLS`'s file part, which the loader copies
    /// from its address for each thread) lies in the file contents of a
    /// `PT_LOAD` at its own address.
    pub(super) fn check_image(&self) -> Result<()> {
        // PT_PHDR is the program header table as mapped (`dl_iterate_phdr`
        // hands it to the unwinder).
        if let Some(i) = self.phdrs.iter().position(|p| p.p_type == ph::PT_PHDR) {
            let p = &self.phdrs[i];
            let size = u64::from(self.h.e_phnum) * u64::from(self.h.e_phentsize);
            ensure!(
                p.p_offset == self.h.e_phoff
                    && p.p_filesz == size
                    && self.load_of_file_range(p.p_offset, p.p_filesz).is_some_and(|l| {
                        let l = &self.phdrs[l];
                        p.p_vaddr.wrapping_sub(l.p_vaddr) == p.p_offset - l.p_offset
                    }),
                "{}: {}+{} at address {} is not the program header table ({}+{}) where a PT_LOAD maps it",
                self.phdr(i),
                hex(p.p_offset),
                hex(p.p_filesz),
                hex(p.p_vaddr),
                hex(self.h.e_phoff),
                hex(size)
            );
        }
        if let Some(i) = self.phdrs.iter().position(|p| p.p_type == ph::PT_TLS) {
            let t = &self.phdrs[i];
            ensure!(
                t.p_filesz <= t.p_memsz,
                "{}: p_filesz {} is larger than p_memsz {}",
                self.phdr(i),
                hex(t.p_filesz),
                hex(t.p_memsz)
            );
            ensure!(
                self.load_of_file_range(t.p_offset, t.p_filesz).is_some_and(|l| {
                    let l = &self.phdrs[l];
                    t.p_vaddr.wrapping_sub(l.p_vaddr) == t.p_offset - l.p_offset
                }),
                "{}: the TLS image ({}+{} at address {}) is not inside the file contents of a PT_LOAD at the same \
                 address (the loader copies it from there for each thread)",
                self.phdr(i),
                hex(t.p_offset),
                hex(t.p_filesz),
                hex(t.p_vaddr)
            );
        }
        let loads: Vec<usize> = (0..self.phdrs.len()).filter(|&i| self.phdrs[i].p_type == ph::PT_LOAD).collect();
        let (Some(&first), Some(&last)) = (loads.first(), loads.last()) else { return Ok(()) };
        let start = self.phdrs[first].p_vaddr & !(PAGE - 1);
        let l = &self.phdrs[last];
        let end = l.p_vaddr + l.p_memsz;
        ensure!(
            end - start <= MAX_IMAGE,
            "{}: the PT_LOAD segments span {} bytes ({}..{}), over the {MAX_IMAGE} verify-symbols accepts: the \
             loader reserves the whole image at once and maps its zero-fill as memory the kernel may refuse",
            self.phdr(last),
            hex(end - start),
            hex(start),
            hex(end)
        );
        Ok(())
    }
}
