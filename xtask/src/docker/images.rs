//! The table of images `cargo xtask docker` knows. Add a row to add an image.

use anyhow::{bail, Result};

use crate::platform::Platform;

/// One buildable image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSpec {
    /// The name used on the command line and in the registry (`<registry>/<name>`).
    pub name: &'static str,
    /// Dockerfile for one platform built natively (the PR fast path), relative to the context.
    pub native: &'static str,
    /// Dockerfile whose builder stages run on `$BUILDPLATFORM` and cross-compile.
    /// `None`: a foreign platform builds the native Dockerfile under QEMU
    /// emulation (its RUN steps install distro packages of that platform).
    pub cross: Option<&'static str>,
    /// The platforms the image is published for.
    pub platforms: &'static [Platform],
    /// The `ARG`s naming base images, replaceable with `--build-arg` (e.g. by
    /// the e2e test with local images).
    pub base_args: &'static [&'static str],
    /// Built FROM another image of this table: (its `ARG`, that image). With
    /// `--registry R`, `cargo xtask docker` passes `ARG=R/<image>:<base tag>`.
    pub from: Option<(&'static str, &'static str)>,
    pub about: &'static str,
}

const BOTH: &[Platform] = &[Platform::AMD64, Platform::ARM64];

pub const IMAGES: &[ImageSpec] = &[
    ImageSpec {
        name: "extproc",
        native: "tools/docker/Dockerfile.extproc",
        cross: Some("tools/docker/Dockerfile.extproc.cross"),
        platforms: &[Platform::AMD64, Platform::ARM64, Platform::RISCV64],
        base_args: &["BUILDER_IMAGE", "RUNTIME_IMAGE"],
        from: None,
        about: "the semantic router (Go) with libcandle_semantic_router.so",
    },
    ImageSpec {
        name: "dev",
        native: "tools/docker/Dockerfile",
        cross: None,
        platforms: BOTH,
        base_args: &["BASE_IMAGE", "BUILDER_IMAGE"],
        from: None,
        about: "development base: Rust (both std), Go, cross C toolchains, qemu-user, hf CLI, xtask",
    },
    ImageSpec {
        name: "precommit",
        native: "tools/docker/Dockerfile.precommit",
        cross: None,
        platforms: BOTH,
        base_args: &["DEV_IMAGE"],
        from: Some(("DEV_IMAGE", "dev")),
        about: "every linter of `cargo xtask lint`; runs it on the repository mounted at /src",
    },
    ImageSpec {
        name: "stack",
        native: "tools/docker/Dockerfile.stack",
        cross: None,
        platforms: BOTH,
        base_args: &["EXTPROC_IMAGE"],
        from: Some(("EXTPROC_IMAGE", "extproc")),
        about: "router + dashboard + Prometheus under supervisord (ports 8080, 9090)",
    },
];

/// The image called `name`, or one error listing the known images.
pub fn find(name: &str) -> Result<&'static ImageSpec> {
    match IMAGES.iter().find(|i| i.name == name) {
        Some(spec) => Ok(spec),
        None => {
            let known: Vec<String> = IMAGES.iter().map(|i| format!("{} ({})", i.name, i.about)).collect();
            bail!("unknown image `{name}`; known images: {}", known.join(", "))
        }
    }
}

impl ImageSpec {
    /// Every Dockerfile of the image.
    pub fn files(&self) -> Vec<&'static str> {
        std::iter::once(self.native).chain(self.cross).collect()
    }

    /// The Dockerfile that builds `platform` on `host` (`native`: the PR fast
    /// path or a host-only build).
    pub fn dockerfile(&self, native: bool) -> &'static str {
        if native {
            self.native
        } else {
            self.cross.unwrap_or(self.native)
        }
    }

    /// Whether building `platform` on `build` runs RUN steps under QEMU.
    pub fn emulated(&self, platform: Platform, build: Platform) -> bool {
        platform != build && self.cross.is_none()
    }

    /// The images this one is built FROM, in build order (the waves of CI).
    pub fn wave(&self) -> usize {
        match self.from {
            Some((_, base)) => find(base).map(|b| b.wave() + 1).unwrap_or(0),
            None => 0,
        }
    }

    /// Parse the requested platforms (empty: the host) and check that the image supports them.
    pub fn platforms_for(&self, requested: &[Platform]) -> Result<Vec<Platform>> {
        let list = Platform::or_host(requested)?;
        for p in &list {
            if !self.platforms.contains(p) {
                let known: Vec<&str> = self.platforms.iter().map(|p| p.docker()).collect();
                bail!("image `{}` is not built for {p}; its platforms: {}", self.name, known.join(", "));
            }
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_names_every_image() {
        use clap::CommandFactory;
        let mut cmd = crate::flags::Xtask::command();
        let help = cmd.find_subcommand_mut("docker").unwrap().render_help().to_string();
        for image in IMAGES {
            assert!(help.contains(&format!("`{}`", image.name)), "{} is not in:\n{help}", image.name);
        }
    }

    #[test]
    fn unknown_image_lists_the_known_ones() {
        let err = find("nginx").unwrap_err().to_string();
        assert!(err.starts_with("unknown image `nginx`; known images: extproc ("), "{err}");
        for name in ["dev", "precommit", "stack"] {
            assert!(err.contains(&format!(", {name} (")), "{err}");
        }
        assert_eq!(err.lines().count(), 1);
        assert_eq!(find("extproc").unwrap().name, "extproc");
    }

    #[test]
    fn every_dockerfile_exists_and_names_are_unique() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for (i, spec) in IMAGES.iter().enumerate() {
            for file in spec.files() {
                assert!(root.join(file).is_file(), "{file}");
                let declared =
                    super::super::dockerfile::DeclaredArgs::parse(&std::fs::read_to_string(root.join(file)).unwrap());
                for arg in spec.base_args {
                    assert!(declared.contains(arg), "{file} lacks ARG {arg}");
                }
            }
            assert!(IMAGES[..i].iter().all(|o| o.name != spec.name));
            if let Some((arg, base)) = spec.from {
                assert!(spec.base_args.contains(&arg), "{}: {arg}", spec.name);
                assert!(IMAGES[..i].iter().any(|o| o.name == base), "{} needs {base} listed before it", spec.name);
            }
        }
    }

    #[test]
    fn waves_and_dockerfiles() {
        let wave = |n: &str| find(n).unwrap().wave();
        assert_eq!((wave("extproc"), wave("dev"), wave("precommit"), wave("stack")), (0, 0, 1, 1));
        let extproc = find("extproc").unwrap();
        assert_eq!(extproc.dockerfile(false), "tools/docker/Dockerfile.extproc.cross");
        assert!(!extproc.emulated(Platform::ARM64, Platform::AMD64));
        let stack = find("stack").unwrap();
        assert_eq!(stack.dockerfile(false), "tools/docker/Dockerfile.stack");
        assert!(stack.emulated(Platform::ARM64, Platform::AMD64) && !stack.emulated(Platform::AMD64, Platform::AMD64));
        assert_eq!(stack.files(), ["tools/docker/Dockerfile.stack"]);
    }
}
