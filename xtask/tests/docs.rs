//! The documentation names only what exists, and its figures are generated.
//!
//! In `ARCHITECTURE.md`, `README.md` and `tools/docker/README.md`:
//! - every `module::item` path in backticks names a module of `xtask/src`
//!   (a file `a/b.rs` or `a/b/mod.rs`; a path may start below the top, as
//!   `check::reloc`) and an item defined in that module's file (`fn`,
//!   `struct`, `enum`, `const`, `static`, `mod`, `type`, `trait`, or a
//!   `pub use`); `Type::member` needs a type of xtask that mentions the member;
//! - every relative file path (with a `/` and an extension, or a backticked
//!   file name) is a file of the repository;
//! - every `cargo xtask <command>` (in backticks or a code block) is a command
//!   of the built binary (`<command> --help` succeeds), and every `--flag`
//!   beside it is in that command's help.
//!
//! The READMEs carry no history and at most 20 measured figures: figures
//! live in `BENCHMARKS.md`, which `cargo xtask bench report` generates from
//! `benchmarks/records/`; `bench report --check` runs here.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

const DOCS: [&str; 3] = ["ARCHITECTURE.md", "README.md", "tools/docker/README.md"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

/// What the docs are checked against: xtask's modules and the repository's files.
struct Tree {
    /// `docker::engine` → `xtask/src/docker/engine.rs`.
    modules: BTreeMap<String, PathBuf>,
    /// Every file of the repository, relative, `/`-separated.
    files: BTreeSet<String>,
    root: PathBuf,
}

impl Tree {
    fn load(root: &Path) -> Tree {
        let mut files = BTreeSet::new();
        walk(root, root, &mut files);
        let mut modules = BTreeMap::new();
        for f in &files {
            let Some(rel) = f.strip_prefix("xtask/src/").and_then(|r| r.strip_suffix(".rs")) else { continue };
            let mut parts: Vec<&str> = rel.split('/').collect();
            if matches!(parts.last(), Some(&"mod" | &"main")) {
                parts.pop();
            }
            if !parts.is_empty() {
                modules.insert(parts.join("::"), root.join(f));
            }
        }
        Tree { modules, files, root: root.to_path_buf() }
    }

    fn text(&self, file: &Path) -> String {
        std::fs::read_to_string(file).unwrap_or_default()
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let top = dir == root;
        if name == ".git" || name == "target" || (top && matches!(name.as_str(), "models" | "dist")) {
            continue;
        }
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.insert(p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The backticked spans of a markdown text (a span may go over a line
/// break) with the lines of its code blocks, and the prose between spans.
fn split_md(md: &str) -> (Vec<String>, Vec<String>) {
    let (mut spans, mut prose) = (Vec::new(), Vec::new());
    let mut text = String::new();
    let flush = |text: &mut String, spans: &mut Vec<String>, prose: &mut Vec<String>| {
        for (i, part) in text.split('`').enumerate() {
            let part = part.replace('\n', " ");
            if i % 2 == 1 {
                spans.push(part)
            } else {
                prose.push(part)
            }
        }
        text.clear();
    };
    let mut fenced = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            flush(&mut text, &mut spans, &mut prose);
            fenced = !fenced;
        } else if fenced {
            spans.push(line.to_owned());
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    flush(&mut text, &mut spans, &mut prose);
    (spans, prose)
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `a::b::c` paths in a span (two segments at least).
fn rust_paths(span: &str) -> Vec<Vec<String>> {
    let c: Vec<char> = span.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if !is_ident(c[i]) || (i > 0 && (is_ident(c[i - 1]) || c[i - 1] == ':')) {
            i += 1;
            continue;
        }
        let mut path = Vec::new();
        loop {
            let start = i;
            while i < c.len() && is_ident(c[i]) {
                i += 1;
            }
            path.push(c[start..i].iter().collect::<String>());
            if c.get(i) == Some(&':') && c.get(i + 1) == Some(&':') && c.get(i + 2).is_some_and(|&x| is_ident(x)) {
                i += 2;
            } else {
                break;
            }
        }
        if path.len() >= 2 && !path[0].chars().next().unwrap().is_ascii_digit() {
            out.push(path);
        }
    }
    out
}

/// Roots of paths that are not xtask's.
const FOREIGN: &[&str] = &[
    "std",
    "core",
    "alloc",
    "Default",
    "Self",
    "Vec",
    "String",
    "Option",
    "Result",
    "anyhow",
    "clap",
    "goblin",
    "serde",
    "serde_json",
    "xshell",
    "duct",
    "cargo_metadata",
    "toml_edit",
    "super",
    "crate",
];

/// Whether `file` defines `name` as an item (or re-exports it).
fn defines(text: &str, name: &str) -> bool {
    let kinds = ["fn", "struct", "enum", "const", "static", "mod", "type", "trait", "union"];
    text.lines().any(|line| {
        let words: Vec<&str> = line.split(|c: char| !is_ident(c)).filter(|w| !w.is_empty()).collect();
        let item = words.windows(2).any(|w| kinds.contains(&w[0]) && w[1] == name);
        let reexport = line.trim_start().starts_with("pub use ") && words.contains(&name);
        item || reexport
    })
}

fn mentions(text: &str, name: &str) -> bool {
    text.split(|c: char| !is_ident(c)).any(|w| w == name)
}

/// Trait methods every type may have through a derive.
const DERIVED: &[&str] = &["default", "clone", "fmt", "eq"];

/// Why a `module::item` path is stale, if it is.
fn check_path(tree: &Tree, path: &[String]) -> Option<String> {
    let shown = path.join("::");
    if FOREIGN.contains(&path[0].as_str()) {
        return None;
    }
    if path[0].starts_with(|c: char| c.is_ascii_uppercase()) {
        // `Type::member`: a type of xtask that mentions the member.
        let defining: Vec<&PathBuf> = tree.modules.values().filter(|f| defines(&tree.text(f), &path[0])).collect();
        if defining.is_empty() {
            return Some(format!("`{shown}`: no type `{}` in xtask/src", path[0]));
        }
        let member = &path[1];
        if DERIVED.contains(&member.as_str()) || defining.iter().any(|f| mentions(&tree.text(f), member)) {
            return None;
        }
        return Some(format!("`{shown}`: `{}` has no `{member}`", path[0]));
    }
    // The longest prefix that is a module: from the crate root, else from below it (`check::reloc`).
    let mut found = None;
    for n in (1..=path.len()).rev() {
        let m = path[..n].join("::");
        let hits: Vec<&PathBuf> =
            tree.modules.iter().filter(|(k, _)| **k == m || k.ends_with(&format!("::{m}"))).map(|(_, f)| f).collect();
        if !hits.is_empty() {
            found = Some((n, hits));
            break;
        }
    }
    let Some((n, files)) = found else {
        return Some(format!("`{shown}`: no module `{}` in xtask/src", path[0]));
    };
    if n == path.len() {
        return None;
    }
    let item = &path[n];
    let Some(file) = files.iter().find(|f| defines(&tree.text(f), item)) else {
        let file = files[0].strip_prefix(&tree.root).unwrap_or(files[0]);
        return Some(format!("`{shown}`: `{item}` is not defined in {}", file.display()));
    };
    match path.get(n + 1) {
        Some(member) if !DERIVED.contains(&member.as_str()) && !mentions(&tree.text(file), member) => {
            Some(format!("`{shown}`: `{member}` is not in {}", file.strip_prefix(&tree.root).unwrap_or(file).display()))
        }
        _ => None,
    }
}

/// Source-like extensions a lone backticked file name is checked for.
const EXTENSIONS: &[&str] = &["rs", "go", "toml", "yml", "yaml", "md", "sh", "h", "c", "txt", "mod", "sum"];
/// Build outputs: a path with one of these names a built file, not a file of the repository.
const BUILT: &[&str] = &["a", "so", "o", "d", "rlib", "gz", "tgz", "tar", "whl"];

/// The words of a text that look like repository paths: relative, with a
/// `/` and an extension; in a backtick span, also a lone file name.
fn file_paths(text: &str, span: bool) -> Vec<String> {
    let mut out = Vec::new();
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || matches!(c, '`' | '(' | ')' | ',' | ';' | '"' | '\'' | '=' | '[' | ']'))
        .collect();
    for w in words {
        let w = w.trim_end_matches(['.', ':', ';', ',']);
        if w.is_empty()
            || w.contains("://")
            || w.starts_with(['/', '~', '$', '.', '-'])
                && !w.starts_with(".github/")
                && !w.starts_with(".cargo/")
                && !w.starts_with(".ci/")
            || w.contains(['<', '>', '*', '{', '}', '…', '$', '@', '|'])
            || w.starts_with("target/")
            || w.starts_with("dist/")
            || w.starts_with("models/")
        {
            continue;
        }
        let name = w.rsplit('/').next().unwrap_or(w);
        let Some((stem, ext)) = name.rsplit_once('.') else { continue };
        if stem.is_empty() || !ext.chars().all(|c| c.is_ascii_alphanumeric()) || ext.is_empty() || BUILT.contains(&ext)
        {
            continue;
        }
        let pathlike = w.contains('/') && !ext.chars().all(|c| c.is_ascii_digit()) && !w.contains(':');
        let lone = span && !w.contains('/') && (EXTENSIONS.contains(&ext) || stem == "Dockerfile");
        if pathlike || lone {
            out.push(w.to_owned());
        }
    }
    out
}

/// Whether a path names a file or directory of the repository: from the
/// root, from the document's directory, or as the tail of one (`check/reloc.rs`).
fn file_exists(tree: &Tree, doc_dir: &str, path: &str) -> bool {
    let rel = path.trim_start_matches("./");
    let under = |p: &str| tree.files.contains(p) || tree.files.iter().any(|f| f.starts_with(&format!("{p}/")));
    under(rel)
        || (!doc_dir.is_empty() && under(&format!("{doc_dir}/{rel}")))
        || tree.files.iter().any(|f| f.ends_with(&format!("/{rel}")))
}

/// `cargo xtask …` in a span: the command words and the `--flags`.
fn xtask_commands(span: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = span;
    loop {
        let at = match (rest.find("cargo xtask "), rest.trim_start().starts_with("xtask ") && out.is_empty()) {
            (Some(i), _) => i + "cargo xtask ".len(),
            (None, true) => rest.len() - rest.trim_start().len() + "xtask ".len(),
            (None, false) => break,
        };
        rest = &rest[at..];
        let end = rest.find("cargo xtask ").unwrap_or(rest.len());
        let this = &rest[..end];
        let mut words = Vec::new();
        for w in this.split_whitespace() {
            if w.starts_with(|c: char| c.is_ascii_lowercase())
                && w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                words.push(w.to_owned());
            } else {
                break;
            }
        }
        let flags = this
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with("--") && w.len() > 2 && w[2..].starts_with(|c: char| c.is_ascii_lowercase()))
            .map(str::to_owned)
            .collect();
        if !words.is_empty() {
            out.push((words, flags));
        }
        rest = &rest[end..];
    }
    out
}

/// The help of `xtask <words> --help`, or None when it is not a command.
fn help(words: &[String], cache: &mut BTreeMap<Vec<String>, Option<String>>) -> Option<String> {
    cache
        .entry(words.to_vec())
        .or_insert_with(|| {
            let out = xtask().args(words).arg("--help").output().unwrap();
            out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        })
        .clone()
}

/// Every stale name of one document, one line each.
fn stale(tree: &Tree, doc: &str, text: &str, commands: bool) -> Vec<String> {
    let doc_dir = Path::new(doc).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let mut problems = BTreeSet::new();
    let mut cache = BTreeMap::new();
    let (spans, prose) = split_md(text);
    for span in spans {
        for path in rust_paths(&span) {
            if let Some(p) = check_path(tree, &path) {
                problems.insert(format!("{doc}: {p}"));
            }
        }
        for f in file_paths(&span, true) {
            if !file_exists(tree, &doc_dir, &f) {
                problems.insert(format!("{doc}: file `{f}` does not exist"));
            }
        }
        if !commands {
            continue;
        }
        for (words, flags) in xtask_commands(&span) {
            let Some(h) = help(&words, &mut cache) else {
                problems.insert(format!("{doc}: `cargo xtask {}` is not a command", words.join(" ")));
                continue;
            };
            for flag in flags {
                if !h.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).any(|w| w == flag) {
                    problems.insert(format!("{doc}: `cargo xtask {}` has no `{flag}`", words.join(" ")));
                }
            }
        }
    }
    // Paths in prose, outside backticks.
    for text in prose {
        for f in file_paths(&text, false) {
            if !file_exists(tree, &doc_dir, &f) {
                problems.insert(format!("{doc}: file `{f}` does not exist"));
            }
        }
    }
    problems.into_iter().collect()
}

#[test]
fn the_docs_name_what_exists() {
    let root = repo();
    let tree = Tree::load(&root);
    let mut problems = Vec::new();
    for doc in DOCS {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        problems.extend(stale(&tree, doc, &text, true));
    }
    assert!(problems.is_empty(), "stale names in the docs:\n{}", problems.join("\n"));
}

#[test]
fn a_planted_stale_name_is_reported() {
    let tree = Tree::load(&repo());
    let text = "One package table (`install::PACKAGES`, keyed by `Need`), rows in `install::row`.\n\
                See `xtask/src/nowhere.rs` and xtask/src/platform.rs, or xtask/src/gone.rs.\n\
                `Platform::ALL`, `Platform::NONE`, `check::reloc`, `flags::Nope`.\n\
                Run `cargo xtask frobnicate` or `cargo xtask bench report --check`, `cargo xtask dist --nope`.\n";
    let problems = stale(&tree, "PLANTED.md", text, true);
    assert_eq!(
        problems,
        [
            "PLANTED.md: `Platform::NONE`: `Platform` has no `NONE`",
            "PLANTED.md: `cargo xtask dist` has no `--nope`",
            "PLANTED.md: `cargo xtask frobnicate` is not a command",
            "PLANTED.md: `flags::Nope`: `Nope` is not defined in xtask/src/flags/mod.rs",
            "PLANTED.md: `install::PACKAGES`: `PACKAGES` is not defined in xtask/src/install.rs",
            "PLANTED.md: file `xtask/src/gone.rs` does not exist",
            "PLANTED.md: file `xtask/src/nowhere.rs` does not exist",
        ]
    );
}

#[test]
fn what_counts_as_a_name() {
    let (spans, prose) = split_md("a `cargo xtask test\n--suite images`, b\n```sh\ncargo xtask dist\n```\n`c`\n");
    assert_eq!(spans, ["cargo xtask test --suite images", "cargo xtask dist", "c"]);
    assert_eq!(prose.iter().filter(|p| !p.trim().is_empty()).collect::<Vec<_>>(), ["a ", ", b "]);
    let p = |s: &str| rust_paths(s).into_iter().map(|p| p.join("::")).collect::<Vec<_>>();
    assert_eq!(p("flags::Model { dir, ..Default::default() }"), ["flags::Model", "Default::default"]);
    assert_eq!(p("e2e::base_image(arch, target)"), ["e2e::base_image"]);
    assert!(p("::group:: and ::notice title=Build Success::…, super::…").is_empty());
    assert_eq!(
        file_paths("`tools/docker/stack/prometheus.yml` and /usr/lib/binfmt.d, dist/<os>-<arch>.tar.gz", false),
        ["tools/docker/stack/prometheus.yml"]
    );
    assert!(file_paths("https://github.com/a/b.git linux/amd64 127.0.0.1:5000/x.y", false).is_empty());
    assert_eq!(file_paths("Dockerfile.extproc", true), ["Dockerfile.extproc"]);
    assert!(file_paths("golang-1.24-go", true).is_empty());
    assert_eq!(
        xtask_commands("cargo xtask docker manifest extproc --tag T (--digests DIR | --sources REF…)"),
        [(
            vec!["docker".to_owned(), "manifest".to_owned(), "extproc".to_owned()],
            vec!["--tag".to_owned(), "--digests".to_owned(), "--sources".to_owned()]
        )]
    );
    assert_eq!(xtask_commands("xtask precache go --dir src/semantic-router")[0].0, ["precache", "go"]);
    assert!(xtask_commands("cargo xtask <command>").is_empty());
}

/// The READMEs hold what is, not how it came to be, and few figures.
#[test]
fn the_readmes_hold_no_history_and_few_figures() {
    let root = repo();
    for doc in ["README.md", "tools/docker/README.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let words: Vec<&str> = text.split(|c: char| !is_ident(c)).filter(|w| !w.is_empty()).collect();
        let history: Vec<&&str> = words
            .iter()
            .filter(|w| {
                let hash = w.len() >= 7
                    && w.len() <= 40
                    && w.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
                    && w.chars().any(|c| c.is_ascii_alphabetic())
                    && w.chars().any(|c| c.is_ascii_digit());
                hash || matches!(**w, "was" | "were" | "Was" | "Were")
            })
            .collect();
        assert!(history.is_empty(), "{doc} tells history (commit hashes, was/were): {history:?}");
        let figures = measured_figures(&text);
        assert!(
            figures.len() <= 20,
            "{doc} has {} measured figures (at most 20; BENCHMARKS.md has them): {figures:?}",
            figures.len()
        );
    }
}

/// Numbers with a unit of time, size or share: `3m 24s`, `9.4 s`, `195 MB`, `4.6 %`.
fn measured_figures(text: &str) -> Vec<String> {
    let units = ["ms", "s", "min", "h", "MB", "MiB", "GB", "GiB", "KB", "kB", "%"];
    let trim = |w: &str| {
        w.trim_start_matches(['(', '≈', '~', '*']).trim_end_matches(['.', ',', ';', ':', ')', '*']).to_owned()
    };
    let words: Vec<String> = text.split_whitespace().map(trim).collect();
    let split = |w: &str| {
        let n = w.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ',')).unwrap_or(w.len());
        (w[..n].to_owned(), w[n..].to_owned())
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let (num, tail) = split(&words[i]);
        let next = words.get(i + 1).cloned().unwrap_or_default();
        i += 1;
        if num.is_empty() || !num.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        if tail == "m" && split(&next).1 == "s" && !split(&next).0.is_empty() {
            out.push(format!("{num}m {next}"));
            i += 1;
        } else if !tail.is_empty() && units.contains(&tail.as_str()) {
            out.push(words[i - 1].clone());
        } else if tail.is_empty() && units.contains(&next.as_str()) {
            out.push(format!("{num} {next}"));
            i += 1;
        }
    }
    out
}

