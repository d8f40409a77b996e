//! `cargo xtask docker` / `ci` through the built binary: dry-run goldens (the
//! exact commands printed, shell-quoted) and one clear `error:` line for each
//! bad input (undeclared build arg, unknown image, unknown platform, missing
//! docker CLI, engine not running).

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn xtask(args: &[&str], env: &[(&str, &str)]) -> Output {
    let tmp = std::env::temp_dir().join("xtask-docker-cli-metrics.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(root()).args(args).env_remove("DOCKER").env_remove("DOCKER_HOST").env_remove("GITHUB_ACTIONS");
    if args.first() == Some(&"docker") {
        cmd.args(["--metrics-file", tmp.to_str().unwrap()]);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run xtask")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit code 1 and exactly one `error:` line containing `want`.
fn one_error(o: &Output, want: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains(want), "want `{want}` in {err}");
}

#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore = "the golden argv are those of an amd64 host")]
fn dry_run_pr_amd64_with_buildx() {
    let o = xtask(
        &["docker", "extproc", "--pr", "--load", "--tag", "pr-7", "--cache", "gha", "--buildx", "yes", "--dry-run"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "docker buildx build --progress plain --platform linux/amd64 --file tools/docker/Dockerfile.extproc \
         --build-arg CARGO_BUILD_JOBS=8 --cache-from type=gha,scope=extproc-linux-amd64 \
         --cache-to type=gha,scope=extproc-linux-amd64,mode=max --load --tag extproc:pr-7 --provenance=false .\n"
    );
}

#[test]
fn dry_run_push_arm64_gha() {
    let o = xtask(
        &[
            "docker",
            "extproc",
            "--platform",
            "linux/arm64",
            "--push",
            "--registry",
            "ghcr.io/o/r",
            "--cache",
            "gha",
            "--metadata-file",
            "/tmp/meta.json",
            "--buildx",
            "yes",
            "--dry-run",
            "--docker",
            "docker",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let file = if cfg!(target_arch = "x86_64") { "Dockerfile.extproc.cross" } else { "Dockerfile.extproc" };
    assert_eq!(
        stdout(&o),
        format!(
            "docker buildx build --progress plain --platform linux/arm64 --file tools/docker/{file} \
             --build-arg CARGO_BUILD_JOBS=20 --cache-from type=gha,scope=extproc-linux-arm64 \
             --cache-to type=gha,scope=extproc-linux-arm64,mode=max \
             --output type=image,name=ghcr.io/o/r/extproc,push-by-digest=true,name-canonical=true,push=true \
             --provenance=mode=max --metadata-file /tmp/meta.json .\n"
        )
    );
}

#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore = "the golden argv are those of an amd64 host")]
fn dry_run_registry_cache_without_buildx_says_what_it_drops() {
    let o = xtask(
        &[
            "docker",
            "extproc",
            "--platform",
            "linux/arm64",
            "--push",
            "--registry",
            "127.0.0.1:5000",
            "--cache",
            "registry",
            "--buildx",
            "no",
            "--docker",
            "/usr/bin/docker",
            "--dry-run",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "DOCKER_BUILDKIT=1 /usr/bin/docker build --progress plain --platform linux/arm64 --file tools/docker/Dockerfile.extproc.cross \
         --build-arg CARGO_BUILD_JOBS=20 --tag 127.0.0.1:5000/extproc:xtask-linux-arm64 .\n\
         /usr/bin/docker push 127.0.0.1:5000/extproc:xtask-linux-arm64\n"
    );
    let err = stderr(&o);
    assert!(err.contains("note: no buildx: --cache registry"), "{err}");
    assert!(err.contains("push-by-digest needs buildx"), "{err}");
    // With buildx: the registry cache refs.
    let o = xtask(
        &[
            "docker",
            "extproc",
            "--platform",
            "linux/arm64",
            "--push",
            "--registry",
            "127.0.0.1:5000",
            "--cache",
            "registry",
            "--buildx",
            "yes",
            "--dry-run",
        ],
        &[],
    );
    let out = stdout(&o);
    assert!(
        out.contains(
            "--cache-from type=registry,ref=127.0.0.1:5000/extproc:buildcache-linux-arm64 \
         --cache-to type=registry,ref=127.0.0.1:5000/extproc:buildcache-linux-arm64,mode=max"
        ),
        "{out}"
    );
}

#[test]
fn dry_run_manifest_merge_from_digests_dir() {
    let dir = tempfile::tempdir().unwrap();
    let a = "a".repeat(64);
    let b = "b".repeat(64);
    std::fs::write(dir.path().join(&b), "").unwrap();
    std::fs::write(dir.path().join(&a), "").unwrap();
    let d = dir.path().to_str().unwrap();
    let o = xtask(
        &[
            "docker",
            "manifest",
            "extproc",
            "--tag",
            "latest",
            "--tag",
            "sha-1",
            "--registry",
            "ghcr.io/o/r",
            "--digests",
            d,
            "--buildx",
            "yes",
            "--dry-run",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "docker buildx imagetools create --tag ghcr.io/o/r/extproc:latest --tag ghcr.io/o/r/extproc:sha-1 \
             ghcr.io/o/r/extproc@sha256:{a} ghcr.io/o/r/extproc@sha256:{b}\n\
             docker buildx imagetools inspect --raw ghcr.io/o/r/extproc:latest\n"
        )
    );
    let o = xtask(
        &[
            "docker",
            "manifest",
            "extproc",
            "--tag",
            "e2e",
            "--registry",
            "127.0.0.1:5000",
            "--digests",
            d,
            "--buildx",
            "no",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(
        stdout(&o),
        format!(
            "docker manifest create --amend --insecure 127.0.0.1:5000/extproc:e2e \
             127.0.0.1:5000/extproc@sha256:{a} 127.0.0.1:5000/extproc@sha256:{b}\n\
             docker manifest push --purge --insecure 127.0.0.1:5000/extproc:e2e\n\
             docker manifest inspect --insecure 127.0.0.1:5000/extproc:e2e\n"
        )
    );
}

#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore = "the golden argv are those of an amd64 host")]
fn tags_and_build_args_pass_through_literally() {
    let tag = "x y;echo \"hi\" 'q'";
    let arg = "VERSION=1; rm -rf ~ && echo 'it''s' \"$HOME\"";
    let o =
        xtask(&["docker", "extproc", "--load", "--tag", tag, "--build-arg", arg, "--buildx", "yes", "--dry-run"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o);
    // Parse the printed line back with a real shell: the argv must round-trip.
    let sh = Command::new("sh")
        .arg("-c")
        .arg(format!("for a in {}; do printf '%s\\n' \"$a\"; done", line.trim()))
        .output()
        .unwrap();
    let words: Vec<String> = String::from_utf8_lossy(&sh.stdout).lines().map(String::from).collect();
    assert!(words.contains(&format!("extproc:{tag}")), "{words:?}");
    assert!(words.contains(&arg.to_string()), "{words:?}");
    assert_eq!(words[0], "docker");
}

#[test]
fn undeclared_build_arg_is_one_error() {
    let o = xtask(&["docker", "extproc", "--build-arg", "NOT_AN_ARG=1", "--buildx", "yes", "--dry-run"], &[]);
    one_error(&o, "build argument `NOT_AN_ARG` not declared by tools/docker/Dockerfile");
}

#[test]
fn unknown_image_is_one_error() {
    let o = xtask(&["docker", "nginx", "--dry-run"], &[]);
    one_error(&o, "unknown image `nginx`; known images: extproc");
    let o = xtask(&["docker", "manifest", "nginx", "--tag", "t", "--sources", "a", "--dry-run"], &[]);
    one_error(&o, "unknown image `nginx`");
}

#[test]
fn unknown_platform_is_one_error() {
    // A usage error: clap's (exit status 2), with Platform::parse's reason.
    let o = xtask(&["docker", "extproc", "--platform", "linux/sparc64", "--dry-run"], &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("unsupported platform `linux/sparc64`; supported: linux/amd64"), "{err}");
}

#[test]
fn missing_docker_binary_is_one_error() {
    let o = xtask(&["docker", "extproc", "--docker", "/nonexistent/docker"], &[]);
    one_error(&o, "docker CLI `/nonexistent/docker` not found");
    let o = xtask(&["docker", "extproc"], &[("DOCKER", "/nonexistent/docker2")]);
    one_error(&o, "docker CLI `/nonexistent/docker2` not found");
}

#[test]
fn engine_not_running_is_one_error() {
    // Any docker CLI will do; without one on this machine there is nothing to test.
    let Some(cli) = ["/usr/bin/docker", "docker"].iter().find_map(|c| which(c)) else {
        return common::skip("engine_not_running_is_one_error", "docker", "no docker CLI");
    };
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("dead.sock");
    // A socket file nobody listens on.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let host = format!("unix://{}", sock.display());
    let o = xtask(&["docker", "extproc", "--docker", &cli], &[("DOCKER_HOST", &host)]);
    one_error(&o, &format!("the Docker engine at {host} is not running or not reachable"));
}

#[test]
fn ci_matrix() {
    let entries = |args: &[&str]| -> Vec<String> {
        let o = xtask(args, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["include"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{} {}", e["image"].as_str().unwrap(), e["platform"].as_str().unwrap()))
            .collect()
    };
    let wave0 = entries(&["ci", "matrix", "--wave", "0"]);
    assert_eq!(wave0, ["extproc linux/amd64", "extproc linux/arm64", "dev linux/amd64", "dev linux/arm64"]);
    let wave1 = entries(&["ci", "matrix", "--wave", "1"]);
    assert_eq!(wave1, ["precommit linux/amd64", "precommit linux/arm64", "stack linux/amd64", "stack linux/arm64"]);
    assert_eq!(entries(&["ci", "matrix"]).len(), 8);
    assert_eq!(entries(&["ci", "matrix", "--pr"]).len(), 4);
    one_error(&xtask(&["ci", "matrix", "--wave", "2"], &[]), "--wave 2: the waves are 0 to 1");
}

fn which(name: &str) -> Option<String> {
    if name.contains('/') {
        return Path::new(name).is_file().then(|| name.to_owned());
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()).map(|p| p.display().to_string())
    })
}

#[test]
fn images_built_from_ours_get_their_base_from_the_registry() {
    let o = xtask(
        &[
            "docker",
            "stack",
            "--platform",
            "linux/amd64",
            "--push",
            "--registry",
            "ghcr.io/o/r",
            "--base-tag",
            "sha-abc1234",
            "--buildx",
            "yes",
            "--dry-run",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(" --build-arg EXTPROC_IMAGE=ghcr.io/o/r/extproc:sha-abc1234 "), "{}", stdout(&o));
    // An explicit --build-arg wins; no registry: the Dockerfile's default.
    let o = xtask(
        &[
            "docker",
            "precommit",
            "--platform",
            "linux/amd64",
            "--registry",
            "ghcr.io/o/r",
            "--build-arg",
            "DEV_IMAGE=local/dev:1",
            "--buildx",
            "yes",
            "--dry-run",
        ],
        &[],
    );
    let out = stdout(&o);
    assert!(out.contains(" --build-arg DEV_IMAGE=local/dev:1 ") && !out.contains("ghcr.io/o/r/dev"), "{out}");
    let o = xtask(&["docker", "precommit", "--platform", "linux/amd64", "--buildx", "yes", "--dry-run"], &[]);
    assert!(!stdout(&o).contains("DEV_IMAGE"), "{}", stdout(&o));
}
