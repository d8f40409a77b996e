//! Reproducible builds: what makes two builds of the same commit in different
//! directories, by different users, at different times, byte-identical.
//!
//! What leaks into the outputs otherwise, and what removes it:
//! - absolute paths in Rust code (panic locations, `file!()`, paths of build
//!   script outputs that are `include!`d): the workspace, the target
//!   directory, `CARGO_HOME` (registry sources) and the toolchain's sysroot
//!   are remapped to fixed names with `--remap-path-prefix` ([`rust_env`]).
//!   The flags go through `RUSTFLAGS`, after the user's own; cargo keeps
//!   `RUSTFLAGS` out of `-C metadata`, so symbol hashes do not see the paths
//!   being remapped. Reproducible builds get their own target directory
//!   ([`crate::build::REPRODUCIBLE_DIR`]), so that they and plain cargo
//!   builds, whose flags differ, do not rebuild each other's artifacts.
//!   C code built by the `cc` crate gets the same map as `-ffile-prefix-map`;
//! - Go: `-trimpath`, an empty build id (`-buildid=`) and `-buildvcs=false`
//!   ([`crate::build`]);
//! - time: [`source_date_epoch`] (the commit's time) is given to the
//!   compilers as `SOURCE_DATE_EPOCH` and is the mtime of every tarball entry
//!   ([`crate::tarball`]).
//!
//! [`first_difference`] says where two `dist/` trees differ: the first file,
//! and for ELF files (also inside `.a` members) the section.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::{elf, platform::Platform, workspace::Workspace};

/// The fixed names the build paths are mapped to.
pub const REMAP_WORKSPACE: &str = "/build/src";
pub const REMAP_TARGET: &str = "/build/target";
pub const REMAP_CARGO_HOME: &str = "/build/cargo";
pub const REMAP_SYSROOT: &str = "/build/rust";

/// The machine-specific directories of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPaths {
    pub workspace: PathBuf,
    pub target_dir: PathBuf,
    pub cargo_home: Option<PathBuf>,
    pub sysroot: Option<PathBuf>,
}

impl BuildPaths {
    /// The paths of a build of `ws` into `target_dir` (`rustc`: the compiler
    /// cargo will use).
    pub fn of(ws: &Workspace, target_dir: &Path, rustc: Option<&Path>) -> BuildPaths {
        let rustc = rustc.map(Path::to_path_buf).or_else(|| std::env::var_os("RUSTC").map(PathBuf::from));
        let rustc = rustc.unwrap_or_else(|| "rustc".into());
        let sysroot = Shell::new()
            .ok()
            .and_then(|sh| cmd!(sh, "{rustc} --print sysroot").quiet().ignore_stderr().read().ok())
            .map(|out| PathBuf::from(out.trim()))
            .filter(|p| p.is_absolute());
        BuildPaths {
            workspace: ws.root.clone(),
            target_dir: target_dir.to_path_buf(),
            cargo_home: cargo_home(),
            sysroot,
        }
    }

    /// (from, to) pairs, least specific first: rustc applies the last
    /// matching one, so a target dir inside the workspace maps to
    /// [`REMAP_TARGET`], not to a path under [`REMAP_WORKSPACE`].
    pub fn pairs(&self) -> Vec<(PathBuf, &'static str)> {
        let mut pairs = vec![(self.workspace.clone(), REMAP_WORKSPACE), (self.target_dir.clone(), REMAP_TARGET)];
        pairs.extend(self.cargo_home.clone().map(|p| (p, REMAP_CARGO_HOME)));
        pairs.extend(self.sysroot.clone().map(|p| (p, REMAP_SYSROOT)));
        // Stable sort: equal depths keep the order above.
        pairs.sort_by_key(|(p, _)| p.components().count());
        pairs
    }
}

/// `$CARGO_HOME`, else `$HOME/.cargo` (cargo's own default).
pub fn cargo_home() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cargo")))?;
    Some(std::fs::canonicalize(&home).unwrap_or(home))
}

