//! `cargo xtask test`: build the library once, then run every suite against it.
//!
//! Suites run in order and all of them run; the command fails at the end,
//! naming each suite that failed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::{
    ctx::Ctx,
    flags::{self, OtherImage, Suite},
    metrics::Metrics,
    platform::Platform,
    prereq::{self, Need},
    workspace::cargo,
};

/// Platforms the `dist` suite builds and runs (foreign ones under qemu-user):
/// every row of the platform table. The README's main job builds amd64 and
/// arm64 before the tests, so here riscv64 is the one cold build, and its
/// router starts under qemu-riscv64.
pub const DIST_PLATFORMS: [Platform; 3] = Platform::ALL;

impl flags::Test {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let wanted = |s: Suite| if self.suite.is_empty() { s.by_default() } else { self.suite.contains(&s) };
        let needs_library = [Suite::Rust, Suite::GoBinding, Suite::Router, Suite::Dist].into_iter().any(wanted);

        let ws = ctx.workspace()?;
        let mut metrics = Metrics::default();
        // Every prerequisite first, before anything is compiled: as root,
        // what is missing is installed; otherwise one error says how.
        let host = Platform::host()?;
        let foreign: Vec<Platform> = DIST_PLATFORMS.into_iter().filter(|p| *p != host).collect();
        let prereqs = metrics.step("prerequisites", || prereq::ensure(ctx, &needs(&wanted, host, &foreign)))?;
        let mut env = Env { prereqs, model_dir: PathBuf::new(), lib_dir: PathBuf::new(), cargo: Default::default() };
        // The e2e builds and runs foreign images: that takes binfmt handlers,
        // which a machine (or a container) may refuse. Then the e2e is not
        // run, and says why; under CI that is a failure.
        let mut not_run: Vec<(Suite, String)> = Vec::new();
        if wanted(Suite::E2e) || wanted(Suite::Images) {
            let handlers: Vec<Need> = foreign.iter().map(|p| Need::Qemu(*p)).collect();
            if let Err(e) = metrics.step("prerequisites (binfmt)", || prereq::ensure(ctx, &handlers)) {
                let why = format!("{e:#}");
                not_run
                    .extend([Suite::E2e, Suite::Images].into_iter().filter(|s| wanted(*s)).map(|s| (s, why.clone())));
            }
        }
        if needs_library {
            metrics.step("model", || {
                env.model_dir = model_dir(ctx)?;
                Ok(())
            })?;
            // Built as `dist` builds it (reproducible, in its own target
            // directory): after `cargo xtask dist` this is a no-op, and the
            // rust suite's `cargo test` reuses its dependencies.
            env.cargo = crate::build::Options {
                profile: flags::Profile::RELEASE,
                reproducible: true,
                source_date_epoch: crate::repro::source_date_epoch(&ws.root)?,
                ..Default::default()
            };
            env.lib_dir = crate::build::build(ctx, &env.prereqs, host, &env.cargo, &mut metrics)?.lib_dir;
        }

        // The e2e's engine, registry, bases, builder and static xtask are
        // made in the background while the suites before it run.
        let mut background = background_e2e(ctx, &wanted, &not_run);
        let mut failed = Vec::new();
        for suite in Suite::ALL.into_iter().filter(|s| wanted(*s)) {
            if let Some((_, why)) = not_run.iter().find(|(s, _)| *s == suite) {
                eprintln!("suite {suite} NOT RUN: {why}");
                continue;
            }
            let res = metrics.step(format!("suite {suite}"), || {
                if let Some(bg) = background.as_mut().filter(|_| E2E_SUITES.contains(&suite)) {
                    bg.ready()?;
                }
                run_suite(ctx, suite, &env)
            });
            if let Err(err) = res {
                eprintln!("suite {suite} FAILED: {err:#}");
                failed.push((suite, format!("{err:#}")));
            }
        }
        if let Some(bg) = background {
            bg.finish();
        }
        eprintln!("\n{}", metrics.table());
        let ran = Suite::ALL.into_iter().filter(|s| wanted(*s)).count() - not_run.len();
        eprintln!("suites: {} passed, {} failed, {} not run", ran - failed.len(), failed.len(), not_run.len());
        for (suite, why) in &not_run {
            eprintln!("not run: {suite}: {why}");
        }
        // Each failure again, last: a long log is often read from its tail.
        for (suite, why) in &failed {
            eprintln!("failed: {suite}: {why}");
        }
        if !failed.is_empty() {
            bail!("failed suites: {}", failed.iter().map(|(s, _)| s.name()).collect::<Vec<_>>().join(", "));
        }
        if !not_run.is_empty() && crate::sys::ci() {
            bail!(
                "CI=true: every suite must run; not run: {}",
                not_run.iter().map(|(s, _)| s.name()).collect::<Vec<_>>().join(", ")
            );
        }
        Ok(())
    }
}

