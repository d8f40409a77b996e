//! `cargo xtask clean-stale`: remove every local crate's build artifacts
//! (workspace members and path dependencies), keep the dependencies'.
//!
//! Why: after building a skeleton with dummy sources, cargo's fingerprints of
//! the local crates describe the dummies. When the real sources arrive with
//! older mtimes (a Docker `COPY` keeps them), cargo trusts those fingerprints
//! and reuses the empty library. Removing only the final `.so`/`.a` does not
//! help: cargo uplifts them again from `deps/`. So remove everything cargo
//! could reuse, for local packages only:
//!
//! in each `<dir>[/<triple>]/<profile>` (dir = target dir and build dir):
//! - `.fingerprint/<pkg>-<hash>` and `build/<pkg>-<hash>` (package names);
//! - `deps/lib<crate>[-<hash>].*`, `deps/<crate>-<hash>[.*]`, `deps/<lib>.*`;
//! - `incremental/<crate>-*` (examples included) and `incremental/build_script_*`;
//! - `examples/<example>*`;
//! - uplifted files `lib<crate>.*`, `<crate>.*` (libs) and `<bin>`, `<bin>.*`.
//!
//! `<hash>` is exactly 16 lowercase hex digits, so package `foo` never matches
//! `foo-bar-<hash>`. When a local crate shares its name with a registry crate,
//! a hashed file is removed only if its hash is one of the local package's
//! fingerprint hashes.
//!
//! One exception: a local build script's compiled binary that `precache cook`
//! recorded and whose binary and sources are proven unchanged is kept (see
//! [`keep`]); its output (`OUT_DIR`) is not.
//!
//! The local packages come from `cargo metadata --no-deps` (a full resolve
//! costs seconds) unless path dependencies outside the members or `[patch]`
//! need the full one; the dependencies' names come from `Cargo.lock`.

use std::{
    collections::{BTreeSet, HashSet},
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use toml_edit::{DocumentMut, Item};

use crate::{ctx::Ctx, flags, platform::Platform, workspace::Workspace};

pub mod keep;
mod names;

pub use keep::Keep;
pub use names::{hashed, is_local_artifact, Area, Names};

/// What was (or, in a dry run, would be) removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// Files and directories removed (a directory counts once).
    pub count: usize,
    /// Bytes freed (hard links counted once).
    pub bytes: u64,
    pub paths: Vec<PathBuf>,
    /// The profile directories looked at.
    pub dirs: Vec<PathBuf>,
    /// Build-script binaries kept (proven unchanged, see [`keep`]).
    pub kept: Vec<PathBuf>,
}

/// Which `<target-dir>[/<triple>]/<profile>` directories to clean.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The host layout `<target-dir>/<profile>` (builds without `--target`).
    pub host: bool,
    /// `<target-dir>/<triple>/<profile>` for each triple (or custom target name).
    pub triples: Vec<String>,
    /// The host layout and every triple directory found.
    pub all: bool,
    /// Only this profile directory (`debug`, `release`, custom); None: all found.
    pub profile_dir: Option<String>,
    /// Report, do not remove.
    pub dry_run: bool,
}

impl Scope {
    /// The host layout plus every `build.target` cargo would use from `cwd`
    /// (config files up the tree from `cwd` and from the workspace root,
    /// `$CARGO_HOME/config.toml`, `CARGO_BUILD_TARGET`).
    pub fn configured(ws_root: &Path, cwd: &Path) -> Result<Scope> {
        let mut triples = BTreeSet::new();
        if let Ok(t) = std::env::var("CARGO_BUILD_TARGET") {
            triples.extend(target_dir_names(t.split(',').map(str::trim)));
        }
        for file in config_files(&[cwd, ws_root]) {
            let text = fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let targets =
                build_targets(&text).with_context(|| format!("cannot read build.target from {}", file.display()))?;
            triples.extend(targets);
        }
        Ok(Scope { host: true, triples: triples.into_iter().collect(), ..Scope::default() })
    }

    /// One platform's `<target-dir>/<triple>`, and the host layout: with
    /// `--target`, build scripts and proc-macros are built there.
    pub fn platform(p: &Platform) -> Scope {
        Scope { host: true, triples: vec![p.rust_triple().to_owned()], ..Scope::default() }
    }

