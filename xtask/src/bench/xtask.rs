//! `cargo xtask bench xtask`: what xtask itself costs. CI compiles it in every
//! job, and every `cargo xtask …` starts with cargo's check that it is fresh.
//!
//! In one run: a cold debug build of xtask in a fresh target directory (all
//! its dependencies, like a CI job without cache), the binary's size, and a
//! warm no-op `cargo xtask --help` (median of several runs; nothing to
//! rebuild) beside the binary alone. Goals: cold ≤ 40 s on 2 cores, warm ≤ 0.3 s.

use std::{
    fs,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{metrics::human, workspace::cargo, Ctx};

const COLD_GOAL: f64 = 40.0;
const WARM_GOAL: f64 = 0.3;
const RUNS: usize = 9;

pub fn run(ctx: &Ctx) -> Result<()> {
    crate::doctor::ensure(ctx, &[crate::doctor::Need::Cargo])?;
    let ws = ctx.workspace()?;
    if !ws.path("xtask/Cargo.toml").is_file() {
        bail!("{} has no xtask/ package; run this in the workspace that builds xtask", ws.root.display());
    }
    let target = ws.target_dir()?.join("xtask-bench-xtask");
    if target.exists() {
        fs::remove_dir_all(&target).with_context(|| format!("cannot remove {}", target.display()))?;
    }

    eprintln!("==> cold build of xtask (fresh target dir {})", target.display());
    let cold = timed(
        Command::new(cargo())
            .args(["build", "--locked", "--package", "xtask"])
            .current_dir(&ws.root)
            .env("CARGO_TARGET_DIR", &target),
    )?;
    let bin = target.join("debug").join(format!("xtask{}", std::env::consts::EXE_SUFFIX));
    let size = fs::metadata(&bin).with_context(|| format!("cannot stat {}", bin.display()))?.len();

    eprintln!("==> warm `cargo xtask --help` (x{RUNS})");
    let warm_cargo = || {
        let mut c = Command::new(cargo());
        c.args(["xtask", "--help"]).current_dir(&ws.root).stdout(Stdio::null());
        c
    };
    timed(&mut warm_cargo())?; // make sure it is built and fresh
    let warm = median((0..RUNS).map(|_| timed(&mut warm_cargo())).collect::<Result<_>>()?);
    let alone = median(
        (0..RUNS).map(|_| timed(Command::new(&bin).arg("--help").stdout(Stdio::null()))).collect::<Result<_>>()?,
    );
    if std::env::var_os("XTASK_BENCH_KEEP").is_none() {
        fs::remove_dir_all(&target).with_context(|| format!("cannot remove {}", target.display()))?;
    }

    let row = |label: &str, value: String| println!("{label:<36} {value}");
    let verdict = |ok: bool| if ok { "goal met" } else { "goal NOT met" };
    row("cold build of xtask (debug):", format!("{}  ({}: <= {COLD_GOAL} s)", secs(cold), verdict(cold <= COLD_GOAL)));
    row(
        "warm `cargo xtask --help` (median):",
        format!("{}  ({}: <= {WARM_GOAL} s)", secs(warm), verdict(warm <= WARM_GOAL)),
    );
    row("`xtask --help`, the binary alone:", secs(alone));
    row("binary size (debug):", format!("{:.1} MiB", size as f64 / (1u64 << 20) as f64));
    row("parallel jobs (cores):", std::thread::available_parallelism().map_or(0, |n| n.get()).to_string());
    Ok(())
}

fn timed(cmd: &mut Command) -> Result<f64> {
    let start = Instant::now();
    let status = cmd.status().with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(start.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn secs(s: f64) -> String {
    human(Duration::from_secs_f64(s))
}
