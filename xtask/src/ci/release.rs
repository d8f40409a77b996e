//! `cargo xtask ci release --out DIR [--upload TAG]`: a `v*` tag's GitHub
//! Release. From `dist` (`cargo xtask dist` for every platform) it gathers
//! each platform's tarball `<os>-<arch>.tar.gz` and SBOM
//! (`<os>-<arch>.spdx.json`, from the tree's `sbom.spdx.json`), writes their
//! `SHA256SUMS` (what the workflow attests), and with `--upload` creates the
//! release if it is missing and uploads the files with `gh`, replacing any
//! of the same name: a re-run of the job gives the same release.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::{ctx::Ctx, engine::Command, flags, fsutil, platform::Platform};

/// The SBOM inside each platform's tree (`dist`).
const TREE_SBOM: &str = "sbom.spdx.json";

/// One file of the release: where it comes from, and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFile {
    pub from: PathBuf,
    pub name: String,
}

/// The files of a release of `platforms` from `dist`, SHA256SUMS aside.
pub fn files(dist: &Path, platforms: &[Platform]) -> Vec<ReleaseFile> {
    let mut out = Vec::new();
    for p in platforms {
        let dir = p.dir_name();
        out.push(ReleaseFile { from: dist.join(format!("{dir}.tar.gz")), name: format!("{dir}.tar.gz") });
        out.push(ReleaseFile { from: dist.join(dir).join(TREE_SBOM), name: format!("{dir}.spdx.json") });
    }
    out
}

/// `gh` commands that make the release of `tag` hold `paths`: `view`
/// (whether it exists), `create` (when it does not), `upload --clobber`.
pub fn gh_plan(tag: &str, paths: &[PathBuf]) -> (Command, Command, Command) {
    let s = |x: &str| x.to_owned();
    let view = Command::new(vec![s("gh"), s("release"), s("view"), tag.to_owned()]);
    let create = Command::new(vec![
        s("gh"),
        s("release"),
        s("create"),
        tag.to_owned(),
        s("--verify-tag"),
        s("--title"),
        tag.to_owned(),
        s("--notes"),
        format!("Release {tag}: a tarball and an SPDX SBOM per platform, and their SHA256SUMS."),
    ]);
    let mut upload = vec![s("gh"), s("release"), s("upload"), tag.to_owned()];
    upload.extend(paths.iter().map(|p| p.display().to_string()));
    upload.push(s("--clobber"));
    (view, create, Command::new(upload))
}

impl flags::CiRelease {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let cwd = ctx.sh.current_dir();
        let dist = cwd.join(&self.dist);
        let out = cwd.join(&self.out);
        let platforms = if self.platform.is_empty() { Platform::ALL.to_vec() } else { self.platform.clone() };
        if let Some(tag) = &self.upload {
            crate::docker::reference::check_tag(tag).map_err(|e| anyhow::anyhow!("--upload: {e}"))?;
        }
        let files = files(&dist, &platforms);
        let missing: Vec<String> =
            files.iter().filter(|f| !f.from.is_file()).map(|f| f.from.display().to_string()).collect();
        if !missing.is_empty() {
            let list: Vec<&str> = platforms.iter().map(|p| p.docker()).collect();
            bail!(
                "not in {}: {} (run `cargo xtask dist --platform {} --out {}` first)",
                dist.display(),
                missing.join(", "),
                list.join(","),
                self.dist.display()
            );
        }
        std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
        let mut sums = String::new();
        let mut paths = Vec::new();
        for f in &files {
            let to = out.join(&f.name);
            fsutil::copy(&f.from, &to)?;
            sums += &format!("{}  {}\n", fsutil::sha256_hex(&to)?, f.name);
            paths.push(to);
        }
        let sums_path = out.join("SHA256SUMS");
        std::fs::write(&sums_path, sums).with_context(|| format!("cannot write {}", sums_path.display()))?;
        paths.push(sums_path);
        for p in &paths {
            println!("{}", p.display());
        }
        let Some(tag) = &self.upload else { return Ok(()) };
        let (view, create, upload) = gh_plan(tag, &paths);
        if self.dry_run {
            for c in [&view, &create, &upload] {
                println!("{}", c.display_line());
            }
            return Ok(());
        }
        let run = |c: &Command| {
            let (prog, args) = c.argv.split_first().expect("a program");
            ctx.sh.cmd(prog).args(args).run().with_context(|| format!("`{}` failed", c.display_line()))
        };
        let exists = {
            let (prog, args) = view.argv.split_first().expect("a program");
            ctx.sh.cmd(prog).args(args).quiet().ignore_stdout().ignore_stderr().run().is_ok()
        };
        if !exists {
            run(&create)?;
        }
        run(&upload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_holds_each_platforms_tarball_and_sbom() {
        let f = files(Path::new("/d"), &[Platform::AMD64, Platform::ARM64]);
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["linux-amd64.tar.gz", "linux-amd64.spdx.json", "linux-arm64.tar.gz", "linux-arm64.spdx.json"]
        );
        assert_eq!(f[1].from, Path::new("/d/linux-amd64/sbom.spdx.json"));
    }

    #[test]
    fn the_upload_replaces_what_a_rerun_finds() {
        let (view, create, upload) =
            gh_plan("v1.2.0", &[PathBuf::from("/o/linux-amd64.tar.gz"), "/o/SHA256SUMS".into()]);
        assert_eq!(view.shell_line(), "gh release view v1.2.0");
        assert!(create.shell_line().starts_with("gh release create v1.2.0 --verify-tag --title v1.2.0 --notes "));
        assert_eq!(upload.shell_line(), "gh release upload v1.2.0 /o/linux-amd64.tar.gz /o/SHA256SUMS --clobber");
    }
}
