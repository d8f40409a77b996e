//! Deterministic `.tar.gz` of a directory: the same tree gives the same bytes,
//! whoever packs it, wherever and whenever.
//!
//! What `tar czf` would take from the machine is fixed instead: entries are
//! sorted by path (directories before their contents), every mtime is the
//! given `SOURCE_DATE_EPOCH`, owner and group are 0 with empty names, modes
//! are 0755 for directories and executables and 0644 for other files (only the
//! executable bit of the file is kept; the umask does not leak), symlinks and
//! other special files are refused. The headers are ustar (no PAX records,
//! which would carry access times), so paths are limited to ustar's length.
//! gzip: no file name, mtime 0, a fixed compression level (6, zlib's default:
//! the static library is large, and 9 gains little on it).

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use flate2::{write::GzEncoder, Compression, GzBuilder};

/// One entry to pack: its path inside the archive and where it is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    path: PathBuf,
    dir: bool,
    executable: bool,
}

/// The entries of `dir` under the prefix `top` (`top/` itself first), sorted.
fn entries(dir: &Path, top: &str) -> Result<Vec<Entry>> {
    fn walk(path: &Path, name: String, out: &mut Vec<Entry>) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            out.push(Entry { name: format!("{name}/"), path: path.to_path_buf(), dir: true, executable: true });
            let mut children: Vec<(String, PathBuf)> = Vec::new();
            for e in std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))? {
                let e = e?;
                let file_name = e.file_name();
                let Some(child) = file_name.to_str() else {
                    bail!("{}: the name is not UTF-8", e.path().display());
                };
                children.push((child.to_string(), e.path()));
            }
            children.sort();
            for (child, p) in children {
                walk(&p, format!("{name}/{child}"), out)?;
            }
        } else if ft.is_file() {
            let executable = meta.permissions().mode() & 0o111 != 0;
            out.push(Entry { name, path: path.to_path_buf(), dir: false, executable });
        } else {
            bail!("{}: only files and directories can be packed (a symlink or special file)", path.display());
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, top.trim_end_matches('/').to_string(), &mut out)?;
    Ok(out)
}

/// Write `dir` as `out` (a `.tar.gz`), its entries under `top/`, every mtime
/// `mtime` (seconds since the epoch). Written beside `out`, then renamed.
pub fn write_tar_gz(dir: &Path, top: &str, mtime: u64, out: &Path) -> Result<()> {
    let entries = entries(dir, top)?;
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| -> Result<()> {
        let file = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let gz: GzEncoder<BufWriter<File>> = GzBuilder::new().mtime(0).write(BufWriter::new(file), Compression::new(6));
        let mut tar = tar::Builder::new(gz);
        tar.mode(tar::HeaderMode::Deterministic);
        for e in &entries {
            let mut h = tar::Header::new_ustar();
            h.set_mtime(mtime);
            h.set_uid(0);
            h.set_gid(0);
            h.set_username("").context("ustar user name")?;
            h.set_groupname("").context("ustar group name")?;
            h.set_mode(if e.dir || e.executable { 0o755 } else { 0o644 });
            if e.dir {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                h.set_path(&e.name).with_context(|| format!("{}: cannot be a ustar path", e.name))?;
                h.set_cksum();
                tar.append(&h, std::io::empty())?;
            } else {
                let data = std::fs::read(&e.path).with_context(|| format!("cannot read {}", e.path.display()))?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                h.set_path(&e.name).with_context(|| format!("{}: cannot be a ustar path", e.name))?;
                h.set_cksum();
                tar.append(&h, data.as_slice())?;
            }
        }
        let gz = tar.into_inner().context("cannot finish the tar stream")?;
        let mut file = gz.finish().context("cannot finish the gzip stream")?;
        file.flush()?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("cannot write {}", out.display())));
    }
    std::fs::rename(&tmp, out).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{io::Read, os::unix::fs::PermissionsExt};

    use super::*;

    fn tree(root: &Path, umask_exec: u32) {
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("lib")).unwrap();
        std::fs::write(root.join("lib/b.so"), "so").unwrap();
        std::fs::write(root.join("lib/a.a"), "a").unwrap();
        std::fs::write(root.join("bin/extproc"), "elf").unwrap();
        std::fs::write(root.join("SHA256SUMS"), "sums").unwrap();
        std::fs::set_permissions(root.join("bin/extproc"), std::fs::Permissions::from_mode(umask_exec)).unwrap();
    }

    #[test]
    fn same_tree_same_bytes_whatever_the_machine_state() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        tree(&a, 0o755);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        tree(&b, 0o700); // another umask, a later mtime
        std::fs::set_permissions(b.join("lib/a.a"), std::fs::Permissions::from_mode(0o600)).unwrap();
        let (ta, tb) = (tmp.path().join("a.tar.gz"), tmp.path().join("b.tar.gz"));
        write_tar_gz(&a, "linux-riscv64", 1_700_000_000, &ta).unwrap();
        write_tar_gz(&b, "linux-riscv64", 1_700_000_000, &tb).unwrap();
        assert_eq!(std::fs::read(&ta).unwrap(), std::fs::read(&tb).unwrap());
        // Another epoch is another archive.
        write_tar_gz(&b, "linux-riscv64", 1_700_000_001, &tb).unwrap();
        assert_ne!(std::fs::read(&ta).unwrap(), std::fs::read(&tb).unwrap());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 4, "no temporary file left");
    }

    #[test]
    fn entries_sorted_with_fixed_metadata() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        tree(&dir, 0o700);
        let out = tmp.path().join("d.tar.gz");
        write_tar_gz(&dir, "linux-amd64", 42, &out).unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(File::open(&out).unwrap()));
        let mut seen = Vec::new();
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            assert_eq!((h.mtime().unwrap(), h.uid().unwrap(), h.gid().unwrap()), (42, 0, 0));
            assert_eq!(h.username().unwrap(), Some(""));
            let mut body = String::new();
            e.read_to_string(&mut body).unwrap();
            seen.push((e.path().unwrap().display().to_string(), format!("{:o}", h.mode().unwrap()), body));
        }
        let seen: Vec<(&str, &str, &str)> = seen.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
        assert_eq!(
            seen,
            [
                ("linux-amd64/", "755", ""),
                ("linux-amd64/SHA256SUMS", "644", "sums"),
                ("linux-amd64/bin/", "755", ""),
                ("linux-amd64/bin/extproc", "755", "elf"),
                ("linux-amd64/lib/", "755", ""),
                ("linux-amd64/lib/a.a", "644", "a"),
                ("linux-amd64/lib/b.so", "644", "so"),
            ]
        );
        // gzip header: no name, mtime 0.
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(&bytes[3..8], &[0, 0, 0, 0, 0], "FLG and MTIME are zero");
    }

    #[test]
    fn symlinks_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        tree(&dir, 0o755);
        std::os::unix::fs::symlink("b.so", dir.join("lib/c.so")).unwrap();
        let err = write_tar_gz(&dir, "x", 0, &tmp.path().join("x.tar.gz")).unwrap_err();
        assert!(format!("{err:#}").contains("symlink"), "{err:#}");
        assert!(!tmp.path().join("x.tar.gz").exists());
    }
}
