//! Normalisation of `Cargo.toml` files for the skeleton (pure: text in, text out).
//!
//! A normalised manifest changes only when something that affects how the
//! *dependencies* are built changes:
//! - every target is explicit (name, path, crate types, required features and
//!   the harness/test/doc flags of the original), auto-discovery is off, and
//!   the build script path is explicit (`build = false` when there is none);
//! - versions of workspace members are masked to [`MASKED_VERSION`], as are
//!   path-dependency version requirements on them and `[workspace.package].version`;
//! - `[lints]`, `[workspace.lints]`, `[badges]` and package fields irrelevant to
//!   building (description, authors, ...) are dropped;
//! - comments and layout are dropped, keys are sorted: the output is a
//!   function of the manifest's meaning, not of its formatting.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use toml_edit::{value, Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use super::package::{LocalPackage, TargetInfo, TargetKind};

/// The version every masked workspace package gets in the skeleton.
pub const MASKED_VERSION: &str = "0.0.1";

/// `[package]` (and `[workspace.package]`) fields that never influence a build.
pub const DROPPED_PACKAGE_KEYS: &[&str] = &[
    "authors",
    "categories",
    "description",
    "documentation",
    "exclude",
    "homepage",
    "include",
    "keywords",
    "license",
    "license-file",
    "publish",
    "readme",
    "repository",
];

/// Top-level tables that never influence how dependencies are built.
const DROPPED_ROOT_KEYS: &[&str] = &["badges", "lints"];

/// Target tables, regenerated from `cargo metadata`.
const TARGET_KEYS: &[&str] = &["lib", "bin", "example", "test", "bench"];

/// Flags of a target table that metadata does not report; copied verbatim.
const COPIED_TARGET_FLAGS: &[&str] = &["bench", "doc", "doc-scrape-examples", "doctest", "harness", "test"];

/// Dependency table names (the underscore spellings are legacy aliases).
const DEP_TABLES: &[&str] =
    &["dependencies", "dev-dependencies", "dev_dependencies", "build-dependencies", "build_dependencies"];

/// What the normaliser needs to know about the whole workspace.
#[derive(Debug, Clone, Default)]
pub struct MaskSet {
    /// Package names whose version is masked.
    pub names: BTreeSet<String>,
    /// Whether `[workspace.package].version` is masked (every package that
    /// inherits it is masked).
    pub workspace_version: bool,
}

