use super::*;

/// Three stanzas of a Debian 12 status file, trimmed: a package built from
/// a source of another version, one removed with its configuration kept,
/// one whose description continues over several lines.
const STATUS: &str = include_str!("../../../tests/fixtures/sbom/dpkg-status");

#[test]
fn dpkg_status_gives_the_installed_packages_with_their_source() {
    let debs = parse_dpkg_status(STATUS).unwrap();
    let names: Vec<&str> = debs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["libc6", "libgcc-s1", "tzdata"], "config-files only is not installed");
    assert_eq!(
        debs[0],
        DebPackage {
            name: "libc6".into(),
            version: "2.36-9+deb12u10".into(),
            arch: "amd64".into(),
            source: "glibc".into(),
            source_version: None,
        }
    );
    assert_eq!((debs[1].source.as_str(), debs[1].source_version.as_deref()), ("gcc-12", None));
    assert_eq!((debs[2].source.as_str(), debs[2].arch.as_str()), ("tzdata", "all"));
    assert_eq!(deb_purl(&debs[0]), "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64");
    assert_eq!(deb_purl(&debs[2]), "pkg:deb/debian/tzdata@1:2025b-0%2Bdeb12u1?arch=all");
}

#[test]
fn a_source_of_another_version_is_kept_and_bad_stanzas_are_errors() {
    let text = "Package: libssl3\nStatus: install ok installed\nArchitecture: arm64\nSource: openssl (3.0.15-1)\nVersion: 3.0.15-1+b1\n";
    let d = &parse_dpkg_status(text).unwrap()[0];
    assert_eq!((d.source.as_str(), d.source_version.as_deref()), ("openssl", Some("3.0.15-1")));
    let err = parse_dpkg_status("Status: install ok installed\nVersion: 1\n").unwrap_err().to_string();
    assert!(err.contains("no `Package:`"), "{err}");
    let err = parse_dpkg_status("Package: x\nStatus: install ok installed\n").unwrap_err().to_string();
    assert_eq!(err, "dpkg status: package x has no `Version:`");
    let err = parse_dpkg_status("Package: x\nno colon here\n").unwrap_err().to_string();
    assert!(err.contains("`no colon here` is not `Field: value`"), "{err}");
}

/// A project SBOM as `dist` writes it, small: the router contains grpc and
/// depends on the library, which contains candle-core.
fn project() -> Value {
    json!({
        "spdxVersion": "SPDX-2.3",
        "SPDXID": "SPDXRef-DOCUMENT",
        "creationInfo": { "created": "2026-12-01T00:00:00Z" },
        "packages": [
            { "SPDXID": "SPDXRef-Package-router", "name": "extproc", "versionInfo": "0.1.0" },
            { "SPDXID": "SPDXRef-Package-library", "name": "candle-semantic-router", "versionInfo": "0.1.0" },
            { "SPDXID": "SPDXRef-Crate-candle-core-0.9.2", "name": "candle-core", "versionInfo": "0.9.2" },
            { "SPDXID": "SPDXRef-GoModule-google.golang.org-grpc-v1.75.1", "name": "google.golang.org/grpc", "versionInfo": "v1.75.1" },
        ],
        "relationships": [
            rel("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Package-router"),
            rel("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Package-library"),
            rel("SPDXRef-Package-router", "DEPENDS_ON", "SPDXRef-Package-library"),
            rel("SPDXRef-Package-router", "CONTAINS", "SPDXRef-GoModule-google.golang.org-grpc-v1.75.1"),
            rel("SPDXRef-Package-library", "CONTAINS", "SPDXRef-Crate-candle-core-0.9.2"),
        ],
    })
}

fn rootfs(project: Option<Value>) -> Rootfs {
    Rootfs {
        name: "core".into(),
        debs: parse_dpkg_status(STATUS).unwrap(),
        rpms: vec![],
        os_id: None,
        project,
        created: "2026-12-07T00:00:00Z".into(),
    }
}

