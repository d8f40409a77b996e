//! `cargo xtask symbols FILE` prints the same names as `nm -D --defined-only`
//! (binutils), on system libraries and — when it has been built — on the
//! release library of the workspace.

mod common;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

fn xtask_symbols(file: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("symbols").arg(file).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Names of `nm -D --defined-only`, version suffixes dropped, deduplicated.
/// Lines are `<value> <type> <name>`; names may contain spaces (Go symbols).
fn nm_names(file: &Path) -> BTreeSet<String> {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(file)
        .output()
        .expect("`nm` (binutils) is needed by this test");
    assert!(out.status.success(), "nm {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.splitn(3, ' ').nth(2))
        .map(|name| name.split('@').next().unwrap().to_string())
        .collect()
}

fn assert_same_as_nm(file: &Path) {
    let (ok, stdout, stderr) = xtask_symbols(file);
    assert!(ok, "xtask symbols {}: {stderr}", file.display());
    let ours: Vec<&str> = stdout.lines().collect();
    let mut sorted = ours.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ours, sorted, "output of {} is sorted and unique", file.display());
    let ours: BTreeSet<String> = ours.into_iter().map(String::from).collect();
    let theirs = nm_names(file);
    assert!(!theirs.is_empty(), "nm found nothing in {}", file.display());
    let only_ours: Vec<_> = ours.difference(&theirs).collect();
    let only_nm: Vec<_> = theirs.difference(&ours).collect();
    assert!(
        only_ours.is_empty() && only_nm.is_empty(),
        "{}: only xtask {only_ours:?}, only nm {only_nm:?}",
        file.display()
    );
}

/// The first existing path of each group; the group must have one.
fn system_lib(candidates: &[&str]) -> PathBuf {
    let dirs = ["/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib"];
    for name in candidates {
        for d in dirs {
            let p = Path::new(d).join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("none of {candidates:?} found in {dirs:?}");
}

#[test]
fn libc_matches_nm() {
    assert_same_as_nm(&system_lib(&["libc.so.6"]));
}

#[test]
fn libm_matches_nm() {
    assert_same_as_nm(&system_lib(&["libm.so.6"]));
}

#[test]
fn libz_matches_nm_if_present() {
    let dirs = ["/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib64"];
    match dirs.iter().map(|d| Path::new(d).join("libz.so.1")).find(|p| p.is_file()) {
        Some(p) => assert_same_as_nm(&p),
        None => eprintln!("libz.so.1 not installed"),
    }
}

#[test]
fn cross_libc_matches_nm_if_present() {
    // A foreign-architecture library has section symbols in .dynsym that nm hides.
    for p in ["/usr/aarch64-linux-gnu/lib/libc.so.6", "/usr/x86_64-linux-gnu/lib/libc.so.6"] {
        let p = Path::new(p);
        if p.is_file() {
            assert_same_as_nm(p);
        }
    }
}

#[test]
fn release_library_matches_nm_if_built() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    // `cargo xtask test` and `dist` build it reproducibly (their own target
    // directory); a plain `cargo build --release` puts it in `release/`.
    let built = ["reproducible/release", "release"].map(|d| target.join(d).join("libcandle_semantic_router.so"));
    let Some(so) = built.iter().find(|p| p.is_file()).cloned() else {
        let so = &built[0];
        let why = format!("{} is not built (`cargo xtask test` builds it first)", so.display());
        return common::skip("release_library_matches_nm_if_built", "libcandle_semantic_router.so", &why);
    };
    assert_same_as_nm(&so);
    let (_, stdout, _) = xtask_symbols(&so);
    assert!(stdout.lines().any(|l| l == "init_similarity_model"), "{stdout}");
}

#[test]
fn bad_input_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notes.txt");
    std::fs::write(&f, "hello").unwrap();
    for (file, needle) in [(f.clone(), "not an ELF file"), (dir.path().join("missing"), "cannot read")] {
        let (ok, stdout, stderr) = xtask_symbols(&file);
        assert!(!ok && stdout.is_empty(), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains(needle), "{stderr}");
    }
    // An archive is not an ELF file with dynamic symbols.
    let a = dir.path().join("x.a");
    std::fs::write(&a, "!<arch>\n").unwrap();
    let (ok, _, stderr) = xtask_symbols(&a);
    assert!(!ok && stderr.contains("ar archive"), "{stderr}");
}
