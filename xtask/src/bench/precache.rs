//! `cargo xtask bench precache [--manifest-path PATH] [-p PKG]…` compares, on
//! a snapshot of any workspace, in one run (release builds):
//! - a cold build (fresh target directory);
//! - ours, the Docker flow after an application-source change: `prepare` and
//!   `cook` (the cached layer), then the rebuild: prepare → copy the sources
//!   with their old mtimes → clean-stale → build;
//! - the floor: in the tree just built, touch every local target's source and
//!   build (what compiling the workspace crates alone costs);
//! - cargo-chef's same steps when `cargo-chef` is installed (said loudly when not).
//!
//! Each rebuild (ours, the floor, cargo-chef's) runs [`RUNS`] times in its
//! tree and the median is compared: one run of a build moves by several
//! percent from the next. Ours and cargo-chef's runs alternate,
//! and which of the two goes first alternates too: a machine's speed drifts
//! through a run, and phases run back to back would put the drift into the
//! ratio. The later runs do the same work as the
//! first (clean-stale removes the workspace crates' artifacts again; the
//! changed file has a new mtime for cargo-chef's build and for the floor).
//!
//! Every build runs in the same directory, so that package ids, and so symbol
//! names, are the same; each rebuild's artifacts (`.so`, `.a`, executables in
//! the profile directory) must define the same symbols as the cold build's.
//! Steps run as processes (our xtask binary, copied first), like cargo-chef's.
//! The figures are appended to `benchmarks/records/precache.json`.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, SystemTime},
};

use anyhow::{bail, Context, Result};

use super::report::{self, Figure};
use crate::{
    build::PACKAGE,
    ctx::Ctx,
    metrics::{human, Metrics},
    platform::Platform,
    workspace::cargo,
};

/// Goals, from issue 17.
const GOAL_VS_CHEF: f64 = 1.0;
const GOAL_VS_FLOOR: f64 = 1.2;
const MARK: &str = "\n// bench precache: an application-source change\n";
/// Runs of each rebuild; the median is compared.
const RUNS: usize = 3;

/// Artifact file name → the symbols it defines.
type Symbols = BTreeMap<String, BTreeSet<String>>;
type Env = Vec<(String, String)>;

struct Bench<'a> {
    base: PathBuf,
    snapshot: PathBuf,
    work: PathBuf,
    xtask: PathBuf,
    packages: &'a [String],
    /// Source files of the local targets (relative), the first one changed.
    sources: Vec<String>,
}

