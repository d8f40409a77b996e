//! The table of images `cargo xtask docker` knows. Add a row to add an image.
//!
//! Each row also says what the image is built from in the repository (its
//! `inputs`, besides its Dockerfiles), so that `cargo xtask ci matrix
//! --changed` builds only the images a change affects, and where each
//! platform builds (its runner; see [`ImageSpec::runner`]).

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
    /// The stages of the native Dockerfile that run on the target platform
    /// (under QEMU for a foreign one) and may have RUNs: package installs
    /// only, nothing compiled. Every other stage with a RUN runs on
    /// `$BUILDPLATFORM` (`cargo xtask lint`: `target-stage`,
    /// `emulated-compile`). Empty for an image with a cross Dockerfile: it
    /// runs no RUN on the target platform at all (`cross-run`).
    pub target_stages: &'static [&'static str],
    /// The `ARG`s naming base images, replaceable with `--build-arg` (e.g. by
    /// the e2e test with local images).
    pub base_args: &'static [&'static str],
    /// Built FROM another image of this table: (its `ARG`, that image). With
    /// `--registry R`, `cargo xtask docker` passes `ARG=R/<image>:<base tag>`.
    pub from: Option<(&'static str, &'static str)>,
    /// What the image's build reads from the repository besides its
    /// Dockerfiles: files, or directories ending in `/`. A change to one of
    /// them (or to the image it is built FROM) rebuilds the image in CI.
    pub inputs: &'static [&'static str],
    pub about: &'static str,
}

/// Inputs of every image: the build context's filter and the workflows
/// that build them (a change to those is tested on every image).
pub const COMMON_INPUTS: &[&str] = &[
    ".dockerignore",
    ".github/workflows/docker-publish.yml",
    ".github/workflows/docker-images.yml",
    ".github/workflows/docker-tags.yml",
];

/// What the stage that compiles xtask reads (every Dockerfile has one, or
/// runs xtask from its base image).
const XTASK: [&str; 5] = ["xtask/", "Cargo.toml", "Cargo.lock", ".cargo/", "candle-binding/Cargo.toml"];

/// The GitHub runner of amd64 builds (and of emulated arm64 builds).
pub const RUNNER_AMD64: &str = "ubuntu-24.04";
/// The native arm64 GitHub runner.
pub const RUNNER_ARM64: &str = "ubuntu-24.04-arm";

const BOTH: &[Platform] = &[Platform::AMD64, Platform::ARM64];

pub const IMAGES: &[ImageSpec] = &[
    ImageSpec {
        name: "extproc",
        native: "tools/docker/Dockerfile.extproc",
        cross: Some("tools/docker/Dockerfile.extproc.cross"),
        platforms: &[Platform::AMD64, Platform::ARM64, Platform::RISCV64],
        target_stages: &[],
        base_args: &["BUILDER_IMAGE", "RUNTIME_IMAGE"],
        from: None,
        inputs: &[XTASK[0], XTASK[1], XTASK[2], XTASK[3], "candle-binding/", "src/"],
        about: "the semantic router (Go) with libcandle_semantic_router.so",
    },
    ImageSpec {
        name: "dev",
        native: "tools/docker/Dockerfile",
        cross: None,
        platforms: BOTH,
        // `xtask doctor --fix --dev`: apt/dnf, rustup's binaries, wheels.
        target_stages: &["dev"],
        base_args: &["BASE_IMAGE", "BUILDER_IMAGE"],
        from: None,
        inputs: &XTASK,
        about: "development base: Rust (both std), Go, cross C toolchains, qemu-user, hf CLI, xtask",
    },
    ImageSpec {
        name: "precommit",
        native: "tools/docker/Dockerfile.precommit",
        cross: None,
        platforms: BOTH,
        // `xtask lint --install-only` (packages, wheels, npm) and
        // `xtask docker warm-lint`, which compiles only natively.
        target_stages: &["precommit"],
        base_args: &["DEV_IMAGE"],
        from: Some(("DEV_IMAGE", "dev")),
        // The dependency skeleton: the manifests, not the sources.
        inputs: &["Cargo.toml", "Cargo.lock", ".cargo/", "candle-binding/Cargo.toml", "xtask/Cargo.toml"],
        about: "every linter of `cargo xtask lint`; runs it on the repository mounted at /src",
    },
    ImageSpec {
        name: "stack",
        native: "tools/docker/Dockerfile.stack",
        cross: None,
        platforms: BOTH,
        // apt-get: supervisor and Prometheus.
        target_stages: &["stack"],
        base_args: &["EXTPROC_IMAGE"],
        from: Some(("EXTPROC_IMAGE", "extproc")),
        inputs: &["tools/docker/stack/"],
        about: "router + dashboard + Prometheus under supervisord (ports 8080, 9090)",
    },
];

/// The image called `name`, or one error listing the known images.
pub fn find(name: &str) -> Result<&'static ImageSpec> {
    match IMAGES.iter().find(|i| i.name == name) {
        Some(spec) => Ok(spec),
        None => {
            let known: Vec<String> = IMAGES.iter().map(|i| format!("{} ({})", i.name, i.about)).collect();
            bail!("unknown image `{}`; known images: {}", super::reference::shown(name), known.join(", "))
        }
    }
}

impl ImageSpec {
    /// Build arguments a platform needs beyond the Dockerfile's defaults:
    /// a platform whose first Debian release is newer than Debian 12 (the
    /// defaults' `debian:bookworm-slim`, which has no riscv64 image) runs on
    /// that release's slim image.
    pub fn platform_args(&self, p: Platform) -> Vec<(String, String)> {
        let (version, codename) = p.debian();
        if version > 12 && self.base_args.contains(&"RUNTIME_IMAGE") {
            vec![("RUNTIME_IMAGE".into(), format!("debian:{codename}-slim"))]
        } else {
            Vec::new()
        }
    }

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

