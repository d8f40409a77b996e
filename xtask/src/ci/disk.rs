//! `cargo xtask ci free-disk`: a GitHub-hosted runner starts with ~14 GB free
//! on `/`; a cold image build with its cache export needs more. The runner
//! image carries SDKs no build here uses: remove them (with `sudo` when not
//! root), then print the space before and after.
//!
//! Refuses to run anywhere but a GitHub-hosted runner (`RUNNER_ENVIRONMENT`)
//! unless `--force`: on a laptop these directories may be in use.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::{ctx::Ctx, flags, metrics::human};

/// Preinstalled on GitHub's Ubuntu runner images and unused by our builds.
pub const UNUSED: &[&str] = &[
    "/usr/share/dotnet",
    "/usr/local/lib/android",
    "/opt/ghc",
    "/usr/local/.ghcup",
    "/opt/hostedtoolcache/CodeQL",
    "/usr/local/share/boost",
    "/usr/local/share/powershell",
    "/usr/share/swift",
    "/usr/local/julia",
];

/// Free bytes for unprivileged users on the file system of `path`.
/// (libc's `statvfs`, not a crate: it is xtask's only use of one.)
pub fn free_bytes(path: &Path) -> Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .with_context(|| format!("{} has a NUL byte", path.display()))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is NUL-terminated and `st` is a writable `struct
    // statvfs`, which is all statvfs(3) asks for.
    if unsafe { libc::statvfs(c_path.as_ptr(), st.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("statvfs {}", path.display()));
    }
    // SAFETY: statvfs returned 0: it filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // u64 here, narrower on 32-bit targets
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// `bytes` in GiB, one decimal.
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

impl flags::CiFreeDisk {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let hosted = std::env::var("RUNNER_ENVIRONMENT").is_ok_and(|v| v == "github-hosted");
        if !hosted && !self.force && !self.dry_run {
            bail!(
                "not a GitHub-hosted runner (RUNNER_ENVIRONMENT is not `github-hosted`): \
                 pass --force to remove {} here, or --dry-run to see what would go",
                UNUSED.join(", ")
            );
        }
        let root = Path::new("/");
        let before = free_bytes(root)?;
        let present: Vec<&str> = UNUSED.iter().copied().filter(|d| Path::new(d).exists()).collect();
        if self.dry_run {
            for d in &present {
                println!("would remove {d}");
            }
            eprintln!("free on /: {} (dry run: nothing removed)", gib(before));
            return Ok(());
        }
        let start = std::time::Instant::now();
        let sh = &ctx.sh;
        for d in &present {
            eprintln!("removing {d}");
            if crate::sys::is_root() {
                std::fs::remove_dir_all(d).map_err(|e| anyhow::anyhow!("cannot remove {d}: {e}"))?;
            } else {
                cmd!(sh, "sudo -n rm -rf -- {d}").run().map_err(|e| anyhow::anyhow!("cannot remove {d}: {e}"))?;
            }
        }
        let after = free_bytes(root)?;
        eprintln!(
            "free on /: {} before, {} after ({} directories removed in {})",
            gib(before),
            gib(after),
            present.len(),
            human(start.elapsed())
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_is_read() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
        assert!(free_bytes(Path::new("/nonexistent/x")).is_err());
        assert_eq!(gib(3 << 30), "3.0 GiB");
    }
}
