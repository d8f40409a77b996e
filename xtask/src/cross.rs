//! Cross-compilation environment for cargo and Go.
//!
//! The probes ([`target_std`], [`cross_cc`]) run once per command, through
//! [`crate::prereq`], which keeps what they found; the environments are pure
//! functions of that ([`plan_rust_env`], [`plan_go_env`]). Nothing here
//! matters when the target is the host: the cargo environment is then empty
//! and Go's only pins `CGO_ENABLED/GOOS/GOARCH` and the library search path.
//!
//! For a foreign target we need two things:
//! - a Rust standard library for the target triple ([`target_std`]): either the
//!   current toolchain has it (`rustup target add <triple>`), or the distro
//!   compiler `/usr/bin/rustc` does (Debian: `rustc-web` + `libstd-rust-web-dev:<arch>`),
//!   in which case cargo is told `RUSTC=/usr/bin/rustc`. Both are checked by
//!   looking for the `libstd-*.rlib` files, not by package names;
//! - a C cross toolchain ([`cross_cc`]), used as linker, by the `cc` crate and
//!   by cgo: a GNU cross gcc that has the target's libc (Debian:
//!   `gcc-aarch64-linux-gnu` + `libc6-dev-arm64-cross`), else zig
//!   ([`crate::zig`]: Fedora/CentOS cross gcc builds kernels only).
//!   `XTASK_CROSS_CC=gcc` or `=zig` picks one.
//!
//! Variables the user already set (non-empty) in the process environment win:
//! they are left out of the returned lists so that the caller's environment
//! passes through unchanged. For the `cc` crate a target-specific value in any
//! of its spellings (`CC_<triple>`, `CC_<triple_with_underscores>`, `TARGET_CC`)
//! counts as set; a plain `CC` does not (it usually names the host compiler).
//!
//! The core ([`plan_rust_env`], [`plan_go_env`], [`choose_std`], [`choose_cc`])
//! is pure: it takes the host, the target, an environment lookup and probe
//! results, so that every (host, target) pair is unit-tested.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::{
    install,
    platform::Platform,
    sys::{env_var as process_env, tool_exists},
    zig,
};

/// Where the Rust standard library for a target comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Toolchain {
    /// `Some(/usr/bin/rustc)` when the distro compiler must be used via `RUSTC`;
    /// `None` when the current `rustc` already has the target's std.
    pub rustc: Option<PathBuf>,
}

/// The distro compiler tried when the current toolchain lacks the target's std.
pub const DISTRO_RUSTC: &str = "/usr/bin/rustc";

/// The C toolchain that compiles and links for a foreign target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrossCc {
    /// `<prefix>gcc` with the target's libc at `libc`; `cxx`/`ar`: whether
    /// `<prefix>g++` and `<prefix>ar` are there too.
    Gcc { prefix: &'static str, libc: PathBuf, cxx: bool, ar: bool },
    /// zig, through the wrappers of [`zig::write_wrappers`].
    Zig(zig::Wrappers),
}

impl CrossCc {
    pub fn cc(&self) -> String {
        match self {
            CrossCc::Gcc { prefix, .. } => format!("{prefix}gcc"),
            CrossCc::Zig(w) => w.cc.display().to_string(),
        }
    }

    pub fn cxx(&self) -> Option<String> {
        match self {
            CrossCc::Gcc { prefix, cxx, .. } => cxx.then(|| format!("{prefix}g++")),
            CrossCc::Zig(w) => Some(w.cxx.display().to_string()),
        }
    }

    pub fn ar(&self) -> Option<String> {
        match self {
            CrossCc::Gcc { prefix, ar, .. } => ar.then(|| format!("{prefix}ar")),
            CrossCc::Zig(w) => Some(w.ar.display().to_string()),
        }
    }

    /// One line for `doctor`.
    pub fn describe(&self) -> String {
        match self {
            CrossCc::Gcc { prefix, libc, .. } => format!("{prefix}gcc, libc {}", libc.display()),
            CrossCc::Zig(w) => format!("zig ({}) via {}", w.target, w.cc.display()),
        }
    }
}

