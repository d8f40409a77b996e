//! A bounded run of `cargo xtask fuzz` on the committed fixture libraries
//! (amd64, and arm64 linked with `aarch64-linux-gnu-gcc` when installed) and
//! the fixture archives (their members' headers, symbols, relocations and
//! unwind tables mutated): no mutant makes the parser panic or hang, and
//! every mutant it accepts is accepted by `nm` (same names for the
//! libraries), links with the linker of its machine and, for a library,
//! loads with `dlopen` (under qemu-user for arm64). The long run (10,000 mutants,
//! several minutes) and its figures are in BENCHMARKS.md (`cargo xtask bench report`).

use std::{path::Path, process::Command};

mod common;

#[test]
fn bounded_fuzz_run_has_no_panic_hang_or_false_pass() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/elf/base");
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["fuzz", "--count", "100", "--seed", "0x5eed"])
        .arg(base.join("libfixture.so"))
        .arg(base.join("libfixture-arm64.so"))
        .arg(base.join("libfixture.a"))
        .arg(base.join("libfixture-tls.a"))
        .arg(base.join("libfixture-tls-arm64.a"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    println!("{stdout}{stderr}");
    assert!(o.status.success(), "{stdout}\n{stderr}");
    let total = stdout.lines().find(|l| l.starts_with("fuzz total: 500 mutants")).expect("a total line");
    assert!(total.contains("panics 0, hangs 0, false passes 0"), "{total}");
    // The oracles ran: some mutants were accepted (and checked), some refused.
    let accepted: u64 =
        total.split(": ").nth(2).and_then(|s| s.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    assert!(accepted > 25 && accepted < 475, "{total}");
    // The loader is an oracle for each library: natively for the host's
    // machine, under qemu-user for arm64. Where it cannot run, the run says
    // so and counts the mutants it did not judge, and this test records a
    // counted skip of the missing tool (`cargo xtask doctor --fix --platform
    // linux/arm64` installs it); under CI that is a failure.
    let loaded: u64 = total
        .split("loaded ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a loaded count");
    assert!(loaded > 0, "{total}");
    for lib in ["libfixture.so", "libfixture-arm64.so"] {
        let line = stdout.lines().find(|l| l.starts_with("fuzz ") && l.contains(lib)).expect("a line per file");
        let runs = line.contains("loads with dlopen");
        assert!(runs || line.contains("the load oracle does not run"), "{line}");
        if !runs {
            let tool = if lib.contains("arm64") { "qemu-aarch64-static" } else { "cc" };
            common::skip("bounded_fuzz_run_has_no_panic_hang_or_false_pass (load oracle)", tool, line);
        }
    }
}