impl MaskSet {
    fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// Normalise one manifest. `package` is the package this manifest declares
/// (None for a virtual workspace manifest).
pub fn normalize_manifest(text: &str, package: Option<&LocalPackage>, mask: &MaskSet) -> Result<String> {
    let mut doc: DocumentMut = text.parse().context("not a valid TOML document")?;
    let root = doc.as_table_mut();

    for key in DROPPED_ROOT_KEYS {
        root.remove(key);
    }
    let original_targets: BTreeMap<&str, Item> =
        TARGET_KEYS.iter().filter_map(|k| Some((*k, root.remove(k)?))).collect();

    let pkg_key = ["package", "project"].into_iter().find(|k| root.contains_key(k));
    match (pkg_key, package) {
        (Some(key), Some(pkg)) => {
            let table = root[key].as_table_like_mut().with_context(|| format!("`{key}` is not a table"))?;
            normalize_package_table(table, pkg, mask)?;
            for (key, item) in target_tables(pkg, &original_targets)? {
                root.insert(key, item);
            }
        }
        (None, Some(pkg)) => bail!("package {} has no [package] table", pkg.name),
        (Some(key), None) => bail!("unexpected [{key}] table in a virtual manifest"),
        (None, None) => {}
    }

    for dep_table in DEP_TABLES {
        if let Some(deps) = root.get_mut(dep_table).and_then(Item::as_table_like_mut) {
            mask_dependency_requirements(deps, mask);
        }
    }
    if let Some(targets) = root.get_mut("target").and_then(Item::as_table_like_mut) {
        for (_, cfg) in targets.iter_mut() {
            let Some(cfg) = cfg.as_table_like_mut() else { continue };
            for dep_table in DEP_TABLES {
                if let Some(deps) = cfg.get_mut(dep_table).and_then(Item::as_table_like_mut) {
                    mask_dependency_requirements(deps, mask);
                }
            }
        }
    }
    if let Some(ws) = root.get_mut("workspace").and_then(Item::as_table_like_mut) {
        ws.remove("lints");
        if let Some(wp) = ws.get_mut("package").and_then(Item::as_table_like_mut) {
            for key in DROPPED_PACKAGE_KEYS {
                wp.remove(key);
            }
            if mask.workspace_version && wp.contains_key("version") {
                wp.insert("version", value(MASKED_VERSION));
            }
        }
        if let Some(deps) = ws.get_mut("dependencies").and_then(Item::as_table_like_mut) {
            mask_dependency_requirements(deps, mask);
        }
    }

    Ok(canonical_document(doc.as_table()).to_string())
}

fn normalize_package_table(table: &mut dyn TableLike, pkg: &LocalPackage, mask: &MaskSet) -> Result<()> {
    for key in DROPPED_PACKAGE_KEYS {
        table.remove(key);
    }
    if mask.contains(&pkg.name) {
        let inherited = table.get("version").is_some_and(|v| v.is_table_like());
        if !inherited {
            table.insert("version", value(MASKED_VERSION));
        }
    }
    // The build script, explicit (or explicitly none).
    table.remove("build");
    match pkg.targets.iter().find(|t| t.kind == TargetKind::Build) {
        Some(build) => table.insert("build", value(pkg.target_path(build))),
        None => table.insert("build", value(false)),
    };
    for key in ["autobins", "autoexamples", "autotests", "autobenches"] {
        table.insert(key, value(false));
    }
    Ok(())
}

/// The `[lib]`, `[[bin]]`, `[[example]]`, `[[test]]` and `[[bench]]` tables of
/// a package, from metadata, with the flags metadata lacks taken from the
/// original tables (matched by name).
fn target_tables(pkg: &LocalPackage, original: &BTreeMap<&str, Item>) -> Result<Vec<(&'static str, Item)>> {
    let mut out = Vec::new();
    let mut targets: Vec<&TargetInfo> = pkg.targets.iter().filter(|t| t.kind != TargetKind::Build).collect();
    targets.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));

    let mut arrays: BTreeMap<&'static str, ArrayOfTables> = BTreeMap::new();
    for target in targets {
        let key = target.kind.manifest_key();
        let orig = original_target(original.get(key), target);
        let table = target_table(pkg, target, orig);
        if target.kind == TargetKind::Lib {
            if out.iter().any(|(k, _)| *k == "lib") {
                bail!("package {} has more than one library target", pkg.name);
            }
            out.push(("lib", Item::Table(table)));
        } else {
            arrays.entry(key).or_default().push(table);
        }
    }
    for key in ["bin", "example", "test", "bench"] {
        if let Some(array) = arrays.remove(key) {
            out.push((key, Item::ArrayOfTables(array)));
        }
    }
    Ok(out)
}

fn original_target<'a>(item: Option<&'a Item>, target: &TargetInfo) -> Option<&'a dyn TableLike> {
    let item = item?;
    if target.kind == TargetKind::Lib {
        return item.as_table_like();
    }
    let name_of = |t: &dyn TableLike| t.get("name").and_then(Item::as_str).map(str::to_owned);
    match item {
        Item::ArrayOfTables(array) => {
            array.iter().find(|t| name_of(*t).as_deref() == Some(target.name.as_str())).map(|t| t as &dyn TableLike)
        }
        Item::Value(Value::Array(array)) => array
            .iter()
            .filter_map(Value::as_inline_table)
            .find(|t| name_of(*t).as_deref() == Some(target.name.as_str()))
            .map(|t| t as &dyn TableLike),
        _ => None,
    }
}

