//! The programs a `RUN` runs, read from its shell text: the simple commands
//! of a POSIX shell script, as far as a Dockerfile rule needs them.
//!
//! Why not a full shell parser: the Dockerfile rules ask one question, which
//! programs run (`cargo build`, `go vet`, …), and a RUN is a short script. The
//! lexer knows the shell's quoting (`'…'`, `"…"`, `\`), its operators (`&&`,
//! `||`, `;`, `|`, `&`, newlines, subshells, groups), comments, redirections
//! (their targets are not commands), here-documents inside the script (their
//! bodies are not commands), line continuations, and command substitutions
//! (`$(…)` and backticks: their commands run too). Each command is then
//! reduced to the program it runs: leading `VAR=value` assignments, reserved
//! words (`if`, `then`, `do`, `!`, `{`, …) and wrappers (`env`, `time`,
//! `nice`, `nohup`, `exec`, `timeout`, `sudo`, `xargs`, `command`) are
//! skipped, and `sh -c SCRIPT` (any shell, `-ec`, …) is replaced by the
//! commands of SCRIPT. `command -v X` and `for`/`case` headers run nothing.
//!
//! What it does not do: expand variables, aliases or functions, or follow a
//! script file (`bash build.sh` is the program `bash`).

/// The commands of `script`, each reduced to the program it runs and its
/// arguments (quotes removed), in order; substitutions after their command.
pub fn commands(script: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for words in Lexer::new(script).run() {
        expand(&words, &mut out, 0);
    }
    out
}

/// The commands an argv runs (no shell reads it: the exec form of `RUN`):
/// itself reduced to its program, or the script of `sh -c SCRIPT`.
pub fn argv_commands(argv: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    expand(argv, &mut out, 0);
    out
}

/// The shells whose `-c` argument is a script.
pub const SHELLS: &[&str] = &["sh", "bash", "dash", "ash", "zsh", "ksh"];

/// The last path component of a program (`/usr/bin/cargo` → `cargo`).
pub fn program(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

fn expand(words: &[String], out: &mut Vec<Vec<String>>, depth: usize) {
    let Some(cmd) = effective(words) else { return };
    if let Some(script) = shell_c(cmd) {
        if depth < 8 {
            for inner in Lexer::new(script).run() {
                expand(&inner, out, depth + 1);
            }
        }
        return;
    }
    out.push(cmd.to_vec());
}

/// `sh -c SCRIPT …` (also `-ec`, `-x -c`, `-o pipefail -c`): SCRIPT.
fn shell_c(cmd: &[String]) -> Option<&str> {
    if !SHELLS.contains(&program(&cmd[0])) {
        return None;
    }
    let mut c = false;
    let mut i = 1;
    while i < cmd.len() {
        let w = cmd[i].as_str();
        if w == "-o" || w == "+o" {
            i += 2;
            continue;
        }
        if let Some(opts) = w.strip_prefix('-').filter(|o| !o.is_empty() && !o.starts_with('-')) {
            c |= opts.contains('c');
        } else if !(w.starts_with('+') || w.starts_with("--")) {
            return c.then_some(w);
        }
        i += 1;
    }
    None
}

fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// The program and arguments a command runs; `None` when it runs none.
fn effective(words: &[String]) -> Option<&[String]> {
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        match w {
            "if" | "then" | "else" | "elif" | "fi" | "do" | "done" | "while" | "until" | "!" | "{" | "}" | "time"
            | "exec" | "nohup" | "esac" => i += 1,
            // The words of a `for`/`case`/`select` header are not run.
            "for" | "case" | "select" | "in" => return None,
            _ if is_assignment(w) => i += 1,
            "env" => {
                i += 1;
                while i < words.len() {
                    let a = words[i].as_str();
                    if a == "-u" || a == "--unset" || a == "-C" || a == "--chdir" || a == "-S" {
                        i += 2;
                    } else if a.starts_with('-') || is_assignment(a) {
                        i += 1;
                    } else {
                        break;
                    }
                }
            }
            "nice" | "timeout" | "sudo" | "xargs" | "stdbuf" | "ionice" | "chrt" | "taskset" => {
                // Options (with a value for the ones that take one), then for
                // `timeout` the duration, then the command.
                let with_value: &[&str] = match w {
                    "nice" => &["-n"],
                    "timeout" => &["-k", "-s", "--kill-after", "--signal"],
                    "sudo" => &["-u", "-g", "-C", "-D", "-h", "-p", "-U", "-r", "-t"],
                    "xargs" => &["-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s"],
                    "ionice" => &["-c", "-n", "-p"],
                    _ => &[],
                };
                i += 1;
                while i < words.len() && words[i].starts_with('-') {
                    i += if with_value.contains(&words[i].as_str()) { 2 } else { 1 };
                }
                if matches!(w, "timeout" | "chrt" | "taskset") {
                    i += 1;
                }
            }
            "command" | "builtin" => {
                if words.get(i + 1).is_some_and(|a| a == "-v" || a == "-V") {
                    return None;
                }
                i += 1;
                while i < words.len() && words[i].starts_with('-') {
                    i += 1;
                }
            }
            _ => return Some(&words[i..]),
        }
    }
    None
}

