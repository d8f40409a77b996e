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

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use anyhow::Result;
use goblin::elf::header::{EM_AARCH64, EM_X86_64};

use super::ElfInfo;

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
        _ => &[],
    };
    dirs.iter().map(PathBuf::from).filter(|d| d.is_dir()).collect()
}

/// Where a name is defined: library, version, symbol type.
type Definition<'a> = (&'a Path, Option<&'a str>, &'a str);

/// Resolves imports, reading each needed library once.
#[derive(Default)]
pub struct Resolver {
    libs: BTreeMap<PathBuf, ElfInfo>,
}

impl Resolver {
    fn load(&mut self, path: &Path) -> Result<&ElfInfo> {
        if !self.libs.contains_key(path) {
            let info = super::read_elf(path)?;
            self.libs.insert(path.to_path_buf(), info);
        }
        Ok(&self.libs[path])
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
