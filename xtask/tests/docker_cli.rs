//! `cargo xtask docker` / `ci` through the built binary: dry-run goldens (the
//! exact commands printed, shell-quoted) and one clear `error:` line for each
//! bad input (undeclared build arg, unknown image, unknown platform, missing
//! docker CLI, engine not running, values Docker's grammar refuses).
//!
//! A fake `docker` (a shell script that records every call) shows what runs:
//! nothing for a dry run or a refused value; and that metrics files are never
//! overwritten and secret build arguments reach no output.

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
         --cache-from type=gha,scope=extproc-linux-amd64-pr \
         --cache-to type=gha,scope=extproc-linux-amd64-pr,mode=min,ignore-error=true \
         --load --tag extproc:pr-7 --provenance=false .\n"
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
             --cache-to type=gha,scope=extproc-linux-arm64,mode=max,ignore-error=true \
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
         --cache-to type=registry,ref=127.0.0.1:5000/extproc:buildcache-linux-arm64,mode=max,compression=zstd,compression-level=1"
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
fn build_args_pass_through_literally() {
    let tag = "x_y.1-A";
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
    let o = xtask(&["docker", "extproc", "--platform", "linux/s390x", "--dry-run"], &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("unsupported platform `linux/s390x`; supported: linux/amd64"), "{err}");
    let o = xtask(&["docker", "dev", "--platform", "linux/riscv64", "--dry-run"], &[]);
    one_error(&o, "image `dev` is not built for linux/riscv64");
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
    assert_eq!(
        wave0,
        ["extproc linux/amd64", "extproc linux/arm64", "extproc linux/riscv64", "dev linux/amd64", "dev linux/arm64"]
    );
    let wave1 = entries(&["ci", "matrix", "--wave", "1"]);
    assert_eq!(wave1, ["precommit linux/amd64", "precommit linux/arm64", "stack linux/amd64", "stack linux/arm64"]);
    assert_eq!(entries(&["ci", "matrix"]).len(), 9);
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

/// A fake docker CLI: records each call (one line, arguments joined by
/// spaces) in `calls`, answers the probes like docker 28 with buildx (its
/// builder: `FAKE_DRIVER`, default docker-container; `FAKE_CONTAINERD_STORE`;
/// `FAKE_BUILDX_VERSION`), and
/// fails `buildx build` when `FAKE_DOCKER_FAIL` is set, printing it.
struct FakeDocker {
    dir: tempfile::TempDir,
}

impl FakeDocker {
    fn new() -> FakeDocker {
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            r#"#!/bin/sh
printf '%s\n' "$*" >> '{log}'
case "$1 $2" in
  "version --format") echo 28.0.0 ;;
  "buildx version") echo "github.com/docker/buildx ${{FAKE_BUILDX_VERSION:-v0.20.0}} 1234567" ;;
  "buildx inspect") printf 'Name:   default\nDriver: %s\n' "${{FAKE_DRIVER:-docker-container}}" ;;
  "info --format")
    if [ -n "$FAKE_CONTAINERD_STORE" ]; then echo '[["driver-type","io.containerd.snapshotter.v1"]]';
    else echo '[["Backing Filesystem","extfs"]]'; fi ;;
  "buildx build")
    if [ -n "$FAKE_DOCKER_FAIL" ]; then echo "ERROR: failed to solve: $FAKE_DOCKER_FAIL" >&2; exit 1; fi ;;
  "buildx imagetools")
    if [ "$3" = inspect ]; then
      case "$*" in
        *"json .Manifest"*) echo '{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":1000}}' ;;
        *--format*) echo '{{"history":[{{"created_by":"ADD rootfs.tar / # buildkit"}},{{"created_by":"ENV A=b","empty_layer":true}},{{"created_by":"COPY big.bin /big.bin # buildkit"}}]}}' ;;
        *@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa*)
          if [ -n "$FAKE_PLANTED" ]; then echo '{{"config":{{"size":1000}},"layers":[{{"size":30000000}},{{"size":60000000}}]}}';
          else echo '{{"config":{{"size":1000}},"layers":[{{"size":60000000}}]}}'; fi ;;
        *) echo '{{"manifests":[{{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","platform":{{"os":"linux","architecture":"amd64"}}}},{{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","platform":{{"os":"linux","architecture":"arm64"}}}},{{"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","platform":{{"os":"linux","architecture":"riscv64"}}}}]}}' ;;
      esac
    fi ;;
  "history --no-trunc")
    printf '0\tENTRYPOINT ["/app/bin/extproc"]\n29822976\tCOPY /out/ /app/ # buildkit\n132947968\tADD rootfs.tar / # buildkit\n'
    if [ -n "$FAKE_PLANTED" ]; then printf '50000000\tCOPY big.bin /big.bin # buildkit\n'; fi ;;
