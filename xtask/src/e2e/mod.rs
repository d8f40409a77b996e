//! `cargo xtask e2e`: the images end to end, on this machine only (loopback
//! and host networking, nothing else):
//!
//! 1. a Docker engine >= 24 with the containerd image store and buildx
//!    (reused, or containerd and `dockerd --bridge=none --iptables=false`);
//! 2. local Debian base images made with debootstrap, cached as
//!    `xtask-e2e/debian:<codename>-<arch>-v<N>`: for each platform its own
//!    and the build machine's, from the platform's first Debian release
//!    (Debian 12; riscv64: Debian 13, whose builder has a riscv64 std
//!    package), see [`base_image`];
//! 3. Debian's `docker-registry` on 127.0.0.1:5000 (reused if it answers);
//! 4. CI's builder: a `docker-container` builder on a BuildKit image built
//!    here ([`builder`]), the base images pushed where it reads them (the
//!    registry); every later build goes through it (`BUILDX_BUILDER`);
//! 5. `extproc` for linux/amd64 (native Dockerfile) and linux/arm64 (cross
//!    Dockerfile), built as `ci build` builds it ([`ci::build_request`]):
//!    pushed by digest, recorded in a digests directory; under
//!    `--all-checks` the host's build exports its cache to the registry,
//!    for the second builder to read;
//! 6. each pushed digest pulled and run (arm64 under QEMU binfmt) with the
//!    model mounted read-only: `/healthz`, `/v1/route` and ext_proc;
//! 7. `ci manifest` merges the digests into `extproc:e2e`; its index holds
//!    the pushed images with their attestations, and no tag names them;
//! 8. the other images for every platform, `dev`, `precommit` (FROM dev)
//!    and `stack` (FROM extproc), each built, pushed, merged and smoke-run,
//!    a foreign platform under qemu with no compile step emulated (see
//!    [`other_images`]);
//! 9. rebuilds with no change and with a change in candle-binding (on the
//!    host), timed against the first build, with the dependency cook checked
//!    CACHED; a router change, a planted file over the size budget, a
//!    pull-request build. `--all-checks` (the `images` suite) adds what
//!    costs more than it proves in the default run: the host's builds
//!    compiling their own xtask, a go.sum change, the library change on
//!    the foreign platforms, and a second builder with empty state, whose
//!    cook must come from the first one's registry cache.
//!
//! Steps 1 to 4 and the static xtask are `--prepare-only`; `cargo xtask
//! test` runs them in the background beside its other suites ([`prepare`]).
//!
//! The path without buildx is run in a smaller case: `docker manifest`
//! merging the two base images. The run's report holds `facts` (builder,
//! index, each build's CACHED steps) beside its figures.

mod builder;
mod ci_path;
mod other_images;
pub mod prepare;
mod rebuilds;
pub mod services;

use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, ensure, Context, Result};

use crate::{
    ci::{self, plan::Plan},
    ctx::Ctx,
    docker::{self, argv, report::RunReport, Built},
    engine::{BuildxMode, CacheKind, Docker},
    flags, http,
    platform::Platform,
};

/// Bump to rebuild the cached base images.
pub const BASE_VERSION: u32 = 1;

/// The repository of the local base images.
const BASE_REPO: &str = "xtask-e2e/debian";
/// The repository of the local stand-in for the Rust image.
const RUST_REPO: &str = "xtask-e2e/rust";
/// Every local image's repository starts so (the registry holds them there too).
const LOCAL_PREFIX: &str = "xtask-e2e/";

/// The toolchain of the Dockerfiles' default builder, `rust:1.95-bookworm`
/// (a test reads the Dockerfiles).
pub const RUST_TOOLCHAIN: &str = "1.95";

/// The local base image of architecture `arch` for images of `target`: a
/// debootstrap of `target`'s first Debian release ([`Platform::debian`]).
/// The runtime is `base_image(target, target)`, the builder on the build
/// machine `base_image(host, target)`: a riscv64 image builds on Debian 13,
/// where `libstd-rust-web-dev:riscv64` exists.
pub fn base_image(arch: Platform, target: Platform) -> String {
    format!("{BASE_REPO}:{}-{}-v{BASE_VERSION}", target.debian().1, arch.debian_arch())
}

/// The local stand-in for `rust:{RUST_TOOLCHAIN}-<release>` on `arch`:
/// [`base_image`]`(arch, arch)` with rustup's toolchain, as CI's builds get
/// it. extproc builds on it; dev keeps the plain Debian builder, so the
/// Dockerfiles' fallback (Debian's `cargo-web`) is built too.
pub fn rust_image(arch: Platform) -> String {
    format!("{RUST_REPO}:{RUST_TOOLCHAIN}-{}-{}-v{BASE_VERSION}", arch.debian().1, arch.debian_arch())
}

