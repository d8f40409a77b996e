//! `cargo xtask ci act --event E`: `.github/workflows/docker-publish.yml` run
//! on this machine by a pinned [act](https://github.com/nektos/act), then the
//! loopback registry checked against what the event promises.
//!
//! - [`Tools`]: resolved once: act (built from its Go module at
//!   [`ACT_VERSION`] into `target/xtask/act/<version>/` when missing), git,
//!   docker.
//! - [`ActPlan`] (pure, golden-tested): the act argv, the event payload, the
//!   stand-in map (every `uses:` of the two workflows to its directory under
//!   `.github/act/`), the runner labels, the promises to check.
//! - run: a clone of the worktree's HEAD under `target/xtask/act/repo` (the
//!   jobs run in it, on this host: `-P <label>=-self-hosted`), act, then the
//!   registry (`GET /v2/<repo>/tags/list`, `imagetools inspect`).
//!
//! The plan's registry is the loopback one through `XTASK_REGISTRY` (act's
//! `--env`): `ci plan` reads it in place of `ghcr.io`; the workflow is run as
//! written.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{bail, ensure, Context, Result};
use serde_json::json;

use super::plan::{self, Event, Mode, Plan};
use check::{kept, snapshot};

pub mod check;
pub mod plant;
pub mod state;
use crate::{
    ctx::Ctx,
    docker::images,
    engine::Docker,
    flags::{self, ActEvent},
    platform::Platform,
};

/// act's Go module.
pub const ACT_MODULE: &str = "github.com/nektos/act";
/// Its pinned version (its `go.mod` asks for Go 1.25; no replace directives).
pub const ACT_VERSION: &str = "v0.2.89";
/// The workflow `ci act` runs, and the ones it calls.
pub const WORKFLOW: &str = ".github/workflows/docker-publish.yml";
pub const CALLED: [&str; 2] = [".github/workflows/docker-images.yml", ".github/workflows/docker-tags.yml"];
/// The stand-ins' directory, in the repository.
pub const STAND_INS_DIR: &str = ".github/act";
/// The loopback registry (Debian's docker-registry, plain HTTP; the e2e's).
pub const REGISTRY: &str = "127.0.0.1:5000";
/// `GITHUB_REPOSITORY` of act runs (the clone's `origin`, never fetched).
pub const REPOSITORY: &str = "xtask-act/semantic-router";
/// The pull request's number in the generated payload.
pub const PR_NUMBER: u64 = 1;
/// act's artifact server port (its default is 34567; another is taken so
/// that a stray act there does not collide).
pub const ARTIFACT_PORT: u16 = 34589;
/// The builder the setup-buildx stand-in uses: the e2e's BuildKit image
/// ([`crate::engine::buildx`]) with the e2e builder's configuration plus a
/// `docker.io` mirror on the loopback registry (no Docker Hub here: the
/// Dockerfiles' default base images come from it, see [`mirrored`]).
pub const BUILDER: &str = "xtask-act";
/// The Debian base images the e2e pushes to the loopback registry
/// (`xtask/src/e2e/mod.rs`, `base_image`), per release and architecture.
pub const E2E_BASE: &str = "xtask-e2e/debian:{codename}-{arch}-v1";
/// The e2e's stand-in for the Rust image `{image}` (`rust:<toolchain>-bookworm`)
/// on this machine's architecture (`xtask/src/e2e/mod.rs`, `rust_image`): the
/// builder stages that start FROM it run on the build machine only.
pub const E2E_RUST: &str = "xtask-e2e/{image}-amd64-v1";

/// Each third-party action the workflows use, and its stand-in's directory
/// under [`STAND_INS_DIR`] (its `action.yml` says what it stands for).
pub const STAND_INS: &[(&str, &str)] = &[
    ("actions/checkout", "checkout"),
    ("Swatinem/rust-cache", "rust-cache"),
    ("actions/upload-artifact", "upload-artifact"),
    ("actions/download-artifact", "download-artifact"),
    ("docker/setup-buildx-action", "setup-buildx"),
    ("docker/setup-qemu-action", "setup-qemu"),
    ("crazy-max/ghaction-github-runtime", "github-runtime"),
    ("actions/github-script", "github-script"),
    ("docker/login-action", "login"),
    ("actions/attest-build-provenance", "attest"),
];

/// The tools `ci act` runs, resolved once.
#[derive(Debug, Clone)]
pub struct Tools {
    pub act: PathBuf,
    pub git: PathBuf,
    pub docker: Docker,
}

impl Tools {
    /// git and docker from PATH; act from `dir` (`target/xtask/act/<version>`),
    /// built there with `go install` when missing.
    pub fn resolve(dir: &Path, need_docker: bool) -> Result<Tools> {
        let git = which::which("git").map_err(|_| anyhow::anyhow!("git is not on PATH: install git"))?;
        let docker = Docker::find(&crate::engine::choose(None))?;
        if need_docker {
            docker.check_engine()?;
        }
        let act = dir.join("act");
        if !act.is_file() {
            build_act(dir)?;
        }
        Ok(Tools { act, git, docker })
    }
}

/// Go for `go install`: PATH's, else `/usr/local/go/bin/go`.
fn go() -> Result<PathBuf> {
    which::which("go").or_else(|_| {
        let p = PathBuf::from("/usr/local/go/bin/go");
        if p.is_file() {
            Ok(p)
        } else {
            bail!("act is built from its Go module and Go is not on PATH (nor /usr/local/go): install Go >= 1.25")
        }
    })
}

