//! `cargo xtask ci smoke --image I --digests DIR`: every platform's pushed
//! digest of an image, pulled by digest and run before any tag names it (the
//! workflow merges only the digests this passed).
//!
//! - extproc: on the host network with the model mounted read-only,
//!   `/healthz` 200, a coding prompt routed to `coding` by `/v1/route` and
//!   through ext_proc (`extproc-probe`, built here);
//! - stack: `smoke::stack` (router, dashboard, Prometheus, ext_proc from
//!   inside, loopback only);
//! - dev, precommit: their prebuilt `xtask --version` runs on the platform
//!   (no network): the images start and their binary runs; what they check
//!   is the e2e's (`cargo xtask test --suite images`).
//!
//! A platform that is not the host's runs under qemu-user: its binfmt
//! handler must be registered first. [`runs`] and the argv functions are
//! pure (golden-tested); [`run`] pulls and runs.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, ensure, Context, Result};
use xshell::{cmd, Shell};

use super::plan::{Mode, Plan};
use crate::{
    binfmt::handler,
    ctx::Ctx,
    docker::{argv, images::ImageSpec},
    engine::Docker,
    flags, http,
    platform::Platform,
};

/// What a smoke run of an image checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The router: `/healthz`, `/v1/route`, ext_proc (extproc).
    Router,
    /// The stack's router, dashboard, Prometheus and ext_proc (stack).
    Stack,
    /// The image's `xtask --version` (dev, precommit).
    XtaskVersion,
}

impl Check {
    /// The check of the image named `image`; one error for an image no
    /// smoke run knows (a new row of the image table needs its arm here).
    pub fn of(image: &str) -> Result<Check> {
        Ok(match image {
            "extproc" => Check::Router,
            "stack" => Check::Stack,
            "dev" | "precommit" => Check::XtaskVersion,
            other => bail!("`ci smoke` has no check for image `{other}`: add its arm to `ci::smoke::Check::of`"),
        })
    }

    /// The run needs the model (mounted) and the ext_proc client.
    pub fn needs_model(self) -> bool {
        matches!(self, Check::Router | Check::Stack)
    }
}

/// One smoke run: a platform's pushed image, by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub image: &'static str,
    pub platform: Platform,
    /// `<registry>/<image>@sha256:<hex>`.
    pub reference: String,
    pub check: Check,
}

impl Run {
    /// How the run is named in its error and the log.
    pub fn describe(&self) -> String {
        format!("{} {} ({})", self.image, self.platform, self.reference)
    }
}

/// The smoke runs of `spec` (pure): one per platform the plan builds it for,
/// from the digest files (`ci build --digests-dir`), in platform order;
/// every platform must have its digest, as `ci manifest` requires.
pub fn runs(plan: &Plan, spec: &ImageSpec, files: &[(String, String)]) -> Result<Vec<Run>> {
    let check = Check::of(spec.name)?;
    let expected = plan.platforms_of(spec)?;
    let digests = super::platform_digests(spec.name, &expected, files)?;
    let name = argv::image_name(Some(&plan.registry), spec.name);
    expected
        .into_iter()
        .zip(digests)
        .map(|(platform, d)| Ok(Run { image: spec.name, platform, reference: argv::digest_ref(&name, &d)?, check }))
        .collect()
}

/// `docker pull` of a run's digest.
pub fn pull_argv(run: &Run) -> Vec<String> {
    ["pull", "--platform", run.platform.docker(), &run.reference].map(String::from).to_vec()
}

/// The model as a read-only bind mount at the path the images read it from.
pub fn model_mount(model: &Path) -> String {
    format!("type=bind,src={},dst=/models/all-MiniLM-L6-v2,readonly", model.display())
}

/// `docker run` of extproc, detached, named `name`, on the host network (the
/// checks reach it on loopback), HTTP on `listen` and ext_proc on `grpc`.
pub fn router_argv(run: &Run, name: &str, model: &Path, listen: &str, grpc: &str) -> Vec<String> {
    let pd = run.platform.docker();
    let mount = model_mount(model);
    let a = ["run", "-d", "--rm", "--name", name, "--platform", pd, "--network", "host", "--mount", &mount];
    let mut v: Vec<String> = a.map(String::from).to_vec();
    v.extend([run.reference.as_str(), "--listen", listen, "--grpc-listen", grpc].map(String::from));
    v
}