/// Make [`base_image`]`(arch, arch)`, then [`rust_image`]`(arch)` from it.
pub fn make_rust_image(docker: &Docker, arch: Platform, work: &Path) -> Result<String> {
    let base = base_image(arch, arch);
    services::base_image(docker, arch, arch.debian().1, &base, work)?;
    let tag = rust_image(arch);
    services::rust_image(docker, &base, RUST_TOOLCHAIN, &tag, work)?;
    Ok(tag)
}

/// Every base image the builds for `platforms` use, as (arch, target).
fn base_images(platforms: &[Platform], host: Platform) -> Vec<(Platform, Platform)> {
    let mut out: Vec<(Platform, Platform)> = Vec::new();
    for &p in platforms {
        for pair in [(p, p), (host, p)] {
            if !out.iter().any(|q| base_image(q.0, q.1) == base_image(pair.0, pair.1)) {
                out.push(pair);
            }
        }
    }
    out
}

impl flags::E2e {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let mut report = RunReport::new(if self.prepare_only { "e2e prepare" } else { "e2e" });
        let metrics_file = docker::report::metrics_path(ctx, self.engine.metrics_file.as_deref());
        let mut started = services::Started::default();
        let res = e2e(ctx, &self, &mut report, &mut started);
        report.finish(&res, &metrics_file);
        if let Some(status) = &self.hold {
            prepare::hold(status, &res);
        }
        // Without --hold, --prepare-only leaves what it started running.
        if !self.keep && (!self.prepare_only || self.hold.is_some()) {
            started.stop();
        }
        res
    }
}

struct Env<'a> {
    ctx: &'a Ctx,
    shared: Shared,
}

/// What the run's steps share beside the context: a [`Ctx`] stays on its
/// thread, this is cloned for builds that run side by side.
#[derive(Clone)]
struct Shared {
    docker: Docker,
    registry: String,
    work: PathBuf,
    secrets: Vec<String>,
    /// The run's static xtask, handed to the images as CI does (`--xtask-bin`).
    xtask_bin: PathBuf,
    /// The publish plan the extproc builds take, as `ci plan` writes it,
    /// and its file.
    plan: Plan,
    plan_file: PathBuf,
    /// Where the first builds record their digests (`ci build --digests-dir`).
    digests: PathBuf,
    /// The SBOM generator image extproc's builds attest with.
    sbom_generator: String,
    /// `--all-checks`: the host's builds compile their own xtask, and the
    /// rebuilds include the ones the test suite leaves out.
    all_checks: bool,
}

impl std::ops::Deref for Env<'_> {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

