//! Benchmark records and `cargo xtask bench report [--check]`.
//!
//! Every bench appends one [`Record`] (bench, command, UTC date, short
//! commit, machine, figures with their samples) to
//! `benchmarks/records/<bench>.json`, a JSON array, oldest first. Figures
//! live there and only there: `bench report` renders every record into
//! `BENCHMARKS.md` (newest first, min/median/max of each figure's samples),
//! and `bench report --check` fails when that file differs from what the
//! records generate, so a hand edit of it is caught.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    time::SystemTime,
};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::{ctx::Ctx, workspace::Workspace};

/// Where the records live, relative to the workspace root.
pub const RECORDS_DIR: &str = "benchmarks/records";
/// The generated file, relative to the workspace root.
pub const OUTPUT: &str = "BENCHMARKS.md";
/// `source` of a record a bench wrote.
pub const MEASURED: &str = "bench";

/// One run of one bench.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The bench (the file's name): `precache`, `cross`, `xtask`, `router`, …
    pub bench: String,
    /// The command line that produced the figures.
    pub command: String,
    /// When, in UTC: `2026-12-07T21:04:05Z` (null: not recorded).
    pub date: Option<String>,
    /// The short hash of the commit measured (null: not recorded).
    pub commit: Option<String>,
    /// `bench` when a bench wrote it, else where the figures come from.
    pub source: String,
    pub machine: Machine,
    /// What else was true of the run (load, versions, outcome), one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub figures: Vec<Figure>,
}

/// The machine a record was measured on; null: not recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    pub cores: Option<u32>,
    pub memory_bytes: Option<u64>,
    pub cpu: Option<String>,
    pub kernel: Option<String>,
}

/// One figure of a run: every sample taken (the report computes min, median, max).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    pub name: String,
    /// `s`, `ms`, `MB`, `MiB`, `%`, `ratio`, `count`, `req/s`, …
    pub unit: String,
    pub samples: Vec<f64>,
    /// The goal: the median must be at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal_max: Option<f64>,
}

impl Figure {
    pub fn new(name: impl Into<String>, unit: &str, samples: Vec<f64>) -> Figure {
        Figure { name: name.into(), unit: unit.to_owned(), samples, goal_max: None }
    }

    pub fn goal_max(mut self, goal: f64) -> Figure {
        self.goal_max = Some(goal);
        self
    }
}

/// `cargo xtask bench report [--check]` on the workspace.
pub fn run(ctx: &Ctx, check: bool) -> Result<()> {
    let root = &ctx.workspace()?.root;
    let text = render(&load(&root.join(RECORDS_DIR))?);
    let out = root.join(OUTPUT);
    if check {
        let have = std::fs::read_to_string(&out)
            .with_context(|| format!("cannot read {}: run `cargo xtask bench report`", out.display()))?;
        return compare(&text, &have);
    }
    crate::fsutil::write_file(&out, text.as_bytes(), 0o644)?;
    eprintln!("bench report: wrote {}", out.display());
    Ok(())
}

/// Ok when `have` (the file) is what the records generate (`want`), else
/// one error naming the first line that differs.
pub fn compare(want: &str, have: &str) -> Result<()> {
    if want == have {
        return Ok(());
    }
    let (w, h): (Vec<&str>, Vec<&str>) = (want.lines().collect(), have.lines().collect());
    let n = w.iter().zip(&h).position(|(a, b)| a != b).unwrap_or(w.len().min(h.len()));
    let line = |v: &[&str]| v.get(n).map_or("(end of file)".to_owned(), |l| format!("{l:?}"));
    bail!(
        "{OUTPUT} is not what {RECORDS_DIR}/ generates (line {}: the file has {}, the records give {}); \
         it is generated: run `cargo xtask bench report`, never edit it by hand",
        n + 1,
        line(&h),
        line(&w)
    )
}

