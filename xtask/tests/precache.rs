//! End-to-end tests of `cargo xtask precache prepare|cook` and `clean-stale`
//! on the fixture workspaces in `tests/fixtures/` (each copied into a temp dir,
//! each test with its own `CARGO_TARGET_DIR`).
//!
//! The Docker flow they model: prepare a skeleton, cook it, copy the real
//! sources over it *with mtimes older than the cooked build* (a `COPY` keeps
//! the build context's mtimes), build. The build must produce exactly what a
//! clean build produces, and must not recompile any dependency.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, SystemTime},
};

use cargo_metadata::Message;

const HOST: &str = "x86_64-unknown-linux-gnu";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// 2001-01-01: older than any build this test runs.
fn old_mtime() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(978_307_200)
}

/// Copy a tree (skipping `target/`), optionally setting every file's mtime.
fn copy_tree(from: &Path, to: &Path, mtime: Option<SystemTime>) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                copy_tree(&src, &dst, mtime);
            }
        } else {
            fs::copy(&src, &dst).unwrap();
            if let Some(t) = mtime {
                fs::File::options().write(true).open(&dst).unwrap().set_modified(t).unwrap();
            }
        }
    }
}

fn check(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cargo_cmd(dir: &Path, target_dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(dir).env("CARGO_TARGET_DIR", target_dir).env_remove("CARGO_BUILD_TARGET");
    cmd
}

/// xtask as the Dockerfiles run it: directly, so without `$CARGO` (it finds
/// cargo on PATH).
fn xtask_cmd(dir: &Path, target_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir)
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO");
    cmd
}

fn xtask(dir: &Path, target_dir: &Path, args: &[&str]) -> String {
    let out = check(xtask_cmd(dir, target_dir, args).output().unwrap(), &format!("xtask {args:?}"));
    String::from_utf8(out.stdout).unwrap()
}

fn cargo(dir: &Path, target_dir: &Path, args: &[&str]) {
    check(cargo_cmd(dir, target_dir).args(args).output().unwrap(), &format!("cargo {args:?}"));
}

#[derive(Debug)]
struct Artifact {
    local: bool,
    fresh: bool,
    /// Shown (through `Debug`) in assertion messages.
    #[allow(dead_code)]
    name: String,
    /// A build script's compile unit: its `build/<pkg>-<hash>` directory.
    build_script: Option<String>,
}

/// `cargo build --message-format=json`: every compiler artifact.
fn build_json(dir: &Path, target_dir: &Path, args: &[&str]) -> Vec<Artifact> {
    build_json_env(dir, target_dir, args, &[])
}

/// [`build_json`] with extra environment variables.
fn build_json_env(dir: &Path, target_dir: &Path, args: &[&str], env: &[(&str, String)]) -> Vec<Artifact> {
    let mut cmd = cargo_cmd(dir, target_dir);
    cmd.args(args).arg("--message-format=json").envs(env.iter().map(|(k, v)| (k, v)));
    let out = check(cmd.output().unwrap(), &format!("cargo {args:?}"));
    Message::parse_stream(out.stdout.as_slice())
        .filter_map(|m| match m.unwrap() {
            Message::CompilerArtifact(a) => {
                let build_script = a.target.is_custom_build().then(|| {
                    let exe = a.filenames[0].as_std_path();
                    exe.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned()
                });
                Some(Artifact {
                    local: a.package_id.repr.starts_with("path+"),
                    fresh: a.fresh,
                    name: a.target.name,
                    build_script,
                })
            }
            _ => None,
        })
        .collect()
}