fn e2e(ctx: &Ctx, opts: &flags::E2e, report: &mut RunReport, started: &mut services::Started) -> Result<()> {
    let host = Platform::host()?;
    let platforms = if opts.platform.is_empty() {
        vec![Platform::AMD64, Platform::ARM64]
    } else {
        Platform::or_host(&opts.platform)?
    };
    if !opts.registry.starts_with("127.") && !opts.registry.starts_with("localhost:") {
        bail!("--registry must be a loopback address (127.x.x.x:PORT or localhost:PORT), not {}", opts.registry);
    }
    other_images::check_wanted(&opts.images)?;
    // Every prerequisite before anything starts: the engine, registry and
    // debootstrap; the model; and for foreign platforms, qemu's handlers.
    report.step("prerequisites", || {
        use crate::prereq::Need;
        // Go builds the ext_proc client the runs route through.
        let mut needs = vec![Need::E2eTools, Need::Buildx, Need::Model, Need::Go];
        needs.extend(platforms.iter().filter(|p| **p != host).map(|p| Need::Qemu(*p)));
        crate::prereq::ensure(ctx, &needs)
    })?;
    let work = ctx.layout().e2e();
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    // The run's xtask, static, as CI builds it once and hands it to every
    // image build (their xtask stage is then skipped): compiled beside the
    // engine, the bases and the builder, which wait on other things.
    let xtask_bin = work.join("xtask-static");
    let static_build = {
        let (ctx, out) = (ctx.fork()?, xtask_bin.clone());
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            static_xtask(&ctx, &out).map(|()| started.elapsed())
        })
    };

    // 1. engine
    let docker = report.step("docker engine", || services::engine(opts.engine.docker.as_deref(), &work, started))?;
    report.step("free disk space", || services::check_disk(&docker, &work, services::NEEDED_FREE))?;

    // 2. base images
    for (arch, target) in base_images(&platforms, host) {
        let tag = base_image(arch, target);
        report.step(format!("base image {tag}"), || {
            services::base_image(&docker, arch, target.debian().1, &tag, &work)
        })?;
    }

    let rust = rust_image(host);
    report.step(format!("rust image {rust}"), || make_rust_image(&docker, host, &work))?;

    // 3. registry
    report.step(format!("registry {}", opts.registry), || services::registry(&opts.registry, &work, started))?;

    // 4. CI's builder: what setup-buildx-action makes (a docker-container
    //    builder), on our BuildKit image; the base images where it reads
    //    them (the registry: it sees nothing of the engine's store). From
    //    here on every build goes through it, named by BUILDX_BUILDER as
    //    the action exports it.
    let bk = report.step("buildx builder (docker-container)", || {
        builder::prepare(&docker, &work, &opts.registry, &base_image(host, host))
    })?;
    report.figure("buildkit go build seconds", bk.go_seconds);
    report.figure("buildkit image seconds", bk.image_seconds);
    report.figure("buildkit builder seconds", bk.bootstrap_seconds);
    report.fact("builder", serde_json::json!({"name": bk.name, "driver": bk.driver, "buildkit": bk.buildkit_version}));
    report.step("base images to the registry", || ci_path::push_bases(&docker, &opts.registry, &platforms, host))?;
    if opts.prepare_only {
        report.step("static xtask (the rest of its build)", || {
            static_build.join().map_err(|_| anyhow::anyhow!("the static xtask build panicked"))?
        })?;
        eprintln!("e2e: prepared: engine, registry {}, base images, builder {}, static xtask", opts.registry, bk.name);
        return Ok(());
    }

    // The model, for the runs.
    let model = crate::model::default_dir(ctx)?;
    if !crate::model::verified(&model).unwrap_or(false) {
        report.step("model", || flags::Model { dir: None, from: None, wheel: None }.run(ctx))?;
    }
    let _using = builder::Use::builder(&bk.name);

    // 5. build and push each platform from a copy of the sources, as the
    //    workflow's build jobs do (`ci build`: by digest, recorded in a
    //    digests directory)
    let context = work.join("context");
    report.step("build context", || copy_sources(ctx, &context, opts.rev.as_deref()))?;
    let secrets = ca_secret();
    let took = report.step("static xtask (the rest of its build)", || {
        static_build.join().map_err(|_| anyhow::anyhow!("the static xtask build panicked"))?
    })?;
    eprintln!("e2e: static xtask {} built in {}", xtask_bin.display(), docker::report::minutes(took.as_secs_f64()));
    let (plan, plan_file, digests) =
        report.step("publish plan", || ci_path::e2e_plan(ctx, &work, &opts.registry, &platforms))?;
    let sbom_generator = report.step("SBOM generator image", || {
        // On no base, as the workflow makes it: the static xtask needs none.
        crate::sbom::generator::ensure_generator(&docker, &opts.registry, "scratch", &xtask_bin)
    })?;
    let env = Env {
        ctx,
        shared: Shared {
            sbom_generator,
            docker,
            registry: opts.registry.clone(),
            work: work.clone(),
            secrets,
            xtask_bin,
            plan,
            plan_file,
            digests,
            all_checks: opts.all_checks,
        },
    };

    // The platforms' first builds run side by side, as CI's build jobs do
    // on their own runners: one build's serial phases (pulls, the xtask
    // compile, the export and push) overlap the other's compile.
    let how = |p: Platform| How { no_cache: opts.cold, exported: p == host && opts.all_checks };
    let mut cold: Vec<Built> = Vec::new();
    for (b, &p) in side_by_side(&env, &context, &platforms, host, how, report)?.into_iter().zip(&platforms) {
        let digest = b.digest.as_deref().context("no digest after a push")?;
        ensure!(
            b.pushed_by_digest,
            "{p}: the `{}` builder pushed a tag, not a digest (CI's builder pushes by digest)",
            bk.driver
        );
        ci::record_digest(digest, p, Some(&env.digests))?;
        let cook = cook_cached(&b.output);
        eprintln!(
            "e2e: {p} built from {} in {}, pushed by digest (dependency cook {})",
            b.dockerfile,
            docker::report::minutes(b.seconds),
            cook.describe()
        );
        cold.push(b);
    }

    // 6. run each platform's pushed digest, before any tag names it: the
    //    HTTP API and ext_proc (with the host's ext_proc client: the runs
    //    share its network). A digest whose run fails is never tagged.
    let name = argv::image_name(Some(&env.registry), "extproc");
    let router_dir = ctx.workspace()?.path(crate::build::ROUTER_DIR);
    let probe = report.step("ext_proc client", || crate::smoke::build_probe(&ctx.sh, &router_dir, host, &work))?;
    for (b, &p) in cold.iter().zip(&platforms) {
        let image = argv::digest_ref(&name, b.digest.as_deref().context("no digest after a push")?)?;
        report.step(format!("run {p}"), || run_image(&env, &image, p, &model, &probe))?;
    }
    eprintln!("e2e: every pushed digest ran; only now does a tag name them");

    // 7. the multi-arch tag, of the digests that ran, as the workflow's
    //    manifest job makes it (`ci manifest`: `imagetools create`)
    let manifest = flags::CiManifest {
        of: flags::PlanDigests {
            image: "extproc".into(),
            plan: Some(env.plan_file.clone()),
            digests: env.digests.clone(),
        },
        dry_run: false,
    };
    report.step("ci manifest extproc", || ci::manifest(ctx, &manifest))?;
    let tag = format!("{name}:{E2E_TAG}");
    let raw = env.docker.read(&argv_inspect(&env, &tag)?)?;
    report.step(format!("attestations of {tag}"), || check_attestations(&tag, &raw, &platforms))?;
    let index =
        report.step(format!("index of {tag}"), || ci_path::check_index(&env, &name, &raw, &cold, &platforms))?;
    report.fact("index", index);

    // The fallback without buildx, in a smaller case: `docker manifest` merges
    // the two base images, pushed by tag.
    if platforms.len() > 1 {
        fallback_manifest(&env, &platforms, report)?;
    }

    // 8. the other images, for every platform (or the host's)
    if !opts.no_images {
        let image_platforms: Vec<Platform> =
            platforms.iter().copied().filter(|p| !opts.images_host_only || *p == host).collect();
        if image_platforms.is_empty() {
            eprintln!("e2e: --images-host-only, and the host ({host}) is not among the platforms: no other images");
        } else {
            let wanted = if opts.images.is_empty() { flags::OtherImage::ALL.to_vec() } else { opts.images.clone() };
            other_images::run(&env, &context, &tag, &image_platforms, &wanted, &model, report)?;
        }
    }

    // 9. rebuild figures, and a second builder that reads the first's cache
    if !opts.no_rebuild {
        rebuilds::rebuilds(&env, &context, &platforms, host, &cold, &bk, report)?;
    }
    if !opts.keep {
        fs::remove_dir_all(&context).ok();
    }
    Ok(())
}

