//! The SBOM of an image's root filesystem, as BuildKit's SBOM generator
//! protocol asks for it: one SPDX 2.3 document per scanned filesystem,
//! wrapped in an in-toto statement (`predicateType` SPDX), written to
//! `$BUILDKIT_SCAN_DESTINATION/<name>.spdx.json`.
//!
//! What the document lists:
//! - the Debian packages dpkg installed (`var/lib/dpkg/status`, and the
//!   one-file-per-package `var/lib/dpkg/status.d/` of distroless bases),
//!   each with its architecture, source package and purl
//!   `pkg:deb/debian/<name>@<version>?arch=<arch>`;
//! - the RPM packages rpm installed, from its SQLite database
//!   (`var/lib/rpm/rpmdb.sqlite`, or `usr/lib/sysimage/rpm/rpmdb.sqlite`,
//!   with what its write-ahead log `rpmdb.sqlite-wal` commits), as on
//!   CentOS Stream 9, RHEL 9 and Fedora: each with its version
//!   `[epoch:]version-release`, architecture, source RPM, the license its
//!   header states (as a comment: not always an SPDX expression), and purl
//!   `pkg:rpm/<vendor>/<name>@<version>-<release>?arch=<arch>` (with
//!   `&epoch=<n>` when it has an epoch), the vendor being the distribution's
//!   `ID` in `etc/os-release` (`centos`, `fedora`, `rhel`), and no vendor
//!   when the file does not say it. The signing keys rpm imported
//!   (`gpg-pubkey`) are not packages and are not listed. The older rpm
//!   databases (Berkeley DB `Packages`, ndb `Packages.db`) are not read:
//!   scanning a filesystem that has one and no SQLite database is an error
//!   that says so;
//! - the project's own SBOM, when the image carries it at [`PROJECT_SBOM`]
//!   (the router, the library, the crates and Go modules inside them),
//!   merged whole: its packages and relationships, the root filesystem
//!   containing what it describes.
//!
//! Parsing, merging and wrapping are pure; [`scan_rootfs`] reads the files.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::{library_package, rel, SpdxIds, NOASSERTION};

mod rpm;
mod sqlite;

pub use rpm::{rpm_purl, RpmPackage};

/// Where the images carry the project's SBOM, relative to their root (the
/// Dockerfiles' build stage writes it into the tree copied to `/app`).
pub const PROJECT_SBOM: &str = "app/share/sbom.spdx.json";

/// The in-toto statement type BuildKit reads.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v0.1";
/// The predicate type of an SPDX document.
pub const PREDICATE_SPDX: &str = "https://spdx.dev/Document";

const ROOTFS_ID: &str = "SPDXRef-Package-rootfs";

/// An installed Debian package, from a dpkg status stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebPackage {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// The source package (`Source:`, without its version), else the name.
    pub source: String,
    /// The source package's version when it differs (`Source: glibc (2.36-9)`).
    pub source_version: Option<String>,
}

/// The packages of a dpkg status file whose files are on disk: every stanza
/// but those dpkg calls `not-installed` or `config-files`. Continuation
/// lines (a leading space) belong to the field before them.
pub fn parse_dpkg_status(text: &str) -> Result<Vec<DebPackage>> {
    let mut out = Vec::new();
    for (n, stanza) in text.split("\n\n").enumerate() {
        let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
        for line in stanza.lines() {
            if line.is_empty() || line.starts_with([' ', '\t']) {
                continue;
            }
            let Some((k, v)) = line.split_once(':') else {
                bail!("dpkg status, stanza {}: `{line}` is not `Field: value`", n + 1);
            };
            fields.insert(k.trim(), v.trim());
        }
        if fields.is_empty() {
            continue;
        }
        let get = |k: &str| fields.get(k).copied().filter(|v| !v.is_empty());
        let name = get("Package").with_context(|| format!("dpkg status, stanza {}: no `Package:` field", n + 1))?;
        let state = get("Status").unwrap_or("install ok installed").split_whitespace().last().unwrap_or("");
        if matches!(state, "not-installed" | "config-files") {
            continue;
        }
        let version = get("Version").with_context(|| format!("dpkg status: package {name} has no `Version:`"))?;
        let arch = get("Architecture").unwrap_or("all");
        let (source, source_version) = match get("Source") {
            Some(s) => match s.split_once(" (") {
                Some((src, v)) => (src.trim().to_string(), Some(v.trim_end_matches(')').trim().to_string())),
                None => (s.to_string(), None),
            },
            None => (name.to_string(), None),
        };
        out.push(DebPackage {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
            source,
            source_version: source_version.filter(|v| v != version),
        });
    }
    out.sort_by(|a, b| (&a.name, &a.arch, &a.version).cmp(&(&b.name, &b.arch, &b.version)));
    Ok(out)
}

