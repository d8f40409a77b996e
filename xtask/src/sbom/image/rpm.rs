//! The RPM packages of a root filesystem, from rpm's SQLite database
//! (`rpmdb.sqlite` in `var/lib/rpm` or `usr/lib/sysimage/rpm`, as on
//! CentOS Stream 9, RHEL 9 and Fedora): its table `Packages` holds one RPM
//! header a row, read here with the SQLite reader of [`super::sqlite`].
//!
//! The other rpm database formats (Berkeley DB `Packages`, ndb
//! `Packages.db`) are recognised and refused with an error that names them.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    path::{Component, Path, PathBuf},
};

use anyhow::{bail, ensure, Context, Result};

use super::{
    purl_escape,
    sqlite::{self, Column, Db},
};

/// An installed RPM package, from its header in the rpm database.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RpmPackage {
    pub name: String,
    pub version: String,
    pub release: String,
    /// The epoch, when the header has one (0 included, as rpm shows it).
    pub epoch: Option<u32>,
    pub arch: String,
    /// The source RPM's file name (`glibc-2.34-100.el9.src.rpm`).
    pub source_rpm: Option<String>,
    /// The header's `License`, as the packager wrote it (not always an
    /// SPDX expression).
    pub license: Option<String>,
}

impl RpmPackage {
    /// `[epoch:]version-release`, as rpm writes a package's version.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }
}

/// `pkg:rpm/<vendor>/<name>@<version>-<release>?arch=<arch>[&epoch=<n>]`;
/// without the vendor (the os-release `ID`: `centos`, `fedora`, `rhel`)
/// when the root filesystem does not say it: `pkg:rpm/<name>@…`.
pub fn rpm_purl(p: &RpmPackage, vendor: Option<&str>) -> String {
    let namespace = vendor.map(|v| format!("{}/", purl_escape(&v.to_ascii_lowercase()))).unwrap_or_default();
    let mut purl = format!(
        "pkg:rpm/{namespace}{}@{}-{}?arch={}",
        purl_escape(&p.name),
        purl_escape(&p.version),
        purl_escape(&p.release),
        purl_escape(&p.arch)
    );
    if let Some(e) = p.epoch {
        purl += &format!("&epoch={e}");
    }
    purl
}

const NAME: u32 = 1000;
const VERSION: u32 = 1001;
const RELEASE: u32 = 1002;
const EPOCH: u32 = 1003;
const LICENSE: u32 = 1014;
const ARCH: u32 = 1022;
const SOURCERPM: u32 = 1044;

const INT32: u32 = 4;
const STRING: u32 = 6;
const I18NSTRING: u32 = 9;

/// The most index entries and data bytes rpm itself accepts in a header.
const MAX_ENTRIES: u32 = 0xffff;
const MAX_DATA: u32 = 0x0fff_ffff;

fn tag_name(tag: u32) -> &'static str {
    match tag {
        NAME => "NAME",
        VERSION => "VERSION",
        RELEASE => "RELEASE",
        EPOCH => "EPOCH",
        LICENSE => "LICENSE",
        ARCH => "ARCH",
        SOURCERPM => "SOURCERPM",
        _ => "?",
    }
}

fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// The package an RPM header describes, as the rpm database stores it
/// (without the 8-byte header magic): `il` index entries and `dl` data
/// bytes (big-endian u32 each), the entries (tag, type, offset, count),
/// then the data. `None` for the `gpg-pubkey` pseudo-packages, the keys
/// rpm imported, which have no architecture and are skipped: they are
/// signing keys, not installed software.
pub fn parse_header(blob: &[u8]) -> Result<Option<RpmPackage>> {
    ensure!(blob.len() >= 8, "{} bytes, less than the header's 8 bytes of counts", blob.len());
    let (il, dl) = (be32(blob, 0), be32(blob, 4));
    ensure!((1..=MAX_ENTRIES).contains(&il), "il {il}: not 1 to {MAX_ENTRIES} index entries");
    ensure!(dl <= MAX_DATA, "dl {dl}: more than the {MAX_DATA} data bytes rpm allows");
    let want = 8 + 16 * u64::from(il) + u64::from(dl);
    ensure!(
        want == blob.len() as u64,
        "il {il} and dl {dl} make a header of {want} bytes, the blob has {}",
        blob.len()
    );
    let data = &blob[8 + 16 * il as usize..];
    // The first entry of each tag.
    let mut entries: BTreeMap<u32, (u32, usize, u32)> = BTreeMap::new();
    for e in blob[8..8 + 16 * il as usize].chunks_exact(16) {
        let (tag, kind, offset, count) = (be32(e, 0), be32(e, 4), be32(e, 8), be32(e, 12));
        ensure!(offset <= dl, "tag {tag}: offset {offset} is past the {dl} data bytes");
        entries.entry(tag).or_insert((kind, offset as usize, count));
    }
    let string = |tag: u32| -> Result<Option<String>> {
        let Some(&(kind, offset, _)) = entries.get(&tag) else { return Ok(None) };
        ensure!(kind == STRING || kind == I18NSTRING, "tag {} has type {kind}, not a string", tag_name(tag));
        let text = &data[offset..];
        let end = text
            .iter()
            .position(|b| *b == 0)
            .with_context(|| format!("tag {}: no NUL ends the string", tag_name(tag)))?;
        Ok(Some(String::from_utf8_lossy(&text[..end]).into_owned()))
    };
    let need = |tag: u32| -> Result<String> {
        string(tag)?.filter(|s| !s.is_empty()).with_context(|| format!("no {} tag", tag_name(tag)))
    };
    let name = need(NAME)?;
    let (version, release) = (need(VERSION)?, need(RELEASE)?);
    let Some(arch) = string(ARCH)? else {
        if name == "gpg-pubkey" {
            return Ok(None);
        }
        bail!("package {name}: no ARCH tag");
    };
    let epoch = match entries.get(&EPOCH) {
        None => None,
        Some(&(kind, offset, count)) => {
            ensure!(kind == INT32 && count >= 1, "tag EPOCH has type {kind} and count {count}, not an INT32");
            ensure!(offset + 4 <= data.len(), "tag EPOCH: offset {offset} is past the {dl} data bytes");
            Some(be32(data, offset))
        }
    };
    Ok(Some(RpmPackage {
        name,
        version,
        release,
        epoch,
        arch,
        source_rpm: string(SOURCERPM)?,
        license: string(LICENSE)?,
    }))
}

