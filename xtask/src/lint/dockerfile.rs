//! Our own Dockerfile rules, in pure Rust (`cargo xtask lint --only dockerfile`):
//!
//! - `build-arg`: every build argument xtask or a workflow passes to a
//!   Dockerfile is declared there as an `ARG` (the declaration check itself is
//!   `docker::dockerfile::DeclaredArgs`, the one `cargo xtask docker` uses);
//! - `cross-run`: a cross Dockerfile (`*.cross`: it builds foreign
//!   platforms without QEMU) runs no `RUN` on the target platform: neither in
//!   its final stage nor in any target-platform stage the final one is built
//!   from (`FROM`, `COPY --from`, `RUN --mount=from=`). (A Dockerfile with
//!   `--platform=$BUILDPLATFORM` stages and package installs on the target,
//!   like dev's, is not a cross Dockerfile: `emulated-compile` and
//!   `target-stage` hold it.)
//! - `base-image`: every `FROM` image is `${ARG}`/`$ARG` (an `ARG` declared
//!   before the first `FROM`), a previous stage, or `scratch`;
//! - `emulated-compile`: no compile step runs on the target platform, where
//!   a foreign platform runs under QEMU (10-40x slower): a `RUN` of a stage
//!   of the final image that is not on `$BUILDPLATFORM` (the model's
//!   `on_build_platform`) runs no [`compile_step`] (`cargo build`, `go vet`,
//!   `xtask lint`, `make`, `gcc`, …; the RUN's programs come from the model,
//!   `Instr::commands`: `&&`, `;`, pipes, continuations, heredocs, the exec
//!   form, `sh -c`, `$(…)`). The fix: compile in a `--platform=$BUILDPLATFORM`
//!   stage and cross-compile, or guard the step with `xtask docker
//!   warm-lint`, which compiles only when the build is native. Every
//!   Dockerfile, except the native Dockerfile of an image that has a cross
//!   one (the table builds it only for the build machine's platform);
//! - `target-stage`: in the Dockerfile of an image of the table that builds
//!   foreign platforms under QEMU, the target-platform stages with a `RUN`
//!   are exactly the table's `target_stages` (package installs only).
//!
//! No `copy-from` rule: whether a `COPY --from=<stage>` source exists is
//! known only by building (`docker build` names the missing path exactly, and
//! the e2e builds every image); guessing it from WORKDIR/RUN text was a heuristic.
//!
//! The Dockerfile model (instructions with lines, stages) is
//! [`crate::docker::dockerfile`], the one `cargo xtask docker` reads too.

use std::collections::BTreeSet;

use super::Finding;
use crate::docker::{
    dockerfile::{shell, DeclaredArgs, Dockerfile},
    images::ImageSpec,
};

/// Whether `path` names a cross Dockerfile by its name.
pub fn is_cross_name(path: &str) -> bool {
    path.ends_with(".cross")
}

/// Every rule that needs only the Dockerfile itself.
pub fn check(file: &str, text: &str) -> Vec<Finding> {
    let df = Dockerfile::parse(text);
    let mut out = Vec::new();
    out.extend(base_images(file, &df));
    let emulated_image = ImageSpec::emulated_by(file);
    match emulated_image {
        Some(spec) => out.extend(target_stages(file, &df, spec)),
        None if is_cross_name(file) => out.extend(cross_runs(file, &df)),
        None => {}
    }
    if !ImageSpec::native_only(file) {
        out.extend(emulated_compiles(file, &df));
    }
    out.sort_by_key(|f| f.line);
    out
}

fn stage_name(df: &Dockerfile, i: usize) -> String {
    df.stages[i].name.clone().unwrap_or_else(|| i.to_string())
}

/// The stages of the final image that run on the target platform.
fn target_platform_stages(df: &Dockerfile) -> Vec<usize> {
    df.final_closure().into_iter().filter(|&i| !df.on_build_platform(i)).collect()
}

