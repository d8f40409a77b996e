//! Which files in a profile directory belong to a local package: name
//! matching on cargo's layout (`<name>-<16 hex>`, `lib<crate>.*`, ...).

use std::collections::BTreeSet;

/// The names that identify local artifacts, and those of dependencies (to
/// detect clashes).
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Local package names: `.fingerprint/<pkg>-<hash>`, `build/<pkg>-<hash>`.
    pub packages: BTreeSet<String>,
    /// Crate names of local library targets: `lib<crate>*`, `<crate>.*`.
    pub libs: BTreeSet<String>,
    /// Crate names of every local target but build scripts: `<crate>-<hash>*`.
    pub crates: BTreeSet<String>,
    /// Local binary names as uplifted (dashes kept) and as crate names.
    pub bins: BTreeSet<String>,
    /// Local example names, both spellings.
    pub examples: BTreeSet<String>,
    /// Crate names of dependencies' libraries.
    pub foreign_crates: BTreeSet<String>,
    /// Package names of dependencies.
    pub foreign_packages: BTreeSet<String>,
}

fn crate_name(target: &str) -> String {
    target.replace('-', "_")
}

impl Names {
    pub fn from_metadata(meta: &cargo_metadata::Metadata) -> Names {
        let mut n = Names::default();
        for p in &meta.packages {
            let local = p.source.is_none();
            if !local {
                n.foreign_packages.insert(p.name.to_string());
                n.foreign_crates.extend(p.targets.iter().filter(|t| is_lib(t)).map(|t| crate_name(&t.name)));
                continue;
            }
            n.packages.insert(p.name.to_string());
            for t in &p.targets {
                n.add_target(&t.name, target_role(t));
            }
        }
        n
    }

    /// Add the packages of `Cargo.lock` that have a source (registry, git) as
    /// dependencies: with `cargo metadata --no-deps`, the lock is what names
    /// them. Their library crate names are taken as the package names.
    pub fn add_foreign_from_lock(&mut self, lock: &str) -> anyhow::Result<()> {
        use toml_edit::{DocumentMut, Item};
        let doc: DocumentMut = lock.parse().map_err(|e| anyhow::anyhow!("not valid TOML: {e}"))?;
        let Some(packages) = doc.get("package").and_then(Item::as_array_of_tables) else { return Ok(()) };
        for p in packages.iter().filter(|p| p.contains_key("source")) {
            if let Some(name) = p.get("name").and_then(Item::as_str) {
                self.foreign_packages.insert(name.to_owned());
                self.foreign_crates.insert(crate_name(name));
            }
        }
        Ok(())
    }

    /// Add one local target (used by tests and by `from_metadata`).
    pub fn add_target(&mut self, name: &str, role: Role) {
        let krate = crate_name(name);
        match role {
            Role::Lib => {
                self.libs.insert(krate.clone());
                self.crates.insert(krate);
            }
            Role::Bin => {
                self.bins.insert(name.to_owned());
                self.bins.insert(krate.clone());
                self.crates.insert(krate);
            }
            Role::Example => {
                self.examples.insert(name.to_owned());
                self.examples.insert(krate);
            }
            Role::Test => {
                self.crates.insert(krate);
            }
            Role::Build => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Lib,
    Bin,
    Example,
    /// Tests and benches.
    Test,
    Build,
}

fn is_lib(t: &cargo_metadata::Target) -> bool {
    use cargo_metadata::TargetKind as K;
    t.kind.iter().any(|k| matches!(k, K::Lib | K::RLib | K::DyLib | K::CDyLib | K::StaticLib | K::ProcMacro))
}

fn target_role(t: &cargo_metadata::Target) -> Role {
    if is_lib(t) {
        Role::Lib
    } else if t.is_bin() {
        Role::Bin
    } else if t.is_example() {
        Role::Example
    } else if t.is_custom_build() {
        Role::Build
    } else {
        Role::Test
    }
}

/// `<name>-<16 hex>` followed by nothing or by `.…`: returns the hash.
pub fn hashed<'a>(file: &'a str, name: &str) -> Option<&'a str> {
    let rest = file.strip_prefix(name)?.strip_prefix('-')?;
    let hash = rest.get(..16)?;
    if !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let tail = &rest[16..];
    (tail.is_empty() || tail.starts_with('.')).then_some(hash)
}

