//! Whether the undefined dynamic symbols of a library resolve against the
//! libraries it needs, as `ld` checks when it links a program against it
//! (`--no-allow-shlib-undefined`, the default for executables) and as the
//! loader does when it binds them.
//!
//! A byte changed in the name of an imported symbol (`malloc` → `mahloc`)
//! leaves a file every structural check accepts, and that `nm` accepts, but
//! that no program can link against: only resolving the name against the
//! needed libraries (found where the system keeps them for the file's
//! machine) catches it. A symbol needing a version (`memcpy@GLIBC_2.14`) must
//! be defined with that version by the library its version need names; an
//! unversioned one by any library of the `DT_NEEDED` closure. Weak undefined
//! symbols (`__gmon_start__`) may stay unresolved.
//!
//! An archive names no libraries: its members' imports must be defined by
//! another member or by what every C link of it has ([`ARCHIVE_LIBS`]: the
//! C library, libm, libgcc and the loader, which are also rustc's
//! `native-static-libs` for linux-gnu, plus `libgcc.a` and the symbols the
//! linker itself defines). A renamed import of a member (`pthread_join` →
//! `pthread_joim`) is then "undefined reference" at the link, and here.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use anyhow::Result;
use goblin::elf::header::{EM_AARCH64, EM_RISCV, EM_X86_64};

use super::{ArchiveInfo, ElfInfo};

/// The outcome of [`Resolver::check`].
#[derive(Debug, PartialEq, Eq)]
pub enum Imports {
    /// Every import resolved, against these libraries (file paths).
    Resolved { count: usize, libraries: Vec<PathBuf> },
    /// `name` or `name@VERSION (library)`, up to the whole list.
    Unresolved(Vec<String>),
    /// A needed library is not installed for the file's machine: nothing was checked.
    NotFound { library: String, dirs: Vec<PathBuf> },
}

/// The directories of the glibc libraries for `machine` on this system
/// (Debian multiarch and cross sysroots).
pub fn lib_dirs(machine: u16) -> Vec<PathBuf> {
    let dirs: &[&str] = match machine {
        EM_X86_64 => &["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/x86_64-linux-gnu/lib", "/lib64"],
        EM_AARCH64 => &["/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/aarch64-linux-gnu/lib", "/lib64"],
        EM_RISCV => &["/lib/riscv64-linux-gnu", "/usr/lib/riscv64-linux-gnu", "/usr/riscv64-linux-gnu/lib"],
        _ => &[],
    };
    dirs.iter().map(PathBuf::from).filter(|d| d.is_dir()).collect()
}

/// What a C link of an archive brings (`cc` adds the C library, libgcc and
/// the loader; rustc's `native-static-libs` are the others).
pub const ARCHIVE_LIBS: [&str; 7] =
    ["libc.so.6", "libm.so.6", "libgcc_s.so.1", "libpthread.so.0", "librt.so.1", "libdl.so.2", "libutil.so.1"];

/// Names the linker (or the C start files) defines in every link.
const LINKER_DEFINED: [&str; 28] = [
    "_GLOBAL_OFFSET_TABLE_",
    "_DYNAMIC",
    "__ehdr_start",
    "__executable_start",
    "_end",
    "end",
    "_edata",
    "edata",
    "__bss_start",
    "etext",
    "_etext",
    "__etext",
    "__dso_handle",
    "__init_array_start",
    "__init_array_end",
    "__fini_array_start",
    "__fini_array_end",
    "__preinit_array_start",
    "__preinit_array_end",
    "_init",
    "_fini",
    "__rela_iplt_start",
    "__rela_iplt_end",
    "_TLS_MODULE_BASE_",
    "__GNU_EH_FRAME_HDR",
    "__data_start",
    "data_start",
    "__TMC_END__",
];

/// Where a name is defined: library, version, symbol type.
type Definition<'a> = (&'a Path, Option<&'a str>, &'a str);

/// Resolves imports, reading each needed library once.
#[derive(Default)]
pub struct Resolver {
    libs: BTreeMap<PathBuf, ElfInfo>,
    archives: BTreeMap<PathBuf, BTreeSet<String>>,
}

impl Resolver {
    fn load(&mut self, path: &Path) -> Result<&ElfInfo> {
        if !self.libs.contains_key(path) {
            let info = super::read_elf(path)?;
            self.libs.insert(path.to_path_buf(), info);
        }
        Ok(&self.libs[path])
    }

