//! What the e2e test needs around the build: a Docker engine,
//! Debian base images and a registry. Each is reused when present; what this
//! run starts it also stops (by its own process id).
//!
//! Processes: the engine and the registry are duct children (they outlive
//! the step that starts them and must be stopped); the one-shot commands
//! (debootstrap, tar, docker build) run with xshell.

use std::{
    fs,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use super::{http, SUITE};
use crate::{docker::engine::Docker, platform::Platform};

/// Processes this run started.
#[derive(Default)]
pub struct Started {
    children: Vec<(String, duct::Handle)>,
}

impl Started {
    /// Start `what` in the background, its output appended to `log`.
    fn spawn(&mut self, what: &str, cmd: duct::Expression, log: &Path) -> Result<()> {
        let file = fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let handle = cmd
            .stdin_null()
            .stdout_file(file.try_clone()?)
            .stderr_file(file)
            .unchecked()
            .start()
            .with_context(|| format!("cannot start {what}"))?;
        self.children.push((what.to_owned(), handle));
        Ok(())
    }

    /// SIGTERM each child we started, newest first, and wait for it (30 s,
    /// then SIGKILL): dockerd shuts its containers down on SIGTERM.
    pub fn stop(&mut self) {
        while let Some((what, child)) = self.children.pop() {
            for pid in child.pids() {
                eprintln!("e2e: stopping {what} (pid {pid})");
                let _ = duct::cmd!("kill", "-TERM", pid.to_string()).unchecked().run();
            }
            if !matches!(child.wait_timeout(Duration::from_secs(30)), Ok(Some(_))) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A docker CLI that can build here, and an engine that answers (started if needed).
pub fn engine(flag: Option<&str>, work: &Path, started: &mut Started) -> Result<Docker> {
    let candidates = crate::docker::engine::candidates(flag);
    let mut tried = Vec::new();
    let docker = candidates
        .iter()
        .filter_map(|c| Docker::find(c).ok())
        .find(|d| {
            let ok = d.buildx_mode(crate::docker::engine::BuildxMode::Auto).is_ok();
            tried.push(format!("{} ({})", d.name, d.client_version().unwrap_or_default()));
            ok
        })
        .with_context(|| {
            format!(
                "no docker CLI that can build with BuildKit (tried: {}); install buildx or docker.io",
                if tried.is_empty() { candidates.join(", ") } else { tried.join(", ") }
            )
        })?;
    if docker.check_engine().is_ok() {
        return Ok(docker);
    }
    if std::env::var_os("DOCKER_HOST").is_some() {
        docker.check_engine()?; // says which DOCKER_HOST does not answer
    }
    let dockerd = which::which("dockerd")
        .context("the Docker engine is not running and dockerd is not installed (apt-get install docker.io)")?;
    eprintln!("e2e: starting dockerd --bridge=none --iptables=false (log: {})", work.join("dockerd.log").display());
    started.spawn("dockerd", duct::cmd!(dockerd, "--bridge=none", "--iptables=false"), &work.join("dockerd.log"))?;
    let start = Instant::now();
    loop {
        match docker.check_engine() {
            Ok(v) => {
                eprintln!("e2e: dockerd {v} answers after {:.1}s", start.elapsed().as_secs_f64());
                return Ok(docker);
            }
            Err(e) if start.elapsed() > Duration::from_secs(60) => {
                return Err(e.context(format!(
                    "dockerd did not answer within 60s (see {})",
                    work.join("dockerd.log").display()
                )))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// The Debian mirrors apt uses here: (main archive, security archive).
pub fn apt_mirrors() -> (String, String) {
    let mut texts = Vec::new();
    if let Ok(t) = fs::read_to_string("/etc/apt/sources.list") {
        texts.push(t);
    }
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext == "sources" || ext == "list" {
                texts.push(fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    mirrors_from(&texts.join("\n"))
}

/// Pure part of [`apt_mirrors`]: URIs ending in `/debian` and `/debian-security`.
pub fn mirrors_from(text: &str) -> (String, String) {
    let mut main = None;
    let mut security = None;
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        for word in line.split_whitespace() {
            if !(word.starts_with("http://") || word.starts_with("https://")) {
                continue;
            }
            let w = word.trim_end_matches('/');
            if w.ends_with("/debian-security") {
                security.get_or_insert_with(|| w.to_owned());
            } else if w.ends_with("/debian") {
                main.get_or_insert_with(|| w.to_owned());
            }
        }
    }
    (
        main.unwrap_or_else(|| "http://deb.debian.org/debian".into()),
        security.unwrap_or_else(|| "http://deb.debian.org/debian-security".into()),
    )
}

/// Make `tag` from a minbase debootstrap of Debian for `p`, unless it exists.
pub fn base_image(docker: &Docker, p: Platform, tag: &str, work: &Path) -> Result<()> {
    if docker.inspect("{{.Id}}", tag).is_ok() {
        eprintln!("e2e: {tag} exists (cached)");
        return Ok(());
    }
    which::which("debootstrap").context("debootstrap is not installed (apt-get install debootstrap)")?;
    let (main, security) = apt_mirrors();
    let arch = p.debian_arch();
    let rootfs = work.join(format!("rootfs-{arch}"));
    let ctxdir = work.join(format!("base-{arch}"));
    for d in [&rootfs, &ctxdir] {
        if d.exists() {
            fs::remove_dir_all(d)?;
        }
    }
    fs::create_dir_all(&ctxdir)?;
    eprintln!("e2e: debootstrap --variant=minbase --arch={arch} {SUITE} from {main}");
    let sh = Shell::new()?;
    cmd!(sh, "debootstrap --variant=minbase --arch={arch} {SUITE} {rootfs} {main}")
        .quiet()
        .run()
        .with_context(|| format!("debootstrap for {arch} failed"))?;
    fs::write(
        rootfs.join("etc/apt/sources.list"),
        format!("deb {main} {SUITE} main\ndeb {main} {SUITE}-updates main\ndeb {security} {SUITE}-security main\n"),
    )?;
    for sub in ["var/lib/apt/lists", "var/cache/apt/archives"] {
        let d = rootfs.join(sub);
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_file() {
                fs::remove_file(e.path()).ok();
            }
        }
    }
    let tar = ctxdir.join("rootfs.tar");
    cmd!(sh, "tar -C {rootfs} -cf {tar} .")
        .quiet()
        .run()
        .with_context(|| format!("tar of {} failed", rootfs.display()))?;
    fs::write(ctxdir.join("Dockerfile"), "FROM scratch\nADD rootfs.tar /\nCMD [\"bash\"]\n")?;
    let (docker_path, platform) = (&docker.path, p.docker());
    let build: &[&str] = if docker.has_buildx() { &["buildx", "build", "--load"] } else { &["build"] };
    cmd!(sh, "{docker_path} {build...} --platform {platform} --tag {tag} {ctxdir}")
        .env("DOCKER_BUILDKIT", "1")
        .quiet()
        .run()
        .with_context(|| format!("building {tag} from the rootfs failed"))?;
    fs::remove_dir_all(&rootfs).ok();
    fs::remove_dir_all(&ctxdir).ok();
    Ok(())
}

/// A registry on `addr` (loopback): reuse one that answers, else start Debian's `docker-registry`.
pub fn registry(addr: &str, work: &Path, started: &mut Started) -> Result<()> {
    if matches!(http::request("GET", addr, "/v2/", None), Ok((200, _))) {
        eprintln!("e2e: registry on {addr} answers (reused)");
        return Ok(());
    }
    let bin = ["docker-registry", "registry"]
        .iter()
        .find_map(|b| which::which(b).ok())
        .context("no registry on {addr} and docker-registry is not installed (apt-get install docker-registry)")?;
    let storage = work.join("registry-data");
    fs::create_dir_all(&storage)?;
    let config = work.join("registry.yml");
    fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            storage.display()
        ),
    )?;
    started.spawn("docker-registry", duct::cmd!(bin, "serve", &config), &work.join("registry.log"))?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if matches!(http::request("GET", addr, "/v2/", None), Ok((200, _))) {
            eprintln!("e2e: registry on {addr} started");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    bail!("the registry on {addr} did not answer within 30s (see {})", work.join("registry.log").display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors() {
        let deb822 = "Types: deb\n# http://snapshot.debian.org/archive/debian/2025\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n\nURIs: http://mirror.example/debian-security/\n";
        assert_eq!(
            mirrors_from(deb822),
            ("http://deb.debian.org/debian".into(), "http://mirror.example/debian-security".into())
        );
        let list = "deb [arch=amd64] https://m.example/debian bookworm main\n";
        assert_eq!(mirrors_from(list).0, "https://m.example/debian");
        assert_eq!(mirrors_from("").1, "http://deb.debian.org/debian-security");
    }
}
