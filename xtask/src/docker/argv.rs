//! The docker command lines, as PURE functions of the request: which
//! Dockerfile, which build arguments, cache, output, provenance, and the
//! `docker build` fallback when buildx is absent. Golden-tested; nothing here
//! runs anything or reads the environment. The argv type, [`Command`], and
//! what may be printed of it are [`crate::engine`]'s.

use std::path::Path;

use anyhow::{bail, ensure, Context, Result};

use super::{dockerfile::DeclaredArgs, images::ImageSpec, reference};
pub use crate::engine::{secret_values, CacheKind, Capabilities, Command, CONTAINERD_STORE_FIX};
use crate::platform::Platform;

/// Everything a build depends on, already parsed.
#[derive(Debug, Clone)]
pub struct BuildRequest<'a> {
    pub spec: &'a ImageSpec,
    pub platforms: Vec<Platform>,
    pub host: Platform,
    pub tags: Vec<String>,
    pub push: bool,
    pub load: bool,
    pub pr: bool,
    pub no_cache: bool,
    pub cache: CacheKind,
    /// Directory of `local` caches; each platform gets `<dir>/<image>-<os>-<arch>`
    /// (or exactly this directory when `cache_dir_exact`).
    pub cache_dir: String,
    pub cache_dir_exact: bool,
    pub registry: Option<String>,
    pub metadata_file: Option<String>,
    pub docker: String,
    pub build_args: Vec<(String, String)>,
    /// `--secret` specs, passed as they are.
    pub secrets: Vec<String>,
    pub network: Option<String>,
    pub context: String,
    /// A directory holding a prebuilt static `xtask` for the build platform,
    /// given to the Dockerfile as the named context `xtask` (its `xtask`
    /// stage is then not built; buildx only).
    pub xtask_context: Option<String>,
    /// An SBOM generator image: `--attest type=sbom,generator=IMAGE`
    /// (buildx, on a builder that exports attestations).
    pub sbom_generator: Option<String>,
    /// Image labels (`--label K=V`), e.g. the OCI ones.
    pub labels: Vec<(String, String)>,
    /// Manifest annotations (`--annotation K=V`, buildx only).
    pub annotations: Vec<(String, String)>,
    /// What the buildx builder can do (CI's docker-container builder: all).
    pub caps: Capabilities,
}

impl<'a> BuildRequest<'a> {
    /// A plain local build of `spec` for `platforms`: no push, load, cache,
    /// tags or extra arguments (callers set what they need on top).
    pub fn new(spec: &'a ImageSpec, platforms: Vec<Platform>, host: Platform) -> BuildRequest<'a> {
        BuildRequest {
            spec,
            platforms,
            host,
            tags: vec![],
            push: false,
            load: false,
            pr: false,
            no_cache: false,
            cache: CacheKind::None,
            cache_dir: String::new(),
            cache_dir_exact: false,
            registry: None,
            metadata_file: None,
            docker: "docker".into(),
            build_args: vec![],
            secrets: vec![],
            network: None,
            xtask_context: None,
            sbom_generator: None,
            context: ".".into(),
            labels: vec![],
            annotations: vec![],
            caps: Capabilities::full(),
        }
    }
}

/// One platform's build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformBuild {
    pub platform: Platform,
    pub dockerfile: String,
    pub build: Command,
    /// Fallback only: `docker push <ref>` after the build.
    pub push: Option<Command>,
    /// Fallback only: the tag pushed (its digest is read with `docker inspect`).
    pub pushed_ref: Option<String>,
    /// Where the metadata (with `containerimage.digest`) ends up.
    pub metadata_file: Option<String>,
    /// The references the image is loaded as.
    pub loaded: Vec<String>,
    /// A reference of the image in the local store, if the build leaves one:
    /// a loaded tag, or the temporary tag of a push that is not by digest.
    pub local: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan {
    pub buildx: bool,
    pub builds: Vec<PlatformBuild>,
    /// Features the fallback had to drop (printed on stderr).
    pub dropped: Vec<String>,
}

impl BuildPlan {
    /// Every command in order, as argv lists (what the golden tests compare).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn argvs(&self) -> Vec<Vec<String>> {
        self.commands().into_iter().map(|c| c.argv.clone()).collect()
    }

    pub fn commands(&self) -> Vec<&Command> {
        let mut out = Vec::new();
        for b in &self.builds {
            out.push(&b.build);
            out.extend(b.push.as_ref());
        }
        out
    }
}

/// `<registry>/<image>`, or `<image>` without a registry.
pub fn image_name(registry: Option<&str>, image: &str) -> String {
    match registry {
        Some(r) => format!("{}/{image}", r.trim_end_matches('/')),
        None => image.to_owned(),
    }
}

/// A tag given on the command line: a full reference when it has a `/`,
/// else a tag of `name`.
pub fn tag_ref(name: &str, tag: &str) -> String {
    if tag.contains('/') {
        tag.to_owned()
    } else {
        format!("{name}:{tag}")
    }
}

/// The cache scope of one platform: `<image>-<os>-<arch>`.
pub fn scope(image: &str, p: Platform) -> String {
    format!("{image}-{}-{}", p.os(), p.goarch())
}

/// The OCI annotation keys of [`oci_metadata`].
pub const OCI_KEYS: [&str; 4] = [
    "org.opencontainers.image.source",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.version",
    "org.opencontainers.image.description",
];

/// The OCI labels and annotations of an image: where it comes from, which
/// commit, which version, what it is (empty values are left out).
pub fn oci_metadata(source: &str, revision: &str, version: &str, description: &str) -> Vec<(String, String)> {
    OCI_KEYS
        .iter()
        .zip([source, revision, version, description])
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| ((*k).to_owned(), v.to_owned()))
        .collect()
}

/// A [`BuildRequest`] that passed [`BuildRequest::check`]: the only input
/// of [`plan_build`], so that each rule is checked once, before any probe.
#[derive(Debug, Clone)]
pub struct Checked<'a> {
    req: BuildRequest<'a>,
    /// The buildx-only rule (a tag needs `--load` or `--push`) waits for
    /// the probe when whether buildx builds is not known yet.
    tag_rule_pending: bool,
}

