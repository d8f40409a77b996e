//! `cargo xtask dist`: the main job without Docker.
//!
//! For each platform: build (release by default), verify the library, the
//! static library and the router with goblin, then assemble
//! `dist/<os>-<arch>/`:
//!
//! ```text
//! bin/extproc                      RUNPATH $ORIGIN/../lib
//! lib/libcandle_semantic_router.so
//! lib/libcandle_semantic_router.a
//! include/candle_semantic_router.h
//! config/config.json               the example config
//! sbom.spdx.json                   SPDX 2.3: the crates and Go modules inside
//! SHA256SUMS                       of every file above
//! ```
//!
//! and `dist/<os>-<arch>.tar.gz` of that tree ([`crate::tarball`]).
//!
//! The build is reproducible ([`crate::repro`]): `--verify-reproducible`
//! builds everything again from a copy of the sources in another directory,
//! with another target directory, `HOME` and `CARGO_HOME`, and compares.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::{
    build::{self, Outputs},
    ctx::Ctx,
    flags, fsutil,
    metrics::Metrics,
    platform::Platform,
    prereq::Prereqs,
    verify::{self, Expectations},
};

/// The example config shipped beside the router, relative to the workspace root.
pub const EXAMPLE_CONFIG: &str = "src/semantic-router/config/config.json";
const HEADER_DIR: &str = "candle-binding/include";

impl flags::Dist {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let ws = ctx.workspace()?;
        let platforms = Platform::or_host(&self.platform)?;
        let prereqs = crate::prereq::ensure(ctx, &crate::prereq::toolchain(&platforms, true))?;
        let profile = release_by_default(self.profile);
        let out_root = std::path::absolute(self.out.unwrap_or_else(|| ws.path("dist")))?;
        let mut metrics = Metrics::default();
        let result = (|| {
            for &platform in &platforms {
                let dir = dist_platform(ctx, &prereqs, platform, &profile, &out_root, &mut metrics)?;
                println!("{}", dir.display());
                println!("{}", tarball(&out_root, platform).display());
            }
            if self.verify_reproducible {
                verify_reproducible(ctx, &platforms, &profile, &out_root, &mut metrics)?;
            }
            Ok(())
        })();
        eprintln!("\n{}", metrics.table());
        result
    }
}

/// `dist/<os>-<arch>.tar.gz`.
pub fn tarball(out_root: &Path, platform: Platform) -> PathBuf {
    out_root.join(format!("{}.tar.gz", platform.dir_name()))
}

/// The second build of `--verify-reproducible`, from a copy of the sources,
/// then the comparison of every platform's tree and tarball.
fn verify_reproducible(
    ctx: &Ctx,
    platforms: &[Platform],
    profile: &flags::Profile,
    out_root: &Path,
    metrics: &mut Metrics,
) -> Result<()> {
    let ws = ctx.workspace()?;
    let work = ws.layout()?.repro();
    let epoch = crate::repro::source_date_epoch(&ws.root)?;
    let second = metrics.step("reproducible: copy the sources", || crate::repro::SecondBuild::prepare(ws, &work))?;
    let out2 = second.root.join("dist");
    let list: Vec<&str> = platforms.iter().map(|p| p.docker()).collect();
    let mut args = vec!["dist".to_string(), "--platform".into(), list.join(","), "--out".into()];
    args.push(out2.display().to_string());
    match (&profile.profile, profile.release) {
        (Some(name), _) => args.extend(["--profile".into(), name.clone()]),
        (None, true) => args.push("--release".into()),
        (None, false) => {}
    }
    metrics.step("reproducible: second build", || second.run(&args, epoch))?;
    let mut pairs = Vec::new();
    for p in platforms {
        pairs.push((out_root.join(p.dir_name()), out2.join(p.dir_name())));
        pairs.push((tarball(out_root, *p), tarball(&out2, *p)));
    }
    crate::repro::check_same(&pairs)?;
    eprintln!("reproducible: {} platform(s) byte-identical (second build in {})", platforms.len(), work.display());
    Ok(())
}