    /// Check the imports of every member of `a` against the other members and
    /// what a C link brings ([`ARCHIVE_LIBS`], the loader, `libgcc.a`).
    pub fn check_archive(&mut self, a: &ArchiveInfo) -> Result<Imports> {
        let Some(machine) = a.members.iter().find_map(|m| m.ident.as_ref().ok()).map(|i| i.machine) else {
            return Ok(Imports::Resolved { count: 0, libraries: Vec::new() });
        };
        // ld: "relocation truncated to fit: R_AARCH64_LDST64_ABS_LO12_NC
        // against symbol `f'": instructions align code to 4 bytes only (what
        // the members alone decide, whatever libraries are installed).
        let scaled: BTreeSet<String> = a
            .members
            .iter()
            .flat_map(|m| m.scaled.iter().map(move |(n, align)| (m, n, align)))
            .filter(|(_, n, _)| a.defines_function(n))
            .map(|(m, n, align)| {
                format!(
                    "{n} ({}: a {align}-byte scaled load or store of a function, which code is not aligned to)",
                    m.name
                )
            })
            .collect();
        if !scaled.is_empty() {
            return Ok(Imports::Unresolved(scaled.into_iter().collect()));
        }
        let dirs = lib_dirs(machine);
        let loader = match machine {
            EM_X86_64 => "ld-linux-x86-64.so.2",
            EM_AARCH64 => "ld-linux-aarch64.so.1",
            _ => return Ok(Imports::NotFound { library: "the C library".into(), dirs }),
        };
        let mut defined: BTreeSet<String> = LINKER_DEFINED.iter().map(|s| s.to_string()).collect();
        let mut functions: BTreeSet<String> = BTreeSet::new();
        // Whether each name is defined thread-local: ld refuses a TLS
        // reference to a non-TLS definition and the reverse.
        let mut tls: BTreeMap<String, bool> = BTreeMap::new();
        let mut libraries = Vec::new();
        for name in ARCHIVE_LIBS.iter().chain([&loader]) {
            let Some(path) = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) else {
                return Ok(Imports::NotFound { library: name.to_string(), dirs });
            };
            let lib = self.load(&path)?;
            let exported = lib.dynsyms.iter().filter(|s| s.defined && s.bind != "LOCAL");
            for s in exported {
                defined.insert(s.name.clone());
                tls.entry(s.name.clone()).or_insert(s.kind == "TLS");
                if matches!(s.kind, "FUNC" | "GNU_IFUNC") {
                    functions.insert(s.name.clone());
                }
            }
            libraries.push(path);
        }
        // What the static part of the link defines: the members, libgcc.a,
        // the linker. A hidden, internal or protected reference binds there,
        // never to a shared library.
        let mut static_defs: BTreeSet<String> =
            a.members.iter().flat_map(|m| &m.defined).map(|s| s.name.clone()).collect();
        if let Some(libgcc) = libgcc_a(machine) {
            static_defs.extend(self.load_archive(&libgcc)?.iter().cloned());
            libraries.push(libgcc);
        }
        static_defs.extend(LINKER_DEFINED.iter().map(|s| s.to_string()));
        defined.extend(static_defs.iter().cloned());
        let mut missing = BTreeSet::new();
        let mut count = 0;
        for s in a.members.iter().flat_map(|m| &m.defined) {
            tls.insert(s.name.clone(), s.kind == "TLS");
        }
        for m in &a.members {
            for s in &m.undefined {
                if tls.get(&s.name).is_some_and(|&t| t != (s.kind == "TLS")) {
                    missing.insert(format!(
                        "{} ({}: a {} reference to a definition that is {}TLS)",
                        s.name,
                        m.name,
                        s.kind,
                        if s.kind == "TLS" { "not " } else { "" }
                    ));
                }
            }
            // ld: "relocation R_X86_64_PC32 against symbol `strlen' can not be
            // used when making a PIE object".
            for name in m.direct.iter().filter(|n| !static_defs.contains(*n) && functions.contains(*n)) {
                missing.insert(format!("{name} ({}: a PC-relative reference to a shared library's function)", m.name));
            }
            for s in m.undefined.iter().filter(|s| s.bind != "WEAK") {
                count += 1;
                let linker = s.name.starts_with("__start_") || s.name.starts_with("__stop_");
                let known = if s.visibility == "DEFAULT" { &defined } else { &static_defs };
                if !linker && !known.contains(&s.name) {
                    missing.insert(format!("{} ({})", s.name, m.name));
                }
            }
        }
        Ok(if missing.is_empty() {
            Imports::Resolved { count, libraries }
        } else {
            Imports::Unresolved(missing.into_iter().collect())
        })
    }

    /// The global symbols an archive's members define, read once.
    fn load_archive(&mut self, path: &Path) -> Result<&BTreeSet<String>> {
        if !self.archives.contains_key(path) {
            let names = match super::read(path)? {
                super::Binary::Archive(g) => {
                    g.members.iter().flat_map(|m| &m.defined).map(|s| s.name.clone()).collect()
                }
                super::Binary::Elf(_) => BTreeSet::new(),
            };
            self.archives.insert(path.to_path_buf(), names);
        }
        Ok(&self.archives[path])
    }

    /// Check the imports of `info` against its `DT_NEEDED` closure.
    pub fn check(&mut self, info: &ElfInfo) -> Result<Imports> {
        let dirs = lib_dirs(info.ident.machine);
        // name → path, breadth first over DT_NEEDED.
        let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut queue: Vec<String> = info.needed.clone();
        let mut order = Vec::new();
        while let Some(name) = queue.pop() {
            if found.contains_key(&name) {
                continue;
            }
            let Some(path) = dirs.iter().map(|d| d.join(&name)).find(|p| p.is_file()) else {
                return Ok(Imports::NotFound { library: name, dirs });
            };
            let lib = self.load(&path)?;
            if lib.ident.machine != info.ident.machine || lib.ident.class != info.ident.class {
                return Ok(Imports::NotFound { library: name, dirs });
            }
            queue.extend(lib.needed.iter().cloned());
            found.insert(name, path.clone());
            order.push(path);
        }
        let mut defined: BTreeMap<&str, Vec<Definition<'_>>> = BTreeMap::new();
        for p in &order {
            for s in self.libs[p].dynsyms.iter().filter(|s| s.defined && s.bind != "LOCAL") {
                defined.entry(s.name.as_str()).or_default().push((p, s.version.as_deref(), s.kind));
            }
        }
        let mut missing = Vec::new();
        let mut count = 0;
        let mut seen = BTreeSet::new();
        for s in info.dynsyms.iter().filter(|s| !s.defined && s.kind != "SECTION") {
            if !seen.insert((s.name.as_str(), s.version.as_deref())) {
                continue;
            }
            let defs = defined.get(s.name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            // ld refuses a TLS reference to a non-TLS definition and the reverse.
            if let Some((_, _, kind)) = defs.iter().find(|(_, _, k)| (*k == "TLS") != (s.kind == "TLS")) {
                missing.push(format!("{} ({} reference, {kind} definition)", s.name, s.kind));
                continue;
            }
            // Weak references may stay unresolved.
            if s.bind == "WEAK" {
                continue;
            }
            count += 1;
            let ok = match (&s.version, &s.needed_from) {
                (Some(v), Some(file)) => {
                    let want = found.get(file);
                    defs.iter().any(|(p, dv, _)| Some(*p) == want.map(PathBuf::as_path) && *dv == Some(v.as_str()))
                }
                _ => !defs.is_empty(),
            };
            if !ok {
                missing.push(match (&s.version, &s.needed_from) {
                    (Some(v), Some(f)) => format!("{}@{v} ({f})", s.name),
                    _ => s.name.clone(),
                });
            }
        }
        Ok(if missing.is_empty() {
            Imports::Resolved { count, libraries: order }
        } else {
            Imports::Unresolved(missing)
        })
    }
}

/// gcc's `libgcc.a` for `machine` (the highest gcc version installed).
fn libgcc_a(machine: u16) -> Option<PathBuf> {
    let triple = match machine {
        EM_X86_64 => "x86_64-linux-gnu",
        EM_AARCH64 => "aarch64-linux-gnu",
        _ => return None,
    };
    let mut found: Vec<PathBuf> = ["/usr/lib/gcc", "/usr/lib/gcc-cross"]
        .iter()
        .filter_map(|d| std::fs::read_dir(Path::new(d).join(triple)).ok())
        .flat_map(|r| r.flatten().map(|e| e.path().join("libgcc.a")))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}
