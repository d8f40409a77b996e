//! The skeleton: the files of a workspace that decide how its dependencies are
//! built, with every workspace source replaced by a dummy.
//!
//! Data model first ([`LocalPackage`], [`TargetInfo`], [`Skeleton`]), then pure
//! transforms; the only I/O is reading the workspace's files through a closure
//! and writing the skeleton out.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Component, Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use toml_edit::{DocumentMut, Item};

use super::{
    lock::mask_lock,
    manifest::{normalize_manifest, MaskSet},
};

/// Recipe format tag; bump when the skeleton's meaning changes.
pub const RECIPE_FORMAT: &str = "xtask-precache/1";
/// Written into `--out` directories: the same skeleton as one JSON file. Also
/// marks the directory as ours, so that `prepare` may overwrite it.
pub const MARKER: &str = "xtask-precache-recipe.json";

/// Files copied verbatim from the workspace root when present.
const VERBATIM: &[&str] = &[".cargo/config.toml", ".cargo/config", "rust-toolchain", "rust-toolchain.toml"];

pub use super::package::{LocalPackage, TargetInfo, TargetKind};

impl LocalPackage {
    /// The package directory relative to the workspace root (`""` for the root).
    pub fn dir(&self) -> &str {
        self.manifest.rsplit_once('/').map_or("", |(dir, _)| dir)
    }

    /// A target's path as written in this package's manifest.
    pub fn target_path(&self, target: &TargetInfo) -> String {
        relative_path(self.dir(), &target.src)
    }
}

impl TargetInfo {
    /// Whether the dummy source needs a `main` function.
    fn needs_main(&self, harness: bool) -> bool {
        match self.kind {
            TargetKind::Bin | TargetKind::Build => true,
            TargetKind::Example => self.crate_types.iter().all(|t| t == "bin"),
            TargetKind::Test | TargetKind::Bench => !harness,
            TargetKind::Lib => false,
        }
    }
}

/// The skeleton: relative path (`/`-separated) → file contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skeleton {
    pub format: String,
    pub files: BTreeMap<String, String>,
    /// Build scripts kept real (not dummies), so that `cook` compiles them
    /// once and `clean-stale` can keep the compiled binary when the real
    /// sources still match (see `clean_stale::keep`). Their packages keep
    /// their real version: the build script's unit hash depends on it.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub build_scripts: BTreeSet<String>,
}

impl Skeleton {
    /// The local packages of a workspace from its `cargo metadata`.
    pub fn local_packages(meta: &cargo_metadata::Metadata) -> Result<Vec<LocalPackage>> {
        let root = meta.workspace_root.as_std_path();
        let members: BTreeSet<_> = meta.workspace_members.iter().collect();
        let mut out = Vec::new();
        for p in meta.packages.iter().filter(|p| p.source.is_none()) {
            let manifest = relative_to_root(root, p.manifest_path.as_std_path())
                .with_context(|| format!("local package {}", p.name))?;
            let mut targets = Vec::new();
            for t in &p.targets {
                let Some(kind) = target_kind(t) else {
                    eprintln!("warning: ignoring target {} of {} (unknown kind {:?})", t.name, p.name, t.kind);
                    continue;
                };
                targets.push(TargetInfo {
                    name: t.name.clone(),
                    kind,
                    crate_types: t.crate_types.iter().map(|c| c.to_string()).collect(),
                    src: relative_to_root(root, t.src_path.as_std_path())
                        .with_context(|| format!("target {} of package {}", t.name, p.name))?,
                    required_features: t.required_features.clone(),
                    edition: t.edition.as_str().to_owned(),
                });
            }
            out.push(LocalPackage {
                name: p.name.to_string(),
                version: p.version.to_string(),
                manifest,
                edition: p.edition.as_str().to_owned(),
                member: members.contains(&p.id),
                targets,
            });
        }
        out.sort_by(|a, b| a.manifest.cmp(&b.manifest));
        Ok(out)
    }

