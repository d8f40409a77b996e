//! `cargo xtask ci …`: everything the GitHub workflows decide and do, so
//! that the YAML only wires jobs together (and is tested by
//! `xtask/tests/workflow.rs`).
//!
//! - `matrix`: image × platform entries, affected images, runners;
//! - `plan`: one run from its GitHub event: mode, images, tags, OCI metadata;
//! - `disk`: `free-disk` on GitHub-hosted runners;
//! - `release`: a `v*` tag's GitHub Release (dist tarballs, SBOMs, SHA256SUMS).
//!
//! `ci build` and `ci manifest` run `cargo xtask docker`'s own code with the
//! options the plan gives, so a workflow step is one line.

pub mod disk;
pub mod matrix;
pub mod plan;
pub mod release;

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use crate::{
    ctx::Ctx,
    docker::{self, images, reference, report},
    engine::BuildxMode,
    flags,
    platform::Platform,
};
use plan::{Event, Mode, Plan};

impl flags::Ci {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        match self.cmd {
            flags::CiCmd::Matrix(m) => {
                let last = matrix::last_wave();
                if let Some(w) = m.wave.filter(|w| *w > last) {
                    bail!("--wave {w}: the waves are 0 to {last}");
                }
                let changed = match (&m.base, m.changed.is_empty()) {
                    (Some(base), _) => Some(matrix::changed_since(&ctx.sh, base)?),
                    (None, false) => Some(m.changed.clone()),
                    (None, true) => None,
                };
                let out = matrix::matrix(m.pr, m.wave, changed.as_deref(), m.arm64_qemu);
                println!("{}", serde_json::to_string(&out)?);
                Ok(())
            }
            flags::CiCmd::Plan(_) => run_plan(ctx),
            flags::CiCmd::Build(b) => build(ctx, &b),
            flags::CiCmd::Manifest(m) => manifest(ctx, &m),
            flags::CiCmd::FreeDisk(d) => d.run(ctx),
            flags::CiCmd::Release(r) => r.run(ctx),
        }
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

/// The run from GitHub's environment and event payload.
fn event() -> Result<Event> {
    let mut ev = Event {
        name: env("GITHUB_EVENT_NAME"),
        git_ref: env("GITHUB_REF"),
        sha: env("GITHUB_SHA"),
        repository: env("GITHUB_REPOSITORY"),
        server_url: Some(env("GITHUB_SERVER_URL")).filter(|s| !s.is_empty()).unwrap_or("https://github.com".into()),
        now: match std::env::var("XTASK_NOW") {
            Ok(s) => s.parse().with_context(|| format!("XTASK_NOW `{}` is not Unix seconds", reference::shown(&s)))?,
            Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs(),
        },
        publish: env("XTASK_PUBLISH") == "true",
        arm64_qemu: env("XTASK_ARM64") == "qemu",
        ..Event::default()
    };
    if ev.name.is_empty() {
        bail!("GITHUB_EVENT_NAME is not set: `ci plan` runs in a GitHub workflow (or set the GITHUB_* variables)");
    }
    let path = env("GITHUB_EVENT_PATH");
    if !path.is_empty() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read GITHUB_EVENT_PATH {path}"))?;
        let payload: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("GITHUB_EVENT_PATH {path} is not JSON"))?;
        ev.pr_number = payload["pull_request"]["number"].as_u64().or(payload["number"].as_u64());
        let base = payload["pull_request"]["base"]["sha"].as_str().or(payload["before"].as_str());
        // A push that creates the branch has `before` 0000…: no base.
        ev.base = base.filter(|b| !b.is_empty() && b.bytes().any(|c| c != b'0')).map(str::to_owned);
    }
    Ok(ev)
}

/// `cargo xtask ci plan`.
fn run_plan(ctx: &Ctx) -> Result<()> {
    let ev = event()?;
    let changed = match &ev.base {
        Some(base) => match matrix::changed_since(&ctx.sh, base) {
            Ok(files) => Some(files),
            Err(e) => {
                eprintln!("note: {e:#}; planning every image");
                None
            }
        },
        None => None,
    };
    let release_tags: Vec<String> = if ev.git_ref.starts_with("refs/tags/") {
        xshell::cmd!(ctx.sh, "git tag --list v*")
            .quiet()
            .read()
            .context("`git tag --list v*` failed (checkout with fetch-depth: 0)")?
            .lines()
            .map(str::to_owned)
            .collect()
    } else {
        Vec::new()
    };
    let plan = plan::plan(&ev, changed.as_deref(), &release_tags)?;
    for n in &plan.notes {
        eprintln!("plan: {}", reference::show(n));
    }
    let outputs = plan.outputs(ev.arm64_qemu)?;
    println!("{}", serde_json::to_string_pretty(&plan)?);
    if let Some(out) = std::env::var_os("GITHUB_OUTPUT") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out)
            .with_context(|| format!("cannot open GITHUB_OUTPUT {}", Path::new(&out).display()))?;
        for (k, v) in &outputs {
            // One line each: every value is compact JSON or a word.
            debug_assert!(!v.contains('\n'));
            writeln!(f, "{k}={v}")?;
        }
    }
    Ok(())
}

/// The plan's image and platform, or one error saying they are not in it.
fn in_plan(
    plan: &Plan,
    image: &str,
    platform: Option<Platform>,
) -> Result<(&'static images::ImageSpec, Option<Platform>)> {
    let spec = images::find(image)?;
    if !plan.images.iter().any(|i| i == spec.name) {
        bail!("image `{}` is not in the plan (its images: {})", spec.name, plan.images.join(", "));
    }
    let p = match platform {
        Some(p) => {
            if !plan.platforms.iter().any(|x| Platform::parse(x).is_ok_and(|x| x == p)) {
                bail!("platform {p} is not in the plan (its platforms: {})", plan.platforms.join(", "));
            }
            Some(p)
        }
        None => None,
    };
    Ok((spec, p))
}

