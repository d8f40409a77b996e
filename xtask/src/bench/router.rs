//! `cargo xtask bench router`: the router under pressure (issue 16).
//!
//! The real `extproc`, built against the real library (release) and serving
//! the real model, gets in one run:
//! 1. 64 concurrent requests whose body is 64 KiB (the most it accepts), a
//!    prompt of ~16,000 tokens each, cut to the model's 256;
//! 2. then 2,000 short prompts from 32 clients over HTTP (`/v1/route`);
//! 3. then the same 2,000 prompts from 32 clients over ext_proc (one gRPC
//!    stream each, request headers then the chat completions body, as Envoy
//!    sends them), from `extproc-probe --load` in a process of its own.
//!
//! It prints the resident size (RSS) at idle (loaded, one request served),
//! its peak during each phase, p50/p99 latency and the statuses per phase
//! (503s are the bound on concurrent work doing its job), and the RSS a
//! minute after the load against the idle figure. Goals: peak ≤ 600 MB, RSS
//! back within 20 % of idle, ext_proc's p50 within 1.2× `/v1/route`'s. RSS comes from `/proc/<pid>/status`: `VmHWM`
//! after resetting it through `clear_refs`, and `VmRSS` sampled every 20 ms
//! in case the reset is refused. The figures are appended to
//! `benchmarks/records/router.json`.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Barrier,
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use super::report::{self, Figure};
use crate::{
    build::{self, ROUTER_DIR},
    ctx::Ctx,
    flags, http,
    metrics::{human, Metrics},
    platform::Platform,
    smoke,
};

/// The largest body `/v1/route` accepts (`server.MaxBodyBytes`).
const MAX_BODY: usize = 64 * 1024;
const LONG_CLIENTS: usize = 64;
const SHORT_REQUESTS: usize = 2000;
const SHORT_CLIENTS: usize = 32;
const PEAK_GOAL_MB: f64 = 600.0;
const SETTLED_GOAL: f64 = 1.2;
const EXTPROC_GOAL: f64 = 1.2;

const SHORT_PROMPTS: [&str; 8] = [
    "How do I reverse a string in Rust?",
    "What is the integral of x squared?",
    "How long should I bake banana bread?",
    "Who wrote War and Peace?",
    "Why does my Python script raise a KeyError?",
    "Solve 2x + 5 = 17 for x",
    "What is a good marinade for grilled chicken?",
    "What is the tallest mountain in Africa?",
];

impl flags::BenchRouter {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let mut needs = crate::prereq::toolchain(&[Platform::host()?], true);
        needs.push(crate::prereq::Need::Model);
        let prereqs = crate::prereq::ensure(ctx, &needs)?;
        let ws = ctx.workspace()?;
        let mut metrics = Metrics::default();
        let model = metrics.step("model", || model_dir(ctx))?;
        let release = flags::Profile { release: true, profile: None };
        let opts = build::Options { profile: release, go: true, ..Default::default() };
        let out = build::build(ctx, &prereqs, Platform::host()?, &opts, &mut metrics)?;
        let config = ws.path(ROUTER_DIR).join("config/config.json");

        let cmd =
            duct::cmd!(&out.router, "--config", &config, "--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0")
                .env("CANDLE_MODEL_DIR", &model)
                .env("LD_LIBRARY_PATH", &out.lib_dir);
        let mut router = smoke::Router::start(cmd, "the router", true, Duration::from_secs(60))?;
        router.wait_healthy(Duration::from_secs(300)).context("the router did not get healthy")?;
        let addr = router.addr.clone();
        smoke::check_route(&addr)?; // a warm start: the idle figure is after one request
        std::thread::sleep(Duration::from_secs(2));
        let pid = router.pid();
        let idle = rss(pid, "VmRSS")?;
        eprintln!("==> router {} (pid {pid}) idle at {}", addr, mb(idle));

