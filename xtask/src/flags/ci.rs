//! The command line of `cargo xtask ci`: the commands the GitHub workflow
//! runs, and nothing else calls.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::{engine::CacheKind, platform::Platform};

#[derive(Debug, Args)]
pub struct Ci {
    #[command(subcommand)]
    pub cmd: CiCmd,
}

#[derive(Debug, Subcommand)]
pub enum CiCmd {
    /// Print the GitHub Actions build matrix (image x platform) as JSON.
    Matrix(CiMatrix),
    /// Plan a workflow run from the GitHub event: the affected images, their
    /// matrices, the tags; printed as JSON and written to `$GITHUB_OUTPUT`.
    Plan(CiPlan),
    /// Build one image for one platform as the plan says: a check build
    /// (loaded) or a publish build (pushed by digest).
    Build(CiBuild),
    /// Merge one image's pushed digests into the run's own tags, with OCI
    /// annotations, once every platform of the image has its digest.
    Manifest(CiManifest),
    /// Pull each platform's pushed digest of the image and smoke-run it
    /// (extproc: health, routing, ext_proc; stack: its router; dev and
    /// precommit: their xtask): the digests `ci manifest` may then name.
    Smoke(CiSmoke),
    /// Move the image's `latest` to this run's image, unless `latest` points
    /// at a newer commit or release.
    Latest(CiLatest),
    /// Free disk space on a GitHub-hosted runner (preinstalled SDKs the
    /// builds do not use) and print the space before and after.
    FreeDisk(CiFreeDisk),
    /// Gather a release's files from `dist` (each platform's tarball and
    /// SBOM) with their SHA256SUMS, and upload them to the GitHub Release.
    Release(CiRelease),
    /// Run .github/workflows/docker-publish.yml on this machine with a pinned
    /// act: the jobs' steps on the host, third-party actions replaced by the
    /// stand-ins of .github/act/, images pushed to the loopback registry
    /// 127.0.0.1:5000; then check that the registry holds what the event
    /// promises.
    Act(CiAct),
}

#[derive(Debug, Args)]
pub struct CiMatrix {
    /// Pull request: amd64 only.
    #[arg(long)]
    pub pr: bool,
    /// Only the images of this build wave (0: built from distro images; 1:
    /// built FROM a wave-0 image of ours).
    #[arg(long, value_name = "N")]
    pub wave: Option<usize>,
    /// Only the images these changed files affect (paths from the repository root).
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with = "base")]
    pub changed: Vec<String>,
    /// Only the images affected by `git diff --name-only BASE...HEAD`.
    #[arg(long, value_name = "BASE")]
    pub base: Option<String>,
    /// Build arm64 under QEMU on amd64 runners instead of native arm64 runners.
    #[arg(long)]
    pub arm64_qemu: bool,
}

/// `cargo xtask ci plan`: reads the run from GitHub's environment
/// (`GITHUB_EVENT_NAME`, `GITHUB_REF`, `GITHUB_SHA`, `GITHUB_EVENT_PATH`, …),
/// `XTASK_PUBLISH` (`true`: publish; the workflow sets it from a repository
/// variable, unset in forks) and `XTASK_ARM64` (`qemu`: no arm64 runners).
#[derive(Debug, Args)]
pub struct CiPlan {}

