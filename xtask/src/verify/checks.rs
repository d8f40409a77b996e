//! The checks of `verify-symbols`, per kind of file (see the table in the
//! module docs of [`super`]).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use anyhow::{bail, Result};

use super::{report::SymbolReport, Expectations, NEEDED_ALLOWLIST, SONAME};
use crate::{
    build::Outputs,
    elf::{self, ArchiveInfo, Class, ElfInfo, ElfType, Endianness, GlibcVersion, Ident},
    platform::Platform,
};

/// The target of `platform` as an [`Ident`] of type `elf_type`.
fn platform_ident(platform: Platform, elf_type: ElfType) -> Ident {
    Ident {
        machine: platform.elf_machine(),
        class: Class::Elf64,
        endianness: Endianness::Little,
        elf_type,
        flags: platform.elf_flags().1,
    }
}

/// Whether `ident` is code for `platform` (machine, class, endianness and the
/// `e_flags` bits the platform fixes; the type is not compared).
fn is_platform(ident: &Ident, platform: Platform) -> bool {
    let want = platform_ident(platform, ident.elf_type);
    let (mask, flags) = platform.elf_flags();
    (ident.machine, ident.class, ident.endianness) == (want.machine, want.class, want.endianness)
        && ident.flags & mask == flags
}

fn check_machine(report: &mut SymbolReport, file: &Path, ident: &Ident, platform: Platform) -> bool {
    let want = platform_ident(platform, ident.elf_type);
    let pass = is_platform(ident, platform);
    let detail = if pass {
        format!("{} ({platform})", ident.describe())
    } else {
        format!("{}, but {platform} needs {}", ident.describe(), want.describe())
    };
    report.push(file, "machine", pass, detail);
    pass
}

fn check_glibc(report: &mut SymbolReport, info: &ElfInfo, max: &GlibcVersion) {
    let file = &info.path;
    match info.max_glibc() {
        None => report.push(file, "glibc", true, "needs no versioned glibc symbol"),
        Some(v) if v <= *max => report.push(file, "glibc", true, format!("needs GLIBC_{v} <= {max}")),
        Some(_) => {
            let too_new: Vec<String> = info
                .glibc_required
                .iter()
                .filter(|n| GlibcVersion::parse(n).is_some_and(|v| v > *max))
                .map(|n| {
                    let syms = info.symbols_needing(n);
                    if syms.is_empty() {
                        n.clone()
                    } else {
                        format!("{n} ({})", abbreviate(&syms, 5))
                    }
                })
                .collect();
            report.push(file, "glibc", false, format!("needs glibc newer than {max}: {}", too_new.join(", ")));
        }
    }
}

fn abbreviate<S: AsRef<str>>(items: &[S], n: usize) -> String {
    let mut s: Vec<&str> = items.iter().take(n).map(|i| i.as_ref()).collect();
    let more = items.len().saturating_sub(n);
    let tail = format!("… {more} more");
    if more > 0 {
        s.push(&tail);
    }
    s.join(", ")
}

