//! `cargo xtask bench`: benchmarks that print figures and ratios, in one run.

mod cross;
mod precache;
mod xtask;

use anyhow::Result;

use crate::{flags, Ctx};

impl flags::Bench {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        match self.cmd {
            flags::BenchCmd::Precache(cmd) => precache::run(ctx, &cmd.package),
            flags::BenchCmd::Xtask => xtask::run(ctx),
            flags::BenchCmd::Cross(cmd) => cross::run(ctx, cmd.no_build),
        }
    }
}