/// `--remap-path-prefix=FROM=TO` for each pair.
pub fn remap_flags(paths: &BuildPaths) -> Vec<String> {
    paths.pairs().iter().map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display())).collect()
}

/// The environment that adds the remapping to a cargo build for `target`,
/// keeping what the user set: `CARGO_ENCODED_RUSTFLAGS` (which cargo prefers)
/// or `RUSTFLAGS`, and the `cc` crate's `CFLAGS_<triple>`/`TARGET_CFLAGS`/
/// `CFLAGS`. (Setting `RUSTFLAGS` hides `build.rustflags` of a cargo config;
/// this workspace has none.)
pub fn plan_rust_env(
    paths: &BuildPaths,
    target: Platform,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let remap = remap_flags(paths);
    let mut out = Vec::new();
    match (env("CARGO_ENCODED_RUSTFLAGS"), env("RUSTFLAGS")) {
        (Some(encoded), _) => {
            let mut all: Vec<String> = encoded.split('\x1f').map(String::from).collect();
            all.extend(remap);
            out.push(("CARGO_ENCODED_RUSTFLAGS".into(), all.join("\x1f")));
        }
        (None, user) => {
            let mut all: Vec<String> = user.iter().flat_map(|u| u.split_whitespace().map(String::from)).collect();
            if remap.iter().any(|f| f.contains(char::is_whitespace)) {
                // RUSTFLAGS is split on whitespace: a path with a blank needs the encoded form.
                all.extend(remap);
                out.push(("CARGO_ENCODED_RUSTFLAGS".into(), all.join("\x1f")));
            } else {
                all.extend(remap);
                out.push(("RUSTFLAGS".into(), all.join(" ")));
            }
        }
    }
    let under = target.rust_triple().replace('-', "_");
    let cflags_var = format!("CFLAGS_{under}");
    let user_cflags = [cflags_var.clone(), format!("CFLAGS_{}", target.rust_triple()), "TARGET_CFLAGS".into()]
        .iter()
        .find_map(|k| env(k))
        .or_else(|| env("CFLAGS"));
    let mut cflags: Vec<String> = user_cflags.iter().flat_map(|u| u.split_whitespace().map(String::from)).collect();
    cflags.extend(paths.pairs().iter().map(|(from, to)| format!("-ffile-prefix-map={}={to}", from.display())));
    out.push((cflags_var, cflags.join(" ")));
    out
}

/// `CGO_CFLAGS` for `go build`: the user's (else Go's default `-g -O2`) and
/// `-ffile-prefix-map` for the build paths. `-trimpath` already maps each
/// module's directory in cgo's C compiles; this also covers C headers outside
/// a module (e.g. generated into the target directory). With `-trimpath` Go
/// does not record `CGO_*` flags in the binary, so the paths here do not leak.
pub fn plan_go_cflags(paths: &BuildPaths, env: &dyn Fn(&str) -> Option<String>) -> (String, String) {
    let mut flags = env("CGO_CFLAGS").unwrap_or_else(|| "-g -O2".into());
    for (from, to) in paths.pairs() {
        flags.push_str(&format!(" -ffile-prefix-map={}={to}", from.display()));
    }
    ("CGO_CFLAGS".into(), flags)
}

/// `SOURCE_DATE_EPOCH` for a build of the workspace at `root`: the user's
/// value, else the time of the checked-out commit (`git log -1
/// --format=%ct`), else `None` (not a git checkout, e.g. a source tarball).
pub fn source_date_epoch(root: &Path) -> Result<Option<u64>> {
    if let Some(v) = std::env::var("SOURCE_DATE_EPOCH").ok().filter(|v| !v.is_empty()) {
        let secs = v.trim().parse().with_context(|| format!("SOURCE_DATE_EPOCH=`{v}` is not a number of seconds"))?;
        return Ok(Some(secs));
    }
    let sh = Shell::new()?;
    let _cd = sh.push_dir(root);
    match cmd!(sh, "git log -1 --format=%ct").quiet().ignore_stderr().read() {
        Ok(text) => {
            let secs = text.trim().parse().with_context(|| format!("`git log -1 --format=%ct` printed `{text}`"))?;
            Ok(Some(secs))
        }
        Err(_) => Ok(None),
    }
}

