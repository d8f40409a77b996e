//! `cargo xtask sbom …`: the SBOM steps of the images.
//!
//! - `sbom write --out FILE`: the project's SBOM of a built router and
//!   library (what `dist` writes as `sbom.spdx.json`), run in the
//!   Dockerfiles' build stage so that the image carries it at
//!   [`super::image::PROJECT_SBOM`];
//! - `sbom scan`: the SBOM generator's entry point (BuildKit's protocol:
//!   `$BUILDKIT_SCAN_SOURCE`, `$BUILDKIT_SCAN_SOURCE_EXTRAS`,
//!   `$BUILDKIT_SCAN_DESTINATION`);
//! - `sbom generator`: builds and pushes the generator image.

use anyhow::{Context, Result};

use crate::{
    build::{self, Outputs},
    ctx::Ctx,
    flags,
    platform::Platform,
};

impl flags::Sbom {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        match self.cmd {
            flags::SbomCmd::Write(w) => write(ctx, &w),
            flags::SbomCmd::Scan(s) => scan(&s),
            flags::SbomCmd::Generator(g) => {
                let docker = crate::engine::Docker::find(&crate::engine::choose(g.docker.as_deref()))?;
                docker.check_engine()?;
                let xtask_bin = ctx.sh.current_dir().join(&g.xtask_bin);
                let reference = super::generator::ensure_generator(&docker, &g.registry, &g.base, &xtask_bin)?;
                println!("{reference}");
                crate::sys::github_output(&[("image".to_owned(), reference)])
            }
        }
    }
}

fn write(ctx: &Ctx, opts: &flags::SbomWrite) -> Result<()> {
    let ws = ctx.workspace()?;
    let platform = opts.platform.map_or_else(Platform::host, Ok)?;
    let router = match &opts.router {
        Some(r) => ctx.sh.current_dir().join(r),
        None => Outputs::new(&ws.target_dir()?, platform, &opts.profile).router,
    };
    if !router.is_file() {
        anyhow::bail!(
            "{} was not built: run `xtask build` with the same --platform and profile first",
            router.display()
        );
    }
    // The commit time when there is a commit, else now: an image's build
    // stage has no .git unless the context gives one.
    let created = match crate::repro::source_date_epoch(&ws.root)? {
        Some(e) => e,
        None => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
    };
    let req = super::collect::Request {
        platform,
        library: build::PACKAGE,
        router: &router,
        router_dir: &ws.path(build::ROUTER_DIR),
        version: build::version(),
        created,
    };
    let doc = super::document(&super::collect::inputs(&ctx.sh, ws, &req)?)?;
    let out = ctx.sh.current_dir().join(&opts.out);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&out, doc).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("sbom: {platform} -> {}", out.display());
    Ok(())
}

fn scan(opts: &flags::SbomScan) -> Result<()> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
    let source = opts.source.clone().or_else(|| var("BUILDKIT_SCAN_SOURCE")).context(
        "no filesystem to scan: BuildKit sets BUILDKIT_SCAN_SOURCE (`--attest type=sbom,generator=IMAGE`); by hand, pass --source DIR",
    )?;
    let dest = opts
        .dest
        .clone()
        .or_else(|| var("BUILDKIT_SCAN_DESTINATION"))
        .context("nowhere to write: BuildKit sets BUILDKIT_SCAN_DESTINATION; by hand, pass --dest DIR")?;
    let extras = opts.extras.clone().or_else(|| var("BUILDKIT_SCAN_SOURCE_EXTRAS"));
    let epoch = match std::env::var("SOURCE_DATE_EPOCH").ok().filter(|v| !v.is_empty()) {
        Some(v) => {
            Some(v.trim().parse().with_context(|| format!("SOURCE_DATE_EPOCH=`{v}` is not a number of seconds"))?)
        }
        None => None,
    };
    let targets = super::image::targets(&source, extras.as_deref())?;
    super::image::scan(&targets, &dest, epoch)?;
    Ok(())
}