esac
exit 0
"#,
            log = dir.path().join("calls").display()
        );
        // And any other program xtask might start: recorded, and failing.
        let other = |prog: &str| {
            format!("#!/bin/sh\nprintf '{prog} %s\\n' \"$*\" >> '{}'\nexit 1\n", dir.path().join("calls").display())
        };
        for (name, text) in [("docker", script), ("cargo", other("cargo")), ("git", other("git"))] {
            let bin = dir.path().join(name);
            std::fs::write(&bin, text).unwrap();
            let mut perms = std::fs::metadata(&bin).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
            std::fs::set_permissions(&bin, perms).unwrap();
        }
        FakeDocker { dir }
    }

    /// A `PATH` with only the fake programs.
    fn path(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// The fake cargo (cargo_metadata runs `$CARGO` rather than `cargo` on PATH).
    fn cargo(&self) -> String {
        self.dir.path().join("cargo").display().to_string()
    }

    fn bin(&self) -> String {
        self.dir.path().join("docker").display().to_string()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .map(|s| s.lines().map(String::from).collect())
            .unwrap_or_default()
    }
}

/// Run xtask without the helper's `--metrics-file`: metrics go to
/// `<target>/xtask/metrics/` with `CARGO_TARGET_DIR=target`.
fn xtask_in(target: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(root())
        .args(args)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("DOCKER")
        .env_remove("DOCKER_HOST")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_OUTPUT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run xtask")
}

