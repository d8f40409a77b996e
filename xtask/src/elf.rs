//! Reading ELF files and `ar` archives with goblin.
//!
//! Every failure (unreadable, not ELF, truncated, malformed) is one error that
//! names the file. goblin is defensive but not panic-free on malformed input,
//! so parsing also runs under `catch_unwind` as a last resort.
//!
//! [`exported_symbols`] is the set of names `nm -D --defined-only` prints
//! (without `@VERSION` suffixes, deduplicated, sorted): the dynamic symbols,
//! taken like nm from the `SHT_DYNSYM` section when there is one, whose
//! `st_shndx` is not `SHN_UNDEF`, without the null symbol and without section
//! and file symbols (nm shows those only with `-a`). That includes the
//! `GLIBC_2.x`-style version definition symbols (`A` in nm).

use std::{
    collections::BTreeSet,
    fmt,
    panic::{self, AssertUnwindSafe},
    path::{Path, PathBuf},
};

use anyhow::{anyhow, bail, Context, Result};
use goblin::{
    container::{Container, Ctx, Endian},
    elf::{
        header::{self, ET_DYN, ET_EXEC, ET_REL},
        section_header::{SHN_UNDEF, SHT_DYNSYM, SHT_SYMTAB},
        sym::{self, Symtab},
        Elf,
    },
    strtab::Strtab,
};
use serde::Serialize;

/// The magic of an `ar` archive (`.a`).
pub const AR_MAGIC: &[u8; 8] = b"!<arch>\n";
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Class {
    Elf32,
    Elf64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Endianness {
    Little,
    Big,
}

/// `e_type`, with position-independent executables told apart from libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ElfType {
    Relocatable,
    Executable,
    /// `ET_DYN` that is not a PIE.
    SharedObject,
    /// `ET_DYN` with `DF_1_PIE` (or an interpreter and no SONAME).
    Pie,
    Other(u16),
}

impl fmt::Display for ElfType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfType::Relocatable => f.write_str("relocatable object"),
            ElfType::Executable => f.write_str("executable"),
            ElfType::SharedObject => f.write_str("shared object"),
            ElfType::Pie => f.write_str("position-independent executable"),
            ElfType::Other(t) => write!(f, "e_type {t:#x}"),
        }
    }
}

/// What identifies the target of an ELF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ident {
    /// `e_machine` (`EM_X86_64` = 62, `EM_AARCH64` = 183).
    pub machine: u16,
    pub class: Class,
    pub endianness: Endianness,
    pub elf_type: ElfType,
    /// `e_flags`: processor-specific (RISC-V keeps its float ABI and RVC there).
    pub flags: u32,
}

impl Ident {
    /// e.g. `X86_64 ELF64 little-endian`, `RISCV ELF64 little-endian e_flags 0x5`.
    pub fn describe(&self) -> String {
        let flags = if self.flags == 0 { String::new() } else { format!(" e_flags {:#x}", self.flags) };
        format!(
            "{} {} {}-endian{flags}",
            machine_name(self.machine),
            match self.class {
                Class::Elf32 => "ELF32",
                Class::Elf64 => "ELF64",
            },
            match self.endianness {
                Endianness::Little => "little",
                Endianness::Big => "big",
            }
        )
    }
}

/// `X86_64`, `AARCH64`, … (goblin's names).
pub fn machine_name(machine: u16) -> &'static str {
    header::machine_to_str(machine)
}

/// One entry of a symbol table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Symbol {
    pub name: String,
    /// `FUNC`, `OBJECT`, `NOTYPE`, `GNU_IFUNC`, …
    pub kind: &'static str,
    /// `GLOBAL`, `WEAK`, `LOCAL`, `GNU_UNIQUE`
    pub bind: &'static str,
    /// `DEFAULT`, `HIDDEN`, `PROTECTED`, `INTERNAL`
    pub visibility: &'static str,
    /// `st_shndx != SHN_UNDEF`.
    pub defined: bool,
    /// Symbol version (`GLIBC_2.14`), from `.gnu.version` with verdef/verneed.
    pub version: Option<String>,
}

impl Symbol {
    /// Defined, `GLOBAL`, `DEFAULT` visibility, `FUNC`: a C function callers can link to.
    pub fn is_exported_function(&self) -> bool {
        self.defined && self.bind == "GLOBAL" && self.visibility == "DEFAULT" && self.kind == "FUNC"
    }
}

