//! The `cargo xtask …` commands CI calls, read from workflow YAML (`run:`
//! scripts) and shell scripts, with their line numbers. Pure text functions:
//! no YAML library, only what `run:` scalars need (inline, quoted, `|`, `>`).
//!
//! A prebuilt xtask counts too: `xtask …` or `<dir>/xtask …` at the start of
//! a command (the workflow compiles xtask once and hands the binary on).

/// One word of a script and the file line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub line: usize,
}

/// `cargo xtask <args…>`, up to the end of that shell command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XtaskCall {
    pub line: usize,
    pub args: Vec<Word>,
}

impl XtaskCall {
    /// The subcommand path to check with `--help`: `[sub]` or `[sub, subsub]`
    /// (words that look like command names; `${{ … }}`, `$X` and options end it).
    pub fn command_path(&self) -> Vec<String> {
        let mut words = self.args.iter().map(|w| w.text.as_str()).peekable();
        // Global options before the subcommand.
        while let Some(w) = words.peek() {
            if *w == "--manifest-path" {
                words.next();
                words.next();
            } else if w.starts_with("--manifest-path=") {
                words.next();
            } else {
                break;
            }
        }
        let is_name = |w: &str| {
            w.starts_with(|c: char| c.is_ascii_lowercase())
                && w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        };
        words.take(2).take_while(|w| is_name(w)).map(str::to_owned).collect()
    }

    pub fn has_flag(&self, flag: &str) -> bool {
        self.args.iter().any(|w| w.text == flag)
    }
}

/// A script and how its lines join: a literal script (shell, `run: |`) ends a
/// command at each newline; a folded one (`run: >`) joins lines with spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub lines: Vec<(usize, String)>,
    pub folded: bool,
}

/// The `run:` scripts of a workflow (or action) file.
pub fn run_scripts(yaml: &str) -> Vec<Script> {
    let lines: Vec<&str> = yaml.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        // `- key: value` or `key: value`; the key's column is where it starts.
        let item = trimmed.strip_prefix("- ").map(str::trim_start);
        let body = item.unwrap_or(trimmed);
        let key_col = line.len() - body.len();
        let Some((key, value)) = split_key(body) else {
            i += 1;
            continue;
        };
        let value = strip_comment(value).trim();
        let block = value.starts_with('|') || value.starts_with('>');
        let is_run = key == "run";
        i += 1;
        if block {
            let start = i;
            while i < lines.len() && (lines[i].trim().is_empty() || indent(lines[i]) > key_col) {
                i += 1;
            }
            if is_run {
                let body = &lines[start..i];
                let base = body.iter().filter(|l| !l.trim().is_empty()).map(|l| indent(l)).min().unwrap_or(0);
                let script: Vec<(usize, String)> = body
                    .iter()
                    .enumerate()
                    .map(|(k, l)| (start + k + 1, l.get(base..).unwrap_or("").to_owned()))
                    .collect();
                out.push(Script { lines: script, folded: value.starts_with('>') });
            }
        } else if is_run && !value.is_empty() {
            // An inline scalar, maybe continued on more-indented lines.
            let mut script = vec![(i, unquote_yaml(value))];
            while i < lines.len() && !lines[i].trim().is_empty() && indent(lines[i]) > key_col {
                script.push((i + 1, lines[i].trim().to_owned()));
                i += 1;
            }
            out.push(Script { lines: script, folded: true });
        }
    }
    out
}

/// `key: value` (value may be empty); `None` for anything else.
fn split_key(s: &str) -> Option<(&str, &str)> {
    let (key, value) = s.split_once(':')?;
    let valid = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    (valid && (value.is_empty() || value.starts_with(' '))).then_some((key, value))
}

/// Drop a trailing ` # comment` of a YAML value (not inside quotes: good enough
/// for block indicators and plain commands).
fn strip_comment(value: &str) -> &str {
    if value.trim_start().starts_with(['"', '\'']) {
        return value;
    }
    match value.find(" #") {
        Some(pos) => &value[..pos],
        None => value,
    }
}

fn unquote_yaml(v: &str) -> String {
    if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return inner.replace("''", "'");
    }
    if let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return inner.replace("\\\"", "\"").replace("\\\\", "\\");
    }
    v.to_owned()
}

/// A token of a shell line: a word, or the end of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(Word),
    End,
}

