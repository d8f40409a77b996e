//! The SBOM generator image: a base image with a static xtask whose entry
//! point is `xtask sbom scan`, which speaks BuildKit's SBOM generator
//! protocol (`--attest type=sbom,generator=IMAGE`). Built with the engine's
//! own builder (it sees the engine's images, so `base` may be a local one)
//! and pushed to a registry, where any builder can pull it.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::{engine::Docker, platform::Platform};

/// The generator's repository, under a registry.
pub const REPOSITORY: &str = "xtask-sbom-generator";

/// Its Dockerfile: the static xtask on `BASE_IMAGE`, nothing else.
pub const DOCKERFILE: &str = "\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY xtask /usr/local/bin/xtask
ENTRYPOINT [\"xtask\", \"sbom\", \"scan\"]
";

/// The reference of the generator made of `xtask_sha256` (the binary's
/// SHA-256, hex) on `base`: `<registry>/xtask-sbom-generator:<tag>`, the tag
/// a hash of the Dockerfile, the base and the binary, so that a reference
/// names one content.
pub fn reference(registry: &str, base: &str, xtask_sha256: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [DOCKERFILE, base, xtask_sha256] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let hex: String = h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{}/{REPOSITORY}:{hex}", registry.trim_end_matches('/'))
}

/// The commands that build the generator image from the context `dir` and
/// push it as `reference`: the engine's builder (`--builder default`, which
/// reads the engine's images), loaded, then `docker push`.
pub fn argvs(docker: &str, dir: &str, base: &str, reference: &str) -> Vec<Vec<String>> {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let base_arg = format!("BASE_IMAGE={base}");
    vec![
        v(&[
            docker,
            "buildx",
            "build",
            "--builder",
            "default",
            "--load",
            "--provenance=false",
            "--build-arg",
            &base_arg,
            "--tag",
            reference,
            dir,
        ]),
        v(&[docker, "push", reference]),
    ]
}

/// Build the generator image from the static xtask `xtask_bin` (for this
/// machine: `cargo xtask docker self-build --out FILE`) on `base` (an image
/// the engine has or can pull, of this machine's platform) and push it to
/// `registry` (e.g. `127.0.0.1:5000`); returns its reference, which
/// `--attest type=sbom,generator=REF` (`cargo xtask docker --sbom-generator
/// REF`) takes. Idempotent: the reference is a hash of what it is made of,
/// and a second call rebuilds from the engine's cache and pushes no new
/// layer.
pub fn ensure_generator(docker: &Docker, registry: &str, base: &str, xtask_bin: &Path) -> Result<String> {
    check_static(xtask_bin)?;
    let sum = crate::fsutil::sha256_hex(xtask_bin)?;
    let reference = reference(registry, base, &sum);
    let dir = std::env::temp_dir().join(format!("xtask-sbom-generator-{}", std::process::id()));
    let scratch = crate::interrupt::Scratch::new(dir.clone());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE)?;
    std::fs::copy(xtask_bin, dir.join("xtask"))
        .with_context(|| format!("cannot copy {} to {}", xtask_bin.display(), dir.display()))?;
    let sh = Shell::new()?;
    let path = docker.path.display().to_string();
    for argv in argvs(&path, &dir.display().to_string(), base, &reference) {
        let (prog, args) = argv.split_first().context("empty argv")?;
        cmd!(sh, "{prog} {args...}").run().with_context(|| {
            format!(
                "`{}` failed (is {base} an image of the engine or of a registry it reaches, and {registry} up?)",
                argv.join(" ")
            )
        })?;
    }
    drop(scratch);
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("sbom generator: {reference}");
    Ok(reference)
}

/// The generator runs xtask on whatever base: it must be static, for this
/// machine (BuildKit runs generators on the build platform).
fn check_static(path: &Path) -> Result<()> {
    let host = Platform::host()?;
    let info = crate::elf::read_elf(path)
        .with_context(|| format!("{}: build it with `cargo xtask docker self-build --out FILE`", path.display()))?;
    if info.ident.machine != host.elf_machine() || info.interpreter.is_some() || !info.needed.is_empty() {
        bail!(
            "{} is not a static xtask for {host}: build one with `cargo xtask docker self-build --out FILE`",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_runs_the_scan_and_its_reference_names_its_content() {
        let df = crate::docker::dockerfile::Dockerfile::parse(DOCKERFILE);
        assert_eq!(df.stages.len(), 1);
        assert_eq!(df.global_args(), ["BASE_IMAGE"]);
        assert!(DOCKERFILE.ends_with("ENTRYPOINT [\"xtask\", \"sbom\", \"scan\"]\n"));
        let a = reference("127.0.0.1:5000/", "xtask-e2e/debian:bookworm-amd64-v1", &"a".repeat(64));
        assert!(a.starts_with("127.0.0.1:5000/xtask-sbom-generator:"), "{a}");
        assert_eq!(a.rsplit(':').next().unwrap().len(), 16);
        crate::docker::reference::check_name(a.rsplit_once(':').unwrap().0, "ref").unwrap();
        assert_eq!(a, reference("127.0.0.1:5000", "xtask-e2e/debian:bookworm-amd64-v1", &"a".repeat(64)));
        assert_ne!(a, reference("127.0.0.1:5000", "xtask-e2e/debian:bookworm-amd64-v1", &"b".repeat(64)));
        assert_ne!(a, reference("127.0.0.1:5000", "debian:bookworm-slim", &"a".repeat(64)));
    }

    #[test]
    fn it_is_built_by_the_engines_builder_and_pushed() {
        let got = argvs("docker", "/tmp/g", "xtask-e2e/debian:bookworm-amd64-v1", "r:5000/xtask-sbom-generator:t");
        let lines: Vec<String> = got.iter().map(|a| a.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "docker buildx build --builder default --load --provenance=false --build-arg \
                 BASE_IMAGE=xtask-e2e/debian:bookworm-amd64-v1 --tag r:5000/xtask-sbom-generator:t /tmp/g",
                "docker push r:5000/xtask-sbom-generator:t",
            ]
        );
    }

    #[test]
    fn a_dynamic_xtask_is_refused_with_the_fix() {
        // This test binary is dynamically linked.
        let me = std::env::current_exe().unwrap();
        let err = check_static(&me).unwrap_err().to_string();
        assert!(err.contains("cargo xtask docker self-build --out FILE"), "{err}");
    }
}
