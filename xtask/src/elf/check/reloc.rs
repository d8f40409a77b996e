//! Relocation sections as the linker reads them, and the symbols of
//! relocatable objects (archive members) that relocations point to.
//!
//! In a linked file, a relocation section names its symbol table and its
//! entries index into it (the loader's own view is checked in `dynamic`). In
//! a relocatable object the linker applies every entry itself, so a member
//! nm lists happily can still fail the link: a relocated section that holds
//! no contents ("unresolvable relocation"), a type the machine's linker does
//! not know or takes only in linked files (`R_X86_64_COPY`) or the GNU C++
//! vtable-GC ones (`R_X86_64_GNU_VTENTRY`), a field past the
//! end of its section, a GOT/PLT/TLS type patching a section that is not
//! loaded, a symbol placed outside its section or an addend far outside its
//! target ("relocation truncated to fit", "failed to convert GOTPCREL
//! relocation"), a TLS symbol outside a TLS section ("TLS definition …
//! mismatches non-TLS reference"), a global with no name ("undefined
//! reference to `no symbol'"). Each is refused here, naming the entry.

use super::dynamic::tag_name;
use super::*;

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const EM_RISCV: u16 = 243;
const SHT_LOPROC: u32 = 0x7000_0000;
const SHT_X86_64_UNWIND: u32 = 0x7000_0001;
const R_X86_64_TLSGD: u32 = 19;
const R_X86_64_TLSLD: u32 = 20;
/// The part of a field's reach the linker's own layout may use: a target
/// (symbol + addend) defined in the same object must stay within the
/// field's reach minus this of its section, or the field overflows once laid
/// out ("relocation truncated to fit"). Hand-written assembly (glibc's
/// libmvec) addresses tables 4 MiB before a label; a corrupt addend is
/// gigabytes away.
const LAYOUT: i64 = 1 << 28;

/// What the linker does with one relocation type in an object.
#[derive(Clone, Copy)]
struct Kind {
    /// Bytes of the field it patches at `r_offset`.
    size: u64,
    /// Binds through the GOT, PLT or TLS code sequences: patches code or
    /// data that is loaded.
    runtime: bool,
    /// log2 of how far the patched value reaches (64 for a 64-bit field).
    reach: u32,
    pic: Pic,
    /// A thread-local type: its symbol is a TLS symbol (or the section
    /// symbol of a TLS section).
    tls: bool,
}

/// What of an object's relocations a position-independent link may refuse.
#[derive(Debug, Default)]
pub(in crate::elf) struct ObjectRelocs {
    /// The first absolute address in loaded code or data.
    pub non_pic: Option<String>,
    /// Undefined symbols loaded code reaches PC-relative, not through the PLT/GOT.
    pub direct: BTreeSet<String>,
    /// Undefined symbols loaded by a scaled `:lo12:` load or store wider
    /// than an instruction (AArch64 LDST64/128): the width they must be
    /// aligned to, which only their definition tells.
    pub scaled: BTreeMap<String, u64>,
}

/// What a position-independent link (a PIE, as `cc` links by default, or a
/// shared library) refuses of a relocation in loaded code or data.
#[derive(Clone, Copy, PartialEq)]
enum Pic {
    Any,
    /// An absolute address narrower than a pointer ("can not be used when
    /// making a PIE object; recompile with -fPIE").
    Absolute,
    /// A direct PC-relative reference: a PIE cannot reach a function of a
    /// shared library through it (data gets a copy relocation).
    Direct,
    /// A PC-relative field of one or two bytes: it reaches no further than
    /// its own section, whatever the layout.
    Near,
}

enum Type {
    /// The machine's types are not known here: only offsets are checked.
    Unchecked,
    Ok(Kind),
    /// Only in linked files (the loader's types).
    DynamicOnly,
    /// GNU C++ vtable garbage collection (`R_X86_64_GNU_VTINHERIT`,
    /// `_VTENTRY`, from the long-removed `-fvtable-gc`): ld checks them
    /// against the vtable symbols of the section ("corrupt VTENTRY entry"
    /// against a local one, "no symbol found for INHERIT"); no compiler of
    /// this build emits them, so none is taken.
    VtableGc,
    Unknown,
}

/// log2 of a signed field of `size` bytes' reach.
fn reach(size: u64) -> u32 {
    if size >= 8 {
        64
    } else {
        (8 * size as u32).saturating_sub(1)
    }
}