impl<'a> BuildRequest<'a> {
    /// Refuse what no builder can build, before anything runs: names, tags,
    /// labels, a push or registry cache without a registry, a `--pr` build
    /// for a foreign platform. `buildx`: whether buildx builds, if known.
    pub fn check(self, buildx: Option<bool>) -> Result<Checked<'a>> {
        let req = self;
        if req.platforms.is_empty() {
            bail!("no platform to build");
        }
        let name = image_name(req.registry.as_deref(), req.spec.name);
        reference::check_name(&name, "--registry")?;
        for t in &req.tags {
            reference::check_tag_arg(t)?;
            let full = tag_ref(&name, t);
            if full.chars().count() > reference::NAME_MAX + 1 + reference::TAG_MAX {
                bail!("--tag `{}`: reference too long", reference::shown(&full));
            }
        }
        if let Some(bx) = buildx {
            tag_rule(&req, bx)?;
        }
        for (k, _) in req.labels.iter().chain(&req.annotations) {
            if k.is_empty() || k.contains(['=', ',']) || k.chars().any(char::is_control) {
                bail!(
                    "label or annotation key `{}` is empty or contains `=`, `,` or a control character",
                    reference::shown(k)
                );
            }
        }
        if let Some(g) = &req.sbom_generator {
            reference::check_reference(g, "--sbom-generator")?;
            if buildx == Some(false) {
                bail!("{}", no_buildx_sbom());
            }
        }
        if req.push && req.registry.is_none() {
            bail!("--push needs --registry (e.g. ghcr.io/<owner>/<repo>)");
        }
        if req.cache == CacheKind::Registry && req.registry.is_none() {
            bail!("--cache registry needs --registry");
        }
        if req.pr {
            if let Some(p) = req.platforms.iter().find(|p| **p != req.host) {
                bail!("--pr builds natively for the host ({}) only, not {p}", req.host);
            }
        }
        Ok(Checked { req, tag_rule_pending: buildx.is_none() })
    }
}

impl<'a> Checked<'a> {
    pub fn request(&self) -> &BuildRequest<'a> {
        &self.req
    }

    /// The same request, planned for a builder that can do `caps` (probed).
    pub fn with_caps(self, caps: Capabilities) -> Checked<'a> {
        Checked { req: BuildRequest { caps, ..self.req }, ..self }
    }
}

fn no_buildx_sbom() -> String {
    "--sbom-generator: SBOM attestations need buildx (`cargo xtask doctor --fix` installs it); \
     or build without --sbom-generator"
        .into()
}

/// A buildx build keeps its result in the build cache unless it loads or
/// pushes it: a tag would not exist.
fn tag_rule(req: &BuildRequest<'_>, buildx: bool) -> Result<()> {
    if buildx && !req.tags.is_empty() && !req.load && !req.push {
        bail!(
            "--tag {}: a buildx build without --load or --push keeps the image in the build cache only, \
             so no tag would exist; add --load (local engine) or --push (registry)",
            reference::shown(&req.tags[0])
        );
    }
    Ok(())
}

/// `metadata.json` → `metadata-linux-arm64.json` when several platforms are built.
fn per_platform_file(file: &str, p: Platform, many: bool) -> String {
    if !many {
        return file.to_owned();
    }
    let path = Path::new(file);
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{}.{}", p.dir_name(), ext.to_string_lossy()),
        None => format!("{stem}-{}", p.dir_name()),
    };
    path.with_file_name(name).display().to_string()
}

