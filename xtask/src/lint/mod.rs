//! `cargo xtask lint [--fix] [--install] [--only CHECK,…]`: every linter of
//! the project and our own checks, one report row each (PASS, FAIL, or
//! SKIPPED where a tool cannot be installed here), every failure as
//! `file:line: rule: message`, non-zero exit if any check failed.
//!
//! `--install-only`: install the tools of the selected checks and exit (an
//! image build); with `XTASK_LINT_TOOLS` set it needs no workspace.
//!
//! - `dockerfile`: our Dockerfile rules ([`dockerfile`]);
//! - `workflow-commands`: every `cargo xtask …` a workflow step (or `.ci/run`)
//!   calls exists: `xtask <sub> [<subsub>] --help` exits 0 ([`workflow`]);
//! - the external linters ([`mod@tools`]: where each comes from, `--install`).
//!
//! Files: tracked ones (`git ls-files`, [`files`]); Dockerfiles and workflows
//! by their fixed places.

pub mod dockerfile;
pub mod files;
pub mod tools;
pub mod workflow;

use std::{
    fmt,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

pub use crate::flags::LintCheck;
use crate::{
    ctx::Ctx,
    flags,
    metrics::human,
    platform::Platform,
    table::{Align, Table},
};
use tools::{Dirs, Runner, Tool};

/// One problem, at a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub line: usize,
    pub rule: String,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {}", self.file, self.line, self.rule, self.message)
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// Findings, and/or a note when the failure has no place (tool missing, crashed).
    Fail {
        findings: Vec<Finding>,
        note: Option<String>,
    },
    /// The tool cannot be installed on this machine (the reason).
    Skipped(String),
}

impl Outcome {
    fn from_findings(findings: Vec<Finding>) -> Outcome {
        if findings.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail { findings, note: None }
        }
    }

    fn failed(note: impl Into<String>) -> Outcome {
        Outcome::Fail { findings: Vec::new(), note: Some(note.into()) }
    }
}

/// The tools a check needs.
fn tools(check: LintCheck) -> &'static [Tool] {
    match check {
        LintCheck::Rustfmt => &[Tool::Rustfmt],
        LintCheck::Clippy => &[Tool::Clippy],
        LintCheck::Gofmt => &[Tool::Gofmt],
        LintCheck::GoVet => &[Tool::Go],
        LintCheck::Shellcheck => &[Tool::Shellcheck],
        LintCheck::Actionlint => &[Tool::Actionlint, Tool::Shellcheck],
        LintCheck::Zizmor => &[Tool::Zizmor],
        LintCheck::Yamllint => &[Tool::Yamllint],
        LintCheck::Hadolint => &[Tool::Hadolint],
        LintCheck::Codespell => &[Tool::Codespell],
        LintCheck::WorkflowCommands | LintCheck::Dockerfile => &[],
    }
}

/// The checks `--only` selects (all when empty), in run order.
pub fn select(only: &[LintCheck]) -> Vec<LintCheck> {
    LintCheck::ALL.into_iter().filter(|c| only.is_empty() || only.contains(c)).collect()
}

/// One row of the report.
#[derive(Debug, Clone)]
pub struct CheckRun {
    pub check: String,
    pub outcome: Outcome,
    pub seconds: f64,
}

/// The report: the table, then each failure's findings. Returns the text and
/// the names of the failed checks (the exit status: failed when not empty).
pub fn report(rows: &[CheckRun]) -> (String, Vec<String>) {
    let mut table =
        Table::new(&["check", "result", "time", "detail"]).min_width(1, 7).align(2, Align::Right).min_width(2, 8);
    let mut failed = Vec::new();
    for r in rows {
        let time = human(std::time::Duration::from_secs_f64(r.seconds));
        let (status, detail) = match &r.outcome {
            Outcome::Pass => ("PASS", String::new()),
            Outcome::Skipped(why) => ("SKIPPED", why.clone()),
            Outcome::Fail { findings, note } => {
                failed.push(r.check.clone());
                let mut d = match findings.len() {
                    0 => String::new(),
                    1 => "1 finding".to_owned(),
                    n => format!("{n} findings"),
                };
                if let Some(note) = note {
                    let first = note.lines().next().unwrap_or("");
                    d = if d.is_empty() { first.to_owned() } else { format!("{d}; {first}") };
                }
                ("FAIL", d)
            }
        };
        table.row([r.check.clone(), status.to_owned(), time, detail]);
    }
    let mut out = table.render();
    for r in rows {
        if let Outcome::Fail { findings, note } = &r.outcome {
            out.push_str(&format!("\n--- {} ---\n", r.check));
            if let Some(note) = note {
                out.push_str(note.trim_end());
                out.push('\n');
            }
            for f in findings {
                out.push_str(&format!("{f}\n"));
            }
        }
    }
    (out, failed)
}