fn kind(size: u64, runtime: bool) -> Type {
    Type::Ok(Kind { size, runtime, reach: reach(size), pic: Pic::Any, tls: false })
}

fn pic(size: u64, pic: Pic) -> Type {
    Type::Ok(Kind { size, runtime: false, reach: reach(size), pic, tls: false })
}

fn tls(size: u64, runtime: bool) -> Type {
    Type::Ok(Kind { size, runtime, reach: reach(size), pic: Pic::Any, tls: true })
}

/// AArch64 branches and literal loads reach less than 32 bits.
fn branch(reach: u32) -> Type {
    Type::Ok(Kind { size: 4, runtime: false, reach, pic: Pic::Any, tls: false })
}

/// An AArch64 branch or load that stays within its own section.
fn near_branch(reach: u32) -> Type {
    Type::Ok(Kind { size: 4, runtime: false, reach, pic: Pic::Near, tls: false })
}

/// The alignment an AArch64 scaled load/store `:lo12:` field needs of its
/// target (LDST16/32/64/128_ABS_LO12_NC): ld refuses a misaligned one
/// ("relocation truncated to fit").
fn ldst_scale(machine: u16, t: u32) -> Option<u64> {
    match (machine, t) {
        (EM_AARCH64, 284) => Some(2),
        (EM_AARCH64, 285) => Some(4),
        (EM_AARCH64, 286) => Some(8),
        (EM_AARCH64, 299) => Some(16),
        _ => None,
    }
}

/// The relocation types GNU ld takes in an ELF64 object, from glibc's
/// `elf.h` (binutils 2.40): x86-64 and AArch64.
fn reloc_type(machine: u16, is64: bool, t: u32) -> Type {
    match (machine, is64) {
        (EM_X86_64, true) => match t {
            0 => kind(0, false),
            250 | 251 => Type::VtableGc,
            1 | 25 | 29 | 33 => kind(8, false),
            16..=18 => tls(8, false),
            24 => pic(8, Pic::Direct),
            27 | 28 | 30 | 31 => kind(8, true),
            21 | 23 => tls(4, false),
            32 => kind(4, false),
            2 => pic(4, Pic::Direct),
            10 | 11 => pic(4, Pic::Absolute),
            3 | 4 | 9 | 26 | 41 | 42 => kind(4, true),
            19 | 20 | 22 | 34 => tls(4, true),
            35 => tls(2, true),
            12 => pic(2, Pic::Absolute),
            13 => pic(2, Pic::Near),
            14 => pic(1, Pic::Absolute),
            15 => pic(1, Pic::Near),
            5..=8 | 36..=38 => Type::DynamicOnly,
            _ => Type::Unknown,
        },
        (EM_AARCH64, true) => match t {
            0 | 256 => kind(0, false),
            257 => kind(8, false),
            // PREL64, PREL32: data PC-relative, as direct as ADRP; PREL16
            // reaches no further than its own section.
            260 => pic(8, Pic::Direct),
            261 => pic(4, Pic::Direct),
            258 => pic(4, Pic::Absolute),
            259 => pic(2, Pic::Absolute),
            262 => pic(2, Pic::Near),
            263..=272 => pic(4, Pic::Absolute),
            // TSTBR14, CONDBR19, LD_PREL_LO19, ADR_PREL_LO21: a branch, a
            // literal load or an address within its own section (a
            // function's); another section may be laid out further away.
            279 => near_branch(15),
            273 | 274 | 280 => near_branch(20),
            282 | 283 => branch(27),
            // A symbol's own page or low 12 bits (ADRP, ADD/LDST `:lo12:`):
            // a PIE cannot reach a shared library's function through them.
            275..=278 | 284..=286 | 299 => pic(4, Pic::Direct),
            // MOVW_PREL_*: PC-relative, as direct as ADRP; MOVW_PREL_G0, the
            // one whose 16 bits ld checks, within its own section.
            287 => near_branch(16),
            288..=293 => pic(4, Pic::Direct),
            // ld 2.40 takes MOVW_GOTOFF_G0_NC and _G1 of the GOT-relative
            // group, not the rest (nor GOTREL64/32): 'unrecognized relocation'.
            301 | 302 => kind(4, false),
            309..=313 => kind(4, true),
            // Not 520..=522 (TLSGD_MOVW_*) or 570..=573 (the 128-bit TLS
            // load/store ones), which ld 2.40 does not recognise.
            512..=519 | 523..=569 => tls(4, true),
            1024..=1032 => Type::DynamicOnly,
            _ => Type::Unknown,
        },
        _ => Type::Unchecked,
    }
}

