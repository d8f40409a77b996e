//! The e2e prepared in the background. When `cargo xtask test` will run
//! the e2e after other suites, it starts `xtask e2e --prepare-only --hold
//! STATUS` first ([`Background::spawn`]): the child starts the engine and
//! the registry, makes the base images, the builder and the static xtask
//! (downloads and disk, mostly, beside the suites' compiles), writes `ok`
//! or its error to STATUS ([`hold`]) and waits until its standard input
//! closes. The e2e suite waits for STATUS ([`Background::ready`]) and then
//! finds each of those ready; at the end of the test run the parent closes
//! the child's standard input ([`Background::finish`]) and the child stops
//! what it started.
//!
//! Invariants: the services belong to the process that started them (the
//! child), and stop when the test run ends however it ends (the child's
//! standard input closes with its parent); a STATUS file is never read
//! half-written (written aside, then renamed), nor left from another run
//! (removed before the child starts).

use std::{
    fs,
    io::ErrorKind,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{ctx::Ctx, metrics::human, platform::Platform};

/// In the child: say how the preparation went, then (if it succeeded) wait
/// until standard input closes.
pub fn hold(status: &Path, res: &Result<()>) {
    let text = match res {
        Ok(()) => "ok\n".to_owned(),
        Err(e) => format!("failed: {e:#}\n"),
    };
    if let Err(e) = crate::fsutil::write_file(status, text.as_bytes(), 0o644) {
        eprintln!("e2e: {e:#}");
        return;
    }
    if res.is_ok() {
        eprintln!("e2e: prepared; holding until standard input closes");
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        eprintln!("e2e: standard input closed");
    }
}

/// The child preparing the e2e, seen from `cargo xtask test`.
pub struct Background {
    child: Child,
    stdin: Option<ChildStdin>,
    status: PathBuf,
    log: PathBuf,
    started: Instant,
    /// The outcome, once [`Background::ready`] has read it.
    outcome: Option<std::result::Result<(), String>>,
}

impl Background {
    /// Start the child for `platforms`, its output in the e2e's work
    /// directory (`prepare.log`).
    pub fn spawn(ctx: &Ctx, platforms: &[Platform]) -> Result<Background> {
        let work = ctx.layout().e2e();
        fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
        let status = work.join("prepare.status");
        let log = work.join("prepare.log");
        match fs::remove_file(&status) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                bail!("cannot remove the last run's {}: {e}", status.display())
            }
            _ => {}
        }
        let out = fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let exe = std::env::current_exe().context("cannot find the running xtask")?;
        // std::process, not duct: the child's standard input is a pipe this
        // process holds open until the test run ends (duct gives a child a
        // whole input or a file).
        let mut child = Command::new(&exe)
            .args(argv(&status, platforms))
            .current_dir(&ctx.workspace()?.root)
            .stdin(Stdio::piped())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {} e2e --prepare-only", exe.display()))?;
        eprintln!(
            "e2e: preparing in the background (engine, registry, base images, builder, static xtask): {}",
            log.display()
        );
        Ok(Background { stdin: child.stdin.take(), child, status, log, started: Instant::now(), outcome: None })
    }

    /// Wait until the child has prepared the e2e; its error if it failed.
    pub fn ready(&mut self) -> Result<()> {
        if self.outcome.is_none() {
            let waited = Instant::now();
            let outcome = self.wait_status();
            match &outcome {
                Ok(()) => eprintln!(
                    "e2e: prepared in the background in {} (waited {}), log {}:\n{}",
                    human(self.started.elapsed()),
                    human(waited.elapsed()),
                    self.log.display(),
                    last_table(&fs::read_to_string(&self.log).unwrap_or_default())
                ),
                Err(e) => eprintln!("e2e: the background preparation failed: {e}"),
            }
            self.outcome = Some(outcome);
        }
        match &self.outcome {
            Some(Err(e)) => bail!("the e2e's preparation failed (log: {}): {e}", self.log.display()),
            _ => Ok(()),
        }
    }

    fn wait_status(&mut self) -> std::result::Result<(), String> {
        loop {
            let exited = self.child.try_wait().map_err(|e| format!("cannot wait for the child: {e}"))?;
            // Read after the exit check: a child that wrote its status and
            // then exited is read, not taken for one that wrote nothing.
            if let Ok(text) = fs::read_to_string(&self.status) {
                return read_status(&text);
            }
            if let Some(code) = exited {
                return Err(format!("it exited ({code}) before it was prepared"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Close the child's standard input, so that it stops what it started,
    /// and wait for it (at most two minutes: each service has 30 s to stop).
    pub fn finish(mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("e2e: the background preparation did not stop in time; killing it (log: {})", self.log.display());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's arguments.
fn argv(status: &Path, platforms: &[Platform]) -> Vec<std::ffi::OsString> {
    let list: Vec<&str> = platforms.iter().map(|p| p.docker()).collect();
    let mut out: Vec<std::ffi::OsString> = ["e2e", "--prepare-only", "--hold"].iter().map(Into::into).collect();
    out.push(status.into());
    if !list.is_empty() {
        out.extend(["--platform".into(), list.join(",").into()]);
    }
    out
}

/// `ok`, or the error after `failed: `.
fn read_status(text: &str) -> std::result::Result<(), String> {
    match text.trim() {
        "ok" => Ok(()),
        other => Err(other.strip_prefix("failed: ").unwrap_or(other).to_owned()),
    }
}

/// The last step table in a log (from its `step` header to the first blank
/// line), or nothing.
fn last_table(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let Some(start) = lines.iter().rposition(|l| l.starts_with("step ") && l.trim_end().ends_with("result")) else {
        return String::new();
    };
    lines[start..].iter().take_while(|l| !l.trim().is_empty()).copied().collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_is_the_e2e_preparing_only() {
        let got = argv(Path::new("/w/prepare.status"), &[Platform::AMD64, Platform::ARM64]);
        let want = ["e2e", "--prepare-only", "--hold", "/w/prepare.status", "--platform", "linux/amd64,linux/arm64"];
        assert_eq!(got, want.map(std::ffi::OsString::from));
        assert_eq!(argv(Path::new("s"), &[]).len(), 4);
    }

    #[test]
    fn status_and_table_are_read() {
        assert_eq!(read_status("ok\n"), Ok(()));
        assert_eq!(read_status("failed: no engine\n  cause\n"), Err("no engine\n  cause".to_owned()));
        assert_eq!(read_status(""), Err(String::new()));
        let log = "==> a\nstep  time  result\nold  1s  ok\n\nstep     time  result\na        2s  ok\nb        1s  ok\n\nmetrics: m\n";
        assert_eq!(last_table(log), "step     time  result\na        2s  ok\nb        1s  ok");
        assert_eq!(last_table("no table\n"), "");
    }

    /// The protocol end to end, with a shell standing in for the child:
    /// the status is read once written, and closing standard input ends it.
    #[test]
    fn a_status_written_then_held_is_ready_and_finish_ends_it() {
        let dir = std::env::temp_dir().join(format!("xtask-prepare-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let status = dir.join("prepare.status");
        let script = format!("sleep 0.3; echo ok > {0}.w && mv {0}.w {0}; cat > /dev/null", status.display());
        let mut child = Command::new("sh").args(["-c", &script]).stdin(Stdio::piped()).spawn().unwrap();
        let mut bg = Background {
            stdin: child.stdin.take(),
            child,
            status: status.clone(),
            log: dir.join("none.log"),
            started: Instant::now(),
            outcome: None,
        };
        bg.ready().unwrap();
        bg.ready().unwrap();
        let t = Instant::now();
        bg.finish();
        assert!(t.elapsed() < Duration::from_secs(10));

        let mut child = Command::new("sh").args(["-c", "exit 3"]).stdin(Stdio::piped()).spawn().unwrap();
        fs::remove_file(&status).unwrap();
        let mut bg = Background {
            stdin: child.stdin.take(),
            child,
            status,
            log: dir.join("none.log"),
            started: Instant::now(),
            outcome: None,
        };
        let e = format!("{:#}", bg.ready().unwrap_err());
        assert!(e.contains("exited (exit status: 3) before it was prepared"), "{e}");
        bg.finish();
        fs::remove_dir_all(&dir).unwrap();
    }
}
