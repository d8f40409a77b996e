//! `cargo xtask ci …`: everything the GitHub workflows decide and do, so
//! that the YAML only wires jobs together (and is tested by
//! `xtask/tests/workflow.rs`).
//!
//! - `matrix`: image × platform entries, affected images, runners;
//! - `plan`: one run from its GitHub event: mode, images, tags, OCI metadata;
//! - `disk`: `free-disk` on GitHub-hosted runners;
//! - `latest`: `ci latest`, the move of the shared `latest` tag and its guard.
//! - `release`: a `v*` tag's GitHub Release (dist tarballs, SBOMs, SHA256SUMS).
//! - `smoke`: `ci smoke`, each pushed digest run before any tag names it.
//!
//! `ci build` and `ci manifest` run `cargo xtask docker`'s own code with the
//! options the plan gives, so a workflow step is one line.

pub mod act;
pub mod disk;
pub mod latest;
pub mod matrix;
pub mod plan;
pub mod release;
pub mod smoke;

use std::path::{Path, PathBuf};

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
            flags::CiCmd::Smoke(s) => smoke::run(ctx, &s),
            flags::CiCmd::Latest(l) => latest::run(ctx, &l),
            flags::CiCmd::FreeDisk(d) => d.run(ctx),
            flags::CiCmd::Release(r) => r.run(ctx),
            flags::CiCmd::Act(a) => act::run(ctx, &a),
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
        registry_host: env("XTASK_REGISTRY"),
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
    crate::sys::github_output(&outputs)?;
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
    let opts = build_request(&plan, spec, p, b, &dir);
    reported(format!("docker {}", spec.name), metrics_file(&dir, &slug), b.dry_run, |report| {
        for built in docker::build(ctx, &opts, &plan.oci(spec), report)? {
            if let Some(d) = &built.digest {
                let dir = b.digests_dir.as_deref().map(|dir| ctx.sh.current_dir().join(dir));
                record_digest(d, built.platform, dir.as_deref())?;
            }
        }
        Ok(())
    })
}

/// What `ci build` asks `docker` to build for `spec` on `p` (pure; `dir`
/// holds the metadata and metrics files). The e2e takes the same request.
pub fn build_request(
    plan: &Plan,
    spec: &images::ImageSpec,
    p: Platform,
    b: &flags::CiBuild,
    dir: &Path,
) -> flags::DockerBuild {
    let slug = format!("{}-{}", spec.name, p.dir_name());
    let publish = plan.mode == Mode::Publish;
    flags::DockerBuild {
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
        sbom_generator: b.sbom_generator.clone(),
        // A pull request's image may grow by the budgets' growth_percent
        // over the published one.
        size_baseline: (!publish).then(|| format!("{}/{}:latest", plan.registry, spec.name)),
        metadata_file: publish.then(|| dir.join(format!("metadata-{slug}.json"))),
        engine: flags::DockerArgs { docker: None, metrics_file: Some(metrics_file(dir, &slug)) },
        dry_run: b.dry_run,
        buildx: BuildxMode::Auto,
        ..Default::default()
    }
}

