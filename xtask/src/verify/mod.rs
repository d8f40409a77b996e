//! `cargo xtask verify-symbols`: check the built library, static library and
//! router binary with goblin, and the reusable checks behind it.
//!
//! Checks (each a named row, PASS/FAIL with a detail; notes never fail):
//!
//! | check            | `.so` | `.a` | router | what                                                              |
//! |------------------|:-----:|:----:|:------:|-------------------------------------------------------------------|
//! | `built`          |   x   |  x   |   x    | the default file exists (only when files were defaulted)          |
//! | `elf-type`       |   x   |      |   x    | a shared object with a SONAME / an executable                      |
//! | `machine`        |   x   |  x   |   x    | machine, class, endianness of the platform (every archive member)  |
//! | `header-exports` |   x   |  x   |        | every function of the cbindgen header: defined GLOBAL DEFAULT FUNC |
//! | `go-exports`     |   x   |  x   |        | every `C.<name>` the Go code calls is exported                     |
//! | `rust-internals` |   x   |      |        | no `_ZN…`, `_R…`, `__rust_…`, `__rdl_…`, `__rg_…`, `rust_eh_personality` |
//! | `extra-exports`  |   x   |      |        | note: other exports outside the header                             |
//! | `glibc`          |   x   |      |   x    | highest `GLIBC_x.y` needed ≤ `--max-glibc` (default: `Platform::glibc_floor`, 2.36 of bookworm; riscv64 2.41 of trixie) |
//! | `needed`         |   x   |      |        | NEEDED ⊆ [`NEEDED_ALLOWLIST`] + the platform's glibc loader        |
//! | `needs-library`  |       |      |   x    | NEEDED has `libcandle_semantic_router.so`                          |
//! | `soname`         |   x   |      |        | SONAME is `libcandle_semantic_router.so`                           |
//! | `rpath`          |   x   |      |  note  | RPATH/RUNPATH only `$ORIGIN` forms                                 |
//!
//! [`verify_outputs`] (the default files of a build) is what `dist` calls; [`SymbolReport::ok`]
//! says whether everything passed.
//!
//! Files: [`report`] (the rows and their table), [`expect`] (what the files
//! must satisfy, read from the workspace), [`checks`] (the checks), [`header`]
//! (the C header parser) and [`cgo`] (the `C.<name>` scanner of the Go code).

mod cgo;
mod checks;
mod expect;
mod header;
mod report;

use anyhow::Result;

pub use checks::{verify_file, verify_outputs};
pub use expect::Expectations;
pub use report::SymbolReport;

use crate::{build::Outputs, ctx::Ctx, flags, platform::Platform};

/// SONAME of the library, set by `candle-binding/build.rs`.
pub const SONAME: &str = "libcandle_semantic_router.so";
/// The generated C header, relative to the workspace root.
pub const HEADER: &str = "candle-binding/include/candle_semantic_router.h";
/// Where the Go code that calls the library lives, relative to the workspace root.
pub const GO_DIRS: [&str; 2] = ["candle-binding", "src/semantic-router"];

/// Libraries the shared library may need, besides the platform's dynamic
/// loader ([`Platform::glibc_loader`], e.g. for `__tls_get_addr`). All ship with glibc (and libgcc_s,
/// which Rust's unwinder needs) in every glibc image. `libstdc++.so.6` is
/// deliberately absent: it is in bookworm images too, but its appearance means
/// a C++ dependency crept in (e.g. tokenizers' `esaxx_fast`); allowing it
/// should be a decision made here, not an accident.
pub const NEEDED_ALLOWLIST: &[&str] =
    &["libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "libgcc_s.so.1"];

impl flags::VerifySymbols {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let platform = self.platform.map_or_else(Platform::host, Ok)?;
        let ws = ctx.workspace()?;
        let exp = Expectations::from_workspace(&ws.root, platform, self.max_glibc.as_deref())?;
        let report = if self.files.is_empty() {
            let profile = if self.profile.profile.is_none() && !self.profile.release {
                flags::Profile::RELEASE // default: release
            } else {
                self.profile.clone()
            };
            verify_outputs(&Outputs::new(&ws.target_dir()?, platform, &profile), !self.no_go, &exp)?
        } else {
            let mut report = SymbolReport::default();
            for f in &self.files {
                report.extend(verify_file(f, &exp)?);
            }
            report
        };
        if self.json {
            let json = serde_json::json!({
                "platform": platform.docker(),
                "max_glibc": exp.max_glibc.to_string(),
                "ok": report.ok(),
                "checks": report.checks,
            });
            println!("{}", serde_json::to_string_pretty(&json)?);
        } else {
            print!("{}", report.table());
        }
        report.into_result()
    }
}
