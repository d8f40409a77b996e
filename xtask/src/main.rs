//! `cargo xtask`: the build pipeline of the semantic router, in Rust.
//!
//! Layout (one concern per module):
//! - `flags`: the command line;
//! - `workspace`: which workspace we act on, its target directory and metadata;
//! - `metrics`: timing of steps, printed as a table;
//! - one module per command (`codegen`, `model`, `test`, ...).

mod apt_backport;
mod bench;
mod binfmt;
mod build;
mod ci;
mod clean_stale;
mod codegen;
mod cross;
mod cross_env;
mod ctx;
mod dist;
mod docker;
mod doctor;
mod e2e;
mod elf;
mod engine;
mod flags;
mod fsutil;
mod fuzz;
mod gomod;
mod http;
mod install;
mod interrupt;
mod lint;
mod metrics;
mod model;
mod platform;
mod precache;
mod prereq;
mod repro;
mod sbom;
mod smoke;
mod symbols;
mod sys;
mod table;
mod tarball;
mod test;
mod verify;
mod workspace;
mod zig;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    interrupt::install();
    let flags = flags::Xtask::parse_from(args(std::env::args_os().collect()));
    match run(flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The arguments, also when installed as `cargo-xtask` and run as the cargo
/// subcommand `cargo xtask …` (cargo then passes `xtask` first), as in the
/// images, where no repository provides the `xtask` alias.
fn args(mut argv: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let as_subcommand =
        argv.first().and_then(|a| std::path::Path::new(a).file_stem()).is_some_and(|s| s == "cargo-xtask");
    if as_subcommand && argv.get(1).is_some_and(|a| a == "xtask") {
        argv.remove(1);
    }
    argv
}

fn run(flags: flags::Xtask) -> anyhow::Result<()> {
    let ctx = ctx::Ctx::new(flags.manifest_path)?;
    use flags::Cmd;
    match flags.cmd {
        Cmd::Codegen(cmd) => cmd.run(&ctx),
        Cmd::Model(cmd) => cmd.run(&ctx),
        Cmd::Test(cmd) => cmd.run(&ctx),
        Cmd::Build(cmd) => cmd.run(&ctx),
        Cmd::VerifySymbols(cmd) => cmd.run(&ctx),
        Cmd::Symbols(cmd) => cmd.run(&ctx),
        Cmd::Fuzz(cmd) => cmd.run(&ctx),
        Cmd::CrossEnv(cmd) => cmd.run(&ctx),
        Cmd::Dist(cmd) => cmd.run(&ctx),
        Cmd::Doctor(cmd) => cmd.run(&ctx),
        Cmd::Binfmt(cmd) => cmd.run(),
        Cmd::AptBackport(cmd) => cmd.run(),
        Cmd::Precache(cmd) => cmd.run(&ctx),
        Cmd::CleanStale(cmd) => cmd.run(&ctx),
        Cmd::Bench(cmd) => cmd.run(&ctx),
        Cmd::Docker(cmd) => cmd.run(&ctx),
        Cmd::Ci(cmd) => cmd.run(&ctx),
        Cmd::E2e(cmd) => cmd.run(&ctx),
        Cmd::Lint(cmd) => cmd.run(&ctx),
        Cmd::Sbom(cmd) => cmd.run(&ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::args;

    fn v(a: &[&str]) -> Vec<std::ffi::OsString> {
        a.iter().map(Into::into).collect()
    }

    #[test]
    fn cargo_subcommand_drops_its_name() {
        assert_eq!(
            args(v(&["/usr/local/bin/cargo-xtask", "xtask", "doctor"])),
            v(&["/usr/local/bin/cargo-xtask", "doctor"])
        );
        assert_eq!(args(v(&["target/debug/xtask", "xtask"])), v(&["target/debug/xtask", "xtask"]));
        assert_eq!(args(v(&["cargo-xtask", "lint"])), v(&["cargo-xtask", "lint"]));
    }
}
