//! A reader of the SQLite 3 database file format
//! (<https://www.sqlite.org/fileformat2.html>) that does what reading the
//! rpm database needs and no more: the rows of one rowid table, found by
//! name in `sqlite_schema`, their records decoded; with the pages a
//! write-ahead log commits laid over the file's (see [`Db::with_wal`]).
//!
//! Bad input is an error, never a panic, a hang or an unbounded allocation:
//! every offset and length is checked against its page or the file, each
//! page is read at most once per walk (a page reached twice is a cycle),
//! and a payload is never larger than the file that holds it.

use std::collections::BTreeMap;

use anyhow::{bail, ensure, Context, Result};

/// The 16 bytes every SQLite 3 database file starts with.
pub const MAGIC: &[u8; 16] = b"SQLite format 3\0";

const HEADER: usize = 100;
const LEAF_TABLE: u8 = 0x0D;
const INTERIOR_TABLE: u8 = 0x05;

/// A database file, its header checked.
#[derive(Debug)]
pub struct Db<'a> {
    data: &'a [u8],
    page_size: usize,
    /// The usable size of a page: the page size less the bytes reserved at
    /// the end of each page.
    usable: usize,
    pages: u32,
    /// Pages of the write-ahead log that replace the file's.
    wal: BTreeMap<u32, &'a [u8]>,
}

/// The magic of a write-ahead log whose checksums are of little-endian
/// words; with the low bit set, big-endian.
const WAL_MAGIC: u32 = 0x377f_0682;
const WAL_VERSION: u32 = 3_007_000;