pub fn emulated_compiles(file: &str, df: &Dockerfile) -> Vec<Finding> {
    let mut out = Vec::new();
    for i in target_platform_stages(df) {
        for ins in df.stages[i].body.iter().filter(|ins| ins.keyword == "RUN") {
            let steps: Vec<String> =
                ins.commands().iter().filter_map(|c| compile_step(c)).map(|s| format!("`{s}`")).collect();
            if steps.is_empty() {
                continue;
            }
            out.push(finding(
                file,
                ins.line,
                "emulated-compile",
                format!(
                    "{} {} in stage `{}`, on the target platform: for a foreign platform it compiles under \
                     QEMU (10-40x slower); run it in a `--platform=$BUILDPLATFORM` stage and cross-compile, \
                     or guard it with `xtask docker warm-lint`",
                    steps.join(", "),
                    if steps.len() == 1 { "runs" } else { "run" },
                    stage_name(df, i)
                ),
            ));
        }
    }
    out
}

/// `target-stage`: the target-platform stages with a RUN are the table's.
pub fn target_stages(file: &str, df: &Dockerfile, spec: &ImageSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    let listed = || spec.target_stages.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
    let targets = target_platform_stages(df);
    for &i in &targets {
        let name = stage_name(df, i);
        let Some(run) = df.stages[i].body.iter().find(|ins| ins.keyword == "RUN") else { continue };
        if !spec.target_stages.contains(&name.as_str()) {
            out.push(finding(
                file,
                run.line,
                "target-stage",
                format!(
                    "stage `{name}` has RUNs on the target platform (under QEMU for a foreign one), but the \
                     image table lists only [{}] for `{}` (`target_stages` in xtask/src/docker/images.rs): \
                     move them to a `--platform=$BUILDPLATFORM` stage, or, if they only install packages, \
                     list the stage there",
                    listed(),
                    spec.name
                ),
            ));
        }
    }
    for name in spec.target_stages {
        let present = targets.iter().any(|&i| stage_name(df, i) == *name);
        if !present {
            // Shown on the final stage, where such a stage would end up.
            let line = df.stages.last().map_or(1, |s| s.line);
            out.push(finding(
                file,
                line,
                "target-stage",
                format!(
                    "the image table lists stage `{name}` of `{}` as a target-platform stage (`target_stages` \
                     in xtask/src/docker/images.rs), but no stage of the final image by that name runs on the \
                     target platform here: remove it from the table",
                    spec.name
                ),
            ));
        }
    }
    out
}

/// The first operand of `args` (an argument that is not an option), with
/// its index, skipping the value of the options in `with_value`.
fn operand<'a>(args: &'a [String], with_value: &[&str]) -> Option<(usize, &'a str)> {
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if with_value.contains(&a) {
            i += 2;
        } else if a.starts_with('-') || a.starts_with('+') {
            i += 1;
        } else {
            return Some((i, a));
        }
    }
    None
}

