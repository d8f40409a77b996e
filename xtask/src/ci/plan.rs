//! `cargo xtask ci plan`: what one workflow run builds and publishes, decided
//! here (and tested) rather than in YAML expressions.
//!
//! | event | images | platforms | mode | tags |
//! | --- | --- | --- | --- | --- |
//! | `pull_request` | affected (`BASE...HEAD`) | amd64 | check (loaded, never pushed) | `pr-<n>` |
//! | `push` to `main` | affected (`before...HEAD`) | both | publish | `sha-<short>`; `latest` |
//! | `push` of a `v*` tag | all | both | publish | `<tag>`, `sha-<short>`; `latest` if it is the highest release |
//! | `schedule` (after `cargo xtask test`) | all | both | publish | `nightly-YYYYMMDD`, `sha-<short>` |
//! | `workflow_dispatch` | all | both | publish | `sha-<short>`; `latest` on main |
//!
//! `tags` are the run's own, merged by `ci manifest` in parallel with other
//! runs. `latest` is shared by runs: the plan only says whether this run
//! may move it (`latest`), and `ci latest` moves it in one concurrency group,
//! never to an older commit or release than the one it points at.
//!
//! Publishing needs `XTASK_PUBLISH=true` (a repository variable; forks do
//! not have it): without it every run is a check run, so a fork never tries
//! to push. `sha-<short>` is always published: the images of the next wave
//! are built FROM it.
//!
//! Names the repository does not control (git tags, branch names) become
//! Docker tags only through [`reference::sanitize_tag`]; they reach the
//! workflow's scripts only as this plan's JSON, through `env:`.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::matrix::{self, Matrix};
use crate::{
    docker::{argv, images, reference},
    platform::Platform,
};

/// The run, as GitHub describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// `GITHUB_EVENT_NAME`.
    pub name: String,
    /// `GITHUB_REF`: `refs/heads/main`, `refs/tags/v1.0`, `refs/pull/7/merge`.
    pub git_ref: String,
    /// `GITHUB_SHA`.
    pub sha: String,
    /// `GITHUB_REPOSITORY`: `owner/name` (any case).
    pub repository: String,
    /// `GITHUB_SERVER_URL`.
    pub server_url: String,
    /// The pull request's number (from the event payload).
    pub pr_number: Option<u64>,
    /// What to diff against: the PR's base commit, or a push's `before`.
    pub base: Option<String>,
    /// The run's time (Unix seconds, UTC).
    pub now: u64,
    /// `XTASK_PUBLISH=true`.
    pub publish: bool,
    /// `XTASK_ARM64=qemu`: no arm64 runners.
    pub arm64_qemu: bool,
    /// `XTASK_REGISTRY`: the registry host in place of `ghcr.io` (empty:
    /// `ghcr.io`); `ci act` sets the loopback registry.
    pub registry_host: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Build and load, never push (pull requests, forks).
    Check,
    /// Build, push by digest, merge into the tags.
    Publish,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Plan {
    pub mode: Mode,
    pub event: String,
    /// `ghcr.io/<owner>/<name>` (or `$XTASK_REGISTRY/<owner>/<name>`), lowercase.
    pub registry: String,
    /// The run's own tags of every image (check runs: the one loaded),
    /// the first one the run's alone; never `latest`.
    pub tags: Vec<String>,
    /// This run may move `latest` (`ci latest` decides whether it does).
    #[serde(default)]
    pub latest: bool,
    /// `sha-<short>`: the tag images of the next wave are built FROM.
    pub sha_tag: String,
    /// `VERSION` and `org.opencontainers.image.version`.
    pub version: String,
    pub revision: String,
    /// The repository's URL (`org.opencontainers.image.source`).
    pub source: String,
    /// The images of the run, in table order.
    pub images: Vec<String>,
    pub platforms: Vec<String>,
    /// Why the plan is what it is (printed).
    pub notes: Vec<String>,
}

