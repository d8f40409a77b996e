//! The e2e test of the other images, on the host platform: `dev`,
//! `precommit` (FROM dev) and `stack` (FROM extproc), built and pushed by the
//! same code as `cargo xtask docker`, then each smoke-run:
//!
//! - dev: `cargo xtask doctor --dev` (the prebuilt xtask as a cargo
//!   subcommand) finds every toolchain, qemu-user and the HF CLI;
//! - precommit: `cargo xtask lint` passes on a copy of the repository and
//!   fails, naming the file, once a formatting error is planted in it;
//! - stack: in a container of its own (no network but loopback), the
//!   router's `/healthz`, the dashboard page, and Prometheus reporting the
//!   router target `up`, read with the image's own python3 (`docker exec`).

use std::{fs, path::Path, time::Duration};

use anyhow::{bail, ensure, Context, Result};
use xshell::{cmd, Shell};

use super::{build_image, copy_sources, Env};
use crate::{docker::argv, docker::report::RunReport, platform::Platform};

/// What `docker exec` runs in the stack container: GET a URL, print the status
/// on the first line and the body after it (0 and the error when unreachable).
const FETCH_PY: &str = "import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
    print(r.status); sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); sys.stdout.write(e.read().decode())
except Exception as e:
    print(0); print(e)
";

/// The formatting error planted for the precommit image (`rustfmt` rejects it).
const PLANTED: (&str, &str) = ("candle-binding/src/error.rs", "\nfn  planted_by_xtask_e2e( ) {}\n");

pub fn run(env: &Env<'_>, context: &Path, extproc_ref: &str, model: &Path, report: &mut RunReport) -> Result<()> {
    let host = Platform::host()?;
    let pushed = |image: &str, from: &str, report: &mut RunReport| -> Result<String> {
        let args = super::build_args(image, host, host, from);
        let b = build_image(env, context, image, host, args, false, report)?;
        eprintln!("e2e: {image} {host} built in {}", crate::docker::report::minutes(b.seconds));
        let name = argv::image_name(Some(&env.registry), image);
        argv::digest_ref(&name, b.digest.as_deref().context("no digest after a push")?)
    };

    let dev = pushed("dev", "", report)?;
    report.step("smoke dev", || smoke_dev(env, &dev, model))?;

    let precommit = pushed("precommit", &dev, report)?;
    report.step("smoke precommit", || smoke_precommit(env, &precommit))?;

    let stack = pushed("stack", extproc_ref, report)?;
    report.step("smoke stack", || smoke_stack(env, &stack, model))?;
    Ok(())
}

fn model_mount(model: &Path) -> String {
    format!("type=bind,src={},dst=/models/all-MiniLM-L6-v2,readonly", model.display())
}

/// `cargo xtask doctor --dev` in the dev image: exit 0, nothing missing.
fn smoke_dev(env: &Env<'_>, image: &str, model: &Path) -> Result<()> {
    let sh = Shell::new()?;
    let docker = &env.docker.path;
    let mount = model_mount(model);
    let out = cmd!(
        sh,
        "{docker} run --rm --network none --mount {mount} --env CANDLE_MODEL_DIR=/models/all-MiniLM-L6-v2
         {image} cargo xtask doctor --dev --platform linux/amd64,linux/arm64"
    )
    .ignore_status()
    .output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}");
    ensure!(out.status.success(), "`cargo xtask doctor --dev` failed in the dev image");
    check_doctor_table(&text)
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