/// Whether a program with these arguments compiles: the name shown in the
/// finding (`cargo build`, `go vet`, `xtask lint`, `gcc`), or `None`.
///
/// - cargo: `build check clippy test bench run doc rustc rustdoc install fix
///   miri zigbuild nextest` (and their one-letter aliases), `chef cook`, and
///   `cargo xtask …` (an alias of `cargo run`);
/// - `rustc`, `rustdoc`, C compilers (`cc`, `gcc`, `g++`, `clang`, …,
///   `<prefix>-gcc`, `gcc-12`): unless they only print (`--version`, `-vV`,
///   `--print`, `-dumpmachine`, `-print-…`);
/// - go: `build install test vet run generate`, `go tool compile|link|asm|cgo`;
/// - xtask (or `cargo-xtask`): `build dist test bench fuzz`, `precache cook`,
///   `docker self-build`, and `lint` unless `--install-only`, `--list`, or
///   `--only` without `clippy` and `go-vet` (`--install-only` does build one
///   program, actionlint's `go install`, which is not counted here);
/// - `make`, `gmake`, `ninja`, `scons`, `cmake --build`, `meson compile`,
///   zig `build* cc c++ test run`, tinygo `build test run`.
///
/// Not here: `pip install` and `npm install` may build a native extension
/// from source; the text cannot tell (xtask installs with `--only-binary`).
pub fn compile_step(argv: &[String]) -> Option<String> {
    let prog = shell::program(argv.first()?);
    let args = &argv[1..];
    let one_of = |s: &str, list: &[&str]| list.contains(&s);
    let prints_only = |args: &[String]| {
        args.is_empty()
            || args.iter().any(|a| {
                matches!(a.as_str(), "-V" | "--version" | "-vV" | "-Vv" | "--help" | "-h" | "-dumpmachine")
                    || a.starts_with("--print")
                    || a.starts_with("-print-")
                    || a.starts_with("-dump")
            })
    };
    let cc_like = |p: &str| {
        let base =
            p.split_once('-').map_or(p, |(a, v)| if v.chars().all(|c| c.is_ascii_digit() || c == '.') { a } else { p });
        one_of(base, &["cc", "gcc", "g++", "c++", "clang", "clang++", "tcc"])
            || ["-gcc", "-g++", "-cc", "-c++", "-clang", "-clang++"].iter().any(|s| p.ends_with(s))
    };
    match prog {
        "cargo" => {
            let (i, sub) = operand(args, &["--color", "--config", "-C", "-Z", "--explain", "--manifest-path"])?;
            let compiles = one_of(
                sub,
                &[
                    "build", "b", "check", "c", "clippy", "test", "t", "bench", "run", "r", "doc", "d", "rustc",
                    "rustdoc", "install", "fix", "miri", "xtask", "zigbuild", "nextest",
                ],
            ) || (sub == "chef" && args.get(i + 1).is_some_and(|a| a == "cook"));
            compiles.then(|| format!("cargo {sub}"))
        }
        "rustc" | "rustdoc" => (!prints_only(args)).then(|| prog.to_owned()),
        "go" => {
            let (i, sub) = operand(args, &["-C"])?;
            let tool = sub == "tool" && args.get(i + 1).is_some_and(|t| one_of(t, &["compile", "link", "asm", "cgo"]));
            (tool || one_of(sub, &["build", "install", "test", "vet", "run", "generate"])).then(|| format!("go {sub}"))
        }
        "xtask" | "cargo-xtask" => {
            let (i, sub) = operand(args, &["--manifest-path"])?;
            let rest = &args[i + 1..];
            let next = operand(rest, &[]).map(|(_, s)| s);
            let compiles = match sub {
                "build" | "dist" | "test" | "bench" | "fuzz" => true,
                "precache" => next == Some("cook"),
                "docker" => next == Some("self-build"),
                "lint" => lint_compiles(rest),
                _ => false,
            };
            compiles.then(|| format!("xtask {sub}"))
        }
        "make" | "gmake" | "ninja" | "scons" => Some(prog.to_owned()),
        "cmake" => args.iter().any(|a| a == "--build").then(|| "cmake --build".to_owned()),
        "meson" => (operand(args, &[])?.1 == "compile").then(|| "meson compile".to_owned()),
        "zig" => {
            let sub = operand(args, &[])?.1;
            (sub.starts_with("build") || one_of(sub, &["cc", "c++", "test", "run"])).then(|| format!("zig {sub}"))
        }
        "tinygo" => {
            let sub = operand(args, &[])?.1;
            one_of(sub, &["build", "test", "run"]).then(|| format!("tinygo {sub}"))
        }
        p if cc_like(p) => (!prints_only(args)).then(|| p.to_owned()),
        _ => None,
    }
}