#[test]
fn figures_are_counted() {
    let f = measured_figures("cold 3m 24s; 9.4 s vs 10.3s, peak 195 MB (4.6 %); Go 1.24, 2 cores, port 50051");
    assert_eq!(f.len(), 5, "{f:?}");
}

#[test]
fn benchmarks_md_is_what_the_records_generate() {
    let out = xtask().args(["bench", "report", "--check"]).current_dir(repo()).output().unwrap();
    assert!(
        out.status.success(),
        "`cargo xtask bench report --check` failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Through the command line, on a workspace of its own: a record's change
/// changes BENCHMARKS.md, and a hand edit of BENCHMARKS.md fails `--check`.
#[test]
fn bench_report_follows_the_records_and_catches_hand_edits() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    std::fs::write(ws.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    let records = ws.join("benchmarks/records");
    std::fs::create_dir_all(&records).unwrap();
    let record = |samples: &str| {
        format!(
            r#"[{{"bench": "xtask", "command": "cargo xtask bench xtask", "date": "2026-12-07T21:04:05Z",
                "commit": "abc1234", "source": "bench",
                "machine": {{"cores": 2, "memory_bytes": null, "cpu": null, "kernel": null}},
                "figures": [{{"name": "cold build", "unit": "s", "samples": [{samples}], "goal_max": 40.0}}]}}]"#
        )
    };
    let report = |check: bool| {
        let mut cmd = xtask();
        cmd.args(["bench", "report"]).current_dir(ws);
        if check {
            cmd.arg("--check");
        }
        let out = cmd.output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let md = ws.join("BENCHMARKS.md");

    std::fs::write(records.join("xtask.json"), record("41.6, 38.1, 37.2")).unwrap();
    assert!(!report(true).0, "--check passes without BENCHMARKS.md");
    assert!(report(false).0);
    let first = std::fs::read_to_string(&md).unwrap();
    assert!(first.starts_with("This file is generated by `cargo xtask bench report`"), "{first}");
    assert!(first.contains("| cold build | 38.1 s | 37.2 s | 41.6 s | 3 | ≤ 40 s: met |"), "{first}");
    assert!(report(true).0);

    // A record changes: --check fails until the report is regenerated, which changes it.
    std::fs::write(records.join("xtask.json"), record("41.6, 42.5, 37.2")).unwrap();
    let (ok, err) = report(true);
    assert!(!ok && err.contains("run `cargo xtask bench report`"), "{err}");
    assert!(report(false).0);
    let second = std::fs::read_to_string(&md).unwrap();
    assert_ne!(first, second);
    assert!(second.contains("| cold build | 41.6 s | 37.2 s | 42.5 s | 3 | ≤ 40 s: NOT met |"), "{second}");

    // A hand edit of BENCHMARKS.md is caught.
    std::fs::write(&md, second.replace("NOT met", "met")).unwrap();
    let (ok, err) = report(true);
    assert!(!ok && err.contains("never edit it by hand"), "{err}");
}
