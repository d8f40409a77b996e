//! The prerequisites of a command, resolved once into a value.
//!
//! A command says what it needs (a list of [`Need`]s: [`toolchain`] for a
//! build); [`ensure`] probes each need once, installs what is missing as
//! root (through [`crate::install`], as `doctor --fix` does), probes again
//! only what it installed, and returns [`Prereqs`]: what was found, typed
//! where later steps read it (the target std and the C cross compiler of each
//! foreign platform). The cross environment is then a pure function of that
//! value ([`Prereqs::rust_env`], [`Prereqs::go_env`]): nothing is probed twice
//! in one run. `doctor` prints the same probes ([`probe_all`]).
//!
//! The probes and installs go through [`System`]: [`Host`] is this machine;
//! the tests use a fake that counts the probes.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use xshell::{cmd, Shell};

pub use crate::install::Need;
use crate::{
    binfmt::handler as binfmt,
    cross::{self, CrossCc, Toolchain},
    ctx::Ctx,
    install::{self, install_hint, labels, package_manager, refusal_not_root, Rustup},
    platform::Platform,
};

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A version line or a location, for the report.
    Text(String),
    /// Where the Rust std of a foreign target comes from.
    Std(Toolchain),
    /// The C cross toolchain of a foreign target.
    Cc(CrossCc),
}

impl Found {
    pub fn describe(&self) -> String {
        match self {
            Found::Text(t) => t.clone(),
            Found::Std(Toolchain { rustc: Some(rustc) }) => format!("via RUSTC={}", rustc.display()),
            Found::Std(Toolchain { rustc: None }) => "current toolchain".into(),
            Found::Cc(cc) => cc.describe(),
        }
    }
}

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

impl Probe {
    fn of(need: Need, result: &Result<Found>) -> Probe {
        let (ok, detail) = match result {
            Ok(found) => (true, found.describe()),
            Err(e) => (false, format!("{e:#}")),
        };
        Probe { need, platform: need.platform(), ok, detail }
    }
}

/// Probing and installing: this machine ([`Host`]), or a fake in tests.
pub trait System {
    /// The platform xtask runs on.
    fn host(&self) -> Platform;
    /// Probe one need: what was found, or why it is missing.
    fn probe(&mut self, need: Need) -> Result<Found>;
    /// Whether installing is allowed (root).
    fn can_install(&self) -> bool;
    /// Install `needs` (packages first, the model last).
    fn install(&mut self, needs: &[Need]) -> Result<()>;
    /// The error of a non-root run: what is missing and the commands that
    /// install `fix`.
    fn refusal(&self, missing: &[Need], fix: &[Need]) -> String;
}

/// This machine.
pub struct Host<'a> {
    ctx: &'a Ctx,
    host: Platform,
}

impl<'a> Host<'a> {
    pub fn new(ctx: &'a Ctx) -> Result<Host<'a>> {
        Ok(Host { ctx, host: Platform::host()? })
    }
}

impl System for Host<'_> {
    fn host(&self) -> Platform {
        self.host
    }

    fn probe(&mut self, need: Need) -> Result<Found> {
        probe(self.ctx, need)
    }

    fn can_install(&self) -> bool {
        crate::sys::is_root()
    }

    fn install(&mut self, needs: &[Need]) -> Result<()> {
        install::install(&self.ctx.sh, needs, self.host)
    }

    fn refusal(&self, missing: &[Need], fix: &[Need]) -> String {
        refusal_not_root(missing, fix, package_manager(), self.host, &Rustup::probe())
    }
}

/// What a command needs, found on this machine: the value every later step
/// reads instead of probing again.
#[derive(Debug, Clone)]
pub struct Prereqs {
    host: Platform,
    found: Vec<(Need, Found)>,
}

impl Prereqs {
    /// Probe `needs` once each; as root, install what is missing and probe
    /// that again. Otherwise one error names what is missing and the exact
    /// commands that install it. This is what lets the README's commands
    /// run as written on a fresh machine.
    pub fn resolve(sys: &mut dyn System, needs: &[Need]) -> Result<Prereqs> {
        Prereqs::resolve_with(sys, needs, true)
    }

    /// [`Prereqs::resolve`] without installing: what is missing is an error
    /// that names the fix (for commands that only print, like `cross-env`).
    pub fn present(sys: &mut dyn System, needs: &[Need]) -> Result<Prereqs> {
        Prereqs::resolve_with(sys, needs, false)
    }

