//! `cargo xtask ci latest --image I`: move `<registry>/<image>:latest` to
//! the image this run merged, unless `latest` already points at a newer one.
//!
//! Every run merges its own tags (`sha-<short>`, a release, a nightly) in
//! parallel with other runs; `latest` is shared, so the workflow moves it in
//! one concurrency group per image. A group does not order what it runs
//! (a pending move is replaced by a newer one, runs queued close together
//! start in any order, a re-run replays an old run), so the move first reads
//! what `latest` points at, the `org.opencontainers.image.revision` and
//! `.version` annotations of its index, and [`decide`]s:
//!
//! - no `latest`, or one without a revision: move;
//! - both are stable releases (`v1.2.3`): the higher version wins;
//! - else by history: a candidate that is an ancestor of `latest`'s commit is
//!   older (skip), a descendant newer (move), the same commit moves (a release
//!   of that commit); commits on diverged branches compare by committer time;
//!   a commit the repository does not have cannot be judged: move, and say so.
//!
//! The registry and git reads are thin ([`current`], [`ancestry`]); the
//! decision is a pure function.

use anyhow::{bail, Context, Result};

use super::plan::{Mode, Plan};
use crate::{
    ctx::Ctx,
    docker::{self, argv, images, reference, report::RunReport},
    engine::{BuildxMode, Command, Docker},
    flags,
};

pub const REVISION: &str = "org.opencontainers.image.revision";
pub const VERSION: &str = "org.opencontainers.image.version";

/// What an index says it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    pub revision: String,
    pub version: String,
}

/// How the candidate's commit relates to the one `latest` points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ancestry {
    Same,
    /// The candidate is an ancestor of `latest`'s commit: older.
    Older,
    /// `latest`'s commit is an ancestor of the candidate: newer.
    Newer,
    /// Neither: committer times (Unix seconds) of the candidate and of `latest`'s commit.
    Diverged {
        candidate: i64,
        current: i64,
    },
    /// The repository does not have `latest`'s commit.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Move(String),
    Skip(String),
}

/// A stable release version (`v1.2.3`, no pre-release).
fn release(version: &str) -> Option<semver::Version> {
    semver::Version::parse(version.strip_prefix('v')?).ok().filter(|v| v.pre.is_empty())
}

/// Whether `latest` (pointing at `current`, if anything) moves to `candidate`.
pub fn decide(current: Option<&Pointer>, candidate: &Pointer, ancestry: Ancestry) -> Decision {
    let cand = format!("{} ({})", candidate.version, short(&candidate.revision));
    let Some(cur) = current else {
        return Decision::Move(format!("`latest` does not exist or names no revision: it moves to {cand}"));
    };
    let now = format!("{} ({})", cur.version, short(&cur.revision));
    if let (Some(a), Some(b)) = (release(&candidate.version), release(&cur.version)) {
        match a.cmp_precedence(&b) {
            std::cmp::Ordering::Less => {
                return Decision::Skip(format!("`latest` is {now}, a higher release than {cand}: it stays"))
            }
            std::cmp::Ordering::Greater => {
                return Decision::Move(format!("{cand} is a higher release than {now}: `latest` moves"))
            }
            std::cmp::Ordering::Equal => {}
        }
    }
    match ancestry {
        Ancestry::Same => Decision::Move(format!("`latest` is {now}, the same commit: it moves to {cand}")),
        Ancestry::Newer => Decision::Move(format!("{cand} descends from `latest`'s {now}: `latest` moves")),
        Ancestry::Older => Decision::Skip(format!("`latest` is {now}, which descends from {cand}: it stays")),
        Ancestry::Diverged { candidate: a, current: b } if a > b => {
            Decision::Move(format!("{cand} is a later commit than `latest`'s {now} (diverged history): `latest` moves"))
        }
        Ancestry::Diverged { .. } => {
            Decision::Skip(format!("`latest` is {now}, a later commit than {cand} (diverged history): it stays"))
        }
        Ancestry::Unknown => Decision::Move(format!(
            "`latest` is {now}, a commit this repository does not have: it cannot be compared and moves to {cand}"
        )),
    }
}

fn short(rev: &str) -> &str {
    rev.get(..7).unwrap_or(rev)
}

/// The revision and version annotations of a raw index; `None` without a revision.
pub fn pointer(raw: &str) -> Result<Option<Pointer>> {
    let v: serde_json::Value = serde_json::from_str(raw).context("the registry's manifest is not JSON")?;
    let get = |k: &str| v["annotations"][k].as_str().unwrap_or("").to_owned();
    let revision = get(REVISION);
    Ok((!revision.is_empty()).then(|| Pointer { revision, version: get(VERSION) }))
}