/// Every record of `dir` (`<bench>.json` files), by bench name.
pub fn load(dir: &Path) -> Result<Vec<(String, Vec<Record>)>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<Vec<_>>>()
            .with_context(|| format!("cannot read {}", dir.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    files.retain(|p| p.extension().is_some_and(|x| x == "json"));
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let bench = file.file_stem().and_then(|s| s.to_str()).context("a record file name is not UTF-8")?.to_owned();
        let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let records: Vec<Record> =
            serde_json::from_str(&text).with_context(|| format!("{}: not an array of records", file.display()))?;
        for (i, r) in records.iter().enumerate() {
            validate(r, &bench).with_context(|| format!("{}: record {}", file.display(), i + 1))?;
        }
        out.push((bench, records));
    }
    Ok(out)
}

fn validate(r: &Record, bench: &str) -> Result<()> {
    if r.bench != bench {
        bail!("bench {:?} in the file of bench {bench:?}", r.bench);
    }
    if let Some(date) = &r.date {
        let ok = date.len() == 20
            && date.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                10 => b == b'T',
                13 | 16 => b == b':',
                19 => b == b'Z',
                _ => b.is_ascii_digit(),
            });
        if !ok {
            bail!("date {date:?} is not a UTC time like 2026-12-07T21:04:05Z");
        }
    }
    if r.figures.is_empty() {
        bail!("no figures");
    }
    for f in &r.figures {
        if f.samples.is_empty() || f.samples.iter().any(|s| !s.is_finite()) {
            bail!("figure {:?}: samples must be finite numbers, at least one", f.name);
        }
        if f.unit.is_empty() || f.name.is_empty() {
            bail!("a figure without a name or unit");
        }
    }
    Ok(())
}

/// What each bench measures, for the report's sections.
fn about(bench: &str) -> Option<&'static str> {
    Some(match bench {
        "precache" => {
            "`cargo xtask bench precache`: cold build, cook, and the rebuild after an application change \
             (prepare, copy with old mtimes, clean-stale, build) against its floor and cargo-chef's."
        }
        "cross" => {
            "`cargo xtask bench cross`: cold release builds for foreign platforms (no QEMU) against the native \
             one; `verify-symbols` against `nm -D --defined-only`."
        }
        "xtask" => "`cargo xtask bench xtask`: what xtask itself costs: cold compile, warm `cargo xtask --help`, size.",
        "router" => "`cargo xtask bench router`: the router under load: RSS, latency, statuses.",
        "ci" => "`bash .ci/run` and its parts: the main job, `cargo xtask test`, `cargo xtask lint --install`.",
        "dist" => "`cargo xtask dist` builds outside the benches.",
        "e2e" => "`cargo xtask e2e`: the images end to end on one machine.",
        "images" => "`cargo xtask test --suite images`: every image × platform pair through buildx.",
        "fuzz" => "`cargo xtask fuzz`: mutated ELF files and archives.",
        "act" => {
            "`cargo xtask ci act --event E`: `docker-publish.yml` run by act on this machine, then the registry \
             checked against what the event promises."
        }
        "elf" => "`symbols` and `verify-symbols` on valid files: what they were checked on.",
        _ => return None,
    })
}

/// BENCHMARKS.md for these records.
pub fn render(benches: &[(String, Vec<Record>)]) -> String {
    let mut s = String::new();
    s.push_str(
        "This file is generated by `cargo xtask bench report` from `benchmarks/records/*.json`: \
         do not edit it by hand.\n\n# Benchmarks\n\n",
    );
    s.push_str(
        "Each bench appends a record to `benchmarks/records/<bench>.json`: the command, the date (UTC), \
         the commit, the machine and every sample of each figure. Records are listed newest first; min, \
         median and max are over a figure's samples, and a goal is met when the median is at most the goal. \
         `cargo xtask bench report --check` fails when this file is not what the records generate. \
         A record whose source is \"README figures\" was transcribed from the README's text: its date, \
         commit and machine are what that text said, no more.\n",
    );
    for (bench, records) in benches {
        let _ = write!(s, "\n## {bench}\n\n");
        if let Some(about) = about(bench) {
            let _ = writeln!(s, "{about}\n");
        }
        for r in records.iter().rev() {
            record(&mut s, r);
        }
    }
    s
}