pub fn run(ctx: &Ctx, packages: &[String]) -> Result<()> {
    crate::prereq::ensure(ctx, &crate::prereq::toolchain(&[Platform::host()?], false))?;
    let ws = ctx.workspace()?;
    let base = ws.target_dir()?.join("xtask-bench-precache");
    if base.exists() {
        fs::remove_dir_all(&base).with_context(|| format!("cannot remove {}", base.display()))?;
    }
    fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;
    let meta = ws.local_metadata()?;
    let default_pkg = [PACKAGE.to_owned()];
    let packages = match packages {
        [] if meta.workspace_packages().iter().any(|p| p.name.as_str() == PACKAGE) => &default_pkg[..],
        p => p,
    };
    let sources = app_sources(&meta, packages)?;
    // A copy of ourselves: `cargo` may rebuild xtask while the bench runs.
    let xtask = base.join("xtask");
    let exe = std::env::current_exe().context("cannot find the xtask binary")?;
    fs::copy(&exe, &xtask).with_context(|| format!("cannot copy {} to {}", exe.display(), xtask.display()))?;
    let b = Bench { snapshot: base.join("src"), work: base.join("work"), xtask, packages, sources, base };
    let mut m = Metrics::default();

    m.step("snapshot the workspace sources", || copy_sources(&ws.root, &b.snapshot))?;
    let chef = which::which("cargo-chef").ok();

    // 1. Cold.
    let cold_target = b.base.join("cold-target");
    m.step("cold: copy sources", || b.fresh_work(true))?;
    let env = b.env(&cold_target)?;
    let cold = m.step("cold: build (release, fresh target dir)", || b.build(&cold_target, &env))?;
    let cold_symbols = symbols(&cold_target.join("release"))?;
    if cold_symbols.is_empty() {
        bail!("the cold build left no .so, .a or executable in {}", cold_target.join("release").display());
    }

    // 2. Ours.
    let target = b.base.join("ours-target");
    b.fresh_work(false)?;
    let prepare = m.step("ours: prepare", || b.xtask(&b.snapshot, &target, &["precache", "prepare", "--out"], true))?;
    let cook = m.step("ours: cook (cached layer)", || {
        let mut args = vec!["precache", "cook", "--release"];
        args.extend(b.packages.iter().flat_map(|p| ["--package", p.as_str()]));
        b.xtask(&b.work, &target, &args, false)
    })?;
    let env = b.env(&target)?;

    // 3. cargo-chef's prepare and cook, when installed. A failure on this
    // workspace is a figure too, not our failure.
    let mut chef = chef.map(|_| b.chef_cook(&mut m));

    // 4. The rebuilds, ours and cargo-chef's interleaved (the machine warms
    // up and cools down through a run: who runs first alternates), each
    // from the one work directory, in its own target directory.
    let mut runs = Vec::new();
    let mut chef_runs = Vec::new();
    for run in 1..=RUNS {
        let ours_first = run % 2 == 1;
        if !ours_first {
            b.chef_rebuild(&mut m, &mut chef, run, &cold_symbols, &mut chef_runs);
        }
        let copy =
            m.step(format!("ours: copy sources (old mtimes) + change [{run}/{RUNS}]"), || b.copy_and_change())?;
        let clean = m.step(format!("ours: clean-stale [{run}/{RUNS}]"), || {
            b.xtask(&b.work, &target, &["clean-stale", "--profile", "release"], false)
        })?;
        let build = m.step(format!("ours: build [{run}/{RUNS}]"), || b.build(&target, &env))?;
        let symbols_ok = compare("ours", &cold_symbols, &symbols(&target.join("release"))?);
        runs.push(Figures { prepare, cook, copy, clean, build, symbols_ok });
        if ours_first {
            b.chef_rebuild(&mut m, &mut chef, run, &cold_symbols, &mut chef_runs);
        }
    }
    let mut figures = vec![Figure::new("cold build (release)", "s", vec![cold.secs])];
    figures.extend(Figures::samples("xtask", &runs));
    let chef_all: Option<Vec<Figures>> =
        chef.as_ref().and_then(|c| c.as_ref().ok()).map(|c| chef_runs.into_iter().map(|r| r.with(c)).collect());
    if let Some(all) = &chef_all {
        figures.extend(Figures::samples("cargo-chef", all));
    }
    let ours = Figures::median(runs);
    let chef = chef.map(|c| c.map(|_| Figures::median(chef_all.unwrap_or_default())));

    // 5. The floor, in our tree (touch the local sources, build).
    let mut floors = Vec::new();
    for run in 1..=RUNS {
        floors.push(m.step(format!("floor: touch the local sources, build [{run}/{RUNS}]"), || {
            b.touch_sources()?;
            b.build(&target, &env)
        })?);
    }
    figures.push(Figure::new("floor (touch the local sources, build)", "s", floors.iter().map(|t| t.secs).collect()));
    let floor = median_by(floors, |t| t.secs);

    println!("\n{}", m.table());
    let row = |label: &str, value: String| println!("{label:<40} {value}");
    row("cold build (release):", secs(cold.secs));
    row(&format!("floor (touch local sources, build; median of {RUNS}):"), secs(floor.secs));
    ours.print("xtask", &row);
    let rebuild = ours.rebuild();
    let vs_floor = rebuild / floor.secs.max(0.001);
    row(
        "xtask: rebuild / floor:",
        format!("{vs_floor:.2}  ({}: <= {GOAL_VS_FLOOR})", verdict(vs_floor <= GOAL_VS_FLOOR)),
    );
    figures.push(Figure::new("xtask rebuild / floor (median runs)", "ratio", vec![vs_floor]).goal_max(GOAL_VS_FLOOR));
    let mut notes = Vec::new();
    row("xtask: cold / rebuild:", format!("{:.1}x", cold.secs / rebuild.max(0.001)));
    match &chef {
        Some(Err(e)) => {
            row("cargo-chef:", format!("FAILED on this workspace, nothing compared: {e:#}"));
            notes.push(format!("cargo-chef failed on this workspace: {e:#}"));
        }
        Some(Ok(c)) => {
            c.print("cargo-chef", &row);
            let vs_chef = rebuild / c.rebuild().max(0.001);
            row(
                "xtask rebuild / chef rebuild:",
                format!("{vs_chef:.2}  ({}: <= {GOAL_VS_CHEF})", verdict(vs_chef <= GOAL_VS_CHEF)),
            );
            row("xtask prepare / chef prepare:", format!("{:.2}", ours.prepare.secs / c.prepare.secs.max(0.001)));
            row("xtask cook / chef cook:", format!("{:.2}", ours.cook.secs / c.cook.secs.max(0.001)));
            figures.push(
                Figure::new("xtask rebuild / chef rebuild (median runs)", "ratio", vec![vs_chef])
                    .goal_max(GOAL_VS_CHEF),
            );
        }
        None => {
            row(
                "cargo-chef:",
                "NOT INSTALLED: nothing compared (`cargo install cargo-chef --locked`, then run again)".to_owned(),
            );
            notes.push("cargo-chef not installed: nothing compared".to_owned());
        }
    }
    if !ours.symbols_ok {
        notes.push("our rebuild's artifacts differ from the cold build's (stale artifacts)".to_owned());
    }
    report::save(ctx, &report::new_record(ctx, "precache", figures, notes))?;

    if std::env::var_os("XTASK_BENCH_KEEP").is_none() {
        fs::remove_dir_all(&b.base).with_context(|| format!("cannot remove {}", b.base.display()))?;
    } else {
        println!("kept {}", b.base.display());
    }
    if !ours.symbols_ok {
        bail!("our rebuild's artifacts differ from the cold build's (stale artifacts)");
    }
    Ok(())
}

