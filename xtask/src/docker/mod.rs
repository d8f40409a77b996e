//! `cargo xtask docker`: container images, the same code in CI, in the e2e
//! test and on a laptop.
//!
//! - `images`: the table of images and their Dockerfiles;
//! - `dockerfile`: the `ARG`s a Dockerfile declares;
//! - `argv`: the docker command lines, pure and golden-tested;
//! - `engine`: the docker CLI and engine (probes, running commands);
//! - `reference`: Docker's grammar of tags, names and digests (refused
//!   before anything runs);
//! - `report`: step timing, GitHub annotations, a metrics file per run;
//! - `inside`: the steps that run inside the builder stages (`toolchain`, `stage`).
//!
//! A dry run runs no program at all (it says which probe it would run) and
//! writes no file. Printed commands hide secret values ([`argv::Command::display_line`]).
//!
//! `cargo xtask docker <image>` builds (and pushes or loads) one image per
//! platform; `cargo xtask docker manifest <image>` merges per-platform
//! digests into a multi-arch tag and checks its platforms.

pub mod argv;
pub mod dockerfile;
pub mod images;
pub mod inside;
pub mod reference;
pub mod report;
pub mod size;

use std::fs;

use anyhow::{bail, Context, Result};

use crate::{
    ctx::Ctx,
    engine::{self, BuildxMode, Docker},
    flags,
    platform::Platform,
};
use argv::{BuildRequest, CacheKind, ManifestRequest};
use dockerfile::DeclaredArgs;
use report::{MetricsTarget, RunReport};

impl flags::Docker {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        match self.cmd {
            None => {
                let image = self.build.image.clone().unwrap_or_default();
                let mut report = RunReport::new(format!("docker {image}"));
                let metrics = metrics_target(ctx, self.build.engine.metrics_file.as_deref(), self.build.dry_run);
                let res = build(ctx, &self.build, &[], &mut report).map(drop);
                report.finish(&res, &metrics);
                report.cleaned(res)
            }
            Some(flags::DockerCmd::Manifest(m)) => {
                let mut report = RunReport::new(format!("docker manifest {}", m.image));
                let metrics = metrics_target(ctx, m.engine.metrics_file.as_deref(), m.dry_run);
                let res = manifest(ctx, &m, &[], &mut report).map(drop);
                report.finish(&res, &metrics);
                report.cleaned(res)
            }
            Some(flags::DockerCmd::Toolchain(t)) => inside::toolchain(ctx, &t),
            Some(flags::DockerCmd::Stage(s)) => inside::stage(ctx, &s),
            Some(flags::DockerCmd::SelfBuild(s)) => inside::self_build(ctx, &s),
            Some(flags::DockerCmd::WarmLint(w)) => inside::warm_lint(ctx, &w),
        }
    }
}

/// Where a command's metrics go: nowhere for a dry run.
fn metrics_target(ctx: &Ctx, flag: Option<&std::path::Path>, dry_run: bool) -> MetricsTarget {
    if dry_run {
        MetricsTarget::None
    } else {
        report::metrics_path(ctx, flag)
    }
}

/// What one platform's build produced.
#[derive(Debug, Clone)]
pub struct Built {
    pub platform: Platform,
    pub dockerfile: String,
    /// Everything docker printed (progress included), e.g. to look for `CACHED`.
    pub output: String,
    pub digest: Option<String>,
    /// Pushed by digest alone (`push-by-digest=true`), no tag.
    pub pushed_by_digest: bool,
    pub seconds: f64,
}

/// Where a plan goes: printed (a dry run, which probes nothing), or run on
/// an engine.
pub enum Runner {
    DryRun,
    Engine(Docker),
}

/// Resolve the docker CLI and decide buildx, with what its builder can do
/// (probed: buildx version, driver, the engine's image store). A dry run
/// runs nothing, not even a probe: `--buildx auto` then prints the probe it
/// would run and plans with buildx and CI's builder.
fn runner(flag: Option<&str>, buildx: BuildxMode, dry_run: bool) -> Result<(Runner, bool, argv::Capabilities)> {
    let name = engine::choose(flag);
    if dry_run {
        let bx = match buildx {
            BuildxMode::Yes => true,
            BuildxMode::No => false,
            BuildxMode::Auto => {
                eprintln!(
                    "dry run: would probe `{} version` (the engine) and `{} buildx version`; planned with buildx",
                    crate::sys::quote(&name),
                    crate::sys::quote(&name)
                );
                true
            }
        };
        return Ok((Runner::DryRun, bx, argv::Capabilities::full()));
    }
    let docker = Docker::find(&name)?;
    docker.check_engine()?;
    let bx = docker.buildx_mode(buildx)?;
    let caps = if bx { docker.capabilities()? } else { argv::Capabilities::full() };
    Ok((Runner::Engine(docker), bx, caps))
}