/// The format of an rpm database file, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFormat {
    /// `rpmdb.sqlite`: CentOS Stream 9, RHEL 9, Fedora 33 and later.
    Sqlite,
    /// Berkeley DB `Packages`: CentOS 7, RHEL 7 and 8, Amazon Linux 2.
    BerkeleyDb,
    /// rpm's own ndb `Packages.db`: openSUSE, SLES 15.
    Ndb,
}

pub fn db_format(data: &[u8]) -> Option<DbFormat> {
    if data.starts_with(sqlite::MAGIC) {
        return Some(DbFormat::Sqlite);
    }
    if data.starts_with(b"RpmP") {
        return Some(DbFormat::Ndb);
    }
    // Berkeley DB's hash (0x061561) or btree (0x053162) magic at offset 12,
    // in the byte order of the machine that wrote it.
    let magic = data.get(12..16).map(|m| [be32(m, 0), be32(m, 0).swap_bytes()]);
    if magic.is_some_and(|m| m.iter().any(|v| *v == 0x0006_1561 || *v == 0x0005_3162)) {
        return Some(DbFormat::BerkeleyDb);
    }
    None
}

/// The packages of an rpm SQLite database, with its write-ahead log
/// (`rpmdb.sqlite-wal`) when there is one: every row of its table
/// `Packages` (`hnum INTEGER PRIMARY KEY, blob BLOB`), the blob an RPM
/// header; sorted, without the `gpg-pubkey` keys.
pub fn parse_rpmdb(data: &[u8], wal: Option<&[u8]>) -> Result<Vec<RpmPackage>> {
    let only = "only rpm's SQLite database (rpmdb.sqlite) is read";
    match db_format(data) {
        Some(DbFormat::Sqlite) => {}
        Some(DbFormat::BerkeleyDb) => bail!("a Berkeley DB rpm database (CentOS 7, RHEL 7 and 8): {only}"),
        Some(DbFormat::Ndb) => bail!("an ndb rpm database (openSUSE, SLES): {only}"),
        None if data.is_empty() => bail!("an empty file, not an rpm database"),
        None => bail!("not an rpm database: neither SQLite, Berkeley DB nor ndb"),
    }
    let db = Db::open(data)?.with_wal(wal.unwrap_or_default())?;
    let root = db.table_root("Packages")?.context("no table `Packages`: not an rpm database")?;
    let mut out = Vec::new();
    db.rows(root, &mut |rowid, payload| {
        let cols = sqlite::record(payload).with_context(|| format!("Packages row {rowid}"))?;
        let Some(Column::Blob(blob)) = cols.get(1) else {
            bail!("Packages row {rowid}: the second column is not the header BLOB");
        };
        if let Some(p) = parse_header(blob).with_context(|| format!("Packages row {rowid}: RPM header"))? {
            out.push(p);
        }
        Ok(())
    })?;
    out.sort();
    out.dedup();
    Ok(out)
}

/// The `ID` of an os-release file (`centos`, `fedora`, `rhel`), unquoted
/// and lowercased; `None` when it has none.
pub fn os_release_id(text: &str) -> Option<String> {
    let value = text.lines().rev().find_map(|l| l.trim().strip_prefix("ID="))?.trim();
    let unquoted = match value.as_bytes() {
        [q @ (b'"' | b'\''), .., last] if last == q => &value[1..value.len() - 1],
        _ => value,
    };
    let id = unquoted.replace('\\', "").to_ascii_lowercase();
    (!id.is_empty()).then_some(id)
}

