//! The result of `verify-symbols`: one row per (file, check), and its table.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};
use serde::Serialize;

use crate::table::Table;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Note,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Note => "NOTE",
        })
    }
}

/// One row of a report.
#[derive(Debug, Clone, Serialize)]
pub struct SymbolCheck {
    pub file: PathBuf,
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SymbolReport {
    pub checks: Vec<SymbolCheck>,
}

impl SymbolReport {
    /// No check failed (notes do not count).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    pub fn failures(&self) -> impl Iterator<Item = &SymbolCheck> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }

    pub fn extend(&mut self, other: SymbolReport) {
        self.checks.extend(other.checks);
    }

    /// `file: check, check; file: check` for the failed checks.
    pub fn failure_summary(&self) -> String {
        let mut by_file: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for c in self.failures() {
            by_file.entry(file_label(&c.file)).or_default().push(c.check);
        }
        by_file.iter().map(|(f, cs)| format!("{f}: {}", cs.join(", "))).collect::<Vec<_>>().join("; ")
    }

    /// Ok, or one error naming each failed check.
    pub fn into_result(self) -> Result<()> {
        if self.ok() {
            Ok(())
        } else {
            bail!("symbol verification failed: {}", self.failure_summary())
        }
    }

    pub(super) fn push(&mut self, file: &Path, check: &'static str, pass: bool, detail: impl Into<String>) {
        let status = if pass { Status::Pass } else { Status::Fail };
        self.checks.push(SymbolCheck { file: file.to_path_buf(), check, status, detail: detail.into() });
    }

    /// A check that passes when `problems` is empty: `ok` then, else
    /// `bad` of the problems joined with `, `.
    pub(super) fn push_unless<S: AsRef<str>>(
        &mut self,
        file: &Path,
        check: &'static str,
        problems: &[S],
        ok: String,
        bad: impl FnOnce(String) -> String,
    ) {
        let detail = if problems.is_empty() {
            ok
        } else {
            bad(problems.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", "))
        };
        self.push(file, check, problems.is_empty(), detail);
    }

    pub(super) fn note(&mut self, file: &Path, check: &'static str, detail: impl Into<String>) {
        self.checks.push(SymbolCheck { file: file.to_path_buf(), check, status: Status::Note, detail: detail.into() });
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut table = Table::new(&["", "check", "file", "detail"]).min_width(0, 4);
        for c in &self.checks {
            table.row([c.status.to_string(), c.check.to_string(), file_label(&c.file), c.detail.clone()]);
        }
        let mut out = table.render();
        let failed = self.failures().count();
        out.push_str(&format!(
            "{} checks, {} failed\n",
            self.checks.iter().filter(|c| c.status != Status::Note).count(),
            failed
        ));
        out
    }
}

fn file_label(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_summary() {
        let mut r = SymbolReport::default();
        r.push(Path::new("/t/libx.so"), "machine", true, "ok");
        r.note(Path::new("/t/libx.so"), "extra-exports", "x");
        assert!(r.ok());
        r.push(Path::new("/t/libx.so"), "glibc", false, "too new");
        r.push(Path::new("/t/libx.so"), "soname", false, "none");
        r.push(Path::new("/t/extproc"), "built", false, "not built");
        assert!(!r.ok());
        assert_eq!(r.failure_summary(), "extproc: built; libx.so: glibc, soname");
        let err = r.clone().into_result().unwrap_err().to_string();
        assert!(err.contains("libx.so: glibc, soname"), "{err}");
        let table = r.table();
        assert!(table.contains("FAIL  glibc") && table.contains("4 checks, 3 failed"), "{table}");
    }
}
