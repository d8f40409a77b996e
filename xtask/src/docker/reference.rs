//! Docker's own grammar for what xtask hands to Docker: tags, repository
//! names, references and digests (distribution/reference, `reference.go`),
//! so that a value Docker would refuse is refused *before* anything runs,
//! with one error that names the value and the rule. Also the tag
//! sanitiser CI uses for names it does not control (git tags), and the
//! escaping of control characters in values we print.
//!
//! The grammar, as Docker writes it:
//!
//! ```text
//! reference   := name [ ":" tag ] [ "@" digest ]
//! name        := [domain '/'] path-component ['/' path-component]*   (≤ 255 chars)
//! domain      := host [':' port]          host: domain-component ['.' domain-component]* | '[' IPv6 ']'
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! path-component   := /[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*/
//! tag         := /[\w][\w.-]{0,127}/
//! digest      := algorithm ":" hex        (sha256: 64 lowercase hex digits)
//! ```
//!
//! The first component of a name is its domain when it contains `.` or `:`,
//! is `localhost`, or has an uppercase letter (Docker's own rule); every
//! other component must be lowercase.

use anyhow::{bail, Result};

/// The longest tag Docker accepts.
pub const TAG_MAX: usize = 128;
/// The longest repository name (domain included) Docker accepts.
pub const NAME_MAX: usize = 255;

/// A value as we print it: control characters (newline, ESC, …) escaped as
/// `\n`, `\u{1b}`, so that no value can forge log lines or terminal output.
pub fn show(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A value in an error message: escaped, and cut when it is long (a
/// 10,000-character tag is not worth printing whole).
pub fn shown(s: &str) -> String {
    const MAX: usize = 80;
    let escaped = show(s);
    match escaped.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}… ({} characters)", &escaped[..cut], s.chars().count()),
        None => escaped,
    }
}

/// Check a tag against `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<()> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if tag.is_empty() {
        bail!("empty tag: a Docker tag is 1 to {TAG_MAX} characters of [A-Za-z0-9_.-]");
    }
    let len = tag.chars().count();
    if len > TAG_MAX {
        bail!("tag `{}` is {len} characters long; Docker tags have at most {TAG_MAX}", shown(tag));
    }
    if let Some(bad) = tag.chars().find(|c| !word(*c) && *c != '.' && *c != '-') {
        bail!(
            "tag `{}` contains `{}`; a Docker tag is [A-Za-z0-9_] then [A-Za-z0-9_.-]",
            shown(tag),
            show(&bad.to_string())
        );
    }
    if !tag.starts_with(word) {
        bail!("tag `{}` starts with `{}`; a Docker tag starts with [A-Za-z0-9_]", shown(tag), &tag[..1]);
    }
    Ok(())
}

/// Map any string to a valid tag, deterministically: every run of characters
/// outside `[A-Za-z0-9_.-]` becomes one `-` (`v1.0+b1` → `v1.0-b1`, `v1;rm -rf`
/// → `v1-rm-rf`), case is kept (tags may be uppercase), and a leading `.` or
/// `-` gets a `_` in front. What cannot be mapped without losing meaning is
/// refused: an empty result, or more than 128 characters (cutting would make
/// two names one tag).
pub fn sanitize_tag(s: &str) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut in_bad = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            out.push(c);
            in_bad = false;
        } else if !in_bad {
            out.push('-');
            in_bad = true;
        }
    }
    if out.is_empty() || out.chars().all(|c| c == '-') {
        bail!("`{}` has no character a Docker tag can use ([A-Za-z0-9_.-])", shown(s));
    }
    if out.starts_with(['.', '-']) {
        out.insert(0, '_');
    }
    let len = out.chars().count();
    if len > TAG_MAX {
        bail!("`{}` would be a {len}-character tag; Docker tags have at most {TAG_MAX} (use a shorter name)", shown(s));
    }
    check_tag(&out)?;
    Ok(out)
}

fn is_path_component(c: &str) -> bool {
    // [a-z0-9]+ ( ([._]|__|-+) [a-z0-9]+ )*
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or `-+`, followed by an alphanumeric.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if b.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || !b.get(i).copied().is_some_and(alnum) {
            return false;
        }
    }
    true
}