/// Every file under `dir`, relative.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_dry_run_runs_no_program_and_writes_no_file() {
    let fake = FakeDocker::new();
    let target = tempfile::tempdir().unwrap();
    let metrics = target.path().join("explicit.json");
    let runs: [&[&str]; 3] = [
        &["docker", "extproc", "--load", "--tag", "t", "--dry-run", "--docker", &fake.bin()],
        &["docker", "extproc", "--dry-run", "--docker", &fake.bin(), "--metrics-file", metrics.to_str().unwrap()],
        &[
            "docker",
            "manifest",
            "extproc",
            "--tag",
            "t",
            "--sources",
            "r/extproc:a",
            "--dry-run",
            "--docker",
            &fake.bin(),
        ],
    ];
    for args in runs {
        // Only the fake programs on PATH: whatever runs is recorded.
        let o = xtask_in(target.path(), args, &[("PATH", &fake.path()), ("CARGO", &fake.cargo())]);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).starts_with(&format!("{} buildx ", fake.bin())), "{}", stdout(&o));
        assert!(stderr(&o).contains(&format!("dry run: would probe `{} version`", fake.bin())), "{}", stderr(&o));
    }
    assert_eq!(fake.calls(), Vec::<String>::new(), "a dry run ran a program");
    assert_eq!(files_under(target.path()), Vec::<String>::new(), "a dry run wrote files");
    // The same with `ci build --dry-run` from a plan.
    let plan = r#"{"mode":"publish","event":"push","registry":"ghcr.io/o/r","tags":["sha-0123456"],
        "latest":true,"sha_tag":"sha-0123456","version":"main-0123456","revision":"0123456789","source":"https://github.com/o/r",
        "images":["extproc","stack"],"platforms":["linux/amd64","linux/arm64"],"notes":[]}"#;
    let o = xtask_in(
        target.path(),
        &["ci", "build", "--image", "stack", "--platform", "linux/arm64", "--dry-run"],
        &[("XTASK_PLAN", plan), ("DOCKER", &fake.bin()), ("PATH", &fake.path()), ("CARGO", &fake.cargo())],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o);
    for want in [
        "--build-arg EXTPROC_IMAGE=ghcr.io/o/r/extproc:sha-0123456",
        "--build-arg VERSION=main-0123456",
        "--label org.opencontainers.image.source=https://github.com/o/r",
        "--label org.opencontainers.image.revision=0123456789",
        "--annotation org.opencontainers.image.version=main-0123456",
        "--cache-to type=gha,scope=stack-linux-arm64,mode=max,ignore-error=true",
        "push-by-digest=true",
    ] {
        assert!(line.contains(want), "{want} in {line}");
    }
    assert_eq!(fake.calls(), Vec::<String>::new());
    assert_eq!(files_under(target.path()), Vec::<String>::new());
    // A check plan (pull request): loaded, PR cache scopes, the base image
    // from the Dockerfile's default, nothing pushed.
    let check = plan
        .replace(r#""mode":"publish""#, r#""mode":"check""#)
        .replace(r#""tags":["sha-0123456"],"#, r#""tags":["pr-42"],"#)
        .replace(r#""latest":true"#, r#""latest":false"#);
    let o = xtask_in(
        target.path(),
        &["ci", "build", "--image", "stack", "--platform", "linux/amd64", "--dry-run"],
        &[("XTASK_PLAN", &check), ("DOCKER", &fake.bin()), ("PATH", &fake.path()), ("CARGO", &fake.cargo())],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o);
    for want in [
        "--cache-from type=gha,scope=stack-linux-amd64 --cache-from type=gha,scope=stack-linux-amd64-pr",
        "--cache-to type=gha,scope=stack-linux-amd64-pr,mode=min,ignore-error=true",
        "--load --tag stack:pr-42",
    ] {
        assert!(line.contains(want), "{want} in {line}");
    }
    assert!(!line.contains("EXTPROC_IMAGE") && !line.contains("push"), "{line}");
    let o = xtask_in(
        target.path(),
        &["ci", "build", "--image", "dev", "--platform", "linux/amd64", "--dry-run"],
        &[("XTASK_PLAN", &check)],
    );
    assert!(stderr(&o).contains("image `dev` is not in the plan (its images: extproc, stack)"), "{}", stderr(&o));
    let o = xtask_in(
        target.path(),
        &["ci", "manifest", "--image", "stack", "--digests", "/nonexistent"],
        &[("XTASK_PLAN", &check)],
    );
    assert!(stderr(&o).contains("publishes nothing"), "{}", stderr(&o));
    let o = xtask_in(
        target.path(),
        &["ci", "build", "--image", "stack", "--platform", "linux/amd64"],
        &[("XTASK_PLAN", "")],
    );
    assert!(stderr(&o).contains("no plan: set XTASK_PLAN"), "{}", stderr(&o));
}

#[test]
fn values_docker_would_refuse_are_refused_before_anything_runs() {
    let fake = FakeDocker::new();
    let d = fake.bin();
    let long = "t".repeat(10_000);
    let digests = tempfile::tempdir().unwrap();
    std::fs::write(digests.path().join("XYZ"), "").unwrap();
    let dd = digests.path().to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["docker", "extproc", "--load", "--tag", ""], "--tag: empty tag"),
        (vec!["docker", "extproc", "--load", "--tag", &long], "is 10000 characters long"),
        (vec!["docker", "extproc", "--load", "--tag", "v1.0+b1"], "contains `+`"),
        (vec!["docker", "extproc", "--load", "--tag", "v1;rm"], "contains `;`"),
        (vec!["docker", "extproc", "--load", "--tag", "a\nb"], r"tag `a\nb` contains `\n`"),
        (vec!["docker", "extproc", "--push", "--registry", "ghcr.io/Org/Repo"], "must be lowercase"),
        (vec!["docker", "extproc", "--push", "--registry", "GHCR.IO/org/Repo"], "must be lowercase"),
        (vec!["docker", "extproc", "--push", "--registry", "bad host/x"], "not a repository path component"),
        (vec!["docker", "stack", "--push", "--registry", "r", "--base-tag", "a:b"], "--base-tag: tag `a:b`"),
        (vec!["docker", "extproc", "--tag", "t", "--buildx", "yes"], "a buildx build without --load or --push"),
        (vec!["docker", "manifest", "extproc", "--tag", "t", "--sources", ""], "--sources: empty image reference"),
        (vec!["docker", "manifest", "extproc", "--tag", "t", "--sources", "r/x@sha256:1"], "not a sha256 digest"),
        (vec!["docker", "manifest", "extproc", "--tag", "T;x", "--sources", "r/x:1"], "contains `;`"),
        (
            vec!["docker", "manifest", "extproc", "--tag", "t", "--registry", "r", "--digests", dd],
            "`XYZ` is not a sha256",
        ),
        (vec!["docker", "manifest", "nginx", "--tag", "t", "--sources", "r/x:1"], "unknown image `nginx`"),
        (
            vec!["docker", "manifest", "extproc", "--tag", "t", "--registry", "r/X", "--digests", dd],
            "must be lowercase",
        ),
    ];
    for (mut args, want) in cases {
        args.extend(["--docker", d.as_str()]);
        let o = xtask(&args, &[]);
        one_error(&o, want);
        assert!(!stderr(&o).contains(&long), "a 10,000-character value is not printed whole");
    }
    assert_eq!(fake.calls(), Vec::<String>::new(), "docker ran before a refused value was refused");
    // `docker manifest` takes every image of the table (the help said extproc only).
    let o = xtask(
        &["docker", "manifest", "dev", "--tag", "t", "--sources", "r/dev:1", "--dry-run", "--buildx", "yes"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = xtask(&["docker", "manifest", "--help"], &[]);
    assert!(stdout(&o).contains("`extproc`, `dev`, `precommit` or `stack`"), "{}", stdout(&o));
}

#[test]
fn metrics_files_are_never_overwritten_across_commands() {
    let fake = FakeDocker::new();
    let target = tempfile::tempdir().unwrap();
    let d = fake.bin();
    let a = "a".repeat(64);
    let src = format!("127.0.0.1:5000/extproc@sha256:{a}");
    let runs: [&[&str]; 4] = [
        &["docker", "extproc", "--load", "--docker", &d],
        &["docker", "manifest", "extproc", "--tag", "127.0.0.1:5000/extproc:t", "--sources", &src, "--docker", &d],
        &["docker", "extproc", "--load", "--docker", &d],
        &["docker", "dev", "--load", "--docker", &d],
    ];
    for (i, args) in runs.iter().enumerate() {
        // The third run fails: a failed run writes its own file too.
        let env: &[(&str, &str)] = if i == 2 { &[("FAKE_DOCKER_FAIL", "boom")] } else { &[] };
        let o = xtask_in(target.path(), args, env);
        assert_eq!(o.status.success(), i != 2, "{args:?}: {}", stderr(&o));
    }
    let dir = target.path().join("xtask/metrics");
    let files: Vec<String> =
        files_under(&dir).into_iter().filter(|f| f.ends_with(".json") && !f.contains("latest")).collect();
    assert_eq!(files.len(), 4, "{files:?}");
    let commands: Vec<(String, bool)> = files
        .iter()
        .map(|f| {
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap();
            (v["command"].as_str().unwrap().to_owned(), v["ok"].as_bool().unwrap())
        })
        .collect();
    let mut sorted = commands.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            ("docker dev".to_owned(), true),
            ("docker extproc".to_owned(), false),
            ("docker extproc".to_owned(), true),
            ("docker manifest extproc".to_owned(), true)
        ]
    );
    let latest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("latest.json")).unwrap()).unwrap();
    assert_eq!(latest["command"], "docker dev");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("docker-manifest-extproc.latest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["command"], "docker manifest extproc");
}

