//! The e2e test of the other images, for every platform: `dev`,
//! `precommit` (FROM dev) and `stack` (FROM extproc), each platform built
//! and pushed by the same code as `cargo xtask docker` (buildx), merged into
//! one tag with `buildx imagetools create`, then each platform smoke-run
//! (a foreign one under qemu-user):
//!
//! - dev: `cargo xtask doctor --dev` (the prebuilt xtask as a cargo
//!   subcommand) finds every toolchain, qemu-user and the HF CLI;
//! - precommit: `xtask lint` passes on a copy of the repository and fails,
//!   naming the file, once a formatting error is planted in it. On a foreign
//!   platform only the checks that compile nothing run (not clippy, not go
//!   vet: compiling under emulation is what the images avoid), with the
//!   image's prebuilt xtask (`cargo xtask` in a checkout would compile it);
//! - stack: in a container of its own (no network but loopback), the
//!   router's `/healthz`, the dashboard page, and Prometheus reporting the
//!   router target `up`, read with the image's own python3 (`docker exec`).

use std::{fs, path::Path};

use anyhow::{bail, ensure, Context, Result};
use xshell::{cmd, Shell};

use super::{build_image, copy_sources, Env};
use crate::{docker::argv, docker::report::RunReport, flags::OtherImage, platform::Platform};

/// The formatting error planted for the precommit image (`rustfmt` rejects it).
const PLANTED: (&str, &str) = ("candle-binding/src/error.rs", "\nfn  planted_by_xtask_e2e( ) {}\n");

pub fn run(
    env: &Env<'_>,
    context: &Path,
    extproc_tag: &str,
    platforms: &[Platform],
    wanted: &[OtherImage],
    model: &Path,
    report: &mut RunReport,
) -> Result<()> {
    let host = Platform::host()?;
    check_wanted(wanted)?;
    // Every platform of `image`, merged into `<registry>/<image>:e2e`; the
    // per-platform references (by digest) to run.
    let pushed = |image: &str, from: &str, report: &mut RunReport| -> Result<(String, Vec<(Platform, String)>)> {
        let name = argv::image_name(Some(&env.registry), image);
        // The platforms the image table builds it for (no dev for riscv64).
        let spec = crate::docker::images::find(image)?;
        let (platforms, left): (Vec<Platform>, Vec<Platform>) =
            platforms.iter().partition(|p| spec.platforms.contains(p));
        for p in left {
            eprintln!("e2e: {image} is not built for {p} (the image table, docker/images.rs)");
        }
        let platforms = &platforms[..];
        let tag = format!("{name}:e2e");
        if platforms.is_empty() {
            return Ok((tag, Vec::new()));
        }
        let mut refs = Vec::new();
        for &p in platforms {
            let args = env.build_args(image, host, p, from);
            let b = build_image(env, context, image, p, args, super::How::default(), report)?;
            let emulated = spec.emulated(p, host);
            if p != host {
                let compiled = compiled_in_stages(&b.output, &target_stages(context, &b.dockerfile)?);
                ensure!(compiled.is_empty(), "{image} {p}: compile steps ran under emulation: {}", compiled.join("; "));
            }
            eprintln!(
                "e2e: {image} {p} built in {}{}",
                crate::docker::report::minutes(b.seconds),
                if emulated { " (package installs under qemu, no compile step)" } else { "" }
            );
            refs.push((p, argv::digest_ref(&name, b.digest.as_deref().context("no digest after a push")?)?));
        }
        let sources = refs.iter().map(|(_, r)| r.clone()).collect();
        let req = crate::docker::manifest_request(env.docker.name.clone(), vec![tag.clone()], sources)?;
        crate::docker::merge(&env.docker, true, &req, platforms, &[], report)?;
        let raw = env.docker.read(&super::argv_inspect(env, &tag)?)?;
        super::check_attestations(&tag, &raw, platforms)?;
        Ok((tag, refs))
    };

    if wanted.contains(&OtherImage::Dev) {
        let (dev_tag, dev) = pushed(OtherImage::Dev.name(), "", report)?;
        for (p, image) in &dev {
            report.step(format!("smoke dev {p}"), || smoke_dev(env, image, *p, model))?;
        }
        if wanted.contains(&OtherImage::Precommit) {
            let (_, precommit) = pushed(OtherImage::Precommit.name(), &dev_tag, report)?;
            for (p, image) in &precommit {
                report.step(format!("smoke precommit {p}"), || smoke_precommit(env, image, *p))?;
            }
        }
    }
    if wanted.contains(&OtherImage::Stack) {
        let (_, stack) = pushed(OtherImage::Stack.name(), extproc_tag, report)?;
        for (p, image) in &stack {
            report.step(format!("smoke stack {p}"), || smoke_stack(env, image, *p, model))?;
        }
    }
    Ok(())
}

