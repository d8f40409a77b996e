//! The RPM packages: rpm's SQLite database, read by `rpm` and `sqlite`.

use super::*;

use crate::sbom::image::rpm::{
    db_format, os_release_id, parse_header, parse_rpmdb, read_rootfs, resolve_in_root, DbFormat,
};
use crate::sbom::image::sqlite::{local_payload, record, varint, wal_checksum, Column, Db};

/// The database rpm made (`tests/fixtures/rpm/make.sh`), its page size
/// rpm's; the same with 512-byte pages; what `rpm -qa` lists of it.
const RPMDB_GZ: &[u8] = include_bytes!("../../../../tests/fixtures/rpm/rpmdb.sqlite.gz");
const RPMDB_512_GZ: &[u8] = include_bytes!("../../../../tests/fixtures/rpm/rpmdb-512.sqlite.gz");
const RPM_QA: &str = include_str!("../../../../tests/fixtures/rpm/expected.txt");

/// The row of `bigdesc`, the package with the long description (rpm
/// installed the packages in the order of their paths: aarch64, noarch,
/// x86_64).
const BIGDESC_ROW: i64 = 15;

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut out).unwrap();
    out
}

/// `rpm -qa --qf '%{NAME} %{EPOCH} %{VERSION} %{RELEASE} %{ARCH}
/// %{SOURCERPM} %{LICENSE}'` of the fixture, as packages.
fn rpm_qa() -> Vec<RpmPackage> {
    let mut out: Vec<RpmPackage> = RPM_QA
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.splitn(7, ' ').collect();
            RpmPackage {
                name: f[0].into(),
                epoch: (f[1] != "(none)").then(|| f[1].parse().unwrap()),
                version: f[2].into(),
                release: f[3].into(),
                arch: f[4].into(),
                source_rpm: Some(f[5].into()),
                license: Some(f[6].into()),
            }
        })
        .collect();
    out.sort();
    out
}

fn page_size(db: &[u8]) -> usize {
    match u16::from_be_bytes([db[16], db[17]]) {
        1 => 65536,
        n => n as usize,
    }
}

/// The root page of `Packages` and the payload sizes of its rows.
fn packages_rows(data: &[u8]) -> (u32, Vec<usize>) {
    let db = Db::open(data).unwrap();
    let root = db.table_root("Packages").unwrap().unwrap();
    let mut sizes = Vec::new();
    db.rows(root, &mut |_, payload| {
        sizes.push(payload.len());
        Ok(())
    })
    .unwrap();
    (root, sizes)
}

/// The header blob of the `Packages` row `rowid`.
fn header_blob(data: &[u8], rowid: i64) -> Vec<u8> {
    let db = Db::open(data).unwrap();
    let root = db.table_root("Packages").unwrap().unwrap();
    let mut blob = None;
    db.rows(root, &mut |r, payload| {
        if r == rowid {
            let Column::Blob(b) = record(payload).unwrap()[1] else { panic!("row {r}: no blob") };
            blob = Some(b.to_vec());
        }
        Ok(())
    })
    .unwrap();
    blob.unwrap()
}

#[test]
fn the_rpm_databases_list_what_rpm_lists() {
    let want = rpm_qa();
    assert_eq!(want.len(), 16, "{RPM_QA}");
    for (gz, size) in [(RPMDB_GZ, 4096), (RPMDB_512_GZ, 512)] {
        let data = gunzip(gz);
        assert_eq!(page_size(&data), size);
        assert_eq!(parse_rpmdb(&data, None).unwrap(), want, "{size}-byte pages");
        // What the fixture is there for: a table b-tree with an interior
        // root, a header that needs an overflow chain of several pages.
        let (root, sizes) = packages_rows(&data);
        assert_eq!(data[(root as usize - 1) * size], 0x05, "the root of Packages is an interior page");
        assert_eq!(data[100], 0x05, "sqlite_schema's root is an interior page");
        assert_eq!(sizes.len(), 16);
        assert!(sizes.iter().any(|s| *s > 4 * size), "{sizes:?}");
    }
    let epochy = want.iter().find(|p| p.name == "epochy").unwrap();
    assert_eq!(epochy.evr(), "2:3.1-4.el9");
    assert_eq!(epochy.license.as_deref(), Some("GPLv2+ and LGPLv2+"));
    assert_eq!(epochy.source_rpm.as_deref(), Some("epochy-3.1-4.el9.src.rpm"));
    assert_eq!(rpm_purl(epochy, Some("centos")), "pkg:rpm/centos/epochy@3.1-4.el9?arch=aarch64&epoch=2");
    let plus = want.iter().find(|p| p.name == "libplus++").unwrap();
    assert_eq!(plus.evr(), "0.9-2.el9");
    assert_eq!(rpm_purl(plus, Some("Fedora")), "pkg:rpm/fedora/libplus%2B%2B@0.9-2.el9?arch=noarch");
    assert_eq!(rpm_purl(plus, None), "pkg:rpm/libplus%2B%2B@0.9-2.el9?arch=noarch");
}