    pub fn all() -> Scope {
        Scope { all: true, host: true, ..Scope::default() }
    }

    pub fn profile(mut self, dir: Option<String>) -> Scope {
        self.profile_dir = dir;
        self
    }
}

impl flags::CleanStale {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let ws = ctx.workspace()?;
        let scope = match (&self.platform, self.all) {
            (Some(p), _) => Scope::platform(p),
            (None, true) => Scope::all(),
            (None, false) => Scope::configured(&ws.root, &ctx.sh.current_dir())?,
        };
        let profile_dir = self
            .profile
            .map(|name| crate::workspace::profile_args(&flags::Profile { release: false, profile: Some(name) }).1);
        let scope = Scope { dry_run: self.dry_run, ..scope.profile(profile_dir) };
        let removed = clean_workspace_artifacts(ws, &scope)?;
        print_report(&removed, scope.dry_run, true);
        Ok(())
    }
}

/// Remove the artifacts of every local package of `ws` in `scope`, keeping
/// the build-script binaries `cook` recorded whose sources are unchanged.
/// Idempotent; never touches registry or git dependencies.
pub fn clean_workspace_artifacts(ws: &Workspace, scope: &Scope) -> Result<Removed> {
    let meta = ws.local_metadata()?;
    clean_with_metadata(&meta, scope, Keep::Verified)
}

/// [`clean_workspace_artifacts`] when the metadata is already at hand (full,
/// or `--no-deps`: then the dependencies' names come from `Cargo.lock`).
pub fn clean_with_metadata(meta: &cargo_metadata::Metadata, scope: &Scope, keep: Keep<'_>) -> Result<Removed> {
    let mut names = Names::from_metadata(meta);
    let lock = meta.workspace_root.as_std_path().join("Cargo.lock");
    match fs::read_to_string(&lock) {
        Ok(text) => names.add_foreign_from_lock(&text).with_context(|| format!("cannot read {}", lock.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", lock.display())),
    }
    for clash in names.packages.intersection(&names.foreign_packages) {
        eprintln!(
            "warning: local package `{clash}` has the name of a dependency; \
             its fingerprints cannot be told apart and are removed too"
        );
    }
    let mut roots = vec![meta.target_directory.clone().into_std_path_buf()];
    if let Some(build_dir) = &meta.build_directory {
        let build_dir = build_dir.clone().into_std_path_buf();
        if !roots.contains(&build_dir) {
            roots.push(build_dir);
        }
    }
    let ws_root = meta.workspace_root.as_std_path();
    let mut removed = Removed::default();
    let mut seen = HashSet::new();
    for root in roots {
        for dir in profile_dirs(&root, scope) {
            let kept = keep::select(&names, &dir, ws_root, keep, scope.dry_run)?;
            clean_profile_dir(&names, &dir, &kept, scope.dry_run, &mut removed, &mut seen)?;
            removed.kept.extend(kept.into_iter().map(|u| dir.join("build").join(u)));
            removed.dirs.push(dir);
        }
    }
    Ok(removed)
}

/// Print the summary line, and with `list` every removed path.
pub fn print_report(removed: &Removed, dry_run: bool, list: bool) {
    let verb = if dry_run { "would remove" } else { "removed" };
    for p in removed.paths.iter().filter(|_| list) {
        println!("{verb} {}", shown(p));
    }
    let dirs: Vec<String> = removed.dirs.iter().map(|d| d.display().to_string()).collect();
    println!(
        "clean-stale: {verb} {} entries ({}) in {}",
        removed.count,
        human_bytes(removed.bytes),
        if dirs.is_empty() { "no build directory (nothing built yet)".to_owned() } else { dirs.join(", ") }
    );
    let what = if dry_run { "would keep" } else { "kept" };
    for k in &removed.kept {
        println!("clean-stale: {what} the build script {} (binary and sources unchanged since cook)", k.display());
    }
}

/// A path as one line: quoted and escaped when its name holds a control
/// character (a newline in a file name cannot forge another report line).
fn shown(path: &Path) -> String {
    let text = path.display().to_string();
    if text.chars().any(char::is_control) {
        format!("{text:?}")
    } else {
        text
    }
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// A directory that is not a symlink. Below the target directory nothing is
/// followed through a symlink: `target/release -> /elsewhere` is another
/// tree, never ours to clean.
fn real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

fn is_profile_dir(dir: &Path) -> bool {
    real_dir(dir) && (real_dir(&dir.join(".fingerprint")) || real_dir(&dir.join("deps")))
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| real_dir(p)).collect();
    out.sort();
    out
}

/// The profile directories of `scope` that exist under `root`.
pub fn profile_dirs(root: &Path, scope: &Scope) -> Vec<PathBuf> {
    let mut bases = Vec::new();
    if scope.host || scope.all {
        bases.push(root.to_path_buf());
    }
    if scope.all {
        bases.extend(
            subdirs(root).into_iter().filter(|d| !is_profile_dir(d) && subdirs(d).iter().any(|p| is_profile_dir(p))),
        );
    }
    for t in &scope.triples {
        let base = root.join(t);
        if !real_dir(&base) {
            continue;
        }
        if !bases.contains(&base) {
            bases.push(base);
        }
    }
    let mut out = Vec::new();
    for base in bases {
        match &scope.profile_dir {
            Some(p) => {
                let d = base.join(p);
                if is_profile_dir(&d) {
                    out.push(d);
                }
            }
            None => out.extend(subdirs(&base).into_iter().filter(|d| is_profile_dir(d))),
        }
    }
    out
}

/// The entries of `dir` whose names are UTF-8 (artifact names always are;
/// another is named in a warning and left). A symlinked `dir` has none.
fn names_in(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    if fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return Ok(Vec::new());
    }
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        match entry.file_name().to_str() {
            Some(name) => out.push((name.to_owned(), entry.path())),
            None => eprintln!("warning: clean-stale leaves {:?}: its name is not UTF-8", entry.path()),
        }
    }
    out.sort();
    Ok(out)
}

