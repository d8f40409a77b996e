//! `cargo xtask verify-symbols` end to end, on small real libraries built with
//! `cc` (and `rustc`) at test time in a temporary workspace that holds the
//! generated header and a fixture Go binding (`tests/fixtures/elf/`).

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// The real generated header: the fixtures export (or omit) its functions.
const HEADER: &str = include_str!("../../candle-binding/include/candle_semantic_router.h");
const GO: &str = include_str!("fixtures/elf/binding.go");
const SONAME: &str = "libcandle_semantic_router.so";

/// A temporary workspace with the header and the Go code where xtask expects them.
struct Ws {
    dir: tempfile::TempDir,
}

impl Ws {
    fn new() -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        std::fs::create_dir_all(root.join("candle-binding/include")).unwrap();
        std::fs::write(root.join("candle-binding/include/candle_semantic_router.h"), HEADER).unwrap();
        std::fs::write(root.join("candle-binding/binding.go"), GO).unwrap();
        Ws { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, rel: &str) -> PathBuf {
        let p = self.root().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        p
    }

    /// `xtask --manifest-path <ws> verify-symbols <args>`.
    fn verify(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("--manifest-path")
            .arg(self.root().join("Cargo.toml"))
            .arg("verify-symbols")
            .args(args)
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .unwrap();
        Run::from(out)
    }
}

#[derive(Debug)]
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// The status (`PASS`/`FAIL`/`NOTE`) of the named check's row for `file`.
    fn status(&self, check: &str, file: &str) -> Option<&str> {
        self.stdout.lines().find_map(|l| {
            let mut w = l.split_whitespace();
            let (status, c, f) = (w.next()?, w.next()?, w.next()?);
            (c == check && f == file).then_some(status)
        })
    }

    fn assert_status(&self, check: &str, file: &str, want: &str) {
        assert_eq!(self.status(check, file), Some(want), "{check} of {file}:\n{self:#?}");
    }

    fn assert_clean_error(&self, needle: &str) {
        assert!(!self.ok, "{self:#?}");
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one error line expected: {self:#?}");
        assert!(lines[0].starts_with("error: ") && lines[0].contains(needle), "{self:#?}");
    }
}

fn host() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "linux/amd64",
        "aarch64" => "linux/arm64",
        other => panic!("unsupported host {other}"),
    }
}

fn foreign() -> &'static str {
    if host() == "linux/amd64" {
        "linux/arm64"
    } else {
        "linux/amd64"
    }
}

fn host_dir() -> &'static str {
    if host() == "linux/amd64" {
        "linux-amd64"
    } else {
        "linux-arm64"
    }
}

/// The function names of the fixture header (cbindgen output): file-scope
/// statements with a parameter list, outside typedefs and comments.
fn header_functions() -> Vec<String> {
    let mut code = String::new();
    let mut rest = HEADER;
    while let Some(i) = rest.find("/*") {
        code.push_str(&rest[..i]);
        rest = &rest[i + rest[i..].find("*/").unwrap() + 2..];
    }
    code.push_str(rest);
    let code: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = Vec::new();
    let mut depth = 0;
    let mut stmt = String::new();
    for c in code.chars() {
        match c {
            '{' if !stmt.trim().starts_with("extern \"C\"") => depth += 1,
            '{' => stmt.clear(),
            '}' if depth > 0 => depth -= 1,
            ';' if depth == 0 => {
                let s = std::mem::take(&mut stmt);
                if !s.trim_start().starts_with("typedef") && !s.contains('}') {
                    if let Some(open) = s.find('(') {
                        let name = s[..open].split(|c: char| !c.is_alphanumeric() && c != '_').rfind(|w| !w.is_empty());
                        out.push(name.unwrap().to_string());
                    }
                }
            }
            _ if depth == 0 => stmt.push(c),
            _ => {}
        }
    }
    assert!(out.len() >= 5, "fixture header functions: {out:?}");
    out
}

/// C source defining every header function (signatures do not matter to the
/// symbol table), calling libc so that the library needs versioned glibc.
fn good_c_source() -> String {
    let mut src = String::from("#include <string.h>\n");
    for f in header_functions() {
        src.push_str(&format!("void {f}(char *d, const char *s) {{ memcpy(d, s, strlen(s)); }}\n"));
    }
    src
}