/// What the checks share.
struct LintEnv<'a> {
    sh: &'a Shell,
    root: PathBuf,
    dirs: Dirs,
    fix: bool,
    tracked: std::cell::OnceCell<Result<Vec<String>, String>>,
}

impl LintEnv<'_> {
    fn tracked(&self) -> Result<&[String]> {
        match self.tracked.get_or_init(|| files::tracked(self.sh, &self.root).map_err(|e| format!("{e:#}"))) {
            Ok(v) => Ok(v),
            Err(e) => bail!("{e}"),
        }
    }

    fn tool(&self, tool: Tool) -> Result<Runner, Outcome> {
        match tool.locate(self.sh, &self.dirs) {
            Some(r) => Ok(r),
            None => Err(match tools::not_installable(tool) {
                Some(why) => Outcome::Skipped(why),
                None => Outcome::failed(format!(
                    "{} is not installed: {}",
                    tool.name(),
                    tool.install_hint(Platform::host().unwrap_or(Platform::AMD64))
                )),
            }),
        }
    }

    /// Run `prog args` in `dir` (relative to the root); (success, stdout + stderr).
    fn run(&self, dir: &str, prog: &Path, args: &[String], env: &[(&str, &str)]) -> Result<(bool, String)> {
        let _d = self.sh.push_dir(self.root.join(dir));
        let mut c = cmd!(self.sh, "{prog} {args...}").quiet().ignore_status();
        for (k, v) in env {
            c = c.env(k, v);
        }
        let out = c.output().with_context(|| format!("cannot run {}", prog.display()))?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok((out.status.success(), text))
    }
}

/// A failed tool run without parseable findings: its last lines as the note.
fn tool_failure(tool: &str, findings: Vec<Finding>, ok: bool, out: &str) -> Outcome {
    match (ok, findings.is_empty()) {
        (true, _) => Outcome::Pass,
        (false, false) => Outcome::Fail { findings, note: None },
        (false, true) => {
            let tail: Vec<&str> = out.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
            Outcome::failed(format!("{tool} failed:\n{}", tail.join("\n")))
        }
    }
}

impl flags::Lint {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        if self.list {
            for check in LintCheck::ALL {
                println!("{:<18} {}", check.name(), check.what());
            }
            return Ok(());
        }
        let checks = select(&self.only);
        if self.install_only {
            return tools::install(&ctx.sh, &tool_dirs(ctx)?, &tools_of(&checks));
        }
        let ws = ctx.workspace()?;
        let env = LintEnv {
            sh: &ctx.sh,
            root: ws.root.clone(),
            dirs: tool_dirs(ctx)?,
            fix: self.fix,
            tracked: std::cell::OnceCell::new(),
        };
        if self.install {
            // Go on: a tool still missing makes its check FAIL with how to install it.
            if let Err(e) = tools::install(env.sh, &env.dirs, &tools_of(&checks)) {
                eprintln!("warning: {e:#}");
            }
        }
        let mut rows = Vec::new();
        for check in checks {
            eprintln!("==> lint {}", check.name());
            let start = Instant::now();
            let outcome = match run_check(&env, check) {
                Ok(o) => o,
                Err(e) => Outcome::failed(format!("{e:#}")),
            };
            rows.push(CheckRun { check: check.name().to_owned(), outcome, seconds: start.elapsed().as_secs_f64() });
        }
        let (text, failed) = report(&rows);
        println!("{text}");
        verdict(&rows, &failed, crate::sys::ci())
    }
}

