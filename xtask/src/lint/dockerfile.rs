//! Our own Dockerfile rules, in pure Rust (`cargo xtask lint --only dockerfile`):
//!
//! - `build-arg`: every build argument xtask or a workflow passes to a
//!   Dockerfile is declared there as an `ARG` (the declaration check itself is
//!   `docker::dockerfile::DeclaredArgs`, the one `cargo xtask docker` uses);
//! - `cross-run`: a cross Dockerfile (`*.cross`, or one with a
//!   `--platform=$BUILDPLATFORM` stage) runs no `RUN` on the target platform:
//!   neither in its final stage nor in any target-platform stage the final one
//!   is built from (`FROM`, `COPY --from`, `RUN --mount=from=`);
//! - `base-image`: every `FROM` image is `${ARG}`/`$ARG` (an `ARG` declared
//!   before the first `FROM`), a previous stage, or `scratch`;
//! - `copy-from`: a `COPY --from=<stage> <src>` path is created in that stage
//!   (or a stage it is built `FROM`): it lies under a `WORKDIR`, a `COPY`/`ADD`
//!   destination or an `ENV` path, or it (or a parent that is not a system
//!   directory) is mentioned by a `RUN`. `--from=<image>`, and stages that
//!   only name an image (`FROM img AS tools`, no instructions), are skipped.
//!
//! The parser keeps line numbers (continuations, comments, `# escape=`,
//! heredocs, JSON arguments): every finding is `file:line: rule: message`.

use std::collections::BTreeSet;

use super::Finding;
use crate::docker::dockerfile::DeclaredArgs;

/// One instruction, continuation lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instr {
    /// 1-based line of the keyword.
    pub line: usize,
    /// Upper case (`RUN`, `COPY`, ...).
    pub keyword: String,
    /// Leading `--name=value` options (`--name` alone: empty value), in order.
    pub flags: Vec<(String, String)>,
    /// The rest: continuation lines joined with a space, heredoc bodies
    /// appended after a newline.
    pub args: String,
}

impl Instr {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The arguments as words: a JSON array (`["a", "b"]`) or whitespace
    /// separated (heredoc bodies excluded).
    pub fn words(&self) -> Vec<String> {
        let first = self.args.lines().next().unwrap_or("").trim();
        if first.starts_with('[') {
            if let Ok(v) = serde_json::from_str::<Vec<String>>(first) {
                return v;
            }
        }
        first.split_whitespace().map(|w| unquote(w).to_owned()).collect()
    }
}

fn unquote(w: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = w.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    w
}

