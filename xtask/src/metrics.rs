//! Timing of pipeline steps, printed as a table at the end of a command.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::table::{Align, Table};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub name: String,
    pub seconds: f64,
    pub ok: bool,
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub steps: Vec<Step>,
}

impl Metrics {
    /// Run `f` as a named step and record its time, whether it fails or not.
    pub fn step<T>(&mut self, name: impl Into<String>, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let name = name.into();
        eprintln!("==> {name}");
        let start = Instant::now();
        let res = f();
        self.steps.push(Step { name, seconds: start.elapsed().as_secs_f64(), ok: res.is_ok() });
        res
    }

    pub fn table(&self) -> String {
        let mut table = Table::new(&["step", "time", "result"]).align(1, Align::Right).min_width(1, 10);
        for s in &self.steps {
            let result = if s.ok { "ok" } else { "FAILED" };
            table.row([s.name.clone(), human(Duration::from_secs_f64(s.seconds)), result.to_owned()]);
        }
        table.render()
    }
}

/// `1m 05.2s`, `3.4s`, `120ms`.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1.0 {
        format!("{}ms", d.as_millis())
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m {:04.1}s", (secs / 60.0).floor() as u64, secs % 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(120)), "120ms");
        assert_eq!(human(Duration::from_millis(3400)), "3.4s");
        assert_eq!(human(Duration::from_millis(65_200)), "1m 05.2s");
    }

    #[test]
    fn failed_steps_are_recorded() {
        let mut m = Metrics::default();
        let _ = m.step("ok", || Ok(()));
        let err = m.step("bad", || -> Result<()> { anyhow::bail!("boom") });
        assert!(err.is_err());
        assert_eq!(m.steps.iter().map(|s| s.ok).collect::<Vec<_>>(), [true, false]);
        assert!(m.table().contains("FAILED"));
    }
}
