//! The GitHub workflows as GitHub would run them, read with a real YAML
//! parser (yaml-rust2, YAML 1.2): the failure modes of issue 15 each have a
//! test here, and each of these tests fails on the workflow before it.
//!
//! - re-runs: every `upload-artifact` overwrites;
//! - a busy main: only pull requests cancel runs in progress;
//! - untrusted values: no `${{ … }}` inside a `run:` script (values reach
//!   scripts through `env:`);
//! - timeouts: 90 minutes per platform job, 60 for pull requests;
//! - the matrix comes from `xtask ci plan`, and every wave it plans has a job;
//! - xtask is compiled once per run and handed over as an artifact;
//! - a fork guard on every job that can publish; a disk cleanup before the
//!   builds; a nightly that tests before it publishes;
//! - hygiene (issue 28): every remote `uses:` is a commit SHA with its
//!   version in a comment, the same for an action everywhere; checkout keeps
//!   no credentials; permissions are per job, write only where a job pushes;
//!   no third-party action but the registry login in a job that can write;
//! - GitHub's semantics (issue 27): every commit publishes (no run waits in
//!   a group another run can empty), only the move of `latest` is
//!   serialised and goes through `ci latest`'s check; one failed image ×
//!   platform skips no other image's merge, nor the next wave; artifacts
//!   outlive the re-run window; every action runs on Node 24; the nightly
//!   test restores a cache that only main saves.
//! - only tested digests get names (issue 28): on every publishing run the
//!   tag moves wait for `cargo xtask test` and for the wave's smoke runs
//!   (`needs`/`if` followed through the calls), merge only the digests the
//!   smoke run handed on, and the builds do not wait for the tests;
//! - every plan field a workflow reads (`fromJSON(<plan>).F`, `matrix.F`)
//!   is one that `ci plan` writes.

use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The caller, the wave it calls (builds and smoke runs) and the wave's tag
/// moves.
const FILES: [&str; 3] = [
    ".github/workflows/docker-publish.yml",
    ".github/workflows/docker-images.yml",
    ".github/workflows/docker-tags.yml",
];
/// The release workflow: held to the hygiene tests (pins, Node 24) too.
const RELEASE: &str = ".github/workflows/release.yml";

fn load(file: &str) -> Yaml {
    let text = std::fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(docs.len(), 1, "{file}: one YAML document");
    docs.remove(0)
}

/// (file, job id, job) of every workflow.
fn jobs() -> Vec<(&'static str, String, Yaml)> {
    let mut out = Vec::new();
    for file in FILES {
        let wf = load(file);
        let jobs = wf["jobs"].as_hash().unwrap_or_else(|| panic!("{file}: no jobs"));
        for (id, job) in jobs {
            out.push((file, id.as_str().unwrap().to_owned(), job.clone()));
        }
    }
    out
}

fn steps(job: &Yaml) -> Vec<Yaml> {
    job["steps"].as_vec().cloned().unwrap_or_default()
}

fn run(step: &Yaml) -> &str {
    step["run"].as_str().unwrap_or("")
}

fn uses(step: &Yaml) -> &str {
    step["uses"].as_str().unwrap_or("")
}

/// A scalar as text (GitHub reads `true`, `"true"` and `90` alike).
fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Boolean(b) => Some(b.to_string()),
        Yaml::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Whether a job's steps run `xtask <args>` (the prebuilt binary) with these
/// first arguments.
fn runs_xtask(job: &Yaml, args: &str) -> bool {
    steps(job).iter().any(|s| runs_xtask_line(run(s), args))
}

#[test]
fn every_upload_overwrites_so_reruns_succeed() {
    let mut uploads = 0;
    for (file, id, job) in jobs() {
        for step in steps(&job) {
            if uses(&step).starts_with("actions/upload-artifact@") {
                uploads += 1;
                let overwrite = text(&step["with"]["overwrite"]);
                assert_eq!(
                    overwrite.as_deref(),
                    Some("true"),
                    "{file}: job {id}: upload-artifact `{}` without `overwrite: true` fails on a re-run",
                    text(&step["with"]["name"]).unwrap_or_default()
                );
            }
        }
    }
    assert!(uploads > 0, "no upload-artifact step found");
}

#[test]
fn only_pull_requests_cancel_runs_in_progress() {
    let wf = load(FILES[0]);
    let c = &wf["concurrency"];
    let cancel = text(&c["cancel-in-progress"]).expect("docker-publish.yml: concurrency.cancel-in-progress");
    let squashed: String = cancel.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(
        squashed, "${{github.event_name=='pull_request'}}",
        "cancel-in-progress must hold for pull requests only (a push to main must finish and publish)"
    );
    let group = text(&c["group"]).unwrap_or_default();
    assert!(group.contains("github.ref"), "group per ref: {group}");
    for (file, id, job) in jobs() {
        if let Some(cancel) = text(&job["concurrency"]["cancel-in-progress"]) {
            assert_ne!(cancel, "true", "{file}: job {id} cancels unconditionally");
        }
    }
}

#[test]
fn no_expression_inside_run_scripts() {
    for (file, id, job) in jobs() {
        for step in steps(&job) {
            let script = run(&step);
            assert!(
                !script.contains("${{"),
                "{file}: job {id}: `${{{{ … }}}}` inside `run:` is pasted into the script before the shell \
                 reads it (a ref name like `v1;…` runs); pass it through `env:`:\n{script}"
            );
        }
    }
}

#[test]
fn timeouts_are_90_minutes_per_platform_and_60_for_pull_requests() {
    let mut seen = (false, false);
    for (file, id, job) in jobs() {
        if !job["uses"].is_badvalue() {
            continue; // a reusable workflow's call: its own jobs have timeouts
        }
        let minutes = job["timeout-minutes"].as_i64();
        assert!(minutes.is_some(), "{file}: job {id} has no timeout-minutes (GitHub's default is 360)");
        // An image build: `xtask ci build`, or (before it) `cargo xtask docker <image>`.
        let builds = runs_xtask(&job, "ci build")
            || steps(&job).iter().any(|s| run(s).contains("cargo xtask docker") && !run(s).contains("manifest"));
        if builds {
            let matrix = text(&job["strategy"]["matrix"]).unwrap_or_default();
            let pr = matrix.contains("outputs.check") || text(&job["if"]).unwrap_or_default().contains("pull_request");
            let want = if pr { 60 } else { 90 };
            assert_eq!(minutes, Some(want), "{file}: job {id} ({matrix})");
            if want == 60 {
                seen.0 = true;
            } else {
                seen.1 = true;
            }
        }
    }
    assert_eq!(seen, (true, true), "a pull-request build job (60) and a platform build job (90)");
}