/// `go install ACT_MODULE@ACT_VERSION` into `dir` (the Go module proxy; a
/// static binary).
fn build_act(dir: &Path) -> Result<()> {
    let go = go()?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let module = format!("{ACT_MODULE}@{ACT_VERSION}");
    eprintln!("ci act: go install {module} (into {})", dir.display());
    let status = Command::new(&go)
        .args(["install", &module])
        .env("GOBIN", dir)
        .env("CGO_ENABLED", "0")
        .envs(crate::fsutil::ca_env())
        .status()
        .with_context(|| format!("cannot run {}", go.display()))?;
    ensure!(status.success(), "`go install {module}` failed (it needs the Go module proxy, GOPROXY, and Go >= 1.25)");
    Ok(())
}

/// buildkitd's configuration of [`BUILDER`]: the e2e builder's (the
/// loopback registry in plain HTTP, a bounded state), with the loopback
/// registry as Docker Hub's mirror.
pub fn buildkitd_config() -> String {
    format!("{}[registry.\"docker.io\"]\n  mirrors = [\"{REGISTRY}\"]\n", crate::engine::buildx::config(REGISTRY))
}

/// The Docker Hub images (`ARG *_IMAGE=<default>` with no registry host) the
/// Dockerfiles of `specs` start FROM, in order: each is mirrored.
pub fn hub_images(dockerfiles: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for text in dockerfiles {
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("ARG ") else { continue };
            let Some((name, value)) = rest.split_once('=') else { continue };
            let value = value.trim().trim_matches('"');
            let first = value.split('/').next().unwrap_or("");
            let hub = !first.contains('.') && !first.contains(':') || !value.contains('/');
            if name.ends_with("_IMAGE")
                && !value.is_empty()
                && !value.contains('$')
                && hub
                && !out.iter().any(|o| o == value)
            {
                out.push(value.to_owned());
            }
        }
    }
    out
}

/// The Docker Hub images the image table gives a platform in place of a
/// Dockerfile's default (`debian:trixie-slim`, riscv64's runtime), in
/// order: each is mirrored too.
pub fn platform_hub_images() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for spec in images::IMAGES {
        for &p in spec.platforms {
            for (_, image) in spec.platform_args(p) {
                if !out.contains(&image) {
                    out.push(image);
                }
            }
        }
    }
    out
}

/// Where the mirror holds a Docker Hub image (`debian:bookworm-slim` →
/// `127.0.0.1:5000/library/debian:bookworm-slim`), and the e2e images it is
/// made of, the same the e2e builds with in place of the Dockerfiles'
/// defaults: for `debian:<codename>-slim` the e2e's base of that release
/// for each platform whose first Debian release it is (bookworm: amd64 and
/// arm64; trixie: riscv64), for `rust:…` the Rust stand-in (amd64); with
/// the platforms of those sources.
pub fn mirrored(image: &str) -> (String, Vec<(Platform, String)>) {
    let path = if image.contains('/') { image.to_owned() } else { format!("library/{image}") };
    let sources = if image.starts_with("rust:") {
        vec![(Platform::AMD64, format!("{REGISTRY}/{}", E2E_RUST.replace("{image}", image)))]
    } else {
        let codename = image.strip_prefix("debian:").map(|t| t.trim_end_matches("-slim")).unwrap_or("bookworm");
        Platform::ALL
            .iter()
            .filter(|p| p.debian().1 == codename)
            .map(|p| {
                let base = E2E_BASE.replace("{codename}", codename).replace("{arch}", p.debian_arch());
                (*p, format!("{REGISTRY}/{base}"))
            })
            .collect()
    };
    (format!("{REGISTRY}/{path}"), sources)
}

/// `owner/repo@ref` of every third-party action in `workflow` (a YAML text),
/// in order of first use; local ones (`./…`) are not.
pub fn actions_used(workflow: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in workflow.lines() {
        let line = line.trim_start().trim_start_matches("- ");
        let Some(rest) = line.strip_prefix("uses:") else { continue };
        let spec = rest.split('#').next().unwrap_or("").trim().trim_matches(['"', '\'']);
        if spec.starts_with("./") || spec.is_empty() {
            continue;
        }
        if let Some((name, r)) = spec.split_once('@') {
            let item = (name.to_owned(), r.to_owned());
            if !out.contains(&item) {
                out.push(item);
            }
        }
    }
    out
}

/// The literal `runs-on:` labels of `workflow` (expressions are the
/// matrix's: see [`runner_labels`]).
fn literal_runners(workflow: &str) -> Vec<String> {
    workflow
        .lines()
        .filter_map(|l| l.trim().strip_prefix("runs-on:"))
        .map(|v| v.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|v| !v.is_empty() && !v.contains("${{"))
        .collect()
}

/// Every runner label the run may ask for: the workflows' literal ones and
/// every runner of the image matrix; each is mapped to this host.
pub fn runner_labels(workflows: &[&str]) -> Vec<String> {
    let mut labels: Vec<String> = workflows.iter().flat_map(|w| literal_runners(w)).collect();
    for spec in images::IMAGES {
        for &p in spec.platforms {
            for qemu in [false, true] {
                labels.push(spec.runner(p, qemu).0.to_owned());
            }
        }
    }
    labels.sort();
    labels.dedup();
    labels
}

/// `--local-repository owner/repo@ref=DIR` values: each action used to its
/// stand-in under `stand_ins` (a directory); one error naming every action
/// without one.
pub fn stand_in_map(used: &[(String, String)], stand_ins: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (name, r) in used {
        match STAND_INS.iter().find(|(a, _)| a.eq_ignore_ascii_case(name)) {
            Some((_, dir)) => out.push(format!("{name}@{r}={}", stand_ins.join(dir).display())),
            None => missing.push(format!("{name}@{r}")),
        }
    }
    if !missing.is_empty() {
        bail!(
            "no act stand-in for {}: add a directory with an action.yml under {STAND_INS_DIR}/ and its row in \
             STAND_INS (xtask/src/ci/act/mod.rs)",
            missing.join(", ")
        );
    }
    Ok(out)
}

