//! being written
use anyhow::Result;
use crate::{flags, Ctx};
impl flags::Codegen {
    pub fn run(self, _ctx: &Ctx) -> Result<()> { anyhow::bail!("not written yet") }
}
