//! `cargo xtask precache cook`: build a skeleton's dependencies in place, then
//! remove every local crate's artifacts so that none can be mistaken for real.

use std::{fs, path::Path};

use anyhow::{Context, Result};
use xshell::cmd;

use super::skeleton::{dummy_source, Skeleton};
use crate::{
    clean_stale::{self, Keep, Removed, Scope},
    ctx::Ctx,
    flags,
    platform::Platform,
    prereq::{Host, Need, Prereqs},
    workspace::{cargo, profile_args, Workspace},
};

/// What to build: the same selection as the real build, so that features are
/// unified the same way and every dependency unit is reused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CookPlan {
    pub triple: Option<String>,
    pub profile_args: Vec<String>,
    pub features: Option<String>,
    pub packages: Vec<String>,
    pub jobs: Option<u32>,
    pub all_targets: bool,
    pub locked: bool,
}

impl CookPlan {
    /// `cargo build …` arguments (pure).
    pub fn cargo_args(&self, manifest: &Path) -> Vec<String> {
        let mut args = vec!["build".to_owned()];
        if self.locked {
            args.push("--locked".into());
        }
        args.extend(self.profile_args.iter().cloned());
        if let Some(t) = &self.triple {
            args.extend(["--target".into(), t.clone()]);
        }
        if let Some(f) = &self.features {
            args.extend(["--features".into(), f.clone()]);
        }
        for p in &self.packages {
            args.extend(["--package".into(), p.clone()]);
        }
        if let Some(j) = self.jobs {
            args.extend(["--jobs".into(), j.to_string()]);
        }
        if self.all_targets {
            args.push("--all-targets".into());
        }
        args.extend(["--manifest-path".into(), manifest.display().to_string()]);
        args
    }
}

impl flags::PrecacheCook {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let sh = &ctx.sh;
        let (ws, sk) = match &self.recipe {
            Some(recipe) => {
                let dir = sh.current_dir();
                let text =
                    fs::read_to_string(recipe).with_context(|| format!("cannot read recipe {}", recipe.display()))?;
                let sk = Skeleton::from_recipe(&text).with_context(|| format!("bad recipe {}", recipe.display()))?;
                sk.write_files(&dir)?;
                eprintln!("cook: unpacked {} files into {}", sk.files.len(), dir.display());
                (Workspace::locate(sh, Some(&dir.join("Cargo.toml")))?, Some(sk))
            }
            None => {
                let ws = ctx.workspace()?.clone();
                let sk = Skeleton::in_dir(&ws.root)?;
                (ws, sk)
            }
        };
        let platform = self.platform;
        let (profile_args, profile_dir) = profile_args(&self.profile);
        let locked = ws.path("Cargo.lock").is_file();
        if !locked {
            eprintln!(
                "warning: no Cargo.lock in {}: the cooked versions may differ from the real build's",
                ws.root.display()
            );
        }
        let plan = CookPlan {
            triple: target_triple(platform.as_ref()),
            profile_args,
            features: self.features,
            packages: self.package,
            jobs: self.jobs,
            all_targets: self.all_targets,
            locked,
        };
        // A foreign platform's toolchains must be here already (the
        // Dockerfile's `docker toolchain` step installs them).
        let cross_env = match platform {
            Some(p) => Prereqs::present(&mut Host::new(ctx)?, &[Need::TargetStd(p), Need::CrossCc(p)])?.rust_env(p)?,
            None => Vec::new(),
        };
        let removed = cook(sh, &ws, &plan, platform.as_ref(), cross_env, &profile_dir, sk.as_ref())?;
        clean_stale::print_report(&removed, false, false);
        Ok(())
    }
}

/// The `--target` of the build: like `xtask build`, only for a foreign
/// platform, so that the target-dir layout (`<target-dir>[/<triple>]/<profile>`)
/// is the one the real build uses and every cooked unit is found again.
pub fn target_triple(platform: Option<&Platform>) -> Option<String> {
    platform.filter(|p| !p.is_host()).map(|p| p.rust_triple().to_owned())
}

