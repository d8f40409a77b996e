//! being written
use anyhow::Result;
use crate::{flags, Ctx};
impl flags::Model {
    pub fn run(self, _ctx: &Ctx) -> Result<()> { anyhow::bail!("not written yet") }
}