/// The `org.opencontainers.image.*` annotations of a raw index, to carry
/// them over to `latest`.
pub fn oci_annotations(raw: &str) -> Result<Vec<(String, String)>> {
    let v: serde_json::Value = serde_json::from_str(raw).context("the registry's manifest is not JSON")?;
    let mut out: Vec<(String, String)> = v["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("org.opencontainers.image."))
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
        .collect();
    out.sort();
    Ok(out)
}

/// `imagetools inspect --raw REF`: the index, or `None` when the tag does not exist.
fn inspect(docker: &Docker, r: &str) -> Result<Option<String>> {
    let args = ["buildx", "imagetools", "inspect", "--raw", r];
    let out = docker.output(&args)?;
    if out.status.success() {
        return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("not found") || err.contains("MANIFEST_UNKNOWN") {
        return Ok(None);
    }
    // A plain-HTTP registry (loopback: the e2e's and `ci act`'s): buildx
    // retries its 404 over HTTPS and reports that attempt's error instead,
    // so the registry's own tag list says whether the tag exists.
    if err.contains("server gave HTTP response to HTTPS client") {
        if let Some((host, repo, tag)) = split_tagged(r) {
            if !super::act::check::tags_at(host, repo)?.iter().any(|t| t == tag) {
                return Ok(None);
            }
        }
    }
    bail!(
        "`docker {}` failed: {}; check the registry login (docker/login-action) and the network",
        args.join(" "),
        err.trim()
    )
}

/// `host/repo:tag` → (host, repo, tag); `None` for a reference without a
/// registry host or a tag (pure).
fn split_tagged(r: &str) -> Option<(&str, &str, &str)> {
    let (host, rest) = r.split_once('/')?;
    if !(host.contains(':') || host.contains('.') || host == "localhost") || rest.contains('@') {
        return None;
    }
    let (repo, tag) = rest.rsplit_once(':')?;
    (!repo.is_empty() && !tag.is_empty() && !tag.contains('/')).then_some((host, repo, tag))
}

/// What `latest` points at now (`None`: nothing, or no revision annotation).
pub fn current(docker: &Docker, latest: &str) -> Result<Option<Pointer>> {
    match inspect(docker, latest)? {
        Some(raw) => pointer(&raw),
        None => Ok(None),
    }
}

/// How `candidate` relates to `current` in the checkout's history (it needs
/// the whole history: checkout with fetch-depth: 0).
pub fn ancestry(sh: &xshell::Shell, candidate: &str, current: &str) -> Result<Ancestry> {
    if candidate == current {
        return Ok(Ancestry::Same);
    }
    // Revisions come from the registry's annotations: only commit ids reach git.
    let commit_id = |rev: &str| (7..=64).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit());
    if !commit_id(candidate) {
        bail!("this run's revision `{}` is not a commit id", reference::shown(candidate));
    }
    if !commit_id(current) {
        return Ok(Ancestry::Unknown);
    }
    let has = |rev: &str| {
        let obj = format!("{rev}^{{commit}}");
        xshell::cmd!(sh, "git cat-file -e {obj}").quiet().ignore_stderr().run().is_ok()
    };
    if !has(candidate) {
        bail!("this run's commit {candidate} is not in the checkout: check out with fetch-depth: 0");
    }
    if !has(current) {
        return Ok(Ancestry::Unknown);
    }
    let is_ancestor = |a: &str, b: &str| -> Result<bool> {
        let out = xshell::cmd!(sh, "git merge-base --is-ancestor {a} {b}").quiet().ignore_status().output()?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => {
                bail!("`git merge-base --is-ancestor {a} {b}` failed: {}", String::from_utf8_lossy(&out.stderr).trim())
            }
        }
    };
    if is_ancestor(candidate, current)? {
        return Ok(Ancestry::Older);
    }
    if is_ancestor(current, candidate)? {
        return Ok(Ancestry::Newer);
    }
    let time = |rev: &str| -> Result<i64> {
        let t = xshell::cmd!(sh, "git show -s --format=%ct {rev}").quiet().read()?;
        t.trim().parse().with_context(|| format!("the committer time of {rev} is `{t}`"))
    };
    Ok(Ancestry::Diverged { candidate: time(candidate)?, current: time(current)? })
}