/// A purl component: percent-encoded but for unreserved characters and `:`
/// (Debian epochs), as the purl reference implementation writes it.
fn purl_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `pkg:deb/debian/<name>@<version>?arch=<arch>`.
pub fn deb_purl(p: &DebPackage) -> String {
    format!("pkg:deb/debian/{}@{}?arch={}", purl_escape(&p.name), purl_escape(&p.version), purl_escape(&p.arch))
}

/// What one scanned filesystem holds.
#[derive(Debug, Clone)]
pub struct Rootfs {
    /// The scan's name (the last component of its path).
    pub name: String,
    pub debs: Vec<DebPackage>,
    /// The RPM packages of rpm's database, sorted.
    pub rpms: Vec<RpmPackage>,
    /// The distribution's os-release `ID`, the vendor of the RPM packages'
    /// purls (read when there are RPM packages).
    pub os_id: Option<String>,
    /// The project's SBOM found at [`PROJECT_SBOM`], parsed.
    pub project: Option<Value>,
    /// `created`, RFC 3339.
    pub created: String,
}

/// The SPDX 2.3 document of a scanned filesystem, rendered like the dist
/// SBOM (pretty JSON, one final newline; the namespace from the content).
pub fn document(fs: &Rootfs) -> Result<String> {
    let mut doc = document_value(fs)?;
    let name = doc["name"].as_str().unwrap_or_default().to_string();
    let digest: String = {
        use sha2::Digest;
        sha2::Sha256::digest(super::render(&doc)?.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    };
    doc["documentNamespace"] = json!(format!("https://github.com/vllm-project/semantic-router/spdx/{name}-{digest}"));
    super::render(&doc)
}

fn document_value(fs: &Rootfs) -> Result<Value> {
    let mut ids = SpdxIds::default();
    ids.0.insert(ROOTFS_ID.to_string());
    let mut packages = vec![json!({
        "SPDXID": ROOTFS_ID,
        "name": fs.name,
        "primaryPackagePurpose": "CONTAINER",
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": false,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "comment": "the scanned root filesystem",
    })];
    let mut relationships = vec![rel("SPDXRef-DOCUMENT", "DESCRIBES", ROOTFS_ID)];
    for d in &fs.debs {
        let spdx = ids.make("Deb", &format!("{}-{}", d.name, d.arch), &d.version);
        let mut source = format!("built from the Debian source package {}", d.source);
        if let Some(v) = &d.source_version {
            source += &format!(" {v}");
        }
        let mut p = library_package(&spdx, &d.name, &d.version, &deb_purl(d));
        p["sourceInfo"] = json!(source);
        p["comment"] = json!(format!("Debian package, architecture {}", d.arch));
        packages.push(p);
        relationships.push(rel(ROOTFS_ID, "CONTAINS", &spdx));
    }
    for r in &fs.rpms {
        let evr = r.evr();
        let spdx = ids.make("Rpm", &format!("{}-{}", r.name, r.arch), &evr);
        let mut p = library_package(&spdx, &r.name, &evr, &rpm_purl(r, fs.os_id.as_deref()));
        if let Some(src) = &r.source_rpm {
            p["sourceInfo"] = json!(format!("built from the source RPM {src}"));
        }
        if let Some(license) = &r.license {
            p["licenseComments"] = json!(format!("the RPM header's License: {license}"));
        }
        p["comment"] = json!(format!("RPM package, architecture {}", r.arch));
        packages.push(p);
        relationships.push(rel(ROOTFS_ID, "CONTAINS", &spdx));
    }
    if let Some(project) = &fs.project {
        let (more, rels) = merge_project(project, &ids)?;
        packages.extend(more);
        relationships.extend(rels);
    }
    relationships.sort_by_key(|r| r.to_string());
    relationships.dedup();
    Ok(json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("semantic-router-image-{}", fs.name),
        "documentNamespace": "",
        "creationInfo": {
            "created": fs.created,
            "creators": [format!("Tool: xtask-{}", env!("CARGO_PKG_VERSION"))],
        },
        "documentDescribes": [ROOTFS_ID],
        "packages": packages,
        "relationships": relationships,
    }))
}

