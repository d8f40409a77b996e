//! Platforms: one model for Docker platform strings, Rust triples, Go's
//! GOOS/GOARCH, GNU toolchain prefixes, Debian architectures and ELF machines.
//!
//! The OS is always Linux for now; [`Platform::os`] exists so that callers do
//! not hard-code it.

use std::fmt;

use anyhow::{bail, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    Amd64,
    Arm64,
    Riscv64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    pub arch: Arch,
}

/// The spellings accepted by [`Platform::parse`], shown when parsing fails.
const SUPPORTED: &str = "linux/amd64 (amd64, x86_64, x86_64-unknown-linux-gnu), \
     linux/arm64 (linux/arm64/v8, arm64, aarch64, aarch64-unknown-linux-gnu), \
     linux/riscv64 (riscv64, riscv64gc, riscv64gc-unknown-linux-gnu)";

impl Platform {
    pub const AMD64: Platform = Platform { arch: Arch::Amd64 };
    pub const ARM64: Platform = Platform { arch: Arch::Arm64 };
    pub const RISCV64: Platform = Platform { arch: Arch::Riscv64 };
    /// Every supported platform.
    pub const ALL: [Platform; 3] = [Platform::AMD64, Platform::ARM64, Platform::RISCV64];

    /// Parse a Docker platform (`linux/arm64`, `linux/arm64/v8`), a bare
    /// architecture (`amd64`, `x86_64`, `arm64`, `aarch64`) or a Rust triple
    /// (`x86_64-unknown-linux-gnu`). Case-insensitive, surrounding blanks ignored.
    pub fn parse(s: &str) -> Result<Platform> {
        let norm = s.trim().to_ascii_lowercase();
        let arch = match norm.as_str() {
            "linux/amd64"
            | "linux/amd64/v1"
            | "linux/amd64/v2"
            | "linux/amd64/v3"
            | "linux/amd64/v4"
            | "linux/x86_64"
            | "amd64"
            | "x86_64"
            | "x86-64"
            | "x86_64-unknown-linux-gnu" => Arch::Amd64,
            "linux/arm64"
            | "linux/arm64/v8"
            | "linux/aarch64"
            | "arm64"
            | "arm64/v8"
            | "aarch64"
            | "aarch64-unknown-linux-gnu" => Arch::Arm64,
            "linux/riscv64" | "riscv64" | "riscv64gc" | "riscv64gc-unknown-linux-gnu" => Arch::Riscv64,
            _ => bail!("unsupported platform `{}`; supported: {SUPPORTED}", s.trim()),
        };
        Ok(Platform { arch })
    }

    /// The platform xtask runs on.
    pub fn host() -> Result<Platform> {
        Platform::from_consts(std::env::consts::OS, std::env::consts::ARCH)
    }

    fn from_consts(os: &str, arch: &str) -> Result<Platform> {
        if os != "linux" {
            bail!("host OS `{os}` is not supported; supported: {SUPPORTED}");
        }
        match arch {
            "x86_64" => Ok(Platform::AMD64),
            "aarch64" => Ok(Platform::ARM64),
            "riscv64" => Ok(Platform::RISCV64),
            _ => bail!("host architecture `{arch}` is not supported; supported: {SUPPORTED}"),
        }
    }

    /// The platforms of a `--platform` list (parsed by clap with
    /// [`Platform::parse`]); an empty list means the host. Duplicates are
    /// dropped, first occurrence order kept.
    pub fn or_host(items: &[Platform]) -> Result<Vec<Platform>> {
        let mut out = Vec::new();
        for &p in items {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        if out.is_empty() {
            out.push(Platform::host()?);
        }
        Ok(out)
    }

    pub fn os(&self) -> &'static str {
        "linux"
    }

