//! `cargo xtask bench precache` compares, on a snapshot of this workspace:
//! - a cold release build of candle-binding (fresh target directory), with
//! - the Docker flow after an application-source change: the cooked layer is
//!   cached, so the rebuild is prepare → copy sources → clean-stale → build;
//! - and, when `cargo-chef` is on PATH, cargo-chef's cook and rebuild.
//!
//! Each cached rebuild's library must export the same symbols as the cold
//! build's; a mismatch is reported (that is the stale-artifact bug).

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::{
    clean_stale::{clean_workspace_artifacts, Scope},
    metrics::{human, Metrics},
    precache::{self, cook::CookPlan},
    workspace::{cargo, Workspace},
    Ctx,
};

use crate::build::PACKAGE;
const LIB: &str = "libcandle_semantic_router.so";
/// The ratio the cache must reach.
const GOAL: f64 = 8.0;

pub fn run(ctx: &Ctx) -> Result<()> {
    let sh = &ctx.sh;
    let ws = ctx.workspace()?;
    let base = ws.target_dir()?.join("xtask-bench-precache");
    if base.exists() {
        fs::remove_dir_all(&base).with_context(|| format!("cannot remove {}", base.display()))?;
    }
    let (snapshot, app, chef_app) = (base.join("src"), base.join("app"), base.join("chef-app"));
    let mut m = Metrics::default();

    m.step("snapshot the workspace sources", || copy_sources(&ws.root, &snapshot))?;
    let src = Workspace::locate(sh, Some(&snapshot.join("Cargo.toml")))?;
    if !src.metadata()?.workspace_packages().iter().any(|p| p.name.as_str() == PACKAGE) {
        bail!("package {PACKAGE} is not in the workspace at {}", ws.root.display());
    }
    let build = |dir: &Path, target: &Path| -> Result<()> {
        let cargo = cargo();
        let _d = sh.push_dir(dir);
        // The same environment as `xtask build`, which the cook shares.
        let ws = Workspace::locate(sh, Some(&dir.join("Cargo.toml")))?;
        cmd!(sh, "{cargo} build --release --locked -p {PACKAGE}")
            .env("CARGO_TARGET_DIR", target)
            .envs(crate::build::cargo_env(&ws, crate::platform::Platform::host()?)?)
            .run()
            .with_context(|| format!("cargo build in {} failed", dir.display()))
    };

    // 1. Cold.
    let cold_target = base.join("cold-target");
    m.step("cold build (release, fresh target dir)", || build(&snapshot, &cold_target))?;
    let cold_secs = last(&m);
    let cold_exports = exports(&cold_target.join("release").join(LIB))?;

    // 2. Ours: prepare, cook (the cached layer), then the rebuild.
    let ours_target = base.join("ours-target");
    set_target_dir(&ours_target);
    let mut rebuild = 0.0;
    m.step("xtask: prepare", || {
        let sk = precache::prepare(&src.metadata()?, true)?;
        sk.write_dir(&app)
    })?;
    rebuild += last(&m);
    m.step("xtask: cook (cached layer, not in the rebuild)", || {
        let ws_app = Workspace::locate(sh, Some(&app.join("Cargo.toml")))?;
        let plan = CookPlan {
            profile_args: vec!["--release".into()],
            packages: vec![PACKAGE.into()],
            locked: true,
            ..CookPlan::default()
        };
        precache::cook::cook(sh, &ws_app, &plan, None, "release").map(drop)
    })?;
    let ours_cook = last(&m);
    m.step("xtask: copy sources + app-source change", || {
        copy_sources(&snapshot, &app)?;
        app_source_change(&app)
    })?;
    rebuild += last(&m);
    m.step("xtask: clean-stale", || {
        let ws_app = Workspace::locate(sh, Some(&app.join("Cargo.toml")))?;
        let scope = Scope::configured(&ws_app.root, &ws_app.root)?.profile(Some("release".into()));
        clean_workspace_artifacts(&ws_app, &scope).map(drop)
    })?;
    rebuild += last(&m);
    m.step("xtask: build", || build(&app, &ours_target))?;
    rebuild += last(&m);
    let ours_ok = exports(&ours_target.join("release").join(LIB))? == cold_exports;

    // 3. cargo-chef, when installed.
    let chef = match which::which("cargo-chef") {
        Ok(_) => Some(bench_chef(sh, &mut m, &snapshot, &chef_app, &base, &cold_exports, &build)?),
        Err(_) => None,
    };

    println!("\n{}", m.table());
    let ratio = cold_secs / rebuild.max(0.001);
    let verdict = if ratio >= GOAL { "goal met" } else { "goal NOT met" };
    let row = |label: &str, value: String| println!("{label:<42} {value}");
    row(&format!("cold build of {PACKAGE} (release):"), secs(cold_secs));
    row(
        "xtask precache: rebuild after a change:",
        format!("{}  (cook, once per dependency change: {})", secs(rebuild), secs(ours_cook)),
    );
    row("xtask precache: ratio cold / rebuild:", format!("{ratio:.1}x  ({verdict}: >= {GOAL}x)"));
    row("xtask precache: rebuild exports = cold:", yes_no(ours_ok).to_owned());
    match chef {
        Some(c) => {
            row("cargo-chef: rebuild after a change:", format!("{}  (cook: {})", secs(c.rebuild), secs(c.cook)));
            row("cargo-chef: ratio cold / rebuild:", format!("{:.1}x", cold_secs / c.rebuild.max(0.001)));
            row("cargo-chef: rebuild exports = cold:", yes_no(c.exports_ok).to_owned());
        }
        None => row("cargo-chef:", "not on PATH, not compared".to_owned()),
    }

    if std::env::var_os("XTASK_BENCH_KEEP").is_none() {
        fs::remove_dir_all(&base).with_context(|| format!("cannot remove {}", base.display()))?;
    } else {
        println!("kept {}", base.display());
    }
    if !ours_ok {
        bail!("the cached rebuild's library differs from the cold build's");
    }
    Ok(())
}

