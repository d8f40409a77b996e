//! Where the model lives and what a model directory holds: what `model`
//! fills and what the prerequisites probe.

use std::path::PathBuf;

use anyhow::Result;

use crate::ctx::Ctx;

/// The files a model directory must hold.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
/// Where the model goes, relative to the workspace root.
pub const DEFAULT_DIR: &str = "models/all-MiniLM-L6-v2";

/// `$CANDLE_MODEL_DIR`, or `models/all-MiniLM-L6-v2` in the workspace.
pub fn default_dir(ctx: &Ctx) -> Result<PathBuf> {
    match std::env::var_os("CANDLE_MODEL_DIR") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => Ok(ctx.workspace()?.path(DEFAULT_DIR)),
    }
}
