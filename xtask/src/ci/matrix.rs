//! The GitHub Actions build matrix: one entry per image × platform, from the
//! image table (pull requests: amd64 only).
//!
//! - **Which images**: all, or those a change affects: an image is affected
//!   when a changed path is one of its inputs (`ImageSpec::reads`) or when
//!   the image it is built FROM is affected (stack FROM extproc, precommit
//!   FROM dev).
//! - **Where**: `ImageSpec::runner`. Foreign platforms of an image with a
//!   `.cross` Dockerfile are cross-compiled on amd64 (no QEMU); images whose
//!   RUN steps must run on the target build arm64 on native arm64 runners,
//!   or under QEMU on amd64 (`qemu: true`) when arm64 runners are off.
//! - **When**: images built FROM another image of ours come in a later wave:
//!   the workflow builds and merges wave 0, then wave 1 against its tags.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::{
    docker::images::{ImageSpec, IMAGES},
    platform::Platform,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub image: String,
    pub platform: String,
    /// `extproc-linux-arm64`: for artifact and cache names.
    pub slug: String,
    pub dockerfile: String,
    pub runner: String,
    /// The build runs RUN steps of a foreign platform: set up QEMU first.
    pub qemu: bool,
    /// Build order: 0, or 1 + the wave of the image it is built FROM.
    pub wave: usize,
    /// The artifact with the xtask binary for the runner (`xtask-linux-arm64`).
    pub xtask: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Matrix {
    pub include: Vec<Entry>,
}

impl Matrix {
    /// The images of the matrix, in table order, once each.
    pub fn images(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in &self.include {
            if !out.contains(&e.image) {
                out.push(e.image.clone());
            }
        }
        out
    }
}

/// The name of the artifact that holds xtask built for `p`.
pub fn xtask_artifact(p: Platform) -> String {
    format!("xtask-{}", p.dir_name())
}

/// The images `changed` affects, in table order (`None`: every image).
pub fn affected(changed: Option<&[String]>) -> Vec<&'static ImageSpec> {
    let Some(changed) = changed else { return IMAGES.iter().collect() };
    let mut hit: Vec<&'static str> =
        IMAGES.iter().filter(|s| changed.iter().any(|p| s.reads(p))).map(|s| s.name).collect();
    // Images built FROM an affected image are affected (the table lists a
    // base before the images built FROM it, so one pass in order suffices).
    for spec in IMAGES {
        if let Some((_, base)) = spec.from {
            if hit.contains(&base) && !hit.contains(&spec.name) {
                hit.push(spec.name);
            }
        }
    }
    IMAGES.iter().filter(|s| hit.contains(&s.name)).collect()
}

