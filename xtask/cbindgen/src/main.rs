//! `xtask-cbindgen CRATE_DIR`: the C header of the crate in CRATE_DIR (with
//! its `cbindgen.toml`), on stdout. `cargo xtask codegen` runs it.
//!
//! Why a binary of its own: cbindgen (with its `syn`, `toml` and `winnow`) was
//! about a sixth of xtask's cold compile, and only `codegen` uses it; every
//! CI job compiles xtask, only the codegen suite and lint compile this.

use std::{io::Write, path::Path, process::ExitCode};

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let [crate_dir] = args.as_slice() else {
        eprintln!("usage: xtask-cbindgen CRATE_DIR (the header goes to stdout)");
        return ExitCode::from(2);
    };
    match generate(Path::new(crate_dir)) {
        Ok(header) => match std::io::stdout().write_all(&header) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot write the header: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(crate_dir: &Path) -> Result<Vec<u8>, String> {
    let config_path = crate_dir.join("cbindgen.toml");
    let config =
        cbindgen::Config::from_file(&config_path).map_err(|e| format!("cannot read {}: {e}", config_path.display()))?;
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .map_err(|e| format!("cbindgen failed on {}: {e}", crate_dir.display()))?;
    let mut out = Vec::new();
    bindings.write(&mut out);
    Ok(out)
}
