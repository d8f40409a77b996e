//! The machine xtask runs on, as leaf helpers every layer may use: tool
//! lookup, the root check, environment reads and shell quoting. Nothing here
//! knows about platforms, packages or commands.

use std::path::PathBuf;

/// A non-empty variable of the process environment (an empty one counts as
/// unset, as for most tools: `CC= make`).
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Where `tool` resolves to: a name on `PATH`, or a path to an executable.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    which::which(tool).ok()
}

/// Whether `tool` resolves to an executable (a name on `PATH`, or a path).
pub fn tool_exists(tool: &str) -> bool {
    find_tool(tool).is_some()
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").ok().is_some_and(|status| euid_is_root(&status))
}

/// The `Uid:` line of `/proc/self/status` is `real effective saved fs`.
fn euid_is_root(status: &str) -> bool {
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().nth(1)) == Some("0")
}

/// POSIX shell quoting, only when needed: single quotes, `'\''` for a quote.
/// A value with control characters (newline, ESC, …) is written `$'…'` with
/// them escaped (bash, zsh, ksh, POSIX.1-2024 sh): a printed command never
/// spans lines or sends terminal escapes.
pub fn quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else if s.chars().any(char::is_control) {
        let mut out = String::from("$'");
        for c in s.chars() {
            match c {
                '\'' => out.push_str("\\'"),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('\'');
        out
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// An argv as one shell line, each word quoted where needed (for printing).
pub fn shell_line<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter().map(|a| quote(a.as_ref())).collect::<Vec<_>>().join(" ")
}

/// Whether this is a CI run (`CI=true`, as GitHub Actions and `.ci/run` set
/// it): then a check or suite that could not run is a failure, not a skip.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Append `k=v` lines to `$GITHUB_OUTPUT`, when set (one line each: every
/// value is compact JSON or a word).
pub fn github_output(outputs: &[(String, String)]) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let Some(out) = std::env::var_os("GITHUB_OUTPUT") else { return Ok(()) };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&out)
        .with_context(|| format!("cannot open GITHUB_OUTPUT {}", std::path::Path::new(&out).display()))?;
    for (k, v) in outputs {
        debug_assert!(!v.contains('\n'));
        writeln!(f, "{k}={v}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("plain-arg_1.0:x/y,z=@%+"), "plain-arg_1.0:x/y,z=@%+");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("a;b"), "'a;b'");
        assert_eq!(quote("$X"), "'$X'");
        assert_eq!(shell_line(&["apt-get", "install", "a b"]), "apt-get install 'a b'");
    }

    #[test]
    fn root_is_the_effective_uid() {
        assert!(euid_is_root("Name:\tx\nUid:\t1000\t0\t0\t0\n"));
        assert!(!euid_is_root("Uid:\t0\t1000\t1000\t1000\n"));
        assert!(!euid_is_root("Name:\tx\n"));
    }

    #[test]
    fn tools_and_env() {
        assert!(tool_exists("sh"));
        assert!(!tool_exists("xtask-no-such-tool"));
        assert_eq!(env_var("XTASK_SURELY_UNSET_VARIABLE"), None);
    }
}
