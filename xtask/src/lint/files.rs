//! Which files each check looks at: tracked files (`git ls-files`) sorted by
//! kind, and the Dockerfiles and workflows by their fixed places.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// The tracked files that exist in the work tree, relative to `root`.
pub fn tracked(sh: &Shell, root: &Path) -> Result<Vec<String>> {
    let _dir = sh.push_dir(root);
    let out = cmd!(sh, "git ls-files -z")
        .quiet()
        .ignore_stderr()
        .output()
        .context("cannot run `git ls-files` (is git installed?)")?;
    if !out.status.success() {
        bail!("`git ls-files` failed in {}: not a git work tree?", root.display());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.split('\0').filter(|f| !f.is_empty() && root.join(f).is_file()).map(str::to_owned).collect())
}

fn ext(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').map_or("", |(_, e)| e)
}

fn under_fixtures(path: &str) -> bool {
    path.split('/').any(|c| c == "fixtures")
}

pub fn go_files(tracked: &[String]) -> Vec<String> {
    tracked.iter().filter(|f| ext(f) == "go").cloned().collect()
}

/// Directories (relative, `.` for the root) of tracked `go.mod` files, fixtures aside.
pub fn go_modules(tracked: &[String]) -> Vec<String> {
    tracked
        .iter()
        .filter(|f| !under_fixtures(f) && (f.as_str() == "go.mod" || f.ends_with("/go.mod")))
        .map(|f| f.strip_suffix("go.mod").unwrap().trim_end_matches('/').to_owned())
        .map(|d| if d.is_empty() { ".".to_owned() } else { d })
        .collect()
}

/// Whether a first line is a `sh`/`bash`/`dash`/`ksh` shebang.
pub fn is_shell_shebang(first_line: &str) -> bool {
    let Some(rest) = first_line.strip_prefix("#!") else {
        return false;
    };
    let mut words = rest.split_whitespace();
    let Some(prog) = words.next() else {
        return false;
    };
    let mut name = prog.rsplit('/').next().unwrap_or(prog);
    if name == "env" {
        name = words.find(|w| !w.starts_with('-')).unwrap_or("");
    }
    matches!(name, "sh" | "bash" | "dash" | "ksh")
}

/// Shell scripts: `*.sh`, `*.bash`, and files with a shell shebang.
pub fn shell_scripts(root: &Path, tracked: &[String]) -> Vec<String> {
    tracked
        .iter()
        .filter(|f| {
            matches!(ext(f), "sh" | "bash") || {
                let mut head = [0u8; 128];
                let n = std::fs::File::open(root.join(f))
                    .and_then(|mut file| std::io::Read::read(&mut file, &mut head))
                    .unwrap_or(0);
                let text = String::from_utf8_lossy(&head[..n]);
                is_shell_shebang(text.lines().next().unwrap_or(""))
            }
        })
        .cloned()
        .collect()
}

/// YAML files, fixtures aside.
pub fn yaml_files(tracked: &[String]) -> Vec<String> {
    tracked.iter().filter(|f| matches!(ext(f), "yml" | "yaml") && !under_fixtures(f)).cloned().collect()
}

/// What codespell leaves out: generated lock files (crate names, hashes),
/// model files (vocabularies are not English), JSON (data and configuration).
pub fn codespell_skips(path: &str) -> bool {
    matches!(ext(path), "lock" | "json") || path.starts_with("models/")
}

/// Words codespell must accept, and why (`--ignore-words-list`).
pub const CODESPELL_IGNORE: &[(&str, &str)] = &[
    ("crate", "the Rust word, not a misspelling of create"),
    ("exemples", "src/semantic-router/pkg/config/config_test.go: a deliberately misspelled (unknown) field"),
];

/// Text files for codespell: tracked, not binary, not skipped.
pub fn codespell_files(root: &Path, tracked: &[String]) -> Vec<String> {
    tracked
        .iter()
        .filter(|f| !codespell_skips(f))
        .filter(|f| {
            let mut head = [0u8; 8192];
            let n = std::fs::File::open(root.join(f))
                .and_then(|mut file| std::io::Read::read(&mut file, &mut head))
                .unwrap_or(0);
            !head[..n].contains(&0)
        })
        .cloned()
        .collect()
}

/// `tools/docker/Dockerfile*` and every Dockerfile of the image table.
pub fn dockerfiles(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Ok(dir) = std::fs::read_dir(root.join("tools/docker")) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("Dockerfile") && e.path().is_file() {
                out.push(format!("tools/docker/{name}"));
            }
        }
    }
    for spec in crate::docker::images::IMAGES {
        for f in spec.files() {
            if root.join(f).is_file() {
                out.push(f.to_owned());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `.github/workflows/*.yml` and `*.yaml`.
pub fn workflows(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir(root.join(".github/workflows")) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if matches!(ext(&name), "yml" | "yaml") {
                out.push(format!(".github/workflows/{name}"));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shebangs() {
        for yes in ["#!/bin/sh", "#!/usr/bin/env bash", "#!/bin/bash -eu", "#!/usr/bin/env -S bash -e", "#! /bin/dash"]
        {
            assert!(is_shell_shebang(yes), "{yes}");
        }
        for no in ["#!/usr/bin/env python3", "#!/usr/bin/perl", "# bash", "", "#!/usr/bin/env zsh"] {
            assert!(!is_shell_shebang(no), "{no}");
        }
    }

    #[test]
    fn kinds() {
        let t = v(&[
            "a/go.mod",
            "go.mod",
            "a/x.go",
            "x/tests/fixtures/y/go.mod",
            "b.yml",
            "x/fixtures/c.yaml",
            "Cargo.lock",
        ]);
        assert_eq!(go_files(&t), ["a/x.go"]);
        assert_eq!(go_modules(&t), ["a", "."]);
        assert_eq!(yaml_files(&t), ["b.yml"]);
    }

    #[test]
    fn what_codespell_skips() {
        assert!(codespell_skips("Cargo.lock"));
        assert!(codespell_skips("xtask/tests/fixtures/full/Cargo.lock"));
        assert!(codespell_skips("models/all-MiniLM-L6-v2/vocab.txt"));
        assert!(codespell_skips("candle-binding/tests/data/reference_embedding.json"));
        assert!(!codespell_skips("lockfile.rs"));
        assert!(!codespell_skips("xtask/src/model.rs"));
    }

    #[test]
    fn repo_lists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let d = dockerfiles(root);
        assert!(d.contains(&"tools/docker/Dockerfile.extproc".to_owned()), "{d:?}");
        assert!(d.contains(&"tools/docker/Dockerfile.extproc.cross".to_owned()), "{d:?}");
        assert!(workflows(root).contains(&".github/workflows/docker-publish.yml".to_owned()));
    }
}
