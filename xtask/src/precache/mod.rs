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
pub mod package;
pub mod skeleton;

use std::{fs, io::ErrorKind};

use anyhow::{Context, Result};

use crate::{flags, workspace::Workspace, Ctx};
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
        let sk = prepare(&skeleton_metadata(ws)?, !self.no_dev_targets)?;
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

/// Metadata enough for the skeleton: `--no-deps` (no download, no resolution:
/// the planner stage of a Dockerfile runs it on every source change) unless a
/// path dependency lies outside the workspace members, or `[patch]`/`[replace]`
/// exist: then only the full metadata knows every local package.
pub fn skeleton_metadata(ws: &Workspace) -> Result<cargo_metadata::Metadata> {
    let shallow = cargo_metadata::MetadataCommand::new()
        .manifest_path(&ws.manifest)
        .no_deps()
        .exec()
        .with_context(|| format!("cargo metadata failed for {}", ws.manifest.display()))?;
    let root = fs::read_to_string(&ws.manifest).with_context(|| format!("cannot read {}", ws.manifest.display()))?;
    if needs_full_metadata(&shallow, &root) {
        ws.metadata()
    } else {
        Ok(shallow)
    }
}

fn needs_full_metadata(shallow: &cargo_metadata::Metadata, root_manifest: &str) -> bool {
    let member_dirs: Vec<&cargo_metadata::camino::Utf8Path> =
        shallow.packages.iter().filter_map(|p| p.manifest_path.parent()).collect();
    let outside = shallow
        .packages
        .iter()
        .flat_map(|p| &p.dependencies)
        .filter_map(|d| d.path.as_deref())
        .any(|path| !member_dirs.contains(&path));
    let patched = root_manifest
        .parse::<toml_edit::DocumentMut>()
        .map_or(true, |doc| doc.contains_key("patch") || doc.contains_key("replace"));
    outside || patched
}

/// The skeleton of the workspace described by `meta` (with or without the
/// examples, tests and benches).
pub fn prepare(meta: &cargo_metadata::Metadata, dev_targets: bool) -> Result<Skeleton> {
    let root = meta.workspace_root.as_std_path();
    let mut packages = Skeleton::local_packages(meta)?;
    if !dev_targets {
        skeleton::drop_dev_targets(&mut packages);
    }
    Skeleton::build(&packages, |rel| {
        let path = root.join(rel);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    })
}