/// The run whose `key` is the median (the upper one of an even count).
fn median_by<T>(mut runs: Vec<T>, key: impl Fn(&T) -> f64) -> T {
    runs.sort_by(|a, b| key(a).total_cmp(&key(b)));
    runs.swap_remove(runs.len() / 2)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "goal met"
    } else {
        "goal NOT met"
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Timed {
    secs: f64,
}

#[derive(Debug, Default, Clone)]
struct Figures {
    prepare: Timed,
    cook: Timed,
    copy: Timed,
    clean: Timed,
    build: Timed,
    symbols_ok: bool,
}

impl Figures {
    /// The run whose rebuild is the median; its symbols must match in every run.
    fn median(runs: Vec<Figures>) -> Figures {
        let symbols_ok = runs.iter().all(|r| r.symbols_ok);
        let mut mid = median_by(runs, Figures::rebuild);
        mid.symbols_ok = symbols_ok;
        mid
    }

    /// Every run's steps as the record's figures.
    fn samples(who: &str, runs: &[Figures]) -> Vec<Figure> {
        let fig = |step: &str, f: &dyn Fn(&Figures) -> f64| {
            Figure::new(format!("{who}: {step}"), "s", runs.iter().map(f).collect())
        };
        let Some(first) = runs.first() else { return Vec::new() };
        let mut out = vec![
            Figure::new(format!("{who}: prepare"), "s", vec![first.prepare.secs]),
            Figure::new(format!("{who}: cook (once per dependency change)"), "s", vec![first.cook.secs]),
            fig("copy sources (old mtimes) + change", &|r| r.copy.secs),
        ];
        // cargo-chef has no clean step.
        if runs.iter().any(|r| r.clean.secs > 0.0) {
            out.push(fig("clean-stale", &|r| r.clean.secs));
        }
        out.push(fig("build", &|r| r.build.secs));
        out.push(fig("rebuild after a change (prepare, copy, clean, build)", &|r| r.rebuild()));
        out
    }

    /// What an application change costs: everything but the cook.
    fn rebuild(&self) -> f64 {
        self.prepare.secs + self.copy.secs + self.clean.secs + self.build.secs
    }

    fn print(&self, who: &str, row: &dyn Fn(&str, String)) {
        row(
            &format!("{who}: rebuild after a change (median of {RUNS}):"),
            format!(
                "{}  (prepare {}, copy {}, clean-stale {}, build {})",
                secs(self.rebuild()),
                secs(self.prepare.secs),
                secs(self.copy.secs),
                secs(self.clean.secs),
                secs(self.build.secs)
            ),
        );
        row(&format!("{who}: cook (once per dependency change):"), secs(self.cook.secs));
        let same = if self.symbols_ok { "yes" } else { "NO (stale artifacts shipped)" };
        row(&format!("{who}: rebuild symbols = cold build's:"), same.to_owned());
    }
}

impl Bench<'_> {
    /// Empty the work directory; with `sources`, copy the snapshot in.
    fn fresh_work(&self, sources: bool) -> Result<()> {
        if self.work.exists() {
            fs::remove_dir_all(&self.work).with_context(|| format!("cannot remove {}", self.work.display()))?;
        }
        if sources {
            copy_sources(&self.snapshot, &self.work)?;
        }
        Ok(())
    }

    /// The environment of `xtask build` for the host (`cook` uses the same):
    /// none of its own (no cross environment for the host), so that every
    /// build of the bench shares it, or cargo would rebuild every dependency.
    /// Only `dist` adds path remapping, in a target dir of its own.
    fn env(&self, _target: &Path) -> Result<Env> {
        Ok(Env::new())
    }

    fn run(&self, mut cmd: Command, target: &Path, env: &Env) -> Result<Timed> {
        let start = std::time::Instant::now();
        let status = cmd
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("CARGO_TARGET_DIR", target)
            .env_remove("CARGO_BUILD_TARGET")
            .status()
            .with_context(|| format!("cannot run {cmd:?}"))?;
        if !status.success() {
            bail!("{cmd:?} failed ({status})");
        }
        Ok(Timed { secs: start.elapsed().as_secs_f64() })
    }

    fn build(&self, target: &Path, env: &Env) -> Result<Timed> {
        let mut cmd = Command::new(cargo());
        cmd.args(["build", "--release", "--locked"]).current_dir(&self.work);
        for p in self.packages {
            cmd.args(["--package", p]);
        }
        self.run(cmd, target, env)
    }

    /// Our binary in `dir`; with `out`, the work directory is the last argument.
    fn xtask(&self, dir: &Path, target: &Path, args: &[&str], out: bool) -> Result<Timed> {
        let mut cmd = Command::new(&self.xtask);
        cmd.args(args).current_dir(dir);
        if out {
            cmd.arg(&self.work);
        }
        self.run(cmd, target, &Env::new())
    }

    /// Copy the real sources over the work directory as Docker's `COPY` does
    /// (their mtimes are older than the cooked build), then change one.
    fn copy_and_change(&self) -> Result<Timed> {
        let start = std::time::Instant::now();
        copy_sources(&self.snapshot, &self.work)?;
        let file = self.work.join(&self.sources[0]);
        let mut text = fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        text.push_str(MARK);
        fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
        Ok(Timed { secs: start.elapsed().as_secs_f64() })
    }

    fn touch_sources(&self) -> Result<()> {
        let now = SystemTime::now();
        for rel in &self.sources {
            let path = self.work.join(rel);
            fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_modified(now))
                .with_context(|| format!("cannot touch {}", path.display()))?;
        }
        Ok(())
    }

    /// cargo-chef's prepare and cook, into its own target directory.
    fn chef_cook(&self, m: &mut Metrics) -> Result<ChefCooked> {
        let target = self.base.join("chef-target");
        let recipe = self.base.join("chef-recipe.json");
        let env = self.env(&target)?; // the work directory still holds a workspace
        self.fresh_work(false)?;
        fs::create_dir_all(&self.work)?;
        let c = ChefCooked { target, recipe, env, prepare: Timed::default(), cook: Timed::default() };
        let prepare = m.step("cargo-chef: prepare", || self.chef(&c, &self.snapshot, &["prepare"]))?;
        let cook = m.step("cargo-chef: cook (cached layer)", || {
            let mut args = vec!["cook", "--release", "--locked"];
            args.extend(self.packages.iter().flat_map(|p| ["--package", p.as_str()]));
            self.chef(&c, &self.work, &args)
        })?;
        Ok(ChefCooked { prepare, cook, ..c })
    }

    fn chef(&self, c: &ChefCooked, dir: &Path, args: &[&str]) -> Result<Timed> {
        let recipe = c.recipe.to_str().context("the bench directory is not UTF-8")?;
        let mut cmd = Command::new(cargo());
        cmd.arg("chef").args(args).args(["--recipe-path", recipe]).current_dir(dir);
        self.run(cmd, &c.target, &c.env)
    }

    /// One of cargo-chef's rebuilds (copy with old mtimes, change, build),
    /// when its cook worked; a failure ends its comparison, not the bench.
    fn chef_rebuild(
        &self,
        m: &mut Metrics,
        chef: &mut Option<Result<ChefCooked>>,
        run: usize,
        cold: &Symbols,
        runs: &mut Vec<ChefRun>,
    ) {
        let Some(Ok(c)) = chef else { return };
        let res = (|| -> Result<ChefRun> {
            let copy = m.step(format!("cargo-chef: copy sources (old mtimes) + change [{run}/{RUNS}]"), || {
                self.copy_and_change()
            })?;
            let build = m.step(format!("cargo-chef: build [{run}/{RUNS}]"), || self.build(&c.target, &c.env))?;
            let symbols_ok = compare("cargo-chef", cold, &symbols(&c.target.join("release"))?);
            Ok(ChefRun { copy, build, symbols_ok })
        })();
        match res {
            Ok(r) => runs.push(r),
            Err(e) => *chef = Some(Err(e)),
        }
    }
}

