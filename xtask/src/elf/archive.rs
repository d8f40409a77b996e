//! `ar` archives as `ld` reads them: every member header well formed (the
//! `` `\n `` terminator, a decimal size, the member inside the file), every
//! ELF member checked like a file of its own (its relocations too, see
//! `check::reloc`), and the archive index against the members' symbols.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};

use super::{check, check_magic, malformed, ArchiveInfo, MemberInfo, AR_MAGIC, ELF_MAGIC};

/// `name[16] date[12] uid[6] gid[6] mode[8] size[10] fmag[2]`.
const HEADER: usize = 60;
const SIZE_AT: usize = 48;
const FMAG_AT: usize = 58;
const NAME_LEN: usize = 16;

/// A member name field as GNU ar writes it: the index `/`, the long-name
/// table `//`, the 64-bit index `/SYM64/`, a long name `/<decimal offset>`,
/// or a short `<name>/`; printable ASCII, then spaces to the end.
fn check_name(field: &[u8]) -> std::result::Result<(), String> {
    let end = field.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
    let name = &field[..end];
    if let Some(c) = name.iter().find(|c| !c.is_ascii_graphic() && **c != b' ') {
        return Err(format!("byte {c:#04x} in a member name (printable ASCII, padded with spaces)"));
    }
    let ok = match name {
        b"/" | b"//" | b"/SYM64/" => true,
        [b'/', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
        [short @ .., b'/'] => !short.is_empty() && !short.contains(&b'/'),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err("not `/`, `//`, `/<offset>` nor `<name>/` (GNU ar's forms)".into())
    }
}

/// A `/<offset>` name (checked by [`check_name`]) names the start of an
/// entry of the long-name table `//` before it, as GNU ar writes it:
/// `<name>/\n`. An offset into the middle of an entry is another name
/// (the tail of that one), which the linker's and nm's messages then give.
fn check_long_name(field: &[u8], table: Option<&[u8]>) -> std::result::Result<(), String> {
    let name = field.split(|&c| c == b' ').next().unwrap_or(field);
    let Some(digits) = name.strip_prefix(b"/").filter(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit)) else {
        return Ok(());
    };
    let offset: usize = std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()).unwrap_or(usize::MAX);
    let Some(table) = table else {
        return Err("a long name, but no long-name table `//` comes before it".into());
    };
    if offset >= table.len() {
        return Err(format!("long-name offset {offset} is past the long-name table ({} bytes)", table.len()));
    }
    if offset > 0 && table[offset - 1] != b'\n' {
        return Err(format!("long-name offset {offset} is inside an entry of the long-name table, not at its start"));
    }
    let entry = &table[offset..];
    let end = entry.iter().position(|&c| c == b'\n').unwrap_or(entry.len());
    if end < 2 || entry[end - 1] != b'/' {
        return Err(format!("the long-name entry at {offset} does not end with \"/\\n\""));
    }
    Ok(())
}

pub(super) fn parse(path: &Path, bytes: &[u8]) -> Result<ArchiveInfo> {
    check_headers(path, bytes)?;
    let archive = goblin::archive::Archive::parse(bytes)
        .map_err(|e| anyhow!("{}: truncated or malformed ar archive: {e}", path.display()))?;
    let mut members = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let m = archive
            .get_at(i)
            .ok_or_else(|| anyhow!("{}: malformed ar archive: member {i} cannot be read", path.display()))?;
        let name = m.extended_name().to_string();
        let start = m.offset as usize;
        let data = start
            .checked_add(m.size())
            .and_then(|end| bytes.get(start..end))
            .ok_or_else(|| anyhow!("{}: truncated ar archive (member {name})", path.display()))?;
        let member_path = PathBuf::from(format!("{}({name})", path.display()));
        // A member that is not ELF at all fails the `machine` check; a member
        // that is a corrupt ELF object makes the whole archive an error.
        let member = if data.starts_with(ELF_MAGIC) {
            check_magic(&member_path, data)?;
            let c = check::check(data).map_err(|e| malformed(&member_path, e))?;
            let (defined, undefined, non_pic, direct, scaled) = (c.defined, c.undefined, c.non_pic, c.direct, c.scaled);
            MemberInfo { name, ident: Ok(c.ident), defined, undefined, non_pic, direct, scaled }
        } else {
            let head: String = data.iter().take(8).map(|b| format!("{b:02x}")).collect();
            let ident = Err(format!("not an ELF file (starts with {head})"));
            MemberInfo {
                name,
                ident,
                defined: vec![],
                undefined: vec![],
                non_pic: None,
                direct: Default::default(),
                scaled: Default::default(),
            }
        };
        members.push(member);
    }
    check_armap(path, &archive, &members)?;
    Ok(ArchiveInfo { path: path.to_path_buf(), members })
}

