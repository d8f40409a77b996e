//! Step timing for the docker commands, with GitHub Actions output:
//! `::group::` per step, a `::notice`/`::error` per image build, a markdown
//! table in `$GITHUB_STEP_SUMMARY`, and a metrics file per run.
//!
//! Metrics files are never overwritten by another run: each run writes
//! `target/xtask/metrics/<command>-<UTC time>-<pid>.json` (created with
//! `create_new`), and `latest.json` plus `<command>.latest.json` beside it
//! are symlinks to the newest. Only an explicit `--metrics-file F` names the
//! file. A dry run writes none (see `docker::run`).
//!
//! Everything this module prints or writes (annotations, summary, metrics)
//! goes through [`RunReport::clean`]: the values of secret build arguments are
//! replaced by `<redacted>` and control characters are escaped.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use super::reference;
use crate::{
    metrics::{human, Metrics, Step},
    table::{Align, Table},
};

/// A build result worth a notice: image, platform, time.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageResult {
    pub image: String,
    pub platform: String,
    pub seconds: f64,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Bytes: the layers as `docker history` gives them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncompressed_bytes: Option<u64>,
    /// Bytes: the pushed manifest's layers and config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compressed_bytes: Option<u64>,
}

pub struct RunReport {
    pub command: String,
    pub metrics: Metrics,
    pub images: Vec<ImageResult>,
    /// Named figures (e.g. e2e ratios), written to metrics.json.
    pub figures: Vec<(String, f64)>,
    /// Appended to image step names, e.g. `no change` for an e2e rebuild.
    pub phase: Option<String>,
    /// Named facts that are not figures (the e2e's builder, index, builds).
    pub facts: serde_json::Map<String, serde_json::Value>,
    /// Values never to print (secret build arguments; see [`argv::secret_values`]).
    pub secrets: Vec<String>,
    gha: bool,
    start: Instant,
}

/// Where a run's metrics go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsTarget {
    /// `--metrics-file F`: exactly this file.
    File(PathBuf),
    /// A new file per run in this directory, plus `latest` links.
    PerRun(PathBuf),
    /// Nothing is written (a dry run).
    None,
}

impl RunReport {
    pub fn new(command: impl Into<String>) -> RunReport {
        RunReport {
            command: command.into(),
            metrics: Metrics::default(),
            images: Vec::new(),
            figures: Vec::new(),
            phase: None,
            facts: serde_json::Map::new(),
            secrets: Vec::new(),
            gha: std::env::var("GITHUB_ACTIONS").map(|v| v == "true").unwrap_or(false),
            start: Instant::now(),
        }
    }

    /// An empty report for work that runs beside this report's (another
    /// thread): the same phase, secrets and output mode. [`RunReport::absorb`]
    /// takes its records back.
    pub fn child(&self) -> RunReport {
        RunReport { phase: self.phase.clone(), secrets: self.secrets.clone(), ..RunReport::new(self.command.clone()) }
    }

    /// Take a [`RunReport::child`]'s steps, images, figures and facts (a list
    /// fact's entries appended to this report's list).
    pub fn absorb(&mut self, child: RunReport) {
        self.metrics.steps.extend(child.metrics.steps);
        self.images.extend(child.images);
        self.figures.extend(child.figures);
        for (name, value) in child.facts {
            match (self.facts.get_mut(&name), value) {
                (Some(serde_json::Value::Array(mine)), serde_json::Value::Array(theirs)) => mine.extend(theirs),
                (_, value) => {
                    self.facts.insert(name, value);
                }
            }
        }
    }

    /// A timed step, in its own `::group::` under GitHub Actions.
    pub fn step<T>(&mut self, name: impl Into<String>, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let name = self.clean(&name.into());
        if self.gha {
            println!("::group::{name}");
        }
        let res = self.metrics.step(name, f);
        if self.gha {
            println!("::endgroup::");
        }
        res
    }

    /// A timed image build: a step, plus a notice or an error annotation.
    pub fn image<T>(
        &mut self,
        image: &str,
        platform: &str,
        f: impl FnOnce() -> Result<(T, Option<String>)>,
    ) -> Result<T> {
        let start = Instant::now();
        let name = match &self.phase {
            Some(phase) => format!("docker build {image} ({platform}) [{phase}]"),
            None => format!("docker build {image} ({platform})"),
        };
        let res = self.step(name, f);
        let secs = start.elapsed().as_secs_f64();
        let (ok, digest) = match &res {
            Ok((_, d)) => (true, d.clone()),
            Err(_) => (false, None),
        };
        let line = annotation(image, platform, secs, ok);
        if self.gha {
            println!("{line}");
        }
        self.images.push(ImageResult {
            image: image.into(),
            platform: platform.into(),
            seconds: secs,
            ok,
            digest,
            uncompressed_bytes: None,
            compressed_bytes: None,
        });
        res.map(|(t, _)| t)
    }