fn is_origin_path(p: &str) -> bool {
    ["$ORIGIN", "${ORIGIN}"]
        .iter()
        .any(|o| p.strip_prefix(o).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

/// Names that only Rust's own machinery should define.
pub fn is_rust_internal(name: &str) -> bool {
    name.starts_with("_ZN")
        // v0 mangling: `_R` + optional decimal + an uppercase tag.
        || name.strip_prefix("_R").is_some_and(|r| r.starts_with(|c: char| c.is_ascii_uppercase() || c.is_ascii_digit()))
        || name.starts_with("__rust_")
        || name.starts_with("__rdl_")
        || name.starts_with("__rg_")
        || name == "rust_eh_personality"
}

fn rpath_entries(info: &ElfInfo) -> Vec<String> {
    info.rpath.iter().chain(&info.runpath).flat_map(|r| r.split(':')).map(String::from).collect()
}

/// The checks of the shared library.
pub fn check_library(info: &ElfInfo, exp: &Expectations) -> SymbolReport {
    let mut r = SymbolReport::default();
    let file = info.path.as_path();

    let is_lib = info.ident.elf_type == ElfType::SharedObject && info.soname.is_some();
    let detail = match (&info.ident.elf_type, &info.soname) {
        (ElfType::SharedObject, Some(s)) => format!("shared object, SONAME {s}"),
        (ElfType::SharedObject, None) => "shared object without SONAME".to_string(),
        (t, _) => format!("{t}, not a shared library"),
    };
    r.push(file, "elf-type", is_lib, detail);
    check_machine(&mut r, file, &info.ident, exp.platform);

    // Exported: defined GLOBAL DEFAULT FUNC.
    let by_name: BTreeMap<&str, &elf::Symbol> =
        info.dynsyms.iter().filter(|s| s.defined).map(|s| (s.name.as_str(), s)).collect();
    let export_problem = |name: &str| -> Option<String> {
        match by_name.get(name) {
            None => Some(format!("{name} (missing)")),
            Some(s) if !s.is_exported_function() => Some(format!("{name} ({} {} {})", s.kind, s.bind, s.visibility)),
            Some(_) => None,
        }
    };
    let problems: Vec<String> = exp.header_functions.iter().filter_map(|f| export_problem(f)).collect();
    let n = exp.header_functions.len();
    r.push_unless(file, "header-exports", &problems, format!("all {n} functions of the header exported"), |p| {
        format!("{} of {n} header functions not exported: {p}", problems.len())
    });

    let go_problems: Vec<String> =
        exp.go_functions.iter().filter_map(|(f, at)| export_problem(f).map(|p| format!("{p} used at {at}"))).collect();
    let ok = format!("all {} C functions the Go code calls exported", exp.go_functions.len());
    r.push_unless(file, "go-exports", &go_problems, ok, |p| format!("not exported: {p}"));

    let exported = info.exported_names();
    let internals: Vec<&str> = exported.iter().map(String::as_str).filter(|n| is_rust_internal(n)).collect();
    r.push(
        file,
        "rust-internals",
        internals.is_empty(),
        if internals.is_empty() {
            "no Rust internals exported".to_string()
        } else {
            format!("{} Rust internal symbols exported: {}", internals.len(), abbreviate(&internals, 8))
        },
    );
    let header: BTreeSet<&str> = exp.header_functions.iter().map(String::as_str).collect();
    let extra: Vec<&str> = info
        .dynsyms
        .iter()
        .filter(|s| s.defined && s.kind != "SECTION" && s.kind != "FILE" && s.bind != "LOCAL")
        // version definition symbols (`A` in nm) are not exports
        .filter(|s| !(s.kind == "OBJECT" && s.version.as_deref() == Some(s.name.as_str())))
        .map(|s| s.name.as_str())
        .filter(|n| !header.contains(n) && !is_rust_internal(n))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !extra.is_empty() {
        r.note(file, "extra-exports", format!("exported but not in the header: {}", abbreviate(&extra, 10)));
    }

    check_glibc(&mut r, info, &exp.max_glibc);
    // What `ld` checks when a program links against the library (see elf::imports).
    match elf::Resolver::default().check(info) {
        Ok(elf::Imports::Resolved { count, libraries }) => r.push(
            file,
            "imports",
            true,
            format!(
                "all {count} imports resolve in {}",
                abbreviate(&libraries.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(), 4)
            ),
        ),
        Ok(elf::Imports::Unresolved(m)) => {
            r.push(file, "imports", false, format!("not defined by the needed libraries: {}", abbreviate(&m, 5)))
        }
        Ok(elf::Imports::NotFound { library, dirs }) => {
            r.note(file, "imports", format!("not checked: no {library} for this machine in {dirs:?}"))
        }
        Err(e) => r.push(file, "imports", false, format!("{e:#}")),
    }

    let loader = exp.platform.glibc_loader();
    let bad: Vec<&str> =
        info.needed.iter().map(String::as_str).filter(|n| !NEEDED_ALLOWLIST.contains(n) && *n != loader).collect();
    r.push(
        file,
        "needed",
        bad.is_empty(),
        if bad.is_empty() {
            format!("NEEDED {}", if info.needed.is_empty() { "none".into() } else { info.needed.join(", ") })
        } else {
            format!(
                "NEEDED outside the allowlist: {} (allowed: {}, {loader})",
                bad.join(", "),
                NEEDED_ALLOWLIST.join(", ")
            )
        },
    );

    let soname_ok = info.soname.as_deref() == Some(SONAME);
    r.push(
        file,
        "soname",
        soname_ok,
        match &info.soname {
            Some(s) if soname_ok => format!("SONAME {s}"),
            Some(s) => format!("SONAME {s}, expected {SONAME}"),
            None => format!("no SONAME, expected {SONAME} (candle-binding/build.rs sets it)"),
        },
    );

    let entries = rpath_entries(info);
    let bad: Vec<&String> = entries.iter().filter(|p| !is_origin_path(p)).collect();
    r.push(
        file,
        "rpath",
        bad.is_empty(),
        match (entries.is_empty(), bad.is_empty()) {
            (true, _) => "no RPATH/RUNPATH".to_string(),
            (false, true) => format!("RPATH/RUNPATH {}", entries.join(":")),
            (false, false) => format!(
                "RPATH/RUNPATH outside $ORIGIN: {}",
                bad.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(":")
            ),
        },
    );
    r
}

/// Check `path` as a file of `role` (the default files of a build, whose
/// role is known): one error when it is not that kind of file.
pub fn verify_as(path: &Path, role: Role, exp: &Expectations) -> Result<SymbolReport> {
    Ok(match role {
        Role::Library => check_library(&elf::read_elf(path)?, exp),
        Role::Router => check_router(&elf::read_elf(path)?, exp),
        Role::Archive => match elf::read(path)? {
            elf::Binary::Archive(a) => check_archive(&a, exp),
            elf::Binary::Elf(_) => bail!("{}: is an ELF file, not an ar archive", path.display()),
        },
    })
}

/// The checks of the static library.
pub fn check_archive(a: &ArchiveInfo, exp: &Expectations) -> SymbolReport {
    let mut r = SymbolReport::default();
    let file = a.path.as_path();
    let want_machine = exp.platform.elf_machine();
    let mut wrong = Vec::new();
    let mut not_elf = Vec::new();
    for m in &a.members {
        match &m.ident {
            Ok(id) => {
                if !is_platform(id, exp.platform) || id.elf_type != ElfType::Relocatable {
                    wrong.push(format!("{} ({} {})", m.name, id.describe(), id.elf_type));
                }
            }
            Err(e) => not_elf.push(format!("{} ({e})", m.name)),
        }
    }
    let pass = !a.members.is_empty() && wrong.is_empty() && not_elf.is_empty();
    let detail = if a.members.is_empty() {
        "empty archive".to_string()
    } else if pass {
        let want = platform_ident(exp.platform, ElfType::Relocatable);
        format!("all {} members {} objects ({})", a.members.len(), want.describe(), exp.platform)
    } else {
        let mut parts = Vec::new();
        if !wrong.is_empty() {
            parts.push(format!(
                "{} members not {} objects: {}",
                wrong.len(),
                elf::machine_name(want_machine),
                abbreviate(&wrong, 3)
            ));
        }
        if !not_elf.is_empty() {
            parts.push(format!("{} members not ELF: {}", not_elf.len(), abbreviate(&not_elf, 3)));
        }
        parts.join("; ")
    };
    r.push(file, "machine", pass, detail);

    let missing: Vec<&str> =
        exp.header_functions.iter().map(String::as_str).filter(|f| !a.defines_function(f)).collect();
    let n = exp.header_functions.len();
    let ok = format!("all {n} functions of the header defined by members");
    r.push_unless(file, "header-exports", &missing, ok, |p| {
        format!("{} of {n} header functions defined by no member: {p}", missing.len())
    });
    let go_missing: Vec<String> = exp
        .go_functions
        .iter()
        .filter(|(f, _)| !a.defines_function(f))
        .map(|(f, at)| format!("{f} used at {at}"))
        .collect();
    let ok = format!("all {} C functions the Go code calls defined", exp.go_functions.len());
    r.push_unless(file, "go-exports", &go_missing, ok, |p| format!("defined by no member: {p}"));
    let non_pic = a.non_pic();
    let ok = "every relocation position-independent (links into a PIE)".to_string();
    r.push_unless(file, "pic", &non_pic, ok, |p| format!("a PIE link refuses: {p}"));
    // What `ld` checks when a program links the archive (see elf::imports).
    match elf::Resolver::default().check_archive(a) {
        Ok(elf::Imports::Resolved { count, .. }) => {
            r.push(file, "imports", true, format!("all {count} imports of the members resolve"))
        }
        Ok(elf::Imports::Unresolved(m)) => r.push(file, "imports", false, format!("undefined: {}", abbreviate(&m, 5))),
        Ok(elf::Imports::NotFound { library, dirs }) => {
            r.note(file, "imports", format!("not checked: no {library} in {dirs:?}"))
        }
        Err(e) => r.push(file, "imports", false, format!("{e:#}")),
    }
    r
}

/// The checks of the router binary.
pub fn check_router(info: &ElfInfo, exp: &Expectations) -> SymbolReport {
    let mut r = SymbolReport::default();
    let file = info.path.as_path();
    let is_exe = matches!(info.ident.elf_type, ElfType::Executable | ElfType::Pie);
    r.push(file, "elf-type", is_exe, format!("{}", info.ident.elf_type));
    check_machine(&mut r, file, &info.ident, exp.platform);
    let has = info.needed.iter().any(|n| n == SONAME);
    r.push(
        file,
        "needs-library",
        has,
        if has {
            format!("NEEDED {}", info.needed.join(", "))
        } else {
            format!("NEEDED lacks {SONAME}: {}", info.needed.join(", "))
        },
    );
    check_glibc(&mut r, info, &exp.max_glibc);
    let entries = rpath_entries(info);
    if entries.iter().any(|p| !is_origin_path(p)) {
        r.note(file, "rpath", format!("RPATH/RUNPATH {} (not $ORIGIN-relative)", entries.join(":")));
    }
    r
}

/// How to check a file given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Library,
    Archive,
    Router,
}

/// By name first (`*.so`, `*.so.N`, `*.a`), then by content.
pub fn role_of(path: &Path, bin: &elf::Binary) -> Result<Role> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(match bin {
        elf::Binary::Archive(_) => Role::Archive,
        elf::Binary::Elf(_) if name.ends_with(".so") || name.contains(".so.") => Role::Library,
        elf::Binary::Elf(info) => match info.ident.elf_type {
            ElfType::SharedObject => Role::Library,
            ElfType::Executable | ElfType::Pie => Role::Router,
            other => bail!("{}: is a {other}; verify-symbols checks .so, .a and executables", path.display()),
        },
    })
}

