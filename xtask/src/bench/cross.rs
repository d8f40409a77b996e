//! `cargo xtask bench cross`: what cross-compiling costs, and what goblin costs.
//!
//! In one run, printed as figures and ratios:
//! - a cold release build of candle-binding for each foreign platform (cross,
//!   no QEMU; `--platform` picks some) against the same build for the host
//!   (goal: ratio ≤ 1.3);
//! - `xtask verify-symbols` on the built library against `nm -D
//!   --defined-only` on the same file, median of several runs of each as
//!   processes (goal: ratio ≤ 1.0, under 50 ms).
//!
//! Each build gets a fresh target directory under `target/xtask/bench-cross/`
//! so that neither reuses the other's (or the workspace's) artifacts. Both use
//! the same compiler: where the foreign std comes from the distro's rustc
//! (`RUSTC=/usr/bin/rustc`), the native build uses it too, so that the ratio
//! measures cross-compiling, not two differently optimised rustc builds.
//! The figures are appended to `benchmarks/records/cross.json`.

// std::process, not xshell or duct: a benchmark times bare process runs,
// with nothing of a wrapper's own work (echo, threads) inside the timing.
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::report::{self, Figure};
use crate::{
    build::{Outputs, PACKAGE},
    ctx::Ctx,
    flags,
    metrics::human,
    platform::Platform,
    workspace::{cargo, Workspace},
};

const RUNS: usize = 15;