fn release_by_default(profile: flags::Profile) -> flags::Profile {
    if profile.profile.is_none() && !profile.release {
        flags::Profile { release: true, profile: None }
    } else {
        profile
    }
}

/// Build, verify and assemble one platform; returns its dist directory.
pub fn dist_platform(
    ctx: &Ctx,
    prereqs: &Prereqs,
    platform: Platform,
    profile: &flags::Profile,
    out_root: &Path,
    metrics: &mut Metrics,
) -> Result<PathBuf> {
    let ws = ctx.workspace()?;
    let epoch = crate::repro::source_date_epoch(&ws.root)?;
    let opts = build::Options {
        profile: profile.clone(),
        go: true,
        reproducible: true,
        source_date_epoch: epoch,
        ..Default::default()
    };
    let outputs = build::build(ctx, prereqs, platform, &opts, metrics)?;
    metrics.step(format!("verify-symbols ({platform})"), || {
        let exp = Expectations::from_workspace(&ws.root, platform, None)?;
        let report = verify::verify_outputs(&outputs, true, &exp)?;
        print!("{}", report.table());
        report.into_result()
    })?;
    let sbom = metrics.step(format!("sbom ({platform})"), || {
        let req = crate::sbom::collect::Request {
            platform,
            library: build::PACKAGE,
            router: &outputs.router,
            router_dir: &ws.path(build::ROUTER_DIR),
            version: build::version(),
            created: epoch.unwrap_or(0),
        };
        crate::sbom::document(&crate::sbom::collect::inputs(&ctx.sh, ws, &req)?)
    })?;
    let dir = out_root.join(platform.dir_name());
    let tar = tarball(out_root, platform);
    let staging = Staging::new(out_root, platform)?;
    metrics.step(format!("assemble {}", dir.display()), || assemble(&ws.root, &outputs, &sbom, &staging.tree()))?;
    metrics.step(format!("pack {}", tar.display()), || {
        let mtime = epoch.unwrap_or_else(|| {
            eprintln!("note: no SOURCE_DATE_EPOCH and no git commit: the tarball's mtimes are 0 (1970)");
            0
        });
        crate::tarball::write_tar_gz(&staging.tree(), platform.dir_name(), mtime, &staging.tarball())?;
        crate::interrupt::test_point("pack");
        Ok(())
    })?;
    staging.publish(&dir, &tar)?;
    Ok(dir)
}

/// Where one platform's new tree and tarball are built, beside the old ones:
/// `<out>/.staging-<os>-<arch>-<pid>/{tree,tarball}`. Removed when dropped
/// and on SIGINT/SIGTERM; an earlier run's that was killed is removed first.
struct Staging(crate::interrupt::Scratch);

impl Staging {
    fn new(out_root: &Path, platform: Platform) -> Result<Staging> {
        std::fs::create_dir_all(out_root).with_context(|| format!("cannot create {}", out_root.display()))?;
        let prefix = format!(".staging-{}-", platform.dir_name());
        let old_tmp = format!("{}.tar.tmp", platform.dir_name());
        for entry in std::fs::read_dir(out_root).with_context(|| format!("cannot read {}", out_root.display()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name.strip_prefix(&prefix).or_else(|| name.strip_prefix(&old_tmp));
            if pid.and_then(|p| p.parse::<i32>().ok()).is_some_and(|pid| !alive(pid)) {
                let path = entry.path();
                let res = if entry.file_type()?.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                res.with_context(|| format!("cannot remove the leftover {}", path.display()))?;
            }
        }
        let path = out_root.join(format!("{prefix}{}", std::process::id()));
        let scratch = crate::interrupt::Scratch::new(path.clone());
        std::fs::create_dir(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Staging(scratch))
    }

    fn tree(&self) -> PathBuf {
        self.0.path().join("tree")
    }

    fn tarball(&self) -> PathBuf {
        self.0.path().join("tarball")
    }

    /// Swap the new tree and tarball in, with SIGINT/SIGTERM held: the tree
    /// is exchanged with the old one in one `renameat2(RENAME_EXCHANGE)` (no
    /// moment without a tree), then the tarball replaces the old one.
    fn publish(self, dir: &Path, tar: &Path) -> Result<()> {
        crate::interrupt::critical(|| {
            exchange(&self.tree(), dir)?;
            crate::interrupt::test_point("publish");
            std::fs::rename(self.tarball(), tar).with_context(|| format!("cannot write {}", tar.display()))
        })
    }
}

/// Whether process `pid` exists (a staging directory's owner).
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Put `new` at `at`; the old `at`, if any, goes to `new`'s place.
fn exchange(new: &Path, at: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).context("a path with a NUL byte");
    let (from, to) = (c(new)?, c(at)?);
    // SAFETY: two valid NUL-terminated paths, relative to the working directory.
    let swapped =
        unsafe { libc::renameat2(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), libc::RENAME_EXCHANGE) };
    if swapped == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ENOENT) if !at.exists() => {
            std::fs::rename(new, at).with_context(|| format!("cannot move {} to {}", new.display(), at.display()))
        }
        _ => Err(err).with_context(|| format!("cannot exchange {} with {}", new.display(), at.display())),
    }
}