/// `cargo xtask docker <image> …` (also run by `ci build` and the e2e),
/// with OCI metadata (source, revision, version, description) as labels of
/// each image and annotations of its manifest (`oci`, empty but for `ci`).
pub fn build(
    ctx: &Ctx,
    opts: &flags::DockerBuild,
    oci: &[(String, String)],
    report: &mut RunReport,
) -> Result<Vec<Built>> {
    let image = opts.image.as_deref().context("which image? (e.g. `cargo xtask docker extproc`)")?;
    let spec = images::find(image)?;
    let host = Platform::host()?;
    let platforms = spec.platforms_for(&opts.platform)?;
    let cache = opts.cache;
    let mut build_args = opts.build_arg.iter().map(|a| dockerfile::parse_build_arg(a)).collect::<Result<Vec<_>>>()?;
    report.secrets = argv::secret_values(&build_args, &opts.secret);
    if let (Some((arg, base)), Some(registry)) = (spec.from, &opts.registry) {
        if !build_args.iter().any(|(k, _)| k == arg) {
            let tag = if opts.base_tag.is_empty() { "latest" } else { &opts.base_tag };
            reference::check_tag(tag).map_err(|e| anyhow::anyhow!("--base-tag: {e}"))?;
            let base_ref = argv::tag_ref(&argv::image_name(Some(registry), base), tag);
            build_args.push((arg.to_owned(), base_ref));
        }
    }
    let docker_name = engine::choose(opts.engine.docker.as_deref());

    let cwd = ctx.sh.current_dir();
    let context_dir = match &opts.context {
        Some(c) => cwd.join(c),
        None => ctx.workspace()?.root.clone(),
    };
    let context = if context_dir == cwd { ".".to_owned() } else { context_dir.display().to_string() };
    let layout = if opts.dry_run { ctx.layout_without_cargo() } else { ctx.layout() };
    let (cache_dir, cache_dir_exact) = match &opts.cache_dir {
        Some(d) => (cwd.join(d).display().to_string(), true),
        None => (layout.buildcache().display().to_string(), false),
    };
    // A push always records its digest: in the given file, else in ours.
    let metadata_file = match (&opts.metadata_file, opts.push && !opts.dry_run) {
        (Some(f), _) => Some(cwd.join(f).display().to_string()),
        (None, true) => Some(layout.push_metadata(image).display().to_string()),
        (None, false) => None,
    };
    // A prebuilt xtask: checked now (a static ELF for this machine, which
    // runs every build-platform stage), and the one file of the named
    // context `xtask`.
    let xtask_context = match &opts.xtask_bin {
        Some(file) => {
            let file = cwd.join(file);
            inside::check_static(&file, host).with_context(|| {
                format!(
                    "--xtask-bin {}: build a static xtask with `cargo xtask docker self-build --out FILE`",
                    file.display()
                )
            })?;
            let dir = layout.xtask_context();
            if !opts.dry_run {
                stage_xtask(&file, &dir)?;
            }
            Some(dir.display().to_string())
        }
        None => None,
    };
    let req = BuildRequest {
        spec,
        platforms,
        host,
        tags: opts.tag.clone(),
        push: opts.push,
        load: opts.load,
        pr: opts.pr,
        no_cache: opts.no_cache,
        cache,
        cache_dir,
        cache_dir_exact,
        registry: opts.registry.clone(),
        metadata_file,
        docker: docker_name,
        build_args,
        secrets: opts.secret.clone(),
        network: opts.network.clone(),
        context,
        xtask_context,
        sbom_generator: opts.sbom_generator.clone(),
        labels: oci.to_vec(),
        annotations: if opts.push { oci.to_vec() } else { Vec::new() },
        caps: argv::Capabilities::full(),
    };
    // Refused before anything runs, the engine probes included. Whether
    // buildx would drop a tag is known now with `--buildx yes|no`, else once
    // the probe has decided (`plan_build` checks it then).
    let known = match opts.buildx {
        BuildxMode::Yes => Some(true),
        BuildxMode::No => Some(false),
        BuildxMode::Auto => None,
    };
    let checked = req.check(known)?;
    let budgets = size_budgets(&context_dir)?;
    // No docker CLI at all: install one first (root), once the request is
    // known to be valid. A dry run probes nothing, a CLI named by `--docker`
    // or `$DOCKER` is the user's, and an engine that does not answer is
    // reported by `docker_for`.
    let named = opts.engine.docker.is_some() || crate::sys::env_var("DOCKER").is_some();
    if !opts.dry_run && !named && !crate::sys::tool_exists("docker") {
        crate::prereq::ensure(ctx, &[crate::prereq::Need::Docker])?;
    }
    let (runner, buildx, caps) = runner(opts.engine.docker.as_deref(), opts.buildx, opts.dry_run)?;
    let checked = checked.with_caps(caps);
    let req = checked.request();
    let declared = |file: &str| -> Result<DeclaredArgs> {
        let path = context_dir.join(file);
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(DeclaredArgs::parse(&text))
    };
    let plan = argv::plan_build(&checked, &declared, buildx)?;
    for note in &plan.dropped {
        eprintln!("note: {note}");
    }
    let docker = match runner {
        Runner::DryRun => {
            for c in plan.commands() {
                println!("{}", c.display_line());
            }
            return Ok(Vec::new());
        }
        Runner::Engine(docker) => docker,
    };
    if let Some(f) = &req.metadata_file {
        if let Some(dir) = std::path::Path::new(f).parent() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    if cache == CacheKind::Local && buildx {
        fs::create_dir_all(&req.cache_dir).ok();
    }

    let name = argv::image_name(req.registry.as_deref(), spec.name);
    let secrets = report.secrets.clone();
    let mut built = Vec::new();
    for b in &plan.builds {
        eprintln!("$ {}", b.build.display_line());
        let start = std::time::Instant::now();
        let (output, digest) = report.image(spec.name, b.platform.docker(), || {
            let output = docker.run_redacted(&b.build, &secrets)?;
            let mut digest = None;
            if let (Some(push), Some(r)) = (&b.push, &b.pushed_ref) {
                eprintln!("$ {}", push.display_line());
                docker.run(push)?;
                let d = repo_digest(&docker, r, &name)?;
                if let Some(f) = &b.metadata_file {
                    let meta = serde_json::json!({
                        "containerimage.digest": d,
                        "image.name": r,
                        "xtask.note": "written by xtask (docker build without buildx)",
                    });
                    fs::write(f, serde_json::to_string_pretty(&meta)? + "\n")?;
                }
                digest = Some(d);
            } else if opts.push {
                let f = b.metadata_file.as_deref().context("a push has a metadata file")?;
                digest = Some(metadata_digest(f)?);
            }
            Ok(((output, digest.clone()), digest))
        })?;
        if let Some(d) = &digest {
            eprintln!("{} {}: pushed {name}@{d}", spec.name, b.platform);
        }
        for r in &b.loaded {
            eprintln!("{} {}: loaded as {r}", spec.name, b.platform);
        }
        // The image's size, recorded, then held to its budget. The
        // uncompressed size is read from the engine's store (`docker
        // history`), where the build left the image: not a foreign
        // platform's (its layers are not unpacked on this machine), nor an
        // image pushed by digest (the builder's store is not the engine's).
        // A pushed image's compressed size and layers come from the registry.
        let local = b.local.as_ref().filter(|_| b.platform == host);
        let pushed = match &digest {
            Some(d) => Some(size::measure_registry(&docker, &name, d, b.platform)?),
            None => None,
        };
        let measured = match (local, pushed) {
            (Some(r), pushed) => {
                size::Measured { compressed: pushed.and_then(|m| m.compressed), ..size::measure_local(&docker, r)? }
            }
            (None, Some(m)) => m,
            (None, None) => size::Measured::default(),
        };
        report.sizes(spec.name, b.platform.docker(), measured.uncompressed, measured.compressed);
        let what = format!("{} {}", spec.name, b.platform);
        eprintln!(
            "{what}: {} uncompressed, {} compressed",
            measured.uncompressed.map(size::show).unwrap_or_else(|| match b.local {
                Some(_) if b.platform != host => format!("? (not unpacked on this {host} machine)"),
                None if digest.is_some() => "? (pushed by digest: not in the engine's store)".into(),
                _ => "?".into(),
            }),
            measured.compressed.map(size::show).unwrap_or_else(|| "? (not pushed)".into())
        );
        match budgets.as_ref().map(|bs| (bs, bs.get(spec.name, b.platform))) {
            Some((bs, Some(budget))) => {
                let baseline = match &opts.size_baseline {
                    Some(r) if b.platform == host => match baseline_of(&docker, r) {
                        Ok(m) => Some(m),
                        // The first build of an image has none.
                        Err(e) => {
                            eprintln!("warning: {what}: no growth check: {e:#}");
                            None
                        }
                    },
                    Some(_) => {
                        eprintln!(
                            "note: {what}: no growth check (the baseline is measured for the host platform only)"
                        );
                        None
                    }
                    None => None,
                };
                size::check(&what, &measured, budget, baseline.as_ref(), bs.growth_percent)
                    .map_err(|e| anyhow::anyhow!("{e} (budgets: {})", size::BUDGETS_FILE))?;
            }
            Some((_, None)) => eprintln!("note: {what} has no size budget in {}", size::BUDGETS_FILE),
            None => {}
        }
        built.push(Built {
            platform: b.platform,
            dockerfile: b.dockerfile.clone(),
            output,
            pushed_by_digest: digest.is_some() && buildx && req.caps.push_by_digest,
            digest,
            seconds: start.elapsed().as_secs_f64(),
        });
    }

    // Pushed with tags: merge the digests into the tags.
    if opts.push && !opts.tag.is_empty() {
        let sources = built
            .iter()
            .filter_map(|b| b.digest.as_deref())
            .map(|d| argv::digest_ref(&name, d))
            .collect::<Result<Vec<_>>>()?;
        let tags = opts.tag.iter().map(|t| argv::tag_ref(&name, t)).collect();
        let expected: Vec<Platform> = built.iter().map(|b| b.platform).collect();
        let plan = manifest_request(docker.name.clone(), tags, sources)?;
        merge(&docker, buildx, &plan, &expected, oci, report)?;
    }
    Ok(built)
}

/// The size budgets of the build context, if it has them.
fn size_budgets(context: &std::path::Path) -> Result<Option<size::Budgets>> {
    let path = context.join(size::BUDGETS_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => size::Budgets::parse(&text).map(Some).with_context(|| format!("{}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The size of the baseline image `reference` for this machine's platform,
/// pulled first.
fn baseline_of(docker: &Docker, reference: &str) -> Result<size::Measured> {
    let pull = engine::Command::new(vec![docker.name.clone(), "pull".into(), "--quiet".into(), reference.into()]);
    eprintln!("$ {}", pull.display_line());
    docker.run(&pull).with_context(|| format!("--size-baseline {reference}: cannot pull it"))?;
    size::measure_local(docker, reference)
}

/// `file` as `dir/xtask`, the only file of the named context (written
/// beside, then renamed: a build never reads half a binary, and the builds
/// of several platforms at once may stage it together). The same bytes
/// already there are left alone, file times included, so that the context
/// of an unchanged binary is unchanged.
fn stage_xtask(file: &std::path::Path, dir: &std::path::Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let staged = dir.join("xtask");
    if staged.is_file() && crate::fsutil::sha256_hex(&staged)? == crate::fsutil::sha256_hex(file)? {
        return Ok(());
    }
    crate::fsutil::replace_file(file, &staged, 0o755)
}

fn metadata_digest(file: &str) -> Result<String> {
    let text = fs::read_to_string(file).with_context(|| format!("cannot read the build metadata {file}"))?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{file} is not JSON"))?;
    v.get("containerimage.digest")
        .and_then(|d| d.as_str())
        .map(str::to_owned)
        .with_context(|| format!("{file} has no containerimage.digest"))
}

/// The registry digest of a pushed tag (`RepoDigests` of the local image).
fn repo_digest(docker: &Docker, r: &str, name: &str) -> Result<String> {
    let json = docker.inspect("{{json .RepoDigests}}", r)?;
    let list: Vec<String> = serde_json::from_str(&json).unwrap_or_default();
    list.iter()
        .find_map(|d| d.strip_prefix(&format!("{name}@")).map(str::to_owned))
        .with_context(|| format!("no digest of {name} among the RepoDigests of {r}: {json}"))
}

/// `cargo xtask docker manifest <image> …` (also run by `ci manifest`, with
/// index annotations `oci`).
pub fn manifest(
    ctx: &Ctx,
    opts: &flags::DockerManifest,
    oci: &[(String, String)],
    report: &mut RunReport,
) -> Result<Vec<String>> {
    let spec = images::find(&opts.image)?;
    let expected = if opts.platform.is_empty() { spec.platforms.to_vec() } else { spec.platforms_for(&opts.platform)? };
    let name = argv::image_name(opts.registry.as_deref(), spec.name);
    reference::check_name(&name, "--registry")?;
    let sources = match &opts.digests {
        Some(dir) => {
            if opts.registry.is_none() {
                bail!("--digests needs --registry (the digests are of <registry>/{})", spec.name);
            }
            let dir = ctx.sh.current_dir().join(dir);
            let mut names: Vec<String> = fs::read_dir(&dir)
                .with_context(|| format!("cannot read the digests directory {}", dir.display()))?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect();
            names.sort();
            names.iter().map(|d| argv::digest_ref(&name, d)).collect::<Result<Vec<_>>>()?
        }
        None => opts.sources.clone(),
    };
    for t in &opts.tag {
        reference::check_tag_arg(t)?;
    }
    let tags: Vec<String> = opts.tag.iter().map(|t| argv::tag_ref(&name, t)).collect();
    // The request (tags, sources) is checked before anything runs.
    let checked = manifest_request(engine::choose(opts.engine.docker.as_deref()), tags, sources)?;
    match runner(opts.engine.docker.as_deref(), opts.buildx, opts.dry_run)? {
        (Runner::DryRun, buildx, _) => {
            let plan = argv::plan_manifest(&checked, oci, buildx);
            for c in plan.create.iter().chain([&plan.inspect]) {
                println!("{}", c.display_line());
            }
            Ok(Vec::new())
        }
        (Runner::Engine(docker), buildx, _) => merge(&docker, buildx, &checked, &expected, oci, report),
    }
}

/// The checked manifest request for `tags` from `sources`.
pub fn manifest_request(docker: String, tags: Vec<String>, sources: Vec<String>) -> Result<argv::CheckedManifest> {
    let insecure = tags.first().is_some_and(|t| argv::is_loopback_registry(t));
    ManifestRequest { docker, insecure, tags, sources }.check()
}

/// Create the tags of `req` from its sources, with index annotations `oci`,
/// push, inspect, and check the platforms against `expected`.
/// The digest of the manifest or index `reference` names, as the registry
/// serves it (`imagetools inspect --format '{{json .Manifest}}'`).
pub fn manifest_digest(docker: &Docker, reference: &str) -> Result<String> {
    let cmd = argv::Command::new(vec![
        docker.name.clone(),
        "buildx".into(),
        "imagetools".into(),
        "inspect".into(),
        "--format".into(),
        "{{json .Manifest}}".into(),
        reference.into(),
    ]);
    let desc: serde_json::Value = serde_json::from_str(&docker.read(&cmd)?)
        .with_context(|| format!("{reference}: the descriptor is not JSON"))?;
    let digest = desc["digest"].as_str().with_context(|| format!("{reference}: the descriptor has no digest"))?;
    reference::check_digest(digest)?;
    Ok(digest.to_owned())
}

pub fn merge(
    docker: &Docker,
    buildx: bool,
    req: &argv::CheckedManifest,
    expected: &[Platform],
    oci: &[(String, String)],
    report: &mut RunReport,
) -> Result<Vec<String>> {
    let plan = argv::plan_manifest(req, oci, buildx);
    for note in &plan.dropped {
        eprintln!("note: {note}");
    }
    let tag = req.request().tags[0].clone();
    // The steps are named by the tool the plan runs: buildx's imagetools, or
    // `docker manifest` where there is no buildx.
    let tool = if buildx { "imagetools" } else { "docker manifest" };
    report.step(format!("{tool} create {tag}"), || {
        for c in &plan.create {
            eprintln!("$ {}", c.display_line());
            docker.run(c)?;
        }
        Ok(())
    })?;
    report.step(format!("{tool} inspect {tag}"), || {
        eprintln!("$ {}", plan.inspect.display_line());
        let raw = docker.read(&plan.inspect)?;
        let found = argv::check_platforms(&tag, &raw, expected)?;
        eprintln!("{tag}: {}", found.join(", "));
        Ok(found)
    })
}
