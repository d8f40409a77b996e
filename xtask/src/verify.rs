//! `cargo xtask verify-symbols`: check the built library, static library and
//! router binary with goblin, and the reusable checks behind it.
//!
//! Checks (each a named row, PASS/FAIL with a detail; notes never fail):
//!
//! | check            | `.so` | `.a` | router | what                                                              |
//! |------------------|:-----:|:----:|:------:|-------------------------------------------------------------------|
//! | `built`          |   x   |  x   |   x    | the default file exists (only when files were defaulted)          |
//! | `elf-type`       |   x   |      |   x    | a shared object with a SONAME / an executable                      |
//! | `machine`        |   x   |  x   |   x    | machine, class, endianness of the platform (every archive member)  |
//! | `header-exports` |   x   |  x   |        | every function of the cbindgen header: defined GLOBAL DEFAULT FUNC |
//! | `go-exports`     |   x   |  x   |        | every `C.<name>` the Go code calls is exported                     |
//! | `rust-internals` |   x   |      |        | no `_ZN…`, `_R…`, `__rust_…`, `__rdl_…`, `__rg_…`, `rust_eh_personality` |
//! | `extra-exports`  |   x   |      |        | note: other exports outside the header                             |
//! | `glibc`          |   x   |      |   x    | highest `GLIBC_x.y` needed ≤ `--max-glibc` (default 2.36, bookworm) |
//! | `needed`         |   x   |      |        | NEEDED ⊆ [`NEEDED_ALLOWLIST`] + the platform's glibc loader        |
//! | `needs-library`  |       |      |   x    | NEEDED has `libcandle_semantic_router.so`                          |
//! | `soname`         |   x   |      |        | SONAME is `libcandle_semantic_router.so`                           |
//! | `rpath`          |   x   |      |  note  | RPATH/RUNPATH only `$ORIGIN` forms                                 |
//!
//! [`verify_library`], [`verify_archive`], [`verify_router`] and
//! [`verify_outputs`] are what `build` and `dist` call; [`Report::ok`] says
//! whether everything passed.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::{
    build::Outputs,
    elf::{self, ArchiveInfo, Class, ElfInfo, ElfType, Endianness, GlibcVersion, Ident},
    flags,
    platform::Platform,
    Ctx,
};

/// SONAME of the library, set by `candle-binding/build.rs`.
pub const SONAME: &str = "libcandle_semantic_router.so";
/// The generated C header, relative to the workspace root.
pub const HEADER: &str = "candle-binding/include/candle_semantic_router.h";
/// Where the Go code that calls the library lives, relative to the workspace root.
pub const GO_DIRS: [&str; 2] = ["candle-binding", "src/semantic-router"];
/// Floor of the runtime image: Debian bookworm's glibc.
pub const DEFAULT_MAX_GLIBC: &str = "2.36";

/// Libraries the shared library may need, besides the platform's dynamic
/// loader ([`Platform::glibc_loader`], e.g. for `__tls_get_addr`). All ship with glibc (and libgcc_s,
/// which Rust's unwinder needs) in every glibc image. `libstdc++.so.6` is
/// deliberately absent: it is in bookworm images too, but its appearance means
/// a C++ dependency crept in (e.g. tokenizers' `esaxx_fast`); allowing it
/// should be a decision made here, not an accident.
pub const NEEDED_ALLOWLIST: &[&str] =
    &["libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "libgcc_s.so.1"];

// ---------------------------------------------------------------------------
// Report

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Note,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Note => "NOTE",
        })
    }
}

