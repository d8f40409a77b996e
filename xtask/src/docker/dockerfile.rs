//! The one Dockerfile model of xtask: instructions with their lines
//! (continuations, comments, the `# escape=` directive, heredocs, JSON
//! arguments) and build stages. `cargo xtask docker` reads the `ARG`s a file
//! declares from it ([`DeclaredArgs`]: a `--build-arg` nobody reads is an
//! error, not a silent no-op), and `cargo xtask lint`'s Dockerfile rules read
//! the stages; so both always agree on what a file says.

pub mod shell;

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

/// The declared `ARG` names of a Dockerfile (global ones and per stage), in
/// order of first appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeclaredArgs {
    pub names: Vec<String>,
}

impl DeclaredArgs {
    /// The `ARG` instructions of the text, as [`Dockerfile`] reads it: `ARG A`,
    /// `ARG A=1 B="x y"`, any case; not inside a heredoc body.
    pub fn parse(text: &str) -> DeclaredArgs {
        Dockerfile::parse(text).declared_args()
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

impl Instr {
    /// The programs a `RUN` runs, each with its arguments ([`shell::commands`]):
    /// the exec form (`["cargo", "build"]`, or `["sh", "-c", "…"]`) or the
    /// shell form, with the bodies of its heredocs when a shell reads them
    /// (`RUN <<EOF`, `RUN bash <<EOF`; not `RUN python3 <<EOF`). Empty for
    /// other instructions.
    pub fn commands(&self) -> Vec<Vec<String>> {
        if self.keyword != "RUN" {
            return Vec::new();
        }
        let (first, bodies) = self.args.split_once('\n').unwrap_or((&self.args, ""));
        if first.trim_start().starts_with('[') {
            if let Ok(argv) = serde_json::from_str::<Vec<String>>(first.trim()) {
                return shell::argv_commands(&argv);
            }
        }
        let mut out = shell::commands(first);
        let head: Vec<Vec<String>> = out.clone();
        let shell_reads_body = match head.first() {
            None => true,
            Some(cmd) => shell::SHELLS.contains(&shell::program(&cmd[0])),
        };
        if !bodies.is_empty() && shell_reads_body {
            out.retain(|cmd| !shell::SHELLS.contains(&shell::program(&cmd[0])));
            out.extend(shell::commands(bodies));
        }
        out
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

impl Dockerfile {
    /// Every `ARG` name, before the first `FROM` and in each stage.
    pub fn declared_args(&self) -> DeclaredArgs {
        let mut names: Vec<String> = Vec::new();
        let instrs = self.global.iter().chain(self.stages.iter().flat_map(|s| s.body.iter()));
        for ins in instrs.filter(|i| i.keyword == "ARG") {
            for word in ins.args.split_whitespace() {
                let name = word.split('=').next().unwrap_or("");
                let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if valid && !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            }
        }
        DeclaredArgs { names }
    }
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
    fn run_commands_in_every_form() {
        let text = "FROM x\nRUN a && \\\n  CC=gcc cargo build; go vet\nRUN [\"cargo\", \"clippy\", \"--all\"]\n\
                    RUN [\"/bin/sh\", \"-c\", \"make && gcc -c x.c\"]\nRUN <<EOF\nset -e\ncargo test\nEOF\n\
                    RUN bash -e <<EOF\ngo build\nEOF\nRUN python3 <<EOF\ncargo build\nEOF\nCOPY <<EOF /x\ncargo build\nEOF\n";
        let df = Dockerfile::parse(text);
        let runs: Vec<Vec<String>> =
            df.stages[0].body.iter().map(|i| i.commands().iter().map(|c| c.join(" ")).collect()).collect();
        let want: Vec<Vec<&str>> = vec![
            vec!["a", "cargo build", "go vet"],
            vec!["cargo clippy --all"],
            vec!["make", "gcc -c x.c"],
            vec!["set -e", "cargo test"],
            vec!["go build"],
            vec!["python3"],
            vec![],
        ];
        assert_eq!(runs, want);
    }

    #[test]
    fn escape_directive_changes_the_continuation() {
        let df = Dockerfile::parse("# escape=`\nFROM scratch\nRUN a `\n  b\nCOPY x y\n");
        let body = &df.stages[0].body;
        assert_eq!(body.len(), 2);
        assert_eq!((body[1].line, body[1].keyword.as_str()), (5, "COPY"));
    }

    #[test]
    fn declared_args_follow_the_model() {
        // An `ARG` line inside a heredoc body is text, not a declaration; with
        // `# escape=` the backtick continues a line (the ARG on it is one).
        let text = "# escape=`\nARG A=1 `\n  B\nFROM x\nRUN <<EOF\nARG NOT_ME\nEOF\narg C\n";
        assert_eq!(DeclaredArgs::parse(text).names, ["A", "B", "C"]);
    }
}
