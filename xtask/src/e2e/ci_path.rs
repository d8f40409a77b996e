//! CI's path in the e2e: the base images pushed where the docker-container
//! builder reads them, the publish plan `ci build` and `ci manifest` take,
//! and the checks of the merged index (the pushed images, untagged).

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{ensure, Context, Result};

use super::{base_image, base_images, platform_digest, rust_image, Env, E2E_TAG};
use crate::{
    ci::plan::{Mode, Plan},
    ctx::Ctx,
    docker::{self, argv, Built},
    engine::Docker,
    http,
    platform::Platform,
};

/// Push the base images of `platforms` to `registry`, under the same names.
pub fn push_bases(docker: &Docker, registry: &str, platforms: &[Platform], host: Platform) -> Result<()> {
    let sh = xshell::Shell::new()?;
    let path = &docker.path;
    let bases = base_images(platforms, host).into_iter().map(|(arch, target)| base_image(arch, target));
    for local in bases.chain([rust_image(host)]) {
        let remote = format!("{registry}/{local}");
        xshell::cmd!(sh, "{path} tag {local} {remote}").quiet().run()?;
        xshell::cmd!(sh, "{path} push --quiet {remote}").quiet().ignore_stdout().run()?;
    }
    Ok(())
}

/// A publish plan as `ci plan` writes it for a push, whose registry is the
/// loopback one and whose one tag is [`E2E_TAG`]; its file, and an empty
/// digests directory.
pub fn e2e_plan(ctx: &Ctx, work: &Path, registry: &str, platforms: &[Platform]) -> Result<(Plan, PathBuf, PathBuf)> {
    let root = ctx.workspace()?.root.clone();
    let revision = duct::cmd!("git", "rev-parse", "HEAD")
        .dir(&root)
        .read()
        .with_context(|| format!("git rev-parse HEAD failed in {}", root.display()))?;
    let sha_tag = format!("sha-{}", revision.get(..7).context("a commit id")?);
    let plan = Plan {
        mode: Mode::Publish,
        event: "push".into(),
        registry: registry.into(),
        tags: vec![E2E_TAG.into()],
        latest: false,
        sha_tag: sha_tag.clone(),
        version: sha_tag,
        revision,
        source: "https://github.com/vllm-project/semantic-router".into(),
        images: vec!["extproc".into()],
        platforms: platforms.iter().map(|p| p.docker().to_owned()).collect(),
        notes: Vec::new(),
    };
    let file = work.join("ci-plan.json");
    fs::write(&file, serde_json::to_string_pretty(&plan)? + "\n")?;
    let digests = work.join("ci-digests");
    if digests.exists() {
        fs::remove_dir_all(&digests)?;
    }
    fs::create_dir_all(&digests)?;
    Ok((plan, file, digests))
}

