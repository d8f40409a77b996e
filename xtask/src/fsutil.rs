//! Small file helpers shared by commands.

use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of a file.
pub fn sha256_hex(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Copy `from` to `to`, creating `to`'s directory (permissions are kept).
pub fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::copy(from, to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// The environment that makes pip, npm, curl and Python trust the CA bundle
/// named by `XTASK_CA_BUNDLE` (e.g. an image build secret for a
/// TLS-intercepting proxy); empty when it is unset or the file is absent.
pub fn ca_env() -> Vec<(&'static str, std::path::PathBuf)> {
    let Some(ca) = std::env::var_os("XTASK_CA_BUNDLE").map(std::path::PathBuf::from).filter(|p| p.is_file()) else {
        return Vec::new();
    };
    ["PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "npm_config_cafile"]
        .into_iter()
        .map(|k| (k, ca.clone()))
        .collect()
}