/// One build stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    /// `AS <name>`, lower case (stage names are case-insensitive).
    pub name: Option<String>,
    /// The image or stage of `FROM`, as written.
    pub image: String,
    /// `--platform=` of `FROM`.
    pub platform: Option<String>,
    pub line: usize,
    pub body: Vec<Instr>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dockerfile {
    /// Instructions before the first `FROM` (`ARG`s).
    pub global: Vec<Instr>,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    pub fn parse(text: &str) -> Dockerfile {
        let mut df = Dockerfile::default();
        for ins in instructions(text) {
            if ins.keyword == "FROM" {
                let words = ins.words();
                let image = words.first().cloned().unwrap_or_default();
                let name = match words.as_slice() {
                    [_, as_, name, ..] if as_.eq_ignore_ascii_case("as") => Some(name.to_ascii_lowercase()),
                    _ => None,
                };
                df.stages.push(Stage {
                    index: df.stages.len(),
                    name,
                    image,
                    platform: ins.flag("platform").map(str::to_owned),
                    line: ins.line,
                    body: Vec::new(),
                });
            } else if let Some(stage) = df.stages.last_mut() {
                stage.body.push(ins);
            } else {
                df.global.push(ins);
            }
        }
        df
    }

    /// Names of the `ARG`s declared before the first `FROM` (the only ones `FROM` can use).
    pub fn global_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        for ins in self.global.iter().filter(|i| i.keyword == "ARG") {
            for w in ins.words() {
                out.push(w.split('=').next().unwrap_or("").to_owned());
            }
        }
        out
    }

    /// The stage `reference` names (`--from=`/`FROM`), seen from stage `before`:
    /// a previous stage's name or index.
    pub fn stage_ref(&self, reference: &str, before: usize) -> Option<usize> {
        let lower = reference.to_ascii_lowercase();
        if let Some(s) = self.stages[..before.min(self.stages.len())]
            .iter()
            .rev()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(s.index);
        }
        match reference.parse::<usize>() {
            Ok(i) if i < before => Some(i),
            _ => None,
        }
    }

    /// Whether this is a cross Dockerfile: a stage pinned to `$BUILDPLATFORM`.
    pub fn has_buildplatform_stage(&self) -> bool {
        self.stages.iter().any(|s| s.platform.as_deref().is_some_and(|p| p.contains("BUILDPLATFORM")))
    }

    /// Whether stage `i` runs on the build machine: pinned to `$BUILDPLATFORM`,
    /// or built `FROM` a stage that is.
    pub fn on_build_platform(&self, i: usize) -> bool {
        let s = &self.stages[i];
        match &s.platform {
            Some(p) => p.contains("BUILDPLATFORM"),
            None => self.stage_ref(&s.image, i).is_some_and(|parent| self.on_build_platform(parent)),
        }
    }

    /// The stages the final image is made of: the last stage and, transitively,
    /// every stage it uses through `FROM`, `COPY --from` or `RUN --mount=from=`.
    pub fn final_closure(&self) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let Some(last) = self.stages.len().checked_sub(1) else {
            return seen;
        };
        let mut todo = vec![last];
        while let Some(i) = todo.pop() {
            if !seen.insert(i) {
                continue;
            }
            let s = &self.stages[i];
            let mut refs: Vec<String> = vec![s.image.clone()];
            for ins in &s.body {
                if let Some(from) = ins.flag("from") {
                    refs.push(from.to_owned());
                }
                for (k, v) in &ins.flags {
                    if k == "mount" {
                        refs.extend(v.split(',').filter_map(|kv| kv.strip_prefix("from=")).map(str::to_owned));
                    }
                }
            }
            todo.extend(refs.iter().filter_map(|r| self.stage_ref(r, i)));
        }
        seen
    }

    /// Stage `i` and the stages it is built `FROM`, nearest first.
    fn chain(&self, i: usize) -> Vec<usize> {
        let mut out = vec![i];
        let mut cur = i;
        while let Some(parent) = self.stage_ref(&self.stages[cur].image, cur) {
            out.push(parent);
            cur = parent;
        }
        out
    }
}

/// Split a Dockerfile into instructions with their line numbers.
pub fn instructions(text: &str) -> Vec<Instr> {
    let lines: Vec<&str> = text.lines().collect();
    let escape = escape_directive(&lines);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        let mut logical = String::new();
        loop {
            let line = lines[i].trim_end();
            i += 1;
            match line.strip_suffix(escape) {
                Some(body) => {
                    logical.push_str(body);
                    logical.push(' ');
                    // Comment and empty lines inside a continuation are dropped.
                    while i < lines.len() && (lines[i].trim().is_empty() || lines[i].trim_start().starts_with('#')) {
                        i += 1;
                    }
                    if i >= lines.len() {
                        break;
                    }
                }
                None => {
                    logical.push_str(line);
                    break;
                }
            }
        }
        let logical = logical.trim();
        let (keyword, rest) = match logical.split_once(char::is_whitespace) {
            Some((k, r)) => (k.to_ascii_uppercase(), r.trim_start()),
            None => (logical.to_ascii_uppercase(), ""),
        };
        let mut rest = rest;
        let mut flags = Vec::new();
        while let Some(after) = rest.strip_prefix("--") {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            let flag = &after[..end];
            let (k, v) = flag.split_once('=').unwrap_or((flag, ""));
            flags.push((k.to_ascii_lowercase(), v.to_owned()));
            rest = after[end..].trim_start();
        }
        let mut args = rest.to_owned();
        // Heredocs (`RUN <<EOF`, `COPY <<-"EOF" /dst`): their bodies follow.
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for (word, strip_tabs) in heredoc_words(rest) {
                while i < lines.len() {
                    let line = lines[i];
                    i += 1;
                    let cmp = if strip_tabs { line.trim_start_matches('\t') } else { line };
                    if cmp == word {
                        break;
                    }
                    args.push('\n');
                    args.push_str(line);
                }
            }
        }
        out.push(Instr { line: start + 1, keyword, flags, args });
    }
    out
}