// ---------------------------------------------------------------------------
// The second build

/// A second build of the workspace, as another user in another place would
/// make it: the sources copied to `<work>/src`, its own target directory,
/// `HOME`, `CARGO_HOME` (with the first one's registry index and downloaded
/// crates, so that no network is needed, but sources unpacked afresh), Go
/// cache, and a copy of this xtask executable.
#[derive(Debug)]
pub struct SecondBuild {
    /// `<work>`: everything of the second build is under it.
    pub root: PathBuf,
    pub src: PathBuf,
    exe: PathBuf,
}

impl SecondBuild {
    /// Clear `work` and set it up for a second build of `ws`.
    pub fn prepare(ws: &Workspace, work: &Path) -> Result<SecondBuild> {
        if work.exists() {
            std::fs::remove_dir_all(work).with_context(|| format!("cannot clear {}", work.display()))?;
        }
        let src = work.join("src");
        let target_dir = ws.target_dir()?;
        let files = source_files(&ws.root, &[target_dir.as_path(), work])?;
        for rel in &files {
            crate::fsutil::copy(&ws.root.join(rel), &src.join(rel))?;
        }
        eprintln!("reproducible: copied {} source files to {}", files.len(), src.display());
        // `/proc/self/exe` still reads when cargo has rebuilt (replaced) the file meanwhile.
        let exe = work.join("xtask");
        std::fs::copy("/proc/self/exe", &exe)
            .or_else(|_| std::fs::copy(std::env::current_exe()?, &exe))
            .context("cannot copy the xtask executable")?;
        let cargo_home = work.join("cargo-home");
        std::fs::create_dir_all(&cargo_home)?;
        if let Some(first) = cargo_home_of_first() {
            for rel in ["registry/index", "registry/cache", "git/db", "config.toml", "config"] {
                let from = first.join(rel);
                if from.exists() {
                    copy_tree(&from, &cargo_home.join(rel))?;
                }
            }
        }
        std::fs::create_dir_all(work.join("home"))?;
        Ok(SecondBuild { root: work.to_path_buf(), src, exe })
    }

    /// Run `xtask <args>` in the copy, with `SOURCE_DATE_EPOCH=epoch` (the
    /// copy has no git history to take it from).
    pub fn run(&self, args: &[String], epoch: Option<u64>) -> Result<()> {
        let sh = Shell::new()?;
        let _cd = sh.push_dir(&self.src);
        let exe = &self.exe;
        let mut cmd = cmd!(sh, "{exe} {args...}")
            .quiet()
            .env("HOME", self.root.join("home"))
            .env("CARGO_HOME", self.root.join("cargo-home"))
            .env("CARGO_TARGET_DIR", self.root.join("target"));
        // rustup's toolchains stay where they are (a new HOME would hide them).
        if let Some(rustup) = rustup_home() {
            cmd = cmd.env("RUSTUP_HOME", rustup);
        }
        for var in ["XDG_CACHE_HOME", "GOCACHE", "GOPATH", "GOMODCACHE", "CARGO_BUILD_TARGET_DIR"] {
            cmd = cmd.env_remove(var);
        }
        if let Some(t) = epoch {
            cmd = cmd.env("SOURCE_DATE_EPOCH", t.to_string());
        }
        eprintln!("reproducible: second build in {}: xtask {}", self.src.display(), args.join(" "));
        cmd.run().with_context(|| format!("the second build failed; its tree is in {}", self.root.display()))?;
        Ok(())
    }
}

/// The first build's `CARGO_HOME` (not canonicalized: it is only read).
fn cargo_home_of_first() -> Option<PathBuf> {
    cargo_home()
}

/// `$RUSTUP_HOME`, else `~/.rustup` when it exists.
fn rustup_home() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("RUSTUP_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(h));
    }
    let h = PathBuf::from(std::env::var_os("HOME")?).join(".rustup");
    h.is_dir().then_some(h)
}