/// Lay out one platform's tree in the new directory `dir`, with its SBOM
/// (`sbom`, the document's text), and write `SHA256SUMS`.
pub fn assemble(root: &Path, outputs: &Outputs, sbom: &str, dir: &Path) -> Result<()> {
    let mut files: Vec<(PathBuf, String)> = vec![
        (outputs.router.clone(), format!("bin/{}", build::ROUTER_BIN)),
        (outputs.shared_lib(), format!("lib/{}.so", build::LIB_STEM)),
        (outputs.static_lib(), format!("lib/{}.a", build::LIB_STEM)),
        (root.join(EXAMPLE_CONFIG), "config/config.json".into()),
    ];
    let headers = root.join(HEADER_DIR);
    for entry in std::fs::read_dir(&headers).with_context(|| format!("cannot read {}", headers.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "h") {
            let name = path.file_name().expect("a file").to_string_lossy().into_owned();
            files.push((path, format!("include/{name}")));
        }
    }
    let mut sums: Vec<(String, String)> = Vec::new();
    for (from, rel) in &files {
        let to = dir.join(rel);
        fsutil::copy(from, &to)?;
        sums.push((rel.clone(), fsutil::sha256_hex(&to)?));
        crate::interrupt::test_point("assemble");
    }
    let to = dir.join(crate::sbom::FILE);
    std::fs::write(&to, sbom).with_context(|| format!("cannot write {}", to.display()))?;
    sums.push((crate::sbom::FILE.to_string(), fsutil::sha256_hex(&to)?));
    sums.sort();
    let text: String = sums.iter().map(|(rel, sum)| format!("{sum}  {rel}\n")).collect();
    std::fs::write(dir.join("SHA256SUMS"), text).context("cannot write SHA256SUMS")?;
    Ok(())
}