    /// The sizes of the last build of `image` for `platform`.
    pub fn sizes(&mut self, image: &str, platform: &str, uncompressed: Option<u64>, compressed: Option<u64>) {
        if let Some(i) = self.images.iter_mut().rev().find(|i| i.image == image && i.platform == platform) {
            i.uncompressed_bytes = uncompressed;
            i.compressed_bytes = compressed;
        }
    }

    /// Record a fact under `name`.
    pub fn fact(&mut self, name: &str, value: serde_json::Value) {
        self.facts.insert(name.to_owned(), value);
    }

    /// Append a fact to the list under `name`.
    pub fn fact_entry(&mut self, name: &str, value: serde_json::Value) {
        let entry = self.facts.entry(name).or_insert_with(|| serde_json::json!([]));
        match entry.as_array_mut() {
            Some(a) => a.push(value),
            None => *entry = serde_json::json!([value]),
        }
    }

    pub fn figure(&mut self, name: impl Into<String>, value: f64) {
        self.figures.push((name.into(), value));
    }

    /// Text as this module prints or writes it: secret values redacted,
    /// control characters escaped.
    pub fn clean(&self, text: &str) -> String {
        reference::show(&crate::engine::scrub(text, &self.secrets))
    }

    /// The command's result as `main` prints it: an error cleaned like
    /// everything else this module prints.
    pub fn cleaned(&self, result: Result<()>) -> Result<()> {
        result.map_err(|e| anyhow::anyhow!("{}", self.clean(&format!("{e:#}"))))
    }

    /// Print the table and write the metrics (and the step summary under
    /// GitHub Actions). Called on success and on failure; its own failures
    /// are warnings so they never hide the command's error.
    pub fn finish(&self, result: &Result<()>, metrics: &MetricsTarget) {
        if !self.metrics.steps.is_empty() {
            eprintln!("\n{}", self.metrics.table());
        }
        match self.write_json(result, metrics) {
            Ok(Some(path)) if !self.metrics.steps.is_empty() || result.is_err() => {
                eprintln!("metrics: {}", path.display())
            }
            Ok(_) => {}
            Err(e) => eprintln!("warning: cannot write the metrics: {e:#}"),
        }
        if self.gha {
            if let Err(e) = &result {
                if self.images.iter().all(|i| i.ok) {
                    println!(
                        "::error title=Build Failed::{}: {}",
                        self.clean(&self.command),
                        self.clean(&format!("{e:#}"))
                    );
                }
            }
            if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
                let md = self.markdown(result);
                let res = fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .and_then(|mut f| f.write_all(md.as_bytes()));
                if let Err(e) = res {
                    eprintln!("warning: cannot append to $GITHUB_STEP_SUMMARY: {e}");
                }
            }
        }
    }

    /// The metrics as JSON, cleaned (see [`RunReport::clean`]).
    pub fn json(&self, result: &Result<()>) -> Result<String> {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            command: &'a str,
            ok: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<String>,
            total_seconds: f64,
            steps: &'a [Step],
            images: &'a [ImageResult],
            figures: serde_json::Map<String, serde_json::Value>,
            #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
            facts: &'a serde_json::Map<String, serde_json::Value>,
        }
        let figures = self.figures.iter().map(|(k, v)| (self.clean(k), serde_json::json!(v))).collect();
        let steps: Vec<Step> =
            self.metrics.steps.iter().map(|s| Step { name: self.clean(&s.name), ..s.clone() }).collect();
        let command = self.clean(&self.command);
        let out = Out {
            command: &command,
            ok: result.is_ok(),
            error: result.as_ref().err().map(|e| self.clean(&format!("{e:#}"))),
            total_seconds: self.start.elapsed().as_secs_f64(),
            steps: &steps,
            images: &self.images,
            figures,
            facts: &self.facts,
        };
        Ok(serde_json::to_string_pretty(&out)? + "\n")
    }

    /// Write the metrics where `target` says; the file written, if any.
    fn write_json(&self, result: &Result<()>, target: &MetricsTarget) -> Result<Option<PathBuf>> {
        let json = self.json(result)?;
        match target {
            MetricsTarget::None => Ok(None),
            MetricsTarget::File(path) => {
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                }
                fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
                Ok(Some(path.clone()))
            }
            MetricsTarget::PerRun(dir) => write_per_run(dir, &self.command, &json).map(Some),
        }
    }

    /// The step summary: one table of steps, then the images.
    pub fn markdown(&self, result: &Result<()>) -> String {
        let mut md = format!(
            "### `cargo xtask {}` {}\n\n",
            self.clean(&self.command).replace('`', "'"),
            if result.is_ok() { "succeeded" } else { "FAILED" }
        );
        if let Err(e) = result {
            md += &format!("error: `{}`\n\n", self.clean(&format!("{e:#}")).replace('`', "'"));
        }
        let mut steps = Table::new(&["step", "time", "result"]).align(1, Align::Right);
        for s in &self.metrics.steps {
            let result = if s.ok { "ok" } else { "**failed**" };
            steps.row([self.clean(&s.name), human(Duration::from_secs_f64(s.seconds)), result.to_owned()]);
        }
        md += &steps.markdown();
        if !self.images.is_empty() {
            let mut images =
                Table::new(&["image", "platform", "time", "result", "uncompressed", "compressed", "digest"])
                    .align(2, Align::Right)
                    .align(4, Align::Right)
                    .align(5, Align::Right);
            for i in &self.images {
                images.row([
                    i.image.clone(),
                    i.platform.clone(),
                    minutes(i.seconds),
                    if i.ok { "ok" } else { "**failed**" }.to_owned(),
                    i.uncompressed_bytes.map(super::size::show).unwrap_or_default(),
                    i.compressed_bytes.map(super::size::show).unwrap_or_default(),
                    i.digest.as_deref().map(|d| format!("`{d}`")).unwrap_or_default(),
                ]);
            }
            md += "\n";
            md += &images.markdown();
        }
        if !self.figures.is_empty() {
            let mut figures = Table::new(&["figure", "value"]).align(1, Align::Right);
            for (k, v) in &self.figures {
                figures.row([self.clean(k), format!("{v:.3}")]);
            }
            md += "\n";
            md += &figures.markdown();
        }
        md.push('\n');
        md
    }
}