struct ChefFigures {
    cook: f64,
    rebuild: f64,
    exports_ok: bool,
}

fn bench_chef(
    sh: &xshell::Shell,
    m: &mut Metrics,
    snapshot: &Path,
    app: &Path,
    base: &Path,
    cold_exports: &BTreeSet<String>,
    build: &dyn Fn(&Path, &Path) -> Result<()>,
) -> Result<ChefFigures> {
    let cargo = cargo();
    let recipe = base.join("chef-recipe.json");
    let target = base.join("chef-target");
    let mut rebuild = 0.0;
    m.step("cargo-chef: prepare", || {
        let _d = sh.push_dir(snapshot);
        Ok(cmd!(sh, "{cargo} chef prepare --recipe-path {recipe}").run()?)
    })?;
    rebuild += last(m);
    m.step("cargo-chef: cook (cached layer, not in the rebuild)", || {
        fs::create_dir_all(app)?;
        let _d = sh.push_dir(app);
        Ok(cmd!(sh, "{cargo} chef cook --release --locked -p {PACKAGE} --recipe-path {recipe}")
            .env("CARGO_TARGET_DIR", &target)
            .run()?)
    })?;
    let cook = last(m);
    m.step("cargo-chef: copy sources + app-source change", || {
        copy_sources(snapshot, app)?;
        app_source_change(app)
    })?;
    rebuild += last(m);
    m.step("cargo-chef: build", || build(app, &target))?;
    rebuild += last(m);
    let exports_ok = exports(&target.join("release").join(LIB))? == *cold_exports;
    Ok(ChefFigures { cook, rebuild, exports_ok })
}

fn last(m: &Metrics) -> f64 {
    m.steps.last().map_or(0.0, |s| s.seconds)
}

fn secs(s: f64) -> String {
    human(Duration::from_secs_f64(s))
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "NO (stale artifacts shipped)"
    }
}

/// `cargo metadata` (spawned with the process environment) must see the
/// same target directory as the builds.
fn set_target_dir(dir: &Path) {
    std::env::set_var("CARGO_TARGET_DIR", dir);
}

/// A change of application source: what a developer commits between builds.
fn app_source_change(app: &Path) -> Result<()> {
    let lib = app.join("candle-binding/src/lib.rs");
    let mut text = fs::read_to_string(&lib).with_context(|| format!("cannot read {}", lib.display()))?;
    text.push_str("\n// bench precache: an application-source change\n");
    fs::write(&lib, text).with_context(|| format!("cannot write {}", lib.display()))
}

/// Directories never copied: VCS data, build output, downloaded models.
fn skipped(rel: &Path) -> bool {
    let top = ["models", "dist", ".cache"];
    rel.components().any(|c| matches!(c.as_os_str().to_str(), Some(".git" | "target")))
        || (rel.components().count() == 1 && top.iter().any(|t| rel == Path::new(t)))
}

/// Copy a source tree as Docker's `COPY` does: contents and mtimes.
fn copy_sources(from: &Path, to: &Path) -> Result<()> {
    fn walk(root: &Path, dir: &Path, to: &Path) -> Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let rel: PathBuf = path.strip_prefix(root)?.to_path_buf();
            if skipped(&rel) {
                continue;
            }
            let ty = entry.file_type()?;
            let dst = to.join(&rel);
            if ty.is_dir() {
                fs::create_dir_all(&dst)?;
                walk(root, &path, to)?;
            } else if ty.is_file() {
                fs::copy(&path, &dst)
                    .with_context(|| format!("cannot copy {} to {}", path.display(), dst.display()))?;
                let mtime = entry.metadata()?.modified()?;
                fs::File::options().write(true).open(&dst)?.set_modified(mtime)?;
            }
        }
        Ok(())
    }
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    walk(from, from, to)
}

/// Defined, global, exported functions of a shared object.
fn exports(so: &Path) -> Result<BTreeSet<String>> {
    use goblin::elf::{section_header::SHN_UNDEF, sym::STB_GLOBAL, sym::STT_FUNC};
    let bytes = fs::read(so).with_context(|| format!("cannot read {}", so.display()))?;
    let elf = goblin::elf::Elf::parse(&bytes).with_context(|| format!("{} is not ELF", so.display()))?;
    Ok(elf
        .dynsyms
        .iter()
        .filter(|s| s.st_bind() == STB_GLOBAL && s.st_type() == STT_FUNC && s.st_shndx != SHN_UNDEF as usize)
        .filter_map(|s| elf.dynstrtab.get_at(s.st_name).map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_directories() {
        for p in [".git", "target", "candle-binding/target", "models", "dist", ".cache", "a/.git/x"] {
            assert!(skipped(Path::new(p)), "{p}");
        }
        for p in ["candle-binding", "src/models", "xtask/src/dist.rs", "targets"] {
            assert!(!skipped(Path::new(p)), "{p}");
        }
    }
}