/// The event's name for act.
pub fn event_name(e: ActEvent) -> &'static str {
    match e {
        ActEvent::Push | ActEvent::Tag => "push",
        ActEvent::Pr => "pull_request",
        ActEvent::Schedule => "schedule",
    }
}

/// `GITHUB_REF` of the event (act reads it from the payload's `ref`, and
/// for schedule from the clone's branch, `main`).
pub fn git_ref(e: ActEvent, tag: &str) -> String {
    match e {
        ActEvent::Push | ActEvent::Schedule => "refs/heads/main".into(),
        ActEvent::Pr => format!("refs/pull/{PR_NUMBER}/merge"),
        ActEvent::Tag => format!("refs/tags/{tag}"),
    }
}

/// The event payload act passes as `GITHUB_EVENT_PATH` (the fields `ci
/// plan` and act read).
pub fn payload(e: ActEvent, sha: &str, base: &str, tag: &str) -> serde_json::Value {
    let repository = json!({
        "full_name": REPOSITORY,
        "name": REPOSITORY.split('/').nth(1).unwrap_or(REPOSITORY),
        "owner": {"login": REPOSITORY.split('/').next().unwrap_or(REPOSITORY)},
        "default_branch": "main",
    });
    match e {
        ActEvent::Push => json!({
            "ref": git_ref(e, tag), "before": base, "after": sha,
            "head_commit": {"id": sha}, "repository": repository,
        }),
        ActEvent::Tag => json!({
            "ref": git_ref(e, tag), "before": "0".repeat(40), "after": sha,
            "head_commit": {"id": sha}, "repository": repository,
        }),
        ActEvent::Pr => json!({
            "action": "synchronize",
            "number": PR_NUMBER,
            "pull_request": {
                "number": PR_NUMBER,
                "head": {"ref": "act", "sha": sha},
                "base": {"ref": "main", "sha": base},
            },
            "repository": repository,
        }),
        ActEvent::Schedule => json!({"schedule": "23 3 * * *", "repository": repository}),
    }
}

/// The plan `ci plan` makes for the run (the same function, from the same
/// inputs): what the registry must then hold.
pub fn expected_plan(i: &ActInputs, now: u64, changed: Option<&[String]>, release_tags: &[String]) -> Result<Plan> {
    let e = i.event;
    let ev = Event {
        name: event_name(e).into(),
        git_ref: git_ref(e, i.tag),
        sha: i.sha.into(),
        repository: REPOSITORY.into(),
        server_url: "https://github.com".into(),
        pr_number: (e == ActEvent::Pr).then_some(PR_NUMBER),
        base: matches!(e, ActEvent::Push | ActEvent::Pr).then(|| i.base.to_owned()),
        now,
        publish: true,
        arm64_qemu: i.arm64_qemu,
        registry_host: REGISTRY.into(),
    };
    plan::plan(&ev, changed, release_tags)
}

/// One promise of the event about one tag of one image's repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Promise {
    /// The tag is there, an index of exactly these platforms.
    Present { repo: String, tag: String, platforms: Vec<String> },
    /// The tag points where `same_as` does (`latest` moved to the run's).
    SameAs { repo: String, tag: String, same_as: String },
    /// The tag is as before the run (absent stays absent).
    Unchanged { repo: String, tag: String },
}

impl Promise {
    pub fn line(&self) -> String {
        match self {
            Promise::Present { repo, tag, platforms } => format!("{repo}:{tag} holds {}", platforms.join(", ")),
            Promise::SameAs { repo, tag, same_as } => format!("{repo}:{tag} is {repo}:{same_as}"),
            Promise::Unchanged { repo, tag } => format!("{repo}:{tag} is as before the run"),
        }
    }

    pub fn repo(&self) -> &str {
        match self {
            Promise::Present { repo, .. } | Promise::SameAs { repo, .. } | Promise::Unchanged { repo, .. } => repo,
        }
    }
}

/// What the registry must hold after the run of `plan`, for `images` (the
/// plan's, or the `--only` narrowing).
pub fn promises(plan: &Plan, only: &[String]) -> Result<Vec<Promise>> {
    let path = plan.registry.strip_prefix(&format!("{REGISTRY}/")).unwrap_or(&plan.registry).to_owned();
    let mut out = Vec::new();
    for name in plan.images.iter().filter(|i| only.is_empty() || only.contains(i)) {
        let spec = images::find(name)?;
        let repo = format!("{path}/{name}");
        let platforms: Vec<String> = plan.platforms_of(spec)?.iter().map(|p| p.docker().to_owned()).collect();
        match plan.mode {
            Mode::Check => {
                for tag in plan.tags.iter().chain([&plan.sha_tag, &"latest".to_owned()]) {
                    out.push(Promise::Unchanged { repo: repo.clone(), tag: tag.clone() });
                }
            }
            Mode::Publish => {
                for tag in &plan.tags {
                    out.push(Promise::Present { repo: repo.clone(), tag: tag.clone(), platforms: platforms.clone() });
                }
                out.push(if plan.latest {
                    Promise::SameAs { repo: repo.clone(), tag: "latest".into(), same_as: plan.tags[0].clone() }
                } else {
                    Promise::Unchanged { repo: repo.clone(), tag: "latest".into() }
                });
            }
        }
    }
    Ok(out)
}

/// One run of act: everything decided before anything runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActPlan {
    pub argv: Vec<String>,
    pub payload: serde_json::Value,
    /// The run's environment for act: PATH with the sudo stand-in first.
    pub path_prepend: PathBuf,
}

/// The inputs of [`act_plan`].
#[derive(Debug, Clone)]
pub struct ActInputs<'a> {
    pub act: &'a Path,
    pub event: ActEvent,
    pub repo: &'a Path,
    pub run_dir: &'a Path,
    pub cache_dir: &'a Path,
    pub sha: &'a str,
    pub base: &'a str,
    pub tag: &'a str,
    pub workflows: &'a [&'a str],
    pub only: &'a [String],
    pub arm64_qemu: bool,
    pub test_suite: Option<&'a str>,
    /// act's `--list` (the jobs; nothing runs).
    pub list: bool,
}