/// Exported (defined, global) functions of a shared object.
fn exports(so: &Path) -> BTreeSet<String> {
    use goblin::elf::{section_header::SHN_UNDEF, sym::STB_GLOBAL, sym::STT_FUNC};
    let bytes = fs::read(so).unwrap_or_else(|e| panic!("{}: {e}", so.display()));
    let elf = goblin::elf::Elf::parse(&bytes).unwrap();
    elf.dynsyms
        .iter()
        .filter(|s| s.st_bind() == STB_GLOBAL && s.st_type() == STT_FUNC && s.st_shndx != SHN_UNDEF as usize)
        .filter_map(|s| elf.dynstrtab.get_at(s.st_name).map(str::to_owned))
        .collect()
}

fn exports_with(so: &Path, prefix: &str) -> String {
    exports(so).into_iter().filter(|s| s.starts_with(prefix)).collect::<Vec<_>>().join(",")
}

/// Whether a static archive defines a symbol.
fn archive_defines(a: &Path, symbol: &str) -> bool {
    let bytes = fs::read(a).unwrap_or_else(|e| panic!("{}: {e}", a.display()));
    goblin::archive::Archive::parse(&bytes).unwrap().member_of_symbol(symbol).is_some()
}

fn run_output(bin: &Path) -> String {
    let out = check(Command::new(bin).output().unwrap(), &bin.display().to_string());
    String::from_utf8(out.stdout).unwrap()
}

/// The rustflags `cook` built the dependencies with (xtask build's
/// environment: path remapping), from cargo's own fingerprint of a registry
/// dependency: the real build must use the same, as `xtask build` does.
fn cooked_rustflags(target: &Path, dep: &str) -> String {
    let file = leftovers(target, &[&format!("lib-{dep}.json")]).into_iter().next().expect("a cooked dependency");
    let v: serde_json::Value = serde_json::from_str(&fs::read_to_string(file).unwrap()).unwrap();
    let flags: Vec<&str> = v["rustflags"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    flags.join("\x1f")
}

/// The build-script units `cook` recorded as kept, in every profile directory.
fn kept_units(target: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for record in leftovers(target, &[".xtask-precache-kept.json"]) {
        let v: serde_json::Value = serde_json::from_str(&fs::read_to_string(record).unwrap()).unwrap();
        out.extend(v["units"].as_object().unwrap().keys().cloned());
    }
    out
}

/// Entries anywhere under `target` whose name starts with one of `prefixes`
/// (not descending into matches).
fn leftovers(target: &Path, prefixes: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(target) else { return out };
    for e in rd {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if prefixes.iter().any(|p| name.starts_with(p)) {
            out.push(e.path());
        } else if e.file_type().unwrap().is_dir() {
            out.extend(leftovers(&e.path(), prefixes));
        }
    }
    out
}

/// What a build produced, as comparable facts.
type Observe = fn(&Path) -> Vec<(&'static str, String)>;

fn observe_cdylib(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("libffi.so exports", exports_with(&dir.join("libffi.so"), "ffi_")),
        ("libffi.a defines ffi_add", archive_defines(&dir.join("libffi.a"), "ffi_add").to_string()),
        ("ffi-cli prints", run_output(&dir.join("ffi-cli"))),
    ]
}

fn observe_full(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("fx-app prints", run_output(&dir.join("fx-app"))),
        ("fx-extra prints", run_output(&dir.join("fx-extra"))),
        ("example demo prints", run_output(&dir.join("examples/demo"))),
        ("fx-tool built (needs feature tools)", dir.join("fx-tool").exists().to_string()),
    ]
}

fn observe_build_target(dir: &Path) -> Vec<(&'static str, String)> {
    vec![("libbt.so exports", exports_with(&dir.join("libbt.so"), "bt_")), ("bt prints", run_output(&dir.join("bt")))]
}

struct Case {
    fixture: &'static str,
    cook: &'static [&'static str],
    build: &'static [&'static str],
    /// The profile directory under the target dir.
    out_dir: &'static str,
    observe: Observe,
    /// Name prefixes of every local artifact (none may survive `cook`).
    local_prefixes: &'static [&'static str],
    /// Go through a JSON recipe (`prepare --recipe`, `cook --recipe`) instead
    /// of a skeleton directory.
    via_recipe: bool,
    /// Build scripts whose compiled binary survives (self-contained ones).
    kept: usize,
}

