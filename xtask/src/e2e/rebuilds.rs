//! The e2e's rebuilds: no change, a library change, a router change, a
//! planted file over the size budget, a pull request; under `--all-checks`
//! also a go.sum change, the library change on the foreign platforms, and
//! a second builder with empty state. Each is timed against the first
//! build.

use std::{fs, path::Path, time::Duration};

use anyhow::{bail, ensure, Context, Result};

use super::{build, builder, built_one, cook_cached, ran_steps, side_by_side, step_cached, Cook, Env, How};
use crate::{
    docker::{argv, report::RunReport, Built},
    engine::BuildxMode,
    flags,
    platform::Platform,
    table::{Align, Table},
};

/// No-change and app-change rebuilds, with their ratios to the first build.
/// The Go module layer's RUN (its stage's name), and the Go dependency layer's.
const GO_MODULES: &str = "[gomod ";
const GO_DEPS: &str = "precache go --dir src/semantic-router --compile";

pub fn rebuilds(
    env: &Env<'_>,
    context: &Path,
    platforms: &[Platform],
    host: Platform,
    cold: &[Built],
    first: &builder::Builder,
    report: &mut RunReport,
) -> Result<()> {
    let mut rows = Vec::new();
    report.phase = Some("no change".into());
    for (i, &p) in platforms.iter().enumerate() {
        let first = &cold[i];
        let again = build(env, context, p, host, How::default(), report)?;
        let steps_run = ran_steps(&again.output);
        ensure!(steps_run.is_empty(), "{p}: a rebuild without change ran steps again: {}", steps_run.join("; "));
        rows.push((p, "no change", again.seconds, first.seconds, cook_cached(&again.output)));
    }
    // A change to candle-binding's code: a new public item, not in the C ABI.
    let lib = context.join("candle-binding/src/lib.rs");
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let mut text = fs::read_to_string(&lib)?;
    text.push_str(&format!(
        "\n/// Rebuild marker written by `cargo xtask e2e` into its copy of the sources.\n#[doc(hidden)]\npub const E2E_REBUILD_MARKER: u128 = {stamp};\n"
    ));
    fs::write(&lib, text)?;
    report.phase = Some("candle-binding change".into());
    // The host's; under --all-checks every platform, side by side as the
    // first builds.
    let changed_on: Vec<Platform> = platforms.iter().copied().filter(|p| env.all_checks || *p == host).collect();
    let all = side_by_side(env, context, &changed_on, host, |_| How::default(), report)?;
    for (&p, changed) in changed_on.iter().zip(all) {
        let first = &cold[platforms.iter().position(|q| *q == p).context("a platform without a first build")?];
        let cook = cook_cached(&changed.output);
        ensure!(cook == Cook::Cached, "{p}: after a change in candle-binding the dependency cook {}", cook.describe());
        ensure!(
            step_cached(&changed.output, "xtask build") == Cook::Ran,
            "{p}: after a change in candle-binding the build step did not run"
        );
        rows.push((p, "candle-binding change", changed.seconds, first.seconds, cook));
    }
    // The Go module layer (stage gomod) is keyed on go.mod and go.sum
    // alone, and the Go dependency layer (`precache go --compile`) on them
    // and the list of imported packages: a change to the router's code
    // leaves both CACHED, a go.sum change runs them again. On the host
    // platform.
    if let Some(i) = platforms.iter().position(|p| *p == host) {
        let router = context.join(crate::build::ROUTER_DIR);
        let main_go = router.join("cmd/extproc/main.go");
        let mut text = fs::read_to_string(&main_go)?;
        text.push_str(&format!("\n// Rebuild marker written by `cargo xtask e2e` into its copy: {stamp}.\n"));
        fs::write(&main_go, text)?;
        report.phase = Some("router change".into());
        let changed = build(env, context, host, host, How::default(), report)?;
        for (step, want) in [
            (GO_MODULES, Cook::Cached),
            (GO_DEPS, Cook::Cached),
            ("precache cook", Cook::Cached),
            ("xtask build", Cook::Ran),
        ] {
            let got = step_cached(&changed.output, step);
            ensure!(got == want, "{host}: after a change in the router's code, the step `{step}` {}", got.describe());
        }
        eprintln!(
            "e2e: {host}: router change: Go module and dependency layers and the dependency cook CACHED, build ran"
        );
        rows.push((host, "router change", changed.seconds, cold[i].seconds, cook_cached(&changed.output)));

        // A duplicated go.sum line: the same modules, other bytes.
        if env.all_checks {
            let go_sum = router.join("go.sum");
            let sum = fs::read_to_string(&go_sum)?;
            let first_line = sum.lines().next().context("go.sum is empty")?.to_owned();
            fs::write(&go_sum, format!("{sum}{first_line}\n"))?;
            report.phase = Some("go.sum change".into());
            let changed = build(env, context, host, host, How::default(), report)?;
            for step in [GO_MODULES, GO_DEPS] {
                let got = step_cached(&changed.output, step);
                ensure!(got == Cook::Ran, "{host}: after a go.sum change, the step `{step}` {}", got.describe());
            }
            eprintln!("e2e: {host}: go.sum change: Go module and dependency layers ran again");
            rows.push((host, "go.sum change", changed.seconds, cold[i].seconds, cook_cached(&changed.output)));
        }

        // A 50 MB file planted in the runtime stage: over extproc's size
        // budget, and the error names the layer.
        report.phase = Some("planted 50 MB".into());
        planted_file_fails(env, context, host, report)?;
    }
    // A pull request (`--pr`: CARGO_BUILD_JOBS=8, loaded, not pushed) of the
    // tree a push (20 jobs) just built reuses its dependency layer.
    if let Some(i) = platforms.iter().position(|p| *p == host) {
        report.phase = Some("pull request".into());
        let opts = flags::DockerBuild {
            image: Some("extproc".into()),
            platform: vec![host],
            tag: vec!["e2e-pr".into()],
            load: true,
            pr: true,
            registry: Some(env.registry.clone()),
            context: Some(context.to_path_buf()),
            engine: flags::DockerArgs { docker: Some(env.docker.name.clone()), metrics_file: None },
            build_arg: env.build_args("extproc", host, host, ""),
            secret: env.secrets.clone(),
            buildx: BuildxMode::Yes,
            xtask_bin: env.given_xtask(host, host).then(|| env.xtask_bin.clone()),
            ..Default::default()
        };
        let pr = built_one(env, context, "extproc", host, &opts, &[], report)?;
        let cook = cook_cached(&pr.output);
        ensure!(
            cook == Cook::Cached,
            "{host}: a pull-request build (8 jobs) after a push (20) re-cooked: {}",
            cook.describe()
        );
        eprintln!("e2e: {host} pull-request build (CARGO_BUILD_JOBS=8; the push builds: 20): dependency cook CACHED");
        rows.push((host, "pull request", pr.seconds, cold[i].seconds, cook));
    }
    // Many runners, one cache: a second builder with empty state (a new
    // runner) builds the host's extproc of the tree the rebuilds left; its
    // dependency cook comes from the cache the first builder exported to
    // the registry.
    if let Some(i) = platforms.iter().position(|p| *p == host).filter(|_| env.all_checks) {
        report.phase = Some("second builder".into());
        let second = format!("{}-b", first.name);
        report.step(format!("builder {second} (empty state)"), || {
            builder::fresh(&env.docker, &env.work, &second, &env.registry, &first.image_id).map(drop)
        })?;
        let imported = {
            let _using = builder::Use::builder(&second);
            build(env, context, host, host, How { no_cache: false, exported: true }, report)
        };
        crate::engine::buildx::remove(&env.docker, &second)?;
        let imported = imported?;
        let cook = cook_cached(&imported.output);
        let cache = format!("{}:buildcache-{}", argv::image_name(Some(&env.registry), "extproc"), host.dir_name());
        ensure!(
            cook == Cook::Cached,
            "{host}: a second builder, empty, {} the dependency cook instead of reading it from {cache}",
            cook.describe()
        );
        eprintln!("e2e: {host}: builder {second} (empty state): dependency cook CACHED from {cache}");
        rows.push((host, "second builder", imported.seconds, cold[i].seconds, cook));
    }
    report.phase = None;
    let mut table = Table::new(&["platform", "rebuild", "time", "first", "ratio", "dependency cook"]);
    for i in 2..5 {
        table = table.align(i, Align::Right);
    }
    for (p, what, t, first, cook) in &rows {
        let ratio = t / first;
        table.row([
            p.docker().to_owned(),
            what.to_string(),
            crate::metrics::human(Duration::from_secs_f64(*t)),
            crate::metrics::human(Duration::from_secs_f64(*first)),
            format!("{:.1}%", ratio * 100.0),
            cook.describe().to_string(),
        ]);
        let key = format!("{} {} ratio", p.dir_name(), what.replace(' ', "-"));
        report.figure(key, ratio);
        report.figure(format!("{} {} seconds", p.dir_name(), what.replace(' ', "-")), *t);
        if *what == "no change" && ratio > 0.05 {
            let first_cold = cook_cached(&cold[rows.iter().position(|r| r.0 == *p).unwrap_or(0)].output) == Cook::Ran;
            if first_cold {
                eprintln!(
                    "warning: {p}: a rebuild without change took {:.1}% of the cold build (goal: 5%)",
                    ratio * 100.0
                );
            } else {
                eprintln!("note: {p}: the first build was itself cached, so the ratio is not against a cold build (use --cold)");
            }
        }
    }
    eprint!("\n{}", table.render());
    for (i, &p) in platforms.iter().enumerate() {
        report.figure(format!("{} first-build seconds", p.dir_name()), cold[i].seconds);
        report.figure(
            format!("{} first-build cold", p.dir_name()),
            if cook_cached(&cold[i].output) == Cook::Ran { 1.0 } else { 0.0 },
        );
    }
    Ok(())
}