#[test]
fn varints_records_and_the_local_payload_follow_the_file_format() {
    assert_eq!(varint(&[0x7f], 0), Some((127, 1)));
    assert_eq!(varint(&[0x81, 0x00], 0), Some((128, 2)));
    assert_eq!(varint(&[0x00, 0x82, 0x80, 0x01], 1), Some((0x8001, 3)));
    assert_eq!(varint(&[0xff; 9], 0), Some((u64::MAX, 9)));
    assert_eq!(varint(&[0x81, 0x80], 0), None, "cut short");
    assert_eq!(varint(&[0x01], 1), None);
    assert_eq!(varint(&[0x01], usize::MAX), None);

    // NULL, text "abc", blob [1, 2], int8 -1, int16 258, 0, 1, int48 -2.
    let rec = [9, 0, 19, 16, 1, 2, 8, 9, 5, b'a', b'b', b'c', 1, 2, 0xff, 1, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe];
    assert_eq!(
        record(&rec).unwrap(),
        [
            Column::Null,
            Column::Text(b"abc"),
            Column::Blob(&[1, 2]),
            Column::Int(-1),
            Column::Int(258),
            Column::Int(0),
            Column::Int(1),
            Column::Int(-2)
        ]
    );
    let err = record(&rec[..20]).unwrap_err().to_string();
    assert!(err.contains("runs past the 20-byte payload"), "{err}");
    let err = record(&[40, 0]).unwrap_err().to_string();
    assert!(err.contains("header size 40 does not fit"), "{err}");
    let err = record(&[2, 10]).unwrap_err().to_string();
    assert!(err.contains("reserved serial type 10"), "{err}");
    // A blob as long as a 9-byte varint can say: no allocation, an error.
    let mut huge = vec![10];
    huge.extend([0xff; 9]);
    let err = record(&huge).unwrap_err().to_string();
    assert!(err.contains("runs past"), "{err}");

    // U = 4096: X = 4061, M = 489; U = 512: X = 477, M = 39.
    assert_eq!(local_payload(4096, 4061), 4061);
    assert_eq!(local_payload(4096, 4062), 489, "K = 4062 > X: M");
    assert_eq!(local_payload(4096, 10000), 1816, "K = 489 + 9511 % 4092");
    assert_eq!(local_payload(512, 477), 477);
    assert_eq!(local_payload(512, 478), 39);
    assert_eq!(local_payload(512, 600), 92, "K = 39 + 561 % 508");
    assert_eq!(local_payload(512, 1000), 39, "K = 39 + 961 % 508 = 492 > X");
    assert_eq!(local_payload(65536, 65501), 65501);
    // U = 65536: X = 65501, M = 8199.
    let k = 8199 + (u64::MAX - 8199) % 65532;
    assert_eq!(local_payload(65536, u64::MAX), if k <= 65501 { k as usize } else { 8199 });
    assert_eq!(local_payload(65536, 65502), 8199);
}

/// An RPM header as the rpm database stores it: `(tag, type, count, data)`
/// entries, the data laid out one after another.
fn header(entries: &[(u32, u32, u32, &[u8])]) -> Vec<u8> {
    let mut index = Vec::new();
    let mut data = Vec::new();
    for (tag, kind, count, bytes) in entries {
        for v in [*tag, *kind, data.len() as u32, *count] {
            index.extend(v.to_be_bytes());
        }
        data.extend_from_slice(bytes);
    }
    let mut out = Vec::new();
    out.extend((entries.len() as u32).to_be_bytes());
    out.extend((data.len() as u32).to_be_bytes());
    out.extend(index);
    out.extend(data);
    out
}

