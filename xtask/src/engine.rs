//! The docker CLI and engine: which binary, whether the engine answers,
//! whether buildx exists and what its builder can do ([`Capabilities`]), and
//! running commands ([`Command`], streaming their output).
//!
//! What may be printed of a command: [`Command::display_line`] keeps the
//! names of build arguments and secrets and hides their values (except the
//! [`SAFE_BUILD_ARGS`] and base images), so that a proxy password passed as
//! `--build-arg HTTP_PROXY=…` never reaches a log, an annotation or a file.
//!
//! Processes: probes are one-shot xshell commands; builds stream their output
//! as it comes (and keep it) through a duct reader; `read` captures stdout
//! while stderr passes through, also with duct (xshell cannot keep the exit
//! status of a command whose stdout it reads).

pub mod buildx;

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// What a hidden value is printed as.
pub const REDACTED: &str = "<redacted>";

/// Build arguments whose values configure the build and are printed as they
/// are; the base-image arguments of the image table are too. Every other
/// `--build-arg` value is redacted wherever xtask prints it.
pub const SAFE_BUILD_ARGS: &[&str] =
    &["VERSION", "CARGO_BUILD_JOBS", "TARGETARCH", "SOURCE_DATE_EPOCH", "BUILDKIT_INLINE_CACHE"];

/// Whether the value of build argument `name` may be printed: the
/// [`SAFE_BUILD_ARGS`], and base images (`*_IMAGE`, the image table's
/// `base_args`, a test says so).
pub fn safe_build_arg(name: &str) -> bool {
    SAFE_BUILD_ARGS.contains(&name) || name.ends_with("_IMAGE")
}

/// `K=V` with V hidden unless K is safe.
fn redact_build_arg(kv: &str) -> String {
    match kv.split_once('=') {
        Some((k, _)) if safe_build_arg(k) => kv.to_owned(),
        Some((k, _)) => format!("{k}={REDACTED}"),
        None => kv.to_owned(),
    }
}

/// A `--secret` spec with every value but the `id` and `type` hidden
/// (`id=cacert,src=<redacted>`).
fn redact_secret(spec: &str) -> String {
    spec.split(',')
        .map(|field| match field.split_once('=') {
            Some((k, _)) if k == "id" || k == "type" => field.to_owned(),
            Some((k, _)) => format!("{k}={REDACTED}"),
            None => REDACTED.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The argv with build-argument and secret values hidden.
pub fn redact_argv(argv: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut next: Option<fn(&str) -> String> = None;
    for a in argv {
        if let Some(f) = next.take() {
            out.push(f(a));
            continue;
        }
        match a.as_str() {
            "--build-arg" => next = Some(redact_build_arg),
            "--secret" => next = Some(redact_secret),
            _ => {}
        }
        if let Some(kv) = a.strip_prefix("--build-arg=") {
            out.push(format!("--build-arg={}", redact_build_arg(kv)));
        } else if let Some(spec) = a.strip_prefix("--secret=") {
            out.push(format!("--secret={}", redact_secret(spec)));
        } else {
            out.push(a.clone());
        }
    }
    out
}

/// The values [`redact_argv`] hides (at least 4 characters long: shorter ones
/// are no secret and would blank out unrelated text), to scrub them from free
/// text such as an error or docker's own output.
pub fn secret_values(build_args: &[(String, String)], secrets: &[String]) -> Vec<String> {
    let mut out: Vec<String> = build_args.iter().filter(|(k, _)| !safe_build_arg(k)).map(|(_, v)| v.clone()).collect();
    for spec in secrets {
        for field in spec.split(',') {
            match field.split_once('=') {
                Some((k, _)) if k == "id" || k == "type" => {}
                Some((_, v)) => out.push(v.to_owned()),
                None => out.push(field.to_owned()),
            }
        }
    }
    out.retain(|v| v.chars().count() >= 4);
    out.sort_by_key(|v| std::cmp::Reverse(v.len()));
    out.dedup();
    out
}

/// Replace every secret value in `text` with `<redacted>`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for v in secrets {
        if !v.is_empty() {
            out = out.replace(v.as_str(), REDACTED);
        }
    }
    out
}

/// One command: environment assignments and an argv (never a shell string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub env: Vec<(String, String)>,
    pub argv: Vec<String>,
}