    /// Build the skeleton. `read(rel)` returns a workspace file's contents, or
    /// None when it does not exist.
    /// With `real_build_scripts`, self-contained build scripts are kept (see
    /// [`Skeleton::build_scripts`]).
    pub fn build(
        packages: &[LocalPackage],
        real_build_scripts: bool,
        read: impl Fn(&str) -> Result<Option<String>>,
    ) -> Result<Skeleton> {
        let mut files = BTreeMap::new();
        let root_text = read("Cargo.toml")?.context("the workspace root has no Cargo.toml")?;
        let mut manifests = BTreeMap::new();
        for pkg in packages {
            let text = read(&pkg.manifest)?.with_context(|| format!("cannot read {}", pkg.manifest))?;
            manifests.insert(pkg.manifest.clone(), text);
        }
        manifests.insert("Cargo.toml".to_owned(), root_text.clone());
        let real =
            if real_build_scripts { real_build_scripts_of(packages, &manifests, &read)? } else { BTreeMap::new() };
        let unmasked: BTreeSet<String> = real.values().map(|(pkg, _)| pkg.clone()).collect();
        let mask = mask_set(packages, &root_text, &manifests, &unmasked)?;

        let root_pkg = packages.iter().find(|p| p.manifest == "Cargo.toml");
        files.insert(
            "Cargo.toml".to_owned(),
            normalize_manifest(&root_text, root_pkg, &mask).context("cannot normalise Cargo.toml")?,
        );
        for pkg in packages.iter().filter(|p| p.manifest != "Cargo.toml") {
            let text = &manifests[&pkg.manifest];
            let out = normalize_manifest(text, Some(pkg), &mask)
                .with_context(|| format!("cannot normalise {}", pkg.manifest))?;
            files.insert(pkg.manifest.clone(), out);
        }

        if let Some(lock) = read("Cargo.lock")? {
            files.insert(
                "Cargo.lock".to_owned(),
                mask_lock(&lock, &mask.names).context("cannot mask versions in Cargo.lock")?,
            );
        }
        for rel in VERBATIM {
            if let Some(text) = read(rel)? {
                files.insert((*rel).to_owned(), text);
            }
        }

        for (path, text) in dummy_sources(packages, &manifests)? {
            if files.contains_key(&path) {
                bail!("{path} is a target's source and also a manifest, lock or config file");
            }
            files.insert(path, text);
        }
        let mut build_scripts = BTreeSet::new();
        for (path, (_, text)) in real {
            files.insert(path.clone(), text);
            build_scripts.insert(path);
        }
        Ok(Skeleton { format: RECIPE_FORMAT.to_owned(), files, build_scripts })
    }

