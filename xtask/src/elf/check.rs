//! The strict reader: every structure `symbols` and `verify-symbols` rely on
//! is checked against the file and against the structures that point to it,
//! the way the dynamic loader (glibc `ld.so`) and the linker see them.
//!
//! goblin parses the fixed-size records (header, program and section headers,
//! symbols, dynamic entries, relocations); everything that points somewhere
//! (offsets, addresses, indices, string offsets, hash chains, version links)
//! is followed here, bounded, and an inconsistency is an error naming the
//! structure and its file offset. Nothing is skipped: an entry that cannot be
//! resolved is an error, never a missing row.
//!
//! What is checked, in order:
//! - the ELF header: class, data, `EI_VERSION`, OS ABI and ABI version (the
//!   values glibc accepts), `EI_PAD` zero, `e_version`, `e_type`, `e_ehsize`,
//!   `e_phentsize`, `e_shentsize`, the tables inside the file;
//! - program headers: file ranges inside the file, `p_filesz <= p_memsz`,
//!   `PT_LOAD` alignment (a power of two, page multiple, `p_vaddr ≡ p_offset`)
//!   and ascending order, one `PT_DYNAMIC`/`PT_INTERP`, `PT_DYNAMIC` inside a
//!   `PT_LOAD` (file and address), `PT_INTERP` a terminated string;
//! - section headers: the null section, ranges inside the file, alignment,
//!   names, string tables NUL-delimited, `sh_link`/`sh_info` of symbol,
//!   relocation, hash and version sections pointing to sections of the right
//!   type, entry sizes; allocated sections inside the `PT_LOAD` that maps them;
//!   symbol tables (names, section indices, binding and type, locals first)
//!   and relocation sections (symbol index, offset inside the target section);
//! - the dynamic segment as the loader reads it: `DT_NULL`-terminated, no
//!   duplicated table tags, every address inside a `PT_LOAD` (tables inside
//!   its file contents), every string offset inside `DT_STRSZ` and
//!   terminated, entry sizes, `DT_NEEDED`/`DT_SONAME`/`DT_RPATH`/`DT_RUNPATH`;
//! - `DT_HASH` and `DT_GNU_HASH`: table extents, bucket and chain indices, and
//!   every defined symbol reachable through its own hash (a renamed symbol is
//!   one the loader cannot find); the bloom filter bits of each;
//! - `DT_VERSYM`, `DT_VERNEED`, `DT_VERDEF`: entry chains inside the segment,
//!   `vn_version`/`vd_version` 1, names inside `DT_STRSZ` whose ELF hash
//!   matches `vna_hash`/`vd_hash` (a moved name pointer is caught even when it
//!   lands on another string), `vn_file` one of `DT_NEEDED` (glibc asserts
//!   it), unique version indices, and every symbol's version index defined;
//! - relocations (`DT_RELA`, `DT_REL`, `DT_JMPREL`, `DT_RELR`): symbol index
//!   inside the dynamic symbol table, target inside a `PT_LOAD`; what the
//!   loader relies on besides (`loader`): known tags, sizes with their
//!   tables, lazy types in `DT_JMPREL`, aligned writes that overlap no other,
//!   TLS types on TLS symbols, no addend on a slot, every init and fini array
//!   entry relocated to code, `PT_TLS` mapped, a memory image of at most
//!   1 GiB;
//! - the section view (what `nm` reads) equal to the dynamic view (what the
//!   loader reads): `.dynsym`, `.dynstr`, `.dynamic`, the hash and version
//!   sections at the addresses and sizes the dynamic entries give;
//! - in relocatable objects (archive members, see `reloc` and `eh_frame`):
//!   symbols inside their sections, TLS symbols in TLS sections, globals
//!   named, no unloaded section (`.comment`, `.debug*`) allocated;
//!   relocations of a type the machine's linker takes in an object, patching
//!   a field inside a section with contents, their addend within the field's
//!   reach, thread-local types on TLS symbols; `.eh_frame` FDEs relocated
//!   once, inside their section, not overlapping.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, ensure, Context, Result};
use goblin::{
    container::{Container, Ctx, Endian},
    elf::{
        dynamic::{self as dt, Dyn},
        header::{self, Header},
        program_header::{self as ph, ProgramHeader},
        reloc::Reloc,
        section_header::{self as sh, SectionHeader},
        sym::{self, Sym},
    },
};
use scroll::Pread;