/// The suites that run `cargo xtask e2e`.
const E2E_SUITES: [Suite; 2] = [Suite::E2e, Suite::Images];

/// The e2e's preparation started in the background, when an e2e suite will
/// run after other suites (alone, it prepares itself). If it cannot start,
/// the e2e prepares itself, and the line says why.
fn background_e2e(
    ctx: &Ctx,
    wanted: &dyn Fn(Suite) -> bool,
    not_run: &[(Suite, String)],
) -> Option<crate::e2e::prepare::Background> {
    let runs = |s: Suite| wanted(s) && !not_run.iter().any(|(n, _)| *n == s);
    let e2e = E2E_SUITES.into_iter().any(runs);
    let before = Suite::ALL.into_iter().any(|s| runs(s) && !E2E_SUITES.contains(&s));
    if !e2e || !before {
        return None;
    }
    // The e2e's own platforms, or every platform for `images`.
    let platforms: &[Platform] = if runs(Suite::Images) { &Platform::ALL } else { &[] };
    crate::e2e::prepare::Background::spawn(ctx, platforms)
        .map_err(|e| eprintln!("e2e: cannot prepare in the background ({e:#}); the e2e will prepare itself"))
        .ok()
}

/// What the wanted suites need, all checked before anything is built:
/// - every suite but codegen builds the library (the host toolchain, Go);
/// - `xtask` and `dist` cross-build and run foreign programs under qemu-user;
/// - the library's suites and `dist` run the model;
/// - `e2e` and `images` start a Docker engine, a registry, and debootstrap
///   their bases.
fn needs(wanted: &dyn Fn(Suite) -> bool, host: Platform, foreign: &[Platform]) -> Vec<Need> {
    let cross = wanted(Suite::Xtask) || wanted(Suite::Dist);
    let mut platforms = vec![host];
    if cross {
        platforms.extend(foreign);
    }
    let e2e = wanted(Suite::E2e) || wanted(Suite::Images);
    let go = e2e || [Suite::Xtask, Suite::GoBinding, Suite::Router, Suite::Dist].into_iter().any(wanted);
    let mut out = prereq::toolchain(&platforms, go);
    if cross {
        out.extend(foreign.iter().map(|p| Need::QemuUser(*p)));
    }
    if e2e || [Suite::Rust, Suite::GoBinding, Suite::Router, Suite::Dist].into_iter().any(wanted) {
        out.push(Need::Model);
    }
    if e2e {
        out.extend([Need::E2eTools, Need::Buildx]);
    }
    out
}

/// What the suites share: the resolved prerequisites, the model and the
/// library built once.
struct Env {
    /// What the prerequisites resolved to (the toolchains of every platform).
    prereqs: prereq::Prereqs,
    model_dir: PathBuf,
    lib_dir: PathBuf,
    /// How the library was built (the rust suite tests it the same way).
    cargo: crate::build::Options,
}

/// The verified model directory, fetched first if needed (same as `cargo xtask model`).
fn model_dir(ctx: &Ctx) -> Result<PathBuf> {
    let dir = crate::model::default_dir(ctx)?;
    if !crate::model::verified(&dir)? {
        flags::Model { dir: Some(dir.clone()), ..Default::default() }.run(ctx)?;
    }
    std::path::absolute(&dir).context("cannot make the model path absolute")
}