/// SymbolCheck one file, whichever it is.
pub fn verify_file(path: &Path, exp: &Expectations) -> Result<SymbolReport> {
    let bin = elf::read(path)?;
    Ok(match (role_of(path, &bin)?, bin) {
        (Role::Archive, elf::Binary::Archive(a)) => check_archive(&a, exp),
        (Role::Router, elf::Binary::Elf(info)) => check_router(&info, exp),
        (_, elf::Binary::Elf(info)) => check_library(&info, exp),
        (_, elf::Binary::Archive(a)) => check_archive(&a, exp),
    })
}

/// The default files of a build (see [`Outputs`]): the `.so`, the `.a` and
/// (with `router`) the router binary. A missing file is a failed `built` check.
pub fn verify_outputs(outputs: &Outputs, router: bool, exp: &Expectations) -> Result<SymbolReport> {
    let mut files = vec![(outputs.shared_lib(), Role::Library), (outputs.static_lib(), Role::Archive)];
    if router {
        files.push((outputs.router.clone(), Role::Router));
    }
    let mut report = SymbolReport::default();
    for (path, role) in files {
        if !path.exists() {
            report.push(
                &path,
                "built",
                false,
                format!("not built: {} (run `cargo xtask build --platform {}`)", path.display(), exp.platform),
            );
            continue;
        }
        report.extend(verify_as(&path, role, exp)?);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn riscv64_machine_includes_the_abi_flags() {
        let rv = |flags| Ident {
            machine: goblin::elf::header::EM_RISCV,
            class: Class::Elf64,
            endianness: Endianness::Little,
            elf_type: ElfType::SharedObject,
            flags,
        };
        let check = |ident: Ident, p: Platform| {
            let mut r = SymbolReport::default();
            let pass = check_machine(&mut r, Path::new("/t/lib.so"), &ident, p);
            (pass, r.checks[0].detail.clone())
        };
        let (pass, detail) = check(rv(0x5), Platform::RISCV64);
        assert!(pass, "{detail}");
        assert_eq!(detail, "RISCV ELF64 little-endian e_flags 0x5 (linux/riscv64)");
        for wrong in
            [0x4 /* no RVC */, 0x1 /* soft-float ABI */, 0x3 /* single-float */, 0xd /* RVE */]
        {
            let (pass, detail) = check(rv(wrong), Platform::RISCV64);
            assert!(!pass, "{wrong:#x}");
            assert!(detail.ends_with("but linux/riscv64 needs RISCV ELF64 little-endian e_flags 0x5"), "{detail}");
        }
        assert!(!check(rv(0x5), Platform::ARM64).0);
        let arm = Ident { machine: goblin::elf::header::EM_AARCH64, flags: 0, ..rv(0) };
        assert!(check(arm, Platform::ARM64).0);
        assert!(!check(Ident { flags: 0x1, ..arm }, Platform::ARM64).0, "AArch64 defines no flags");
    }

    #[test]
    fn origin_paths() {
        for ok in ["$ORIGIN", "$ORIGIN/../lib", "${ORIGIN}", "${ORIGIN}/lib"] {
            assert!(is_origin_path(ok), "{ok}");
        }
        for bad in ["/opt/x", "$ORIGINAL", "lib", "", "/usr/lib/$ORIGIN"] {
            assert!(!is_origin_path(bad), "{bad}");
        }
    }

    #[test]
    fn rust_internals() {
        for n in
            ["_ZN3foo3barE", "_RNvCs123_3foo3bar", "__rust_alloc", "__rdl_alloc", "__rg_oom", "rust_eh_personality"]
        {
            assert!(is_rust_internal(n), "{n}");
        }
        for n in ["init_similarity_model", "_Rfoo", "rust_eh_personality2", "_Z", "get_last_error"] {
            assert!(!is_rust_internal(n), "{n}");
        }
    }
}
