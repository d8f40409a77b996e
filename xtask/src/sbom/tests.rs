use super::*;

fn node(name: &str, version: &str, license: Option<&str>, deps: &[(&str, &str)]) -> (String, Node) {
    let deps = deps
        .iter()
        .map(|(to, kind)| Edge { to: format!("{to}-id"), normal: kind.contains('n'), build: kind.contains('b') })
        .collect();
    let n = Node {
        name: name.into(),
        version: version.into(),
        license: license.map(str::to_string),
        crates_io: name != "lib" && name != "xtask",
        proc_macro: name == "serde_derive",
        deps,
    };
    (format!("{name}-id"), n)
}

/// lib: candle-core and serde (normal), cc (build), proptest (dev);
/// serde's derive is a proc-macro on syn; xtask (a member) has proptest and
/// tempfile as dev-dependencies, and serde as a normal one.
fn graph() -> Graph {
    Graph {
        nodes: [
            node(
                "lib",
                "0.1.0",
                Some("Apache-2.0"),
                &[("candle-core", "n"), ("serde", "n"), ("cc", "b"), ("proptest", "")],
            ),
            node("candle-core", "0.9.2", Some("MIT OR Apache-2.0"), &[("half", "n")]),
            node("half", "2.7.1", Some("MIT OR Apache-2.0"), &[]),
            node("serde", "1.0.0", Some("MIT OR Apache-2.0"), &[("serde_derive", "n")]),
            node("serde_derive", "1.0.0", Some("MIT OR Apache-2.0"), &[("syn", "n")]),
            node("syn", "2.0.0", Some("MIT OR Apache-2.0"), &[]),
            node("cc", "1.2.0", Some("MIT/Apache-2.0"), &[]),
            node("proptest", "1.0.0", Some("MIT OR Apache-2.0"), &[("tempfile", "n")]),
            node("tempfile", "3.0.0", Some("MIT OR Apache-2.0"), &[]),
            node("xtask", "0.1.0", None, &[("serde", "n"), ("proptest", ""), ("tempfile", "")]),
        ]
        .into_iter()
        .collect(),
        members: vec!["lib-id".into(), "xtask-id".into()],
    }
}

#[test]
fn compiled_follows_normal_and_build_edges_and_tells_linked_from_build_machine() {
    let g = graph();
    let got: Vec<(String, Role)> =
        g.compiled("lib-id").unwrap().into_iter().map(|(id, r)| (g.nodes[&id].name.clone(), r)).collect();
    let want = [
        ("candle-core", Role::Linked),
        ("cc", Role::Build),
        ("half", Role::Linked),
        ("serde", Role::Linked),
        ("serde_derive", Role::Build),
        ("syn", Role::Build),
    ];
    assert_eq!(got, want.map(|(n, r)| (n.to_string(), r)));
}

#[test]
fn dev_only_crates_are_those_no_member_builds() {
    let only: Vec<String> = graph().dev_only().unwrap().into_iter().collect();
    assert_eq!(only, ["proptest-id", "tempfile-id"]);
}

#[test]
fn a_dangling_edge_is_an_error() {
    let mut g = graph();
    g.nodes.remove("half-id");
    let err = g.compiled("lib-id").unwrap_err().to_string();
    assert!(err.contains("half-id"), "{err}");
    assert!(g.id_of("nope").unwrap_err().to_string().contains("no package `nope`"));
}

const TREE: &str = "lib v0.1.0 (/src/lib)|\n\
    candle-core v0.9.2|default\n\
    serde v1.0.0|derive,std\n\
    serde v1.0.0|derive,std (*)\n\
    syn v2.0.0|full\n\
    syn v2.0.0|parsing\n";

#[test]
fn cargo_tree_features_are_unioned_per_crate() {
    let f = parse_cargo_tree(TREE).unwrap();
    let get = |n: &str, v: &str| f[&(n.to_string(), v.to_string())].iter().cloned().collect::<Vec<_>>().join(",");
    assert_eq!(get("lib", "0.1.0"), "");
    assert_eq!(get("serde", "1.0.0"), "derive,std");
    assert_eq!(get("syn", "2.0.0"), "full,parsing");
    assert!(parse_cargo_tree("no bar here\n").unwrap_err().to_string().contains("{p}|{f}"));
}

