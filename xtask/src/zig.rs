//! zig as the C cross toolchain where the distro has none with a libc.
//!
//! Fedora, CentOS Stream and RHEL ship `gcc-<arch>-linux-gnu` for building
//! kernels only: it has no glibc for the target, so it cannot link a cdylib
//! or a cgo binary. `zig cc` carries the glibc of every target (and links
//! against an older one on request), and it comes as a wheel from PyPI
//! (`ziglang`), so one install works on any distribution. It is what
//! [`crate::cross`] falls back to when no cross gcc with a libc is there, or
//! what it uses when `XTASK_CROSS_CC=zig`.
//!
//! cargo wants a single program as linker (and the `cc` crate and Go a
//! compiler name), so xtask writes three small wrappers per target,
//! `<gnu prefix>zig-{cc,c++,ar}`, each `exec zig <tool> -target <t> "$@"`, into
//! a per-user cache directory; they are rewritten only when they change.
//!
//! Where zig is found, in order: `$XTASK_ZIG` (a path), `zig` on PATH, then
//! [`INSTALL_DIR`]`/lib/ziglang/zig` (where `doctor --fix` puts it with
//! `pip install --target`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::platform::Platform;

/// The glibc the wrappers link against: what RHEL 8 / Debian 10 have, well
/// below `verify-symbols`' default ceiling.
pub const GLIBC: &str = "2.28";

/// What `doctor --fix` installs from PyPI (the zig release, as a wheel).
pub const PIP_SPEC: &str = "ziglang>=0.13,<0.18";

/// Where `doctor --fix` installs it (the package in `lib/`).
pub const INSTALL_DIR: &str = "/opt/xtask-zig";

/// The zig executable of an install made by [`install_plan`] into `dir`.
pub fn installed_exe(dir: &Path) -> PathBuf {
    dir.join("lib/ziglang/zig")
}

/// The zig executable to use, if any.
pub fn find() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("XTASK_ZIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Ok(p) = which::which("zig") {
        return Some(p);
    }
    let installed = installed_exe(Path::new(INSTALL_DIR));
    installed.is_file().then_some(installed)
}

/// The zig target for `p`, with the glibc version: `aarch64-linux-gnu.2.28`.
pub fn target(p: Platform) -> String {
    format!("{}-linux-gnu.{GLIBC}", p.gnu_arch())
}

/// The three tools of a wrapper set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Cc,
    Cxx,
    Ar,
}

impl Tool {
    const ALL: [Tool; 3] = [Tool::Cc, Tool::Cxx, Tool::Ar];

    fn suffix(self) -> &'static str {
        match self {
            Tool::Cc => "zig-cc",
            Tool::Cxx => "zig-c++",
            Tool::Ar => "zig-ar",
        }
    }
}

/// The wrapper programs for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrappers {
    /// The zig target they compile for (`aarch64-linux-gnu.2.28`).
    pub target: String,
    pub cc: PathBuf,
    pub cxx: PathBuf,
    pub ar: PathBuf,
}

/// The file name of a wrapper: `aarch64-linux-gnu-zig-cc`.
pub fn wrapper_name(p: Platform, tool: Tool) -> String {
    format!("{}{}", p.gnu_prefix(), tool.suffix())
}

/// The text of a wrapper (POSIX sh; the zig path single-quoted).
pub fn wrapper_script(zig: &Path, p: Platform, tool: Tool) -> String {
    let zig = crate::sys::quote(&zig.display().to_string());
    let run = match tool {
        Tool::Cc => format!("{zig} cc -target {} \"$@\"", target(p)),
        Tool::Cxx => format!("{zig} c++ -target {} \"$@\"", target(p)),
        Tool::Ar => format!("{zig} ar \"$@\""),
    };
    format!("#!/bin/sh\n# Written by `cargo xtask`: zig as the {p} C toolchain (glibc {GLIBC}).\nexec {run}\n")
}