const CDYLIB_PREFIXES: &[&str] = &["ffi", "libffi", "build_script_"];

/// The `cdylib` fixture as is: a debug build, its one build script kept.
const CDYLIB: Case = Case {
    fixture: "cdylib",
    cook: &[],
    build: &[],
    out_dir: "debug",
    observe: observe_cdylib,
    local_prefixes: CDYLIB_PREFIXES,
    via_recipe: false,
    kept: 1,
};

/// prepare → cook → copy real sources with old mtimes → build: the same
/// artifacts as a clean build, no dependency recompiled.
fn roundtrip(case: &Case, edit: impl Fn(&Path)) {
    let tmp = tempfile::tempdir().unwrap();
    let (real, work, target, reference) =
        (tmp.path().join("real"), tmp.path().join("work"), tmp.path().join("target"), tmp.path().join("ref"));
    copy_tree(&fixture(case.fixture), &real, None);
    edit(&real);

    let mut build = vec!["build", "--locked"];
    build.extend(case.build);
    cargo(&real, &reference, &build);
    let expected = (case.observe)(&reference.join(case.out_dir));

    let recipe = tmp.path().join("recipe.json");
    let mut cook = vec!["precache", "cook"];
    if case.via_recipe {
        xtask(&real, &target, &["precache", "prepare", "--recipe", recipe.to_str().unwrap()]);
        fs::create_dir(&work).unwrap();
        cook.extend(["--recipe", recipe.to_str().unwrap()]);
    } else {
        xtask(&real, &target, &["precache", "prepare", "--out", work.to_str().unwrap()]);
    }
    cook.extend(case.cook);
    let cooked = xtask(&work, &target, &cook);
    assert!(cooked.contains("clean-stale: removed"), "{cooked}");
    let kept = kept_units(&target);
    assert_eq!(kept.len(), case.kept, "{kept:?}");
    let left: Vec<_> = leftovers(&target, case.local_prefixes)
        .into_iter()
        .filter(|p| !kept.contains(p.file_name().unwrap().to_str().unwrap()))
        .collect();
    assert!(left.is_empty(), "cook left local artifacts: {left:#?}");

    copy_tree(&real, &work, Some(old_mtime()));
    let report = xtask(&work, &target, &["clean-stale"]);
    assert_eq!(report.matches("kept the build script").count(), case.kept, "{report}");
    let flags = cooked_rustflags(&target, "itoa");
    let artifacts = build_json_env(&work, &target, &build, &[("CARGO_ENCODED_RUSTFLAGS", flags)]);
    let recompiled: Vec<_> = artifacts.iter().filter(|a| !a.local && !a.fresh).collect();
    assert!(recompiled.is_empty(), "dependencies recompiled: {recompiled:#?}");
    assert!(artifacts.iter().any(|a| !a.local), "no dependency in the build?");
    let reused: Vec<_> = artifacts
        .iter()
        .filter(|a| a.local && a.fresh && !a.build_script.as_ref().is_some_and(|u| kept.contains(u)))
        .collect();
    assert!(reused.is_empty(), "local crates reused from the skeleton: {reused:#?}");
    let scripts_reused = artifacts.iter().filter(|a| a.local && a.fresh && a.build_script.is_some()).count();
    assert_eq!(scripts_reused, case.kept, "the kept build scripts are not recompiled: {artifacts:#?}");

    assert_eq!((case.observe)(&target.join(case.out_dir)), expected);
}

#[test]
fn cdylib_roundtrip() {
    roundtrip(&CDYLIB, |_| {});
}