/// The project SBOM's packages and relationships, for the image's document:
/// what it describes becomes what the root filesystem `CONTAINS`; every
/// other relationship is kept. Its SPDX ids must not collide with the
/// image's own (`ids`).
fn merge_project(project: &Value, ids: &SpdxIds) -> Result<(Vec<Value>, Vec<Value>)> {
    if project["spdxVersion"] != "SPDX-2.3" {
        bail!("{PROJECT_SBOM} is not an SPDX 2.3 document: rebuild the image with the Dockerfiles' `xtask sbom write`");
    }
    let packages = project["packages"].as_array().with_context(|| format!("{PROJECT_SBOM} has no `packages`"))?;
    for p in packages {
        let id = p["SPDXID"].as_str().with_context(|| format!("{PROJECT_SBOM}: a package without SPDXID"))?;
        if ids.0.contains(id) {
            bail!("{PROJECT_SBOM}: SPDX id {id} is also one of the image's own packages");
        }
    }
    let mut rels = Vec::new();
    for r in project["relationships"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let (a, kind, b) = (&r["spdxElementId"], &r["relationshipType"], &r["relatedSpdxElement"]);
        let (Some(a), Some(kind), Some(b)) = (a.as_str(), kind.as_str(), b.as_str()) else {
            bail!("{PROJECT_SBOM}: relationship {r} lacks an element, a type or a related element");
        };
        if a == "SPDXRef-DOCUMENT" && kind == "DESCRIBES" {
            rels.push(rel(ROOTFS_ID, "CONTAINS", b));
        } else {
            rels.push(rel(a, kind, b));
        }
    }
    Ok((packages.clone(), rels))
}

/// The in-toto statement BuildKit attaches: the document as its predicate;
/// BuildKit fills in the subject (the image).
pub fn statement(document: &str) -> Result<String> {
    let predicate: Value = serde_json::from_str(document).context("the SPDX document is not JSON")?;
    let stmt = json!({
        "_type": STATEMENT_TYPE,
        "predicateType": PREDICATE_SPDX,
        "subject": [],
        "predicate": predicate,
    });
    Ok(serde_json::to_string(&stmt)? + "\n")
}

/// The predicate of a statement written by [`statement`], rendered as a
/// document file (for `spdx-tools`).
pub fn predicate_of(statement: &str) -> Result<String> {
    let v: Value = serde_json::from_str(statement).context("the statement is not JSON")?;
    if v["_type"] != STATEMENT_TYPE || v["predicateType"] != PREDICATE_SPDX {
        bail!(
            "not an in-toto statement of an SPDX document (_type {}, predicateType {})",
            v["_type"],
            v["predicateType"]
        );
    }
    super::render(&v["predicate"])
}