    fn resolve_with(sys: &mut dyn System, needs: &[Need], install: bool) -> Result<Prereqs> {
        let host = sys.host();
        let mut wanted: Vec<Need> = Vec::new();
        for &n in needs {
            if !wanted.contains(&n) {
                wanted.push(n);
            }
        }
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for &need in &wanted {
            match sys.probe(need) {
                Ok(f) => found.push((need, f)),
                Err(e) => missing.push((need, e)),
            }
        }
        if missing.is_empty() {
            return Ok(Prereqs { host, found });
        }
        let before: Vec<Need> = missing.iter().map(|(n, _)| *n).collect();
        if !install {
            let why: Vec<String> = missing.iter().map(|(n, e)| format!("{}: {e:#}", n.label())).collect();
            bail!(
                "missing: {} (install: `cargo xtask doctor --fix{}` as root)",
                why.join("; "),
                platforms_flag(&before)
            );
        }
        // What installing them takes, probed as well (pip for the model,
        // qemu-user for a handler), unless this run already probed it.
        let mut absent = Vec::new();
        for c in before.iter().filter_map(|n| companion(*n)) {
            let known = found.iter().any(|(n, _)| *n == c) || before.contains(&c) || absent.contains(&c);
            if !known && sys.probe(c).is_err() {
                absent.push(c);
            }
        }
        let fix = with_companions(&before, &|n| absent.contains(n) || before.contains(n));
        if !sys.can_install() {
            bail!("{}", sys.refusal(&before, &fix));
        }
        eprintln!("prerequisites: installing what is missing: {}", labels(&before));
        sys.install(&fix)?;
        let mut still = Vec::new();
        for need in before {
            match sys.probe(need) {
                Ok(f) => found.push((need, f)),
                Err(_) => still.push(format!("{}: {}", need.label(), install_hint(&need, host))),
            }
        }
        if !still.is_empty() {
            bail!("still missing after installing: {}", still.join("; "));
        }
        found.sort_by_key(|(n, _)| wanted.iter().position(|w| w == n));
        Ok(Prereqs { host, found })
    }

    /// What was found for `need`, if it was asked for.
    pub fn get(&self, need: Need) -> Option<&Found> {
        self.found.iter().find(|(n, _)| *n == need).map(|(_, f)| f)
    }

    /// The environment of cargo for `target` (empty for the host): the
    /// resolved target std and C cross toolchain, through
    /// [`cross::plan_rust_env`].
    pub fn rust_env(&self, target: Platform) -> Result<Vec<(String, String)>> {
        if target == self.host {
            return Ok(Vec::new());
        }
        let toolchain = match self.get(Need::TargetStd(target)) {
            Some(Found::Std(tc)) => tc,
            _ => bail!("the Rust std for {target} was not resolved (`prereq::toolchain` lists it)"),
        };
        let no_cc = anyhow!("no C cross toolchain for {target} was resolved (`prereq::toolchain` lists it)");
        let cc = self.cross_cc(target).ok_or(&no_cc);
        cross::plan_rust_env(self.host, target, toolchain, cc, &crate::sys::env_var)
    }

    /// The environment of `go build` of the cgo router for `target`,
    /// linking against the library in `lib_dir` (if given).
    pub fn go_env(&self, target: Platform, lib_dir: Option<&Path>) -> Vec<(String, String)> {
        cross::plan_go_env(self.host, target, lib_dir, self.cross_cc(target), &crate::sys::env_var)
    }

    fn cross_cc(&self, target: Platform) -> Option<&CrossCc> {
        match self.get(Need::CrossCc(target)) {
            Some(Found::Cc(cc)) => Some(cc),
            _ => None,
        }
    }
}

/// ` --platform P,…` for the foreign platforms among `needs` (empty if none).
fn platforms_flag(needs: &[Need]) -> String {
    let mut ps: Vec<String> = Vec::new();
    for p in needs.iter().filter_map(Need::platform).filter(|p| !p.is_host()) {
        if !ps.contains(&p.to_string()) {
            ps.push(p.to_string());
        }
    }
    if ps.is_empty() {
        String::new()
    } else {
        format!(" --platform {}", ps.join(","))
    }
}

/// [`Prereqs::resolve`] on this machine: every command's prerequisites.
pub fn ensure(ctx: &Ctx, needs: &[Need]) -> Result<Prereqs> {
    Prereqs::resolve(&mut Host::new(ctx)?, needs)
}

