//! Keeping a local build script's compiled binary across `precache cook` and
//! `clean-stale`, only when it is provably what the real sources compile to.
//!
//! Why: `clean-stale` removes every local artifact, so the rebuild after an
//! application change compiled every local build script again (cargo-chef
//! does the same). A skeleton that keeps a build script real (see
//! `precache::skeleton`) lets `cook` compile the real one; this module decides
//! whether that binary may survive.
//!
//! - `cook`, after its last build, records in `<profile>/` [`RECORD`] for each
//!   local build-script *compile* unit `<pkg>-<hash>`: the SHA-256 of the
//!   compiled binary and of every source file its dep-info lists. A unit whose
//!   dep-info names an environment variable (`env!`) is not recorded: the
//!   file contents alone would not prove it identical.
//! - `clean-stale` keeps a recorded unit only when the binary and every source
//!   file still hash the same. It then marks the unit's dep-info as new, so
//!   that cargo trusts it whatever the mtimes of the copied sources (they are
//!   proven identical); cargo's fingerprint still checks everything else
//!   (compiler, flags, profile, features, dependencies). Anything else is
//!   removed as before, and so is every build script's *output* (`OUT_DIR`):
//!   the run is always redone.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::ErrorKind,
    path::{Path, PathBuf},
    time::SystemTime,
};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::names::{hashed, Names};

/// The record, in each profile directory (a leading dot: no target's name).
pub const RECORD: &str = ".xtask-precache-kept.json";
const FORMAT: &str = "xtask-precache-kept/1";
/// The fingerprint file that marks a build-script compile unit.
const COMPILE_MARKER: &str = "build-script-build-script-build";
const DEP_INFO: &str = "dep-build-script-build-script-build";

/// What to do with local build-script binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep<'a> {
    /// Remove them all and forget any record (a fresh start).
    Nothing,
    /// Record and keep every recordable one compiled from one of these
    /// build-script paths (relative to the workspace root; None: any), as
    /// `cook` does after its last build.
    Record(Option<&'a BTreeSet<String>>),
    /// Keep the recorded ones whose binary and sources still match (`clean-stale`).
    Verified,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub format: String,
    /// `<pkg>-<hash>` → what it was compiled from.
    pub units: BTreeMap<String, Unit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// SHA-256 of the compiled build script.
    pub binary: String,
    /// Source path as the dep-info spells it (relative: to the workspace root) → SHA-256.
    pub files: BTreeMap<String, String>,
}

/// The units of profile directory `dir` to keep, per `keep`. Writes (or
/// removes) the record unless `dry_run`; for kept units, marks the dep-info new.
pub fn select(names: &Names, dir: &Path, ws_root: &Path, keep: Keep<'_>, dry_run: bool) -> Result<BTreeSet<String>> {
    let record_path = dir.join(RECORD);
    let record = match keep {
        Keep::Nothing => Record::default(),
        Keep::Record(only) => record_units(names, dir, ws_root, only)?,
        Keep::Verified => verify(&read_record(&record_path)?, dir, ws_root)?,
    };
    if !dry_run {
        if record.units.is_empty() {
            match fs::remove_file(&record_path) {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot remove {}", record_path.display()))
                }
                _ => {}
            }
        } else {
            let text = serde_json::to_string_pretty(&record).expect("a record is always serialisable");
            fs::write(&record_path, text).with_context(|| format!("cannot write {}", record_path.display()))?;
        }
        if keep == Keep::Verified {
            for unit in record.units.keys() {
                mark_new(&dir.join(".fingerprint").join(unit).join(DEP_INFO))?;
            }
        }
    }
    Ok(record.units.into_keys().collect())
}

fn read_record(path: &Path) -> Result<Record> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Record::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    match serde_json::from_str::<Record>(&text) {
        Ok(r) if r.format == FORMAT => Ok(r),
        // Unknown or damaged: keep nothing (always safe).
        _ => Ok(Record::default()),
    }
}