/// Whether glibc's loader applies dynamic relocation type `t` on `machine`
/// (`elf_machine_rela` in its `dl-machine.h`; any other type stops the load
/// with "unexpected reloc type"). `None`: a machine not modelled here.
pub(super) fn loader_applies(machine: u16, t: u32) -> Option<bool> {
    Some(match machine {
        // NONE, 64, PC32, 32, COPY, GLOB_DAT, JUMP_SLOT, RELATIVE,
        // DTPMOD64, DTPOFF64, TPOFF64, SIZE32, SIZE64, TLSDESC, IRELATIVE.
        EM_X86_64 => matches!(t, 0 | 1 | 2 | 5..=8 | 10 | 16..=18 | 32 | 33 | 36 | 37),
        // NONE, ABS64, COPY, GLOB_DAT, JUMP_SLOT, RELATIVE, the TLS ones,
        // TLSDESC, IRELATIVE.
        EM_AARCH64 => matches!(t, 0 | 257 | 1024..=1032),
        // NONE, 32, 64, RELATIVE, COPY, JUMP_SLOT, the TLS ones, TLSDESC,
        // IRELATIVE.
        EM_RISCV => matches!(t, 0..=12 | 58),
        _ => return None,
    })
}

/// The machine's R_*_RELATIVE type, where it is modelled here.
pub(super) fn relative_type(machine: u16) -> Option<u32> {
    match machine {
        EM_X86_64 => Some(8),
        EM_AARCH64 => Some(1027),
        EM_RISCV => Some(3),
        _ => None,
    }
}

/// The bytes relocation type `t` patches, where it is known here.
pub(super) fn field_size(machine: u16, is64: bool, t: u32) -> Option<u64> {
    match reloc_type(machine, is64, t) {
        Type::Ok(k) => Some(k.size),
        _ => None,
    }
}

