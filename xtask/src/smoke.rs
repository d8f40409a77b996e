//! Run a built router and talk to it over loopback: `/healthz`, then one
//! `/v1/route`. Used by the dist test (natively and under qemu-user), the
//! image e2e and `ci smoke`; [`stack`] smoke-runs the stack image.
//!
//! The router prints `listening on ADDR` on stderr once it accepts
//! connections; `/healthz` answers 200 once the model is loaded.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    sync::{mpsc, Arc},
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};
use xshell::{cmd, Shell};

use crate::{engine::Docker, http, platform::Platform};

/// A prompt and the category the example config must route it to.
pub const PROBE: (&str, &str) = ("How do I fix a segmentation fault in my C program?", "coding");

/// A router process (a duct child: its stderr streamed to us line by line,
/// killed when dropped).
pub struct Router {
    child: Arc<duct::ReaderHandle>,
    /// The HTTP API (`listening on ADDR`).
    pub addr: String,
    /// The ext_proc gRPC service (`grpc listening on ADDR`), when started
    /// with `--grpc-listen`.
    pub grpc: Option<String>,
    logs: mpsc::Receiver<String>,
}

impl Router {
    /// Start `cmd` (a router invocation listening on `127.0.0.1:0`, and with
    /// `grpc` on `--grpc-listen 127.0.0.1:0` too; `program` names it in
    /// errors) and wait for its addresses.
    pub fn start(cmd: duct::Expression, program: &str, grpc: bool, timeout: Duration) -> Result<Router> {
        // The reader is the router's stderr (stdout is not needed); unchecked:
        // an early exit is reported below with the output, not as an I/O error.
        let child = Arc::new(
            cmd.stdout_null()
                .stderr_to_stdout()
                .unchecked()
                .reader()
                .with_context(|| format!("cannot start {program}"))?,
        );
        let (tx, rx) = mpsc::channel();
        let reader = Arc::clone(&child);
        std::thread::spawn(move || {
            for line in BufReader::new(&*reader).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        let (mut addr, mut grpc_addr) = (None, None);
        loop {
            if let Some(addr) = addr.clone().filter(|_| !grpc || grpc_addr.is_some()) {
                return Ok(Router { child, addr, grpc: grpc_addr, logs: rx });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(a) = line.split("grpc listening on ").nth(1) {
                        grpc_addr = Some(a.trim().to_string());
                    } else if let Some(a) = line.split("listening on ").nth(1) {
                        addr = Some(a.trim().to_string());
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let what = if grpc { "`listening on` and `grpc listening on`" } else { "`listening on`" };
                    bail!("{program} did not report {what}; its output:\n{}", seen.join("\n"));
                }
            }
        }
    }

    /// Wait until `/healthz` answers 200.
    pub fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let child = &self.child;
        let res = wait_healthy(&self.addr, timeout, &mut || match child.try_wait()? {
            Some(out) => bail!("the router exited with {} before it was healthy", out.status),
            None => Ok(()),
        });
        res.map(drop).with_context(|| format!("its output:\n{}", self.logs()))
    }

    fn logs(&self) -> String {
        self.logs.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// The router's process id (e.g. to read its memory from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.pids()[0]
    }

    /// SIGTERM-free stop: kill and reap.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Router {
    /// Kill, then reap: duct's kill does not wait (a few seconds at most, so
    /// that a stuck child never hangs the caller).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Start the router binary `bin` (optionally under `runner`, e.g. qemu) with
/// `config` and `model`, then check `/healthz`, one `/v1/route`, and the same
/// prompt through ext_proc with `probe` (see [`build_probe`]). Both answers.
pub fn smoke(
    runner: &[String],
    bin: &Path,
    config: &Path,
    model: &Path,
    probe: &Path,
    env: &[(String, String)],
) -> Result<(String, String)> {
    let mut argv: Vec<std::ffi::OsString> = runner.iter().map(Into::into).collect();
    argv.push(bin.into());
    argv.extend(["--config".into(), config.into(), "--listen".into(), "127.0.0.1:0".into()]);
    argv.extend(["--grpc-listen".into(), "127.0.0.1:0".into()]);
    let program = argv[0].to_string_lossy().into_owned();
    let mut cmd = duct::cmd(&argv[0], &argv[1..]).env("CANDLE_MODEL_DIR", model);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let mut router = Router::start(cmd, &program, true, Duration::from_secs(60))?;
    router.wait_healthy(Duration::from_secs(600))?;
    let answer = check_route(&router.addr)?;
    let grpc = router.grpc.clone().expect("started with --grpc-listen");
    let routed = check_extproc(probe, &[], &grpc, Duration::from_secs(60))
        .with_context(|| format!("its output:\n{}", router.logs()))?;
    router.stop();
    Ok((answer, routed))
}

/// Build `extproc-probe` (the router module's ext_proc client, on
/// go-control-plane) for `p`, without cgo (a static program that also runs
/// inside any image of `p`), into `out_dir`; its modules through
/// [`crate::gomod`].
pub fn build_probe(
    sh: &xshell::Shell,
    router_dir: &Path,
    p: crate::platform::Platform,
    out_dir: &Path,
) -> Result<PathBuf> {
    let go = which::which("go").context("`go` is not installed: run `cargo xtask doctor --fix`")?;
    crate::gomod::download(sh, router_dir)?;
    let out = out_dir.join(format!("extproc-probe-{}", p.goarch()));
    let _dir = sh.push_dir(router_dir);
    xshell::cmd!(sh, "{go} build -trimpath -o {out} ./cmd/extproc-probe")
        .envs(crate::gomod::OFFLINE)
        .env("CGO_ENABLED", "0")
        .env("GOOS", "linux")
        .env("GOARCH", p.goarch())
        .run()
        .context("building extproc-probe failed")?;
    Ok(out)
}

/// Route [`PROBE`] through the ext_proc service at `addr` with `probe`
/// (under `wrap`, e.g. `docker exec NAME`), retrying for `wait` while the
/// router loads its model; it must land in its category and the body's
/// `auto` model must be rewritten to the chosen one. The probe's answer.
pub fn check_extproc(probe: &Path, wrap: &[String], addr: &str, wait: Duration) -> Result<String> {
    let (prompt, want) = PROBE;
    let mut argv: Vec<std::ffi::OsString> = wrap.iter().map(Into::into).collect();
    argv.push(probe.into());
    let wait = format!("{}s", wait.as_secs());
    for a in ["--addr", addr, "--prompt", prompt, "--model", "auto", "--expect-category", want, "--wait", &wait] {
        argv.push(a.into());
    }
    let out = duct::cmd(&argv[0], &argv[1..])
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .context("cannot run extproc-probe")?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() {
        bail!("ext_proc at {addr}: {text}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("extproc-probe printed no JSON: {text}"))?;
    if v["body_model"] != v["model"] || v["model"].as_str().is_none_or(str::is_empty) {
        bail!("ext_proc at {addr} did not rewrite the `auto` model to the selected one: {text}");
    }
    Ok(text)
}

/// Poll `addr`'s `/healthz` until it answers 200; `alive` fails when the
/// server is gone. Returns how long it took.
pub fn wait_healthy(addr: &str, timeout: Duration, alive: &mut dyn FnMut() -> Result<()>) -> Result<Duration> {
    let mut last = None;
    let res = poll("/healthz 200", timeout, alive, &mut || {
        let r = http::request("GET", addr, "/healthz", None);
        let ok = matches!(r, Ok((200, _)));
        last = Some(r);
        Ok(ok.then_some(()))
    });
    res.map(|((), took)| took).map_err(|e| anyhow::anyhow!("{e:#} (last: {last:?})"))
}

/// Call `ready` every 250 ms until it gives a value (or fails); `alive`
/// fails when what is polled is gone. The value and how long it took; after
/// `timeout`, the error "no {what} within …".
pub fn poll<T>(
    what: &str,
    timeout: Duration,
    alive: &mut dyn FnMut() -> Result<()>,
    ready: &mut dyn FnMut() -> Result<Option<T>>,
) -> Result<(T, Duration)> {
    let start = Instant::now();
    loop {
        if let Some(v) = ready()? {
            return Ok((v, start.elapsed()));
        }
        alive()?;
        if start.elapsed() > timeout {
            bail!("no {what} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Route the probe prompt on `addr` and check it lands in its category.
pub fn check_route(addr: &str) -> Result<String> {
    let (prompt, want) = PROBE;
    let body = serde_json::json!({ "prompt": prompt }).to_string();
    let (status, answer) = http::request("POST", addr, "/v1/route", Some(&body))?;
    if status != 200 {
        bail!("/v1/route answered {status}: {answer}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&answer).with_context(|| format!("/v1/route answered non-JSON: {answer}"))?;
    if v["category"] != want {
        bail!("/v1/route sent {prompt:?} to {} (want {want}): {answer}", v["category"]);
    }
    Ok(answer)
}

/// What `docker exec` runs in the stack container: GET a URL, print the status
/// on the first line and the body after it (0 and the error when unreachable).
const FETCH_PY: &str = "import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
    print(r.status); sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code); sys.stdout.write(e.read().decode())
except Exception as e:
    print(0); print(e)
";

/// The stack image `image` (a reference) for `p` in a container with only
/// loopback (`--network none`, the model mounted with `mount`), named
/// `name`, read from inside with the image's own python3 (`docker exec`):
/// router `/healthz` 200, `/dashboard` lists the routes, Prometheus reports
/// the router target `up`, and the probe prompt routed through ext_proc on
/// the image's port 50051 by the client `probe` builds for `p` (copied in).
/// Progress lines start with `log`. On failure the container's logs are
/// printed; the container is stopped either way.
pub fn stack(
    docker: &Docker,
    image: &str,
    p: Platform,
    mount: &str,
    name: &str,
    log: &str,
    probe: &mut dyn FnMut() -> Result<PathBuf>,
) -> Result<()> {
    let sh = Shell::new()?;
    let d = docker;
    let docker = &d.path;
    let args = stack_argv(image, p, mount, name);
    cmd!(sh, "{docker} {args...}").quiet().ignore_stdout().run().context("docker run failed")?;
    let fetch = |url: &str| -> Result<(u16, String)> {
        let out = cmd!(sh, "{docker} exec {name} python3 -c {FETCH_PY} {url}").quiet().ignore_stderr().read()?;
        let (status, body) = out.split_once('\n').unwrap_or((&out, ""));
        Ok((status.trim().parse().unwrap_or(0), body.to_owned()))
    };
    let result = (|| -> Result<()> {
        let mut alive = || {
            ensure!(container_running(d, name), "the stack container exited");
            Ok(())
        };
        // Under qemu the model loads tens of times slower than natively.
        let limit = Duration::from_secs(if p.is_host() { 120 } else { 420 });
        let ((), took) = poll("router /healthz 200", limit, &mut alive, &mut || {
            Ok((fetch("http://127.0.0.1:8080/healthz")?.0 == 200).then_some(()))
        })?;
        eprintln!("{log}: stack: router /healthz 200 after {:.1}s", took.as_secs_f64());
        let (status, page) = fetch("http://127.0.0.1:8080/dashboard")?;
        ensure!(status == 200 && page.contains("semantic-router dashboard"), "dashboard: {status} {page:.200}");
        ensure!(page.contains("coding"), "the dashboard lists no routes: {page:.300}");
        eprintln!("{log}: stack: /dashboard 200 ({} bytes, routes listed)", page.len());
        let ((), took) = poll("Prometheus target semantic-router up", limit, &mut alive, &mut || {
            let (status, body) = fetch("http://127.0.0.1:9090/api/v1/targets")?;
            Ok((status == 200 && target_health(&body, "semantic-router").as_deref() == Some("up")).then_some(()))
        })?;
        eprintln!("{log}: stack: Prometheus target semantic-router up after {:.1}s more", took.as_secs_f64());
        // ext_proc on the image's own port, from inside (only loopback
        // there): the client, built for the image's platform, copied in.
        let probe = probe()?;
        let inside = format!("{name}:/tmp/extproc-probe");
        cmd!(sh, "{docker} cp {probe} {inside}").quiet().ignore_stdout().run().context("docker cp failed")?;
        let wrap: Vec<String> = [docker.display().to_string(), "exec".into(), name.to_owned()].into();
        let routed = check_extproc(Path::new("/tmp/extproc-probe"), &wrap, "127.0.0.1:50051", limit)?;
        eprintln!("{log}: stack: ext_proc on 50051 -> {routed}");
        Ok(())
    })();
    if result.is_err() {
        let _ = cmd!(sh, "{docker} logs {name}").run();
    }
    let _ = cmd!(sh, "{docker} stop -t 5 {name}").quiet().ignore_stdout().ignore_stderr().run();
    result
}

/// The health of the active target of `job` in Prometheus' `/api/v1/targets`.
pub fn target_health(body: &str, job: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["data"]["activeTargets"]
        .as_array()?
        .iter()
        .find(|t| t["labels"]["job"] == job)
        .and_then(|t| t["health"].as_str().map(str::to_owned))
}

/// `docker run` of the stack image `image` for `p`, detached, named `name`,
/// with only loopback and the model mounted with `mount`.
pub fn stack_argv(image: &str, p: Platform, mount: &str, name: &str) -> Vec<String> {
    ["run", "-d", "--rm", "--platform", p.docker(), "--name", name, "--network", "none", "--mount", mount, image]
        .map(String::from)
        .to_vec()
}

/// Whether the container `name` runs.
fn container_running(d: &Docker, name: &str) -> bool {
    d.inspect("{{.State.Running}}", name).map(|s| s == "true").unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_reads_the_address_and_drop_kills() {
        // `exec`: the sleep is the child itself, so killing it closes the pipe.
        let script = "echo starting >&2; echo 'listening on 127.0.0.1:9' >&2; exec sleep 60";
        let start = Instant::now();
        let router = Router::start(duct::cmd!("sh", "-c", script), "fake", false, Duration::from_secs(10)).unwrap();
        assert_eq!(router.addr, "127.0.0.1:9");
        let pid = router.child.pids()[0];
        router.stop();
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the child {pid} is still there");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn start_reads_both_addresses_in_either_order() {
        for script in [
            "echo 'x: listening on 127.0.0.1:9' >&2; echo 'x: grpc listening on 127.0.0.1:7' >&2; exec sleep 60",
            "echo 'x: grpc listening on 127.0.0.1:7' >&2; echo 'x: listening on 127.0.0.1:9' >&2; exec sleep 60",
        ] {
            let router = Router::start(duct::cmd!("sh", "-c", script), "fake", true, Duration::from_secs(10)).unwrap();
            assert_eq!((router.addr.as_str(), router.grpc.as_deref()), ("127.0.0.1:9", Some("127.0.0.1:7")));
        }
        let http_only = "echo 'listening on 127.0.0.1:9' >&2; exec sleep 60";
        let err = Router::start(duct::cmd!("sh", "-c", http_only), "fake", true, Duration::from_secs(1)).err().unwrap();
        assert!(err.to_string().contains("did not report `listening on` and `grpc listening on`"), "{err}");
    }

    #[test]
    fn a_router_that_exits_early_is_one_error_with_its_output() {
        let cmd = duct::cmd!("sh", "-c", "echo 'no model here' >&2; exit 3");
        let err = Router::start(cmd, "fake", false, Duration::from_secs(10)).err().expect("an error").to_string();
        assert!(err.starts_with("fake did not report `listening on`"), "{err}");
        assert!(err.contains("no model here"), "{err}");
    }

    #[test]
    fn prometheus_targets() {
        let body = r#"{"status":"success","data":{"activeTargets":[
            {"labels":{"job":"other"},"health":"down"},
            {"labels":{"instance":"127.0.0.1:8080","job":"semantic-router"},"health":"up"}]}}"#;
        assert_eq!(target_health(body, "semantic-router").as_deref(), Some("up"));
        assert_eq!(target_health(body, "other").as_deref(), Some("down"));
        assert_eq!(target_health(body, "nope"), None);
        assert_eq!(target_health("not json", "x"), None);
    }
}