/// Everything xtask wants to know about one ELF file.
#[derive(Debug, Clone, Serialize)]
pub struct ElfInfo {
    pub path: PathBuf,
    #[serde(flatten)]
    pub ident: Ident,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
    pub interpreter: Option<String>,
    /// The dynamic symbols without the null symbol, in table order.
    #[serde(skip)]
    pub dynsyms: Vec<Symbol>,
    /// Every `GLIBC_x.y[.z]` version required through verneed, ascending.
    pub glibc_required: Vec<String>,
}

impl ElfInfo {
    /// The highest `GLIBC_x.y[.z]` version required, if any.
    pub fn max_glibc(&self) -> Option<GlibcVersion> {
        self.glibc_required.iter().filter_map(|v| GlibcVersion::parse(v)).max()
    }

    /// The names `nm -D --defined-only` prints, sorted and deduplicated.
    pub fn exported_names(&self) -> Vec<String> {
        // nm leaves out section and file symbols ("debugging symbols") unless `-a`.
        let set: BTreeSet<&str> = self
            .dynsyms
            .iter()
            .filter(|s| s.defined && !matches!(s.kind, "SECTION" | "FILE"))
            .map(|s| s.name.as_str())
            .collect();
        set.into_iter().map(String::from).collect()
    }

    /// The undefined dynamic symbols that need `version`.
    pub fn symbols_needing(&self, version: &str) -> Vec<&str> {
        self.dynsyms
            .iter()
            .filter(|s| !s.defined && s.version.as_deref() == Some(version))
            .map(|s| s.name.as_str())
            .collect()
    }
}

/// One member of an `ar` archive.
#[derive(Debug, Clone, Serialize)]
pub struct MemberInfo {
    pub name: String,
    /// `Err` for members that are not ELF (or are malformed): the message.
    #[serde(serialize_with = "ser_member")]
    pub ident: std::result::Result<Ident, String>,
    /// Defined non-local symbols of the member's `.symtab`.
    #[serde(skip)]
    pub defined: Vec<Symbol>,
}

fn ser_member<S: serde::Serializer>(
    v: &std::result::Result<Ident, String>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Ok(ident) => ident.serialize(s),
        Err(e) => s.serialize_str(e),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchiveInfo {
    pub path: PathBuf,
    pub members: Vec<MemberInfo>,
}

impl ArchiveInfo {
    /// Whether some member defines `name` as a global/weak function.
    pub fn defines_function(&self, name: &str) -> bool {
        self.members
            .iter()
            .flat_map(|m| &m.defined)
            .any(|s| s.name == name && s.kind == "FUNC" && matches!(s.bind, "GLOBAL" | "WEAK"))
    }
}

#[derive(Debug, Clone)]
pub enum Binary {
    Elf(ElfInfo),
    Archive(ArchiveInfo),
}

/// `GLIBC_2.36` → 2.36; orders numerically (2.4 < 2.17 < 2.36).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlibcVersion(pub Vec<u32>);

impl GlibcVersion {
    /// Parse `GLIBC_2.36`, `2.36` or `2.3.4`; `None` for `GLIBC_PRIVATE` and such.
    pub fn parse(s: &str) -> Option<GlibcVersion> {
        let v = s.strip_prefix("GLIBC_").unwrap_or(s);
        if v.is_empty() {
            return None;
        }
        let parts: Option<Vec<u32>> = v.split('.').map(|p| p.parse().ok()).collect();
        let parts = parts?;
        (parts.len() >= 2).then_some(GlibcVersion(parts))
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: Vec<String> = self.0.iter().map(|p| p.to_string()).collect();
        f.write_str(&s.join("."))
    }
}

/// Read `path` as an ELF file or an `ar` archive.
pub fn read(path: &Path) -> Result<Binary> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(path, &bytes)
}

/// Read `path`, which must be an ELF file (not an archive).
pub fn read_elf(path: &Path) -> Result<ElfInfo> {
    match read(path)? {
        Binary::Elf(info) => Ok(info),
        Binary::Archive(_) => bail!("{}: is an ar archive, not an ELF file", path.display()),
    }
}

/// The names `nm -D --defined-only` prints for `path`, sorted and deduplicated.
pub fn exported_symbols(path: &Path) -> Result<Vec<String>> {
    Ok(read_elf(path)?.exported_names())
}

/// Parse bytes read from `path` (only used in messages).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Binary> {
    if bytes.starts_with(AR_MAGIC) {
        return guarded(path, || parse_archive(path, bytes)).map(Binary::Archive);
    }
    guarded(path, || parse_elf(path, bytes)).map(Binary::Elf)
}

/// Run a parser, turning a panic inside goblin into an error naming the file.
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    install_quiet_hook();
    IN_GUARD.with(|g| g.set(g.get() + 1));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    IN_GUARD.with(|g| g.set(g.get() - 1));
    match r {
        Ok(r) => r,
        Err(_) => bail!("{}: malformed ELF (the parser gave up)", path.display()),
    }
}