/// `XTASK_CROSS_CC`: which C cross toolchains may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CcChoice {
    /// Unset or `auto`: gcc when it has the target's libc, else zig.
    Auto,
    Gcc,
    Zig,
}

impl CcChoice {
    pub fn parse(value: Option<&str>) -> Result<CcChoice> {
        match value.map(str::trim) {
            None | Some("") | Some("auto") => Ok(CcChoice::Auto),
            Some("gcc") => Ok(CcChoice::Gcc),
            Some("zig") => Ok(CcChoice::Zig),
            Some(other) => bail!("XTASK_CROSS_CC=`{other}`: expected `gcc`, `zig` or `auto`"),
        }
    }
}

/// What [`choose_cc`] picked: the gcc, or zig at this path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CcPick {
    Gcc(CrossCc),
    Zig(PathBuf),
}

/// Pure decision of [`cross_cc`]. `gcc`: the cross gcc, or why it cannot be
/// used; `zig`: the zig executable, if found. The error names what was tried
/// and how to install either.
pub fn choose_cc(
    host: Platform,
    target: Platform,
    choice: CcChoice,
    gcc: std::result::Result<CrossCc, String>,
    zig: Option<PathBuf>,
) -> Result<CcPick> {
    let no_zig =
        || format!("zig is not found (XTASK_ZIG, PATH, {})", zig::installed_exe(Path::new(zig::INSTALL_DIR)).display());
    let hint = || install::install_hint(&install::Need::CrossCc(target), host);
    match choice {
        CcChoice::Gcc => {
            gcc.map(CcPick::Gcc).map_err(|why| anyhow::anyhow!("XTASK_CROSS_CC=gcc but {why}: install {}", hint()))
        }
        CcChoice::Zig => {
            zig.map(CcPick::Zig).with_context(|| format!("XTASK_CROSS_CC=zig but {}: install {}", no_zig(), hint()))
        }
        CcChoice::Auto => match (gcc, zig) {
            (Ok(gcc), _) => Ok(CcPick::Gcc(gcc)),
            (Err(_), Some(zig)) => Ok(CcPick::Zig(zig)),
            (Err(why), None) => bail!("no C cross toolchain for {target}: {why}, and {}: install {}", no_zig(), hint()),
        },
    }
}

/// The C cross toolchain for `target` on this machine (see [`choose_cc`]);
/// for zig this writes its wrappers.
pub fn cross_cc(target: Platform) -> Result<CrossCc> {
    let host = Platform::host()?;
    let choice = CcChoice::parse(process_env("XTASK_CROSS_CC").as_deref())?;
    let prefix = target.gnu_prefix();
    let gcc = format!("{prefix}gcc");
    let probe_gcc = || -> std::result::Result<CrossCc, String> {
        if !tool_exists(&gcc) {
            return Err(format!("{gcc} is not found"));
        }
        let libc = gcc_libc(&gcc).ok_or_else(|| format!("{gcc} has no libc for {target} (it builds kernels only)"))?;
        Ok(CrossCc::Gcc {
            prefix,
            libc,
            cxx: tool_exists(&format!("{prefix}g++")),
            ar: tool_exists(&format!("{prefix}ar")),
        })
    };
    let gcc = if choice == CcChoice::Zig { Err("not tried".into()) } else { probe_gcc() };
    let zig = if choice == CcChoice::Gcc { None } else { zig::find() };
    match choose_cc(host, target, choice, gcc, zig)? {
        CcPick::Gcc(cc) => Ok(cc),
        CcPick::Zig(zig) => Ok(CrossCc::Zig(zig::write_wrappers(&zig::wrapper_dir()?, &zig, target)?)),
    }
}

/// The libc a gcc links against, if it has one (`-print-file-name=libc.so`
/// prints the bare name when it has none).
pub fn gcc_libc(gcc: &str) -> Option<PathBuf> {
    let sh = Shell::new().ok()?;
    let out = cmd!(sh, "{gcc} -print-file-name=libc.so").quiet().ignore_status().output().ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !out.status.success() || !path.is_absolute() {
        return None;
    }
    Some(std::fs::canonicalize(&path).unwrap_or(path))
}

