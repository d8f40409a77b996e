//! Honest skips for the integration tests: a test that cannot run here says
//! so in a way that is counted. libtest has no runtime skip, so [`skip`]
//! prints `SKIPPED` and appends a line to `$XTASK_SKIP_LOG` when it is set;
//! `cargo xtask test` sets it, reports how many tests were skipped and why,
//! and under `CI=true` fails when a skipped test's tool is one the package
//! table could install (`install::need_of_tool`). Tests that can never run on
//! this host (another architecture) are `#[ignore = "why"]` instead.

#![allow(dead_code)] // each test file uses part of it

use std::{io::Write, path::PathBuf};

/// Record that `test` did not run because `tool` is missing (`why`: a short reason).
pub fn skip(test: &str, tool: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
    if let Some(log) = std::env::var_os("XTASK_SKIP_LOG").filter(|v| !v.is_empty()) {
        let line = format!("{test}\t{tool}\t{}\n", why.replace(['\t', '\n'], " "));
        let mut f =
            std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("XTASK_SKIP_LOG is writable");
        f.write_all(line.as_bytes()).expect("XTASK_SKIP_LOG is writable");
    }
}

/// `tool` on PATH, or a recorded skip of `test` (then `None`).
pub fn require_tool(test: &str, tool: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(tool))
        .find(|p| p.is_file());
    if found.is_none() {
        skip(test, tool, &format!("{tool} is not installed"));
    }
    found
}
