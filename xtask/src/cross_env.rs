//! `cargo xtask cross-env --platform P [--go [--lib-dir DIR]]`: the cross
//! environment of [`crate::cross`] as `export K=V` lines, for builds xtask
//! does not run (other workspaces, plain `cargo build --target`, `go build`).

use std::io::Write;

use anyhow::{Context, Result};

use crate::{
    ctx::Ctx,
    flags,
    prereq::{Host, Need, Prereqs},
    sys::quote,
};

impl flags::CrossEnv {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let target = self.platform;
        // Printed, not installed: what is missing is an error naming the fix.
        let needs = if target.is_host() { Vec::new() } else { vec![Need::TargetStd(target), Need::CrossCc(target)] };
        let prereqs = Prereqs::present(&mut Host::new(ctx)?, &needs)?;
        let mut vars = prereqs.rust_env(target)?;
        if self.go {
            vars.extend(prereqs.go_env(target, self.lib_dir.as_deref()));
        }
        let mut out = std::io::stdout().lock();
        for (k, v) in vars {
            writeln!(out, "export {k}={}", quote(&v)).context("cannot write to stdout")?;
        }
        Ok(())
    }
}
