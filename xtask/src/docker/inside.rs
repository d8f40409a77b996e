//! Steps that run INSIDE the builder stages of the Dockerfiles:
//!
//! - `xtask docker toolchain [--platform P]`: install what building for P
//!   needs (Go, the C compiler, and for a foreign P the C cross toolchain and
//!   the Rust std), whatever the base image: with rustup the std comes from
//!   `rustup target add`, otherwise from apt/dnf (Debian: `libstd-rust-web-dev:<arch>`,
//!   built with `/usr/bin/rustc`). The plan and its runner are `doctor`'s.
//! - `xtask docker stage --out DIR`: the image tree `bin/extproc`,
//!   `lib/libcandle_semantic_router.so`, `config/config.json` (the router's
//!   RUNPATH is `$ORIGIN/../lib`).
//! - `xtask docker self-build --platform P --out FILE`: xtask itself for P,
//!   statically linked (glibc `crt-static`, so that it runs on any base image
//!   whatever its glibc), compiled on the build machine with [`cross`]'s
//!   environment: the dev image's xtask is cross-compiled on
//!   `$BUILDPLATFORM`, never compiled under QEMU.
//! - `xtask docker warm-lint --target-platform T --build-platform B`: what
//!   `cargo xtask lint` compiles (xtask, the workspace under clippy), built
//!   into the precommit image's cache so that a lint compiles only the
//!   repository's crates; only when T is B. Otherwise the step would compile
//!   under emulation (10-40x slower), so it says so in one line and the image
//!   goes without the warm cache.

use std::{fs, path::Path};

use anyhow::{bail, Context, Result};

use crate::{
    build::{Outputs, ROUTER_BIN, ROUTER_DIR},
    clean_stale, cross,
    ctx::Ctx,
    elf, flags,
    install::{self, Need, Rustup},
    platform::Platform,
    prereq::{Host, Prereqs},
};

/// What is missing to build for `target` on `host`, given probes.
pub fn missing(
    host: Platform,
    target: Platform,
    tool: &dyn Fn(&str) -> bool,
    has_cross_cc: &dyn Fn() -> bool,
    has_target_std: &dyn Fn() -> bool,
) -> Vec<Need> {
    let mut out = Vec::new();
    if !tool("cc") {
        out.push(Need::HostCc);
    }
    if !tool("go") {
        out.push(Need::Go);
    }
    if target != host {
        if !has_cross_cc() {
            out.push(Need::CrossCc(target));
        }
        if !has_target_std() {
            out.push(Need::TargetStd(target));
        }
    }
    out
}

pub fn toolchain(_ctx: &Ctx, opts: &flags::DockerToolchain) -> Result<()> {
    let host = Platform::host()?;
    let target = opts.platform.unwrap_or(host);
    let probe_std = || cross::target_std(&target).is_ok();
    let probe_cc = || cross::cross_cc(target).is_ok();
    // `go` counts only when it builds the router (an older one is replaced).
    let tool = |name: &str| if name == "go" { crate::prereq::go_satisfies() } else { crate::sys::tool_exists(name) };
    let need = missing(host, target, &tool, &probe_cc, &probe_std);
    if need.is_empty() {
        eprintln!("toolchain: everything for {target} is here");
        return Ok(());
    }
    let plan = install::fix_plan(&need, install::package_manager(), host, &Rustup::probe(), "xtask")?;
    install::run_plan(&xshell::Shell::new()?, &plan, opts.dry_run)?;
    if opts.dry_run {
        return Ok(());
    }
    let left = missing(host, target, &tool, &probe_cc, &probe_std);
    if !left.is_empty() {
        let what: Vec<String> = left.iter().map(|n| n.label()).collect();
        bail!("still missing after installing: {}", what.join(", "));
    }
    eprintln!("toolchain: ready for {target}");
    Ok(())
}

pub fn stage(ctx: &Ctx, opts: &flags::DockerStage) -> Result<()> {
    let ws = ctx.workspace()?;
    let platform = opts.platform.map_or_else(Platform::host, Ok)?;
    let built = Outputs::new(&ws.target_dir()?, platform, &opts.profile);
    let out = ctx.sh.current_dir().join(&opts.out);
    let config = ws.path(ROUTER_DIR).join("config/config.json");
    let copies = [
        (built.router.clone(), out.join("bin").join(ROUTER_BIN), 0o755),
        (built.shared_lib(), out.join("lib").join(built.shared_lib().file_name().unwrap()), 0o755),
        (config, out.join("config/config.json"), 0o644),
    ];
    for (from, to, mode) in copies {
        copy(&from, &to, mode)?;
        eprintln!("stage: {} -> {}", from.display(), to.display());
    }
    Ok(())
}