/// Clean one `<profile>` directory.
pub fn clean_profile_dir(
    names: &Names,
    dir: &Path,
    kept: &BTreeSet<String>,
    dry_run: bool,
    removed: &mut Removed,
    seen: &mut HashSet<(u64, u64)>,
) -> Result<()> {
    // Hashes of local fingerprints, to tell local from foreign on a name clash.
    let mut owned = BTreeSet::new();
    for (file, _) in names_in(&dir.join(".fingerprint"))? {
        for p in &names.packages {
            if let Some(h) = hashed(&file, p).filter(|_| file.len() == p.len() + 17) {
                owned.insert(h.to_owned());
            }
        }
    }
    let areas = [
        (".fingerprint", Area::PerPackage),
        ("build", Area::PerPackage),
        ("deps", Area::Deps),
        ("incremental", Area::Incremental),
        ("examples", Area::Examples),
        ("", Area::Uplifted),
    ];
    for (sub, area) in areas {
        for (file, path) in names_in(&dir.join(sub))? {
            if !is_local_artifact(names, area, &file, &owned) || (area == Area::PerPackage && kept.contains(&file)) {
                continue;
            }
            let meta = fs::symlink_metadata(&path).with_context(|| format!("cannot stat {}", path.display()))?;
            if area == Area::Uplifted && meta.is_dir() {
                continue; // `deps/`, `build/`, ...: never a whole directory here
            }
            removed.bytes += disk_size(&path, seen);
            removed.count += 1;
            if !dry_run {
                let res = if meta.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
                res.with_context(|| format!("cannot remove {}", path.display()))?;
            }
            removed.paths.push(path);
        }
    }
    Ok(())
}

/// Bytes under `path`, each inode counted once (uplifted files are hard links).
fn disk_size(path: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else { return 0 };
    if meta.is_dir() {
        let Ok(rd) = fs::read_dir(path) else { return 0 };
        return rd.filter_map(|e| e.ok()).map(|e| disk_size(&e.path(), seen)).sum();
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if !seen.insert((meta.dev(), meta.ino())) {
            return 0;
        }
    }
    #[cfg(not(unix))]
    let _ = seen;
    meta.len()
}