/// `cargo xtask ci build --image I --platform P`.
fn build(ctx: &Ctx, b: &flags::CiBuild) -> Result<()> {
    let plan = Plan::load(b.plan.as_deref())?;
    let (spec, p) = in_plan(&plan, &b.image, Some(b.platform))?;
    let p = p.expect("a platform was given");
    let slug = format!("{}-{}", spec.name, p.dir_name());
    let dir = if b.dry_run { ctx.layout_without_cargo() } else { ctx.layout() }.root().to_path_buf();
    let publish = plan.mode == Mode::Publish;
    let opts = flags::DockerBuild {
        image: Some(spec.name.into()),
        platform: vec![p],
        tag: if publish { Vec::new() } else { plan.tags.clone() },
        push: publish,
        load: !publish,
        pr: !publish,
        cache: b.cache,
        // A check build loads `<image>:<tag>` and takes the base image of an
        // image built FROM ours from its Dockerfile's default (the published
        // `latest`): check builds run in separate jobs and push nothing.
        registry: publish.then(|| plan.registry.clone()),
        base_tag: plan.base_tag(spec),
        build_arg: vec![format!("VERSION={}", plan.version)],
        xtask_bin: b.xtask_bin.clone(),
        // A pull request's image may grow by the budgets' growth_percent
        // over the published one.
        size_baseline: (!publish).then(|| format!("{}/{}:latest", plan.registry, spec.name)),
        metadata_file: publish.then(|| dir.join(format!("metadata-{slug}.json"))),
        engine: flags::DockerArgs { docker: None, metrics_file: Some(metrics_file(&dir, &slug)) },
        dry_run: b.dry_run,
        buildx: BuildxMode::Auto,
        ..Default::default()
    };
    reported(format!("docker {}", spec.name), metrics_file(&dir, &slug), b.dry_run, |report| {
        for built in docker::build(ctx, &opts, &plan.oci(spec), report)? {
            if let Some(d) = &built.digest {
                record_digest(d, b.digests_dir.as_deref().map(|dir| ctx.sh.current_dir().join(dir)).as_deref())?;
            }
        }
        Ok(())
    })
}

/// A pushed digest, for the workflow: the file `DIR/<digest hex>` (the
/// build jobs' artifact that `ci manifest --digests DIR` merges) and
/// `digest=<digest>` in `$GITHUB_OUTPUT`.
fn record_digest(digest: &str, dir: Option<&Path>) -> Result<()> {
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let file = dir.join(digest.trim_start_matches("sha256:"));
        std::fs::write(&file, b"").with_context(|| format!("cannot write {}", file.display()))?;
    }
    if let Some(out) = std::env::var_os("GITHUB_OUTPUT") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out)
            .with_context(|| format!("cannot open GITHUB_OUTPUT {}", Path::new(&out).display()))?;
        writeln!(f, "digest={digest}")?;
    }
    Ok(())
}

/// A docker step of `ci` under a report named `command`, its metrics in
/// `metrics` (a dry run writes none); the error cleaned of secrets.
fn reported(
    command: String,
    metrics: PathBuf,
    dry_run: bool,
    f: impl FnOnce(&mut report::RunReport) -> Result<()>,
) -> Result<()> {
    let mut report = report::RunReport::new(command);
    let target = if dry_run { report::MetricsTarget::None } else { report::MetricsTarget::File(metrics) };
    let res = f(&mut report);
    report.finish(&res, &target);
    report.cleaned(res)
}

/// `target/xtask/metrics-<slug>.json`: the file the workflow uploads.
fn metrics_file(dir: &Path, slug: &str) -> PathBuf {
    dir.join(format!("metrics-{slug}.json"))
}

/// `cargo xtask ci manifest --image I --digests DIR`.
fn manifest(ctx: &Ctx, m: &flags::CiManifest) -> Result<()> {
    let plan = Plan::load(m.plan.as_deref())?;
    let (spec, _) = in_plan(&plan, &m.image, None)?;
    if plan.mode != Mode::Publish {
        bail!("a {:?} run publishes nothing: no manifest to merge", plan.mode);
    }
    let dir = if m.dry_run { ctx.layout_without_cargo() } else { ctx.layout() }.root().to_path_buf();
    let slug = format!("manifest-{}", spec.name);
    let opts = flags::DockerManifest {
        image: spec.name.into(),
        tag: plan.tags.clone(),
        digests: Some(m.digests.clone()),
        registry: Some(plan.registry.clone()),
        platform: plan.platforms.iter().map(|p| Platform::parse(p)).collect::<Result<Vec<_>>>()?,
        dry_run: m.dry_run,
        buildx: BuildxMode::Auto,
        engine: flags::DockerArgs { docker: None, metrics_file: Some(metrics_file(&dir, &slug)) },
        ..Default::default()
    };
    reported(format!("docker manifest {}", spec.name), metrics_file(&dir, &slug), m.dry_run, |report| {
        docker::manifest(ctx, &opts, &plan.oci(spec), report).map(drop)
    })
}

#[cfg(test)]
mod tests {
    use crate::docker::{dockerfile::DeclaredArgs, images::IMAGES};

    /// `ci build` passes `VERSION` to every image: every Dockerfile declares it.
    #[test]
    fn every_dockerfile_takes_the_version() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for spec in IMAGES {
            for file in spec.files() {
                let text = std::fs::read_to_string(root.join(file)).unwrap();
                assert!(DeclaredArgs::parse(&text).contains("VERSION"), "{file} lacks ARG VERSION");
            }
        }
    }
}
