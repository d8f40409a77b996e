//! Which workspace xtask acts on.
//!
//! xtask acts on the workspace of the current directory (or `--manifest-path`),
//! never on the tree it was compiled in: in Docker a prebuilt xtask binary runs
//! first inside a skeleton and then inside the real sources.

use std::{
    fs,
    path::{Component, Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

#[derive(Debug, Clone)]
pub struct Workspace {
    /// Directory of the workspace's root `Cargo.toml`.
    pub root: PathBuf,
    /// The root `Cargo.toml`.
    pub manifest: PathBuf,
}

/// Everything xtask keeps under `<target>/xtask/`, each path named once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout under `target` (a cargo target directory).
    pub fn new(target: &Path) -> Layout {
        Layout { root: target.join("xtask") }
    }

    /// `<target>/xtask`: small tools xtask builds for itself (the ext_proc probe).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The e2e's engine state, registry, base images and logs.
    pub fn e2e(&self) -> PathBuf {
        self.root.join("e2e")
    }

    /// The `local` build caches, one directory per scope.
    pub fn buildcache(&self) -> PathBuf {
        self.root.join("buildcache")
    }

    /// buildx's `--metadata-file` of a pushed image.
    pub fn push_metadata(&self, image: &str) -> PathBuf {
        self.root.join("docker").join(format!("{image}-metadata.json"))
    }

    /// The named build context `xtask`: a prebuilt xtask for the images.
    pub fn xtask_context(&self) -> PathBuf {
        self.root.join("xtask-context")
    }

    /// Step metrics, one file per run.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics")
    }

    /// Downloaded model wheels.
    pub fn wheels(&self) -> PathBuf {
        self.root.join("wheels")
    }

    /// The tests `cargo xtask test` counted as skipped.
    pub fn skipped_tests(&self) -> PathBuf {
        self.root.join("skipped-tests.tsv")
    }

    /// The Python ext_proc client's virtual environment.
    pub fn extproc_client(&self) -> PathBuf {
        self.root.join("extproc-client")
    }

    /// The venv of `spdx-tools`, the SBOMs' validator.
    pub fn spdx_tools(&self) -> PathBuf {
        self.root.join("spdx-tools")
    }

    /// The dist suite's release trees.
    pub fn dist_test(&self) -> PathBuf {
        self.root.join("dist-test")
    }

    /// `dist --verify-reproducible`'s second build.
    pub fn repro(&self) -> PathBuf {
        self.root.join("repro")
    }

    /// A benchmark's files (`bench-<name>`).
    pub fn bench(&self, name: &str) -> PathBuf {
        self.root.join(format!("bench-{name}"))
    }
}

impl Workspace {
    /// The workspace of `manifest_path`, or of the current directory.
    ///
    /// Fast path: the nearest `Cargo.toml` is itself a workspace root (the
    /// usual case: run at the root, or inside a precache skeleton). Anything
    /// else (a member directory, `package.workspace`, a lone package) is
    /// answered by `cargo locate-project`, which knows every rule.
    pub fn locate(sh: &Shell, manifest_path: Option<&Path>) -> Result<Workspace> {
        let nearest = match manifest_path {
            Some(p) => Some(p.to_path_buf()),
            None => sh.current_dir().ancestors().map(|d| d.join("Cargo.toml")).find(|m| m.is_file()),
        };
        if let Some(manifest) = nearest.filter(|m| is_workspace_root(m)) {
            let manifest = std::path::absolute(&manifest)?;
            let root = manifest.parent().context("workspace manifest has no parent")?.to_path_buf();
            return Ok(Workspace { root, manifest });
        }
        let cargo = cargo();
        let extra: Vec<&std::ffi::OsStr> = match manifest_path {
            Some(p) => vec!["--manifest-path".as_ref(), p.as_os_str()],
            None => vec![],
        };
        let out = cmd!(sh, "{cargo} locate-project --workspace --message-format plain {extra...}")
            .quiet()
            .ignore_status()
            .output()
            .context("cannot run `cargo locate-project`")?;
        if !out.status.success() {
            // cargo's own reason, without its `error: ` prefix.
            let why = String::from_utf8_lossy(&out.stderr);
            let why = why.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim_start_matches("error: ").trim();
            bail!(
                "{}",
                match manifest_path {
                    Some(p) => format!("--manifest-path {}: not a cargo workspace ({why})", p.display()),
                    None => format!(
                        "no cargo workspace found from {} (run inside the project, or pass --manifest-path): {why}",
                        sh.current_dir().display()
                    ),
                }
            );
        }
        let manifest = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let root = manifest.parent().context("workspace manifest has no parent")?.to_path_buf();
        Ok(Workspace { root, manifest })
    }

    /// `cargo metadata` of the workspace (resolving dependencies, offline if possible).
    pub fn metadata(&self) -> Result<cargo_metadata::Metadata> {
        cargo_metadata::MetadataCommand::new()
            .manifest_path(&self.manifest)
            .exec()
            .with_context(|| format!("cargo metadata failed for {}", self.manifest.display()))
    }

