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

use anyhow::{bail, ensure, Context, Result};
use xshell::{cmd, Shell};

use super::http;
use crate::{engine::Docker, platform::Platform};

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

    /// Whether the child started as `what` has exited.
    fn exited(&self, what: &str) -> bool {
        self.children.iter().any(|(w, h)| w == what && matches!(h.try_wait(), Ok(Some(_)) | Err(_)))
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

/// The daemon configuration of an engine the e2e starts: the containerd
/// image store, with which buildx's docker driver exports caches and
/// attestations (Docker >= 24).
pub const DAEMON_JSON: &str = "{\"features\": {\"containerd-snapshotter\": true}}\n";

/// containerd's socket (Debian's containerd).
const CONTAINERD_SOCK: &str = "/run/containerd/containerd.sock";

/// A docker CLI with buildx and an engine that answers (started if needed)
/// whose buildx builder exports caches and attestations. What it cannot do
/// that CI's builder does (push by digest with the docker driver) is said
/// by the build planner in one line.
pub fn engine(flag: Option<&str>, work: &Path, started: &mut Started) -> Result<Docker> {
    let name = crate::engine::choose(flag);
    let docker = Docker::find(&name)?;
    let buildx = docker.buildx_version()?;
    if docker.check_engine().is_err() {
        if std::env::var_os("DOCKER_HOST").is_some() {
            docker.check_engine()?; // says which DOCKER_HOST does not answer
        }
        start_engine(&docker, work, started)?;
    }
    let version = docker.check_engine()?;
    ensure!(
        crate::engine::major(&version) >= 24,
        "the running Docker engine is {version}: the e2e needs >= 24 with the containerd image store; stop it \
         (the e2e then starts its own) or upgrade it (`cargo xtask doctor --fix`)"
    );
    let caps = docker.capabilities()?;
    ensure!(
        caps.exports,
        "the running Docker engine {version} keeps its images outside containerd, so the buildx `{}` driver \
         exports no cache or attestations: {}",
        caps.driver,
        crate::docker::argv::CONTAINERD_STORE_FIX
    );
    eprintln!(
        "e2e: docker CLI {} ({}), engine {version}, buildx {} with the `{}` driver",
        docker.name,
        docker.path.display(),
        buildx,
        caps.driver
    );
    Ok(docker)
}

/// Free space the e2e needs on each file system it fills (its work
/// directory; the engine's data root and containerd's, for an engine on this
/// machine): a run on a fresh engine, every image and the second builder.
pub const NEEDED_FREE: u64 = 12 << 30;

/// One clear error before anything is built when a file system the e2e
/// fills has less than `needed` bytes free (a build that runs out of space
/// fails deep in a compile, with the reason lost in its log).
pub fn check_disk(docker: &Docker, work: &Path, needed: u64) -> Result<()> {
    let mut dirs = vec![work.to_path_buf()];
    if std::env::var_os("DOCKER_HOST").is_none() {
        let root = docker.output(&["info", "--format", "{{.DockerRootDir}}"])?;
        let root = String::from_utf8_lossy(&root.stdout).trim().to_owned();
        dirs.extend(
            [root.as_str(), "/var/lib/containerd"].iter().map(Path::new).filter(|d| d.is_dir()).map(Path::to_path_buf),
        );
    }
    for dir in dirs {
        let free = crate::ci::disk::free_bytes(&dir)?;
        if let Some(e) = short_of_space(&dir, free, needed) {
            bail!(e);
        }
    }
    Ok(())
}

/// The error for `dir` with `free` bytes of the `needed` ones, if short.
fn short_of_space(dir: &Path, free: u64, needed: u64) -> Option<String> {
    let gib = crate::ci::disk::gib;
    (free < needed).then(|| {
        format!(
            "{} has {} free; the e2e needs {}: free space (the e2e builder's cache: `docker buildx prune --builder \
             {} --force`; images no container uses: `docker image prune --all`; old targets: `cargo clean`)",
            dir.display(),
            gib(free),
            gib(needed),
            super::builder::BUILDER
        )
    })
}

/// containerd (unless it answers), then `dockerd` with the containerd image
/// store, its configuration in `work` (the machine's is not touched).
fn start_engine(docker: &Docker, work: &Path, started: &mut Started) -> Result<()> {
    let dockerd = which::which("dockerd")
        .context("the Docker engine is not running and dockerd is not installed (`cargo xtask doctor --fix`)")?;
    // A socket file alone is not a containerd: one that was killed leaves it.
    if !answers(Path::new(CONTAINERD_SOCK)) {
        let containerd =
            which::which("containerd").context("containerd is not installed (apt-get install containerd)")?;
        eprintln!("e2e: starting containerd (log: {})", work.join("containerd.log").display());
        started.spawn("containerd", duct::cmd!(containerd), &work.join("containerd.log"))?;
        let start = Instant::now();
        while !answers(Path::new(CONTAINERD_SOCK)) {
            let log = work.join("containerd.log");
            ensure!(
                !started.exited("containerd"),
                "containerd exited at start (see {}):\n{}",
                log.display(),
                log_tail(&log)
            );
            ensure!(
                start.elapsed() < Duration::from_secs(30),
                "containerd did not answer on {CONTAINERD_SOCK} within 30s (see {}):\n{}",
                log.display(),
                log_tail(&log)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let config = work.join("daemon.json");
    fs::write(&config, DAEMON_JSON).with_context(|| format!("cannot write {}", config.display()))?;
    let log = work.join("dockerd.log");
    eprintln!(
        "e2e: starting dockerd --config-file {} --bridge=none --iptables=false (log: {})",
        config.display(),
        log.display()
    );
    let cmd = duct::cmd!(
        dockerd,
        "--config-file",
        &config,
        "--containerd",
        CONTAINERD_SOCK,
        "--bridge=none",
        "--iptables=false"
    );
    started.spawn("dockerd", cmd, &log)?;
    let start = Instant::now();
    loop {
        match docker.check_engine() {
            Ok(v) => {
                eprintln!("e2e: dockerd {v} answers after {:.1}s", start.elapsed().as_secs_f64());
                return Ok(());
            }
            Err(e) if started.exited("dockerd") => {
                return Err(e.context(format!("dockerd exited at start (see {}):\n{}", log.display(), log_tail(&log))))
            }
            Err(e) if start.elapsed() > Duration::from_secs(60) => {
                return Err(e.context(format!(
                    "dockerd did not answer within 60s (see {}):\n{}",
                    log.display(),
                    log_tail(&log)
                )))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// Whether a process accepts connections on the Unix socket `sock`.
fn answers(sock: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(sock).is_ok()
}

/// The last lines of a service's log, for the error that names it.
fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Make `tag` from a minbase debootstrap of Debian `suite` for `p`, unless it exists.
pub fn base_image(docker: &Docker, p: Platform, suite: &str, tag: &str, work: &Path) -> Result<()> {
    if docker.inspect("{{.Id}}", tag).is_ok() {
        eprintln!("e2e: {tag} exists (cached)");
        return Ok(());
    }
    which::which("debootstrap").context("debootstrap is not installed (apt-get install debootstrap)")?;
    let (main, security) = crate::install::apt_mirrors();
    let arch = p.debian_arch();
    let rootfs = work.join(format!("rootfs-{suite}-{arch}"));
    let ctxdir = work.join(format!("base-{suite}-{arch}"));
    for d in [&rootfs, &ctxdir] {
        if d.exists() {
            fs::remove_dir_all(d)?;
        }
    }
    fs::create_dir_all(&ctxdir)?;
    eprintln!("e2e: debootstrap --variant=minbase --arch={arch} {suite} from {main}");
    let sh = Shell::new()?;
    cmd!(sh, "debootstrap --variant=minbase --arch={arch} {suite} {rootfs} {main}")
        .quiet()
        .run()
        .with_context(|| format!("debootstrap for {arch} failed"))?;
    fs::write(
        rootfs.join("etc/apt/sources.list"),
        format!("deb {main} {suite} main\ndeb {main} {suite}-updates main\ndeb {security} {suite}-security main\n"),
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
    // A plain image (no attestation index), as a base and for `docker manifest`.
    cmd!(sh, "{docker_path} buildx build --load --provenance=false --platform {platform} --tag {tag} {ctxdir}")
        .quiet()
        .run()
        .with_context(|| format!("building {tag} from the rootfs failed"))?;
    fs::remove_dir_all(&rootfs).ok();
    fs::remove_dir_all(&ctxdir).ok();
    Ok(())
}

/// The Dockerfile of [`rust_image`] (pure): what the official
/// `rust:<toolchain>-bookworm` has that the builds use (gcc, CA
/// certificates, rustup with `toolchain` in /usr/local), on the Debian
/// base `base`, with this machine's CA certificates (its mirrors may be
/// reached through a TLS-intercepting proxy).
pub fn rust_dockerfile(base: &str, toolchain: &str) -> String {
    format!(
        "FROM {base}\n\
         ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo \\\n    \
         PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\\n    \
         ca-certificates gcc libc6-dev && rm -rf /var/lib/apt/lists/*\n\
         COPY local/ /usr/local/share/ca-certificates/\n\
         COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n\
         COPY rustup-init /usr/local/bin/rustup-init\n\
         RUN rustup-init -y --no-modify-path --profile minimal --default-toolchain {toolchain} \\\n    \
         && rm /usr/local/bin/rustup-init && rustc --version\n"
    )
}

/// Make `tag`, the stand-in for the Dockerfiles' default builder
/// `rust:<toolchain>-bookworm` (no image can be pulled), from the local
/// Debian base `base` of the host's architecture, unless it exists. Its
/// toolchain comes from rustup, as in the official image: this machine's
/// `rustup` installs it (as `rustup-init`).
pub fn rust_image(docker: &Docker, base: &str, toolchain: &str, tag: &str, work: &Path) -> Result<()> {
    if docker.inspect("{{.Id}}", tag).is_ok() {
        eprintln!("e2e: {tag} exists (cached)");
        return Ok(());
    }
    let rustup = which::which("rustup").context(
        "rustup is not on PATH: the stand-in for the rust image installs its toolchain with it (https://rustup.rs)",
    )?;
    let dir = work.join("rust-image");
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    fs::copy(&rustup, dir.join("rustup-init")).with_context(|| format!("cannot copy {}", rustup.display()))?;
    crate::fsutil::copy_ca_files(&dir)?;
    fs::write(dir.join("Dockerfile"), rust_dockerfile(base, toolchain))?;
    eprintln!("e2e: {tag}: rust {toolchain} by rustup on {base}");
    let (sh, docker_path) = (Shell::new()?, &docker.path);
    cmd!(sh, "{docker_path} buildx build --load --provenance=false --network host --tag {tag} {dir}")
        .quiet()
        .run()
        .with_context(|| format!("building {tag} failed"))?;
    fs::remove_dir_all(&dir).ok();
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
    fn a_file_system_short_of_space_is_one_error_naming_the_fix() {
        let e = short_of_space(Path::new("/var/lib/docker"), 3 << 30, NEEDED_FREE).unwrap();
        assert!(e.starts_with("/var/lib/docker has 3.0 GiB free; the e2e needs 12.0 GiB"), "{e}");
        assert!(e.contains("docker buildx prune --builder xtask-e2e --force"), "{e}");
        assert_eq!(short_of_space(Path::new("/"), NEEDED_FREE, NEEDED_FREE), None);
    }
}