    /// Docker's `--platform` form, e.g. `linux/amd64`.
    pub fn docker(&self) -> &'static str {
        match self.arch {
            Arch::Amd64 => "linux/amd64",
            Arch::Arm64 => "linux/arm64",
            Arch::Riscv64 => "linux/riscv64",
        }
    }

    /// A directory name, e.g. `linux-amd64` (for `dist/` and `target/go/`).
    pub fn dir_name(&self) -> &'static str {
        match self.arch {
            Arch::Amd64 => "linux-amd64",
            Arch::Arm64 => "linux-arm64",
            Arch::Riscv64 => "linux-riscv64",
        }
    }

    pub fn rust_triple(&self) -> &'static str {
        match self.arch {
            Arch::Amd64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
            Arch::Riscv64 => "riscv64gc-unknown-linux-gnu",
        }
    }

    pub fn goos(&self) -> &'static str {
        self.os()
    }

    pub fn goarch(&self) -> &'static str {
        match self.arch {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// Prefix of the GNU cross tools, e.g. `aarch64-linux-gnu-` (+ `gcc`).
    pub fn gnu_prefix(&self) -> &'static str {
        match self.arch {
            Arch::Amd64 => "x86_64-linux-gnu-",
            Arch::Arm64 => "aarch64-linux-gnu-",
            Arch::Riscv64 => "riscv64-linux-gnu-",
        }
    }

    /// Debian's architecture name (`dpkg --print-architecture`).
    pub fn debian_arch(&self) -> &'static str {
        match self.arch {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// The first Debian release with a port for this platform, as (version,
    /// codename): Debian 12 for amd64 and arm64, Debian 13 for riscv64. On
    /// an older Debian no package of this architecture exists (no
    /// `libstd-rust-web-dev:riscv64` on Debian 12), and the e2e's base
    /// images for this platform come from this release.
    pub fn debian(&self) -> (u32, &'static str) {
        match self.arch {
            Arch::Amd64 | Arch::Arm64 => (12, "bookworm"),
            Arch::Riscv64 => (13, "trixie"),
        }
    }

    /// The glibc of [`Platform::debian`]'s release: what a library built
    /// for this platform may need at most by default (`verify-symbols
    /// --max-glibc`). Debian 13's riscv64 std needs `GLIBC_2.39`.
    pub fn glibc_floor(&self) -> &'static str {
        match self.debian().0 {
            12 => "2.36",
            _ => "2.41",
        }
    }

    /// The `e_machine` of ELF files built for this platform.
    pub fn elf_machine(&self) -> u16 {
        use goblin::elf::header::{EM_AARCH64, EM_RISCV, EM_X86_64};
        match self.arch {
            Arch::Amd64 => EM_X86_64,
            Arch::Arm64 => EM_AARCH64,
            Arch::Riscv64 => EM_RISCV,
        }
    }

    /// The `e_flags` ELF files built for this platform carry, as (mask, value):
    /// `flags & mask == value`. x86-64 and AArch64 define no flags (0). RISC-V
    /// records the ABI there: `riscv64gc-unknown-linux-gnu` is the LP64D ABI
    /// (`EF_RISCV_FLOAT_ABI_DOUBLE`) with compressed instructions
    /// (`EF_RISCV_RVC`); objects of another float ABI cannot be linked with it,
    /// and RVE (16 registers) or TSO objects are not this target either.
    pub fn elf_flags(&self) -> (u32, u32) {
        const EF_RISCV_RVC: u32 = 0x1;
        const EF_RISCV_FLOAT_ABI: u32 = 0x6;
        const EF_RISCV_FLOAT_ABI_DOUBLE: u32 = 0x4;
        const EF_RISCV_RVE: u32 = 0x8;
        const EF_RISCV_TSO: u32 = 0x10;
        match self.arch {
            Arch::Amd64 | Arch::Arm64 => (u32::MAX, 0),
            Arch::Riscv64 => (
                EF_RISCV_RVC | EF_RISCV_FLOAT_ABI | EF_RISCV_RVE | EF_RISCV_TSO,
                EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_DOUBLE,
            ),
        }
    }

    /// The file name of glibc's dynamic loader (the program interpreter),
    /// which shared libraries may also NEED (`__tls_get_addr`, `_dl_find_object`).
    pub fn glibc_loader(&self) -> &'static str {
        match self.arch {
            Arch::Amd64 => "ld-linux-x86-64.so.2",
            Arch::Arm64 => "ld-linux-aarch64.so.1",
            Arch::Riscv64 => "ld-linux-riscv64-lp64d.so.1",
        }
    }

    /// The architecture as GNU tools, QEMU and zig spell it (`x86_64`,
    /// `aarch64`, `riscv64`): the first part of [`Platform::gnu_prefix`]. The
    /// Rust triple's first part is not it (`riscv64gc`).
    pub fn gnu_arch(&self) -> &'static str {
        let prefix = self.gnu_prefix();
        &prefix[..prefix.find('-').unwrap_or(prefix.len())]
    }

    /// The qemu-user emulator of this platform, e.g. `qemu-aarch64` (also the
    /// name of its binfmt_misc handler).
    pub fn qemu_user(&self) -> String {
        format!("qemu-{}", self.gnu_arch())
    }

    pub fn is_host(&self) -> bool {
        Platform::host().map(|h| h == *self).unwrap_or(false)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.docker())
    }
}

impl std::str::FromStr for Platform {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Platform> {
        Platform::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_every_spelling() {
        for s in ["linux/amd64", "amd64", "x86_64", "x86_64-unknown-linux-gnu", " LINUX/AMD64 "] {
            assert_eq!(Platform::parse(s).unwrap(), Platform::AMD64, "{s}");
        }
        for s in ["linux/arm64", "linux/arm64/v8", "arm64", "aarch64", "aarch64-unknown-linux-gnu"] {
            assert_eq!(Platform::parse(s).unwrap(), Platform::ARM64, "{s}");
        }
        for s in ["linux/riscv64", "riscv64", "riscv64gc", "riscv64gc-unknown-linux-gnu", "Linux/RISCV64"] {
            assert_eq!(Platform::parse(s).unwrap(), Platform::RISCV64, "{s}");
        }
    }