/// Every local build-script compile unit that can be recorded.
fn record_units(names: &Names, dir: &Path, ws_root: &Path, only: Option<&BTreeSet<String>>) -> Result<Record> {
    let mut record = Record { format: FORMAT.to_owned(), units: BTreeMap::new() };
    let Ok(rd) = fs::read_dir(dir.join(".fingerprint")) else { return Ok(record) };
    for entry in rd {
        let entry = entry?;
        let Some(unit) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let Some(hash) = unit_hash(names, &unit) else { continue };
        if !entry.path().join(COMPILE_MARKER).is_file() {
            continue; // a library or a build-script run
        }
        let Some(u) = describe(dir, ws_root, &unit, hash)? else { continue };
        if only.is_none_or(|paths| u.files.keys().any(|f| paths.contains(f))) {
            record.units.insert(unit, u);
        }
    }
    Ok(record)
}

/// The recorded units whose binary and sources are unchanged.
fn verify(record: &Record, dir: &Path, ws_root: &Path) -> Result<Record> {
    let mut out = Record { format: FORMAT.to_owned(), units: BTreeMap::new() };
    for (unit, recorded) in &record.units {
        let Some(hash) = unit.rsplit_once('-').map(|(_, h)| h) else { continue };
        if !dir.join(".fingerprint").join(unit).join(COMPILE_MARKER).is_file() {
            continue;
        }
        if describe(dir, ws_root, unit, hash)?.as_ref() == Some(recorded) {
            out.units.insert(unit.clone(), recorded.clone());
        } else {
            eprintln!("clean-stale: the build script of {unit} changed since it was cooked: it is recompiled");
        }
    }
    Ok(out)
}

/// `<pkg>-<hash>` of a local package: the hash.
fn unit_hash<'a>(names: &Names, unit: &'a str) -> Option<&'a str> {
    names.packages.iter().find_map(|p| hashed(unit, p).filter(|_| unit.len() == p.len() + 17))
}

/// The unit's binary and sources, hashed; None when it cannot be proven
/// (missing files, an environment dependency).
fn describe(dir: &Path, ws_root: &Path, unit: &str, hash: &str) -> Result<Option<Unit>> {
    let build = dir.join("build").join(unit);
    let dep_info = build.join(format!("build_script_build-{hash}.d"));
    let Ok(text) = fs::read_to_string(&dep_info) else { return Ok(None) };
    let Some(sources) = dep_info_sources(&text) else { return Ok(None) };
    let Some(binary) = sha256_file(&build.join(format!("build_script_build-{hash}{}", std::env::consts::EXE_SUFFIX)))?
    else {
        return Ok(None);
    };
    let mut files = BTreeMap::new();
    for src in sources {
        let path = ws_root.join(&src);
        let Some(h) = sha256_file(&path)? else { return Ok(None) };
        files.insert(src, h);
    }
    Ok(Some(Unit { binary, files }))
}

/// The source files of a rustc dep-info (Makefile) file: each has a rule of
/// its own, `path:` with nothing after it. None when it names an environment
/// variable (`# env-dep:`) or no file.
pub fn dep_info_sources(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("# env-dep:") {
            return None;
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some(path) = line.strip_suffix(':').filter(|p| !p.is_empty() && !p.ends_with('\\')) {
            out.push(path.replace("\\ ", " "));
        }
    }
    (!out.is_empty()).then_some(out)
}

