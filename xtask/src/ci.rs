//! `cargo xtask ci matrix [--pr]`: the GitHub Actions build matrix.
//!
//! One entry per image × platform (pull requests: the host platform, amd64,
//! only). Every platform builds on an amd64 runner: foreign platforms are
//! cross-compiled by the `.cross` Dockerfile, so no QEMU is involved.

use anyhow::Result;
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
}

#[derive(Debug, Serialize)]
pub struct Matrix {
    pub include: Vec<Entry>,
}

/// The runner every build job uses.
pub const RUNNER: &str = "ubuntu-latest";
/// The runner's platform (the build platform of every job).
pub const RUNNER_PLATFORM: Platform = Platform::AMD64;

pub fn matrix(pr: bool) -> Matrix {
    let mut include = Vec::new();
    for spec in IMAGES {
        for &p in spec.platforms {
            if pr && p != RUNNER_PLATFORM {
                continue;
            }
            let dockerfile = if p == RUNNER_PLATFORM { spec.native } else { spec.cross };
            include.push(Entry {
                image: spec.name.into(),
                platform: p.docker().into(),
                slug: format!("{}-{}", spec.name, p.dir_name()),
                dockerfile: dockerfile.into(),
                runner: RUNNER.into(),
            });
        }
    }
    Matrix { include }
}

impl flags::Ci {
    pub fn run(self, _ctx: &Ctx) -> Result<()> {
        match self.cmd {
            flags::CiCmd::Matrix(m) => {
                println!("{}", serde_json::to_string(&matrix(m.pr))?);
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
        let push = serde_json::to_string(&matrix(false)).unwrap();
        assert_eq!(
            push,
            r#"{"include":[{"image":"extproc","platform":"linux/amd64","slug":"extproc-linux-amd64","dockerfile":"tools/docker/Dockerfile.extproc","runner":"ubuntu-latest"},{"image":"extproc","platform":"linux/arm64","slug":"extproc-linux-arm64","dockerfile":"tools/docker/Dockerfile.extproc.cross","runner":"ubuntu-latest"}]}"#
        );
        let pr = matrix(true);
        assert_eq!(pr.include.len(), 1);
        assert_eq!(pr.include[0].platform, "linux/amd64");
    }
}