/// The files of the workspace at `root` a build may read, relative: in a git
/// checkout what git tracks plus untracked files it does not ignore (what the
/// first build saw); elsewhere every file except `.git` and the `exclude`d
/// directories (target directories).
pub fn source_files(root: &Path, exclude: &[&Path]) -> Result<Vec<PathBuf>> {
    let sh = Shell::new()?;
    let _cd = sh.push_dir(root);
    let git = cmd!(sh, "git ls-files -z --cached --others --exclude-standard")
        .quiet()
        .ignore_stderr()
        .ignore_status()
        .output();
    let is_repo = cmd!(sh, "git rev-parse --show-prefix")
        .quiet()
        .ignore_stderr()
        .ignore_status()
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.trim_ascii().is_empty());
    let mut files: Vec<PathBuf> = match git {
        Ok(o) if o.status.success() && is_repo => o
            .stdout
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| PathBuf::from(String::from_utf8_lossy(s).into_owned()))
            .filter(|p| root.join(p).is_file())
            .collect(),
        _ => list_files(root)?
            .into_iter()
            .filter(|p| !p.starts_with(".git"))
            .filter(|p| !exclude.iter().any(|x| root.join(p).starts_with(x)))
            .collect(),
    };
    files.sort();
    Ok(files)
}

/// Copy a file or a directory tree.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    if from.is_dir() {
        for rel in list_files(from)? {
            crate::fsutil::copy(&from.join(&rel), &to.join(&rel))?;
        }
        Ok(())
    } else {
        crate::fsutil::copy(from, to)
    }
}

// ---------------------------------------------------------------------------
// Comparing two trees

/// Where two trees first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The path relative to the tree roots.
    pub file: PathBuf,
    pub what: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.what)
    }
}

/// Every file under `root` (relative paths, sorted, directories excluded).
pub fn list_files(root: &Path) -> Result<Vec<PathBuf>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                walk(root, &path, out)?;
            } else {
                out.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}

/// The order [`first_difference`] compares in: by path, except that
/// `SHA256SUMS`, which differs whenever anything does, comes last.
fn compare_order(files: &mut [PathBuf]) {
    files.sort_by_key(|p| (p.file_name().is_some_and(|n| n == "SHA256SUMS"), p.clone()));
}

/// The first difference between the trees `a` and `b`, in sorted path order:
/// a file only one side has, or the first file whose bytes (or executable
/// bit) differ, described by [`describe_difference`]. `None`: identical.
pub fn first_difference(a: &Path, b: &Path) -> Result<Option<Difference>> {
    let (mut fa, mut fb) = (list_files(a)?, list_files(b)?);
    compare_order(&mut fa);
    compare_order(&mut fb);
    let before = |x: &PathBuf, y: &PathBuf| {
        let key = |p: &PathBuf| (p.file_name().is_some_and(|n| n == "SHA256SUMS"), p.clone());
        key(x) < key(y)
    };
    let mut ia = fa.iter().peekable();
    let mut ib = fb.iter().peekable();
    loop {
        match (ia.peek(), ib.peek()) {
            (None, None) => return Ok(None),
            (Some(x), Some(y)) if x == y => {
                let (pa, pb) = (a.join(x), b.join(y));
                let (ba, bb) = (read(&pa)?, read(&pb)?);
                if ba != bb {
                    return Ok(Some(Difference { file: x.to_path_buf(), what: describe_difference(&ba, &bb) }));
                }
                if is_executable(&pa)? != is_executable(&pb)? {
                    return Ok(Some(Difference { file: x.to_path_buf(), what: "the executable bit differs".into() }));
                }
                ia.next();
                ib.next();
            }
            (Some(x), y) if y.is_none_or(|y| before(x, y)) => {
                return Ok(Some(Difference { file: x.to_path_buf(), what: format!("only in {}", a.display()) }))
            }
            (_, Some(y)) => {
                return Ok(Some(Difference { file: y.to_path_buf(), what: format!("only in {}", b.display()) }))
            }
            (Some(_), None) => unreachable!("handled above"),
        }
    }
}