#[test]
fn a_secret_build_arg_is_redacted_in_every_output() {
    let fake = FakeDocker::new();
    let target = tempfile::tempdir().unwrap();
    let summary = target.path().join("summary.md");
    let ghout = target.path().join("github-output");
    let secret = "http://user:s3cret@proxy:3128";
    let secret_file = "/run/secrets/alice-token";
    let arg = format!("HTTP_PROXY={secret}");
    let spec = format!("id=token,src={secret_file}");
    let d = fake.bin();
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ("GITHUB_OUTPUT", ghout.to_str().unwrap()),
        // Docker failing with the value in its own output, as a worst case.
        ("FAKE_DOCKER_FAIL", secret),
    ];
    let args = ["docker", "extproc", "--load", "--tag", "t", "--build-arg", &arg, "--secret", &spec, "--docker", &d];
    let o = xtask_in(target.path(), &args, &env);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let dry = xtask_in(target.path(), &[&args[..], &["--dry-run"]].concat(), &[]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    // It reached docker …
    assert!(fake.calls().iter().any(|c| c.contains(secret) && c.contains(secret_file)), "{:?}", fake.calls());
    // … and no output of ours.
    let metrics = target.path().join("xtask/metrics/latest.json");
    let outputs = [
        ("stdout", stdout(&o)),
        ("stderr", stderr(&o)),
        ("dry-run stdout", stdout(&dry)),
        ("dry-run stderr", stderr(&dry)),
        ("metrics", std::fs::read_to_string(&metrics).unwrap()),
        ("step summary", std::fs::read_to_string(&summary).unwrap()),
        ("GITHUB_OUTPUT", std::fs::read_to_string(&ghout).unwrap_or_default()),
    ];
    for (what, text) in &outputs {
        assert!(!text.contains("s3cret") && !text.contains("alice-token"), "{what} leaks:\n{text}");
    }
    let err = stderr(&o);
    assert!(err.contains("$ ") && err.contains("'HTTP_PROXY=<redacted>'"), "{err}");
    assert!(err.contains("'id=token,src=<redacted>'"), "the name stays, the value goes: {err}");
    assert!(stdout(&o).contains("::error title=Build Failed::extproc (linux/"), "{}", stdout(&o));
    assert!(outputs[4].1.contains("<redacted>"), "{}", outputs[4].1);
    // A safe argument keeps its value.
    let o = xtask_in(
        target.path(),
        &["docker", "extproc", "--build-arg", "VERSION=v9", "--dry-run", "--buildx", "yes"],
        &[],
    );
    assert!(stdout(&o).contains("--build-arg VERSION=v9"), "{}", stdout(&o));
}