/// Plan the build of every requested platform. `declared` gives the ARGs of
/// a Dockerfile (relative to the context).
///
/// One build per platform, with buildx too: each platform gets its own cache
/// scope and its own digest, which `docker manifest` then merges (the CI
/// matrix builds the platforms in parallel jobs the same way).
pub fn plan_build(
    checked: &Checked<'_>,
    declared: &dyn Fn(&str) -> Result<DeclaredArgs>,
    buildx: bool,
) -> Result<BuildPlan> {
    if checked.tag_rule_pending {
        tag_rule(&checked.req, buildx)?;
    }
    let req = &checked.req;
    let name = image_name(req.registry.as_deref(), req.spec.name);
    let many = req.platforms.len() > 1;
    let jobs = if req.push { "20" } else { "8" };
    let user_jobs = req.build_args.iter().any(|(k, _)| k == "CARGO_BUILD_JOBS");

    let mut dropped: Vec<String> = Vec::new();
    let mut drop_note = |s: String| {
        if !dropped.contains(&s) {
            dropped.push(s);
        }
    };
    // The native Dockerfile for the PR fast path or a host-only build; the
    // cross one (builder stages on the build platform) for anything else.
    let native = req.pr || (req.platforms.len() == 1 && req.platforms[0] == req.host);
    let mut builds = Vec::new();
    for &p in &req.platforms {
        let dockerfile = req.spec.dockerfile(native);
        let declared_args = declared(dockerfile)?;
        // CARGO_BUILD_JOBS by default where the Dockerfile runs cargo (declares it).
        let mut args: Vec<(String, String)> = Vec::new();
        if !user_jobs && declared_args.contains("CARGO_BUILD_JOBS") {
            args.push(("CARGO_BUILD_JOBS".into(), jobs.into()));
        }
        args.extend(req.build_args.iter().cloned());
        for (k, v) in req.spec.platform_args(p) {
            if declared_args.contains(&k) && !req.build_args.iter().any(|(a, _)| *a == k) {
                args.push((k, v));
            }
        }
        declared_args.check(&args, dockerfile)?;
        let file = if req.context == "." {
            dockerfile.to_owned()
        } else {
            Path::new(&req.context).join(dockerfile).display().to_string()
        };
        let scope = scope(req.spec.name, p);
        let suffix = |t: &str| if many { format!("{t}-{}", p.goarch()) } else { t.to_owned() };
        let loaded: Vec<String> = if req.load || !buildx {
            req.tags.iter().map(|t| suffix(&tag_ref(&name, t))).collect()
        } else {
            Vec::new()
        };
        let metadata_file = req.metadata_file.as_deref().map(|f| per_platform_file(f, p, many));

        let mut argv: Vec<String> = vec![req.docker.clone()];
        let mut cmd_env = Vec::new();
        if buildx {
            argv.extend(["buildx".into(), "build".into()]);
        } else {
            cmd_env.push(("DOCKER_BUILDKIT".to_owned(), "1".to_owned()));
            argv.push("build".into());
        }
        argv.extend(["--progress".into(), "plain".into(), "--platform".into(), p.docker().into()]);
        argv.extend(["--file".into(), file]);
        for (k, v) in &args {
            argv.extend(["--build-arg".into(), format!("{k}={v}")]);
        }
        if req.no_cache {
            argv.push("--no-cache".into());
        }
        for secret in &req.secrets {
            argv.extend(["--secret".into(), secret.clone()]);
        }
        for (k, v) in &req.labels {
            argv.extend(["--label".into(), format!("{k}={v}")]);
        }
        if buildx {
            for (k, v) in &req.annotations {
                argv.extend(["--annotation".into(), format!("{k}={v}")]);
            }
        } else if !req.annotations.is_empty() {
            drop_note("no buildx: --annotation needs buildx; the image carries its labels only".into());
        }
        let local_dir = if req.cache_dir_exact {
            req.cache_dir.clone()
        } else {
            Path::new(&req.cache_dir).join(&scope).display().to_string()
        };
        // gha: a cache export error (service busy, quota) warns and never
        // fails a finished build (`ignore-error=true`). A pull request reads
        // main's scope and its own, and writes only its own, `mode=min`: it
        // never evicts main's dependency layer from the 10 GB cache with a
        // copy of its own (GitHub scopes a PR's entries to the PR anyway).
        let (from, to): (Vec<String>, Option<String>) = match req.cache {
            CacheKind::None => (vec![], None),
            CacheKind::Gha if req.pr => (
                vec![format!("type=gha,scope={scope}"), format!("type=gha,scope={scope}-pr")],
                Some(format!("type=gha,scope={scope}-pr,mode=min,ignore-error=true")),
            ),
            CacheKind::Gha => (
                vec![format!("type=gha,scope={scope}")],
                Some(format!("type=gha,scope={scope},mode=max,ignore-error=true")),
            ),
            // zstd at its fastest level, not gzip, whose single-threaded
            // compression of the cooked target directory is the slowest
            // part of an export on a small machine.
            CacheKind::Registry => {
                let r = format!("{name}:buildcache-{}-{}", p.os(), p.goarch());
                (
                    vec![format!("type=registry,ref={r}")],
                    Some(format!("type=registry,ref={r},mode=max,compression=zstd,compression-level=1")),
                )
            }
            CacheKind::Local => (
                vec![format!("type=local,src={local_dir}")],
                Some(format!("type=local,dest={local_dir},mode=max,compression=zstd,compression-level=1")),
            ),
        };
        let mut push_cmd = None;
        let mut pushed_ref = None;
        let mut local = loaded.first().cloned();
        if buildx {
            if req.cache != CacheKind::None && !req.caps.exports {
                bail!(
                    "--cache {}: the buildx `{}` driver exports no cache from this engine; {} (or build with --cache none)",
                    req.cache.name(),
                    req.caps.driver,
                    CONTAINERD_STORE_FIX
                );
            }
            for from in from {
                argv.extend(["--cache-from".into(), from]);
            }
            if let Some(to) = to {
                argv.extend(["--cache-to".into(), to]);
            }
            if req.push {
                let output = if req.caps.push_by_digest {
                    format!("type=image,name={name},push-by-digest=true,name-canonical=true,push=true")
                } else {
                    // The nearest equivalent: a temporary tag per platform; the
                    // digest comes from --metadata-file all the same.
                    let r = format!("{name}:xtask-{}-{}", p.os(), p.goarch());
                    local = local.or_else(|| Some(r.clone()));
                    drop_note(format!(
                        "the buildx `{}` driver cannot push by digest (CI's docker-container driver does): \
                         pushing the tag {name}:xtask-<os>-<arch> and taking the digest from --metadata-file",
                        req.caps.driver
                    ));
                    format!("type=image,name={r},push=true")
                };
                argv.extend(["--output".into(), output]);
                if req.caps.exports {
                    argv.push("--provenance=mode=max".into());
                } else {
                    drop_note(format!(
                        "the buildx `{}` driver attaches no provenance on this engine ({}): none is attached",
                        req.caps.driver, CONTAINERD_STORE_FIX
                    ));
                    argv.push("--provenance=false".into());
                }
            } else {
                if req.load {
                    argv.push("--load".into());
                }
                for t in &loaded {
                    argv.extend(["--tag".into(), t.clone()]);
                }
                argv.push("--provenance=false".into());
            }
            if let Some(g) = &req.sbom_generator {
                if !req.caps.exports {
                    bail!(
                        "--sbom-generator: the buildx `{}` driver attaches no attestation on this engine; {} \
                         (or use a docker-container builder)",
                        req.caps.driver,
                        CONTAINERD_STORE_FIX
                    );
                }
                argv.extend(["--attest".into(), format!("type=sbom,generator={g}")]);
            }
            if let Some(m) = &metadata_file {
                argv.extend(["--metadata-file".into(), m.clone()]);
            }
            if let Some(dir) = &req.xtask_context {
                argv.extend(["--build-context".into(), format!("xtask={dir}")]);
            }
        } else {
            if req.sbom_generator.is_some() {
                bail!("{}", no_buildx_sbom());
            }
            if req.xtask_context.is_some() {
                drop_note("no buildx: named build contexts need buildx; xtask is compiled in the image".into());
            }
            if req.cache != CacheKind::None {
                drop_note(format!(
                    "no buildx: --cache {}: cache import/export needs buildx; building with the engine's local cache only",
                    req.cache.name()
                ));
            }
            let mut tags = loaded.clone();
            if req.push {
                let r = format!("{name}:xtask-{}-{}", p.os(), p.goarch());
                drop_note(format!(
                    "no buildx: push-by-digest needs buildx; pushing the tag {name}:xtask-<os>-<arch> and reading its digest"
                ));
                drop_note("no buildx: provenance attestations need buildx; none are attached".into());
                tags.push(r.clone());
                push_cmd = Some(Command::new(vec![req.docker.clone(), "push".into(), r.clone()]));
                local = local.or_else(|| Some(r.clone()));
                pushed_ref = Some(r);
            }
            if metadata_file.is_some() {
                drop_note("no buildx: --metadata-file needs buildx; xtask writes it from `docker inspect`".into());
            }
            for t in &tags {
                argv.extend(["--tag".into(), t.clone()]);
            }
        }
        if let Some(n) = &req.network {
            argv.extend(["--network".into(), n.clone()]);
        }
        argv.push(req.context.clone());
        builds.push(PlatformBuild {
            platform: p,
            dockerfile: dockerfile.to_owned(),
            build: Command { env: cmd_env, argv },
            push: push_cmd,
            pushed_ref,
            local,
            metadata_file,
            loaded,
        });
    }
    Ok(BuildPlan { buildx, builds, dropped })
}