/// `xtask lint ARGS` compiles (clippy, go vet, and xtask via `cargo xtask`)
/// unless it only installs, lists, or runs checks that do not compile.
fn lint_compiles(args: &[String]) -> bool {
    if args.iter().any(|a| a == "--install-only" || a == "--list") {
        return false;
    }
    let mut only: Option<Vec<String>> = None;
    for (i, a) in args.iter().enumerate() {
        let list = if let Some(v) = a.strip_prefix("--only=") {
            Some(v.to_owned())
        } else if a == "--only" {
            args.get(i + 1).cloned()
        } else {
            None
        };
        if let Some(list) = list {
            only.get_or_insert_with(Vec::new).extend(list.split(',').map(str::to_owned));
        }
    }
    match only {
        Some(checks) => checks.iter().any(|c| c == "clippy" || c == "go-vet"),
        None => true,
    }
}

fn finding(file: &str, line: usize, rule: &str, message: String) -> Finding {
    Finding { file: file.to_owned(), line, rule: rule.to_owned(), message }
}

/// The `ARG`s an image reference is made of, when it starts with one (so
/// that the repository can be replaced): `$X`, `${X}`, `${X:-default}`,
/// `${X:+alt}`, `${REGISTRY}/dev:${TAG}`. `None` for a fixed image
/// (`debian`, `debian:${TAG}`).
fn image_args(image: &str) -> Option<Vec<&str>> {
    if !image.starts_with('$') {
        return None;
    }
    let is_name = |n: &str| {
        !n.is_empty()
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    let mut names = Vec::new();
    let mut rest = image;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let name = if let Some(braced) = rest.strip_prefix('{') {
            let end = braced.find('}')?;
            rest = &braced[end + 1..];
            // `${X:-default}`, `${X-default}`, `${X:+alt}`, `${X+alt}`: the name is X.
            let inner = &braced[..end];
            &inner[..inner.find([':', '-', '+']).unwrap_or(inner.len())]
        } else {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            let name = &rest[..end];
            rest = &rest[end..];
            name
        };
        if !is_name(name) {
            return None;
        }
        names.push(name);
    }
    Some(names)
}

pub fn base_images(file: &str, df: &Dockerfile) -> Vec<Finding> {
    let globals = df.global_args();
    let mut out = Vec::new();
    for s in &df.stages {
        if s.image.eq_ignore_ascii_case("scratch") || df.stage_ref(&s.image, s.index).is_some() {
            continue;
        }
        match image_args(&s.image) {
            Some(args) => {
                if let Some(arg) = args.iter().find(|a| !globals.iter().any(|g| g == *a)) {
                    out.push(finding(
                        file,
                        s.line,
                        "base-image",
                        format!("`FROM {}`: `{arg}` is not an ARG declared before the first FROM", s.image),
                    ));
                }
            }
            None => out.push(finding(
                file,
                s.line,
                "base-image",
                format!(
                    "base image `{}` is not an ARG: declare `ARG SOME_IMAGE={}` before the first FROM \
                     and write `FROM ${{SOME_IMAGE}}` (or use a previous stage, or `scratch`)",
                    s.image, s.image
                ),
            )),
        }
    }
    out
}

pub fn cross_runs(file: &str, df: &Dockerfile) -> Vec<Finding> {
    let mut out = Vec::new();
    let last = df.stages.len().saturating_sub(1);
    for i in df.final_closure() {
        if df.on_build_platform(i) {
            continue;
        }
        let s = &df.stages[i];
        let name = s.name.clone().unwrap_or_else(|| i.to_string());
        let role = if i == last {
            format!("the final stage `{name}`")
        } else {
            format!("stage `{name}` (part of the final image, on the target platform)")
        };
        for ins in s.body.iter().filter(|i| i.keyword == "RUN") {
            out.push(finding(
                file,
                ins.line,
                "cross-run",
                format!(
                    "RUN in {role} of a cross Dockerfile: it would run under emulation; \
                     do it in a `--platform=$BUILDPLATFORM` stage and COPY the result"
                ),
            ));
        }
    }
    out
}