/// cargo-chef's tree after its cook.
struct ChefCooked {
    target: PathBuf,
    recipe: PathBuf,
    env: Env,
    prepare: Timed,
    cook: Timed,
}

/// One of cargo-chef's rebuilds (it has no clean step).
struct ChefRun {
    copy: Timed,
    build: Timed,
    symbols_ok: bool,
}

impl ChefRun {
    fn with(self, c: &ChefCooked) -> Figures {
        let ChefRun { copy, build, symbols_ok } = self;
        Figures { prepare: c.prepare, cook: c.cook, copy, clean: Timed::default(), build, symbols_ok }
    }
}

/// The source files of every local target but build scripts (relative to
/// the root): the floor touches them all, as our rebuild compiles every local
/// crate. The first is the one an application change edits: the library of
/// the first package built, else its first target.
fn app_sources(meta: &cargo_metadata::Metadata, packages: &[String]) -> Result<Vec<String>> {
    let root = meta.workspace_root.as_std_path();
    let members = meta.workspace_packages();
    let first = match packages.first() {
        Some(name) => members
            .iter()
            .find(|p| p.name.as_str() == name)
            .with_context(|| format!("package {name} is not a member of {}", root.display()))?,
        None => {
            let defaults: BTreeSet<_> = meta.workspace_default_members.iter().collect();
            members.iter().find(|p| defaults.contains(&p.id)).context("the workspace has no default member")?
        }
    };
    let mut out: Vec<String> = Vec::new();
    let local = meta.packages.iter().filter(|p| p.source.is_none() && p.id != first.id);
    for p in std::iter::once(*first).chain(local) {
        let mut targets: Vec<_> = p.targets.iter().filter(|t| !t.is_custom_build()).collect();
        targets.sort_by_key(|t| !t.is_lib());
        for t in targets {
            let rel = crate::precache::skeleton::relative_to_root(root, t.src_path.as_std_path())?;
            if !out.contains(&rel) {
                out.push(rel);
            }
        }
    }
    if out.is_empty() {
        bail!("no target to build in {}", root.display());
    }
    Ok(out)
}

