//! Opening the file to read: a regular file only, mapped, never read whole.
//!
//! - Anything that is not a regular file (FIFO, directory, character device
//!   such as `/dev/zero`, socket) is refused from its metadata, before it is
//!   opened: opening a FIFO waits for a writer. The file is then opened with
//!   `O_NONBLOCK` and checked again (same device and inode, still regular), so
//!   a FIFO swapped in between cannot make xtask hang either.
//! - The file is mapped read-only (`memmap2`, already in the workspace through
//!   candle): the parser touches only the pages the headers point to, so a
//!   sparse 8 GiB file or a huge archive costs no memory up front, and every
//!   offset is checked against the mapping's length, the file's own size.
//!   Reading with a bound instead would copy the whole library (20 MB) to
//!   parse a few pages of it.
//!
//! A mapped file that another process truncates while xtask reads it raises
//! `SIGBUS`, as it does for `nm` and `ld`: the files checked are build outputs
//! that nothing else writes at the same time.

use std::{fs::OpenOptions, ops::Deref, os::unix::fs::MetadataExt, os::unix::fs::OpenOptionsExt, path::Path};

use anyhow::{bail, Context, Result};

/// The bytes of a file: a read-only mapping, or nothing for an empty file.
pub(super) enum Bytes {
    Empty,
    Mapped(memmap2::Mmap),
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Empty => &[],
            Bytes::Mapped(m) => m,
        }
    }
}

fn kind(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Map `path`, which must be a regular file.
pub(super) fn map(path: &Path) -> Result<Bytes> {
    let shown = path.display();
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {shown}"))?;
    if !meta.is_file() {
        bail!("{shown}: {}, not an ELF file or ar archive (give the path of a regular file)", kind(meta.file_type()));
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("cannot read {shown}"))?;
    let now = file.metadata().with_context(|| format!("cannot read {shown}"))?;
    if !now.is_file() || now.dev() != meta.dev() || now.ino() != meta.ino() {
        bail!("{shown}: replaced while being opened; run again");
    }
    if now.len() == 0 {
        return Ok(Bytes::Empty);
    }
    // SAFETY: the mapping is read-only and private to this process; see the
    // module docs for a file truncated meanwhile.
    let map = unsafe { memmap2::Mmap::map(&file) }.with_context(|| format!("cannot map {shown}"))?;
    Ok(Bytes::Mapped(map))
}