        let long = long_body();
        let phase1 = phase(pid, "64 concurrent 64 KiB prompts", || {
            let barrier = Arc::new(Barrier::new(LONG_CLIENTS));
            let handles: Vec<_> = (0..LONG_CLIENTS)
                .map(|_| {
                    let (barrier, addr, body) = (barrier.clone(), addr.clone(), long.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        timed(&addr, &body)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("client thread")).collect()
        })?;
        let phase2 = phase(pid, "2,000 short prompts from 32 clients", || {
            let next = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..SHORT_CLIENTS)
                .map(|_| {
                    let (next, addr) = (next.clone(), addr.clone());
                    std::thread::spawn(move || {
                        let mut results = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= SHORT_REQUESTS {
                                break results;
                            }
                            results.push(timed(&addr, &serde_json::json!({ "prompt": short_prompt(i) }).to_string()));
                        }
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("client thread")).collect()
        })?;

        let probe = smoke::build_probe(&ctx.sh, &ws.path(ROUTER_DIR), Platform::host()?, ws.layout()?.root())?;
        let prompts = ws.layout()?.bench("router-prompts.txt");
        std::fs::write(&prompts, (0..SHORT_REQUESTS).map(|i| short_prompt(i) + "\n").collect::<String>())?;
        let grpc = router.grpc.clone().context("the router reported no ext_proc address")?;
        let phase3 = phase(pid, "2,000 short prompts over ext_proc from 32 clients", || {
            extproc_load(&probe, &grpc, &prompts).unwrap_or_else(|e| {
                eprintln!("extproc-probe --load failed: {e:#}");
                Vec::new()
            })
        })?;
        anyhow::ensure!(!phase3.samples.is_empty(), "the ext_proc load gave no samples");

        let (status, exposition) = http::request("GET", &addr, "/metrics", None)?;
        let truncated = if status == 200 { counter(&exposition, "router_prompts_truncated_total") } else { None };
        eprintln!("==> idle for {}s after the load", self.settle);
        std::thread::sleep(Duration::from_secs(self.settle));
        let settled = rss(pid, "VmRSS")?;
        router.stop();

        println!("\nrouter under pressure ({}, {} CPUs)", out.router.display(), cpus());
        println!("  idle RSS (model loaded, one request served)   {:>10}", mb(idle));
        for p in [&phase1, &phase2, &phase3] {
            println!("{}", p.report());
        }
        let p50 = |p: &Phase| percentile(&p.ok(), 0.5).map_or(f64::NAN, |d| d.as_secs_f64());
        let extproc_ratio = p50(&phase3) / p50(&phase2);
        println!(
            "  ext_proc p50 / /v1/route p50 (same prompts)    {:>10.2}x  goal <= {EXTPROC_GOAL:.1}x {}",
            extproc_ratio,
            verdict(extproc_ratio <= EXTPROC_GOAL)
        );
        let peak = phase1.peak.max(phase2.peak).max(phase3.peak);
        println!(
            "  peak RSS                                       {:>10}   goal <= {PEAK_GOAL_MB:.0} MB {}",
            mb(peak),
            verdict(peak as f64 / 1e6 <= PEAK_GOAL_MB)
        );
        let ratio = settled as f64 / idle as f64;
        println!(
            "  RSS {:>3}s after the load                       {:>10}   {ratio:.2}x idle, goal <= {SETTLED_GOAL:.2}x {}",
            self.settle,
            mb(settled),
            verdict(ratio <= SETTLED_GOAL)
        );
        match truncated {
            Some(n) => println!("  prompts truncated (router_prompts_truncated_total)  {n}"),
            None => println!("  prompts truncated: /metrics did not say"),
        }
        eprintln!("\n{}", metrics.table());

        let mut figures = vec![Figure::new("idle RSS (model loaded, one request served)", "MB", vec![mbf(idle)])];
        for p in [&phase1, &phase2, &phase3] {
            figures.extend(p.figures());
        }
        figures.push(
            Figure::new("ext_proc p50 / /v1/route p50 (same prompts)", "ratio", vec![extproc_ratio])
                .goal_max(EXTPROC_GOAL),
        );
        figures.push(Figure::new("ext_proc phase peak RSS", "MB", vec![mbf(phase3.peak)]).goal_max(PEAK_GOAL_MB));
        figures.push(Figure::new("peak RSS", "MB", vec![mbf(peak)]).goal_max(PEAK_GOAL_MB));
        figures.push(Figure::new(format!("RSS {}s after the load", self.settle), "MB", vec![mbf(settled)]));
        figures.push(Figure::new("RSS after the load / idle", "ratio", vec![ratio]).goal_max(SETTLED_GOAL));
        if let Some(n) = truncated {
            figures.push(Figure::new("prompts truncated", "count", vec![n as f64]));
        }
        report::save(ctx, &report::new_record(ctx, "router", figures, Vec::new()))
    }
}

/// The verified model directory (`$CANDLE_MODEL_DIR`, else the workspace's), fetched if needed.
fn model_dir(ctx: &Ctx) -> Result<std::path::PathBuf> {
    let dir = crate::model::default_dir(ctx)?;
    if !crate::model::verified(&dir)? {
        flags::Model { dir: Some(dir.clone()), from: None, wheel: None }.run(ctx)?;
    }
    std::path::absolute(&dir).context("cannot make the model path absolute")
}

/// A `/v1/route` body of exactly [`MAX_BODY`] bytes: English prose, ~16,000 tokens.
pub fn long_body() -> String {
    const PROSE: &str = "The scheduler keeps a queue of runnable tasks and picks the one \
        that has waited longest, unless a task with a higher priority is ready. ";
    let wrapper = r#"{"prompt":""}"#.len();
    let prompt: String = PROSE.chars().cycle().take(MAX_BODY - wrapper).collect();
    serde_json::json!({ "prompt": prompt }).to_string()
}

/// One request's status and latency.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub status: u16,
    pub took: Duration,
}

/// The `i`-th short prompt, the same over HTTP and ext_proc.
fn short_prompt(i: usize) -> String {
    format!("{} (request {i})", SHORT_PROMPTS[i % SHORT_PROMPTS.len()])
}

/// `extproc-probe --load`: the prompts of `file` from 32 streams; a sample
/// per request (the probe's latencies of the routed ones, 0 for the rest).
fn extproc_load(probe: &std::path::Path, addr: &str, file: &std::path::Path) -> Result<Vec<Sample>> {
    let (clients, requests) = (SHORT_CLIENTS.to_string(), SHORT_REQUESTS.to_string());
    let out = duct::cmd!(
        probe,
        "--addr",
        addr,
        "--load",
        "--prompts",
        file,
        "--concurrency",
        &clients,
        "--requests",
        &requests
    )
    .stdout_capture()
    .unchecked()
    .run()
    .context("cannot run extproc-probe")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(text.trim()).with_context(|| format!("extproc-probe printed {text}"))?;
    let ok = v["ok_ms"].as_array().context("no ok_ms in the probe's answer")?;
    let mut samples: Vec<Sample> = ok
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .map(|ms| Sample { status: 200, took: Duration::from_secs_f64(ms / 1e3) })
        .collect();
    let errors = v["errors"].as_u64().unwrap_or(0) as usize;
    samples.extend((0..errors).map(|_| Sample { status: 0, took: Duration::ZERO }));
    Ok(samples)
}

fn timed(addr: &str, body: &str) -> Sample {
    let start = Instant::now();
    let status = match http::request("POST", addr, "/v1/route", Some(body)) {
        Ok((status, _)) => status,
        Err(_) => 0, // reported as "failed"
    };
    Sample { status, took: start.elapsed() }
}

/// A phase's requests, wall time and peak RSS.
pub struct Phase {
    pub name: &'static str,
    pub samples: Vec<Sample>,
    pub wall: Duration,
    pub peak: u64,
}

/// Run `load` while sampling the RSS of `pid`.
fn phase(pid: u32, name: &'static str, load: impl FnOnce() -> Vec<Sample>) -> Result<Phase> {
    eprintln!("==> {name}");
    // Reset VmHWM (Linux ≥ 4.0; refused without the right to write it): the peak is this phase's.
    let reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss(pid, "VmRSS").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let start = Instant::now();
    let samples = load();
    let wall = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let sampled = sampler.join().expect("sampler thread");
    let hwm = if reset { rss(pid, "VmHWM")? } else { 0 };
    Ok(Phase { name, samples, wall, peak: sampled.max(hwm) })
}

impl Phase {
    /// The latencies of the requests answered 200.
    fn ok(&self) -> Vec<Duration> {
        self.samples.iter().filter(|s| s.status == 200).map(|s| s.took).collect()
    }