fn sha256_file(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(format!("{:x}", Sha256::digest(&bytes)))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn mark_new(path: &PathBuf) -> Result<()> {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now()))
        .with_context(|| format!("cannot update the mtime of {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_info_lists_sources_and_refuses_env() {
        let d = "/t/build/a-0123456789abcdef/build_script_build-0123456789abcdef.d: a/build.rs a/my\\ dir/x.rs\n\n\
                 /t/build/a-0123456789abcdef/build_script_build-0123456789abcdef: a/build.rs a/my\\ dir/x.rs\n\n\
                 a/build.rs:\na/my\\ dir/x.rs:\n";
        assert_eq!(dep_info_sources(d).unwrap(), ["a/build.rs", "a/my dir/x.rs"]);
        let env = format!("{d}\n# env-dep:CARGO_PKG_VERSION=0.1.0\n");
        assert_eq!(dep_info_sources(&env), None);
        assert_eq!(dep_info_sources(""), None);
    }

    /// A fake profile dir with one build-script compile unit of package `a`.
    fn fake(dir: &Path, ws: &Path) -> (Names, String) {
        let h = "0123456789abcdef";
        let unit = format!("a-{h}");
        let mut names = Names::default();
        names.packages.insert("a".into());
        let fp = dir.join(".fingerprint").join(&unit);
        fs::create_dir_all(&fp).unwrap();
        fs::write(fp.join(COMPILE_MARKER), "x").unwrap();
        fs::write(fp.join(DEP_INFO), "x").unwrap();
        let build = dir.join("build").join(&unit);
        fs::create_dir_all(&build).unwrap();
        fs::write(build.join(format!("build_script_build-{h}")), "binary").unwrap();
        fs::write(build.join(format!("build_script_build-{h}.d")), "a/build.rs:\n").unwrap();
        fs::create_dir_all(ws.join("a")).unwrap();
        fs::write(ws.join("a/build.rs"), "fn main() {}\n").unwrap();
        // A run unit of the same package is never recorded.
        fs::create_dir_all(dir.join(".fingerprint/a-fedcba9876543210")).unwrap();
        (names, unit)
    }

    #[test]
    fn record_then_verify() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, ws) = (tmp.path().join("release"), tmp.path().join("ws"));
        let (names, unit) = fake(&dir, &ws);
        let kept = select(&names, &dir, &ws, Keep::Record(None), false).unwrap();
        assert_eq!(kept, BTreeSet::from([unit.clone()]));
        assert!(dir.join(RECORD).is_file());

        // Unchanged: kept, dep-info marked new.
        let dep_info = dir.join(".fingerprint").join(&unit).join(DEP_INFO);
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(978_307_200);
        fs::File::options().write(true).open(&dep_info).unwrap().set_modified(old).unwrap();
        assert_eq!(select(&names, &dir, &ws, Keep::Verified, false).unwrap().len(), 1);
        assert!(fs::metadata(&dep_info).unwrap().modified().unwrap() > old);

        // A changed source, whatever its mtime: not kept, record gone.
        fs::write(ws.join("a/build.rs"), "fn main() { println!(\"x\") }\n").unwrap();
        assert!(select(&names, &dir, &ws, Keep::Verified, true).unwrap().is_empty());
        assert!(dir.join(RECORD).is_file(), "a dry run writes nothing");
        assert!(select(&names, &dir, &ws, Keep::Verified, false).unwrap().is_empty());
        assert!(!dir.join(RECORD).exists());
    }

    #[test]
    fn record_only_the_named_build_scripts() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, ws) = (tmp.path().join("release"), tmp.path().join("ws"));
        let (names, unit) = fake(&dir, &ws);
        let other: BTreeSet<String> = ["b/build.rs".to_owned()].into();
        assert!(select(&names, &dir, &ws, Keep::Record(Some(&other)), false).unwrap().is_empty());
        let mine: BTreeSet<String> = ["a/build.rs".to_owned()].into();
        assert_eq!(select(&names, &dir, &ws, Keep::Record(Some(&mine)), false).unwrap(), BTreeSet::from([unit]));
    }

    #[test]
    fn a_rebuilt_binary_or_a_bad_record_keeps_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, ws) = (tmp.path().join("release"), tmp.path().join("ws"));
        let (names, unit) = fake(&dir, &ws);
        select(&names, &dir, &ws, Keep::Record(None), false).unwrap();
        let h = unit.rsplit_once('-').unwrap().1;
        fs::write(dir.join("build").join(&unit).join(format!("build_script_build-{h}")), "other").unwrap();
        assert!(select(&names, &dir, &ws, Keep::Verified, false).unwrap().is_empty());

        select(&names, &dir, &ws, Keep::Record(None), false).unwrap();
        fs::write(dir.join(RECORD), "{not json").unwrap();
        assert!(select(&names, &dir, &ws, Keep::Verified, false).unwrap().is_empty());
        select(&names, &dir, &ws, Keep::Record(None), false).unwrap();
        assert!(select(&names, &dir, &ws, Keep::Nothing, false).unwrap().is_empty());
        assert!(!dir.join(RECORD).exists(), "Nothing forgets the record");
    }
}