#[test]
fn lock_checksums_are_read_for_registry_packages() {
    let lock = "version = 4\n\n[[package]]\nname = \"lib\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"half\"\nversion = \"2.7.1\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"abcd\"\n";
    let sums = lock_checksums(lock).unwrap();
    assert_eq!(sums.len(), 1);
    assert_eq!(sums[&("half".to_string(), "2.7.1".to_string())], "abcd");
}

/// `go version -m` of a router (paths of the build machine left out).
const GO_VERSION_M: &str = "dist/linux-riscv64/bin/extproc: go1.26.8
\tpath\tgithub.com/vllm-project/semantic-router/src/semantic-router/cmd/extproc
\tmod\tgithub.com/vllm-project/semantic-router/src/semantic-router\t(devel)\t
\tdep\tgithub.com/envoyproxy/go-control-plane/envoy\tv1.36.0\th1:yg/JjO5E7ubRyKX3m07GF3reDNEnfOboJ0QySbH736g=
\tdep\tgithub.com/vllm-project/semantic-router/candle-binding\tv0.0.0-00010101000000-000000000000
\t=>\t../../candle-binding\t(devel)\t
\tdep\tgoogle.golang.org/grpc\tv1.75.1\th1:/ODCNEuf9VghjgO3rqLcfg8fiOP0nSluljWFlDxELLI=
\tbuild\t-buildmode=exe
\tbuild\tCGO_ENABLED=1
\tbuild\tGOARCH=riscv64
";

const GO_SUM: &str =
    "github.com/envoyproxy/go-control-plane/envoy v1.36.0 h1:yg/JjO5E7ubRyKX3m07GF3reDNEnfOboJ0QySbH736g=
github.com/envoyproxy/go-control-plane/envoy v1.36.0/go.mod h1:ty89S1YCCVruQAm9OtKeEkQLTb+Lkz0k8v9W0Oxsv98=
google.golang.org/grpc v1.75.1 h1:/ODCNEuf9VghjgO3rqLcfg8fiOP0nSluljWFlDxELLI=
";

#[test]
fn go_version_m_is_parsed_with_hashes_and_replacements() {
    let b = parse_go_version_m(GO_VERSION_M).unwrap();
    assert_eq!(b.go, "go1.26.8");
    assert_eq!(b.path, "github.com/vllm-project/semantic-router/src/semantic-router/cmd/extproc");
    let paths: Vec<&str> = b.deps.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "github.com/envoyproxy/go-control-plane/envoy",
            "github.com/vllm-project/semantic-router/candle-binding",
            "google.golang.org/grpc"
        ]
    );
    assert_eq!(b.deps[0].sum.as_deref(), Some("h1:yg/JjO5E7ubRyKX3m07GF3reDNEnfOboJ0QySbH736g="));
    let r = b.deps[1].replace.as_deref().unwrap();
    assert_eq!((r.path.as_str(), r.version.as_str(), r.sum.as_ref()), ("../../candle-binding", "(devel)", None));
    check_go_sum(&b, GO_SUM).unwrap();
    assert!(parse_go_version_m("x: not a go binary\n").is_err());
}

#[test]
fn a_hash_go_sum_does_not_list_is_refused() {
    let b = parse_go_version_m(GO_VERSION_M).unwrap();
    let sum = GO_SUM.replace("v1.75.1 h1:/OD", "v1.75.1 h1:/XX");
    let err = check_go_sum(&b, &sum).unwrap_err().to_string();
    assert!(err.contains("google.golang.org/grpc v1.75.1") && err.contains("cargo xtask precache go"), "{err}");
}