/// `docker run` of the image's own xtask, `--version`, without network.
pub fn version_argv(run: &Run) -> Vec<String> {
    let pd = run.platform.docker();
    ["run", "--rm", "--platform", pd, "--network", "none", "--entrypoint", "xtask", &run.reference, "--version"]
        .map(String::from)
        .to_vec()
}

/// What a dry run prints for `run`: the docker commands, one per line.
pub fn describe_commands(run: &Run, model: &Path) -> Vec<String> {
    let mut out = vec![pull_argv(run)];
    match run.check {
        Check::Router => out.push(router_argv(run, "NAME", model, "127.0.0.1:PORT", "127.0.0.1:GRPC")),
        Check::Stack => out.push(crate::smoke::stack_argv(&run.reference, run.platform, &model_mount(model), "NAME")),
        Check::XtaskVersion => out.push(version_argv(run)),
    }
    out.into_iter().map(|a| format!("docker {}", a.join(" "))).collect()
}

/// A platform that is not the host's needs qemu's handler to run.
fn check_binfmt(p: Platform) -> Result<()> {
    if p.is_host() {
        return Ok(());
    }
    match handler::state(p) {
        // A container's programs reach the handler only with flag F (the
        // interpreter opened when registered).
        handler::State::Enabled { flags, .. } if flags.contains('F') => Ok(()),
        other => {
            let state = match other {
                handler::State::NotMounted => "absent (binfmt_misc is not mounted)",
                handler::State::Disabled => "disabled",
                handler::State::Enabled { .. } => "registered without flag F (containers cannot use it)",
                handler::State::NotRegistered => "not registered",
            };
            bail!(
                "{p} runs under qemu-user here, and its binfmt handler is {state}: run `cargo xtask binfmt \
                 --platform {p}` as root (in a workflow: docker/setup-qemu-action before this step)"
            )
        }
    }
}

/// `cargo xtask ci smoke --image I --digests DIR`.
pub fn run(ctx: &Ctx, s: &flags::CiSmoke) -> Result<()> {
    let plan = Plan::load(s.of.plan.as_deref())?;
    let (spec, _) = super::in_plan(&plan, &s.of.image, None)?;
    if plan.mode != Mode::Publish {
        bail!("a {:?} run pushes nothing: no digest to smoke-run", plan.mode);
    }
    let files = super::digest_files(&ctx.sh.current_dir().join(&s.of.digests))?;
    let runs = runs(&plan, spec, &files)?;
    let check = Check::of(spec.name)?;
    if s.dry_run {
        let model = crate::model::default_dir(ctx).unwrap_or_else(|_| PathBuf::from("MODEL"));
        for r in &runs {
            for line in describe_commands(r, &model) {
                println!("{line}");
            }
        }
        return Ok(());
    }
    for r in &runs {
        check_binfmt(r.platform)?;
    }
    let docker = Docker::find(&crate::engine::choose(None))?;
    let work = ctx.layout().root().join("ci-smoke");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let model = if check.needs_model() {
        let model = crate::model::default_dir(ctx)?;
        if !crate::model::verified(&model).unwrap_or(false) {
            flags::Model { dir: None, from: None, wheel: None }.run(ctx)?;
        }
        model
    } else {
        PathBuf::new()
    };
    // The host's ext_proc client, built once for every extproc run.
    let mut host_probe: Option<PathBuf> = None;
    let mut failed = Vec::new();
    for r in &runs {
        eprintln!("ci smoke: {}", r.describe());
        let res = pulled(&docker, r).and_then(|()| match r.check {
            Check::Router => {
                let probe = match &host_probe {
                    Some(p) => p.clone(),
                    None => {
                        let router_dir = ctx.workspace()?.path(crate::build::ROUTER_DIR);
                        let built = crate::smoke::build_probe(&ctx.sh, &router_dir, Platform::host()?, &work)?;
                        host_probe.insert(built).clone()
                    }
                };
                router(&docker, r, &model, &probe)
            }
            Check::Stack => stack(ctx, &docker, r, &model, &work),
            Check::XtaskVersion => xtask_version(&docker, r),
        });
        match res {
            Ok(()) => eprintln!("ci smoke: {}: passed", r.describe()),
            Err(e) => {
                eprintln!("ci smoke: {}: FAILED: {e:#}", r.describe());
                failed.push(format!("{}: {e:#}", r.describe()));
            }
        }
    }
    ensure!(
        failed.is_empty(),
        "the smoke run of {} failed, so no tag names it; fix the image and push again:\n{}",
        if failed.len() == 1 { "a pushed digest" } else { "pushed digests" },
        failed.join("\n")
    );
    eprintln!("ci smoke: every pushed digest of {} ran; `ci manifest` may name them", spec.name);
    Ok(())
}