fn run_suite(ctx: &Ctx, suite: Suite, env: &Env) -> Result<()> {
    let ws = ctx.workspace()?;
    let cargo = cargo();
    let manifest = &ws.manifest;
    match suite {
        Suite::Xtask => xtask_suite(ctx)?,
        Suite::Codegen => {
            let crate_dir = ws.path(crate::codegen::CRATE_DIR);
            crate::codegen::check(&ws.root, &crate_dir, &crate_dir.join(crate::codegen::HEADER))?;
            eprintln!("header is up to date");
        }
        Suite::Rust => {
            let mut test = duct::cmd!(
                cargo,
                "test",
                "--no-fail-fast",
                "--locked",
                "--release",
                "--package",
                "candle-semantic-router",
                "--manifest-path",
                manifest
            )
            .env("CANDLE_MODEL_DIR", &env.model_dir);
            for (k, v) in crate::build::cargo_env(ws, &env.prereqs, Platform::host()?, &env.cargo)? {
                test = test.env(k, v);
            }
            cargo_test(test)?
        }
        Suite::GoBinding => go_test(ctx, &ws.path("candle-binding"), env)?,
        Suite::Router => {
            go_test(ctx, &ws.path(crate::build::ROUTER_DIR), env)?;
            extproc_client_test(ctx, env)?
        }
        Suite::Dist => dist_test(ctx, env)?,
        // The images end to end: extproc for both platforms built with the
        // Dockerfiles CI uses, pushed to a loopback registry, merged, pulled
        // and run, and rebuilt; then stack (FROM extproc) for the host.
        // That is what fits CI's time budget: dev and precommit, whose arm64
        // builds install their packages under QEMU, are the `images` suite's.
        Suite::E2e => {
            flags::E2e { images_host_only: true, images: vec![OtherImage::Stack], ..Default::default() }.run(ctx)?
        }
        // Every image for every platform the image table publishes it for
        // (eight pairs on amd64 and arm64, and extproc for riscv64), each
        // smoke-run, foreign ones under qemu-user; and the checks that cost
        // more than they prove in the `e2e` suite (`--all-checks`).
        Suite::Images => {
            flags::E2e { all_checks: true, platform: Platform::ALL.to_vec(), ..Default::default() }.run(ctx)?
        }
    }
    Ok(())
}

/// xtask's own tests, with their skips counted: each skipped test writes a
/// line to `$XTASK_SKIP_LOG` (`tests/common`); under `CI=true` a skip whose
/// tool the package table could install here is a failure (the
/// prerequisites should have installed it).
fn xtask_suite(ctx: &Ctx) -> Result<()> {
    let ws = ctx.workspace()?;
    let (cargo, manifest) = (cargo(), &ws.manifest);
    let log = ws.layout()?.skipped_tests();
    std::fs::create_dir_all(log.parent().context("no parent")?)?;
    std::fs::write(&log, "").with_context(|| format!("cannot write {}", log.display()))?;
    let res = cargo_test(
        duct::cmd!(cargo, "test", "--no-fail-fast", "--package", "xtask", "--manifest-path", manifest)
            .env("XTASK_SKIP_LOG", &log),
    );
    let skips = std::fs::read_to_string(&log).unwrap_or_default();
    let pm = crate::install::package_manager();
    let mut installable = Vec::new();
    let lines: Vec<&str> = skips.lines().filter(|l| !l.is_empty()).collect();
    for line in &lines {
        let mut f = line.splitn(3, '\t');
        let (test, tool, why) = (f.next().unwrap_or(""), f.next().unwrap_or(""), f.next().unwrap_or(""));
        eprintln!("skipped: {test}: {why}");
        let need = crate::install::need_of_tool(tool);
        if let (Some(need), Some(pm)) = (need, pm) {
            if !crate::install::packages(&need, pm).is_empty() {
                installable.push(format!("{test} ({tool}: {})", need.label()));
            }
        }
    }
    eprintln!("xtask tests: {} skipped", lines.len());
    res?;
    if crate::sys::ci() && !installable.is_empty() {
        bail!("CI=true: tests skipped for tools the package table installs: {}", installable.join(", "));
    }
    Ok(())
}

/// Run `cargo test` (`cmd`), streaming its output; on failure the error
/// names the failing tests and the first panic, so that the summary at the
/// end of a long log (CI keeps only its tail) says what failed.
fn cargo_test(cmd: duct::Expression) -> Result<()> {
    use std::io::BufRead;
    let reader = cmd.stderr_to_stdout().unchecked().reader().context("cannot start `cargo test`")?;
    let mut failures = Failures::default();
    for line in std::io::BufReader::new(&reader).lines() {
        let line = line.context("reading the output of `cargo test`")?;
        println!("{line}");
        failures.read(&line);
    }
    let status = reader.try_wait()?.map(|o| o.status).context("`cargo test` did not finish")?;
    if status.success() {
        return Ok(());
    }
    bail!("`cargo test` failed ({status}){}", failures.describe())
}