use super::{Class, ElfType, Endianness, Ident, Symbol};

mod dynamic;
mod eh_frame;
mod insn;
mod loader;
mod reloc;
mod sections;

const DT_RELRSZ: u64 = 35;
const DT_RELR: u64 = 36;
const DT_RELRENT: u64 = 37;
const STB_GNU_UNIQUE: u8 = 10;
const STT_GNU_IFUNC: u8 = 10;
const ELFOSABI_SYSV: u8 = 0;
const ELFOSABI_GNU: u8 = 3;
/// glibc's `LIBC_ABI_MAX` (2.36): ABI versions above it are refused.
const GNU_ABI_MAX: u8 = 5;
const PAGE: u64 = 4096;
const EI_PAD: usize = 9;
const SHT_RELR: u32 = 19;

/// What the strict reader found in an ELF file with dynamic linking info.
#[derive(Debug, Default)]
pub(super) struct Dynamic {
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
    pub flags_1: u64,
    /// Without the null symbol.
    pub dynsyms: Vec<Symbol>,
    /// Every `GLIBC_x.y` version required through verneed, ascending.
    pub glibc_required: Vec<String>,
}

#[derive(Debug)]
pub(super) struct Checked {
    pub ident: Ident,
    pub interpreter: Option<String>,
    pub dynamic: Dynamic,
    /// Defined non-local `.symtab` symbols (used for archive members).
    pub defined: Vec<Symbol>,
    /// Undefined non-local `.symtab` symbols (the imports of archive members).
    pub undefined: Vec<Symbol>,
    /// An object's first relocation that is not position-independent.
    pub non_pic: Option<String>,
    /// Undefined symbols an object's loaded code reaches PC-relative directly.
    pub direct: BTreeSet<String>,
    /// Undefined symbols an object loads scaled, with the alignment they need.
    pub scaled: BTreeMap<String, u64>,
}

/// The fixed layout of one ELF file: header, program and section headers.
struct File<'a> {
    b: &'a [u8],
    ctx: Ctx,
    is64: bool,
    h: Header,
    phdrs: Vec<ProgramHeader>,
    shdrs: Vec<SectionHeader>,
    /// Section names, `""` when there is no `.shstrtab`.
    names: Vec<String>,
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

fn endian(le: bool) -> Endian {
    if le {
        Endian::Little
    } else {
        Endian::Big
    }
}

/// Check the file and read what `xtask` uses from it.
pub(super) fn check(b: &[u8]) -> Result<Checked> {
    let f = File::new(b)?;
    f.check_program_headers()?;
    f.check_image()?;
    f.check_sections()?;
    let symtabs = f.check_symbol_tables()?;
    let pic = f.check_relocation_sections()?;
    if f.h.e_type == header::ET_REL {
        f.check_eh_frame()?;
    }
    let ident = f.ident();
    let interpreter = f.interpreter()?;
    let dynamic = match f.phdrs.iter().position(|p| p.p_type == ph::PT_DYNAMIC) {
        Some(i) => f.check_dynamic(i)?,
        None => {
            if let Some(s) = f.section_of_type(sh::SHT_DYNSYM) {
                bail!("{}: a dynamic symbol table without a PT_DYNAMIC program header", f.sec(s));
            }
            Dynamic::default()
        }
    };
    let ident = Ident {
        elf_type: match ident.elf_type {
            ElfType::SharedObject
                if dynamic.flags_1 & dt::DF_1_PIE != 0 || (dynamic.soname.is_none() && interpreter.is_some()) =>
            {
                ElfType::Pie
            }
            t => t,
        },
        ..ident
    };
    let symtab = symtabs.iter().find(|(i, _)| f.shdrs[*i].sh_type == sh::SHT_SYMTAB).map(|(_, s)| s.as_slice());
    let globals = symtab.unwrap_or_default().iter().filter(|s| s.bind != "LOCAL");
    let (defined, undefined) = globals.cloned().partition(|s| s.defined);
    Ok(Checked {
        ident,
        interpreter,
        dynamic,
        defined,
        undefined,
        non_pic: pic.non_pic,
        direct: pic.direct,
        scaled: pic.scaled,
    })
}