    /// The phase's figures for its record.
    pub fn figures(&self) -> Vec<Figure> {
        let ok: Vec<Duration> = self.samples.iter().filter(|s| s.status == 200).map(|s| s.took).collect();
        let busy = self.samples.iter().filter(|s| s.status == 503).count();
        let count = |what: &str, n: usize| Figure::new(format!("{}: {what}", self.name), "count", vec![n as f64]);
        let mut out = vec![
            count("200 responses", ok.len()),
            count("503 responses", busy),
            count("other or failed", self.samples.len() - ok.len() - busy),
            Figure::new(format!("{}: wall time", self.name), "s", vec![self.wall.as_secs_f64()]),
        ];
        for (q, label) in [(0.50, "p50"), (0.99, "p99")] {
            if let Some(d) = percentile(&ok, q) {
                out.push(Figure::new(
                    format!("{}: {label} latency of the 200s", self.name),
                    "s",
                    vec![d.as_secs_f64()],
                ));
            }
        }
        out.push(Figure::new(format!("{}: peak RSS", self.name), "MB", vec![mbf(self.peak)]));
        out
    }

    pub fn report(&self) -> String {
        let ok: Vec<Duration> = self.samples.iter().filter(|s| s.status == 200).map(|s| s.took).collect();
        let busy = self.samples.iter().filter(|s| s.status == 503).count();
        let other = self.samples.len() - ok.len() - busy;
        let lat = |q| percentile(&ok, q).map_or("-".to_string(), |d| format!("{:.0} ms", d.as_secs_f64() * 1e3));
        format!(
            "  {}: {} requests in {} ({:.1}/s): 200 x{}, 503 x{busy}, other/failed x{other}\n    \
             latency of the 200s: p50 {}, p99 {}; peak RSS {}",
            self.name,
            self.samples.len(),
            human(self.wall),
            self.samples.len() as f64 / self.wall.as_secs_f64(),
            ok.len(),
            lat(0.50),
            lat(0.99),
            mb(self.peak)
        )
    }
}

/// The `q` quantile (nearest rank) of `values`; None when empty.
pub fn percentile(values: &[Duration], q: f64) -> Option<Duration> {
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

/// A `/proc/<pid>/status` field in kB, as bytes.
fn rss(pid: u32, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status =
        std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}: is the router running?"))?;
    status_kb(&status, field).map(|kb| kb * 1024).with_context(|| format!("{path} has no {field}"))
}

/// The value in kB of `field` in the text of `/proc/<pid>/status`.
pub fn status_kb(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// The value of an unlabelled counter in a Prometheus text exposition.
pub fn counter(exposition: &str, name: &str) -> Option<u64> {
    exposition.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", mbf(bytes))
}

fn mbf(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "(met)"
    } else {
        "(NOT met)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_long_body_is_the_largest_accepted() {
        let body = long_body();
        assert_eq!(body.len(), MAX_BODY);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v["prompt"].as_str().unwrap().split_whitespace().count() > 9000);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let ms: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 0.5), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&ms, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&ms[..1], 0.99), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn proc_status_and_metrics_fields() {
        let status = "Name:\textproc\nVmHWM:\t  612340 kB\nVmRSS:\t  201004 kB\n";
        assert_eq!(status_kb(status, "VmRSS"), Some(201_004));
        assert_eq!(status_kb(status, "VmHWM"), Some(612_340));
        assert_eq!(status_kb(status, "VmSwap"), None);
        let text = "# TYPE router_prompts_truncated_total counter\nrouter_prompts_truncated_total 64\n";
        assert_eq!(counter(text, "router_prompts_truncated_total"), Some(64));
        assert_eq!(counter(text, "router_prompts"), None);
    }

    #[test]
    fn phase_report_counts_statuses() {
        let s = |status, ms| Sample { status, took: Duration::from_millis(ms) };
        let p = Phase {
            name: "p",
            samples: vec![s(200, 10), s(200, 30), s(503, 1), s(0, 5)],
            wall: Duration::from_secs(2),
            peak: 300_000_000,
        };
        let r = p.report();
        assert!(r.contains("4 requests in 2.0s (2.0/s): 200 x2, 503 x1, other/failed x1"), "{r}");
        assert!(r.contains("p50 10 ms, p99 30 ms; peak RSS 300 MB"), "{r}");
        let figs = p.figures();
        let get = |n: &str| figs.iter().find(|f| f.name == format!("p: {n}")).unwrap().samples.clone();
        assert_eq!(
            (get("200 responses"), get("503 responses"), get("other or failed")),
            (vec![2.0], vec![1.0], vec![1.0])
        );
        assert_eq!((get("p50 latency of the 200s"), get("peak RSS")), (vec![0.01], vec![300.0]));
    }
}