/// One run's matrices: `check`, or one per wave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrices {
    pub check: Matrix,
    pub waves: Vec<Matrix>,
}

/// The short commit used in tags (7 hex digits, as `git rev-parse --short`).
fn short(sha: &str) -> Result<&str> {
    if sha.len() < 7 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("GITHUB_SHA `{}` is not a commit id", reference::shown(sha));
    }
    Ok(&sha[..7])
}

/// `YYYYMMDD` (UTC) of a Unix time.
pub fn date(unix: u64) -> String {
    let (y, m, d) = crate::docker::report::civil_date(unix / 86_400);
    format!("{y:04}{m:02}{d:02}")
}

/// Whether release tag `tag` (`v1.2.3`) is the highest release among
/// `all` (every `v*` tag of the repository): a stable semver version at
/// least as high as every other stable one. Pre-releases never are.
pub fn is_highest(tag: &str, all: &[String]) -> bool {
    let parse = |t: &str| semver::Version::parse(t.strip_prefix('v')?).ok().filter(|v| v.pre.is_empty());
    let Some(this) = parse(tag) else { return false };
    all.iter().filter_map(|t| parse(t)).all(|other| this.cmp_precedence(&other) != std::cmp::Ordering::Less)
}

/// Decide the plan. `changed`: the files the run changes (`None`: unknown,
/// so every image); `release_tags`: the repository's `v*` tags (tag pushes).
pub fn plan(ev: &Event, changed: Option<&[String]>, release_tags: &[String]) -> Result<Plan> {
    let short = short(&ev.sha)?;
    let sha_tag = format!("sha-{short}");
    if ev.repository.is_empty() || !ev.repository.contains('/') {
        bail!("GITHUB_REPOSITORY `{}` is not owner/name", reference::shown(&ev.repository));
    }
    let host = if ev.registry_host.is_empty() { "ghcr.io" } else { ev.registry_host.as_str() };
    let registry = format!("{host}/{}", ev.repository.to_ascii_lowercase());
    reference::check_name(&registry, "GITHUB_REPOSITORY and XTASK_REGISTRY")?;
    let source = format!("{}/{}", ev.server_url.trim_end_matches('/'), ev.repository);
    let mut notes = Vec::new();

    let branch = ev.git_ref.strip_prefix("refs/heads/");
    let git_tag = ev.git_ref.strip_prefix("refs/tags/");
    let (mut mode, mut tags, mut latest, version, all_images) = match ev.name.as_str() {
        "pull_request" => {
            let n = ev.pr_number.context("a pull_request event without a number in its payload")?;
            (Mode::Check, vec![format!("pr-{n}")], false, format!("pr-{n}-{short}"), false)
        }
        "push" if branch == Some("main") => {
            (Mode::Publish, vec![sha_tag.clone()], true, format!("main-{short}"), false)
        }
        "push" if git_tag.is_some_and(|t| t.starts_with('v')) => {
            let raw = git_tag.unwrap_or_default();
            let tag =
                reference::sanitize_tag(raw).with_context(|| format!("release tag `{}`", reference::shown(raw)))?;
            if tag != raw {
                notes.push(format!(
                    "release tag `{}` published as `{tag}` (Docker's tag grammar)",
                    reference::shown(raw)
                ));
            }
            let highest = is_highest(raw, release_tags);
            if highest {
                notes
                    .push(format!("{tag} is the highest release: `latest` may move (unless it points at a newer one)"));
            } else {
                notes.push(format!("{tag} is not the highest stable release: `latest` stays"));
            }
            (Mode::Publish, vec![tag.clone(), sha_tag.clone()], highest, tag, true)
        }
        "schedule" => {
            let nightly = format!("nightly-{}", date(ev.now));
            (Mode::Publish, vec![nightly.clone(), sha_tag.clone()], false, nightly, true)
        }
        "workflow_dispatch" => {
            let name = reference::sanitize_tag(branch.or(git_tag).unwrap_or("dispatch"))?;
            (Mode::Publish, vec![sha_tag.clone()], branch == Some("main"), format!("{name}-{short}"), true)
        }
        other => bail!(
            "no plan for event `{}` on `{}`: the workflow runs on pull_request, push (main, v* tags), \
             schedule and workflow_dispatch",
            reference::shown(other),
            reference::shown(&ev.git_ref)
        ),
    };
    if mode == Mode::Publish && !ev.publish {
        notes.push(
            "publishing is off (repository variable PUBLISH_IMAGES is not `true`, as in forks): check builds only"
                .into(),
        );
        mode = Mode::Check;
        tags = vec![format!("check-{short}")];
        latest = false;
    }
    for t in &tags {
        reference::check_tag(t)?;
    }
    let version = reference::sanitize_tag(&version)?;

    let changed = if all_images { None } else { changed };
    let affected = matrix::affected(changed);
    match changed {
        Some(files) => notes.push(format!(
            "{} changed file{}: {}",
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            if affected.is_empty() {
                "no image is affected".to_owned()
            } else {
                affected.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
            }
        )),
        None => notes.push("every image".into()),
    }
    let platforms: Vec<Platform> = match mode {
        Mode::Check => vec![Platform::AMD64],
        Mode::Publish => Platform::ALL.to_vec(),
    };
    Ok(Plan {
        mode,
        event: ev.name.clone(),
        registry,
        tags,
        latest,
        sha_tag,
        version,
        revision: ev.sha.clone(),
        source,
        images: affected.iter().map(|s| s.name.to_owned()).collect(),
        platforms: platforms.iter().map(|p| p.docker().to_owned()).collect(),
        notes,
    })
}