#[derive(Debug, Args)]
pub struct CiBuild {
    /// The image (a row of the image table, in the plan).
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
    /// The platform (in the plan).
    #[arg(long, value_name = "P", value_parser = Platform::parse)]
    pub platform: Platform,
    /// The plan (JSON of `ci plan`; default: `$XTASK_PLAN`).
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// After a push, write `DIR/<digest hex>` holding the platform (for `ci manifest --digests`).
    #[arg(long, value_name = "DIR")]
    pub digests_dir: Option<PathBuf>,
    /// A prebuilt static xtask for this runner (as `docker --xtask-bin`):
    /// the images do not compile xtask again.
    #[arg(long, value_name = "FILE")]
    pub xtask_bin: Option<PathBuf>,
    /// Build cache (as `docker --cache`).
    #[arg(long, value_name = "KIND", value_enum, default_value_t = CacheKind::Gha)]
    pub cache: CacheKind,
    /// Attach an SBOM attestation made by this generator image (as `docker --sbom-generator`).
    #[arg(long, value_name = "IMAGE")]
    pub sbom_generator: Option<String>,
    /// Print the docker commands, run nothing, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct CiManifest {
    #[command(flatten)]
    pub of: PlanDigests,
    /// Print the docker commands, run nothing, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// An image of the plan and its build jobs' digests: what `ci manifest`
/// merges and `ci smoke` runs.
#[derive(Debug, Args, Clone)]
pub struct PlanDigests {
    /// The image (in the plan).
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
    /// The plan (JSON of `ci plan`; default: `$XTASK_PLAN`).
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Directory of the build jobs' digest files (`ci build --digests-dir`),
    /// at any depth; every platform of the image must have one, else
    /// nothing is merged or run.
    #[arg(long, value_name = "DIR")]
    pub digests: PathBuf,
}

/// `cargo xtask ci smoke`: the digests of `ci build --digests-dir`, each
/// run from `<registry>/<image>@<digest>` on its platform (a foreign one
/// under qemu-user: its binfmt handler registered, `cargo xtask binfmt`);
/// extproc and stack with the model (`cargo xtask model`) and the ext_proc
/// client built from the router module (Go).
#[derive(Debug, Args)]
pub struct CiSmoke {
    #[command(flatten)]
    pub of: PlanDigests,
    /// Print the docker commands, run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `cargo xtask ci latest`: reads what `<registry>/<image>:latest` points at
/// (its revision and version annotations) and moves it to the run's own tag
/// only if that is not older; run from a checkout with the whole history.
#[derive(Debug, Args)]
pub struct CiLatest {
    /// The image (in the plan).
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
    /// The plan (JSON of `ci plan`; default: `$XTASK_PLAN`).
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Print the docker commands, run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct CiFreeDisk {
    /// Print what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also outside a GitHub-hosted runner (`RUNNER_ENVIRONMENT` is not `github-hosted`).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CiRelease {
    /// The `dist` output (`cargo xtask dist --out DIR`; default `dist`).
    #[arg(long, value_name = "DIR", default_value = "dist")]
    pub dist: PathBuf,
    /// The platforms released (default: every platform of the table).
    #[arg(long, value_name = "P", value_delimiter = ',', value_parser = Platform::parse)]
    pub platform: Vec<Platform>,
    /// Where the release's files are gathered.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Upload them to the GitHub Release of this tag (created if missing;
    /// files already there are replaced), with `gh`.
    #[arg(long, value_name = "TAG")]
    pub upload: Option<String>,
    /// Print the `gh` commands, run nothing (the files are still gathered).
    #[arg(long)]
    pub dry_run: bool,
}

/// The event `ci act` runs the workflow for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ActEvent {
    /// A push to main: `sha-<short>` and `latest`, both platforms.
    Push,
    /// A pull request: check builds, nothing published.
    #[value(name = "pull_request")]
    Pr,
    /// The nightly: `cargo xtask test`, then `nightly-YYYYMMDD`.
    Schedule,
    /// A push of the `v*` tag `--tag`: the version; `latest` if it is the highest.
    Tag,
}

/// `cargo xtask ci act --event E`: the run is of the worktree's HEAD (commit
/// first), in a clone under target/xtask/act/repo.
#[derive(Debug, Args)]
pub struct CiAct {
    /// The event (its payload is generated).
    #[arg(long, value_enum)]
    pub event: ActEvent,
    /// `--event tag`: the release tag pushed (made in the clone only).
    #[arg(long, value_name = "TAG", default_value = "v0.1.0")]
    pub tag: String,
    /// `--event tag`: other release tags the repository has (made in the
    /// clone only), e.g. a higher one, so that `latest` stays.
    #[arg(long, value_name = "TAG", value_delimiter = ',')]
    pub other_tags: Vec<String>,
    /// What a push or pull request changes: `REV...HEAD` (default: HEAD's parent).
    #[arg(long, value_name = "REV", default_value = "HEAD~1")]
    pub base: String,
    /// Narrowing for local runs: only these images' matrix entries run
    /// (act's `--matrix image:I`), and only they are checked. Default: every
    /// image of the plan, the workflow as written.
    #[arg(long, value_name = "IMAGE", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Build arm64 on native arm64 runners (the label is mapped to this
    /// machine too; their steps run arm64 binaries under qemu-user) instead
    /// of the repository variable ARM64_RUNNERS=qemu, this machine's kind.
    #[arg(long)]
    pub arm64_native: bool,
    /// `--event schedule`: the test job runs `cargo xtask test --suite S,…`
    /// (the runner's sudo stand-in narrows it, and says so); default: every suite.
    #[arg(long, value_name = "SUITE")]
    pub test_suite: Option<String>,
    /// Publishing events: a commit of the run's clone makes IMAGE's build
    /// for PLATFORM fail (`stack:linux/arm64`). The run must fail there;
    /// the other images publish, and IMAGE's tags stay where they were.
    #[arg(long, value_name = "IMAGE:PLATFORM")]
    pub plant_failure: Option<String>,
    /// Print the act command, the event payload and the promises, and act's
    /// job list; run nothing (not act's `-n`, which runs the steps of a
    /// `-self-hosted` platform).
    #[arg(long)]
    pub dry_run: bool,
    /// act's job list (`-l`) only.
    #[arg(long)]
    pub list: bool,
}