/// The cargo command and environment of `docker self-build` for `target`,
/// given `cross`'s environment for it (empty for the host). The target is
/// always explicit, so that `crt-static` applies to xtask and not to build
/// scripts and proc macros (which run on the host).
pub fn self_build_plan(target: Platform, cross_env: Vec<(String, String)>) -> (Vec<String>, Vec<(String, String)>) {
    let triple = target.rust_triple();
    let upper = triple.replace('-', "_").to_ascii_uppercase();
    let argv = ["cargo", "build", "--locked", "--package", "xtask", "--target", triple];
    let mut env = cross_env;
    env.push((format!("CARGO_TARGET_{upper}_RUSTFLAGS"), "-C target-feature=+crt-static".into()));
    // It only orchestrates: the dev profile without debug info is enough.
    env.push(("CARGO_PROFILE_DEV_DEBUG".into(), "0".into()));
    (argv.iter().map(|s| s.to_string()).collect(), env)
}

pub fn self_build(ctx: &Ctx, opts: &flags::DockerSelfBuild) -> Result<()> {
    let ws = ctx.workspace()?;
    let target = opts.platform.map_or_else(Platform::host, Ok)?;
    let needs = if target.is_host() { Vec::new() } else { vec![Need::TargetStd(target), Need::CrossCc(target)] };
    let prereqs = Prereqs::present(&mut Host::new(ctx)?, &needs)?;
    let (argv, env) = self_build_plan(target, prereqs.rust_env(target)?);
    let shown: Vec<String> = env.iter().map(|(k, v)| crate::sys::quote(&format!("{k}={v}"))).collect();
    eprintln!("self-build: {} {}", shown.join(" "), argv.join(" "));
    let (prog, args) = argv.split_first().context("empty argv")?;
    ctx.sh.cmd(prog).args(args).envs(env).run().with_context(|| format!("building xtask for {target} failed"))?;
    let built = ws.target_dir()?.join(target.rust_triple()).join("debug/xtask");
    check_static(&built, target)?;
    copy(&built, &ctx.sh.current_dir().join(&opts.out), 0o755)?;
    eprintln!("self-build: xtask for {target}, static -> {}", opts.out.display());
    Ok(())
}

/// The binary is for `target` and needs no loader and no shared library.
pub fn check_static(path: &Path, target: Platform) -> Result<()> {
    let info = elf::read_elf(path)?;
    if info.ident.machine != target.elf_machine() {
        bail!("{} is for {}, not {target}", path.display(), elf::machine_name(info.ident.machine));
    }
    if info.interpreter.is_some() || !info.needed.is_empty() {
        bail!(
            "{} is dynamically linked (interpreter {:?}, needs {:?}): is RUSTFLAGS set? it overrides \
             CARGO_TARGET_<TRIPLE>_RUSTFLAGS; unset it",
            path.display(),
            info.interpreter,
            info.needed
        );
    }
    Ok(())
}

/// What `docker warm-lint` does when the image's platform is `target` and
/// the build runs on `build`: the cargo commands, or why it compiles nothing.
pub fn warm_lint_plan(target: Platform, build: Platform) -> std::result::Result<Vec<Vec<String>>, String> {
    if target != build {
        return Err(format!(
            "warm-lint: skipped: {target} is built on {build}, so cargo would run under emulation (10-40x slower); \
             the image has no warm cache and its first `cargo xtask lint` compiles the dependencies"
        ));
    }
    let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Ok(vec![
        argv(&["cargo", "build", "--locked", "--package", "xtask"]),
        argv(&["cargo", "clippy", "--locked", "--workspace", "--all-targets"]),
    ])
}