/// The exit status: a failed check fails the run, and under CI (`ci`) so
/// does a skipped one (a check that did not run proves nothing).
fn verdict(rows: &[CheckRun], failed: &[String], ci: bool) -> Result<()> {
    if !failed.is_empty() {
        bail!("lint failed: {}", failed.join(", "));
    }
    let skipped: Vec<&str> =
        rows.iter().filter(|r| matches!(r.outcome, Outcome::Skipped(_))).map(|r| r.check.as_str()).collect();
    if !skipped.is_empty() && ci {
        bail!("CI=true: every check must run; skipped: {}", skipped.join(", "));
    }
    Ok(())
}

/// The tools `checks` need, each once, in check order.
fn tools_of(checks: &[LintCheck]) -> Vec<Tool> {
    let mut needed: Vec<Tool> = Vec::new();
    for t in LintCheck::ALL.into_iter().filter(|c| checks.contains(c)).flat_map(tools) {
        if !needed.contains(t) {
            needed.push(*t);
        }
    }
    needed
}

/// Where the lint tools live: `$XTASK_LINT_TOOLS` (no workspace needed), else
/// the workspace's target directory.
fn tool_dirs(ctx: &Ctx) -> Result<Dirs> {
    if tools::tools_env().is_some() {
        return Dirs::resolve(None);
    }
    let ws = ctx.workspace().with_context(|| {
        let var = tools::TOOLS_ENV;
        format!("{var} is not set, so the lint tools go to the workspace's target directory (or set {var}=<dir>)")
    })?;
    let target = ws.target_dir().unwrap_or_else(|_| ws.path("target"));
    Dirs::resolve(Some(&target))
}