fn is_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        // [IPv6]:port
        let Some((v6, after)) = rest.split_once(']') else { return false };
        if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return false;
        }
        match after {
            "" => return true,
            p => return p.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        })
}

/// Docker's rule for "is the first component a registry": a `.` or `:`,
/// `localhost`, or an uppercase letter.
fn looks_like_domain(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase())
}

/// Check a repository name (`ghcr.io/org/repo/extproc`, `127.0.0.1:5000/x`,
/// `extproc`). `what` names the value in the error (e.g. `--registry`).
pub fn check_name(name: &str, what: &str) -> Result<()> {
    if name.is_empty() {
        bail!("{what}: empty repository name");
    }
    let len = name.chars().count();
    if len > NAME_MAX {
        bail!("{what}: repository name `{}` is {len} characters long; Docker allows {NAME_MAX}", shown(name));
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 && looks_like_domain(parts[0]) {
        let domain = parts.remove(0);
        if !is_domain(domain) {
            bail!("{what}: `{}` is not a registry host (host[:port], letters, digits, `-` and `.`)", shown(domain));
        }
    }
    for part in parts {
        if part.chars().any(|c| c.is_ascii_uppercase()) {
            bail!(
                "{what}: repository name `{}` must be lowercase (Docker refuses `{}`; use `{}`)",
                shown(name),
                shown(part),
                shown(&part.to_ascii_lowercase())
            );
        }
        if !is_path_component(part) {
            bail!(
                "{what}: `{}` in `{}` is not a repository path component \
                 ([a-z0-9] separated by `.`, `_`, `__` or `-`)",
                shown(part),
                shown(name)
            );
        }
    }
    Ok(())
}

/// Check a `sha256:<64 lowercase hex>` digest.
pub fn check_digest(digest: &str) -> Result<()> {
    let Some(hex) = digest.strip_prefix("sha256:") else {
        bail!("`{}` is not a digest (sha256:<64 hex digits>)", shown(digest));
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        bail!("`{}` is not a sha256 digest (64 lowercase hex digits)", shown(digest));
    }
    Ok(())
}

/// Check a full reference: `name[:tag][@digest]`.
pub fn check_reference(r: &str, what: &str) -> Result<()> {
    if r.is_empty() {
        bail!("{what}: empty image reference");
    }
    let (rest, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    if let Some(d) = digest {
        check_digest(d).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    }
    // A `:` after the last `/` separates the tag (a `:` before it is a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    check_name(name, what)?;
    if let Some(t) = tag {
        check_tag(t).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    }
    Ok(())
}

/// Check a `--tag` value as `cargo xtask docker` reads it: a full reference
/// when it has a `/`, else a tag.
pub fn check_tag_arg(tag: &str) -> Result<()> {
    if tag.contains('/') {
        check_reference(tag, "--tag")
    } else {
        check_tag(tag).map_err(|e| anyhow::anyhow!("--tag: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<()>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn tags() {
        for ok in ["latest", "v1.0", "sha-abc1234", "V2.0-RC1", "_x", "nightly-20260101", &"a".repeat(128)] {
            check_tag(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert!(err(check_tag("")).starts_with("empty tag"));
        assert!(err(check_tag("v1.0+b1")).contains("contains `+`"));
        assert!(err(check_tag("v1;rm")).contains("contains `;`"));
        assert!(err(check_tag(".hidden")).contains("starts with `.`"));
        assert!(err(check_tag("-x")).contains("starts with `-`"));
        let e = err(check_tag(&"a".repeat(129)));
        assert!(e.contains("is 129 characters long; Docker tags have at most 128"), "{e}");
        let e = err(check_tag(&"t".repeat(10_000)));
        assert!(e.contains("10000 characters") && e.len() < 300, "{e}");
        let e = err(check_tag("a\nb\u{1b}[31m"));
        assert!(e.contains(r"a\nb\u{1b}[31m") && !e.contains('\n') && !e.contains('\u{1b}'), "{e}");
    }

    #[test]
    fn sanitiser() {
        assert_eq!(sanitize_tag("v1.0+b1").unwrap(), "v1.0-b1");
        assert_eq!(sanitize_tag("V2.0-RC1").unwrap(), "V2.0-RC1", "uppercase is valid in a tag");
        assert_eq!(sanitize_tag("v1;rm -rf /").unwrap(), "v1-rm--rf-");
        assert_eq!(sanitize_tag("feature/ünïcode").unwrap(), "feature-n-code");
        assert_eq!(sanitize_tag(".x").unwrap(), "_.x");
        assert_eq!(sanitize_tag(&"a".repeat(128)).unwrap(), "a".repeat(128));
        assert!(err(sanitize_tag(&"a".repeat(129)).map(drop)).contains("129-character tag"));
        assert!(err(sanitize_tag(";;").map(drop)).contains("no character"));
        assert!(sanitize_tag("").is_err());
        // Deterministic and idempotent; every result is a valid tag.
        for s in ["v1.0+b1", "a b", "x$(id)", "release/2026-01"] {
            let t = sanitize_tag(s).unwrap();
            assert_eq!(sanitize_tag(&t).unwrap(), t);
            check_tag(&t).unwrap();
        }
    }

    #[test]
    fn names() {
        for ok in [
            "extproc",
            "ghcr.io/vllm-project/semantic-router/extproc",
            "127.0.0.1:5000/extproc",
            "localhost:5000/a__b/c.d-e",
            "GHCR.IO/org/repo",
            "[::1]:5000/x",
            "docker.io/library/debian",
        ] {
            check_name(ok, "t").unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let e = err(check_name("ghcr.io/Org/Repo/extproc", "--registry"));
        assert!(e.starts_with("--registry: repository name `ghcr.io/Org/Repo/extproc` must be lowercase"), "{e}");
        assert!(e.contains("use `org`"), "{e}");
        assert!(err(check_name("", "x")).contains("empty"));
        assert!(err(check_name("a//b", "x")).contains("not a repository path component"));
        assert!(err(check_name("a/-b", "x")).contains("`-b`"));
        assert!(err(check_name("bad_host.:5000/x", "x")).contains("not a registry host"));
        assert!(err(check_name("host:50a0/x", "x")).contains("not a registry host"));
        assert!(err(check_name(&format!("r/{}", "a".repeat(300)), "x")).contains("Docker allows 255"));
        assert!(err(check_name("a b", "x")).contains("`a b`"));
    }

    #[test]
    fn references_and_digests() {
        let d = format!("sha256:{}", "a".repeat(64));
        check_digest(&d).unwrap();
        for ok in [
            "extproc:latest".to_owned(),
            "127.0.0.1:5000/extproc:e2e".into(),
            "127.0.0.1:5000/extproc".into(),
            format!("ghcr.io/o/r/extproc@{d}"),
            format!("ghcr.io/o/r/extproc:t@{d}"),
        ] {
            check_reference(&ok, "--sources").unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert!(err(check_reference("", "--sources")).contains("--sources: empty image reference"));
        assert!(err(check_digest("sha256:XYZ")).contains("not a sha256 digest"));
        assert!(err(check_digest(&format!("sha256:{}", "A".repeat(64)))).contains("lowercase"));
        assert!(err(check_digest("md5:abc")).contains("not a digest"));
        assert!(err(check_reference("x@sha256:1", "--sources")).contains("not a sha256 digest"));
        assert!(err(check_reference("ghcr.io/o/r:v1+b", "--tag")).contains("contains `+`"));
        assert!(err(check_reference("Ghcr.io/O/x:1", "--tag")).contains("must be lowercase"));
        check_tag_arg("pr-1").unwrap();
        check_tag_arg("127.0.0.1:5000/extproc:e2e").unwrap();
        assert!(err(check_tag_arg("")).starts_with("--tag: empty tag"));
    }

    #[test]
    fn show_escapes_control_characters() {
        assert_eq!(show("a\nb\r\t\u{1b}[0m\u{7f}é"), r"a\nb\r\t\u{1b}[0m\u{7f}é");
        assert_eq!(show("plain text"), "plain text");
    }
}
