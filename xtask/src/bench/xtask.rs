//! `cargo xtask bench xtask`: what xtask itself costs. CI compiles it in every
//! job, and every `cargo xtask …` starts with cargo's check that it is fresh.
//!
//! In one run: a cold debug build of xtask in a fresh target directory (all
//! its dependencies, like a CI job without cache), as CI compiles it
//! (`CARGO_INCREMENTAL=0`) and as a first local build, the binary's size, and a
//! warm no-op `cargo xtask --help` (median of several runs; nothing to
//! rebuild) beside the binary alone. Goals: cold ≤ 40 s on 2 cores, warm ≤ 0.3 s.
//! The figures are appended to `benchmarks/records/xtask.json`.

use std::{
    fs,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::report::{self, Figure};
use crate::{ctx::Ctx, metrics::human, workspace::cargo};

const COLD_GOAL: f64 = 40.0;
const WARM_GOAL: f64 = 0.3;
const RUNS: usize = 9;
const COLD_RUNS: usize = 3;

pub fn run(ctx: &Ctx) -> Result<()> {
    crate::prereq::ensure(ctx, &[crate::prereq::Need::Cargo])?;
    let ws = ctx.workspace()?;
    if !ws.path("xtask/Cargo.toml").is_file() {
        bail!("{} has no xtask/ package; run this in the workspace that builds xtask", ws.root.display());
    }
    let target = ws.target_dir()?.join("xtask-bench-xtask");
    // CI compiles without incremental state (`CARGO_INCREMENTAL=0` in the
    // workflow and .ci/run: a fresh target is never rebuilt incrementally);
    // a developer's first build writes it. The goal is CI's.
    let cold = |incremental: &str| -> Result<f64> {
        if target.exists() {
            fs::remove_dir_all(&target).with_context(|| format!("cannot remove {}", target.display()))?;
        }
        eprintln!("==> cold build of xtask, CARGO_INCREMENTAL={incremental} (fresh target dir {})", target.display());
        timed(
            Command::new(cargo())
                .args(["build", "--locked", "--package", "xtask"])
                .current_dir(&ws.root)
                .env("CARGO_TARGET_DIR", &target)
                .env("CARGO_INCREMENTAL", incremental),
        )
    };
    let cold_local = cold("1")?;
    // A cold build moves by several seconds between runs back to back:
    // CI's figure is the median of three.
    let cold_ci_runs: Vec<f64> = (0..COLD_RUNS).map(|_| cold("0")).collect::<Result<_>>()?;
    let cold_ci = median(cold_ci_runs.clone());
    let bin = target.join("debug").join(format!("xtask{}", std::env::consts::EXE_SUFFIX));
    let size = fs::metadata(&bin).with_context(|| format!("cannot stat {}", bin.display()))?.len();

    eprintln!("==> warm `cargo xtask --help` (x{RUNS})");
    let warm_cargo = || {
        let mut c = Command::new(cargo());
        c.args(["xtask", "--help"]).current_dir(&ws.root).stdout(Stdio::null());
        c
    };
    timed(&mut warm_cargo())?; // make sure it is built and fresh
    let warm_runs: Vec<f64> = (0..RUNS).map(|_| timed(&mut warm_cargo())).collect::<Result<_>>()?;
    let warm = median(warm_runs.clone());
    let alone_runs: Vec<f64> =
        (0..RUNS).map(|_| timed(Command::new(&bin).arg("--help").stdout(Stdio::null()))).collect::<Result<_>>()?;
    let alone = median(alone_runs.clone());
    if std::env::var_os("XTASK_BENCH_KEEP").is_none() {
        fs::remove_dir_all(&target).with_context(|| format!("cannot remove {}", target.display()))?;
    }

    let row = |label: &str, value: String| println!("{label:<50} {value}");
    let verdict = |ok: bool| if ok { "goal met" } else { "goal NOT met" };
    row(
        "cold build of xtask, as CI (debug; median of 3):",
        format!("{}  ({}: <= {COLD_GOAL} s)", secs(cold_ci), verdict(cold_ci <= COLD_GOAL)),
    );
    row("cold build, incremental (a first local build):", secs(cold_local));
    row(
        "warm `cargo xtask --help` (median):",
        format!("{}  ({}: <= {WARM_GOAL} s)", secs(warm), verdict(warm <= WARM_GOAL)),
    );
    row("`xtask --help`, the binary alone:", secs(alone));
    row("binary size (debug):", format!("{:.1} MiB", size as f64 / (1u64 << 20) as f64));
    row("parallel jobs (cores):", std::thread::available_parallelism().map_or(0, |n| n.get()).to_string());

    let figures = vec![
        Figure::new("cold build of xtask, as CI (debug, CARGO_INCREMENTAL=0)", "s", cold_ci_runs).goal_max(COLD_GOAL),
        Figure::new("cold build, incremental (a first local build)", "s", vec![cold_local]),
        Figure::new("warm `cargo xtask --help`", "s", warm_runs).goal_max(WARM_GOAL),
        Figure::new("`xtask --help`, the binary alone", "s", alone_runs),
        Figure::new("binary size (debug)", "MiB", vec![size as f64 / (1u64 << 20) as f64]),
    ];
    report::save(ctx, &report::new_record(ctx, "xtask", figures, Vec::new()))
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use cargo_metadata::{DependencyKind, MetadataCommand, PackageId};

    use crate::platform::Platform;

    /// xtask compiles one major version of `syn`, not two: a second one (as
    /// cbindgen's syn 2 was, beside the derive macros' syn 3, before cbindgen
    /// moved to its own binary, `xtask-cbindgen`) is a second compile of a
    /// large crate on the critical path of every CI job's cold build.
    #[test]
    fn xtask_compiles_one_syn() {
        for platform in Platform::ALL {
            one_syn(platform);
        }
    }

    fn one_syn(platform: Platform) {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
        let options = ["--locked", "--filter-platform", platform.rust_triple()].map(String::from).to_vec();
        let meta = MetadataCommand::new().manifest_path(manifest).other_options(options).exec().unwrap();
        let resolve = meta.resolve.as_ref().unwrap();
        let nodes: HashMap<&PackageId, _> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
        let xtask = meta.packages.iter().find(|p| p.name.as_str() == "xtask").unwrap();
        let (mut seen, mut todo) = (BTreeSet::new(), vec![&xtask.id]);
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            for dep in &nodes[id].deps {
                let kinds = &dep.dep_kinds;
                if kinds.iter().any(|k| k.kind != DependencyKind::Development) || (id == &xtask.id && kinds.is_empty())
                {
                    todo.push(&dep.pkg);
                }
            }
        }
        let syns: BTreeSet<String> = seen
            .iter()
            .map(|id| &meta[*id])
            .filter(|p| p.name.as_str() == "syn")
            .map(|p| p.version.to_string())
            .collect();
        assert_eq!(
            syns.len(),
            1,
            "xtask for {platform} compiles syn {syns:?}: `cargo tree -p xtask -e normal,build -i syn@<version>` \
             names what pulled in the second one; pin it in Cargo.lock (`cargo update -p <crate> --precise <version>`) \
             or move its user out of xtask"
        );
    }
}
