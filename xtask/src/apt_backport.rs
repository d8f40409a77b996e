//! `cargo xtask apt-backport --suite S PKG…`: install a few packages of a
//! newer Debian release on this one, without switching the machine to it.
//!
//! Why: Debian 12 has no buildx, and its Docker 20.10 has no containerd
//! image store, so the docker driver can export neither a cache nor
//! attestations. Debian 13's `docker.io`/`docker-cli` 26.1.5 and
//! `docker-buildx` 0.13.1 need only libc6 >= 2.34 and Debian 12's own
//! containerd, runc and tini. `doctor --fix` (through `install::backport`)
//! installs those dependencies from Debian 12, then runs this step.
//!
//! How: apt reads a sources list of its own (the machine's Debian mirror,
//! suite S, the archive keyring) into lists of its own under
//! `/var/lib/xtask/apt-<suite>/`; `apt-get download` fetches exactly the
//! named packages (no dependency of S is ever resolved or installed), each
//! into a directory of its own, and `dpkg --install --recursive` installs
//! them one by one in the given order (Debian 13's docker-cli `Breaks` the
//! docker.io it takes `/usr/bin/docker` from, so docker.io goes first). The
//! machine's `/etc/apt` is never written.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::flags;

/// Where the step keeps its sources list, lists and downloads.
pub const STATE_DIR: &str = "/var/lib/xtask";

/// The keyring Debian's own sources are signed with (it holds the keys of
/// the next release too).
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// One command of the plan, with the directory it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub dir: Option<PathBuf>,
    pub argv: Vec<String>,
    /// The package a download fetches (named in its error).
    pub download: Option<String>,
}

/// The plan: its sources list (path and text) and its commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub sources: (PathBuf, String),
    pub steps: Vec<Step>,
}

/// The plan for `packages` of `suite` from `mirror`, kept under `state`. Pure.
pub fn plan(suite: &str, mirror: &str, state: &Path, packages: &[String]) -> Plan {
    let root = state.join(format!("apt-{suite}"));
    let list = root.join("sources.list");
    let text = format!("deb [signed-by={KEYRING}] {mirror} {suite} main\n");
    let apt = |verb: &str, more: &[String]| {
        let mut argv: Vec<String> = vec![
            "apt-get".into(),
            "-q".into(),
            "-o".into(),
            format!("Dir::Etc::sourcelist={}", list.display()),
            "-o".into(),
            // An empty directory: none of the machine's own sources.
            format!("Dir::Etc::sourceparts={}", root.join("sources.list.d").display()),
            "-o".into(),
            format!("Dir::State::Lists={}", root.join("lists").display()),
            verb.into(),
        ];
        argv.extend(more.iter().cloned());
        argv
    };
    let mut steps = vec![Step { dir: None, argv: apt("update", &[]), download: None }];
    for (i, pkg) in packages.iter().enumerate() {
        let dir = root.join("debs").join(format!("{}-{pkg}", i + 1));
        steps.push(Step {
            dir: Some(dir.clone()),
            argv: apt("download", std::slice::from_ref(pkg)),
            download: Some(pkg.clone()),
        });
        steps.push(Step {
            dir: None,
            argv: vec!["dpkg".into(), "--install".into(), "--recursive".into(), dir.display().to_string()],
            download: None,
        });
    }
    Plan { sources: (list, text), steps }
}

impl flags::AptBackport {
    pub fn run(self) -> Result<()> {
        if !self.dry_run && !crate::sys::is_root() {
            bail!("installing packages needs root: run `cargo xtask apt-backport` as root (or `sudo`)");
        }
        if !self.dry_run && !crate::sys::tool_exists("apt-get") {
            bail!("apt-get is not here: apt-backport is for Debian; install {} by hand", self.packages.join(", "));
        }
        let (mirror, _) = crate::install::apt_mirrors();
        let plan = plan(&self.suite, &mirror, Path::new(STATE_DIR), &self.packages);
        let (list, text) = &plan.sources;
        eprintln!("apt-backport: {} ({}) from {mirror} {}", self.packages.join(", "), list.display(), self.suite);
        if !self.dry_run {
            let root = list.parent().expect("the list is in a directory");
            for d in [root.join("sources.list.d"), root.join("lists/partial")] {
                std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
            }
            std::fs::write(list, text).with_context(|| format!("cannot write {}", list.display()))?;
        }
        let sh = xshell::Shell::new()?;
        for step in &plan.steps {
            let line = crate::sys::shell_line(&step.argv);
            match &step.dir {
                Some(d) => eprintln!("$ (cd {} && {line})", crate::sys::quote(&d.display().to_string())),
                None => eprintln!("$ {line}"),
            }
            if self.dry_run {
                continue;
            }
            if let Some(d) = &step.dir {
                // A fresh directory: exactly one package in it for dpkg.
                if d.exists() {
                    std::fs::remove_dir_all(d).with_context(|| format!("cannot clear {}", d.display()))?;
                }
                std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            }
            let _dir = step.dir.as_ref().map(|d| sh.push_dir(d));
            let (prog, args) = step.argv.split_first().expect("a command");
            xshell::cmd!(sh, "{prog} {args...}")
                .quiet() // echoed above, once
                .envs(crate::fsutil::ca_env())
                .env("DEBIAN_FRONTEND", "noninteractive")
                .run()
                .with_context(|| match &step.download {
                    Some(pkg) => {
                        format!("`apt-get download {pkg}` from {} failed: is {pkg} in {}?", self.suite, self.suite)
                    }
                    None => format!("`{line}` failed"),
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_plan_uses_its_own_sources_and_installs_in_order() {
        let p = plan("trixie", "http://m.example/debian", Path::new("/v"), &s(&["docker.io", "docker-buildx"]));
        assert_eq!(p.sources.0, Path::new("/v/apt-trixie/sources.list"));
        assert_eq!(
            p.sources.1,
            "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://m.example/debian trixie main\n"
        );
        let own = s(&[
            "apt-get",
            "-q",
            "-o",
            "Dir::Etc::sourcelist=/v/apt-trixie/sources.list",
            "-o",
            "Dir::Etc::sourceparts=/v/apt-trixie/sources.list.d",
            "-o",
            "Dir::State::Lists=/v/apt-trixie/lists",
        ]);
        let with = |more: &[&str]| [own.clone(), s(more)].concat();
        let dl = |n: &str, pkg: &str| Step {
            dir: Some(format!("/v/apt-trixie/debs/{n}-{pkg}").into()),
            argv: with(&["download", pkg]),
            download: Some(pkg.into()),
        };
        let dpkg = |n: &str, pkg: &str| Step {
            dir: None,
            argv: s(&["dpkg", "--install", "--recursive", &format!("/v/apt-trixie/debs/{n}-{pkg}")]),
            download: None,
        };
        assert_eq!(
            p.steps,
            [
                Step { dir: None, argv: with(&["update"]), download: None },
                dl("1", "docker.io"),
                dpkg("1", "docker.io"),
                dl("2", "docker-buildx"),
                dpkg("2", "docker-buildx"),
            ]
        );
    }
}