pub fn warm_lint(ctx: &Ctx, opts: &flags::DockerWarmLint) -> Result<()> {
    let host = Platform::host()?;
    if host != opts.target_platform {
        bail!(
            "warm-lint runs on {host}, but --target-platform is {}: pass `--target-platform $TARGETPLATFORM` \
             in a stage of the target platform",
            opts.target_platform
        );
    }
    let steps = match warm_lint_plan(opts.target_platform, opts.build_platform) {
        Ok(steps) => steps,
        Err(skipped) => {
            println!("{skipped}");
            return Ok(());
        }
    };
    for argv in steps {
        let (prog, args) = argv.split_first().context("empty argv")?;
        ctx.sh.cmd(prog).args(args).run().with_context(|| argv.join(" "))?;
    }
    // Keep the dependencies, drop the workspace's own crates (they change).
    let removed = clean_stale::clean_workspace_artifacts(ctx.workspace()?, &clean_stale::Scope::all())?;
    clean_stale::print_report(&removed, false, true);
    Ok(())
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !from.is_file() {
        bail!("{} was not built", from.display());
    }
    let dir = to.parent().context("no parent")?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    fs::copy(from, to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::PkgManager;

    const AMD: Platform = Platform::AMD64;
    const ARM: Platform = Platform::ARM64;

    fn no_rustup() -> Rustup {
        Rustup { present: false, path: "/root/.cargo/bin/rustup".into() }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn debian_base_cross_to_arm64() {
        let none = |_: &str| false;
        let need = missing(AMD, ARM, &none, &|| false, &|| false);
        assert_eq!(need, [Need::HostCc, Need::Go, Need::CrossCc(ARM), Need::TargetStd(ARM)]);
        let plan = install::fix_plan(&need, Some(PkgManager::Apt), AMD, &no_rustup(), "xtask").unwrap();
        assert_eq!(plan[0], s(&["dpkg", "--add-architecture", "arm64"]));
        assert_eq!(plan[1], s(&["apt-get", "update"]));
        let install = plan[2].join(" ");
        for pkg in ["gcc", "libc6-dev", "golang-go", "gcc-aarch64-linux-gnu", "libstd-rust-web-dev:arm64", "rustc-web"]
        {
            assert!(install.split(' ').any(|w| w == pkg), "{pkg} in {install}");
        }
    }

    #[test]
    fn rust_image_uses_rustup_for_the_std() {
        let has = |t: &str| t == "cc";
        let need = missing(AMD, ARM, &has, &|| false, &|| false);
        let plan = install::fix_plan(
            &need,
            Some(PkgManager::Apt),
            AMD,
            &Rustup { present: true, path: "rustup".into() },
            "xtask",
        )
        .unwrap();
        assert_eq!(plan.last().unwrap(), &s(&["rustup", "target", "add", "aarch64-unknown-linux-gnu"]));
        assert!(!plan.iter().flatten().any(|w| w.contains("libstd-rust")));
        assert!(plan.iter().flatten().any(|w| w == "golang-go"));
    }

    #[test]
    fn self_build_is_static_for_the_explicit_target() {
        let cross = vec![("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER".into(), "aarch64-linux-gnu-gcc".into())];
        let (argv, env) = self_build_plan(ARM, cross);
        assert_eq!(
            argv,
            s(&["cargo", "build", "--locked", "--package", "xtask", "--target", "aarch64-unknown-linux-gnu"])
        );
        let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            env,
            [
                "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc",
                "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS=-C target-feature=+crt-static",
                "CARGO_PROFILE_DEV_DEBUG=0",
            ]
        );
        let (argv, env) = self_build_plan(AMD, Vec::new());
        assert_eq!(argv.last().unwrap(), "x86_64-unknown-linux-gnu");
        assert_eq!(env[0].0, "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS");
    }

    #[test]
    fn warm_lint_compiles_only_natively() {
        let native = warm_lint_plan(ARM, ARM).unwrap();
        assert_eq!(native[1], s(&["cargo", "clippy", "--locked", "--workspace", "--all-targets"]));
        assert_eq!(warm_lint_plan(AMD, AMD).unwrap(), native);
        let skipped = warm_lint_plan(ARM, AMD).unwrap_err();
        assert!(skipped.starts_with("warm-lint: skipped: linux/arm64 is built on linux/amd64"), "{skipped}");
        assert_eq!(skipped.lines().count(), 1);
    }

    #[test]
    fn native_needs_only_go_and_cc() {
        let all = |_: &str| true;
        assert!(missing(AMD, AMD, &all, &|| true, &|| false).is_empty());
        let no_go = |t: &str| t != "go";
        assert_eq!(missing(ARM, ARM, &no_go, &|| true, &|| false), [Need::Go]);
        let err = install::fix_plan(&[Need::Go], None, AMD, &no_rustup(), "xtask").unwrap_err().to_string();
        assert!(err.contains("neither apt-get nor dnf"), "{err}");
    }
}