fn record(s: &mut String, r: &Record) {
    let when = r.date.as_deref().map_or("date not recorded".to_owned(), |d| d.replace('T', " "));
    let commit = r.commit.as_deref().map_or("commit not recorded".to_owned(), |c| format!("commit {c}"));
    let _ = writeln!(s, "### `{}`\n", r.command.replace('`', "'"));
    let _ = writeln!(s, "{when}, {commit}; {}; source: {}.\n", machine(&r.machine), r.source);
    for note in &r.notes {
        let _ = writeln!(s, "- {note}");
    }
    if !r.notes.is_empty() {
        s.push('\n');
    }
    s.push_str("| figure | median | min | max | samples | goal |\n| --- | ---: | ---: | ---: | ---: | --- |\n");
    for f in &r.figures {
        let (min, median, max) = stats(&f.samples);
        let goal = f.goal_max.map_or(String::new(), |g| {
            let met = if median <= g { "met" } else { "NOT met" };
            format!("≤ {}: {met}", value(g, &f.unit))
        });
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {goal} |",
            f.name.replace('|', "\\|"),
            value(median, &f.unit),
            value(min, &f.unit),
            value(max, &f.unit),
            f.samples.len()
        );
    }
    s.push('\n');
}

fn machine(m: &Machine) -> String {
    let mut parts = Vec::new();
    if let Some(c) = m.cores {
        parts.push(format!("{c} cores"));
    }
    if let Some(b) = m.memory_bytes {
        parts.push(format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64));
    }
    if let Some(c) = &m.cpu {
        parts.push(c.clone());
    }
    if let Some(k) = &m.kernel {
        parts.push(format!("Linux {k}"));
    }
    if parts.is_empty() {
        "machine not recorded".to_owned()
    } else {
        parts.join(", ")
    }
}

/// (min, median, max); the median of an even count is the mean of the middle two.
pub fn stats(samples: &[f64]) -> (f64, f64, f64) {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    (v[0], median, v[n - 1])
}

/// A value with its unit: seconds from a minute up as `10m 19s`, below one as ms.
fn value(v: f64, unit: &str) -> String {
    match unit {
        "s" if v >= 60.0 => {
            let secs = v.round() as u64;
            format!("{}m {:02}s", secs / 60, secs % 60)
        }
        "s" if v < 1.0 => format!("{} ms", number(v * 1000.0)),
        "ratio" | "count" => number(v),
        _ => format!("{} {unit}", number(v)),
    }
}

/// About three significant digits, trailing zeros dropped.
fn number(v: f64) -> String {
    let a = v.abs();
    let digits = if a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s };
    // Thousands separated, as the rest of the documentation writes them.
    let (int, frac) = s.split_once('.').map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let (sign, int) = int.strip_prefix('-').map_or(("", int), |i| ("-", i));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Append `record` to its bench's file in `root`, then regenerate `BENCHMARKS.md` there.
