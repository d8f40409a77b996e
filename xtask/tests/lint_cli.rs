//! `cargo xtask lint` through the built binary: our own checks pass on the
//! repository, fail (with `file:line: rule: message`, exit 1) on a broken
//! workspace, and bad input is one `error:` line. The workflow and Dockerfile
//! linters (actionlint with shellcheck, zizmor, hadolint) pass on a copy of
//! the tree and fail on each defect planted in it; they are installed first
//! (`lint --install-only`, into the workspace's lint tools, which needs root
//! for shellcheck and Go and the network the first time).

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
            "zizmor",
            "yamllint",
            "workflow-commands",
            "hadolint",
            "codespell",
            "dockerfile"
        ]
    );
}

/// Where `cargo xtask lint --install` puts the tools: `$XTASK_LINT_TOOLS`, else
/// `<target>/xtask` (the target dir of this test's xtask binary).
fn lint_tools_dir() -> PathBuf {
    match std::env::var_os("XTASK_LINT_TOOLS").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_BIN_EXE_xtask")).parent().unwrap().parent().unwrap().join("xtask"),
    }
}

/// The workflow and Dockerfile linters, installed once per test run.
fn install_workflow_linters() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = lint_tools_dir();
        let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .current_dir(root())
            .env("XTASK_LINT_TOOLS", &dir)
            .args(["lint", "--install-only", "--only", "actionlint,zizmor,hadolint"])
            .output()
            .expect("run xtask");
        let (out, err) = text(&o);
        assert!(o.status.success(), "`cargo xtask lint --install-only` failed:\nstdout:\n{out}\nstderr:\n{err}");
        dir
    })
}

/// The files these linters read, copied from the tree into `ws`, a git
/// repository (actionlint reads a local called workflow from its project,
/// which the `.git` directory marks).
fn copy_linted_files(ws: &Path) {
    if !ws.join(".git").is_dir() {
        let o = Command::new("git").args(["init", "-q"]).current_dir(ws).output().expect("run git");
        assert!(o.status.success(), "git init: {:?}", text(&o));
    }
    write(ws, "Cargo.toml", "[workspace]\nmembers = []\nresolver = \"2\"\n");
    let mut copied = 0;
    for dir in [".github/workflows", "tools/docker"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".yml") || name.starts_with("Dockerfile") {
                let rel = format!("{dir}/{name}");
                write(ws, &rel, &std::fs::read_to_string(root().join(&rel)).unwrap());
                copied += 1;
            }
        }
    }
    assert!(copied >= 6, "{copied} files");
    for rel in [".hadolint.yaml", ".github/zizmor.yml"] {
        if let Ok(body) = std::fs::read_to_string(root().join(rel)) {
            write(ws, rel, &body);
        }
    }
}