fn compare(who: &str, cold: &Symbols, got: &Symbols) -> bool {
    let mut ok = true;
    for (name, syms) in cold {
        match got.get(name) {
            Some(g) if g == syms => {}
            Some(g) => {
                ok = false;
                let missing: Vec<_> = syms.difference(g).take(5).collect();
                eprintln!("{who}: {name} differs from the cold build's (missing e.g. {missing:?})");
            }
            None => {
                ok = false;
                eprintln!("{who}: {name} was not built");
            }
        }
    }
    ok
}

fn secs(s: f64) -> String {
    human(Duration::from_secs_f64(s))
}

/// The artifacts of a profile directory (`.so`, `.a`, executables) and the
/// global symbols each defines.
fn symbols(dir: &Path) -> Result<Symbols> {
    use goblin::elf::{section_header::SHN_UNDEF, sym::STB_GLOBAL};
    let mut out = Symbols::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !entry.file_type()?.is_file() || name.ends_with(".d") || name.ends_with(".rlib") {
            continue;
        }
        let bytes = fs::read(entry.path()).with_context(|| format!("cannot read {}", entry.path().display()))?;
        let set: BTreeSet<String> = if bytes.starts_with(b"\x7fELF") {
            let elf = goblin::elf::Elf::parse(&bytes).with_context(|| format!("{name} is not valid ELF"))?;
            let dynamic = elf.dynsyms.iter().map(|s| (s, elf.dynstrtab.get_at(s.st_name)));
            let stat = elf.syms.iter().map(|s| (s, elf.strtab.get_at(s.st_name)));
            dynamic
                .chain(stat)
                .filter(|(s, _)| s.st_bind() == STB_GLOBAL && s.st_shndx != SHN_UNDEF as usize)
                .filter_map(|(_, n)| n.map(str::to_owned))
                .collect()
        } else if bytes.starts_with(b"!<arch>\n") {
            let a =
                goblin::archive::Archive::parse(&bytes).with_context(|| format!("{name} is not a valid archive"))?;
            a.summarize().into_iter().flat_map(|(_, _, syms)| syms).map(str::to_owned).collect()
        } else {
            continue;
        };
        out.insert(name, set);
    }
    Ok(out)
}