/// Words and command ends of a script: `; & | ( ) \`` and (in literal
/// scripts) unescaped newlines end a command; quotes only separate words;
/// `${{ … }}` is one word; `#` at the start of a word comments out the line.
fn tokens(script: &Script) -> Vec<Tok> {
    let mut out = Vec::new();
    for (line_no, line) in &script.lines {
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut Vec<Tok>| {
            if !word.is_empty() {
                out.push(Tok::Word(Word { text: std::mem::take(word), line: *line_no }));
            }
        };
        let chars: Vec<char> = line.chars().collect();
        let mut k = 0;
        let mut continued = false;
        while k < chars.len() {
            let c = chars[k];
            if c == '$' && chars.get(k + 1) == Some(&'{') && chars.get(k + 2) == Some(&'{') {
                let rest: String = chars[k..].iter().collect();
                let end = rest.find("}}").map_or(rest.len(), |e| e + 2);
                word.push_str(&rest[..end]);
                k += rest[..end].chars().count();
                continue;
            }
            match c {
                '#' if word.is_empty() => break,
                '\\' if k + 1 == chars.len() => {
                    continued = true;
                }
                ' ' | '\t' | '"' | '\'' => flush(&mut word, &mut out),
                ';' | '&' | '|' | '(' | ')' | '`' => {
                    flush(&mut word, &mut out);
                    out.push(Tok::End);
                }
                _ => word.push(c),
            }
            k += 1;
        }
        flush(&mut word, &mut out);
        let blank = line.trim().is_empty();
        if (!script.folded && !continued) || (script.folded && blank) {
            out.push(Tok::End);
        }
    }
    out
}

/// Every `cargo xtask …` (or prebuilt `xtask …`) in a script.
pub fn xtask_calls(script: &Script) -> Vec<XtaskCall> {
    let toks = tokens(script);
    let mut out = Vec::new();
    let mut k = 0;
    let is_binary = |w: &str| w == "xtask" || (w.ends_with("/xtask") && !w.contains('$'));
    while k < toks.len() {
        let at_start = k == 0 || toks[k - 1] == Tok::End;
        let skip = match (&toks[k], toks.get(k + 1)) {
            (Tok::Word(a), Some(Tok::Word(b))) if a.text == "cargo" && b.text == "xtask" => Some((a.line, 2)),
            (Tok::Word(a), _) if at_start && is_binary(&a.text) => Some((a.line, 1)),
            _ => None,
        };
        let Some((line, n)) = skip else {
            k += 1;
            continue;
        };
        let mut args = Vec::new();
        k += n;
        while let Some(Tok::Word(w)) = toks.get(k) {
            args.push(w.clone());
            k += 1;
        }
        out.push(XtaskCall { line, args });
    }
    out
}

/// Every `cargo xtask …` a workflow's `run:` steps call.
pub fn xtask_calls_in_yaml(yaml: &str) -> Vec<XtaskCall> {
    run_scripts(yaml).iter().flat_map(xtask_calls).collect()
}

/// Every `cargo xtask …` a shell script calls.
pub fn xtask_calls_in_shell(text: &str) -> Vec<XtaskCall> {
    let lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.to_owned())).collect();
    xtask_calls(&Script { lines, folded: false })
}

/// The image a `cargo xtask docker <image>` or `docker manifest <image>` call
/// names, when written literally (line, name).
pub fn docker_image(call: &XtaskCall) -> Option<(usize, &str)> {
    let words: Vec<&Word> = call.args.iter().filter(|w| !w.text.starts_with('-')).collect();
    if words.first()?.text != "docker" {
        return None;
    }
    let image = match words.get(1)?.text.as_str() {
        "manifest" => words.get(2)?,
        "toolchain" | "stage" => return None,
        _ => words[1],
    };
    (!image.text.contains('$')).then_some((image.line, image.text.as_str()))
}

/// A `--build-arg K=V` of a `cargo xtask docker <image>` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildArg {
    pub name: String,
    pub line: usize,
    /// The image, when written literally (not `${{ … }}`).
    pub image: Option<String>,
    /// `--pr`: only the native Dockerfile is used.
    pub pr: bool,
}

/// The build arguments `cargo xtask docker <image>` calls pass.
pub fn build_args(calls: &[XtaskCall]) -> Vec<BuildArg> {
    let mut out = Vec::new();
    for call in calls {
        let words: Vec<&Word> = call.args.iter().collect();
        if words.first().map(|w| w.text.as_str()) != Some("docker") {
            continue;
        }
        let image = words.get(1).map(|w| w.text.as_str()).filter(|w| !w.starts_with('-'));
        if matches!(image, Some("manifest" | "toolchain" | "stage")) {
            continue;
        }
        let literal = image.filter(|w| !w.contains('$')).map(str::to_owned);
        let pr = call.has_flag("--pr");
        let mut k = 0;
        while k < words.len() {
            let w = &words[k];
            let value = if w.text == "--build-arg" {
                k += 1;
                words.get(k).map(|v| (v.text.clone(), v.line))
            } else {
                w.text.strip_prefix("--build-arg=").map(|v| (v.to_owned(), w.line))
            };
            if let Some((kv, line)) = value {
                let name = kv.split('=').next().unwrap_or("").to_owned();
                if !name.is_empty() {
                    out.push(BuildArg { name, line, image: literal.clone(), pr });
                }
            }
            k += 1;
        }
    }
    out
}

