//! Our own Dockerfile rules, in pure Rust (`cargo xtask lint --only dockerfile`):
//!
//! - `build-arg`: every build argument xtask or a workflow passes to a
//!   Dockerfile is declared there as an `ARG` (the declaration check itself is
//!   `docker::dockerfile::DeclaredArgs`, the one `cargo xtask docker` uses);
//! - `cross-run`: a cross Dockerfile (`*.cross`, or one with a
//!   `--platform=$BUILDPLATFORM` stage) runs no `RUN` on the target platform:
//!   neither in its final stage nor in any target-platform stage the final one
//!   is built from (`FROM`, `COPY --from`, `RUN --mount=from=`);
//! - `base-image`: every `FROM` image is `${ARG}`/`$ARG` (an `ARG` declared
//!   before the first `FROM`), a previous stage, or `scratch`;
//!
//! No `copy-from` rule: whether a `COPY --from=<stage>` source exists is
//! known only by building (`docker build` names the missing path exactly, and
//! the e2e builds every image); guessing it from WORKDIR/RUN text was a heuristic.
//!
//! The Dockerfile model (instructions with lines, stages) is
//! [`crate::docker::dockerfile`], the one `cargo xtask docker` reads too.

use std::collections::BTreeSet;

use super::Finding;
use crate::docker::dockerfile::{DeclaredArgs, Dockerfile};

/// Whether `path` names a cross Dockerfile by its name.
pub fn is_cross_name(path: &str) -> bool {
    path.ends_with(".cross")
}

/// Every rule that needs only the Dockerfile itself.
pub fn check(file: &str, text: &str) -> Vec<Finding> {
    let df = Dockerfile::parse(text);
    let mut out = Vec::new();
    out.extend(base_images(file, &df));
    if is_cross_name(file) || df.has_buildplatform_stage() {
        out.extend(cross_runs(file, &df));
    }
    out.sort_by_key(|f| f.line);
    out
}

fn finding(file: &str, line: usize, rule: &str, message: String) -> Finding {
    Finding { file: file.to_owned(), line, rule: rule.to_owned(), message }
}

/// The `ARG`s an image reference is made of, when it starts with one (so
/// that the repository can be replaced): `$X`, `${X}`, `${X:-default}`,
/// `${X:+alt}`, `${REGISTRY}/dev:${TAG}`. `None` for a fixed image
/// (`debian`, `debian:${TAG}`).
fn image_args(image: &str) -> Option<Vec<&str>> {
    if !image.starts_with('$') {
        return None;
    }
    let is_name = |n: &str| {
        !n.is_empty()
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    let mut names = Vec::new();
    let mut rest = image;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let name = if let Some(braced) = rest.strip_prefix('{') {
            let end = braced.find('}')?;
            rest = &braced[end + 1..];
            // `${X:-default}`, `${X-default}`, `${X:+alt}`, `${X+alt}`: the name is X.
            let inner = &braced[..end];
            &inner[..inner.find([':', '-', '+']).unwrap_or(inner.len())]
        } else {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            let name = &rest[..end];
            rest = &rest[end..];
            name
        };
        if !is_name(name) {
            return None;
        }
        names.push(name);
    }
    Some(names)
}

pub fn base_images(file: &str, df: &Dockerfile) -> Vec<Finding> {
    let globals = df.global_args();
    let mut out = Vec::new();
    for s in &df.stages {
        if s.image.eq_ignore_ascii_case("scratch") || df.stage_ref(&s.image, s.index).is_some() {
            continue;
        }
        match image_args(&s.image) {
            Some(args) => {
                if let Some(arg) = args.iter().find(|a| !globals.iter().any(|g| g == *a)) {
                    out.push(finding(
                        file,
                        s.line,
                        "base-image",
                        format!("`FROM {}`: `{arg}` is not an ARG declared before the first FROM", s.image),
                    ));
                }
            }
            None => out.push(finding(
                file,
                s.line,
                "base-image",
                format!(
                    "base image `{}` is not an ARG: declare `ARG SOME_IMAGE={}` before the first FROM \
                     and write `FROM ${{SOME_IMAGE}}` (or use a previous stage, or `scratch`)",
                    s.image, s.image
                ),
            )),
        }
    }
    out
}

