//! The dynamic loader as an oracle: a program that `dlopen`s its argument
//! (`RTLD_NOW`: every relocation applied, constructors run), built with the C
//! compiler of the library's machine and run natively on the host's machine,
//! under qemu-user with that machine's C library for another
//! ([`crate::dist::runner`]), in a child killed after a timeout.
//!
//! An oracle that cannot run (no compiler or qemu for the machine, or a base
//! library it does not load) is reported as not run, never as a pass.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Result};

use crate::platform::Platform;

/// How long one load may take (natively a fraction of a second, under qemu
/// a few seconds for the release library).
const TIMEOUT: Duration = Duration::from_secs(60);

/// What the loader did with a file.
pub enum Verdict {
    Loads,
    /// `dlerror()`'s line, or the signal that ended the loader.
    Refuses(String),
    /// `dlopen` returned the library, and the exit then failed (the signal):
    /// the library's own code, its destructors or `__cxa_finalize`, which
    /// runs after the loader is done with it (a call bound to another
    /// function of the same kind is structurally sound).
    CrashesAtExit(String),
}

/// A loader program for one machine and the argv prefix that runs it.
pub struct Loader {
    argv: Vec<OsString>,
    /// `dlopen`, or `dlopen under qemu-aarch64`: how the run is described.
    pub how: String,
}

/// The platform whose ELF files have machine `machine`.
pub fn platform_of(machine: u16) -> Option<Platform> {
    Platform::ALL.into_iter().find(|p| p.elf_machine() == machine)
}

/// The C compiler that builds and links for `p` (`cc` on the host's
/// machine, the GNU cross compiler for another), if installed.
pub fn compiler(p: Platform) -> Option<String> {
    let cc = if p.is_host() { "cc".to_string() } else { format!("{}gcc", p.gnu_prefix()) };
    which::which(&cc).is_ok().then_some(cc)
}

impl Loader {
    /// Build the loader for `p` in `work` and prove it on `base` (a library
    /// the loader must load). `Err`: why this oracle cannot run here, with
    /// the command that fixes it.
    pub fn build(p: Platform, base: &Path, work: &Path) -> std::result::Result<Loader, String> {
        let fix = format!("run `cargo xtask doctor --fix --platform {p}`");
        let cc = compiler(p).ok_or_else(|| format!("no C compiler for {p}: {fix}"))?;
        let bin = compile(&cc, p, work).map_err(|e| format!("{e:#}"))?;
        let mut argv: Vec<OsString> =
            crate::dist::runner(p, &bin).map_err(|e| format!("{e:#}: {fix}"))?.into_iter().map(Into::into).collect();
        argv.push(bin.into());
        let how = if p.is_host() { "dlopen".to_string() } else { format!("dlopen under {}", p.qemu_user()) };
        let l = Loader { argv, how };
        match l.load(base) {
            Ok(Verdict::Loads) => Ok(l),
            Ok(Verdict::Refuses(why) | Verdict::CrashesAtExit(why)) => {
                Err(format!("the {p} loader does not load the base library ({why}): {fix}"))
            }
            Err(e) => Err(format!("the {p} loader does not run ({e:#}): {fix}")),
        }
    }

