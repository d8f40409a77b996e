//! `cargo xtask precache`: dependency pre-caching for Docker layers.
//!
//! - `prepare` writes a [`skeleton::Skeleton`] of the workspace: manifests
//!   normalised so that they change only when dependencies do, the lock file
//!   with local versions masked, cargo config and toolchain files, and a dummy
//!   source for every target but self-contained build scripts (kept real, see
//!   `skeleton::Skeleton::build_scripts`);
//! - `cook` builds the skeleton's dependencies and then removes every local
//!   crate's artifacts (see `clean_stale`), so that the real sources, whatever
//!   their mtimes, are always compiled; only the binaries of real build
//!   scripts survive, recorded so that `clean-stale` can prove them unchanged
//!   (`clean_stale::keep`).

pub mod cook;
pub mod lock;
pub mod manifest;
pub mod package;
pub mod skeleton;

use std::{fs, io::ErrorKind};

use anyhow::{bail, Context, Result};

use crate::{ctx::Ctx, flags, platform::Platform};
use skeleton::Skeleton;

impl flags::Precache {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        match self.cmd {
            flags::PrecacheCmd::Prepare(cmd) => cmd.run(ctx),
            flags::PrecacheCmd::Cook(cmd) => cmd.run(ctx),
            flags::PrecacheCmd::Go(cmd) => cmd.run(ctx),
        }
    }
}

impl flags::PrecacheGo {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let dir = match self.dir {
            Some(dir) => ctx.sh.current_dir().join(dir),
            None => ctx.workspace()?.path(crate::build::ROUTER_DIR),
        };
        if self.compile.is_none() && (self.profile.release || self.profile.profile.is_some()) {
            bail!(
                "precache go: --release and --profile choose the library that `--compile` links against; \
                 without --compile they change nothing: drop them, or add --compile FILE"
            );
        }
        if self.list_deps.is_none() && self.compile.is_none() {
            crate::gomod::download(&ctx.sh, &dir)?;
            crate::gomod::verify(&ctx.sh, &dir)?;
            eprintln!("precache go: the modules of {} are in the module cache, verified", dir.display());
            return Ok(());
        }
        // Exactly what `xtask build` gives `go build`: with other cgo flags,
        // `net` and everything importing it would be compiled again.
        let platform = self.platform.map_or_else(Platform::host, Ok)?;
        let mut needs = vec![crate::prereq::Need::Go];
        if !platform.is_host() {
            needs.push(crate::prereq::Need::CrossCc(platform));
        }
        let prereqs = crate::prereq::ensure(ctx, &needs)?;
        let cwd = ctx.sh.current_dir();
        if let Some(file) = self.list_deps {
            // The platform chooses the files, and so the imports.
            let env = prereqs.go_env(platform, None);
            let deps = crate::gomod::external_deps(&ctx.sh, &dir, crate::build::ROUTER_MAIN, &env)?;
            let file = cwd.join(file);
            fs::write(&file, deps.iter().map(|d| format!("{d}\n")).collect::<String>())
                .with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!("precache go: {} packages of other modules, listed in {}", deps.len(), file.display());
        } else if let Some(file) = self.compile {
            let file = cwd.join(file);
            let text = fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let pkgs = crate::gomod::parse_deps(&text).with_context(|| file.display().to_string())?;
            let out = crate::build::Outputs::new(&ctx.workspace()?.target_dir()?, platform, &self.profile);
            crate::gomod::compile(&ctx.sh, &dir, &pkgs, &crate::build::router_env(&prereqs, &out))?;
            eprintln!("precache go: compiled {} packages for {platform} into the build cache", pkgs.len());
        }
        Ok(())
    }
}

impl flags::PrecachePrepare {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let ws = ctx.workspace()?;
        let sk = prepare(&ws.local_metadata()?, !self.no_dev_targets, !self.dummy_build_scripts)?;
        let cwd = ctx.sh.current_dir();
        if let Some(out) = &self.out {
            let out = cwd.join(out);
            sk.write_dir(&out)?;
            eprintln!("prepare: wrote {} files to {}", sk.files.len(), out.display());
        }
        if let Some(recipe) = &self.recipe {
            let recipe = cwd.join(recipe);
            if let Some(parent) = recipe.parent() {
                fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            }
            fs::write(&recipe, sk.to_recipe()).with_context(|| format!("cannot write {}", recipe.display()))?;
            eprintln!("prepare: wrote recipe ({} files) to {}", sk.files.len(), recipe.display());
        }
        Ok(())
    }
}

/// The skeleton of the workspace described by `meta` (with or without the
/// examples, tests and benches; with or without real build scripts).
pub fn prepare(meta: &cargo_metadata::Metadata, dev_targets: bool, build_scripts: bool) -> Result<Skeleton> {
    let root = meta.workspace_root.as_std_path();
    let mut packages = Skeleton::local_packages(meta)?;
    if !dev_targets {
        skeleton::drop_dev_targets(&mut packages);
    }
    Skeleton::build(&packages, build_scripts, |rel| {
        let path = root.join(rel);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    })
}