/// What a failing `cargo test` printed: the failing tests, the first panic.
#[derive(Debug, Default)]
struct Failures {
    tests: Vec<String>,
    panic: Option<String>,
    /// The line after `panicked at …:` is the panic's message.
    in_panic: bool,
    /// A test binary or doc test that could not be built or run.
    other: Vec<String>,
}

impl Failures {
    fn read(&mut self, line: &str) {
        if self.in_panic {
            if let Some(p) = &mut self.panic {
                p.push_str(": ");
                p.push_str(line.trim());
            }
            self.in_panic = false;
        }
        if let Some(name) = line.strip_prefix("test ").and_then(|l| l.strip_suffix(" ... FAILED")) {
            self.tests.push(name.to_string());
        } else if line.contains("panicked at ") && self.panic.is_none() {
            self.panic = Some(line.trim().to_string());
            self.in_panic = true;
        } else if (line.starts_with("error: ") || line.starts_with("error[")) && !line.starts_with("error: test failed")
        {
            self.other.push(line.to_string());
        }
    }

    fn describe(&self) -> String {
        let mut out = String::new();
        if !self.tests.is_empty() {
            out.push_str(&format!("; failing: {}", self.tests.join(", ")));
        }
        if let Some(p) = &self.panic {
            let p: String = p.chars().take(400).collect();
            out.push_str(&format!("; first panic: {p}"));
        }
        if self.tests.is_empty() {
            for e in self.other.iter().take(3) {
                out.push_str(&format!("; {e}"));
            }
        }
        out
    }
}

/// `go test -race` in `dir`, linking the library in `env.lib_dir`.
fn go_test(ctx: &Ctx, dir: &Path, env: &Env) -> Result<()> {
    let go = which::which("go").context("`go` is not installed: run `cargo xtask doctor --fix`")?;
    let sh = &ctx.sh;
    crate::gomod::download(sh, dir)?;
    let _cd = sh.push_dir(dir);
    let lib = env.lib_dir.display();
    cmd!(sh, "{go} test -race -count=1 ./...")
        .envs(crate::gomod::OFFLINE)
        .env("CGO_ENABLED", "1")
        .env("CGO_LDFLAGS", format!("-L{lib} -Wl,-rpath,{lib}"))
        .env("LD_LIBRARY_PATH", &env.lib_dir)
        .env("CANDLE_MODEL_DIR", &env.model_dir)
        .run()?;
    Ok(())
}

/// An ext_proc client that is not the project's code routes through the
/// router's `--grpc-listen`: `src/semantic-router/test/extproc_client.py`, on
/// PyPI's `envoy-data-plane` (Envoy's own message types) and grpclib, in a
/// venv of its own with the pinned `test/requirements.txt`, against the
/// router built here with the library of `env` and the shipped config.
fn extproc_client_test(ctx: &Ctx, env: &Env) -> Result<()> {
    let ws = ctx.workspace()?;
    let sh = &ctx.sh;
    let router_dir = ws.path(crate::build::ROUTER_DIR);
    let work = ws.layout()?.extproc_client();
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;

    // The router, linked against the suite's library.
    let go = which::which("go").context("`go` is not installed: run `cargo xtask doctor --fix`")?;
    let router = work.join("extproc");
    {
        let _cd = sh.push_dir(&router_dir);
        let lib = env.lib_dir.display();
        cmd!(sh, "{go} build -o {router} ./cmd/extproc")
            .envs(crate::gomod::OFFLINE)
            .env("CGO_ENABLED", "1")
            .env("CGO_LDFLAGS", format!("-L{lib} -Wl,-rpath,{lib}"))
            .run()
            .context("building the router for the ext_proc client failed")?;
    }

    // The client's venv (python3-venv installed when missing, as root).
    let venv = work.join("venv");
    let python = venv.join("bin/python");
    if !python.is_file() && cmd!(sh, "python3 -m venv {venv}").quiet().ignore_stderr().run().is_err() {
        let _ = std::fs::remove_dir_all(&venv);
        crate::install::install(sh, &[Need::PythonVenv], Platform::host()?)
            .context("`python3 -m venv` failed and python3-venv could not be installed")?;
        cmd!(sh, "python3 -m venv {venv}").run().context("`python3 -m venv` failed")?;
    }
    let requirements = router_dir.join("test/requirements.txt");
    cmd!(sh, "{python} -m pip install --disable-pip-version-check --quiet --only-binary=:all: -r {requirements}")
        .envs(crate::fsutil::ca_env())
        .run()
        .context("installing the ext_proc client's packages (test/requirements.txt) failed")?;

    let config = router_dir.join("config/config.json");
    let cmd = duct::cmd!(&router, "--config", &config, "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0")
        .env("CANDLE_MODEL_DIR", &env.model_dir);
    let mut running = crate::smoke::Router::start(cmd, "the router", true, std::time::Duration::from_secs(60))?;
    running.wait_healthy(std::time::Duration::from_secs(300))?;
    let grpc = running.grpc.clone().context("the router reported no ext_proc address")?;
    let script = router_dir.join("test/extproc_client.py");
    let result = cmd!(sh, "{python} {script} --addr {grpc} --config {config}").run();
    running.stop();
    result.context("the ext_proc client (test/extproc_client.py) failed: see its checks above")?;
    Ok(())
}

