//! The router's Go modules: the one Go step that reaches the network.
//!
//! `download` runs `go mod download` in a module directory (through
//! `$GOPROXY`, into `$GOMODCACHE`; what it fetches is checked against
//! `go.sum`, and with everything cached it returns at once). `verify`
//! re-hashes the module cache against `go.sum` (about a second): `precache
//! go` runs it, where the modules enter an image's layer. Every later Go command (build, vet, test) runs with
//! [`OFFLINE`]: no proxy and a read-only `go.mod`, so a build uses exactly
//! the modules `go.sum` names, already downloaded, or fails saying which is
//! missing. In the Dockerfiles this is its own layer (`precache go`), keyed
//! on `go.mod` and `go.sum` alone.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// The environment of every Go command after [`download`].
pub const OFFLINE: [(&str, &str); 2] = [("GOPROXY", "off"), ("GOFLAGS", "-mod=readonly")];

/// Download the modules of the Go module in `dir`.
pub fn download(sh: &Shell, dir: &Path) -> Result<()> {
    let go_mod = dir.join("go.mod");
    if !go_mod.is_file() {
        bail!("{} does not exist: `precache go --dir` takes the directory of a Go module", go_mod.display());
    }
    let go = which::which("go").context("`go` is not installed: run `cargo xtask doctor --fix`")?;
    let _dir = sh.push_dir(dir);
    cmd!(sh, "{go} mod download").env("GOFLAGS", "-mod=readonly").quiet().ignore_stdout().run().with_context(|| {
        format!(
            "`go mod download` failed in {}: is the Go module proxy ($GOPROXY) reachable, and go.sum complete \
                 (`go mod tidy`)?",
            dir.display()
        )
    })?;
    Ok(())
}

/// `go mod verify` in the Go module `dir`: every module in the cache
/// matches `go.sum`.
pub fn verify(sh: &Shell, dir: &Path) -> Result<()> {
    let go = which::which("go").context("`go` is not installed: run `cargo xtask doctor --fix`")?;
    let _dir = sh.push_dir(dir);
    cmd!(sh, "{go} mod verify").env("GOFLAGS", "-mod=readonly").quiet().ignore_stdout().run().with_context(|| {
        format!("`go mod verify` failed in {}: the module cache disagrees with go.sum", dir.display())
    })?;
    Ok(())
}
