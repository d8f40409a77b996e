//! `cargo xtask binfmt [--platform P,…]`: registers the qemu-user handlers
//! of foreign platforms and proves each with a test program ([`handler`]).

pub mod handler;

use anyhow::Result;

use crate::platform::Platform;
use handler::{qemu_name, register, state, State, PROBE_STATUS};

impl crate::flags::Binfmt {
    pub fn run(self) -> Result<()> {
        let host = Platform::host()?;
        let platforms = if self.platform.is_empty() {
            Platform::ALL.into_iter().filter(|p| *p != host).collect()
        } else {
            Platform::or_host(&self.platform)?
        };
        for p in platforms.into_iter().filter(|p| *p != host) {
            register(p)?;
            let how = match state(p) {
                State::Enabled { flags, .. } => format!("{} enabled, flags {flags}", qemu_name(p)),
                _ => "registered outside this view".into(),
            };
            eprintln!("binfmt: {p} programs run here ({how}; a test program exited {PROBE_STATUS})");
        }
        Ok(())
    }
}