/// What every platform's SBOM must list: the crate the library is built on
/// and the Go modules of the router's gRPC and Envoy API.
pub const SBOM_MUST_LIST: [&str; 3] =
    ["candle-core", "google.golang.org/grpc", "github.com/envoyproxy/go-control-plane/envoy"];

/// `dist` for every platform of [`DIST_PLATFORMS`], then each tree's router
/// answers `/healthz` and one `/v1/route` on loopback with the real model.
/// Each tree's SBOM is valid SPDX (`spdx-tools`, which must also refuse a
/// broken copy of it), lists [`SBOM_MUST_LIST`] and no crate that only
/// dev-dependencies of the workspace bring in.
fn dist_test(ctx: &Ctx, env: &Env) -> Result<()> {
    let ws = ctx.workspace()?;
    let layout = ws.layout()?;
    let out = layout.dist_test();
    let release = flags::Profile::RELEASE;
    let mut metrics = Metrics::default();
    let probe = crate::smoke::build_probe(&ctx.sh, &ws.path(crate::build::ROUTER_DIR), Platform::host()?, &out)?;
    let graph = crate::sbom::collect::graph(ws, None)?;
    let dev_only: std::collections::BTreeSet<crate::sbom::NameVersion> =
        graph.dev_only()?.iter().map(|id| (graph.nodes[id].name.clone(), graph.nodes[id].version.clone())).collect();
    if dev_only.is_empty() {
        bail!("no crate of the workspace comes in through dev-dependencies only: the SBOM's dev-dependency check would prove nothing");
    }
    for platform in DIST_PLATFORMS {
        let dir = crate::dist::dist_platform(ctx, &env.prereqs, platform, &release, &out, &mut metrics)?;
        metrics.step(format!("sbom {platform}"), || {
            let sbom = dir.join(crate::sbom::FILE);
            crate::sbom::collect::validate(&ctx.sh, &layout.spdx_tools(), &sbom)?;
            let text = std::fs::read_to_string(&sbom).with_context(|| format!("cannot read {}", sbom.display()))?;
            crate::sbom::check_names(&text, &SBOM_MUST_LIST, &dev_only)
                .with_context(|| format!("{}", sbom.display()))?;
            let sums = std::fs::read_to_string(dir.join("SHA256SUMS"))?;
            if !sums.lines().any(|l| l.ends_with(&format!("  {}", crate::sbom::FILE))) {
                bail!("{}/SHA256SUMS does not cover {}", dir.display(), crate::sbom::FILE);
            }
            eprintln!(
                "{platform}: SBOM valid, lists {}, none of {} dev-only crates",
                SBOM_MUST_LIST.join(", "),
                dev_only.len()
            );
            // The image's SBOM (`xtask sbom scan`) of a root filesystem with
            // this machine's dpkg status (else a fixture's), an rpm database
            // and this SBOM where the images carry it: valid too, the Debian
            // and RPM packages and the merged project's listed.
            let host_status = std::fs::read_to_string("/var/lib/dpkg/status").ok();
            let status = host_status.as_deref().unwrap_or(crate::sbom::image::STATUS_FIXTURE);
            let work = out.join(format!("image-sbom-{}", platform.dir_name()));
            let (file, text) = crate::sbom::image::scan_check(&work, status, &sbom)?;
            crate::sbom::collect::validate(&ctx.sh, &layout.spdx_tools(), &file)?;
            let must: Vec<&str> =
                ["libc6", crate::sbom::image::RPM_FIXTURE_PACKAGE].into_iter().chain(SBOM_MUST_LIST).collect();
            crate::sbom::check_names(&text, &must, &dev_only).with_context(|| format!("{}", file.display()))?;
            eprintln!("{platform}: image SBOM valid, lists {}", must.join(", "));
            Ok(())
        })?;
        let bin = dir.join("bin/extproc");
        let runner = crate::dist::runner(platform, &bin)?;
        let how = if runner.is_empty() { "native" } else { "qemu-user" };
        let (answer, routed) = metrics.step(format!("smoke {platform} ({how})"), || {
            crate::smoke::smoke(&runner, &bin, &dir.join("config/config.json"), &env.model_dir, &probe, &[])
        })?;
        eprintln!("{platform}: /healthz 200, /v1/route -> {}, ext_proc -> {routed}", answer.trim());
    }
    // The validator is no rubber stamp: a copy whose relationship names a
    // package the document lacks is refused.
    let sbom = out.join(DIST_PLATFORMS[0].dir_name()).join(crate::sbom::FILE);
    let broken = out.join("broken.spdx.json");
    let text = std::fs::read_to_string(&sbom)?.replacen(
        "\"relatedSpdxElement\": \"SPDXRef-Package-library\"",
        "\"relatedSpdxElement\": \"SPDXRef-Package-absent\"",
        1,
    );
    if !text.contains("SPDXRef-Package-absent") {
        bail!("{} has no relationship to the library to break", sbom.display());
    }
    std::fs::write(&broken, text)?;
    if crate::sbom::collect::validate(&ctx.sh, &layout.spdx_tools(), &broken).is_ok() {
        bail!("spdx-tools accepted {}, whose relationship names a package it lacks", broken.display());
    }
    eprintln!("spdx-tools refuses {}, whose relationship names a package it lacks", broken.display());
    eprintln!("{}", metrics.table());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Failures;

    fn read(text: &str) -> String {
        let mut f = Failures::default();
        text.lines().for_each(|l| f.read(l));
        f.describe()
    }

    #[test]
    fn failing_tests_and_the_first_panic_are_named() {
        let out = "running 3 tests\n\
            test a::ok ... ok\n\
            test binfmt::tests::host_tiny_program_exits_42 ... FAILED\n\
            test b::other ... FAILED\n\
            \n\
            ---- binfmt::tests::host_tiny_program_exits_42 stdout ----\n\
            \n\
            thread 'binfmt::tests::host_tiny_program_exits_42' panicked at xtask/src/binfmt.rs:346:60:\n\
            called `Result::unwrap()` on an `Err` value: Os { code: 26, kind: ExecutableFileBusy }\n\
            ---- b::other stdout ----\n\
            thread 'b::other' panicked at x.rs:1:1:\n\
            second\n\
            error: test failed, to rerun pass `--bin xtask`\n";
        let d = read(out);
        assert!(
            d.starts_with("; failing: binfmt::tests::host_tiny_program_exits_42, b::other; first panic: thread"),
            "{d}"
        );
        assert!(d.contains("binfmt.rs:346:60:: called `Result::unwrap()`") && d.contains("ExecutableFileBusy"), "{d}");
        assert!(!d.contains("second") && !d.contains("error: test failed"), "{d}");
    }

    #[test]
    fn a_build_error_is_named_when_no_test_ran() {
        let d = read("   Compiling xtask v0.1.0\nerror[E0425]: cannot find value `x`\nerror: could not compile `xtask` (bin \"xtask\" test) due to 1 previous error\n");
        assert_eq!(
            d,
            "; error[E0425]: cannot find value `x`; error: could not compile `xtask` (bin \"xtask\" test) due to 1 previous error"
        );
        assert_eq!(read("test result: ok. 1 passed\n"), "");
    }
}