fn run_check(env: &LintEnv<'_>, check: LintCheck) -> Result<Outcome> {
    macro_rules! tool {
        ($t:expr) => {
            match env.tool($t) {
                Ok(r) => r,
                Err(outcome) => return Ok(outcome),
            }
        };
    }
    let cargo = crate::workspace::cargo();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match check {
        LintCheck::Rustfmt => {
            tool!(Tool::Rustfmt);
            if env.fix {
                env.run(".", &cargo, &s(&["fmt", "--all"]), &[])?;
            }
            let (ok, out) = env.run(".", &cargo, &s(&["fmt", "--all", "--check"]), &[])?;
            Ok(tool_failure("cargo fmt", tools::parse_rustfmt(&out, &env.root), ok, &out))
        }
        LintCheck::Clippy => {
            tool!(Tool::Clippy);
            let args = s(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--keep-going",
                "--message-format=short",
                "--",
                "-D",
                "warnings",
            ]);
            let (ok, out) = env.run(".", &cargo, &args, &[])?;
            let findings = tools::parse_locations(&out, &env.root, "", "clippy");
            Ok(tool_failure("cargo clippy", findings, ok, &out))
        }
        LintCheck::Gofmt => {
            let go = files::go_files(env.tracked()?);
            if go.is_empty() {
                return Ok(Outcome::Pass);
            }
            let Runner::Exe(gofmt) = tool!(Tool::Gofmt) else { unreachable!() };
            if env.fix {
                let mut args = s(&["-w"]);
                args.extend(go.iter().cloned());
                env.run(".", &gofmt, &args, &[])?;
            }
            let mut args = s(&["-l"]);
            args.extend(go.iter().cloned());
            let (ok, out) = env.run(".", &gofmt, &args, &[])?;
            let findings: Vec<Finding> = out
                .lines()
                .filter(|l| go.iter().any(|g| g == l.trim()))
                .map(|l| Finding {
                    file: l.trim().to_owned(),
                    line: 1,
                    rule: "gofmt".into(),
                    message: format!("not formatted (`gofmt -w {}`)", l.trim()),
                })
                .collect();
            Ok(tool_failure("gofmt", findings, ok && out.trim().is_empty(), &out))
        }
        LintCheck::GoVet => {
            let modules = files::go_modules(env.tracked()?);
            if modules.is_empty() {
                return Ok(Outcome::Pass);
            }
            let Runner::Exe(go) = tool!(Tool::Go) else { unreachable!() };
            let mut findings = Vec::new();
            let mut notes = Vec::new();
            for module in modules {
                crate::gomod::download(env.sh, &env.root.join(&module))?;
                let mut vars = vec![("CGO_ENABLED", "1")];
                vars.extend(crate::gomod::OFFLINE);
                let (ok, out) = env.run(&module, &go, &s(&["vet", "./..."]), &vars)?;
                let f = tools::parse_locations(&out, &env.root.join(&module), &module, "go-vet");
                if !ok && f.is_empty() {
                    notes.push(format!("go vet in {module} failed:\n{}", out.trim_end()));
                }
                findings.extend(f);
            }
            Ok(match (findings.is_empty(), notes.is_empty()) {
                (true, true) => Outcome::Pass,
                _ => Outcome::Fail { findings, note: (!notes.is_empty()).then(|| notes.join("\n")) },
            })
        }
        LintCheck::Shellcheck => {
            let scripts = files::shell_scripts(&env.root, env.tracked()?);
            lint_files(env, Tool::Shellcheck, scripts, s(&["-f", "gcc", "-x"]), None)
        }
        LintCheck::Actionlint => {
            // No files: nothing to check, whether or not the tool is here.
            let wfs = files::workflows(&env.root);
            if wfs.is_empty() {
                return Ok(Outcome::Pass);
            }
            let Runner::Exe(actionlint) = tool!(Tool::Actionlint) else { unreachable!() };
            // Given explicitly: actionlint silently skips `run:` scripts without it.
            let Runner::Exe(shellcheck) = tool!(Tool::Shellcheck) else { unreachable!() };
            let mut args = s(&["-no-color", "-oneline", "-pyflakes="]);
            args.push(format!("-shellcheck={}", shellcheck.display()));
            args.extend(wfs);
            let (ok, out) = env.run(".", &actionlint, &args, &[])?;
            Ok(tool_failure("actionlint", tools::parse_locations(&out, &env.root, "", "actionlint"), ok, &out))
        }
        LintCheck::Zizmor => {
            let wfs = files::workflows(&env.root);
            if wfs.is_empty() {
                return Ok(Outcome::Pass);
            }
            let Runner::Exe(zizmor) = tool!(Tool::Zizmor) else { unreachable!() };
            // Offline: the audits that ask GitHub's API would make the result depend on the network.
            let mut args = s(&["--offline", "--no-progress", "--format", "github"]);
            if env.root.join(tools::ZIZMOR_CONFIG).is_file() {
                args.extend(s(&["--config", tools::ZIZMOR_CONFIG]));
            }
            args.extend(wfs);
            let (ok, out) = env.run(".", &zizmor, &args, &[])?;
            Ok(tool_failure("zizmor", tools::parse_github_annotations(&out, &env.root, "zizmor"), ok, &out))
        }
        LintCheck::Yamllint => {
            let yaml = files::yaml_files(env.tracked()?);
            lint_files(env, Tool::Yamllint, yaml, s(&["-f", "parsable", "--strict"]), Some(("-c", ".yamllint.yml")))
        }
        LintCheck::WorkflowCommands => workflow_commands(env),
        LintCheck::Hadolint => {
            let dfs: Vec<String> =
                files::dockerfiles(&env.root).into_iter().filter(|f| f.starts_with("tools/docker/")).collect();
            let args = s(&["--no-color", "--format", "tty"]);
            lint_files(env, Tool::Hadolint, dfs, args, Some(("--config", ".hadolint.yaml")))
        }
        LintCheck::Codespell => {
            let text = files::codespell_files(&env.root, env.tracked()?);
            let words: Vec<&str> = files::CODESPELL_IGNORE.iter().map(|(w, _)| *w).collect();
            let args = vec![format!("--ignore-words-list={}", words.join(","))];
            lint_files(env, Tool::Codespell, text, args, Some(("--ignore-words", ".codespell-ignore")))
        }
        LintCheck::Dockerfile => dockerfile_check(&env.root),
    }
}