/// SQLite's checksum of a write-ahead log, over `data` (a multiple of 8
/// bytes) from the running sums `s`: for each pair of 32-bit words x0, x1
/// (`big`-endian or little), s0 += x0 + s1, then s1 += x1 + s0.
pub fn wal_checksum(big: bool, data: &[u8], s: (u32, u32)) -> (u32, u32) {
    let (mut s0, mut s1) = s;
    let word = |b: &[u8]| {
        let b = [b[0], b[1], b[2], b[3]];
        if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    for pair in data.chunks_exact(8) {
        s0 = s0.wrapping_add(word(&pair[..4])).wrapping_add(s1);
        s1 = s1.wrapping_add(word(&pair[4..])).wrapping_add(s0);
    }
    (s0, s1)
}

/// A value of a record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Column<'p> {
    Null,
    Int(i64),
    Float(f64),
    Text(&'p [u8]),
    Blob(&'p [u8]),
}

/// A big-endian integer of `N` bytes at `at`, when `buf` holds it.
fn be<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(buf: &[u8], at: usize) -> Option<usize> {
    be::<2>(buf, at).map(|b| u16::from_be_bytes(b) as usize)
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    be::<4>(buf, at).map(u32::from_be_bytes)
}

/// A varint (1 to 9 bytes, big-endian, 7 bits a byte but all 8 of the
/// ninth) at `at`: its value and its length; `None` when it runs past `buf`.
pub fn varint(buf: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let b = *buf.get(at.checked_add(i)?)?;
        if i == 8 {
            return Some(((v << 8) | u64::from(b), 9));
        }
        v = (v << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// How many bytes of a table leaf cell's payload of `payload` bytes stay on
/// the page, with `usable` usable bytes a page; the rest goes to overflow
/// pages. With X = U-35, M = ((U-12)*32/255)-23 and K = M+((P-M)%(U-4)):
/// all of P when P <= X, else K when K <= X, else M.
pub fn local_payload(usable: usize, payload: u64) -> usize {
    let u = usable as u64;
    let x = u - 35;
    let m = (u - 12) * 32 / 255 - 23;
    if payload <= x {
        return payload as usize;
    }
    let k = m + (payload - m) % (u - 4);
    (if k <= x { k } else { m }) as usize
}

impl<'a> Db<'a> {
    /// The database in `data`, its 100-byte header checked: the page size
    /// (at offset 16; 1 means 65536), the bytes reserved on each page (at
    /// 20), the payload fractions SQLite fixes, UTF-8 text, and a file of
    /// whole pages.
    pub fn open(data: &'a [u8]) -> Result<Db<'a>> {
        ensure!(data.len() >= HEADER, "truncated: {} bytes, less than the 100-byte SQLite header", data.len());
        ensure!(data.starts_with(MAGIC), "not an SQLite 3 database (no `SQLite format 3` header)");
        let page_size = match u16_at(data, 16).unwrap_or(0) {
            1 => 65536,
            n if (512..=32768).contains(&n) && n.is_power_of_two() => n,
            n => bail!("page size {n} in the header is not a power of two from 512 to 65536"),
        };
        let reserved = usize::from(data[20]);
        let usable = page_size - reserved;
        ensure!(usable >= 480, "{reserved} bytes reserved on each {page_size}-byte page leave fewer than 480 usable");
        ensure!(
            data[21..24] == [64, 32, 32],
            "payload fractions {}/{}/{} in the header, where SQLite writes 64/32/32",
            data[21],
            data[22],
            data[23]
        );
        ensure!(data[19] <= 2, "read format version {} (newer than the rollback journal or WAL)", data[19]);
        let encoding = u32_at(data, 56).unwrap_or(0);
        ensure!(encoding <= 1, "text encoding {encoding} is UTF-16: only UTF-8 databases are read");
        ensure!(
            data.len().is_multiple_of(page_size),
            "truncated: {} bytes is not a whole number of {page_size}-byte pages",
            data.len()
        );
        let in_file = u32::try_from(data.len() / page_size).context("more than 2^32 pages")?;
        // The page count in the header holds when the change counter (24)
        // matches the version-valid-for number (92); else the file's size.
        let counted = u32_at(data, 28).unwrap_or(0);
        let pages = if counted != 0 && u32_at(data, 24) == u32_at(data, 92) {
            ensure!(counted <= in_file, "truncated: the header counts {counted} pages, the file holds {in_file}");
            counted
        } else {
            in_file
        };
        Ok(Db { data, page_size, usable, pages, wal: BTreeMap::new() })
    }

    /// The database with the pages its write-ahead log `wal` (the file
    /// `<database>-wal`) commits, as SQLite reads it: when the database is
    /// in WAL mode (header offsets 18 and 19), the frames after the log's
    /// 32-byte header (a 24-byte frame header, then a page) whose salts are
    /// the header's and whose running checksums hold, up to the last frame
    /// that commits (a non-zero database size); the last frame of a page
    /// wins. A log with no such frame, an invalid header or cut short adds
    /// nothing: SQLite ignores it the same way.
    pub fn with_wal(mut self, wal: &'a [u8]) -> Result<Db<'a>> {
        if self.data[18] != 2 || wal.len() < 32 {
            return Ok(self);
        }
        let magic = u32_at(wal, 0).unwrap_or(0);
        let big = magic & 1 == 1;
        let header_sum = wal_checksum(big, &wal[..24], (0, 0));
        if magic & !1 != WAL_MAGIC
            || u32_at(wal, 4) != Some(WAL_VERSION)
            || u32_at(wal, 8) != Some(self.page_size as u32)
            || (u32_at(wal, 24), u32_at(wal, 28)) != (Some(header_sum.0), Some(header_sum.1))
        {
            return Ok(self);
        }
        let salts = &wal[16..24];
        let frames = wal[32..].chunks_exact(24 + self.page_size);
        let most = frames.len() + self.data.len() / self.page_size;
        let mut sum = header_sum;
        let mut pending = BTreeMap::new();
        for (i, frame) in frames.enumerate() {
            let (page, commit) = (u32_at(frame, 0).unwrap_or(0), u32_at(frame, 4).unwrap_or(0));
            sum = wal_checksum(big, &frame[..8], sum);
            sum = wal_checksum(big, &frame[24..], sum);
            if page == 0
                || &frame[8..16] != salts
                || (u32_at(frame, 16), u32_at(frame, 20)) != (Some(sum.0), Some(sum.1))
            {
                break;
            }
            pending.insert(page, &frame[24..]);
            if commit != 0 {
                // Every page of the database is in the file or the log.
                ensure!(
                    commit as usize <= most,
                    "write-ahead log: frame {} commits a database of {commit} pages, more than the file and the log hold",
                    i + 1
                );
                self.wal.append(&mut pending);
                self.pages = commit;
            }
        }
        Ok(self)
    }

    /// The usable bytes of page `n` (numbered from 1).
    pub fn page(&self, n: u32) -> Result<&'a [u8]> {
        ensure!(n >= 1 && n <= self.pages, "page {n} is out of range: the database has {} pages", self.pages);
        if let Some(p) = self.wal.get(&n) {
            return Ok(&p[..self.usable]);
        }
        let start = (n as usize - 1) * self.page_size;
        self.data.get(start..start + self.usable).with_context(|| format!("page {n} is beyond the end of the file"))
    }

    /// The root page of the rowid table `name` (`type` `table` in
    /// `sqlite_schema`, the table of page 1), if there is one.
    pub fn table_root(&self, name: &str) -> Result<Option<u32>> {
        let mut root = None;
        Walk::new(self).rows(1, &mut |rowid, payload| {
            let cols = record(payload).with_context(|| format!("sqlite_schema row {rowid}"))?;
            let text = |i: usize| match cols.get(i) {
                Some(Column::Text(t)) => Some(*t),
                _ => None,
            };
            if text(0) == Some(b"table") && text(1).is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes())) {
                match cols.get(3) {
                    Some(Column::Int(n)) if *n >= 1 && *n <= i64::from(self.pages) => root = root.or(Some(*n as u32)),
                    other => bail!("sqlite_schema row {rowid}: table {name} has root page {other:?}"),
                }
            }
            Ok(())
        })?;
        Ok(root)
    }

    /// Every row of the rowid table whose root page is `root`, in rowid
    /// order: `f(rowid, payload)`.
    pub fn rows(&self, root: u32, f: &mut dyn FnMut(i64, &[u8]) -> Result<()>) -> Result<()> {
        Walk::new(self).rows(root, f)
    }
}

/// One walk over a table b-tree: the pages it has read.
struct Walk<'d, 'a> {
    db: &'d Db<'a>,
    seen: Vec<bool>,
}

impl<'d, 'a> Walk<'d, 'a> {
    fn new(db: &'d Db<'a>) -> Self {
        Walk { db, seen: vec![false; db.pages as usize + 1] }
    }

    /// Page `n`, which this walk must not have read before: `what` says
    /// which structure a second visit loops.
    fn visit(&mut self, n: u32, what: &str) -> Result<&'a [u8]> {
        let page = self.db.page(n)?;
        let seen = &mut self.seen[n as usize];
        ensure!(!*seen, "page {n}: {what} loops (the page is reached twice)");
        *seen = true;
        Ok(page)
    }

    fn rows(&mut self, root: u32, f: &mut dyn FnMut(i64, &[u8]) -> Result<()>) -> Result<()> {
        let usable = self.db.usable;
        let mut stack = vec![root];
        let mut payload = Vec::new();
        while let Some(n) = stack.pop() {
            let page = self.visit(n, "the table b-tree")?;
            let at = if n == 1 { HEADER } else { 0 };
            let kind = page[at];
            let head = match kind {
                LEAF_TABLE => 8,
                INTERIOR_TABLE => 12,
                _ => bail!("page {n}: type 0x{kind:02x} is not a table b-tree page"),
            };
            let cells = u16_at(page, at + 3).unwrap_or(0);
            let first = at + head;
            ensure!(first + 2 * cells <= usable, "page {n}: {cells} cells do not fit on the page");
            let mut children = Vec::new();
            for i in 0..cells {
                let ptr = u16_at(page, first + 2 * i).unwrap_or(0);
                ensure!(
                    ptr >= first + 2 * cells && ptr < usable,
                    "page {n}: cell {i} at offset {ptr} is outside the page's cell area"
                );
                if kind == INTERIOR_TABLE {
                    let child = u32_at(page, ptr).with_context(|| format!("page {n}: cell {i} is cut short"))?;
                    children.push(child);
                    continue;
                }
                let rowid =
                    self.leaf_cell(n, page, ptr, &mut payload).with_context(|| format!("page {n}: cell {i}"))?;
                f(rowid, &payload)?;
            }
            if kind == INTERIOR_TABLE {
                children.push(u32_at(page, at + 8).unwrap_or(0));
                // Depth first, the leftmost child next: rows in rowid order.
                stack.extend(children.into_iter().rev());
            }
        }
        Ok(())
    }

    /// The table leaf cell at `ptr` of page `n`: its rowid, its payload
    /// (with its overflow pages) into `out`.
    fn leaf_cell(&mut self, n: u32, page: &[u8], ptr: usize, out: &mut Vec<u8>) -> Result<i64> {
        let cut = || format!("the cell runs past the end of page {n}");
        let (size, a) = varint(page, ptr).with_context(cut)?;
        let (rowid, b) = varint(page, ptr + a).with_context(cut)?;
        let usable = self.db.usable;
        // Each overflow page carries `usable - 4` bytes: no payload is
        // larger than the pages of the file could hold.
        let most = (self.db.pages as u64).saturating_mul(usable as u64);
        ensure!(size <= most, "payload of {size} bytes is larger than the database");
        let local = local_payload(usable, size);
        let start = ptr + a + b;
        let end = start + local;
        ensure!(end <= usable, "{local} bytes of payload at offset {start} run past the end of the page");
        out.clear();
        out.extend_from_slice(&page[start..end]);
        if local as u64 == size {
            return Ok(rowid as i64);
        }
        let mut next = u32_at(page, end).with_context(cut)?;
        let size = size as usize;
        out.reserve(size - local);
        while out.len() < size {
            ensure!(next != 0, "row {rowid}: the overflow chain ends {} bytes short", size - out.len());
            let over = self.visit(next, "the overflow chain").with_context(|| format!("row {rowid}"))?;
            let take = (size - out.len()).min(usable - 4);
            out.extend_from_slice(&over[4..4 + take]);
            next = u32_at(over, 0).unwrap_or(0);
        }
        Ok(rowid as i64)
    }
}

/// The values of a record: a varint header size, the serial types, then the
/// values. Serial types: 0 NULL; 1 to 6 big-endian integers of 1, 2, 3, 4,
/// 6 and 8 bytes; 7 a float; 8 and 9 the integers 0 and 1; N >= 12 even a
/// BLOB of (N-12)/2 bytes; N >= 13 odd a text of (N-13)/2 bytes.
pub fn record(payload: &[u8]) -> Result<Vec<Column<'_>>> {
    let (size, n) = varint(payload, 0).context("record: no header size")?;
    ensure!(
        size >= n as u64 && size <= payload.len() as u64,
        "record: header size {size} does not fit in the {}-byte payload",
        payload.len()
    );
    let size = size as usize;
    let mut at = n;
    let mut body = size;
    let mut out = Vec::new();
    while at < size {
        let (t, n) = varint(&payload[..size], at).context("record: a serial type runs past the header")?;
        at += n;
        let len = match t {
            0 | 8 | 9 => 0,
            1..=4 => t as usize,
            5 => 6,
            6 | 7 => 8,
            10 | 11 => bail!("record: reserved serial type {t}"),
            _ => ((t - 12) / 2).try_into().unwrap_or(usize::MAX),
        };
        let value = body
            .checked_add(len)
            .and_then(|end| payload.get(body..end))
            .with_context(|| format!("record: a value of {len} bytes runs past the {}-byte payload", payload.len()))?;
        body += len;
        let int = || {
            let sign = if value.first().is_some_and(|b| b & 0x80 != 0) { -1i64 } else { 0 };
            value.iter().fold(sign, |acc, b| (acc << 8) | i64::from(*b))
        };
        out.push(match t {
            0 => Column::Null,
            1..=6 => Column::Int(int()),
            7 => Column::Float(f64::from_bits(u64::from_be_bytes(value.try_into().unwrap_or_default()))),
            8 => Column::Int(0),
            9 => Column::Int(1),
            t if t % 2 == 0 => Column::Blob(value),
            _ => Column::Text(value),
        });
    }
    Ok(out)
}