/// How to run `bin`, built for `platform`, on this machine: directly on the
/// host; otherwise under qemu-user, through the program interpreter of the
/// cross C library (`/usr/<gnu-prefix>/lib/ld-linux-*.so.*`).
///
/// The interpreter is named explicitly rather than with qemu's `-L` prefix:
/// under qemu 7.2 a dynamically linked cgo program started with `-L` spins
/// forever before `main`, while the same program started through its
/// interpreter runs.
pub fn runner(platform: Platform, bin: &Path) -> Result<Vec<String>> {
    if platform.is_host() {
        return Ok(Vec::new());
    }
    let qemu = platform.qemu_user();
    let qemu_bin =
        [format!("{qemu}-static"), qemu.clone()].into_iter().find(|b| which::which(b).is_ok()).with_context(|| {
            format!("{qemu}-static is needed to run {platform} binaries: apt-get install qemu-user-static")
        })?;
    let lib = PathBuf::from(format!("/usr/{}/lib", platform.gnu_prefix().trim_end_matches('-')));
    let interp = match crate::elf::read(bin)? {
        crate::elf::Binary::Elf(info) => info.interpreter,
        crate::elf::Binary::Archive(_) => None,
    }
    .with_context(|| format!("{} has no program interpreter: is it an executable?", bin.display()))?;
    let interp_name = Path::new(&interp).file_name().context("empty interpreter path")?;
    let loader = lib.join(interp_name);
    if !loader.is_file() {
        anyhow::bail!(
            "{} (the {platform} C library) is missing: run `cargo xtask doctor --fix --platform {platform}`",
            loader.display()
        );
    }
    Ok(vec![qemu_bin, "-E".into(), format!("LD_LIBRARY_PATH={}", lib.display()), loader.display().to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assemble_lays_out_the_tree_with_checksums() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("ws");
        let target = tmp.path().join("target");
        let host = Platform::host().unwrap();
        let outputs = Outputs::new(&target, host, &flags::Profile { release: true, profile: None });
        for (path, body) in [
            (outputs.router.clone(), "router"),
            (outputs.shared_lib(), "so"),
            (outputs.static_lib(), "a"),
            (root.join(EXAMPLE_CONFIG), "{}"),
            (root.join(HEADER_DIR).join("candle_semantic_router.h"), "h"),
            (root.join(HEADER_DIR).join("README.txt"), "not a header"),
        ] {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        let dir = tmp.path().join("dist").join(host.dir_name());
        assemble(&root, &outputs, "{\"spdxVersion\": \"SPDX-2.3\"}\n", &dir).unwrap();

        let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
        let listed: Vec<&str> = sums.lines().map(|l| l.split_once("  ").unwrap().1).collect();
        assert_eq!(
            listed,
            [
                "bin/extproc",
                "config/config.json",
                "include/candle_semantic_router.h",
                "lib/libcandle_semantic_router.a",
                "lib/libcandle_semantic_router.so",
                "sbom.spdx.json"
            ]
        );
        assert_eq!(std::fs::read_to_string(dir.join("sbom.spdx.json")).unwrap(), "{\"spdxVersion\": \"SPDX-2.3\"}\n");
        // sha256("so"), as sha256sum prints it
        assert!(sums.contains(
            "a1d9890884c1b4b960c279cfe7554a900d169422d6cec980beef67761487d3b9  lib/libcandle_semantic_router.so"
        ));
        assert_eq!(std::fs::read_to_string(dir.join("bin/extproc")).unwrap(), "router");
    }

    #[test]
    fn exchange_swaps_a_tree_in_and_the_old_one_out() {
        let tmp = tempfile::tempdir().unwrap();
        let (new, at) = (tmp.path().join("new"), tmp.path().join("at"));
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("f"), "new").unwrap();
        exchange(&new, &at).unwrap();
        assert_eq!(std::fs::read_to_string(at.join("f")).unwrap(), "new");
        assert!(!new.exists(), "with nothing at `at`, a plain rename");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("f"), "newer").unwrap();
        exchange(&new, &at).unwrap();
        assert_eq!(std::fs::read_to_string(at.join("f")).unwrap(), "newer");
        assert_eq!(std::fs::read_to_string(new.join("f")).unwrap(), "new", "the old tree is where the new one was");
    }

    #[test]
    fn staging_removes_what_dead_runs_left_and_its_own_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let host = Platform::host().unwrap();
        // pid 0 and pids past pid_max are never alive.
        let dead = [format!(".staging-{}-99999999", host.dir_name()), format!("{}.tar.tmp99999999", host.dir_name())];
        std::fs::create_dir_all(tmp.path().join(&dead[0]).join("tree")).unwrap();
        std::fs::write(tmp.path().join(&dead[1]), "partial").unwrap();
        std::fs::write(tmp.path().join("keep.txt"), "x").unwrap();
        let staging = Staging::new(tmp.path(), host).unwrap();
        let own = staging.0.path().to_path_buf();
        assert!(own.is_dir());
        for d in &dead {
            assert!(!tmp.path().join(d).exists(), "{d}");
        }
        drop(staging);
        assert!(!own.exists());
        assert!(tmp.path().join("keep.txt").exists());
    }
}