fn cc(args: &[&str]) {
    let out = Command::new("cc").args(args).output().expect("`cc` is needed to build the test fixtures");
    assert!(out.status.success(), "cc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Build a shared library from C source with extra link args.
fn c_lib(dir: &Path, name: &str, src: &str, extra: &[&str]) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, src).unwrap();
    let so = dir.join(name);
    let soname = format!("-Wl,-soname,{SONAME}");
    let mut args = vec!["-shared", "-fPIC", "-O0", &soname, "-o", so.to_str().unwrap(), c.to_str().unwrap()];
    args.extend_from_slice(extra);
    cc(&args);
    so
}

#[test]
fn good_c_library_passes() {
    let ws = Ws::new();
    let so = c_lib(ws.root(), SONAME, &good_c_source(), &[]);
    let r = ws.verify(&["--platform", host(), so.to_str().unwrap()]);
    assert!(r.ok, "{r:#?}");
    for check in
        ["elf-type", "machine", "header-exports", "go-exports", "rust-internals", "glibc", "needed", "soname", "rpath"]
    {
        r.assert_status(check, SONAME, "PASS");
    }
    // Default platform is the host.
    assert!(ws.verify(&[so.to_str().unwrap()]).ok);
}

#[test]
fn json_output() {
    let ws = Ws::new();
    let so = c_lib(ws.root(), SONAME, "int unrelated(void) { return 1; }\n", &[]);
    let r = ws.verify(&["--json", so.to_str().unwrap()]);
    assert!(!r.ok);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:#?}"));
    assert_eq!(v["ok"], false);
    assert_eq!(v["platform"], host());
    assert_eq!(v["max_glibc"], "2.36");
    let checks = v["checks"].as_array().unwrap();
    let failed: Vec<&str> =
        checks.iter().filter(|c| c["status"] == "fail").map(|c| c["check"].as_str().unwrap()).collect();
    assert_eq!(failed, ["header-exports", "go-exports"], "{}", r.stdout);
    assert!(checks.iter().any(|c| c["status"] == "note" && c["check"] == "extra-exports"));
    assert!(r.stderr.contains("header-exports, go-exports"), "{r:#?}");
}

#[test]
fn empty_c_library_lists_missing_exports() {
    let ws = Ws::new();
    let so = c_lib(ws.root(), SONAME, "", &[]);
    let r = ws.verify(&[so.to_str().unwrap()]);
    assert!(!r.ok);
    r.assert_status("header-exports", SONAME, "FAIL");
    r.assert_status("go-exports", SONAME, "FAIL");
    for f in header_functions() {
        assert!(r.stdout.contains(&format!("{f} (missing)")), "{f}: {r:#?}");
    }
    assert!(r.stderr.contains(&format!("{SONAME}: header-exports, go-exports")), "{r:#?}");
}

#[test]
fn empty_rust_cdylib_fails() {
    let ws = Ws::new();
    let src = ws.path("empty.rs");
    std::fs::write(&src, "").unwrap();
    let so = ws.root().join(SONAME);
    let out = Command::new("rustc")
        .args(["--crate-type", "cdylib", "--crate-name", "empty", "-o"])
        .arg(&so)
        .arg(&src)
        .output()
        .expect("rustc");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = ws.verify(&[so.to_str().unwrap()]);
    assert!(!r.ok);
    r.assert_status("header-exports", SONAME, "FAIL");
    r.assert_status("soname", SONAME, "FAIL"); // rustc sets none without build.rs
    r.assert_status("rust-internals", SONAME, "PASS");
}

#[test]
fn wrong_machine_fails() {
    let ws = Ws::new();
    let so = c_lib(ws.root(), SONAME, &good_c_source(), &[]);
    let r = ws.verify(&["--platform", foreign(), so.to_str().unwrap()]);
    assert!(!r.ok);
    r.assert_status("machine", SONAME, "FAIL");
    r.assert_status("header-exports", SONAME, "PASS");
    assert!(r.stderr.contains(&format!("{SONAME}: machine")), "{r:#?}");
}

#[test]
fn arm64_library_checked_as_arm64() {
    if common::require_tool("arm64_library_checked_as_arm64", "aarch64-linux-gnu-gcc").is_none() {
        return;
    }
    let ws = Ws::new();
    let c = ws.path("lib.c");
    std::fs::write(&c, good_c_source()).unwrap();
    let so = ws.root().join(SONAME);
    let out = Command::new("aarch64-linux-gnu-gcc")
        .args(["-shared", "-fPIC", &format!("-Wl,-soname,{SONAME}"), "-o"])
        .arg(&so)
        .arg(&c)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = ws.verify(&["--platform", "linux/arm64", so.to_str().unwrap()]);
    assert!(r.ok, "{r:#?}");
    assert!(r.stdout.contains("AARCH64 ELF64 little-endian (linux/arm64)"), "{r:#?}");
    let r = ws.verify(&["--platform", "linux/amd64", so.to_str().unwrap()]);
    r.assert_status("machine", SONAME, "FAIL");
}