    /// The skeleton a directory was written from ([`MARKER`]), if any.
    pub fn in_dir(dir: &Path) -> Result<Option<Skeleton>> {
        let marker = dir.join(MARKER);
        match fs::read_to_string(&marker) {
            Ok(text) => Skeleton::from_recipe(&text)
                .map(Some)
                .with_context(|| format!("{} is damaged; prepare the skeleton again", marker.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", marker.display())),
        }
    }

    pub fn to_recipe(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a skeleton is always serialisable");
        s.push('\n');
        s
    }

    pub fn from_recipe(text: &str) -> Result<Skeleton> {
        let sk: Skeleton = serde_json::from_str(text).context("not a precache recipe (JSON)")?;
        if sk.format != RECIPE_FORMAT {
            bail!("recipe format `{}` is not supported (expected `{RECIPE_FORMAT}`)", sk.format);
        }
        for path in sk.files.keys() {
            check_relative(path)?;
        }
        Ok(sk)
    }

    /// Write every file under `dir` (created if needed).
    pub fn write_files(&self, dir: &Path) -> Result<()> {
        for (rel, text) in &self.files {
            check_relative(rel)?;
            let path = crate::fsutil::beneath(dir, rel)?;
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            }
            fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }

    /// Write the skeleton as a directory tree, plus [`MARKER`]. The directory
    /// must be missing, empty, or a previous skeleton (whose files are replaced).
    pub fn write_dir(&self, dir: &Path) -> Result<()> {
        if dir.exists() {
            let entries: Vec<_> = fs::read_dir(dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .collect::<Result<_, _>>()?;
            let marker = crate::fsutil::beneath(dir, MARKER)?;
            if marker.is_file() {
                let old = fs::read_to_string(&marker).with_context(|| format!("cannot read {}", marker.display()))?;
                let old = Skeleton::from_recipe(&old)
                    .with_context(|| format!("{} is damaged; remove the directory", marker.display()))?;
                // Every path is checked before the first file is touched.
                for rel in old.files.keys().chain(self.files.keys()) {
                    crate::fsutil::beneath(dir, rel)?;
                }
                for rel in old.files.keys().filter(|rel| !self.files.contains_key(*rel)) {
                    let path = crate::fsutil::beneath(dir, rel)?;
                    if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                        fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
                    }
                }
            } else if !entries.is_empty() {
                bail!(
                    "{} is not empty and holds no previous skeleton; choose an empty or new directory",
                    dir.display()
                );
            }
        }
        self.write_files(dir)?;
        let marker = crate::fsutil::beneath(dir, MARKER)?;
        fs::write(&marker, self.to_recipe()).with_context(|| format!("cannot write {}", marker.display()))
    }
}

/// Drop examples, tests and benches (`prepare --no-dev-targets`).
pub fn drop_dev_targets(packages: &mut [LocalPackage]) {
    for p in packages {
        p.targets.retain(|t| !matches!(t.kind, TargetKind::Example | TargetKind::Test | TargetKind::Bench));
    }
}

fn target_kind(t: &cargo_metadata::Target) -> Option<TargetKind> {
    use cargo_metadata::TargetKind as K;
    let kind = t.kind.first()?;
    Some(match kind {
        K::Bin => TargetKind::Bin,
        K::Example => TargetKind::Example,
        K::Test => TargetKind::Test,
        K::Bench => TargetKind::Bench,
        K::CustomBuild => TargetKind::Build,
        K::Lib | K::RLib | K::DyLib | K::CDyLib | K::StaticLib | K::ProcMacro => TargetKind::Lib,
        _ => return None,
    })
}

/// Which packages get the masked version. Workspace members do, except those
/// that replace another package through `[patch]`/`[replace]` (their version
/// must keep matching the requirement they stand in for); and
/// `[workspace.package].version` only if every package inheriting it is masked.
fn mask_set(
    packages: &[LocalPackage],
    root_text: &str,
    manifests: &BTreeMap<String, String>,
    unmasked: &BTreeSet<String>,
) -> Result<MaskSet> {
    let root: DocumentMut = root_text.parse().context("Cargo.toml is not valid TOML")?;
    let mut patched = BTreeSet::new();
    let mut patch_tables: Vec<&dyn toml_edit::TableLike> = Vec::new();
    if let Some(patch) = root.get("patch").and_then(Item::as_table_like) {
        patch_tables.extend(patch.iter().filter_map(|(_, t)| t.as_table_like()));
    }
    if let Some(replace) = root.get("replace").and_then(Item::as_table_like) {
        patch_tables.push(replace);
    }
    for table in patch_tables {
        for (key, dep) in table.iter() {
            let Some(dep) = dep.as_table_like() else { continue };
            if dep.contains_key("path") {
                let name = dep.get("package").and_then(Item::as_str).unwrap_or(key);
                // `[replace]` keys are `name:version`.
                patched.insert(name.split(':').next().unwrap_or(name).to_owned());
            }
        }
    }

    let mut names: BTreeSet<String> = packages
        .iter()
        .filter(|p| p.member && !patched.contains(&p.name) && !unmasked.contains(&p.name))
        .map(|p| p.name.clone())
        .collect();
    let mut inheritors = Vec::new();
    for p in packages {
        let doc: DocumentMut =
            manifests[&p.manifest].parse().with_context(|| format!("{} is not valid TOML", p.manifest))?;
        let inherits = doc.get("package").and_then(|t| t.get("version")).is_some_and(|v| v.is_table_like());
        if inherits {
            inheritors.push(p.name.clone());
        }
    }
    let workspace_version = inheritors.iter().all(|n| names.contains(n));
    if !workspace_version {
        for n in &inheritors {
            names.remove(n);
        }
    }
    Ok(MaskSet { names, workspace_version })
}

/// The build scripts the skeleton keeps real: path → (package, text). A build
/// script qualifies when its file is its only input and no other target uses
/// that file (`cook` must be able to compile it without the rest of the
/// sources), and when its package has no `[lints]`: lints are compile flags
/// of the build script too, and the skeleton drops them (they can fail dummy
/// sources), so cargo would recompile it anyway.
fn real_build_scripts_of(
    packages: &[LocalPackage],
    manifests: &BTreeMap<String, String>,
    read: &impl Fn(&str) -> Result<Option<String>>,
) -> Result<BTreeMap<String, (String, String)>> {
    let mut uses: BTreeMap<&str, usize> = BTreeMap::new();
    for t in packages.iter().flat_map(|p| &p.targets) {
        *uses.entry(t.src.as_str()).or_default() += 1;
    }
    let mut out = BTreeMap::new();
    for pkg in packages {
        let doc: DocumentMut =
            manifests[&pkg.manifest].parse().with_context(|| format!("{} is not valid TOML", pkg.manifest))?;
        if doc.contains_key("lints") {
            continue;
        }
        for t in pkg.targets.iter().filter(|t| t.kind == TargetKind::Build && uses[t.src.as_str()] == 1) {
            if let Some(text) = read(&t.src)?.filter(|text| self_contained_build_script(text)) {
                out.insert(t.src.clone(), (pkg.name.clone(), text));
            }
        }
    }
    Ok(out)
}

/// Whether a build script names no other file (`mod`, `include!`,
/// `#[path]`) and reads no variable at compile time (`env!`). Conservative:
/// the words count anywhere, in comments too; a false "no" only costs the
/// rebuild a build-script compile.
pub fn self_contained_build_script(text: &str) -> bool {
    !["mod ", "include", "#[path", "env!"].iter().any(|w| text.contains(w))
}

/// One dummy file per distinct target source path. The contents depend only on
/// the kinds of targets at that path, never on the real sources.
fn dummy_sources(packages: &[LocalPackage], manifests: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    let mut needs_main: BTreeMap<String, (bool, bool)> = BTreeMap::new(); // path -> (main, proc-macro)
    for pkg in packages {
        let doc: DocumentMut = manifests[&pkg.manifest].parse()?;
        for t in &pkg.targets {
            let harness = harness_of(&doc, t);
            let entry = needs_main.entry(t.src.clone()).or_default();
            entry.0 |= t.needs_main(harness);
            entry.1 |= t.crate_types.iter().any(|c| c == "proc-macro");
        }
    }
    Ok(needs_main
        .into_iter()
        .map(|(path, (main, proc_macro))| (path, dummy_source(main, proc_macro).to_owned()))
        .collect())
}

/// The `harness` flag of a test or bench target in the original manifest.
fn harness_of(doc: &DocumentMut, t: &TargetInfo) -> bool {
    let key = t.kind.manifest_key();
    let Some(item) = doc.get(key) else { return true };
    let tables: Vec<&dyn toml_edit::TableLike> = match item {
        Item::ArrayOfTables(a) => a.iter().map(|t| t as &dyn toml_edit::TableLike).collect(),
        Item::Value(toml_edit::Value::Array(a)) => {
            a.iter().filter_map(|v| v.as_inline_table()).map(|t| t as _).collect()
        }
        _ => return true,
    };
    tables
        .into_iter()
        .find(|tab| tab.get("name").and_then(Item::as_str) == Some(&t.name))
        .and_then(|tab| tab.get("harness"))
        .and_then(Item::as_bool)
        .unwrap_or(true)
}

pub fn dummy_source(main: bool, proc_macro: bool) -> &'static str {
    match (main, proc_macro) {
        (true, _) => "// Dummy source written by `cargo xtask precache prepare`.\nfn main() {}\n",
        (false, true) => "// Dummy source written by `cargo xtask precache prepare`.\nextern crate proc_macro;\n",
        (false, false) => "// Dummy source written by `cargo xtask precache prepare`.\n",
    }
}

/// `path` relative to `root`, `/`-separated; an error when outside it.
pub fn relative_to_root(root: &Path, path: &Path) -> Result<String> {
    let rel = path.strip_prefix(root).map_err(|_| {
        anyhow::anyhow!(
            "{} is outside the workspace root {}; the skeleton can only hold files under the root",
            path.display(),
            root.display()
        )
    })?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => {
                parts.push(s.to_str().with_context(|| format!("{} is not UTF-8", path.display()))?.to_owned())
            }
            Component::CurDir => {}
            _ => bail!("{} is not a plain path under {}", path.display(), root.display()),
        }
    }
    Ok(parts.join("/"))
}