/// A pushed digest, for the workflow: the file `DIR/<digest hex>` holding
/// its platform (the build jobs' artifact that `ci manifest --digests DIR`
/// merges) and
/// `digest=<digest>` in `$GITHUB_OUTPUT`.
pub fn record_digest(digest: &str, platform: Platform, dir: Option<&Path>) -> Result<()> {
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // The file names the platform: `ci manifest` checks that each is there.
        let file = dir.join(digest.trim_start_matches("sha256:"));
        std::fs::write(&file, format!("{}\n", platform.docker()))
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    crate::sys::github_output(&[("digest".to_owned(), digest.to_owned())])
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
pub fn manifest(ctx: &Ctx, m: &flags::CiManifest) -> Result<()> {
    let plan = Plan::load(m.of.plan.as_deref())?;
    let (spec, _) = in_plan(&plan, &m.of.image, None)?;
    if plan.mode != Mode::Publish {
        bail!("a {:?} run publishes nothing: no manifest to merge", plan.mode);
    }
    let dir = if m.dry_run { ctx.layout_without_cargo() } else { ctx.layout() }.root().to_path_buf();
    let slug = format!("manifest-{}", spec.name);
    let expected = plan.platforms_of(spec)?;
    let files = digest_files(&ctx.sh.current_dir().join(&m.of.digests))?;
    let digests = platform_digests(spec.name, &expected, &files)?;
    let name = crate::docker::argv::image_name(Some(&plan.registry), spec.name);
    let opts = flags::DockerManifest {
        image: spec.name.into(),
        tag: plan.tags.clone(),
        sources: digests.iter().map(|d| crate::docker::argv::digest_ref(&name, d)).collect::<Result<Vec<_>>>()?,
        registry: Some(plan.registry.clone()),
        platform: expected,
        dry_run: m.dry_run,
        buildx: BuildxMode::Auto,
        engine: flags::DockerArgs { docker: None, metrics_file: Some(metrics_file(&dir, &slug)) },
        ..Default::default()
    };
    let first = opts.tag.first().map(|t| crate::docker::argv::tag_ref(&name, t)).context("the plan has no tag")?;
    reported(format!("docker manifest {}", spec.name), metrics_file(&dir, &slug), m.dry_run, |report| {
        docker::manifest(ctx, &opts, &plan.oci(spec), report)?;
        if m.dry_run {
            return Ok(());
        }
        // What the workflow attests: the index the tags name.
        let docker = crate::engine::Docker::find(&crate::engine::choose(None))?;
        let digest = docker::manifest_digest(&docker, &first)?;
        eprintln!("{first}: {digest}");
        crate::sys::github_output(&[("name".to_owned(), name.clone()), ("digest".to_owned(), digest)])
    })
}

/// The digest files under `dir` (`ci build --digests-dir`, one artifact
/// each, downloaded side by side or merged): (file name, contents).
fn digest_files(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the digests directory {} (the build jobs' artifacts)", dir.display()))?;
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if e.file_type()?.is_dir() {
            out.extend(digest_files(&e.path())?);
        } else {
            let text =
                std::fs::read_to_string(e.path()).with_context(|| format!("cannot read {}", e.path().display()))?;
            out.push((name, text.trim().to_owned()));
        }
    }
    out.sort();
    Ok(out)
}

/// One digest per expected platform of `image`, from the digest files
/// (named by digest, holding the platform), in platform order; an error
/// naming every missing platform: merging the others would publish an
/// image without it.
pub fn platform_digests(image: &str, expected: &[Platform], files: &[(String, String)]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for p in expected {
        let of: Vec<&String> = files.iter().filter(|(_, text)| text == p.docker()).map(|(name, _)| name).collect();
        match of.as_slice() {
            [one] => out.push((*one).clone()),
            [] => missing.push(p.docker()),
            many => bail!(
                "{image}: {} digests for {} ({}): the digests directory mixes runs; download this run's artifacts only",
                many.len(),
                p.docker(),
                many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    if !missing.is_empty() {
        bail!(
            "{image}: no digest for {}: that build failed or did not run, so {image} is not merged (its other \
             platforms alone would be published as the whole image); re-run the failed jobs",
            missing.join(", ")
        );
    }
    for (name, text) in files {
        if !expected.iter().any(|p| p.docker() == text) {
            bail!(
                "{image}: digest file {name} holds `{}`, not one of the platforms {}: written by another xtask \
                 (an empty file: before digest files named their platform) or another run; rebuild",
                reference::shown(text),
                expected.iter().map(|p| p.docker()).collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::docker::{dockerfile::DeclaredArgs, images::IMAGES};
    use crate::platform::Platform;

    fn files(f: &[(&str, &str)]) -> Vec<(String, String)> {
        f.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    /// One failed image × platform fails that image's merge, loudly, and
    /// only that image's.
    #[test]
    fn an_image_is_merged_only_with_every_platform() {
        let both = [Platform::AMD64, Platform::ARM64];
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let ok = super::platform_digests("dev", &both, &files(&[(&b, "linux/arm64"), (&a, "linux/amd64")])).unwrap();
        assert_eq!(ok, [a.clone(), b.clone()]);
        let e = super::platform_digests("dev", &both, &files(&[(&a, "linux/amd64")])).unwrap_err().to_string();
        assert!(e.starts_with("dev: no digest for linux/arm64") && e.contains("re-run the failed jobs"), "{e}");
        let e = super::platform_digests("dev", &both, &[]).unwrap_err().to_string();
        assert!(e.contains("linux/amd64, linux/arm64"), "{e}");
        let e = super::platform_digests("dev", &both, &files(&[(&a, "linux/amd64"), (&b, "linux/amd64")]));
        assert!(e.unwrap_err().to_string().contains("2 digests for linux/amd64"));
        let e = super::platform_digests("dev", &both, &files(&[(&a, "linux/amd64"), (&b, "linux/arm64"), ("c", "")]));
        assert!(e.unwrap_err().to_string().contains("digest file c holds ``"));
    }

    /// The files are found side by side or one directory per artifact.
    #[test]
    fn digest_files_are_read_at_any_depth() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("digests-dev-linux-arm64")).unwrap();
        std::fs::write(d.path().join("digests-dev-linux-arm64").join("bb"), "linux/arm64\n").unwrap();
        std::fs::write(d.path().join("aa"), "linux/amd64\n").unwrap();
        assert_eq!(super::digest_files(d.path()).unwrap(), files(&[("aa", "linux/amd64"), ("bb", "linux/arm64")]));
    }

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
