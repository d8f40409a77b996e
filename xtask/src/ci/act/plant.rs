//! `ci act --plant-failure IMAGE:PLATFORM`: a commit of the run's clone that
//! makes one image × platform's build fail, so that the run shows what
//! GitHub's semantics make of it: the other images still publish, and the
//! planted image's tags stay where they were (its other platforms' digests
//! are never merged).
//!
//! The failure is a last `RUN` appended to each of the image's Dockerfiles:
//! it fails for the planted platform only and says so in one line, which
//! the run then looks for in act's log.

use anyhow::{bail, ensure, Context, Result};

use super::Promise;
use crate::{
    docker::images::{self, ImageSpec},
    platform::Platform,
};

/// One planted failure, parsed from `IMAGE:PLATFORM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plant {
    pub image: &'static ImageSpec,
    pub platform: Platform,
}

impl Plant {
    /// `stack:linux/arm64`: an image of the table and one of its platforms.
    pub fn parse(s: &str) -> Result<Plant> {
        let Some((image, platform)) = s.split_once(':') else {
            bail!("--plant-failure {s:?}: expected IMAGE:PLATFORM, e.g. stack:linux/arm64");
        };
        let image = images::find(image).with_context(|| format!("--plant-failure {s:?}"))?;
        let platform = Platform::parse(platform).with_context(|| format!("--plant-failure {s:?}"))?;
        image.platforms_for(&[platform]).with_context(|| format!("--plant-failure {s:?}"))?;
        Ok(Plant { image, platform })
    }

    /// The line the failed build prints, found in act's log afterwards. The
    /// step's own text, which BuildKit logs for every platform with its
    /// arguments expanded, never holds it: printf assembles it.
    pub fn marker(&self) -> String {
        format!("planted failure of {} on {}", self.image.name, self.platform.docker())
    }

    /// The Dockerfile `text` with the failing step appended (pure).
    pub fn dockerfile(&self, text: &str) -> String {
        let mut out = text.trim_end().to_owned();
        out.push_str(&format!(
            "\n\n# Planted by `cargo xtask ci act --plant-failure {}:{}`.\nARG TARGETPLATFORM\n\
             RUN if [ \"$TARGETPLATFORM\" = \"{}\" ]; then printf 'planted %s of %s on %s\\n' failure {} \
             \"$TARGETPLATFORM\" >&2; exit 1; fi\n",
            self.image.name,
            self.platform.docker(),
            self.platform.docker(),
            self.image.name,
        ));
        out
    }

    /// The commit message of the clone's planting commit (without the marker).
    pub fn message(&self) -> String {
        format!("ci act --plant-failure {}:{}", self.image.name, self.platform.docker())
    }

    /// What the registry must hold after a run with this failure (pure):
    /// every tag of the planted image as before the run, the others'
    /// promises unchanged. Refused when no other image is promised a
    /// publish: the run would show nothing.
    pub fn promises(&self, promised: &[Promise]) -> Result<Vec<Promise>> {
        let planted = |repo: &str| repo.rsplit('/').next() == Some(self.image.name);
        ensure!(
            promised.iter().any(|p| planted(p.repo())),
            "--plant-failure {}: the run does not build {} (add it to --only, or choose an image the change \
             affects)",
            self.image.name,
            self.image.name
        );
        ensure!(
            promised.iter().any(|p| !planted(p.repo()) && matches!(p, Promise::Present { .. })),
            "--plant-failure {}: no other image of the run publishes, so the run would show nothing; name \
             another in --only (e.g. --only extproc,{})",
            self.image.name,
            self.image.name
        );
        Ok(promised
            .iter()
            .map(|p| match p {
                Promise::Present { repo, tag, .. } | Promise::SameAs { repo, tag, .. } if planted(repo) => {
                    Promise::Unchanged { repo: repo.clone(), tag: tag.clone() }
                }
                other => other.clone(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_what_is_wrong() {
        let p = Plant::parse("stack:linux/arm64").unwrap();
        assert_eq!((p.image.name, p.platform), ("stack", Platform::ARM64));
        assert_eq!(p.marker(), "planted failure of stack on linux/arm64");
        for (bad, why) in [
            ("stack", "expected IMAGE:PLATFORM"),
            ("nope:linux/arm64", "unknown image `nope`"),
            ("stack:linux/sparc", "sparc"),
            ("stack:linux/riscv64", "not built for linux/riscv64"),
        ] {
            let e = format!("{:#}", Plant::parse(bad).unwrap_err());
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn the_dockerfile_fails_for_the_planted_platform_only() {
        let p = Plant::parse("extproc:arm64").unwrap();
        let text = p.dockerfile("FROM scratch AS a\nFROM debian AS runtime\nCMD [\"x\"]\n\n");
        assert_eq!(
            text,
            "FROM scratch AS a\nFROM debian AS runtime\nCMD [\"x\"]\n\n\
             # Planted by `cargo xtask ci act --plant-failure extproc:linux/arm64`.\n\
             ARG TARGETPLATFORM\n\
             RUN if [ \"$TARGETPLATFORM\" = \"linux/arm64\" ]; then printf 'planted %s of %s on %s\\n' failure \
             extproc \"$TARGETPLATFORM\" >&2; exit 1; fi\n"
        );
    }

    #[test]
    fn the_planted_image_keeps_its_tags_and_the_others_publish() {
        let present = |repo: &str, tag: &str| Promise::Present {
            repo: repo.into(),
            tag: tag.into(),
            platforms: vec!["linux/amd64".into(), "linux/arm64".into()],
        };
        let latest = |repo: &str| Promise::SameAs { repo: repo.into(), tag: "latest".into(), same_as: "sha-1".into() };
        let unchanged = |repo: &str, tag: &str| Promise::Unchanged { repo: repo.into(), tag: tag.into() };
        let promised =
            [present("o/extproc", "sha-1"), latest("o/extproc"), present("o/stack", "sha-1"), latest("o/stack")];
        let p = Plant::parse("stack:linux/arm64").unwrap();
        assert_eq!(
            p.promises(&promised).unwrap(),
            [
                present("o/extproc", "sha-1"),
                latest("o/extproc"),
                unchanged("o/stack", "sha-1"),
                unchanged("o/stack", "latest")
            ]
        );
        let alone = format!("{:#}", p.promises(&promised[2..]).unwrap_err());
        assert!(alone.contains("no other image of the run publishes"), "{alone}");
        let absent = format!("{:#}", p.promises(&promised[..2]).unwrap_err());
        assert!(absent.contains("does not build stack"), "{absent}");
    }
}