/// `::notice title=Build Success::extproc (linux/arm64) built in 6m 12s`.
pub fn annotation(image: &str, platform: &str, secs: f64, ok: bool) -> String {
    let t = minutes(secs);
    if ok {
        format!("::notice title=Build Success::{image} ({platform}) built in {t}")
    } else {
        format!("::error title=Build Failed::{image} ({platform}) failed after {t}")
    }
}

/// `Xm Ys`.
pub fn minutes(secs: f64) -> String {
    let s = secs.round() as u64;
    format!("{}m {}s", s / 60, s % 60)
}

/// `--metrics-file`, else a new file per run under `<target-dir>/xtask/metrics/`.
pub fn metrics_path(ctx: &crate::ctx::Ctx, flag: Option<&Path>) -> MetricsTarget {
    if let Some(f) = flag {
        return MetricsTarget::File(ctx.sh.current_dir().join(f));
    }
    MetricsTarget::PerRun(ctx.layout().metrics())
}

/// `docker manifest extproc` → `docker-manifest-extproc`.
fn slug(command: &str) -> String {
    let s: String = command.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
    let s = s.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-");
    if s.is_empty() {
        "run".to_owned()
    } else {
        s.chars().take(64).collect()
    }
}

/// `2026-01-02T03:04:05Z` (RFC 3339, UTC) for a Unix time.
pub fn rfc3339(unix: u64) -> String {
    let (y, m, d) = civil_date(unix / 86_400);
    let t = unix % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", t / 3600, t / 60 % 60, t % 60)
}

/// `20260102T030405Z` for a Unix time (UTC).
pub fn utc_stamp(unix: u64) -> String {
    let (y, m, d) = civil_date(unix / 86_400);
    let t = unix % 86_400;
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", t / 3600, t / 60 % 60, t % 60)
}