/// Walk the member headers as bfd does: `ld` and `nm` call an archive with
/// a bad terminator or size "malformed" (goblin reads past both).
fn check_headers(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut at = AR_MAGIC.len();
    let mut k = 0;
    let mut long_names: Option<&[u8]> = None;
    while at < bytes.len() {
        let bad = |what: String| {
            anyhow!("{}: malformed ar archive: member header {k} at offset {at:#x}: {what}", path.display())
        };
        let Some(h) = bytes.get(at..at + HEADER) else {
            return Err(bad(format!("{} bytes left, a header is {HEADER}", bytes.len() - at)));
        };
        if &h[FMAG_AT..] != b"`\n" {
            return Err(bad(format!(
                "the header does not end with \"`\\n\" (found {:02x}{:02x} at offset {:#x})",
                h[FMAG_AT],
                h[FMAG_AT + 1],
                at + FMAG_AT
            )));
        }
        check_name(&h[..NAME_LEN])
            .and_then(|()| check_long_name(&h[..NAME_LEN], long_names))
            .map_err(|e| bad(format!("ar_name {:?}: {e}", String::from_utf8_lossy(&h[..NAME_LEN]))))?;
        let field = &h[SIZE_AT..FMAG_AT];
        let digits = field.iter().take_while(|c| c.is_ascii_digit()).count();
        let size = std::str::from_utf8(&field[..digits]).ok().and_then(|s| s.parse::<u64>().ok());
        let Some(size) = size.filter(|_| field[digits..].iter().all(|&c| c == b' ')) else {
            return Err(bad(format!(
                "ar_size {:?} at offset {:#x} is not a decimal number",
                String::from_utf8_lossy(field),
                at + SIZE_AT
            )));
        };
        let end = (at as u64 + HEADER as u64).checked_add(size).filter(|&e| e <= bytes.len() as u64);
        let Some(end) = end else {
            bail!(
                "{}: truncated ar archive: member header {k} at offset {at:#x}: {size} bytes of contents, {} left in the file",
                path.display(),
                bytes.len() - at - HEADER
            );
        };
        if h[..NAME_LEN].starts_with(b"// ") {
            long_names = Some(&bytes[at + HEADER..end as usize]);
        }
        // Members start at even offsets: one byte of padding after odd sizes.
        at = end as usize + (end as usize & 1);
        k += 1;
    }
    Ok(())
}