/// A build script that compiles alone but reads a source file when it runs
/// fails in the skeleton, which lacks that file: cook's one build with the
/// real build scripts fails, and cook falls back to dummies first, then the
/// real script (compiled, its run failing); its binary is kept all the same,
/// and the rebuild is what a clean build gives.
#[test]
fn cdylib_roundtrip_with_a_build_script_that_reads_sources() {
    roundtrip(&CDYLIB, |real| {
        fs::write(real.join("ffi/answer.txt"), "42\n").unwrap();
        fs::write(
            real.join("ffi/build.rs"),
            "use std::{env, fs, path::Path};\n\n\
                 fn main() {\n\
                 \x20   let answer = fs::read_to_string(\"answer.txt\").expect(\"answer.txt beside build.rs\");\n\
                 \x20   let out = env::var(\"OUT_DIR\").unwrap();\n\
                 \x20   let text = format!(\"pub const ANSWER: u32 = {};\\n\", answer.trim());\n\
                 \x20   fs::write(Path::new(&out).join(\"answer.rs\"), text).unwrap();\n\
                 \x20   println!(\"cargo:rerun-if-changed=build.rs\");\n\
                 \x20   println!(\"cargo:rerun-if-changed=answer.txt\");\n\
                 }\n",
        )
        .unwrap();
    });
}

/// With real versions equal to the masked one, the skeleton's crates have the
/// very same unit hashes as the real ones: only cook's cleaning prevents the
/// dummies from being reused.
#[test]
fn cdylib_roundtrip_when_masking_cannot_help() {
    roundtrip(&CDYLIB, |real| {
        for f in ["ffi/Cargo.toml", "ffi-cli/Cargo.toml", "Cargo.lock"] {
            let p = real.join(f);
            let text = fs::read_to_string(&p).unwrap();
            let text = text
                .replace("version = \"0.1.0\"", "version = \"0.0.1\"")
                .replace("version = \"0.1\"", "version = \"0.0.1\"");
            fs::write(&p, text).unwrap();
        }
    });
}

/// `cook --platform <the host>` (the Dockerfile on a native builder) must use
/// the layout of `xtask build --platform <the host>`: no `--target`.
#[test]
#[cfg_attr(not(all(target_os = "linux", target_arch = "x86_64")), ignore = "needs an x86_64 Linux host")]
fn cdylib_roundtrip_for_the_host_platform() {
    roundtrip(
        &Case {
            fixture: "cdylib",
            cook: &["--platform", "linux/amd64"],
            build: &[],
            out_dir: "debug",
            observe: observe_cdylib,
            local_prefixes: CDYLIB_PREFIXES,
            via_recipe: true,
            kept: 1,
        },
        |_| {},
    );
}

#[test]
fn full_workspace_roundtrip() {
    roundtrip(
        &Case {
            fixture: "full",
            cook: &["--all-targets"],
            build: &["--all-targets"],
            out_dir: "debug",
            observe: observe_full,
            local_prefixes: &["fx", "libfx", "demo", "it-", "speed", "build_script_"],
            via_recipe: false,
            // fx-core has `[lints]`: its build script stays a dummy.
            kept: 0,
        },
        |_| {},
    );
}

#[test]
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64")),
    ignore = "the fixture's build.target is x86_64-unknown-linux-gnu"
)]
fn build_target_roundtrip_release() {
    roundtrip(
        &Case {
            fixture: "build-target",
            cook: &["--release"],
            build: &["--release"],
            out_dir: "x86_64-unknown-linux-gnu/release",
            observe: observe_build_target,
            local_prefixes: &["bt", "libbt", "build_script_"],
            via_recipe: true,
            kept: 1,
        },
        |_| {},
    );
}

