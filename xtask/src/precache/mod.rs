//! `cargo xtask precache`: dependency pre-caching for Docker layers.
//!
//! - `prepare` writes a [`skeleton::Skeleton`] of the workspace: manifests
//!   normalised so that they change only when dependencies do, the lock file
//!   with local versions masked, cargo config and toolchain files, and a dummy
//!   source for every target;
//! - `cook` builds the skeleton's dependencies and then removes every local
//!   crate's artifacts (see `clean_stale`), so that the real sources, whatever
//!   their mtimes, are always compiled.

pub mod cook;
pub mod lock;
pub mod manifest;
pub mod skeleton;

use std::{fs, io::ErrorKind};

use anyhow::{Context, Result};

use crate::{flags, Ctx};
use skeleton::Skeleton;

impl flags::Precache {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        match self.cmd {
            flags::PrecacheCmd::Prepare(cmd) => cmd.run(ctx),
            flags::PrecacheCmd::Cook(cmd) => cmd.run(ctx),
        }
    }
}

impl flags::PrecachePrepare {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let ws = ctx.workspace()?;
        let sk = prepare(&ws.metadata()?)?;
        let cwd = ctx.sh.current_dir();
        if let Some(out) = &self.out {
            let out = cwd.join(out);
            sk.write_dir(&out)?;
            eprintln!("prepare: wrote {} files to {}", sk.files.len(), out.display());
        }
        if let Some(recipe) = &self.recipe {
            let recipe = cwd.join(recipe);
            if let Some(parent) = recipe.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            fs::write(&recipe, sk.to_recipe())
                .with_context(|| format!("cannot write {}", recipe.display()))?;
            eprintln!("prepare: wrote recipe ({} files) to {}", sk.files.len(), recipe.display());
        }
        Ok(())
    }
}

/// The skeleton of the workspace described by `meta`.
pub fn prepare(meta: &cargo_metadata::Metadata) -> Result<Skeleton> {
    let root = meta.workspace_root.as_std_path();
    let packages = Skeleton::local_packages(meta)?;
    Skeleton::build(&packages, |rel| {
        let path = root.join(rel);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    })
}
