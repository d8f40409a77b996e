//! The crafted corpus of malformed ELF files (`fixtures/elf/corpus.txt`):
//! each is a committed base file plus patches, and each must be refused by
//! `cargo xtask symbols` with its own one-line error naming the structure and
//! its offset. The `nm` column records whether `nm -D --defined-only` refuses
//! it too, or why xtask is stricter; it is checked against the real `nm`.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

const CORPUS: &str = include_str!("fixtures/elf/corpus.txt");
const HEADER: &str = include_str!("../../candle-binding/include/candle_semantic_router.h");
const GO: &str = include_str!("fixtures/elf/binding.go");

fn base(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/elf/base").join(name)
}

struct Case {
    name: String,
    base: String,
    patches: Vec<(usize, Vec<u8>)>,
    nm_refuses: bool,
    error: String,
}

fn corpus() -> Vec<Case> {
    CORPUS
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.splitn(5, " | ").collect();
            assert_eq!(f.len(), 5, "corpus line: {l}");
            let patches = f[2]
                .split_whitespace()
                .map(|p| {
                    let (at, hex) = p.split_once('=').unwrap();
                    let at = usize::from_str_radix(at.trim_start_matches("0x"), 16).unwrap();
                    let bytes =
                        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
                    (at, bytes)
                })
                .collect();
            Case {
                name: f[0].to_string(),
                base: f[1].to_string(),
                patches,
                nm_refuses: f[3] == "refuses",
                error: f[4].to_string(),
            }
        })
        .collect()
}

fn write_case(dir: &Path, c: &Case) -> PathBuf {
    let mut bytes = std::fs::read(base(&c.base)).unwrap();
    for (at, b) in &c.patches {
        bytes[*at..*at + b.len()].copy_from_slice(b);
    }
    let ext = if c.base.ends_with(".a") { "a" } else { "so" };
    let p = dir.join(format!("{}.{ext}", c.name));
    std::fs::write(&p, bytes).unwrap();
    p
}

fn xtask(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).env_remove("CARGO_TARGET_DIR").output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `nm -D --defined-only` (`nm --defined-only` for an archive of objects).
fn nm_refuses(file: &Path) -> bool {
    let args: &[&str] =
        if file.extension().is_some_and(|e| e == "a") { &["--defined-only"] } else { &["-D", "--defined-only"] };
    let o = Command::new("nm").args(args).arg(file).output().expect("`nm` (binutils) is needed");
    !o.status.success() || !o.stderr.is_empty()
}

#[test]
fn each_crafted_file_is_refused_with_its_own_error() {
    let dir = tempfile::tempdir().unwrap();
    let cases = corpus();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut errors = BTreeSet::new();
    for c in &cases {
        let f = write_case(dir.path(), c);
        let (ok, stdout, stderr) = xtask(&["symbols".as_ref(), f.as_os_str()]);
        assert!(!ok && stdout.is_empty(), "{}: accepted\n{stdout}", c.name);
        assert_eq!(stderr.lines().count(), 1, "{}: one line expected:\n{stderr}", c.name);
        assert!(!stderr.contains("panicked"), "{}: {stderr}", c.name);
        // An archive member's error names it: `error: lib.a(member.o): …`.
        let (want, member) = (format!("error: {}: ", f.display()), format!("error: {}(", f.display()));
        let named = stderr.starts_with(&want) || stderr.starts_with(&member);
        assert!(named && stderr.contains(&c.error), "{}: want {:?}\ngot {stderr}", c.name, c.error);
        assert!(stderr.contains("offset 0x"), "{}: no offset named: {stderr}", c.name);
        assert!(errors.insert(c.error.clone()), "{}: the same error as another case", c.name);
        assert_eq!(nm_refuses(&f), c.nm_refuses, "{}: nm column of corpus.txt is stale", c.name);
    }
    // One case per structure the issue names.
    for needle in [
        "ei-class",
        "e-phentsize",
        "pt-load",
        "pt-dynamic",
        "dt-",
        "dynsym-",
        "hash-",
        "gnu-hash",
        "glibc-2.34",
        "vn",
        "versym",
        "rela-",
        "ar-member",
        "obj-rela",
        "obj-eh-frame",
    ] {
        assert!(cases.iter().any(|c| c.name.starts_with(needle) || c.name.contains(needle)), "no {needle} case");
    }
}

