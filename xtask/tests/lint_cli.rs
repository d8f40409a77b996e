//! `cargo xtask lint` through the built binary: our own checks pass on the
//! repository, fail (with `file:line: rule: message`, exit 1) on a broken
//! workspace, and bad input is one `error:` line.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn xtask(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask")).current_dir(dir).args(args).output().expect("run xtask")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn our_checks_pass_on_the_repository() {
    let o = xtask(&root(), &["lint", "--only", "dockerfile,workflow-commands"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    let rows: Vec<&str> = out.lines().skip(1).take_while(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows[0].starts_with("workflow-commands  PASS"), "{out}");
    assert!(rows[1].starts_with("dockerfile         PASS"), "{out}");
}

fn write(dir: &Path, rel: &str, body: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

#[test]
fn a_broken_workspace_fails_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    write(ws, "Cargo.toml", "[workspace]\nmembers = []\nresolver = \"2\"\n");
    write(
        ws,
        "tools/docker/Dockerfile.extproc",
        "ARG BUILDER_IMAGE=rust\nARG RUNTIME_IMAGE=debian\nFROM ${BUILDER_IMAGE} AS build\nRUN mkdir /out\n\
         FROM debian:bookworm-slim\nCOPY --from=build /out/ /app/\n",
    );
    write(
        ws,
        "tools/docker/Dockerfile.extproc.cross",
        "ARG BUILDER_IMAGE=rust\nARG RUNTIME_IMAGE=debian\nARG CARGO_BUILD_JOBS\nARG VERSION\n\
         FROM --platform=$BUILDPLATFORM ${BUILDER_IMAGE} AS build\nRUN mkdir /out\n\
         FROM ${RUNTIME_IMAGE}\nCOPY --from=build /nothing/ /app/\nRUN chmod -R a+r /app\n",
    );
    write(
        ws,
        ".github/workflows/ci.yml",
        "on:\n  push:\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n\
         \x20     - run: cargo xtask ci matrix\n\
         \x20     - run: |\n          cargo xtask no-such-command --flag\n          cargo xtask ci no-such-sub\n\
         \x20     - run: cargo xtask docker extproc --platform linux/arm64 --build-arg VERSION=1\n\
         \x20     - run: cargo xtask docker extprok --pr\n",
    );
    let manifest = ws.join("Cargo.toml");
    let o =
        xtask(ws, &["--manifest-path", manifest.to_str().unwrap(), "lint", "--only", "workflow-commands,dockerfile"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "stdout:\n{out}\nstderr:\n{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors, ["error: lint failed: workflow-commands, dockerfile"], "{err}");
    assert!(out.contains("workflow-commands  FAIL"), "{out}");
    assert!(out.contains("dockerfile         FAIL"), "{out}");
    for want in [
        ".github/workflows/ci.yml:9: workflow-commands: `cargo xtask no-such-command` does not exist",
        ".github/workflows/ci.yml:10: workflow-commands: `cargo xtask ci no-such-sub` does not exist",
        ".github/workflows/ci.yml:12: workflow-commands: unknown image `extprok`; known images: extproc",
        "tools/docker/Dockerfile.extproc:5: base-image: base image `debian:bookworm-slim` is not an ARG",
        "tools/docker/Dockerfile.extproc.cross:9: cross-run: RUN in the final stage",
        // An image of the table whose Dockerfile is missing.
        "tools/docker/Dockerfile.stack:1: build-arg: `cargo xtask docker stack` cannot plan a build: cannot read tools/docker/Dockerfile.stack",
        "xtask/src/e2e/mod.rs:1: build-arg: `cargo xtask e2e` passes `EXTPROC_IMAGE` to tools/docker/Dockerfile.stack, which does not exist",
        ".github/workflows/ci.yml:11: build-arg: .github/workflows/ci.yml passes `VERSION` to tools/docker/Dockerfile.extproc, which declares no `ARG VERSION`",
    ] {
        assert!(out.lines().any(|l| l.starts_with(want)), "want a line starting with `{want}`; got:\n{out}");
    }
    // `ci matrix` exists; the cross Dockerfile declares VERSION.
    assert!(!out.contains("`cargo xtask ci matrix`"), "{out}");
    assert!(!out.contains("to tools/docker/Dockerfile.extproc.cross, which declares no"), "{out}");
}

#[test]
fn a_compile_under_emulation_is_rejected() {
    // The dev image's Dockerfile before issue 14: xtask compiled in a stage on
    // the target platform, so its arm64 build compiles under QEMU.
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    write(ws, "Cargo.toml", "[workspace]\nmembers = []\nresolver = \"2\"\n");
    let old = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dockerfiles/bad/old-dev.Dockerfile"),
    )
    .unwrap();
    write(ws, "tools/docker/Dockerfile", &old);
    let manifest = ws.join("Cargo.toml");
    let o = xtask(ws, &["--manifest-path", manifest.to_str().unwrap(), "lint", "--only", "dockerfile"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "stdout:\n{out}\nstderr:\n{err}");
    let want =
        "tools/docker/Dockerfile:16: emulated-compile: `cargo build` runs in stage `xtask`, on the target platform";
    assert!(out.lines().any(|l| l.starts_with(want)), "{out}");
    assert!(out.contains("`--platform=$BUILDPLATFORM` stage and cross-compile"), "{out}");
    // And the table's `dev` stage is the only target-platform stage with RUNs it accepts.
    assert!(out.lines().any(|l| l.starts_with("tools/docker/Dockerfile:8: target-stage: stage `base`")), "{out}");
}

#[test]
fn another_workspace_is_not_held_to_our_image_table() {
    // No tools/docker, no workflows: nothing to check (and no tool is needed for that).
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    write(ws, "Cargo.toml", "[workspace]\nmembers = []\nresolver = \"2\"\n");
    let manifest = ws.join("Cargo.toml");
    let o =
        xtask(ws, &["--manifest-path", manifest.to_str().unwrap(), "lint", "--only", "dockerfile,hadolint,actionlint"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "stdout:\n{out}\nstderr:\n{err}");
    for check in ["dockerfile", "hadolint", "actionlint"] {
        assert!(out.lines().any(|l| l.starts_with(check) && l.contains(" PASS ")), "{check}: {out}");
    }
}

#[test]
fn unknown_check_is_one_error() {
    // A usage error (clap's exit status 2), listing the checks.
    let o = xtask(&root(), &["lint", "--only", "dockerfile,spelling"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors, ["error: invalid value 'spelling' for '--only <CHECK>'"], "{err}");
    assert!(err.contains("[possible values: rustfmt, clippy, gofmt, go-vet,"), "{err}");
}

#[test]
fn list_names_every_check() {
    let o = xtask(&root(), &["lint", "--list"]);
    let (out, _) = text(&o);
    assert!(o.status.success());
    let names: Vec<&str> = out.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(
        names,
        [
            "rustfmt",
            "clippy",
            "gofmt",
            "go-vet",
            "shellcheck",
            "actionlint",
            "yamllint",
            "workflow-commands",
            "hadolint",
            "codespell",
            "dockerfile"
        ]
    );
}
