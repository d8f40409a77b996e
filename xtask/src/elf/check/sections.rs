//! The section view: what `nm` and the linker read through the section
//! headers (names, ranges, groups, symbol tables, relocation sections).

use super::*;

impl File<'_> {
    pub(super) fn check_sections(&self) -> Result<()> {
        let n = self.shdrs.len();
        if n == 0 {
            return Ok(());
        }
        let z = &self.shdrs[0];
        // Zero but for the extended section count and string table index.
        let ext_count = if self.h.e_shnum == 0 { z.sh_size } else { 0 };
        let ext_strndx = if u32::from(self.h.e_shstrndx) == sh::SHN_XINDEX { z.sh_link } else { 0 };
        ensure!(
            z.sh_type == sh::SHT_NULL
                && z.sh_name == 0
                && z.sh_flags == 0
                && z.sh_addr == 0
                && z.sh_offset == 0
                && z.sh_size == ext_count
                && z.sh_link == ext_strndx
                && z.sh_info == 0
                && z.sh_addralign == 0
                && z.sh_entsize == 0,
            "{}: the first section header is not the null section",
            self.sec(0)
        );
        let grouped: BTreeSet<u32> = self.group_members()?;
        let linked = |i: usize, want: &[u32], what: &str| -> Result<usize> {
            let s = &self.shdrs[i];
            let l = s.sh_link as usize;
            ensure!(
                l != 0 && l < n && want.contains(&self.shdrs[l].sh_type),
                "{}: sh_link {} is not {what}",
                self.sec(i),
                s.sh_link
            );
            Ok(l)
        };
        let loads = self.phdrs.iter().any(|p| p.p_type == ph::PT_LOAD);
        for i in 1..n {
            let s = &self.shdrs[i];
            self.check_section_range(i)?;
            // binutils refuses types in the reserved range and links to no section.
            ensure!(
                s.sh_type <= SHT_RELR || s.sh_type >= sh::SHT_LOOS,
                "{}: sh_type {} is reserved",
                self.sec(i),
                hex(u64::from(s.sh_type))
            );
            // binutils refuses an allocated section whose type it does not
            // know (user types, unknown OS types); processor types are the
            // machine's and LLVM/Android/GNU/Sun ones are known.
            let alloc = s.sh_flags & u64::from(sh::SHF_ALLOC) != 0;
            let known_os = matches!(
                s.sh_type,
                0x6000_0001..=0x6000_0002 | 0x6fff_4c00..=0x6fff_4cff | 0x6fff_ff00 | 0x6fff_fff0..=0x6fff_ffff
            );
            ensure!(
                !alloc || s.sh_type < sh::SHT_LOOS || (0x7000_0000..0x8000_0000).contains(&s.sh_type) || known_os,
                "{}: an allocated section of unknown type {}",
                self.sec(i),
                hex(u64::from(s.sh_type))
            );
            // bfd refuses a processor-specific type its machine does not
            // know ("unknown type section"), then reads the file as generic ELF.
            let known_proc = match self.h.e_machine {
                header::EM_X86_64 => s.sh_type == 0x7000_0001,
                header::EM_AARCH64 => (0x7000_0000..=0x7000_0003).contains(&s.sh_type),
                _ => true,
            };
            ensure!(
                !(0x7000_0000..0x8000_0000).contains(&s.sh_type) || known_proc,
                "{}: sh_type {} is a processor-specific type {} does not have",
                self.sec(i),
                hex(u64::from(s.sh_type)),
                header::machine_to_str(self.h.e_machine)
            );
            ensure!(
                (s.sh_link as usize) < n,
                "{}: sh_link {} is not a section (there are {n})",
                self.sec(i),
                s.sh_link
            );
            // Linked files carry generic and processor flags only (SHF_EXCLUDE,
            // and OS bits are for objects; binutils misreads them).
            const LINKED_FLAGS: u64 = 0xff7 | 0x20_0000 | 0x7000_0000;
            ensure!(
                self.h.e_type == header::ET_REL || s.sh_flags & !LINKED_FLAGS == 0,
                "{}: sh_flags {} has bits a linked file does not use",
                self.sec(i),
                hex(s.sh_flags)
            );
            if self.h.e_type == header::ET_REL {
                // ld's default script puts these in sections at address 0
                // that are not loaded: an allocated one breaks the layout
                // ("PHDR segment not covered by LOAD segment").
                let name = self.names.get(i).map_or("", String::as_str);
                let unloaded =
                    [".comment", ".debug", ".zdebug", ".stab", ".line", ".gnu.attributes", ".note.GNU-stack"]
                        .iter()
                        .any(|p| name.starts_with(p));
                ensure!(
                    !alloc || !unloaded,
                    "{}: allocated, but the linker does not load {name} sections",
                    self.sec(i)
                );
                // ld leaves SHF_EXCLUDE sections out of the link, and with
                // them what they define ("undefined reference").
                const SHF_EXCLUDE: u64 = 0x8000_0000;
                ensure!(
                    !alloc || s.sh_flags & SHF_EXCLUDE == 0,
                    "{}: allocated and SHF_EXCLUDE ({}): the linker leaves it, and what it defines, out of the link",
                    self.sec(i),
                    hex(s.sh_flags)
                );
                // Thread-local data is `.tdata` (contents) or `.tbss`
                // (zeroes): ld's default script gathers only these names into
                // the TLS segment ("TLS sections are not adjacent" for any
                // other), and bfd asserts on another section type.
                if s.sh_flags & u64::from(sh::SHF_TLS) != 0 {
                    // ld gathers thread-local sections into the loaded TLS
                    // segment ("TLS sections are not adjacent" otherwise).
                    ensure!(alloc, "{}: SHF_TLS on a section that is not allocated", self.sec(i));
                    ensure!(
                        matches!(s.sh_type, sh::SHT_PROGBITS | sh::SHT_NOBITS),
                        "{}: SHF_TLS on a section of type {}, where thread-local data is SHT_PROGBITS (.tdata) or SHT_NOBITS (.tbss)",
                        self.sec(i),
                        sh::sht_to_str(s.sh_type)
                    );
                    let tls_name = [".tdata", ".tbss", ".tcommon"]
                        .iter()
                        .any(|b| name.strip_prefix(b).is_some_and(|rest| rest.is_empty() || rest.starts_with('.')))
                        || name.starts_with(".gnu.linkonce.td.")
                        || name.starts_with(".gnu.linkonce.tb.");
                    ensure!(
                        !alloc || tls_name,
                        "{}: SHF_TLS on {name}, which the linker does not place in the TLS segment (only .tdata*, .tbss*)",
                        self.sec(i)
                    );
                }
            }
            // binutils looks for the group of every SHF_GROUP section.
            ensure!(
                s.sh_flags & u64::from(sh::SHF_GROUP) == 0 || grouped.contains(&(i as u32)),
                "{}: SHF_GROUP, but no SHT_GROUP section lists it",
                self.sec(i)
            );
            if s.sh_flags & u64::from(sh::SHF_INFO_LINK) != 0 {
                ensure!(
                    (s.sh_info as usize) < n,
                    "{}: sh_info {} is not a section (there are {n})",
                    self.sec(i),
                    s.sh_info
                );
            }
            ensure!(
                s.sh_addralign <= 1 || s.sh_addralign.is_power_of_two(),
                "{}: sh_addralign {} is not a power of two",
                self.sec(i),
                s.sh_addralign
            );
            let entsize = |want: u64| -> Result<()> {
                ensure!(
                    s.sh_entsize == want && s.sh_size.is_multiple_of(want),
                    "{}: sh_entsize {} / sh_size {} do not fit entries of {want} bytes",
                    self.sec(i),
                    s.sh_entsize,
                    s.sh_size
                );
                Ok(())
            };
            // ld finds the dynamic section of a library by name; the other
            // dynamic-linking sections have one name in every linker's output.
            let standard = match s.sh_type {
                sh::SHT_DYNAMIC => Some(".dynamic"),
                sh::SHT_DYNSYM => Some(".dynsym"),
                sh::SHT_GNU_HASH => Some(".gnu.hash"),
                sh::SHT_HASH => Some(".hash"),
                sh::SHT_GNU_VERSYM => Some(".gnu.version"),
                sh::SHT_GNU_VERNEED => Some(".gnu.version_r"),
                sh::SHT_GNU_VERDEF => Some(".gnu.version_d"),
                _ => None,
            };
            if let (Some(want), Some(name)) = (standard, self.names.get(i)) {
                ensure!(name == want, "{}: a {} section must be named {want}", self.sec(i), sh::sht_to_str(s.sh_type));
            }
            match s.sh_type {
                sh::SHT_STRTAB => self.check_strtab(i)?,
                sh::SHT_SYMTAB | sh::SHT_DYNSYM => {
                    entsize(self.sym_size())?;
                    linked(i, &[sh::SHT_STRTAB], "a string table")?;
                }
                sh::SHT_RELA | sh::SHT_REL => {
                    let rela = s.sh_type == sh::SHT_RELA;
                    entsize(Reloc::size(rela, self.ctx) as u64)?;
                    // `.rela.dyn` of a library without dynamic symbols links to nothing.
                    if s.sh_link != 0 {
                        linked(i, &[sh::SHT_SYMTAB, sh::SHT_DYNSYM], "a symbol table")?;
                    }
                    ensure!(
                        (s.sh_info as usize) < n,
                        "{}: sh_info {} (the relocated section) is not a section",
                        self.sec(i),
                        s.sh_info
                    );
                }
                // binutils refuses these entry sizes too (not GNU_HASH's).
                sh::SHT_HASH | sh::SHT_GNU_HASH | sh::SHT_GNU_VERSYM => {
                    match s.sh_type {
                        sh::SHT_HASH => entsize(4)?,
                        sh::SHT_GNU_VERSYM => entsize(2)?,
                        _ => {}
                    }
                    linked(i, &[sh::SHT_DYNSYM], "the dynamic symbol table")?;
                }
                sh::SHT_GNU_VERNEED | sh::SHT_GNU_VERDEF | sh::SHT_DYNAMIC => {
                    if s.sh_type == sh::SHT_DYNAMIC {
                        entsize(2 * self.word())?;
                    }
                    linked(i, &[sh::SHT_STRTAB], "a string table")?;
                }
                sh::SHT_SYMTAB_SHNDX => {
                    let l = linked(i, &[sh::SHT_SYMTAB], "a symbol table")?;
                    let count = self.shdrs[l].sh_size / self.sym_size();
                    ensure!(s.sh_size == count * 4, "{}: not one entry per symbol of section {l}", self.sec(i));
                }
                _ => {}
            }
            // What the loader maps must be what the sections describe.
            if alloc
                && loads
                && s.sh_type != sh::SHT_NOBITS
                && s.sh_size > 0
                && s.sh_flags & u64::from(sh::SHF_TLS) == 0
            {
                let mapped = self.load_of_file_range(s.sh_offset, s.sh_size).is_some_and(|l| {
                    let l = &self.phdrs[l];
                    s.sh_addr.wrapping_sub(l.p_vaddr) == s.sh_offset - l.p_offset
                });
                ensure!(
                    mapped,
                    "{}: allocated contents at {} (address {}) are not where a PT_LOAD maps them",
                    self.sec(i),
                    hex(s.sh_offset),
                    hex(s.sh_addr)
                );
            }
        }
        Ok(())
    }

    /// The sections listed by `SHT_GROUP` sections (object files only).
    fn group_members(&self) -> Result<BTreeSet<u32>> {
        let mut out = BTreeSet::new();
        for (i, s) in self.shdrs.iter().enumerate() {
            if s.sh_type != sh::SHT_GROUP {
                continue;
            }
            ensure!(
                s.sh_entsize == 4 && s.sh_size % 4 == 0 && s.sh_size >= 4,
                "{}: a group section of {} bytes, entries of {}",
                self.sec(i),
                s.sh_size,
                s.sh_entsize
            );
            for k in 1..s.sh_size / 4 {
                let m = self.u32_at(s.sh_offset + 4 * k)?;
                ensure!((m as usize) < self.shdrs.len() && m != 0, "{}: member {m} is not a section", self.sec(i));
                out.insert(m);
            }
        }
        Ok(out)
    }

    fn shndx_ok(&self, shndx: usize) -> bool {
        shndx < self.shdrs.len() || shndx >= sh::SHN_LORESERVE as usize
    }

    /// Every `SHT_SYMTAB`/`SHT_DYNSYM` section: its symbols, checked.
    pub(super) fn check_symbol_tables(&self) -> Result<Vec<(usize, Vec<Symbol>)>> {
        let mut out = Vec::new();
        let object = self.h.e_type == header::ET_REL;
        for (i, s) in self.shdrs.iter().enumerate() {
            if !matches!(s.sh_type, sh::SHT_SYMTAB | sh::SHT_DYNSYM) {
                continue;
            }
            let str_sec = &self.shdrs[s.sh_link as usize];
            let count = s.sh_size / self.sym_size();
            ensure!(
                u64::from(s.sh_info) <= count,
                "{}: sh_info {} (first global symbol) is past the {count} symbols",
                self.sec(i),
                s.sh_info
            );
            let xindex = self
                .shdrs
                .iter()
                .find(|x| x.sh_type == sh::SHT_SYMTAB_SHNDX && x.sh_link as usize == i)
                .map(|x| x.sh_offset);
            let mut syms = Vec::with_capacity(count as usize);
            for k in 0..count {
                let off = s.sh_offset + k * self.sym_size();
                let what = || format!("symbol {k} of {} (entry at offset {})", self.sec(i), hex(off));
                let sy: Sym = self.b.pread_with(off as usize, self.ctx).with_context(what)?;
                if k == 0 {
                    ensure!(
                        sy.st_name == 0 && sy.st_info == 0 && sy.st_shndx == 0 && sy.st_value == 0,
                        "{}: the first symbol is not the null symbol",
                        what()
                    );
                    continue;
                }
                let local = sy.st_bind() == sym::STB_LOCAL;
                ensure!(
                    local == (k < u64::from(s.sh_info)),
                    "{}: a {} symbol on the wrong side of sh_info {} (locals first)",
                    what(),
                    sym::bind_to_str(sy.st_bind()),
                    s.sh_info
                );
                let shndx = if sy.st_shndx == sh::SHN_XINDEX as usize {
                    let Some(x) = xindex else {
                        bail!("{}: st_shndx is SHN_XINDEX but there is no SHT_SYMTAB_SHNDX section", what())
                    };
                    self.b.pread_with::<u32>((x + 4 * k) as usize, self.ctx.le).with_context(what)? as usize
                } else {
                    sy.st_shndx
                };
                let checked = (s.sh_type == sh::SHT_SYMTAB).then_some(shndx);
                let mut name = self.symbol(&sy, checked, str_sec.sh_offset, str_sec.sh_size, &what)?;
                if object && s.sh_type == sh::SHT_SYMTAB {
                    self.check_object_symbol(&sy, shndx, &name.name, &what)?;
                }
                name.defined = shndx != sh::SHN_UNDEF as usize;
                syms.push(name);
            }
            out.push((i, syms));
        }
        Ok(out)
    }

    /// One symbol, its name read from the string table `[str_off, +str_size)`.
    /// `st_shndx` is checked against the section headers only in `.symtab`:
    /// the loader reads no section index but `SHN_UNDEF`, and linkers that
    /// rewrite the section headers (strip, rustc's own libraries) leave stale
    /// indices in `.dynsym` that nm and ld.so ignore.
    pub(super) fn symbol(
        &self,
        sy: &Sym,
        shndx: Option<usize>,
        str_off: u64,
        str_size: u64,
        what: &dyn Fn() -> String,
    ) -> Result<Symbol> {
        let checked = shndx.unwrap_or(0);
        let shndx = shndx.unwrap_or(sy.st_shndx);
        ensure!(
            self.shndx_ok(checked),
            "{}: st_shndx {shndx} is not a section (there are {})",
            what(),
            self.shdrs.len()
        );
        let (bind, typ) = (sy.st_bind(), sy.st_type());
        ensure!(
            matches!(bind, sym::STB_LOCAL | sym::STB_GLOBAL | sym::STB_WEAK | STB_GNU_UNIQUE | 13..=15),
            "{}: unknown binding {bind}",
            what()
        );
        ensure!(matches!(typ, 0..=6 | STT_GNU_IFUNC | 13..=15), "{}: unknown symbol type {typ}", what());
        let name = self.str_in(str_off, str_size, sy.st_name as u64, what)?;
        Ok(Symbol {
            name: name.to_string(),
            kind: sym::type_to_str(typ),
            bind: sym::bind_to_str(bind),
            visibility: sym::visibility_to_str(sy.st_visibility()),
            defined: shndx != sh::SHN_UNDEF as usize,
            version: None,
            needed_from: None,
        })
    }
}