/// The act argv and payload of a run (pure).
pub fn act_plan(i: &ActInputs) -> Result<ActPlan> {
    let s = |x: &str| x.to_owned();
    let used: Vec<(String, String)> = {
        let mut all = Vec::new();
        for w in i.workflows {
            for a in actions_used(w) {
                if !all.contains(&a) {
                    all.push(a);
                }
            }
        }
        all
    };
    let mut argv = vec![
        i.act.display().to_string(),
        s(event_name(i.event)),
        s("--workflows"),
        i.repo.join(WORKFLOW).display().to_string(),
        s("--directory"),
        i.repo.display().to_string(),
        s("--eventpath"),
        i.run_dir.join("event.json").display().to_string(),
        // The checkout stand-in runs (act skips actions/checkout by default).
        s("--no-skip-checkout"),
        s("--concurrent-jobs"),
        s("1"),
    ];
    for label in runner_labels(i.workflows) {
        argv.extend([s("--platform"), format!("{label}=-self-hosted")]);
    }
    for m in stand_in_map(&used, &i.repo.join(STAND_INS_DIR))? {
        argv.extend([s("--local-repository"), m]);
    }
    argv.extend([
        s("--artifact-server-path"),
        i.run_dir.join("artifacts").display().to_string(),
        s("--artifact-server-addr"),
        s("127.0.0.1"),
        s("--artifact-server-port"),
        ARTIFACT_PORT.to_string(),
        // Each job's workspace and temp (removed when the job ends).
        s("--action-cache-path"),
        i.run_dir.join("jobs").display().to_string(),
        s("--cache-server-path"),
        i.cache_dir.join("actcache").display().to_string(),
        s("--cache-server-addr"),
        s("127.0.0.1"),
        s("--var"),
        s("PUBLISH_IMAGES=true"),
    ]);
    if i.arm64_qemu {
        argv.extend([s("--var"), s("ARM64_RUNNERS=qemu")]);
    }
    argv.extend([
        // `ci free-disk` runs on GitHub-hosted runners only; `run` has
        // checked that none of what it removes exists here.
        s("--env"),
        s("RUNNER_ENVIRONMENT=github-hosted"),
        s("--env"),
        format!("XTASK_REGISTRY={REGISTRY}"),
        s("--env"),
        format!("XTASK_ACT_SOURCE={}", i.repo.display()),
        s("--env"),
        format!("XTASK_ACT_CACHE={}", i.cache_dir.display()),
        s("--env"),
        format!("XTASK_ACT_RUN={}", i.run_dir.display()),
        s("--env"),
        format!("XTASK_ACT_BUILDER={BUILDER}"),
    ]);
    if let Some(suite) = i.test_suite {
        argv.extend([s("--env"), format!("XTASK_ACT_TEST_SUITES={suite}")]);
    }
    for image in i.only {
        images::find(image)?;
        argv.extend([s("--matrix"), format!("image:{image}")]);
    }
    // Not act's `--dryrun`: on a `-self-hosted` platform it runs the steps.
    if i.list {
        argv.push(s("--list"));
    }
    Ok(ActPlan {
        argv,
        payload: payload(i.event, i.sha, i.base, i.tag),
        path_prepend: i.repo.join(STAND_INS_DIR).join("bin"),
    })
}