fn pulled(docker: &Docker, r: &Run) -> Result<()> {
    let sh = Shell::new()?;
    let (path, args) = (&docker.path, pull_argv(r));
    cmd!(sh, "{path} {args...}").run().context("docker pull failed")
}

/// extproc, as the e2e runs each pushed digest: `/healthz`, `/v1/route`,
/// then ext_proc with the host's client (the container shares its network).
fn router(docker: &Docker, r: &Run, model: &Path, probe: &Path) -> Result<()> {
    let port = http::free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let grpc = format!("127.0.0.1:{}", http::free_port()?);
    let name = format!("xtask-ci-smoke-{}-{port}", r.platform.goarch());
    let sh = Shell::new()?;
    let (path, args) = (&docker.path, router_argv(r, &name, model, &listen, &grpc));
    cmd!(sh, "{path} {args...}").run().context("docker run failed")?;
    let result = (|| -> Result<()> {
        let limit = Duration::from_secs(if r.platform.is_host() { 120 } else { 300 });
        let took = crate::smoke::wait_healthy(&listen, limit, &mut || {
            let running = docker.inspect("{{.State.Running}}", &name).is_ok_and(|s| s == "true");
            ensure!(running, "the container exited before answering");
            Ok(())
        })?;
        eprintln!("ci smoke: {}: /healthz 200 after {:.1}s", r.platform, took.as_secs_f64());
        let answer = crate::smoke::check_route(&listen)?;
        eprintln!("ci smoke: {}: /v1/route -> {answer}", r.platform);
        let routed = crate::smoke::check_extproc(probe, &[], &grpc, Duration::from_secs(60))?;
        eprintln!("ci smoke: {}: ext_proc -> {routed}", r.platform);
        Ok(())
    })();
    if result.is_err() {
        let _ = cmd!(sh, "{path} logs {name}").run();
    }
    let _ = cmd!(sh, "{path} stop -t 5 {name}").quiet().ignore_stdout().ignore_stderr().run();
    result
}

fn stack(ctx: &Ctx, docker: &Docker, r: &Run, model: &Path, work: &Path) -> Result<()> {
    let name = format!("xtask-ci-smoke-stack-{}-{}", r.platform.goarch(), std::process::id());
    let router_dir = ctx.workspace()?.path(crate::build::ROUTER_DIR);
    let mut probe = || crate::smoke::build_probe(&ctx.sh, &router_dir, r.platform, work);
    crate::smoke::stack(docker, &r.reference, r.platform, &model_mount(model), &name, "ci smoke", &mut probe)
}

fn xtask_version(docker: &Docker, r: &Run) -> Result<()> {
    let sh = Shell::new()?;
    let (path, args) = (&docker.path, version_argv(r));
    let out = cmd!(sh, "{path} {args...}").ignore_status().output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    ensure!(out.status.success(), "`xtask --version` in the image failed ({}): {}", out.status, text.trim());
    ensure!(
        is_version_line(&text),
        "`xtask --version` in the image printed `{}`, not `cargo xtask <version>`",
        text.trim()
    );
    eprintln!("ci smoke: {}: {}", r.platform, text.trim());
    Ok(())
}