/// `lint --only actionlint,zizmor,hadolint` in `ws`: (exit code, stdout).
fn lint_workflows(ws: &Path) -> (Option<i32>, String) {
    let tools = install_workflow_linters();
    let manifest = ws.join("Cargo.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(ws)
        .env("XTASK_LINT_TOOLS", tools)
        .args(["--manifest-path", manifest.to_str().unwrap(), "lint", "--only", "actionlint,zizmor,hadolint"])
        .output()
        .expect("run xtask");
    let (out, err) = text(&o);
    (o.status.code(), format!("{out}\n{err}"))
}

/// Replace the one occurrence of `from` in `ws/rel`.
fn plant(ws: &Path, rel: &str, from: &str, to: &str) {
    let body = std::fs::read_to_string(ws.join(rel)).unwrap();
    assert_eq!(body.matches(from).count(), 1, "{rel}: `{from}` once");
    std::fs::write(ws.join(rel), body.replacen(from, to, 1)).unwrap();
}

/// The 1-based line of `ws/rel` that contains `needle` (the n-th one).
fn line_of(ws: &Path, rel: &str, needle: &str, nth: usize) -> usize {
    let body = std::fs::read_to_string(ws.join(rel)).unwrap();
    body.lines().enumerate().filter(|(_, l)| l.contains(needle)).nth(nth).map(|(i, _)| i + 1).unwrap()
}

#[test]
fn workflow_and_dockerfile_linters_pass_on_the_tree_and_fail_on_each_planted_defect() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    let publish = ".github/workflows/docker-publish.yml";
    let images = ".github/workflows/docker-images.yml";

    copy_linted_files(ws);
    let (code, out) = lint_workflows(ws);
    assert_eq!(code, Some(0), "the tree:\n{out}");
    for check in ["actionlint", "zizmor", "hadolint"] {
        assert!(out.lines().any(|l| l.starts_with(check) && l.contains(" PASS ")), "{check}:\n{out}");
    }

    // 1. A required input of the called workflow removed: each call passes it.
    plant(
        ws,
        images,
        "      images:\n        description: \"This wave's images, a JSON list (from the plan)\"\n        required: true\n        type: string\n",
        "",
    );
    let (code, out) = lint_workflows(ws);
    assert_eq!(code, Some(1), "{out}");
    for nth in [0, 1] {
        let n = line_of(ws, publish, "images: ${{ needs.plan.outputs.wave", nth);
        let want =
            format!("{publish}:{n}: actionlint: input \"images\" is not defined in \"./{images}\" reusable workflow");
        assert!(out.lines().any(|l| l.starts_with(&want)), "want `{want}`:\n{out}");
    }
    copy_linted_files(ws);

    // The caller no longer passes it: the called workflow requires it.
    // (wave 0's build call: its tag call passes the same images.)
    let call = "      matrix: ${{ needs.plan.outputs.wave0 }}\n      images: ${{ needs.plan.outputs.wave0_images }}\n";
    let n = line_of(ws, publish, "uses: ./.github/workflows/docker-images.yml", 0);
    plant(ws, publish, call, "      matrix: ${{ needs.plan.outputs.wave0 }}\n");
    let (code, out) = lint_workflows(ws);
    assert_eq!(code, Some(1), "{out}");
    let want = format!("{publish}:{n}: actionlint: input \"images\" is required by \"./{images}\" reusable workflow");
    assert!(out.lines().any(|l| l.starts_with(&want)), "want `{want}`:\n{out}");
    copy_linted_files(ws);

    // 2. An action pinned by tag.
    let n = line_of(ws, images, "uses: docker/login-action@", 0);
    let body = std::fs::read_to_string(ws.join(images)).unwrap();
    let mut lines: Vec<&str> = body.lines().collect();
    lines[n - 1] = "      - uses: docker/login-action@v4";
    write(ws, images, &(lines.join("\n") + "\n"));
    let (code, out) = lint_workflows(ws);
    assert_eq!(code, Some(1), "{out}");
    let want = format!("{images}:{n}: zizmor: unpinned action reference");
    assert!(out.lines().any(|l| l.starts_with(&want) && l.ends_with("[unpinned-uses]")), "want `{want}`:\n{out}");
    copy_linted_files(ws);

    // 3. An unpinned `apt-get install` in a shipped stage (the extproc runtime).
    let extproc = "tools/docker/Dockerfile.extproc";
    let body = std::fs::read_to_string(ws.join(extproc)).unwrap();
    let runtime =
        body.lines().position(|l| l.starts_with("FROM ${RUNTIME_IMAGE} AS runtime")).expect("runtime stage") + 1;
    let mut lines: Vec<&str> = body.lines().collect();
    let planted =
        "RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*";
    lines.insert(runtime, planted);
    write(ws, extproc, &(lines.join("\n") + "\n"));
    let (code, out) = lint_workflows(ws);
    assert_eq!(code, Some(1), "{out}");
    let want = format!("{extproc}:{}: hadolint: DL3008 warning: Pin versions in apt get install", runtime + 1);
    assert!(out.lines().any(|l| l.starts_with(&want)), "want `{want}`:\n{out}");
    copy_linted_files(ws);

    // 4. shellcheck runs on `run:` scripts: an unquoted variable.
    let free = "        run: xtask ci free-disk\n";
    let n = line_of(ws, images, "run: xtask ci free-disk", 0);
    plant(ws, images, free, "        run: xtask ci free-disk $RUNNER_TEMP\n");
    let (code, out) = lint_workflows(ws);
    assert_eq!(code, Some(1), "{out}");
    let want = format!("{images}:{n}: actionlint: shellcheck reported issue in this script: SC2086");
    assert!(out.lines().any(|l| l.starts_with(&want)), "want `{want}`:\n{out}");
}
