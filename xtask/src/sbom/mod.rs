//! The SBOM of one `dist` platform: an SPDX 2.3 JSON document, as pure
//! functions of what the build tools say (parsed here, run in
//! [`collect`]).
//!
//! SPDX rather than CycloneDX: its relationship types say what the tree is
//! made of (the router `CONTAINS` its Go modules and `DEPENDS_ON` the
//! library, the library `CONTAINS` the crates linked into it, a build
//! script's or proc-macro's crate is a `BUILD_DEPENDENCY_OF` it), and
//! `spdx-tools`, the reference implementation, validates the whole
//! document, relationships and license expressions included.
//!
//! What the document lists:
//! - the crates compiled for the library: reached from the library's node of
//!   `cargo metadata --filter-platform <triple>`'s resolve graph through
//!   normal and build edges (never dev ones), each with the features
//!   `cargo tree` says the library's build enables (the resolve graph's
//!   features are the whole workspace's union), its `Cargo.lock` checksum
//!   and its license;
//! - the Go modules linked into the router (`go version -m`), each with its
//!   `go.sum` hash, which must agree with `go.sum`.
//!
//! Nothing in it depends on the machine or the time of the build: the
//! creation time is `SOURCE_DATE_EPOCH`, and the namespace is derived from
//! the document's own content.

pub mod cli;
pub mod collect;
pub mod generator;
pub mod image;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// The SBOM's file name in a dist tree.
pub const FILE: &str = "sbom.spdx.json";

/// A crate of the resolve graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub version: String,
    /// The manifest's `license`, as cargo metadata gives it.
    pub license: Option<String>,
    /// From crates.io (else a path, git or another registry).
    pub crates_io: bool,
    pub proc_macro: bool,
    pub deps: Vec<Edge>,
}

/// A dependency edge of the resolve graph: the kinds it has (one edge may
/// be both a normal and a build dependency; one that is neither is a
/// dev-dependency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub to: String,
    pub normal: bool,
    pub build: bool,
}

/// The resolve graph, keyed by cargo's package id.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub nodes: BTreeMap<String, Node>,
    /// The workspace members' ids.
    pub members: Vec<String>,
}

/// How a crate takes part in the library's build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Compiled for the target and linked into the library.
    Linked,
    /// Compiled for the build machine only: a proc-macro, or what only a
    /// build script or a proc-macro uses.
    Build,
}

impl Graph {
    /// The id of the package named `name`.
    pub fn id_of(&self, name: &str) -> Result<&str> {
        let mut ids = self.nodes.iter().filter(|(_, n)| n.name == name).map(|(id, _)| id.as_str());
        let id = ids.next().with_context(|| format!("no package `{name}` in the resolve graph of the workspace"))?;
        if ids.next().is_some() {
            bail!("more than one package `{name}` in the resolve graph: name the one the SBOM is of");
        }
        Ok(id)
    }

    /// The crates compiled to build `root`, `root` excluded: reached through
    /// normal and build edges. Linked are those reached from `root` through
    /// normal edges without entering a proc-macro; every other one is built
    /// for the build machine.
    pub fn compiled(&self, root: &str) -> Result<BTreeMap<String, Role>> {
        let reached = self.reach(&[root], |e| e.normal || e.build, |_| true)?;
        let linked = self.reach(&[root], |e| e.normal, |n| !n.proc_macro)?;
        Ok(reached
            .into_iter()
            .filter(|id| id != root)
            .map(|id| {
                let role = if linked.contains(&id) { Role::Linked } else { Role::Build };
                (id, role)
            })
            .collect())
    }

    /// The crates of the workspace that only dev-dependencies bring in:
    /// reached from a member through any edge, but from no member through
    /// normal and build edges.
    pub fn dev_only(&self) -> Result<BTreeSet<String>> {
        let roots: Vec<&str> = self.members.iter().map(String::as_str).collect();
        let all = self.reach(&roots, |_| true, |_| true)?;
        let built = self.reach(&roots, |e| e.normal || e.build, |_| true)?;
        Ok(all.difference(&built).cloned().collect())
    }