impl<'a> File<'a> {
    fn new(b: &'a [u8]) -> Result<File<'a>> {
        let is64 = match b[header::EI_CLASS] {
            header::ELFCLASS64 => true,
            header::ELFCLASS32 => false,
            c => bail!("ELF header at offset 0x4: EI_CLASS is {c}, neither 1 (ELF32) nor 2 (ELF64)"),
        };
        let le = match b[header::EI_DATA] {
            header::ELFDATA2LSB => true,
            header::ELFDATA2MSB => false,
            d => bail!("ELF header at offset 0x5: EI_DATA is {d}, neither 1 (little-endian) nor 2 (big-endian)"),
        };
        let v = b[header::EI_VERSION];
        ensure!(v == 1, "ELF header at offset 0x6: EI_VERSION is {v}, not 1 (EV_CURRENT)");
        let (osabi, abiv) = (b[header::EI_OSABI], b[header::EI_ABIVERSION]);
        match osabi {
            ELFOSABI_SYSV => ensure!(abiv == 0, "ELF header at offset 0x8: EI_ABIVERSION is {abiv}, SYSV ABI needs 0"),
            ELFOSABI_GNU => ensure!(
                abiv < GNU_ABI_MAX,
                "ELF header at offset 0x8: EI_ABIVERSION is {abiv}, the GNU ABI ends at {}",
                GNU_ABI_MAX - 1
            ),
            o => bail!("ELF header at offset 0x7: EI_OSABI is {o}, the loader takes 0 (SYSV) or 3 (GNU/Linux)"),
        }
        if let Some(i) = b[EI_PAD..header::SIZEOF_IDENT].iter().position(|&x| x != 0) {
            bail!("ELF header at offset {}: EI_PAD byte is not zero", hex((EI_PAD + i) as u64));
        }
        let h = if is64 {
            Header::from(b.pread_with::<header::header64::Header>(0, endian(le)).context("ELF header at offset 0x0")?)
        } else {
            Header::from(b.pread_with::<header::header32::Header>(0, endian(le)).context("ELF header at offset 0x0")?)
        };
        // Offsets of the fields after e_ident, for messages.
        let at = |f64: u64, f32: u64| hex(if is64 { f64 } else { f32 });
        ensure!(h.e_version == 1, "ELF header at offset 0x14: e_version is {}, not 1 (EV_CURRENT)", h.e_version);
        ensure!(
            matches!(h.e_type, header::ET_REL | header::ET_EXEC | header::ET_DYN),
            "ELF header at offset 0x10: e_type is {} ({}), not a relocatable object, executable or shared object",
            h.e_type,
            header::et_to_str(h.e_type)
        );
        let (ehsize, phent, shent) = if is64 { (64, 56, 64) } else { (52, 32, 40) };
        let class = if is64 { "ELF64" } else { "ELF32" };
        ensure!(
            h.e_ehsize == ehsize,
            "ELF header at offset {}: e_ehsize is {}, {class} needs {ehsize}",
            at(52, 40),
            h.e_ehsize
        );
        ensure!(
            h.e_phentsize == phent || (h.e_phnum == 0 && h.e_phentsize == 0),
            "ELF header at offset {}: e_phentsize is {}, {class} needs {phent}",
            at(54, 42),
            h.e_phentsize
        );
        ensure!(
            h.e_shentsize == shent || (h.e_shoff == 0 && h.e_shentsize == 0),
            "ELF header at offset {}: e_shentsize is {}, {class} needs {shent}",
            at(58, 46),
            h.e_shentsize
        );
        let ctx = Ctx::new(if is64 { Container::Big } else { Container::Little }, endian(le));
        let len = b.len() as u64;
        let word = if is64 { 8 } else { 4 };

        // Program headers.
        let phdrs = if h.e_phnum == 0 {
            Vec::new()
        } else {
            let end = h.e_phoff.checked_add(u64::from(h.e_phnum) * phent as u64);
            ensure!(
                h.e_phoff != 0 && end.is_some_and(|e| e <= len),
                "ELF header at offset {}: the {} program headers at e_phoff {} lie outside the file ({len} bytes)",
                at(32, 28),
                h.e_phnum,
                hex(h.e_phoff)
            );
            ensure!(
                h.e_phoff >= u64::from(ehsize),
                "ELF header at offset {}: e_phoff {} overlaps the ELF header",
                at(32, 28),
                hex(h.e_phoff)
            );
            ensure!(
                h.e_phoff % word == 0,
                "ELF header at offset {}: e_phoff {} is not {word}-byte aligned",
                at(32, 28),
                hex(h.e_phoff)
            );
            ProgramHeader::parse(b, h.e_phoff as usize, h.e_phnum as usize, ctx).context("program headers")?
        };

        // Section headers, with the extended numbering of files with 65280+ sections.
        let mut shdrs = Vec::new();
        if h.e_shoff != 0 {
            ensure!(
                h.e_shoff % word == 0,
                "ELF header at offset {}: e_shoff {} is not {word}-byte aligned",
                at(40, 32),
                hex(h.e_shoff)
            );
            ensure!(
                h.e_shoff >= u64::from(ehsize),
                "ELF header at offset {}: e_shoff {} overlaps the ELF header",
                at(40, 32),
                hex(h.e_shoff)
            );
            ensure!(
                h.e_shoff.checked_add(shent as u64).is_some_and(|e| e <= len),
                "ELF header at offset {}: e_shoff {} lies outside the file ({len} bytes)",
                at(40, 32),
                hex(h.e_shoff)
            );
            let first: SectionHeader = b.pread_with(h.e_shoff as usize, ctx).context("section header 0")?;
            let count = if h.e_shnum == 0 { first.sh_size } else { u64::from(h.e_shnum) };
            ensure!(
                h.e_shnum != 0 || count >= u64::from(sh::SHN_LORESERVE),
                "section header 0 at offset {}: extended section count {count} is below SHN_LORESERVE",
                hex(h.e_shoff)
            );
            let end = count.checked_mul(shent as u64).and_then(|s| s.checked_add(h.e_shoff));
            ensure!(
                end.is_some_and(|e| e <= len),
                "ELF header at offset {}: the {count} section headers at e_shoff {} lie outside the file ({len} bytes)",
                at(60, 48),
                hex(h.e_shoff)
            );
            shdrs = SectionHeader::parse(b, h.e_shoff as usize, count as usize, ctx).context("section headers")?;
        } else {
            ensure!(h.e_shnum == 0, "ELF header at offset {}: e_shnum is {} but e_shoff is 0", at(60, 48), h.e_shnum);
        }
        let mut f = File { b, ctx, is64, h, phdrs, shdrs, names: Vec::new() };
        f.names = f.section_names()?;
        Ok(f)
    }

    fn sym_size(&self) -> u64 {
        if self.is64 {
            24
        } else {
            16
        }
    }

    fn word(&self) -> u64 {
        if self.is64 {
            8
        } else {
            4
        }
    }

    fn ident(&self) -> Ident {
        let h = &self.h;
        Ident {
            machine: h.e_machine,
            class: if self.is64 { Class::Elf64 } else { Class::Elf32 },
            endianness: if self.ctx.le.is_little() { Endianness::Little } else { Endianness::Big },
            elf_type: match h.e_type {
                header::ET_REL => ElfType::Relocatable,
                header::ET_EXEC => ElfType::Executable,
                header::ET_DYN => ElfType::SharedObject,
                t => ElfType::Other(t),
            },
            flags: h.e_flags,
        }
    }

    /// `section header N (.name) at offset 0x…`.
    fn sec(&self, i: usize) -> String {
        let off = self.sh_off(i);
        match self.names.get(i).filter(|n| !n.is_empty()) {
            Some(n) => format!("section header {i} ({n}) at offset {}", hex(off)),
            None => format!("section header {i} at offset {}", hex(off)),
        }
    }

    fn sh_off(&self, i: usize) -> u64 {
        self.h.e_shoff + i as u64 * u64::from(self.h.e_shentsize)
    }

    fn phdr(&self, i: usize) -> String {
        let off = self.h.e_phoff + i as u64 * u64::from(self.h.e_phentsize);
        format!("program header {i} ({}) at offset {}", ph::pt_to_str(self.phdrs[i].p_type), hex(off))
    }

    fn section_of_type(&self, t: u32) -> Option<usize> {
        self.shdrs.iter().position(|s| s.sh_type == t)
    }

    /// The string at `off` of the table `[start, start + size)`: in range,
    /// NUL-terminated inside the table, UTF-8.
    fn str_in(&self, start: u64, size: u64, off: u64, what: impl Fn() -> String) -> Result<&'a str> {
        ensure!(off < size, "{}: string offset {} is outside its string table ({size} bytes)", what(), hex(off));
        let table = &self.b[start as usize..(start + size) as usize];
        let rest = &table[off as usize..];
        let Some(n) = rest.iter().position(|&c| c == 0) else {
            bail!("{}: the string at offset {} of its string table is not NUL-terminated", what(), hex(off));
        };
        std::str::from_utf8(&rest[..n])
            .map_err(|_| anyhow::anyhow!("{}: the string at offset {} is not UTF-8", what(), hex(off)))
    }