/// The old shell pipeline, step by step: real manifests with dummy sources,
/// build, delete only the final `.so`/`.a`, copy the real sources (with older
/// mtimes), build. Returns (work, target) after that last build's outcome.
fn old_pipeline(real: &Path, tmp: &Path) -> (PathBuf, PathBuf, Output) {
    let (work, target) = (tmp.join("work"), tmp.join("target"));
    copy_tree(real, &work, None);
    fs::write(work.join("ffi/src/lib.rs"), "").unwrap();
    if work.join("ffi/build.rs").exists() {
        fs::write(work.join("ffi/build.rs"), "fn main() {}\n").unwrap();
    }
    fs::write(work.join("ffi-cli/src/main.rs"), "fn main() {}\n").unwrap();
    cargo(&work, &target, &["build", "--locked"]);
    let out = target.join("debug");
    fs::remove_file(out.join("libffi.so")).unwrap();
    fs::remove_file(out.join("libffi.a")).unwrap();

    copy_tree(real, &work, Some(old_mtime()));
    let build = cargo_cmd(&work, &target).args(["build", "--locked"]).output().unwrap();
    (work, target, build)
}

/// `clean-stale`, rebuild: the real library and program.
fn clean_stale_fixes(work: &Path, target: &Path) {
    let report = xtask(work, target, &["clean-stale"]);
    assert!(report.contains("clean-stale: removed"), "{report}");
    cargo(work, target, &["build", "--locked"]);
    let out = target.join("debug");
    assert_eq!(exports_with(&out.join("libffi.so"), "ffi_"), "ffi_add,ffi_answer");
    assert!(archive_defines(&out.join("libffi.a"), "ffi_add"));
    assert_eq!(run_output(&out.join("ffi-cli")), "answer=42 sum=5\n");
}

/// Without a build script: cargo trusts the dummy's fingerprints (the real
/// sources are older), uplifts the deleted library again from `deps/`, and
/// the empty library and the silent binary ship.
#[test]
fn old_pipeline_ships_the_dummy_library_and_clean_stale_fixes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    copy_tree(&fixture("cdylib"), &real, None);
    fs::remove_file(real.join("ffi/build.rs")).unwrap();
    edit(
        &real.join("ffi/src/lib.rs"),
        "include!(concat!(env!(\"OUT_DIR\"), \"/answer.rs\"));",
        "pub const ANSWER: u32 = 42;",
    );

    let (work, target, build) = old_pipeline(&real, tmp.path());
    check(build, "the old pipeline's build");
    let out = target.join("debug");
    assert!(out.join("libffi.so").exists(), "cargo uplifts the library again from deps/");
    assert_eq!(exports_with(&out.join("libffi.so"), "ffi_"), "", "the bug: the dummy library ships");
    assert!(!archive_defines(&out.join("libffi.a"), "ffi_add"), "the bug: the dummy archive ships");
    assert_eq!(run_output(&out.join("ffi-cli")), "", "the bug: the dummy binary ships");

    clean_stale_fixes(&work, &target);
}

/// With a build script: the package's mtimes changed, so cargo re-runs the
/// build script, but the *dummy* build-script binary (its own fingerprint
/// trusts the older real `build.rs`): OUT_DIR lacks what the real code
/// includes and the build fails (for candle-binding: link arguments missing).
#[test]
fn old_pipeline_reuses_the_dummy_build_script_and_clean_stale_fixes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    copy_tree(&fixture("cdylib"), &real, None);

    let (work, target, build) = old_pipeline(&real, tmp.path());
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(!build.status.success(), "the bug: the stale build script is reused\n{stderr}");
    assert!(stderr.contains("answer.rs"), "{stderr}");

    clean_stale_fixes(&work, &target);
}

