//! The `docker-container` builders this project makes (the e2e's, and the
//! one that stands in for `docker/setup-buildx-action` under `ci act`): one
//! BuildKit, one way to create a builder, one way to remove it.
//!
//! The BuildKit image is built by the e2e (`e2e::builder`) from
//! [`BUILDKIT_MODULE`]@[`BUILDKIT_VERSION`], since no `moby/buildkit` image
//! can be pulled here; [`image`] is its local tag.

use std::path::Path;

use anyhow::{ensure, Result};

use super::Docker;

/// The Go module of buildkitd and buildctl.
pub const BUILDKIT_MODULE: &str = "github.com/moby/buildkit";
/// Its pinned version (its `go.mod` asks for Go 1.24.3).
pub const BUILDKIT_VERSION: &str = "v0.26.3";

/// The local tag of the BuildKit image.
pub fn image() -> String {
    format!("xtask-e2e/buildkit:{BUILDKIT_VERSION}")
}

/// What a builder's state (its build cache) may hold: BuildKit's garbage
/// collection keeps it under this. One e2e run needs less, so a run never
/// loses its own cache to it.
pub const MAX_USED_SPACE: &str = "12GiB";

/// buildkitd's configuration: the loopback `registry` speaks plain HTTP;
/// the state is bounded by [`MAX_USED_SPACE`].
pub fn config(registry: &str) -> String {
    format!(
        "[registry.\"{registry}\"]\n  http = true\n  insecure = true\n\
         [worker.oci]\n  gc = true\n  maxUsedSpace = \"{MAX_USED_SPACE}\"\n"
    )
}

/// `docker buildx create`, as setup-buildx-action runs it, for `image`, on
/// the host network (so that the builder reaches the loopback registry).
pub fn create_args(name: &str, image: &str, config: &Path) -> Vec<String> {
    vec![
        "buildx".into(),
        "create".into(),
        "--name".into(),
        name.into(),
        "--driver".into(),
        "docker-container".into(),
        "--driver-opt".into(),
        format!("image={image},network=host"),
        "--buildkitd-config".into(),
        config.display().to_string(),
    ]
}

/// `docker buildx rm --force NAME`: the builder's container and its state.
pub fn remove(docker: &Docker, name: &str) -> Result<()> {
    let o = docker.output(&["buildx", "rm", "--force", name])?;
    ensure!(
        o.status.success(),
        "`docker buildx rm --force {name}` failed: {} (remove it by hand: its state holds build cache)",
        String::from_utf8_lossy(&o.stderr).trim()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_is_made_as_setup_buildx_action_makes_it() {
        let args = create_args("b", "xtask-e2e/buildkit:v1", Path::new("/w/buildkitd.toml"));
        assert_eq!(
            args.join(" "),
            "buildx create --name b --driver docker-container --driver-opt image=xtask-e2e/buildkit:v1,network=host \
             --buildkitd-config /w/buildkitd.toml"
        );
    }

    #[test]
    fn the_loopback_registry_is_plain_http() {
        let toml = config("127.0.0.1:5000");
        assert!(toml.starts_with("[registry.\"127.0.0.1:5000\"]\n"), "{toml}");
        assert!(toml.contains("http = true") && toml.contains("insecure = true"), "{toml}");
        assert!(toml.ends_with("[worker.oci]\n  gc = true\n  maxUsedSpace = \"12GiB\"\n"), "{toml}");
    }
}