#[test]
fn rpm_headers_give_the_package_or_a_clear_error() {
    let blob = header(&[
        (1000, 6, 1, b"glibc\0"),
        (1001, 6, 1, b"2.34\0"),
        (1002, 6, 1, b"100.el9\0"),
        (1003, 4, 1, &1u32.to_be_bytes()),
        (1014, 6, 1, b"LGPLv2+\0"),
        (1022, 6, 1, b"x86_64\0"),
        (1044, 6, 1, b"glibc-2.34-100.el9.src.rpm\0"),
    ]);
    let p = parse_header(&blob).unwrap().unwrap();
    assert_eq!((p.name.as_str(), p.evr(), p.arch.as_str()), ("glibc", "1:2.34-100.el9".to_string(), "x86_64"));
    assert_eq!(p.source_rpm.as_deref(), Some("glibc-2.34-100.el9.src.rpm"));
    // A key rpm imported: no architecture, skipped.
    let key = header(&[(1000, 6, 1, b"gpg-pubkey\0"), (1001, 6, 1, b"8483c65d\0"), (1002, 6, 1, b"5ccc5b19\0")]);
    assert_eq!(parse_header(&key).unwrap(), None);
    let no_arch = header(&[(1000, 6, 1, b"glibc\0"), (1001, 6, 1, b"2\0"), (1002, 6, 1, b"1\0")]);
    assert_eq!(parse_header(&no_arch).unwrap_err().to_string(), "package glibc: no ARCH tag");

    let err = |b: &[u8]| parse_header(b).unwrap_err().to_string();
    let real = header_blob(&gunzip(RPMDB_GZ), BIGDESC_ROW);
    assert_eq!(parse_header(&real).unwrap().unwrap().name, "bigdesc");
    let mut bad = real.clone();
    bad[0..4].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    assert_eq!(err(&bad), "il 65536: not 1 to 65535 index entries");
    let mut bad = real.clone();
    bad[0..4].copy_from_slice(&0u32.to_be_bytes());
    assert!(err(&bad).starts_with("il 0:"), "{}", err(&bad));
    let mut bad = real.clone();
    bad[4..8].copy_from_slice(&(u32::from_be_bytes(real[4..8].try_into().unwrap()) + 1).to_be_bytes());
    assert!(err(&bad).contains(&format!("the blob has {}", real.len())), "{}", err(&bad));
    let mut bad = real.clone();
    bad[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(err(&bad).starts_with("dl 4294967295: more than"), "{}", err(&bad));
    assert!(err(&real[..7]).contains("less than the header's 8 bytes"));
    assert!(err(&real[..real.len() - 1]).contains("make a header of"));
    // The NAME string without its NUL; EPOCH that is a string; an offset
    // past the data.
    let cut = header(&[(1000, 6, 1, b"glibc")]);
    assert_eq!(err(&cut), "tag NAME: no NUL ends the string");
    let mut epoch = blob.clone();
    epoch[8 + 3 * 16 + 4..8 + 3 * 16 + 8].copy_from_slice(&6u32.to_be_bytes());
    assert_eq!(err(&epoch), "tag EPOCH has type 6 and count 1, not an INT32");
    let mut past = blob.clone();
    past[8 + 8..8 + 12].copy_from_slice(&1000u32.to_be_bytes());
    assert!(err(&past).contains("offset 1000 is past the"), "{}", err(&past));
    let name_is_int = header(&[(1000, 4, 1, &[0, 0, 0, 1])]);
    assert_eq!(err(&name_is_int), "tag NAME has type 4, not a string");
}

#[test]
fn other_rpm_database_formats_are_named_and_refused() {
    let mut bdb = vec![0u8; 4096];
    bdb[12..16].copy_from_slice(&0x0006_1561u32.to_le_bytes());
    assert_eq!(db_format(&bdb), Some(DbFormat::BerkeleyDb));
    bdb[12..16].copy_from_slice(&0x0006_1561u32.to_be_bytes());
    assert_eq!(db_format(&bdb), Some(DbFormat::BerkeleyDb));
    let err = parse_rpmdb(&bdb, None).unwrap_err().to_string();
    assert!(
        err.starts_with("a Berkeley DB rpm database")
            && err.ends_with("only rpm's SQLite database (rpmdb.sqlite) is read"),
        "{err}"
    );
    let ndb = b"RpmP\0\0\0\0\0\0\0\0\0\0\0\0";
    assert_eq!(db_format(ndb), Some(DbFormat::Ndb));
    assert!(parse_rpmdb(ndb, None).unwrap_err().to_string().starts_with("an ndb rpm database"));
    assert_eq!(db_format(&gunzip(RPMDB_GZ)), Some(DbFormat::Sqlite));
    assert_eq!(db_format(b"hello"), None);
    assert_eq!(
        parse_rpmdb(b"hello", None).unwrap_err().to_string(),
        "not an rpm database: neither SQLite, Berkeley DB nor ndb"
    );
    assert_eq!(parse_rpmdb(b"", None).unwrap_err().to_string(), "an empty file, not an rpm database");
}

/// `parse_rpmdb`'s error for `data`, all of it.
fn rpmdb_err(data: &[u8]) -> String {
    format!("{:#}", parse_rpmdb(data, None).unwrap_err())
}

#[test]
fn a_corrupt_rpm_database_is_one_clear_error() {
    let good = gunzip(RPMDB_512_GZ);
    let size = 512;

    // Truncated: less than the header, not whole pages, fewer pages than
    // the header counts.
    assert_eq!(rpmdb_err(&good[..50]), "truncated: 50 bytes, less than the 100-byte SQLite header");
    let err = rpmdb_err(&good[..good.len() - 100]);
    assert!(err.starts_with("truncated:") && err.contains("not a whole number of 512-byte pages"), "{err}");
    let err = rpmdb_err(&good[..good.len() - 2 * size]);
    assert_eq!(
        err,
        format!("truncated: the header counts {} pages, the file holds {}", good.len() / size, good.len() / size - 2)
    );
    // The same without a valid page count in the header: a page out of range.
    let mut cut = good[..20 * size].to_vec();
    cut[92..96].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    let err = rpmdb_err(&cut);
    assert!(err.contains("is out of range: the database has"), "{err}");

    let (root, _) = packages_rows(&good);
    let root = root as usize;
    // The right child of the root of `Packages` far past the end.
    let mut bad = good.clone();
    let at = (root - 1) * size;
    bad[at + 8..at + 12].copy_from_slice(&60000u32.to_be_bytes());
    assert_eq!(rpmdb_err(&bad), format!("page 60000 is out of range: the database has {} pages", good.len() / size));
    // The right child the root itself: a cycle.
    bad[at + 8..at + 12].copy_from_slice(&(root as u32).to_be_bytes());
    assert_eq!(rpmdb_err(&bad), format!("page {root}: the table b-tree loops (the page is reached twice)"));
    // Not a table page.
    let mut bad = good.clone();
    bad[(root - 1) * size] = 0x0a;
    assert_eq!(rpmdb_err(&bad), format!("page {root}: type 0x0a is not a table b-tree page"));
    // A cell pointer past the page.
    let mut bad = good.clone();
    bad[(root - 1) * size + 12..(root - 1) * size + 14].copy_from_slice(&600u16.to_be_bytes());
    assert_eq!(rpmdb_err(&bad), format!("page {root}: cell 0 at offset 600 is outside the page's cell area"));

    // An overflow page of the long description that points to itself.
    let text = b"A description long enough";
    let n = (2..=good.len() / size)
        .find(|&n| {
            let p = &good[(n - 1) * size..n * size];
            let next = u32::from_be_bytes(p[0..4].try_into().unwrap()) as usize;
            next > 1 && next <= good.len() / size && p.windows(text.len()).any(|w| w == text)
        })
        .unwrap();
    let mut bad = good.clone();
    bad[(n - 1) * size..(n - 1) * size + 4].copy_from_slice(&(n as u32).to_be_bytes());
    let err = rpmdb_err(&bad);
    assert!(
        err.ends_with(&format!("row {BIGDESC_ROW}: page {n}: the overflow chain loops (the page is reached twice)")),
        "{err}"
    );
    // ... that ends early.
    bad[(n - 1) * size..(n - 1) * size + 4].copy_from_slice(&0u32.to_be_bytes());
    let err = rpmdb_err(&bad);
    assert!(
        err.contains(&format!("row {BIGDESC_ROW}: the overflow chain ends")) && err.contains("bytes short"),
        "{err}"
    );

    // A header whose `dl` is not its size.
    let blob = header_blob(&good, BIGDESC_ROW);
    let at = good.windows(16).position(|w| w == &blob[..16]).unwrap();
    let mut bad = good.clone();
    bad[at + 7] ^= 1;
    let err = rpmdb_err(&bad);
    assert!(
        err.starts_with(&format!("Packages row {BIGDESC_ROW}: RPM header: il ")) && err.contains("the blob has"),
        "{err}"
    );

    // A database without the table.
    let mut other = good.clone();
    while let Some(at) = other.windows(8).position(|w| w == b"Packages") {
        other[at..at + 8].copy_from_slice(b"Pockages");
    }
    assert_eq!(rpmdb_err(&other), "no table `Packages`: not an rpm database");
    // Header fields.
    let mut bad = good.clone();
    bad[16..18].copy_from_slice(&1000u16.to_be_bytes());
    assert_eq!(rpmdb_err(&bad), "page size 1000 in the header is not a power of two from 512 to 65536");
    let mut bad = good.clone();
    bad[20] = 40;
    assert!(rpmdb_err(&bad).contains("leave fewer than 480 usable"));
    let mut bad = good.clone();
    bad[56..60].copy_from_slice(&2u32.to_be_bytes());
    assert!(rpmdb_err(&bad).contains("UTF-16"));
}

/// A small deterministic generator (xorshift) for the mutations below.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn mutated_rpm_databases_never_panic() {
    for gz in [RPMDB_512_GZ, RPMDB_GZ] {
        let good = gunzip(gz);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let (mut ok, mut failed) = (0, 0);
        for round in 0..600 {
            let mut data = good.clone();
            // The structures more often than the data: the first pages.
            let span = if round % 2 == 0 { good.len() } else { good.len().min(8 * page_size(&good)) };
            for _ in 0..1 + xorshift(&mut state) % 4 {
                let at = (xorshift(&mut state) as usize) % span;
                data[at] = xorshift(&mut state) as u8;
            }
            if round % 10 == 0 {
                data.truncate((xorshift(&mut state) as usize) % data.len());
            }
            match parse_rpmdb(&data, None) {
                Ok(_) => ok += 1,
                Err(_) => failed += 1,
            }
        }
        assert!(ok > 0 && failed > 0, "{ok} read, {failed} refused");
    }
    // The pages of a write-ahead log, resealed so that they are read.
    let data = gunzip(RPMDB_WAL_GZ);
    let wal = gunzip(RPMDB_WAL_LOG_GZ);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..300 {
        let mut log = wal.clone();
        for _ in 0..1 + xorshift(&mut state) % 4 {
            let at = 32 + (xorshift(&mut state) as usize) % (log.len() - 32);
            log[at] = xorshift(&mut state) as u8;
        }
        reseal(&mut log, 512);
        match parse_rpmdb(&data, Some(&log)) {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
    }
    assert!(ok > 0 && failed > 0, "{ok} read, {failed} refused");
}

#[test]
fn os_release_gives_the_vendor() {
    assert_eq!(
        os_release_id("NAME=\"CentOS Stream\"\nVERSION_ID=\"9\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\n").as_deref(),
        Some("centos")
    );
    assert_eq!(os_release_id("ID=fedora\n").as_deref(), Some("fedora"));
    assert_eq!(os_release_id("  ID='rhel'\n").as_deref(), Some("rhel"));
    assert_eq!(os_release_id("ID=Debian\n").as_deref(), Some("debian"));
    assert_eq!(os_release_id("VERSION_ID=9\n# ID=x\n"), None);
    assert_eq!(os_release_id("ID=\"\"\n"), None);
}

#[cfg(unix)]
#[test]
fn links_resolve_inside_the_root_filesystem() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("usr/lib/sysimage/rpm")).unwrap();
    std::fs::create_dir_all(root.join("var/lib")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("usr/lib/os-release"), "ID=fedora\n").unwrap();
    // Absolute: from the root filesystem's root, not this machine's.
    symlink("/usr/lib/sysimage/rpm", root.join("var/lib/rpm")).unwrap();
    symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
    symlink("../../../../../../../../usr/lib/os-release", root.join("etc/escape")).unwrap();
    symlink("loop-b", root.join("etc/loop-a")).unwrap();
    symlink("loop-a", root.join("etc/loop-b")).unwrap();
    let sysimage = root.join("usr/lib/sysimage/rpm");
    assert_eq!(resolve_in_root(&root, "var/lib/rpm").unwrap(), Some(sysimage.clone()));
    assert_eq!(resolve_in_root(&root, "var/lib/rpm/../rpm/./").unwrap(), Some(sysimage.clone()));
    assert_eq!(resolve_in_root(&root, "/etc/os-release").unwrap(), Some(root.join("usr/lib/os-release")));
    assert_eq!(resolve_in_root(&root, "etc/escape").unwrap(), Some(root.join("usr/lib/os-release")));
    assert_eq!(resolve_in_root(&root, "var/lib/rpm/rpmdb.sqlite").unwrap(), None);
    assert_eq!(resolve_in_root(&root, "etc/os-release/x").unwrap(), None, "a file is not a directory");
    let err = resolve_in_root(&root, "etc/loop-a").unwrap_err().to_string();
    assert!(err.ends_with("etc/loop-a: more than 40 symbolic links (a loop?)"), "{err}");
}