    /// Load `file` in a child; `Err` when the child cannot be started.
    pub fn load(&self, file: &Path) -> Result<Verdict> {
        let (prog, args) = self.argv.split_first().expect("the loader's argv is never empty");
        let cmd = duct::cmd(prog, args.iter().chain([&file.as_os_str().to_owned()]));
        let h = cmd.stdout_capture().stderr_capture().unchecked().start()?;
        let deadline = std::time::Instant::now() + TIMEOUT;
        let o = loop {
            if let Some(o) = h.try_wait()? {
                break o.clone();
            }
            if std::time::Instant::now() > deadline {
                h.kill()?;
                return Ok(Verdict::Refuses(format!("timed out after {} s", TIMEOUT.as_secs())));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        if o.status.success() {
            return Ok(Verdict::Loads);
        }
        use std::os::unix::process::ExitStatusExt;
        let loaded = String::from_utf8_lossy(&o.stdout).lines().any(|l| l == LOADED);
        let why = match o.status.signal() {
            Some(sig) => format!("signal {sig}"),
            None => {
                let msg = String::from_utf8_lossy(&o.stderr);
                // qemu reports a guest's fatal signal on stderr and exits.
                let line = msg.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
                format!("{line} (exit {})", o.status.code().unwrap_or(-1))
            }
        };
        Ok(if loaded { Verdict::CrashesAtExit(why) } else { Verdict::Refuses(why) })
    }
}

/// What the loader prints once `dlopen` has returned the library.
const LOADED: &str = "dlopen: loaded";

/// Compile the loader for `p` with `cc`: it exits 0 when `dlopen` succeeds
/// (printing [`LOADED`] first, so that a crash at exit is told from one in
/// the loader), prints `dlerror()` and exits 1 when it fails; a crash is a
/// signal.
fn compile(cc: &str, p: Platform, work: &Path) -> Result<PathBuf> {
    let src = work.join("dlopen.c");
    std::fs::write(
        &src,
        format!(
            "#include <dlfcn.h>\n#include <stdio.h>\n\
             int main(int argc, char **argv) {{\n\
               if (argc != 2) return 2;\n\
               if (!dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) {{ fprintf(stderr, \"%s\\n\", dlerror()); return 1; }}\n\
               puts(\"{LOADED}\");\n\
               fflush(stdout);\n\
               return 0;\n\
             }}\n"
        ),
    )?;
    let bin = work.join(format!("dlopen-{}", p.dir_name()));
    let out = duct::cmd!(cc, "-o", &bin, &src, "-ldl").stderr_capture().unchecked().run()?;
    if !out.status.success() {
        bail!("{cc} dlopen.c: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's loader loads the fixture library and refuses it with its
    /// first relocation pointed at the read-only first segment (a crash).
    #[test]
    fn the_host_loader_loads_the_fixture_and_refuses_a_broken_copy() {
        let dir = tempfile::tempdir().unwrap();
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/elf/base/libfixture.so");
        // On another host, the x86-64 fixture is a foreign library loaded
        // under qemu-user: the same oracle.
        let l = Loader::build(Platform::AMD64, &base, dir.path()).unwrap();
        assert!(matches!(l.load(&base).unwrap(), Verdict::Loads));
        let mut bytes = std::fs::read(&base).unwrap();
        // `rela-offset-zero` of the corpus: relocation 0's r_offset is 0.
        bytes[0x7b8..0x7c0].fill(0);
        let broken = dir.path().join("broken.so");
        std::fs::write(&broken, bytes).unwrap();
        match l.load(&broken).unwrap() {
            Verdict::Refuses(why) => assert!(why.contains("signal"), "{why}"),
            Verdict::Loads | Verdict::CrashesAtExit(_) => {
                panic!("the loader loaded a library whose relocation writes into read-only memory")
            }
        }
    }

    /// `__cxa_finalize`'s GOT slot bound to `free` instead: `dlopen` returns
    /// the library, and the exit aborts in `free(__dso_handle)`.
    #[test]
    fn a_crash_at_exit_is_told_from_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/elf/base/libfixture.so");
        let l = Loader::build(Platform::AMD64, &base, dir.path()).unwrap();
        let mut bytes = std::fs::read(&base).unwrap();
        // .rela.dyn entry 8 (GLOB_DAT __cxa_finalize, symbol 10) → symbol 1 (free).
        assert_eq!(bytes[0x884], 10);
        bytes[0x884] = 1;
        let swapped = dir.path().join("swapped.so");
        std::fs::write(&swapped, bytes).unwrap();
        match l.load(&swapped).unwrap() {
            Verdict::CrashesAtExit(why) => assert!(why.contains("signal 6") || why.contains("Abort"), "{why}"),
            Verdict::Loads => panic!("free(__dso_handle) at exit did not abort"),
            Verdict::Refuses(why) => panic!("dlopen returns this library, but the verdict is a refusal: {why}"),
        }
    }

    #[test]
    fn every_platform_has_its_machine() {
        for p in Platform::ALL {
            assert_eq!(platform_of(p.elf_machine()), Some(p));
        }
        assert_eq!(platform_of(0), None);
    }
}