/// Names of `nm -D --defined-only`, versions dropped, deduplicated.
fn nm_names(file: &Path) -> Vec<String> {
    let o = Command::new("nm").args(["-D", "--defined-only"]).arg(file).output().unwrap();
    assert!(o.status.success());
    let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.splitn(3, ' ').nth(2))
        .map(|n| n.split('@').next().unwrap().to_string())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn the_bases_are_valid_and_match_nm() {
    for b in ["libfixture.so", "libfixture-arm64.so"] {
        let (ok, stdout, stderr) = xtask(&["symbols".as_ref(), base(b).as_os_str()]);
        assert!(ok, "{b}: {stderr}");
        let ours: Vec<String> = stdout.lines().map(String::from).collect();
        assert_eq!(ours, nm_names(&base(b)), "{b}");
        assert!(ours.contains(&"init_similarity_model".to_string()) && ours.contains(&"CANDLE_1.0".to_string()));
    }
}

/// A relocation of type 0 (`R_X86_64_NONE`, `R_RISCV_NONE`, …) past the
/// DT_RELACOUNT relative ones is well formed wherever it points: the loader
/// skips it, and ld leaves such entries (offset 0) where relaxation dropped a
/// dynamic relocation (Go's riscv64 cgo programs, linked at 0x10000, have
/// one). Relocation 3 of the fixture (its first after the 3 relative ones)
/// with an offset outside the image is refused with its real type, and
/// accepted as NONE. (Among the relative ones, the loader asserts the type
/// is RELATIVE: see the corpus' `rela-relacount-not-relative`.)
#[test]
fn a_none_relocation_is_accepted_wherever_it_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut real = corpus().into_iter().find(|c| c.name == "rela-offset-outside-load").unwrap();
    real.patches = vec![(0x800, vec![0, 0, 0x90, 0, 0, 0, 0, 0])];
    let (ok, _, stderr) = xtask(&["symbols".as_ref(), write_case(dir.path(), &real).as_os_str()]);
    assert!(!ok && stderr.contains("relocation 3 of DT_RELA (entry at offset 0x800): r_offset 0x900000"), "{stderr}");
    let (at, _) = real.patches[0];
    let mut patches = real.patches.clone();
    patches.push((at + 8, vec![0; 8])); // r_info: symbol 0, type 0
    let none = Case { name: "rela-none".into(), patches, ..real };
    let f = write_case(dir.path(), &none);
    let (ok, stdout, stderr) = xtask(&["symbols".as_ref(), f.as_os_str()]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.lines().map(String::from).collect::<Vec<_>>(), nm_names(&f));
}

/// The worst case: a corrupt name pointer of the `GLIBC_2.34` version
/// need made `verify-symbols --max-glibc 2.33` PASS. Now it is an error.
#[test]
fn glibc_version_name_pointer_is_an_error_not_a_pass() {
    let ws = tempfile::tempdir().unwrap();
    let root = ws.path();
    std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    std::fs::create_dir_all(root.join("candle-binding/include")).unwrap();
    std::fs::write(root.join("candle-binding/include/candle_semantic_router.h"), HEADER).unwrap();
    std::fs::write(root.join("candle-binding/binding.go"), GO).unwrap();
    let verify = |file: &Path, max: &str| {
        let m = root.join("Cargo.toml");
        xtask(&[
            "--manifest-path".as_ref(),
            m.as_os_str(),
            "verify-symbols".as_ref(),
            "--platform".as_ref(),
            "linux/amd64".as_ref(),
            "--max-glibc".as_ref(),
            max.as_ref(),
            file.as_os_str(),
        ])
    };
    let glibc_row =
        |stdout: &str| stdout.lines().find(|l| l.split_whitespace().nth(1) == Some("glibc")).map(String::from);
    let (_, stdout, _) = verify(&base("libfixture.so"), "2.33");
    let row = glibc_row(&stdout).unwrap_or_default();
    assert!(row.starts_with("FAIL") && row.contains("GLIBC_2.34"), "{stdout}");
    let (_, stdout, _) = verify(&base("libfixture.so"), "2.34");
    assert!(glibc_row(&stdout).unwrap_or_default().starts_with("PASS"), "{stdout}");
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<Case> = corpus().into_iter().filter(|c| c.name.starts_with("glibc-2.34")).collect();
    assert_eq!(cases.len(), 2);
    for c in &cases {
        let f = write_case(dir.path(), c);
        let (ok, stdout, stderr) = verify(&f, "2.33");
        assert!(!ok && glibc_row(&stdout).is_none(), "{}: {stdout}", c.name);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("vna_name") && stderr.contains(&c.error), "{stderr}");
    }
}

