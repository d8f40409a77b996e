//! The buildx builder CI uses, made on this machine: a `docker-container`
//! builder (what `docker/setup-buildx-action` creates) whose BuildKit image
//! is ours, since no `moby/buildkit` image can be pulled here.
//!
//! - buildkitd and buildctl are built from the pinned Go module
//!   [`BUILDKIT_MODULE`]@[`BUILDKIT_VERSION`] on the host, natively (no
//!   emulation): `go mod download` the module, then `go build` in its
//!   directory of the module cache, where its `go.mod` (and its replace
//!   directives) is the main module's. Its `go` line is 1.24.3, which
//!   Debian 13's Go 1.24 (what `doctor --fix` installs on Debian 12) builds
//!   as it is; an older Go fetches that toolchain from the module proxy
//!   (`GOTOOLCHAIN=auto`, the go command's default). The Go build cache
//!   makes a rebuild of the same version a link.
//! - the image: the host's debootstrapped Debian base ([`super::base_image`]),
//!   Debian's `runc` installed by apt (`--network host`, to reach the
//!   mirror), the two binaries, `ENTRYPOINT ["buildkitd"]`.
//! - the builder: `docker buildx create --driver docker-container
//!   --driver-opt image=<ours>,network=host --buildkitd-config <toml>`, the
//!   host network so that it reaches the loopback registry, which the
//!   configuration marks as plain HTTP. It is kept between runs (its state
//!   is a warm build cache) and made again when its image or configuration
//!   changes.

