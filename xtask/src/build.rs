//! `cargo xtask build`: candle-binding, then the Go router, for each platform.
//!
//! Layout (the same one `verify-symbols`, `dist`, `clean-stale` and the
//! Dockerfiles use):
//! - library: `<target-dir>[/<triple> when cross]/<profile>/libcandle_semantic_router.{so,a}`;
//! - router:  `<target-dir>/go/<os>-<arch>/extproc`, linked against exactly that
//!   library directory, with `RUNPATH=$ORIGIN/../lib` (the `dist` layout).
//!
//! The router is always built with `-trimpath` and no build id. With
//! [`Options::reproducible`] (what `dist` uses) the build is reproducible
//! ([`crate::repro`]): build paths remapped, `SOURCE_DATE_EPOCH` given. It
//! then uses its own target directory, [`REPRODUCIBLE_DIR`] under the
//! workspace's: its `RUSTFLAGS` differ from a plain `cargo build`'s, and
//! cargo rebuilds every crate whose flags changed, so sharing one directory
//! would make `cargo build`, `cargo test` and `dist` rebuild each other's
//! artifacts from scratch, every time.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::cmd;

use crate::{
    ctx::Ctx,
    flags,
    metrics::Metrics,
    platform::Platform,
    prereq::{self, Prereqs},
    workspace::{cargo, profile_args, Workspace},
};

/// The target directory of reproducible builds, under the workspace's.
pub const REPRODUCIBLE_DIR: &str = "reproducible";

/// The Rust package and its library file stem.
pub const PACKAGE: &str = "candle-semantic-router";
pub const LIB_STEM: &str = "libcandle_semantic_router";
/// The Go module of the router, relative to the workspace root, and its main package.
pub const ROUTER_DIR: &str = "src/semantic-router";
pub const ROUTER_MAIN: &str = "./cmd/extproc";
pub const ROUTER_BIN: &str = "extproc";

/// What to build, shared by `build`, `dist` and the Docker steps.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub profile: flags::Profile,
    pub features: Option<String>,
    pub jobs: Option<u32>,
    pub go: bool,
    /// Reproducible: remapped paths, in the target directory [`REPRODUCIBLE_DIR`].
    pub reproducible: bool,
    /// `SOURCE_DATE_EPOCH` for the compilers (see [`crate::repro::source_date_epoch`]).
    pub source_date_epoch: Option<u64>,
}

impl Options {
    /// The target directory of this build in `ws`.
    pub fn target_dir(&self, ws: &Workspace) -> Result<PathBuf> {
        let dir = ws.target_dir()?;
        Ok(if self.reproducible { dir.join(REPRODUCIBLE_DIR) } else { dir })
    }
}

/// Where one platform's outputs are.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub platform: Platform,
    pub lib_dir: PathBuf,
    pub router: PathBuf,
}

impl Outputs {
    pub fn new(target_dir: &Path, platform: Platform, profile: &flags::Profile) -> Outputs {
        let (_, profile_dir) = profile_args(profile);
        let mut lib_dir = target_dir.to_path_buf();
        if !platform.is_host() {
            lib_dir.push(platform.rust_triple());
        }
        lib_dir.push(profile_dir);
        let router = target_dir.join("go").join(platform.dir_name()).join(ROUTER_BIN);
        Outputs { platform, lib_dir, router }
    }

    pub fn shared_lib(&self) -> PathBuf {
        self.lib_dir.join(format!("{LIB_STEM}.so"))
    }

    pub fn static_lib(&self) -> PathBuf {
        self.lib_dir.join(format!("{LIB_STEM}.a"))
    }
}

impl flags::Build {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let platforms = Platform::or_host(&self.platform)?;
        let prereqs = prereq::ensure(ctx, &prereq::toolchain(&platforms, !self.no_go))?;
        let opts = Options {
            profile: self.profile,
            features: self.features,
            jobs: self.jobs,
            go: !self.no_go,
            ..Default::default()
        };
        let mut metrics = Metrics::default();
        let result = platforms.iter().try_for_each(|p| build(ctx, &prereqs, *p, &opts, &mut metrics).map(drop));
        eprintln!("\n{}", metrics.table());
        result
    }
}

/// Build one platform: the library, then (if asked) the router against it,
/// with the toolchains `prereqs` resolved for it.
pub fn build(
    ctx: &Ctx,
    prereqs: &Prereqs,
    platform: Platform,
    opts: &Options,
    metrics: &mut Metrics,
) -> Result<Outputs> {
    let ws = ctx.workspace()?;
    let target_dir = opts.target_dir(ws)?;
    let out = Outputs::new(&target_dir, platform, &opts.profile);
    let step = format!("cargo build {PACKAGE} ({platform})");
    metrics.step(step, || build_library(ctx, ws, prereqs, platform, opts))?;
    if opts.go {
        metrics.step(format!("go build {ROUTER_BIN} ({platform})"), || {
            build_router(ctx, ws, prereqs, &out, opts, &target_dir)
        })?;
    }
    Ok(out)
}

