//! Step timing for the docker commands, with GitHub Actions output:
//! `::group::` per step, a `::notice`/`::error` per image build, a markdown
//! table in `$GITHUB_STEP_SUMMARY`, and always a `metrics.json`.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

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
}

/// What a docker command (or the e2e) ran: its steps, image builds and
/// figures, for the table, `metrics.json` and the GitHub step summary.
pub struct RunReport {
    pub command: String,
    pub metrics: Metrics,
    pub images: Vec<ImageResult>,
    /// Named figures (e.g. e2e ratios), written to metrics.json.
    pub figures: Vec<(String, f64)>,
    /// Appended to image step names, e.g. `no change` for an e2e rebuild.
    pub phase: Option<String>,
    gha: bool,
    start: Instant,
}

impl RunReport {
    pub fn new(command: impl Into<String>) -> RunReport {
        RunReport {
            command: command.into(),
            metrics: Metrics::default(),
            images: Vec::new(),
            figures: Vec::new(),
            phase: None,
            gha: std::env::var("GITHUB_ACTIONS").map(|v| v == "true").unwrap_or(false),
            start: Instant::now(),
        }
    }

    /// A timed step, in its own `::group::` under GitHub Actions.
    pub fn step<T>(&mut self, name: impl Into<String>, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let name = name.into();
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
        self.images.push(ImageResult { image: image.into(), platform: platform.into(), seconds: secs, ok, digest });
        res.map(|(t, _)| t)
    }

    pub fn figure(&mut self, name: impl Into<String>, value: f64) {
        self.figures.push((name.into(), value));
    }

    /// Print the table and write `metrics.json` (and the step summary under
    /// GitHub Actions). Called on success and on failure; its own failures
    /// are warnings so they never hide the command's error.
    pub fn finish(&self, result: &Result<()>, metrics_file: &Path) {
        if !self.metrics.steps.is_empty() {
            eprintln!("\n{}", self.metrics.table());
        }
        if let Err(e) = self.write_json(result, metrics_file) {
            eprintln!("warning: cannot write {}: {e:#}", metrics_file.display());
        } else if !self.metrics.steps.is_empty() {
            eprintln!("metrics: {}", metrics_file.display());
        }
        if self.gha {
            if let Err(e) = &result {
                if self.images.iter().all(|i| i.ok) {
                    println!("::error title=Build Failed::{}: {}", self.command, one_line(&format!("{e:#}")));
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

    fn write_json(&self, result: &Result<()>, path: &Path) -> Result<()> {
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
        }
        let figures = self.figures.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect();
        let out = Out {
            command: &self.command,
            ok: result.is_ok(),
            error: result.as_ref().err().map(|e| format!("{e:#}")),
            total_seconds: self.start.elapsed().as_secs_f64(),
            steps: &self.metrics.steps,
            images: &self.images,
            figures,
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        fs::write(path, serde_json::to_string_pretty(&out)? + "\n")?;
        Ok(())
    }

    /// The step summary: one table of steps, then the images.
    pub fn markdown(&self, result: &Result<()>) -> String {
        let mut md =
            format!("### `cargo xtask {}` {}\n\n", self.command, if result.is_ok() { "succeeded" } else { "FAILED" });
        let mut steps = Table::new(&["step", "time", "result"]).align(1, Align::Right);
        for s in &self.metrics.steps {
            let result = if s.ok { "ok" } else { "**failed**" };
            steps.row([s.name.clone(), human(Duration::from_secs_f64(s.seconds)), result.to_owned()]);
        }
        md += &steps.markdown();
        if !self.images.is_empty() {
            let mut images = Table::new(&["image", "platform", "time", "result", "digest"]).align(2, Align::Right);
            for i in &self.images {
                images.row([
                    i.image.clone(),
                    i.platform.clone(),
                    minutes(i.seconds),
                    if i.ok { "ok" } else { "**failed**" }.to_owned(),
                    i.digest.as_deref().map(|d| format!("`{d}`")).unwrap_or_default(),
                ]);
            }
            md += "\n";
            md += &images.markdown();
        }
        if !self.figures.is_empty() {
            let mut figures = Table::new(&["figure", "value"]).align(1, Align::Right);
            for (k, v) in &self.figures {
                figures.row([k.clone(), format!("{v:.3}")]);
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

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// `--metrics-file`, else `<target-dir>/xtask/metrics.json`.
pub fn metrics_path(ctx: &crate::Ctx, flag: Option<&Path>) -> PathBuf {
    if let Some(f) = flag {
        return ctx.sh.current_dir().join(f);
    }
    let target =
        ctx.workspace().ok().and_then(|ws| ws.target_dir().ok()).unwrap_or_else(|| ctx.sh.current_dir().join("target"));
    target.join("xtask").join("metrics.json")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        r.finish(&res, &path);
        let v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"], "boom");
        assert_eq!(v["steps"].as_array().unwrap().len(), 2);
        assert!(r.markdown(&res).contains("| b |"));
    }
}