/// The linker finds members through the archive index (armap), not their
/// symbol tables: every symbol the index lists must be defined by its member,
/// and every global symbol a member defines must be in the index.
fn check_armap(path: &Path, archive: &goblin::archive::Archive<'_>, members: &[MemberInfo]) -> Result<()> {
    let bad = |what: String| anyhow!("{}: malformed ar archive: {what}", path.display());
    for (member, _, symbols) in archive.summarize() {
        let Some(m) = members.iter().find(|m| m.name == member) else { continue };
        if m.ident.is_err() {
            continue;
        }
        for sym in symbols {
            if !m.defined.iter().any(|d| d.name == sym) {
                return Err(bad(format!("the index says member {member} defines {sym}, but it does not")));
            }
        }
    }
    for m in members {
        if let Some(s) = m.defined.iter().find(|s| archive.member_of_symbol(&s.name).is_none()) {
            return Err(bad(format!(
                "member {} defines {}, but the archive index does not list it (run `ranlib`)",
                m.name, s.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_gnu_ars() {
        let field = |s: &str| format!("{s:<16}").into_bytes();
        for good in ["/", "//", "/SYM64/", "/32503", "lse_ldset2_rel.o/", "a b.o/"] {
            assert_eq!(check_name(&field(good)), Ok(()), "{good}");
        }
        for bad in ["", "/32a", "x.o", "a/b/", "/ 1"] {
            assert!(check_name(&field(bad)).unwrap_err().contains("GNU ar's forms"), "{bad}");
        }
        // A mutant of the release archive: NUL bytes in the name field.
        let e = check_name(b"/3\x00\x00\x00\x00          ").unwrap_err();
        assert!(e.contains("byte 0x00 in a member name"), "{e}");
    }

    /// A `/<offset>` name must start an entry of the long-name table: a
    /// mutant of the release archive (a digit of the offset changed) named
    /// the tail of another member's name, which nm then printed.
    #[test]
    fn long_names_start_an_entry_of_the_table() {
        let header = |name: &str, size: usize| format!("{name:<16}{:<12}{:<6}{:<6}{:<8}{size:<10}`\n", 0, 0, 0, 644);
        let archive = |names: &[&str]| {
            let table = "a-very-long-member-name.o/\nanother-long-member.o/\n";
            let mut out = format!("!<arch>\n{}{table}", header("//", table.len()));
            for n in names {
                out.push_str(&header(n, 2));
                out.push_str("x\n");
            }
            out.into_bytes()
        };
        let path = Path::new("t.a");
        check_headers(path, &archive(&["/0", "/27"])).unwrap();
        for (names, why) in [
            (&["/0", "/20"][..], "long-name offset 20 is inside an entry of the long-name table, not at its start"),
            (&["/50"][..], "long-name offset 50 is past the long-name table (50 bytes)"),
        ] {
            let e = format!("{:#}", check_headers(path, &archive(names)).unwrap_err());
            assert!(e.contains(why), "{names:?}: {e}");
        }
        let no_table = [b"!<arch>\n".as_slice(), header("/0", 2).as_bytes(), b"x\n"].concat();
        let e = format!("{:#}", check_headers(path, &no_table).unwrap_err());
        assert!(e.contains("no long-name table `//` comes before it"), "{e}");
    }

    /// gcc's riscv64 calls carry R_RISCV_RELAX, which names no symbol.
    #[test]
    fn a_riscv64_archive_with_relaxed_calls_parses() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/elf/base/libfixture-riscv64.a");
        let bytes = std::fs::read(&p).unwrap();
        parse(&p, &bytes).unwrap();
    }

    /// No false refusal: every `ar` archive of the system's library
    /// directories (glibc's, gcc's, whatever else is installed) parses, its
    /// members and relocations included. `XTASK_ARCHIVES=DIR:…` checks other
    /// directories (the release `.a`, a cross sysroot).
    #[test]
    fn system_archives_parse() {
        let dirs = std::env::var("XTASK_ARCHIVES").unwrap_or_else(|_| {
            "/usr/lib/x86_64-linux-gnu:/usr/lib/aarch64-linux-gnu:/usr/aarch64-linux-gnu/lib:/usr/lib/gcc/x86_64-linux-gnu/12:\
             /usr/lib/gcc-cross/aarch64-linux-gnu/12:/usr/riscv64-linux-gnu/lib:/usr/lib/gcc-cross/riscv64-linux-gnu/12"
                .into()
        });
        let mut checked = 0;
        let mut refused = Vec::new();
        for dir in dirs.split(':') {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_none_or(|x| x != "a") || !p.is_file() {
                    continue;
                }
                let bytes = std::fs::read(&p).unwrap();
                if !bytes.starts_with(AR_MAGIC) {
                    continue; // a linker script (libm.a, libc.a on some systems)
                }
                checked += 1;
                if let Err(e) = parse(&p, &bytes) {
                    refused.push(format!("{e:#}"));
                }
            }
        }
        println!("{checked} archives checked, {} refused", refused.len());
        assert!(refused.is_empty(), "{}", refused.join("\n"));
        assert!(checked > 0, "no archive found in {dirs}");
    }
}