/// The merged index holds each platform's image that the build pushed by
/// digest, and no tag of the repository names a pushed image: the
/// per-platform images are untagged.
pub fn check_index(
    env: &Env<'_>,
    name: &str,
    raw: &str,
    cold: &[Built],
    platforms: &[Platform],
) -> Result<serde_json::Value> {
    let mut pushed = Vec::new();
    for (b, &p) in cold.iter().zip(platforms) {
        let d = b.digest.clone().context("no digest after a push")?;
        let image = image_of(env, name, &d, p)?;
        let merged = platform_digest(raw, p)?;
        ensure!(merged == image, "{name}:{E2E_TAG}: its {p} image is {merged}, not the pushed {image} (in {d})");
        pushed.extend([d, image]);
    }
    let repo = name.strip_prefix(&format!("{}/", env.registry)).context("the image is under the registry")?;
    let (status, body) = http::request("GET", &env.registry, &format!("/v2/{repo}/tags/list"), None)?;
    ensure!(status == 200, "GET /v2/{repo}/tags/list: HTTP {status}: {body}");
    let tags = parse_tags(&body)?;
    for t in &tags {
        let d = docker::manifest_digest(&env.docker, &format!("{name}:{t}"))?;
        let d = d.as_str();
        ensure!(!pushed.iter().any(|p| p == d), "{name}:{t} names {d}, an image pushed by digest");
    }
    let attestations = argv::index_attestations(raw)?;
    for (subject, manifest) in &attestations {
        let types = predicate_types(&inspect_raw(env, &format!("{name}@{manifest}"))?)?;
        for want in [SPDX, SLSA_PROVENANCE] {
            ensure!(
                types.iter().any(|t| t == want),
                "{name}:{E2E_TAG}: the attestation manifest {manifest} of {subject} has no {want} statement: {types:?}"
            );
        }
    }
    let attestations = attestations.len();
    eprintln!(
        "e2e: {name}:{E2E_TAG}: {} platforms, {attestations} attestation manifests (each an SPDX SBOM and SLSA \
         provenance); no tag of {repo} ({}) names a pushed image",
        platforms.len(),
        tags.join(", ")
    );
    Ok(serde_json::json!({
        "tag": format!("{name}:{E2E_TAG}"),
        "platforms": platforms.iter().map(|p| p.docker()).collect::<Vec<_>>(),
        "attestations": attestations,
        "pushed_by_digest": cold.iter().all(|b| b.pushed_by_digest),
        "repository_tags": tags,
    }))
}

/// The predicate types of SPDX SBOMs and SLSA provenance in BuildKit's attestation manifests.
const SPDX: &str = "https://spdx.dev/Document";
const SLSA_PROVENANCE: &str = "https://slsa.dev/provenance/v0.2";

/// `imagetools inspect --raw REF`.
fn inspect_raw(env: &Env<'_>, reference: &str) -> Result<String> {
    env.docker.read(&argv::Command::new(vec![
        env.docker.name.clone(),
        "buildx".into(),
        "imagetools".into(),
        "inspect".into(),
        "--raw".into(),
        reference.into(),
    ]))
}

/// The `in-toto.io/predicate-type` annotations of an attestation manifest's layers.
fn predicate_types(raw: &str) -> Result<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(raw).context("the attestation manifest is not JSON")?;
    Ok(v["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["annotations"]["in-toto.io/predicate-type"].as_str().map(str::to_owned))
        .collect())
}

/// The image manifest of `p` that `name@digest` is or holds.
fn image_of(env: &Env<'_>, name: &str, digest: &str, p: Platform) -> Result<String> {
    let raw = inspect_raw(env, &format!("{name}@{digest}"))?;
    Ok(docker::size::index_entry(&raw, p)?.unwrap_or_else(|| digest.to_owned()))
}

/// The tags of a registry's `GET /v2/<repo>/tags/list`, sorted.
fn parse_tags(body: &str) -> Result<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(body).context("the tag list is not JSON")?;
    let mut tags: Vec<String> =
        v["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)).collect();
    tags.sort();
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_of_a_repository() {
        let body = r#"{"name":"extproc","tags":["e2e","buildcache-linux-amd64"]}"#;
        assert_eq!(parse_tags(body).unwrap(), ["buildcache-linux-amd64", "e2e"]);
        assert!(parse_tags(r#"{"name":"r","tags":null}"#).unwrap().is_empty());
        assert!(parse_tags("not json").is_err());
    }

    #[test]
    fn predicate_types_of_an_attestation_manifest() {
        let raw = r#"{"layers":[{"annotations":{"in-toto.io/predicate-type":"https://spdx.dev/Document"}},
                     {"annotations":{"in-toto.io/predicate-type":"https://slsa.dev/provenance/v0.2"}},{}]}"#;
        assert_eq!(predicate_types(raw).unwrap(), [SPDX, SLSA_PROVENANCE]);
        assert!(predicate_types("{}").unwrap().is_empty());
    }
}