/// The matrices, tags and images come from `xtask ci plan`: no image or
/// platform is written in the YAML, every matrix is a plan output, and every
/// wave the plan has is built.
#[test]
fn the_matrix_comes_from_xtask() {
    let publish = load(FILES[0]);
    let plan = &publish["jobs"]["plan"];
    assert!(runs_xtask(plan, "ci plan"), "docker-publish.yml: a `plan` job runs `xtask ci plan`");
    let outputs: Vec<String> = plan["outputs"]
        .as_hash()
        .map(|h| h.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    for (file, id, job) in jobs() {
        let m = &job["strategy"]["matrix"];
        if m.is_badvalue() {
            continue;
        }
        // The whole matrix, or each of its dimensions, is a plan output.
        let values: Vec<&Yaml> = match m.as_hash() {
            Some(h) => h.values().collect(),
            None => vec![m],
        };
        for v in values {
            let v = text(v)
                .unwrap_or_else(|| panic!("{file}: job {id}: a literal matrix ({m:?}); it must come from the plan"));
            let squashed: String = v.chars().filter(|c| !c.is_whitespace()).collect();
            assert!(
                squashed.starts_with("${{fromJSON(needs.plan.outputs.") || squashed.starts_with("${{fromJSON(inputs."),
                "{file}: job {id}: matrix {v}"
            );
        }
    }
    // The waves the plan outputs are the waves the workflow builds.
    let written = plan_outputs();
    let keys: Vec<&str> = written.lines().filter_map(|l| l.split_once('=').map(|(k, _)| k)).collect();
    let waves: Vec<&str> = keys.iter().copied().filter(|k| k.starts_with("wave") && !k.contains('_')).collect();
    assert!(waves.len() >= 2, "{keys:?}");
    let text = std::fs::read_to_string(root().join(FILES[0])).unwrap();
    for key in &keys {
        assert!(outputs.iter().any(|o| o == key), "the plan job does not pass on `{key}` (outputs: {outputs:?})");
    }
    for w in waves {
        assert!(
            text.contains(&format!("needs.plan.outputs.{w} "))
                || text.contains(&format!("needs.plan.outputs.{w}\n"))
                || text.contains(&format!("needs.plan.outputs.{w} }}")),
            "no job builds {w}"
        );
    }
    // No image or platform is decided in YAML.
    for file in FILES {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for word in ["linux/amd64", "linux/arm64", "extproc", "precommit", "--wave", "--tag"] {
            assert!(!text.contains(word), "{file} names `{word}`: the plan decides");
        }
    }
}

/// What `xtask ci plan` writes to `$GITHUB_OUTPUT` for a publishing run
/// on main.
fn plan_outputs() -> String {
    plan_outputs_on("refs/heads/main", true)
}

/// What `xtask ci plan` writes to `$GITHUB_OUTPUT` for a manual run on `git_ref`.
fn plan_outputs_on(git_ref: &str, publish: bool) -> String {
    let out = tempfile::NamedTempFile::new().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(root())
        .args(["ci", "plan"])
        .env("GITHUB_EVENT_NAME", "workflow_dispatch")
        .env("GITHUB_REF", git_ref)
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GITHUB_REPOSITORY", "o/r")
        .env("GITHUB_OUTPUT", out.path())
        .env("XTASK_PUBLISH", publish.to_string())
        .env_remove("GITHUB_EVENT_PATH")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out.path()).unwrap()
}

/// The plan outputs that `source` (an expression's operand) reads in
/// `file`: `needs.plan.outputs.K` is K; `inputs.I` of a called workflow is
/// each plan output a caller passes as I (one per wave, for a matrix).
fn plan_outputs_of(file: &str, source: &str) -> Vec<String> {
    if let Some(k) = source.strip_prefix("needs.plan.outputs.") {
        return vec![k.to_owned()];
    }
    let Some(input) = source.strip_prefix("inputs.") else { return Vec::new() };
    let mut passed = Vec::new();
    for caller in FILES {
        for (_, job) in load(caller)["jobs"].as_hash().into_iter().flatten() {
            let calls = job["uses"].as_str().unwrap_or("");
            if !calls.ends_with(file.rsplit('/').next().unwrap()) {
                continue;
            }
            let given = text(&job["with"][input]).unwrap_or_else(|| panic!("{caller} calls {file} without `{input}`"));
            let squashed = squashed(&given);
            let k = squashed
                .strip_prefix("${{needs.plan.outputs.")
                .and_then(|r| r.strip_suffix("}}"))
                .unwrap_or_else(|| panic!("{caller} passes {file} `{input}: {given}`, not a plan output"));
            passed.push(k.to_owned());
        }
    }
    passed.sort();
    passed.dedup();
    passed
}