fn target_table(pkg: &LocalPackage, target: &TargetInfo, orig: Option<&dyn TableLike>) -> Table {
    let mut t = Table::new();
    t.insert("name", value(&target.name));
    t.insert("path", value(pkg.target_path(target)));
    let default_types: &[&str] = match target.kind {
        TargetKind::Lib => &["lib"],
        _ => &["bin"],
    };
    if target.crate_types == ["proc-macro"] {
        t.insert("proc-macro", value(true));
    } else if target.crate_types.iter().map(String::as_str).ne(default_types.iter().copied()) {
        t.insert("crate-type", value(string_array(&target.crate_types)));
    }
    if target.edition != pkg.edition {
        t.insert("edition", value(&target.edition));
    }
    if !target.required_features.is_empty() {
        t.insert("required-features", value(string_array(&target.required_features)));
    }
    if let Some(orig) = orig {
        for key in COPIED_TARGET_FLAGS {
            if let Some(v) = orig.get(key).and_then(Item::as_value) {
                t.insert(key, Item::Value(v.clone()));
            }
        }
    }
    t
}

fn string_array(items: &[String]) -> Array {
    items.iter().map(String::as_str).collect()
}

/// In a dependency table, set the version requirement of every path
/// dependency on a masked package to [`MASKED_VERSION`].
pub fn mask_dependency_requirements(deps: &mut dyn TableLike, mask: &MaskSet) {
    for (key, dep) in deps.iter_mut() {
        let Some(dep) = dep.as_table_like_mut() else { continue };
        if !dep.contains_key("path") || !dep.contains_key("version") {
            continue;
        }
        let name = dep.get("package").and_then(Item::as_str).unwrap_or(key.get()).to_owned();
        if mask.contains(&name) {
            dep.insert("version", value(MASKED_VERSION));
        }
    }
}

/// Root keys first in this order, then the rest sorted.
const ROOT_ORDER: &[&str] = &["cargo-features", "package", "project", "lib", "bin", "example", "test", "bench"];

/// Rebuild a document from scratch: no comments, default spacing, sorted keys,
/// dotted keys as inline tables.
pub fn canonical_document(root: &Table) -> DocumentMut {
    let mut keys: Vec<(&str, &Item)> = root.iter().collect();
    keys.sort_by_key(|(k, _)| {
        let rank = ROOT_ORDER.iter().position(|o| o == k).unwrap_or(ROOT_ORDER.len());
        (rank, k.to_string())
    });
    let mut out = Table::new();
    for (k, item) in keys {
        if let Some(item) = canonical_item(item) {
            out.insert(k, item);
        }
    }
    DocumentMut::from(out)
}

fn canonical_item(item: &Item) -> Option<Item> {
    Some(match item {
        Item::None => return None,
        Item::Value(v) => Item::Value(canonical_value(v)),
        Item::Table(t) if t.is_dotted() => Item::Value(Value::InlineTable(inline_of_table(t))),
        Item::Table(t) => Item::Table(canonical_table(t)),
        Item::ArrayOfTables(a) => {
            let mut out = ArrayOfTables::new();
            for t in a.iter() {
                out.push(canonical_table(t));
            }
            Item::ArrayOfTables(out)
        }
    })
}

fn canonical_table(t: &Table) -> Table {
    let mut keys: Vec<(&str, &Item)> = t.iter().collect();
    keys.sort_by_key(|(k, _)| *k);
    let mut out = Table::new();
    for (k, item) in keys {
        if let Some(item) = canonical_item(item) {
            out.insert(k, item);
        }
    }
    // An empty table is meaningful (`[workspace]`): keep its header. A table
    // with only sub-tables needs none.
    out.set_implicit(!out.is_empty());
    out
}

fn inline_of_table(t: &Table) -> InlineTable {
    let mut keys: Vec<(&str, &Item)> = t.iter().collect();
    keys.sort_by_key(|(k, _)| *k);
    let mut out = InlineTable::new();
    for (k, item) in keys {
        let v = match item {
            Item::Value(v) => canonical_value(v),
            Item::Table(t) => Value::InlineTable(inline_of_table(t)),
            Item::ArrayOfTables(a) => Value::Array(a.iter().map(|t| Value::InlineTable(inline_of_table(t))).collect()),
            Item::None => continue,
        };
        out.insert(k, v);
    }
    out
}

