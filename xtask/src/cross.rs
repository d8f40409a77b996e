//! Cross-compilation environment for cargo and Go.
//!
//! Nothing here matters when the target is the host: [`rust_env`] is then
//! empty and [`go_env`] only pins `CGO_ENABLED/GOOS/GOARCH` and the library
//! search path.
//!
//! For a foreign target we need two things:
//! - a Rust standard library for the target triple ([`target_std`]): either the
//!   current toolchain has it (`rustup target add <triple>`), or the distro
//!   compiler `/usr/bin/rustc` does (Debian: `rustc-web` + `libstd-rust-web-dev:<arch>`),
//!   in which case cargo is told `RUSTC=/usr/bin/rustc`. Both are checked by
//!   looking for the `libstd-*.rlib` files, not by package names;
//! - a GNU C cross toolchain (`<prefix>gcc`) used as linker and by the `cc`
//!   crate.
//!
//! Variables the user already set (non-empty) in the process environment win:
//! they are left out of the returned lists so that the caller's environment
//! passes through unchanged. For the `cc` crate a target-specific value in any
//! of its spellings (`CC_<triple>`, `CC_<triple_with_underscores>`, `TARGET_CC`)
//! counts as set; a plain `CC` does not (it usually names the host compiler).
//!
//! The core ([`plan_rust_env`], [`plan_go_env`], [`choose_std`]) is pure: it
//! takes the host, the target, an environment lookup and a tool probe, so that
//! every (host, target) pair is unit-tested.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::{doctor, platform::Platform};

/// Where the Rust standard library for a target comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Toolchain {
    /// `Some(/usr/bin/rustc)` when the distro compiler must be used via `RUSTC`;
    /// `None` when the current `rustc` already has the target's std.
    pub rustc: Option<PathBuf>,
}

/// The distro compiler tried when the current toolchain lacks the target's std.
pub const DISTRO_RUSTC: &str = "/usr/bin/rustc";

/// Environment for cargo to build for `target` (empty for the host).
pub fn rust_env(target: &Platform) -> Result<Vec<(String, String)>> {
    let host = Platform::host()?;
    if *target == host {
        return Ok(Vec::new());
    }
    let toolchain = target_std(target)?;
    plan_rust_env(host, *target, &toolchain, &process_env, &tool_exists)
}

/// Environment for `go build` of the cgo router for `target`, linking against
/// the library in `lib_dir`.
pub fn go_env(target: &Platform, lib_dir: &Path) -> Vec<(String, String)> {
    let host = Platform::host().unwrap_or(*target);
    plan_go_env(host, *target, lib_dir, &process_env)
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
    bail!(
        "no Rust standard library for {triple}: install it with `rustup target add {triple}`, \
         or on Debian/Ubuntu with `{}` (xtask then builds with {DISTRO_RUSTC})",
        doctor::debian_cross_rust_command(host, target)
    )
}

