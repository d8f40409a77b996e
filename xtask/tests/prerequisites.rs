//! Prerequisites come first: a command whose tools are missing, run by a
//! user who cannot install them, stops at once with the exact commands, and
//! compiles nothing.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

/// `dist` as an unprivileged user (nobody) with only /usr/bin and /bin on
/// PATH: no cargo, no rustup std, whatever else is absent there.
#[test]
fn dist_as_non_root_refuses_fast_and_builds_nothing() {
    if !is_root() {
        // The refusal is what a non-root run does anyway: run it as we are.
        return run_and_check(Command::new(env!("CARGO_BIN_EXE_xtask")));
    }
    let Ok(setpriv) = which("setpriv") else {
        panic!("setpriv (util-linux) is needed to run this test as root");
    };
    let mut cmd = Command::new(setpriv);
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(copy_of_xtask());
    run_and_check(cmd)
}

fn run_and_check(mut cmd: Command) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let target = tmp.path().join("target");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("Cargo.toml");
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", tmp.path())
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(tmp.path())
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["dist", "--platform", "linux/amd64,linux/arm64"]);
    let start = Instant::now();
    let out = cmd.output().unwrap();
    let took = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}: {stderr}");
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert!(stderr.contains("error: missing: cargo,"), "{stderr}");
    assert!(stderr.contains("installing needs root, and this is not root"), "{stderr}");
    assert!(
        stderr.contains("\n  apt-get install -y --no-install-recommends ") || stderr.contains("\n  dnf install -y "),
        "{stderr}"
    );
    assert!(!target.exists(), "something was built before the refusal: {}", target.display());
}

/// nobody cannot run our binary where it is (under /root): a copy it can.
fn copy_of_xtask() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-prereq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let exe = dir.join("xtask");
    std::fs::copy(env!("CARGO_BIN_EXE_xtask"), &exe).unwrap();
    exe
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        .unwrap()
}

fn which(tool: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .ok_or(())
}
