//! `cargo xtask bench`: benchmarks that print figures and ratios, in one run.

mod cross;
mod precache;
mod router;

use anyhow::Result;

use crate::{flags, Ctx};

impl flags::Bench {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        match self.cmd {
            flags::BenchCmd::Precache => precache::run(ctx),
            flags::BenchCmd::Cross(cmd) => cross::run(ctx, cmd.no_build),
            flags::BenchCmd::Router(cmd) => cmd.run(ctx),
        }
    }
}