/// `# escape=`` ` in the parser directives (comments before anything else).
fn escape_directive(lines: &[&str]) -> char {
    for line in lines {
        let t = line.trim();
        let Some(comment) = t.strip_prefix('#') else {
            break;
        };
        let Some((k, v)) = comment.split_once('=') else {
            break;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "escape" => return v.trim().chars().next().unwrap_or('\\'),
            "syntax" | "check" => continue,
            _ => break,
        }
    }
    '\\'
}

/// The heredoc delimiters of an instruction line: `<<EOF`, `<<-EOF`, `<<"EOF"`.
fn heredoc_words(line: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(pos) = rest.find("<<") {
        let mut after = &rest[pos + 2..];
        let strip_tabs = after.starts_with('-');
        if strip_tabs {
            after = &after[1..];
        }
        let word: String = after
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !word.is_empty() {
            out.push((word, strip_tabs));
        }
        rest = after;
    }
    out
}

/// Whether `path` names a cross Dockerfile by its name.
pub fn is_cross_name(path: &str) -> bool {
    path.ends_with(".cross")
}

/// Every rule that needs only the Dockerfile itself.
pub fn check(file: &str, text: &str) -> Vec<Finding> {
    let df = Dockerfile::parse(text);
    let mut out = Vec::new();
    out.extend(base_images(file, &df));
    if is_cross_name(file) || df.has_buildplatform_stage() {
        out.extend(cross_runs(file, &df));
    }
    out.extend(copy_from(file, &df));
    out.sort_by_key(|f| f.line);
    out
}

fn finding(file: &str, line: usize, rule: &str, message: String) -> Finding {
    Finding { file: file.to_owned(), line, rule: rule.to_owned(), message }
}

/// The `ARG`s an image reference is made of, when it starts with one (so
/// that the repository can be replaced): `$X`, `${X}`, `${X:-default}`,
/// `${X:+alt}`, `${REGISTRY}/dev:${TAG}`. `None` for a fixed image
/// (`debian`, `debian:${TAG}`).
fn image_args(image: &str) -> Option<Vec<&str>> {
    if !image.starts_with('$') {
        return None;
    }
    let is_name = |n: &str| {
        !n.is_empty()
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    let mut names = Vec::new();
    let mut rest = image;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let name = if let Some(braced) = rest.strip_prefix('{') {
            let end = braced.find('}')?;
            rest = &braced[end + 1..];
            // `${X:-default}`, `${X-default}`, `${X:+alt}`, `${X+alt}`: the name is X.
            let inner = &braced[..end];
            &inner[..inner.find([':', '-', '+']).unwrap_or(inner.len())]
        } else {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            let name = &rest[..end];
            rest = &rest[end..];
            name
        };
        if !is_name(name) {
            return None;
        }
        names.push(name);
    }
    Some(names)
}

pub fn base_images(file: &str, df: &Dockerfile) -> Vec<Finding> {
    let globals = df.global_args();
    let mut out = Vec::new();
    for s in &df.stages {
        if s.image.eq_ignore_ascii_case("scratch") || df.stage_ref(&s.image, s.index).is_some() {
            continue;
        }
        match image_args(&s.image) {
            Some(args) => {
                if let Some(arg) = args.iter().find(|a| !globals.iter().any(|g| g == *a)) {
                    out.push(finding(
                        file,
                        s.line,
                        "base-image",
                        format!("`FROM {}`: `{arg}` is not an ARG declared before the first FROM", s.image),
                    ));
                }
            }
            None => out.push(finding(
                file,
                s.line,
                "base-image",
                format!(
                    "base image `{}` is not an ARG: declare `ARG SOME_IMAGE={}` before the first FROM \
                     and write `FROM ${{SOME_IMAGE}}` (or use a previous stage, or `scratch`)",
                    s.image, s.image
                ),
            )),
        }
    }
    out
}

