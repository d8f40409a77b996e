//! What every command gets: a shell, the workspace (located on first use)
//! and the [`Layout`] of its scratch files. `main` builds one and passes it
//! to the command it dispatches to.

use std::{cell::OnceCell, path::PathBuf};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::workspace::{Layout, Workspace};

/// What every command gets: a shell and the (lazily located) workspace.
pub struct Ctx {
    pub sh: Shell,
    manifest_path: Option<PathBuf>,
    workspace: OnceCell<Workspace>,
}

impl Ctx {
    /// The [`Layout`] under the target directory cargo reports (else
    /// `./target`, outside a workspace).
    pub fn layout(&self) -> Layout {
        let target = self
            .workspace()
            .ok()
            .and_then(|ws| ws.target_dir().ok())
            .unwrap_or_else(|| self.sh.current_dir().join("target"));
        Layout::new(&target)
    }

    /// [`Ctx::layout`] without asking cargo (a dry run runs no program):
    /// `$CARGO_TARGET_DIR`, else `<workspace>/target` (a `build.target-dir` in
    /// a cargo config is not read; it only changes printed default paths).
    pub fn layout_without_cargo(&self) -> Layout {
        let cwd = self.sh.current_dir();
        let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
            Some(t) => cwd.join(t),
            None => self.workspace().map(|ws| ws.path("target")).unwrap_or_else(|_| cwd.join("target")),
        };
        Layout::new(&target)
    }
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

    /// The same context for another thread (a `Ctx` is not `Sync`): a new
    /// shell in the same directory, the same manifest, the workspace if it
    /// was located.
    pub fn fork(&self) -> Result<Ctx> {
        let sh = Shell::new().context("cannot set up a shell")?;
        sh.change_dir(self.sh.current_dir());
        let workspace = OnceCell::new();
        if let Some(ws) = self.workspace.get() {
            workspace.get_or_init(|| ws.clone());
        }
        Ok(Ctx { sh, manifest_path: self.manifest_path.clone(), workspace })
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