impl File<'_> {
    /// The dynamic relocation tables (`DT_RELA`, `DT_REL`, `DT_JMPREL`,
    /// `DT_RELR`) as the loader applies them: known types, the relative
    /// ones first, every write inside a writable PT_LOAD, and the init and
    /// fini arrays (`functions`: tag, address, size) filled with code.
    pub(super) fn check_dynamic_relocations(
        &self,
        d: &super::dynamic::Dyns,
        types: &[u8],
        functions: &[(u64, u64, u64)],
        at: &dyn Fn(u64) -> String,
        need: &dyn Fn(u64, u64) -> Result<u64>,
        table: &dyn Fn(u64, u64) -> Result<u64>,
    ) -> Result<()> {
        // Relocations.
        const DF_TEXTREL: u64 = 0x4;
        let textrel = d.get(dt::DT_TEXTREL).is_some() || d.get(dt::DT_FLAGS).is_some_and(|f| f & DF_TEXTREL != 0);
        let count = types.len() as u64;
        let mut writes = Vec::new();
        for (tag, sz, rela) in [
            (dt::DT_RELA, dt::DT_RELASZ, true),
            (dt::DT_REL, dt::DT_RELSZ, false),
            (dt::DT_JMPREL, dt::DT_PLTRELSZ, d.get(dt::DT_PLTREL) != Some(dt::DT_REL)),
        ] {
            if d.get(tag).is_none() {
                continue;
            }
            if tag == dt::DT_JMPREL {
                need(dt::DT_PLTREL, tag)?;
            }
            let size = need(sz, tag)?;
            let ent = Reloc::size(rela, self.ctx) as u64;
            ensure!(size % ent == 0, "{}: {} is not a multiple of {ent}", at(sz), size);
            let start = table(tag, size)?;
            // The loader applies the first DT_RELACOUNT (DT_RELCOUNT)
            // entries as relative relocations without reading their type.
            let relative_count = match tag {
                dt::DT_RELA => d.get(dt::DT_RELACOUNT),
                dt::DT_REL => d.get(dt::DT_RELCOUNT),
                _ => None,
            };
            if let Some(n) = relative_count {
                ensure!(
                    n <= size / ent,
                    "{}: {n} relative relocations, but {} has {} entries",
                    at(if rela { dt::DT_RELACOUNT } else { dt::DT_RELCOUNT }),
                    tag_name(tag),
                    size / ent
                );
            }
            for k in 0..size / ent {
                let off = start + k * ent;
                let r: Reloc = self.b.pread_with(off as usize, (rela, self.ctx))?;
                let what = || format!("relocation {k} of {} (entry at offset {})", tag_name(tag), hex(off));
                let relative = relative_type(self.h.e_machine);
                if let Some(&(arr, _, _)) = functions.iter().find(|(_, a, n)| r.r_offset >= *a && r.r_offset < a + n) {
                    if rela && Some(r.r_type) == relative {
                        let target = r.r_addend.unwrap_or(0) as u64;
                        ensure!(
                            self.executable(target),
                            "{}: fills an entry of {} with {}, which is not code (a function's start, in an executable section of an executable PT_LOAD)",
                            what(),
                            tag_name(arr),
                            hex(target)
                        );
                    }
                }
                if let (Some(n), Some(relative)) = (relative_count, relative) {
                    ensure!(
                        k >= n || r.r_type == relative,
                        "{}: type {} among the first {n} (DT_RELACOUNT) relocations, which the loader applies as \
                     relative ({}) without looking",
                        what(),
                        hex(u64::from(r.r_type)),
                        hex(u64::from(relative))
                    );
                }
                ensure!(
                    (r.r_sym as u64) < count,
                    "{}: symbol index {} is past the {count} dynamic symbols",
                    what(),
                    r.r_sym
                );
                self.check_loader_reloc(tag, &r, off, d.get(dt::DT_PLTGOT), types, &what, &mut writes)?;
                // Type 0 is R_<machine>_NONE on every machine: the loader
                // skips it, and ld leaves such entries (offset 0) where
                // relaxation dropped a dynamic relocation (riscv64 cgo
                // programs have one).
                if r.r_type == 0 {
                    continue;
                }
                ensure!(
                    loader_applies(self.h.e_machine, r.r_type) != Some(false),
                    "{}: type {} is not a dynamic relocation the loader applies on this machine",
                    what(),
                    hex(u64::from(r.r_type))
                );
                ensure!(
                    self.in_memory(r.r_offset, 1),
                    "{}: r_offset {} is not inside a PT_LOAD",
                    what(),
                    hex(r.r_offset)
                );
                // The loader writes there: a read-only segment faults,
                // unless the library asks for text relocations.
                ensure!(
                    textrel || self.writable(r.r_offset, self.word()),
                    "{}: r_offset {} is not inside a writable PT_LOAD (the loader's write would fault)",
                    what(),
                    hex(r.r_offset)
                );
            }
        }
        if d.get(DT_RELR).is_some() {
            let size = need(DT_RELRSZ, DT_RELR)?;
            let w = self.word();
            ensure!(size % w == 0, "{}: {} is not a multiple of {w}", at(DT_RELRSZ), size);
            self.check_relr(table(DT_RELR, size)?, size, textrel, &mut writes)?;
        }
        self.check_writes(writes, functions, at)
    }

    /// The `DT_RELR` table at file offset `start` (`size` bytes): every
    /// address it relocates lies in a writable PT_LOAD (or any, with text
    /// relocations), as the loader writes there.
    pub(super) fn check_relr(
        &self,
        start: u64,
        size: u64,
        textrel: bool,
        writes: &mut Vec<super::loader::Write>,
    ) -> Result<()> {
        let w = self.word();
        let mut base = 0u64;
        for k in 0..size / w {
            let off = start + k * w;
            let e: u64 = if self.is64 {
                self.b.pread_with(off as usize, self.ctx.le)?
            } else {
                u64::from(self.b.pread_with::<u32>(off as usize, self.ctx.le)?)
            };
            let what = || format!("DT_RELR entry {k} at offset {}", hex(off));
            if e & 1 == 0 {
                ensure!(
                    self.in_memory(e, w) && (textrel || self.writable(e, w)),
                    "{}: address {} is not inside a writable PT_LOAD",
                    what(),
                    hex(e)
                );
                writes.push(super::loader::Write::new(e, w, off, what()));
                base = e + w;
            } else {
                let bits = 8 * w - 1;
                let top = (0..bits).rev().find(|b| (e >> (b + 1)) & 1 == 1);
                if let Some(b) = top {
                    let a = base + b * w;
                    ensure!(
                        base != 0 && self.in_memory(a, w) && (textrel || self.writable(a, w)),
                        "{}: bitmap reaches {} outside every writable PT_LOAD",
                        what(),
                        hex(a)
                    );
                }
                for b in (0..bits).filter(|b| (e >> (b + 1)) & 1 == 1) {
                    writes.push(super::loader::Write::new(base + b * w, w, off, what()));
                }
                base += bits * w;
            }
        }
        Ok(())
    }

    /// Check every relocation section; for an object, also say what a
    /// position-independent link refuses, which only the final link decides.
    pub(super) fn check_relocation_sections(&self) -> Result<ObjectRelocs> {
        let object = self.h.e_type == header::ET_REL;
        let mut out = ObjectRelocs::default();
        for (i, s) in self.shdrs.iter().enumerate() {
            if !matches!(s.sh_type, sh::SHT_RELA | sh::SHT_REL) {
                continue;
            }
            if s.sh_link == 0 {
                // `.rela.dyn` of a library without dynamic symbols links to nothing.
                ensure!(
                    !object || s.sh_size == 0,
                    "{}: sh_link 0, but the relocations of an object need a symbol table",
                    self.sec(i)
                );
                continue;
            }
            let target = if object { Some(self.relocated(i)?) } else { None };
            let rela = s.sh_type == sh::SHT_RELA;
            let symtab = &self.shdrs[s.sh_link as usize];
            let count = symtab.sh_size / self.sym_size();
            let size = Reloc::size(rela, self.ctx) as u64;
            for k in 0..s.sh_size / size {
                let off = s.sh_offset + k * size;
                let what = || format!("relocation {k} of {} (entry at offset {})", self.sec(i), hex(off));
                let r: Reloc = self.b.pread_with(off as usize, (rela, self.ctx)).with_context(what)?;
                ensure!(
                    (r.r_sym as u64) < count,
                    "{}: symbol index {} is past the {count} symbols of section {}",
                    what(),
                    r.r_sym,
                    s.sh_link
                );
                if let Some(t) = target {
                    if rela && self.h.e_machine == EM_X86_64 && matches!(r.r_type, R_X86_64_TLSGD | R_X86_64_TLSLD) {
                        self.check_tls_call(s, k, &r, symtab, &what)?;
                    }
                    let pic = self.check_object_reloc(&r, t, symtab, &what)?;
                    if pic == Some(Pic::Absolute) && out.non_pic.is_none() {
                        out.non_pic = Some(format!("{}: type {} in loaded section {t}", what(), r.r_type));
                    }
                    let scale = ldst_scale(self.h.e_machine, r.r_type).filter(|&a| a > 4);
                    if pic == Some(Pic::Direct) || scale.is_some() {
                        let sy: Sym = self
                            .b
                            .pread_with((symtab.sh_offset + r.r_sym as u64 * self.sym_size()) as usize, self.ctx)?;
                        let str_sec = &self.shdrs[symtab.sh_link as usize];
                        let name = self.str_in(str_sec.sh_offset, str_sec.sh_size, sy.st_name as u64, what)?;
                        if pic == Some(Pic::Direct) {
                            out.direct.insert(name.to_string());
                        }
                        if let (Some(align), true) = (scale, r.r_sym != 0 && sy.st_shndx == sh::SHN_UNDEF as usize) {
                            let at = out.scaled.entry(name.to_string()).or_insert(align);
                            *at = (*at).max(align);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// x86-64 general- and local-dynamic TLS: the next relocation must be
    /// the call of `__tls_get_addr` right after the `lea` (8 bytes on for
    /// `TLSGD`'s padded sequence, 5 or 6 for `TLSLD`'s), which ld rewrites
    /// with it when it links an executable ("TLS transition from
    /// R_X86_64_TLSGD to R_X86_64_GOTTPOFF … failed" otherwise).
    fn check_tls_call(
        &self,
        s: &SectionHeader,
        k: u64,
        r: &Reloc,
        symtab: &SectionHeader,
        what: &dyn Fn() -> String,
    ) -> Result<()> {
        let size = Reloc::size(true, self.ctx) as u64;
        let next: Option<Reloc> = (k + 1 < s.sh_size / size)
            .then(|| self.b.pread_with((s.sh_offset + (k + 1) * size) as usize, (true, self.ctx)).ok())
            .flatten();
        let gap = |n: &Reloc| n.r_offset.wrapping_sub(r.r_offset);
        let at_call = next.as_ref().is_some_and(|n| match r.r_type {
            R_X86_64_TLSGD => gap(n) == 8,
            _ => matches!(gap(n), 5 | 6),
        });
        let callee = next.as_ref().filter(|_| at_call).and_then(|n| {
            let str_sec = &self.shdrs[symtab.sh_link as usize];
            let sy: Sym =
                self.b.pread_with((symtab.sh_offset + n.r_sym as u64 * self.sym_size()) as usize, self.ctx).ok()?;
            self.str_in(str_sec.sh_offset, str_sec.sh_size, sy.st_name as u64, what).ok()
        });
        ensure!(
            callee == Some("__tls_get_addr"),
            "{}: type {} is not followed by the relocation of its call to __tls_get_addr",
            what(),
            r.r_type
        );
        Ok(())
    }

    /// The section an object's relocation section `i` patches (`sh_info`):
    /// one with contents, where the linker can apply them.
    fn relocated(&self, i: usize) -> Result<usize> {
        let s = &self.shdrs[i];
        let t = s.sh_info as usize;
        ensure!(
            t != 0 && t < self.shdrs.len(),
            "{}: sh_info {} (the relocated section) is not a section",
            self.sec(i),
            s.sh_info
        );
        let ty = self.shdrs[t].sh_type;
        // Processor types: the x86-64 unwind section; other machines' are theirs.
        let proc_ok = match self.h.e_machine {
            EM_X86_64 => ty == SHT_X86_64_UNWIND,
            EM_AARCH64 => false,
            _ => (SHT_LOPROC..=0x7fff_ffff).contains(&ty),
        };
        let holds = proc_ok
            || matches!(
                ty,
                sh::SHT_PROGBITS | sh::SHT_NOTE | sh::SHT_INIT_ARRAY | sh::SHT_FINI_ARRAY | sh::SHT_PREINIT_ARRAY
            );
        ensure!(
            holds,
            "{}: sh_info {t} (the relocated section) is a {} section, which has no contents to relocate",
            self.sec(i),
            sh::sht_to_str(ty)
        );
        Ok(t)
    }

    /// One relocation of an object; what a position-independent link would
    /// make of it: `Absolute` for an absolute address in loaded code or data
    /// ("can not be used when making a PIE object", though a `-no-pie` link
    /// takes it), `Direct` for a PC-relative reference to an undefined symbol
    /// from loaded code (refused if a shared library's function resolves it).
    fn check_object_reloc(
        &self,
        r: &Reloc,
        t: usize,
        symtab: &SectionHeader,
        what: &dyn Fn() -> String,
    ) -> Result<Option<Pic>> {
        let target = &self.shdrs[t];
        let ty = reloc_type(self.h.e_machine, self.is64, r.r_type);
        let modelled = !matches!(ty, Type::Unchecked);
        let k = match ty {
            Type::Unchecked => Kind { size: 1, runtime: false, reach: 64, pic: Pic::Any, tls: false },
            Type::Ok(k) => k,
            Type::DynamicOnly => {
                bail!("{}: type {} is a dynamic relocation, which the linker refuses in an object", what(), r.r_type)
            }
            Type::VtableGc => bail!(
                "{}: type {} is a GNU C++ vtable-GC relocation (VTINHERIT/VTENTRY), which no compiler of this \
                 build emits and ld checks against vtable symbols",
                what(),
                r.r_type
            ),
            Type::Unknown => bail!(
                "{}: type {} is not a relocation type of {}",
                what(),
                r.r_type,
                header::machine_to_str(self.h.e_machine)
            ),
        };
        ensure!(
            r.r_offset.checked_add(k.size).is_some_and(|e| e <= target.sh_size),
            "{}: r_offset {} (a {}-byte field) is past the end of section {t} ({} bytes)",
            what(),
            hex(r.r_offset),
            k.size,
            target.sh_size
        );
        ensure!(
            !k.runtime || target.sh_flags & u64::from(sh::SHF_ALLOC) != 0,
            "{}: type {} binds at run time, but section {t} is not allocated",
            what(),
            r.r_type
        );
        if target.sh_type == sh::SHT_PROGBITS {
            let code = self.b.get(target.sh_offset as usize..).and_then(|b| b.get(..target.sh_size as usize));
            if let Some(code) = code {
                super::insn::check(self.h.e_machine, r.r_type, code, r.r_offset)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", what()))?;
            }
        }
        let sy: Sym = self.b.pread_with((symtab.sh_offset + r.r_sym as u64 * self.sym_size()) as usize, self.ctx)?;
        let shndx = sy.st_shndx;
        let undefined = r.r_sym != 0 && shndx == sh::SHN_UNDEF as usize;
        // Undefined symbols are global or weak: ld cannot resolve a local one
        // ("undefined reference to `no symbol'").
        ensure!(
            !undefined || sy.st_bind() != sym::STB_LOCAL,
            "{}: against symbol {}, a LOCAL symbol that is undefined",
            what(),
            r.r_sym
        );
        if !modelled {
            // A machine whose relocation types are not modelled here: what a
            // type needs is not known (RISC-V's R_RISCV_RELAX and
            // R_RISCV_ALIGN, on every call gcc emits, carry no symbol).
            return Ok(None);
        }
        let loaded = target.sh_flags & u64::from(sh::SHF_ALLOC) != 0;
        // Whatever the type (R_*_NONE too): ld leaves SHF_EXCLUDE sections (`.llvmbc`, `.llvmcmd`, …) out of
        // the link: loaded code or data cannot refer to what they define
        // ("defined in discarded section").
        const SHF_EXCLUDE: u64 = 0x8000_0000;
        ensure!(
            !loaded || shndx == 0 || shndx >= self.shdrs.len() || self.shdrs[shndx].sh_flags & SHF_EXCLUDE == 0,
            "{}: against symbol {}, defined in section {shndx}, which the link discards (SHF_EXCLUDE)",
            what(),
            r.r_sym
        );
        // ld's x86 check (`_bfd_elf_x86_valid_reloc_p`): in a
        // position-independent link, a relocation in loaded code or data
        // against an absolute symbol must resolve to its value (+ addend):
        // R_X86_64_64, 32S or a GOT load; any other "is disallowed".
        let absolute_refused = self.h.e_machine == EM_X86_64
            && r.r_sym != 0
            && shndx == sh::SHN_ABS as usize
            && loaded
            && !matches!(r.r_type, 1 | 9 | 11 | 41 | 42);
        if k.size == 0 {
            // ld resolves no symbol for R_*_NONE: "unresolvable relocation".
            ensure!(
                !undefined,
                "{}: type {} against undefined symbol {}, which ld cannot resolve",
                what(),
                r.r_type,
                r.r_sym
            );
            return Ok(absolute_refused.then_some(Pic::Absolute));
        }
        ensure!(r.r_sym != 0, "{}: type {} needs a symbol, but the symbol index is 0", what(), r.r_type);
        let ty = sy.st_type();
        ensure!(ty != sym::STT_FILE, "{}: against symbol {}, a FILE symbol", what(), r.r_sym);
        ensure!(
            k.pic != Pic::Near || shndx == t,
            "{}: a PC-relative field of type {} (reach {} bytes) against symbol {} of another section: the layout \
             decides whether it fits",
            what(),
            r.r_type,
            1u64 << k.reach,
            r.r_sym
        );
        if let (Some(align), true) = (ldst_scale(self.h.e_machine, r.r_type), shndx != 0 && shndx < self.shdrs.len()) {
            let section = self.shdrs[shndx].sh_addralign.max(1);
            let at = (sy.st_value as i64).wrapping_add(r.r_addend.unwrap_or(0));
            ensure!(
                section.is_multiple_of(align) && at.rem_euclid(align as i64) == 0,
                "{}: a {align}-byte scaled load or store (type {}) of symbol {} + {:#x}, which is not {align}-byte \
                 aligned (its section {shndx} is aligned to {section})",
                what(),
                r.r_type,
                r.r_sym,
                at
            );
        }
        if k.tls {
            let tls_section = shndx < self.shdrs.len() && self.shdrs[shndx].sh_flags & u64::from(sh::SHF_TLS) != 0;
            ensure!(
                ty == sym::STT_TLS || (ty == sym::STT_SECTION && tls_section),
                "{}: thread-local type {} against symbol {}, a {} symbol (ld: \"TLS transition … failed\")",
                what(),
                r.r_type,
                r.r_sym,
                sym::type_to_str(ty)
            );
        }
        if let (Some(addend), true) = (r.r_addend, k.reach < 64) {
            // The section the target lies in, or none (undefined, absolute, common).
            let size = if shndx != 0 && shndx < self.shdrs.len() { self.shdrs[shndx].sh_size as i64 } else { 0 };
            let base = if size > 0 || shndx != 0 && shndx < self.shdrs.len() { sy.st_value as i64 } else { 0 };
            let slack = (1i64 << k.reach).saturating_sub(LAYOUT).max(1 << (k.reach - 3));
            let at = base.checked_add(addend);
            ensure!(
                at.is_some_and(|a| a >= -slack && a <= size.saturating_add(slack)),
                "{}: symbol {} + addend {addend:#x} overflows a type {} field (the target is {size} bytes of section {shndx})",
                what(),
                r.r_sym,
                r.r_type
            );
        }
        Ok(match k.pic {
            _ if absolute_refused => Some(Pic::Absolute),
            Pic::Absolute if loaded => Some(Pic::Absolute),
            Pic::Direct if loaded && undefined => Some(Pic::Direct),
            _ => None,
        })
    }

    /// A symbol of an object's `.symtab`: named if global, inside the section
    /// that defines it, TLS exactly when its section is.
    pub(super) fn check_object_symbol(
        &self,
        sy: &Sym,
        shndx: usize,
        name: &str,
        what: &dyn Fn() -> String,
    ) -> Result<()> {
        let global = sy.st_bind() != sym::STB_LOCAL;
        let (bind, ty) = (sy.st_bind(), sy.st_type());
        ensure!(!global || !name.is_empty(), "{}: a {} symbol without a name", what(), sym::bind_to_str(bind));
        ensure!(
            !global || !matches!(ty, sym::STT_FILE | sym::STT_SECTION),
            "{}: a {} symbol must be LOCAL, not {}",
            what(),
            sym::type_to_str(ty),
            sym::bind_to_str(bind)
        );
        if global && shndx == sh::SHN_UNDEF as usize {
            // What another file can define: ld finds nothing else.
            ensure!(
                matches!(bind, sym::STB_GLOBAL | sym::STB_WEAK)
                    && matches!(ty, sym::STT_NOTYPE | sym::STT_OBJECT | sym::STT_FUNC | sym::STT_TLS),
                "{}: an undefined {} {} symbol",
                what(),
                sym::bind_to_str(bind),
                sym::type_to_str(ty)
            );
        }
        // ld: "relocation … against absolute symbol … is disallowed" in a PIE.
        ensure!(
            shndx < sh::SHN_LORESERVE as usize || !matches!(ty, sym::STT_FUNC | STT_GNU_IFUNC | sym::STT_TLS),
            "{}: a {} symbol with special section index {shndx:#x} (absolute or common), not in a section",
            what(),
            sym::type_to_str(ty)
        );
        if shndx == 0 || shndx >= self.shdrs.len() {
            return Ok(());
        }
        let s = &self.shdrs[shndx];
        ensure!(
            !matches!(s.sh_type, sh::SHT_NULL | sh::SHT_SYMTAB | sh::SHT_STRTAB | sh::SHT_RELA | sh::SHT_REL),
            "{}: defined in section {shndx}, a {} section",
            what(),
            sh::sht_to_str(s.sh_type)
        );
        // A local label of size 0 is only an address, which ld takes as it
        // is: gcc's RISC-V section anchors sit past a small section's end
        // (glibc's `.LANCHOR1` at 0x1000 of a 2,137-byte .bss).
        // Not AArch64's mapping symbols (`$x`, `$d`), which ld reads to
        // scan the code they mark (out of its section, ld stops).
        let mapping = self.h.e_machine == header::EM_AARCH64
            && ["$x", "$d"].iter().any(|m| name == *m || name.starts_with(&format!("{m}.")));
        let label = sy.st_bind() == sym::STB_LOCAL && ty == sym::STT_NOTYPE && sy.st_size == 0 && !mapping;
        ensure!(
            label || sy.st_value.checked_add(sy.st_size).is_some_and(|e| e <= s.sh_size),
            "{}: st_value {} + st_size {} is outside its section {shndx} ({} bytes)",
            what(),
            hex(sy.st_value),
            sy.st_size,
            s.sh_size
        );
        let tls_sec = s.sh_flags & u64::from(sh::SHF_TLS) != 0;
        ensure!(
            (ty == sym::STT_TLS) == tls_sec || !matches!(ty, sym::STT_TLS | sym::STT_OBJECT | sym::STT_FUNC),
            "{}: a {} symbol in section {shndx}, which is {}a TLS section",
            what(),
            sym::type_to_str(ty),
            if tls_sec { "" } else { "not " }
        );
        Ok(())
    }
}