    /// The ids reached from `roots` through edges that `follow`, entering
    /// only nodes that `enter` accepts (the roots always).
    fn reach(
        &self,
        roots: &[&str],
        follow: impl Fn(&Edge) -> bool,
        enter: impl Fn(&Node) -> bool,
    ) -> Result<BTreeSet<String>> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = roots.iter().map(|r| r.to_string()).collect();
        while let Some(id) = stack.pop() {
            if seen.contains(&id) {
                continue;
            }
            let node = self.node(&id)?;
            seen.insert(id);
            for edge in node.deps.iter().filter(|e| follow(e)) {
                if !seen.contains(&edge.to) && enter(self.node(&edge.to)?) {
                    stack.push(edge.to.clone());
                }
            }
        }
        Ok(seen)
    }

    fn node(&self, id: &str) -> Result<&Node> {
        self.nodes.get(id).with_context(|| format!("the resolve graph names `{id}` but has no node for it"))
    }
}

/// `(name, version)`: how `cargo tree` and `Cargo.lock` name a crate.
pub type NameVersion = (String, String);

/// The features of each crate from `cargo tree -f '{p}|{f}' --prefix none`
/// (lines `name vX.Y.Z[ (source)]|f1,f2[ (*)]`), a crate listed twice (for
/// the target and for the build machine) with the union of both.
pub fn parse_cargo_tree(text: &str) -> Result<BTreeMap<NameVersion, BTreeSet<String>>> {
    let mut out: BTreeMap<NameVersion, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let line = line.strip_suffix(" (*)").unwrap_or(line);
        let (package, features) =
            line.split_once('|').with_context(|| format!("`cargo tree` printed `{line}`, not `{{p}}|{{f}}`"))?;
        let mut words = package.split_whitespace();
        let (Some(name), Some(version)) = (words.next(), words.next().and_then(|v| v.strip_prefix('v'))) else {
            bail!("`cargo tree` printed `{line}`: no `name vVERSION`");
        };
        let set = out.entry((name.to_string(), version.to_string())).or_default();
        set.extend(features.split(',').filter(|f| !f.is_empty()).map(str::to_string));
    }
    Ok(out)
}

/// The `checksum` of each registry package of a `Cargo.lock`.
pub fn lock_checksums(lock: &str) -> Result<BTreeMap<NameVersion, String>> {
    let doc: toml_edit::DocumentMut = lock.parse().context("Cargo.lock is not TOML")?;
    let mut out = BTreeMap::new();
    let Some(packages) = doc.get("package").and_then(|p| p.as_array_of_tables()) else {
        return Ok(out);
    };
    for p in packages {
        let s = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_string);
        if let (Some(name), Some(version), Some(sum)) = (s("name"), s("version"), s("checksum")) {
            out.insert((name, version), sum);
        }
    }
    Ok(out)
}

/// A Go module linked into a binary, as `go version -m` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoModule {
    pub path: String,
    pub version: String,
    /// The `go.sum` hash (`h1:…`); none for a module replaced by a directory.
    pub sum: Option<String>,
    /// `=> path version [sum]`: what replaced it.
    pub replace: Option<Box<GoModule>>,
}

/// What `go version -m` says of a Go binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoBuild {
    /// `go1.26.0`.
    pub go: String,
    /// The main package's import path.
    pub path: String,
    pub deps: Vec<GoModule>,
}

/// Parse `go version -m FILE`: the first line `FILE: goX`, then
/// tab-separated `path`, `mod`, `dep`, `=>` and `build` lines.
pub fn parse_go_version_m(text: &str) -> Result<GoBuild> {
    let mut lines = text.lines();
    let first = lines.next().context("`go version -m` printed nothing")?;
    let go = first
        .rsplit_once(": ")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| v.starts_with("go"))
        .with_context(|| format!("`go version -m` printed `{first}`: is the file a Go binary?"))?;
    let mut build = GoBuild { go, path: String::new(), deps: Vec::new() };
    for line in lines {
        let fields: Vec<&str> = line.trim_start_matches('\t').split('\t').collect();
        let module = |f: &[&str]| -> Result<GoModule> {
            let (Some(path), Some(version)) = (f.get(1), f.get(2)) else {
                bail!("`go version -m` printed `{line}`: no module path and version");
            };
            let sum = f.get(3).map(|s| s.trim()).filter(|s| !s.is_empty()).map(str::to_string);
            Ok(GoModule { path: path.to_string(), version: version.to_string(), sum, replace: None })
        };
        match fields[0] {
            "path" => build.path = fields.get(1).unwrap_or(&"").to_string(),
            "dep" => build.deps.push(module(&fields)?),
            "=>" => {
                let replaced = module(&fields)?;
                let dep =
                    build.deps.last_mut().with_context(|| format!("`go version -m`: `{line}` replaces nothing"))?;
                dep.replace = Some(Box::new(replaced));
            }
            _ => {}
        }
    }
    if build.path.is_empty() {
        bail!("`go version -m` printed no `path` line: is the file a Go program?");
    }
    build.deps.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(build)
}