/// Cargo config files that apply in these directories (deepest first), then
/// `$CARGO_HOME/config.toml`.
fn config_files(dirs: &[&Path]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut push = |p: PathBuf| {
        if p.is_file() && !out.contains(&p) {
            out.push(p);
        }
    };
    for dir in dirs {
        for d in dir.ancestors() {
            push(d.join(".cargo/config.toml"));
            push(d.join(".cargo/config"));
        }
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = home {
        push(home.join("config.toml"));
        push(home.join("config"));
    }
    out
}

/// `build.target` of one cargo config file: a string or an array of strings;
/// a custom target `path/to/foo.json` uses the directory `foo`.
pub fn build_targets(config: &str) -> Result<Vec<String>> {
    let doc: DocumentMut = config.parse().context("not valid TOML")?;
    let Some(target) = doc.get("build").and_then(|b| b.get("target")) else { return Ok(Vec::new()) };
    let items: Vec<&str> = match target {
        Item::Value(toml_edit::Value::String(s)) => vec![s.value().as_str()],
        Item::Value(toml_edit::Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().context("build.target must be a string or an array of strings"))
            .collect::<Result<_>>()?,
        _ => anyhow::bail!("build.target must be a string or an array of strings"),
    };
    Ok(target_dir_names(items.into_iter()))
}

fn target_dir_names<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    items
        .filter(|t| !t.is_empty())
        .map(|t| match t.strip_suffix(".json") {
            Some(path) => {
                Path::new(path).file_name().map_or_else(|| path.to_owned(), |f| f.to_string_lossy().into_owned())
            }
            None => t.to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::names::tests::names;

    const H: &str = "0123456789abcdef";

    #[test]
    fn build_target_from_config() {
        assert_eq!(
            build_targets("[build]\ntarget = \"x86_64-unknown-linux-gnu\"\n").unwrap(),
            ["x86_64-unknown-linux-gnu"]
        );
        assert_eq!(build_targets("build.target = [\"a\", \"specs/my-os.json\"]\n").unwrap(), ["a", "my-os"]);
        assert!(build_targets("[build]\njobs = 2\n").unwrap().is_empty());
        assert!(build_targets("[build]\ntarget = 3\n").is_err());
        assert!(build_targets("[build\n").is_err());
    }

    /// A fake target dir: local and foreign artifacts side by side.
    fn fake_target(root: &Path) {
        let files = [
            format!("debug/.fingerprint/foo-{H}/lib-foo"),
            format!("debug/.fingerprint/foo-bar-{H}/lib-foo_bar"),
            format!("debug/.fingerprint/itoa-{H}/lib-itoa"),
            format!("debug/build/foo-{H}/out/generated.rs"),
            format!("debug/build/foo-bar-{H}/out/x"),
            "debug/deps/libfoo.so".into(),
            "debug/deps/foo.d".into(),
            format!("debug/deps/libfoo_bar-{H}.rlib"),
            format!("debug/deps/libitoa-{H}.rlib"),
            format!("debug/deps/foo_cli-{H}"),
            "debug/incremental/foo-abc/s".into(),
            "debug/examples/demo".into(),
            "debug/libfoo.so".into(),
            "debug/foo-cli".into(),
            "debug/.cargo-lock".into(),
            format!("x86_64-unknown-linux-gnu/release/deps/libfoo-{H}.rlib"),
            format!("x86_64-unknown-linux-gnu/release/deps/libitoa-{H}.rlib"),
        ];
        for f in files {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, "0123456789").unwrap();
        }
    }

    fn clean(root: &Path, scope: &Scope) -> Removed {
        let mut removed = Removed::default();
        let mut seen = HashSet::new();
        for dir in profile_dirs(root, scope) {
            clean_profile_dir(&names(), &dir, &BTreeSet::new(), scope.dry_run, &mut removed, &mut seen).unwrap();
        }
        removed
    }

    /// `target/release -> OUTSIDE`, `target/x -> OTHER/target` (with a
    /// profile dir) and `target/debug/deps -> OUTSIDE/deps`: the canaries
    /// outside survive every scope, and what is inside is still cleaned.
    #[test]
    fn symlinked_directories_are_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, outside) = (tmp.path().join("target"), tmp.path().join("outside"));
        fake_target(&root);
        let canaries = [
            outside.join("deps/libfoo.so"),
            outside.join(format!(".fingerprint/foo-{H}/lib-foo")),
            outside.join(format!("other/release/deps/libfoo-{H}.rlib")),
            outside.join("debug-deps/libfoo.so"),
        ];
        for c in &canaries {
            fs::create_dir_all(c.parent().unwrap()).unwrap();
            fs::write(c, "canary").unwrap();
        }
        std::os::unix::fs::symlink(&outside, root.join("release")).unwrap();
        std::os::unix::fs::symlink(outside.join("other"), root.join("x")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("x86_64-unknown-linux-gnu/linked")).unwrap();
        fs::create_dir_all(root.join("debug2/.fingerprint")).unwrap();
        std::os::unix::fs::symlink(outside.join("debug-deps"), root.join("debug2/deps")).unwrap();
        let scopes = [
            Scope::all(),
            Scope::all().profile(Some("release".into())),
            Scope::all().profile(Some("debug2".into())),
            Scope { triples: vec!["x".into(), "x86_64-unknown-linux-gnu".into()], ..Scope::default() },
            Scope { host: true, ..Scope::default() }.profile(Some("release".into())),
        ];
        for scope in scopes {
            let removed = clean(&root, &scope);
            for p in &removed.paths {
                assert!(p.starts_with(&root) && !p.starts_with(root.join("release")), "{scope:?} removed {p:?}");
            }
            for c in &canaries {
                assert!(c.exists(), "{scope:?} removed {}", c.display());
            }
        }
        assert!(!root.join("debug/libfoo.so").exists(), "the real profile dir is still cleaned");
    }

    #[test]
    fn report_lines_cannot_be_forged_by_names() {
        assert_eq!(shown(Path::new("t/deps/libfoo.so")), "t/deps/libfoo.so");
        let odd = shown(Path::new("t/deps/libfoo.so\nremoved /etc/passwd"));
        assert!(!odd.contains('\n') && odd.starts_with('"'), "{odd}");
    }

    #[test]
    fn cleaning_a_fake_target_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fake_target(root);

        let dry = clean(root, &Scope { host: true, dry_run: true, ..Scope::default() });
        assert_eq!(dry.count, 9);
        assert!(root.join("debug/libfoo.so").exists(), "a dry run removes nothing");

        let host = clean(root, &Scope { host: true, ..Scope::default() });
        assert_eq!(host.count, 9);
        assert_eq!(host.bytes, 9 * 10);
        for kept in [
            format!("debug/.fingerprint/foo-bar-{H}/lib-foo_bar"),
            format!("debug/.fingerprint/itoa-{H}/lib-itoa"),
            format!("debug/build/foo-bar-{H}/out/x"),
            format!("debug/deps/libfoo_bar-{H}.rlib"),
            format!("debug/deps/libitoa-{H}.rlib"),
            "debug/.cargo-lock".into(),
            format!("x86_64-unknown-linux-gnu/release/deps/libfoo-{H}.rlib"),
        ] {
            assert!(root.join(&kept).exists(), "{kept} must be kept");
        }
        for gone in ["debug/libfoo.so", "debug/foo-cli", "debug/deps/libfoo.so", "debug/examples/demo"] {
            assert!(!root.join(gone).exists(), "{gone} must be removed");
        }
        assert_eq!(clean(root, &Scope { host: true, ..Scope::default() }).count, 0, "idempotent");

        let triple = Scope { triples: vec!["x86_64-unknown-linux-gnu".into()], ..Scope::default() };
        assert_eq!(clean(root, &triple.clone().profile(Some("debug".into()))).count, 0);
        assert_eq!(clean(root, &triple).count, 1);
        assert!(root.join(format!("x86_64-unknown-linux-gnu/release/deps/libitoa-{H}.rlib")).exists());
    }

    #[test]
    fn all_finds_every_triple() {
        let tmp = tempfile::tempdir().unwrap();
        fake_target(tmp.path());
        fs::create_dir_all(tmp.path().join("doc/foo")).unwrap();
        let dirs = profile_dirs(tmp.path(), &Scope::all());
        let rel: Vec<_> = dirs.iter().map(|d| d.strip_prefix(tmp.path()).unwrap().to_owned()).collect();
        assert_eq!(rel, [PathBuf::from("debug"), PathBuf::from("x86_64-unknown-linux-gnu/release")]);
        assert_eq!(clean(tmp.path(), &Scope::all()).count, 10);
    }
}