    /// The image whose Dockerfile `file` builds foreign platforms under
    /// QEMU (its target-platform stages are [`ImageSpec::target_stages`]).
    pub fn emulated_by(file: &str) -> Option<&'static ImageSpec> {
        IMAGES.iter().find(|s| s.cross.is_none() && s.native == file)
    }

    /// Whether `file` is a native Dockerfile of an image that has a cross
    /// one: it only ever builds the build machine's own platform.
    pub fn native_only(file: &str) -> bool {
        IMAGES.iter().any(|s| s.cross.is_some() && s.native == file)
    }

    /// Whether building `platform` on `build` runs RUN steps under QEMU.
    pub fn emulated(&self, platform: Platform, build: Platform) -> bool {
        platform != build && self.cross.is_none()
    }

    /// The runner that builds `platform` and its own platform. An image with
    /// a cross Dockerfile builds every platform on amd64 without QEMU; one
    /// whose RUN steps must run on the target builds arm64 on a native arm64
    /// runner, or, with `arm64_qemu`, on amd64 under QEMU.
    pub fn runner(&self, platform: Platform, arm64_qemu: bool) -> (&'static str, Platform) {
        if platform == Platform::ARM64 && self.cross.is_none() && !arm64_qemu {
            (RUNNER_ARM64, Platform::ARM64)
        } else {
            (RUNNER_AMD64, Platform::AMD64)
        }
    }

    /// Whether a change to `path` (relative to the repository root) is an
    /// input of this image itself (not of the image it is built FROM).
    pub fn reads(&self, path: &str) -> bool {
        let path = path.trim_start_matches("./");
        self.files().contains(&path)
            || self.inputs.iter().chain(COMMON_INPUTS).any(|i| match i.strip_suffix('/') {
                Some(dir) => path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/')),
                None => path == *i,
            })
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
                    // Base images are printed as they are (not redacted).
                    assert!(crate::engine::safe_build_arg(arg), "{}: base ARG {arg} must end in _IMAGE", spec.name);
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
    fn target_stages_are_package_installs_of_emulated_images() {
        for spec in IMAGES {
            if spec.cross.is_some() {
                assert!(spec.target_stages.is_empty(), "{}: a cross image runs no RUN on the target", spec.name);
            }
        }
        assert_eq!(ImageSpec::emulated_by("tools/docker/Dockerfile").unwrap().name, "dev");
        assert!(ImageSpec::emulated_by("tools/docker/Dockerfile.extproc").is_none());
        assert!(ImageSpec::native_only("tools/docker/Dockerfile.extproc"));
        assert!(!ImageSpec::native_only("tools/docker/Dockerfile.extproc.cross"));
        assert!(!ImageSpec::native_only("tools/docker/Dockerfile"));
    }

    #[test]
    fn every_input_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for spec in IMAGES {
            for input in spec.inputs.iter().chain(COMMON_INPUTS) {
                let p = root.join(input.trim_end_matches('/'));
                assert!(if input.ends_with('/') { p.is_dir() } else { p.is_file() }, "{}: {input}", spec.name);
            }
        }
    }

    #[test]
    fn inputs_and_runners() {
        let extproc = find("extproc").unwrap();
        assert!(extproc.reads("candle-binding/src/lib.rs") && extproc.reads("./src/semantic-router/go.mod"));
        assert!(extproc.reads("tools/docker/Dockerfile.extproc.cross") && extproc.reads(".dockerignore"));
        assert!(!extproc.reads("candle-binding") && !extproc.reads("srcx/a") && !extproc.reads("README.md"));
        let precommit = find("precommit").unwrap();
        assert!(precommit.reads("xtask/Cargo.toml") && !precommit.reads("xtask/src/main.rs"));
        assert_eq!(extproc.runner(Platform::ARM64, false), (RUNNER_AMD64, Platform::AMD64));
        let dev = find("dev").unwrap();
        assert_eq!(dev.runner(Platform::ARM64, false), (RUNNER_ARM64, Platform::ARM64));
        assert_eq!(dev.runner(Platform::ARM64, true), (RUNNER_AMD64, Platform::AMD64));
        assert_eq!(dev.runner(Platform::AMD64, false), (RUNNER_AMD64, Platform::AMD64));
    }

    /// The dependency cook must not see `CARGO_BUILD_JOBS` (a PR passes 8, a
    /// push 20): an ARG in scope is part of a RUN's cache key, so PRs would
    /// never reuse main's dependency layer.
    #[test]
    fn the_job_count_is_not_in_scope_of_the_cook() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for spec in IMAGES {
            for file in spec.files() {
                let text = std::fs::read_to_string(root.join(file)).unwrap();
                let lines: Vec<&str> = text.lines().map(str::trim).collect();
                let Some(cook) = lines.iter().position(|l| l.contains("precache cook")) else { continue };
                // The stage the cook runs in: from its FROM to the cook.
                let stage = lines[..cook].iter().rposition(|l| l.starts_with("FROM ")).unwrap();
                let in_scope = lines[stage..cook].iter().any(|l| l.starts_with("ARG CARGO_BUILD_JOBS"));
                assert!(!in_scope, "{file}: ARG CARGO_BUILD_JOBS is declared before the cook");
                let after = lines[cook..].iter().any(|l| l.starts_with("ARG CARGO_BUILD_JOBS"));
                assert!(after, "{file}: the build after the cook must still take CARGO_BUILD_JOBS");
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