pub fn run(ctx: &Ctx, no_build: bool, platforms: &[Platform]) -> Result<()> {
    let ws = ctx.workspace()?;
    let host = Platform::host()?;
    let foreign: Vec<Platform> = if platforms.is_empty() {
        Platform::ALL.into_iter().filter(|p| !p.is_host()).collect()
    } else {
        Platform::or_host(platforms)?
    };
    if foreign.contains(&host) {
        bail!("--platform {host} is the host: it is always built, as the native reference");
    }
    let all: Vec<Platform> = std::iter::once(host).chain(foreign.iter().copied()).collect();
    let prereqs = crate::prereq::ensure(ctx, &crate::prereq::toolchain(&all, false))?;
    let root = ws.layout()?.bench("cross");
    let release = flags::Profile::RELEASE;

    // A copy of ourselves: `cargo` may rebuild xtask while the builds run.
    std::fs::create_dir_all(&root)?;
    let exe = root.join("xtask");
    std::fs::copy(std::env::current_exe().context("cannot locate the xtask executable")?, &exe)
        .context("cannot copy the xtask executable")?;

    // The compiler of each cross build; the native build runs once with each
    // compiler used (usually one), so that every ratio compares one compiler.
    let mut plan: Vec<(Platform, Option<String>)> = Vec::new();
    for &p in &foreign {
        let env = prereqs.rust_env(p)?;
        plan.push((p, env.iter().find(|(k, _)| k == "RUSTC").map(|(_, v)| v.clone())));
    }
    let mut compilers: Vec<Option<String>> = Vec::new();
    for (_, rustc) in &plan {
        if !compilers.contains(rustc) {
            compilers.push(rustc.clone());
        }
    }
    let mut builds: Vec<(Platform, Option<String>)> = compilers.iter().map(|c| (host, c.clone())).collect();
    builds.extend(plan.iter().cloned());

    // (platform, compiler, time, library)
    let mut built: Vec<(Platform, Option<String>, Option<Duration>, PathBuf)> = Vec::new();
    for (i, (platform, rustc)) in builds.iter().enumerate() {
        let name = if *platform == host && i > 0 {
            format!("{}-{i}", platform.dir_name())
        } else {
            platform.dir_name().to_string()
        };
        let target_dir = root.join(name);
        let lib = Outputs::new(&target_dir, *platform, &release).shared_lib();
        if no_build {
            if !lib.is_file() {
                bail!("--no-build: {} is not there; run `cargo xtask bench cross` once", lib.display());
            }
            built.push((*platform, rustc.clone(), None, lib));
            continue;
        }
        if target_dir.exists() {
            std::fs::remove_dir_all(&target_dir).with_context(|| format!("cannot clear {}", target_dir.display()))?;
        }
        eprintln!("==> cold release build of {PACKAGE} for {platform} in {}", target_dir.display());
        let time = cold_build(ws, &target_dir, *platform, prereqs.rust_env(*platform)?, rustc.as_deref())?;
        eprintln!("    {}", human(time));
        built.push((*platform, rustc.clone(), Some(time), lib));
    }

    let compiler_name = |rustc: &Option<String>| {
        rustc.clone().unwrap_or_else(|| std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
    };
    let mut figures = Vec::new();
    for rustc in &compilers {
        let native = built.iter().find(|b| b.0 == host && b.1 == *rustc).and_then(|b| b.2);
        let Some(native) = native else { continue };
        let compiler = compiler_name(rustc);
        println!("\ncross builds vs the native build of {PACKAGE} (release, cold, all with {compiler})");
        println!("  {:<36} {:>10}", format!("native {host}"), human(native));
        figures.push(Figure::new(
            format!("cold release build, native {host} ({compiler})"),
            "s",
            vec![native.as_secs_f64()],
        ));
        for (p, _, t, _) in built.iter().filter(|b| b.0 != host && b.1 == *rustc) {
            let Some(t) = t else { continue };
            let ratio = t.as_secs_f64() / native.as_secs_f64();
            figures.push(Figure::new(
                format!("cold release build, cross {p} ({compiler})"),
                "s",
                vec![t.as_secs_f64()],
            ));
            figures.push(Figure::new(format!("cross {p} / native"), "ratio", vec![ratio]).goal_max(1.3));
            println!(
                "  {:<36} {:>10}   ratio {ratio:.2}   goal <= 1.30 {}",
                format!("cross  {p} (no QEMU)"),
                human(*t),
                verdict(ratio <= 1.3)
            );
        }
    }

    println!("\nverify-symbols vs nm -D --defined-only (median of {RUNS} runs, as processes)");
    let mut seen = Vec::new();
    for (platform, _, _, lib) in &built {
        if seen.contains(platform) {
            continue;
        }
        seen.push(*platform);
        let verify_runs = times(|| {
            let mut c = Command::new(&exe);
            c.arg("verify-symbols").arg("--platform").arg(platform.docker()).arg(lib).current_dir(&ws.root);
            c
        })?;
        let nm_runs = times(|| {
            let mut c = Command::new("nm");
            c.args(["-D", "--defined-only"]).arg(lib);
            c
        })?;
        let (verify, nm) = (median(&verify_runs), median(&nm_runs));
        let ratio = verify.as_secs_f64() / nm.as_secs_f64();
        let ms_all = |v: &[Duration]| v.iter().map(|d| ms(*d)).collect::<Vec<f64>>();
        figures.push(Figure::new(format!("verify-symbols, {platform} .so"), "ms", ms_all(&verify_runs)).goal_max(50.0));
        figures.push(Figure::new(format!("nm -D --defined-only, {platform} .so"), "ms", ms_all(&nm_runs)));
        figures.push(Figure::new(format!("verify-symbols / nm, {platform}"), "ratio", vec![ratio]).goal_max(1.0));
        println!(
            "  {platform}: verify-symbols {:>6.1} ms, nm -D {:>6.1} ms, ratio {ratio:.2}   goal <= 1.00 and < 50 ms {}",
            ms(verify),
            ms(nm),
            verdict(ratio <= 1.0 && verify < Duration::from_millis(50))
        );
    }
    report::save(ctx, &report::new_record(ctx, "cross", figures, Vec::new()))
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "(met)"
    } else {
        "(NOT met)"
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A cold `cargo build --release` of the library for `platform` in
/// `target_dir`, with `rustc` as the compiler when given.
fn cold_build(
    ws: &Workspace,
    target_dir: &Path,
    platform: Platform,
    cross_env: Vec<(String, String)>,
    rustc: Option<&str>,
) -> Result<Duration> {
    let mut cmd = Command::new(cargo());
    cmd.args(["build", "--locked", "--release", "--package", PACKAGE, "--manifest-path"])
        .arg(&ws.manifest)
        .env("CARGO_TARGET_DIR", target_dir);
    if !platform.is_host() {
        cmd.args(["--target", platform.rust_triple()]);
    }
    cmd.envs(cross_env);
    if let Some(rustc) = rustc {
        cmd.env("RUSTC", rustc);
    }
    let start = Instant::now();
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("the {platform} build failed ({status})");
    }
    Ok(start.elapsed())
}

/// The wall times of `RUNS` runs of a command (which must succeed), sorted.
fn times(make: impl Fn() -> Command) -> Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let mut cmd = make();
        let start = Instant::now();
        let out = cmd.output().with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
        times.push(start.elapsed());
        if !out.status.success() {
            bail!("{:?} failed: {}", cmd, String::from_utf8_lossy(&out.stderr).trim());
        }
    }
    times.sort();
    Ok(times)
}

/// The median of sorted times.
fn median(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}