/// Read what [`document`] needs from the root filesystem at `root`, named
/// `name`. `created`: `SOURCE_DATE_EPOCH` when set, else the project SBOM's
/// creation time, else now.
pub fn scan_rootfs(root: &Path, name: &str, epoch: Option<u64>) -> Result<Rootfs> {
    let dpkg = root.join("var/lib/dpkg");
    let mut debs = Vec::new();
    let status = dpkg.join("status");
    if let Some(text) = read_optional(&status)? {
        debs.extend(parse_dpkg_status(&text).with_context(|| format!("{}", status.display()))?);
    }
    let status_d = dpkg.join("status.d");
    if status_d.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&status_d)
            .with_context(|| format!("cannot read {}", status_d.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()?;
        files.sort();
        for f in files.iter().filter(|f| f.extension().is_none_or(|e| e != "md5sums")) {
            let text = std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
            debs.extend(parse_dpkg_status(&text).with_context(|| format!("{}", f.display()))?);
        }
    }
    debs.sort_by(|a, b| (&a.name, &a.arch, &a.version).cmp(&(&b.name, &b.arch, &b.version)));
    debs.dedup();
    let (rpms, os_id) = rpm::read_rootfs(root)?;
    let sbom = root.join(PROJECT_SBOM);
    let project = match read_optional(&sbom)? {
        Some(text) => Some(
            serde_json::from_str::<Value>(&text)
                .with_context(|| format!("{} is not JSON: rebuild the image", sbom.display()))?,
        ),
        None => None,
    };
    let created = match (epoch, project.as_ref().and_then(|p| p["creationInfo"]["created"].as_str())) {
        (Some(e), _) => crate::docker::report::rfc3339(e),
        (None, Some(c)) => c.to_string(),
        (None, None) => crate::docker::report::rfc3339(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        ),
    };
    Ok(Rootfs { name: name.to_string(), debs, rpms, os_id, project, created })
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The targets of one generator run, from BuildKit's variables: the main
/// root filesystem, then each directory of the extras (none when the
/// variable is unset, empty or names no directory).
pub fn targets(source: &Path, extras: Option<&Path>) -> Result<Vec<PathBuf>> {
    if !source.is_dir() {
        bail!("BUILDKIT_SCAN_SOURCE={} is not a directory: run the generator through `--attest type=sbom,generator=IMAGE`", source.display());
    }
    let mut out = vec![source.to_path_buf()];
    if let Some(dir) = extras.filter(|d| !d.as_os_str().is_empty() && d.is_dir()) {
        let mut more: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()?;
        more.sort();
        out.extend(more.into_iter().filter(|p| p.is_dir()));
    }
    Ok(out)
}

/// Scan every target into `dest/<name>.spdx.json`; returns the files.
pub fn scan(targets: &[PathBuf], dest: &Path, epoch: Option<u64>) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for t in targets {
        let name = t.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "rootfs".into());
        let fs = scan_rootfs(t, &name, epoch)?;
        let file = dest.join(format!("{name}.spdx.json"));
        std::fs::write(&file, statement(&document(&fs)?)?)
            .with_context(|| format!("cannot write {}", file.display()))?;
        eprintln!(
            "sbom scan: {}: {} Debian packages, {} RPM packages{} -> {}",
            t.display(),
            fs.debs.len(),
            fs.rpms.len(),
            if fs.project.is_some() { format!(", the project SBOM ({PROJECT_SBOM})") } else { String::new() },
            file.display()
        );
        written.push(file);
    }
    Ok(written)
}

/// A dpkg status file in the format of Debian 12's, with libc6.
pub const STATUS_FIXTURE: &str = include_str!("../../tests/fixtures/sbom/dpkg-status");

/// An rpm database made by rpm 4.18 (`xtask/tests/fixtures/rpm/`), gzipped;
/// it lists [`RPM_FIXTURE_PACKAGE`] among others.
pub const RPMDB_FIXTURE_GZ: &[u8] = include_bytes!("../../tests/fixtures/rpm/rpmdb.sqlite.gz");
/// A package of [`RPMDB_FIXTURE_GZ`] (with an epoch).
pub const RPM_FIXTURE_PACKAGE: &str = "epochy";

/// The document `sbom scan` writes for a root filesystem laid out in `work`
/// with the dpkg status `status`, the rpm database [`RPMDB_FIXTURE_GZ`] of a
/// CentOS (`ID="centos"`), and the project SBOM `project` where the images
/// carry it: the predicate of its statement, written to
/// `work/rootfs.spdx.json` (for `spdx-tools`), and its text.
pub fn scan_check(work: &Path, status: &str, project: &Path) -> Result<(PathBuf, String)> {
    let root = work.join("rootfs");
    let _ = std::fs::remove_dir_all(work);
    for dir in [
        root.join("var/lib/dpkg"),
        root.join("var/lib/rpm"),
        root.join("etc"),
        root.join("app/share"),
        work.join("out"),
    ] {
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(root.join("var/lib/dpkg/status"), status)?;
    let mut rpmdb = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(RPMDB_FIXTURE_GZ), &mut rpmdb)
        .context("the rpm database fixture is not gzip")?;
    std::fs::write(root.join("var/lib/rpm/rpmdb.sqlite"), rpmdb)?;
    std::fs::write(root.join("etc/os-release"), "NAME=\"CentOS Stream\"\nID=\"centos\"\n")?;
    std::fs::copy(project, root.join(PROJECT_SBOM))
        .with_context(|| format!("cannot copy {} into {}", project.display(), root.display()))?;
    let files = scan(&targets(&root, None)?, &work.join("out"), None)?;
    let text = predicate_of(&std::fs::read_to_string(&files[0])?)?;
    let file = work.join("rootfs.spdx.json");
    std::fs::write(&file, &text)?;
    Ok((file, text))
}

#[cfg(test)]
mod tests;