fn triples(doc: &Value) -> Vec<String> {
    doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["spdxElementId"].as_str().unwrap(),
                r["relationshipType"].as_str().unwrap(),
                r["relatedSpdxElement"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn the_image_document_lists_the_debian_packages_and_merges_the_project_sbom() {
    let doc: Value = serde_json::from_str(&document(&rootfs(Some(project()))).unwrap()).unwrap();
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["documentDescribes"], json!(["SPDXRef-Package-rootfs"]));
    let names: Vec<&str> = doc["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "core",
            "libc6",
            "libgcc-s1",
            "tzdata",
            "extproc",
            "candle-semantic-router",
            "candle-core",
            "google.golang.org/grpc"
        ]
    );
    let libc = &doc["packages"][1];
    assert_eq!(libc["SPDXID"], "SPDXRef-Deb-libc6-amd64-2.36-9-deb12u10");
    assert_eq!(libc["externalRefs"][0]["referenceLocator"], "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64");
    assert_eq!(libc["sourceInfo"], "built from the Debian source package glibc");
    let rels = triples(&doc);
    for want in [
        "SPDXRef-DOCUMENT DESCRIBES SPDXRef-Package-rootfs",
        "SPDXRef-Package-rootfs CONTAINS SPDXRef-Deb-libc6-amd64-2.36-9-deb12u10",
        "SPDXRef-Package-rootfs CONTAINS SPDXRef-Package-router",
        "SPDXRef-Package-rootfs CONTAINS SPDXRef-Package-library",
        "SPDXRef-Package-router DEPENDS_ON SPDXRef-Package-library",
        "SPDXRef-Package-library CONTAINS SPDXRef-Crate-candle-core-0.9.2",
    ] {
        assert!(rels.contains(&want.to_string()), "{want} not in {rels:#?}");
    }
    let described: Vec<&String> = rels.iter().filter(|r| r.starts_with("SPDXRef-DOCUMENT DESCRIBES")).collect();
    assert_eq!(described, ["SPDXRef-DOCUMENT DESCRIBES SPDXRef-Package-rootfs"]);
    // The same inputs, the same bytes; other packages, another namespace.
    let a = document(&rootfs(Some(project()))).unwrap();
    assert_eq!(a, document(&rootfs(Some(project()))).unwrap());
    let b = document(&rootfs(None)).unwrap();
    let ns = |t: &str| serde_json::from_str::<Value>(t).unwrap()["documentNamespace"].as_str().unwrap().to_string();
    assert_ne!(ns(&a), ns(&b));
    assert!(ns(&b).starts_with("https://github.com/vllm-project/semantic-router/spdx/semantic-router-image-core-"));
}

#[test]
fn a_project_sbom_that_is_not_spdx_or_collides_is_refused() {
    let mut p = project();
    p["spdxVersion"] = json!("SPDX-2.2");
    let err = document(&rootfs(Some(p))).unwrap_err().to_string();
    assert!(err.contains("not an SPDX 2.3 document") && err.contains("xtask sbom write"), "{err}");
    let mut p = project();
    p["packages"][0]["SPDXID"] = json!("SPDXRef-Package-rootfs");
    let err = document(&rootfs(Some(p))).unwrap_err().to_string();
    assert!(err.contains("SPDXRef-Package-rootfs is also one of the image's own"), "{err}");
}

#[test]
fn the_statement_wraps_the_document_for_buildkit() {
    let doc = document(&rootfs(None)).unwrap();
    let stmt = statement(&doc).unwrap();
    let v: Value = serde_json::from_str(&stmt).unwrap();
    assert_eq!(v["_type"], "https://in-toto.io/Statement/v0.1");
    assert_eq!(v["predicateType"], "https://spdx.dev/Document");
    assert_eq!(v["subject"], json!([]));
    assert_eq!(predicate_of(&stmt).unwrap(), doc);
    let err = predicate_of(&doc).unwrap_err().to_string();
    assert!(err.starts_with("not an in-toto statement"), "{err}");
}