/// The kind of directory an entry sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// `.fingerprint/` and `build/`: `<pkg>-<hash>` directories.
    PerPackage,
    Deps,
    Incremental,
    Examples,
    /// The profile directory itself: uplifted files.
    Uplifted,
}

/// Whether `file` in `area` belongs to a local package. `owned` holds the
/// hashes of local fingerprints (used only when a name clashes with a dependency).
pub fn is_local_artifact(names: &Names, area: Area, file: &str, owned: &BTreeSet<String>) -> bool {
    let accept = |krate: &str, hash: Option<&str>| match hash {
        Some(h) if names.foreign_crates.contains(krate) => owned.contains(h),
        _ => true,
    };
    match area {
        Area::PerPackage => names.packages.iter().any(|p| hashed(file, p).is_some() && file.len() == p.len() + 17),
        Area::Deps => {
            for c in &names.libs {
                if let Some(rest) = file.strip_prefix("lib").and_then(|f| f.strip_prefix(c.as_str())) {
                    if rest.starts_with('.') {
                        return true; // unhashed: cdylib/staticlib builds; dependencies always hash
                    }
                    if let Some(h) = hashed(&file[3..], c) {
                        if accept(c, Some(h)) {
                            return true;
                        }
                    }
                }
                if file.strip_prefix(c.as_str()).is_some_and(|r| r.starts_with('.')) {
                    return true; // `<lib>.d`, `<lib>.dll`, `<lib>.pdb`
                }
            }
            names.crates.iter().any(|c| hashed(file, c).is_some_and(|h| accept(c, Some(h))))
        }
        Area::Incremental => {
            file.starts_with("build_script_")
                || names.crates.iter().chain(&names.examples).any(|c| {
                    file.strip_prefix(c.as_str())
                        .and_then(|r| r.strip_prefix('-'))
                        .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()))
                })
        }
        Area::Examples => names.examples.iter().any(|e| {
            let unlib = file.strip_prefix("lib").unwrap_or("");
            [file, unlib].into_iter().any(|f| {
                f == e || f.strip_prefix(e.as_str()).is_some_and(|r| r.starts_with('.')) || hashed(f, e).is_some()
            })
        }),
        Area::Uplifted => {
            names.libs.iter().any(|c| {
                let with = |f: &str| f.strip_prefix(c.as_str()).is_some_and(|r| r.starts_with('.'));
                file.strip_prefix("lib").is_some_and(with) || with(file)
            }) || names
                .bins
                .iter()
                .any(|b| file == b || file.strip_prefix(b.as_str()).is_some_and(|r| r.starts_with('.')))
        }
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    const H: &str = "0123456789abcdef";

    pub fn names() -> Names {
        let mut n = Names::default();
        for p in ["foo", "foo-cli", "mac"] {
            n.packages.insert(p.into());
        }
        n.add_target("foo", Role::Lib);
        n.add_target("foo-cli", Role::Bin);
        n.add_target("demo", Role::Example);
        n.add_target("it", Role::Test);
        n.add_target("mac", Role::Lib);
        n.add_target("build-script-build", Role::Build);
        n.foreign_crates.extend(["itoa".to_owned(), "foo_bar".to_owned(), "it".to_owned()]);
        n.foreign_packages.extend(["itoa".to_owned(), "foo-bar".to_owned()]);
        n
    }

    fn local(area: Area, file: &str) -> bool {
        is_local_artifact(&names(), area, file, &BTreeSet::new())
    }

    #[test]
    fn hashes_are_exactly_sixteen_hex_digits() {
        assert_eq!(hashed(&format!("foo-{H}"), "foo"), Some(H));
        assert_eq!(hashed(&format!("foo-{H}.d"), "foo"), Some(H));
        assert_eq!(hashed(&format!("foo-bar-{H}"), "foo"), None);
        assert_eq!(hashed("foo-0123456789abcde", "foo"), None);
        assert_eq!(hashed("foo-0123456789ABCDEF", "foo"), None);
        assert_eq!(hashed(&format!("foo-{H}0"), "foo"), None);
        assert_eq!(hashed(&format!("foo_{H}"), "foo"), None);
    }

    #[test]
    fn per_package_directories() {
        assert!(local(Area::PerPackage, &format!("foo-{H}")));
        assert!(local(Area::PerPackage, &format!("foo-cli-{H}")));
        assert!(!local(Area::PerPackage, &format!("foo-bar-{H}")), "a dependency named foo-bar");
        assert!(!local(Area::PerPackage, &format!("itoa-{H}")));
        assert!(!local(Area::PerPackage, &format!("foo-{H}.x")));
    }

    #[test]
    fn deps_files() {
        for f in [
            format!("libfoo-{H}.rlib"),
            format!("libfoo-{H}.rmeta"),
            format!("foo-{H}.d"),
            format!("foo-{H}"),
            "libfoo.so".into(),
            "libfoo.a".into(),
            "libfoo.rlib".into(),
            "foo.d".into(),
            format!("foo_cli-{H}"),
            format!("foo_cli-{H}.d"),
            format!("libmac-{H}.so"),
        ] {
            assert!(local(Area::Deps, &f), "{f}");
        }
        for f in [
            format!("libfoo_bar-{H}.rlib"),
            format!("foo_bar-{H}.d"),
            format!("libitoa-{H}.rlib"),
            format!("itoa-{H}.d"),
            "libfoo_bar.so".into(),
            format!("libfoox-{H}.rlib"),
            format!("it-{H}.d"),
        ] {
            assert!(!local(Area::Deps, &f), "{f}");
        }
    }

    #[test]
    fn clashing_names_need_an_owned_hash() {
        let n = names();
        let owned: BTreeSet<String> = [H.to_owned()].into();
        let other = "fedcba9876543210";
        assert!(is_local_artifact(&n, Area::Deps, &format!("it-{H}"), &owned));
        assert!(!is_local_artifact(&n, Area::Deps, &format!("it-{other}.d"), &owned));
    }

    #[test]
    fn incremental_examples_and_uplifted() {
        assert!(local(Area::Incremental, "foo-39w0v8rstupl0"));
        assert!(local(Area::Incremental, "build_script_build-0pj71ua0txirv"));
        assert!(local(Area::Incremental, "foo_cli-1rpwlwev9uhxb"));
        assert!(!local(Area::Incremental, "foo_bar-1rpwlwev9uhxb"));
        assert!(local(Area::Incremental, "demo-2d7qzj33lj5rr"), "examples compile incrementally too");
        assert!(local(Area::Examples, "demo"));
        assert!(local(Area::Examples, "demo.d"));
        assert!(local(Area::Examples, &format!("demo-{H}")));
        assert!(local(Area::Examples, &format!("libdemo-{H}.rlib")));
        assert!(!local(Area::Examples, "demox"));
        for f in ["libfoo.so", "libfoo.a", "libfoo.rlib", "libfoo.d", "foo-cli", "foo-cli.d", "foo_cli.pdb", "foo.dll"]
        {
            assert!(local(Area::Uplifted, f), "{f}");
        }
        for f in ["libfoo_bar.so", "foo-client", "libitoa.rlib", ".cargo-lock", "deps"] {
            assert!(!local(Area::Uplifted, f), "{f}");
        }
    }
}