/// Build `host`'s extproc with a 50 MB file copied into its runtime stage:
/// the build must fail on the size budget, naming that layer. The context
/// is put back either way.
fn planted_file_fails(env: &Env<'_>, context: &Path, host: Platform, report: &mut RunReport) -> Result<()> {
    const PLANTED: &str = "e2e-planted.bin";
    let dockerfile = context.join("tools/docker/Dockerfile.extproc");
    let original = fs::read_to_string(&dockerfile)?;
    // Random bytes, so that the layer weighs 50 MB compressed too (a
    // pushed image's size is the registry's: compressed).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..50_000_000 / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    fs::write(context.join(PLANTED), bytes)?;
    fs::write(&dockerfile, format!("{original}COPY {PLANTED} /app/{PLANTED}\n"))?;
    let result = build(env, context, host, host, How::default(), report);
    fs::write(&dockerfile, original)?;
    fs::remove_file(context.join(PLANTED))?;
    let err = match result {
        Ok(_) => bail!("{host}: extproc with a planted 50 MB file passed its size budget"),
        Err(e) => format!("{e:#}"),
    };
    ensure!(
        err.contains("> budget") && err.contains(PLANTED),
        "{host}: the planted 50 MB file failed the build, but not on its size budget: {err}"
    );
    eprintln!("e2e: {host}: a planted 50 MB file fails the size budget: {err}");
    Ok(())
}
