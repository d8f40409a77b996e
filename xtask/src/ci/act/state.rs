//! What `ci act` keeps on this machine between runs, bounded as GitHub
//! bounds it:
//!
//! - [`Builder`]: the setup-buildx stand-in's builder, made with empty state
//!   for each run (a runner's builder starts empty) and removed with its
//!   state when the run ends, whatever its outcome. What a run may reuse
//!   comes from the workflow's cache, as on GitHub.
//! - [`bound_cache`]: act's cache server keeps every entry; GitHub evicts a
//!   repository's caches beyond [`CACHE_BUDGET`]. Over it, the cache is
//!   cleared before the run (which then starts cold, and says so).
//! - [`prune_runs`]: the newest [`KEPT_RUNS`] run directories (their logs)
//!   stay; older ones go.
//!
//! Everything removed here is under `ci act`'s own directory, or is the
//! builder it names.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};

use super::{buildkitd_config, BUILDER};
use crate::engine::buildx;
use crate::engine::Docker;

/// GitHub's cache limit per repository (10 GB).
pub const CACHE_BUDGET: u64 = 10 << 30;
/// Run directories (event payload, act's log) kept for reading afterwards.
pub const KEPT_RUNS: usize = 5;

/// [`BUILDER`] with empty state: made again if it exists, bootstrapped, and
/// removed (`docker buildx rm`, which removes its state volume) on drop.
pub struct Builder<'a> {
    docker: &'a Docker,
}

impl<'a> Builder<'a> {
    /// The e2e's BuildKit image (`cargo xtask e2e` builds it), made as the
    /// e2e makes its builder ([`buildx::create_args`]), with
    /// [`buildkitd_config`].
    pub fn fresh(docker: &'a Docker, state: &Path) -> Result<Builder<'a>> {
        let image = buildx::image();
        ensure!(
            docker.output(&["image", "inspect", &image])?.status.success(),
            "the BuildKit image {image} is not here: run cargo xtask e2e once (it builds it)"
        );
        if docker.output(&["buildx", "inspect", BUILDER])?.status.success() {
            eprintln!("ci act: builder {BUILDER} is left from another run: removed with its state");
            buildx::remove(docker, BUILDER)?;
        }
        let config = state.join("buildkitd.toml");
        std::fs::write(&config, buildkitd_config())?;
        let mut args = buildx::create_args(BUILDER, &image, &config);
        args.push("--bootstrap".into());
        eprintln!("ci act: docker {}", args.join(" "));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = docker.output(&args)?;
        ensure!(
            o.status.success(),
            "`docker buildx create` of {BUILDER} failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        );
        Ok(Builder { docker })
    }
}

impl Drop for Builder<'_> {
    fn drop(&mut self) {
        match buildx::remove(self.docker, BUILDER) {
            Ok(()) => eprintln!("ci act: builder {BUILDER} removed with its state"),
            Err(e) => eprintln!("ci act: warning: {e:#}"),
        }
    }
}

/// Clear `cache` (act's cache server's directory, the rust-cache stand-in's
/// store) when it holds more than `budget` bytes. Returns the bytes it held.
pub fn bound_cache(cache: &Path, budget: u64) -> Result<u64> {
    let held = tree_size(cache)?;
    if held > budget {
        eprintln!(
            "ci act: the workflow cache ({}) holds {} GiB, over GitHub's {} GiB per repository: cleared, this run \
             starts cold",
            cache.display(),
            held >> 30,
            budget >> 30
        );
        std::fs::remove_dir_all(cache).with_context(|| format!("cannot remove {}", cache.display()))?;
    }
    Ok(held)
}

/// Bytes of the regular files under `dir` (0 if it does not exist); symbolic
/// links are not followed.
fn tree_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", d.display())),
        };
        for e in entries {
            let e = e?;
            let meta = e.metadata()?; // DirEntry::metadata does not follow links
            if meta.is_dir() {
                todo.push(e.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

/// The run directories of `runs` (named `<event>-<unix seconds>`) beyond the
/// newest `keep`, oldest first: the ones [`prune_runs`] removes.
pub fn old_runs(names: &[String], keep: usize) -> Vec<String> {
    let stamp = |n: &str| n.rsplit_once('-').and_then(|(_, s)| s.parse::<u64>().ok());
    let mut runs: Vec<(u64, &String)> = names.iter().filter_map(|n| Some((stamp(n)?, n))).collect();
    runs.sort();
    let extra = runs.len().saturating_sub(keep);
    runs[..extra].iter().map(|(_, n)| (*n).clone()).collect()
}

/// Remove the run directories under `runs` beyond the newest `keep`.
pub fn prune_runs(runs: &Path, keep: usize) -> Result<Vec<PathBuf>> {
    let names: Vec<String> = match std::fs::read_dir(runs) {
        Ok(entries) => entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", runs.display())),
    };
    let mut removed = Vec::new();
    for name in old_runs(&names, keep) {
        let path = runs.join(&name);
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            std::fs::remove_dir_all(&path).with_context(|| format!("cannot remove {}", path.display()))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_runs_beyond_the_kept_ones_go() {
        let names: Vec<String> =
            ["push-300", "tag-100", "pull_request-200", "schedule-400", "notes.txt", "push-x"].map(String::from).into();
        assert_eq!(old_runs(&names, 2), ["tag-100", "pull_request-200"]);
        assert!(old_runs(&names, 4).is_empty());
        assert_eq!(old_runs(&names, 0).len(), 4, "names without a stamp are never removed");

        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        for n in ["push-1", "push-2", "push-3"] {
            std::fs::create_dir_all(tmp.path().join(n)).unwrap();
            std::fs::write(tmp.path().join(n).join("act.log"), "log").unwrap();
        }
        std::os::unix::fs::symlink(outside.path(), tmp.path().join("push-0")).unwrap();
        let removed = prune_runs(tmp.path(), 1).unwrap();
        assert_eq!(removed, [tmp.path().join("push-1"), tmp.path().join("push-2")]);
        assert!(tmp.path().join("push-3/act.log").exists());
        assert!(outside.path().join("keep").exists(), "a link is not followed");
        assert!(prune_runs(&tmp.path().join("absent"), 1).unwrap().is_empty());
    }

    #[test]
    fn a_cache_over_its_budget_is_cleared_and_one_within_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        std::fs::create_dir_all(cache.join("actcache/cache/ab")).unwrap();
        std::fs::write(cache.join("actcache/cache/ab/1"), vec![0u8; 3000]).unwrap();
        std::fs::write(cache.join("actcache/bolt.db"), vec![0u8; 1000]).unwrap();
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, vec![0u8; 9000]).unwrap();
        std::os::unix::fs::symlink(&outside, cache.join("link")).unwrap();

        assert_eq!(bound_cache(&cache, 4000).unwrap(), 4000, "links are not counted");
        assert!(cache.join("actcache/bolt.db").exists());
        assert_eq!(bound_cache(&cache, 3999).unwrap(), 4000);
        assert!(!cache.exists());
        assert!(outside.exists(), "a link's target is not removed");
        assert_eq!(bound_cache(&cache, 0).unwrap(), 0, "no cache yet");
    }
}
