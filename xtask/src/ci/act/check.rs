//! `ci act`'s check of the loopback registry: what it holds for each tag the
//! promises name (`GET /v2/<repo>/tags/list`, `docker buildx imagetools
//! inspect`), before and after the run, and which promises are not kept
//! (pure).

use std::collections::BTreeMap;

use anyhow::{bail, ensure, Context, Result};

use super::{Promise, BUILDER, REGISTRY};
use crate::engine::Docker;

/// What the registry holds for a tag: its digest and platforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub digest: String,
    pub platforms: Vec<String>,
}

/// The registry's state of every tag the promises name (absent: not a key).
pub fn snapshot(docker: &Docker, promised: &[Promise]) -> Result<BTreeMap<(String, String), Held>> {
    let mut out = BTreeMap::new();
    let mut repos: Vec<&str> = promised.iter().map(Promise::repo).collect();
    repos.dedup();
    for repo in repos {
        for tag in tags_of(repo)? {
            let r = format!("{REGISTRY}/{repo}:{tag}");
            let o = docker.output(&[
                "buildx",
                "imagetools",
                "inspect",
                "--builder",
                BUILDER,
                "--format",
                "{{json .Manifest}}",
                &r,
            ])?;
            ensure!(
                o.status.success(),
                "`docker buildx imagetools inspect {r}` failed: {}; is the builder {BUILDER} there (cargo xtask e2e makes it)?",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            out.insert((repo.to_owned(), tag), held(&String::from_utf8_lossy(&o.stdout))?);
        }
    }
    Ok(out)
}

/// `GET /v2/<repo>/tags/list` of the loopback registry (none: a 404).
pub fn tags_of(repo: &str) -> Result<Vec<String>> {
    tags_at(REGISTRY, repo)
}

/// `GET /v2/<repo>/tags/list` of a plain-HTTP loopback registry at
/// `registry` (none: a 404).
pub fn tags_at(registry: &str, repo: &str) -> Result<Vec<String>> {
    let (status, body) = crate::http::request("GET", registry, &format!("/v2/{repo}/tags/list"), None)
        .with_context(|| format!("the registry {registry} does not answer: start it (cargo xtask e2e starts it)"))?;
    match status {
        404 => Ok(Vec::new()),
        200 => parse_tags(&body),
        s => bail!("GET /v2/{repo}/tags/list of {registry}: status {s}: {body}"),
    }
}

/// The tags of a `tags/list` answer.
pub fn parse_tags(body: &str) -> Result<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(body).context("the registry's tags/list is not JSON")?;
    Ok(v["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)).collect())
}

/// Digest and platforms of `imagetools inspect --format '{{json .Manifest}}'`
/// (attestation manifests, `unknown/unknown`, are not platforms).
pub fn held(json: &str) -> Result<Held> {
    let v: serde_json::Value = serde_json::from_str(json).context("imagetools inspect's manifest is not JSON")?;
    let digest = v["digest"].as_str().context("imagetools inspect's manifest has no digest")?.to_owned();
    let mut platforms: Vec<String> = v["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let os = m["platform"]["os"].as_str()?;
            let arch = m["platform"]["architecture"].as_str()?;
            (os != "unknown").then(|| match m["platform"]["variant"].as_str() {
                Some(var) => format!("{os}/{arch}/{var}"),
                None => format!("{os}/{arch}"),
            })
        })
        .collect();
    platforms.sort();
    Ok(Held { digest, platforms })
}

/// The promises not kept, each with why (pure).
pub fn kept(
    promised: &[Promise],
    before: &BTreeMap<(String, String), Held>,
    after: &BTreeMap<(String, String), Held>,
) -> Vec<(Promise, String)> {
    let key = |r: &str, t: &str| (r.to_owned(), t.to_owned());
    let mut out = Vec::new();
    for p in promised {
        let why = match p {
            Promise::Present { repo, tag, platforms } => match after.get(&key(repo, tag)) {
                None => Some("the tag is not in tags/list".to_owned()),
                Some(h) => {
                    let mut want = platforms.clone();
                    want.sort();
                    (h.platforms != want).then(|| format!("it holds {}", h.platforms.join(", ")))
                }
            },
            Promise::SameAs { repo, tag, same_as } => {
                match (after.get(&key(repo, tag)), after.get(&key(repo, same_as))) {
                    (None, _) => Some("the tag is not in tags/list".to_owned()),
                    (_, None) => Some(format!("{same_as} is not in tags/list")),
                    (Some(a), Some(b)) => (a.digest != b.digest).then(|| {
                        format!("it is {}, {same_as} is {} (ci latest kept a newer one?)", a.digest, b.digest)
                    }),
                }
            }
            Promise::Unchanged { repo, tag } => match (before.get(&key(repo, tag)), after.get(&key(repo, tag))) {
                (None, None) => None,
                (None, Some(h)) => Some(format!("the run published it ({})", h.digest)),
                (Some(_), None) => Some("the run removed it".to_owned()),
                (Some(a), Some(b)) => (a != b).then(|| format!("it moved from {} to {}", a.digest, b.digest)),
            },
        };
        if let Some(why) = why {
            out.push((p.clone(), why));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(d: &str, p: &[&str]) -> Held {
        Held { digest: d.into(), platforms: p.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn broken_promises_say_why() {
        let k = |t: &str| ("r".to_owned(), t.to_owned());
        let both = ["linux/amd64", "linux/arm64"];
        let present = Promise::Present {
            repo: "r".into(),
            tag: "sha-1".into(),
            platforms: vec!["linux/arm64".into(), "linux/amd64".into()],
        };
        let latest = Promise::SameAs { repo: "r".into(), tag: "latest".into(), same_as: "sha-1".into() };
        let pr = Promise::Unchanged { repo: "r".into(), tag: "pr-1".into() };
        let all = [present.clone(), latest.clone(), pr.clone()];
        let before = BTreeMap::new();
        let good = BTreeMap::from([(k("sha-1"), h("d1", &both)), (k("latest"), h("d1", &both))]);
        assert!(kept(&all, &before, &good).is_empty());
        let bad = BTreeMap::from([
            (k("sha-1"), h("d1", &["linux/amd64"])),
            (k("latest"), h("d0", &both)),
            (k("pr-1"), h("d2", &["linux/amd64"])),
        ]);
        let why: Vec<String> = kept(&all, &before, &bad).into_iter().map(|(_, w)| w).collect();
        assert_eq!(
            why,
            [
                "it holds linux/amd64",
                "it is d0, sha-1 is d1 (ci latest kept a newer one?)",
                "the run published it (d2)"
            ]
        );
        assert_eq!(kept(&[present], &before, &before)[0].1, "the tag is not in tags/list");
    }

    #[test]
    fn registry_answers_are_read() {
        assert_eq!(parse_tags(r#"{"name":"x","tags":["a","b"]}"#).unwrap(), ["a", "b"]);
        assert!(parse_tags(r#"{"name":"x","tags":null}"#).unwrap().is_empty());
        let m = r#"{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:ab","manifests":[
            {"digest":"sha256:1","platform":{"os":"linux","architecture":"arm64"}},
            {"digest":"sha256:2","platform":{"os":"linux","architecture":"amd64"}},
            {"digest":"sha256:3","platform":{"os":"unknown","architecture":"unknown"}}]}"#;
        assert_eq!(held(m).unwrap(), h("sha256:ab", &["linux/amd64", "linux/arm64"]));
    }
}