thread_local! {
    static IN_GUARD: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A panic hook that stays silent for panics inside [`guarded`] on this
/// thread (they become errors) and defers to the previous hook otherwise.
fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_GUARD.with(|g| g.get()) == 0 {
                prev(info);
            }
        }));
    });
}

fn check_magic(path: &Path, bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        bail!("{}: empty file, not an ELF file", path.display());
    }
    if !bytes.starts_with(ELF_MAGIC) {
        if ELF_MAGIC.starts_with(bytes) {
            bail!("{}: truncated ELF file ({} bytes)", path.display(), bytes.len());
        }
        let head: String = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        bail!("{}: not an ELF file or ar archive (starts with {head})", path.display());
    }
    let min = match bytes.get(header::EI_CLASS) {
        Some(&header::ELFCLASS32) => header::header32::SIZEOF_EHDR,
        Some(&header::ELFCLASS64) => header::header64::SIZEOF_EHDR,
        Some(c) => bail!("{}: malformed ELF: unknown class {c}", path.display()),
        None => bail!("{}: truncated ELF file ({} bytes)", path.display(), bytes.len()),
    };
    if bytes.len() < min {
        bail!("{}: truncated ELF file ({} bytes, the header alone is {min})", path.display(), bytes.len());
    }
    Ok(())
}

fn malformed(path: &Path, e: impl fmt::Display) -> anyhow::Error {
    anyhow!("{}: truncated or malformed ELF: {e}", path.display())
}

fn ident_of(elf: &Elf<'_>) -> Ident {
    let h = &elf.header;
    let elf_type = match h.e_type {
        ET_REL => ElfType::Relocatable,
        ET_EXEC => ElfType::Executable,
        ET_DYN if !elf.is_lib => ElfType::Pie,
        ET_DYN if elf.soname.is_none() && elf.interpreter.is_some() => ElfType::Pie,
        ET_DYN => ElfType::SharedObject,
        t => ElfType::Other(t),
    };
    Ident {
        machine: h.e_machine,
        class: if elf.is_64 { Class::Elf64 } else { Class::Elf32 },
        endianness: if elf.little_endian { Endianness::Little } else { Endianness::Big },
        elf_type,
        flags: h.e_flags,
    }
}

fn parse_elf(path: &Path, bytes: &[u8]) -> Result<ElfInfo> {
    check_magic(path, bytes)?;
    let elf = Elf::parse(bytes).map_err(|e| malformed(path, e))?;
    let ident = ident_of(&elf);
    let ctx = Ctx::new(
        if elf.is_64 { Container::Big } else { Container::Little },
        if elf.little_endian { Endian::Little } else { Endian::Big },
    );

    // Version names by index: verdef (defined versions) and verneed (required).
    let mut version_names: Vec<(u16, String)> = Vec::new();
    let mut glibc: BTreeSet<GlibcVersion> = BTreeSet::new();
    let mut glibc_names: Vec<String> = Vec::new();
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            for aux in need.iter() {
                let Some(name) = elf.dynstrtab.get_at(aux.vna_name) else { continue };
                version_names.push((aux.vna_other & 0x7fff, name.to_string()));
                if let Some(v) = GlibcVersion::parse(name).filter(|_| name.starts_with("GLIBC_")) {
                    if glibc.insert(v) {
                        glibc_names.push(name.to_string());
                    }
                }
            }
        }
    }
    if let Some(verdef) = &elf.verdef {
        for def in verdef.iter() {
            if let Some(aux) = def.iter().next() {
                if let Some(name) = elf.dynstrtab.get_at(aux.vda_name) {
                    version_names.push((def.vd_ndx, name.to_string()));
                }
            }
        }
    }
    glibc_names.sort_by_key(|n| GlibcVersion::parse(n));

    // The dynamic symbol table, like nm: from the SHT_DYNSYM section when the
    // section headers have one, else what goblin found through DT_SYMTAB.
    let dyn_section = elf.section_headers.iter().find(|s| s.sh_type == SHT_DYNSYM);
    let from_section;
    let (dyn_table, dyn_strtab) = match dyn_section {
        Some(sh) if sh.sh_entsize != 0 => {
            let count = (sh.sh_size / sh.sh_entsize) as usize;
            let table = Symtab::parse(bytes, sh.sh_offset as usize, count, ctx).map_err(|e| malformed(path, e))?;
            let strtab = strtab_of(path, bytes, &elf, sh.sh_link as usize)?;
            from_section = (table, strtab);
            (&from_section.0, &from_section.1)
        }
        _ => (&elf.dynsyms, &elf.dynstrtab),
    };
    let mut dynsyms = Vec::with_capacity(dyn_table.len());
    for (i, s) in dyn_table.iter().enumerate().skip(1) {
        let version = elf.versym.as_ref().and_then(|vs| vs.get_at(i)).and_then(|v| {
            let idx = v.version();
            if idx <= 1 {
                return None; // local / global (unversioned)
            }
            version_names.iter().find(|(i, _)| *i == idx).map(|(_, n)| n.clone())
        });
        dynsyms.push(symbol(dyn_strtab, &s, version));
    }

    Ok(ElfInfo {
        path: path.to_path_buf(),
        ident,
        soname: elf.soname.map(String::from),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        rpath: elf.rpaths.iter().map(|s| s.to_string()).collect(),
        runpath: elf.runpaths.iter().map(|s| s.to_string()).collect(),
        interpreter: elf.interpreter.map(String::from),
        dynsyms,
        glibc_required: glibc_names,
    })
}