/// Every module hash the binary carries must be `go.sum`'s for that module
/// and version.
pub fn check_go_sum(build: &GoBuild, go_sum: &str) -> Result<()> {
    let sums: BTreeSet<(&str, &str, &str)> = go_sum
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?, w.next()?, w.next()?))
        })
        .collect();
    for m in build.deps.iter().flat_map(|d| std::iter::once(d).chain(d.replace.as_deref())) {
        if let Some(sum) = &m.sum {
            if !sums.contains(&(m.path.as_str(), m.version.as_str(), sum.as_str())) {
                bail!(
                    "the router links {} {} with hash {sum}, which go.sum does not list: run `cargo xtask precache go` (go mod verify), then rebuild the router from this tree",
                    m.path,
                    m.version
                );
            }
        }
    }
    Ok(())
}

/// Everything one platform's SBOM is made of.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// `linux-amd64`: the dist tree's name.
    pub platform: String,
    /// The Rust target triple the library was built for.
    pub triple: String,
    /// The project's version (the router's `main.version`).
    pub version: String,
    /// `SOURCE_DATE_EPOCH`.
    pub created: u64,
    /// The library's package name in `graph`.
    pub library: String,
    pub graph: Graph,
    pub features: BTreeMap<NameVersion, BTreeSet<String>>,
    pub checksums: BTreeMap<NameVersion, String>,
    pub router: GoBuild,
}

const ROUTER_ID: &str = "SPDXRef-Package-router";
const LIBRARY_ID: &str = "SPDXRef-Package-library";
const NOASSERTION: &str = "NOASSERTION";