/// A root filesystem with rpm's database at `var/lib/rpm` (or, with
/// `fedora`, at `usr/lib/sysimage/rpm` with `var/lib/rpm` a link to it)
/// and an os-release `ID`.
fn rpm_rootfs(root: &Path, fedora: bool, id: &str) {
    let dir = if fedora { "usr/lib/sysimage/rpm" } else { "var/lib/rpm" };
    std::fs::create_dir_all(root.join(dir)).unwrap();
    std::fs::write(root.join(dir).join("rpmdb.sqlite"), gunzip(RPMDB_GZ)).unwrap();
    std::fs::write(root.join(dir).join("rpmdb.sqlite-shm"), [0u8; 64]).unwrap();
    std::fs::write(root.join(dir).join("rpmdb.sqlite-wal"), []).unwrap();
    if fedora {
        std::fs::create_dir_all(root.join("var/lib")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("../../usr/lib/sysimage/rpm", root.join("var/lib/rpm")).unwrap();
    }
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/os-release"), format!("NAME=x\nID=\"{id}\"\nVERSION_ID=9\n")).unwrap();
}

#[test]
fn scan_lists_the_rpm_packages_with_their_purls() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("dev");
    rpm_rootfs(&root, false, "centos");
    let fs = scan_rootfs(&root, "dev", Some(0)).unwrap();
    assert_eq!(fs.rpms, rpm_qa());
    assert_eq!(fs.os_id.as_deref(), Some("centos"));
    assert!(fs.debs.is_empty());
    let doc: Value = serde_json::from_str(&document(&fs).unwrap()).unwrap();
    let packages = doc["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 17);
    let epochy = packages.iter().find(|p| p["name"] == "epochy").unwrap();
    assert_eq!(epochy["SPDXID"], "SPDXRef-Rpm-epochy-aarch64-2-3.1-4.el9");
    assert_eq!(epochy["versionInfo"], "2:3.1-4.el9");
    assert_eq!(epochy["externalRefs"][0]["referenceType"], "purl");
    assert_eq!(epochy["externalRefs"][0]["referenceLocator"], "pkg:rpm/centos/epochy@3.1-4.el9?arch=aarch64&epoch=2");
    assert_eq!(epochy["sourceInfo"], "built from the source RPM epochy-3.1-4.el9.src.rpm");
    assert_eq!(epochy["licenseDeclared"], NOASSERTION);
    assert_eq!(epochy["licenseComments"], "the RPM header's License: GPLv2+ and LGPLv2+");
    assert_eq!(epochy["comment"], "RPM package, architecture aarch64");
    let tiny = packages.iter().find(|p| p["name"] == "tiny").unwrap();
    assert_eq!(tiny["externalRefs"][0]["referenceLocator"], "pkg:rpm/centos/tiny@1.0-1.el9?arch=x86_64");
    let rels = triples(&doc);
    assert!(
        rels.contains(&"SPDXRef-Package-rootfs CONTAINS SPDXRef-Rpm-tiny-x86-64-1.0-1.el9".to_string()),
        "{rels:#?}"
    );
    assert_eq!(rels.len(), 17);

    // Fedora's layout, the link read once; no os-release: no vendor.
    let fedora = tmp.path().join("fedora");
    rpm_rootfs(&fedora, true, "fedora");
    let fs = scan_rootfs(&fedora, "fedora", Some(0)).unwrap();
    assert_eq!((fs.rpms.len(), fs.os_id.as_deref()), (16, Some("fedora")));
    std::fs::remove_file(fedora.join("etc/os-release")).unwrap();
    let fs = scan_rootfs(&fedora, "fedora", Some(0)).unwrap();
    assert_eq!(fs.os_id, None);
    let doc: Value = serde_json::from_str(&document(&fs).unwrap()).unwrap();
    let tiny = doc["packages"].as_array().unwrap().iter().find(|p| p["name"] == "tiny").unwrap().clone();
    assert_eq!(tiny["externalRefs"][0]["referenceLocator"], "pkg:rpm/tiny@1.0-1.el9?arch=x86_64");
}

