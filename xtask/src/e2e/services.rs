//! What the e2e test needs around the build: a Docker engine, QEMU binfmt,
//! Debian base images and a registry. Each is reused when present; what this
//! run starts it also stops (by its own process id).

use std::{
    fs,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};

use super::{http, SUITE};
use crate::{docker::engine::Docker, platform::Platform};

/// Processes this run started.
#[derive(Default)]
pub struct Started {
    children: Vec<(String, Child)>,
}

impl Started {
    /// SIGTERM each child we started, newest first, and wait for it.
    pub fn stop(&mut self) {
        while let Some((what, mut child)) = self.children.pop() {
            let pid = child.id().to_string();
            eprintln!("e2e: stopping {what} (pid {pid})");
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let start = Instant::now();
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    _ if start.elapsed() > Duration::from_secs(30) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    _ => std::thread::sleep(Duration::from_millis(200)),
                }
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
            let ok = d.buildx_mode("auto").is_ok();
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
    let log = fs::File::create(work.join("dockerd.log"))?;
    eprintln!("e2e: starting dockerd --bridge=none --iptables=false (log: {})", work.join("dockerd.log").display());
    let child = Command::new(dockerd)
        .args(["--bridge=none", "--iptables=false"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start dockerd")?;
    started.children.push(("dockerd".into(), child));
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

fn qemu_name(p: Platform) -> &'static str {
    match p.arch {
        crate::platform::Arch::Amd64 => "qemu-x86_64",
        crate::platform::Arch::Arm64 => "qemu-aarch64",
    }
}

/// Register QEMU binfmt handlers for the foreign platforms (root; qemu-user-static).
pub fn binfmt(platforms: &[Platform], host: Platform) -> Result<()> {
    let dir = Path::new("/proc/sys/fs/binfmt_misc");
    for &p in platforms.iter().filter(|p| **p != host) {
        let name = qemu_name(p);
        if fs::read_to_string(dir.join(name)).map(|s| s.starts_with("enabled")).unwrap_or(false) {
            eprintln!("e2e: binfmt {name} already registered");
            continue;
        }
        if !dir.join("register").exists() {
            let st = Command::new("mount").args(["-t", "binfmt_misc", "binfmt_misc"]).arg(dir).status()?;
            ensure!(st.success(), "cannot mount binfmt_misc on {} (root needed)", dir.display());
        }
        let conf = Path::new("/usr/lib/binfmt.d").join(format!("{name}.conf"));
        let text = fs::read_to_string(&conf)
            .with_context(|| format!("{} is missing: apt-get install qemu-user-static", conf.display()))?;
        let line = text
            .lines()
            .find(|l| l.starts_with(':'))
            .with_context(|| format!("no registration line in {}", conf.display()))?;
        fs::write(dir.join("register"), line).with_context(|| format!("cannot register {name}"))?;
        eprintln!("e2e: binfmt {name} registered");
    }
    Ok(())
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
    let st = Command::new("debootstrap")
        .args(["--variant=minbase", &format!("--arch={arch}"), SUITE])
        .arg(&rootfs)
        .arg(&main)
        .stdin(Stdio::null())
        .status()?;
    ensure!(st.success(), "debootstrap for {arch} failed");
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
    let st = Command::new("tar").arg("-C").arg(&rootfs).args(["-cf"]).arg(&tar).arg(".").status()?;
    ensure!(st.success(), "tar of {} failed", rootfs.display());
    fs::write(ctxdir.join("Dockerfile"), "FROM scratch\nADD rootfs.tar /\nCMD [\"bash\"]\n")?;
    let mut cmd = Command::new(&docker.path);
    if docker.has_buildx() {
        cmd.args(["buildx", "build", "--load"]);
    } else {
        cmd.env("DOCKER_BUILDKIT", "1").arg("build");
    }
    let st = cmd.args(["--platform", p.docker(), "--tag", tag]).arg(&ctxdir).stdin(Stdio::null()).status()?;
    ensure!(st.success(), "building {tag} from the rootfs failed");
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
    let log = fs::File::create(work.join("registry.log"))?;
    let child = Command::new(bin)
        .arg("serve")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start docker-registry")?;
    started.children.push(("docker-registry".into(), child));
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