/// The matrix of `images` for `platforms`, of every wave (`None`) or of one.
pub fn matrix_of(
    images: &[&'static ImageSpec],
    platforms: &[Platform],
    wave: Option<usize>,
    arm64_qemu: bool,
) -> Matrix {
    let mut include = Vec::new();
    for spec in images {
        if wave.is_some_and(|w| w != spec.wave()) {
            continue;
        }
        for &p in spec.platforms.iter().filter(|p| platforms.contains(p)) {
            let (runner, build) = spec.runner(p, arm64_qemu);
            include.push(Entry {
                image: spec.name.into(),
                platform: p.docker().into(),
                slug: format!("{}-{}", spec.name, p.dir_name()),
                dockerfile: spec.dockerfile(p == build).into(),
                runner: runner.into(),
                qemu: spec.emulated(p, build),
                wave: spec.wave(),
                xtask: xtask_artifact(build),
            });
        }
    }
    Matrix { include }
}

/// The matrix of every image (pull requests: amd64 only).
pub fn matrix(pr: bool, wave: Option<usize>, changed: Option<&[String]>, arm64_qemu: bool) -> Matrix {
    let platforms: &[Platform] = if pr { &[Platform::AMD64] } else { &Platform::ALL };
    matrix_of(&affected(changed), platforms, wave, arm64_qemu)
}

/// The last build wave of the table.
pub fn last_wave() -> usize {
    IMAGES.iter().map(|s| s.wave()).max().unwrap_or(0)
}

/// `git diff --name-only BASE...HEAD` in `dir`: the files a branch changed
/// since it left BASE.
pub fn changed_since(sh: &xshell::Shell, base: &str) -> Result<Vec<String>> {
    if base.is_empty() || base.starts_with('-') {
        bail!("--base `{}`: not a git revision", crate::docker::reference::shown(base));
    }
    let range = format!("{base}...HEAD");
    let out = xshell::cmd!(sh, "git diff --name-only {range}")
        .quiet()
        .read()
        .with_context(|| format!("`git diff --name-only {range}` failed (is {base} fetched? fetch-depth: 0)"))?;
    Ok(out.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(m: &Matrix) -> Vec<String> {
        m.include.iter().map(|e| format!("{} {} {} {}", e.image, e.platform, e.runner, e.qemu)).collect()
    }

    #[test]
    fn push_and_pr_matrices() {
        let wave0 = serde_json::to_string(&matrix(false, Some(0), None, false)).unwrap();
        assert_eq!(
            wave0,
            r#"{"include":[{"image":"extproc","platform":"linux/amd64","slug":"extproc-linux-amd64","dockerfile":"tools/docker/Dockerfile.extproc","runner":"ubuntu-24.04","qemu":false,"wave":0,"xtask":"xtask-linux-amd64"},{"image":"extproc","platform":"linux/arm64","slug":"extproc-linux-arm64","dockerfile":"tools/docker/Dockerfile.extproc.cross","runner":"ubuntu-24.04","qemu":false,"wave":0,"xtask":"xtask-linux-amd64"},{"image":"extproc","platform":"linux/riscv64","slug":"extproc-linux-riscv64","dockerfile":"tools/docker/Dockerfile.extproc.cross","runner":"ubuntu-24.04","qemu":false,"wave":0,"xtask":"xtask-linux-amd64"},{"image":"dev","platform":"linux/amd64","slug":"dev-linux-amd64","dockerfile":"tools/docker/Dockerfile","runner":"ubuntu-24.04","qemu":false,"wave":0,"xtask":"xtask-linux-amd64"},{"image":"dev","platform":"linux/arm64","slug":"dev-linux-arm64","dockerfile":"tools/docker/Dockerfile","runner":"ubuntu-24.04-arm","qemu":false,"wave":0,"xtask":"xtask-linux-arm64"}]}"#
        );
        assert_eq!(
            names(&matrix(false, Some(1), None, false)),
            [
                "precommit linux/amd64 ubuntu-24.04 false",
                "precommit linux/arm64 ubuntu-24.04-arm false",
                "stack linux/amd64 ubuntu-24.04 false",
                "stack linux/arm64 ubuntu-24.04-arm false"
            ]
        );
        // Without arm64 runners: QEMU on amd64.
        assert_eq!(
            names(&matrix(false, Some(1), None, true)),
            [
                "precommit linux/amd64 ubuntu-24.04 false",
                "precommit linux/arm64 ubuntu-24.04 true",
                "stack linux/amd64 ubuntu-24.04 false",
                "stack linux/arm64 ubuntu-24.04 true"
            ]
        );
        assert_eq!(matrix(false, None, None, false).include.len(), 9); // 4 images × 2 platforms + extproc for riscv64
        assert!(matrix(false, Some(2), None, false).include.is_empty());
        let pr = matrix(true, None, None, false);
        assert_eq!(pr.include.len(), 4);
        assert!(pr.include.iter().all(|e| e.platform == "linux/amd64" && !e.qemu && e.runner == "ubuntu-24.04"));
        assert_eq!(pr.images(), ["extproc", "dev", "precommit", "stack"]);
    }

    #[test]
    fn affected_images() {
        let of = |files: &[&str]| -> Vec<&str> {
            let files: Vec<String> = files.iter().map(|f| f.to_string()).collect();
            affected(Some(&files)).iter().map(|s| s.name).collect()
        };
        assert_eq!(of(&["candle-binding/src/lib.rs"]), ["extproc", "stack"]);
        // The router's Go modules are inputs of every image that holds the router.
        assert_eq!(of(&["src/semantic-router/go.sum"]), ["extproc", "stack"]);
        assert_eq!(of(&["src/semantic-router/go.mod"]), ["extproc", "stack"]);
        assert_eq!(of(&["tools/docker/Dockerfile.precommit"]), ["precommit"]);
        assert!(of(&["README.md"]).is_empty());
        assert!(of(&[]).is_empty());
        assert_eq!(of(&["tools/docker/Dockerfile"]), ["dev", "precommit"]);
        assert_eq!(of(&["tools/docker/stack/prometheus.yml"]), ["stack"]);
        assert_eq!(of(&["xtask/src/main.rs"]), ["extproc", "dev", "precommit", "stack"]);
        assert_eq!(of(&["Cargo.lock", "README.md"]), ["extproc", "dev", "precommit", "stack"]);
        assert_eq!(of(&[".github/workflows/docker-images.yml"]).len(), 4);
        assert_eq!(of(&["src/semantic-router/pkg/server/server.go", "tools/docker/README.md"]), ["extproc", "stack"]);
        assert_eq!(affected(None).len(), IMAGES.len());
    }
}
