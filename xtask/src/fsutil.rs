//! Small file helpers shared by commands.

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
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

/// A sibling name for writing `to` before renaming it into place: hidden,
/// and of this process and thread, so that writers of the same file at once
/// never share one.
fn partial_of(to: &Path) -> Result<PathBuf> {
    let name = to.file_name().with_context(|| format!("{} has no file name", to.display()))?;
    let thread = format!("{:?}", std::thread::current().id());
    let tag: String = thread.chars().filter(char::is_ascii_digit).collect();
    Ok(to.with_file_name(format!(".{}.{}-{tag}.partial", name.to_string_lossy(), std::process::id())))
}

/// Make `to` atomically: `write` makes its [`partial_of`] (a file or a
/// symlink), which is then renamed over `to`, so that a reader never sees
/// half of it; the partial is removed if either fails.
pub fn write_then_rename(to: &Path, write: impl FnOnce(&Path) -> std::io::Result<()>) -> Result<()> {
    let part = partial_of(to)?;
    let _ = std::fs::remove_file(&part);
    let written = write(&part).with_context(|| format!("cannot write {}", part.display())).and_then(|()| {
        std::fs::rename(&part, to).with_context(|| format!("cannot move {} to {}", part.display(), to.display()))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    written
}

/// `bytes` as the file `to` with `mode`, by [`write_then_rename`].
pub fn write_file(to: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    write_then_rename(to, |part| {
        std::fs::write(part, bytes)?;
        std::fs::set_permissions(part, std::fs::Permissions::from_mode(mode))
    })
}

/// A copy of `from` as `to` with `mode`, by [`write_then_rename`].
pub fn replace_file(from: &Path, to: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    write_then_rename(to, |part| {
        std::fs::copy(from, part)?;
        std::fs::set_permissions(part, std::fs::Permissions::from_mode(mode))
    })
    .with_context(|| format!("cannot copy {}", from.display()))
}

/// This machine's CA bundle: `$SSL_CERT_FILE` when it names a file, else
/// Debian's `/etc/ssl/certs/ca-certificates.crt`, if it exists.
pub fn ca_bundle() -> Option<std::path::PathBuf> {
    std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| Some(std::path::PathBuf::from("/etc/ssl/certs/ca-certificates.crt")).filter(|p| p.is_file()))
}

/// Copy this machine's CA bundle ([`ca_bundle`]) to `dir/ca-certificates.crt`
/// and its local certificates to `dir/local/`, for an image that must trust
/// what it does.
pub fn copy_ca_files(dir: &Path) -> Result<()> {
    let local = dir.join("local");
    std::fs::create_dir_all(&local).with_context(|| format!("cannot create {}", local.display()))?;
    let bundle = ca_bundle().context("this machine has no CA bundle: set SSL_CERT_FILE or install ca-certificates")?;
    std::fs::copy(&bundle, dir.join("ca-certificates.crt"))
        .with_context(|| format!("cannot copy this machine's CA bundle {}", bundle.display()))?;
    if let Ok(entries) = std::fs::read_dir("/usr/local/share/ca-certificates") {
        for e in entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "crt")) {
            std::fs::copy(e.path(), local.join(e.file_name()))?;
        }
    }
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

/// `root/rel` for a write or delete that must stay inside `root`: `rel` is
/// relative with no `..`, and no part of it that exists below `root` (the
/// last one included) is a symlink, so nothing is written or removed through
/// a link that points elsewhere. `root` itself may be a link.
pub fn beneath(root: &Path, rel: &str) -> Result<PathBuf> {
    let mut path = root.to_path_buf();
    for part in Path::new(rel).components() {
        match part {
            Component::Normal(name) => path.push(name),
            Component::CurDir => {}
            _ => bail!("{rel:?} is not a path inside {}", root.display()),
        }
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => bail!(
                "{} is a symlink: nothing is written or removed through it (it leads outside {}); remove it",
                path.display(),
                root.display()
            ),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(e).with_context(|| format!("cannot stat {}", path.display())),
        }
    }
    Ok(root.join(rel))
}

#[cfg(test)]
mod tests {
    use super::{beneath, replace_file};

    #[test]
    fn beneath_refuses_links_and_parents() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, outside) = (tmp.path().join("root"), tmp.path().join("outside"));
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("a/link")).unwrap();
        std::os::unix::fs::symlink(outside.join("f"), root.join("file-link")).unwrap();
        assert_eq!(beneath(&root, "a/new/x.rs").unwrap(), root.join("a/new/x.rs"));
        for bad in ["a/link/x.rs", "a/link", "file-link", "../outside/x", "/etc/passwd", "a/../../x"] {
            assert!(beneath(&root, bad).is_err(), "{bad}");
        }
    }

    /// Several threads replacing the same file at once all succeed, and
    /// leave one whole copy and no partial behind.
    #[test]
    fn replace_file_from_threads_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let sources: Vec<_> = (0..4u8)
            .map(|i| {
                let f = dir.join(format!("src{i}"));
                std::fs::write(&f, vec![i; 1 << 20]).unwrap();
                f
            })
            .collect();
        let to = dir.join("xtask");
        std::thread::scope(|s| {
            for from in &sources {
                let to = &to;
                s.spawn(move || {
                    for _ in 0..20 {
                        replace_file(from, to, 0o755).unwrap();
                    }
                });
            }
        });
        let bytes = std::fs::read(&to).unwrap();
        assert_eq!(bytes.len(), 1 << 20);
        assert!(bytes.iter().all(|&b| b == bytes[0]), "a mixed copy");
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&to).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o755);
        let names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 5, "{names:?}");
    }
}
