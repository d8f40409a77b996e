//! `cargo xtask` command (being written).

use anyhow::Result;

use crate::{flags, Ctx};

impl flags::Bench {
    pub fn run(self, _ctx: &Ctx) -> Result<()> {
        anyhow::bail!("not written yet")
    }
}