    fn section_names(&self) -> Result<Vec<String>> {
        let n = self.shdrs.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut idx = u32::from(self.h.e_shstrndx);
        if idx == sh::SHN_XINDEX {
            idx = self.shdrs[0].sh_link;
        }
        let shstr_at = if self.is64 { 62 } else { 50 };
        // bfd: "has a corrupt string table index", and ld then finds no symbols.
        ensure!(
            idx != 0,
            "ELF header at offset {}: e_shstrndx is 0 (no section names), but there are {n} sections",
            hex(shstr_at)
        );
        ensure!(
            (idx as usize) < n,
            "ELF header at offset {}: e_shstrndx {idx} is not a section (there are {n})",
            hex(shstr_at)
        );
        let s = &self.shdrs[idx as usize];
        ensure!(
            s.sh_type == sh::SHT_STRTAB,
            "ELF header at offset {}: e_shstrndx {idx} is a {}, not a string table",
            hex(shstr_at),
            sh::sht_to_str(s.sh_type)
        );
        self.check_section_range(idx as usize)?;
        self.check_strtab(idx as usize)?;
        (0..n)
            .map(|i| {
                self.str_in(s.sh_offset, s.sh_size, self.shdrs[i].sh_name as u64, || {
                    format!("section header {i} at offset {}", hex(self.sh_off(i)))
                })
                .map(String::from)
            })
            .collect()
    }