pub fn cross_runs(file: &str, df: &Dockerfile) -> Vec<Finding> {
    let mut out = Vec::new();
    let last = df.stages.len().saturating_sub(1);
    for i in df.final_closure() {
        if df.on_build_platform(i) {
            continue;
        }
        let s = &df.stages[i];
        let name = s.name.clone().unwrap_or_else(|| i.to_string());
        let role = if i == last {
            format!("the final stage `{name}`")
        } else {
            format!("stage `{name}` (part of the final image, on the target platform)")
        };
        for ins in s.body.iter().filter(|i| i.keyword == "RUN") {
            out.push(finding(
                file,
                ins.line,
                "cross-run",
                format!(
                    "RUN in {role} of a cross Dockerfile: it would run under emulation; \
                     do it in a `--platform=$BUILDPLATFORM` stage and COPY the result"
                ),
            ));
        }
    }
    out
}

/// A build argument someone passes to a Dockerfile, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedArg {
    pub name: String,
    /// Where it is passed (a workflow, an xtask source file, or the Dockerfile
    /// itself when only the planner knows).
    pub file: String,
    pub line: usize,
    /// Who passes it (`xtask docker`, a workflow, ...).
    pub by: String,
    /// The Dockerfiles (relative to the workspace root) it is passed to.
    pub dockerfiles: Vec<String>,
}