/// Write (if changed) the wrappers for `p` calling `zig` into `dir`.
pub fn write_wrappers(dir: &Path, zig: &Path, p: Platform) -> Result<Wrappers> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut paths = Vec::new();
    for tool in Tool::ALL {
        let path = dir.join(wrapper_name(p, tool));
        let text = wrapper_script(zig, p, tool);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            // A concurrent build never sees half a script.
            crate::fsutil::write_file(&path, text.as_bytes(), 0o755)?;
        }
        paths.push(path);
    }
    let [cc, cxx, ar]: [PathBuf; 3] = paths.try_into().expect("three tools");
    Ok(Wrappers { target: target(p), cc, cxx, ar })
}

/// The per-user directory of the wrappers: `$XDG_CACHE_HOME/xtask/zig`, else
/// `~/.cache/xtask/zig`.
pub fn wrapper_dir() -> Result<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache")))
        .context("neither XDG_CACHE_HOME nor HOME is set: nowhere to put the zig wrappers")?;
    Ok(cache.join("xtask/zig"))
}

/// The command that installs zig from PyPI into `dir/lib` with `python`'s pip
/// (`--target` also works where the distro marks its Python externally
/// managed), so that [`installed_exe`] is fixed.
pub fn install_plan(python: &str, dir: &Path) -> Vec<Vec<String>> {
    let lib = dir.join("lib").display().to_string();
    let argv = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-cache-dir", "--quiet"];
    let mut install: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    install.extend(["--upgrade".into(), "--target".into(), lib, PIP_SPEC.into()]);
    vec![install]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARM: Platform = Platform::ARM64;
    const AMD: Platform = Platform::AMD64;

    #[test]
    fn targets_carry_the_glibc() {
        assert_eq!(target(ARM), "aarch64-linux-gnu.2.28");
        assert_eq!(target(AMD), "x86_64-linux-gnu.2.28");
    }

    #[test]
    fn scripts_exec_zig_with_the_target() {
        let zig = Path::new("/opt/it's/zig");
        let cc = wrapper_script(zig, ARM, Tool::Cc);
        assert!(cc.starts_with("#!/bin/sh\n"), "{cc}");
        assert!(cc.ends_with("exec '/opt/it'\\''s/zig' cc -target aarch64-linux-gnu.2.28 \"$@\"\n"), "{cc}");
        assert!(wrapper_script(zig, AMD, Tool::Cxx).contains(" c++ -target x86_64-linux-gnu.2.28 \"$@\""));
        assert!(wrapper_script(zig, AMD, Tool::Ar).ends_with("zig' ar \"$@\"\n"));
        assert_eq!(wrapper_name(ARM, Tool::Cc), "aarch64-linux-gnu-zig-cc");
        assert_eq!(wrapper_name(AMD, Tool::Ar), "x86_64-linux-gnu-zig-ar");
    }

    #[test]
    fn wrappers_are_written_once_and_executable() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let w = write_wrappers(tmp.path(), Path::new("/z/zig"), ARM).unwrap();
        assert_eq!(w.cc, tmp.path().join("aarch64-linux-gnu-zig-cc"));
        let mode = std::fs::metadata(&w.cc).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111);
        let before = std::fs::metadata(&w.ar).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let again = write_wrappers(tmp.path(), Path::new("/z/zig"), ARM).unwrap();
        assert_eq!(again, w);
        assert_eq!(
            std::fs::metadata(&w.ar).unwrap().modified().unwrap(),
            before,
            "unchanged wrappers are not rewritten"
        );
        write_wrappers(tmp.path(), Path::new("/other/zig"), ARM).unwrap();
        assert!(std::fs::read_to_string(&w.cc).unwrap().contains("exec /other/zig cc"));
        // Only the three wrappers: no temporary files left behind.
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 3);
    }

    #[test]
    fn install_into_a_fixed_place() {
        let plan = install_plan("python3", Path::new("/opt/xtask-zig"));
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0][..5], ["python3", "-m", "pip", "install", "--disable-pip-version-check"]);
        assert!(plan[0].windows(2).any(|w| w == ["--target", "/opt/xtask-zig/lib"]));
        assert_eq!(plan[0].last().unwrap(), PIP_SPEC);
        assert_eq!(installed_exe(Path::new("/opt/xtask-zig")), Path::new("/opt/xtask-zig/lib/ziglang/zig"));
    }
}