    fn check_section_range(&self, i: usize) -> Result<()> {
        let s = &self.shdrs[i];
        if s.sh_type == sh::SHT_NOBITS || s.sh_type == sh::SHT_NULL {
            return Ok(());
        }
        let end = s.sh_offset.checked_add(s.sh_size);
        ensure!(
            end.is_some_and(|e| e <= self.b.len() as u64),
            "{}: contents at {} ({} bytes) lie outside the file ({} bytes)",
            self.sec(i),
            hex(s.sh_offset),
            s.sh_size,
            self.b.len()
        );
        Ok(())
    }

    fn check_strtab(&self, i: usize) -> Result<()> {
        let s = &self.shdrs[i];
        if s.sh_size == 0 {
            return Ok(());
        }
        let t = &self.b[s.sh_offset as usize..(s.sh_offset + s.sh_size) as usize];
        ensure!(t[0] == 0 && t[t.len() - 1] == 0, "{}: string table does not begin and end with NUL", self.sec(i));
        Ok(())
    }

    fn check_program_headers(&self) -> Result<()> {
        let len = self.b.len() as u64;
        let mut last_load: Option<u64> = None;
        let mut seen = BTreeMap::new();
        for (i, p) in self.phdrs.iter().enumerate() {
            // binutils warns about the alignment of any entry, PT_NULL included.
            ensure!(
                p.p_align <= 1 || p.p_align.is_power_of_two(),
                "{}: p_align {} is not a power of two",
                self.phdr(i),
                hex(p.p_align)
            );
            if p.p_type == ph::PT_NULL {
                continue;
            }
            ensure!(
                p.p_offset.checked_add(p.p_filesz).is_some_and(|e| e <= len),
                "{}: file range {}+{} lies outside the file ({len} bytes)",
                self.phdr(i),
                hex(p.p_offset),
                hex(p.p_filesz)
            );
            ensure!(
                p.p_vaddr.checked_add(p.p_memsz).is_some(),
                "{}: p_vaddr {} + p_memsz {} overflows",
                self.phdr(i),
                hex(p.p_vaddr),
                hex(p.p_memsz)
            );
            ensure!(
                p.p_align <= 1 || p.p_align.is_power_of_two(),
                "{}: p_align {} is not a power of two",
                self.phdr(i),
                hex(p.p_align)
            );
            if matches!(p.p_type, ph::PT_DYNAMIC | ph::PT_INTERP | ph::PT_PHDR | ph::PT_TLS | ph::PT_GNU_RELRO) {
                if let Some(j) = seen.insert(p.p_type, i) {
                    bail!("{}: a second {} (the first is program header {j})", self.phdr(i), ph::pt_to_str(p.p_type));
                }
            }
            if p.p_type == ph::PT_LOAD {
                ensure!(
                    p.p_filesz <= p.p_memsz,
                    "{}: p_filesz {} is larger than p_memsz {}",
                    self.phdr(i),
                    hex(p.p_filesz),
                    hex(p.p_memsz)
                );
                ensure!(
                    p.p_align >= PAGE && p.p_align % PAGE == 0,
                    "{}: p_align {} is not a multiple of the page size ({PAGE})",
                    self.phdr(i),
                    hex(p.p_align)
                );
                ensure!(
                    p.p_vaddr.wrapping_sub(p.p_offset) % p.p_align == 0,
                    "{}: p_vaddr {} and p_offset {} differ modulo p_align {}",
                    self.phdr(i),
                    hex(p.p_vaddr),
                    hex(p.p_offset),
                    hex(p.p_align)
                );
                if let Some(prev) = last_load {
                    ensure!(p.p_vaddr >= prev, "{}: PT_LOAD segments are not in ascending p_vaddr order", self.phdr(i));
                }
                last_load = Some(p.p_vaddr + p.p_memsz);
            }
        }
        self.check_load_pages()?;
        // The loader makes PT_GNU_RELRO read-only after relocating; the
        // range must be memory it mapped writable, or mprotect fails
        // ("cannot apply additional memory protection after relocation").
        if let Some(&i) = seen.get(&ph::PT_GNU_RELRO) {
            let r = &self.phdrs[i];
            ensure!(
                r.p_memsz == 0 || self.writable(r.p_vaddr, r.p_memsz),
                "{}: PT_GNU_RELRO {}+{} is not inside one writable PT_LOAD",
                self.phdr(i),
                hex(r.p_vaddr),
                hex(r.p_memsz)
            );
        }
        if let Some(&i) = seen.get(&ph::PT_DYNAMIC) {
            let d = &self.phdrs[i];
            ensure!(
                self.load_of_file_range(d.p_offset, d.p_filesz).is_some_and(|l| {
                    let l = &self.phdrs[l];
                    d.p_vaddr.wrapping_sub(l.p_vaddr) == d.p_offset - l.p_offset
                }),
                "{}: the dynamic segment ({}+{}) is not inside the file contents of a PT_LOAD at the same address",
                self.phdr(i),
                hex(d.p_offset),
                hex(d.p_filesz)
            );
        }
        Ok(())
    }