#[cfg(test)]
pub fn build_args_in_yaml(yaml: &str) -> Vec<BuildArg> {
    build_args(&xtask_calls_in_yaml(yaml))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(calls: &[XtaskCall]) -> Vec<(usize, String)> {
        calls.iter().map(|c| (c.line, c.command_path().join(" "))).collect()
    }

    const WF: &str = r#"name: x
on:
  push:
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: cargo xtask ci matrix --pr
      - name: folded
        run: >
          cargo xtask docker ${{ matrix.image }}
          --platform linux/amd64
          --build-arg VERSION=${{ github.sha }}
          --build-arg=OTHER=1
      - id: m
        run: |
          # cargo xtask commented-out
          matrix="$(cargo xtask ci matrix)"
          echo "$matrix" | jq . && cargo xtask doctor --fix
          cargo xtask --manifest-path x/Cargo.toml build \
            --release
          cargo   xtask   docker manifest extproc --tag a
      - run: "cargo xtask lint --only dockerfile"
      - run: 'echo cargo xtask'
      - uses: actions/checkout@v4
        with:
          script: |
            run: cargo xtask not-a-step
      - run: echo hi # cargo xtask nope
      - name: pr
        run: cargo xtask docker extproc --pr --build-arg A=1
"#;

    #[test]
    fn extracts_every_cargo_xtask_with_its_line() {
        let calls = xtask_calls_in_yaml(WF);
        assert_eq!(
            paths(&calls),
            [
                (8, "ci matrix".to_owned()),
                (11, "docker".to_owned()),
                (18, "ci matrix".to_owned()),
                (19, "doctor".to_owned()),
                (20, "build".to_owned()),
                (22, "docker manifest".to_owned()),
                (23, "lint".to_owned()),
                (24, "".to_owned()),
                (31, "docker extproc".to_owned()),
            ]
        );
        // A folded scalar is one command across lines.
        let folded = &calls[1];
        assert_eq!(folded.args.last().unwrap().text, "--build-arg=OTHER=1");
        assert_eq!(folded.args.last().unwrap().line, 14);
        assert_eq!(folded.args[1].text, "${{ matrix.image }}");
        // A literal block ends commands at newlines, except after `\`.
        assert_eq!(calls[2].args.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(), ["ci", "matrix"]);
        assert_eq!(calls[4].args.last().unwrap().text, "--release");
        assert!(calls[0].has_flag("--pr"));
    }

    #[test]
    fn build_args_with_image_and_pr() {
        let args = build_args_in_yaml(WF);
        let got: Vec<(String, usize, Option<String>, bool)> =
            args.into_iter().map(|a| (a.name, a.line, a.image, a.pr)).collect();
        assert_eq!(
            got,
            [
                ("VERSION".to_owned(), 13, None, false),
                ("OTHER".to_owned(), 14, None, false),
                ("A".to_owned(), 31, Some("extproc".to_owned()), true),
            ]
        );
    }

    #[test]
    fn literal_docker_images() {
        let calls = xtask_calls_in_yaml(WF);
        let images: Vec<(usize, &str)> = calls.iter().filter_map(docker_image).collect();
        assert_eq!(images, [(22, "extproc"), (31, "extproc")]);
        let sh = xtask_calls_in_shell("cargo xtask docker --pr extproc\ncargo xtask docker toolchain\n");
        assert_eq!(sh.iter().filter_map(docker_image).collect::<Vec<_>>(), [(1, "extproc")]);
    }

    #[test]
    fn shell_scripts_too() {
        let sh = "#!/usr/bin/env bash\nset -e\ncargo xtask doctor --fix --platform a,b\ncargo xtask test\n";
        assert_eq!(paths(&xtask_calls_in_shell(sh)), [(3, "doctor".to_owned()), (4, "test".to_owned())]);
    }

    #[test]
    fn the_repo_workflow_calls_what_we_expect() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let publish = std::fs::read_to_string(root.join(".github/workflows/docker-publish.yml")).unwrap();
        let waves = std::fs::read_to_string(root.join(".github/workflows/docker-images.yml")).unwrap();
        let tags = std::fs::read_to_string(root.join(".github/workflows/docker-tags.yml")).unwrap();
        let paths = |yaml: &str| {
            let mut p: Vec<String> = xtask_calls_in_yaml(yaml).iter().map(|c| c.command_path().join(" ")).collect();
            p.sort();
            p.dedup();
            p
        };
        assert_eq!(paths(&publish), ["ci build", "ci free-disk", "ci plan", "test"]);
        assert_eq!(paths(&waves), ["ci build", "ci free-disk", "ci smoke", "sbom generator"]);
        assert_eq!(paths(&tags), ["ci latest", "ci manifest"]);
        assert!(build_args_in_yaml(&waves).is_empty(), "`xtask ci build` passes them");
    }

    #[test]
    fn prebuilt_xtask_calls() {
        let sh = "chmod +x \"$RUNNER_TEMP/xtask/xtask\" && echo \"$RUNNER_TEMP/xtask\" >> \"$GITHUB_PATH\"\n\
                  xtask ci build --image \"$IMAGE\"\ntarget/debug/xtask ci plan\nsudo env \"P=$P\" cargo xtask test\n";
        assert_eq!(
            paths(&xtask_calls_in_shell(sh)),
            [(2, "ci build".to_owned()), (3, "ci plan".to_owned()), (4, "test".to_owned())]
        );
    }
}