#[test]
fn control_characters_in_values_are_escaped() {
    let o = xtask(
        &["docker", "extproc", "--build-arg", "VERSION=1\n::error::forged\u{1b}[31m", "--buildx", "yes", "--dry-run"],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(!out.contains('\u{1b}') && out.contains(r"$'VERSION=1\n::error::forged\x1b[31m'"), "{out}");
    let o = xtask(&["docker", "nginx\u{1b}[2J", "--dry-run"], &[]);
    one_error(&o, r"unknown image `nginx\u{1b}[2J`");
    assert!(!stderr(&o).contains('\u{1b}'));
}

#[test]
fn ci_matrix_of_changed_files() {
    let images = |files: &[&str], pr: bool| -> Vec<String> {
        let mut args = vec!["ci", "matrix"];
        if pr {
            args.push("--pr");
        }
        args.push("--changed");
        args.extend(files);
        let o = xtask(&args, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["include"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{} {} {}",
                    e["image"].as_str().unwrap(),
                    e["platform"].as_str().unwrap(),
                    e["runner"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        images(&["candle-binding/src/lib.rs"], false),
        [
            "extproc linux/amd64 ubuntu-24.04",
            "extproc linux/arm64 ubuntu-24.04",
            "extproc linux/riscv64 ubuntu-24.04",
            "stack linux/amd64 ubuntu-24.04",
            "stack linux/arm64 ubuntu-24.04-arm"
        ]
    );
    assert_eq!(
        images(&["candle-binding/src/lib.rs"], true),
        ["extproc linux/amd64 ubuntu-24.04", "stack linux/amd64 ubuntu-24.04"]
    );
    assert_eq!(
        images(&["tools/docker/Dockerfile.precommit"], false),
        ["precommit linux/amd64 ubuntu-24.04", "precommit linux/arm64 ubuntu-24.04-arm"]
    );
    assert_eq!(images(&["README.md"], false), Vec::<String>::new());
    // From git: HEAD...HEAD changes nothing.
    let o = xtask(&["ci", "matrix", "--base", "HEAD"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), r#"{"include":[]}"#);
    one_error(
        &xtask(&["ci", "matrix", "--base", "no-such-rev-xyz"], &[]),
        "git diff --name-only no-such-rev-xyz...HEAD",
    );
}

#[test]
fn ci_plan_from_the_github_environment() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    let out = dir.path().join("out");
    std::fs::write(&event, r#"{"number": 42, "pull_request": {"number": 42, "base": {"sha": "HEAD"}}}"#).unwrap();
    let env = [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_REF", "refs/pull/42/merge"),
        ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("GITHUB_REPOSITORY", "Owner/Repo"),
        ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ("GITHUB_OUTPUT", out.to_str().unwrap()),
    ];
    let o = xtask(&["ci", "plan"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(plan["mode"], "check");
    assert_eq!(plan["tags"], serde_json::json!(["pr-42"]));
    assert_eq!(plan["registry"], "ghcr.io/owner/repo");
    assert_eq!(plan["images"], serde_json::json!([]), "HEAD...HEAD changes nothing");
    let lines = std::fs::read_to_string(&out).unwrap();
    for key in ["plan=", "publish=false", "check_count=0", "wave0_count=0", "wave1_count=0", "arm64=false"] {
        assert!(lines.lines().any(|l| l.starts_with(key)), "{key} in {lines}");
    }
    // A tag push that Docker's grammar cannot hold is sanitised; publishing
    // needs the variable (forks: check only).
    std::fs::write(&event, r#"{"before": "0000000000000000000000000000000000000000"}"#).unwrap();
    let tag_env = [("GITHUB_EVENT_NAME", "push"), ("GITHUB_REF", "refs/tags/v1.0+b1"), ("XTASK_PUBLISH", "true")];
    let o = xtask(&["ci", "plan"], &[&env[2..], &tag_env[..]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(plan["tags"][0], "v1.0-b1");
    assert_eq!(plan["images"].as_array().unwrap().len(), 4);
    one_error(&xtask(&["ci", "plan"], &[("GITHUB_EVENT_NAME", "")]), "GITHUB_EVENT_NAME is not set");
}

#[test]
fn ci_free_disk_refuses_outside_github_runners() {
    let o = xtask(&["ci", "free-disk"], &[("RUNNER_ENVIRONMENT", "self-hosted")]);
    one_error(&o, "not a GitHub-hosted runner");
    let o = xtask(&["ci", "free-disk", "--dry-run"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("free on /:") && stderr(&o).contains("nothing removed"), "{}", stderr(&o));
}

/// The local docker driver: without the containerd store a cache export is
/// one error naming the fix; with it, a push goes by a temporary tag (said
/// in one line) and the digest still comes from the metadata file; a buildx
/// too old is one error naming the fix. Nothing is silently dropped.
#[test]
fn the_local_docker_driver_says_what_it_cannot_do() {
    let fake = FakeDocker::new();
    let target = tempfile::tempdir().unwrap();
    let d = fake.bin();
    let cache = ["docker", "extproc", "--platform", "linux/amd64", "--load", "--cache", "local", "--docker", &d];
    let o = xtask_in(target.path(), &cache, &[("FAKE_DRIVER", "docker")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("the buildx `docker` driver exports no cache") && err.contains("containerd-snapshotter"),
        "{err}"
    );
    assert!(!fake.calls().iter().any(|c| c.starts_with("buildx build")), "{:?}", fake.calls());

    let meta = target.path().join("meta.json");
    std::fs::write(
        &meta,
        r#"{"containerimage.digest":"sha256:0000000000000000000000000000000000000000000000000000000000000001"}"#,
    )
    .unwrap();
    let push = [
        "docker",
        "extproc",
        "--platform",
        "linux/arm64",
        "--push",
        "--registry",
        "127.0.0.1:5000",
        "--metadata-file",
        meta.to_str().unwrap(),
        "--docker",
        &d,
    ];
    let env = [("FAKE_DRIVER", "docker"), ("FAKE_CONTAINERD_STORE", "1")];
    let o = xtask_in(target.path(), &push, &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.matches("cannot push by digest").count(), 1, "{err}");
    let build = fake.calls().into_iter().find(|c| c.starts_with("buildx build")).unwrap();
    assert!(build.contains("--output type=image,name=127.0.0.1:5000/extproc:xtask-linux-arm64,push=true"), "{build}");
    assert!(build.contains("--provenance=mode=max") && !build.contains("push-by-digest"), "{build}");
    assert!(
        err.contains(
            "pushed 127.0.0.1:5000/extproc@sha256:0000000000000000000000000000000000000000000000000000000000000001"
        ),
        "{err}"
    );

    let o = xtask_in(target.path(), &cache, &[("FAKE_BUILDX_VERSION", "v0.10.4")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("buildx 0.10.4 is too old"), "{}", stderr(&o));
}

/// `--xtask-bin`: a static xtask for this machine is the named context
/// `xtask`; a dynamic one is refused before anything runs, naming the fix.
#[test]
fn a_prebuilt_xtask_must_be_static() {
    let o =
        xtask(&["docker", "extproc", "--xtask-bin", env!("CARGO_BIN_EXE_xtask"), "--buildx", "yes", "--dry-run"], &[]);
    one_error(&o, "is dynamically linked");
    assert!(stderr(&o).contains("cargo xtask docker self-build --out FILE"), "{}", stderr(&o));

    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("static");
    let cc = Command::new("cc")
        .args(["-static", "-x", "c", "-", "-o"])
        .arg(&bin)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"int main(void) { return 0; }\n")?;
            c.wait()
        })
        .expect("cc runs");
    assert!(cc.success(), "cc -static failed");
    let o = xtask(&["docker", "extproc", "--xtask-bin", bin.to_str().unwrap(), "--buildx", "yes", "--dry-run"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("--build-context xtask="), "{}", stdout(&o));
}

/// Sizes: every build's are recorded in the metrics; a planted 50 MB layer
/// in the runtime stage puts extproc over its budget (tools/docker/budgets.toml),
/// one error naming the largest layers; the same against a baseline.
#[test]
fn an_image_over_its_size_budget_fails_naming_its_largest_layers() {
    let fake = FakeDocker::new();
    let target = tempfile::tempdir().unwrap();
    let d = fake.bin();
    let load = ["docker", "extproc", "--platform", "linux/amd64", "--load", "--tag", "t", "--docker", &d];
    let o = xtask_in(target.path(), &load, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("extproc linux/amd64: 162.8 MB uncompressed"), "{}", stderr(&o));
    let metrics = target.path().join("xtask/metrics/latest.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(metrics).unwrap()).unwrap();
    assert_eq!(json["images"][0]["uncompressed_bytes"], 162_770_944u64);

    let o = xtask_in(target.path(), &load, &[("FAKE_PLANTED", "1")]);
    one_error(
        &o,
        "extproc linux/amd64: 212.8 MB uncompressed > budget 200.0 MB; largest layers: 132.9 MB `ADD rootfs.tar /`, \
         50.0 MB `COPY big.bin /big.bin`, 29.8 MB `COPY /out/ /app/` (budgets: tools/docker/budgets.toml)",
    );

    // Pushed: the compressed size comes from the registry's manifest.
    let meta = target.path().join("meta.json");
    std::fs::write(
        &meta,
        r#"{"containerimage.digest":"sha256:0000000000000000000000000000000000000000000000000000000000000001"}"#,
    )
    .unwrap();
    let push = ["docker", "extproc", "--platform", "linux/arm64", "--push", "--registry", "127.0.0.1:5000"];
    let mut args = push.to_vec();
    args.extend(["--metadata-file", meta.to_str().unwrap(), "--docker", &d]);
    let o = xtask_in(target.path(), &args, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(
            "extproc linux/arm64: ? (pushed by digest: not in the engine's store) uncompressed, 60.0 MB compressed"
        ),
        "{e}"
    );
    // Over budget in the registry: the layers are named by the image's history.
    let o = xtask_in(target.path(), &args, &[("FAKE_PLANTED", "1")]);
    one_error(
        &o,
        "extproc linux/arm64: 90.0 MB compressed > budget 80.0 MB; largest layers: 60.0 MB `COPY big.bin /big.bin`, \
         30.0 MB `ADD rootfs.tar /` (budgets: tools/docker/budgets.toml)",
    );
}

/// `ci release`: each platform's tarball and SBOM, with their SHA256SUMS;
/// `--upload` creates the release when missing and replaces its files.
#[test]
fn ci_release_gathers_tarballs_sboms_and_their_sums() {
    let dist = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let args = |extra: &[&str]| {
        let mut a = vec!["ci", "release", "--platform", "linux/amd64,linux/arm64"];
        a.extend(["--dist", dist.path().to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
        a.extend(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| xtask(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    one_error(&run(args(&[])), "(run `cargo xtask dist --platform linux/amd64,linux/arm64 --out");
    for p in ["linux-amd64", "linux-arm64"] {
        std::fs::create_dir_all(dist.path().join(p)).unwrap();
        std::fs::write(dist.path().join(format!("{p}.tar.gz")), format!("tar {p}")).unwrap();
        std::fs::write(dist.path().join(p).join("sbom.spdx.json"), format!("sbom {p}")).unwrap();
    }
    let o = run(args(&["--upload", "v1.2.0", "--dry-run"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let sums = std::fs::read_to_string(out.path().join("SHA256SUMS")).unwrap();
    let names: Vec<&str> = sums.lines().map(|l| l.split("  ").nth(1).unwrap()).collect();
    assert_eq!(names, ["linux-amd64.tar.gz", "linux-amd64.spdx.json", "linux-arm64.tar.gz", "linux-arm64.spdx.json"]);
    assert_eq!(std::fs::read_to_string(out.path().join("linux-arm64.spdx.json")).unwrap(), "sbom linux-arm64");
    let text = stdout(&o);
    assert!(text.contains("gh release view v1.2.0"), "{text}");
    assert!(text.contains("SHA256SUMS --clobber"), "{text}");
    one_error(&run(args(&["--upload", "v1;x", "--dry-run"])), "--upload: tag `v1;x` contains `;`");
}

/// `--sbom-generator IMAGE`: the build attaches the generator's SBOM
/// (`--attest type=sbom,generator=IMAGE`), for `docker` and `ci build`;
/// without buildx it is one error naming the fix.
#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore = "the golden argv are those of an amd64 host")]
fn dry_run_with_an_sbom_generator() {
    let gen = "127.0.0.1:5000/xtask-sbom-generator:0123456789abcdef";
    let o = xtask(
        &[
            "docker",
            "extproc",
            "--push",
            "--registry",
            "127.0.0.1:5000",
            "--metadata-file",
            "/tmp/meta.json",
            "--sbom-generator",
            gen,
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
            "docker buildx build --progress plain --platform linux/amd64 --file tools/docker/Dockerfile.extproc \
             --build-arg CARGO_BUILD_JOBS=20 \
             --output type=image,name=127.0.0.1:5000/extproc,push-by-digest=true,name-canonical=true,push=true \
             --provenance=mode=max --attest type=sbom,generator={gen} --metadata-file /tmp/meta.json .\n"
        )
    );
    let o = xtask(&["docker", "extproc", "--sbom-generator", gen, "--buildx", "no", "--dry-run"], &[]);
    one_error(&o, "--sbom-generator: SBOM attestations need buildx (`cargo xtask doctor --fix` installs it)");
    let plan = r#"{"mode":"publish","event":"push","registry":"ghcr.io/o/r","tags":["sha-0123456"],
        "latest":true,"sha_tag":"sha-0123456","version":"main-0123456","revision":"0123456789","source":"https://github.com/o/r",
        "images":["extproc"],"platforms":["linux/amd64"],"notes":[]}"#;
    let o = xtask(
        &["ci", "build", "--image", "extproc", "--platform", "linux/amd64", "--sbom-generator", gen, "--dry-run"],
        &[("XTASK_PLAN", plan)],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o);
    assert!(line.contains(&format!(" --provenance=mode=max --attest type=sbom,generator={gen} ")), "{line}");
}

/// `xtask sbom scan` as BuildKit runs it in the generator image: outside
/// any workspace, told where to read and write by the protocol's
/// variables; one statement per filesystem, the core one named after its
/// directory. Without the variables it says what sets them.
#[test]
fn sbom_scan_speaks_buildkits_generator_protocol() {
    let tmp = tempfile::tempdir().unwrap();
    let core = tmp.path().join("src/core");
    std::fs::create_dir_all(core.join("var/lib/dpkg")).unwrap();
    std::fs::copy(root().join("xtask/tests/fixtures/sbom/dpkg-status"), core.join("var/lib/dpkg/status")).unwrap();
    let extras = tmp.path().join("extras");
    std::fs::create_dir_all(extras.join("build/var/lib/dpkg")).unwrap();
    std::fs::write(
        extras.join("build/var/lib/dpkg/status"),
        "Package: gcc-12\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.2.0-14\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let run = |env: &[(&str, &std::path::Path)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.current_dir(tmp.path()).args(["sbom", "scan"]).env("SOURCE_DATE_EPOCH", "1798761599");
        for v in ["BUILDKIT_SCAN_SOURCE", "BUILDKIT_SCAN_SOURCE_EXTRAS", "BUILDKIT_SCAN_DESTINATION"] {
            cmd.env_remove(v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let o = run(&[
        ("BUILDKIT_SCAN_SOURCE", &core),
        ("BUILDKIT_SCAN_SOURCE_EXTRAS", &extras),
        ("BUILDKIT_SCAN_DESTINATION", &out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut written: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    written.sort();
    assert_eq!(written, ["build.spdx.json", "core.spdx.json"]);
    let stmt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("core.spdx.json")).unwrap()).unwrap();
    assert_eq!(stmt["predicateType"], "https://spdx.dev/Document");
    let doc = &stmt["predicate"];
    assert_eq!(doc["creationInfo"]["created"], "2026-12-31T23:59:59Z");
    let purls: Vec<&str> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .collect();
    assert!(purls.contains(&"pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64"), "{purls:?}");
    let o = run(&[("BUILDKIT_SCAN_DESTINATION", &out)]);
    one_error(&o, "BuildKit sets BUILDKIT_SCAN_SOURCE");
}

/// `ci manifest` merges the tested digests into the plan's tags, then
/// writes the index the tags name to `$GITHUB_OUTPUT` (`name`, `digest`):
/// what the workflow attests.
#[test]
fn ci_manifest_outputs_the_merged_index_for_its_attestation() {
    let fake = FakeDocker::new();
    let target = tempfile::tempdir().unwrap();
    let digests = tempfile::tempdir().unwrap();
    for (d, p) in [("1", "linux/amd64"), ("2", "linux/arm64"), ("3", "linux/riscv64")] {
        std::fs::write(digests.path().join(d.repeat(64)), format!("{p}\n")).unwrap();
    }
    let out = target.path().join("github_output");
    let plan = r#"{"mode":"publish","event":"push","registry":"ghcr.io/o/r","tags":["sha-0123456"],
        "latest":true,"sha_tag":"sha-0123456","version":"main-0123456","revision":"0123456789","source":"https://github.com/o/r",
        "images":["extproc"],"platforms":["linux/amd64","linux/arm64","linux/riscv64"],"notes":[]}"#;
    let o = xtask_in(
        target.path(),
        &["ci", "manifest", "--image", "extproc", "--digests", digests.path().to_str().unwrap()],
        &[
            ("XTASK_PLAN", plan),
            ("DOCKER", &fake.bin()),
            ("PATH", &fake.path()),
            ("CARGO", &fake.cargo()),
            ("GITHUB_OUTPUT", out.to_str().unwrap()),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text,
        "name=ghcr.io/o/r/extproc\ndigest=sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
    );
    assert!(
        fake.calls()
            .iter()
            .any(|c| c.contains("imagetools inspect --format {{json .Manifest}} ghcr.io/o/r/extproc:sha-0123456")),
        "{:?}",
        fake.calls()
    );
}