fn read(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
}

fn is_executable(p: &Path) -> Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::metadata(p).with_context(|| format!("cannot stat {}", p.display()))?.permissions().mode() & 0o111 != 0)
}

/// Where two different byte strings differ: for ELF files the first section
/// (in file order) whose contents differ, else the header or table holding
/// the first differing byte; for `ar` archives the member (and its section);
/// else the offset.
pub fn describe_difference(a: &[u8], b: &[u8]) -> String {
    if a.starts_with(elf::AR_MAGIC) && b.starts_with(elf::AR_MAGIC) {
        if let Some(d) = archive_difference(a, b) {
            return d;
        }
    }
    if let Some(d) = elf_section_difference(a, b) {
        return d;
    }
    let Some(at) = a.iter().zip(b).position(|(x, y)| x != y) else {
        return format!("sizes differ ({} vs {} bytes; one is a prefix of the other)", a.len(), b.len());
    };
    match elf_region(a, at) {
        Some(region) => format!("first difference at byte {at:#x}, in {region}"),
        None => format!("first difference at byte {at:#x}"),
    }
}

/// The member of two archives that first differs, and where in it.
fn archive_difference(a: &[u8], b: &[u8]) -> Option<String> {
    use goblin::archive::Archive;
    let (xa, xb) = (Archive::parse(a).ok()?, Archive::parse(b).ok()?);
    let (ma, mb) = (xa.members(), xb.members());
    if ma != mb {
        let first = ma.iter().zip(&mb).find(|(x, y)| x != y).map(|(x, _)| *x).unwrap_or("(count)");
        return Some(format!("archive members differ (names or order; first: {first})"));
    }
    for name in ma {
        let (da, db) = (xa.extract(name, a).ok()?, xb.extract(name, b).ok()?);
        if da != db {
            return Some(format!("member {name}: {}", describe_difference(da, db)));
        }
    }
    Some("member headers differ (contents equal)".into())
}

/// The first section of ELF file `a`, in file order, whose contents differ
/// from the section of the same name (and rank among equal names) in `b`.
/// A section's bytes moving (a longer one before it) is not a difference:
/// what differs first is what moved it.
fn elf_section_difference(a: &[u8], b: &[u8]) -> Option<String> {
    use goblin::elf::{section_header::SHT_NOBITS, Elf};
    let (ea, eb) = (Elf::parse(a).ok()?, Elf::parse(b).ok()?);
    let sections = |e: &Elf<'_>, bytes: &[u8]| -> Vec<(String, u64, Vec<u8>)> {
        let mut v: Vec<(String, u64, Vec<u8>)> = e
            .section_headers
            .iter()
            .filter(|s| s.sh_type != SHT_NOBITS)
            .map(|s| {
                let name = e.shdr_strtab.get_at(s.sh_name).unwrap_or("?").to_string();
                let range = s.file_range().unwrap_or(0..0);
                (name, s.sh_offset, bytes.get(range).unwrap_or_default().to_vec())
            })
            .collect();
        v.sort_by_key(|(_, off, _)| *off);
        v
    };
    let (sa, sb) = (sections(&ea, a), sections(&eb, b));
    for (i, (name, _, data)) in sa.iter().enumerate() {
        let rank = sa[..i].iter().filter(|(n, _, _)| n == name).count();
        let other = sb.iter().filter(|(n, _, _)| n == name).nth(rank);
        match other {
            None => return Some(format!("section {name} is only in the first")),
            Some((_, _, od)) if od != data => {
                let at = data.iter().zip(od).position(|(x, y)| x != y).unwrap_or(data.len().min(od.len()));
                return Some(format!(
                    "section {name} differs ({} vs {} bytes, first at offset {at:#x} in it)",
                    data.len(),
                    od.len()
                ));
            }
            Some(_) => {}
        }
    }
    if sb.len() > sa.len() {
        return Some("the second has more sections".into());
    }
    None
}