/// precommit is built FROM dev: checked before anything is built.
pub fn check_wanted(wanted: &[OtherImage]) -> Result<()> {
    ensure!(
        !wanted.contains(&OtherImage::Precommit) || wanted.contains(&OtherImage::Dev),
        "--images precommit needs dev as well: precommit is built FROM the dev image (--images dev,precommit)"
    );
    Ok(())
}

/// The stages of `dockerfile` (in `context`) that run on the target
/// platform, as BuildKit names them in its progress (`dev`, `stage-2`).
fn target_stages(context: &Path, dockerfile: &str) -> Result<Vec<String>> {
    let path = context.join(dockerfile);
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let df = crate::docker::dockerfile::Dockerfile::parse(&text);
    Ok((0..df.stages.len())
        .filter(|&i| !df.on_build_platform(i))
        .map(|i| df.stages[i].name.clone().unwrap_or_else(|| format!("stage-{i}")))
        .collect())
}

/// The RUN steps of a build's plain output that compiled (cargo, rustc,
/// go) in one of `stages` (those on the target platform: under emulation
/// when it is foreign). A vertex is `#N [<platform> ]<stage> i/n] RUN …`;
/// it compiled when its output shows a compiler at work.
pub fn compiled_in_stages(output: &str, stages: &[String]) -> Vec<String> {
    let mut runs: Vec<(String, String)> = Vec::new();
    for line in output.lines() {
        let Some(rest) = line.strip_prefix('#') else { continue };
        let Some((id, text)) = rest.split_once(' ') else { continue };
        let Some(inner) = text.strip_prefix('[').and_then(|t| t.split_once(']')).map(|(i, _)| i) else { continue };
        let words: Vec<&str> = inner.split_whitespace().collect();
        // `[stage i/n]` or `[linux/arm64 stage i/n]`.
        let stage = match words.as_slice() {
            [stage, _] => *stage,
            [_, stage, _] => *stage,
            _ => continue,
        };
        if text.contains("] RUN ") && stages.iter().any(|s| s == stage) && !runs.iter().any(|(i, _)| i == id) {
            runs.push((id.to_owned(), text.chars().take(120).collect()));
        }
    }
    let compiles = |l: &str| {
        let l = l.trim_start();
        ["Compiling ", "Checking ", "go build", "# runtime/cgo"].iter().any(|w| l.starts_with(w))
    };
    runs.into_iter()
        .filter(|(id, _)| {
            let prefix = format!("#{id} ");
            output.lines().filter_map(|l| l.strip_prefix(&prefix)).any(|rest| {
                // `#12 3.21 <output>`: after the timestamp.
                match rest.split_once(' ') {
                    Some((t, body)) if t.parse::<f64>().is_ok() => compiles(body),
                    _ => false,
                }
            })
        })
        .map(|(_, text)| text)
        .collect()
}

fn model_mount(model: &Path) -> String {
    format!("type=bind,src={},dst=/models/all-MiniLM-L6-v2,readonly", model.display())
}