/// The build secret `cacert` (the Dockerfiles' optional CA bundle) from
/// this machine's bundle, when it has one: the mirrors may be reached
/// through a TLS-intercepting proxy.
pub fn ca_secret() -> Vec<String> {
    crate::fsutil::ca_bundle().map(|ca| format!("id=cacert,src={}", ca.display())).into_iter().collect()
}

/// The tag the e2e's publish plan gives every image.
const E2E_TAG: &str = "e2e";

impl Env<'_> {
    /// [`build_args`] with the base images where the builder reads them:
    /// in the registry.
    fn build_args(&self, image: &str, host: Platform, p: Platform, from_ref: &str) -> Vec<String> {
        build_args(image, host, p, from_ref)
            .into_iter()
            .map(|a| match a.split_once('=') {
                Some((k, v)) if v.starts_with(LOCAL_PREFIX) => format!("{k}={}/{v}", self.registry),
                _ => a,
            })
            .collect()
    }
}

/// Every platform's image has its provenance attestation in the index: an
/// entry `vnd.docker.reference.type: attestation-manifest` whose
/// `vnd.docker.reference.digest` is that image's manifest.
fn check_attestations(tag: &str, raw: &str, platforms: &[Platform]) -> Result<()> {
    let found = argv::index_attestations(raw).with_context(|| tag.to_owned())?;
    for &p in platforms {
        let image = platform_digest(raw, p)?;
        ensure!(found.iter().any(|(subject, _)| *subject == image), "{tag}: no attestation manifest for {p} ({image})");
    }
    eprintln!("e2e: {tag}: {} images, {} attestation manifests (one per image)", platforms.len(), found.len());
    Ok(())
}

/// `docker manifest` (the path without buildx): push each base image by
/// tag, merge the tags into one, check both platforms.
fn fallback_manifest(env: &Env<'_>, platforms: &[Platform], report: &mut RunReport) -> Result<()> {
    let name = argv::image_name(Some(&env.registry), "e2e-base");
    let sh = xshell::Shell::new()?;
    let docker = &env.docker.path;
    let mut sources = Vec::new();
    for &p in platforms {
        let (local, remote) = (base_image(p, p), format!("{name}:{}", p.goarch()));
        xshell::cmd!(sh, "{docker} tag {local} {remote}").quiet().run()?;
        xshell::cmd!(sh, "{docker} push --quiet {remote}").quiet().ignore_stdout().run()?;
        // The containerd image store pushes an index (image and
        // attestation); `docker manifest create` takes image manifests, so
        // the platform's own manifest, by digest, read with `docker manifest`.
        let raw = xshell::cmd!(sh, "{docker} manifest inspect --insecure {remote}").quiet().read()?;
        let is_list =
            serde_json::from_str::<serde_json::Value>(&raw).ok().is_some_and(|v| v.get("manifests").is_some());
        sources.push(if is_list { format!("{name}@{}", platform_digest(&raw, p)?) } else { remote });
    }
    let req = docker::manifest_request(env.docker.name.clone(), vec![format!("{name}:fallback")], sources)?;
    docker::merge(&env.docker, false, &req, platforms, &[], report).map(drop)
}

fn argv_inspect(env: &Env<'_>, tag: &str) -> Result<argv::Command> {
    let req = docker::manifest_request(env.docker.name.clone(), vec![tag.to_owned()], vec![tag.to_owned()])?;
    Ok(argv::plan_manifest(&req, &[], true).inspect)
}