/// Everything `docker manifest` depends on.
#[derive(Debug, Clone)]
pub struct ManifestRequest {
    pub docker: String,
    /// Full references of the tags to create.
    pub tags: Vec<String>,
    /// Full references of the per-platform images.
    pub sources: Vec<String>,
    /// Registry is plain HTTP on loopback (fallback needs `--insecure`).
    pub insecure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestPlan {
    pub create: Vec<Command>,
    /// Prints the raw manifest list of the first tag.
    pub inspect: Command,
    pub dropped: Vec<String>,
}

impl ManifestRequest {
    /// Refuse what no registry takes, before anything runs: no tag, no
    /// source, or a reference that is not one.
    pub fn check(self) -> Result<CheckedManifest> {
        if self.tags.is_empty() {
            bail!("no tag to create (--tag)");
        }
        if self.sources.is_empty() {
            bail!("no source image to merge (--digests DIR is empty, or no --sources)");
        }
        for t in &self.tags {
            reference::check_reference(t, "--tag")?;
        }
        for src in &self.sources {
            reference::check_reference(src, "--sources")?;
        }
        Ok(CheckedManifest(self))
    }
}

/// A [`ManifestRequest`] that passed [`ManifestRequest::check`]: the only
/// input of [`plan_manifest`].
#[derive(Debug, Clone)]
pub struct CheckedManifest(ManifestRequest);

impl CheckedManifest {
    pub fn request(&self) -> &ManifestRequest {
        &self.0
    }
}

/// The commands that merge the sources into the tags, with index
/// `annotations` (`--annotation index:K=V`, buildx only; the fallback says
/// it drops them), and the inspection of the first tag.
pub fn plan_manifest(checked: &CheckedManifest, annotations: &[(String, String)], buildx: bool) -> ManifestPlan {
    let req = &checked.0;
    let d = || req.docker.clone();
    let s = |x: &str| x.to_owned();
    if buildx {
        let mut create = vec![d(), s("buildx"), s("imagetools"), s("create")];
        for t in &req.tags {
            create.extend([s("--tag"), t.clone()]);
        }
        for (k, v) in annotations {
            create.extend([s("--annotation"), format!("index:{k}={v}")]);
        }
        create.extend(req.sources.iter().cloned());
        let inspect = vec![d(), s("buildx"), s("imagetools"), s("inspect"), s("--raw"), req.tags[0].clone()];
        return ManifestPlan { create: vec![Command::new(create)], inspect: Command::new(inspect), dropped: vec![] };
    }
    let insecure: Vec<String> = if req.insecure { vec![s("--insecure")] } else { vec![] };
    let mut create = Vec::new();
    for t in &req.tags {
        let mut c = vec![d(), s("manifest"), s("create"), s("--amend")];
        c.extend(insecure.iter().cloned());
        c.push(t.clone());
        c.extend(req.sources.iter().cloned());
        create.push(Command::new(c));
        let mut p = vec![d(), s("manifest"), s("push"), s("--purge")];
        p.extend(insecure.iter().cloned());
        p.push(t.clone());
        create.push(Command::new(p));
    }
    let mut inspect = vec![d(), s("manifest"), s("inspect")];
    inspect.extend(insecure.iter().cloned());
    inspect.push(req.tags[0].clone());
    ManifestPlan {
        create,
        inspect: Command::new(inspect),
        dropped: std::iter::once(s(
            "no buildx: imagetools needs buildx; using `docker manifest` (sources must not carry attestations)",
        ))
        .chain((!annotations.is_empty()).then(|| s("no buildx: index annotations need buildx; the index has none")))
        .collect(),
    }
}

/// Whether a registry address is loopback (plain HTTP allowed).
pub fn is_loopback_registry(registry: &str) -> bool {
    let host = registry.split('/').next().unwrap_or("");
    let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
}

/// `sha256:<hex>` or `<hex>` → `<name>@sha256:<hex>`.
pub fn digest_ref(name: &str, digest: &str) -> Result<String> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
        bail!("`{}` is not a sha256 digest (64 lowercase hex digits)", reference::shown(digest));
    }
    Ok(format!("{name}@sha256:{hex}"))
}

/// The platforms (`os/arch[/variant]`) of a raw manifest list or OCI index,
/// without attestation entries (`unknown/unknown`).
pub fn index_platforms(raw: &str) -> Result<Vec<String>> {
    let v: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| anyhow::anyhow!("the registry's manifest is not JSON: {e}"))?;
    let Some(list) = v.get("manifests").and_then(|m| m.as_array()) else {
        bail!("not a multi-platform manifest list (no `manifests`)");
    };
    let mut out = Vec::new();
    for m in list {
        let Some(p) = m.get("platform") else { continue };
        let os = p.get("os").and_then(|x| x.as_str()).unwrap_or("unknown");
        let arch = p.get("architecture").and_then(|x| x.as_str()).unwrap_or("unknown");
        if os == "unknown" || arch == "unknown" {
            continue;
        }
        let mut s = format!("{os}/{arch}");
        if let Some(variant) = p.get("variant").and_then(|x| x.as_str()) {
            s = format!("{s}/{variant}");
        }
        out.push(s);
    }
    Ok(out)
}

/// The attestation manifests of an OCI index, as (the image manifest they
/// describe, their own digest): entries annotated
/// `vnd.docker.reference.type: attestation-manifest`. An attestation whose
/// subject is not an image of the same index is an error.
pub fn index_attestations(raw: &str) -> Result<Vec<(String, String)>> {
    let v: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| anyhow::anyhow!("the registry's manifest is not JSON: {e}"))?;
    let Some(list) = v.get("manifests").and_then(|m| m.as_array()) else {
        bail!("not a multi-platform manifest list (no `manifests`)");
    };
    let digest = |m: &serde_json::Value| m.get("digest").and_then(|d| d.as_str()).unwrap_or("").to_owned();
    let annotation = |m: &serde_json::Value, k: &str| {
        m.get("annotations").and_then(|a| a.get(k)).and_then(|x| x.as_str()).map(str::to_owned)
    };
    let mut out = Vec::new();
    for m in list {
        if annotation(m, "vnd.docker.reference.type").as_deref() != Some("attestation-manifest") {
            continue;
        }
        let own = digest(m);
        let subject = annotation(m, "vnd.docker.reference.digest")
            .with_context(|| format!("attestation {own} names no vnd.docker.reference.digest"))?;
        let is_image = list.iter().any(|i| {
            digest(i) == subject && annotation(i, "vnd.docker.reference.type").is_none() && i.get("platform").is_some()
        });
        ensure!(is_image, "attestation {own} describes {subject}, which is not an image of this index");
        out.push((subject, own));
    }
    Ok(out)
}

