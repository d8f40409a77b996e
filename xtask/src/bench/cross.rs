//! `cargo xtask bench cross`: what cross-compiling costs, and what goblin costs.
//!
//! In one run, printed as figures and ratios:
//! - a cold release build of candle-binding for linux/arm64 (cross, no QEMU)
//!   against the same build for the amd64 host (goal: ratio ≤ 1.3);
//! - `xtask verify-symbols` on the built library against `nm -D
//!   --defined-only` on the same file, median of several runs of each as
//!   processes (goal: ratio ≤ 1.0, under 50 ms).
//!
//! Each build gets a fresh target directory under `target/xtask/bench-cross/`
//! so that neither reuses the other's (or the workspace's) artifacts. Both use
//! the same compiler: where the foreign std comes from the distro's rustc
//! (`RUSTC=/usr/bin/rustc`), the native build uses it too, so that the ratio
//! measures cross-compiling, not two differently optimised rustc builds.

// std::process, not xshell or duct: a benchmark times bare process runs,
// with nothing of a wrapper's own work (echo, threads) inside the timing.
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    build::{Outputs, PACKAGE},
    cross, flags,
    metrics::human,
    platform::Platform,
    workspace::cargo,
    Ctx,
};

const RUNS: usize = 15;

pub fn run(ctx: &Ctx, no_build: bool) -> Result<()> {
    let ws = ctx.workspace()?;
    let host = Platform::host()?;
    let foreign = Platform::ALL.into_iter().find(|p| !p.is_host()).context("no foreign platform")?;
    let root = ws.target_dir()?.join("xtask/bench-cross");
    let release = flags::Profile { release: true, profile: None };

    // A copy of ourselves: `cargo` may rebuild xtask while the builds run.
    std::fs::create_dir_all(&root)?;
    let exe = root.join("xtask");
    std::fs::copy(std::env::current_exe().context("cannot locate the xtask executable")?, &exe)
        .context("cannot copy the xtask executable")?;

    // The compiler of the cross build, which the native build then uses too.
    let cross_env = cross::rust_env(&foreign)?;
    let rustc = cross_env.iter().find(|(k, _)| k == "RUSTC").map(|(_, v)| v.clone());
    let mut built = Vec::new();
    for platform in [host, foreign] {
        let target_dir = root.join(platform.dir_name());
        let lib = Outputs::new(&target_dir, platform, &release).shared_lib();
        if no_build {
            if !lib.is_file() {
                bail!("--no-build: {} is not there; run `cargo xtask bench cross` once", lib.display());
            }
            built.push((platform, None, lib));
            continue;
        }
        if target_dir.exists() {
            std::fs::remove_dir_all(&target_dir).with_context(|| format!("cannot clear {}", target_dir.display()))?;
        }
        eprintln!("==> cold release build of {PACKAGE} for {platform} in {}", target_dir.display());
        let time = cold_build(&ws.manifest, &target_dir, platform, rustc.as_deref())?;
        eprintln!("    {}", human(time));
        built.push((platform, Some(time), lib));
    }
    let (_, native, host_lib) = &built[0];
    let (_, crossed, foreign_lib) = &built[1];
    let mut rows = Vec::new();
    for (platform, lib) in [(host, host_lib), (foreign, foreign_lib)] {
        let verify = median_time(|| {
            let mut c = Command::new(&exe);
            c.arg("verify-symbols").arg("--platform").arg(platform.docker()).arg(lib).current_dir(&ws.root);
            c
        })?;
        let nm = median_time(|| {
            let mut c = Command::new("nm");
            c.args(["-D", "--defined-only"]).arg(lib);
            c
        })?;
        rows.push((platform, verify, nm));
    }

    if let (Some(native), Some(crossed)) = (native, crossed) {
        let compiler = rustc.clone().unwrap_or_else(|| std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()));
        println!("\ncross build vs native build of {PACKAGE} (release, cold, both with {compiler})");
        println!("  {:<34} {:>10}", format!("native {host}"), human(*native));
        println!("  {:<34} {:>10}", format!("cross  {foreign} (no QEMU)"), human(*crossed));
        let ratio = crossed.as_secs_f64() / native.as_secs_f64();
        println!("  {:<34} {:>10.2}   goal <= 1.30 {}", "ratio cross/native", ratio, verdict(ratio <= 1.3));
    }
    println!("\nverify-symbols vs nm -D --defined-only (median of {RUNS} runs, as processes)");
    for (platform, verify, nm) in rows {
        let ratio = verify.as_secs_f64() / nm.as_secs_f64();
        println!(
            "  {platform}: verify-symbols {:>6.1} ms, nm -D {:>6.1} ms, ratio {ratio:.2}   goal <= 1.00 and < 50 ms {}",
            ms(verify),
            ms(nm),
            verdict(ratio <= 1.0 && verify < Duration::from_millis(50))
        );
    }
    Ok(())
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
fn cold_build(manifest: &Path, target_dir: &PathBuf, platform: Platform, rustc: Option<&str>) -> Result<Duration> {
    let mut cmd = Command::new(cargo());
    cmd.args(["build", "--locked", "--release", "--package", PACKAGE, "--manifest-path"])
        .arg(manifest)
        .env("CARGO_TARGET_DIR", target_dir);
    if !platform.is_host() {
        cmd.args(["--target", platform.rust_triple()]);
    }
    cmd.envs(cross::rust_env(&platform)?);
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

/// Median wall time of `RUNS` runs of a command (which must succeed).
fn median_time(make: impl Fn() -> Command) -> Result<Duration> {
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
    Ok(times[RUNS / 2])
}