/// Every field a workflow reads from the plan is one `ci plan` writes: a
/// `fromJSON(<plan>).FIELD` names a key of the plan's JSON, and a `matrix.F`
/// of a job whose matrix is a plan output names a key of its entries. A
/// renamed field of `Plan` would otherwise reach the workflow as an empty
/// string (GitHub's value of a missing property) only on GitHub.
#[test]
fn every_plan_field_the_workflows_read_is_written() {
    // A publishing run's outputs, and a check run's matrix (a branch).
    let (publishing, checking) = (plan_outputs(), plan_outputs_on("refs/heads/feature", false));
    let mut outputs: std::collections::HashMap<&str, &str> =
        publishing.lines().filter_map(|l| l.split_once('=')).collect();
    let check = checking.lines().find_map(|l| l.strip_prefix("check=")).expect("a check run writes `check`");
    outputs.insert("check", check);
    let json = |k: &str| -> serde_json::Value {
        serde_json::from_str(outputs.get(k).unwrap_or_else(|| panic!("ci plan writes no `{k}`")))
            .unwrap_or_else(|e| panic!("ci plan's `{k}` is not JSON: {e}"))
    };
    let mut checked = 0;
    for file in FILES {
        let body = std::fs::read_to_string(root().join(file)).unwrap();
        // `fromJSON(SOURCE).FIELD`
        for (at, _) in body.match_indices("fromJSON(") {
            let rest = &body[at + "fromJSON(".len()..];
            let Some(close) = rest.find(')') else { continue };
            let source = rest[..close].trim();
            let Some(field) = rest[close + 1..].strip_prefix('.') else { continue };
            let field: String = field.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let ks = plan_outputs_of(file, source);
            assert!(!ks.is_empty(), "{file}: fromJSON({source}).{field}: not read from the plan");
            for k in ks {
                let value = json(&k);
                assert!(
                    value.get(&field).is_some(),
                    "{file}: fromJSON({source}).{field}: ci plan's `{k}` has no `{field}`"
                );
                checked += 1;
            }
        }
        // `matrix.F` of jobs whose matrix is a plan output
        for (id, job) in load(file)["jobs"].as_hash().into_iter().flatten() {
            let Some(m) = text(&job["strategy"]["matrix"]) else { continue };
            let squashed = squashed(&m);
            let Some(source) = squashed.strip_prefix("${{fromJSON(").and_then(|r| r.strip_suffix(")}}")) else {
                continue;
            };
            let mut job_text = String::new();
            yaml_rust2::YamlEmitter::new(&mut job_text).dump(job).unwrap();
            for k in plan_outputs_of(file, source) {
                let entries = json(&k);
                let entries = entries["include"].as_array().unwrap_or_else(|| panic!("ci plan's `{k}` has no include"));
                assert!(!entries.is_empty(), "ci plan's `{k}` is empty for a push to main");
                for (at, _) in job_text.match_indices("matrix.") {
                    let field: String =
                        job_text[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    for e in entries {
                        let job = id.as_str().unwrap_or("?");
                        assert!(
                            e.get(&field).is_some(),
                            "{file}: job {job}: matrix.{field}: an entry of `{k}` lacks it: {e}"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 5, "only {checked} plan fields found: the workflows changed shape");
}

/// xtask is compiled in one job per architecture and handed to the others
/// as an artifact: `cargo` builds it, the build jobs run the binary.
#[test]
fn xtask_is_built_once_and_passed_as_an_artifact() {
    let mut compilers = Vec::new();
    for (file, id, job) in jobs() {
        // `cargo xtask test` compiles the whole tree (xtask included) anyway.
        let tests = steps(&job).iter().any(|s| run(s).contains("cargo xtask test"));
        let compiles = !tests
            && steps(&job).iter().any(|s| {
                let r = run(s);
                r.contains("cargo xtask") || r.contains("cargo build") || r.contains("cargo run")
            });
        if compiles {
            compilers.push(format!("{file}:{id}"));
            assert!(
                steps(&job).iter().any(|s| uses(s).starts_with("actions/upload-artifact@")
                    && text(&s["with"]["name"]).is_some_and(|n| n.starts_with("xtask-"))),
                "{file}: job {id} compiles xtask without uploading it"
            );
        } else if steps(&job).iter().any(|s| run(s).lines().any(|l| l.trim_start().starts_with("xtask "))) {
            assert!(
                steps(&job).iter().any(|s| uses(s).starts_with("actions/download-artifact@")
                    && text(&s["with"]["name"]).is_some_and(|n| n.contains("xtask"))),
                "{file}: job {id} runs xtask without downloading it"
            );
        }
    }
    assert!(compilers.len() <= 2, "xtask is compiled in {compilers:?} (once per runner architecture at most)");
}

/// A fork has no `PUBLISH_IMAGES` variable: the plan then publishes
/// nothing, and every job that could is skipped.
#[test]
fn forks_do_not_publish() {
    let publish = load(FILES[0]);
    let plan_env: Vec<String> = steps(&publish["jobs"]["plan"])
        .iter()
        .filter_map(|s| s["env"].as_hash().map(|h| h.values().filter_map(text).collect::<Vec<_>>()))
        .flatten()
        .collect();
    assert!(
        plan_env.iter().any(|v| v.contains("vars.PUBLISH_IMAGES")),
        "the plan reads vars.PUBLISH_IMAGES: {plan_env:?}"
    );
    let mut publishers = 0;
    for (file, id, job) in jobs() {
        let writes = text(&job["permissions"]["packages"]).is_some_and(|p| p == "write");
        if writes && file == FILES[0] {
            publishers += 1;
            let cond = text(&job["if"]).unwrap_or_default();
            assert!(
                cond.contains("needs.plan.outputs.publish == 'true'"),
                "{file}: job {id} can publish without the fork guard: if: {cond}"
            );
        }
    }
    assert!(publishers > 0, "no publishing job found");
}

#[test]
fn disk_is_freed_before_every_build() {
    let mut builds = 0;
    for (file, id, job) in jobs() {
        let s = steps(&job);
        let Some(build) = s.iter().position(|s| run(s).contains("xtask ci build")) else { continue };
        builds += 1;
        let free = s.iter().position(|s| run(s).contains("xtask ci free-disk"));
        assert!(free.is_some_and(|f| f < build), "{file}: job {id}: no `xtask ci free-disk` before the build");
    }
    assert!(builds >= 2, "build jobs for pull requests and for publishing");
}

/// A job's `needs`, as a list.
fn needs(job: &Yaml) -> Vec<String> {
    match &job["needs"] {
        Yaml::Array(a) => a.iter().filter_map(text).collect(),
        other => text(other).into_iter().collect(),
    }
}

/// Every job `id` waits for in `jobs` (its needs, theirs, …).
fn waits_for(jobs: &Yaml, id: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut todo = needs(&jobs[id]);
    while let Some(n) = todo.pop() {
        if !seen.contains(&n) {
            todo.extend(needs(&jobs[n.as_str()]));
            seen.push(n);
        }
    }
    seen
}

/// The jobs of the caller that call `file` (a reusable workflow), by id.
fn callers_of(publish: &Yaml, file: &str) -> Vec<String> {
    let jobs = publish["jobs"].as_hash().unwrap();
    let called = format!("./{file}");
    jobs.iter()
        .filter(|(_, j)| j["uses"].as_str() == Some(called.as_str()))
        .map(|(id, _)| id.as_str().unwrap().to_owned())
        .collect()
}

/// The id of the caller's job that runs `cargo xtask test`.
fn test_job(publish: &Yaml) -> String {
    let jobs = publish["jobs"].as_hash().unwrap();
    let (id, _) = jobs
        .iter()
        .find(|(_, j)| steps(j).iter().any(|s| run(s).contains("cargo xtask test")))
        .expect("a job that runs `cargo xtask test`");
    id.as_str().unwrap().to_owned()
}

/// Which plan wave a call of a reusable workflow is for (`wave0` from
/// `needs.plan.outputs.wave0_images`).
fn wave_of(job: &Yaml) -> String {
    let images = text(&job["with"]["images"]).unwrap_or_default();
    let squashed = squashed(&images);
    let wave = squashed.strip_prefix("${{needs.plan.outputs.").and_then(|s| s.strip_suffix("_images}}"));
    wave.unwrap_or_else(|| panic!("a call passes `images: {images}`, not a wave's images")).to_owned()
}

/// `cargo xtask test` runs on every run that publishes (a push to main
/// among them), not only on the nightly: its condition is the plan's
/// publish flag alone.
#[test]
fn every_publishing_run_tests() {
    let publish = load(FILES[0]);
    assert!(publish["on"]["schedule"].as_vec().is_some_and(|v| !v.is_empty()), "no schedule trigger");
    assert!(publish["on"]["push"]["branches"].as_vec().is_some_and(|b| b.iter().any(|b| b.as_str() == Some("main"))));
    let test = test_job(&publish);
    let cond = squashed(&text(&publish["jobs"][test.as_str()]["if"]).unwrap_or_default());
    assert_eq!(cond, "needs.plan.outputs.publish=='true'", "job {test} does not run on every publishing run");
}

/// Only tested digests get names: every job that moves a tag (`ci
/// manifest`: the run's own tags; `ci latest`) runs in docker-tags.yml,
/// whose every call waits for the tests to have passed (`needs` and `if`)
/// and for the builds and smoke runs of its own wave; the builds of wave 0
/// wait for no test, and a later wave (built FROM an earlier wave's
/// `sha-<commit>`) waits for that wave's tag moves.
#[test]
fn tags_move_only_after_the_tests_and_the_smoke_runs() {
    let (images_file, tags_file) = (FILES[1], FILES[2]);
    let (file, _, _) = the_job_running("ci manifest");
    assert_eq!(file, tags_file, "`ci manifest` moves the run's own tags: it belongs in {tags_file}");
    let (file, _, _) = the_job_running("ci latest");
    assert_eq!(file, tags_file, "`ci latest` moves `latest`: it belongs in {tags_file}");
    for (f, id, job) in jobs() {
        assert!(
            f == tags_file || !(runs_xtask(&job, "ci manifest") || runs_xtask(&job, "ci latest")),
            "{f}: job {id} moves a tag outside {tags_file}"
        );
    }
    let publish = load(FILES[0]);
    let jobs = &publish["jobs"];
    let test = test_job(&publish);
    let builds = callers_of(&publish, images_file);
    let tags = callers_of(&publish, tags_file);
    assert!(builds.len() >= 2 && tags.len() == builds.len(), "a tag call per wave: builds {builds:?}, tags {tags:?}");
    for t in &tags {
        let job = &jobs[t.as_str()];
        let wave = wave_of(job);
        let waited = waits_for(jobs, t);
        assert!(waited.contains(&test), "{t} moves tags without waiting for {test} (waits for {waited:?})");
        let cond = squashed(&text(&job["if"]).unwrap_or_default());
        assert!(
            cond.contains(&format!("needs.{test}.result=='success'")),
            "{t} runs when the tests failed (`if: {cond}`): require needs.{test}.result == 'success'"
        );
        let build = builds.iter().find(|b| wave_of(&jobs[b.as_str()]) == wave);
        let build = build.unwrap_or_else(|| panic!("{t} moves the tags of {wave}, which no job builds"));
        assert!(needs(job).contains(build), "{t} moves the tags of {wave} without waiting for its builds ({build})");
    }
    // The builds run beside the tests where they can: wave 0's builds wait
    // for no test; a later wave's, built FROM wave 0's `sha-<commit>`, wait
    // for that tag to name tested digests.
    for b in &builds {
        let waited = waits_for(jobs, b);
        if wave_of(&jobs[b.as_str()]) == "wave0" {
            assert!(!waited.contains(&test), "{b} waits for the tests: only the tag moves should");
        } else {
            let t0 = tags.iter().find(|t| wave_of(&jobs[t.as_str()]) == "wave0").unwrap();
            assert!(waited.contains(t0), "{b} is built FROM wave 0's tag before {t0} moved it (waits for {waited:?})");
        }
    }
}

/// Inside a wave: the smoke job runs `ci smoke` after every build of the
/// wave, and hands on the digests (`digests-tested-<image>`) only after it
/// passed; the merge downloads those and no other digests, and `latest`
/// follows the merge.
#[test]
fn only_smoke_tested_digests_are_merged() {
    let (file, id, smoke) = the_job_running("ci smoke");
    assert_eq!(file, FILES[1], "the smoke runs belong to the wave's builds");
    let (_, build_id, _) = the_job_running("ci build --image \"$IMAGE\" --platform \"$PLATFORM\" --digests-dir");
    assert!(needs(&smoke).contains(&build_id), "{file}: job {id} does not wait for the builds ({build_id})");
    let s = steps(&smoke);
    let ran = s.iter().position(|s| runs_xtask_line(run(s), "ci smoke")).unwrap();
    let uploads: Vec<usize> = s
        .iter()
        .enumerate()
        .filter(|(_, st)| {
            uses(st).starts_with("actions/upload-artifact@")
                && text(&st["with"]["name"]).is_some_and(|n| n.starts_with("digests-tested-"))
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(uploads.len(), 1, "{file}: job {id} hands on the tested digests once");
    let up = &s[uploads[0]];
    assert!(uploads[0] > ran, "{file}: job {id} uploads the tested digests before the smoke run");
    assert!(up["if"].is_badvalue(), "{file}: job {id} uploads the tested digests whatever the smoke run did");
    assert_eq!(up["continue-on-error"], Yaml::BadValue);
    assert_eq!(s[ran]["continue-on-error"], Yaml::BadValue, "{file}: job {id}: a failed smoke run must fail");

    let (file, id, merge) = the_job_running("ci manifest");
    let digests: Vec<String> = steps(&merge)
        .iter()
        .filter(|st| uses(st).starts_with("actions/download-artifact@"))
        .filter_map(|st| text(&st["with"]["pattern"]).or_else(|| text(&st["with"]["name"])))
        .filter(|n| n.starts_with("digests-"))
        .collect();
    assert_eq!(digests, ["digests-tested-${{ matrix.image }}"], "{file}: job {id} merges digests that did not run");
    let (_, latest_id, latest) = the_job_running("ci latest");
    assert!(needs(&latest).contains(&id), "{file}: job {latest_id} does not follow the merge {id}");
}

/// Whether a `run:` line runs the prebuilt `xtask <args>`.
fn runs_xtask_line(script: &str, args: &str) -> bool {
    script.lines().any(|l| {
        let l = l.trim_start();
        let (prog, rest) = l.split_once(' ').unwrap_or((l, ""));
        (prog == "xtask" || prog.ends_with("/xtask")) && rest.starts_with(args)
    })
}

/// Every `uses:` of a workflow: (file, job id, 1-based line, value), job-level
/// (a called workflow) and step-level alike. The line is found in the text,
/// the n-th `uses:` line for the n-th `uses:` in document order.
fn all_uses() -> Vec<(&'static str, String, usize, String)> {
    let mut out = Vec::new();
    for file in FILES.into_iter().chain([RELEASE]) {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| {
                let t = l.trim_start().trim_start_matches("- ");
                t.starts_with("uses:")
            })
            .map(|(i, l)| (i + 1, l))
            .collect();
        let mut values = Vec::new();
        let wf = load(file);
        for (id, job) in wf["jobs"].as_hash().unwrap() {
            let id = id.as_str().unwrap().to_owned();
            if let Some(u) = job["uses"].as_str() {
                values.push((id.clone(), u.to_owned()));
            }
            for step in steps(job) {
                if !uses(&step).is_empty() {
                    values.push((id.clone(), uses(&step).to_owned()));
                }
            }
        }
        assert_eq!(lines.len(), values.len(), "{file}: every `uses:` line is a `uses:` key");
        for ((n, line), (id, value)) in lines.into_iter().zip(values) {
            assert!(line.contains(&value), "{file}:{n}: `{line}` is not `uses: {value}`");
            out.push((file, id, n, line.to_owned()));
        }
    }
    out
}

/// `owner/repo[/path]@<40 hex>  # vX.Y.Z` → (action, sha, version), else why not.
fn pinned(line: &str) -> Result<(String, String, String), String> {
    let value = line.trim_start().trim_start_matches("- ").trim_start_matches("uses:").trim();
    let (target, comment) = value.split_once('#').ok_or("no `# vX.Y.Z` comment")?;
    let (action, sha) = target.trim().split_once('@').ok_or("no `@ref`")?;
    if sha.len() != 40 || !sha.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
        return Err(format!("`{sha}` is not a full commit SHA"));
    }
    let version = comment.split_whitespace().next().unwrap_or("");
    let parts: Vec<&str> = version.strip_prefix('v').unwrap_or("").split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
        return Err(format!("the comment `#{comment}` does not start with the version (`# vX.Y.Z`)"));
    }
    Ok((action.to_owned(), sha.to_owned(), version.to_owned()))
}

#[test]
fn every_action_is_pinned_by_commit_with_its_version() {
    let mut seen: Vec<(String, String, String)> = Vec::new();
    let mut remote = 0;
    for (file, id, n, line) in all_uses() {
        let value = line.trim_start().trim_start_matches("- ").trim_start_matches("uses:").trim();
        // A workflow of this repository is read at the caller's commit.
        if value.starts_with("./") {
            continue;
        }
        remote += 1;
        let (action, sha, version) = pinned(&line).unwrap_or_else(|e| panic!("{file}:{n} (job {id}): {e}: {line}"));
        match seen.iter().find(|(a, ..)| *a == action) {
            Some((_, s, v)) => assert!(
                (s, v) == (&sha, &version),
                "{file}:{n}: {action} is pinned to {sha} ({version}) here and to {s} ({v}) elsewhere"
            ),
            None => seen.push((action, sha, version)),
        }
    }
    assert!(remote >= 10, "the workflows' actions were not found ({remote})");
    for bad in [
        "      - uses: actions/checkout@v7  # v7.0.1",
        "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1",
        "      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1  # v7",
        "      - uses: actions/checkout@3d3c42e5aac5ba80  # v7.0.1",
    ] {
        assert!(pinned(bad).is_err(), "accepted: {bad}");
    }
}

#[test]
fn checkout_keeps_no_credentials() {
    let mut checkouts = 0;
    for (file, id, job) in jobs() {
        for step in steps(&job).iter().filter(|s| uses(s).starts_with("actions/checkout@")) {
            checkouts += 1;
            assert_eq!(
                text(&step["with"]["persist-credentials"]).as_deref(),
                Some("false"),
                "{file}: job {id}: actions/checkout without `persist-credentials: false`"
            );
        }
    }
    assert!(checkouts >= 6, "{checkouts} checkouts");
}

/// The jobs that push images: the only ones that may write, and only packages.
const PUSHERS: [&str; 7] =
    ["wave0", "wave1", "wave0_tags", "wave1_tags", "build_platform", "create_manifest", "latest"];
/// The jobs that pull the pushed images (by digest) and push nothing.
const PULLERS: [&str; 1] = ["smoke"];
/// Jobs that attest a published index (and the calls that grant it).
const ATTESTERS: [&str; 3] = ["create_manifest", "wave0_tags", "wave1_tags"];

#[test]
fn permissions_are_per_job_and_least() {
    for file in FILES {
        let wf = load(file);
        assert!(
            wf["permissions"].as_hash().is_some_and(|h| h.is_empty()),
            "{file}: the workflow's default permissions are not `{{}}`: {:?}",
            wf["permissions"]
        );
    }
    for (file, id, job) in jobs() {
        let perms = job["permissions"].as_hash().unwrap_or_else(|| panic!("{file}: job {id} sets no permissions"));
        for (scope, level) in perms {
            let (scope, level) = (text(scope).unwrap(), text(level).unwrap_or_default());
            let allowed = match scope.as_str() {
                "contents" => level == "read",
                "packages" => {
                    (level == "write" && PUSHERS.contains(&id.as_str()))
                        || (level == "read" && PULLERS.contains(&id.as_str()))
                }
                "id-token" | "attestations" => level == "write" && ATTESTERS.contains(&id.as_str()),
                _ => false,
            };
            assert!(allowed, "{file}: job {id} holds `{scope}: {level}`");
        }
        assert!(
            text(&job["permissions"]["contents"]).as_deref() == Some("read"),
            "{file}: job {id} needs `contents: read` (checkout)"
        );
    }
}

#[test]
fn no_third_party_action_gets_a_write_token_it_does_not_need() {
    // In a job that can write: GitHub's own actions, and Docker's, of which
    // only the registry login is given the token.
    let allowed = ["docker/setup-qemu-action", "docker/setup-buildx-action", "docker/login-action"];
    let mut writers = 0;
    for (file, id, job) in jobs() {
        let writes = job["permissions"].as_hash().is_some_and(|h| h.values().any(|v| v.as_str() == Some("write")));
        if !writes || job["uses"].as_str().is_some() {
            continue;
        }
        writers += 1;
        for step in steps(&job) {
            let action = uses(&step).split('@').next().unwrap_or("");
            if action.is_empty() || action.starts_with("actions/") || action.starts_with("./") {
                continue;
            }
            assert!(allowed.contains(&action), "{file}: job {id} holds a write token and runs {action}");
            let given = step["with"].as_hash().into_iter().flatten().filter_map(|(_, v)| text(v));
            for v in given {
                let token = v.contains("secrets.GITHUB_TOKEN") || v.contains("github.token");
                assert!(!token || action == "docker/login-action", "{file}: job {id} gives {action} the token");
            }
        }
    }
    assert_eq!(writers, 3, "the jobs that push images");
}

/// The job that runs `xtask <args>`: (file, id, job); exactly one.
fn the_job_running(args: &str) -> (&'static str, String, Yaml) {
    let found: Vec<_> = jobs().into_iter().filter(|(_, _, j)| runs_xtask(j, args)).collect();
    assert_eq!(
        found.len(),
        1,
        "one job runs `xtask {args}`: {:?}",
        found.iter().map(|(f, id, _)| format!("{f}:{id}")).collect::<Vec<_>>()
    );
    found.into_iter().next().unwrap()
}

fn squashed(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A concurrency group holds one running and one pending run; a newer one
/// cancels the pending one. Keyed on the ref, three quick pushes to main
/// lose the middle commit's `sha-` tag. Every run but a pull request's is
/// its own group (the run id), and only the job that moves `latest` shares
/// one group across runs.
#[test]
fn every_commit_publishes_and_only_latest_is_serialised() {
    let wf = load(FILES[0]);
    let group = squashed(&text(&wf["concurrency"]["group"]).unwrap_or_default());
    if !group.is_empty() {
        assert!(
            group.contains("github.run_id"),
            "docker-publish.yml: a run that publishes waits in a group shared with the next push ({group}): \
             of three quick pushes the middle one is cancelled; key it on github.run_id outside pull requests"
        );
        assert!(group.contains("pull_request"), "pull requests keep a group per ref: {group}");
    }
    let (file, id, job) = the_job_running("ci latest");
    let c = &job["concurrency"];
    let group = squashed(&text(&c["group"]).or_else(|| text(c)).unwrap_or_default());
    assert!(!group.is_empty(), "{file}: job {id} moves `latest` outside a concurrency group");
    for per_run in ["run_id", "run_number", "github.sha", "github.ref", "event_name", "run_attempt"] {
        assert!(
            !group.contains(per_run),
            "{file}: job {id}: the group `{group}` differs between runs ({per_run}): `latest` moves from several"
        );
    }
    assert_ne!(text(&c["cancel-in-progress"]).as_deref(), Some("true"), "{file}: job {id} cancels a move");
    for (f, other, j) in jobs() {
        if other != id && !j["concurrency"].is_badvalue() {
            panic!("{f}: job {other} has a concurrency group: only the move of `latest` is serialised");
        }
    }
}

/// `latest` is moved by `xtask ci latest`, which reads what it points at
/// first, only after the image's own tags are merged.
#[test]
fn latest_moves_only_through_its_guard() {
    let (file, id, job) = the_job_running("ci latest");
    let needs: Vec<String> = match &job["needs"] {
        Yaml::Array(a) => a.iter().filter_map(text).collect(),
        other => text(other).into_iter().collect(),
    };
    let (_, manifest_id, _) = the_job_running("ci manifest");
    assert!(needs.contains(&manifest_id), "{file}: job {id} needs {needs:?}, not the merge job {manifest_id}");
    let cond = squashed(&text(&job["if"]).unwrap_or_default());
    assert!(cond.contains("!cancelled()"), "{file}: job {id}: one image's failure must not skip the others: {cond}");
    // The guard compares commits: the job has the history.
    let checkout = steps(&job).into_iter().find(|s| uses(s).starts_with("actions/checkout@")).expect("a checkout");
    assert_eq!(text(&checkout["with"]["fetch-depth"]).as_deref(), Some("0"), "{file}: job {id} compares commits");
}

/// `needs:` a whole matrix skips the job when one leg failed: one failed
/// image × platform skipped every image's merge. Each image's merge runs
/// unless the run was cancelled, and `ci manifest` refuses an image whose
/// platform digests are not all there (a unit test of `ci`).
#[test]
fn one_failed_platform_does_not_skip_the_other_images() {
    let (file, id, job) = the_job_running("ci manifest");
    let cond = squashed(&text(&job["if"]).unwrap_or_default());
    assert!(
        cond.contains("!cancelled()") || cond.contains("always()"),
        "{file}: job {id} runs only if every build of the wave succeeded (`if: {cond}`): \
         add `if: ${{{{ !cancelled() }}}}`; `ci manifest` checks each image's own digests"
    );
    // The same across waves: wave 1 runs when some of wave 0 failed (an
    // image built FROM an unpublished one fails its own build).
    let publish = load(FILES[0]);
    let cond = squashed(&text(&publish["jobs"]["wave1"]["if"]).unwrap_or_default());
    assert!(
        cond.contains("!cancelled()") && !cond.contains("!failure()") && !cond.contains("success()"),
        "docker-publish.yml: wave1 is skipped when one image x platform of wave 0 failed (`if: {cond}`): \
         check the plan, the test and the xtask build by their results, not wave 0's"
    );
}

/// Re-runs are allowed for 30 days after a run; an artifact another job
/// downloads lives at least that long.
#[test]
fn artifacts_outlive_the_rerun_window() {
    let mut seen = 0;
    for (file, id, job) in jobs() {
        for step in steps(&job).iter().filter(|s| uses(s).starts_with("actions/upload-artifact@")) {
            let name = text(&step["with"]["name"]).unwrap_or_default();
            if !(name.starts_with("xtask-") || name.starts_with("digests-")) {
                continue;
            }
            seen += 1;
            if let Some(days) = text(&step["with"]["retention-days"]) {
                let days: u32 = days.parse().unwrap_or_else(|_| panic!("{file}: job {id}: retention-days {days}"));
                assert!(
                    days >= 30,
                    "{file}: job {id}: `{name}` expires after {days} day(s); a re-run (allowed for 30 days) \
                     then fails: retention-days: 30"
                );
            }
        }
    }
    assert!(seen >= 3, "the xtask and digest uploads ({seen})");
}

/// The first major of each action that runs on Node 24 (its action.yml's
/// `runs.using`). Node 20 is end-of-life on the runners.
const NODE24: [(&str, u32); 10] = [
    ("actions/attest-build-provenance", 3),
    ("actions/checkout", 5),
    ("actions/upload-artifact", 6),
    ("actions/download-artifact", 7),
    ("actions/github-script", 8),
    ("docker/setup-buildx-action", 4),
    ("docker/setup-qemu-action", 4),
    ("docker/login-action", 4),
    ("crazy-max/ghaction-github-runtime", 4),
    ("Swatinem/rust-cache", 2),
];

#[test]
fn every_action_runs_on_node_24() {
    let mut checked = 0;
    for (file, id, n, line) in all_uses() {
        // The version of the comment (`@<sha>  # v4.0.0`), else of the ref (`@v3`).
        let (action, version) = match pinned(&line) {
            Ok((action, _, version)) => (action, version),
            Err(_) => {
                let value = line.trim_start().trim_start_matches("- ").trim_start_matches("uses:").trim();
                match value.split_once('@') {
                    Some((a, r)) if r.starts_with('v') => {
                        (a.to_owned(), r.split_whitespace().next().unwrap().to_owned())
                    }
                    _ => continue, // this repository's workflow
                }
            }
        };
        let major: u32 = version.trim_start_matches('v').split('.').next().unwrap().parse().unwrap();
        let (_, first) = NODE24
            .iter()
            .find(|(a, _)| *a == action)
            .unwrap_or_else(|| panic!("{file}:{n} (job {id}): {action}: add its first Node 24 major to NODE24"));
        checked += 1;
        assert!(major >= *first, "{file}:{n} (job {id}): {action} {version} runs on Node 20; its v{first} on Node 24");
        if let (true, Some(minor)) = (action == "Swatinem/rust-cache", version.split('.').nth(1)) {
            let minor: u32 = minor.parse().unwrap();
            assert!(minor >= 9, "{file}:{n}: {action} {version} runs on Node 20; v2.9.0 on Node 24");
        }
    }
    assert!(checked >= 10, "{checked}");
}

/// The nightly's `cargo xtask test` restores a Rust cache, saved only by
/// main's runs under its own key (a pull request's run never writes what
/// main restores).
#[test]
fn the_nightly_test_is_cached_from_main_only() {
    let publish = load(FILES[0]);
    let jobs = publish["jobs"].as_hash().unwrap();
    let (id, job) = jobs
        .iter()
        .find(|(_, j)| steps(j).iter().any(|s| run(s).contains("cargo xtask test")))
        .expect("a job that runs `cargo xtask test`");
    let s = steps(job);
    let test = s.iter().position(|s| run(s).contains("cargo xtask test")).unwrap();
    let cache = s.iter().position(|s| uses(s).starts_with("Swatinem/rust-cache@"));
    let Some(cache) = cache.filter(|c| *c < test) else {
        panic!("job {id:?} compiles the workspace from scratch every night: add Swatinem/rust-cache before the test")
    };
    let with = &s[cache]["with"];
    let key = text(&with["shared-key"]).or_else(|| text(&with["key"])).unwrap_or_default();
    assert!(!key.is_empty(), "job {id:?}: the cache needs a key of its own");
    for (_, other, j) in self::jobs() {
        for st in steps(&j).iter().filter(|st| uses(st).starts_with("Swatinem/rust-cache@")) {
            let k = text(&st["with"]["shared-key"]).or_else(|| text(&st["with"]["key"])).unwrap_or_default();
            assert!(Some(other.as_str()) == id.as_str() || k != key, "job {other} shares the test's cache key {key}");
        }
    }
    let save = squashed(&text(&with["save-if"]).unwrap_or_default());
    assert!(
        save.contains("github.ref=='refs/heads/main'"),
        "job {id:?}: the cache is saved by main's runs only (save-if: github.ref == 'refs/heads/main'): {save}"
    );
}

/// A `v*` tag's release: every platform's dist, reproducible; its tarballs,
/// SBOMs and SHA256SUMS uploaded by `xtask ci release` (which replaces the
/// files a re-run finds), after their attestation; actions pinned by SHA.
#[test]
fn the_release_uploads_tarballs_sboms_and_sums() {
    let file = RELEASE;
    let wf = load(file);
    let tags: Vec<String> = wf["on"]["push"]["tags"].as_vec().unwrap().iter().filter_map(text).collect();
    assert_eq!(tags, ["v*"]);
    let job = &wf["jobs"]["release"];
    let dist = steps(job).into_iter().position(|s| run(&s).contains("cargo xtask dist")).expect("a dist step");
    let dist_run = run(&steps(job)[dist]).to_owned();
    assert!(dist_run.contains("--platform linux/amd64,linux/arm64,linux/riscv64"), "{dist_run}");
    assert!(dist_run.contains("--verify-reproducible"), "{dist_run}");
    let gather = steps(job)
        .iter()
        .position(|s| run(s).contains("xtask ci release --out release") && !run(s).contains("--upload"));
    let attest = steps(job).iter().position(|s| uses(s).starts_with("actions/attest-build-provenance@"));
    let upload = steps(job).iter().position(|s| run(s).contains("xtask ci release --out release --upload"));
    let (gather, attest, upload) =
        (gather.expect("a gather step"), attest.expect("an attest step"), upload.expect("an upload"));
    assert!(dist < gather && gather < attest && attest < upload, "dist, gather, attest, upload in this order");
    assert_eq!(text(&steps(job)[attest]["with"]["subject-checksums"]).as_deref(), Some("release/SHA256SUMS"));
    for s in steps(job).iter().filter(|s| !uses(s).is_empty()) {
        let line = uses(s);
        let sha = line.split('@').nth(1).unwrap_or("");
        assert!(sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()), "{file}: {line} is not pinned by SHA");
    }
    assert_eq!(text(&job["permissions"]["contents"]).as_deref(), Some("write"));
    assert_eq!(wf["concurrency"]["cancel-in-progress"].as_bool(), Some(false));
}

/// The images get the run's xtask instead of compiling their own (issue
/// 29): every `ci build` passes `--xtask-bin`, and each xtask artifact is
/// built static for its runner's triple (the images' glibc may be older),
/// with the checkout's path remapped (the same source, the same binary, in
/// any checkout: the stages that take it stay cached).
#[test]
fn the_images_take_the_runs_static_xtask() {
    let mut builds = 0;
    for (file, id, job) in jobs() {
        for s in steps(&job) {
            if run(&s).contains("xtask ci build") {
                builds += 1;
                assert!(run(&s).contains("--xtask-bin \"$RUNNER_TEMP/xtask/xtask\""), "{file} {id}: {}", run(&s));
            }
            if run(&s).contains("cargo build --locked --package xtask") {
                let target = run(&s).split("--target ").nth(1).map(|t| t.split_whitespace().next().unwrap_or(""));
                let target = target.unwrap_or_else(|| panic!("{file} {id}: xtask is built without --target"));
                let var = format!("CARGO_TARGET_{}_RUSTFLAGS", target.replace('-', "_").to_ascii_uppercase());
                assert_eq!(
                    text(&s["env"][var.as_str()]).as_deref(),
                    Some("-C target-feature=+crt-static --remap-path-prefix=${{ github.workspace }}=/src"),
                    "{file} {id}: xtask for {target} is not static, or not built path-independent"
                );
            }
        }
    }
    assert!(builds >= 1);
}

/// `xtask ci smoke`, as the smoke job calls it: a dry run prints the pull
/// and the run of each platform's digest (by digest, never a tag); an image
/// with a platform's digest missing is one error naming it; a check plan
/// pushed nothing to run.
#[test]
fn ci_smoke_runs_each_pushed_digest() {
    let plan = r#"{"mode":"publish","event":"push","registry":"ghcr.io/o/r","tags":["sha-0123456"],
        "latest":true,"sha_tag":"sha-0123456","version":"sha-0123456","revision":"0123456789","source":"https://github.com/o/r",
        "images":["extproc"],"platforms":["linux/amd64","linux/arm64"],"notes":[]}"#;
    let digests = tempfile::tempdir().unwrap();
    let (a, b) = ("a".repeat(64), "b".repeat(64));
    std::fs::create_dir(digests.path().join("digests-extproc-linux-arm64")).unwrap();
    std::fs::write(digests.path().join("digests-extproc-linux-arm64").join(&b), "linux/arm64\n").unwrap();
    std::fs::write(digests.path().join(&a), "linux/amd64\n").unwrap();
    let smoke = |plan: &str, dry: bool| {
        let mut args = vec!["ci", "smoke", "--image", "extproc", "--digests", digests.path().to_str().unwrap()];
        if dry {
            args.push("--dry-run");
        }
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .current_dir(root())
            .args(args)
            .env("XTASK_PLAN", plan)
            .env("CANDLE_MODEL_DIR", "/m")
            .env_remove("DOCKER")
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (ok, out, err) = smoke(plan, true);
    assert!(ok, "{err}");
    let mount = "type=bind,src=/m,dst=/models/all-MiniLM-L6-v2,readonly";
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            format!("docker pull --platform linux/amd64 ghcr.io/o/r/extproc@sha256:{a}"),
            format!(
                "docker run -d --rm --name NAME --platform linux/amd64 --network host --mount {mount} \
                 ghcr.io/o/r/extproc@sha256:{a} --listen 127.0.0.1:PORT --grpc-listen 127.0.0.1:GRPC"
            ),
            format!("docker pull --platform linux/arm64 ghcr.io/o/r/extproc@sha256:{b}"),
            format!(
                "docker run -d --rm --name NAME --platform linux/arm64 --network host --mount {mount} \
                 ghcr.io/o/r/extproc@sha256:{b} --listen 127.0.0.1:PORT --grpc-listen 127.0.0.1:GRPC"
            ),
        ]
    );
    std::fs::remove_dir_all(digests.path().join("digests-extproc-linux-arm64")).unwrap();
    let (ok, _, err) = smoke(plan, false);
    assert!(!ok && err.contains("extproc: no digest for linux/arm64"), "{err}");
    let check = plan.replace(r#""mode":"publish""#, r#""mode":"check""#);
    let (ok, _, err) = smoke(&check, false);
    assert!(!ok && err.contains("pushes nothing"), "{err}");
}

/// Each merged index is attested: the step after `ci manifest` attests the
/// name and digest it wrote to `$GITHUB_OUTPUT`, and pushes the
/// attestation to the registry.
#[test]
fn every_merged_index_is_attested() {
    let wf = load(".github/workflows/docker-tags.yml");
    let job = &wf["jobs"]["create_manifest"];
    let steps = steps(job);
    let merge = steps.iter().position(|s| runs_xtask_line(run(s), "ci manifest")).expect("a ci manifest step");
    assert_eq!(text(&steps[merge]["id"]).as_deref(), Some("manifest"));
    let attest = &steps[merge + 1];
    assert!(uses(attest).starts_with("actions/attest-build-provenance@"), "{}", uses(attest));
    assert_eq!(text(&attest["with"]["subject-name"]).as_deref(), Some("${{ steps.manifest.outputs.name }}"));
    assert_eq!(text(&attest["with"]["subject-digest"]).as_deref(), Some("${{ steps.manifest.outputs.digest }}"));
    assert_eq!(attest["with"]["push-to-registry"].as_bool(), Some(true));
    for scope in ["id-token", "attestations"] {
        assert_eq!(text(&job["permissions"][scope]).as_deref(), Some("write"), "create_manifest {scope}");
        let publish = load(".github/workflows/docker-publish.yml");
        for caller in ["wave0_tags", "wave1_tags"] {
            assert_eq!(
                text(&publish["jobs"][caller]["permissions"][scope]).as_deref(),
                Some("write"),
                "{caller} {scope}"
            );
        }
    }
}

/// Every image a publishing build pushes is attested with our SBOM
/// generator (issue 28): its `ci build` takes `--sbom-generator` from an
/// earlier step of the same job that runs `xtask sbom generator` with the
/// run's xtask.
#[test]
fn every_pushed_image_gets_an_sbom() {
    let mut builds = 0;
    for (file, id, job) in jobs() {
        let s = steps(&job);
        let Some(build) = s.iter().position(|s| run(s).contains("xtask ci build") && run(s).contains("--digests-dir"))
        else {
            continue;
        };
        builds += 1;
        assert!(run(&s[build]).contains("--sbom-generator \"$SBOM_GENERATOR\""), "{file} {id}: {}", run(&s[build]));
        let from = text(&s[build]["env"]["SBOM_GENERATOR"]).unwrap_or_default();
        let step_id = from
            .strip_prefix("${{ steps.")
            .and_then(|r| r.strip_suffix(".outputs.image }}"))
            .unwrap_or_else(|| panic!("{file} {id}: SBOM_GENERATOR is not a step's `image` output: {from}"));
        let gen = s[..build]
            .iter()
            .find(|g| text(&g["id"]).as_deref() == Some(step_id))
            .unwrap_or_else(|| panic!("{file} {id}: no step `{step_id}` before the build"));
        assert!(
            runs_xtask_line(run(gen), "sbom generator")
                && run(gen).contains("--xtask-bin \"$RUNNER_TEMP/xtask/xtask\""),
            "{file} {id}: step {step_id} does not make the generator from the run's xtask: {}",
            run(gen)
        );
    }
    assert!(builds >= 1, "no publishing build found");
}

/// Each act stand-in (`.github/act/<dir>/action.yml`, issue 27), by the
/// action its first line says it stands for, with its directory's text.
fn stand_ins() -> Vec<(String, Yaml, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root().join(".github/act")).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(text) = std::fs::read_to_string(dir.join("action.yml")) else { continue };
        let action = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# Stand-in for "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("{}: the first line names the action", dir.display()))
            .to_owned();
        let mut all = String::new();
        for f in std::fs::read_dir(&dir).unwrap() {
            all.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap_or_default());
        }
        let yml = YamlLoader::load_from_str(&text).unwrap().remove(0);
        out.push((action, yml, all));
    }
    out
}

/// Under `ci act`, a `with:` input that the stand-in does not declare and
/// read is silently empty: every input a workflow gives a third-party
/// action is one its stand-in declares, and reads (`inputs.<name>` in a
/// composite stand-in, `INPUT_<NAME>` in a node one) or says it ignores
/// (a description starting with "Ignored").
#[test]
fn every_input_given_to_an_action_is_read_by_its_act_stand_in() {
    let stand_ins = stand_ins();
    let (mut checked, mut bad) = (0, Vec::new());
    for file in FILES.into_iter().chain([RELEASE]) {
        let wf = load(file);
        for (id, job) in wf["jobs"].as_hash().unwrap() {
            let id = id.as_str().unwrap();
            for step in steps(job) {
                let u = uses(&step);
                if u.is_empty() || u.starts_with("./") {
                    continue;
                }
                let action = u.split('@').next().unwrap();
                let (_, yml, all) = stand_ins
                    .iter()
                    .find(|(a, _, _)| a == action)
                    .unwrap_or_else(|| panic!("{file} job {id}: {action} has no stand-in under .github/act/"));
                let Some(with) = step["with"].as_hash() else { continue };
                for key in with.keys() {
                    let key = key.as_str().unwrap();
                    let declared = yml["inputs"].as_hash().is_some_and(|h| h.contains_key(&Yaml::String(key.into())));
                    let ignored = yml["inputs"][key]["description"].as_str().is_some_and(|d| d.starts_with("Ignored"));
                    let read = ignored
                        || all.contains(&format!("inputs.{key}"))
                        || all.contains(&format!("INPUT_{}", key.to_uppercase()));
                    if !(declared && read) {
                        bad.push(format!(
                            "{file} job {id}: {action} is given `{key}`, which its act stand-in does not {}",
                            if declared { "read" } else { "declare" }
                        ));
                    }
                    checked += 1;
                }
            }
        }
    }
    bad.dedup();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(checked >= 20, "only {checked} inputs checked");
}