fn strtab_of<'a>(path: &Path, bytes: &'a [u8], elf: &Elf<'_>, idx: usize) -> Result<Strtab<'a>> {
    let sh = elf
        .section_headers
        .get(idx)
        .ok_or_else(|| malformed(path, format!("string table section {idx} does not exist")))?;
    let (off, size) = (sh.sh_offset as usize, sh.sh_size as usize);
    if off.checked_add(size).is_none_or(|end| end > bytes.len()) {
        return Err(malformed(path, format!("string table section {idx} lies outside the file")));
    }
    Strtab::parse(bytes, off, size, 0).map_err(|e| malformed(path, e))
}

fn symbol(strtab: &Strtab<'_>, s: &sym::Sym, version: Option<String>) -> Symbol {
    Symbol {
        name: strtab.get_at(s.st_name).unwrap_or("").to_string(),
        kind: sym::type_to_str(s.st_type()),
        bind: sym::bind_to_str(s.st_bind()),
        visibility: sym::visibility_to_str(s.st_visibility()),
        defined: s.st_shndx != SHN_UNDEF as usize,
        version,
    }
}

fn parse_archive(path: &Path, bytes: &[u8]) -> Result<ArchiveInfo> {
    let archive = goblin::archive::Archive::parse(bytes)
        .map_err(|e| anyhow!("{}: truncated or malformed ar archive: {e}", path.display()))?;
    let mut members = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let Some(m) = archive.get_at(i) else { continue };
        let name = m.extended_name().to_string();
        let start = m.offset as usize;
        let data = start
            .checked_add(m.size())
            .and_then(|end| bytes.get(start..end))
            .ok_or_else(|| anyhow!("{}: truncated ar archive (member {name})", path.display()))?;
        let member_path = PathBuf::from(format!("{}({name})", path.display()));
        let parsed = guarded(&member_path, || parse_member(&member_path, data));
        let (ident, defined) = match parsed {
            Ok(v) => v,
            Err(e) => (Err(format!("{e:#}")), Vec::new()),
        };
        members.push(MemberInfo { name, ident, defined });
    }
    Ok(ArchiveInfo { path: path.to_path_buf(), members })
}

