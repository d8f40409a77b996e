//! `cargo xtask ci matrix [--pr] [--wave N]`: the GitHub Actions build matrix.
//!
//! One entry per image × platform (pull requests: the host platform, amd64,
//! only). Every platform builds on an amd64 runner: foreign platforms are
//! cross-compiled by the `.cross` Dockerfile where the image has one (no
//! QEMU); the others (`qemu: true`) run their RUN steps under QEMU.
//!
//! Images built FROM another image of ours (precommit FROM dev, stack FROM
//! extproc) come in a later wave: the workflow builds and merges wave 0, then
//! wave 1 against wave 0's tags.

use anyhow::{bail, Result};
use serde::Serialize;

use crate::{docker::images::IMAGES, flags, platform::Platform, Ctx};

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Entry {
    pub image: String,
    pub platform: String,
    /// `linux-arm64`: for artifact and cache names.
    pub slug: String,
    pub dockerfile: String,
    pub runner: String,
    /// The build runs RUN steps of a foreign platform: set up QEMU first.
    pub qemu: bool,
    /// Build order: 0, or 1 + the wave of the image it is built FROM.
    pub wave: usize,
}

#[derive(Debug, Serialize)]
pub struct Matrix {
    pub include: Vec<Entry>,
}

/// The runner every build job uses.
pub const RUNNER: &str = "ubuntu-latest";
/// The runner's platform (the build platform of every job).
pub const RUNNER_PLATFORM: Platform = Platform::AMD64;

/// The matrix of every wave (`None`) or of one.
pub fn matrix(pr: bool, wave: Option<usize>) -> Matrix {
    let mut include = Vec::new();
    for spec in IMAGES {
        if wave.is_some_and(|w| w != spec.wave()) {
            continue;
        }
        for &p in spec.platforms {
            if pr && p != RUNNER_PLATFORM {
                continue;
            }
            include.push(Entry {
                image: spec.name.into(),
                platform: p.docker().into(),
                slug: format!("{}-{}", spec.name, p.dir_name()),
                dockerfile: spec.dockerfile(p == RUNNER_PLATFORM).into(),
                runner: RUNNER.into(),
                qemu: spec.emulated(p, RUNNER_PLATFORM),
                wave: spec.wave(),
            });
        }
    }
    Matrix { include }
}

impl flags::Ci {
    pub fn run(self, _ctx: &Ctx) -> Result<()> {
        match self.cmd {
            flags::CiCmd::Matrix(m) => {
                let last = IMAGES.iter().map(|s| s.wave()).max().unwrap_or(0);
                if let Some(w) = m.wave.filter(|w| *w > last) {
                    bail!("--wave {w}: the waves are 0 to {last}");
                }
                println!("{}", serde_json::to_string(&matrix(m.pr, m.wave))?);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_pr_matrices() {
        let wave0 = serde_json::to_string(&matrix(false, Some(0))).unwrap();
        assert_eq!(
            wave0,
            r#"{"include":[{"image":"extproc","platform":"linux/amd64","slug":"extproc-linux-amd64","dockerfile":"tools/docker/Dockerfile.extproc","runner":"ubuntu-latest","qemu":false,"wave":0},{"image":"extproc","platform":"linux/arm64","slug":"extproc-linux-arm64","dockerfile":"tools/docker/Dockerfile.extproc.cross","runner":"ubuntu-latest","qemu":false,"wave":0},{"image":"extproc","platform":"linux/riscv64","slug":"extproc-linux-riscv64","dockerfile":"tools/docker/Dockerfile.extproc.cross","runner":"ubuntu-latest","qemu":false,"wave":0},{"image":"dev","platform":"linux/amd64","slug":"dev-linux-amd64","dockerfile":"tools/docker/Dockerfile","runner":"ubuntu-latest","qemu":false,"wave":0},{"image":"dev","platform":"linux/arm64","slug":"dev-linux-arm64","dockerfile":"tools/docker/Dockerfile","runner":"ubuntu-latest","qemu":true,"wave":0}]}"#
        );
        let wave1 = matrix(false, Some(1));
        let names: Vec<(&str, &str, bool)> =
            wave1.include.iter().map(|e| (e.image.as_str(), e.platform.as_str(), e.qemu)).collect();
        assert_eq!(
            names,
            [
                ("precommit", "linux/amd64", false),
                ("precommit", "linux/arm64", true),
                ("stack", "linux/amd64", false),
                ("stack", "linux/arm64", true)
            ]
        );
        assert_eq!(matrix(false, None).include.len(), 9);
        assert!(matrix(false, Some(2)).include.is_empty());
        let pr = matrix(true, None);
        assert_eq!(pr.include.len(), 4);
        assert!(pr.include.iter().all(|e| e.platform == "linux/amd64" && !e.qemu));
    }
}
