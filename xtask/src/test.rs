//! being written
use anyhow::Result;
use crate::{flags, Ctx};
impl flags::Test {
    pub fn run(self, _ctx: &Ctx) -> Result<()> { anyhow::bail!("not written yet") }
}