/// Pure core of [`rust_env`].
pub fn plan_rust_env(
    host: Platform,
    target: Platform,
    toolchain: &Toolchain,
    env: &dyn Fn(&str) -> Option<String>,
    tool_exists: &dyn Fn(&str) -> bool,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    if target == host {
        return Ok(out);
    }
    let triple = target.rust_triple();
    let under = triple.replace('-', "_");
    let upper = under.to_ascii_uppercase();
    let prefix = target.gnu_prefix();
    let gcc = format!("{prefix}gcc");
    let gxx = format!("{prefix}g++");
    let ar = format!("{prefix}ar");

    let is_set = |names: &[String]| names.iter().any(|n| env(n).is_some());
    let cc_names = |tool: &str| vec![format!("{tool}_{triple}"), format!("{tool}_{under}"), format!("TARGET_{tool}")];

    let linker_var = format!("CARGO_TARGET_{upper}_LINKER");
    let want_linker = !is_set(std::slice::from_ref(&linker_var));
    let want_cc = !is_set(&cc_names("CC"));
    if (want_linker || want_cc) && !tool_exists(&gcc) {
        bail!(
            "the C cross compiler {gcc} for {target} is missing: install {}",
            doctor::install_hint(&doctor::Need::CrossCc(target), host)
        );
    }
    if want_linker {
        out.push((linker_var, gcc.clone()));
    }
    if want_cc {
        out.push((format!("CC_{under}"), gcc));
    }
    // g++ and ar come with the gcc cross packages on Debian; set them when present
    // (the cc crate only needs them for C++ sources and static archives).
    if !is_set(&cc_names("CXX")) && tool_exists(&gxx) {
        out.push((format!("CXX_{under}"), gxx));
    }
    if !is_set(&cc_names("AR")) && tool_exists(&ar) {
        out.push((format!("AR_{under}"), ar));
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
    lib_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut out = vec![
        ("CGO_ENABLED".to_string(), "1".to_string()),
        ("GOOS".to_string(), target.goos().to_string()),
        ("GOARCH".to_string(), target.goarch().to_string()),
    ];
    if target != host {
        let prefix = target.gnu_prefix();
        if env("CC").is_none() {
            out.push(("CC".into(), format!("{prefix}gcc")));
        }
        if env("CXX").is_none() {
            out.push(("CXX".into(), format!("{prefix}g++")));
        }
    }
    let ldflags = match env("CGO_LDFLAGS") {
        Some(user) => format!("-L{} {user}", lib_dir.display()),
        None => format!("-L{}", lib_dir.display()),
    };
    out.push(("CGO_LDFLAGS".into(), ldflags));
    out
}

/// A non-empty variable of the process environment.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Whether `tool` resolves to an executable (a name on PATH, or a path).
pub fn tool_exists(tool: &str) -> bool {
    which::which(tool).is_ok()
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

    fn all_tools(_: &str) -> bool {
        true
    }

    fn keys(env: &[(String, String)]) -> Vec<&str> {
        env.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn host_to_host_is_empty() {
        for p in Platform::ALL {
            let env = plan_rust_env(p, p, &Toolchain::default(), &lookup(&[]), &all_tools).unwrap();
            assert!(env.is_empty());
        }
    }

    #[test]
    fn amd64_to_arm64() {
        let env = plan_rust_env(AMD, ARM, &Toolchain::default(), &lookup(&[]), &all_tools).unwrap();
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
    fn arm64_to_amd64_with_distro_rustc() {
        let tc = Toolchain { rustc: Some("/usr/bin/rustc".into()) };
        let env = plan_rust_env(ARM, AMD, &tc, &lookup(&[]), &all_tools).unwrap();
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
        let out = plan_rust_env(AMD, ARM, &tc, &env, &all_tools).unwrap();
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
            let out = plan_rust_env(AMD, ARM, &tc, &lookup(&[(name, "x")]), &all_tools).unwrap();
            assert!(!keys(&out).contains(&"CC_aarch64_unknown_linux_gnu"), "{name}");
        }
        let env = lookup(&[
            ("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", "x"),
            ("TARGET_CXX", "x"),
            ("AR_aarch64_unknown_linux_gnu", "x"),
        ]);
        let out = plan_rust_env(AMD, ARM, &Toolchain::default(), &env, &all_tools).unwrap();
        assert_eq!(keys(&out), ["CC_aarch64_unknown_linux_gnu"]);
    }

    #[test]
    fn missing_cross_gcc_names_the_package() {
        let no_gcc = |t: &str| !t.ends_with("gcc");
        let err = plan_rust_env(AMD, ARM, &Toolchain::default(), &lookup(&[]), &no_gcc).unwrap_err().to_string();
        assert!(err.contains("aarch64-linux-gnu-gcc"), "{err}");
        assert!(err.contains("gcc-aarch64-linux-gnu"), "{err}");
        assert!(err.contains("dnf"), "{err}");
        let err = plan_rust_env(ARM, AMD, &Toolchain::default(), &lookup(&[]), &no_gcc).unwrap_err().to_string();
        assert!(err.contains("gcc-x86-64-linux-gnu"), "{err}");

        // With linker and CC both given by the user, gcc is not needed.
        let env = lookup(&[("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", "clang"), ("TARGET_CC", "clang")]);
        let none = |_: &str| false;
        assert!(plan_rust_env(AMD, ARM, &Toolchain::default(), &env, &none).unwrap().is_empty());
    }

    #[test]
    fn optional_tools_are_skipped_when_absent() {
        let only_gcc = |t: &str| t.ends_with("gcc");
        let out = plan_rust_env(AMD, ARM, &Toolchain::default(), &lookup(&[]), &only_gcc).unwrap();
        assert_eq!(keys(&out), ["CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", "CC_aarch64_unknown_linux_gnu"]);
    }

    #[test]
    fn go_env_each_pair() {
        let lib = Path::new("/w/target/release");
        for p in Platform::ALL {
            let out = plan_go_env(p, p, lib, &lookup(&[]));
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
        let out = plan_go_env(AMD, ARM, lib, &lookup(&[]));
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
        let out = plan_go_env(ARM, AMD, lib, &lookup(&[("CC", "zig cc"), ("CGO_LDFLAGS", "-s")]));
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