/// The proleptic Gregorian (year, month, day) of a count of days since
/// 1970-01-01 (H. Hinnant's `civil_from_days`).
pub fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Write `json` to a new file of `dir` (never an existing one), then point
/// `latest.json` and `<command>.latest.json` at it.
fn write_per_run(dir: &Path, command: &str, json: &str) -> Result<PathBuf> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let base = format!("{}-{}-{}", slug(command), utc_stamp(now.as_secs()), std::process::id());
    let mut n = 0;
    let (path, mut file) = loop {
        let name = if n == 0 { format!("{base}.json") } else { format!("{base}-{n}.json") };
        let path = dir.join(&name);
        match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => break (path, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
        }
    };
    file.write_all(json.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    let name = path.file_name().expect("a file name").to_owned();
    for link in ["latest.json".to_owned(), format!("{}.latest.json", slug(command))] {
        // A new link renamed over the old one: readers never see none.
        crate::fsutil::write_then_rename(&dir.join(&link), |part| std::os::unix::fs::symlink(&name, part))?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_report_is_absorbed_whole() {
        let mut parent = RunReport::new("e2e");
        parent.phase = Some("first".into());
        parent.secrets = vec!["s3cret".into()];
        parent.fact_entry("builds", serde_json::json!("amd64"));
        parent.fact("builder", serde_json::json!("a"));
        let mut child = parent.child();
        assert_eq!((child.phase.as_deref(), child.secrets.clone()), (Some("first"), vec!["s3cret".to_owned()]));
        assert!(child.facts.is_empty() && child.images.is_empty());
        child.step("docker build extproc (linux/arm64)", || Ok(())).unwrap();
        child.image("extproc", "linux/arm64", || Ok(((), Some("sha256:1".into())))).unwrap();
        child.fact_entry("builds", serde_json::json!("arm64"));
        child.fact("builder", serde_json::json!("b"));
        child.figure("f", 1.0);
        parent.absorb(child);
        assert_eq!(parent.metrics.steps.len(), 2);
        assert_eq!(parent.images[0].digest.as_deref(), Some("sha256:1"));
        assert_eq!(parent.facts["builds"], serde_json::json!(["amd64", "arm64"]));
        assert_eq!(parent.facts["builder"], serde_json::json!("b"));
        assert_eq!(parent.figures, vec![("f".to_owned(), 1.0)]);
    }

    #[test]
    fn annotations() {
        assert_eq!(
            annotation("extproc", "linux/arm64", 372.4, true),
            "::notice title=Build Success::extproc (linux/arm64) built in 6m 12s"
        );
        assert_eq!(
            annotation("extproc", "linux/amd64", 59.6, false),
            "::error title=Build Failed::extproc (linux/amd64) failed after 1m 0s"
        );
    }

    #[test]
    fn json_is_written_on_failure_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/metrics.json");
        let mut r = RunReport::new("docker extproc");
        let _ = r.step("a", || Ok(()));
        let res: Result<()> = r.step("b", || anyhow::bail!("boom"));
        r.finish(&res, &MetricsTarget::File(path.clone()));
        let v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"], "boom");
        assert_eq!(v["steps"].as_array().unwrap().len(), 2);
        assert!(r.markdown(&res).contains("| b |"));
    }

    #[test]
    fn per_run_files_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let target = MetricsTarget::PerRun(dir.path().join("metrics"));
        let mut names = Vec::new();
        for cmd in ["docker extproc", "docker manifest extproc", "docker extproc", "e2e"] {
            let mut r = RunReport::new(cmd);
            let _ = r.step(format!("step of {cmd}"), || Ok(()));
            let path = r.write_json(&Ok(()), &target).unwrap().unwrap();
            names.push(path);
        }
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 4, "{names:?}");
        for (p, cmd) in names.iter().zip(["docker extproc", "docker manifest extproc", "docker extproc", "e2e"]) {
            let v: serde_json::Value = serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap();
            assert_eq!(v["command"], cmd, "{} was overwritten", p.display());
        }
        let latest = |n: &str| fs::read_link(dir.path().join("metrics").join(n)).unwrap();
        assert_eq!(latest("latest.json"), Path::new(names[3].file_name().unwrap()));
        assert_eq!(latest("docker-extproc.latest.json"), Path::new(names[2].file_name().unwrap()));
        assert!(names[1].file_name().unwrap().to_str().unwrap().starts_with("docker-manifest-extproc-"));
        assert!(RunReport::new("x").write_json(&Ok(()), &MetricsTarget::None).unwrap().is_none());
    }

    #[test]
    fn secrets_and_control_characters_never_reach_the_outputs() {
        let mut r = RunReport::new("docker extproc");
        r.secrets = vec!["s3cret-token".into()];
        let res: Result<()> =
            r.step("build\n::error::forged", || anyhow::bail!("`docker build --build-arg T=s3cret-token` failed"));
        let json = r.json(&res).unwrap();
        let md = r.markdown(&res);
        for out in [&json, &md] {
            assert!(!out.contains("s3cret") && out.contains("<redacted>"), "{out}");
            assert!(!out.contains("build\n::error"), "{out}");
        }
        assert!(md.contains(r"build\n::error::forged"), "{md}");
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        assert_eq!(utc_stamp(1_798_761_599), "20261231T235959Z");
    }
}