/// Directories never copied: VCS data, build output, downloaded models.
fn skipped(rel: &Path) -> bool {
    let top = ["models", "dist", ".cache"];
    rel.components().any(|c| matches!(c.as_os_str().to_str(), Some(".git" | "target")))
        || (rel.components().count() == 1 && top.iter().any(|t| rel == Path::new(t)))
}

/// Copy a source tree as Docker's `COPY` does: contents and mtimes.
fn copy_sources(from: &Path, to: &Path) -> Result<()> {
    fn walk(root: &Path, dir: &Path, to: &Path) -> Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let rel: PathBuf = path.strip_prefix(root)?.to_path_buf();
            if skipped(&rel) {
                continue;
            }
            let ty = entry.file_type()?;
            let dst = to.join(&rel);
            if ty.is_dir() {
                fs::create_dir_all(&dst)?;
                walk(root, &path, to)?;
            } else if ty.is_file() {
                fs::copy(&path, &dst)
                    .with_context(|| format!("cannot copy {} to {}", path.display(), dst.display()))?;
                let mtime = entry.metadata()?.modified()?;
                fs::File::options().write(true).open(&dst)?.set_modified(mtime)?;
            }
        }
        Ok(())
    }
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    walk(from, from, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_run_is_kept_and_every_run_must_match() {
        let run =
            |build: f64, symbols_ok: bool| Figures { build: Timed { secs: build }, symbols_ok, ..Default::default() };
        let m = Figures::median(vec![run(13.0, true), run(11.0, true), run(19.0, true)]);
        assert_eq!((m.build.secs, m.symbols_ok), (13.0, true));
        // One run that shipped stale artifacts fails the whole figure.
        assert!(!Figures::median(vec![run(1.0, true), run(2.0, false), run(3.0, true)]).symbols_ok);
    }

    #[test]
    fn every_run_is_a_sample_of_the_record() {
        let t = |secs| Timed { secs };
        let run = |build| Figures { prepare: t(0.05), cook: t(180.0), build: t(build), ..Default::default() };
        let figs = Figures::samples("cargo-chef", &[run(11.0), run(9.0)]);
        let names: Vec<&str> = figs.iter().map(|f| f.name.as_str()).collect();
        assert!(!names.iter().any(|n| n.contains("clean-stale")), "{names:?}");
        let build = figs.iter().find(|f| f.name == "cargo-chef: build").unwrap();
        assert_eq!(build.samples, [11.0, 9.0]);
        let rebuild = figs.iter().find(|f| f.name.starts_with("cargo-chef: rebuild")).unwrap();
        assert_eq!(rebuild.samples, [11.05, 9.05]);
    }

    #[test]
    fn skipped_directories() {
        for p in [".git", "target", "candle-binding/target", "models", "dist", ".cache", "a/.git/x"] {
            assert!(skipped(Path::new(p)), "{p}");
        }
        for p in ["candle-binding", "src/models", "xtask/src/dist.rs", "targets"] {
            assert!(!skipped(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn symbol_sets_are_compared_per_artifact() {
        let set = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
        let cold: Symbols = [("liba.so".to_owned(), set(&["a_add", "a_sub"]))].into();
        assert!(compare("t", &cold, &cold.clone()));
        let dummy: Symbols = [("liba.so".to_owned(), set(&[]))].into();
        assert!(!compare("t", &cold, &dummy), "the dummy library");
        assert!(!compare("t", &cold, &Symbols::new()), "not built");
    }
}