impl Command {
    pub fn new(argv: Vec<String>) -> Command {
        Command { env: Vec::new(), argv }
    }

    /// The command as one shell line: `K=V prog 'arg with space'`.
    pub fn shell_line(&self) -> String {
        let env = self.env.iter().map(|(k, v)| format!("{k}={}", crate::sys::quote(v)));
        let argv = self.argv.iter().map(|a| crate::sys::quote(a));
        env.chain(argv).collect::<Vec<_>>().join(" ")
    }

    /// The line to print (echo, dry run, errors): [`Command::shell_line`]
    /// with build-argument and secret values hidden.
    pub fn display_line(&self) -> String {
        Command { env: self.env.clone(), argv: redact_argv(&self.argv) }.shell_line()
    }
}

/// Where layers are cached between builds (`--cache`, parsed by clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CacheKind {
    #[default]
    None,
    /// GitHub Actions cache service (`type=gha`).
    Gha,
    /// A `buildcache-<os>-<arch>` tag in the registry.
    Registry,
    /// A directory.
    Local,
}

impl CacheKind {
    /// As on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CacheKind::None => "none",
            CacheKind::Gha => "gha",
            CacheKind::Registry => "registry",
            CacheKind::Local => "local",
        }
    }
}

/// What a buildx builder can do that CI's builder (docker-container) does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub driver: String,
    /// `--output type=image,push-by-digest=true`: every driver but `docker`
    /// (buildx `build/opt.go`: "push-by-digest is currently not implemented
    /// for docker driver").
    pub push_by_digest: bool,
    /// Cache export (`--cache-to`) and attestations (`--provenance`): the
    /// `docker` driver only with the containerd image store.
    pub exports: bool,
}

impl Capabilities {
    /// CI's builder (docker-container), what a dry run plans with.
    pub fn full() -> Capabilities {
        Capabilities { driver: "docker-container".into(), push_by_digest: true, exports: true }
    }

    pub fn of(driver: &str, containerd_store: bool) -> Capabilities {
        let docker = driver == "docker";
        Capabilities { driver: driver.to_owned(), push_by_digest: !docker, exports: !docker || containerd_store }
    }
}

/// The one fix for an engine without the containerd image store.
pub const CONTAINERD_STORE_FIX: &str = "turn on the containerd image store (Docker >= 24): \
     `{\"features\":{\"containerd-snapshotter\":true}}` in /etc/docker/daemon.json, then restart dockerd";

/// `--buildx`: whether to build with buildx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BuildxMode {
    /// If `docker buildx version` works.
    #[default]
    Auto,
    Yes,
    No,
}

/// A usable docker CLI.
#[derive(Debug, Clone)]
pub struct Docker {
    /// As given (printed in commands).
    pub name: String,
    pub path: PathBuf,
}

/// THE docker CLI resolver: the CLIs to try, best first. `--docker`, else
/// `$DOCKER`, else `docker` and then Debian's `/usr/bin/docker` (a CLI that
/// still drives BuildKit without buildx, where `docker` on PATH is newer).
pub fn candidates(flag: Option<&str>) -> Vec<String> {
    match (flag, crate::sys::env_var("DOCKER")) {
        (Some(f), _) => vec![f.to_owned()],
        (None, Some(env)) => vec![env],
        (None, None) => vec!["docker".into(), "/usr/bin/docker".into()],
    }
}

/// The CLI a command names: the first of [`candidates`].
pub fn choose(flag: Option<&str>) -> String {
    candidates(flag).swap_remove(0)
}

impl Docker {
    /// Resolve the binary; one error when it does not exist.
    pub fn find(name: &str) -> Result<Docker> {
        let path = which::which(name).map_err(|_| {
            anyhow::anyhow!("docker CLI `{name}` not found (install docker, or set DOCKER=/path/to/docker or --docker)")
        })?;
        Ok(Docker { name: name.to_owned(), path })
    }

