//! `cargo xtask bench images [--platform P]`: what an image costs over the
//! bare build, in one run on one engine (the e2e's: its engine and its
//! debootstrapped bases, since no image can be pulled).
//!
//! 1. `dist` for P, cold (a new target directory and Go build cache);
//! 2. P's extproc image, cold (`--no-cache`: every step runs), given the
//!    run's static xtask (`--xtask-bin`, as CI gives it);
//! 3. the same one-line change to candle-binding, then `dist` again and the
//!    image again (its cache from 2).
//!
//! Both build from the same copy of the sources. It prints each phase and
//! the ratios (goals: cold image ÷ cold dist ≤ 1.25, warm ÷ warm ≤ 1.5) and
//! records them for BENCHMARKS.md. The cold dist reuses the crates already
//! in `~/.cargo/registry` and the Go modules; the cold image downloads its
//! own, as a fresh CI runner does.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, Result};

use super::report::{new_record, save, Figure};
use crate::{
    ctx::Ctx,
    docker::{self, report::RunReport},
    e2e::{self, services},
    engine::BuildxMode,
    flags,
    metrics::human,
    platform::Platform,
    prereq::{self, Need},
};

/// The change both builds see: one line appended to the library's source.
const CHANGED_FILE: &str = "candle-binding/src/lib.rs";
const CHANGE: &str = "\n// bench images: a one-line change\n";

pub fn run(ctx: &Ctx, platform: Option<Platform>) -> Result<()> {
    let host = Platform::host()?;
    let p = platform.unwrap_or(host);
    let mut needs = prereq::toolchain(&[host, p], true);
    needs.extend([Need::E2eTools, Need::Buildx]);
    prereq::ensure(ctx, &needs)?;
    let layout = ctx.layout();
    let work = layout.bench("images");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let mut started = services::Started::default();
    let result = bench(ctx, host, p, &work, &layout.e2e(), &mut started);
    started.stop();
    result
}

fn bench(
    ctx: &Ctx,
    host: Platform,
    p: Platform,
    work: &Path,
    e2e_work: &Path,
    started: &mut services::Started,
) -> Result<()> {
    std::fs::create_dir_all(e2e_work).with_context(|| format!("cannot create {}", e2e_work.display()))?;
    let docker = services::engine(None, e2e_work, started)?;
    let mut bases = vec![(host, p), (p, p)];
    bases.dedup();
    for (arch, target) in bases {
        services::base_image(&docker, arch, target.debian().1, &e2e::base_image(arch, target), e2e_work)?;
    }
    e2e::make_rust_image(&docker, host, e2e_work)?;
    let me = std::env::current_exe().context("cannot locate the xtask executable")?;
    let context = work.join("context");
    e2e::copy_sources(ctx, &context, None)?;
    // The run's xtask, static, as CI builds it once and hands to the images.
    let xtask_bin = work.join("xtask-static");
    docker::inside::self_build(ctx, &flags::DockerSelfBuild { platform: None, out: xtask_bin.clone() })?;

    // Cold is cold for both: a new target directory and a new Go build
    // cache (the downloaded crates and Go modules are kept).
    let target = work.join("target");
    let gocache = work.join("go-build");
    for dir in [&target, &gocache] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
    }
    // The dist trees go beside the context, not into it: the image's build
    // would send and copy them.
    let dist = |out: &str| -> Result<f64> {
        let start = Instant::now();
        let out = work.join(out);
        let args = ["dist", "--platform", p.docker(), "--out", path(&out)?];
        run_xtask(&me, &context, &args, &[("CARGO_TARGET_DIR", path(&target)?), ("GOCACHE", path(&gocache)?)])?;
        Ok(start.elapsed().as_secs_f64())
    };
    let image = |no_cache: bool| -> Result<f64> {
        let opts = flags::DockerBuild {
            image: Some("extproc".into()),
            platform: vec![p],
            load: true,
            tag: vec![format!("xtask-bench/extproc:{}", p.dir_name())],
            no_cache,
            network: Some("host".into()),
            context: Some(context.clone()),
            engine: flags::DockerArgs { docker: Some(docker.name.clone()), metrics_file: None },
            build_arg: e2e::build_args("extproc", host, p, ""),
            secret: e2e::ca_secret(),
            xtask_bin: Some(xtask_bin.clone()),
            buildx: BuildxMode::Yes,
            ..Default::default()
        };
        let start = Instant::now();
        let mut report = RunReport::new(format!("bench images extproc {p}"));
        docker::build(ctx, &opts, &[], &mut report)?;
        Ok(start.elapsed().as_secs_f64())
    };

    eprintln!("==> cold dist for {p}");
    let dist_cold = dist("dist-cold")?;
    eprintln!("==> cold image for {p} (--no-cache)");
    let image_cold = image(true)?;
    let changed = context.join(CHANGED_FILE);
    let mut text = std::fs::read_to_string(&changed).with_context(|| format!("cannot read {}", changed.display()))?;
    text.push_str(CHANGE);
    std::fs::write(&changed, text).with_context(|| format!("cannot write {}", changed.display()))?;
    eprintln!("==> after a one-line change to {CHANGED_FILE}: dist, then the image");
    let dist_warm = dist("dist-warm")?;
    let image_warm = image(false)?;

    let (cold, warm) = (image_cold / dist_cold, image_warm / dist_warm);
    eprintln!("\nbench images ({p}):");
    for (what, secs) in [
        ("dist, cold", dist_cold),
        ("image, cold", image_cold),
        ("dist, after the change", dist_warm),
        ("image, after the change", image_warm),
    ] {
        eprintln!("  {what:<26} {}", human(std::time::Duration::from_secs_f64(secs)));
    }
    eprintln!("  cold image / cold dist    {cold:.2} (goal <= 1.25)");
    eprintln!("  warm image / warm dist    {warm:.2} (goal <= 1.5)");
    let pl = p.dir_name();
    let figures = vec![
        Figure::new(format!("{pl}: dist, cold"), "s", vec![dist_cold]),
        Figure::new(format!("{pl}: image, cold"), "s", vec![image_cold]),
        Figure::new(format!("{pl}: cold image / cold dist"), "ratio", vec![cold]).goal_max(1.25),
        Figure::new(format!("{pl}: dist, after a one-line library change"), "s", vec![dist_warm]),
        Figure::new(format!("{pl}: image, after the same change"), "s", vec![image_warm]),
        Figure::new(format!("{pl}: warm image / warm dist"), "ratio", vec![warm]).goal_max(1.5),
    ];
    let notes = vec![format!(
        "one engine ({}), the e2e's debootstrapped bases; the image is given the run's static xtask",
        docker.name
    )];
    save(ctx, &new_record(ctx, "images", figures, notes))
}

fn path(p: &Path) -> Result<&str> {
    p.to_str().with_context(|| format!("{} is not UTF-8", p.display()))
}

/// `xtask <args>` in `dir` (the copied workspace), its output passing through.
fn run_xtask(me: &PathBuf, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let mut cmd = duct::cmd(me, args).dir(dir);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd.run().with_context(|| format!("`xtask {}` failed in {}", args.join(" "), dir.display()))?;
    Ok(())
}