/// The section (by name) or ELF header part holding byte `at` of `bytes`.
fn elf_region(bytes: &[u8], at: usize) -> Option<String> {
    let elf = goblin::elf::Elf::parse(bytes).ok()?;
    let at64 = at as u64;
    let ehsize = u64::from(elf.header.e_ehsize);
    if at64 < ehsize {
        return Some("the ELF header".into());
    }
    let mut best: Option<(&str, u64)> = None;
    for sh in &elf.section_headers {
        if sh.sh_type == goblin::elf::section_header::SHT_NOBITS || sh.sh_size == 0 {
            continue;
        }
        if at64 >= sh.sh_offset && at64 < sh.sh_offset + sh.sh_size {
            let name = elf.shdr_strtab.get_at(sh.sh_name).unwrap_or("?");
            // The innermost (smallest) section wins.
            if best.is_none_or(|(_, size)| sh.sh_size < size) {
                best = Some((name, sh.sh_size));
            }
        }
    }
    if let Some((name, _)) = best {
        return Some(format!("section {name}"));
    }
    let sh_start = elf.header.e_shoff;
    let sh_end = sh_start + u64::from(elf.header.e_shnum) * u64::from(elf.header.e_shentsize);
    if at64 >= sh_start && at64 < sh_end {
        return Some("the section header table".into());
    }
    Some("no section (padding or program headers)".into())
}