    /// Whether `addr` lies in an executable `PT_LOAD`, and is code there
    /// (`File::code_at`).
    fn executable(&self, addr: u64) -> bool {
        self.phdrs.iter().any(|p| {
            p.p_type == ph::PT_LOAD && p.p_flags & ph::PF_X != 0 && addr >= p.p_vaddr && addr < p.p_vaddr + p.p_memsz
        }) && self.code_at(addr)
    }

    /// Whether `[addr, addr + len)` lies in one writable `PT_LOAD`.
    fn writable(&self, addr: u64, len: u64) -> bool {
        self.phdrs.iter().any(|p| {
            p.p_type == ph::PT_LOAD
                && p.p_flags & ph::PF_W != 0
                && addr >= p.p_vaddr
                && addr.checked_add(len).is_some_and(|e| e <= p.p_vaddr + p.p_memsz)
        })
    }

    /// The `PT_LOAD` whose file contents hold `[off, off + len)`.
    fn load_of_file_range(&self, off: u64, len: u64) -> Option<usize> {
        self.phdrs.iter().position(|p| {
            p.p_type == ph::PT_LOAD
                && off >= p.p_offset
                && off.checked_add(len).is_some_and(|e| e <= p.p_offset + p.p_filesz)
        })
    }

    /// The file offset of `[addr, addr + len)`, which must lie in the file
    /// contents of one `PT_LOAD` (what the loader reads there is the file).
    fn file_offset(&self, addr: u64, len: u64) -> Option<u64> {
        self.phdrs.iter().find_map(|p| {
            (p.p_type == ph::PT_LOAD
                && addr >= p.p_vaddr
                && addr.checked_add(len).is_some_and(|e| e <= p.p_vaddr + p.p_filesz))
            .then(|| addr - p.p_vaddr + p.p_offset)
        })
    }