impl Plan {
    fn specs(&self) -> Vec<&'static images::ImageSpec> {
        images::IMAGES.iter().filter(|s| self.images.iter().any(|i| i == s.name)).collect()
    }

    /// The plan's platforms (JSON text, parsed here); none: the host.
    fn platform_list(&self) -> Result<Vec<Platform>> {
        let parsed = self.platforms.iter().map(|p| Platform::parse(p)).collect::<Result<Vec<_>>>()?;
        Platform::or_host(&parsed)
    }

    /// The matrices of the run: a check run has one (`check`), a publish
    /// run one per wave.
    pub fn matrices(&self, arm64_qemu: bool) -> Result<Matrices> {
        let platforms = self.platform_list()?;
        let specs = self.specs();
        let empty = Matrix::default();
        Ok(match self.mode {
            Mode::Check => Matrices {
                check: matrix::matrix_of(&specs, &platforms, None, arm64_qemu),
                waves: vec![empty; matrix::last_wave() + 1],
            },
            Mode::Publish => Matrices {
                check: empty,
                waves: (0..=matrix::last_wave())
                    .map(|w| matrix::matrix_of(&specs, &platforms, Some(w), arm64_qemu))
                    .collect(),
            },
        })
    }

    /// The plan's platforms that `image` is built for.
    pub fn platforms_of(&self, image: &images::ImageSpec) -> Result<Vec<Platform>> {
        let planned = self.platforms.iter().map(|p| Platform::parse(p)).collect::<Result<Vec<_>>>()?;
        Ok(image.platforms.iter().copied().filter(|p| planned.contains(p)).collect())
    }

    /// The OCI labels and annotations of `image`.
    pub fn oci(&self, image: &images::ImageSpec) -> Vec<(String, String)> {
        argv::oci_metadata(&self.source, &self.revision, &self.version, image.about)
    }

    /// The tag of `image`'s base image (one of ours) to build FROM: this
    /// run's `sha-<short>` when the run publishes the base too, else `latest`.
    pub fn base_tag(&self, image: &images::ImageSpec) -> String {
        match image.from {
            Some((_, base)) if self.mode == Mode::Publish && self.images.iter().any(|i| i == base) => {
                self.sha_tag.clone()
            }
            _ => "latest".into(),
        }
    }

    /// The plan of `$XTASK_PLAN` or a file; one error if it is missing or stale.
    pub fn load(file: Option<&std::path::Path>) -> Result<Plan> {
        let text = match file {
            Some(f) => std::fs::read_to_string(f).with_context(|| format!("cannot read the plan {}", f.display()))?,
            None => std::env::var("XTASK_PLAN")
                .ok()
                .filter(|s| !s.trim().is_empty())
                .context("no plan: set XTASK_PLAN to the JSON of `cargo xtask ci plan` (or pass --plan FILE)")?,
        };
        serde_json::from_str(&text).context("the plan is not the JSON of `cargo xtask ci plan` (of this xtask?)")
    }

    /// The `$GITHUB_OUTPUT` lines: `plan`, `publish`, `latest`, `check`/`wave<N>`
    /// (matrices), `<name>_count`, `wave<N>_images`, `arm64` (an arm64
    /// xtask is needed).
    pub fn outputs(&self, arm64_qemu: bool) -> Result<Vec<(String, String)>> {
        let m = self.matrices(arm64_qemu)?;
        let mut out = vec![
            ("plan".to_owned(), serde_json::to_string(self)?),
            ("publish".to_owned(), (self.mode == Mode::Publish).to_string()),
            ("latest".to_owned(), (self.mode == Mode::Publish && self.latest).to_string()),
            ("check".to_owned(), serde_json::to_string(&m.check)?),
            ("check_count".to_owned(), m.check.include.len().to_string()),
        ];
        for (w, wave) in m.waves.iter().enumerate() {
            out.push((format!("wave{w}"), serde_json::to_string(wave)?));
            out.push((format!("wave{w}_count"), wave.include.len().to_string()));
            out.push((format!("wave{w}_images"), serde_json::to_string(&wave.images())?));
        }
        let arm64 = std::iter::once(&m.check)
            .chain(&m.waves)
            .flat_map(|m| &m.include)
            .any(|e| e.xtask == matrix::xtask_artifact(Platform::ARM64));
        out.push(("arm64".to_owned(), arm64.to_string()));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, git_ref: &str) -> Event {
        Event {
            name: name.into(),
            git_ref: git_ref.into(),
            sha: "0123456789abcdef0123456789abcdef01234567".into(),
            repository: "Vllm-Project/Semantic-Router".into(),
            server_url: "https://github.com".into(),
            pr_number: None,
            base: None,
            now: 1_798_761_599, // 2026-12-31 23:59:59 UTC
            publish: true,
            arm64_qemu: false,
            registry_host: String::new(),
        }
    }

    fn files(f: &[&str]) -> Vec<String> {
        f.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pull_request_checks_affected_images_on_amd64() {
        let e = Event { pr_number: Some(42), ..ev("pull_request", "refs/pull/42/merge") };
        let p = plan(&e, Some(&files(&["candle-binding/src/lib.rs"])), &[]).unwrap();
        assert_eq!(p.mode, Mode::Check);
        assert_eq!(p.tags, ["pr-42"]);
        assert_eq!(p.version, "pr-42-0123456");
        assert_eq!(p.images, ["extproc", "stack"]);
        assert_eq!(p.platforms, ["linux/amd64"]);
        assert_eq!(p.registry, "ghcr.io/vllm-project/semantic-router");
        assert_eq!(p.source, "https://github.com/Vllm-Project/Semantic-Router");
        // `ci act`: the loopback registry in place of ghcr.io.
        let local = Event { registry_host: "127.0.0.1:5000".into(), ..e.clone() };
        assert_eq!(plan(&local, None, &[]).unwrap().registry, "127.0.0.1:5000/vllm-project/semantic-router");
        let m = p.matrices(false).unwrap();
        assert_eq!(m.check.include.len(), 2);
        assert!(m.waves.iter().all(|w| w.include.is_empty()));
        let out = p.outputs(false).unwrap();
        let get = |k: &str| out.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(
            (get("publish"), get("check_count"), get("wave0_count"), get("arm64")),
            ("false".into(), "2".into(), "0".into(), "false".into())
        );
        // Unchanged images: nothing to build.
        let p = plan(&e, Some(&files(&["README.md"])), &[]).unwrap();
        assert!(p.images.is_empty() && p.notes.iter().any(|n| n.contains("no image is affected")));
        assert!(plan(&ev("pull_request", "refs/pull/1/merge"), None, &[]).is_err(), "no number");
    }

    #[test]
    fn main_publishes_affected_images_as_sha_and_latest() {
        let p = plan(&ev("push", "refs/heads/main"), Some(&files(&["tools/docker/Dockerfile"])), &[]).unwrap();
        assert_eq!(p.mode, Mode::Publish);
        assert_eq!((p.tags.clone(), p.latest), (vec!["sha-0123456".to_owned()], true));
        assert_eq!(p.images, ["dev", "precommit"]);
        // Every platform of the table; each image's matrix keeps its own (dev and precommit: two).
        assert_eq!(p.platforms, ["linux/amd64", "linux/arm64", "linux/riscv64"]);
        let m = p.matrices(false).unwrap();
        assert_eq!(m.waves[0].images(), ["dev"]);
        assert_eq!(m.waves[1].images(), ["precommit"]);
        assert_eq!(m.waves[0].include.len() + m.waves[1].include.len(), 4);
        // precommit is built FROM this run's dev; stack (not rebuilt) FROM latest extproc.
        assert_eq!(p.base_tag(images::find("precommit").unwrap()), "sha-0123456");
        let only_stack = plan(&ev("push", "refs/heads/main"), Some(&files(&["tools/docker/stack/x"])), &[]).unwrap();
        assert_eq!(only_stack.images, ["stack"]);
        assert_eq!(only_stack.base_tag(images::find("stack").unwrap()), "latest");
        let out = p.outputs(false).unwrap();
        assert!(out.iter().any(|(k, v)| k == "arm64" && v == "true"));
        assert!(p.outputs(true).unwrap().iter().any(|(k, v)| k == "arm64" && v == "false"));
    }

    #[test]
    fn releases_move_latest_only_when_highest() {
        let tags = files(&["v1.0.0", "v1.2.0", "v2.0.0-rc1", "v0.9", "junk"]);
        let p = plan(&ev("push", "refs/tags/v1.2.0"), None, &tags).unwrap();
        assert_eq!((p.tags.clone(), p.latest), (files(&["v1.2.0", "sha-0123456"]), true));
        assert_eq!(p.images.len(), 4, "a release builds every image");
        let p = plan(&ev("push", "refs/tags/v1.0.1"), None, &tags).unwrap();
        assert_eq!((p.tags.clone(), p.latest), (files(&["v1.0.1", "sha-0123456"]), false));
        let p = plan(&ev("push", "refs/tags/v3.0.0-rc1"), None, &tags).unwrap();
        assert!(!p.latest, "a pre-release never moves latest");
        // Docker's grammar: sanitised deterministically, or refused.
        let p = plan(&ev("push", "refs/tags/v1.0+b1"), None, &tags).unwrap();
        assert_eq!(p.tags[0], "v1.0-b1");
        assert!(p.notes.iter().any(|n| n.contains("published as `v1.0-b1`")));
        let p = plan(&ev("push", "refs/tags/v1;rm -rf $HOME"), None, &tags).unwrap();
        assert_eq!(p.tags[0], "v1-rm--rf-HOME");
        let p = plan(&ev("push", "refs/tags/V2.0-RC"), None, &tags);
        assert!(p.is_err(), "V… is not a `v*` tag: no plan");
        let p = plan(&ev("push", "refs/tags/vUPPER"), None, &tags).unwrap();
        assert_eq!(p.tags[0], "vUPPER", "uppercase is valid in a Docker tag");
        let long = format!("refs/tags/v{}", "1".repeat(128));
        let e = plan(&ev("push", &long), None, &tags).unwrap_err();
        assert!(format!("{e:#}").contains("129-character tag"), "{e:#}");
        assert!(is_highest("v2.0.0", &files(&["v2.0.0", "v1.9.9"])));
        assert!(!is_highest("v1.9.9", &files(&["v2.0.0", "v1.9.9"])));
        assert!(!is_highest("vnext", &files(&["v1.0.0"])));
    }

    #[test]
    fn nightly_and_dispatch() {
        let p = plan(&ev("schedule", "refs/heads/main"), Some(&files(&["README.md"])), &[]).unwrap();
        assert_eq!((p.tags.clone(), p.latest), (files(&["nightly-20261231", "sha-0123456"]), false));
        assert_eq!(p.images.len(), 4, "a nightly builds every image, whatever changed");
        let p = plan(&ev("workflow_dispatch", "refs/heads/main"), None, &[]).unwrap();
        assert_eq!((p.tags.clone(), p.latest), (files(&["sha-0123456"]), true));
        let p = plan(&ev("workflow_dispatch", "refs/heads/feature/x"), None, &[]).unwrap();
        assert_eq!(
            (p.tags.clone(), p.version.clone()),
            (vec!["sha-0123456".to_owned()], "feature-x-0123456".to_owned())
        );
        assert!(!p.latest, "a branch other than main never moves latest");
        assert!(plan(&ev("issues", "refs/heads/main"), None, &[]).is_err());
        assert_eq!(date(0), "19700101");
    }

    #[test]
    fn forks_never_publish() {
        let e = Event { publish: false, ..ev("push", "refs/heads/main") };
        let p = plan(&e, None, &[]).unwrap();
        assert_eq!(p.mode, Mode::Check);
        assert_eq!((p.tags.clone(), p.latest), (files(&["check-0123456"]), false));
        assert_eq!(p.platforms, ["linux/amd64"]);
        assert!(p.notes.iter().any(|n| n.contains("PUBLISH_IMAGES")));
        let out = p.outputs(false).unwrap();
        assert!(out.iter().any(|(k, v)| k == "publish" && v == "false"));
        assert!(out.iter().any(|(k, v)| k == "latest" && v == "false"));
        assert!(out.iter().any(|(k, v)| k == "wave0_count" && v == "0"));
    }

    /// `latest` is shared by every run that may move it: no run merges it
    /// with its own tags (that merge is not serialised and runs in any
    /// order); `ci latest` moves it, in one group, after a check.
    #[test]
    fn no_run_merges_latest_with_its_own_tags() {
        let tags = files(&["v1.0.0", "v1.2.0"]);
        for (name, r) in [
            ("push", "refs/heads/main"),
            ("push", "refs/tags/v1.2.0"),
            ("workflow_dispatch", "refs/heads/main"),
            ("schedule", "refs/heads/main"),
        ] {
            let p = plan(&ev(name, r), None, &tags).unwrap();
            assert!(!p.tags.iter().any(|t| t == "latest"), "{name} {r}: {:?}", p.tags);
        }
    }

    #[test]
    fn plans_round_trip_and_bad_input_is_refused() {
        let p = plan(&ev("push", "refs/heads/main"), None, &[]).unwrap();
        let back: Plan = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        assert!(plan(&Event { sha: "xyz".into(), ..ev("push", "refs/heads/main") }, None, &[]).is_err());
        assert!(plan(&Event { repository: "noslash".into(), ..ev("push", "refs/heads/main") }, None, &[]).is_err());
        let oci = p.oci(images::find("extproc").unwrap());
        assert_eq!(oci.len(), 4);
        assert_eq!(oci[1].1, "0123456789abcdef0123456789abcdef01234567");
    }
}