#[test]
fn not_elf_is_one_clear_error() {
    let ws = Ws::new();
    let f = ws.path("libcandle_semantic_router.so");
    std::fs::write(&f, "#!/bin/sh\necho not a library\n").unwrap();
    ws.verify(&[f.to_str().unwrap()]).assert_clean_error("not an ELF file");
    std::fs::write(&f, "").unwrap();
    ws.verify(&[f.to_str().unwrap()]).assert_clean_error("empty file");
    let missing = ws.root().join("nope.so");
    ws.verify(&[missing.to_str().unwrap()]).assert_clean_error("cannot read");
}

#[test]
fn truncated_elf_is_one_clear_error() {
    let ws = Ws::new();
    let so = c_lib(ws.root(), "full.so", &good_c_source(), &[]);
    let bytes = std::fs::read(&so).unwrap();
    let cut = ws.path(SONAME);
    for n in [3, 40, 200, 1000, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&cut, &bytes[..n]).unwrap();
        let r = ws.verify(&[cut.to_str().unwrap()]);
        r.assert_clean_error(SONAME);
        assert!(r.stderr.contains("truncated") || r.stderr.contains("malformed"), "{n}: {r:#?}");
    }
}

#[test]
fn leaked_rust_symbols_fail() {
    let ws = Ws::new();
    let src = format!("{}\nvoid _ZN3foo3barE(void) {{}}\n", good_c_source());
    let so = c_lib(ws.root(), SONAME, &src, &[]);
    let r = ws.verify(&[so.to_str().unwrap()]);
    assert!(!r.ok);
    r.assert_status("rust-internals", SONAME, "FAIL");
    assert!(r.stdout.contains("_ZN3foo3barE"), "{r:#?}");

    // A Rust cdylib exporting a `__rust_` name.
    let rs = ws.path("leak.rs");
    std::fs::write(&rs, "#[no_mangle]\npub extern \"C\" fn __rust_x() {}\n").unwrap();
    let so2 = ws.root().join("libleak.so");
    let out = Command::new("rustc")
        .args(["--crate-type", "cdylib", "--crate-name", "leak", "-C", "opt-level=0", "-o"])
        .arg(&so2)
        .arg(&rs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = ws.verify(&[so2.to_str().unwrap()]);
    r.assert_status("rust-internals", "libleak.so", "FAIL");
    assert!(r.stdout.contains("__rust_x"), "{r:#?}");
}

#[test]
fn rpath_outside_origin_fails() {
    let ws = Ws::new();
    let bad = c_lib(ws.root(), SONAME, &good_c_source(), &["-Wl,-rpath,/opt/x"]);
    let r = ws.verify(&[bad.to_str().unwrap()]);
    r.assert_status("rpath", SONAME, "FAIL");
    assert!(r.stdout.contains("/opt/x"), "{r:#?}");
    assert!(r.stderr.contains(&format!("{SONAME}: rpath")), "{r:#?}");

    let dir = ws.path("origin/x");
    let good = c_lib(dir.parent().unwrap(), SONAME, &good_c_source(), &["-Wl,-rpath,$ORIGIN/../lib:${ORIGIN}"]);
    let r = ws.verify(&[good.to_str().unwrap()]);
    assert!(r.ok, "{r:#?}");
    r.assert_status("rpath", SONAME, "PASS");
}

#[test]
fn glibc_floor_and_needed() {
    let ws = Ws::new();
    let so = c_lib(ws.root(), SONAME, &good_c_source(), &[]);
    let r = ws.verify(&["--max-glibc", "2.0", so.to_str().unwrap()]);
    r.assert_status("glibc", SONAME, "FAIL");
    assert!(r.stdout.contains("newer than 2.0"), "{r:#?}");
    ws.verify(&["--max-glibc", "two", so.to_str().unwrap()]).assert_clean_error("--max-glibc");

    // A dependency outside the allowlist.
    let dep_dir = ws.path("dep/x");
    let dep_dir = dep_dir.parent().unwrap();
    cc(&[
        "-shared",
        "-fPIC",
        "-Wl,-soname,libother.so",
        "-o",
        dep_dir.join("libother.so").to_str().unwrap(),
        "-x",
        "c",
        "/dev/null",
    ]);
    let libdir = format!("-L{}", dep_dir.display());
    let so = c_lib(ws.root(), SONAME, &good_c_source(), &[&libdir, "-Wl,--no-as-needed", "-lother"]);
    let r = ws.verify(&[so.to_str().unwrap()]);
    r.assert_status("needed", SONAME, "FAIL");
    assert!(r.stdout.contains("libother.so"), "{r:#?}");
}

#[test]
fn default_files_archive_and_router() {
    let ws = Ws::new();
    let release = ws.path("target/release/x");
    let release = release.parent().unwrap();
    // The shared library and a static archive of the same object.
    c_lib(release, SONAME, &good_c_source(), &[]);
    let c = release.join(format!("{SONAME}.c"));
    let o = release.join("lib.o");
    cc(&["-c", "-fPIC", "-o", o.to_str().unwrap(), c.to_str().unwrap()]);
    let a = release.join("libcandle_semantic_router.a");
    let out = Command::new("ar").arg("rcs").arg(&a).arg(&o).output().unwrap();
    assert!(out.status.success());

    // No router yet: a clear "not built" failure, unless --no-go.
    let r = ws.verify(&[]);
    assert!(!r.ok);
    r.assert_status("built", "extproc", "FAIL");
    assert!(r.stdout.contains("not built"), "{r:#?}");
    r.assert_status("machine", "libcandle_semantic_router.a", "PASS");
    r.assert_status("header-exports", "libcandle_semantic_router.a", "PASS");
    assert!(ws.verify(&["--no-go"]).ok);
    // --release is the default; the dev profile has nothing built.
    let r = ws.verify(&["--profile", "dev", "--no-go"]);
    r.assert_status("built", SONAME, "FAIL");

    // The router: an executable linked against the library.
    let main = ws.path("main.c");
    std::fs::write(&main, "void init_similarity_model(void);\nint main(void) { init_similarity_model(); return 0; }\n")
        .unwrap();
    let router = ws.path(&format!("target/go/{}/extproc", host_dir()));
    let libdir = format!("-L{}", release.display());
    cc(&["-o", router.to_str().unwrap(), main.to_str().unwrap(), &libdir, "-lcandle_semantic_router"]);
    let r = ws.verify(&["--release"]);
    assert!(r.ok, "{r:#?}");
    for check in ["elf-type", "machine", "needs-library", "glibc"] {
        r.assert_status(check, "extproc", "PASS");
    }

    // A router that does not use the library, and an archive missing functions.
    let plain = ws.path("plain.c");
    std::fs::write(&plain, "int main(void) { return 0; }\n").unwrap();
    cc(&["-o", router.to_str().unwrap(), plain.to_str().unwrap()]);
    let empty_o = release.join("empty.o");
    cc(&["-c", "-o", empty_o.to_str().unwrap(), "-x", "c", "/dev/null"]);
    std::fs::remove_file(&a).unwrap();
    let out = Command::new("ar").arg("rcs").arg(&a).arg(&empty_o).output().unwrap();
    assert!(out.status.success());
    let r = ws.verify(&[]);
    r.assert_status("needs-library", "extproc", "FAIL");
    r.assert_status("header-exports", "libcandle_semantic_router.a", "FAIL");

    // Checked as the other platform: every member's machine is wrong.
    let r = ws.verify(&["--platform", foreign(), &a.display().to_string()]);
    r.assert_status("machine", "libcandle_semantic_router.a", "FAIL");
}

/// A scaled 8-byte `:lo12:` load of another member's function: each member
/// is fine alone, and ld refuses the link ("relocation truncated to fit:
/// R_AARCH64_LDST64_ABS_LO12_NC"), so the archive's `imports` row fails.
#[test]
fn a_scaled_load_of_another_members_function_fails_the_imports_row() {
    let ws = Ws::new();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/elf/scaled/libfixture-scaled-arm64.a");
    let file = ws.path("libfixture-scaled-arm64.a");
    std::fs::copy(fixture, &file).unwrap();
    let run = ws.verify(&["--platform", "linux/arm64", file.to_str().unwrap()]);
    assert!(!run.ok, "{run:?}");
    assert_eq!(run.status("imports", "libfixture-scaled-arm64.a"), Some("FAIL"), "{run:?}");
    assert!(
        run.stdout
            .contains("fixture_f (g.o: a 8-byte scaled load or store of a function, which code is not aligned to)"),
        "{run:?}"
    );
}