/// An archive member: its identity and defined non-local `.symtab` symbols.
/// Only the header, section headers and symbol table are read.
#[allow(clippy::type_complexity)]
fn parse_member(path: &Path, bytes: &[u8]) -> Result<(std::result::Result<Ident, String>, Vec<Symbol>)> {
    check_magic(path, bytes)?;
    let elf = Elf::parse(bytes).map_err(|e| malformed(path, e))?;
    let ident = ident_of(&elf);
    let _ = SHT_SYMTAB; // goblin picks the SHT_SYMTAB section for `syms`
    let defined = elf
        .syms
        .iter()
        .skip(1)
        .filter(|s| s.st_shndx != SHN_UNDEF as usize && s.st_bind() != sym::STB_LOCAL)
        .map(|s| symbol(&elf.strtab, &s, None))
        .collect();
    Ok((Ok(ident), defined))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_versions_order_numerically() {
        let v = |s| GlibcVersion::parse(s).unwrap();
        assert!(v("GLIBC_2.4") < v("GLIBC_2.17"));
        assert!(v("GLIBC_2.17") < v("GLIBC_2.36"));
        assert!(v("2.36") < v("GLIBC_2.38"));
        assert!(v("GLIBC_2.3") < v("GLIBC_2.3.4"));
        assert_eq!(v("GLIBC_2.2.5").to_string(), "2.2.5");
        for bad in ["GLIBC_PRIVATE", "GLIBC_ABI_DT_RELR", "", "GLIBC_", "2", "x.y"] {
            assert_eq!(GlibcVersion::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn not_elf_is_one_clear_error() {
        let p = Path::new("x.bin");
        for (bytes, want) in [
            (&b""[..], "empty file"),
            (b"hello world", "not an ELF file"),
            (b"\x7fEL", "truncated"),
            (b"\x7fELF\x02\x01\x01", "truncated"),
            (b"\x7fELF\x07", "unknown class"),
            (b"!<arch>\nxx", "malformed ar archive"),
        ] {
            let err = format!("{:#}", parse(p, bytes).unwrap_err());
            assert!(err.contains(want) && err.contains("x.bin"), "{err}");
        }
    }

    /// A small real shared library to mutate: libz, else the test binary.
    fn sample_elf() -> Vec<u8> {
        for p in ["/lib/x86_64-linux-gnu/libz.so.1", "/lib/aarch64-linux-gnu/libz.so.1", "/usr/lib64/libz.so.1"] {
            if let Ok(b) = std::fs::read(p) {
                return b;
            }
        }
        std::fs::read(std::env::current_exe().unwrap()).unwrap()
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        /// Bounded so that the whole module runs in about a second;
        /// `XTASK_FUZZ_CASES=N` runs N cases per property instead.
        fn config(cases: u32) -> ProptestConfig {
            let cases = std::env::var("XTASK_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
            ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
        }

        fn no_panic(bytes: &[u8]) {
            // `parse` returns Ok or Err; a panic fails the test, an abort kills it.
            let r = std::panic::catch_unwind(|| parse(Path::new("fuzz.bin"), bytes).map(|_| ()));
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => assert!(format!("{e:#}").contains("fuzz.bin")),
                Err(_) => panic!("parse panicked on {} bytes", bytes.len()),
            }
        }

        proptest! {
            #![proptest_config(config(256))]

            #[test]
            fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
                no_panic(&bytes);
            }

            #[test]
            fn arbitrary_after_elf_magic(
                class in 0u8..4, data in 0u8..4,
                rest in proptest::collection::vec(any::<u8>(), 0..1024),
            ) {
                let mut bytes = b"\x7fELF".to_vec();
                bytes.extend([class, data, 1]);
                bytes.extend(rest);
                no_panic(&bytes);
            }

            #[test]
            fn arbitrary_after_ar_magic(rest in proptest::collection::vec(any::<u8>(), 0..1024)) {
                let mut bytes = AR_MAGIC.to_vec();
                bytes.extend(rest);
                no_panic(&bytes);
            }
        }

        proptest! {
            #![proptest_config(config(400))]

            #[test]
            fn truncated_real_elf(cut in any::<prop::sample::Index>()) {
                let elf = sample_elf();
                let n = cut.index(elf.len());
                no_panic(&elf[..n]);
            }

            #[test]
            fn mutated_real_elf(
                edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<bool>()), 1..16),
            ) {
                let mut elf = sample_elf();
                let len = elf.len();
                for (at, byte, in_headers) in edits {
                    // Half of the edits hit the ELF and program headers or the
                    // section headers at the end, where the structure lives.
                    let i = if in_headers {
                        let h = at.index(1024.min(len));
                        if byte & 1 == 0 { h } else { len - 1 - h }
                    } else {
                        at.index(len)
                    };
                    elf[i] = byte;
                }
                no_panic(&elf);
            }

            #[test]
            fn mutated_header_fields(field in 16usize..64, value in any::<u64>()) {
                // Overwrite 8 bytes of the ELF header with an arbitrary value:
                // offsets and counts pointing anywhere.
                let mut elf = sample_elf();
                let end = (field + 8).min(64);
                elf[field..end].copy_from_slice(&value.to_le_bytes()[..end - field]);
                no_panic(&elf);
            }
        }
    }

    #[test]
    fn reads_own_executable() {
        // The test binary itself is an ELF for the host.
        let exe = std::env::current_exe().unwrap();
        let info = read_elf(&exe).unwrap();
        let host = crate::platform::Platform::host().unwrap();
        assert_eq!(info.ident.machine, host.elf_machine());
        assert_eq!(info.ident.class, Class::Elf64);
        assert_eq!(info.ident.endianness, Endianness::Little);
        assert!(matches!(info.ident.elf_type, ElfType::Pie | ElfType::Executable));
        assert!(info.needed.iter().any(|n| n == "libc.so.6"));
        assert!(info.max_glibc().is_some());
    }
}
