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

/// `go list`'s template for [`external_deps`]: a package of a module that
/// is neither the main one nor replaced by a local directory.
const EXTERNAL: &str =
    "{{with .Module}}{{if and (not .Main) (or (not .Replace) .Replace.Version)}}{{$.ImportPath}}{{end}}{{end}}";

/// The packages of other modules that package `pkg` of the Go module in
/// `dir` imports, directly or not, for the platform of `env` (GOOS, GOARCH,
/// CGO_ENABLED choose the files): what [`compile`] puts in the build cache.
/// Packages of local replacements (`replace … => ../dir`) are left out:
/// they change with the repository. Offline ([`OFFLINE`]).
pub fn external_deps(sh: &Shell, dir: &Path, pkg: &str, env: &[(String, String)]) -> Result<Vec<String>> {
    let go = which::which("go").context("`go` is not installed: run `cargo xtask doctor --fix`")?;
    let _dir = sh.push_dir(dir);
    let mut cmd = cmd!(sh, "{go} list -deps -f {EXTERNAL} {pkg}").quiet().envs(OFFLINE);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let out = cmd.read().with_context(|| {
        format!("`go list -deps {pkg}` failed in {}: are its modules downloaded (`precache go`)?", dir.display())
    })?;
    let mut deps: Vec<String> = out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    deps.sort();
    deps.dedup();
    Ok(deps)
}

/// The packages of a `--list-deps` file, one import path a line (blank
/// lines skipped); a line that is not an import path is an error naming it,
/// never an argument of `go build`.
pub fn parse_deps(text: &str) -> Result<Vec<&str>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let p = line.trim();
        if p.is_empty() {
            continue;
        }
        let ok =
            !p.starts_with(['-', '.', '/']) && p.chars().all(|c| c.is_ascii_alphanumeric() || "._~/-+".contains(c));
        if !ok {
            bail!("line {}: `{p}` is not a Go import path (write the file with `precache go --list-deps`)", n + 1);
        }
        out.push(p);
    }
    Ok(out)
}

/// Compile `pkgs` in the Go module `dir` as `xtask build` compiles the
/// router's packages (`-trimpath`, the platform's `env`), offline: the
/// results go to the build cache only, where the router's build finds them.
pub fn compile(sh: &Shell, dir: &Path, pkgs: &[&str], env: &[(String, String)]) -> Result<()> {
    if pkgs.is_empty() {
        return Ok(());
    }
    let go = which::which("go").context("`go` is not installed: run `cargo xtask doctor --fix`")?;
    let _dir = sh.push_dir(dir);
    let mut cmd = cmd!(sh, "{go} build -trimpath {pkgs...}").envs(OFFLINE);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd.run().with_context(|| format!("`go build` of {} packages failed in {}", pkgs.len(), dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deps_file_holds_import_paths_only() {
        let text = "google.golang.org/grpc\n\n  golang.org/x/net/http2 \ngithub.com/a/b/v3\n";
        assert_eq!(
            parse_deps(text).unwrap(),
            ["google.golang.org/grpc", "golang.org/x/net/http2", "github.com/a/b/v3"]
        );
        for bad in ["-o /etc/passwd", "./local", "/abs", "a b", "a;b"] {
            let err = parse_deps(&format!("x/y\n{bad}\n")).unwrap_err().to_string();
            assert!(err.starts_with("line 2: `"), "{bad}: {err}");
        }
    }
}