/// A byte changed in the name of an imported symbol (`malloc` → `mahloc`)
/// leaves a well-formed file that nm lists but no program links against:
/// `verify-symbols` resolves the imports against the needed libraries.
#[test]
fn renamed_import_fails_the_imports_check() {
    let ws = tempfile::tempdir().unwrap();
    let root = ws.path();
    std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    std::fs::create_dir_all(root.join("candle-binding/include")).unwrap();
    std::fs::write(root.join("candle-binding/include/candle_semantic_router.h"), HEADER).unwrap();
    std::fs::write(root.join("candle-binding/binding.go"), GO).unwrap();
    let mut bytes = std::fs::read(base("libfixture.so")).unwrap();
    let at = bytes.windows(8).position(|w| w == b"\0malloc\0").unwrap() + 3;
    bytes[at] = b'h';
    let f = root.join("libcandle_semantic_router.so");
    std::fs::write(&f, &bytes).unwrap();
    let m = root.join("Cargo.toml");
    let (ok, stdout, stderr) =
        xtask(&["--manifest-path".as_ref(), m.as_os_str(), "verify-symbols".as_ref(), f.as_os_str()]);
    assert!(!ok, "{stdout}");
    let row = stdout.lines().find(|l| l.split_whitespace().nth(1) == Some("imports")).unwrap_or_default();
    assert!(row.starts_with("FAIL") && row.contains("mahloc@GLIBC_2.2.5 (libc.so.6)"), "{stdout}\n{stderr}");
    assert!(!nm_refuses(&f), "nm lists it");
    // The base resolves.
    let (_, stdout, _) = xtask(&[
        "--manifest-path".as_ref(),
        m.as_os_str(),
        "verify-symbols".as_ref(),
        base("libfixture.so").as_os_str(),
    ]);
    let row = stdout.lines().find(|l| l.split_whitespace().nth(1) == Some("imports")).unwrap_or_default();
    assert!(row.starts_with("PASS"), "{stdout}");
}