/// What `xtask --version` prints: one line, `cargo xtask <version>`.
pub fn is_version_line(text: &str) -> bool {
    let mut lines = text.trim().lines();
    let (Some(line), None) = (lines.next(), lines.next()) else { return false };
    line.rsplit_once(' ').is_some_and(|(name, v)| {
        name.ends_with("xtask") && v.split('.').count() == 3 && v.starts_with(|c: char| c.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::images;

    fn plan(images: &[&str], platforms: &[&str], mode: Mode) -> Plan {
        Plan {
            mode,
            event: "push".into(),
            registry: "ghcr.io/o/r".into(),
            tags: vec!["sha-0123456".into()],
            latest: true,
            sha_tag: "sha-0123456".into(),
            version: "sha-0123456".into(),
            revision: "0".repeat(40),
            source: "https://github.com/o/r".into(),
            images: images.iter().map(|s| s.to_string()).collect(),
            platforms: platforms.iter().map(|s| s.to_string()).collect(),
            notes: vec![],
        }
    }

    fn files(f: &[(&str, &str)]) -> Vec<(String, String)> {
        f.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    /// Every image of the table has a check: a new image cannot be
    /// published without a smoke run.
    #[test]
    fn every_image_has_a_check() {
        for spec in images::IMAGES {
            Check::of(spec.name).unwrap();
        }
        let e = Check::of("nope").unwrap_err().to_string();
        assert!(e.contains("image `nope`") && e.contains("Check::of"), "{e}");
    }

    /// The runs, golden: one per platform, by digest, in platform order,
    /// with each command.
    #[test]
    fn extproc_runs_each_platform_by_digest() {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let p = plan(&["extproc", "stack"], &["linux/amd64", "linux/arm64"], Mode::Publish);
        let spec = images::find("extproc").unwrap();
        let runs = runs(&p, spec, &files(&[(&b, "linux/arm64"), (&a, "linux/amd64")])).unwrap();
        let refs: Vec<_> = runs.iter().map(|r| (r.platform.docker(), r.reference.as_str(), r.check)).collect();
        assert_eq!(
            refs,
            [
                ("linux/amd64", format!("ghcr.io/o/r/extproc@sha256:{a}").as_str(), Check::Router),
                ("linux/arm64", format!("ghcr.io/o/r/extproc@sha256:{b}").as_str(), Check::Router),
            ]
        );
        let model = Path::new("/m");
        assert_eq!(
            describe_commands(&runs[1], model),
            [
                format!("docker pull --platform linux/arm64 ghcr.io/o/r/extproc@sha256:{b}"),
                format!(
                    "docker run -d --rm --name NAME --platform linux/arm64 --network host --mount \
                     type=bind,src=/m,dst=/models/all-MiniLM-L6-v2,readonly ghcr.io/o/r/extproc@sha256:{b} \
                     --listen 127.0.0.1:PORT --grpc-listen 127.0.0.1:GRPC"
                ),
            ]
        );
        assert_eq!(runs[1].describe(), format!("extproc linux/arm64 (ghcr.io/o/r/extproc@sha256:{b})"));
    }

    #[test]
    fn stack_and_dev_commands() {
        let a = "c".repeat(64);
        let p = plan(&["dev", "stack"], &["linux/amd64"], Mode::Publish);
        let stack = runs(&p, images::find("stack").unwrap(), &files(&[(&a, "linux/amd64")])).unwrap();
        assert_eq!(stack[0].check, Check::Stack);
        assert_eq!(
            describe_commands(&stack[0], Path::new("/m"))[1],
            format!(
                "docker run -d --rm --platform linux/amd64 --name NAME --network none --mount \
                 type=bind,src=/m,dst=/models/all-MiniLM-L6-v2,readonly ghcr.io/o/r/stack@sha256:{a}"
            )
        );
        let dev = runs(&p, images::find("dev").unwrap(), &files(&[(&a, "linux/amd64")])).unwrap();
        assert_eq!(
            version_argv(&dev[0]).join(" "),
            format!(
                "run --rm --platform linux/amd64 --network none --entrypoint xtask ghcr.io/o/r/dev@sha256:{a} --version"
            )
        );
        assert!(!dev[0].check.needs_model() && stack[0].check.needs_model());
    }

    #[test]
    fn the_version_line() {
        assert!(is_version_line("cargo xtask 0.1.0\n"));
        assert!(is_version_line("xtask 1.2.3"));
        assert!(!is_version_line("exec: \"xtask\": executable file not found in $PATH"));
        assert!(!is_version_line("cargo xtask 0.1.0\nerror: something else"));
        assert!(!is_version_line(""));
    }

    /// A platform without its digest is not run and not merged: one error
    /// naming it, as `ci manifest` says it.
    #[test]
    fn a_missing_platform_is_one_error() {
        let p = plan(&["extproc"], &["linux/amd64", "linux/arm64"], Mode::Publish);
        let spec = images::find("extproc").unwrap();
        let e = runs(&p, spec, &files(&[(&"a".repeat(64), "linux/amd64")])).unwrap_err().to_string();
        assert!(e.starts_with("extproc: no digest for linux/arm64"), "{e}");
        let e = runs(&p, spec, &files(&[("xyz", "linux/amd64"), (&"b".repeat(64), "linux/arm64")]));
        assert!(e.unwrap_err().to_string().contains("is not a sha256 digest"));
    }
}