/// One error naming the first difference of each platform tree, or `Ok`.
pub fn check_same(pairs: &[(PathBuf, PathBuf)]) -> Result<()> {
    let mut diffs = Vec::new();
    for (a, b) in pairs {
        let d = if a.is_dir() || b.is_dir() {
            first_difference(a, b)?
        } else if read(a)? != read(b)? {
            Some(Difference {
                file: a.file_name().map(PathBuf::from).unwrap_or_default(),
                what: describe_difference(&read(a)?, &read(b)?),
            })
        } else {
            None
        };
        match d {
            Some(d) => {
                eprintln!("NOT reproducible: {} vs {}: {d}", a.display(), b.display());
                diffs.push(format!("{} ({d})", a.display()));
            }
            None => eprintln!("reproducible: {} == {}", a.display(), b.display()),
        }
    }
    if !diffs.is_empty() {
        bail!("the second build differs: {}", diffs.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn paths() -> BuildPaths {
        BuildPaths {
            workspace: "/home/u/ws".into(),
            target_dir: "/home/u/ws/target".into(),
            cargo_home: Some("/home/u/.cargo".into()),
            sysroot: Some("/home/u/.rustup/toolchains/stable-x86_64-unknown-linux-gnu".into()),
        }
    }

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn remap_most_specific_last() {
        assert_eq!(
            remap_flags(&paths()),
            [
                "--remap-path-prefix=/home/u/ws=/build/src",
                "--remap-path-prefix=/home/u/.cargo=/build/cargo",
                "--remap-path-prefix=/home/u/ws/target=/build/target",
                "--remap-path-prefix=/home/u/.rustup/toolchains/stable-x86_64-unknown-linux-gnu=/build/rust",
            ]
        );
        // CARGO_HOME inside the workspace (CI caches) still maps to /build/cargo.
        let p = BuildPaths { cargo_home: Some("/home/u/ws/.cargo-home".into()), sysroot: None, ..paths() };
        assert_eq!(remap_flags(&p).last().unwrap(), "--remap-path-prefix=/home/u/ws/.cargo-home=/build/cargo");
    }

    #[test]
    fn user_flags_are_kept() {
        let p = BuildPaths { sysroot: None, cargo_home: None, ..paths() };
        let env = plan_rust_env(&p, Platform::RISCV64, &lookup(&[]));
        assert_eq!(
            env,
            [
                (
                    "RUSTFLAGS".to_string(),
                    "--remap-path-prefix=/home/u/ws=/build/src --remap-path-prefix=/home/u/ws/target=/build/target"
                        .to_string()
                ),
                (
                    "CFLAGS_riscv64gc_unknown_linux_gnu".to_string(),
                    "-ffile-prefix-map=/home/u/ws=/build/src -ffile-prefix-map=/home/u/ws/target=/build/target"
                        .to_string()
                ),
            ]
        );
        let env =
            plan_rust_env(&p, Platform::AMD64, &lookup(&[("RUSTFLAGS", "-C target-cpu=native"), ("CFLAGS", "-O1")]));
        assert!(env[0].1.starts_with("-C target-cpu=native --remap-path-prefix="), "{env:?}");
        assert!(env[1].1.starts_with("-O1 -ffile-prefix-map="), "{env:?}");
        let env = plan_rust_env(&p, Platform::AMD64, &lookup(&[("CARGO_ENCODED_RUSTFLAGS", "-Cfoo=a b")]));
        assert_eq!(env[0].0, "CARGO_ENCODED_RUSTFLAGS");
        assert!(env[0].1.starts_with("-Cfoo=a b\x1f--remap-path-prefix=/home/u/ws=/build/src\x1f"), "{env:?}");
        // A blank in a path: the encoded form, one flag per field.
        let p = BuildPaths { workspace: "/home/u/my ws".into(), ..p };
        let env = plan_rust_env(&p, Platform::AMD64, &lookup(&[]));
        assert_eq!(env[0].0, "CARGO_ENCODED_RUSTFLAGS");
        assert!(env[0].1.starts_with("--remap-path-prefix=/home/u/my ws=/build/src\x1f"), "{env:?}");
    }

    #[test]
    fn cgo_keeps_go_defaults() {
        let p = BuildPaths { sysroot: None, cargo_home: None, ..paths() };
        let want = "-g -O2 -ffile-prefix-map=/home/u/ws=/build/src -ffile-prefix-map=/home/u/ws/target=/build/target";
        assert_eq!(plan_go_cflags(&p, &lookup(&[])), ("CGO_CFLAGS".into(), want.into()));
        assert!(plan_go_cflags(&p, &lookup(&[("CGO_CFLAGS", "-O3")])).1.starts_with("-O3 -ffile-prefix-map="));
    }

    #[test]
    fn trees_compare_by_path_then_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d.join("lib")).unwrap();
            std::fs::write(d.join("lib/x"), "same").unwrap();
            std::fs::write(d.join("SHA256SUMS"), "s").unwrap();
        }
        assert_eq!(first_difference(&a, &b).unwrap(), None);
        std::fs::write(b.join("lib/y"), "new").unwrap();
        let d = first_difference(&a, &b).unwrap().unwrap();
        assert_eq!(d.file, Path::new("lib/y"));
        assert!(d.what.starts_with("only in"), "{d}");
        std::fs::write(a.join("lib/y"), "nex").unwrap();
        let d = first_difference(&a, &b).unwrap().unwrap();
        assert_eq!(d.to_string(), "lib/y: first difference at byte 0x2");
        std::fs::write(a.join("SHA256SUMS"), "t").unwrap();
        assert_eq!(first_difference(&a, &b).unwrap().unwrap().file, Path::new("lib/y"), "SHA256SUMS last");
        std::fs::write(a.join("lib/y"), "new").unwrap();
        assert_eq!(first_difference(&a, &b).unwrap().unwrap().file, Path::new("SHA256SUMS"));
    }

    #[test]
    fn elf_difference_names_the_section() {
        // Ourselves: flip one byte inside .rodata and one in the ELF header.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let elf = goblin::elf::Elf::parse(&me).unwrap();
        let rodata = elf
            .section_headers
            .iter()
            .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".rodata"))
            .expect("a .rodata section");
        let mut other = me.clone();
        other[rodata.sh_offset as usize + 7] ^= 0xff;
        let d = describe_difference(&me, &other);
        assert_eq!(d, format!("section .rodata differs ({0} vs {0} bytes, first at offset 0x7 in it)", rodata.sh_size));
        let mut other = me.clone();
        other[0x18] ^= 1; // e_entry: no section differs
        let d = describe_difference(&me, &other);
        assert!(d.ends_with("in the ELF header"), "{d}");
        assert!(describe_difference(b"abc", b"abcd").starts_with("sizes differ"));
    }
}