#[test]
fn licenses_become_spdx_expressions_or_noassertion() {
    assert_eq!(license(Some("MIT/Apache-2.0")), "MIT OR Apache-2.0");
    assert_eq!(license(Some("Apache-2.0 / MIT")), "Apache-2.0 OR MIT");
    assert_eq!(license(Some("(MIT OR Apache-2.0) AND Unicode-3.0")), "(MIT OR Apache-2.0) AND Unicode-3.0");
    assert_eq!(license(Some("Apache-2.0 WITH LLVM-exception")), "Apache-2.0 WITH LLVM-exception");
    for bad in [None, Some(""), Some("MIT OR"), Some("see LICENSE file"), Some("(MIT"), Some("MIT)")] {
        assert_eq!(license(bad), "NOASSERTION", "{bad:?}");
    }
}

#[test]
fn rfc3339_of_epoch_seconds() {
    assert_eq!(crate::docker::report::rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(crate::docker::report::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(crate::docker::report::rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
}

fn inputs() -> Inputs {
    let mut checksums = BTreeMap::new();
    checksums.insert(("half".to_string(), "2.7.1".to_string()), "ab".repeat(32));
    Inputs {
        platform: "linux-riscv64".into(),
        triple: "riscv64gc-unknown-linux-gnu".into(),
        version: "0.1.0".into(),
        created: 1_798_761_599,
        library: "lib".into(),
        graph: graph(),
        features: parse_cargo_tree(TREE).unwrap(),
        checksums,
        router: parse_go_version_m(GO_VERSION_M).unwrap(),
    }
}

fn packages(doc: &Value) -> BTreeMap<String, Value> {
    doc["packages"].as_array().unwrap().iter().map(|p| (p["name"].as_str().unwrap().to_string(), p.clone())).collect()
}

fn relationships(doc: &Value) -> Vec<String> {
    let ids: BTreeMap<String, String> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["SPDXID"].as_str().unwrap().to_string(), p["name"].as_str().unwrap().to_string()))
        .collect();
    let name = |id: &Value| ids.get(id.as_str().unwrap()).cloned().unwrap_or(id.as_str().unwrap().to_string());
    doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                name(&r["spdxElementId"]),
                r["relationshipType"].as_str().unwrap(),
                name(&r["relatedSpdxElement"])
            )
        })
        .collect()
}

#[test]
fn the_document_lists_what_is_compiled_and_linked_and_how_it_relates() {
    let text = document(&inputs()).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["creationInfo"]["created"], "2026-12-31T23:59:59Z");
    let p = packages(&doc);
    let names: Vec<&str> = p.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "candle-core",
            "cc",
            "github.com/envoyproxy/go-control-plane/envoy",
            "github.com/vllm-project/semantic-router/candle-binding",
            "github.com/vllm-project/semantic-router/src/semantic-router/cmd/extproc",
            "google.golang.org/grpc",
            "half",
            "lib",
            "serde",
            "serde_derive",
            "syn",
        ],
        "no dev-dependency (proptest, tempfile), nothing only xtask uses"
    );
    assert_eq!(p["serde"]["comment"], "features: derive, std");
    assert_eq!(p["syn"]["comment"], "features: full, parsing; compiled for the build machine (a proc-macro or a build script's dependency), not linked");
    assert_eq!(p["half"]["checksums"][0]["checksumValue"], "ab".repeat(32));
    assert_eq!(p["half"]["downloadLocation"], "https://crates.io/api/v1/crates/half/2.7.1/download");
    assert_eq!(p["half"]["externalRefs"][0]["referenceLocator"], "pkg:cargo/half@2.7.1");
    assert_eq!(p["cc"]["licenseDeclared"], "MIT OR Apache-2.0");
    assert_eq!(p["lib"]["licenseDeclared"], "Apache-2.0");
    assert_eq!(p["lib"]["downloadLocation"], "NOASSERTION");
    let grpc = &p["google.golang.org/grpc"];
    assert_eq!(grpc["versionInfo"], "v1.75.1");
    assert_eq!(grpc["comment"], "go.sum h1:/ODCNEuf9VghjgO3rqLcfg8fiOP0nSluljWFlDxELLI=");
    assert_eq!(
        grpc["checksums"][0]["checksumValue"],
        "fce0c2344b9ff558218e03b7aea2dc7e0f1f88e3f49d296e963585943c442cb2"
    );
    assert_eq!(grpc["downloadLocation"], "https://proxy.golang.org/google.golang.org/grpc/@v/v1.75.1.zip");
    let binding = &p["github.com/vllm-project/semantic-router/candle-binding"];
    assert_eq!(binding["comment"], "replaced by ../../candle-binding (devel)");
    assert!(binding.get("checksums").is_none());
    let router = "github.com/vllm-project/semantic-router/src/semantic-router/cmd/extproc";
    let rels = relationships(&doc);
    for want in [
        "SPDXRef-DOCUMENT DESCRIBES lib".to_string(),
        format!("SPDXRef-DOCUMENT DESCRIBES {router}"),
        format!("{router} DEPENDS_ON lib"),
        format!("{router} CONTAINS google.golang.org/grpc"),
        format!("{router} CONTAINS github.com/vllm-project/semantic-router/candle-binding"),
        "lib CONTAINS candle-core".into(),
        "lib CONTAINS half".into(),
        "lib CONTAINS serde".into(),
        "serde_derive BUILD_DEPENDENCY_OF lib".into(),
        "syn BUILD_DEPENDENCY_OF lib".into(),
        "cc BUILD_DEPENDENCY_OF lib".into(),
        "lib DEPENDS_ON candle-core".into(),
        "candle-core DEPENDS_ON half".into(),
        "serde_derive DEPENDS_ON syn".into(),
    ] {
        assert!(rels.contains(&want), "{want} not in {rels:#?}");
    }
    assert!(!rels.iter().any(|r| r.contains("proptest") || r.contains("tempfile")), "{rels:#?}");
    assert!(!rels.contains(&"lib CONTAINS syn".to_string()));
}

