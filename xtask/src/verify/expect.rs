//! What the checked files must satisfy: the platform, the glibc ceiling, and
//! the functions the C header declares and the Go code calls.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use super::{cgo::go_c_functions, header::parse_header, GO_DIRS, HEADER};
use crate::{elf::GlibcVersion, platform::Platform};

/// Everything the checks compare against.
#[derive(Debug, Clone)]
pub struct Expectations {
    pub platform: Platform,
    pub max_glibc: GlibcVersion,
    /// Functions declared in the header (must be exported).
    pub header_functions: Vec<String>,
    /// `C.<name>` functions the Go code calls, with the first place each is used.
    pub go_functions: BTreeMap<String, String>,
}

impl Expectations {
    /// Read the header and the Go code of the workspace at `root`.
    pub fn from_workspace(root: &Path, platform: Platform, max_glibc: Option<&str>) -> Result<Expectations> {
        let header_path = root.join(HEADER);
        let header_text = std::fs::read_to_string(&header_path).with_context(|| {
            format!("cannot read the C header {} (generate it with `cargo xtask codegen`)", header_path.display())
        })?;
        let header = parse_header(&header_text);
        if header.functions.is_empty() {
            bail!("{} declares no functions: is it a cbindgen header?", header_path.display());
        }
        let dirs: Vec<PathBuf> = GO_DIRS.iter().map(|d| root.join(d)).collect();
        let go_functions = go_c_functions(&dirs, &header.types, root)?;
        Ok(Expectations {
            platform,
            max_glibc: parse_max_glibc(max_glibc, platform)?,
            header_functions: header.functions,
            go_functions,
        })
    }
}

/// `--max-glibc`, by default the platform's floor ([`Platform::glibc_floor`]).
pub fn parse_max_glibc(s: Option<&str>, platform: Platform) -> Result<GlibcVersion> {
    let s = s.unwrap_or(platform.glibc_floor());
    GlibcVersion::parse(s.trim()).with_context(|| format!("--max-glibc `{s}` is not a version like 2.36"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_glibc_flag() {
        assert_eq!(parse_max_glibc(None, Platform::AMD64).unwrap().to_string(), "2.36");
        assert_eq!(parse_max_glibc(None, Platform::RISCV64).unwrap().to_string(), "2.41");
        assert_eq!(parse_max_glibc(Some("2.28"), Platform::AMD64).unwrap().to_string(), "2.28");
        assert_eq!(parse_max_glibc(Some("GLIBC_2.17"), Platform::AMD64).unwrap().to_string(), "2.17");
        assert!(parse_max_glibc(Some("new"), Platform::AMD64).is_err());
    }
}