    /// Run `docker ARGS…` and capture its output, whatever its status.
    pub fn output(&self, args: &[&str]) -> Result<std::process::Output> {
        let sh = Shell::new()?;
        let path = &self.path;
        cmd!(sh, "{path} {args...}")
            .quiet()
            .ignore_status()
            .output()
            .with_context(|| format!("cannot run {}", self.path.display()))
    }

    /// Check that the engine answers; one error naming DOCKER_HOST otherwise.
    pub fn check_engine(&self) -> Result<String> {
        let out = self.output(&["version", "--format", "{{.Server.Version}}"])?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !out.status.success() || version.is_empty() {
            let why = first_line(&String::from_utf8_lossy(&out.stderr));
            let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
            bail!(
                "the Docker engine at {host} is not running or not reachable ({why}); start dockerd or fix DOCKER_HOST"
            );
        }
        Ok(version)
    }

    /// The client's version (`20.10.24+dfsg1`), if it answers.
    pub fn client_version(&self) -> Option<String> {
        let out = self.output(&["version", "--format", "{{.Client.Version}}"]).ok()?;
        let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (!v.is_empty()).then_some(v)
    }

    /// Whether `docker buildx version` works.
    pub fn has_buildx(&self) -> bool {
        self.output(&["buildx", "version"]).map(|o| o.status.success()).unwrap_or(false)
    }

