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

use std::{
    fs,
    io::ErrorKind,
    path::{Component, Path, PathBuf},
};

use anyhow::{Context, Result};

use crate::{flags, workspace::Workspace, Ctx};
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
        crate::gomod::download(&ctx.sh, &dir)?;
        crate::gomod::verify(&ctx.sh, &dir)?;
        eprintln!("precache go: the modules of {} are in the module cache, verified", dir.display());
        Ok(())
    }
}

impl flags::PrecachePrepare {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let ws = ctx.workspace()?;
        let sk = prepare(&skeleton_metadata(ws)?, !self.no_dev_targets, !self.dummy_build_scripts)?;
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

/// Metadata enough for the skeleton (and for `clean-stale`): `--no-deps` (no
/// download, no resolution: the planner stage of a Dockerfile runs it on
/// every source change) unless a path dependency, `[patch]` or `[replace]`
/// points outside the workspace members: then only the full metadata knows
/// every local package.
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
    let member_dirs: Vec<PathBuf> =
        shallow.packages.iter().filter_map(|p| p.manifest_path.parent()).map(|d| lexical(d.as_std_path())).collect();
    let outside = |path: &Path| !member_dirs.contains(&lexical(path));
    let dep_outside = shallow
        .packages
        .iter()
        .flat_map(|p| &p.dependencies)
        .filter_map(|d| d.path.as_deref())
        .any(|path| outside(path.as_std_path()));
    let Ok(doc) = root_manifest.parse::<toml_edit::DocumentMut>() else { return true };
    let root = shallow.workspace_root.as_std_path();
    let mut tables: Vec<&dyn toml_edit::TableLike> = Vec::new();
    if let Some(patch) = doc.get("patch").and_then(toml_edit::Item::as_table_like) {
        tables.extend(patch.iter().filter_map(|(_, t)| t.as_table_like()));
    }
    if let Some(replace) = doc.get("replace").and_then(toml_edit::Item::as_table_like) {
        tables.push(replace);
    }
    // A patch without a path (git, registry) is a package of its own: full metadata.
    let patch_outside = tables.iter().flat_map(|t| t.iter()).any(|(_, dep)| {
        match dep.as_table_like().and_then(|d| d.get("path")).and_then(toml_edit::Item::as_str) {
            Some(path) => outside(&root.join(path)),
            None => true,
        }
    });
    dep_outside || patch_outside
}

/// `path` without `.` and with `..` applied (no file system access).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_paths() {
        assert_eq!(lexical(Path::new("/w/./a/../b")), Path::new("/w/b"));
        assert_eq!(lexical(Path::new("/w/vendor/x/")), Path::new("/w/vendor/x"));
    }
}
