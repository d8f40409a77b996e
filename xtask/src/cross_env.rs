//! `cargo xtask cross-env --platform P [--go [--lib-dir DIR]]`: the cross
//! environment of [`crate::cross`] as `export K=V` lines, for builds xtask
//! does not run (other workspaces, plain `cargo build --target`, `go build`).

use std::io::Write;

use anyhow::{Context, Result};

use crate::{
    cross::{cross_cc, go_env, rust_env},
    ctx::Ctx,
    flags,
    sys::quote,
};

impl flags::CrossEnv {
    pub fn run(self, _ctx: &Ctx) -> Result<()> {
        let target = self.platform;
        let mut vars = rust_env(&target)?;
        if self.go {
            if !target.is_host() {
                cross_cc(target)?; // say why, rather than print a CC that is not there
            }
            vars.extend(go_env(&target, self.lib_dir.as_deref()));
        }
        let mut out = std::io::stdout().lock();
        for (k, v) in vars {
            writeln!(out, "export {k}={}", quote(&v)).context("cannot write to stdout")?;
        }
        Ok(())
    }
}