/// `cargo xtask ci act`.
pub fn run(ctx: &Ctx, a: &flags::CiAct) -> Result<()> {
    let ws = ctx.workspace()?.path("");
    let state = ctx.layout_without_cargo().root().join("act");
    let tools = Tools::resolve(&state.join(ACT_VERSION), !(a.list || a.dry_run))?;
    let repo = state.join("repo");
    let git = |dir: &Path, args: &[&str]| -> Result<String> {
        let out = Command::new(&tools.git)
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .with_context(|| format!("cannot run {}", tools.git.display()))?;
        if !out.status.success() {
            bail!(
                "`git -C {} {}` failed: {}",
                dir.display(),
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let plant = a.plant_failure.as_deref().map(plant::Plant::parse).transpose()?;
    if plant.is_some() {
        ensure!(a.event != ActEvent::Pr, "--plant-failure: a pull_request run publishes nothing to keep");
    }
    if a.event == ActEvent::Tag {
        crate::docker::reference::check_tag(&a.tag)?;
        ensure!(a.tag.starts_with('v'), "--tag {}: the workflow runs for `v*` tags only", a.tag);
    }
    if !git(&ws, &["status", "--porcelain", "--untracked-files=no"])?.is_empty() {
        eprintln!(
            "ci act: note: the worktree has uncommitted changes; the run is of HEAD (commit them to include them)"
        );
    }
    // The jobs say they are on a GitHub-hosted runner (`ci free-disk` runs
    // nowhere else): only where it would remove nothing.
    if let Some(d) = super::disk::UNUSED.iter().find(|d| Path::new(d).exists()) {
        bail!(
            "{d} exists on this machine: `ci free-disk` in the jobs would remove it (it takes act's jobs for a \
             GitHub-hosted runner); run ci act on a machine without it"
        );
    }
    let mut sha = git(&ws, &["rev-parse", "HEAD"])?;
    let base = git(&ws, &["rev-parse", &format!("{}^{{commit}}", a.base)])
        .with_context(|| format!("--base {}: not a commit of the worktree", a.base))?;

    // The clone the jobs run in: HEAD on branch main, origin named as the
    // repository, the worktree's v* tags (and --tag, --other-tags) only.
    if !repo.join(".git").is_dir() {
        std::fs::create_dir_all(&state)?;
        let out = Command::new(&tools.git).args(["clone", "--quiet", "--no-local"]).arg(&ws).arg(&repo).status()?;
        ensure!(out.success(), "git clone of {} into {} failed", ws.display(), repo.display());
    }
    git(&repo, &["remote", "set-url", "origin", &format!("https://github.com/{REPOSITORY}.git")])?;
    for t in git(&repo, &["tag", "--list", "v*"])?.lines().filter(|t| !t.is_empty()) {
        git(&repo, &["tag", "-d", t])?;
    }
    git(&repo, &["fetch", "--quiet", "--force", "--tags", &ws.display().to_string(), "HEAD"])?;
    git(&repo, &["checkout", "--quiet", "--force", "-B", "main", &sha])?;
    if let Some(p) = &plant {
        for file in p.image.files() {
            let path = repo.join(file);
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {file} of the clone"))?;
            std::fs::write(&path, p.dockerfile(&text))?;
        }
        let (name, email) = ("user.name=xtask ci act", "user.email=xtask-act@localhost");
        git(&repo, &["-c", name, "-c", email, "commit", "--quiet", "--all", "--message", &p.message()])?;
        sha = git(&repo, &["rev-parse", "HEAD"])?;
    }
    if a.event == ActEvent::Tag {
        for t in std::iter::once(&a.tag).chain(&a.other_tags) {
            git(&repo, &["tag", "--force", t, &sha])?;
        }
    }
    let release_tags: Vec<String> = git(&repo, &["tag", "--list", "v*"])?.lines().map(str::to_owned).collect();

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let run_dir = state.join("runs").join(format!("{}-{now}", event_name(a.event)));
    let texts: Vec<String> = std::iter::once(WORKFLOW)
        .chain(CALLED)
        .map(|w| std::fs::read_to_string(repo.join(w)).with_context(|| format!("cannot read {w} of the clone")))
        .collect::<Result<_>>()?;
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let inputs = ActInputs {
        act: &tools.act,
        event: a.event,
        repo: &repo,
        run_dir: &run_dir,
        cache_dir: &state.join("cache"),
        sha: &sha,
        base: &base,
        tag: &a.tag,
        workflows: &texts,
        only: &a.only,
        arm64_qemu: !a.arm64_native,
        test_suite: a.test_suite.as_deref(),
        list: a.list || a.dry_run,
    };
    let ap = act_plan(&inputs)?;
    let changed = match a.event {
        ActEvent::Push | ActEvent::Pr => Some(super::matrix::changed_since(&sh_in(&repo)?, &base)?),
        _ => None,
    };
    let expected = expected_plan(&inputs, now, changed.as_deref(), &release_tags)?;
    let mut promised = promises(&expected, &a.only)?;
    if let Some(p) = &plant {
        promised = p.promises(&promised)?;
    }
    if a.dry_run {
        println!("{}", crate::engine::Command::new(ap.argv.clone()).display_line());
        println!("{}", serde_json::to_string_pretty(&ap.payload)?);
        for p in &promised {
            println!("promise: {}", p.line());
        }
    }
    std::fs::create_dir_all(&run_dir).with_context(|| format!("cannot create {}", run_dir.display()))?;
    std::fs::write(run_dir.join("event.json"), serde_json::to_string_pretty(&ap.payload)?)?;
    let check = !(a.dry_run || a.list);
    let mut _builder = None;
    if check {
        for old in state::prune_runs(&state.join("runs"), state::KEPT_RUNS)? {
            eprintln!("ci act: removed the old run directory {}", old.display());
        }
        state::bound_cache(inputs.cache_dir, state::CACHE_BUDGET)?;
        _builder = Some(state::Builder::fresh(&tools.docker, &state)?);
        let files: Vec<String> = images::IMAGES
            .iter()
            .flat_map(|s| s.files())
            .map(|f| std::fs::read_to_string(repo.join(f)).with_context(|| format!("cannot read {f} of the clone")))
            .collect::<Result<_>>()?;
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let mut hub = hub_images(&files);
        hub.extend(platform_hub_images().into_iter().filter(|i| !hub.contains(i)).collect::<Vec<_>>());
        for image in hub {
            mirror(&tools.docker, &state, &image)?;
        }
    }
    let before = if check { snapshot(&tools.docker, &promised)? } else { BTreeMap::new() };
    eprintln!("ci act: {} of {sha} ({}), log in {}", event_name(a.event), expected.tags.join(", "), run_dir.display());
    let log = run_dir.join("act.log");
    let started = Instant::now();
    let ok = run_logged(&ap, &repo, &log)?;
    let took = started.elapsed().as_secs();
    match (&plant, ok) {
        (None, false) => {
            bail!("act failed after {took} s: the failed job's lines are in {} (grep '❌' or 'Failure')", log.display())
        }
        (None, true) => eprintln!("ci act: act passed in {took} s"),
        (Some(p), true) => bail!("act passed after {took} s although {} was planted", p.marker()),
        (Some(p), false) => {
            let text = std::fs::read_to_string(&log)?;
            ensure!(
                text.contains(&p.marker()),
                "act failed after {took} s, but not with the {}: see {}",
                p.marker(),
                log.display()
            );
            eprintln!("ci act: act failed in {took} s, with the {}", p.marker());
        }
    }
    if !check {
        return Ok(());
    }
    if a.event == ActEvent::Schedule {
        let text = std::fs::read_to_string(&log)?;
        ensure!(
            test_job_passed(&text),
            "the schedule run published without its test job's success in {}: the test job must pass first",
            log.display()
        );
    }
    let after = snapshot(&tools.docker, &promised)?;
    let broken = kept(&promised, &before, &after);
    for p in &promised {
        if !broken.iter().any(|(b, _)| b == p) {
            eprintln!("ci act: kept: {}", p.line());
        }
    }
    if let Some((p, why)) = broken.first() {
        bail!("the {} run did not keep its promise: {} ({why})", event_name(a.event), p.line());
    }
    Ok(())
}

/// The mirror image's Dockerfile: an e2e base with this machine's CA
/// certificates (the e2e gives its builds the same bundle as the secret
/// `cacert`; `ci build`, CI's request, does not, and the Go module proxy and
/// crates.io are reached here through a proxy with its own CA). COPY only:
/// no step runs on the target platform.
pub const MIRROR_DOCKERFILE: &str = "\
ARG BASE
FROM ${BASE}
COPY local/ /usr/local/share/ca-certificates/
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
";

/// The `docker buildx build` of one mirrored image (pure): the `platforms`
/// of the index `base`, pushed as `target`. Reproducible (a fixed
/// `SOURCE_DATE_EPOCH`, the layers' file times rewritten to it): the same
/// base and certificates give the same digest in every run, as Docker Hub's
/// tag gives the same image, so that the workflow's cache of one run is
/// valid in the next.
pub fn mirror_build_args(target: &str, base: &str, platforms: &[Platform], context: &Path) -> Vec<String> {
    let platforms = platforms.iter().map(|p| p.docker()).collect::<Vec<_>>().join(",");
    ["buildx", "build", "--builder", BUILDER, "--platform", &platforms, "--build-arg"]
        .iter()
        .map(|s| s.to_string())
        .chain([
            format!("BASE={base}"),
            "--build-arg".into(),
            "SOURCE_DATE_EPOCH=0".into(),
            "--provenance=false".into(),
            "--output".into(),
            format!("type=image,name={target},push=true,rewrite-timestamp=true"),
            context.display().to_string(),
        ])
        .collect()
}

/// Put `image` (a Docker Hub reference) in the loopback mirror: the e2e's
/// images it is made of ([`mirrored`], one index) with this machine's CA
/// certificates.
fn mirror(docker: &Docker, state: &Path, image: &str) -> Result<()> {
    let (target, sources) = mirrored(image);
    let base = format!("{REGISTRY}/xtask-act/mirror-source:{}", image.replace([':', '/'], "-"));
    let mut args = vec!["buildx", "imagetools", "create", "--builder", BUILDER, "--tag", &base];
    args.extend(sources.iter().map(|(_, s)| s.as_str()));
    let o = docker.output(&args)?;
    let platforms: Vec<Platform> = sources.iter().map(|(p, _)| *p).collect();
    let names: Vec<&str> = platforms.iter().map(|p| p.docker()).collect();
    ensure!(
        o.status.success(),
        "the index of the e2e's images for {image} failed: {}; they must be in {REGISTRY}: `cargo xtask e2e \
         --platform {}` pushes them",
        String::from_utf8_lossy(&o.stderr).trim(),
        names.join(",")
    );
    let ctx = state.join("mirror");
    std::fs::create_dir_all(&ctx)?;
    std::fs::write(ctx.join("Dockerfile"), MIRROR_DOCKERFILE)?;
    crate::fsutil::copy_ca_files(&ctx)?;
    let args = mirror_build_args(&target, &base, &platforms, &ctx);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    eprintln!("ci act: mirror of docker.io's {image}: docker {}", args.join(" "));
    let o = docker.output(&args)?;
    ensure!(o.status.success(), "the mirror of {image} failed: {}", String::from_utf8_lossy(&o.stderr).trim());
    Ok(())
}

fn sh_in(dir: &Path) -> Result<xshell::Shell> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(dir);
    Ok(sh)
}

/// Run act with its output to the terminal and to `log`; whether it passed.
fn run_logged(ap: &ActPlan, repo: &Path, log: &Path) -> Result<bool> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![ap.path_prepend.clone()];
    paths.extend(std::env::split_paths(&path));
    let mut child = Command::new(&ap.argv[0])
        .args(&ap.argv[1..])
        .current_dir(repo)
        .env("PATH", std::env::join_paths(paths)?)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot run {}", ap.argv[0]))?;
    let mut file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let out = child.stdout.take().expect("piped");
    for line in BufReader::new(out).split(b'\n') {
        let line = line?;
        let text = String::from_utf8_lossy(&line);
        println!("{text}");
        writeln!(file, "{text}")?;
    }
    Ok(child.wait()?.success())
}

/// Whether act's log shows the test job succeeded.
pub fn test_job_passed(log: &str) -> bool {
    // act pads the job names of its prefix (`[docker-publish/test       ]`)
    // to the longest one's width.
    log.lines().any(|l| {
        let job = l.strip_prefix('[').and_then(|r| r.split_once(']')).map(|(j, _)| j.trim_end());
        job.is_some_and(|j| j.ends_with("/test")) && l.contains("Job succeeded")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
    const BASE: &str = "89abcdef0123456789abcdef0123456789abcdef";

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    fn workflows() -> Vec<String> {
        std::iter::once(WORKFLOW).chain(CALLED).map(|w| std::fs::read_to_string(root().join(w)).unwrap()).collect()
    }

    fn inputs<'a>(event: ActEvent, texts: &'a [&'a str], only: &'a [String]) -> ActInputs<'a> {
        ActInputs {
            act: Path::new("/t/act/act"),
            event,
            repo: Path::new("/t/act/repo"),
            run_dir: Path::new("/t/act/runs/r"),
            cache_dir: Path::new("/t/act/cache"),
            sha: SHA,
            base: BASE,
            tag: "v1.2.3",
            workflows: texts,
            only,
            arm64_qemu: true,
            test_suite: None,
            list: false,
        }
    }

    /// Every action the workflows use has a stand-in that exists and says
    /// what it stands for.
    #[test]
    fn every_action_has_a_stand_in() {
        let mut all = Vec::new();
        for file in std::fs::read_dir(root().join(".github/workflows")).unwrap() {
            all.extend(actions_used(&std::fs::read_to_string(file.unwrap().path()).unwrap()));
        }
        assert!(all.iter().any(|(a, _)| a == "actions/checkout"), "{all:?}");
        stand_in_map(&all, &root().join(STAND_INS_DIR)).unwrap();
        for (action, dir) in STAND_INS {
            let yml = std::fs::read_to_string(root().join(STAND_INS_DIR).join(dir).join("action.yml")).unwrap();
            assert!(
                yml.starts_with(&format!("# Stand-in for {action} ")),
                "{dir}/action.yml must say it stands for {action}"
            );
            // Post steps: rust-cache saves, setup-buildx releases the builder.
            let node = ["rust-cache", "setup-buildx"].contains(dir);
            assert!(yml.contains(if node { "using: node20" } else { "using: composite" }), "{dir}");
        }
        let e = stand_in_map(&[("o/new".into(), "r".into())], Path::new("/s")).unwrap_err().to_string();
        assert!(e.starts_with("no act stand-in for o/new@r: add a directory"), "{e}");
    }

    #[test]
    fn uses_lines_are_read() {
        let text = "steps:\n  - uses: actions/checkout@abc  # v7\n    with: {}\n  - uses: ./.github/x.yml\n    uses: \"o/r@d\"\n  - uses: actions/checkout@abc\n";
        assert_eq!(actions_used(text), [("actions/checkout".into(), "abc".into()), ("o/r".into(), "d".into())]);
    }

    #[test]
    fn every_runner_label_is_this_host() {
        let w = workflows();
        let texts: Vec<&str> = w.iter().map(String::as_str).collect();
        assert_eq!(runner_labels(&texts), ["ubuntu-24.04", "ubuntu-24.04-arm"]);
    }

    /// The act command of a push, in full (golden).
    #[test]
    fn act_argv_of_a_push() {
        let texts = ["jobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@c0  # v7\n      - uses: docker/login-action@l1\n"];
        let only = vec!["extproc".to_owned()];
        let ap = act_plan(&inputs(ActEvent::Push, &texts, &only)).unwrap();
        assert_eq!(
            ap.argv.join(" "),
            "/t/act/act push --workflows /t/act/repo/.github/workflows/docker-publish.yml --directory /t/act/repo \
             --eventpath /t/act/runs/r/event.json --no-skip-checkout --concurrent-jobs 1 \
             --platform ubuntu-24.04=-self-hosted --platform ubuntu-24.04-arm=-self-hosted \
             --local-repository actions/checkout@c0=/t/act/repo/.github/act/checkout \
             --local-repository docker/login-action@l1=/t/act/repo/.github/act/login \
             --artifact-server-path /t/act/runs/r/artifacts --artifact-server-addr 127.0.0.1 --artifact-server-port 34589 \
             --action-cache-path /t/act/runs/r/jobs --cache-server-path /t/act/cache/actcache \
             --cache-server-addr 127.0.0.1 --var PUBLISH_IMAGES=true --var ARM64_RUNNERS=qemu \
             --env RUNNER_ENVIRONMENT=github-hosted --env XTASK_REGISTRY=127.0.0.1:5000 --env XTASK_ACT_SOURCE=/t/act/repo --env XTASK_ACT_CACHE=/t/act/cache \
             --env XTASK_ACT_RUN=/t/act/runs/r --env XTASK_ACT_BUILDER=xtask-act --matrix image:extproc"
        );
        assert_eq!(ap.path_prepend, Path::new("/t/act/repo/.github/act/bin"));
    }

    #[test]
    fn act_modes_and_narrowing() {
        let w = workflows();
        let texts: Vec<&str> = w.iter().map(String::as_str).collect();
        let mut i = inputs(ActEvent::Schedule, &texts, &[]);
        i.arm64_qemu = false;
        i.test_suite = Some("xtask");
        let argv = act_plan(&i).unwrap().argv;
        assert_eq!(argv[1], "schedule");
        assert!(!argv.contains(&"--dryrun".into()), "act's dry run runs host steps");
        assert!(!argv.contains(&"ARM64_RUNNERS=qemu".into()) && !argv.contains(&"--matrix".into()));
        assert!(argv.contains(&"XTASK_ACT_TEST_SUITES=xtask".into()));
        i.list = true;
        assert_eq!(act_plan(&i).unwrap().argv.last().unwrap(), "--list");
        let bad = vec!["nope".to_owned()];
        assert!(act_plan(&inputs(ActEvent::Push, &texts, &bad)).is_err());
    }

    /// The payloads (golden): what `ci plan` and act read.
    #[test]
    fn payloads() {
        let p = payload(ActEvent::Push, SHA, BASE, "v1");
        assert_eq!(p["ref"], "refs/heads/main");
        assert_eq!(p["before"], BASE);
        assert_eq!(p["after"], SHA);
        assert_eq!(p["repository"]["full_name"], REPOSITORY);
        let p = payload(ActEvent::Pr, SHA, BASE, "v1");
        assert_eq!(
            p,
            json!({
                "action": "synchronize", "number": 1,
                "pull_request": {"number": 1, "head": {"ref": "act", "sha": SHA}, "base": {"ref": "main", "sha": BASE}},
                "repository": {"full_name": REPOSITORY, "name": "semantic-router", "owner": {"login": "xtask-act"}, "default_branch": "main"},
            })
        );
        let p = payload(ActEvent::Tag, SHA, BASE, "v1.2.3");
        assert_eq!(p["ref"], "refs/tags/v1.2.3");
        assert_eq!(p["before"], "0".repeat(40), "a new tag: no base, every image");
        assert_eq!(payload(ActEvent::Schedule, SHA, BASE, "v1")["schedule"], "23 3 * * *");
    }

    fn promised(e: ActEvent, tags: &[&str], only: &[&str]) -> Vec<String> {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        let only: Vec<String> = only.iter().map(|t| t.to_string()).collect();
        let changed = vec!["xtask/src/main.rs".to_owned()];
        let plan = expected_plan(&inputs(e, &[], &[]), 1_796_601_600, Some(&changed), &tags).unwrap();
        assert_eq!(plan.registry, "127.0.0.1:5000/xtask-act/semantic-router");
        promises(&plan, &only).unwrap().iter().map(Promise::line).collect()
    }

    /// What each event promises (golden).
    #[test]
    fn promises_of_each_event() {
        let r = "xtask-act/semantic-router/extproc";
        assert_eq!(
            promised(ActEvent::Push, &[], &["extproc"]),
            [
                format!("{r}:sha-0123456 holds linux/amd64, linux/arm64, linux/riscv64"),
                format!("{r}:latest is {r}:sha-0123456")
            ]
        );
        assert_eq!(
            promised(ActEvent::Pr, &[], &["extproc"]),
            [
                format!("{r}:pr-1 is as before the run"),
                format!("{r}:sha-0123456 is as before the run"),
                format!("{r}:latest is as before the run")
            ]
        );
        let tag = promised(ActEvent::Tag, &["v1.2.3", "v1.0.0"], &["extproc"]);
        assert_eq!(tag[0], format!("{r}:v1.2.3 holds linux/amd64, linux/arm64, linux/riscv64"));
        assert_eq!(tag[2], format!("{r}:latest is {r}:v1.2.3"));
        let lower = promised(ActEvent::Tag, &["v1.2.3", "v2.0.0"], &["extproc"]);
        assert_eq!(lower[2], format!("{r}:latest is as before the run"));
        let nightly = promised(ActEvent::Schedule, &[], &["extproc"]);
        assert_eq!(nightly[0], format!("{r}:nightly-20261207 holds linux/amd64, linux/arm64, linux/riscv64"));
        assert_eq!(nightly[2], format!("{r}:latest is as before the run"));
        // No narrowing: every image of the plan.
        assert_eq!(promised(ActEvent::Push, &[], &[]).len(), 2 * images::IMAGES.len());
    }

    #[test]
    fn docker_hub_is_the_loopback_mirror() {
        let c = buildkitd_config();
        assert!(c.contains("[registry.\"127.0.0.1:5000\"]\n  http = true"), "{c}");
        assert!(c.ends_with("[registry.\"docker.io\"]\n  mirrors = [\"127.0.0.1:5000\"]\n"), "{c}");
        let files: Vec<String> = images::IMAGES
            .iter()
            .flat_map(|s| s.files())
            .map(|f| std::fs::read_to_string(root().join(f)).unwrap())
            .collect();
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let hub = hub_images(&files);
        assert!(
            hub.contains(&"rust:1.95-bookworm".to_owned()) && hub.contains(&"debian:bookworm-slim".to_owned()),
            "{hub:?}"
        );
        assert!(hub.iter().all(|i| !i.starts_with("ghcr.io/")), "{hub:?}");
        assert_eq!(hub_images(&["ARG A_IMAGE=quay.io/x/y:1\nARG B_IMAGE=o/r:2\nARG C=d:1\n"]), ["o/r:2"]);
        assert_eq!(
            mirrored("debian:bookworm-slim"),
            (
                "127.0.0.1:5000/library/debian:bookworm-slim".to_owned(),
                vec![
                    (Platform::AMD64, "127.0.0.1:5000/xtask-e2e/debian:bookworm-amd64-v1".to_owned()),
                    (Platform::ARM64, "127.0.0.1:5000/xtask-e2e/debian:bookworm-arm64-v1".to_owned())
                ]
            )
        );
        assert_eq!(
            mirrored("rust:1.95-bookworm"),
            (
                "127.0.0.1:5000/library/rust:1.95-bookworm".to_owned(),
                vec![(Platform::AMD64, "127.0.0.1:5000/xtask-e2e/rust:1.95-bookworm-amd64-v1".to_owned())]
            )
        );
        // riscv64's runtime (the image table's, not a Dockerfile default):
        // the e2e's Debian 13 base.
        assert_eq!(platform_hub_images(), ["debian:trixie-slim"]);
        assert_eq!(
            mirrored("debian:trixie-slim").1,
            [(Platform::RISCV64, "127.0.0.1:5000/xtask-e2e/debian:trixie-riscv64-v1".to_owned())]
        );
    }

    #[test]
    fn the_mirror_build() {
        let args = mirror_build_args(
            "127.0.0.1:5000/library/debian:bookworm-slim",
            "127.0.0.1:5000/b:1",
            &[Platform::AMD64, Platform::ARM64],
            Path::new("/m"),
        );
        assert_eq!(
            args.join(" "),
            "buildx build --builder xtask-act --platform linux/amd64,linux/arm64 --build-arg BASE=127.0.0.1:5000/b:1 \
             --build-arg SOURCE_DATE_EPOCH=0 --provenance=false \
             --output type=image,name=127.0.0.1:5000/library/debian:bookworm-slim,push=true,rewrite-timestamp=true /m"
        );
        let rust =
            mirror_build_args("127.0.0.1:5000/library/rust:1.95-bookworm", "r", &[Platform::AMD64], Path::new("/m"));
        assert_eq!(rust[5], "linux/amd64");
        assert!(!MIRROR_DOCKERFILE.contains("RUN"), "no step on the target platform");
    }

    #[test]
    fn the_schedule_log_shows_the_test_job() {
        assert!(test_job_passed("[docker-publish/test] 🏁  Job succeeded\n"));
        assert!(!test_job_passed("[docker-publish/plan] 🏁  Job succeeded\n"));
        // As act prints it beside longer job names (a schedule run's log).
        assert!(test_job_passed("[docker-publish/test       ] 🏁  Job succeeded\n"));
        assert!(!test_job_passed("[docker-publish/test       ]   ❌  Failure - Main cargo xtask test\n"));
        assert!(!test_job_passed("[wave0/docker-images/smoke extproc] 🏁  Job succeeded\n"));
    }
}