#[test]
fn the_document_is_deterministic_and_its_namespace_follows_its_content() {
    let a = document(&inputs()).unwrap();
    assert_eq!(a, document(&inputs()).unwrap());
    let ns = |t: &str| serde_json::from_str::<Value>(t).unwrap()["documentNamespace"].as_str().unwrap().to_string();
    assert!(
        ns(&a).starts_with("https://github.com/vllm-project/semantic-router/spdx/semantic-router-0.1.0-linux-riscv64-")
    );
    let mut other = inputs();
    other.router.deps.pop();
    let b = document(&other).unwrap();
    assert_ne!(ns(&a), ns(&b));
    other = inputs();
    other.created += 1;
    assert_ne!(ns(&a), ns(&document(&other).unwrap()));
    assert!(a.ends_with("}\n"));
}

#[test]
fn check_names_requires_some_packages_and_refuses_others() {
    let text = document(&inputs()).unwrap();
    let none = BTreeSet::new();
    check_names(&text, &["candle-core", "google.golang.org/grpc"], &none).unwrap();
    let err = check_names(&text, &["candle-core", "missing-crate"], &none).unwrap_err().to_string();
    assert_eq!(err, "the SBOM lacks missing-crate");
    let nv = |n: &str, v: &str| (n.to_string(), v.to_string());
    // half 2.7.1 is compiled; another version of it, only for tests, is not.
    let dev: BTreeSet<NameVersion> = [nv("proptest", "1.0.0"), nv("half", "1.0.0")].into();
    check_names(&text, &["candle-core"], &dev).unwrap();
    let dev: BTreeSet<NameVersion> = [nv("proptest", "1.0.0"), nv("half", "2.7.1")].into();
    let err = check_names(&text, &["candle-core"], &dev).unwrap_err().to_string();
    assert_eq!(err, "the SBOM lists crates only dev-dependencies bring in: half 2.7.1");
}

#[test]
fn spdx_ids_are_sanitised_and_unique() {
    let mut ids = SpdxIds::default();
    assert_eq!(ids.make("GoModule", "golang.org/x/net", "v0.42.0"), "SPDXRef-GoModule-golang.org-x-net-v0.42.0");
    assert_eq!(ids.make("Crate", "a_b", "1.0.0+x"), "SPDXRef-Crate-a-b-1.0.0-x");
    assert_eq!(ids.make("Crate", "a-b", "1.0.0+x"), "SPDXRef-Crate-a-b-1.0.0-x-2");
    assert_eq!(go_escape("github.com/BurntSushi/toml"), "github.com/!burnt!sushi/toml");
}