/// A linter run once from the root on `files`: `args`, then `config` (its
/// flag and file) when that file exists, then the files; its `file:line`
/// output are the findings. No files: nothing to check (no tool needed).
fn lint_files(
    env: &LintEnv<'_>,
    tool: Tool,
    files: Vec<String>,
    mut args: Vec<String>,
    config: Option<(&str, &str)>,
) -> Result<Outcome> {
    if files.is_empty() {
        return Ok(Outcome::Pass);
    }
    let exe = match env.tool(tool) {
        Ok(Runner::Exe(exe)) => exe,
        Ok(other) => bail!("{} runs as {other:?}, not as a program", tool.name()),
        Err(outcome) => return Ok(outcome),
    };
    if let Some((flag, file)) = config.filter(|(_, file)| env.root.join(file).is_file()) {
        args.extend([flag.to_owned(), file.to_owned()]);
    }
    args.extend(files);
    let (ok, out) = env.run(".", &exe, &args, &[])?;
    let name = tool.name();
    Ok(tool_failure(name, tools::parse_locations(&out, &env.root, "", name), ok, &out))
}

/// Every `cargo xtask …` CI calls: from workflows and `.ci/run`.
fn ci_calls(root: &Path) -> Result<Vec<(String, workflow::XtaskCall)>> {
    let mut out = Vec::new();
    for wf in files::workflows(root) {
        let text = std::fs::read_to_string(root.join(&wf)).with_context(|| format!("cannot read {wf}"))?;
        out.extend(workflow::xtask_calls_in_yaml(&text).into_iter().map(|c| (wf.clone(), c)));
    }
    let ci = ".ci/run";
    if let Ok(text) = std::fs::read_to_string(root.join(ci)) {
        out.extend(workflow::xtask_calls_in_shell(&text).into_iter().map(|c| (ci.to_owned(), c)));
    }
    Ok(out)
}

fn workflow_commands(env: &LintEnv<'_>) -> Result<Outcome> {
    let exe = std::env::current_exe().context("cannot locate the xtask executable")?;
    let calls = ci_calls(&env.root)?;
    let mut findings = unknown_images(&calls);
    findings.extend(check_commands(&calls, &mut |path| {
        let mut args: Vec<String> = path.to_vec();
        args.push("--help".into());
        let out = cmd!(env.sh, "{exe} {args...}").quiet().ignore_status().output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
        Ok(if out.status.success() { None } else { Some(first) })
    })?);
    Ok(Outcome::from_findings(findings))
}