/// `build-arg`: every passed argument is an `ARG` of each Dockerfile it is passed to.
/// `read` gives a Dockerfile's text (`None`: missing).
pub fn check_build_args(passed: &[PassedArg], read: &dyn Fn(&str) -> Option<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for p in passed {
        for df in &p.dockerfiles {
            if !seen.insert((p.file.clone(), p.line, p.name.clone(), df.clone())) {
                continue;
            }
            let message = match read(df) {
                None => format!("{} passes `{}` to {df}, which does not exist", p.by, p.name),
                Some(text) if !DeclaredArgs::parse(&text).contains(&p.name) => {
                    format!("{} passes `{}` to {df}, which declares no `ARG {}`", p.by, p.name, p.name)
                }
                Some(_) => continue,
            };
            out.push(finding(&p.file, p.line, "build-arg", message));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dockerfiles")
    }

    /// `# expect-next: RULE` comments: the rule must fire on the next instruction.
    fn expectations(text: &str) -> Vec<(usize, String)> {
        let lines: Vec<&str> = text.lines().collect();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if let Some(rules) = l.trim().strip_prefix("# expect-next:") {
                let next = (i + 1..lines.len())
                    .find(|&j| !lines[j].trim().is_empty() && !lines[j].trim_start().starts_with('#'))
                    .expect("an instruction after expect-next");
                for rule in rules.split(',') {
                    out.push((next + 1, rule.trim().to_owned()));
                }
            }
        }
        out.sort();
        out
    }

    fn got(findings: &[Finding]) -> Vec<(usize, String)> {
        let mut v: Vec<(usize, String)> = findings.iter().map(|f| (f.line, f.rule.clone())).collect();
        v.sort();
        v
    }

    #[test]
    fn each_bad_fixture_fires_exactly_its_expected_rules() {
        let mut rules_seen = BTreeSet::new();
        let mut n = 0;
        for entry in std::fs::read_dir(fixtures().join("bad")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // The build-arg fixture needs its workflow: tested below.
            if !name.contains("Dockerfile") || name.contains("build-arg") {
                continue;
            }
            n += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            let want = expectations(&text);
            assert!(!want.is_empty(), "{name} has no `# expect-next:`");
            let findings = check(&name, &text);
            for f in &findings {
                assert_eq!(f.file, name);
                assert!(!f.message.is_empty());
            }
            assert_eq!(got(&findings), want, "{name}: {findings:#?}");
            rules_seen.extend(want.into_iter().map(|(_, r)| r));
        }
        assert!(n >= 3, "bad fixtures found: {n}");
        for rule in ["base-image", "cross-run"] {
            assert!(rules_seen.contains(rule), "no bad fixture for {rule}");
        }
    }

    #[test]
    fn good_fixtures_and_shipped_dockerfiles_are_quiet() {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(fixtures().join("good")).unwrap().map(|e| e.unwrap().path()).collect();
        for e in std::fs::read_dir(root().join("tools/docker")).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap().to_string_lossy().starts_with("Dockerfile") {
                files.push(p);
            }
        }
        assert!(files.len() >= 3, "{files:?}");
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let findings = check(&path.display().to_string(), &text);
            assert!(findings.is_empty(), "{}: {findings:#?}", path.display());
        }
    }

    #[test]
    fn shipped_cross_dockerfile_is_detected_as_cross() {
        for spec in crate::docker::images::IMAGES {
            let Some(cross) = spec.cross else {
                // Emulated images: no build-platform stage, so RUN in the final stage is fine.
                let df = Dockerfile::parse(&std::fs::read_to_string(root().join(spec.native)).unwrap());
                assert!(!df.has_buildplatform_stage() && !is_cross_name(spec.native), "{}", spec.native);
                continue;
            };
            let df = Dockerfile::parse(&std::fs::read_to_string(root().join(cross)).unwrap());
            assert!(df.has_buildplatform_stage() && is_cross_name(cross));
            let last = df.stages.len() - 1;
            assert!(!df.on_build_platform(last), "{cross}: final stage is on the target platform");
            assert!(df.on_build_platform(df.stage_ref("build", last).unwrap()));
        }
    }

    #[test]
    fn image_args_forms() {
        assert_eq!(image_args("${A}"), Some(vec!["A"]));
        assert_eq!(image_args("$A_1"), Some(vec!["A_1"]));
        assert_eq!(image_args("${A:-golang:1.19}"), Some(vec!["A"]));
        assert_eq!(image_args("${A-x}"), Some(vec!["A"]));
        assert_eq!(image_args("${A:+x}"), Some(vec!["A"]));
        assert_eq!(image_args("${REGISTRY}/dev:${TAG}"), Some(vec!["REGISTRY", "TAG"]));
        assert_eq!(image_args("$REG/dev:$TAG"), Some(vec!["REG", "TAG"]));
        assert_eq!(image_args("${A}:tag"), Some(vec!["A"]));
        assert_eq!(image_args("debian"), None);
        assert_eq!(image_args("debian:${TAG}"), None);
        assert_eq!(image_args("${A"), None);
        assert_eq!(image_args("${1A}"), None);
    }

    #[test]
    fn build_args_must_be_declared_where_passed() {
        let df = "ARG A\nFROM scratch\n";
        let read = |name: &str| (name == "D").then(|| df.to_owned());
        let passed = vec![
            PassedArg {
                name: "A".into(),
                file: "w.yml".into(),
                line: 3,
                by: "w".into(),
                dockerfiles: vec!["D".into()],
            },
            PassedArg {
                name: "B".into(),
                file: "w.yml".into(),
                line: 4,
                by: "w".into(),
                dockerfiles: vec!["D".into()],
            },
            PassedArg {
                name: "HTTP_PROXY".into(),
                file: "w.yml".into(),
                line: 5,
                by: "w".into(),
                dockerfiles: vec!["D".into()],
            },
            PassedArg { name: "A".into(), file: "x.rs".into(), line: 9, by: "x".into(), dockerfiles: vec!["E".into()] },
        ];
        let f = check_build_args(&passed, &read);
        let s: Vec<String> = f.iter().map(|f| f.to_string()).collect();
        assert_eq!(
            s,
            [
                "w.yml:4: build-arg: w passes `B` to D, which declares no `ARG B`",
                "x.rs:9: build-arg: x passes `A` to E, which does not exist",
            ]
        );
    }

    #[test]
    fn build_arg_fixture_lacks_what_the_workflow_passes() {
        let dir = fixtures().join("bad");
        let yaml = std::fs::read_to_string(dir.join("build-arg.workflow.yml")).unwrap();
        let df_name = "Dockerfile.build-arg";
        let text = std::fs::read_to_string(dir.join(df_name)).unwrap();
        let passed: Vec<PassedArg> = super::super::workflow::build_args_in_yaml(&yaml)
            .into_iter()
            .map(|a| PassedArg {
                name: a.name,
                file: "build-arg.workflow.yml".into(),
                line: a.line,
                by: "workflow".into(),
                dockerfiles: vec![df_name.into()],
            })
            .collect();
        let read = |_: &str| Some(text.clone());
        let f = check_build_args(&passed, &read);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].to_string().starts_with("build-arg.workflow.yml:13: build-arg: workflow passes `VERSION`"),
            "{}",
            f[0]
        );
        // The structural rules have nothing to say about it.
        assert!(check(df_name, &text).is_empty());
    }
}