#[test]
fn scan_reads_a_rootfs_and_its_extras_into_one_statement_each() {
    let tmp = tempfile::tempdir().unwrap();
    let core = tmp.path().join("core");
    std::fs::create_dir_all(core.join("var/lib/dpkg")).unwrap();
    std::fs::write(core.join("var/lib/dpkg/status"), STATUS).unwrap();
    std::fs::create_dir_all(core.join("app/share")).unwrap();
    std::fs::write(core.join(PROJECT_SBOM), project().to_string()).unwrap();
    // A distroless-style extra: one status file per package, no project SBOM.
    let extras = tmp.path().join("extras");
    let stage = extras.join("build");
    std::fs::create_dir_all(stage.join("var/lib/dpkg/status.d")).unwrap();
    std::fs::write(
        stage.join("var/lib/dpkg/status.d/base-files"),
        "Package: base-files\nArchitecture: arm64\nVersion: 12.4+deb12u11\n",
    )
    .unwrap();
    std::fs::write(stage.join("var/lib/dpkg/status.d/base-files.md5sums"), "0123  etc/debian_version\n").unwrap();
    let dest = tmp.path().join("out");
    std::fs::create_dir(&dest).unwrap();

    let targets = targets(&core, Some(&extras)).unwrap();
    assert_eq!(targets, [core.clone(), stage.clone()]);
    let files = scan(&targets, &dest, None).unwrap();
    assert_eq!(files, [dest.join("core.spdx.json"), dest.join("build.spdx.json")]);
    let core_doc: Value =
        serde_json::from_str(&predicate_of(&std::fs::read_to_string(&files[0]).unwrap()).unwrap()).unwrap();
    assert_eq!(core_doc["creationInfo"]["created"], "2026-12-01T00:00:00Z", "the project SBOM's time");
    let n = core_doc["packages"].as_array().unwrap().len();
    assert_eq!(n, 8);
    let build_doc: Value =
        serde_json::from_str(&predicate_of(&std::fs::read_to_string(&files[1]).unwrap()).unwrap()).unwrap();
    let names: Vec<&str> =
        build_doc["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["build", "base-files"]);
    let epoch = scan_rootfs(&core, "core", Some(0)).unwrap();
    assert_eq!(epoch.created, "1970-01-01T00:00:00Z");

    // No extras: unset, empty, or not a directory.
    assert_eq!(self::targets(&core, None).unwrap().len(), 1);
    assert_eq!(self::targets(&core, Some(Path::new(""))).unwrap().len(), 1);
    assert_eq!(self::targets(&core, Some(&tmp.path().join("nope"))).unwrap().len(), 1);
    let err = self::targets(&tmp.path().join("nope"), None).unwrap_err().to_string();
    assert!(err.contains("is not a directory"), "{err}");
    std::fs::write(core.join(PROJECT_SBOM), "{").unwrap();
    let err = format!("{:#}", scan_rootfs(&core, "core", None).unwrap_err());
    assert!(err.contains("is not JSON"), "{err}");
}

#[test]
fn scan_check_lays_out_a_rootfs_and_gives_the_predicate() {
    let tmp = tempfile::tempdir().unwrap();
    let project_file = tmp.path().join("project.spdx.json");
    std::fs::write(&project_file, project().to_string()).unwrap();
    let work = tmp.path().join("work");
    let (file, text) = scan_check(&work, STATUS_FIXTURE, &project_file).unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    let none = std::collections::BTreeSet::new();
    crate::sbom::check_names(&text, &["libc6", "tzdata", "candle-core", "google.golang.org/grpc"], &none).unwrap();
    // Again over the same directory: the same document.
    assert_eq!(scan_check(&work, STATUS_FIXTURE, &project_file).unwrap().1, text);
}

mod rpmdb;