/// What only the final link decides about an archive, `verify-symbols`
/// checks as it does for a library: a renamed import of a member
/// (`pthread_join` → `pthread_joim`), a member that is not
/// position-independent (an `R_X86_64_32` in `.text`: a PIE link refuses
/// it), a PC-relative reference to a shared library's function (`strlen`
/// through `R_X86_64_PC32`, not the PLT) and a TLS reference to a non-TLS
/// definition. nm lists all four; the base passes.
#[test]
fn archive_imports_and_pic_are_verify_checks() {
    let ws = tempfile::tempdir().unwrap();
    let root = ws.path();
    std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    std::fs::create_dir_all(root.join("candle-binding/include")).unwrap();
    std::fs::write(root.join("candle-binding/include/candle_semantic_router.h"), HEADER).unwrap();
    std::fs::write(root.join("candle-binding/binding.go"), GO).unwrap();
    let m = root.join("Cargo.toml");
    let row = |f: &Path, check: &str| {
        let (_, stdout, stderr) = xtask(&[
            "--manifest-path".as_ref(),
            m.as_os_str(),
            "verify-symbols".as_ref(),
            "--platform".as_ref(),
            "linux/amd64".as_ref(),
            f.as_os_str(),
        ]);
        let r = stdout.lines().find(|l| l.split_whitespace().nth(1) == Some(check)).map(String::from);
        r.unwrap_or_else(|| panic!("no {check} row:\n{stdout}\n{stderr}"))
    };
    let base_a = base("libfixture.a");
    assert!(row(&base_a, "imports").starts_with("PASS"), "{}", row(&base_a, "imports"));
    assert!(row(&base_a, "pic").starts_with("PASS"), "{}", row(&base_a, "pic"));
    let bytes = std::fs::read(&base_a).unwrap();
    let patched = |name: &str, patches: &[(usize, &[u8])]| {
        let mut b = bytes.clone();
        for (at, p) in patches {
            b[*at..*at + p.len()].copy_from_slice(p);
        }
        let f = root.join(name);
        std::fs::write(&f, b).unwrap();
        assert!(!nm_refuses(&f), "{name}: nm lists it");
        f
    };
    let at = bytes.windows(13).position(|w| w == b"pthread_join\0").unwrap() + 11;
    let renamed = patched("renamed.a", &[(at, b"m")]);
    let r = row(&renamed, "imports");
    assert!(r.starts_with("FAIL") && r.contains("pthread_joim (fixture.o)"), "{r}");
    // Relocation 0 of .rela.text (r_info at offset 0x83c): PLT32 → 32, → PC32.
    let non_pic = patched("non-pic.a", &[(0x83c, &[10, 0, 0, 0])]);
    let r = row(&non_pic, "pic");
    assert!(r.starts_with("FAIL") && r.contains("fixture.o (relocation 0 of section header 2 (.rela.text)"), "{r}");
    // The same relocation made R_X86_64_NONE against symbol 1, the FILE
    // symbol (SHN_ABS): ld refuses a relocation against an absolute symbol
    // in a PIE link unless it resolves to the value ("… against absolute
    // symbol `fixture.c' in section `.text' is disallowed").
    let none_abs = patched("none-abs.a", &[(0x83c, &[0, 0, 0, 0, 1, 0, 0, 0])]);
    let r = row(&none_abs, "pic");
    assert!(r.starts_with("FAIL") && r.contains("relocation 0 of section header 2 (.rela.text)"), "{r}");
    // Relocation 3 (r_info at 0x884) calls strlen.
    let pc32 = patched("pc32.a", &[(0x884, &[2, 0, 0, 0])]);
    let r = row(&pc32, "imports");
    assert!(r.starts_with("FAIL") && r.contains("strlen (fixture.o: a PC-relative reference"), "{r}");
    // Symbol 17 (free, undefined) made STT_TLS: st_info at 0x194 + 0x338 + 17 * 24 + 4.
    let tls = patched("tls.a", &[(0x194 + 0x338 + 17 * 24 + 4, &[0x16])]);
    let r = row(&tls, "imports");
    assert!(r.starts_with("FAIL") && r.contains("free (fixture.o: a TLS reference"), "{r}");
    // AArch64: relocation 4 of tls.o's .rela.text (the CALL26 of free, r_info
    // at 0x3dc) made PREL32, data PC-relative, or MOVW_PREL_G0_NC: ld refuses
    // both in a PIE link ("can not be used when making a shared object").
    for (name, t) in [("prel32-arm64.a", [5, 1, 0, 0]), ("movw-prel-arm64.a", [0x20, 1, 0, 0])] {
        let mut arm = std::fs::read(base("libfixture-tls-arm64.a")).unwrap();
        arm[0x3dc..0x3e0].copy_from_slice(&t);
        let f = root.join(name);
        std::fs::write(&f, arm).unwrap();
        assert!(!nm_refuses(&f), "{name}: nm lists it");
        let (_, stdout, stderr) = xtask(&[
            "--manifest-path".as_ref(),
            m.as_os_str(),
            "verify-symbols".as_ref(),
            "--platform".as_ref(),
            "linux/arm64".as_ref(),
            f.as_os_str(),
        ]);
        let r = stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some("imports"))
            .unwrap_or_else(|| panic!("{stdout}{stderr}"));
        assert!(r.starts_with("FAIL") && r.contains("free (tls.o: a PC-relative reference"), "{name}: {r}");
    }
}