    /// `docker buildx version`, checked against [`BUILDX_MIN`]: the buildx
    /// version (`0.13.1`), or one error naming the fix.
    pub fn buildx_version(&self) -> Result<String> {
        let out = self.output(&["buildx", "version"])?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "`{} buildx version` fails ({}): install buildx >= {}.{} (`cargo xtask doctor --fix`, \
                 or https://docs.docker.com/build/install-buildx/)",
                self.name,
                first_line(&String::from_utf8_lossy(&out.stderr)),
                BUILDX_MIN.0,
                BUILDX_MIN.1
            );
        }
        check_buildx_version(&text)
    }

    /// The driver of the current buildx builder (`docker`, `docker-container`, …).
    pub fn buildx_driver(&self) -> Result<String> {
        let out = self.output(&["buildx", "inspect"])?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!("`{} buildx inspect` failed: {}", self.name, first_line(&String::from_utf8_lossy(&out.stderr)));
        }
        parse_driver(&text).with_context(|| format!("`{} buildx inspect` names no driver", self.name))
    }

    /// Whether the engine keeps its images in containerd (the containerd
    /// image store, Docker >= 24 with `containerd-snapshotter`).
    pub fn containerd_store(&self) -> Result<bool> {
        let out = self.output(&["info", "--format", "{{json .DriverStatus}}"])?;
        if !out.status.success() {
            bail!("`{} info` failed: {}", self.name, first_line(&String::from_utf8_lossy(&out.stderr)));
        }
        Ok(is_containerd_store(&String::from_utf8_lossy(&out.stdout)))
    }

    /// What the current builder can do, probed (see [`Capabilities`]).
    pub fn capabilities(&self) -> Result<Capabilities> {
        self.buildx_version()?;
        let driver = self.buildx_driver()?;
        let containerd_store = driver == "docker" && self.containerd_store()?;
        Ok(Capabilities::of(&driver, containerd_store))
    }

    /// Decide buildx (`auto`, `yes`, `no`); without buildx the CLI must be
    /// one that still drives BuildKit itself (before 23.0).
    pub fn buildx_mode(&self, when: BuildxMode) -> Result<bool> {
        let buildx = match when {
            BuildxMode::Auto => self.has_buildx(),
            BuildxMode::Yes => {
                if !self.has_buildx() {
                    bail!("--buildx yes, but `{} buildx version` fails", self.name);
                }
                true
            }
            BuildxMode::No => false,
        };
        if !buildx {
            if let Some(v) = self.client_version() {
                if major(&v) >= 23 {
                    bail!(
                        "docker CLI {} ({v}) has no buildx and, since 23.0, refuses BuildKit without it: \
                         install buildx, or choose a CLI <= 20.10 with DOCKER=/usr/bin/docker or --docker",
                        self.name
                    );
                }
            }
        }
        Ok(buildx)
    }

    /// Run a command, streaming its output; returns the combined output.
    pub fn run(&self, cmd: &Command) -> Result<String> {
        run_streaming(cmd, &self.path, &[])
    }

    /// [`Docker::run`], with `secrets` replaced by `<redacted>` in what is
    /// printed and returned.
    pub fn run_redacted(&self, cmd: &Command, secrets: &[String]) -> Result<String> {
        run_streaming(cmd, &self.path, secrets)
    }

    /// Run a command and capture stdout (stderr passes through).
    pub fn read(&self, cmd: &Command) -> Result<String> {
        let (prog, args) = cmd.argv.split_first().context("empty command")?;
        // An OsString, not a Path: duct looks a bare name up on PATH only then.
        let prog = if *prog == self.name { self.path.clone().into_os_string() } else { prog.into() };
        let out = expression(prog, args, &cmd.env)
            .stdin_null()
            .stdout_capture()
            .unchecked()
            .run()
            .with_context(|| format!("cannot run `{}`", cmd.display_line()))?;
        if !out.status.success() {
            bail!("`{}` failed ({})", cmd.display_line(), out.status);
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `docker inspect --format <fmt> <ref>`.
    pub fn inspect(&self, format: &str, what: &str) -> Result<String> {
        let out = self.output(&["inspect", "--format", format, what])?;
        if !out.status.success() {
            bail!("`{} inspect {what}` failed: {}", self.name, first_line(&String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

/// Run `cmd` (its first word replaced by `prog`), copying stdout and stderr to our
/// stderr as they come, and keep them for the caller (e.g. to look for CACHED).
pub fn run_streaming(cmd: &Command, prog: &std::path::Path, secrets: &[String]) -> Result<String> {
    let (_, args) = cmd.argv.split_first().context("empty command")?;
    // One stream (stdout and stderr interleaved as the build prints them);
    // unchecked: the status is read below, after the output.
    let reader = expression(prog, args, &cmd.env)
        .stdin_null()
        .stderr_to_stdout()
        .unchecked()
        .reader()
        .with_context(|| format!("cannot run `{}`", cmd.display_line()))?;
    let all = copy_lines(&reader, secrets);
    let status = match reader.try_wait().context("waiting for docker")? {
        Some(out) => out.status,
        None => bail!("`{}` closed its output but did not exit", short(&cmd.display_line())),
    };
    if !status.success() {
        // The last `ERROR`/`error` line says why (BuildKit prints it last).
        let why = all
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.to_ascii_lowercase().contains("error"))
            .or_else(|| all.lines().rev().map(str::trim).find(|l| !l.is_empty()))
            .map(|l| format!(": {}", short(l)))
            .unwrap_or_default();
        let tail = failed_step_tail(&all);
        let tail =
            if tail.is_empty() { String::new() } else { format!("; the step's last output: {}", tail.join(" | ")) };
        bail!("`{}` failed ({status}){why}{tail}", short(&cmd.display_line()));
    }
    Ok(all)
}

/// The last lines (at most 3, each shortened) that the failed step printed:
/// BuildKit repeats a failed step's output between `------` lines, after a
/// ` > [stage n/m] RUN …:` header, with each line's timestamp first.
fn failed_step_tail(all: &str) -> Vec<String> {
    let lines: Vec<&str> = all.lines().map(str::trim_end).collect();
    let Some(header) = lines.iter().rposition(|l| l.starts_with(" > [") && l.ends_with(':')) else {
        return Vec::new();
    };
    let body: Vec<&str> = lines[header + 1..]
        .iter()
        .take_while(|l| !l.starts_with("------"))
        .map(|l| {
            // "12.34 text": the step's clock, then what it printed.
            let l = l.trim();
            match l.split_once(' ') {
                Some((t, rest)) if t.parse::<f64>().is_ok() => rest.trim(),
                _ => l,
            }
        })
        .filter(|l| !l.is_empty())
        .collect();
    body[body.len().saturating_sub(3)..].iter().map(|l| short(l)).collect()
}

/// `prog args…` with the environment assignments of a planned command.
fn expression(prog: impl Into<std::ffi::OsString>, args: &[String], env: &[(String, String)]) -> duct::Expression {
    env.iter().fold(duct::cmd(prog.into(), args), |e, (k, v)| e.env(k, v))
}

thread_local! {
    /// What [`copy_lines`] puts before each line it prints on this thread.
    static PREFIX: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Run `f` with every line a streamed command prints on this thread
/// prefixed with `prefix` (builds running side by side, told apart in the
/// log). The output kept for the caller has no prefix.
pub fn with_output_prefix<T>(prefix: &str, f: impl FnOnce() -> T) -> T {
    let before = PREFIX.with(|p| p.replace(prefix.to_owned()));
    let out = f();
    PREFIX.with(|p| *p.borrow_mut() = before);
    out
}

/// Copy `r` to our stderr line by line until EOF (non-UTF-8 bytes replaced,
/// `secrets` redacted), and return all of it.
fn copy_lines(r: impl std::io::Read, secrets: &[String]) -> String {
    let prefix = PREFIX.with(|p| p.borrow().clone());
    let mut all = String::new();
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let line = scrub(line.trim_end_matches(['\n', '\r']), secrets);
                eprintln!("{prefix}{line}");
                all.push_str(&line);
                all.push('\n');
            }
        }
    }
    all
}

/// The oldest buildx xtask drives: `--annotation` on builds and on
/// `imagetools create` appeared in 0.12.
pub const BUILDX_MIN: (u32, u32) = (0, 12);

/// The version in `docker buildx version`'s output, if it is at least
/// [`BUILDX_MIN`]: `github.com/docker/buildx v0.13.1 <commit>` (upstream) or
/// `github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3` (Debian).
pub fn check_buildx_version(text: &str) -> Result<String> {
    let word = text.split_whitespace().nth(1).unwrap_or("");
    let version = word.trim_start_matches('v');
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let parsed = match (parts.next().and_then(|m| m.parse().ok()), parts.next().and_then(|m| m.parse().ok())) {
        (Some(major), Some(minor)) => Some((major, minor)),
        _ => None,
    };
    match parsed {
        Some(v) if v >= BUILDX_MIN => Ok(version.to_owned()),
        Some(_) => bail!(
            "buildx {version} is too old: xtask needs buildx >= {}.{} (`--annotation`); \
             `cargo xtask doctor --fix` installs a newer one (Debian 12: Debian 13's docker-buildx)",
            BUILDX_MIN.0,
            BUILDX_MIN.1
        ),
        None => bail!("cannot read a version in `docker buildx version`: {}", first_line(text)),
    }
}

/// The `Driver:` of `docker buildx inspect`'s output.
pub fn parse_driver(text: &str) -> Option<String> {
    text.lines().find_map(|l| l.trim().strip_prefix("Driver:")).map(|d| d.trim().to_owned()).filter(|d| !d.is_empty())
}

/// Whether `docker info`'s `{{json .DriverStatus}}` is the containerd
/// image store's (`[["driver-type","io.containerd.snapshotter.v1"]]`).
pub fn is_containerd_store(json: &str) -> bool {
    let rows: Vec<Vec<String>> = serde_json::from_str(json.trim()).unwrap_or_default();
    rows.iter().any(|r| r.len() == 2 && r[0] == "driver-type" && r[1].starts_with("io.containerd.snapshotter"))
}

fn first_line(s: &str) -> String {
    let line = s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no answer");
    line.to_owned()
}

/// Commands can be long: keep error lines readable.
fn short(s: &str) -> String {
    if s.len() > 160 {
        format!("{}…", &s[..s.char_indices().nth(160).map(|(i, _)| i).unwrap_or(s.len())])
    } else {
        s.to_owned()
    }
}

pub fn major(version: &str) -> u32 {
    version.split(['.', '+', '-']).next().and_then(|m| m.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_lines_carry_the_threads_prefix_and_the_kept_output_none() {
        let out =
            with_output_prefix("[linux/arm64] ", || copy_lines(&b"#1 DONE\nkey=s3cret\n"[..], &["s3cret".into()]));
        assert_eq!(out, "#1 DONE\nkey=<redacted>\n");
        assert_eq!(PREFIX.with(|p| p.borrow().clone()), "", "the prefix ends with the closure");
    }

    #[test]
    fn streaming_keeps_the_output_and_names_the_failure() {
        let ok = Command {
            env: vec![("X".into(), "v".into())],
            argv: vec!["sh".into(), "-c".into(), "echo out $X; echo err >&2".into()],
        };
        let sh = which::which("sh").unwrap(); // as Docker::find resolves the CLI
        let all = run_streaming(&ok, &sh, &[]).unwrap();
        assert!(all.contains("out v\n") && all.contains("err\n"), "{all}");
        let bad = Command {
            env: vec![],
            argv: vec!["sh".into(), "-c".into(), "echo step; printf 'ERROR: no\\377 space\\n'; exit 1".into()],
        };
        let err = run_streaming(&bad, &sh, &[]).unwrap_err().to_string();
        assert!(err.contains("failed (exit status: 1): ERROR: no\u{fffd} space"), "{err}");
    }

    #[test]
    fn a_failed_steps_last_output_lines_are_kept() {
        let log = "#23 [godeps 3/3] RUN xtask precache go\n#23 1.20 compiling\n#23 ERROR: process did not complete\n\
                   ------\n > [godeps 3/3] RUN xtask precache go --compile /go-deps.txt:\n\
                   1.20 compiling 118 packages\n2.51 go: write /root/.cache/go-build/x: no space left on device\n\
                   2.52 error: `go build` failed (exit status: 1)\n------\nDockerfile:87\n--------------------\n\
                     87 | >>> RUN xtask precache go\n--------------------\nERROR: failed to solve: process\n";
        assert_eq!(
            failed_step_tail(log),
            [
                "compiling 118 packages",
                "go: write /root/.cache/go-build/x: no space left on device",
                "error: `go build` failed (exit status: 1)"
            ]
        );
        assert!(failed_step_tail("ERROR: failed to solve: no such image\n").is_empty());
        let sh = which::which("sh").unwrap();
        let bad = Command {
            env: vec![],
            argv: vec!["sh".into(), "-c".into(), format!("printf '{}'; exit 1", log.replace('`', ""))],
        };
        let err = run_streaming(&bad, &sh, &[]).unwrap_err().to_string();
        assert!(err.contains("; the step's last output: compiling 118 packages | go: write"), "{err}");
    }

    #[test]
    fn buildx_versions_drivers_and_stores() {
        assert_eq!(check_buildx_version("github.com/docker/buildx v0.13.1 7884339\n").unwrap(), "0.13.1");
        assert_eq!(check_buildx_version("github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3").unwrap(), "0.13.1+ds1");
        assert_eq!(check_buildx_version("github.com/docker/buildx v1.0.0 x").unwrap(), "1.0.0");
        let old = check_buildx_version("github.com/docker/buildx v0.10.4 c513d34").unwrap_err().to_string();
        assert!(old.contains("0.10.4 is too old") && old.contains("doctor --fix"), "{old}");
        assert!(check_buildx_version("").unwrap_err().to_string().contains("cannot read a version"));
        let inspect =
            "Name:          default\nDriver:        docker\nLast Activity: 2026-12-01\n\nNodes:\nName: default\n";
        assert_eq!(parse_driver(inspect).as_deref(), Some("docker"));
        assert_eq!(parse_driver("Name: b\nDriver: docker-container\n").as_deref(), Some("docker-container"));
        assert_eq!(parse_driver("Name: x\n"), None);
        assert!(is_containerd_store(r#"[["driver-type","io.containerd.snapshotter.v1"]]"#));
        assert!(!is_containerd_store(r#"[["Backing Filesystem","extfs"],["Supports d_type","true"]]"#));
        assert!(!is_containerd_store("not json"));
        assert_eq!(
            Capabilities::of("docker", true),
            Capabilities { driver: "docker".into(), push_by_digest: false, exports: true }
        );
        assert!(!Capabilities::of("docker", false).exports);
        assert_eq!(Capabilities::of("docker-container", false), Capabilities::full());
    }

    #[test]
    fn majors() {
        assert_eq!(major("20.10.24+dfsg1"), 20);
        assert_eq!(major("28.2.2"), 28);
        assert_eq!(major("dev"), 0);
    }
}
