//! `cargo xtask bench`: benchmarks that print figures and ratios, in one
//! run, and append them as a record to `benchmarks/records/<bench>.json`;
//! `bench report` renders the records into BENCHMARKS.md (`report`).

mod cross;
mod images;
mod precache;
pub mod report;
mod router;
mod xtask;

use anyhow::Result;

use crate::{ctx::Ctx, flags};

impl flags::Bench {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        // Each benchmark installs its own prerequisites first (`prereq::ensure`).
        match self.cmd {
            flags::BenchCmd::Precache(cmd) => precache::run(ctx, &cmd.package),
            flags::BenchCmd::Xtask => xtask::run(ctx),
            flags::BenchCmd::Cross(cmd) => cross::run(ctx, cmd.no_build, &cmd.platform),
            flags::BenchCmd::Images(cmd) => images::run(ctx, cmd.platform),
            flags::BenchCmd::Router(cmd) => cmd.run(ctx),
            flags::BenchCmd::Report(cmd) => report::run(ctx, cmd.check),
        }
    }
}