    /// Whether `[addr, addr + len)` lies in the memory image of one `PT_LOAD`.
    fn in_memory(&self, addr: u64, len: u64) -> bool {
        self.phdrs.iter().any(|p| {
            p.p_type == ph::PT_LOAD
                && addr >= p.p_vaddr
                && addr.checked_add(len).is_some_and(|e| e <= p.p_vaddr + p.p_memsz)
        })
    }

    fn interpreter(&self) -> Result<Option<String>> {
        let Some(i) = self.phdrs.iter().position(|p| p.p_type == ph::PT_INTERP) else { return Ok(None) };
        let p = &self.phdrs[i];
        let s = &self.b[p.p_offset as usize..(p.p_offset + p.p_filesz) as usize];
        let ok = s.last() == Some(&0) && !s[..s.len() - 1].contains(&0);
        ensure!(ok, "{}: the interpreter path is not one NUL-terminated string", self.phdr(i));
        let s = std::str::from_utf8(&s[..s.len() - 1]);
        s.map(|s| Some(s.to_string()))
            .map_err(|_| anyhow::anyhow!("{}: the interpreter path is not UTF-8", self.phdr(i)))
    }
}

/// The SysV ELF hash of `DT_HASH` and of `vna_hash`/`vd_hash`.
pub(super) fn elf_hash(name: &str) -> u32 {
    let mut h: u32 = 0;
    for &c in name.as_bytes() {
        h = (h << 4).wrapping_add(u32::from(c));
        let g = h & 0xf000_0000;
        if g != 0 {
            h ^= g >> 24;
        }
        h &= !g;
    }
    h
}
