//! `cargo xtask dist --verify-reproducible`, for real, on the miniature
//! workspace `fixtures/dist-ws` (the real layout: package
//! `candle-semantic-router`, its header, a cgo binding and the router; no
//! dependencies, so both builds take seconds rather than two candle builds).
//!
//! - As it is, the second build (another directory, target dir, HOME,
//!   CARGO_HOME, Go cache, later) must give byte-identical trees and
//!   tarballs. The fixture `include!`s code generated into OUT_DIR whose
//!   panic location is a path inside the target directory: without path
//!   remapping the two builds differ.
//! - With a planted non-determinism (the build directory, or the build time,
//!   compiled into the library) the command must fail and name the file and
//!   the ELF section that differ.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dist-ws");

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// A fresh copy of the fixture in a temporary directory.
fn workspace() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::Builder::new().prefix("dist-repro").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let ws = tmp.path().join("ws");
    copy_dir(Path::new(FIXTURE), &ws);
    (tmp, ws)
}

fn host() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "linux/amd64",
        "aarch64" => "linux/arm64",
        "riscv64" => "linux/riscv64",
        other => panic!("no platform for host {other}"),
    }
}

fn dist(ws: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["dist", "--platform", host(), "--verify-reproducible"])
        .current_dir(ws)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("VERSION")
        .output()
        .unwrap();
    eprintln!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn dir_name() -> String {
    host().replace('/', "-")
}