    #[test]
    fn unknown_is_one_error_listing_supported() {
        for s in ["", "linux/riscv32", "riscv64-unknown-linux-musl", "windows/amd64", "armv7", "x86_64-pc-windows-msvc"]
        {
            let err = Platform::parse(s).unwrap_err().to_string();
            assert!(err.contains("unsupported platform"), "{err}");
            assert!(
                err.contains("linux/amd64") && err.contains("linux/arm64") && err.contains("linux/riscv64"),
                "{err}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }

    #[test]
    fn the_whole_table() {
        let amd = Platform::AMD64;
        assert_eq!(amd.os(), "linux");
        assert_eq!(amd.docker(), "linux/amd64");
        assert_eq!(amd.to_string(), "linux/amd64");
        assert_eq!(amd.dir_name(), "linux-amd64");
        assert_eq!(amd.rust_triple(), "x86_64-unknown-linux-gnu");
        assert_eq!(amd.goos(), "linux");
        assert_eq!(amd.goarch(), "amd64");
        assert_eq!(amd.gnu_prefix(), "x86_64-linux-gnu-");
        assert_eq!(amd.debian_arch(), "amd64");
        assert_eq!(amd.elf_machine(), 62);

        let arm = Platform::ARM64;
        assert_eq!(arm.os(), "linux");
        assert_eq!(arm.docker(), "linux/arm64");
        assert_eq!(arm.to_string(), "linux/arm64");
        assert_eq!(arm.dir_name(), "linux-arm64");
        assert_eq!(arm.rust_triple(), "aarch64-unknown-linux-gnu");
        assert_eq!(arm.goos(), "linux");
        assert_eq!(arm.goarch(), "arm64");
        assert_eq!(arm.gnu_prefix(), "aarch64-linux-gnu-");
        assert_eq!(arm.debian_arch(), "arm64");
        assert_eq!(arm.elf_machine(), 183);
        assert_eq!(arm.elf_flags(), (u32::MAX, 0));
        assert_eq!((arm.gnu_arch(), arm.qemu_user()), ("aarch64", "qemu-aarch64".into()));
        assert_eq!((amd.gnu_arch(), amd.qemu_user()), ("x86_64", "qemu-x86_64".into()));

        let rv = Platform::RISCV64;
        assert_eq!(rv.os(), "linux");
        assert_eq!(rv.docker(), "linux/riscv64");
        assert_eq!(rv.to_string(), "linux/riscv64");
        assert_eq!(rv.dir_name(), "linux-riscv64");
        assert_eq!(rv.rust_triple(), "riscv64gc-unknown-linux-gnu");
        assert_eq!(rv.goos(), "linux");
        assert_eq!(rv.goarch(), "riscv64");
        assert_eq!(rv.gnu_prefix(), "riscv64-linux-gnu-");
        assert_eq!(rv.debian_arch(), "riscv64");
        assert_eq!((amd.debian(), arm.debian(), rv.debian()), ((12, "bookworm"), (12, "bookworm"), (13, "trixie")));
        assert_eq!((amd.glibc_floor(), arm.glibc_floor(), rv.glibc_floor()), ("2.36", "2.36", "2.41"));
        assert_eq!(rv.elf_machine(), 243);
        // EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_DOUBLE, checked against the float-ABI, RVE and TSO bits.
        assert_eq!(rv.elf_flags(), (0x1f, 0x5));
        assert_eq!((rv.gnu_arch(), rv.qemu_user()), ("riscv64", "qemu-riscv64".into()));
        assert_eq!(rv.glibc_loader(), "ld-linux-riscv64-lp64d.so.1");
        assert_eq!(arm.glibc_loader(), "ld-linux-aarch64.so.1");
        assert_eq!(amd.glibc_loader(), "ld-linux-x86-64.so.2");
    }

    #[test]
    fn round_trips() {
        for p in Platform::ALL {
            assert_eq!(Platform::parse(p.docker()).unwrap(), p);
            assert_eq!(Platform::parse(p.rust_triple()).unwrap(), p);
            assert_eq!(Platform::parse(p.goarch()).unwrap(), p);
            assert_eq!(Platform::parse(p.debian_arch()).unwrap(), p);
            assert_eq!(p.to_string().parse::<Platform>().unwrap(), p);
        }
    }

    #[test]
    fn host_matches_consts() {
        let host = Platform::host().unwrap();
        assert!(host.is_host());
        assert_eq!(host.rust_triple().split('-').next().unwrap(), std::env::consts::ARCH);
        assert_eq!(Platform::ALL.iter().filter(|p| p.is_host()).count(), 1);
        assert!(Platform::from_consts("macos", "x86_64").is_err());
        assert_eq!(Platform::from_consts("linux", "riscv64").unwrap(), Platform::RISCV64);
        assert!(Platform::from_consts("linux", "powerpc64").is_err());
    }

    #[test]
    fn or_host_defaults_dedups_keeps_order() {
        let host = Platform::host().unwrap();
        assert_eq!(Platform::or_host(&[]).unwrap(), vec![host]);
        let list = ["linux/arm64", "amd64", "aarch64", "x86_64-unknown-linux-gnu"].map(|p| Platform::parse(p).unwrap());
        assert_eq!(Platform::or_host(&list).unwrap(), vec![Platform::ARM64, Platform::AMD64]);
    }
}