/// Where the Rust std for `target` comes from; an error naming the install
/// commands when no toolchain has it.
pub fn target_std(target: &Platform) -> Result<Toolchain> {
    let host = Platform::host()?;
    if *target == host {
        return Ok(Toolchain::default());
    }
    let sh = Shell::new().context("cannot set up a shell")?;
    let user_rustc = process_env("RUSTC");
    let current = user_rustc.clone().unwrap_or_else(|| "rustc".to_string());
    let current_sysroot = sysroot_of(&sh, Path::new(&current));
    let distro = Path::new(DISTRO_RUSTC);
    let distro_sysroot = if distro.is_file() { sysroot_of(&sh, distro) } else { None };
    choose_std(
        host,
        *target,
        StdCandidates {
            user_rustc: user_rustc.as_deref(),
            current_sysroot: current_sysroot.as_deref(),
            distro: distro_sysroot.as_deref().map(|s| (distro, s)),
        },
        &has_std,
    )
}

/// The candidates [`choose_std`] picks from.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdCandidates<'a> {
    /// `$RUSTC` when the user set it (then it must have the std itself).
    pub user_rustc: Option<&'a str>,
    /// `--print sysroot` of the current rustc, if it answered.
    pub current_sysroot: Option<&'a Path>,
    /// The distro rustc and its sysroot, if it exists and answered.
    pub distro: Option<(&'a Path, &'a Path)>,
}

/// Pure decision of [`target_std`]. `has_std(sysroot, triple)` probes for the
/// std rlib files.
pub fn choose_std(
    host: Platform,
    target: Platform,
    cand: StdCandidates<'_>,
    has_std: &dyn Fn(&Path, &str) -> bool,
) -> Result<Toolchain> {
    if target == host {
        return Ok(Toolchain::default());
    }
    let triple = target.rust_triple();
    if let Some(sysroot) = cand.current_sysroot {
        if has_std(sysroot, triple) {
            return Ok(Toolchain::default());
        }
    }
    if let Some(rustc) = cand.user_rustc {
        bail!(
            "RUSTC={rustc} has no Rust standard library for {triple} (looked in {}/lib/rustlib/{triple}/lib); \
             unset RUSTC or install the target for that compiler",
            cand.current_sysroot.map(|p| p.display().to_string()).unwrap_or_else(|| "its sysroot".into())
        );
    }
    if let Some((rustc, sysroot)) = cand.distro {
        // Build scripts and proc macros are compiled for the host by the same
        // compiler, so the distro compiler needs both standard libraries.
        if has_std(sysroot, triple) && has_std(sysroot, host.rust_triple()) {
            return Ok(Toolchain { rustc: Some(rustc.to_path_buf()) });
        }
    }
    // A port newer than Debian 12 (riscv64) has its std package from then on.
    let distro = match target.debian().0 {
        12 => "Debian/Ubuntu".to_owned(),
        n => format!("Debian {n} and later (Debian 12 has no {} port) or Ubuntu", target.debian_arch()),
    };
    bail!(
        "no Rust standard library for {triple}: install it with `rustup target add {triple}`, \
         or on {distro} with `{}` (xtask then builds with {DISTRO_RUSTC})",
        install::debian_cross_rust_command(host, target)
    )
}

