//! Which workspace xtask acts on.
//!
//! xtask acts on the workspace of the current directory (or `--manifest-path`),
//! never on the tree it was compiled in: in Docker a prebuilt xtask binary runs
//! first inside a skeleton and then inside the real sources.

use std::{
    cell::OnceCell,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// What every command gets: a shell and the (lazily located) workspace.
pub struct Ctx {
    pub sh: Shell,
    manifest_path: Option<PathBuf>,
    workspace: OnceCell<Workspace>,
}

#[derive(Debug, Clone)]
pub struct Workspace {
    /// Directory of the workspace's root `Cargo.toml`.
    pub root: PathBuf,
    /// The root `Cargo.toml`.
    pub manifest: PathBuf,
}

impl Ctx {
    pub fn new(manifest_path: Option<PathBuf>) -> Result<Ctx> {
        let sh = Shell::new().context("cannot set up a shell in the current directory")?;
        if let Some(path) = &manifest_path {
            if !path.is_file() {
                bail!("--manifest-path {} does not exist", path.display());
            }
        }
        Ok(Ctx { sh, manifest_path, workspace: OnceCell::new() })
    }

    /// The workspace, located on first use with `cargo locate-project`.
    pub fn workspace(&self) -> Result<&Workspace> {
        if let Some(ws) = self.workspace.get() {
            return Ok(ws);
        }
        let ws = Workspace::locate(&self.sh, self.manifest_path.as_deref())?;
        Ok(self.workspace.get_or_init(|| ws))
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

#[cfg(test)]
mod tests {
    use super::profile_name;

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
}
