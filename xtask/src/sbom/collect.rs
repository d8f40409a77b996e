//! What the SBOM is made of, asked of the tools: `cargo metadata` and
//! `cargo tree` for the crates, `go version -m` for the router's modules
//! (it reads a binary of any architecture); and the independent check of
//! the result, `spdx-tools`' validator in a venv of its own.

use std::path::Path;

use anyhow::{bail, Context, Result};
use cargo_metadata::{DependencyKind, TargetKind};
use xshell::{cmd, Shell};

use super::{Edge, Graph, Inputs, Node};
use crate::{platform::Platform, workspace::Workspace};

/// `spdx-tools` and everything it imports, pinned.
pub const VALIDATOR: [&str; 13] = [
    "spdx-tools==0.8.3",
    "beartype==0.23.1",
    "boolean.py==5.0",
    "click==8.5.1",
    "license-expression==30.4.4",
    "ply==3.11",
    "pyparsing==3.3.3",
    "PyYAML==6.0.4",
    "rdflib==7.6.0",
    "semantic-version==2.10.0",
    "uritools==7.0.1",
    "xmltodict==1.0.4",
    "setuptools==65.5.0",
];

/// What one platform's SBOM describes.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub platform: Platform,
    /// The library's package name.
    pub library: &'a str,
    /// The built router.
    pub router: &'a Path,
    /// The router's Go module directory (its `go.sum`).
    pub router_dir: &'a Path,
    pub version: String,
    /// `SOURCE_DATE_EPOCH`.
    pub created: u64,
}

/// The inputs of [`super::document`] for `req`, from the tools.
pub fn inputs(sh: &Shell, ws: &Workspace, req: &Request) -> Result<Inputs> {
    let triple = req.platform.rust_triple();
    let graph = graph(ws, Some(triple))?;
    let cargo = crate::workspace::cargo();
    let manifest = &ws.manifest;
    let library = req.library;
    let format = "{p}|{f}";
    let tree = cmd!(
        sh,
        "{cargo} tree --locked --package {library} --manifest-path {manifest} --target {triple} --edges normal,build --prefix none --format {format}"
    )
    .quiet()
    .read()
    .with_context(|| format!("`cargo tree` of {library} for {triple} failed"))?;
    let lock_path = ws.path("Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path)
        .with_context(|| format!("cannot read {}: run `cargo generate-lockfile`", lock_path.display()))?;
    let go = which::which("go").context("`go` is not installed: run `cargo xtask doctor --fix`")?;
    let router = req.router;
    let text = cmd!(sh, "{go} version -m {router}")
        .quiet()
        .read()
        .with_context(|| format!("`go version -m {}` failed", router.display()))?;
    let build = super::parse_go_version_m(&text)?;
    // A module without dependencies has no go.sum; then the router may
    // carry no module hash either.
    let sum_path = req.router_dir.join("go.sum");
    let go_sum = match std::fs::read_to_string(&sum_path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        read => read.with_context(|| format!("cannot read {}", sum_path.display()))?,
    };
    super::check_go_sum(&build, &go_sum)?;
    Ok(Inputs {
        platform: req.platform.dir_name().to_string(),
        triple: triple.to_string(),
        version: req.version.clone(),
        created: req.created,
        library: library.to_string(),
        graph,
        features: super::parse_cargo_tree(&tree)?,
        checksums: super::lock_checksums(&lock)?,
        router: build,
    })
}

/// The resolve graph of `ws`, with the dependencies of platform `triple`
/// only when given (`cargo metadata --filter-platform`).
pub fn graph(ws: &Workspace, triple: Option<&str>) -> Result<Graph> {
    let mut opts = vec!["--locked".to_string()];
    if let Some(t) = triple {
        opts.extend(["--filter-platform".to_string(), t.to_string()]);
    }
    let meta = cargo_metadata::MetadataCommand::new()
        .manifest_path(&ws.manifest)
        .other_options(opts)
        .exec()
        .with_context(|| format!("cargo metadata failed for {}", ws.manifest.display()))?;
    let resolve = meta.resolve.as_ref().context("cargo metadata gave no resolve graph")?;
    let mut graph =
        Graph { members: meta.workspace_members.iter().map(|id| id.repr.clone()).collect(), ..Default::default() };
    for node in &resolve.nodes {
        let p = &meta[&node.id];
        let deps = node
            .deps
            .iter()
            .map(|d| {
                let has = |k: DependencyKind| d.dep_kinds.iter().any(|i| i.kind == k);
                Edge { to: d.pkg.repr.clone(), normal: has(DependencyKind::Normal), build: has(DependencyKind::Build) }
            })
            .collect();
        let n = Node {
            name: p.name.to_string(),
            version: p.version.to_string(),
            license: p.license.clone(),
            crates_io: p.source.as_ref().is_some_and(|s| s.is_crates_io()),
            proc_macro: p.targets.iter().any(|t| t.kind.contains(&TargetKind::ProcMacro)),
            deps,
        };
        graph.nodes.insert(node.id.repr.clone(), n);
    }
    Ok(graph)
}

/// `spdx-tools`' validator on `file`, from a venv at `venv` made on first
/// use (python3-venv installed when missing, as root).
pub fn validate(sh: &Shell, venv: &Path, file: &Path) -> Result<()> {
    let python = venv.join("bin/python");
    if !python.is_file() && cmd!(sh, "python3 -m venv {venv}").quiet().ignore_stderr().run().is_err() {
        let _ = std::fs::remove_dir_all(venv);
        crate::install::install(sh, &[crate::install::Need::PythonVenv], Platform::host()?)
            .context("`python3 -m venv` failed and python3-venv could not be installed")?;
        cmd!(sh, "python3 -m venv {venv}").run().context("`python3 -m venv` failed")?;
    }
    // Every time: nothing is fetched when the pins are installed already,
    // and a venv made under other pins is brought to these.
    let pins = VALIDATOR;
    cmd!(sh, "{python} -m pip install --disable-pip-version-check --quiet --only-binary=:all: {pins...}")
        .envs(crate::fsutil::ca_env())
        .run()
        .with_context(|| format!("installing spdx-tools into {} failed (PyPI must be reachable)", venv.display()))?;
    let tool = venv.join("bin/pyspdxtools");
    let out = cmd!(sh, "{tool} --infile {file}").quiet().ignore_status().output()?;
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("spdx-tools finds {} invalid ({}): {}", file.display(), out.status, said.trim());
    }
    eprintln!("spdx-tools: {} is valid SPDX 2.3", file.display());
    if !said.trim().is_empty() {
        eprintln!("{}", said.trim());
    }
    Ok(())
}