pub fn cross_runs(file: &str, df: &Dockerfile) -> Vec<Finding> {
    let mut out = Vec::new();
    let last = df.stages.len().saturating_sub(1);
    for i in df.final_closure() {
        if df.on_build_platform(i) {
            continue;
        }
        let s = &df.stages[i];
        let name = s.name.clone().unwrap_or_else(|| i.to_string());
        let role = if i == last {
            format!("the final stage `{name}`")
        } else {
            format!("stage `{name}` (part of the final image, on the target platform)")
        };
        for ins in s.body.iter().filter(|i| i.keyword == "RUN") {
            out.push(finding(
                file,
                ins.line,
                "cross-run",
                format!(
                    "RUN in {role} of a cross Dockerfile: it would run under emulation; \
                     do it in a `--platform=$BUILDPLATFORM` stage and COPY the result"
                ),
            ));
        }
    }
    out
}

/// Directories every image has: mentioning one says nothing about a file under it.
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/usr",
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/local/lib",
    "/usr/share",
    "/etc",
    "/opt",
    "/var",
    "/var/lib",
    "/var/cache",
    "/tmp",
    "/root",
    "/home",
    "/srv",
    "/run",
    "/dev",
    "/proc",
    "/sys",
];

/// `a/./b//c/` → `/a/b/c`; relative paths are relative to `base`.
fn normalize(path: &str, base: &str) -> String {
    let joined = if path.starts_with('/') { path.to_owned() } else { format!("{base}/{path}") };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn is_under(path: &str, dir: &str) -> bool {
    dir == "/" || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// Whether `needle` occurs in `hay` as a whole path (not inside a longer name).
fn mentions(hay: &str, needle: &str) -> bool {
    let path_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let mut from = 0;
    while let Some(pos) = hay[from..].find(needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before_ok = hay[..start].chars().next_back().is_none_or(|c| !path_char(c) && c != '/');
        let after_ok = hay[end..].chars().next().is_none_or(|c| !path_char(c));
        if before_ok && after_ok {
            return true;
        }
        from = start + 1;
    }
    false
}

/// Whether the stage chain of `stage` plausibly creates `path` (absolute, normalized).
fn created_in(df: &Dockerfile, stage: usize, path: &str) -> bool {
    if path == "/" {
        return true;
    }
    for i in df.chain(stage) {
        let mut workdir = "/".to_owned();
        for ins in &df.stages[i].body {
            match ins.keyword.as_str() {
                "WORKDIR" => {
                    workdir = normalize(ins.args.trim(), &workdir);
                    if is_under(path, &workdir) {
                        return true;
                    }
                }
                "COPY" | "ADD" => {
                    let words = ins.words();
                    if let Some(dest) = words.last().filter(|_| words.len() >= 2) {
                        if !dest.contains('$') && is_under(path, &normalize(dest, &workdir)) {
                            return true;
                        }
                    }
                }
                "ENV" => {
                    for value in ins.args.split_whitespace().filter_map(|kv| kv.split_once('=').map(|(_, v)| v)) {
                        for dir in unquote(value).split(':').filter(|d| d.starts_with('/')) {
                            if is_under(path, &normalize(dir, "/")) {
                                return true;
                            }
                        }
                    }
                }
                "RUN" => {
                    let mut p = path.to_owned();
                    loop {
                        if !SYSTEM_DIRS.contains(&p.as_str()) && mentions(&ins.args, &p) {
                            return true;
                        }
                        match p.rfind('/') {
                            Some(0) | None => break,
                            Some(cut) => p.truncate(cut),
                        }
                    }
                }
                _ => {}
            }
        }
    }
    false
}

pub fn copy_from(file: &str, df: &Dockerfile) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in &df.stages {
        for ins in s.body.iter().filter(|i| i.keyword == "COPY") {
            let Some(from) = ins.flag("from") else {
                continue;
            };
            let Some(src_stage) = df.stage_ref(from, s.index) else {
                continue;
            }; // an external image
               // A stage that only names an image (`FROM img AS tools`) is an external image too.
            if df.chain(src_stage).iter().all(|&i| df.stages[i].body.is_empty()) {
                continue;
            }
            let words = ins.words();
            if words.len() < 2 {
                continue;
            }
            let src_name = df.stages[src_stage].name.clone().unwrap_or_else(|| src_stage.to_string());
            for src in &words[..words.len() - 1] {
                if src.contains('$') || src.starts_with("<<") {
                    continue;
                }
                // Globs: the directory before the first wildcard must exist.
                let literal = match src.find(['*', '?', '[']) {
                    Some(pos) => src[..pos].rsplit_once('/').map_or("/", |(dir, _)| dir),
                    None => src.as_str(),
                };
                let path = normalize(literal, "/");
                if !created_in(df, src_stage, &path) {
                    out.push(finding(
                        file,
                        ins.line,
                        "copy-from",
                        format!(
                            "`{src}` is not created in stage `{src_name}`: no WORKDIR, COPY/ADD destination \
                             or ENV path there contains it, and no RUN mentions it or a parent"
                        ),
                    ));
                }
            }
        }
    }
    out
}

/// A build argument someone passes to a Dockerfile, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedArg {
    pub name: String,
    /// Where it is passed (a workflow, an xtask source file, or the Dockerfile
    /// itself when only the planner knows).
    pub file: String,
    pub line: usize,
    /// Who passes it (`xtask docker`, a workflow, ...).
    pub by: String,
    /// The Dockerfiles (relative to the workspace root) it is passed to.
    pub dockerfiles: Vec<String>,
}