/// The digest of `p`'s image in a raw index.
fn platform_digest(raw: &str, p: Platform) -> Result<String> {
    let v: serde_json::Value = serde_json::from_str(raw).context("the index is not JSON")?;
    for m in v["manifests"].as_array().into_iter().flatten() {
        let os = m["platform"]["os"].as_str().unwrap_or("");
        let arch = m["platform"]["architecture"].as_str().unwrap_or("");
        if Platform::parse(&format!("{os}/{arch}")).ok() == Some(p) {
            return m["digest"].as_str().map(str::to_owned).context("an index entry without digest");
        }
    }
    bail!("the index has no {p} image")
}

/// [`build`] for each platform at once, each on its own thread with its
/// own context and report, its log lines prefixed with its platform. The
/// builds are in `platforms`' order; the first failure is the error.
fn side_by_side(
    env: &Env<'_>,
    context: &Path,
    platforms: &[Platform],
    host: Platform,
    how: impl Fn(Platform) -> How,
    report: &mut RunReport,
) -> Result<Vec<Built>> {
    let mut jobs = Vec::new();
    for &p in platforms {
        jobs.push((p, env.ctx.fork()?, env.shared.clone(), report.child(), how(p)));
    }
    let done: Vec<(RunReport, Result<Built>)> = std::thread::scope(|s| {
        let running: Vec<_> = jobs
            .into_iter()
            .map(|(p, ctx, shared, mut child, how)| {
                s.spawn(move || {
                    let env = Env { ctx: &ctx, shared };
                    let prefix = format!("[{p}] ");
                    let built =
                        crate::engine::with_output_prefix(&prefix, || build(&env, context, p, host, how, &mut child));
                    (child, built)
                })
            })
            .collect();
        running
            .into_iter()
            .map(|t| {
                t.join().unwrap_or_else(|_| (RunReport::new("e2e"), Err(anyhow::anyhow!("a build thread panicked"))))
            })
            .collect()
    });
    let mut built = Vec::new();
    let mut first_error = None;
    for (child, b) in done {
        report.absorb(child);
        match b {
            Ok(b) => built.push(b),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(built),
    }
}

/// Build and push one platform of extproc as `ci build` does (its request,
/// [`ci::build_request`]), with what this machine has and CI's runners do
/// not: the base images and the CA bundle.
fn build(
    env: &Env<'_>,
    context: &Path,
    p: Platform,
    host: Platform,
    how: How,
    report: &mut RunReport,
) -> Result<Built> {
    let spec = docker::images::find("extproc")?;
    let given = env.given_xtask(p, host);
    let ci = flags::CiBuild {
        image: spec.name.into(),
        platform: p,
        plan: Some(env.plan_file.clone()),
        digests_dir: None,
        xtask_bin: given.then(|| env.xtask_bin.clone()),
        cache: if how.exported { CacheKind::Registry } else { CacheKind::None },
        sbom_generator: Some(env.sbom_generator.clone()),
        dry_run: false,
    };
    let mut opts = ci::build_request(&env.plan, spec, p, &ci, &env.work);
    opts.build_arg.extend(env.build_args(spec.name, host, p, ""));
    opts.secret = env.secrets.clone();
    opts.context = Some(context.to_path_buf());
    opts.no_cache = how.no_cache;
    opts.engine = flags::DockerArgs { docker: Some(env.docker.name.clone()), metrics_file: None };
    opts.buildx = BuildxMode::Yes;
    built_one(env, context, spec.name, p, &opts, &env.plan.oci(spec), report)
}

/// How the e2e builds an image. Every build uses its builder's own cache;
/// under `--all-checks` the host's first extproc build also writes the
/// registry's (`--cache registry`, as a second CI runner would read it),
/// and the "second builder" rebuild reads it back: without that reader an
/// export would be work for nobody.
#[derive(Debug, Clone, Copy, Default)]
pub struct How {
    /// `--no-cache` (the first builds under `--cold`).
    pub no_cache: bool,
    /// `--cache registry`.
    pub exported: bool,
}

/// The build arguments the e2e test gives `image` for platform `p` on `host`:
/// its base images replaced by the local Debian ones, or, for an image built
/// FROM another of ours, that image's reference `from_ref`. (`cargo xtask
/// lint` checks that each Dockerfile declares them.)
pub fn build_args(image: &str, host: Platform, p: Platform, from_ref: &str) -> Vec<String> {
    match image {
        "extproc" => {
            vec![format!("BUILDER_IMAGE={}", rust_image(host)), format!("RUNTIME_IMAGE={}", base_image(p, p))]
        }
        // The builder stages run on the build machine ($BUILDPLATFORM).
        "dev" => vec![format!("BASE_IMAGE={}", base_image(p, p)), format!("BUILDER_IMAGE={}", base_image(host, p))],
        "precommit" => vec![format!("DEV_IMAGE={from_ref}")],
        "stack" => vec![format!("EXTPROC_IMAGE={from_ref}")],
        _ => Vec::new(),
    }
}

/// Build and push one platform of `image` with the same code as `cargo xtask docker`.
fn build_image(
    env: &Env<'_>,
    context: &Path,
    image: &str,
    p: Platform,
    build_arg: Vec<String>,
    how: How,
    report: &mut RunReport,
) -> Result<Built> {
    let opts = flags::DockerBuild {
        image: Some(image.into()),
        platform: vec![p],
        push: true,
        no_cache: how.no_cache,
        registry: Some(env.registry.clone()),
        context: Some(context.to_path_buf()),
        engine: flags::DockerArgs { docker: Some(env.docker.name.clone()), metrics_file: None },
        build_arg,
        secret: env.secrets.clone(),
        metadata_file: Some(env.work.join(format!("metadata-{image}-{}.json", p.dir_name()))),
        buildx: BuildxMode::Yes,
        xtask_bin: env.given_xtask(p, Platform::host()?).then(|| env.xtask_bin.clone()),
        ..Default::default()
    };
    built_one(env, context, image, p, &opts, &[], report)
}

impl Shared {
    /// Whether a build for `p` takes the run's xtask, as CI's do: all but
    /// the host's under `--all-checks`, which compile their own (the
    /// Dockerfiles' fallback). A platform's builds either all take it or
    /// none does, so that its rebuilds share the layers after xtask.
    fn given_xtask(&self, p: Platform, host: Platform) -> bool {
        p != host || !self.all_checks
    }
}

/// Run one build, and check that its xtask stage ran exactly when it was
/// given no binary.
fn built_one(
    env: &Env<'_>,
    context: &Path,
    image: &str,
    p: Platform,
    opts: &flags::DockerBuild,
    oci: &[(String, String)],
    report: &mut RunReport,
) -> Result<Built> {
    let mut built = docker::build(env.ctx, opts, oci, report)?;
    ensure!(built.len() == 1, "one build expected");
    let b = built.remove(0);
    if opts.xtask_bin.is_some() {
        ensure!(
            !compiled_xtask(&b.output),
            "{image} {p}: the xtask stage ran although the build was given --xtask-bin {}",
            env.xtask_bin.display()
        );
    } else if has_stage(context, &b.dockerfile, "xtask-build")? {
        ensure!(compiled_xtask(&b.output), "{image} {p}: a build without --xtask-bin did not build its own xtask");
    }
    report.fact_entry(
        "builds",
        serde_json::json!({
            "image": image,
            "platform": p.docker(),
            "phase": report.phase.clone().unwrap_or_else(|| "first".into()),
            "builder": std::env::var("BUILDX_BUILDER").unwrap_or_default(),
            "pushed_by_digest": b.pushed_by_digest,
            "cached": steps(&b.output, true),
            "ran": steps(&b.output, false),
        }),
    );
    Ok(b)
}

/// Whether the Dockerfile `file` (relative to `context`) has a stage `name`.
fn has_stage(context: &Path, file: &str, name: &str) -> Result<bool> {
    let text = fs::read_to_string(context.join(file)).with_context(|| format!("cannot read {file}"))?;
    let df = docker::dockerfile::Dockerfile::parse(&text);
    Ok(df.stages.iter().any(|s| s.name.as_deref() == Some(name)))
}

/// Whether a build's progress shows the Dockerfile's own xtask compile
/// (`xtask-build`, run or CACHED): never when the image is given a binary.
pub fn compiled_xtask(output: &str) -> bool {
    output.lines().any(|l| l.starts_with('#') && l.contains(" [xtask-build "))
}

/// `docker self-build --out FILE` (in this process: under `cargo xtask
/// test` the running binary may have been rebuilt): xtask for this
/// machine, static.
fn static_xtask(ctx: &Ctx, out: &Path) -> Result<()> {
    docker::inside::self_build(ctx, &flags::DockerSelfBuild { platform: None, out: out.to_path_buf() })
}

/// Whether the dependency cook step was CACHED in a build's plain progress output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cook {
    Cached,
    Ran,
    NotFound,
}