/// `--help` accepts any word as the image of `docker <image>`: literal image
/// names must be in the image table.
pub fn unknown_images(calls: &[(String, workflow::XtaskCall)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (file, call) in calls {
        if let Some((line, image)) = workflow::docker_image(call) {
            if let Err(e) = crate::docker::images::find(image) {
                out.push(Finding {
                    file: file.clone(),
                    line,
                    rule: "workflow-commands".into(),
                    message: format!("{e:#}"),
                });
            }
        }
    }
    out
}

/// Check each distinct command path once with `probe` (None: exists; Some:
/// the error); one finding per call of a missing command.
pub fn check_commands(
    calls: &[(String, workflow::XtaskCall)],
    probe: &mut dyn FnMut(&[String]) -> Result<Option<String>>,
) -> Result<Vec<Finding>> {
    let mut verdicts: Vec<(Vec<String>, Option<String>)> = Vec::new();
    let mut findings = Vec::new();
    for (file, call) in calls {
        let path = call.command_path();
        if path.is_empty() {
            continue;
        }
        let verdict = match verdicts.iter().find(|(p, _)| *p == path) {
            Some((_, v)) => v.clone(),
            None => {
                let v = probe(&path)?;
                verdicts.push((path.clone(), v.clone()));
                v
            }
        };
        if let Some(err) = verdict {
            findings.push(Finding {
                file: file.clone(),
                line: call.line,
                rule: "workflow-commands".into(),
                message: format!("`cargo xtask {}` does not exist (`--help`: {err})", path.join(" ")),
            });
        }
    }
    Ok(findings)
}

fn dockerfile_check(root: &Path) -> Result<Outcome> {
    let mut findings = Vec::new();
    let dfs = files::dockerfiles(root);
    for f in &dfs {
        let text = std::fs::read_to_string(root.join(f)).with_context(|| format!("cannot read {f}"))?;
        findings.extend(dockerfile::check(f, &text));
    }
    let read = |f: &str| std::fs::read_to_string(root.join(f)).ok();
    let (passed, planner_findings) = passed_build_args(root)?;
    findings.extend(planner_findings);
    findings.extend(dockerfile::check_build_args(&passed, &read));
    findings.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok(Outcome::from_findings(findings))
}

/// Every build argument passed to a Dockerfile of the image table: by
/// `xtask docker`'s planner itself, by xtask code (`build_arg: vec![…]`), and
/// by `cargo xtask docker` calls in workflows and `.ci/run`.
fn passed_build_args(root: &Path) -> Result<(Vec<dockerfile::PassedArg>, Vec<Finding>)> {
    use crate::docker::{
        argv::{plan_build, BuildRequest},
        dockerfile::DeclaredArgs,
        images::IMAGES,
    };
    let mut passed = Vec::new();
    let mut findings = Vec::new();
    let all_files =
        |spec: &crate::docker::images::ImageSpec| spec.files().into_iter().map(str::to_owned).collect::<Vec<_>>();

    // A workspace with none of the table's Dockerfiles is another project:
    // the table is not its own (where some are here, a missing one is a finding).
    let ours = IMAGES.iter().flat_map(|s| s.files()).any(|f| root.join(f).is_file());
    let table: &[crate::docker::images::ImageSpec] = if ours { IMAGES } else { &[] };

    // 1. The planner: what `cargo xtask docker <image>` always passes.
    for spec in table {
        for host in Platform::ALL {
            for &p in spec.platforms {
                let req = BuildRequest::new(spec, vec![p], host);
                let asked = std::cell::RefCell::new(String::new());
                let declared = |file: &str| -> Result<DeclaredArgs> {
                    *asked.borrow_mut() = file.to_owned();
                    let text =
                        std::fs::read_to_string(root.join(file)).with_context(|| format!("cannot read {file}"))?;
                    Ok(DeclaredArgs::parse(&text))
                };
                match req.check(Some(true)).and_then(|checked| plan_build(&checked, &declared, true)) {
                    Ok(plan) => {
                        for b in &plan.builds {
                            for pair in b.build.argv.windows(2).filter(|w| w[0] == "--build-arg") {
                                let name = pair[1].split('=').next().unwrap_or("").to_owned();
                                passed.push(dockerfile::PassedArg {
                                    name,
                                    file: b.dockerfile.clone(),
                                    line: 1,
                                    by: "`xtask docker`".into(),
                                    dockerfiles: vec![b.dockerfile.clone()],
                                });
                            }
                        }
                    }
                    Err(e) => {
                        let file = asked.borrow().clone();
                        // One finding per Dockerfile (every host/platform pair plans it).
                        if !findings.iter().any(|f: &Finding| f.file == file) {
                            findings.push(Finding {
                                file,
                                line: 1,
                                rule: "build-arg".into(),
                                message: format!("`cargo xtask docker {}` cannot plan a build: {e:#}", spec.name),
                            });
                        }
                    }
                }
            }
        }
    }

    // 2. What `cargo xtask e2e` passes to each image (its base images).
    let e2e = "xtask/src/e2e/mod.rs";
    let line = std::fs::read_to_string(root.join(e2e))
        .ok()
        .and_then(|t| t.lines().position(|l| l.contains("pub fn build_args(")))
        .map_or(1, |n| n + 1);
    for spec in table {
        for host in Platform::ALL {
            for &p in spec.platforms {
                for arg in crate::e2e::build_args(spec.name, host, p, "REF") {
                    let name = arg.split_once('=').map_or(arg.as_str(), |(k, _)| k).to_owned();
                    passed.push(dockerfile::PassedArg {
                        name,
                        file: e2e.into(),
                        line,
                        by: "`cargo xtask e2e`".into(),
                        dockerfiles: vec![spec.dockerfile(p == host).to_owned()],
                    });
                }
            }
        }
    }

    // 3. Workflows and .ci/run.
    for (file, call) in ci_calls(root)? {
        for a in workflow::build_args(std::slice::from_ref(&call)) {
            let specs: Vec<_> = IMAGES.iter().filter(|s| a.image.as_deref().is_none_or(|i| i == s.name)).collect();
            let dockerfiles =
                specs.iter().flat_map(|s| if a.pr { vec![s.native.to_owned()] } else { all_files(s) }).collect();
            passed.push(dockerfile::PassedArg {
                name: a.name,
                file: file.clone(),
                line: a.line,
                by: file.clone(),
                dockerfiles,
            });
        }
    }
    Ok((passed, findings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(file: &str, line: usize) -> Finding {
        Finding { file: file.into(), line, rule: "r".into(), message: "m".into() }
    }

    #[test]
    fn tools_of_the_selected_checks() {
        use LintCheck::*;
        assert_eq!(tools_of(&[Hadolint]), [Tool::Hadolint]);
        assert_eq!(tools_of(&[Dockerfile, GoVet, Gofmt]), [Tool::Gofmt, Tool::Go]);
        assert_eq!(tools_of(&select(&[])).len(), 10);
        assert_eq!(tools_of(&[Actionlint]), [Tool::Actionlint, Tool::Shellcheck], "shellcheck on `run:` scripts");
        assert!(tools_of(&[WorkflowCommands]).is_empty());
    }

    #[test]
    fn select_checks() {
        assert_eq!(select(&[]), LintCheck::ALL);
        assert_eq!(select(&[LintCheck::Dockerfile, LintCheck::Rustfmt]), [LintCheck::Rustfmt, LintCheck::Dockerfile]);
    }

    #[test]
    fn report_rows_and_exit() {
        let rows = vec![
            CheckRun { check: "rustfmt".into(), outcome: Outcome::Pass, seconds: 0.2 },
            CheckRun {
                check: "dockerfile".into(),
                outcome: Outcome::Fail { findings: vec![f("a", 3), f("b", 9)], note: None },
                seconds: 1.5,
            },
            CheckRun { check: "clippy".into(), outcome: Outcome::Skipped("no rustup".into()), seconds: 0.0 },
            CheckRun {
                check: "hadolint".into(),
                outcome: Outcome::failed("hadolint is not installed: x\nmore"),
                seconds: 0.0,
            },
        ];
        let (text, failed) = report(&rows);
        assert_eq!(failed, ["dockerfile", "hadolint"]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "check       result       time  detail");
        assert_eq!(lines[1], "rustfmt     PASS        200ms  ");
        assert_eq!(lines[2], "dockerfile  FAIL         1.5s  2 findings");
        assert_eq!(lines[3], "clippy      SKIPPED       0ms  no rustup");
        assert_eq!(lines[4], "hadolint    FAIL          0ms  hadolint is not installed: x");
        assert!(text.contains("\n--- dockerfile ---\na:3: r: m\nb:9: r: m\n"), "{text}");
        assert!(text.contains("\n--- hadolint ---\nhadolint is not installed: x\nmore\n"), "{text}");
        let (_, failed) = report(&rows[..1]);
        assert!(failed.is_empty());
        let (_, failed) = report(&rows[2..3]);
        assert!(failed.is_empty(), "SKIPPED does not fail");
        assert!(verdict(&rows, &failed, false).is_ok(), "SKIPPED does not fail a local run");
        let err = verdict(&rows, &failed, true).unwrap_err().to_string();
        assert_eq!(err, "CI=true: every check must run; skipped: clippy");
    }

    #[test]
    fn commands_are_probed_once_and_reported_per_call() {
        let yaml = "jobs:\n  a:\n    steps:\n      - run: cargo xtask ci matrix\n      - run: cargo xtask nope x\n      - run: cargo xtask ci matrix --pr\n";
        let calls: Vec<(String, workflow::XtaskCall)> =
            workflow::xtask_calls_in_yaml(yaml).into_iter().map(|c| ("w.yml".to_owned(), c)).collect();
        let mut probed = Vec::new();
        let findings = check_commands(&calls, &mut |p| {
            probed.push(p.join(" "));
            Ok((p[0] == "nope").then(|| "error: unrecognized subcommand 'nope'".to_owned()))
        })
        .unwrap();
        assert_eq!(probed, ["ci matrix", "nope x"]);
        let s: Vec<String> = findings.iter().map(|f| f.to_string()).collect();
        assert_eq!(
            s,
            ["w.yml:5: workflow-commands: `cargo xtask nope x` does not exist (`--help`: error: unrecognized subcommand 'nope')"]
        );
    }
}