/// `cargo xtask lint` in the precommit image, on a git copy of the sources:
/// passes; then fails on a planted formatting error, naming the file.
fn smoke_precommit(env: &Env<'_>, image: &str) -> Result<()> {
    let sh = Shell::new()?;
    let repo = env.work.join("lint-src");
    copy_sources(env.ctx, &repo, None)?;
    {
        let _d = sh.push_dir(&repo);
        cmd!(sh, "git init -q").run()?;
        cmd!(sh, "git add -A").run()?;
    }
    let docker = &env.docker.path;
    let src = format!("type=bind,src={},dst=/src", repo.display());
    let volume = "xtask-e2e-lint-target";
    let target = format!("type=volume,src={volume},dst=/var/cache/xtask-target");
    let lint = |extra: &[&str]| -> Result<(bool, String)> {
        let out = cmd!(sh, "{docker} run --rm --network none --mount {src} --mount {target} {image} {extra...}")
            .ignore_status()
            .output()?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        Ok((out.status.success(), text))
    };
    let start = std::time::Instant::now();
    let (ok, text) = lint(&[])?;
    eprintln!("{text}");
    ensure!(ok, "`cargo xtask lint` failed in the precommit image on the repository");
    eprintln!("e2e: precommit: lint passed on the repository in {:.0}s", start.elapsed().as_secs_f64());

    let (file, junk) = PLANTED;
    let path = repo.join(file);
    let mut text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    text.push_str(junk);
    fs::write(&path, text)?;
    let (ok, text) = lint(&["--only", "rustfmt"])?;
    eprintln!("{text}");
    ensure!(!ok, "`cargo xtask lint` passed in the precommit image despite a formatting error in {file}");
    ensure!(text.contains(&format!("{file}:")), "the lint failure does not name {file}");
    eprintln!("e2e: precommit: lint fails on the planted formatting error in {file}");
    let _ = cmd!(sh, "{docker} volume rm {volume}").quiet().ignore_stdout().ignore_stderr().run();
    fs::remove_dir_all(&repo).ok();
    Ok(())
}

/// The stack image in a container with only loopback: router, dashboard,
/// Prometheus target up.
fn smoke_stack(env: &Env<'_>, image: &str, model: &Path) -> Result<()> {
    let sh = Shell::new()?;
    let docker = &env.docker.path;
    let name = format!("xtask-e2e-stack-{}", std::process::id());
    let mount = model_mount(model);
    cmd!(sh, "{docker} run -d --rm --name {name} --network none --mount {mount} {image}")
        .quiet()
        .ignore_stdout()
        .run()
        .context("docker run failed")?;
    let fetch = |url: &str| -> Result<(u16, String)> {
        let out = cmd!(sh, "{docker} exec {name} python3 -c {FETCH_PY} {url}").quiet().ignore_stderr().read()?;
        let (status, body) = out.split_once('\n').unwrap_or((&out, ""));
        Ok((status.trim().parse().unwrap_or(0), body.to_owned()))
    };
    let result = (|| -> Result<()> {
        let mut alive = || {
            ensure!(super::container_running(&env.docker, &name), "the stack container exited");
            Ok(())
        };
        let limit = Duration::from_secs(120);
        let ((), took) = crate::smoke::poll("router /healthz 200", limit, &mut alive, &mut || {
            Ok((fetch("http://127.0.0.1:8080/healthz")?.0 == 200).then_some(()))
        })?;
        eprintln!("e2e: stack: router /healthz 200 after {:.1}s", took.as_secs_f64());
        let (status, page) = fetch("http://127.0.0.1:8080/dashboard")?;
        ensure!(status == 200 && page.contains("semantic-router dashboard"), "dashboard: {status} {page:.200}");
        ensure!(page.contains("coding"), "the dashboard lists no routes: {page:.300}");
        eprintln!("e2e: stack: /dashboard 200 ({} bytes, routes listed)", page.len());
        let ((), took) = crate::smoke::poll("Prometheus target semantic-router up", limit, &mut alive, &mut || {
            let (status, body) = fetch("http://127.0.0.1:9090/api/v1/targets")?;
            Ok((status == 200 && target_health(&body, "semantic-router").as_deref() == Some("up")).then_some(()))
        })?;
        eprintln!("e2e: stack: Prometheus target semantic-router up after {:.1}s more", took.as_secs_f64());
        Ok(())
    })();
    if result.is_err() {
        let _ = cmd!(sh, "{docker} logs {name}").run();
    }
    let _ = cmd!(sh, "{docker} stop -t 5 {name}").quiet().ignore_stdout().ignore_stderr().run();
    result
}

/// The health of the active target of `job` in Prometheus' `/api/v1/targets`.
pub fn target_health(body: &str, job: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["data"]["activeTargets"]
        .as_array()?
        .iter()
        .find(|t| t["labels"]["job"] == job)
        .and_then(|t| t["health"].as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_targets() {
        let body = r#"{"status":"success","data":{"activeTargets":[
            {"labels":{"job":"other"},"health":"down"},
            {"labels":{"instance":"127.0.0.1:8080","job":"semantic-router"},"health":"up"}]}}"#;
        assert_eq!(target_health(body, "semantic-router").as_deref(), Some("up"));
        assert_eq!(target_health(body, "other").as_deref(), Some("down"));
        assert_eq!(target_health(body, "nope"), None);
        assert_eq!(target_health("not json", "x"), None);
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