pub fn append(root: &Path, record: &Record) -> Result<PathBuf> {
    let dir = root.join(RECORDS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file = dir.join(format!("{}.json", record.bench));
    let mut records: Vec<Record> = match std::fs::read_to_string(&file) {
        Ok(text) => {
            serde_json::from_str(&text).with_context(|| format!("{}: not an array of records", file.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    records.push(record.clone());
    crate::fsutil::write_file(&file, (serde_json::to_string_pretty(&records)? + "\n").as_bytes(), 0o644)?;
    crate::fsutil::write_file(&root.join(OUTPUT), render(&load(&dir)?).as_bytes(), 0o644)?;
    Ok(file)
}

/// A bench's record of this run: the command line, now, this commit and machine.
pub fn new_record(ctx: &Ctx, bench: &str, figures: Vec<Figure>, notes: Vec<String>) -> Record {
    let root = records_root(ctx);
    let commit = root.as_deref().and_then(|root| {
        let sh = &ctx.sh;
        xshell::cmd!(sh, "git -C {root} rev-parse --short HEAD").quiet().ignore_stderr().read().ok()
    });
    let unix = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Record {
        bench: bench.to_owned(),
        command: command_line(std::env::args().collect()),
        date: Some(utc(unix)),
        commit: commit.filter(|c| !c.is_empty()),
        source: MEASURED.to_owned(),
        machine: Machine::here(),
        notes,
        figures,
    }
}

/// Append a bench's record where this workspace keeps them, and say where.
pub fn save(ctx: &Ctx, record: &Record) -> Result<()> {
    let root = records_root(ctx).context("no workspace to keep the benchmark record in")?;
    let file = append(&root, record)?;
    eprintln!("bench: recorded in {} and regenerated {OUTPUT}", file.display());
    Ok(())
}

/// The workspace of the current directory (a bench on another workspace,
/// `--manifest-path`, still records here), else the one xtask acts on.
fn records_root(ctx: &Ctx) -> Option<PathBuf> {
    Workspace::locate(&ctx.sh, None).map(|w| w.root).ok().or_else(|| ctx.workspace().ok().map(|w| w.root.clone()))
}

/// `cargo xtask <args>` for the argv xtask was started with.
fn command_line(argv: Vec<String>) -> String {
    let mut args: Vec<String> = argv.into_iter().skip(1).collect();
    if args.first().is_some_and(|a| a == "xtask") {
        args.remove(0); // run as the cargo subcommand `cargo-xtask`
    }
    let mut line = vec!["cargo".to_owned(), "xtask".to_owned()];
    line.extend(args);
    crate::sys::shell_line(&line)
}

/// `2026-12-07T21:04:05Z` for a Unix time.
pub use crate::docker::report::rfc3339 as utc;

impl Machine {
    /// This machine: cores, memory, CPU model and kernel from `/proc`.
    pub fn here() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().ok().map(|n| n.get() as u32),
            memory_bytes: proc_field(&read("/proc/meminfo"), "MemTotal")
                .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kb| kb * 1024),
            cpu: proc_field(&read("/proc/cpuinfo"), "model name"),
            kernel: Some(read("/proc/sys/kernel/osrelease").trim().to_owned()).filter(|k| !k.is_empty()),
        }
    }
}

/// The value of the first `key: value` line of a `/proc` text.
fn proc_field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_owned()).filter(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(String, Vec<Record>)> {
        let r = Record {
            bench: "xtask".into(),
            command: "cargo xtask bench xtask".into(),
            date: Some("2026-12-07T21:04:05Z".into()),
            commit: Some("abc1234".into()),
            source: MEASURED.into(),
            machine: Machine { cores: Some(2), memory_bytes: Some(8 << 30), cpu: Some("CPU X".into()), kernel: None },
            notes: vec!["nothing else running".into()],
            figures: vec![
                Figure::new("cold build", "s", vec![41.6, 38.1, 37.2]).goal_max(40.0),
                Figure::new("warm --help", "s", vec![0.143]),
            ],
        };
        vec![("xtask".into(), vec![r])]
    }

    #[test]
    fn a_record_renders_as_a_table() {
        let text = render(&sample());
        assert!(text.starts_with("This file is generated by `cargo xtask bench report`"), "{text}");
        assert!(text.contains("do not edit it by hand"), "{text}");
        assert!(
            text.contains("2026-12-07 21:04:05Z, commit abc1234; 2 cores, 8.0 GiB, CPU X; source: bench."),
            "{text}"
        );
        assert!(text.contains("| cold build | 38.1 s | 37.2 s | 41.6 s | 3 | ≤ 40 s: met |"), "{text}");
        assert!(text.contains("| warm --help | 143 ms | 143 ms | 143 ms | 1 |  |"), "{text}");
    }

    #[test]
    fn changing_a_record_changes_the_output() {
        let before = render(&sample());
        let mut changed = sample();
        changed[0].1[0].figures[0].samples[1] = 40.5;
        let after = render(&changed);
        assert_ne!(before, after);
        assert!(after.contains("| cold build | 40.5 s | 37.2 s | 41.6 s | 3 | ≤ 40 s: NOT met |"), "{after}");
        // And --check then fails on the old file.
        let err = compare(&after, &before).unwrap_err().to_string();
        assert!(err.contains("cargo xtask bench report"), "{err}");
    }

    #[test]
    fn a_hand_edit_is_caught() {
        let text = render(&sample());
        compare(&text, &text).unwrap();
        let edited = text.replace("38.1 s", "35.0 s");
        let err = compare(&text, &edited).unwrap_err().to_string();
        assert!(err.contains("never edit it by hand"), "{err}");
        let line = text.lines().position(|l| l.contains("38.1 s")).unwrap() + 1;
        assert!(err.contains(&format!("line {line}:")), "{err}");
        // A line added at the end, or the end cut off, is a difference too.
        assert!(compare(&text, &format!("{text}extra\n")).is_err());
        assert!(compare(&text, &text[..text.len() - 10]).is_err());
    }

    #[test]
    fn append_keeps_older_records_and_regenerates_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let r = sample().remove(0).1.remove(0);
        append(dir.path(), &r).unwrap();
        let mut second = r.clone();
        second.commit = Some("def5678".into());
        append(dir.path(), &second).unwrap();
        let loaded = load(&dir.path().join(RECORDS_DIR)).unwrap();
        assert_eq!(loaded, vec![("xtask".to_owned(), vec![r, second])]);
        let md = std::fs::read_to_string(dir.path().join(OUTPUT)).unwrap();
        assert_eq!(md, render(&loaded));
        // Newest first.
        assert!(md.find("def5678").unwrap() < md.find("abc1234").unwrap(), "{md}");
    }

    #[test]
    fn bad_records_are_one_error() {
        let dir = tempfile::tempdir().unwrap();
        let records = dir.path().join(RECORDS_DIR);
        std::fs::create_dir_all(&records).unwrap();
        let mut r = sample().remove(0).1.remove(0);
        r.bench = "cross".into();
        std::fs::write(records.join("xtask.json"), serde_json::to_string(&[&r]).unwrap()).unwrap();
        let err = format!("{:#}", load(&records).unwrap_err());
        assert!(err.contains("xtask.json: record 1: bench \"cross\""), "{err}");
        r.bench = "xtask".into();
        r.date = Some("yesterday".into());
        std::fs::write(records.join("xtask.json"), serde_json::to_string(&[&r]).unwrap()).unwrap();
        assert!(format!("{:#}", load(&records).unwrap_err()).contains("not a UTC time"));
        std::fs::write(records.join("xtask.json"), r#"[{"bench": "xtask", "extra": 1}]"#).unwrap();
        assert!(format!("{:#}", load(&records).unwrap_err()).contains("not an array of records"));
    }

    #[test]
    fn figures_and_units() {
        assert_eq!(stats(&[3.0, 1.0, 2.0, 10.0]), (1.0, 2.5, 10.0));
        assert_eq!(value(619.0, "s"), "10m 19s");
        assert_eq!(value(182.0, "s"), "3m 02s");
        assert_eq!(value(9.4, "s"), "9.4 s");
        assert_eq!(value(0.054, "s"), "54 ms");
        assert_eq!(value(0.93, "ratio"), "0.93");
        assert_eq!(value(10002.0, "count"), "10,002");
        assert_eq!(value(3197.0, "count"), "3,197");
        assert_eq!(value(147.0, "count"), "147");
        assert_eq!(value(57.4, "ms"), "57.4 ms");
        assert_eq!(value(26.0, "MiB"), "26 MiB");
        assert_eq!(utc(1_798_761_599), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn the_command_line_and_proc_fields() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(command_line(argv(&["target/debug/xtask", "bench", "xtask"])), "cargo xtask bench xtask");
        assert_eq!(command_line(argv(&["cargo-xtask", "xtask", "bench", "router"])), "cargo xtask bench router");
        let cpuinfo = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\nmodel name\t: other\n";
        assert_eq!(proc_field(cpuinfo, "model name").as_deref(), Some("Intel(R) Xeon(R)"));
        assert_eq!(proc_field("MemTotal:  24683784 kB\n", "MemTotal").as_deref(), Some("24683784 kB"));
        assert_eq!(proc_field("", "model name"), None);
    }
}