    /// The target directory cargo uses (honours `CARGO_TARGET_DIR` and `build.target-dir`).
    pub fn target_dir(&self) -> Result<PathBuf> {
        let meta = cargo_metadata::MetadataCommand::new()
            .manifest_path(&self.manifest)
            .no_deps()
            .exec()
            .with_context(|| format!("cargo metadata failed for {}", self.manifest.display()))?;
        Ok(meta.target_directory.into_std_path_buf())
    }

    /// The [`Layout`] under [`Workspace::target_dir`].
    pub fn layout(&self) -> Result<Layout> {
        Ok(Layout::new(&self.target_dir()?))
    }

    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }
}

/// Whether `manifest` has a `[workspace]` table.
fn is_workspace_root(manifest: &Path) -> bool {
    std::fs::read_to_string(manifest)
        .ok()
        .and_then(|text| text.parse::<toml_edit::DocumentMut>().ok())
        .is_some_and(|doc| doc.get("workspace").is_some_and(|w| w.is_table_like()))
}

/// The cargo to run: the one that ran us (`$CARGO`), else `cargo` from PATH,
/// as a full path where PATH has one: duct takes a relative `Path` as a file
/// of the working directory (`./cargo`), not a name to look up.
pub fn cargo() -> PathBuf {
    std::env::var_os("CARGO")
        .map(PathBuf::from)
        .or_else(|| which::which("cargo").ok())
        .unwrap_or_else(|| "cargo".into())
}

/// The cargo profile of a build: `--release`, `--profile NAME` or the default
/// (dev); a flattened argument group of every command that builds Rust code.
#[derive(Debug, clap::Args, Clone, Default)]
pub struct Profile {
    /// Build with the release profile.
    #[arg(long, conflicts_with = "profile")]
    pub release: bool,
    /// Build with the named cargo profile.
    #[arg(long, value_name = "NAME", value_parser = profile_name)]
    pub profile: Option<String>,
}

/// A `--profile` name as cargo takes it: letters, digits, `-` and `_`. It
/// names a directory under the target directory, so a path (absolute, with
/// `/` or `..`) is never one.
pub fn profile_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("a profile name cannot be empty".into());
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        return Err(format!(
            "invalid character {c:?} in profile name {name:?}: cargo allows letters, digits, `-` and `_` \
             (a profile name, not a directory path)"
        ));
    }
    Ok(name.to_owned())
}

impl Profile {
    pub const RELEASE: Profile = Profile { release: true, profile: None };
}

/// Map a `--release/--profile` choice to (cargo args, directory name under target/).
pub fn profile_args(profile: &Profile) -> (Vec<String>, String) {
    match (&profile.profile, profile.release) {
        (Some(name), _) => {
            let dir = match name.as_str() {
                "dev" | "test" => "debug".to_string(),
                "bench" => "release".to_string(),
                other => other.to_string(),
            };
            (vec!["--profile".into(), name.clone()], dir)
        }
        (None, true) => (vec!["--release".into()], "release".into()),
        (None, false) => (vec![], "debug".into()),
    }
}

impl Workspace {
    /// Metadata enough for the skeleton (and for `clean-stale`): `--no-deps` (no
    /// download, no resolution: the planner stage of a Dockerfile runs it on
    /// every source change) unless a path dependency, `[patch]` or `[replace]`
    /// points outside the workspace members: then only the full metadata knows
    /// every local package.
    pub fn local_metadata(&self) -> Result<cargo_metadata::Metadata> {
        let shallow = cargo_metadata::MetadataCommand::new()
            .manifest_path(&self.manifest)
            .no_deps()
            .exec()
            .with_context(|| format!("cargo metadata failed for {}", self.manifest.display()))?;
        let root =
            fs::read_to_string(&self.manifest).with_context(|| format!("cannot read {}", self.manifest.display()))?;
        if needs_full_metadata(&shallow, &root) {
            self.metadata()
        } else {
            Ok(shallow)
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_under_target_xtask() {
        let l = Layout::new(Path::new("/t"));
        assert_eq!(l.root(), Path::new("/t/xtask"));
        assert_eq!(l.e2e(), Path::new("/t/xtask/e2e"));
        assert_eq!(l.push_metadata("extproc"), Path::new("/t/xtask/docker/extproc-metadata.json"));
        assert_eq!(l.bench("cross"), Path::new("/t/xtask/bench-cross"));
    }

    #[test]
    fn profile_names_are_cargo_names_not_paths() {
        for ok in ["dev", "release", "release-lto", "my_profile2"] {
            assert_eq!(profile_name(ok).unwrap(), ok);
        }
        for bad in ["", "/tmp/other", "../../other", "..", "a/b", "rel ease", "x.y", "-\n"] {
            let err = profile_name(bad).unwrap_err();
            assert!(err.contains("profile name"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn lexical_paths() {
        assert_eq!(lexical(Path::new("/w/./a/../b")), Path::new("/w/b"));
        assert_eq!(lexical(Path::new("/w/vendor/x/")), Path::new("/w/vendor/x"));
    }
}