impl Cook {
    fn describe(self) -> &'static str {
        match self {
            Cook::Cached => "CACHED",
            Cook::Ran => "ran",
            Cook::NotFound => "not seen in the output",
        }
    }
}

/// Find the vertex `#N [...] RUN ... precache cook ...` and whether `#N CACHED` follows.
pub fn cook_cached(output: &str) -> Cook {
    step_cached(output, "precache cook")
}

/// The same for any RUN step whose command contains `needle`.
pub fn step_cached(output: &str, needle: &str) -> Cook {
    let mut ids = Vec::new();
    for line in output.lines() {
        let Some(rest) = line.strip_prefix('#') else { continue };
        let Some((id, text)) = rest.split_once(' ') else { continue };
        if text.starts_with('[') && text.contains("RUN ") && text.contains(needle) {
            ids.push(id.to_owned());
        }
    }
    if ids.is_empty() {
        return Cook::NotFound;
    }
    let cached = ids.iter().all(|id| output.lines().any(|l| l.trim_end() == format!("#{id} CACHED")));
    if cached {
        Cook::Cached
    } else {
        Cook::Ran
    }
}

/// Copy the files git knows (tracked and untracked, not ignored) to `to`,
/// or with `rev` the tree of that commit.
pub fn copy_sources(ctx: &Ctx, to: &Path, rev: Option<&str>) -> Result<()> {
    let ws = ctx.workspace()?;
    if let Some(rev) = rev {
        if to.exists() {
            fs::remove_dir_all(to).with_context(|| format!("cannot clear {}", to.display()))?;
        }
        fs::create_dir_all(to)?;
        // A pipeline: duct runs both ends and fails if either does.
        duct::cmd!("git", "archive", "--format=tar", rev)
            .dir(&ws.root)
            .pipe(duct::cmd!("tar", "-x", "-C", to))
            .run()
            .with_context(|| format!("git archive {rev} | tar -x failed"))?;
        eprintln!("e2e: sources of {rev} extracted to {}", to.display());
        return Ok(());
    }
    let out = {
        let _cd = ctx.sh.push_dir(&ws.root);
        xshell::cmd!(ctx.sh, "git ls-files -z --cached --others --exclude-standard")
            .quiet()
            .output()
            .with_context(|| format!("git ls-files failed in {}", ws.root.display()))?
    };
    if to.exists() {
        fs::remove_dir_all(to).with_context(|| format!("cannot clear {}", to.display()))?;
    }
    let mut n = 0;
    for rel in out.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).context("non-UTF-8 path")?);
        let from = ws.root.join(rel);
        if !from.is_file() {
            continue; // deleted in the work tree
        }
        let dest = to.join(rel);
        fs::create_dir_all(dest.parent().unwrap())?;
        fs::copy(&from, &dest).with_context(|| format!("cannot copy {}", from.display()))?;
        n += 1;
    }
    eprintln!("e2e: {n} files copied to {}", to.display());
    Ok(())
}

