//! The `ARG`s a Dockerfile declares (global ones and per stage), so that a
//! `--build-arg` nobody reads is an error instead of a silent no-op.

use std::collections::BTreeSet;

use anyhow::{bail, Result};

/// Arguments BuildKit accepts without a declaration.
const PREDEFINED: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "BUILDKIT_INLINE_CACHE",
    "BUILDKIT_CONTEXT_KEEP_GIT_DIR",
    "BUILDKIT_MULTI_PLATFORM",
    "SOURCE_DATE_EPOCH",
];

/// The declared `ARG` names of a Dockerfile, in order of first appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredArgs {
    pub names: Vec<String>,
}

impl DeclaredArgs {
    /// Parse the text of a Dockerfile: logical lines (`\` continuations),
    /// comments, `ARG A`, `ARG A=1 B="x y"`, case-insensitive instruction.
    pub fn parse(text: &str) -> DeclaredArgs {
        let mut names: Vec<String> = Vec::new();
        for line in logical_lines(text) {
            let mut words = line.split_whitespace();
            let Some(instr) = words.next() else { continue };
            if !instr.eq_ignore_ascii_case("ARG") {
                continue;
            }
            for word in words {
                let name = word.split('=').next().unwrap_or("");
                let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if valid && !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            }
        }
        DeclaredArgs { names }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name) || PREDEFINED.contains(&name)
    }

    /// Check `K=V` build arguments; one error naming every undeclared one.
    pub fn check(&self, build_args: &[(String, String)], dockerfile: &str) -> Result<()> {
        let unknown: BTreeSet<&str> =
            build_args.iter().map(|(k, _)| k.as_str()).filter(|k| !self.contains(k)).collect();
        if !unknown.is_empty() {
            bail!(
                "build argument{} {} not declared by {dockerfile} (it declares: {})",
                if unknown.len() > 1 { "s" } else { "" },
                unknown.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "),
                self.names.join(", ")
            );
        }
        Ok(())
    }
}

/// Split `K=V` (V may be empty or contain `=`); a bare `K` is an error.
pub fn parse_build_arg(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => bail!("--build-arg `{s}` is not of the form KEY=VALUE"),
    }
}

fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for raw in text.lines() {
        let trimmed = raw.trim_start();
        if trimmed.starts_with('#') {
            continue; // comments, also inside continuations
        }
        let line = raw.trim_end();
        if let Some(stripped) = line.strip_suffix('\\') {
            cur.push_str(stripped);
            cur.push(' ');
        } else {
            cur.push_str(line);
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_and_stage_args() {
        let text = "# syntax comment\nARG BASE=debian\nARG A=1 B=\"x y\" \\\n    C\nFROM ${BASE} AS x\n  arg TARGETARCH\nRUN echo ARG NOT_ME\nARG D=a=b\n";
        let d = DeclaredArgs::parse(text);
        assert_eq!(d.names, ["BASE", "A", "B", "C", "TARGETARCH", "D"]);
        assert!(d.contains("HTTP_PROXY"));
        assert!(!d.contains("NOT_ME"));
    }

    #[test]
    fn undeclared_is_one_error() {
        let d = DeclaredArgs::parse("ARG A\nFROM x\n");
        let args = vec![("A".into(), "1".into()), ("Z".into(), "2".into()), ("Y".into(), "".into())];
        let err = d.check(&args, "Dockerfile").unwrap_err().to_string();
        assert_eq!(err, "build arguments `Y`, `Z` not declared by Dockerfile (it declares: A)");
    }

    #[test]
    fn build_arg_forms() {
        assert_eq!(parse_build_arg("K=a=b c").unwrap(), ("K".into(), "a=b c".into()));
        assert_eq!(parse_build_arg("K=").unwrap(), ("K".into(), "".into()));
        assert!(parse_build_arg("K").is_err());
        assert!(parse_build_arg("=v").is_err());
    }

    #[test]
    fn the_real_dockerfiles_declare_what_xtask_passes() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for spec in super::super::images::IMAGES {
            for file in spec.files() {
                let d = DeclaredArgs::parse(&std::fs::read_to_string(root.join(file)).unwrap());
                for name in spec.base_args.iter().chain(spec.from.iter().map(|(arg, _)| arg)) {
                    assert!(d.contains(name), "{file} lacks ARG {name}");
                }
            }
        }
    }
}