/// One row of a report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub file: PathBuf,
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// No check failed (notes do not count).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }

    pub fn extend(&mut self, other: Report) {
        self.checks.extend(other.checks);
    }

    /// `file: check, check; file: check` for the failed checks.
    pub fn failure_summary(&self) -> String {
        let mut by_file: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for c in self.failures() {
            by_file.entry(file_label(&c.file)).or_default().push(c.check);
        }
        by_file.iter().map(|(f, cs)| format!("{f}: {}", cs.join(", "))).collect::<Vec<_>>().join("; ")
    }

    /// Ok, or one error naming each failed check.
    pub fn into_result(self) -> Result<()> {
        if self.ok() {
            Ok(())
        } else {
            bail!("symbol verification failed: {}", self.failure_summary())
        }
    }

    fn push(&mut self, file: &Path, check: &'static str, pass: bool, detail: impl Into<String>) {
        let status = if pass { Status::Pass } else { Status::Fail };
        self.checks.push(Check { file: file.to_path_buf(), check, status, detail: detail.into() });
    }

    fn note(&mut self, file: &Path, check: &'static str, detail: impl Into<String>) {
        self.checks.push(Check { file: file.to_path_buf(), check, status: Status::Note, detail: detail.into() });
    }

    /// The human table.
    pub fn table(&self) -> String {
        let rows: Vec<[String; 4]> = self
            .checks
            .iter()
            .map(|c| [c.status.to_string(), c.check.to_string(), file_label(&c.file), c.detail.clone()])
            .collect();
        let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max(5);
        let w2 = rows.iter().map(|r| r[2].len()).max().unwrap_or(0).max(4);
        let mut out = format!("{:6}{:w1$}  {:w2$}  {}\n", "", "check", "file", "detail");
        for r in rows {
            out.push_str(&format!("{:6}{:w1$}  {:w2$}  {}\n", r[0], r[1], r[2], r[3]));
        }
        let failed = self.failures().count();
        out.push_str(&format!(
            "{} checks, {} failed\n",
            self.checks.iter().filter(|c| c.status != Status::Note).count(),
            failed
        ));
        out
    }
}