/// Pure core of [`rust_env`], with the C toolchain `cc` (or why there is
/// none: an error only when the user did not set the linker and CC).
pub fn plan_rust_env(
    host: Platform,
    target: Platform,
    toolchain: &Toolchain,
    cc: std::result::Result<&CrossCc, &anyhow::Error>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    if target == host {
        return Ok(out);
    }
    let triple = target.rust_triple();
    let under = triple.replace('-', "_");
    let upper = under.to_ascii_uppercase();

    let is_set = |names: &[String]| names.iter().any(|n| env(n).is_some());
    let cc_names = |tool: &str| vec![format!("{tool}_{triple}"), format!("{tool}_{under}"), format!("TARGET_{tool}")];

    let linker_var = format!("CARGO_TARGET_{upper}_LINKER");
    let want_linker = !is_set(std::slice::from_ref(&linker_var));
    let want_cc = !is_set(&cc_names("CC"));
    let cc = match cc {
        Ok(cc) => Some(cc),
        Err(e) if want_linker || want_cc => bail!("{e:#}"),
        Err(_) => None,
    };
    if let Some(cc) = cc {
        if want_linker {
            out.push((linker_var, cc.cc()));
        }
        if want_cc {
            out.push((format!("CC_{under}"), cc.cc()));
        }
        // The cc crate only needs these for C++ sources and static archives.
        if let (false, Some(cxx)) = (is_set(&cc_names("CXX")), cc.cxx()) {
            out.push((format!("CXX_{under}"), cxx));
        }
        if let (false, Some(ar)) = (is_set(&cc_names("AR")), cc.ar()) {
            out.push((format!("AR_{under}"), ar));
        }
    }
    if let Some(rustc) = &toolchain.rustc {
        if env("RUSTC").is_none() {
            out.push(("RUSTC".into(), rustc.display().to_string()));
        }
    }
    Ok(out)
}

/// Pure core of [`go_env`].
///
/// `CGO_ENABLED`, `GOOS` and `GOARCH` define the target and are always set.
/// `CC`/`CXX` (cross only) are left to the user when set. `CGO_LDFLAGS` keeps
/// the user's flags after our `-L<lib_dir>` (without it the router cannot link).
pub fn plan_go_env(
    host: Platform,
    target: Platform,
    lib_dir: Option<&Path>,
    cc: Option<&CrossCc>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut out = vec![
        ("CGO_ENABLED".to_string(), "1".to_string()),
        ("GOOS".to_string(), target.goos().to_string()),
        ("GOARCH".to_string(), target.goarch().to_string()),
    ];
    if target != host {
        // Without a toolchain, name the gcc: go then says what is missing.
        let prefix = target.gnu_prefix();
        if env("CC").is_none() {
            out.push(("CC".into(), cc.map(CrossCc::cc).unwrap_or_else(|| format!("{prefix}gcc"))));
        }
        if env("CXX").is_none() {
            out.push(("CXX".into(), cc.and_then(CrossCc::cxx).unwrap_or_else(|| format!("{prefix}g++"))));
        }
    }
    if let Some(lib_dir) = lib_dir {
        let ldflags = match env("CGO_LDFLAGS") {
            Some(user) => format!("-L{} {user}", lib_dir.display()),
            None => format!("-L{}", lib_dir.display()),
        };
        out.push(("CGO_LDFLAGS".into(), ldflags));
    }
    out
}

/// `<rustc> --print sysroot`, or `None` when that rustc does not answer.
fn sysroot_of(sh: &Shell, rustc: &Path) -> Option<PathBuf> {
    let out = cmd!(sh, "{rustc} --print sysroot").quiet().ignore_stderr().read().ok()?;
    let out = out.trim();
    (!out.is_empty()).then(|| PathBuf::from(out))
}