/// The most symbolic links [`resolve_in_root`] follows for one path, as
/// Linux does before `ELOOP`.
const MAX_LINKS: usize = 40;

/// The path on this machine of `rel` inside the root filesystem at `root`,
/// its symbolic links followed as they would be inside it: an absolute
/// target from `root`, `..` never above it. `None` when it does not exist.
pub fn resolve_in_root(root: &Path, rel: impl AsRef<Path>) -> Result<Option<PathBuf>> {
    let rel = rel.as_ref();
    let mut done: Vec<OsString> = Vec::new();
    let mut todo: Vec<OsString> = Vec::new();
    let push = |todo: &mut Vec<OsString>, path: &Path| {
        // `todo` is a stack: the first component last.
        for c in path.components().rev() {
            match c {
                Component::Normal(n) => todo.push(n.to_os_string()),
                Component::ParentDir => todo.push("..".into()),
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
    };
    push(&mut todo, rel);
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            done.pop();
            continue;
        }
        let path = done.iter().fold(root.to_path_buf(), |p, d| p.join(d)).join(&c);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        if meta.file_type().is_symlink() {
            links += 1;
            ensure!(links <= MAX_LINKS, "{}: more than {MAX_LINKS} symbolic links (a loop?)", root.join(rel).display());
            let target =
                std::fs::read_link(&path).with_context(|| format!("cannot read the link {}", path.display()))?;
            if target.is_absolute() {
                done.clear();
            }
            push(&mut todo, &target);
        } else if !todo.is_empty() && !meta.is_dir() {
            return Ok(None);
        } else {
            done.push(c);
        }
    }
    Ok(Some(done.iter().fold(root.to_path_buf(), |p, c| p.join(c))))
}

/// Where rpm keeps its database: `usr/lib/sysimage/rpm` on Fedora 36 and
/// later (with `var/lib/rpm` a link to it), `var/lib/rpm` before and on
/// CentOS Stream 9 and RHEL 9.
const RPM_DIRS: [&str; 2] = ["var/lib/rpm", "usr/lib/sysimage/rpm"];

/// The largest rpm database file read.
const MAX_DB_BYTES: u64 = 1 << 30;

/// The RPM packages installed in the root filesystem at `root`, and the
/// distribution's os-release `ID` (`etc/os-release`, else
/// `usr/lib/os-release`) when there are some: the packages of each
/// `rpmdb.sqlite` of [`RPM_DIRS`] (a directory and the link to it read
/// once), with the pages its write-ahead log `rpmdb.sqlite-wal` commits
/// (rpm empties the log when it closes the database). Without one, a
/// Berkeley DB `Packages` or ndb `Packages.db` there is an error that names
/// its format; no database at all is no packages.
pub fn read_rootfs(root: &Path) -> Result<(Vec<RpmPackage>, Option<String>)> {
    let mut sqlite: Vec<PathBuf> = Vec::new();
    let mut other = None;
    for dir in RPM_DIRS {
        for (file, list) in [("rpmdb.sqlite", true), ("Packages.db", false), ("Packages", false)] {
            let Some(path) = resolve_in_root(root, format!("{dir}/{file}"))?.filter(|p| p.is_file()) else {
                continue;
            };
            if list && !sqlite.contains(&path) {
                sqlite.push(path);
            } else if !list && other.is_none() {
                other = Some(path);
            }
        }
    }
    let read = |path: &Path| -> Result<Option<Vec<u8>>> {
        let size = match std::fs::metadata(path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        ensure!(size <= MAX_DB_BYTES, "{}: {size} bytes, larger than an rpm database this scan reads", path.display());
        Ok(Some(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?))
    };
    let mut packages = Vec::new();
    for path in sqlite.iter().chain(other.iter().filter(|_| sqlite.is_empty())) {
        let data = read(path)?.with_context(|| format!("cannot read {}: it is gone", path.display()))?;
        // The log beside the database, found inside the root filesystem too.
        let mut wal_rel = path.strip_prefix(root).unwrap_or(path).as_os_str().to_os_string();
        wal_rel.push("-wal");
        let wal = match resolve_in_root(root, &wal_rel)?.filter(|p| p.is_file()) {
            Some(wal_path) => read(&wal_path)?,
            None => None,
        };
        packages.extend(parse_rpmdb(&data, wal.as_deref()).with_context(|| format!("{}", path.display()))?);
    }
    packages.sort();
    packages.dedup();
    if packages.is_empty() {
        return Ok((packages, None));
    }
    for rel in ["etc/os-release", "usr/lib/os-release"] {
        if let Some(path) = resolve_in_root(root, rel)?.filter(|p| p.is_file()) {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            return Ok((packages, os_release_id(&text)));
        }
    }
    Ok((packages, None))
}