/// The SPDX 2.3 document of `inputs`, rendered (pretty JSON, keys sorted,
/// one final newline).
pub fn document(inputs: &Inputs) -> Result<String> {
    let mut doc = document_value(inputs)?;
    let name = doc["name"].as_str().unwrap_or_default().to_string();
    let digest: String = {
        use sha2::Digest;
        sha2::Sha256::digest(render(&doc)?.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    };
    doc["documentNamespace"] = json!(format!("https://github.com/vllm-project/semantic-router/spdx/{name}-{digest}"));
    render(&doc)
}

fn render(doc: &Value) -> Result<String> {
    Ok(serde_json::to_string_pretty(doc)? + "\n")
}

/// The document without its namespace.
fn document_value(inputs: &Inputs) -> Result<Value> {
    let g = &inputs.graph;
    let root = g.id_of(&inputs.library)?;
    let compiled = g.compiled(root)?;
    let lib = g.node(root)?;
    let mut ids = SpdxIds::default();
    let mut ids_of: BTreeMap<&str, String> = BTreeMap::new();
    ids_of.insert(root, LIBRARY_ID.to_string());
    let mut packages = vec![
        json!({
            "SPDXID": ROUTER_ID,
            "name": inputs.router.path,
            "versionInfo": inputs.version,
            "primaryPackagePurpose": "APPLICATION",
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": false,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": NOASSERTION,
            "copyrightText": NOASSERTION,
            "comment": format!("bin/extproc for {}, built with {}", inputs.platform, inputs.router.go),
        }),
        json!({
            "SPDXID": LIBRARY_ID,
            "name": lib.name,
            "versionInfo": lib.version,
            "primaryPackagePurpose": "LIBRARY",
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": false,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": license(lib.license.as_deref()),
            "copyrightText": NOASSERTION,
            "comment": format!(
                "lib/libcandle_semantic_router.so and .a for {}; {}",
                inputs.triple,
                features_text(inputs, lib)
            ),
        }),
    ];
    let mut relationships = vec![
        rel("SPDXRef-DOCUMENT", "DESCRIBES", ROUTER_ID),
        rel("SPDXRef-DOCUMENT", "DESCRIBES", LIBRARY_ID),
        rel(ROUTER_ID, "DEPENDS_ON", LIBRARY_ID),
    ];
    for (id, role) in &compiled {
        let node = g.node(id)?;
        let spdx = ids.make("Crate", &node.name, &node.version);
        ids_of.insert(id, spdx.clone());
        let key = (node.name.clone(), node.version.clone());
        let mut p = json!({
            "SPDXID": spdx,
            "name": node.name,
            "versionInfo": node.version,
            "primaryPackagePurpose": "LIBRARY",
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": false,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": license(node.license.as_deref()),
            "copyrightText": NOASSERTION,
        });
        let mut comment = features_text(inputs, node);
        if *role == Role::Build {
            comment += "; compiled for the build machine (a proc-macro or a build script's dependency), not linked";
        }
        p["comment"] = json!(comment);
        if node.crates_io {
            p["downloadLocation"] =
                json!(format!("https://crates.io/api/v1/crates/{}/{}/download", node.name, node.version));
            p["externalRefs"] = json!([purl(&format!("pkg:cargo/{}@{}", node.name, node.version))]);
        }
        if let Some(sum) = inputs.checksums.get(&key) {
            p["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": sum }]);
        }
        packages.push(p);
        relationships.push(match role {
            Role::Linked => rel(LIBRARY_ID, "CONTAINS", &ids_of[id.as_str()]),
            Role::Build => rel(&ids_of[id.as_str()], "BUILD_DEPENDENCY_OF", LIBRARY_ID),
        });
    }
    for (id, from) in &ids_of {
        for edge in &g.node(id)?.deps {
            let Some(to) = ids_of.get(edge.to.as_str()) else { continue };
            if edge.normal {
                relationships.push(rel(from, "DEPENDS_ON", to));
            }
            if edge.build {
                relationships.push(rel(to, "BUILD_DEPENDENCY_OF", from));
            }
        }
    }
    for m in &inputs.router.deps {
        let spdx = ids.make("GoModule", &m.path, &m.version);
        packages.push(go_package(&spdx, m)?);
        relationships.push(rel(ROUTER_ID, "CONTAINS", &spdx));
    }
    relationships.sort_by_key(|r| r.to_string());
    relationships.dedup();
    let name = format!("semantic-router-{}-{}", inputs.version, inputs.platform);
    Ok(json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": "",
        "creationInfo": {
            "created": crate::docker::report::rfc3339(inputs.created),
            "creators": [format!("Tool: xtask-{}", env!("CARGO_PKG_VERSION"))],
        },
        "documentDescribes": [ROUTER_ID, LIBRARY_ID],
        "packages": packages,
        "relationships": relationships,
    }))
}

/// A library package of a third party, known by its purl only: no download
/// location, licenses or copyright asserted.
fn library_package(spdx: &str, name: &str, version: &str, package_url: &str) -> Value {
    json!({
        "SPDXID": spdx,
        "name": name,
        "versionInfo": version,
        "primaryPackagePurpose": "LIBRARY",
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "externalRefs": [purl(package_url)],
    })
}

fn go_package(spdx: &str, m: &GoModule) -> Result<Value> {
    let mut p = library_package(spdx, &m.path, &m.version, &format!("pkg:golang/{}@{}", m.path, m.version));
    // The module that was built: the replacement, when there is one.
    let built = m.replace.as_deref().unwrap_or(m);
    let mut comment = Vec::new();
    if let Some(r) = &m.replace {
        comment.push(format!("replaced by {} {}", r.path, r.version));
    }
    if let Some(sum) = &built.sum {
        // `h1:` is base64 of a SHA-256 (of the module's file list and hashes).
        use base64::Engine;
        let b64 = sum.strip_prefix("h1:").with_context(|| format!("{}: go.sum hash `{sum}` is not h1:", m.path))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .with_context(|| format!("{}: go.sum hash `{sum}` is not base64", m.path))?;
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        p["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": hex }]);
        comment.push(format!("go.sum {sum}"));
        if !built.path.starts_with('.') && !built.path.starts_with('/') {
            p["downloadLocation"] = json!(format!(
                "https://proxy.golang.org/{}/@v/{}.zip",
                go_escape(&built.path),
                go_escape(&built.version)
            ));
        }
    }
    if !comment.is_empty() {
        p["comment"] = json!(comment.join("; "));
    }
    Ok(p)
}