/// The probes of exactly `needs`, for a report (`doctor`).
pub fn probe_all(ctx: &Ctx, needs: &[Need]) -> Vec<Probe> {
    needs.iter().map(|&need| Probe::of(need, &probe(ctx, need))).collect()
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

/// What installing `need` takes besides its own packages: pip for the
/// model, qemu-user for a binfmt handler.
pub fn companion(need: Need) -> Option<Need> {
    match need {
        Need::Model => Some(Need::Pip),
        Need::Qemu(p) => Some(Need::QemuUser(p)),
        _ => None,
    }
}

/// `missing` plus the companions that are `absent`, packages first and the
/// model last.
pub fn with_companions(missing: &[Need], absent: &dyn Fn(&Need) -> bool) -> Vec<Need> {
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

/// Probe one need: what was found, or why it is missing.
fn probe(ctx: &Ctx, need: Need) -> Result<Found> {
    let text = |r: Result<String>| r.map(Found::Text);
    let sh = &ctx.sh;
    // The one docker CLI resolver, and the engine probe `docker` itself uses.
    let docker = || PathBuf::from(crate::engine::choose(None));
    match need {
        Need::Cargo => text(version_of(sh, &crate::workspace::cargo(), &["--version"])),
        Need::HostCc => {
            let cc = crate::sys::env_var("CC").unwrap_or_else(|| "cc".into());
            text(version_of(sh, Path::new(&cc), &["--version"]))
        }
        Need::Go => text(check_go(sh)),
        Need::TargetStd(p) => probe_std(sh, p),
        Need::CrossCc(p) => cross::cross_cc(p).map(Found::Cc),
        Need::Qemu(p) => text(check_qemu(p)),
        Need::QemuUser(p) => text(check_qemu_user(p)),
        Need::Docker => text(
            crate::engine::Docker::find(&crate::engine::choose(None))
                .and_then(|d| d.check_engine())
                .map(|v| format!("engine {v}")),
        ),
        Need::Buildx => text(check_buildx(sh, &docker())),
        Need::Pip => text(
            version_of(sh, Path::new("pip3"), &["--version"])
                .or_else(|_| version_of(sh, Path::new("python3"), &["-m", "pip", "--version"])),
        ),
        Need::HfCli => text(check_hf_cli(sh)),
        Need::Model => text(check_model(ctx)),
        Need::E2eTools => {
            let missing: Vec<&str> = ["dockerd", "docker-registry", "debootstrap"]
                .into_iter()
                .filter(|t| !crate::sys::tool_exists(t))
                .collect();
            if missing.is_empty() {
                Ok(Found::Text("dockerd, docker-registry, debootstrap".to_string()))
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

fn probe_std(sh: &Shell, p: Platform) -> Result<Found> {
    if p.is_host() {
        let rustc = crate::sys::env_var("RUSTC").unwrap_or_else(|| "rustc".into());
        return version_of(sh, Path::new(&rustc), &["--version"]).map(|v| Found::Text(format!("host: {v}")));
    }
    cross::target_std(&p).map(Found::Std)
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
    let dir = crate::model::place::default_dir(ctx)?;
    let missing: Vec<&str> =
        crate::model::place::MODEL_FILES.iter().copied().filter(|f| !dir.join(f).is_file()).collect();
    if !missing.is_empty() {
        bail!("{} lacks {} (fix: `cargo xtask model`)", dir.display(), missing.join(", "));
    }
    Ok(dir.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMD: Platform = Platform::AMD64;
    const ARM: Platform = Platform::ARM64;
    const RV: Platform = Platform::RISCV64;

    /// A machine of the tests' making: what it has, and every probe and
    /// install it was asked for.
    struct Fake {
        host: Platform,
        has: Vec<Need>,
        root: bool,
        installable: Vec<Need>,
        probes: Vec<Need>,
        installs: Vec<Vec<Need>>,
    }

    impl Fake {
        fn with(has: &[Need]) -> Fake {
            Fake {
                host: AMD,
                has: has.to_vec(),
                root: true,
                installable: Vec::new(),
                probes: Vec::new(),
                installs: Vec::new(),
            }
        }

        fn times_probed(&self, need: Need) -> usize {
            self.probes.iter().filter(|n| **n == need).count()
        }
    }

    fn gcc(p: Platform) -> CrossCc {
        CrossCc::Gcc { prefix: p.gnu_prefix(), libc: PathBuf::from("/usr/lib/libc.so"), cxx: true, ar: true }
    }

    impl System for Fake {
        fn host(&self) -> Platform {
            self.host
        }
        fn probe(&mut self, need: Need) -> Result<Found> {
            self.probes.push(need);
            if !self.has.contains(&need) {
                bail!("{} is not here", need.label());
            }
            Ok(match need {
                Need::TargetStd(p) if p != self.host => Found::Std(Toolchain::default()),
                Need::CrossCc(p) => Found::Cc(gcc(p)),
                n => Found::Text(format!("{} ok", n.label())),
            })
        }
        fn can_install(&self) -> bool {
            self.root
        }
        fn install(&mut self, needs: &[Need]) -> Result<()> {
            self.installs.push(needs.to_vec());
            self.has.extend(needs.iter().filter(|n| self.installable.contains(n)));
            Ok(())
        }
        fn refusal(&self, missing: &[Need], fix: &[Need]) -> String {
            format!("not root: missing {}; would install {}", labels(missing), labels(fix))
        }
    }

    /// What a `dist` of two platforms does with its prerequisites: resolve
    /// them, then per platform the cargo environment (library) and the Go
    /// environment (router).
    fn dist_of(sys: &mut Fake, platforms: &[Platform]) -> Result<Vec<Vec<(String, String)>>> {
        let prereqs = Prereqs::resolve(sys, &toolchain(platforms, true))?;
        let mut envs = Vec::new();
        for &p in platforms {
            envs.push(prereqs.rust_env(p)?);
            envs.push(prereqs.go_env(p, Some(Path::new("/t/lib"))));
        }
        Ok(envs)
    }

    #[test]
    fn each_tool_is_probed_once_in_a_dist_of_two_platforms() {
        let needs = toolchain(&[AMD, ARM], true);
        let mut sys = Fake::with(&needs);
        let envs = dist_of(&mut sys, &[AMD, ARM]).unwrap();
        for need in &needs {
            assert_eq!(sys.times_probed(*need), 1, "{}", need.label());
        }
        assert_eq!(sys.probes.len(), needs.len());
        assert!(sys.installs.is_empty());
        // The arm64 environments come from the resolved value.
        let cc = gcc(ARM).cc();
        assert!(envs[2].contains(&("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER".into(), cc.clone())), "{envs:?}");
        assert!(envs[3].contains(&("CC".into(), cc)), "{envs:?}");
        assert!(envs[0].is_empty());
    }

    #[test]
    fn what_is_missing_is_installed_then_probed_again_and_nothing_else() {
        let mut has = toolchain(&[AMD, ARM], true);
        has.retain(|n| *n != Need::CrossCc(ARM) && *n != Need::Go);
        let mut sys = Fake::with(&has);
        sys.installable = vec![Need::CrossCc(ARM), Need::Go];
        dist_of(&mut sys, &[AMD, ARM]).unwrap();
        assert_eq!(sys.installs, [vec![Need::Go, Need::CrossCc(ARM)]]);
        assert_eq!(sys.times_probed(Need::CrossCc(ARM)), 2);
        assert_eq!(sys.times_probed(Need::Go), 2);
        assert_eq!(sys.times_probed(Need::Cargo), 1);
        assert_eq!(sys.times_probed(Need::TargetStd(ARM)), 1);
    }

    #[test]
    fn not_root_is_one_error_naming_the_fix_and_installs_nothing() {
        let mut sys = Fake::with(&[Need::Cargo]);
        sys.root = false;
        let err = Prereqs::resolve(&mut sys, &[Need::Cargo, Need::Model]).unwrap_err().to_string();
        // The model takes pip, probed once as its companion.
        let model = Need::Model.label();
        assert_eq!(err, format!("not root: missing {model}; would install pip, {model}"));
        assert!(sys.installs.is_empty());
        assert_eq!(sys.times_probed(Need::Pip), 1);
    }

    #[test]
    fn an_install_that_does_not_help_is_an_error_with_the_hint() {
        let mut sys = Fake::with(&[Need::Cargo]);
        let err = Prereqs::resolve(&mut sys, &[Need::Cargo, Need::CrossCc(RV)]).unwrap_err().to_string();
        assert!(err.starts_with("still missing after installing: "), "{err}");
        assert!(err.contains("riscv64"), "{err}");
    }

    #[test]
    fn present_installs_nothing_and_names_doctor_fix() {
        let mut sys = Fake::with(&[Need::Cargo]);
        let err = Prereqs::present(&mut sys, &toolchain(&[ARM], false)).unwrap_err().to_string();
        assert!(err.contains("cargo xtask doctor --fix --platform linux/arm64"), "{err}");
        assert!(sys.installs.is_empty());
    }

    #[test]
    fn an_env_of_a_platform_not_resolved_is_an_error() {
        let mut sys = Fake::with(&toolchain(&[AMD], false));
        let prereqs = Prereqs::resolve(&mut sys, &toolchain(&[AMD], false)).unwrap();
        assert!(prereqs.rust_env(AMD).unwrap().is_empty());
        let err = prereqs.rust_env(ARM).unwrap_err().to_string();
        assert!(err.contains("linux/arm64 was not resolved"), "{err}");
    }

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
    fn go_versions() {
        assert_eq!(parse_go_version("go version go1.19.8 linux/amd64"), Some((1, 19)));
        assert_eq!(parse_go_version("go version go1.22 linux/arm64"), Some((1, 22)));
        assert_eq!(parse_go_version("go version go1.21rc2 linux/amd64"), Some((1, 21)));
        assert_eq!(parse_go_version("go version devel"), None);
        assert!((1, 18) < (1, 19) && (2, 0) > (1, 19));
    }
}