/// The real probe: `<sysroot>/lib/rustlib/<triple>/lib/libstd-*.rlib` exists.
pub fn has_std(sysroot: &Path, triple: &str) -> bool {
    let dir = sysroot.join("lib/rustlib").join(triple).join("lib");
    let Ok(entries) = std::fs::read_dir(&dir) else { return false };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.starts_with("libstd-") && name.ends_with(".rlib")
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const AMD: Platform = Platform::AMD64;
    const ARM: Platform = Platform::ARM64;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    /// A Debian-like cross gcc with g++ and ar.
    fn gcc(target: Platform) -> CrossCc {
        CrossCc::Gcc { prefix: target.gnu_prefix(), libc: "/usr/lib/libc.so".into(), cxx: true, ar: true }
    }

    fn zig_wrappers(target: Platform) -> CrossCc {
        let dir = Path::new("/home/u/.cache/xtask/zig");
        let w = |t| dir.join(zig::wrapper_name(target, t));
        CrossCc::Zig(zig::Wrappers {
            target: zig::target(target),
            cc: w(zig::Tool::Cc),
            cxx: w(zig::Tool::Cxx),
            ar: w(zig::Tool::Ar),
        })
    }

    fn keys(env: &[(String, String)]) -> Vec<&str> {
        env.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn host_to_host_is_empty() {
        for p in Platform::ALL {
            let env = plan_rust_env(p, p, &Toolchain::default(), Ok(&gcc(p)), &lookup(&[])).unwrap();
            assert!(env.is_empty());
        }
    }

    #[test]
    fn amd64_to_arm64() {
        let env = plan_rust_env(AMD, ARM, &Toolchain::default(), Ok(&gcc(ARM)), &lookup(&[])).unwrap();
        assert_eq!(
            env,
            vec![
                ("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER".into(), "aarch64-linux-gnu-gcc".into()),
                ("CC_aarch64_unknown_linux_gnu".into(), "aarch64-linux-gnu-gcc".into()),
                ("CXX_aarch64_unknown_linux_gnu".into(), "aarch64-linux-gnu-g++".into()),
                ("AR_aarch64_unknown_linux_gnu".into(), "aarch64-linux-gnu-ar".into()),
            ]
        );
    }

    #[test]
    fn amd64_to_riscv64_by_the_table() {
        const RV: Platform = Platform::RISCV64;
        let env = plan_rust_env(AMD, RV, &Toolchain::default(), Ok(&gcc(RV)), &lookup(&[])).unwrap();
        assert_eq!(
            env,
            vec![
                ("CARGO_TARGET_RISCV64GC_UNKNOWN_LINUX_GNU_LINKER".into(), "riscv64-linux-gnu-gcc".into()),
                ("CC_riscv64gc_unknown_linux_gnu".into(), "riscv64-linux-gnu-gcc".into()),
                ("CXX_riscv64gc_unknown_linux_gnu".into(), "riscv64-linux-gnu-g++".into()),
                ("AR_riscv64gc_unknown_linux_gnu".into(), "riscv64-linux-gnu-ar".into()),
            ]
        );
        let go = plan_go_env(AMD, RV, None, Some(&gcc(RV)), &lookup(&[]));
        assert!(go.contains(&("GOARCH".into(), "riscv64".into())), "{go:?}");
        assert!(go.contains(&("CC".into(), "riscv64-linux-gnu-gcc".into())), "{go:?}");
        // No toolchain: the hint names Debian's packages and zig.
        let err = choose_cc(AMD, RV, CcChoice::Auto, Err("riscv64-linux-gnu-gcc is not found".into()), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("apt-get install gcc-riscv64-linux-gnu libc6-dev-riscv64-cross"), "{err}");
        // No std: rustup, or apt from Debian 13 on (Debian 12 has no riscv64 port).
        let c = StdCandidates { current_sysroot: Some(Path::new("/nonexistent")), distro: None, user_rustc: None };
        let err = choose_std(AMD, RV, c, &has_std).unwrap_err().to_string();
        assert!(err.contains("rustup target add riscv64gc-unknown-linux-gnu"), "{err}");
        assert!(err.contains("on Debian 13 and later (Debian 12 has no riscv64 port) or Ubuntu with `dpkg"), "{err}");
        assert!(err.contains("libstd-rust-web-dev:riscv64"), "{err}");
        assert_eq!(zig::target(RV), "riscv64-linux-gnu.2.28");
    }

    #[test]
    fn arm64_to_amd64_with_distro_rustc() {
        let tc = Toolchain { rustc: Some("/usr/bin/rustc".into()) };
        let env = plan_rust_env(ARM, AMD, &tc, Ok(&gcc(AMD)), &lookup(&[])).unwrap();
        assert_eq!(
            env,
            vec![
                ("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER".into(), "x86_64-linux-gnu-gcc".into()),
                ("CC_x86_64_unknown_linux_gnu".into(), "x86_64-linux-gnu-gcc".into()),
                ("CXX_x86_64_unknown_linux_gnu".into(), "x86_64-linux-gnu-g++".into()),
                ("AR_x86_64_unknown_linux_gnu".into(), "x86_64-linux-gnu-ar".into()),
                ("RUSTC".into(), "/usr/bin/rustc".into()),
            ]
        );
    }

    #[test]
    fn user_values_win() {
        let tc = Toolchain { rustc: Some("/usr/bin/rustc".into()) };
        let env = lookup(&[
            ("CC_aarch64_unknown_linux_gnu", "clang --target=aarch64-linux-gnu"),
            ("RUSTC", "/opt/rust/bin/rustc"),
            ("CC", "gcc"), // plain CC is the host's: does not count
        ]);
        let out = plan_rust_env(AMD, ARM, &tc, Ok(&gcc(ARM)), &env).unwrap();
        assert_eq!(
            keys(&out),
            [
                "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
                "CXX_aarch64_unknown_linux_gnu",
                "AR_aarch64_unknown_linux_gnu"
            ]
        );

        // Every spelling the cc crate reads counts.
        for name in ["CC_aarch64-unknown-linux-gnu", "TARGET_CC"] {
            let out = plan_rust_env(AMD, ARM, &tc, Ok(&gcc(ARM)), &lookup(&[(name, "x")])).unwrap();
            assert!(!keys(&out).contains(&"CC_aarch64_unknown_linux_gnu"), "{name}");
        }
        let env = lookup(&[
            ("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", "x"),
            ("TARGET_CXX", "x"),
            ("AR_aarch64_unknown_linux_gnu", "x"),
        ]);
        let out = plan_rust_env(AMD, ARM, &Toolchain::default(), Ok(&gcc(ARM)), &env).unwrap();
        assert_eq!(keys(&out), ["CC_aarch64_unknown_linux_gnu"]);
    }

    #[test]
    fn missing_cross_toolchain_is_an_error_only_when_needed() {
        let why = anyhow::anyhow!("no C cross toolchain for linux/arm64");
        let err = plan_rust_env(AMD, ARM, &Toolchain::default(), Err(&why), &lookup(&[])).unwrap_err().to_string();
        assert_eq!(err, "no C cross toolchain for linux/arm64");
        // With linker and CC both given by the user, no toolchain is needed.
        let env = lookup(&[("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", "clang"), ("TARGET_CC", "clang")]);
        assert!(plan_rust_env(AMD, ARM, &Toolchain::default(), Err(&why), &env).unwrap().is_empty());
    }

    #[test]
    fn optional_tools_are_skipped_when_absent() {
        let bare = CrossCc::Gcc { prefix: ARM.gnu_prefix(), libc: "/l".into(), cxx: false, ar: false };
        let out = plan_rust_env(AMD, ARM, &Toolchain::default(), Ok(&bare), &lookup(&[])).unwrap();
        assert_eq!(keys(&out), ["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", "CC_aarch64_unknown_linux_gnu"]);
    }

    #[test]
    fn zig_wrappers_are_linker_and_compilers() {
        let out = plan_rust_env(AMD, ARM, &Toolchain::default(), Ok(&zig_wrappers(ARM)), &lookup(&[])).unwrap();
        let w = "/home/u/.cache/xtask/zig/aarch64-linux-gnu-zig";
        assert_eq!(
            out,
            vec![
                ("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER".into(), format!("{w}-cc")),
                ("CC_aarch64_unknown_linux_gnu".into(), format!("{w}-cc")),
                ("CXX_aarch64_unknown_linux_gnu".into(), format!("{w}-c++")),
                ("AR_aarch64_unknown_linux_gnu".into(), format!("{w}-ar")),
            ]
        );
        let go = plan_go_env(ARM, AMD, None, Some(&zig_wrappers(AMD)), &lookup(&[]));
        let w = "/home/u/.cache/xtask/zig/x86_64-linux-gnu-zig";
        assert!(go.contains(&("CC".into(), format!("{w}-cc"))), "{go:?}");
        assert!(go.contains(&("CXX".into(), format!("{w}-c++"))), "{go:?}");
    }

    #[test]
    fn choose_cc_each_case() {
        let zig = Some(PathBuf::from("/opt/xtask-zig/lib/ziglang/zig"));
        let no_gcc = || Err::<CrossCc, _>("aarch64-linux-gnu-gcc has no libc for linux/arm64".to_string());
        let pick = |choice, gcc, zig| choose_cc(AMD, ARM, choice, gcc, zig);
        // auto: gcc with a libc first, zig otherwise.
        assert_eq!(pick(CcChoice::Auto, Ok(gcc(ARM)), zig.clone()).unwrap(), CcPick::Gcc(gcc(ARM)));
        assert_eq!(pick(CcChoice::Auto, no_gcc(), zig.clone()).unwrap(), CcPick::Zig(zig.clone().unwrap()));
        let err = pick(CcChoice::Auto, no_gcc(), None).unwrap_err().to_string();
        assert!(err.starts_with("no C cross toolchain for linux/arm64: aarch64-linux-gnu-gcc has no libc"), "{err}");
        assert!(err.contains("zig is not found"), "{err}");
        assert!(err.contains("gcc-aarch64-linux-gnu libc6-dev-arm64-cross"), "{err}");
        assert!(err.contains("ziglang"), "{err}");
        // Forced: only that one.
        assert_eq!(pick(CcChoice::Zig, Ok(gcc(ARM)), zig.clone()).unwrap(), CcPick::Zig(zig.clone().unwrap()));
        assert!(pick(CcChoice::Zig, Ok(gcc(ARM)), None)
            .unwrap_err()
            .to_string()
            .starts_with("XTASK_CROSS_CC=zig but zig"));
        assert_eq!(pick(CcChoice::Gcc, Ok(gcc(ARM)), zig.clone()).unwrap(), CcPick::Gcc(gcc(ARM)));
        let err = pick(CcChoice::Gcc, no_gcc(), zig).unwrap_err().to_string();
        assert!(err.starts_with("XTASK_CROSS_CC=gcc but aarch64-linux-gnu-gcc has no libc"), "{err}");
        // The variable itself.
        assert_eq!(CcChoice::parse(None).unwrap(), CcChoice::Auto);
        assert_eq!(CcChoice::parse(Some("zig")).unwrap(), CcChoice::Zig);
        assert_eq!(CcChoice::parse(Some("auto")).unwrap(), CcChoice::Auto);
        let err = CcChoice::parse(Some("clang")).unwrap_err().to_string();
        assert_eq!(err, "XTASK_CROSS_CC=`clang`: expected `gcc`, `zig` or `auto`");
    }

    #[test]
    fn go_env_each_pair() {
        let lib = Path::new("/w/target/release");
        for p in Platform::ALL {
            let out = plan_go_env(p, p, Some(lib), None, &lookup(&[]));
            assert_eq!(
                out,
                vec![
                    ("CGO_ENABLED".into(), "1".into()),
                    ("GOOS".into(), "linux".into()),
                    ("GOARCH".into(), p.goarch().into()),
                    ("CGO_LDFLAGS".into(), "-L/w/target/release".into()),
                ]
            );
        }
        let out = plan_go_env(AMD, ARM, Some(lib), Some(&gcc(ARM)), &lookup(&[]));
        assert_eq!(
            out,
            vec![
                ("CGO_ENABLED".into(), "1".into()),
                ("GOOS".into(), "linux".into()),
                ("GOARCH".into(), "arm64".into()),
                ("CC".into(), "aarch64-linux-gnu-gcc".into()),
                ("CXX".into(), "aarch64-linux-gnu-g++".into()),
                ("CGO_LDFLAGS".into(), "-L/w/target/release".into()),
            ]
        );
        let out =
            plan_go_env(ARM, AMD, Some(lib), Some(&gcc(AMD)), &lookup(&[("CC", "zig cc"), ("CGO_LDFLAGS", "-s")]));
        assert_eq!(
            out,
            vec![
                ("CGO_ENABLED".into(), "1".into()),
                ("GOOS".into(), "linux".into()),
                ("GOARCH".into(), "amd64".into()),
                ("CXX".into(), "x86_64-linux-gnu-g++".into()),
                ("CGO_LDFLAGS".into(), "-L/w/target/release -s".into()),
            ]
        );
    }

    fn fake_sysroot(dir: &Path, triples: &[&str]) -> PathBuf {
        for t in triples {
            let lib = dir.join("lib/rustlib").join(t).join("lib");
            std::fs::create_dir_all(&lib).unwrap();
            std::fs::write(lib.join("libstd-0123abcd.rlib"), b"").unwrap();
        }
        dir.to_path_buf()
    }

    #[test]
    fn std_probe_looks_at_files() {
        let tmp = tempfile::tempdir().unwrap();
        let root = fake_sysroot(tmp.path(), &["aarch64-unknown-linux-gnu"]);
        assert!(has_std(&root, "aarch64-unknown-linux-gnu"));
        assert!(!has_std(&root, "x86_64-unknown-linux-gnu"));
        // A directory without the rlib (e.g. only rust-src) does not count.
        std::fs::create_dir_all(root.join("lib/rustlib/x86_64-unknown-linux-gnu/lib")).unwrap();
        assert!(!has_std(&root, "x86_64-unknown-linux-gnu"));
    }

    #[test]
    fn choose_std_each_case() {
        let tmp = tempfile::tempdir().unwrap();
        let rustup = fake_sysroot(&tmp.path().join("rustup"), &["x86_64-unknown-linux-gnu"]);
        let rustup_both =
            fake_sysroot(&tmp.path().join("rustup2"), &["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]);
        let distro = fake_sysroot(&tmp.path().join("usr"), &["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]);
        let distro_target_only = fake_sysroot(&tmp.path().join("usr2"), &["aarch64-unknown-linux-gnu"]);
        let rustc = Path::new("/usr/bin/rustc");

        // Host: always fine, nothing probed.
        let c = StdCandidates::default();
        assert_eq!(choose_std(AMD, AMD, c, &has_std).unwrap(), Toolchain::default());

        // (a) the current toolchain has the target.
        let c = StdCandidates { current_sysroot: Some(&rustup_both), distro: Some((rustc, &distro)), ..c };
        assert_eq!(choose_std(AMD, ARM, c, &has_std).unwrap(), Toolchain::default());

        // (b) only the distro compiler has it.
        let c = StdCandidates { current_sysroot: Some(&rustup), distro: Some((rustc, &distro)), ..c };
        assert_eq!(choose_std(AMD, ARM, c, &has_std).unwrap().rustc.as_deref(), Some(rustc));

        // (c) neither: one error with both ways out.
        for c in [
            StdCandidates { current_sysroot: Some(&rustup), distro: None, user_rustc: None },
            StdCandidates { current_sysroot: None, distro: None, user_rustc: None },
            // distro lacks the host std needed for build scripts
            StdCandidates {
                current_sysroot: Some(&rustup),
                distro: Some((rustc, &distro_target_only)),
                user_rustc: None,
            },
        ] {
            let err = choose_std(AMD, ARM, c, &has_std).unwrap_err().to_string();
            assert!(err.contains("rustup target add aarch64-unknown-linux-gnu"), "{err}");
            assert!(
                err.contains(
                    "dpkg --add-architecture arm64 && apt-get update && apt-get install rustc-web \
                     libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
                ),
                "{err}"
            );
        }
        let arm_rustup = fake_sysroot(&tmp.path().join("rustup-arm"), &["aarch64-unknown-linux-gnu"]);
        let c = StdCandidates { current_sysroot: Some(&arm_rustup), distro: None, user_rustc: None };
        let err = choose_std(ARM, AMD, c, &has_std).unwrap_err().to_string();
        assert!(err.contains("rustup target add x86_64-unknown-linux-gnu"), "{err}");
        assert!(err.contains("libstd-rust-web-dev:amd64 gcc-x86-64-linux-gnu libc6-dev-amd64-cross"), "{err}");

        // A user-set RUSTC without the target: say so, do not silently switch.
        let c = StdCandidates {
            current_sysroot: Some(&rustup),
            distro: Some((rustc, &distro)),
            user_rustc: Some("/opt/rustc"),
        };
        let err = choose_std(AMD, ARM, c, &has_std).unwrap_err().to_string();
        assert!(err.contains("RUSTC=/opt/rustc"), "{err}");
    }
}