fn features_text(inputs: &Inputs, node: &Node) -> String {
    match inputs.features.get(&(node.name.clone(), node.version.clone())) {
        Some(f) if !f.is_empty() => format!("features: {}", f.iter().cloned().collect::<Vec<_>>().join(", ")),
        _ => "features: none".to_string(),
    }
}

fn rel(a: &str, kind: &str, b: &str) -> Value {
    json!({ "spdxElementId": a, "relationshipType": kind, "relatedSpdxElement": b })
}

fn purl(locator: &str) -> Value {
    json!({ "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": locator })
}

/// SPDX ids: `SPDXRef-<kind>-<name>-<version>` with every character outside
/// `[A-Za-z0-9.-]` made `-`, and a counter when two collide.
#[derive(Default)]
struct SpdxIds(BTreeSet<String>);

impl SpdxIds {
    fn make(&mut self, kind: &str, name: &str, version: &str) -> String {
        let clean = |s: &str| -> String {
            s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect()
        };
        let base = format!("SPDXRef-{kind}-{}-{}", clean(name), clean(version));
        let mut id = base.clone();
        let mut n = 2;
        while !self.0.insert(id.clone()) {
            id = format!("{base}-{n}");
            n += 1;
        }
        id
    }
}

/// A license of a manifest as an SPDX expression: the old `A/B` spelling
/// is `A OR B`; what is not an expression of identifiers is NOASSERTION.
pub fn license(cargo: Option<&str>) -> String {
    let Some(text) = cargo.map(str::trim).filter(|t| !t.is_empty()) else { return NOASSERTION.into() };
    let expr = text.split('/').map(str::trim).collect::<Vec<_>>().join(" OR ");
    let spaced = expr.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    // identifier (operator identifier)*, with balanced parentheses.
    let mut depth = 0i32;
    let mut want_id = true;
    for t in &tokens {
        match *t {
            "(" if want_id => depth += 1,
            ")" if !want_id && depth > 0 => depth -= 1,
            "AND" | "OR" | "WITH" if !want_id => want_id = true,
            id if want_id
                && !matches!(id, "AND" | "OR" | "WITH" | "(" | ")")
                && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | ':')) =>
            {
                want_id = false
            }
            _ => return NOASSERTION.into(),
        }
    }
    if want_id || depth != 0 {
        return NOASSERTION.into();
    }
    expr
}

/// Go's module path escaping for the proxy: an upper-case letter is `!` and
/// its lower case.
fn go_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// What a dist tree's SBOM must say, checked on the document: every name of
/// `must` is a package of it, no crate of `must_not` (name and version) is.
pub fn check_names(doc: &str, must: &[&str], must_not: &BTreeSet<NameVersion>) -> Result<()> {
    let v: Value = serde_json::from_str(doc).context("the SBOM is not JSON")?;
    let listed: BTreeSet<NameVersion> = v["packages"]
        .as_array()
        .context("the SBOM has no `packages`")?
        .iter()
        .filter_map(|p| Some((p["name"].as_str()?.to_string(), p["versionInfo"].as_str()?.to_string())))
        .collect();
    let missing: Vec<&str> = must.iter().copied().filter(|n| !listed.iter().any(|(name, _)| name == n)).collect();
    if !missing.is_empty() {
        bail!("the SBOM lacks {}", missing.join(", "));
    }
    let extra: Vec<String> = must_not.intersection(&listed).map(|(n, v)| format!("{n} {v}")).collect();
    if !extra.is_empty() {
        bail!("the SBOM lists crates only dev-dependencies bring in: {}", extra.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
