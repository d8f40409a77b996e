//! Reading ELF files and `ar` archives, as strictly as the loader and the
//! linker read them.
//!
//! `symbols` and `verify-symbols` exist to vouch for a library before anyone
//! links or loads it, so a file they accept must be one `nm`, `ld` and
//! `ld.so` accept too. goblin parses the records; [`check`](self) follows every
//! offset, address, index and string between them and refuses the first
//! inconsistency with one error naming the file, the structure and its file
//! offset (`lib.so: truncated or malformed ELF: version need aux 0 of
//! libc.so.6 at offset 0x788: vna_hash … is not the hash of vna_name
//! "GLIBC_2.14" (a corrupt name pointer?)`). Nothing is skipped: an entry
//! that cannot be resolved is an error, never a missing row, so a broken
//! `GLIBC_2.34` need can no longer make `--max-glibc 2.33` pass. The checks,
//! in order, are listed in `check.rs`; `tests/fixtures/elf/corpus.txt` has a
//! crafted file for each, and `cargo xtask fuzz` mutates real libraries
//! against `nm` and the linker.
//!
//! Only regular files are read ([`input`](self)): a FIFO, directory or device
//! is refused from its metadata before it is opened, and the file is mapped,
//! not read, so a sparse 8 GiB file costs the pages its headers point to.
//!
//! Where xtask is stricter than `nm -D --defined-only` (it refuses files nm
//! lists): nm reads section headers only, xtask also reads what the loader
//! reads (program headers, dynamic segment, hash and version tables,
//! relocations) and requires both views to agree; symbol names must be UTF-8.
//! On every valid file the names are the same (tested on the system's
//! libraries, the release library and the fixtures).
//!
//! Archive members are read as the linker reads them (`archive`,
//! `check::reloc`, `check::eh_frame`): member headers, symbols, relocation
//! types, fields and addends, the FDEs of `.eh_frame`. What only the final
//! link decides is left to [`Resolver`] (imports of a library against the
//! libraries it needs, of an archive's members against each other and the C
//! link's libraries) and [`ArchiveInfo::non_pic`] (what a PIE link refuses).
//! Not checked: code and data bytes, and the CIE/FDE contents of `.eh_frame`
//! beyond where each FDE points.
//!
//! [`exported_symbols`] is the set of names `nm -D --defined-only` prints
//! (without `@VERSION` suffixes, deduplicated, sorted): the dynamic symbols
//! (`.dynsym`, which must be the table `DT_SYMTAB` names) whose `st_shndx` is
//! not `SHN_UNDEF`, without the null symbol and without section and file
//! symbols (nm shows those only with `-a`). That includes the
//! `GLIBC_2.x`-style version definition symbols (`A` in nm).
//!
//! A panic in the parser would still be turned into an error by
//! `catch_unwind`; the fuzzer runs without that guard and counts none.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    panic::{self, AssertUnwindSafe},
    path::{Path, PathBuf},
};

use anyhow::{anyhow, bail, Result};
use goblin::elf::header;

mod archive;
mod check;
mod imports;
mod input;

pub use imports::{Imports, Resolver};
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
    /// For a needed version: the library its version need names (`libc.so.6`).
    pub needed_from: Option<String>,
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
    /// Undefined non-local symbols of the member's `.symtab` (its imports).
    #[serde(skip)]
    pub undefined: Vec<Symbol>,
    /// Where the member's first relocation is that a position-independent
    /// link (a PIE, `cc`'s default, or a shared library) refuses.
    #[serde(skip)]
    pub non_pic: Option<String>,
    /// Undefined symbols the member's loaded code reaches PC-relative, not
    /// through the PLT or GOT: a PIE link refuses that for a function of a
    /// shared library.
    #[serde(skip)]
    pub direct: BTreeSet<String>,
    /// Undefined symbols the member loads with a scaled `:lo12:` load or
    /// store wider than an instruction, and the alignment that needs.
    #[serde(skip)]
    pub scaled: BTreeMap<String, u64>,
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
    /// `member: relocation …` for each member a PIE or shared link refuses.
    pub fn non_pic(&self) -> Vec<String> {
        self.members.iter().filter_map(|m| m.non_pic.as_ref().map(|w| format!("{} ({w})", m.name))).collect()
    }

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
    let bytes = input::map(path)?;
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
    guarded(path, || parse_unguarded(path, bytes))
}

/// [`parse`] without the panic guard: the fuzzer counts panics as failures.
pub fn parse_unguarded(path: &Path, bytes: &[u8]) -> Result<Binary> {
    if bytes.starts_with(AR_MAGIC) {
        return archive::parse(path, bytes).map(Binary::Archive);
    }
    parse_elf(path, bytes).map(Binary::Elf)
}

/// Run a parser, turning a panic into an error naming the file: the checks
/// should leave none, but a panic must never be what the user sees.
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
        Some(c) => bail!(
            "{}: malformed ELF: ELF header at offset 0x4: EI_CLASS is {c}, neither 1 (ELF32) nor 2 (ELF64)",
            path.display()
        ),
        None => bail!("{}: truncated ELF file ({} bytes)", path.display(), bytes.len()),
    };
    if bytes.len() < min {
        bail!("{}: truncated ELF file ({} bytes, the header alone is {min})", path.display(), bytes.len());
    }
    Ok(())
}

fn parse_elf(path: &Path, bytes: &[u8]) -> Result<ElfInfo> {
    check_magic(path, bytes)?;
    let c = check::check(bytes).map_err(|e| malformed(path, e))?;
    Ok(ElfInfo {
        path: path.to_path_buf(),
        ident: c.ident,
        soname: c.dynamic.soname,
        needed: c.dynamic.needed,
        rpath: c.dynamic.rpath,
        runpath: c.dynamic.runpath,
        interpreter: c.interpreter,
        dynsyms: c.dynamic.dynsyms,
        glibc_required: c.dynamic.glibc_required,
    })
}

/// `path: truncated or malformed ELF: <structure> at offset 0x…: <what is wrong>`.
fn malformed(path: &Path, e: anyhow::Error) -> anyhow::Error {
    anyhow!("{}: truncated or malformed ELF: {e:#}", path.display())
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
            (b"\x7fELF\x07", "EI_CLASS is 7"),
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
            let r = std::panic::catch_unwind(|| parse_unguarded(Path::new("fuzz.bin"), bytes).map(|_| ()));
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
