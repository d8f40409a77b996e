//! The data model of a skeleton: the local packages of a workspace and their
//! targets, as `cargo metadata` reports them. Its own file so that the
//! skeleton and the manifest normalisation both use it without importing
//! each other (their methods stay with them).

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetKind {
    Lib,
    Bin,
    Example,
    Test,
    Bench,
    Build,
}

impl TargetKind {
    /// The manifest table of this kind (`build` has none: it is `package.build`).
    pub fn manifest_key(self) -> &'static str {
        match self {
            TargetKind::Lib => "lib",
            TargetKind::Bin => "bin",
            TargetKind::Example => "example",
            TargetKind::Test => "test",
            TargetKind::Bench => "bench",
            TargetKind::Build => "build",
        }
    }
}

/// One target of a local package, as `cargo metadata` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    pub name: String,
    pub kind: TargetKind,
    /// `lib`, `rlib`, `cdylib`, `staticlib`, `proc-macro`, `bin`, ...
    pub crate_types: Vec<String>,
    /// Source path relative to the workspace root, `/`-separated.
    pub src: String,
    pub required_features: Vec<String>,
    pub edition: String,
}

#[cfg(test)]
impl TargetInfo {
    /// A target with no required features, edition 2021 (unit tests).
    pub fn for_test(name: &str, kind: TargetKind, types: &[&str], src: &str) -> TargetInfo {
        TargetInfo {
            name: name.into(),
            kind,
            crate_types: types.iter().map(|s| s.to_string()).collect(),
            src: src.into(),
            required_features: vec![],
            edition: "2021".into(),
        }
    }
}

/// A package built from local sources (a workspace member or a path dependency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPackage {
    pub name: String,
    pub version: String,
    /// Manifest path relative to the workspace root, `/`-separated.
    pub manifest: String,
    pub edition: String,
    pub member: bool,
    pub targets: Vec<TargetInfo>,
}