/// `build-arg`: every passed argument is an `ARG` of each Dockerfile it is passed to.
/// `read` gives a Dockerfile's text (`None`: missing).
pub fn check_build_args(passed: &[PassedArg], read: &dyn Fn(&str) -> Option<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for p in passed {
        for df in &p.dockerfiles {
            if !seen.insert((p.file.clone(), p.line, p.name.clone(), df.clone())) {
                continue;
            }
            let message = match read(df) {
                None => format!("{} passes `{}` to {df}, which does not exist", p.by, p.name),
                Some(text) if !DeclaredArgs::parse(&text).contains(&p.name) => {
                    format!("{} passes `{}` to {df}, which declares no `ARG {}`", p.by, p.name, p.name)
                }
                Some(_) => continue,
            };
            out.push(finding(&p.file, p.line, "build-arg", message));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dockerfiles")
    }

    /// `# expect-next: RULE` comments: the rule must fire on the next instruction.
    fn expectations(text: &str) -> Vec<(usize, String)> {
        let lines: Vec<&str> = text.lines().collect();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if let Some(rules) = l.trim().strip_prefix("# expect-next:") {
                let next = (i + 1..lines.len())
                    .find(|&j| !lines[j].trim().is_empty() && !lines[j].trim_start().starts_with('#'))
                    .expect("an instruction after expect-next");
                for rule in rules.split(',') {
                    out.push((next + 1, rule.trim().to_owned()));
                }
            }
        }
        out.sort();
        out
    }

    fn got(findings: &[Finding]) -> Vec<(usize, String)> {
        let mut v: Vec<(usize, String)> = findings.iter().map(|f| (f.line, f.rule.clone())).collect();
        v.sort();
        v
    }

    #[test]
    fn each_bad_fixture_fires_exactly_its_expected_rules() {
        let mut rules_seen = BTreeSet::new();
        let mut n = 0;
        for entry in std::fs::read_dir(fixtures().join("bad")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // The build-arg fixture needs its workflow: tested below.
            if !name.contains("Dockerfile") || name.contains("build-arg") {
                continue;
            }
            n += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            let want = expectations(&text);
            assert!(!want.is_empty(), "{name} has no `# expect-next:`");
            let findings = check(&name, &text);
            for f in &findings {
                assert_eq!(f.file, name);
                assert!(!f.message.is_empty());
            }
            assert_eq!(got(&findings), want, "{name}: {findings:#?}");
            rules_seen.extend(want.into_iter().map(|(_, r)| r));
        }
        assert!(n >= 4, "bad fixtures found: {n}");
        for rule in ["base-image", "cross-run", "copy-from"] {
            assert!(rules_seen.contains(rule), "no bad fixture for {rule}");
        }
    }

    #[test]
    fn good_fixtures_and_shipped_dockerfiles_are_quiet() {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(fixtures().join("good")).unwrap().map(|e| e.unwrap().path()).collect();
        for e in std::fs::read_dir(root().join("tools/docker")).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap().to_string_lossy().starts_with("Dockerfile") {
                files.push(p);
            }
        }
        assert!(files.len() >= 3, "{files:?}");
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let findings = check(&path.display().to_string(), &text);
            assert!(findings.is_empty(), "{}: {findings:#?}", path.display());
        }
    }

    #[test]
    fn shipped_cross_dockerfile_is_detected_as_cross() {
        for spec in crate::docker::images::IMAGES {
            let Some(cross) = spec.cross else {
                // Emulated images: no build-platform stage, so RUN in the final stage is fine.
                let df = Dockerfile::parse(&std::fs::read_to_string(root().join(spec.native)).unwrap());
                assert!(!df.has_buildplatform_stage() && !is_cross_name(spec.native), "{}", spec.native);
                continue;
            };
            let df = Dockerfile::parse(&std::fs::read_to_string(root().join(cross)).unwrap());
            assert!(df.has_buildplatform_stage() && is_cross_name(cross));
            let last = df.stages.len() - 1;
            assert!(!df.on_build_platform(last), "{cross}: final stage is on the target platform");
            assert!(df.on_build_platform(df.stage_ref("build", last).unwrap()));
        }
    }

    #[test]
    fn parser_lines_continuations_heredocs_and_flags() {
        let text = "# syntax=docker/dockerfile:1\nARG A=1 \\\n  B\n\nFROM --platform=$BUILDPLATFORM ${A} AS One\n\
                    RUN --mount=type=cache,target=/c \\\n# comment inside\n    echo hi \\\n\n    && true\n\
                    COPY <<EOF /etc/x.conf\nline /made/here\nEOF\nCOPY [\"a b\", \"/dst/\"]\nworkdir /w\n";
        let df = Dockerfile::parse(text);
        assert_eq!(df.global.len(), 1);
        assert_eq!(df.global_args(), ["A", "B"]);
        let s = &df.stages[0];
        assert_eq!((s.line, s.name.as_deref(), s.image.as_str()), (5, Some("one"), "${A}"));
        assert_eq!(s.platform.as_deref(), Some("$BUILDPLATFORM"));
        let lines: Vec<(usize, &str)> = s.body.iter().map(|i| (i.line, i.keyword.as_str())).collect();
        assert_eq!(lines, [(6, "RUN"), (11, "COPY"), (14, "COPY"), (15, "WORKDIR")]);
        assert_eq!(s.body[0].flag("mount"), Some("type=cache,target=/c"));
        assert!(s.body[0].args.contains("echo hi") && s.body[0].args.contains("&& true"));
        assert!(s.body[1].args.contains("/made/here"));
        assert_eq!(s.body[1].words(), ["<<EOF", "/etc/x.conf"]);
        assert_eq!(s.body[2].words(), ["a b", "/dst/"]);
    }

    #[test]
    fn escape_directive_changes_the_continuation() {
        let df = Dockerfile::parse("# escape=`\nFROM scratch\nRUN a `\n  b\nCOPY x y\n");
        let body = &df.stages[0].body;
        assert_eq!(body.len(), 2);
        assert_eq!((body[1].line, body[1].keyword.as_str()), (5, "COPY"));
    }

    #[test]
    fn path_helpers() {
        assert_eq!(normalize("./a//b/../c/", "/"), "/a/c");
        assert_eq!(normalize("out", "/src"), "/src/out");
        assert!(is_under("/src/a", "/src") && is_under("/src", "/src") && !is_under("/srcx", "/src"));
        assert!(mentions("--out /out && x", "/out"));
        assert!(mentions("cp a /out/", "/out"));
        assert!(!mentions("/layout", "/out"));
        assert!(!mentions("/x/out", "/out"));
        assert!(!mentions("/outer", "/out"));
        assert_eq!(image_args("${A}"), Some(vec!["A"]));
        assert_eq!(image_args("$A_1"), Some(vec!["A_1"]));
        assert_eq!(image_args("${A:-golang:1.19}"), Some(vec!["A"]));
        assert_eq!(image_args("${A-x}"), Some(vec!["A"]));
        assert_eq!(image_args("${A:+x}"), Some(vec!["A"]));
        assert_eq!(image_args("${REGISTRY}/dev:${TAG}"), Some(vec!["REGISTRY", "TAG"]));
        assert_eq!(image_args("$REG/dev:$TAG"), Some(vec!["REG", "TAG"]));
        assert_eq!(image_args("${A}:tag"), Some(vec!["A"]));
        assert_eq!(image_args("debian"), None);
        assert_eq!(image_args("debian:${TAG}"), None);
        assert_eq!(image_args("${A"), None);
        assert_eq!(image_args("${1A}"), None);
    }

    #[test]
    fn copy_from_stage_index_and_external_images() {
        let text = "ARG I=x\nFROM ${I}\nRUN make /dist\nFROM ${I} AS b\nCOPY --from=0 /dist/app /\n\
                    COPY --from=0 /nope /\nCOPY --from=alpine:3 /bin/sh /\n";
        let f = check("Dockerfile", text);
        assert_eq!(got(&f), [(6, "copy-from".to_owned())], "{f:#?}");
    }

    #[test]
    fn build_args_must_be_declared_where_passed() {
        let df = "ARG A\nFROM scratch\n";
        let read = |name: &str| (name == "D").then(|| df.to_owned());
        let passed = vec![
            PassedArg {
                name: "A".into(),
                file: "w.yml".into(),
                line: 3,
                by: "w".into(),
                dockerfiles: vec!["D".into()],
            },
            PassedArg {
                name: "B".into(),
                file: "w.yml".into(),
                line: 4,
                by: "w".into(),
                dockerfiles: vec!["D".into()],
            },
            PassedArg {
                name: "HTTP_PROXY".into(),
                file: "w.yml".into(),
                line: 5,
                by: "w".into(),
                dockerfiles: vec!["D".into()],
            },
            PassedArg { name: "A".into(), file: "x.rs".into(), line: 9, by: "x".into(), dockerfiles: vec!["E".into()] },
        ];
        let f = check_build_args(&passed, &read);
        let s: Vec<String> = f.iter().map(|f| f.to_string()).collect();
        assert_eq!(
            s,
            [
                "w.yml:4: build-arg: w passes `B` to D, which declares no `ARG B`",
                "x.rs:9: build-arg: x passes `A` to E, which does not exist",
            ]
        );
    }

    #[test]
    fn build_arg_fixture_lacks_what_the_workflow_passes() {
        let dir = fixtures().join("bad");
        let yaml = std::fs::read_to_string(dir.join("build-arg.workflow.yml")).unwrap();
        let df_name = "Dockerfile.build-arg";
        let text = std::fs::read_to_string(dir.join(df_name)).unwrap();
        let passed: Vec<PassedArg> = super::super::workflow::build_args_in_yaml(&yaml)
            .into_iter()
            .map(|a| PassedArg {
                name: a.name,
                file: "build-arg.workflow.yml".into(),
                line: a.line,
                by: "workflow".into(),
                dockerfiles: vec![df_name.into()],
            })
            .collect();
        let read = |_: &str| Some(text.clone());
        let f = check_build_args(&passed, &read);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].to_string().starts_with("build-arg.workflow.yml:13: build-arg: workflow passes `VERSION`"),
            "{}",
            f[0]
        );
        // The structural rules have nothing to say about it.
        assert!(check(df_name, &text).is_empty());
    }
}
