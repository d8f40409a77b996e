//! `cargo xtask bench`: benchmarks that print figures and ratios, in one run.

mod cross;
mod precache;

use anyhow::Result;

use crate::{flags, Ctx};

impl flags::Bench {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        // Every benchmark builds for the host; `cross` also for the foreign platform.
        let host = crate::platform::Platform::host()?;
        let platforms = match self.cmd {
            flags::BenchCmd::Cross(_) => crate::platform::Platform::ALL.to_vec(),
            _ => vec![host],
        };
        crate::doctor::ensure(ctx, &crate::doctor::toolchain(&platforms, false))?;
        match self.cmd {
            flags::BenchCmd::Precache => precache::run(ctx),
            flags::BenchCmd::Cross(cmd) => cross::run(ctx, cmd.no_build, &cmd.platform),
        }
    }
}