fn file_label(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

// ---------------------------------------------------------------------------
// What the files must satisfy

/// Everything the checks compare against.
#[derive(Debug, Clone)]
pub struct Expectations {
    pub platform: Platform,
    pub max_glibc: GlibcVersion,
    /// Functions declared in the header (must be exported).
    pub header_functions: Vec<String>,
    /// `C.<name>` functions the Go code calls, with the first place each is used.
    pub go_functions: BTreeMap<String, String>,
}

impl Expectations {
    /// Read the header and the Go code of the workspace at `root`.
    pub fn from_workspace(root: &Path, platform: Platform, max_glibc: Option<&str>) -> Result<Expectations> {
        let header_path = root.join(HEADER);
        let header_text = std::fs::read_to_string(&header_path).with_context(|| {
            format!("cannot read the C header {} (generate it with `cargo xtask codegen`)", header_path.display())
        })?;
        let header = parse_header(&header_text);
        if header.functions.is_empty() {
            bail!("{} declares no functions: is it a cbindgen header?", header_path.display());
        }
        let dirs: Vec<PathBuf> = GO_DIRS.iter().map(|d| root.join(d)).collect();
        let go_functions = go_c_functions(&dirs, &header.types, root)?;
        Ok(Expectations {
            platform,
            max_glibc: parse_max_glibc(max_glibc)?,
            header_functions: header.functions,
            go_functions,
        })
    }
}

pub fn parse_max_glibc(s: Option<&str>) -> Result<GlibcVersion> {
    let s = s.unwrap_or(DEFAULT_MAX_GLIBC);
    GlibcVersion::parse(s.trim()).with_context(|| format!("--max-glibc `{s}` is not a version like 2.36"))
}

// ---------------------------------------------------------------------------
// The checks

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

fn check_machine(report: &mut Report, file: &Path, ident: &Ident, platform: Platform) -> bool {
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

fn check_glibc(report: &mut Report, info: &ElfInfo, max: &GlibcVersion) {
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

/// The shared library.
pub fn verify_library(path: &Path, exp: &Expectations) -> Result<Report> {
    let info = elf::read_elf(path)?;
    Ok(check_library(&info, exp))
}

/// The checks of [`verify_library`] on an already read file.
pub fn check_library(info: &ElfInfo, exp: &Expectations) -> Report {
    let mut r = Report::default();
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
    r.push(
        file,
        "header-exports",
        problems.is_empty(),
        if problems.is_empty() {
            format!("all {n} functions of the header exported")
        } else {
            format!("{} of {n} header functions not exported: {}", problems.len(), problems.join(", "))
        },
    );

    let go_problems: Vec<String> =
        exp.go_functions.iter().filter_map(|(f, at)| export_problem(f).map(|p| format!("{p} used at {at}"))).collect();
    r.push(
        file,
        "go-exports",
        go_problems.is_empty(),
        if go_problems.is_empty() {
            format!("all {} C functions the Go code calls exported", exp.go_functions.len())
        } else {
            format!("not exported: {}", go_problems.join(", "))
        },
    );

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

/// The static library.
pub fn verify_archive(path: &Path, exp: &Expectations) -> Result<Report> {
    match elf::read(path)? {
        elf::Binary::Archive(a) => Ok(check_archive(&a, exp)),
        elf::Binary::Elf(_) => bail!("{}: is an ELF file, not an ar archive", path.display()),
    }
}

pub fn check_archive(a: &ArchiveInfo, exp: &Expectations) -> Report {
    let mut r = Report::default();
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
    r.push(
        file,
        "header-exports",
        missing.is_empty(),
        if missing.is_empty() {
            format!("all {n} functions of the header defined by members")
        } else {
            format!("{} of {n} header functions defined by no member: {}", missing.len(), missing.join(", "))
        },
    );
    let go_missing: Vec<String> = exp
        .go_functions
        .iter()
        .filter(|(f, _)| !a.defines_function(f))
        .map(|(f, at)| format!("{f} used at {at}"))
        .collect();
    r.push(
        file,
        "go-exports",
        go_missing.is_empty(),
        if go_missing.is_empty() {
            format!("all {} C functions the Go code calls defined", exp.go_functions.len())
        } else {
            format!("defined by no member: {}", go_missing.join(", "))
        },
    );
    r
}

/// The router binary.
pub fn verify_router(path: &Path, exp: &Expectations) -> Result<Report> {
    let info = elf::read_elf(path)?;
    Ok(check_router(&info, exp))
}

pub fn check_router(info: &ElfInfo, exp: &Expectations) -> Report {
    let mut r = Report::default();
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

/// Check one file, whichever it is.
pub fn verify_file(path: &Path, exp: &Expectations) -> Result<Report> {
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
pub fn verify_outputs(outputs: &Outputs, router: bool, exp: &Expectations) -> Result<Report> {
    let mut files = vec![(outputs.shared_lib(), Role::Library), (outputs.static_lib(), Role::Archive)];
    if router {
        files.push((outputs.router.clone(), Role::Router));
    }
    let mut report = Report::default();
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
        report.extend(match role {
            Role::Library => verify_library(&path, exp)?,
            Role::Archive => verify_archive(&path, exp)?,
            Role::Router => verify_router(&path, exp)?,
        });
    }
    Ok(report)
}

impl flags::VerifySymbols {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let platform = match &self.platform {
            Some(p) => Platform::parse(p)?,
            None => Platform::host()?,
        };
        let ws = ctx.workspace()?;
        let exp = Expectations::from_workspace(&ws.root, platform, self.max_glibc.as_deref())?;
        let report = if self.files.is_empty() {
            let profile = if self.profile.profile.is_none() && !self.profile.release {
                flags::Profile { release: true, profile: None } // default: release
            } else {
                self.profile.clone()
            };
            verify_outputs(&Outputs::new(&ws.target_dir()?, platform, &profile), !self.no_go, &exp)?
        } else {
            let mut report = Report::default();
            for f in &self.files {
                report.extend(verify_file(f, &exp)?);
            }
            report
        };
        if self.json {
            let json = serde_json::json!({
                "platform": platform.docker(),
                "max_glibc": exp.max_glibc.to_string(),
                "ok": report.ok(),
                "checks": report.checks,
            });
            println!("{}", serde_json::to_string_pretty(&json)?);
        } else {
            print!("{}", report.table());
        }
        report.into_result()
    }
}

// ---------------------------------------------------------------------------
// The C header

/// What a C header declares at file scope.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Header {
    /// Function prototypes, in order.
    pub functions: Vec<String>,
    /// Type names: typedefs and struct/union/enum tags.
    pub types: BTreeSet<String>,
}

/// Parse the function prototypes and type names of a C header: comments,
/// string literals and preprocessor lines are dropped, then file-scope
/// statements (split at `;` outside braces) are classified. `extern "C" {`
/// blocks are looked through; inline function definitions are skipped.
pub fn parse_header(text: &str) -> Header {
    let code = strip_c(text);
    let mut header = Header::default();
    let mut stmt = String::new();
    // Brace stack: true for an `extern "C" {` block (transparent).
    let mut braces: Vec<bool> = Vec::new();
    let depth = |b: &Vec<bool>| b.iter().filter(|t| !**t).count();
    for c in code.chars() {
        match c {
            '{' => {
                let trimmed = stmt.trim();
                if depth(&braces) == 0 && (trimmed == "extern \"C\"" || trimmed == "extern") {
                    braces.push(true);
                    stmt.clear();
                } else {
                    braces.push(false);
                    stmt.push(c);
                }
            }
            '}' => {
                match braces.pop() {
                    Some(true) => stmt.clear(),
                    Some(false) => {
                        stmt.push(c);
                        if depth(&braces) == 0 {
                            // `f(...) { body }` at file scope: a definition, not a prototype.
                            let before = stmt.split('{').next().unwrap_or("").trim_end();
                            if before.ends_with(')') {
                                stmt.clear();
                            }
                        }
                    }
                    None => stmt.clear(), // unbalanced: start over
                }
            }
            ';' if depth(&braces) == 0 => {
                classify(&stmt, &mut header);
                stmt.clear();
            }
            _ => stmt.push(c),
        }
    }
    header
}

fn classify(stmt: &str, header: &mut Header) {
    let stmt = strip_attributes(stmt);
    let flat = strip_braced(&stmt);
    let words = identifiers(&flat);
    // struct/union/enum tags anywhere at this level.
    for w in words.windows(2) {
        if matches!(w[0].as_str(), "struct" | "union" | "enum") {
            header.types.insert(w[1].clone());
        }
    }
    if words.first().map(String::as_str) == Some("typedef") {
        // `typedef R (*name)(args)` or `typedef T name`.
        let name = match flat.find("(*") {
            Some(i) => identifiers(&flat[i + 2..]).into_iter().next(),
            None => words.last().cloned(),
        };
        if let Some(n) = name {
            header.types.insert(n);
        }
        return;
    }
    let Some(open) = flat.find('(') else { return };
    let before = &flat[..open];
    if before.contains('=') || flat[open + 1..].trim_start().starts_with('*') {
        return; // initialised variable, or a function pointer variable
    }
    if let Some(name) = identifiers(before).last() {
        if !is_c_keyword(name) && !header.functions.contains(name) {
            header.functions.push(name.clone());
        }
    }
}

fn is_c_keyword(w: &str) -> bool {
    matches!(
        w,
        "void"
            | "int"
            | "char"
            | "float"
            | "double"
            | "long"
            | "short"
            | "signed"
            | "unsigned"
            | "bool"
            | "const"
            | "volatile"
            | "struct"
            | "union"
            | "enum"
            | "static"
            | "extern"
            | "inline"
            | "return"
            | "sizeof"
            | "typedef"
            | "if"
            | "while"
            | "for"
            | "switch"
    )
}

fn identifiers(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            cur.push(c);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.retain(|w| !w.starts_with(|c: char| c.is_ascii_digit()));
    out
}

/// Drop `{ … }` bodies (struct members), keeping what surrounds them.
fn strip_braced(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Drop `__attribute__((…))`, `__declspec(…)` and `[[…]]`.
fn strip_attributes(s: &str) -> String {
    let mut out = s.to_string();
    for kw in ["__attribute__", "__declspec", "__asm__", "__asm"] {
        while let Some(i) = out.find(kw) {
            let rest = &out[i + kw.len()..];
            let Some(open) = rest.find('(') else { break };
            if !rest[..open].trim().is_empty() {
                break;
            }
            let mut depth = 0usize;
            let mut end = None;
            for (j, c) in rest[open..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i + kw.len() + open + j + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            match end {
                Some(e) => out.replace_range(i..e, " "),
                None => break,
            }
        }
    }
    while let (Some(a), Some(b)) = (out.find("[["), out.find("]]")) {
        if b < a {
            break;
        }
        out.replace_range(a..b + 2, " ");
    }
    out
}

/// C source without comments, preprocessor lines (with continuations), and
/// with string/char literal contents blanked (`extern "C"` is kept as such).
fn strip_c(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut at_line_start = true;
    while i < b.len() {
        let c = b[i];
        if c == '/' && b.get(i + 1) == Some(&'*') {
            i += 2;
            while i < b.len() && !(b[i] == '*' && b.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
            out.push(' ');
            continue;
        }
        if c == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if at_line_start && c == '#' {
            // A directive runs to the end of the line, continuations included;
            // comments inside it end at the line end too.
            while i < b.len() && b[i] != '\n' {
                if b[i] == '\\' && b.get(i + 1) == Some(&'\n') {
                    i += 1;
                } else if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    i += 2;
                    while i < b.len() && !(b[i] == '*' && b.get(i + 1) == Some(&'/')) {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            continue;
        }
        if c == '"' || c == '\'' {
            let q = c;
            let start = i;
            i += 1;
            while i < b.len() && b[i] != q && b[i] != '\n' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            let lit: String = b[start..(i + 1).min(b.len())].iter().collect();
            out.push_str(if lit == "\"C\"" { "\"C\"" } else { "0" });
            i += 1;
            at_line_start = false;
            continue;
        }
        if c == '\n' {
            at_line_start = true;
        } else if !c.is_whitespace() {
            at_line_start = false;
        }
        out.push(c);
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------
// The Go code

/// cgo's own pseudo-functions.
const CGO_BUILTINS: &[&str] = &["CString", "CBytes", "GoString", "GoStringN", "GoBytes"];
/// C library functions the Go code may call through the preamble's includes.
const LIBC_FUNCTIONS: &[&str] = &[
    "free", "malloc", "calloc", "realloc", "memcpy", "memmove", "memset", "memcmp", "strlen", "strcmp", "strncmp",
    "strcpy", "strncpy", "strdup", "abort", "exit",
];
/// C types cgo knows by name.
const C_TYPES: &[&str] = &[
    "char",
    "schar",
    "uchar",
    "short",
    "ushort",
    "int",
    "uint",
    "long",
    "ulong",
    "longlong",
    "ulonglong",
    "float",
    "double",
    "complexfloat",
    "complexdouble",
    "size_t",
    "ssize_t",
    "ptrdiff_t",
    "bool",
    "_Bool",
    "int8_t",
    "int16_t",
    "int32_t",
    "int64_t",
    "uint8_t",
    "uint16_t",
    "uint32_t",
    "uint64_t",
    "intptr_t",
    "uintptr_t",
    "off_t",
    "void",
];

/// Whether `name` (from `C.name`) is not a library function.
fn is_cgo_non_function(name: &str, header_types: &BTreeSet<String>) -> bool {
    CGO_BUILTINS.contains(&name)
        || LIBC_FUNCTIONS.contains(&name)
        || C_TYPES.contains(&name)
        || ["struct_", "union_", "enum_", "sizeof_"].iter().any(|p| name.starts_with(p))
        || header_types.contains(name)
}

/// `C.<name>` functions called by the `.go` files under `dirs` that `import "C"`,
/// each with its first use (`path:line`, relative to `root`).
pub fn go_c_functions(
    dirs: &[PathBuf],
    header_types: &BTreeSet<String>,
    root: &Path,
) -> Result<BTreeMap<String, String>> {
    let mut files = Vec::new();
    for d in dirs {
        if d.is_dir() {
            collect_go_files(d, &mut files)?;
        }
    }
    files.sort();
    let mut out = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
        let rel = f.strip_prefix(root).unwrap_or(&f).display().to_string();
        for (name, line) in go_c_refs(&text) {
            if !is_cgo_non_function(&name, header_types) {
                out.entry(name).or_insert_with(|| format!("{rel}:{line}"));
            }
        }
    }
    Ok(out)
}

fn collect_go_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let ty = e.file_type()?;
        if ty.is_dir() {
            if !(name.starts_with('.') || name == "vendor" || name == "testdata" || name == "target") {
                collect_go_files(&path, out)?;
            }
        } else if name.ends_with(".go") {
            out.push(path);
        }
    }
    Ok(())
}

/// `C.<identifier>` references (name, 1-based line) of one Go file that
/// imports "C", outside comments and string/rune literals.
pub fn go_c_refs(text: &str) -> Vec<(String, usize)> {
    if !text.contains("import \"C\"") && !text.contains("\t\"C\"") {
        return Vec::new();
    }
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        match b[i] {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 2;
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'C' if b.get(i + 1) == Some(&b'.') && (i == 0 || !(is_ident(b[i - 1]) || b[i - 1] == b'.')) => {
                let start = i + 2;
                let mut end = start;
                while end < b.len() && is_ident(b[end]) {
                    end += 1;
                }
                if end > start && !b[start].is_ascii_digit() {
                    out.push((text[start..end].to_string(), line));
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    out
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
            let mut r = Report::default();
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

    const CBINDGEN: &str = r#"#ifndef CANDLE_SEMANTIC_ROUTER_H
#define CANDLE_SEMANTIC_ROUTER_H

/* Generated. Do not edit. bool not_a_function(int x); */

#include <stdbool.h>
#include <stdint.h>
#define LONG_MACRO(x) \
    int macro_fn(x);

/**
 * A sentence embedding; see `free_embedding(data, length);`
 */
typedef struct {
  float *data;
  int32_t length;
  bool error;
} EmbeddingResult;

typedef struct SimilarityResult {
  int32_t index;
  float score;
} SimilarityResult;

typedef void (*log_callback)(const char *msg);
struct Tagged { int x; };
enum Mode { A, B };

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

bool init_similarity_model(const char *model_path, bool use_cpu);

// bool commented_out(void);
bool is_similarity_model_initialized(void);

SimilarityResult find_most_similar(const char *query,
                                   const char *const *candidates,
                                   int32_t num_candidates,
                                   int32_t max_length);

__attribute__((visibility("default"))) char *get_last_error(void);
extern void free_cstring(char *s);
static inline int helper(int x) { return x; }
extern int some_global;
extern void (*hook)(int);
const char *version_string = "f(x);";
void free_tokenization_result(struct Tagged result);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* CANDLE_SEMANTIC_ROUTER_H */
"#;

    #[test]
    fn header_functions_and_types() {
        let h = parse_header(CBINDGEN);
        assert_eq!(
            h.functions,
            [
                "init_similarity_model",
                "is_similarity_model_initialized",
                "find_most_similar",
                "get_last_error",
                "free_cstring",
                "free_tokenization_result"
            ]
        );
        for t in ["EmbeddingResult", "SimilarityResult", "log_callback", "Tagged", "Mode"] {
            assert!(h.types.contains(t), "{t}: {:?}", h.types);
        }
    }

    #[test]
    fn header_of_the_workspace_if_present() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(HEADER);
        let Ok(text) = std::fs::read_to_string(&path) else { return };
        let h = parse_header(&text);
        assert!(h.functions.contains(&"init_similarity_model".to_string()), "{:?}", h.functions);
        assert!(h.types.contains("EmbeddingResult"));
        assert!(!h.functions.iter().any(|f| h.types.contains(f)));
    }

    #[test]
    fn go_refs() {
        let go = r#"package x

/*
#include "h.h"
static int C.inpreamble(void);
*/
import "C"

// C.in_comment() is not a call
func f() {
	s := C.CString("C.in_string")
	defer C.free(unsafe.Pointer(s))
	r := C.get_text_embedding(s, C.int32_t(0))
	var e C.EmbeddingResult
	var t C.struct_Tagged
	_ = ABC.notc
	_ = x.C.notc2
	_ = `C.raw
	string`
	C.free_embedding(r.data, r.length)
}
"#;
        let refs = go_c_refs(go);
        let names: Vec<&str> = refs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["CString", "free", "get_text_embedding", "int32_t", "EmbeddingResult", "struct_Tagged", "free_embedding"]
        );
        assert_eq!(refs[2].1, 13);
        assert_eq!(refs[6].1, 20);
        let types: BTreeSet<String> = ["EmbeddingResult".to_string()].into();
        let funcs: Vec<&str> = names.iter().copied().filter(|n| !is_cgo_non_function(n, &types)).collect();
        assert_eq!(funcs, ["get_text_embedding", "free_embedding"]);
        assert!(go_c_refs("package y\nfunc g() { C.foo() }\n").is_empty(), "no import \"C\"");
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

    #[test]
    fn max_glibc_flag() {
        assert_eq!(parse_max_glibc(None).unwrap().to_string(), "2.36");
        assert_eq!(parse_max_glibc(Some("2.28")).unwrap().to_string(), "2.28");
        assert_eq!(parse_max_glibc(Some("GLIBC_2.17")).unwrap().to_string(), "2.17");
        assert!(parse_max_glibc(Some("new")).is_err());
    }

    #[test]
    fn report_summary() {
        let mut r = Report::default();
        r.push(Path::new("/t/libx.so"), "machine", true, "ok");
        r.note(Path::new("/t/libx.so"), "extra-exports", "x");
        assert!(r.ok());
        r.push(Path::new("/t/libx.so"), "glibc", false, "too new");
        r.push(Path::new("/t/libx.so"), "soname", false, "none");
        r.push(Path::new("/t/extproc"), "built", false, "not built");
        assert!(!r.ok());
        assert_eq!(r.failure_summary(), "extproc: built; libx.so: glibc, soname");
        let err = r.clone().into_result().unwrap_err().to_string();
        assert!(err.contains("libx.so: glibc, soname"), "{err}");
        let table = r.table();
        assert!(table.contains("FAIL  glibc") && table.contains("4 checks, 3 failed"), "{table}");
    }
}