use std::{
    fs,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{bail, ensure, Context, Result};
use xshell::{cmd, Shell};

use crate::engine::{
    buildx::{self, create_args, remove, BUILDKIT_MODULE, BUILDKIT_VERSION},
    parse_driver, Docker,
};

/// The builder's name (`docker buildx ls`).
pub const BUILDER: &str = "xtask-e2e";

/// The BuildKit image's Dockerfile, written next to the binaries.
pub const DOCKERFILE: &str = "\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends runc \\
    && rm -rf /var/lib/apt/lists/*
COPY buildkitd buildctl /usr/bin/
VOLUME /var/lib/buildkit
ENTRYPOINT [\"buildkitd\"]
";

/// The builder, bootstrapped.
#[derive(Debug, Clone)]
pub struct Builder {
    pub name: String,
    pub driver: String,
    /// What `buildx inspect` reports of the running BuildKit.
    pub buildkit_version: String,
    /// Seconds spent: the Go build, the image, the builder's bootstrap.
    pub go_seconds: f64,
    pub image_seconds: f64,
    pub bootstrap_seconds: f64,
    /// The BuildKit image's ID (a second builder runs the same).
    pub image_id: String,
}

/// `BUILDX_BUILDER=<name>` for this process and the commands it runs (as
/// setup-buildx-action exports it for the job's later steps), until dropped.
pub struct Use {
    before: Option<std::ffi::OsString>,
}

impl Use {
    pub fn builder(name: &str) -> Use {
        let before = std::env::var_os("BUILDX_BUILDER");
        std::env::set_var("BUILDX_BUILDER", name);
        Use { before }
    }
}

impl Drop for Use {
    fn drop(&mut self) {
        match self.before.take() {
            Some(v) => std::env::set_var("BUILDX_BUILDER", v),
            None => std::env::remove_var("BUILDX_BUILDER"),
        }
    }
}

/// Build buildkitd and buildctl into `out` from the pinned module.
pub fn binaries(out: &Path) -> Result<()> {
    let go = which::which("go").context("`go` is not installed: run `cargo xtask doctor --fix`")?;
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let sh = Shell::new()?;
    sh.change_dir(out);
    let module = format!("{BUILDKIT_MODULE}@{BUILDKIT_VERSION}");
    let json = cmd!(sh, "{go} mod download -json {module}")
        .quiet()
        .ignore_status()
        .read()
        .with_context(|| format!("cannot run `go mod download {module}`"))?;
    let dir = module_dir(&json).with_context(|| format!("`go mod download -json {module}`"))?;
    sh.change_dir(&dir);
    let ldflags = format!(
        "-s -w -X {BUILDKIT_MODULE}/version.Version={BUILDKIT_VERSION} -X {BUILDKIT_MODULE}/version.Package={BUILDKIT_MODULE}"
    );
    // `-o DIR/` with two packages: one binary each, named after them.
    let dest = format!("{}/", out.display());
    cmd!(sh, "{go} build -trimpath -mod=readonly -ldflags {ldflags} -o {dest} ./cmd/buildkitd ./cmd/buildctl")
        .env("CGO_ENABLED", "0")
        .run()
        .with_context(|| format!("go build of buildkitd and buildctl failed in {}", dir.display()))?;
    for bin in ["buildkitd", "buildctl"] {
        ensure!(out.join(bin).is_file(), "go build wrote no {} in {}", bin, out.display());
    }
    Ok(())
}

/// The module's directory in the module cache, from `go mod download -json`.
fn module_dir(json: &str) -> Result<PathBuf> {
    let v: serde_json::Value = serde_json::from_str(json).context("its output is not JSON")?;
    if let Some(e) = v["Error"].as_str() {
        bail!("{e} (the module proxy must be reachable: GOPROXY)");
    }
    v["Dir"].as_str().map(PathBuf::from).context("its output names no Dir")
}

/// The BuildKit image from the binaries in `dir`, on `base`: its image ID.
pub fn image(docker: &Docker, dir: &Path, base: &str) -> Result<String> {
    fs::write(dir.join("Dockerfile"), DOCKERFILE)?;
    let (path, tag, base_arg) = (&docker.path, buildx::image(), format!("BASE_IMAGE={base}"));
    let sh = Shell::new()?;
    cmd!(sh, "{path} buildx build --load --provenance=false --network host --build-arg {base_arg} --tag {tag} {dir}")
        .run()
        .with_context(|| format!("building {tag} failed"))?;
    docker.inspect("{{.Id}}", &tag)
}

/// The builder `BUILDER` for `registry`: kept if it runs `image_id` with
/// this configuration, else made again; then bootstrapped and checked.
pub fn ensure_builder(docker: &Docker, work: &Path, registry: &str, image_id: &str) -> Result<(String, String)> {
    ensure_named(docker, work, BUILDER, registry, image_id, false)
}

/// A builder `name` with empty state (a second CI runner): made again if
/// it exists, bootstrapped and checked. [`remove`] it after use.
pub fn fresh(docker: &Docker, work: &Path, name: &str, registry: &str, image_id: &str) -> Result<(String, String)> {
    ensure_named(docker, work, name, registry, image_id, true)
}

fn ensure_named(
    docker: &Docker,
    work: &Path,
    name: &str,
    registry: &str,
    image_id: &str,
    fresh: bool,
) -> Result<(String, String)> {
    let dir = work.join("builder").join(name);
    fs::create_dir_all(&dir)?;
    let config_file = dir.join("buildkitd.toml");
    let stamp_file = dir.join("stamp");
    let stamp = format!("{image_id}\n{}", buildx::config(registry));
    let path = &docker.path;
    let sh = Shell::new()?;
    let exists = cmd!(sh, "{path} buildx inspect {name}").quiet().ignore_stdout().ignore_stderr().run().is_ok();
    let same = !fresh && fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp);
    if exists && !same {
        eprintln!(
            "e2e: builder {name}: made again ({})",
            if fresh { "empty state" } else { "its image or configuration changed" }
        );
        remove(docker, name)?;
    }
    if !exists || !same {
        fs::write(&config_file, buildx::config(registry))?;
        let args = create_args(name, &buildx::image(), &config_file);
        cmd!(sh, "{path} {args...}").run().context("docker buildx create failed")?;
        fs::write(&stamp_file, &stamp)?;
    } else {
        eprintln!("e2e: builder {name} kept (same image and configuration)");
    }
    let text = cmd!(sh, "{path} buildx inspect --bootstrap {name}")
        .read()
        .with_context(|| format!("`docker buildx inspect --bootstrap {name}` failed"))?;
    let driver = parse_driver(&text).context("`docker buildx inspect` names no driver")?;
    let version = inspect_field(&text, "BuildKit version").unwrap_or_default();
    let status = inspect_field(&text, "Status").unwrap_or_default();
    ensure!(driver == "docker-container", "builder {name} has the `{driver}` driver, not docker-container");
    ensure!(status == "running", "builder {name} is `{status}` after its bootstrap, not running");
    ensure!(
        version == BUILDKIT_VERSION,
        "builder {name} runs BuildKit `{version}`, not {BUILDKIT_VERSION}: `docker buildx rm {name}` and run again"
    );
    Ok((driver, version))
}

/// A `Key: value` line of `docker buildx inspect`.
fn inspect_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix(':').map(|v| v.trim().to_owned()))
}

/// Everything above: binaries, image and builder, each timed.
pub fn prepare(docker: &Docker, work: &Path, registry: &str, base: &str) -> Result<Builder> {
    let dir = work.join("buildkit").join(BUILDKIT_VERSION);
    let t = Instant::now();
    binaries(&dir)?;
    let go_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let id = image(docker, &dir, base)?;
    let image_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (driver, buildkit_version) = ensure_builder(docker, work, registry, &id)?;
    let bootstrap_seconds = t.elapsed().as_secs_f64();
    eprintln!(
        "e2e: builder {BUILDER}: driver {driver}, BuildKit {buildkit_version} (go build {go_seconds:.1}s, image {image_seconds:.1}s, builder {bootstrap_seconds:.1}s)"
    );
    Ok(Builder {
        name: BUILDER.into(),
        driver,
        buildkit_version,
        go_seconds,
        image_seconds,
        bootstrap_seconds,
        image_id: id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_runs_buildkitd_with_runc() {
        let df = crate::docker::dockerfile::Dockerfile::parse(DOCKERFILE);
        assert_eq!(df.stages.len(), 1);
        assert!(DOCKERFILE.contains("install -y --no-install-recommends runc"));
        assert!(DOCKERFILE.contains("COPY buildkitd buildctl /usr/bin/"));
        assert!(DOCKERFILE.ends_with("ENTRYPOINT [\"buildkitd\"]\n"));
    }

    #[test]
    fn inspect_output_is_read() {
        let text = "Name:          b\nDriver:        docker-container\n\nNodes:\nName:                  b0\n\
                    Status:                running\nBuildKit version:      v0.26.3\n";
        assert_eq!(inspect_field(text, "Status").as_deref(), Some("running"));
        assert_eq!(inspect_field(text, "BuildKit version").as_deref(), Some("v0.26.3"));
        assert_eq!(parse_driver(text).as_deref(), Some("docker-container"));
        assert_eq!(inspect_field(text, "Missing"), None);
    }

    /// The real thing, on this machine's engine: buildkitd and buildctl
    /// from the module, the image, the builder bootstrapped. It needs a
    /// running Docker engine with buildx, Go, the module proxy and the
    /// host's base image, which `cargo xtask e2e` makes; run it with
    /// `cargo test -p xtask --bin xtask -- --ignored e2e::builder`.
    #[test]
    #[ignore = "needs a Docker engine, Go, the module proxy and the e2e's base image"]
    fn buildkit_image_and_builder() {
        let host = crate::platform::Platform::host().unwrap();
        let work = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/xtask/e2e");
        let docker = Docker::find("docker").unwrap();
        let base = super::super::base_image(host, host);
        assert!(docker.inspect("{{.Id}}", &base).is_ok(), "no {base}: run `cargo xtask e2e` once to make it");
        let b = prepare(&docker, &work, "127.0.0.1:5000", &base).unwrap();
        assert_eq!((b.driver.as_str(), b.buildkit_version.as_str()), ("docker-container", BUILDKIT_VERSION));
        assert_eq!(b.name, BUILDER);
        eprintln!(
            "buildkit: go build {:.1}s, image {:.1}s, builder {:.1}s",
            b.go_seconds, b.image_seconds, b.bootstrap_seconds
        );
        let sh = Shell::new().unwrap();
        let path = &docker.path;
        let text = cmd!(sh, "{path} buildx inspect {BUILDER}").read().unwrap();
        assert!(text.contains(&format!("image=\"{}\"", buildx::image())), "{text}");
        assert!(text.contains("network=\"host\""), "{text}");
        let tag = buildx::image();
        let out = cmd!(sh, "{path} run --rm --network none --entrypoint runc {tag} --version").read().unwrap();
        assert!(out.starts_with("runc version"), "{out}");
    }

    #[test]
    fn module_dir_or_the_proxy_error() {
        assert_eq!(module_dir(r#"{"Path":"m","Dir":"/c/m@v1"}"#).unwrap(), PathBuf::from("/c/m@v1"));
        let e = module_dir(r#"{"Path":"m","Error":"not found"}"#).unwrap_err().to_string();
        assert!(e.contains("not found") && e.contains("GOPROXY"), "{e}");
    }
}