#[test]
fn the_fixture_is_reproducible_and_packed() {
    let (_tmp, ws) = workspace();
    let out = dist(&ws);
    assert!(out.status.success(), "dist --verify-reproducible failed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reproducible: 1 platform(s) byte-identical"), "{stderr}");
    let tree = ws.join("dist").join(dir_name());
    let tarball = ws.join("dist").join(format!("{}.tar.gz", dir_name()));
    assert!(tarball.is_file());
    // The second build really was elsewhere: its own tree, sources and target dir.
    let second = ws.join("target/xtask/repro");
    for p in ["src/Cargo.toml", "target", "cargo-home", "home"] {
        assert!(second.join(p).exists(), "{p}");
    }
    assert!(second.join("dist").join(dir_name()).join("lib/libcandle_semantic_router.so").is_file());
    // What was built runs, with its own RUNPATH: not with cargo's
    // LD_LIBRARY_PATH, whose target/debug/deps may hold the real library.
    let run = Command::new(tree.join("bin/extproc")).env_remove("LD_LIBRARY_PATH").output().unwrap();
    assert!(run.status.success(), "{}: {}", run.status, String::from_utf8_lossy(&run.stderr));
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), format!("{} 42 115 0", env!("CARGO_PKG_VERSION")));
    // The SBOM is in the tree, covered by SHA256SUMS and in the tarball
    // (and byte-identical in the second build, above), created at
    // SOURCE_DATE_EPOCH.
    let sbom = std::fs::read_to_string(tree.join("sbom.spdx.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&sbom).unwrap();
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    let names: Vec<&str> = doc["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"candle-semantic-router"), "{names:?}");
    let sums = std::fs::read_to_string(tree.join("SHA256SUMS")).unwrap();
    assert!(sums.lines().any(|l| l.ends_with("  sbom.spdx.json")), "{sums}");
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(&tarball).unwrap());
    let entries: Vec<String> =
        tar::Archive::new(gz).entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    assert!(entries.contains(&format!("{}/sbom.spdx.json", dir_name())), "{entries:?}");
}

fn plant(ws: &Path, code: &str) {
    let lib = ws.join("candle-binding/src/lib.rs");
    let mut text = std::fs::read_to_string(&lib).unwrap();
    text.push_str(code);
    std::fs::write(lib, text).unwrap();
}

fn assert_caught(out: &Output) {
    assert!(!out.status.success(), "a planted non-determinism passed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.starts_with("NOT reproducible:")).unwrap_or_else(|| panic!("{stderr}"));
    // The first differing file in order is the static library: the member and
    // the section are named.
    assert!(line.contains("lib/libcandle_semantic_router.a: member "), "{line}");
    assert!(line.contains(": section .rodata"), "{line}");
    assert!(stderr.contains("the second build differs"), "{stderr}");
}

#[test]
fn a_planted_build_path_is_caught() {
    let (_tmp, ws) = workspace();
    plant(
        &ws,
        r#"
/// Where it was built: differs between the two builds' directories.
#[no_mangle]
pub extern "C" fn csr_built_in() -> *const u8 {
    concat!(env!("CARGO_MANIFEST_DIR"), "\0").as_ptr()
}
"#,
    );
    assert_caught(&dist(&ws));
}

#[test]
fn a_planted_timestamp_is_caught() {
    let (_tmp, ws) = workspace();
    let build_rs = ws.join("candle-binding/build.rs");
    let text = std::fs::read_to_string(&build_rs).unwrap().replace(
        "    println!(\"cargo:rerun-if-changed=build.rs\");",
        "    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();\n    \
         println!(\"cargo:rustc-env=BUILT_AT={now}\");\n    println!(\"cargo:rerun-if-changed=build.rs\");",
    );
    std::fs::write(&build_rs, text).unwrap();
    plant(
        &ws,
        r#"
/// When it was built.
#[no_mangle]
pub extern "C" fn csr_built_at() -> *const u8 {
    concat!(env!("BUILT_AT"), "\0").as_ptr()
}
"#,
    );
    assert_caught(&dist(&ws));
}

/// `dist` interrupted (SIGINT, sent by the command itself at a fault point)
/// while it assembles, packs and publishes: afterwards the tree and the
/// tarball are one pair (the old one, or the new one once publishing has
/// begun) and no staging directory or temporary file is left.
#[test]
fn an_interrupted_dist_leaves_one_pair_and_no_scratch() {
    let (_tmp, ws) = workspace();
    let dist_at = |point: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(["dist", "--platform", host()])
            .current_dir(&ws)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR");
        if let Some(p) = point {
            cmd.env("XTASK_TEST_INTERRUPT_AT", p);
        }
        cmd.output().unwrap()
    };
    assert!(dist_at(None).status.success());
    let config = ws.join("src/semantic-router/config/config.json");
    let out_dir = ws.join("dist");
    for (point, published) in [("assemble", false), ("pack", false), ("publish", true)] {
        let before = std::fs::read_to_string(out_dir.join(dir_name()).join("config/config.json")).unwrap();
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, text.replacen('{', &format!("{{\"_{point}\": 1, "), 1)).unwrap();
        let out = dist_at(Some(point));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{point}: {stderr}");
        assert!(stderr.contains("SIGINT: stopped"), "{point}: {stderr}");

        let mut left: Vec<String> =
            std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, [dir_name(), format!("{}.tar.gz", dir_name())], "{point}: scratch left behind");

        let unpacked = ws.join(format!("unpacked-{point}"));
        std::fs::create_dir_all(&unpacked).unwrap();
        let tar = Command::new("tar")
            .arg("-xzf")
            .arg(out_dir.join(format!("{}.tar.gz", dir_name())))
            .arg("-C")
            .arg(&unpacked)
            .status()
            .unwrap();
        assert!(tar.success());
        let diff = Command::new("diff")
            .arg("-r")
            .arg(unpacked.join(dir_name()))
            .arg(out_dir.join(dir_name()))
            .output()
            .unwrap();
        assert!(
            diff.status.success(),
            "{point}: the tree and the tarball differ: {}",
            String::from_utf8_lossy(&diff.stdout)
        );
        let now = std::fs::read_to_string(out_dir.join(dir_name()).join("config/config.json")).unwrap();
        assert_eq!(now.contains(&format!("\"_{point}\"")), published, "{point}: {now}");
        if !published {
            assert_eq!(now, before, "{point}: the old pair stays");
        }
    }
}
