//! `cargo xtask e2e` (being written).

use anyhow::Result;

use crate::{flags, Ctx};

impl flags::E2e {
    pub fn run(self, _ctx: &Ctx) -> Result<()> {
        anyhow::bail!("not written yet")
    }
}
