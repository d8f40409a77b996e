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
    pub cross: &'static str,
    /// The platforms the image is published for.
    pub platforms: &'static [Platform],
    pub about: &'static str,
}

pub const IMAGES: &[ImageSpec] = &[ImageSpec {
    name: "extproc",
    native: "tools/docker/Dockerfile.extproc",
    cross: "tools/docker/Dockerfile.extproc.cross",
    platforms: &[Platform::AMD64, Platform::ARM64],
    about: "the semantic router (Go) with libcandle_semantic_router.so",
}];

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
    /// Parse the requested platforms (empty: the host) and check that the image supports them.
    pub fn platforms_for(&self, requested: &[String]) -> Result<Vec<Platform>> {
        let list = Platform::parse_list(requested)?;
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
    fn unknown_image_lists_the_known_ones() {
        let err = find("nginx").unwrap_err().to_string();
        assert!(err.starts_with("unknown image `nginx`; known images: extproc"), "{err}");
        assert_eq!(err.lines().count(), 1);
        assert_eq!(find("extproc").unwrap().name, "extproc");
    }

    #[test]
    fn every_dockerfile_exists_and_names_are_unique() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for (i, spec) in IMAGES.iter().enumerate() {
            assert!(root.join(spec.native).is_file(), "{}", spec.native);
            assert!(root.join(spec.cross).is_file(), "{}", spec.cross);
            assert!(IMAGES[..i].iter().all(|o| o.name != spec.name));
        }
    }
}