/// Splits a script into simple commands (their words, quotes removed).
struct Lexer {
    chars: Vec<char>,
    pos: usize,
    /// Commands found in substitutions, run before the command using them.
    subs: Vec<Vec<String>>,
    /// Here-document delimiters whose bodies start at the next newline.
    heredocs: Vec<(String, bool)>,
}

impl Lexer {
    fn new(text: &str) -> Lexer {
        Lexer { chars: text.chars().collect(), pos: 0, subs: Vec::new(), heredocs: Vec::new() }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn run(mut self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let mut cur: Vec<String> = Vec::new();
        let end = |cur: &mut Vec<String>, out: &mut Vec<Vec<String>>, subs: &mut Vec<Vec<String>>| {
            if !cur.is_empty() {
                out.push(std::mem::take(cur));
            }
            out.append(subs);
        };
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' => self.pos += 1,
                '\\' if self.peek(1) == Some('\n') => self.pos += 2,
                '\n' => {
                    self.pos += 1;
                    end(&mut cur, &mut out, &mut self.subs);
                    self.skip_heredoc_bodies();
                }
                ';' | '&' | '|' | '(' | ')' => {
                    if c == '&' && self.peek(1) == Some('>') {
                        self.pos += 1;
                        self.redirection();
                        continue;
                    }
                    self.pos += 1;
                    end(&mut cur, &mut out, &mut self.subs);
                }
                '<' | '>' => self.redirection(),
                '#' => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                _ => {
                    let word = self.word();
                    // `2>file`: an fd number glued to a redirection is part of it.
                    if matches!(self.peek(0), Some('<' | '>')) && word.chars().all(|c| c.is_ascii_digit()) {
                        self.redirection();
                    } else {
                        cur.push(word);
                    }
                }
            }
        }
        end(&mut cur, &mut out, &mut self.subs);
        out
    }

    /// One word up to a blank or an operator, quotes removed.
    fn word(&mut self) -> String {
        let mut w = String::new();
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>' => break,
                '\\' => {
                    if let Some(n) = self.peek(1) {
                        if n != '\n' {
                            w.push(n);
                        }
                    }
                    self.pos += 2;
                }
                '\'' => {
                    self.pos += 1;
                    while let Some(c) = self.peek(0) {
                        self.pos += 1;
                        if c == '\'' {
                            break;
                        }
                        w.push(c);
                    }
                }
                '"' => {
                    self.pos += 1;
                    while let Some(c) = self.peek(0) {
                        match c {
                            '"' => {
                                self.pos += 1;
                                break;
                            }
                            '\\' if matches!(self.peek(1), Some('"' | '\\' | '$' | '`' | '\n')) => {
                                if self.peek(1) != Some('\n') {
                                    w.push(self.peek(1).unwrap());
                                }
                                self.pos += 2;
                            }
                            '$' if self.peek(1) == Some('(') => w.push_str(&self.substitution()),
                            '`' => w.push_str(&self.backticks()),
                            _ => {
                                w.push(c);
                                self.pos += 1;
                            }
                        }
                    }
                }
                '$' if self.peek(1) == Some('(') => w.push_str(&self.substitution()),
                '`' => w.push_str(&self.backticks()),
                _ => {
                    w.push(c);
                    self.pos += 1;
                }
            }
        }
        w
    }

    /// `$(…)` at `pos`: its commands go to `subs`; the raw text is returned.
    fn substitution(&mut self) -> String {
        let start = self.pos;
        self.pos += 2;
        let inner_start = self.pos;
        let mut depth = 1;
        while let Some(c) = self.peek(0) {
            match c {
                '\\' => self.pos += 1,
                '\'' => {
                    self.pos += 1;
                    while self.peek(0).is_some_and(|c| c != '\'') {
                        self.pos += 1;
                    }
                }
                '"' => {
                    self.pos += 1;
                    while let Some(c) = self.peek(0) {
                        if c == '\\' {
                            self.pos += 1;
                        } else if c == '"' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        let inner: String = self.chars[inner_start..self.pos.min(self.chars.len())].iter().collect();
        self.pos = (self.pos + 1).min(self.chars.len());
        self.subs.extend(Lexer::new(&inner).run());
        self.chars[start..self.pos].iter().collect()
    }

    /// `` `…` `` at `pos`, like [`Lexer::substitution`].
    fn backticks(&mut self) -> String {
        let start = self.pos;
        self.pos += 1;
        let mut inner = String::new();
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            match c {
                '`' => break,
                '\\' => {
                    if let Some(n) = self.peek(0) {
                        inner.push(n);
                        self.pos += 1;
                    }
                }
                _ => inner.push(c),
            }
        }
        self.subs.extend(Lexer::new(&inner).run());
        self.chars[start..self.pos].iter().collect()
    }

    /// A redirection operator at `pos` and its target word (not a command).
    fn redirection(&mut self) {
        let op = self.peek(0);
        self.pos += 1;
        let mut heredoc = None;
        match (op, self.peek(0)) {
            (Some('<'), Some('<')) => {
                self.pos += 1;
                if self.peek(0) == Some('<') {
                    self.pos += 1; // `<<<` here-string
                } else if self.peek(0) == Some('-') {
                    self.pos += 1;
                    heredoc = Some(true);
                } else {
                    heredoc = Some(false);
                }
            }
            (_, Some('>' | '&' | '|')) => self.pos += 1,
            _ => {}
        }
        while matches!(self.peek(0), Some(' ' | '\t')) {
            self.pos += 1;
        }
        let target = self.word();
        if let Some(strip_tabs) = heredoc {
            self.heredocs.push((target, strip_tabs));
        }
    }

    /// After a newline: the bodies of pending here-documents.
    fn skip_heredoc_bodies(&mut self) {
        for (word, strip_tabs) in std::mem::take(&mut self.heredocs) {
            while self.pos < self.chars.len() {
                let end =
                    self.chars[self.pos..].iter().position(|&c| c == '\n').map_or(self.chars.len(), |n| self.pos + n);
                let line: String = self.chars[self.pos..end].iter().collect();
                self.pos = (end + 1).min(self.chars.len());
                let line = if strip_tabs { line.trim_start_matches('\t') } else { line.as_str() };
                if line == word {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(script: &str) -> Vec<String> {
        commands(script).iter().map(|c| c.join(" ")).collect()
    }

    #[test]
    fn operators_split_commands() {
        assert_eq!(
            cmds("a 1 && b 2||c;d & e | f\ng (h; i) { j; }"),
            ["a 1", "b 2", "c", "d", "e", "f", "g", "h", "i", "j"]
        );
        assert_eq!(cmds("a&&b"), ["a", "b"]);
    }

    #[test]
    fn quotes_escapes_and_continuations() {
        assert_eq!(cmds("echo 'a && b' \"c;d\" e\\ f"), ["echo a && b c;d e f"]);
        assert_eq!(cmds("cargo \\\n  build"), ["cargo build"]);
        assert_eq!(cmds("echo \"x\\\"y\""), ["echo x\"y"]);
    }

    #[test]
    fn redirections_are_not_words() {
        assert_eq!(cmds("command -v cargo >/dev/null || { apt-get update; }"), ["apt-get update"]);
        assert_eq!(cmds("make 2>&1 > log && go build &> out"), ["make", "go build"]);
        assert_eq!(cmds("cat < in >> out"), ["cat"]);
    }

    #[test]
    fn comments_and_heredocs_in_scripts() {
        assert_eq!(cmds("a # cargo build\nb"), ["a", "b"]);
        assert_eq!(cmds("cat <<EOF > f\ncargo build\nEOF\nnext"), ["cat", "next"]);
        assert_eq!(cmds("cat <<-'EOF'\n\tcargo build\n\tEOF\nnext"), ["cat", "next"]);
        assert_eq!(cmds("grep x <<< 'cargo build'"), ["grep x"]);
    }

    #[test]
    fn substitutions_run_too() {
        assert_eq!(cmds("host=\"$(rustc -vV | sed -n 's/^host: //p')\""), ["rustc -vV", "sed -n s/^host: //p"]);
        assert_eq!(cmds("echo `go env GOARCH` x"), ["echo `go env GOARCH` x", "go env GOARCH"]);
    }

    #[test]
    fn wrappers_assignments_and_reserved_words() {
        assert_eq!(cmds("CC=x RUSTFLAGS='-C a' cargo build"), ["cargo build"]);
        assert_eq!(cmds("env -u A B=1 nice -n 5 timeout 10m cargo test"), ["cargo test"]);
        assert_eq!(cmds("if true; then exec go vet ./...; fi"), ["true", "go vet ./..."]);
        assert_eq!(cmds("for p in cargo go; do echo $p; done"), ["echo $p"]);
        assert_eq!(cmds("! sudo -u me make"), ["make"]);
        assert_eq!(cmds("find . | xargs -n 1 gcc -c"), ["find .", "gcc -c"]);
        assert_eq!(cmds("command -v go"), Vec::<String>::new());
        assert_eq!(cmds("command go build"), ["go build"]);
    }

    #[test]
    fn shell_c_is_its_script() {
        assert_eq!(cmds("bash -o pipefail -ec 'cargo build && echo ok'"), ["cargo build", "echo ok"]);
        assert_eq!(cmds("/bin/sh -c \"sh -c 'go test'\""), ["go test"]);
        assert_eq!(cmds("bash build.sh"), ["bash build.sh"]);
        assert_eq!(program("/usr/local/cargo/bin/cargo"), "cargo");
    }

    #[test]
    fn unterminated_input_ends_without_panic() {
        for s in ["echo 'a", "echo \"a", "x $(a", "x `a", "a \\", "cat <<EOF\nx", "a >", "a <<", "2>"] {
            let _ = commands(s);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_lexes(s in "[a-z $()`'\"\\;&|<>#\n-]{0,40}") {
            let _ = commands(&s);
        }
    }
}