/// `to` relative to the directory `from` (both `/`-separated, relative to the root).
pub fn relative_path(from: &str, to: &str) -> String {
    let from: Vec<&str> = from.split('/').filter(|s| !s.is_empty()).collect();
    let to: Vec<&str> = to.split('/').filter(|s| !s.is_empty()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

/// A recipe path must be relative and stay inside the directory it is written to.
fn check_relative(rel: &str) -> Result<()> {
    let path = PathBuf::from(rel);
    let ok = !rel.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_))) && !rel.contains('\\');
    if !ok {
        bail!("recipe path `{rel}` is not a plain relative path");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(relative_path("", "src/lib.rs"), "src/lib.rs");
        assert_eq!(relative_path("crates/a", "crates/a/src/lib.rs"), "src/lib.rs");
        assert_eq!(relative_path("crates/a", "crates/b/x.rs"), "../b/x.rs");
        assert_eq!(relative_path("a", "shared/main.rs"), "../shared/main.rs");
        assert_eq!(relative_to_root(Path::new("/w"), Path::new("/w/a/src/lib.rs")).unwrap(), "a/src/lib.rs");
        assert!(relative_to_root(Path::new("/w"), Path::new("/elsewhere/lib.rs")).is_err());
    }

    #[test]
    fn recipe_paths_are_checked() {
        for bad in ["/etc/passwd", "../x", "a/../../x", "", "a\\b"] {
            assert!(check_relative(bad).is_err(), "{bad}");
        }
        check_relative("a/src/lib.rs").unwrap();
        let text = r#"{"format":"xtask-precache/1","files":{"../evil":""}}"#;
        assert!(Skeleton::from_recipe(text).is_err());
        assert!(Skeleton::from_recipe(r#"{"format":"other","files":{}}"#).is_err());
        assert!(Skeleton::from_recipe("not json").is_err());
    }

    fn t(name: &str, kind: TargetKind, types: &[&str], src: &str) -> TargetInfo {
        TargetInfo::for_test(name, kind, types, src)
    }

    fn workspace() -> (Vec<LocalPackage>, BTreeMap<&'static str, String>) {
        let pkgs = vec![
            LocalPackage {
                name: "app".into(),
                version: "0.4.0".into(),
                manifest: "app/Cargo.toml".into(),
                edition: "2021".into(),
                member: true,
                targets: vec![
                    t("app", TargetKind::Lib, &["cdylib", "rlib"], "app/src/lib.rs"),
                    t("app", TargetKind::Bin, &["bin"], "app/src/main.rs"),
                    t("it", TargetKind::Test, &["bin"], "app/tests/it.rs"),
                    t("raw", TargetKind::Bench, &["bin"], "app/benches/raw.rs"),
                    t("build-script-build", TargetKind::Build, &["bin"], "app/build.rs"),
                ],
            },
            LocalPackage {
                name: "mac".into(),
                version: "0.4.0".into(),
                manifest: "mac/Cargo.toml".into(),
                edition: "2021".into(),
                member: true,
                targets: vec![t("mac", TargetKind::Lib, &["proc-macro"], "mac/src/lib.rs")],
            },
        ];
        let mut files = BTreeMap::new();
        files.insert("Cargo.toml", "[workspace]\nmembers = [\"app\", \"mac\"]\n".to_owned());
        files.insert(
            "app/Cargo.toml",
            "[package]\nname = \"app\"\nversion = \"0.4.0\"\nedition = \"2021\"\n[[bench]]\nname = \"raw\"\nharness = false\n[dependencies]\nmac = { path = \"../mac\", version = \"0.4\" }\n".to_owned(),
        );
        files.insert(
            "mac/Cargo.toml",
            "[package]\nname = \"mac\"\nversion = \"0.4.0\"\nedition = \"2021\"\n[lib]\nproc-macro = true\n".to_owned(),
        );
        files.insert(
            "Cargo.lock",
            "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.4.0\"\ndependencies = [\n \"mac\",\n]\n\n[[package]]\nname = \"mac\"\nversion = \"0.4.0\"\n".to_owned(),
        );
        files.insert(".cargo/config.toml", "[build]\njobs = 2\n".to_owned());
        (pkgs, files)
    }

    #[test]
    fn skeleton_files_and_dummies() {
        let (pkgs, files) = workspace();
        let sk = Skeleton::build(&pkgs, false, |rel| Ok(files.get(rel).cloned())).unwrap();
        let paths: Vec<&str> = sk.files.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                ".cargo/config.toml",
                "Cargo.lock",
                "Cargo.toml",
                "app/Cargo.toml",
                "app/benches/raw.rs",
                "app/build.rs",
                "app/src/lib.rs",
                "app/src/main.rs",
                "app/tests/it.rs",
                "mac/Cargo.toml",
                "mac/src/lib.rs",
            ]
        );
        let main = dummy_source(true, false);
        assert_eq!(sk.files["app/src/main.rs"], main);
        assert_eq!(sk.files["app/build.rs"], main);
        assert_eq!(sk.files["app/benches/raw.rs"], main, "harness = false keeps a main");
        assert_eq!(sk.files["app/tests/it.rs"], dummy_source(false, false));
        assert_eq!(sk.files["mac/src/lib.rs"], dummy_source(false, true));
        assert!(sk.files["Cargo.lock"].contains("name = \"app\"\nversion = \"0.0.1\""));
        assert!(sk.files["app/Cargo.toml"].contains("mac = { path = \"../mac\", version = \"0.0.1\" }"));
        assert_eq!(sk.files[".cargo/config.toml"], files[".cargo/config.toml"]);

        let back = Skeleton::from_recipe(&sk.to_recipe()).unwrap();
        assert_eq!(back, sk);
    }

    #[test]
    fn without_dev_targets_new_tests_do_not_matter() {
        let (mut pkgs, files) = workspace();
        drop_dev_targets(&mut pkgs);
        let sk = Skeleton::build(&pkgs, false, |rel| Ok(files.get(rel).cloned())).unwrap();
        assert!(!sk.files.contains_key("app/tests/it.rs"));
        assert!(!sk.files.contains_key("app/benches/raw.rs"));
        let app = &sk.files["app/Cargo.toml"];
        assert!(!app.contains("[[test]]") && !app.contains("[[bench]]"), "{app}");
        assert!(app.contains("autotests = false"), "{app}");

        let (mut more, _) = workspace();
        more[0].targets.push(t("new", TargetKind::Test, &["bin"], "app/tests/new.rs"));
        drop_dev_targets(&mut more);
        assert_eq!(Skeleton::build(&more, false, |rel| Ok(files.get(rel).cloned())).unwrap(), sk);
    }

    #[test]
    fn patch_targets_keep_their_version() {
        let (pkgs, mut files) = workspace();
        files.get_mut("Cargo.toml").unwrap().push_str("[patch.crates-io]\nmac = { path = \"mac\" }\n");
        let sk = Skeleton::build(&pkgs, false, |rel| Ok(files.get(rel).cloned())).unwrap();
        assert!(sk.files["mac/Cargo.toml"].contains("version = \"0.4.0\""));
        assert!(sk.files["Cargo.lock"].contains("name = \"mac\"\nversion = \"0.4.0\""));
        assert!(sk.files["app/Cargo.toml"].contains("mac = { path = \"../mac\", version = \"0.4\" }"));
    }

    #[test]
    fn write_dir_refuses_foreign_directories_and_replaces_old_skeletons() {
        let (pkgs, files) = workspace();
        let sk = Skeleton::build(&pkgs, false, |rel| Ok(files.get(rel).cloned())).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("precious.txt"), "x").unwrap();
        assert!(sk.write_dir(tmp.path()).is_err());
        assert!(tmp.path().join("precious.txt").exists());

        let out = tmp.path().join("sk");
        let mut old = sk.clone();
        old.files.insert("gone/src/lib.rs".into(), String::new());
        old.write_dir(&out).unwrap();
        sk.write_dir(&out).unwrap();
        assert!(!out.join("gone/src/lib.rs").exists());
        assert_eq!(fs::read_to_string(out.join("app/Cargo.toml")).unwrap(), sk.files["app/Cargo.toml"]);
    }

    /// A previous skeleton whose directories or files were replaced by
    /// symlinks: a second prepare refuses before it touches anything, and
    /// what the links point to survives.
    #[test]
    fn write_dir_never_writes_or_removes_through_symlinks() {
        let (pkgs, files) = workspace();
        let sk = Skeleton::build(&pkgs, false, |rel| Ok(files.get(rel).cloned())).unwrap();
        let mut old = sk.clone();
        old.files.insert("gone/tests/t.rs".into(), String::new());
        let tmp = tempfile::tempdir().unwrap();
        let (out, outside) = (tmp.path().join("sk"), tmp.path().join("outside"));
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("t.rs"), "canary").unwrap();
        fs::write(outside.join("Cargo.toml"), "canary").unwrap();
        for (link, to) in [("gone/tests", outside.clone()), ("app/Cargo.toml", outside.join("Cargo.toml"))] {
            old.write_dir(&out).unwrap();
            let link = out.join(link);
            if link.is_dir() {
                fs::remove_dir_all(&link).unwrap();
            } else {
                fs::remove_file(&link).unwrap();
            }
            std::os::unix::fs::symlink(&to, &link).unwrap();
            let err = sk.write_dir(&out).unwrap_err();
            assert!(format!("{err:#}").contains("is a symlink"), "{err:#}");
            assert_eq!(fs::read_to_string(outside.join("t.rs")).unwrap(), "canary");
            assert_eq!(fs::read_to_string(outside.join("Cargo.toml")).unwrap(), "canary");
            fs::remove_file(&link).unwrap();
        }
    }
}