fn canonical_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::from(s.value().as_str()),
        Value::Integer(i) => Value::from(*i.value()),
        Value::Float(f) => Value::from(*f.value()),
        Value::Boolean(b) => Value::from(*b.value()),
        Value::Datetime(d) => Value::from(*d.value()),
        Value::Array(a) => Value::Array(a.iter().map(canonical_value).collect()),
        Value::InlineTable(t) => {
            let mut keys: Vec<(&str, &Value)> = t.iter().collect();
            keys.sort_by_key(|(k, _)| *k);
            let mut out = InlineTable::new();
            for (k, v) in keys {
                out.insert(k, canonical_value(v));
            }
            Value::InlineTable(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::precache::skeleton::{LocalPackage, TargetInfo, TargetKind};

    fn target(name: &str, kind: TargetKind, types: &[&str], src: &str) -> TargetInfo {
        TargetInfo::for_test(name, kind, types, src)
    }

    fn pkg(name: &str, dir: &str, targets: Vec<TargetInfo>) -> LocalPackage {
        LocalPackage {
            name: name.into(),
            version: "0.3.0".into(),
            manifest: if dir.is_empty() { "Cargo.toml".into() } else { format!("{dir}/Cargo.toml") },
            edition: "2021".into(),
            member: true,
            targets,
        }
    }

    fn mask(names: &[&str]) -> MaskSet {
        MaskSet { names: names.iter().map(|s| s.to_string()).collect(), workspace_version: true }
    }

    const FFI: &str = r#"
# The C ABI.
[package]
name = "ffi"
version = "0.3.0"   # bumped on every release
description = "the C ABI"
authors = ["someone"]
edition = "2021"
readme = "README.md"
keywords = ["ffi"]
links = "ffi"

[lib]
crate-type = ["cdylib", "staticlib", "rlib"]

[[bin]]
name = "ffi-cli"
required-features = ["cli"]

[[bench]]
name = "speed"
harness = false

[features]
cli = []

[dependencies]
core = { path = "../core", version = "0.3" }
fmt = { package = "fx-fmt", path = "../fmt", version = "0.3.0" }
itoa = "1"

[target.'cfg(unix)'.dependencies]
cfg-if = "1"

[lints]
workspace = true
"#;

    fn ffi_pkg() -> LocalPackage {
        let mut cli = target("ffi-cli", TargetKind::Bin, &["bin"], "ffi/src/bin/ffi-cli.rs");
        cli.required_features = vec!["cli".into()];
        pkg(
            "ffi",
            "ffi",
            vec![
                target("ffi", TargetKind::Lib, &["cdylib", "staticlib", "rlib"], "ffi/src/lib.rs"),
                cli,
                target("speed", TargetKind::Bench, &["bin"], "ffi/benches/speed.rs"),
                target("build-script-build", TargetKind::Build, &["bin"], "ffi/build.rs"),
            ],
        )
    }

    #[test]
    fn package_manifest_is_normalised() {
        let out = normalize_manifest(FFI, Some(&ffi_pkg()), &mask(&["ffi", "core", "fx-fmt"])).unwrap();
        let expected = r#"[package]
autobenches = false
autobins = false
autoexamples = false
autotests = false
build = "build.rs"
edition = "2021"
links = "ffi"
name = "ffi"
version = "0.0.1"

[lib]
crate-type = ["cdylib", "staticlib", "rlib"]
name = "ffi"
path = "src/lib.rs"

[[bin]]
name = "ffi-cli"
path = "src/bin/ffi-cli.rs"
required-features = ["cli"]

[[bench]]
harness = false
name = "speed"
path = "benches/speed.rs"

[dependencies]
core = { path = "../core", version = "0.0.1" }
fmt = { package = "fx-fmt", path = "../fmt", version = "0.0.1" }
itoa = "1"

[features]
cli = []

[target."cfg(unix)".dependencies]
cfg-if = "1"
"#;
        assert_eq!(out, expected);
    }

    #[test]
    fn formatting_and_irrelevant_fields_do_not_matter() {
        let a = normalize_manifest(FFI, Some(&ffi_pkg()), &mask(&["ffi"])).unwrap();
        let edited = FFI
            .replace("# The C ABI.", "# another comment")
            .replace("version = \"0.3.0\"   # bumped on every release", "version = \"9.9.9\"")
            .replace("the C ABI", "a new description")
            .replace("cli = []", "cli   =   [ ]");
        let b = normalize_manifest(&edited, Some(&ffi_pkg()), &mask(&["ffi"])).unwrap();
        assert_eq!(a, b);
        let changed = FFI.replace("itoa = \"1\"", "itoa = \"1.0.5\"");
        let c = normalize_manifest(&changed, Some(&ffi_pkg()), &mask(&["ffi"])).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn unmasked_packages_keep_their_versions() {
        let out = normalize_manifest(FFI, Some(&ffi_pkg()), &mask(&[])).unwrap();
        assert!(out.contains("version = \"0.3.0\""), "{out}");
        assert!(out.contains("core = { path = \"../core\", version = \"0.3\" }"), "{out}");
    }

    #[test]
    fn inherited_versions_and_workspace_tables() {
        let root = r#"
[workspace]
members = ["a"]
resolver = "2"

[workspace.package]
version = "1.2.3"
edition = "2021"
authors = ["x"]
repository = "https://example.com"

[workspace.dependencies]
a = { path = "a", version = "1.2" }
itoa = "1"

[workspace.lints.rust]
unsafe_code = "forbid"

[profile.release]
lto = "thin"
"#;
        let out = normalize_manifest(root, None, &mask(&["a"])).unwrap();
        let expected = r#"[profile.release]
lto = "thin"

[workspace]
members = ["a"]
resolver = "2"

[workspace.dependencies]
a = { path = "a", version = "0.0.1" }
itoa = "1"

[workspace.package]
edition = "2021"
version = "0.0.1"
"#;
        assert_eq!(out, expected);

        let member =
            "[package]\nname = \"a\"\nversion.workspace = true\nedition.workspace = true\n[lints]\nworkspace = true\n";
        let a = pkg("a", "a", vec![target("a", TargetKind::Lib, &["lib"], "a/src/lib.rs")]);
        let out = normalize_manifest(member, Some(&a), &mask(&["a"])).unwrap();
        assert!(out.contains("version = { workspace = true }"), "{out}");
        assert!(out.contains("build = false"), "{out}");
        assert!(!out.contains("lints"), "{out}");
    }

    #[test]
    fn missing_version_gets_the_masked_one() {
        let a = pkg("a", "", vec![target("a", TargetKind::Bin, &["bin"], "src/main.rs")]);
        let out = normalize_manifest("[package]\nname = \"a\"\n", Some(&a), &mask(&["a"])).unwrap();
        assert!(out.contains("version = \"0.0.1\""), "{out}");
        assert!(out.contains("[[bin]]\nname = \"a\"\npath = \"src/main.rs\"\n"), "{out}");
    }

    #[test]
    fn proc_macro_and_per_target_edition() {
        let mut lib = target("m", TargetKind::Lib, &["proc-macro"], "m/src/lib.rs");
        lib.edition = "2018".into();
        let m = pkg("m", "m", vec![lib]);
        let text = "[package]\nname = \"m\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[lib]\nproc-macro = true\ndoctest = false\n";
        let out = normalize_manifest(text, Some(&m), &mask(&["m"])).unwrap();
        assert!(
            out.contains(
                "[lib]\ndoctest = false\nedition = \"2018\"\nname = \"m\"\npath = \"src/lib.rs\"\nproc-macro = true\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn bad_manifests_are_errors() {
        let a = pkg("a", "", vec![]);
        assert!(normalize_manifest("[package\n", Some(&a), &mask(&[])).is_err());
        assert!(normalize_manifest("[workspace]\n", Some(&a), &mask(&[])).is_err());
        assert!(normalize_manifest("[package]\nname = \"a\"\n", None, &mask(&[])).is_err());
    }
}
