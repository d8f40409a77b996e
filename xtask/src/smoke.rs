//! Run a built router and talk to it over loopback: `/healthz`, then one
//! `/v1/route`. Used by the dist test (natively and under qemu-user) and the
//! image e2e.
//!
//! The router prints `listening on ADDR` on stderr once it accepts
//! connections; `/healthz` answers 200 once the model is loaded.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

/// A prompt and the category the example config must route it to.
pub const PROBE: (&str, &str) = ("How do I fix a segmentation fault in my C program?", "coding");

/// A router process, killed when dropped.
pub struct Router {
    child: Child,
    pub addr: String,
    logs: mpsc::Receiver<String>,
}

impl Router {
    /// Start `cmd` (a router invocation listening on `127.0.0.1:0`) and wait for its address.
    pub fn start(mut cmd: Command, timeout: Duration) -> Result<Router> {
        let program = format!("{:?}", cmd.get_program());
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {program}"))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line.split("listening on ").nth(1) {
                        let addr = addr.trim().to_string();
                        return Ok(Router { child, addr, logs: rx });
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    bail!(
                        "{program} did not report `listening on` (exit: {status:?}); its output:\n{}",
                        seen.join("\n")
                    );
                }
            }
        }
    }

    /// Wait until `/healthz` answers 200.
    pub fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((200, _)) = http(&self.addr, "GET", "/healthz", None) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the router exited with {status} before it was healthy:\n{}", self.logs());
            }
            if Instant::now() > deadline {
                bail!("/healthz did not answer 200 within {timeout:?}:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Route the probe prompt and check the category.
    pub fn check_route(&self) -> Result<String> {
        let (prompt, want) = PROBE;
        let body = serde_json::json!({ "prompt": prompt }).to_string();
        let (status, answer) = http(&self.addr, "POST", "/v1/route", Some(&body))?;
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

    fn logs(&self) -> String {
        self.logs.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// SIGTERM-free stop: kill and reap.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the router binary `bin` (optionally under `runner`, e.g. qemu) with
/// `config` and `model`, then check `/healthz` and one `/v1/route`.
pub fn smoke(runner: &[String], bin: &Path, config: &Path, model: &Path, env: &[(String, String)]) -> Result<String> {
    let mut cmd = match runner.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.arg("--config").arg(config).arg("--listen").arg("127.0.0.1:0").env("CANDLE_MODEL_DIR", model);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut router = Router::start(cmd, Duration::from_secs(60))?;
    router.wait_healthy(Duration::from_secs(600))?;
    let answer = router.check_route()?;
    router.stop();
    Ok(answer)
}

/// A minimal HTTP/1.1 client for loopback checks: (status, body).
pub fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP response: {response:?}"))?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}