/// `cargo xtask doctor --dev` in the dev image: exit 0, nothing missing.
fn smoke_dev(env: &Env<'_>, image: &str, p: Platform, model: &Path) -> Result<()> {
    let sh = Shell::new()?;
    let docker = &env.docker.path;
    let mount = model_mount(model);
    let pd = p.docker();
    let out = cmd!(
        sh,
        "{docker} run --rm --platform {pd} --network none --mount {mount} --env CANDLE_MODEL_DIR=/models/all-MiniLM-L6-v2
         {image} cargo xtask doctor --dev --platform linux/amd64,linux/arm64"
    )
    .ignore_status()
    .output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}");
    ensure!(out.status.success(), "`cargo xtask doctor --dev` failed in the dev image ({p})");
    check_doctor_table(&text).with_context(|| format!("{p}"))
}

/// Every row of doctor's table is `ok`, except the engine-side optional ones
/// a container cannot have (docker, buildx, binfmt, the e2e tools).
pub fn check_doctor_table(text: &str) -> Result<()> {
    let host_only = ["docker engine", "docker buildx", "qemu binfmt", "e2e tools"];
    let mut rows = 0;
    for line in text.lines().skip_while(|l| !l.starts_with("check ")).skip(1) {
        if line.trim().is_empty() {
            break;
        }
        rows += 1;
        let ok = line.split("  ").map(str::trim).any(|c| c == "ok");
        if !ok && !host_only.iter().any(|h| line.starts_with(h)) {
            bail!("doctor in the dev image: not present: {line}");
        }
    }
    for wanted in ["cargo", "rust std aarch64-unknown-linux-gnu", "go >= 1.19", "qemu-user", "Hugging Face CLI"] {
        ensure!(text.lines().any(|l| l.starts_with(wanted)), "doctor printed no `{wanted}` row");
    }
    ensure!(rows >= 8, "doctor printed {rows} rows");
    Ok(())
}

/// What a foreign platform's precommit smoke runs: every check that
/// compiles nothing (clippy compiles the workspace, go vet runs cgo's C
/// compiler).
const NO_COMPILE: &str = "rustfmt,gofmt,shellcheck,actionlint,yamllint,workflow-commands,hadolint,codespell,dockerfile";

/// `cargo xtask lint` in the precommit image, on a git copy of the sources:
/// passes; then fails on a planted formatting error, naming the file.
fn smoke_precommit(env: &Env<'_>, image: &str, p: Platform) -> Result<()> {
    let sh = Shell::new()?;
    let repo = env.work.join(format!("lint-src-{}", p.goarch()));
    copy_sources(env.ctx, &repo, None)?;
    {
        let _d = sh.push_dir(&repo);
        cmd!(sh, "git init -q").run()?;
        cmd!(sh, "git add -A").run()?;
    }
    let docker = &env.docker.path;
    let pd = p.docker();
    let src = format!("type=bind,src={},dst=/src", repo.display());
    let volume = format!("xtask-e2e-lint-target-{}", p.goarch());
    let target = format!("type=volume,src={volume},dst=/var/cache/xtask-target");
    // Natively the image's entry point (`cargo xtask lint`); emulated, the
    // prebuilt xtask itself, on the checks that compile nothing.
    let native = p.is_host();
    let entry: Vec<&str> = if native { vec![] } else { vec!["--entrypoint", "xtask"] };
    let lint = |extra: &[&str]| -> Result<(bool, String)> {
        let mut args: Vec<&str> = if native { vec![] } else { vec!["lint", "--only", NO_COMPILE] };
        args.extend(extra);
        let entry = &entry;
        let out = cmd!(
            sh,
            "{docker} run --rm --platform {pd} --network none --mount {src} --mount {target} {entry...} {image} {args...}"
        )
        .ignore_status()
        .output()?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        Ok((out.status.success(), text))
    };
    let start = std::time::Instant::now();
    let (ok, text) = lint(&[])?;
    eprintln!("{text}");
    ensure!(ok, "`cargo xtask lint` failed in the precommit image ({p}) on the repository");
    let what = if native { "lint" } else { "lint (checks without compiling)" };
    eprintln!("e2e: precommit {p}: {what} passed on the repository in {:.0}s", start.elapsed().as_secs_f64());

    let (file, junk) = PLANTED;
    let path = repo.join(file);
    let mut text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    text.push_str(junk);
    fs::write(&path, text)?;
    let only: &[&str] = if native { &["--only", "rustfmt"] } else { &[] };
    let (ok, text) = lint(only)?;
    eprintln!("{text}");
    ensure!(!ok, "`cargo xtask lint` passed in the precommit image ({p}) despite a formatting error in {file}");
    ensure!(text.contains(&format!("{file}:")), "the lint failure does not name {file}");
    eprintln!("e2e: precommit {p}: lint fails on the planted formatting error in {file}");
    let _ = cmd!(sh, "{docker} volume rm {volume}").quiet().ignore_stdout().ignore_stderr().run();
    fs::remove_dir_all(&repo).ok();
    Ok(())
}