/// Build, then clean the local artifacts of the profile directory just built
/// (for a `--target` build also the host directory: local build scripts and
/// proc-macros live there).
///
/// `skeleton` (the one `ws` was written from, if any) names the build scripts
/// it keeps real. Most of them run in the skeleton (they read the
/// environment and print `cargo:` lines): one build with them is tried
/// first, and is all a cook costs then, as much as cargo-chef's. Those that
/// need sources the skeleton lacks when they *run* fail it; then the
/// dependencies are built with dummies in their place (that build must
/// succeed, and finds the dependencies already compiled); then, with the
/// real ones back, a second build compiles them (`--keep-going`: their runs
/// may fail here, their binaries are what counts). Either way their binaries
/// are recorded and kept (see `clean_stale::keep`). Without a skeleton every
/// build script is real.
pub fn cook(
    sh: &xshell::Shell,
    ws: &Workspace,
    plan: &CookPlan,
    platform: Option<&Platform>,
    env: Vec<(String, String)>,
    profile_dir: &str,
    skeleton: Option<&Skeleton>,
) -> Result<Removed> {
    let scope = match platform {
        Some(p) => Scope::platform(p),
        None => Scope::configured(&ws.root, &ws.root)?,
    }
    .profile(Some(profile_dir.to_owned()));
    let meta = ws.local_metadata()?;
    // A fresh start: nothing local (or recorded) from an earlier cook survives.
    clean_stale::clean_with_metadata(&meta, &scope, Keep::Nothing)?;

    let cargo = cargo();
    let args = &plan.cargo_args(&ws.manifest);
    let _dir = sh.push_dir(&ws.root);
    let real = skeleton.map(|sk| &sk.build_scripts).filter(|b| !b.is_empty());
    if let Some(real) = real {
        // Streamed (a cook is minutes long), its status read: duct.
        let tried = env
            .iter()
            .fold(duct::cmd(&cargo, args).dir(&ws.root).unchecked(), |c, (k, v)| c.env(k, v))
            .run()
            .context("cannot run cargo")?;
        if tried.status.success() {
            return clean_stale::clean_with_metadata(&meta, &scope, Keep::Record(Some(real)));
        }
        eprintln!(
            "cook: the build with the real build scripts failed (above); as one of them may need \
             sources the skeleton lacks, the dependencies are built with dummy build scripts first"
        );
    }
    for rel in real.into_iter().flatten() {
        write(&ws.root.join(rel), dummy_source(true, false))?;
    }
    cmd!(sh, "{cargo} {args...}")
        .envs(env.clone())
        .run()
        .with_context(|| format!("cooking the dependencies of {} failed", ws.root.display()))?;
    let Some(real) = real else {
        let keep = if skeleton.is_some() { Keep::Nothing } else { Keep::Record(None) };
        return clean_stale::clean_with_metadata(&meta, &scope, keep);
    };

    let sk = skeleton.expect("real build scripts come from a skeleton");
    clean_stale::clean_with_metadata(&meta, &scope, Keep::Nothing)?;
    for rel in real {
        write(&ws.root.join(rel), &sk.files[rel])?;
    }
    let second = cmd!(sh, "{cargo} {args...} --keep-going").envs(env).quiet().ignore_status().output()?;
    if !second.status.success() {
        eprintln!(
            "cook: some real build scripts could not run in the skeleton (they need sources it lacks); \
             their compiled binaries are what is kept:\n{}",
            String::from_utf8_lossy(&second.stderr)
                .lines()
                .filter(|l| l.starts_with("error"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    clean_stale::clean_with_metadata(&meta, &scope, Keep::Record(Some(real)))
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_arguments() {
        let plan = CookPlan {
            triple: Some("aarch64-unknown-linux-gnu".into()),
            profile_args: vec!["--release".into()],
            features: Some("a,b".into()),
            packages: vec!["candle-semantic-router".into()],
            jobs: Some(2),
            all_targets: false,
            locked: true,
        };
        assert_eq!(
            plan.cargo_args(Path::new("/app/Cargo.toml")).join(" "),
            "build --locked --release --target aarch64-unknown-linux-gnu --features a,b \
             --package candle-semantic-router --jobs 2 --manifest-path /app/Cargo.toml"
        );
        let host = Platform::host().unwrap();
        assert_eq!(target_triple(Some(&host)), None, "the host layout, as `xtask build` uses");
        assert_eq!(target_triple(None), None);
        let foreign = Platform::ALL.into_iter().find(|p| *p != host).unwrap();
        assert_eq!(target_triple(Some(&foreign)).as_deref(), Some(foreign.rust_triple()));
        let plain = CookPlan::default();
        assert_eq!(plain.cargo_args(Path::new("Cargo.toml")), ["build", "--manifest-path", "Cargo.toml"]);
    }
}