#[test]
fn a_rootfs_with_dpkg_and_rpm_lists_both() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("both");
    rpm_rootfs(&root, false, "rhel");
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::write(root.join("var/lib/dpkg/status"), STATUS).unwrap();
    let dest = tmp.path().join("out");
    std::fs::create_dir(&dest).unwrap();
    let files = scan(std::slice::from_ref(&root), &dest, Some(0)).unwrap();
    let doc: Value =
        serde_json::from_str(&predicate_of(&std::fs::read_to_string(&files[0]).unwrap()).unwrap()).unwrap();
    let names: Vec<&str> = doc["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 1 + 3 + 16);
    assert_eq!(names[..5], ["both", "libc6", "libgcc-s1", "tzdata", "bigdesc"]);
    let purls: Vec<&str> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .collect();
    assert!(purls.contains(&"pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64"), "{purls:#?}");
    assert!(purls.contains(&"pkg:rpm/rhel/bigdesc@5.0-1.el9?arch=x86_64"), "{purls:#?}");
}

#[test]
fn rpm_databases_scan_finds_or_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    // No rpm directory, an empty one: no packages.
    let root = tmp.path().join("r");
    std::fs::create_dir_all(&root).unwrap();
    assert_eq!(read_rootfs(&root).unwrap(), (vec![], None));
    std::fs::create_dir_all(root.join("var/lib/rpm")).unwrap();
    assert_eq!(read_rootfs(&root).unwrap(), (vec![], None));
    // Berkeley DB only: an error naming the file and the format.
    let mut bdb = vec![0u8; 4096];
    bdb[12..16].copy_from_slice(&0x0006_1561u32.to_le_bytes());
    std::fs::write(root.join("var/lib/rpm/Packages"), &bdb).unwrap();
    let err = format!("{:#}", scan_rootfs(&root, "r", Some(0)).unwrap_err());
    assert_eq!(
        err,
        format!(
            "{}: a Berkeley DB rpm database (CentOS 7, RHEL 7 and 8): only rpm's SQLite database (rpmdb.sqlite) is read",
            root.join("var/lib/rpm/Packages").display()
        )
    );
    // Beside rpm's SQLite database, the old one is not read.
    std::fs::write(root.join("var/lib/rpm/rpmdb.sqlite"), gunzip(RPMDB_512_GZ)).unwrap();
    assert_eq!(read_rootfs(&root).unwrap().0.len(), 16);
    // A corrupt one: its path and what is wrong.
    let mut bad = gunzip(RPMDB_512_GZ);
    bad[512] = 0x0a; // page 2, the root of `Packages`
    std::fs::write(root.join("var/lib/rpm/rpmdb.sqlite"), &bad).unwrap();
    let err = format!("{:#}", scan_rootfs(&root, "r", Some(0)).unwrap_err());
    assert_eq!(
        err,
        format!("{}: page 2: type 0x0a is not a table b-tree page", root.join("var/lib/rpm/rpmdb.sqlite").display())
    );
}