/// Run one image on the host network with the model, check `/healthz`,
/// `/v1/route`, and the same prompt through ext_proc with `probe`.
fn run_image(env: &Env<'_>, image: &str, p: Platform, model: &Path, probe: &Path) -> Result<()> {
    let d = &env.docker;
    let port = http::free_port()?;
    let grpc = format!("127.0.0.1:{}", http::free_port()?);
    let name = format!("xtask-e2e-{}-{port}", p.goarch());
    let sh = xshell::Shell::new()?;
    let docker = &d.path;
    let pd = p.docker();
    xshell::cmd!(sh, "{docker} pull --platform {pd} {image}").run().context("docker pull failed")?;
    let mount = format!("type=bind,src={},dst=/models/all-MiniLM-L6-v2,readonly", model.display());
    let listen = format!("127.0.0.1:{port}");
    xshell::cmd!(
        sh,
        "{docker} run -d --rm --name {name} --platform {pd} --network host --mount {mount} {image} --listen {listen} --grpc-listen {grpc}"
    )
    .run()
    .context("docker run failed")?;
    let result = (|| -> Result<()> {
        let deadline = Duration::from_secs(if p.is_host() { 120 } else { 300 });
        let took = crate::smoke::wait_healthy(&listen, deadline, &mut || {
            ensure!(container_running(d, &name), "the container exited before answering");
            Ok(())
        })
        .with_context(|| format!("{p}"))?;
        eprintln!("e2e: {p}: /healthz 200 after {:.1}s", took.as_secs_f64());
        let answer = crate::smoke::check_route(&listen).with_context(|| format!("{p}"))?;
        eprintln!("e2e: {p}: /v1/route -> {answer}");
        let routed =
            crate::smoke::check_extproc(probe, &[], &grpc, Duration::from_secs(60)).with_context(|| format!("{p}"))?;
        eprintln!("e2e: {p}: ext_proc -> {routed}");
        Ok(())
    })();
    if result.is_err() {
        let _ = xshell::cmd!(sh, "{docker} logs {name}").run();
    }
    let _ = xshell::cmd!(sh, "{docker} stop -t 5 {name}").quiet().ignore_stdout().ignore_stderr().run();
    result
}

fn container_running(d: &Docker, name: &str) -> bool {
    d.inspect("{{.State.Running}}", name).map(|s| s == "true").unwrap_or(false)
}

/// RUN steps that executed (not CACHED) in a build's output.
pub fn ran_steps(output: &str) -> Vec<String> {
    steps(output, false)
}

