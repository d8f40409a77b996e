//! `cargo xtask symbols FILE`: the exported dynamic symbols of an ELF file, one
//! per line, sorted — the names `nm -D --defined-only` prints, without
//! `@VERSION` suffixes and without duplicates.

use std::io::Write;

use anyhow::{Context, Result};

use crate::{ctx::Ctx, elf, flags};

impl flags::Symbols {
    pub fn run(self, _ctx: &Ctx) -> Result<()> {
        let names = elf::exported_symbols(&self.file)?;
        let mut out = std::io::stdout().lock();
        for name in names {
            if let Err(e) = writeln!(out, "{name}") {
                // `| head` closes the pipe: not an error worth reporting.
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(());
                }
                return Err(e).context("cannot write to stdout");
            }
        }
        out.flush()
            .or_else(|e| if e.kind() == std::io::ErrorKind::BrokenPipe { Ok(()) } else { Err(e) })
            .context("cannot write to stdout")
    }
}