/// `build.target` in `.cargo/config.toml` moves artifacts to
/// `target/<triple>/` (proc-macros and build scripts stay in `target/debug`):
/// clean-stale finds both, keeps the dependencies, and is idempotent.
#[test]
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64")),
    ignore = "the fixture's build.target is x86_64-unknown-linux-gnu"
)]
fn clean_stale_honours_build_target_and_keeps_dependencies() {
    let tmp = tempfile::tempdir().unwrap();
    let (work, target) = (tmp.path().join("work"), tmp.path().join("target"));
    copy_tree(&fixture("build-target"), &work, None);
    cargo(&work, &target, &["build", "--locked"]);
    let triple_dir = target.join(HOST).join("debug");
    assert!(triple_dir.join("libbt.so").exists());
    let macros = leftovers(&target.join("debug/deps"), &["libbt_macros-"]);
    assert_eq!(macros.len(), 1, "the proc-macro is a host artifact");
    let deps_before = leftovers(&target, &["libitoa-", "itoa-"]);
    assert!(!deps_before.is_empty());

    let dry = xtask(&work, &target, &["clean-stale", "--dry-run"]);
    assert!(dry.contains("would remove"), "{dry}");
    assert!(triple_dir.join("libbt.so").exists(), "a dry run removes nothing");

    let report = xtask(&work, &target, &["clean-stale"]);
    assert!(report.contains(&format!("{}", triple_dir.display())), "{report}");
    assert!(report.contains(&format!("{}", target.join("debug").display())), "{report}");
    let left = leftovers(&target, &["bt", "libbt", "build_script_"]);
    assert!(left.is_empty(), "left: {left:#?}\n{report}");
    assert_eq!(leftovers(&target, &["libitoa-", "itoa-"]), deps_before, "dependencies are kept");

    let again = xtask(&work, &target, &["clean-stale"]);
    assert!(again.contains("removed 0 entries"), "{again}");

    let artifacts = build_json(&work, &target, &["build", "--locked"]);
    assert!(artifacts.iter().filter(|a| !a.local).all(|a| a.fresh), "{artifacts:#?}");
    assert!(artifacts.iter().filter(|a| a.local).all(|a| !a.fresh), "{artifacts:#?}");
    assert_eq!(run_output(&triple_dir.join("bt")), "hello from bt 42\n");
}

fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push((p.strip_prefix(root).unwrap().display().to_string(), fs::read(&p).unwrap()));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    fs::write(path, text.replace(from, to)).unwrap();
}

/// With `--dummy-build-scripts`: source edits (build scripts included),
/// comments, descriptions and version bumps leave the skeleton
/// byte-identical; a dependency change does not.
#[test]
fn skeleton_changes_only_when_dependencies_do() {
    let tmp = tempfile::tempdir().unwrap();
    let (real, target) = (tmp.path().join("real"), tmp.path().join("target"));
    copy_tree(&fixture("full"), &real, None);
    let prepare = |name: &str| {
        let out = tmp.path().join(name);
        let recipe = tmp.path().join(format!("{name}.json"));
        xtask(
            &real,
            &target,
            &[
                "precache",
                "prepare",
                "--dummy-build-scripts",
                "--out",
                out.to_str().unwrap(),
                "--recipe",
                recipe.to_str().unwrap(),
            ],
        );
        (read_tree(&out), fs::read(recipe).unwrap())
    };
    let (tree_a, recipe_a) = prepare("a");
    assert!(tree_a.iter().any(|(p, _)| p == "app/src/lib.rs"));

    edit(&real.join("app/src/lib.rs"), "pub fn report", "// a new comment\npub fn report");
    edit(&real.join("core/src/lib.rs"), "TABLE.iter().sum()", "TABLE.iter().sum::<u32>() + 0");
    edit(&real.join("core/build.rs"), "[1, 2, 3, 5]", "[1, 2, 3, 6]");
    edit(&real.join("app/Cargo.toml"), "the application", "the best application");
    edit(&real.join("app/Cargo.toml"), "[features]", "# features of the app\n[features]");
    // A release: every version and version requirement bumped.
    edit(&real.join("Cargo.toml"), "version = \"0.2.0\"", "version = \"0.3.0\"");
    edit(&real.join("Cargo.toml"), "version = \"0.2\" }", "version = \"0.3\" }");
    edit(&real.join("fmt/Cargo.toml"), "version = \"0.2.0\"", "version = \"0.3.0\"");
    edit(&real.join("app/Cargo.toml"), "version = \"0.2\" }", "version = \"0.3\" }");
    edit(&real.join("Cargo.lock"), "version = \"0.2.0\"", "version = \"0.3.0\"");
    let (tree_b, recipe_b) = prepare("b");
    assert!(recipe_a == recipe_b, "the recipe changed");
    assert!(tree_a == tree_b, "the skeleton changed");

    edit(&real.join("Cargo.toml"), "itoa = \"1\"", "itoa = \"1.0.19\"");
    let (tree_c, recipe_c) = prepare("c");
    assert!(recipe_a != recipe_c, "a dependency change must change the recipe");
    let changed: Vec<&str> = tree_a.iter().zip(&tree_c).filter(|(a, c)| a != c).map(|(a, _)| a.0.as_str()).collect();
    assert_eq!(changed, ["Cargo.toml", "xtask-precache-recipe.json"]);
}

