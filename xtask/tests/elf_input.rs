//! `symbols` and `verify-symbols` on inputs that are not ordinary files, or
//! are huge: each is one error (or, for a valid library padded to 8 GiB, the
//! right answer) in under a second and under 100 MB of memory. Before, a FIFO
//! hung forever and `/dev/zero` or a sparse file were read whole.
//!
//! The only test of this file: the peak RSS of the children is read with
//! `getrusage(RUSAGE_CHILDREN)`, which counts every child of the process.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

const HEADER: &str = include_str!("../../candle-binding/include/candle_semantic_router.h");
const GO: &str = include_str!("fixtures/elf/binding.go");

fn max_rss_children_kb() -> i64 {
    // SAFETY: getrusage fills the struct it is given.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru), 0);
        ru.ru_maxrss
    }
}

#[test]
fn fifo_directory_dev_zero_and_sparse_8_gib_are_fast_and_small() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    std::fs::create_dir_all(root.join("candle-binding/include")).unwrap();
    std::fs::write(root.join("candle-binding/include/candle_semantic_router.h"), HEADER).unwrap();
    std::fs::write(root.join("candle-binding/binding.go"), GO).unwrap();

    let fifo = root.join("fifo.so");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let sparse = root.join("sparse.so");
    std::fs::File::create(&sparse).unwrap().set_len(8 << 30).unwrap();
    // A valid library followed by 8 GiB of holes: still valid, read in pages.
    let padded = root.join("padded.so");
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/elf/base/libfixture.so");
    std::fs::copy(&base, &padded).unwrap();
    std::fs::OpenOptions::new().write(true).open(&padded).unwrap().set_len(8 << 30).unwrap();

    let cases: [(&Path, &str); 5] = [
        (&fifo, "a FIFO, not an ELF file"),
        (root, "a directory, not an ELF file"),
        (Path::new("/dev/zero"), "a character device, not an ELF file"),
        (&sparse, "not an ELF file or ar archive (starts with 0000000000000000)"),
        (&padded, ""),
    ];
    let manifest = root.join("Cargo.toml");
    for (file, want) in cases {
        for cmd in ["symbols", "verify-symbols"] {
            let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
            c.arg("--manifest-path").arg(&manifest).arg(cmd).arg(file);
            let t = Instant::now();
            let o = c.output().unwrap();
            let took = t.elapsed();
            let rss_mb = max_rss_children_kb() / 1024;
            let stderr = String::from_utf8_lossy(&o.stderr);
            println!(
                "{cmd} {}: {took:.2?}, peak RSS of the children so far {rss_mb} MB: {}",
                file.display(),
                stderr.trim()
            );
            if want.is_empty() {
                // The padded library is a valid library.
                if cmd == "symbols" {
                    assert!(o.status.success(), "{stderr}");
                    assert!(String::from_utf8_lossy(&o.stdout).lines().any(|l| l == "init_similarity_model"));
                }
            } else {
                assert!(!o.status.success());
                assert_eq!(stderr.lines().count(), 1, "{stderr}");
                assert!(stderr.contains(want), "{cmd} {}: {stderr}", file.display());
            }
            assert!(took < Duration::from_secs(1), "{cmd} {}: {took:?}", file.display());
            assert!(rss_mb < 100, "{cmd} {}: peak RSS {rss_mb} MB", file.display());
        }
    }
}