/// Fail unless every expected platform is in the index.
pub fn check_platforms(tag: &str, raw: &str, expected: &[Platform]) -> Result<Vec<String>> {
    let found = index_platforms(raw).map_err(|e| anyhow::anyhow!("{tag}: {e}"))?;
    let missing: Vec<&str> = expected
        .iter()
        .filter(|p| !found.iter().any(|f| Platform::parse(f).map(|fp| fp == **p).unwrap_or(false)))
        .map(|p| p.docker())
        .collect();
    if !missing.is_empty() {
        bail!(
            "{tag} lacks {} (it has: {})",
            missing.join(", "),
            if found.is_empty() { "nothing".into() } else { found.join(", ") }
        );
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        docker::images::IMAGES,
        engine::{redact_argv, scrub},
        sys::quote,
    };

    /// Check, then plan (what `docker` does, with buildx known up front).
    fn plan_build(
        r: &BuildRequest<'_>,
        declared: &dyn Fn(&str) -> Result<DeclaredArgs>,
        buildx: bool,
    ) -> Result<BuildPlan> {
        super::plan_build(&r.clone().check(Some(buildx))?, declared, buildx)
    }

    fn plan_manifest(req: &ManifestRequest, buildx: bool) -> Result<ManifestPlan> {
        Ok(super::plan_manifest(&req.clone().check()?, &[], buildx))
    }

    fn plan_manifest_annotated(req: &ManifestRequest, oci: &[(String, String)], buildx: bool) -> Result<ManifestPlan> {
        Ok(super::plan_manifest(&req.clone().check()?, oci, buildx))
    }

    #[test]
    fn a_prebuilt_xtask_is_the_named_context_and_dropped_without_buildx() {
        let r = BuildRequest { xtask_context: Some("/t/xtask/xtask-context".into()), ..req(&[AMD]) };
        let line = plan_build(&r, &declared, true).unwrap().builds[0].build.shell_line();
        assert!(line.contains(" --build-context xtask=/t/xtask/xtask-context "), "{line}");
        let plan = plan_build(&r, &declared, false).unwrap();
        assert!(!plan.builds[0].build.shell_line().contains("--build-context"));
        assert!(plan.dropped.iter().any(|d| d.contains("named build contexts need buildx")), "{:?}", plan.dropped);
    }

    #[test]
    fn golden_push_with_an_sbom_generator() {
        let r = BuildRequest {
            push: true,
            registry: Some("127.0.0.1:5000".into()),
            metadata_file: Some("/tmp/m.json".into()),
            sbom_generator: Some("127.0.0.1:5000/xtask-sbom-generator:0123456789abcdef".into()),
            ..req(&[AMD])
        };
        let plan = plan_build(&r, &declared, true).unwrap();
        assert_eq!(
            lines(&plan),
            ["docker buildx build --progress plain --platform linux/amd64 --file tools/docker/Dockerfile.extproc \
              --build-arg CARGO_BUILD_JOBS=20 \
              --output type=image,name=127.0.0.1:5000/extproc,push-by-digest=true,name-canonical=true,push=true \
              --provenance=mode=max --attest type=sbom,generator=127.0.0.1:5000/xtask-sbom-generator:0123456789abcdef \
              --metadata-file /tmp/m.json ."]
        );
        // Loaded: the attestation is asked for as well.
        let r = BuildRequest { push: false, registry: None, metadata_file: None, load: true, ..r };
        let line = plan_build(&r, &declared, true).unwrap().builds[0].build.shell_line();
        assert!(line.ends_with(" --load --provenance=false --attest type=sbom,generator=127.0.0.1:5000/xtask-sbom-generator:0123456789abcdef ."), "{line}");
    }

    #[test]
    fn an_sbom_generator_needs_a_builder_that_exports_attestations_and_buildx() {
        let r = BuildRequest { load: true, sbom_generator: Some("gen:1".into()), ..req(&[AMD]) };
        let docker_driver = r.clone().check(Some(true)).unwrap().with_caps(Capabilities::of("docker", false));
        let err = super::plan_build(&docker_driver, &declared, true).unwrap_err().to_string();
        assert!(
            err.contains("the buildx `docker` driver attaches no attestation")
                && err.contains("containerd-snapshotter"),
            "{err}"
        );
        let containerd = r.clone().check(Some(true)).unwrap().with_caps(Capabilities::of("docker", true));
        assert!(super::plan_build(&containerd, &declared, true).is_ok());
        let err = r.clone().check(Some(false)).unwrap_err().to_string();
        assert!(err.contains("SBOM attestations need buildx") && err.contains("doctor --fix"), "{err}");
        let unknown = r.clone().check(None).unwrap();
        assert!(super::plan_build(&unknown, &declared, false).unwrap_err().to_string().contains("need buildx"));
        let bad = BuildRequest { sbom_generator: Some("Gen,type=x".into()), ..r };
        let err = bad.check(Some(true)).unwrap_err().to_string();
        assert!(err.starts_with("--sbom-generator"), "{err}");
    }

    #[test]
    fn a_tag_rule_unknown_up_front_is_checked_once_buildx_is_known() {
        let spec = &IMAGES[0];
        let declared = |_: &str| Ok(DeclaredArgs::default());
        let r =
            BuildRequest { tags: vec!["t".into()], ..BuildRequest::new(spec, vec![Platform::AMD64], Platform::AMD64) };
        let checked = r.clone().check(None).unwrap();
        let err = super::plan_build(&checked, &declared, true).unwrap_err().to_string();
        assert!(err.contains("without --load or --push"), "{err}");
        assert!(super::plan_build(&checked, &declared, false).is_ok());
        assert!(r.check(Some(true)).is_err());
    }

    const AMD: Platform = Platform::AMD64;
    const ARM: Platform = Platform::ARM64;

    fn declared(file: &str) -> Result<DeclaredArgs> {
        let mut d = DeclaredArgs::parse(
            "ARG BUILDER_IMAGE\nARG RUNTIME_IMAGE\nFROM x\nARG CARGO_BUILD_JOBS=default\nARG VERSION=\n",
        );
        if file.ends_with(".cross") {
            d.names.push("TARGETARCH".into());
        }
        Ok(d)
    }

    fn req(platforms: &[Platform]) -> BuildRequest<'static> {
        BuildRequest {
            cache_dir: "/w/target/xtask/buildcache".into(),
            ..BuildRequest::new(&IMAGES[0], platforms.to_vec(), AMD)
        }
    }

    fn lines(plan: &BuildPlan) -> Vec<String> {
        plan.commands().iter().map(|c| c.shell_line()).collect()
    }

    #[test]
    fn golden_pr_amd64() {
        let r = BuildRequest { pr: true, load: true, tags: vec!["pr-42".into()], cache: CacheKind::Gha, ..req(&[AMD]) };
        let plan = plan_build(&r, &declared, true).unwrap();
        assert_eq!(
            lines(&plan),
            ["docker buildx build --progress plain --platform linux/amd64 --file tools/docker/Dockerfile.extproc \
              --build-arg CARGO_BUILD_JOBS=8 --cache-from type=gha,scope=extproc-linux-amd64 \
              --cache-from type=gha,scope=extproc-linux-amd64-pr \
              --cache-to type=gha,scope=extproc-linux-amd64-pr,mode=min,ignore-error=true \
              --load --tag extproc:pr-42 --provenance=false ."]
        );
        assert!(plan.dropped.is_empty());
    }

    #[test]
    fn golden_push_arm64_gha() {
        let r = BuildRequest {
            push: true,
            cache: CacheKind::Gha,
            registry: Some("ghcr.io/vllm-project/semantic-router".into()),
            metadata_file: Some("/tmp/metadata.json".into()),
            ..req(&[ARM])
        };
        let plan = plan_build(&r, &declared, true).unwrap();
        assert_eq!(
            plan.argvs(),
            [[
                "docker", "buildx", "build", "--progress", "plain", "--platform", "linux/arm64",
                "--file", "tools/docker/Dockerfile.extproc.cross", "--build-arg", "CARGO_BUILD_JOBS=20",
                "--cache-from", "type=gha,scope=extproc-linux-arm64",
                "--cache-to", "type=gha,scope=extproc-linux-arm64,mode=max,ignore-error=true",
                "--output",
                "type=image,name=ghcr.io/vllm-project/semantic-router/extproc,push-by-digest=true,name-canonical=true,push=true",
                "--provenance=mode=max", "--metadata-file", "/tmp/metadata.json", ".",
            ]
            .map(String::from)
            .to_vec()]
        );
    }

    #[test]
    fn golden_registry_cache_two_platforms() {
        let r = BuildRequest {
            push: true,
            cache: CacheKind::Registry,
            registry: Some("127.0.0.1:5000".into()),
            metadata_file: Some("out/meta.json".into()),
            build_args: vec![("CARGO_BUILD_JOBS".into(), "2".into())],
            secrets: vec!["id=cacert,src=/etc/ssl/certs/ca-certificates.crt".into()],
            network: Some("host".into()),
            context: "/src".into(),
            ..req(&[AMD, ARM])
        };
        let plan = plan_build(&r, &declared, true).unwrap();
        assert_eq!(
            lines(&plan),
            [
                "docker buildx build --progress plain --platform linux/amd64 --file /src/tools/docker/Dockerfile.extproc.cross \
                 --build-arg CARGO_BUILD_JOBS=2 --secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt --cache-from type=registry,ref=127.0.0.1:5000/extproc:buildcache-linux-amd64 \
                 --cache-to type=registry,ref=127.0.0.1:5000/extproc:buildcache-linux-amd64,mode=max,compression=zstd,compression-level=1 \
                 --output type=image,name=127.0.0.1:5000/extproc,push-by-digest=true,name-canonical=true,push=true \
                 --provenance=mode=max --metadata-file out/meta-linux-amd64.json --network host /src",
                "docker buildx build --progress plain --platform linux/arm64 --file /src/tools/docker/Dockerfile.extproc.cross \
                 --build-arg CARGO_BUILD_JOBS=2 --secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt --cache-from type=registry,ref=127.0.0.1:5000/extproc:buildcache-linux-arm64 \
                 --cache-to type=registry,ref=127.0.0.1:5000/extproc:buildcache-linux-arm64,mode=max,compression=zstd,compression-level=1 \
                 --output type=image,name=127.0.0.1:5000/extproc,push-by-digest=true,name-canonical=true,push=true \
                 --provenance=mode=max --metadata-file out/meta-linux-arm64.json --network host /src",
            ]
        );
        // Without buildx: one `docker build` per platform, a tag pushed, features dropped and said so.
        let plan = plan_build(&r, &declared, false).unwrap();
        assert_eq!(
            lines(&plan),
            [
                "DOCKER_BUILDKIT=1 docker build --progress plain --platform linux/amd64 --file /src/tools/docker/Dockerfile.extproc.cross \
                 --build-arg CARGO_BUILD_JOBS=2 --secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt --tag 127.0.0.1:5000/extproc:xtask-linux-amd64 --network host /src",
                "docker push 127.0.0.1:5000/extproc:xtask-linux-amd64",
                "DOCKER_BUILDKIT=1 docker build --progress plain --platform linux/arm64 --file /src/tools/docker/Dockerfile.extproc.cross \
                 --build-arg CARGO_BUILD_JOBS=2 --secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt --tag 127.0.0.1:5000/extproc:xtask-linux-arm64 --network host /src",
                "docker push 127.0.0.1:5000/extproc:xtask-linux-arm64",
            ]
        );
        assert_eq!(plan.builds[1].pushed_ref.as_deref(), Some("127.0.0.1:5000/extproc:xtask-linux-arm64"));
        let notes = plan.dropped.join("\n");
        for what in ["--cache registry", "push-by-digest", "provenance", "--metadata-file"] {
            assert!(notes.contains(what), "{what} in {notes}");
        }
    }

    #[test]
    fn golden_local_cache() {
        let r = BuildRequest { cache: CacheKind::Local, load: true, ..req(&[ARM]) };
        let plan = plan_build(&r, &declared, true).unwrap();
        let line = &lines(&plan)[0];
        assert!(
            line.contains(
                "--cache-from type=local,src=/w/target/xtask/buildcache/extproc-linux-arm64 \
             --cache-to type=local,dest=/w/target/xtask/buildcache/extproc-linux-arm64,mode=max,compression=zstd,\
             compression-level=1 --load"
            ),
            "{line}"
        );
    }

    #[test]
    fn golden_manifest_merge() {
        let d1 = format!("sha256:{}", "a".repeat(64));
        let d2 = "b".repeat(64);
        let name = image_name(Some("ghcr.io/o/r/"), "extproc");
        let req = ManifestRequest {
            docker: "docker".into(),
            tags: vec![tag_ref(&name, "latest"), tag_ref(&name, "sha-1234")],
            sources: vec![digest_ref(&name, &d1).unwrap(), digest_ref(&name, &d2).unwrap()],
            insecure: false,
        };
        let plan = plan_manifest(&req, true).unwrap();
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        assert_eq!(
            plan.create.iter().map(|c| c.shell_line()).collect::<Vec<_>>(),
            [format!(
                "docker buildx imagetools create --tag ghcr.io/o/r/extproc:latest --tag ghcr.io/o/r/extproc:sha-1234 \
                 ghcr.io/o/r/extproc@sha256:{a} ghcr.io/o/r/extproc@sha256:{b}"
            )]
        );
        assert_eq!(plan.inspect.shell_line(), "docker buildx imagetools inspect --raw ghcr.io/o/r/extproc:latest");

        let req = ManifestRequest {
            tags: vec!["127.0.0.1:5000/extproc:e2e".into()],
            sources: vec![format!("127.0.0.1:5000/extproc@sha256:{a}")],
            insecure: is_loopback_registry("127.0.0.1:5000/extproc:e2e"),
            ..req
        };
        let plan = plan_manifest(&req, false).unwrap();
        assert_eq!(
            plan.create.iter().chain([&plan.inspect]).map(|c| c.shell_line()).collect::<Vec<_>>(),
            [
                format!("docker manifest create --amend --insecure 127.0.0.1:5000/extproc:e2e 127.0.0.1:5000/extproc@sha256:{a}"),
                "docker manifest push --purge --insecure 127.0.0.1:5000/extproc:e2e".into(),
                "docker manifest inspect --insecure 127.0.0.1:5000/extproc:e2e".into(),
            ]
        );
        assert!(plan_manifest(&ManifestRequest { sources: vec![], ..req }, true).is_err());
    }

    #[test]
    fn args_with_shell_characters_stay_literal_and_bad_tags_are_refused() {
        let nasty_arg = ("VERSION".to_string(), "1.0; echo 'pwned' \"$HOME\" `id`".to_string());
        let r =
            BuildRequest { load: true, tags: vec!["pr-1".into()], build_args: vec![nasty_arg.clone()], ..req(&[AMD]) };
        for buildx in [true, false] {
            let plan = plan_build(&r, &declared, buildx).unwrap();
            let argv = &plan.argvs()[0];
            assert!(argv.contains(&"extproc:pr-1".to_owned()), "{argv:?}");
            assert!(argv.contains(&format!("VERSION={}", nasty_arg.1)), "{argv:?}");
            // The printed line is valid shell for the same argv.
            let line = plan.builds[0].build.shell_line();
            assert!(line.contains(r#"'VERSION=1.0; echo '\''pwned'\'' "$HOME" `id`'"#), "{line}");
        }
        // A tag Docker would refuse is refused here, before anything runs.
        for (tag, why) in [
            ("pr 1;rm -rf ~'x\"", "contains ` `"),
            ("", "empty tag"),
            ("v1.0+b1", "contains `+`"),
            (&"t".repeat(10_000), "10000 characters"),
            ("Ghcr.io/O/x:1", "must be lowercase"),
        ] {
            let r = BuildRequest { load: true, tags: vec![tag.into()], ..req(&[AMD]) };
            let e = plan_build(&r, &declared, true).unwrap_err().to_string();
            assert!(e.contains(why), "{tag}: {e}");
        }
        let r = BuildRequest { registry: Some("ghcr.io/Org/Repo".into()), ..req(&[AMD]) };
        assert!(plan_build(&r, &declared, true).unwrap_err().to_string().contains("must be lowercase"));
    }

    #[test]
    fn a_tag_buildx_would_drop_is_an_error() {
        let r = BuildRequest { tags: vec!["t1".into()], ..req(&[AMD]) };
        let e = plan_build(&r, &declared, true).unwrap_err().to_string();
        assert!(e.starts_with("--tag t1: a buildx build without --load or --push"), "{e}");
        // Without buildx `docker build` tags the image in the engine: fine.
        assert_eq!(plan_build(&r, &declared, false).unwrap().builds[0].loaded, ["extproc:t1"]);
        assert!(plan_build(&BuildRequest { load: true, ..r.clone() }, &declared, true).is_ok());
    }

    #[test]
    fn secrets_are_redacted_in_printed_lines() {
        let r = BuildRequest {
            load: true,
            build_args: vec![
                ("HTTP_PROXY".into(), "http://user:s3cret@proxy:3128".into()),
                ("VERSION".into(), "v1".into()),
                ("BUILDER_IMAGE".into(), "debian:12".into()),
            ],
            secrets: vec!["id=cacert,src=/home/alice/token".into()],
            ..req(&[AMD])
        };
        let plan = plan_build(&r, &declared, true).unwrap();
        let cmd = &plan.builds[0].build;
        assert!(cmd.shell_line().contains("s3cret"), "the argv itself is unchanged");
        let line = cmd.display_line();
        assert!(!line.contains("s3cret") && !line.contains("alice"), "{line}");
        assert!(line.contains("--build-arg 'HTTP_PROXY=<redacted>'"), "{line}");
        assert!(line.contains("--build-arg VERSION=v1 --build-arg BUILDER_IMAGE=debian:12"), "{line}");
        assert!(line.contains("--secret 'id=cacert,src=<redacted>'"), "{line}");
        let eq = redact_argv(&["--build-arg=TOKEN=abcd".into(), "--secret=id=x,env=TOKEN".into()]);
        assert_eq!(eq, ["--build-arg=TOKEN=<redacted>", "--secret=id=x,env=<redacted>"]);
        let values = secret_values(&r.build_args, &r.secrets);
        assert_eq!(values, ["http://user:s3cret@proxy:3128", "/home/alice/token"]);
        assert_eq!(scrub("failed: http://user:s3cret@proxy:3128 x", &values), "failed: <redacted> x");
    }

    #[test]
    fn oci_labels_and_annotations() {
        let meta = oci_metadata("https://github.com/o/r", "abc", "", "the router");
        assert_eq!(meta.len(), 3, "empty values are left out");
        let r = BuildRequest {
            push: true,
            registry: Some("ghcr.io/o/r".into()),
            labels: meta.clone(),
            annotations: meta.clone(),
            ..req(&[AMD])
        };
        let line = plan_build(&r, &declared, true).unwrap().builds[0].build.shell_line();
        assert!(
            line.contains(
                "--label org.opencontainers.image.source=https://github.com/o/r \
                 --label org.opencontainers.image.revision=abc \
                 --label 'org.opencontainers.image.description=the router' \
                 --annotation org.opencontainers.image.source=https://github.com/o/r"
            ),
            "{line}"
        );
        let plan = plan_build(&r, &declared, false).unwrap();
        assert!(!plan.builds[0].build.shell_line().contains("--annotation"));
        assert!(plan.dropped.iter().any(|d| d.contains("--annotation needs buildx")));
        let m = ManifestRequest {
            docker: "docker".into(),
            tags: vec!["ghcr.io/o/r/extproc:latest".into()],
            sources: vec![format!("ghcr.io/o/r/extproc@sha256:{}", "a".repeat(64))],
            insecure: false,
        };
        let create = plan_manifest_annotated(&m, &meta, true).unwrap().create[0].shell_line();
        assert!(create.contains("--annotation index:org.opencontainers.image.revision=abc"), "{create}");
        let dropped = plan_manifest_annotated(&m, &meta, false).unwrap().dropped;
        assert!(dropped.iter().any(|d| d.contains("index annotations")));
    }

    #[test]
    fn control_characters_are_escaped_when_printed() {
        assert_eq!(quote("a\nb"), r"$'a\nb'");
        assert_eq!(quote("x\u{1b}[31m'y"), r"$'x\x1b[31m\'y'");
        let c = Command::new(vec!["docker".into(), "--build-arg".into(), "VERSION=1\n::error::forged".into()]);
        let line = c.display_line();
        assert!(!line.contains('\n') && line.contains(r"\n::error::forged"), "{line}");
    }

    #[test]
    fn dockerfile_choice() {
        let files = |r: BuildRequest<'_>| -> Vec<String> {
            plan_build(&r, &declared, true).unwrap().builds.into_iter().map(|b| b.dockerfile).collect()
        };
        assert_eq!(files(req(&[AMD])), ["tools/docker/Dockerfile.extproc"]);
        assert_eq!(files(req(&[ARM])), ["tools/docker/Dockerfile.extproc.cross"]);
        assert_eq!(files(req(&[AMD, ARM])), ["tools/docker/Dockerfile.extproc.cross"; 2]);
        assert_eq!(files(BuildRequest { pr: true, ..req(&[AMD]) }), ["tools/docker/Dockerfile.extproc"]);
    }

    #[test]
    fn no_cache_and_secrets() {
        let r = BuildRequest { no_cache: true, secrets: vec!["id=cacert,src=/ca.pem".into()], ..req(&[AMD]) };
        for buildx in [true, false] {
            let line = plan_build(&r, &declared, buildx).unwrap().builds[0].build.shell_line();
            assert!(
                line.contains("--build-arg CARGO_BUILD_JOBS=8 --no-cache --secret id=cacert,src=/ca.pem"),
                "{line}"
            );
        }
    }

    #[test]
    fn riscv64_runs_on_debian_13s_slim_image_unless_told_otherwise() {
        let rv = Platform::RISCV64;
        let plan = plan_build(&req(&[AMD, rv]), &declared, true).unwrap();
        let l = lines(&plan);
        assert!(!l[0].contains("RUNTIME_IMAGE"), "{}", l[0]);
        assert!(
            l[1].contains("--build-arg CARGO_BUILD_JOBS=8 --build-arg RUNTIME_IMAGE=debian:trixie-slim"),
            "{}",
            l[1]
        );
        let r = BuildRequest { build_args: vec![("RUNTIME_IMAGE".into(), "mine".into())], ..req(&[rv]) };
        let l = lines(&plan_build(&r, &declared, true).unwrap());
        assert!(l[0].contains("--build-arg RUNTIME_IMAGE=mine") && !l[0].contains("trixie"), "{}", l[0]);
    }

    #[test]
    fn request_errors() {
        let err = |r: BuildRequest<'_>| plan_build(&r, &declared, true).unwrap_err().to_string();
        assert!(err(BuildRequest { push: true, ..req(&[AMD]) }).contains("--push needs --registry"));
        assert!(err(BuildRequest { cache: CacheKind::Registry, ..req(&[AMD]) })
            .contains("--cache registry needs --registry"));
        assert!(err(BuildRequest { pr: true, ..req(&[ARM]) }).contains("--pr builds natively"));
        let e = err(BuildRequest { build_args: vec![("NOPE".into(), "1".into())], ..req(&[AMD]) });
        assert!(e.starts_with("build argument `NOPE` not declared by tools/docker/Dockerfile.extproc"), "{e}");
        // TARGETARCH is declared by the cross file only.
        let r = BuildRequest { build_args: vec![("TARGETARCH".into(), "x".into())], ..req(&[ARM]) };
        assert!(plan_build(&r, &declared, true).is_ok());
    }

    #[test]
    fn index_checks() {
        let raw = r#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"digest":"sha256:1","platform":{"os":"linux","architecture":"amd64"}},
            {"digest":"sha256:2","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"digest":"sha256:3","platform":{"os":"unknown","architecture":"unknown"}}]}"#;
        assert_eq!(check_platforms("t", raw, &[AMD, ARM]).unwrap(), ["linux/amd64", "linux/arm64/v8"]);
        let one = r#"{"manifests":[{"platform":{"os":"linux","architecture":"amd64"}}]}"#;
        let err = check_platforms("t", one, &[AMD, ARM]).unwrap_err().to_string();
        assert_eq!(err, "t lacks linux/arm64 (it has: linux/amd64)");
        assert!(check_platforms("t", r#"{"config":{}}"#, &[AMD])
            .unwrap_err()
            .to_string()
            .contains("not a multi-platform"));
        assert!(is_loopback_registry("localhost:5000/x") && is_loopback_registry("127.0.0.1:5000"));
        assert!(!is_loopback_registry("ghcr.io/o/r"));
        assert!(digest_ref("n", "sha256:XYZ").is_err());
        let m = ManifestRequest {
            docker: "docker".into(),
            tags: vec!["r/extproc:t".into()],
            sources: vec!["".into()],
            insecure: false,
        };
        assert!(plan_manifest(&m, true).unwrap_err().to_string().contains("--sources: empty image reference"));
        let m = ManifestRequest { sources: vec!["r/extproc:ok".into()], tags: vec!["r/Extproc:t".into()], ..m };
        assert!(plan_manifest(&m, true).unwrap_err().to_string().contains("must be lowercase"));
    }
}
