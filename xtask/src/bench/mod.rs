//! `cargo xtask bench`: benchmarks that print figures and ratios, in one run.

mod cross;
mod precache;
mod router;
mod xtask;

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
        // `router` builds and runs the router with the model.
        let router = matches!(self.cmd, flags::BenchCmd::Router(_));
        let mut needs = crate::doctor::toolchain(&platforms, router);
        if router {
            needs.push(crate::doctor::Need::Model);
        }
        crate::doctor::ensure(ctx, &needs)?;
        match self.cmd {
            flags::BenchCmd::Precache(cmd) => precache::run(ctx, &cmd.package),
            flags::BenchCmd::Xtask => xtask::run(ctx),
            flags::BenchCmd::Cross(cmd) => cross::run(ctx, cmd.no_build, &cmd.platform),
            flags::BenchCmd::Router(cmd) => cmd.run(ctx),
        }
    }
}