/// The stack image's smoke run (`smoke::stack`), its ext_proc client
/// built for the image's platform.
fn smoke_stack(env: &Env<'_>, image: &str, p: Platform, model: &Path) -> Result<()> {
    let name = format!("xtask-e2e-stack-{}-{}", p.goarch(), std::process::id());
    let router_dir = env.ctx.workspace()?.path(crate::build::ROUTER_DIR);
    let mut probe = || crate::smoke::build_probe(&env.ctx.sh, &router_dir, p, &env.work);
    crate::smoke::stack(&env.docker, image, p, &model_mount(model), &name, "e2e", &mut probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_in_target_stages_are_found() {
        let out = "#5 [dev 2/3] RUN xtask doctor --fix --dev\n\
#5 12.1 Setting up golang-go (2:1.19~1) ...\n\
#5 DONE 300.2s\n\
#7 [xtask 3/3] RUN cargo build --locked --package xtask\n\
#7 4.01    Compiling anyhow v1.0.0\n\
#9 [linux/arm64 precommit 4/5] RUN cargo clippy --workspace\n\
#9 3.20    Checking candle-core v0.9.2\n";
        let target = ["dev".to_owned(), "precommit".to_owned()];
        let found = compiled_in_stages(out, &target);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("precommit 4/5"), "{found:?}");
        // The build-platform stage `xtask` compiles, which is the point.
        assert_eq!(compiled_in_stages(out, &["xtask".to_owned()]).len(), 1);
        let quiet = out.replace("#9 3.20    Checking candle-core v0.9.2\n", "#9 3.20 skipped: emulated\n");
        assert!(compiled_in_stages(&quiet, &target).is_empty());
    }

    #[test]
    fn doctor_table_in_the_dev_image() {
        let good = "check  platform  status  detail\n\
            cargo  -  ok  cargo 1.96\n\
            C compiler (cc)  -  ok  cc\n\
            go >= 1.19  -  ok  go1.19\n\
            rust std x86_64-unknown-linux-gnu  linux/amd64  ok  host\n\
            rust std aarch64-unknown-linux-gnu  linux/arm64  ok  via RUSTC\n\
            C cross compiler aarch64-linux-gnu-gcc or zig  linux/arm64  ok  x\n\
            qemu binfmt qemu-aarch64  linux/arm64  absent (optional)  not registered\n\
            qemu-user qemu-aarch64  linux/arm64  ok  /usr/bin/qemu-aarch64-static\n\
            docker engine  -  absent (optional)  no engine\n\
            pip  -  ok  pip 23\n\
            Hugging Face CLI (hf)  -  ok  1.2\n\
            model all-MiniLM-L6-v2  -  ok  /models\n";
        check_doctor_table(good).unwrap();
        let bad = good.replace("Hugging Face CLI (hf)  -  ok", "Hugging Face CLI (hf)  -  MISSING");
        assert!(check_doctor_table(&bad).unwrap_err().to_string().contains("Hugging Face CLI"));
        assert!(check_doctor_table("check  platform\ncargo  -  ok\n").is_err());
    }
}