/// `cargo xtask ci latest --image I`.
pub fn run(ctx: &Ctx, l: &flags::CiLatest) -> Result<()> {
    let plan = Plan::load(l.plan.as_deref())?;
    let spec = images::find(&l.image)?;
    if !plan.images.iter().any(|i| i == spec.name) {
        bail!("image `{}` is not in the plan (its images: {})", spec.name, plan.images.join(", "));
    }
    if plan.mode != Mode::Publish || !plan.latest {
        println!("{}: this run does not move `latest` ({:?} run; tags {})", spec.name, plan.mode, plan.tags.join(", "));
        return Ok(());
    }
    let name = argv::image_name(Some(&plan.registry), spec.name);
    let own = argv::tag_ref(&name, plan.tags.first().context("the plan has no tag")?);
    let latest = argv::tag_ref(&name, "latest");
    let expected = plan.platforms_of(spec)?;
    if l.dry_run {
        let show =
            |argv: &[&str]| println!("{}", Command::new(argv.iter().map(|s| s.to_string()).collect()).display_line());
        show(&["docker", "buildx", "imagetools", "inspect", "--raw", &own]);
        show(&["docker", "buildx", "imagetools", "inspect", "--raw", &latest]);
        println!("# if {own} is newer than what {latest} points at:");
        show(&["docker", "buildx", "imagetools", "create", "--tag", &latest, &format!("{name}@<digest of {own}>")]);
        return Ok(());
    }
    let docker = Docker::find(&crate::engine::choose(None))?;
    docker.check_engine()?;
    if !docker.buildx_mode(BuildxMode::Auto)? {
        bail!("`ci latest` reads and copies indexes with buildx's imagetools: install docker buildx");
    }
    let raw = inspect(&docker, &own)?.with_context(|| {
        format!("{own} does not exist: this image's merge failed in this run; re-run the failed jobs, then this one")
    })?;
    let candidate =
        pointer(&raw)?.with_context(|| format!("{own} has no `{REVISION}` annotation: merge it with `ci manifest`"))?;
    if candidate.revision != plan.revision {
        bail!(
            "{own} is of commit {}, not this run's {}: another run merged it since; re-run this job",
            candidate.revision,
            plan.revision
        );
    }
    let now = current(&docker, &latest)?;
    let rel = match &now {
        Some(cur) => ancestry(&ctx.sh, &candidate.revision, &cur.revision)?,
        None => Ancestry::Unknown,
    };
    let decision = decide(now.as_ref(), &candidate, rel);
    let why = match &decision {
        Decision::Move(why) | Decision::Skip(why) => why.clone(),
    };
    println!("{}: {}", spec.name, reference::show(&why));
    if let Decision::Skip(_) = decision {
        return Ok(());
    }
    use sha2::Digest;
    let digest = format!("{:x}", sha2::Sha256::digest(raw.as_bytes()));
    let source = argv::digest_ref(&name, &digest)?;
    let dir = ctx.layout().root().to_path_buf();
    let metrics = dir.join(format!("metrics-latest-{}.json", spec.name));
    super::reported(format!("docker latest {}", spec.name), metrics, false, |report: &mut RunReport| {
        let req = docker::manifest_request(docker.name.clone(), vec![latest.clone()], vec![source])?;
        docker::merge(&docker, true, &req, &expected, &oci_annotations(&raw)?, report).map(drop)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_references_split() {
        assert_eq!(
            split_tagged("127.0.0.1:5000/o/r/extproc:latest"),
            Some(("127.0.0.1:5000", "o/r/extproc", "latest"))
        );
        assert_eq!(split_tagged("ghcr.io/o/extproc:sha-1"), Some(("ghcr.io", "o/extproc", "sha-1")));
        for none in ["extproc:latest", "o/extproc:latest", "ghcr.io/o/extproc", "ghcr.io/o/x@sha256:ab", "h:1/r:"] {
            assert_eq!(split_tagged(none), None, "{none}");
        }
    }

    fn at(revision: &str, version: &str) -> Pointer {
        Pointer { revision: revision.into(), version: version.into() }
    }

    fn moves(d: &Decision) -> bool {
        matches!(d, Decision::Move(_))
    }

    #[test]
    fn latest_never_moves_back() {
        let main3 = at("c3c3c3c3", "main-c3c3c3c");
        let main2 = at("c2c2c2c2", "main-c2c2c2c");
        // Nothing yet: move.
        assert!(moves(&decide(None, &main2, Ancestry::Unknown)));
        // A newer commit of main moves it; an older one (a late run, a re-run) does not.
        assert!(moves(&decide(Some(&main2), &main3, Ancestry::Newer)));
        let d = decide(Some(&main3), &main2, Ancestry::Older);
        assert!(!moves(&d));
        let Decision::Skip(why) = d else { unreachable!() };
        assert!(why.contains("main-c3c3c3c (c3c3c3c)") && why.contains("stays"), "{why}");
        // A release of an older commit than main's latest does not move it.
        assert!(!moves(&decide(Some(&main3), &at("c1c1c1c1", "v1.0.0"), Ancestry::Older)));
        // A release of the same commit does (it names the version).
        assert!(moves(&decide(Some(&main3), &at("c3c3c3c3", "v1.1.0"), Ancestry::Same)));
        // Between releases the version decides, whatever the history.
        let v2 = at("aaaa", "v2.0.0");
        let v110 = at("bbbb", "v1.10.0");
        assert!(!moves(&decide(Some(&v2), &v110, Ancestry::Diverged { candidate: 9, current: 1 })));
        assert!(moves(&decide(Some(&v110), &v2, Ancestry::Older)));
        // A pre-release is not a release: history decides.
        assert!(!moves(&decide(Some(&v2), &at("cccc", "v3.0.0-rc1"), Ancestry::Older)));
        // Diverged branches: the later commit.
        assert!(moves(&decide(Some(&main2), &at("dddd", "fix-dddd"), Ancestry::Diverged { candidate: 5, current: 4 })));
        assert!(!moves(&decide(
            Some(&main2),
            &at("dddd", "fix-dddd"),
            Ancestry::Diverged { candidate: 3, current: 4 }
        )));
        // A commit the repository does not have: cannot be compared; moves, and says so.
        let Decision::Move(why) = decide(Some(&main2), &main3, Ancestry::Unknown) else { panic!() };
        assert!(why.contains("does not have"), "{why}");
    }

    #[test]
    fn annotations_are_read_from_the_index() {
        let raw = r#"{"schemaVersion":2,"manifests":[],"annotations":{
            "org.opencontainers.image.revision":"0123456789abcdef","org.opencontainers.image.version":"v1.2.0",
            "org.opencontainers.image.source":"https://github.com/o/r","other":"x"}}"#;
        assert_eq!(pointer(raw).unwrap(), Some(at("0123456789abcdef", "v1.2.0")));
        assert_eq!(oci_annotations(raw).unwrap().len(), 3);
        assert_eq!(pointer(r#"{"schemaVersion":2,"manifests":[]}"#).unwrap(), None);
        assert!(pointer("not json").is_err());
    }

    /// The history read, on a throwaway repository: a line of two commits
    /// and a branch off the first.
    #[test]
    fn ancestry_reads_git() {
        let dir = tempfile::tempdir().unwrap();
        let sh = xshell::Shell::new().unwrap();
        sh.change_dir(dir.path());
        let git = |args: &[&str]| xshell::cmd!(sh, "git {args...}").quiet().ignore_stderr().read().unwrap();
        git(&["init", "-q", "-b", "main"]);
        git(&["config", "user.email", "t@example.com"]);
        git(&["config", "user.name", "t"]);
        let commit = |msg: &str, date: &str| {
            let _env = sh.push_env("GIT_COMMITTER_DATE", date);
            git(&["commit", "-q", "--allow-empty", "-m", msg]);
            git(&["rev-parse", "HEAD"])
        };
        let c1 = commit("one", "@1000000000 +0000");
        let c2 = commit("two", "@1000000100 +0000");
        git(&["checkout", "-q", "-b", "side", &c1]);
        let side = commit("side", "@1000000200 +0000");
        assert_eq!(ancestry(&sh, &c2, &c2).unwrap(), Ancestry::Same);
        assert_eq!(ancestry(&sh, &c1, &c2).unwrap(), Ancestry::Older);
        assert_eq!(ancestry(&sh, &c2, &c1).unwrap(), Ancestry::Newer);
        assert_eq!(
            ancestry(&sh, &side, &c2).unwrap(),
            Ancestry::Diverged { candidate: 1_000_000_200, current: 1_000_000_100 }
        );
        assert_eq!(ancestry(&sh, &c2, &"f".repeat(40)).unwrap(), Ancestry::Unknown);
        assert!(ancestry(&sh, &"e".repeat(40), &c2).is_err());
        assert_eq!(ancestry(&sh, &c2, "--output=x").unwrap(), Ancestry::Unknown, "not a commit id: git never sees it");
        assert!(ancestry(&sh, "-x", &c2).is_err());
    }
}