/// A build argument someone passes to a Dockerfile, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedArg {
    pub name: String,
    /// Where it is passed (a workflow, an xtask source file, or the Dockerfile
    /// itself when only the planner knows).
    pub file: String,
    pub line: usize,
    /// Who passes it (`xtask docker`, a workflow, ...).
    pub by: String,
    /// The Dockerfiles (relative to the workspace root) it is passed to.
    pub dockerfiles: Vec<String>,
}

/// `build-arg`: every passed argument is an `ARG` of each Dockerfile it is passed to.
/// `read` gives a Dockerfile's text (`None`: missing).
pub fn check_build_args(passed: &[PassedArg], read: &dyn Fn(&str) -> Option<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for p in passed {
        for df in &p.dockerfiles {
            if !seen.insert((p.file.clone(), p.line, p.name.clone(), df.clone())) {
                continue;
            }
            let message = match read(df) {
                None => format!("{} passes `{}` to {df}, which does not exist", p.by, p.name),
                Some(text) if !DeclaredArgs::parse(&text).contains(&p.name) => {
                    format!("{} passes `{}` to {df}, which declares no `ARG {}`", p.by, p.name, p.name)
                }
                Some(_) => continue,
            };
            out.push(finding(&p.file, p.line, "build-arg", message));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dockerfiles")
    }

    /// `# expect-next: RULE` comments: the rule must fire on the next instruction.
    fn expectations(text: &str) -> Vec<(usize, String)> {
        let lines: Vec<&str> = text.lines().collect();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if let Some(rules) = l.trim().strip_prefix("# expect-next:") {
                let next = (i + 1..lines.len())
                    .find(|&j| !lines[j].trim().is_empty() && !lines[j].trim_start().starts_with('#'))
                    .expect("an instruction after expect-next");
                for rule in rules.split(',') {
                    out.push((next + 1, rule.trim().to_owned()));
                }
            }
        }
        out.sort();
        out
    }

    fn got(findings: &[Finding]) -> Vec<(usize, String)> {
        let mut v: Vec<(usize, String)> = findings.iter().map(|f| (f.line, f.rule.clone())).collect();
        v.sort();
        v
    }

    #[test]
    fn each_bad_fixture_fires_exactly_its_expected_rules() {
        let mut rules_seen = BTreeSet::new();
        let mut n = 0;
        for entry in std::fs::read_dir(fixtures().join("bad")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // The build-arg fixture needs its workflow: tested below.
            if !name.contains("Dockerfile") || name.contains("build-arg") {
                continue;
            }
            n += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            let want = expectations(&text);
            assert!(!want.is_empty(), "{name} has no `# expect-next:`");
            // `# lint-as: PATH`: checked as that file of the image table.
            let as_name = text.lines().find_map(|l| l.strip_prefix("# lint-as: ")).map(str::trim);
            let findings = check(as_name.unwrap_or(&name), &text);
            for f in &findings {
                assert_eq!(f.file, as_name.unwrap_or(&name));
                assert!(!f.message.is_empty());
            }
            assert_eq!(got(&findings), want, "{name}: {findings:#?}");
            rules_seen.extend(want.into_iter().map(|(_, r)| r));
        }
        assert!(n >= 3, "bad fixtures found: {n}");
        for rule in ["base-image", "cross-run", "emulated-compile", "target-stage"] {
            assert!(rules_seen.contains(rule), "no bad fixture for {rule}");
        }
    }

    #[test]
    fn good_fixtures_and_shipped_dockerfiles_are_quiet() {
        // (path, name it is checked as: the shipped ones relative to the root,
        // as `cargo xtask lint` names them, so that the table applies)
        let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(fixtures().join("good"))
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                let name = p.display().to_string();
                (p, name)
            })
            .collect();
        for e in std::fs::read_dir(root().join("tools/docker")).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("Dockerfile") {
                files.push((p, format!("tools/docker/{name}")));
            }
        }
        assert!(files.len() >= 3, "{files:?}");
        for (path, name) in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let findings = check(&name, &text);
            assert!(findings.is_empty(), "{name}: {findings:#?}");
        }
    }

    #[test]
    fn shipped_cross_dockerfile_is_detected_as_cross() {
        for spec in crate::docker::images::IMAGES {
            let Some(cross) = spec.cross else {
                // Emulated images: RUNs on the target platform only in the
                // table's stages; every compile on the build platform.
                let df = Dockerfile::parse(&std::fs::read_to_string(root().join(spec.native)).unwrap());
                assert!(!is_cross_name(spec.native), "{}", spec.native);
                let with_run: Vec<String> = target_platform_stages(&df)
                    .into_iter()
                    .filter(|&i| df.stages[i].body.iter().any(|ins| ins.keyword == "RUN"))
                    .map(|i| stage_name(&df, i))
                    .collect();
                assert_eq!(with_run, spec.target_stages, "{}", spec.native);
                continue;
            };
            let df = Dockerfile::parse(&std::fs::read_to_string(root().join(cross)).unwrap());
            assert!((0..df.stages.len()).any(|i| df.on_build_platform(i)) && is_cross_name(cross));
            let last = df.stages.len() - 1;
            assert!(!df.on_build_platform(last), "{cross}: final stage is on the target platform");
            assert!(df.on_build_platform(df.stage_ref("build", last).unwrap()));
        }
    }

    #[test]
    fn the_shipped_dev_and_precommit_compile_on_the_build_platform() {
        for (file, compiling) in [
            ("tools/docker/Dockerfile", &["xtask-build", "xtask", "xtask-target"][..]),
            ("tools/docker/Dockerfile.precommit", &["planner"][..]),
        ] {
            let df = Dockerfile::parse(&std::fs::read_to_string(root().join(file)).unwrap());
            for name in compiling {
                let i = df.stages.iter().position(|s| s.name.as_deref() == Some(*name)).unwrap();
                assert!(df.on_build_platform(i), "{file}: {name}");
            }
        }
    }

    fn argv(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn compile_steps() {
        for (line, want) in [
            ("cargo build --locked", Some("cargo build")),
            ("/usr/local/cargo/bin/cargo +nightly -Z x --color never clippy", Some("cargo clippy")),
            ("cargo b", Some("cargo b")),
            ("cargo xtask lint --install-only", Some("cargo xtask")),
            ("cargo chef cook --release", Some("cargo chef")),
            ("cargo chef prepare", None),
            ("cargo fmt --check", None),
            ("cargo fetch", None),
            ("cargo --version", None),
            ("rustc -vV", None),
            ("rustc --print sysroot", None),
            ("rustc main.rs", Some("rustc")),
            ("go vet ./...", Some("go vet")),
            ("go -C src build", Some("go build")),
            ("go tool compile x.go", Some("go tool")),
            ("go mod download", None),
            ("go version", None),
            ("gofmt -l .", None),
            ("xtask build --release", Some("xtask build")),
            ("xtask --manifest-path a/Cargo.toml precache cook", Some("xtask precache")),
            ("xtask precache prepare --out /s", None),
            ("xtask docker self-build --out x", Some("xtask docker")),
            ("xtask docker toolchain", None),
            ("xtask docker warm-lint --target-platform a --build-platform b", None),
            ("xtask lint", Some("xtask lint")),
            ("xtask lint --only rustfmt,go-vet", Some("xtask lint")),
            ("xtask lint --only=rustfmt,shellcheck", None),
            ("xtask lint --install-only", None),
            ("xtask doctor --fix --dev", None),
            ("cargo-xtask dist", Some("xtask dist")),
            ("make -j4", Some("make")),
            ("cmake --build build", Some("cmake --build")),
            ("cmake -S . -B build", None),
            ("gcc -O2 -c x.c", Some("gcc")),
            ("gcc-12 x.c", Some("gcc-12")),
            ("aarch64-linux-gnu-gcc x.c", Some("aarch64-linux-gnu-gcc")),
            ("gcc --version", None),
            ("aarch64-linux-gnu-gcc -print-file-name=libc.so", None),
            ("zig cc x.c", Some("zig cc")),
            ("zig version", None),
            ("apt-get install -y gcc", None),
            ("pip install x", None),
        ] {
            assert_eq!(compile_step(&argv(line)).as_deref(), want, "{line}");
        }
    }

    #[test]
    fn image_args_forms() {
        assert_eq!(image_args("${A}"), Some(vec!["A"]));
        assert_eq!(image_args("$A_1"), Some(vec!["A_1"]));
        assert_eq!(image_args("${A:-golang:1.19}"), Some(vec!["A"]));
        assert_eq!(image_args("${A-x}"), Some(vec!["A"]));
        assert_eq!(image_args("${A:+x}"), Some(vec!["A"]));
        assert_eq!(image_args("${REGISTRY}/dev:${TAG}"), Some(vec!["REGISTRY", "TAG"]));
        assert_eq!(image_args("$REG/dev:$TAG"), Some(vec!["REG", "TAG"]));
        assert_eq!(image_args("${A}:tag"), Some(vec!["A"]));
        assert_eq!(image_args("debian"), None);
        assert_eq!(image_args("debian:${TAG}"), None);
        assert_eq!(image_args("${A"), None);
        assert_eq!(image_args("${1A}"), None);
    }

    #[test]
    fn build_args_must_be_declared_where_passed() {
        let df = "ARG A\nFROM scratch\n";
        let read = |name: &str| (name == "D").then(|| df.to_owned());
        let passed = vec![
            PassedArg {
                name: "A".into(),
                file: "w.yml".into(),
                line: 3,
                by: "w".into(),
                dockerfiles: vec!["D".into()],
            },
            PassedArg {
                name: "B".into(),
                file: "w.yml".into(),
                line: 4,
                by: "w".into(),
                dockerfiles: vec!["D".into()],
            },
            PassedArg {
                name: "HTTP_PROXY".into(),
                file: "w.yml".into(),
                line: 5,
                by: "w".into(),
                dockerfiles: vec!["D".into()],
            },
            PassedArg { name: "A".into(), file: "x.rs".into(), line: 9, by: "x".into(), dockerfiles: vec!["E".into()] },
        ];
        let f = check_build_args(&passed, &read);
        let s: Vec<String> = f.iter().map(|f| f.to_string()).collect();
        assert_eq!(
            s,
            [
                "w.yml:4: build-arg: w passes `B` to D, which declares no `ARG B`",
                "x.rs:9: build-arg: x passes `A` to E, which does not exist",
            ]
        );
    }

    #[test]
    fn build_arg_fixture_lacks_what_the_workflow_passes() {
        let dir = fixtures().join("bad");
        let yaml = std::fs::read_to_string(dir.join("build-arg.workflow.yml")).unwrap();
        let df_name = "Dockerfile.build-arg";
        let text = std::fs::read_to_string(dir.join(df_name)).unwrap();
        let passed: Vec<PassedArg> = super::super::workflow::build_args_in_yaml(&yaml)
            .into_iter()
            .map(|a| PassedArg {
                name: a.name,
                file: "build-arg.workflow.yml".into(),
                line: a.line,
                by: "workflow".into(),
                dockerfiles: vec![df_name.into()],
            })
            .collect();
        let read = |_: &str| Some(text.clone());
        let f = check_build_args(&passed, &read);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].to_string().starts_with("build-arg.workflow.yml:13: build-arg: workflow passes `VERSION`"),
            "{}",
            f[0]
        );
        // The structural rules have nothing to say about it.
        assert!(check(df_name, &text).is_empty());
    }
}