fn fails(dir: &Path, args: &[&str]) -> String {
    let tmp_target = dir.join("no-target");
    let out = xtask_cmd(dir, &tmp_target, args).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "xtask {args:?} should fail");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn bad_input_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let err = fails(&empty, &["precache", "prepare", "--out", "sk"]);
    assert!(err.contains("no cargo workspace"), "{err}");

    let real = tmp.path().join("real");
    copy_tree(&fixture("cdylib"), &real, None);
    let err = fails(&real, &["precache", "prepare", "--out", "ffi"]);
    assert!(err.contains("not empty"), "{err}");
    assert!(real.join("ffi/src/lib.rs").exists());

    let err = fails(&empty, &["precache", "cook", "--recipe", "missing.json"]);
    assert!(err.contains("cannot read recipe"), "{err}");
    fs::write(empty.join("bad.json"), "{\"format\": \"xtask-precache/1\", \"files\": {\"../x\": \"\"}}").unwrap();
    let err = fails(&empty, &["precache", "cook", "--recipe", "bad.json"]);
    assert!(err.contains("not a plain relative path"), "{err}");
    assert!(!tmp.path().join("x").exists());

    let err = fails(&real, &["clean-stale", "--platform", "windows/386"]);
    assert!(err.contains("unsupported platform"), "{err}");
    let err = fails(&real, &["precache", "cook", "--platform", "sparc"]);
    assert!(err.contains("unsupported platform"), "{err}");
}

/// By default the skeleton keeps self-contained build scripts real (and their
/// package's version): it changes with them, not with other sources.
#[test]
fn skeleton_with_real_build_scripts_changes_with_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (real, target) = (tmp.path().join("real"), tmp.path().join("target"));
    copy_tree(&fixture("general"), &real, None);
    let prepare = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let mut args = vec!["precache", "prepare", "--out", out.to_str().unwrap()];
        args.extend(extra);
        xtask(&real, &target, &args);
        read_tree(&out)
    };
    let a = prepare("a", &[]);
    let file = |tree: &[(String, Vec<u8>)], rel: &str| {
        String::from_utf8(tree.iter().find(|(p, _)| p == rel).unwrap().1.clone()).unwrap()
    };
    assert_eq!(file(&a, "crates/lib-a/build.rs"), fs::read_to_string(real.join("crates/lib-a/build.rs")).unwrap());
    assert_eq!(file(&a, "build.rs"), fs::read_to_string(real.join("build.rs")).unwrap());
    assert!(file(&a, "tools/cli/build.rs").starts_with("// Dummy"), "not self-contained: a dummy");
    assert!(!a.iter().any(|(p, _)| p.starts_with("tools/cli/build/")));
    assert!(file(&a, "crates/lib-a/src/lib.rs").starts_with("// Dummy"));

    edit(&real.join("crates/lib-a/src/lib.rs"), "x * FACTOR", "FACTOR * x");
    edit(&real.join("tools/cli/build/gen.rs"), "cli-built", "cli-built!");
    assert!(prepare("b", &[]) == a, "only sources changed");
    edit(&real.join("crates/lib-a/build.rs"), "FACTOR: u64 = 6", "FACTOR: u64 = 7");
    assert!(prepare("c", &[]) != a, "a kept build script changed");

    // `--no-dev-targets`: a new test file leaves the skeleton as it was.
    let d = prepare("d", &["--no-dev-targets"]);
    fs::create_dir_all(real.join("crates/lib-a/tests")).unwrap();
    fs::write(real.join("crates/lib-a/tests/new.rs"), "#[test]\nfn t() {}\n").unwrap();
    assert!(prepare("e", &["--no-dev-targets"]) == d, "a new test file changed the skeleton");
    assert!(prepare("f", &[]) != prepare("g", &["--no-dev-targets"]));
}

