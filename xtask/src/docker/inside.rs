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

use std::{fs, path::Path};

use anyhow::{bail, Context, Result};

use crate::{
    build::{Outputs, ROUTER_BIN, ROUTER_DIR},
    cross, flags,
    install::{self, Need, Rustup},
    platform::Platform,
    Ctx,
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
    let need = missing(host, target, &crate::sys::tool_exists, &probe_cc, &probe_std);
    if need.is_empty() {
        eprintln!("toolchain: everything for {target} is here");
        return Ok(());
    }
    let plan = install::fix_plan(&need, install::package_manager(), host, &Rustup::probe(), "xtask")?;
    install::run_plan(&xshell::Shell::new()?, &plan, opts.dry_run)?;
    if opts.dry_run {
        return Ok(());
    }
    let left = missing(host, target, &crate::sys::tool_exists, &probe_cc, &probe_std);
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
    fn native_needs_only_go_and_cc() {
        let all = |_: &str| true;
        assert!(missing(AMD, AMD, &all, &|| true, &|| false).is_empty());
        let no_go = |t: &str| t != "go";
        assert_eq!(missing(ARM, ARM, &no_go, &|| true, &|| false), [Need::Go]);
        let err = install::fix_plan(&[Need::Go], None, AMD, &no_rustup(), "xtask").unwrap_err().to_string();
        assert!(err.contains("neither apt-get nor dnf"), "{err}");
    }
}