/// The RUN steps of a build's output that were CACHED (`cached`) or ran.
pub fn steps(output: &str, cached: bool) -> Vec<String> {
    let mut out = Vec::new();
    for line in output.lines() {
        let Some(rest) = line.strip_prefix('#') else { continue };
        let Some((id, text)) = rest.split_once(' ') else { continue };
        let is_cached = output.lines().any(|l| l.trim_end() == format!("#{id} CACHED"));
        let wanted = text.starts_with('[') && text.contains(" RUN ") && is_cached == cached;
        let text: String = text.chars().take(100).collect();
        if wanted && !out.contains(&text) {
            out.push(text); // a vertex can be printed more than once
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "#1 [internal] load build definition from Dockerfile.extproc\n\
#12 [build 3/6] RUN --mount=type=secret,id=cacert xtask precache cook --release\n\
#12 CACHED\n\
#13 [build 4/6] COPY . .\n\
#14 [build 5/6] RUN --mount=type=cache,target=/root/.cache/go-build xtask clean-stale --all && xtask build --release\n\
#14 0.5 ==> cargo build\n\
#14 DONE 80.1s\n";

    #[test]
    fn cached_steps_are_found() {
        assert_eq!(cook_cached(OUT), Cook::Cached);
        assert_eq!(step_cached(OUT, "xtask build"), Cook::Ran);
        assert_eq!(step_cached(OUT, "nothing like it"), Cook::NotFound);
        assert_eq!(ran_steps(OUT).len(), 1);
        assert!(ran_steps(OUT)[0].contains("xtask clean-stale"));
        assert_eq!(steps(OUT, true).len(), 1);
        assert!(steps(OUT, true)[0].contains("precache cook"));
    }

    #[test]
    fn every_image_gets_its_base_images() {
        for spec in crate::docker::images::IMAGES {
            let args = build_args(spec.name, Platform::AMD64, Platform::ARM64, "r");
            let names: Vec<&str> = args.iter().filter_map(|a| a.split_once('=').map(|(k, _)| k)).collect();
            let wanted: Vec<&str> = match spec.from {
                Some((arg, _)) => vec![arg],
                None => spec.base_args.to_vec(),
            };
            assert_eq!(names, wanted, "{}", spec.name);
        }
    }

    #[test]
    fn the_rust_stand_in_is_the_dockerfiles_default_builder() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for spec in crate::docker::images::IMAGES.iter().filter(|s| s.base_args.contains(&"BUILDER_IMAGE")) {
            for file in [Some(spec.native), spec.cross].into_iter().flatten() {
                let text = fs::read_to_string(root.join(file)).unwrap();
                let default = format!("ARG BUILDER_IMAGE=rust:{RUST_TOOLCHAIN}-bookworm\n");
                assert!(text.contains(&default), "{file}: {default}");
            }
        }
        assert_eq!(rust_image(Platform::AMD64), format!("xtask-e2e/rust:1.95-bookworm-amd64-v{BASE_VERSION}"));
        let args = build_args("extproc", Platform::AMD64, Platform::ARM64, "");
        assert_eq!(args[0], format!("BUILDER_IMAGE={}", rust_image(Platform::AMD64)));
        let dev = build_args("dev", Platform::AMD64, Platform::ARM64, "");
        assert!(dev.iter().all(|a| !a.contains(RUST_REPO)), "dev builds on plain Debian (the cargo-web fallback)");
        // `ci act` mirrors the rust image from the same stand-in.
        let (_, sources) = crate::ci::act::mirrored(&format!("rust:{RUST_TOOLCHAIN}-bookworm"));
        assert_eq!(sources, [(Platform::AMD64, format!("127.0.0.1:5000/{}", rust_image(Platform::AMD64)))]);
        // ... and each Debian runtime from the runtime base of its platforms.
        for p in Platform::ALL {
            let (_, sources) = crate::ci::act::mirrored(&format!("debian:{}-slim", p.debian().1));
            assert!(sources.contains(&(p, format!("127.0.0.1:5000/{}", base_image(p, p)))), "{p}: {sources:?}");
        }
        let file = services::rust_dockerfile("b:1", RUST_TOOLCHAIN);
        assert!(file.starts_with("FROM b:1\n"), "{file}");
        assert!(file.contains("rustup-init -y --no-modify-path --profile minimal --default-toolchain 1.95 \\\n"));
        assert!(file.contains("ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo"), "{file}");
    }

    #[test]
    fn base_image_names() {
        let (amd, arm, rv) = (Platform::AMD64, Platform::ARM64, Platform::RISCV64);
        assert_eq!(base_image(arm, arm), format!("xtask-e2e/debian:bookworm-arm64-v{BASE_VERSION}"));
        // riscv64 and its builder come from Debian 13.
        assert_eq!(base_image(amd, rv), format!("xtask-e2e/debian:trixie-amd64-v{BASE_VERSION}"));
        let names =
            |ps: &[Platform]| base_images(ps, amd).into_iter().map(|(a, t)| base_image(a, t)).collect::<Vec<_>>();
        assert_eq!(names(&[amd, arm]).len(), 2, "amd64 builds arm64 on the same bookworm builder");
        assert_eq!(
            names(&[amd, rv]),
            [base_image(amd, amd), base_image(rv, rv), base_image(amd, rv)],
            "a riscv64 runtime and a trixie builder"
        );
    }

    #[test]
    fn digest_of_a_platform() {
        let raw = r#"{"manifests":[{"digest":"sha256:a","platform":{"os":"linux","architecture":"amd64"}},
                     {"digest":"sha256:b","platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#;
        assert_eq!(platform_digest(raw, Platform::ARM64).unwrap(), "sha256:b");
        assert!(platform_digest(r#"{"manifests":[]}"#, Platform::AMD64).is_err());
    }
}