/// The environment of cargo for `platform` under `opts` (cross toolchain;
/// when reproducible, the remapped `RUSTFLAGS`, the target directory and
/// `SOURCE_DATE_EPOCH`). `cargo test` run with it reuses the build's
/// dependencies instead of compiling them again.
pub fn cargo_env(
    ws: &Workspace,
    prereqs: &Prereqs,
    platform: Platform,
    opts: &Options,
) -> Result<Vec<(String, String)>> {
    let target_dir = opts.target_dir(ws)?;
    let mut env = prereqs.rust_env(platform)?;
    if opts.reproducible {
        let rustc = env.iter().find(|(k, _)| k == "RUSTC").map(|(_, v)| PathBuf::from(v));
        let paths = crate::repro::BuildPaths::of(ws, &target_dir, rustc.as_deref());
        env.extend(crate::repro::plan_rust_env(&paths, platform, &process_env));
        env.push(("CARGO_TARGET_DIR".into(), target_dir.display().to_string()));
        env.extend(opts.source_date_epoch.map(|t| ("SOURCE_DATE_EPOCH".to_string(), t.to_string())));
    }
    Ok(env)
}

fn build_library(ctx: &Ctx, ws: &Workspace, prereqs: &Prereqs, platform: Platform, opts: &Options) -> Result<()> {
    let env = cargo_env(ws, prereqs, platform, opts)?;
    let cargo = cargo();
    let manifest = &ws.manifest;
    let (profile, _) = profile_args(&opts.profile);
    let mut args: Vec<String> = Vec::new();
    if !platform.is_host() {
        args.extend(["--target".into(), platform.rust_triple().into()]);
    }
    if let Some(features) = &opts.features {
        args.extend(["--features".into(), features.clone()]);
    }
    if let Some(jobs) = opts.jobs {
        args.extend(["--jobs".into(), jobs.to_string()]);
    }
    let sh = &ctx.sh;
    let mut cmd =
        cmd!(sh, "{cargo} build --locked --package {PACKAGE} --manifest-path {manifest} {profile...} {args...}");
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd.run().with_context(|| format!("building {PACKAGE} for {platform} failed"))?;
    Ok(())
}

fn build_router(
    ctx: &Ctx,
    ws: &Workspace,
    prereqs: &Prereqs,
    out: &Outputs,
    opts: &Options,
    target_dir: &Path,
) -> Result<()> {
    let go = which::which("go").context("`go` is not installed: run `cargo xtask doctor --fix`")?;
    let lib = out.shared_lib();
    if !lib.is_file() {
        anyhow::bail!("{} was not built", lib.display());
    }
    let sh = &ctx.sh;
    crate::gomod::download(sh, &ws.path(ROUTER_DIR))?;
    let _dir = sh.push_dir(ws.path(ROUTER_DIR));
    let output = &out.router;
    let version = version();
    // `-buildid=`: the build id hashes the inputs' paths and tools; nothing reads it.
    let ldflags = format!("-buildid= -X main.version={version}");
    let mut cmd = cmd!(sh, "{go} build -trimpath -buildvcs=false -ldflags {ldflags} -o {output} {ROUTER_MAIN}");
    for (k, v) in router_env(prereqs, out) {
        cmd = cmd.env(k, v);
    }
    if opts.reproducible {
        if let Some(t) = opts.source_date_epoch {
            cmd = cmd.env("SOURCE_DATE_EPOCH", t.to_string());
        }
        let paths = crate::repro::BuildPaths {
            workspace: ws.root.clone(),
            target_dir: target_dir.to_path_buf(),
            cargo_home: None,
            sysroot: None,
        };
        let (k, v) = crate::repro::plan_go_cflags(&paths, &process_env);
        cmd = cmd.env(k, v);
    }
    cmd.envs(crate::gomod::OFFLINE)
        .run()
        .with_context(|| format!("building the router for {} failed", out.platform))?;
    Ok(())
}

/// The environment of the router's `go build` against the library of
/// `out`. Every cgo package's flags are part of its build cache key, and
/// every package importing one (`net`, so gRPC) inherits it: `precache go
/// --compile` compiles the dependencies with this same environment.
pub fn router_env(prereqs: &Prereqs, out: &Outputs) -> Vec<(String, String)> {
    let env = prereqs.go_env(out.platform, Some(&out.lib_dir));
    env.into_iter()
        // The router finds the library next to it in `dist/` (bin/ and lib/).
        .map(|(k, v)| if k == "CGO_LDFLAGS" { (k, format!("{v} -Wl,-rpath,$ORIGIN/../lib")) } else { (k, v) })
        .collect()
}

/// A non-empty variable of the process environment.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The version stamped into the router: `$VERSION`, else xtask's own.
pub fn version() -> String {
    std::env::var("VERSION").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_layout_matches_cargo_and_go() {
        let host = Platform::host().unwrap();
        let release = flags::Profile { release: true, profile: None };
        let out = Outputs::new(Path::new("/t"), host, &release);
        assert_eq!(out.shared_lib(), Path::new("/t/release/libcandle_semantic_router.so"));
        assert_eq!(out.router, Path::new("/t/go").join(host.dir_name()).join("extproc"));

        let foreign = Platform::ALL.into_iter().find(|p| !p.is_host()).unwrap();
        let out = Outputs::new(Path::new("/t"), foreign, &flags::Profile::default());
        assert_eq!(
            out.static_lib(),
            Path::new("/t").join(foreign.rust_triple()).join("debug/libcandle_semantic_router.a")
        );
    }
}