fn observe_general(dir: &Path) -> Vec<(&'static str, String)> {
    vec![("gx-main prints", run_output(&dir.join("gx-main"))), ("gx-cli prints", run_output(&dir.join("gx-cli")))]
}

/// Every manifest shape of the `general` fixture (see its Cargo.toml), old
/// mtimes, all targets: the clean build's outputs, two build-script binaries
/// kept, the third (not self-contained) recompiled.
#[test]
fn general_workspace_roundtrip() {
    roundtrip(
        &Case {
            fixture: "general",
            cook: &["--all-targets"],
            build: &["--workspace", "--all-targets"],
            out_dir: "debug",
            observe: observe_general,
            local_prefixes: &["gx", "libgx", "smoke", "cfg-if", "cfg_if", "libcfg_if", "build_script_"],
            via_recipe: true,
            kept: 2,
        },
        |_| {},
    );
}

/// The stale case the kept binaries must not reintroduce: the cooked build
/// script no longer matches the real one (a cache from an older skeleton),
/// and the real file is *older* than the cooked build, so cargo alone would
/// trust the cooked binary. clean-stale sees the hash differ and removes it.
#[test]
fn a_changed_build_script_is_never_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let (real, work, target) = (tmp.path().join("real"), tmp.path().join("work"), tmp.path().join("target"));
    copy_tree(&fixture("cdylib"), &real, None);
    xtask(&real, &target, &["precache", "prepare", "--out", work.to_str().unwrap()]);
    xtask(&work, &target, &["precache", "cook"]);
    assert_eq!(kept_units(&target).len(), 1);

    edit(&real.join("ffi/build.rs"), "ANSWER: u32 = 42", "ANSWER: u32 = 41");
    copy_tree(&real, &work, Some(old_mtime()));
    let out = check(xtask_cmd(&work, &target, &["clean-stale"]).output().unwrap(), "clean-stale");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("changed since it was cooked"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("kept the build script"));
    assert!(kept_units(&target).is_empty());

    let artifacts = build_json(&work, &target, &["build", "--locked"]);
    let scripts: Vec<_> = artifacts.iter().filter(|a| a.build_script.is_some()).collect();
    assert!(scripts.iter().all(|a| !a.fresh), "{scripts:#?}");
    assert_eq!(run_output(&target.join("debug/ffi-cli")), "answer=41 sum=5\n");
}

/// `precache go --platform` without `--list-deps` or `--compile` is one
/// usage error, not a module download that ignores the platform.
#[test]
fn a_go_platform_needs_a_deps_mode() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["precache", "go", "--platform", "linux/arm64"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--list-deps <FILE>|--compile <FILE>"), "{stderr}");
}

/// `--release` without `--compile` (a download, or `--list-deps`) is one
/// error, not a flag silently ignored.
#[test]
fn a_go_profile_needs_compile() {
    for args in [&["precache", "go", "--release"][..], &["precache", "go", "--list-deps", "x.txt", "--profile", "dev"]]
    {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("without --compile they change nothing"), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "{stderr}");
    }
}