/// rpmdb-512.sqlite in WAL mode, and its log: filler-01 to filler-03
/// removed in one transaction, filler-04 in the next.
const RPMDB_WAL_GZ: &[u8] = include_bytes!("../../../../tests/fixtures/rpm/rpmdb-wal.sqlite.gz");
const RPMDB_WAL_LOG_GZ: &[u8] = include_bytes!("../../../../tests/fixtures/rpm/rpmdb-wal.sqlite-wal.gz");

fn be32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// The checksums of a write-ahead log of `page`-byte pages, recomputed
/// after its frames changed.
fn reseal(wal: &mut [u8], page: usize) {
    let big = wal[3] & 1 == 1;
    let mut sum = wal_checksum(big, &wal[..24], (0, 0));
    for at in (32..wal.len() - (wal.len() - 32) % (24 + page)).step_by(24 + page) {
        sum = wal_checksum(big, &wal[at..at + 8], sum);
        sum = wal_checksum(big, &wal[at + 24..at + 24 + page], sum);
        wal[at + 16..at + 20].copy_from_slice(&sum.0.to_be_bytes());
        wal[at + 20..at + 24].copy_from_slice(&sum.1.to_be_bytes());
    }
}

#[test]
fn the_commits_of_the_write_ahead_log_are_read() {
    let data = gunzip(RPMDB_WAL_GZ);
    let wal = gunzip(RPMDB_WAL_LOG_GZ);
    let all = rpm_qa();
    let without = |gone: &[&str]| -> Vec<RpmPackage> {
        all.iter().filter(|p| !gone.contains(&p.name.as_str())).cloned().collect()
    };
    let first_only = without(&["filler-01", "filler-02", "filler-03"]);
    assert_eq!((data[18], data[19]), (2, 2), "WAL mode");
    assert_eq!(parse_rpmdb(&data, None).unwrap(), all, "the file alone: before the transactions");
    assert_eq!(parse_rpmdb(&data, Some(&[])).unwrap(), all, "an empty log");
    assert_eq!(parse_rpmdb(&data, Some(&wal)).unwrap(), without(&["filler-01", "filler-02", "filler-03", "filler-04"]));

    let frame = 24 + 512;
    let commits: Vec<usize> =
        (0..(wal.len() - 32) / frame).filter(|i| be32_at(&wal, 32 + i * frame + 4) != 0).collect();
    assert_eq!(commits.len(), 2, "{commits:?}");
    let end_of_first = 32 + (commits[0] + 1) * frame;
    // Cut in the second transaction, or a byte of it changed: the first.
    assert_eq!(parse_rpmdb(&data, Some(&wal[..end_of_first])).unwrap(), first_only);
    assert_eq!(parse_rpmdb(&data, Some(&wal[..end_of_first + frame / 2])).unwrap(), first_only);
    assert_eq!(parse_rpmdb(&data, Some(&wal[..wal.len() - 1])).unwrap(), first_only);
    let mut bad = wal.clone();
    bad[end_of_first + 100] ^= 1;
    assert_eq!(parse_rpmdb(&data, Some(&bad)).unwrap(), first_only);
    // A frame of the first with other salts (an older log), a wrong header
    // checksum, a database in rollback-journal mode: no page of the log.
    for (at, why) in [(32 + 8, "salt"), (24, "header checksum")] {
        let mut bad = wal.clone();
        bad[at] ^= 1;
        assert_eq!(parse_rpmdb(&data, Some(&bad)).unwrap(), all, "{why}");
    }
    let mut rollback = data.clone();
    rollback[18..20].copy_from_slice(&[1, 1]);
    assert_eq!(parse_rpmdb(&rollback, Some(&wal)).unwrap(), all);
    // Resealed, the changed frames are read: a commit of more pages than
    // there are is an error; a page of the log that loops too.
    let mut bad = wal.clone();
    let at = 32 + commits[0] * frame;
    bad[at + 4..at + 8].copy_from_slice(&1_000_000u32.to_be_bytes());
    reseal(&mut bad, 512);
    let err = rpmdb_err_wal(&data, &bad);
    assert_eq!(
        err,
        format!(
            "write-ahead log: frame {} commits a database of 1000000 pages, more than the file and the log hold",
            commits[0] + 1
        )
    );
    let mut bad = wal.clone();
    let (root, _) = packages_rows(&data);
    let root_frame = (0..=commits[1]).rev().find(|i| be32_at(&wal, 32 + i * frame) == root).unwrap();
    let at = 32 + root_frame * frame + 24;
    bad[at + 8..at + 12].copy_from_slice(&root.to_be_bytes());
    reseal(&mut bad, 512);
    assert_eq!(rpmdb_err_wal(&data, &bad), format!("page {root}: the table b-tree loops (the page is reached twice)"));

    // In a root filesystem: the log beside the database.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("var/lib/rpm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rpmdb.sqlite"), &data).unwrap();
    std::fs::write(dir.join("rpmdb.sqlite-wal"), &wal[..end_of_first]).unwrap();
    assert_eq!(read_rootfs(tmp.path()).unwrap().0, first_only);
    // A link to the log: inside the root filesystem.
    #[cfg(unix)]
    {
        std::fs::create_dir_all(tmp.path().join("logs")).unwrap();
        std::fs::rename(dir.join("rpmdb.sqlite-wal"), tmp.path().join("logs/rpmdb.sqlite-wal")).unwrap();
        std::os::unix::fs::symlink("/logs/rpmdb.sqlite-wal", dir.join("rpmdb.sqlite-wal")).unwrap();
        assert_eq!(read_rootfs(tmp.path()).unwrap().0, first_only);
    }
}

fn rpmdb_err_wal(data: &[u8], wal: &[u8]) -> String {
    format!("{:#}", parse_rpmdb(data, Some(wal)).unwrap_err())
}
