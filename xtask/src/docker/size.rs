//! Image sizes and their budgets ([`BUDGETS_FILE`]).
//!
//! A built image is measured ([`Measured`]): its uncompressed size is the
//! sum of its layers as `docker history` gives them (the same on every
//! image store), its compressed size that of the pushed manifest's layers
//! and config (known only once the image is in a registry). [`check`]
//! holds the figures to the image's budget, and to a baseline (the
//! published image) by `growth_percent`; a failure is one line that names
//! the largest layers. Parsing and checking are pure; the engine reads are
//! [`measure_local`] and [`measure_registry`].

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

use crate::{
    engine::{Command, Docker},
    platform::Platform,
};

/// The budgets, relative to the build context (the repository root).
pub const BUDGETS_FILE: &str = "tools/docker/budgets.toml";

/// One image x platform's budget, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub uncompressed: u64,
    pub compressed: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Budgets {
    /// How much an image may grow over its baseline, in percent.
    pub growth_percent: f64,
    entries: BTreeMap<(String, Platform), Budget>,
}

impl Budgets {
    pub fn parse(text: &str) -> Result<Budgets> {
        let doc: toml_edit::DocumentMut = text.parse().context("not TOML")?;
        let growth_percent = match doc.get("growth_percent") {
            Some(v) => v
                .as_float()
                .or_else(|| v.as_integer().map(|i| i as f64))
                .filter(|g| *g >= 0.0)
                .context("growth_percent: not a number >= 0")?,
            None => bail!("growth_percent is missing"),
        };
        let mut entries = BTreeMap::new();
        for (image, table) in doc.iter().filter(|(k, _)| *k != "growth_percent") {
            let table = table.as_table_like().with_context(|| format!("[{image}]: not a table"))?;
            for (platform, budget) in table.iter() {
                let p = Platform::parse(platform).map_err(|e| anyhow::anyhow!("[{image}] {platform}: {e}"))?;
                let b = budget.as_table_like().with_context(|| format!("[{image}] {platform}: not a table"))?;
                let field = |name: &str| -> Result<u64> {
                    let v = b.get(name).and_then(|v| v.as_str());
                    let v = v.with_context(|| format!("[{image}] {platform}: `{name}` is missing (e.g. \"80 MB\")"))?;
                    parse_size(v).with_context(|| format!("[{image}] {platform}: {name}"))
                };
                if let Some((k, _)) = b.iter().find(|(k, _)| !["uncompressed", "compressed"].contains(k)) {
                    bail!("[{image}] {platform}: unknown key `{k}` (uncompressed, compressed)");
                }
                let budget = Budget { uncompressed: field("uncompressed")?, compressed: field("compressed")? };
                entries.insert((image.to_owned(), p), budget);
            }
        }
        Ok(Budgets { growth_percent, entries })
    }

    pub fn get(&self, image: &str, platform: Platform) -> Option<Budget> {
        self.entries.get(&(image.to_owned(), platform)).copied()
    }
}

/// `80 MB`, `1.5 GB`, `512 kB`, `1000` (bytes): powers of 1000.
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim());
    let n: f64 = num.parse().with_context(|| format!("`{text}` is not a size (e.g. \"80 MB\")"))?;
    let scale = match unit {
        "" | "B" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => bail!("`{text}`: unknown unit `{unit}` (B, kB, MB, GB)"),
    };
    Ok((n * scale).round() as u64)
}

/// Bytes as this module prints them: `162.8 MB`.
pub fn show(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.2} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1} kB", b as f64 / 1e3),
        b => format!("{b} B"),
    }
}

/// One layer of an image: its size and the step that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub size: u64,
    pub created_by: String,
}

/// What a built image weighs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measured {
    pub uncompressed: Option<u64>,
    pub compressed: Option<u64>,
    pub layers: Vec<Layer>,
}

/// `docker history --no-trunc --human=false --format '{{.Size}}\t{{.CreatedBy}}'`.
pub fn parse_history(text: &str) -> Result<Vec<Layer>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (size, by) = l.split_once('\t').with_context(|| format!("not `size<TAB>step`: {l}"))?;
            let size = size.trim().parse().with_context(|| format!("not a size in bytes: {size}"))?;
            Ok(Layer { size, created_by: by.trim().to_owned() })
        })
        .collect()
}

/// The compressed size of one platform's image from the registry's view
/// (`imagetools inspect --raw`): config and layers of its manifest. For an
/// index, the manifest of `platform` is `pick`ed by digest and read again.
pub fn manifest_size(raw: &str) -> Result<u64> {
    let v: serde_json::Value = serde_json::from_str(raw).context("the manifest is not JSON")?;
    let layers = v.get("layers").and_then(|l| l.as_array()).context("not an image manifest (no layers)")?;
    let size = |d: &serde_json::Value| d.get("size").and_then(|s| s.as_u64()).context("a descriptor has no size");
    let config = v.get("config").map(size).transpose()?.unwrap_or(0);
    layers.iter().map(size).sum::<Result<u64>>().map(|l| l + config)
}

/// The digest of `platform`'s image manifest in an index (attestation
/// manifests, platform `unknown/unknown`, are skipped).
pub fn index_entry(raw: &str, platform: Platform) -> Result<Option<String>> {
    let v: serde_json::Value = serde_json::from_str(raw).context("the manifest is not JSON")?;
    let Some(list) = v.get("manifests").and_then(|m| m.as_array()) else { return Ok(None) };
    let found = list.iter().find(|m| {
        let p = &m["platform"];
        p["os"].as_str() == Some(platform.os()) && p["architecture"].as_str() == Some(platform.goarch())
    });
    let digest =
        found.and_then(|m| m["digest"].as_str()).with_context(|| format!("the index has no {platform} image"))?;
    Ok(Some(digest.to_owned()))
}

/// Hold `m` to `budget`, and to `baseline` by `growth_percent`: `Err` is
/// the one line that says what is over, and the largest layers.
pub fn check(
    what: &str,
    m: &Measured,
    budget: Budget,
    baseline: Option<&Measured>,
    growth_percent: f64,
) -> std::result::Result<(), String> {
    let mut over = Vec::new();
    if let Some(u) = m.uncompressed.filter(|u| *u > budget.uncompressed) {
        over.push(format!("{} uncompressed > budget {}", show(u), show(budget.uncompressed)));
    }
    if let Some(c) = m.compressed.filter(|c| *c > budget.compressed) {
        over.push(format!("{} compressed > budget {}", show(c), show(budget.compressed)));
    }
    if let (Some(u), Some(base)) = (m.uncompressed, baseline.and_then(|b| b.uncompressed)) {
        let limit = base as f64 * (1.0 + growth_percent / 100.0);
        if u as f64 > limit {
            let grew = (u as f64 / base as f64 - 1.0) * 100.0;
            over.push(format!(
                "{} uncompressed is {grew:.1}% over the baseline's {} (at most {growth_percent}%)",
                show(u),
                show(base)
            ));
        }
    }
    if over.is_empty() {
        return Ok(());
    }
    Err(format!("{what}: {}; largest layers: {}", over.join("; "), largest_layers(&m.layers, 3)))
}

/// The `n` largest layers: `29.8 MB COPY /out/ /app/, …`.
fn largest_layers(layers: &[Layer], n: usize) -> String {
    let mut sorted: Vec<&Layer> = layers.iter().filter(|l| l.size > 0).collect();
    sorted.sort_by_key(|l| std::cmp::Reverse(l.size));
    if sorted.is_empty() {
        return "none listed".into();
    }
    sorted
        .iter()
        .take(n)
        .map(|l| {
            let step: String = l.created_by.chars().take(80).collect();
            let step = step.trim_start_matches("/bin/sh -c ").trim_end_matches(" # buildkit");
            format!("{} `{}`", show(l.size), super::reference::show(step))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The uncompressed size and layers of a local image (`reference`).
pub fn measure_local(docker: &Docker, reference: &str) -> Result<Measured> {
    let cmd = Command::new(vec![
        docker.name.clone(),
        "history".into(),
        "--no-trunc".into(),
        "--human=false".into(),
        "--format".into(),
        "{{.Size}}\t{{.CreatedBy}}".into(),
        reference.into(),
    ]);
    let layers = parse_history(&docker.read(&cmd)?)?;
    let uncompressed = layers.iter().map(|l| l.size).sum();
    Ok(Measured { uncompressed: Some(uncompressed), compressed: None, layers })
}

/// `platform`'s image pushed as `name@digest`, as the registry holds it:
/// its compressed size (config and layers of its manifest) and its layers,
/// each with its compressed size and the step that made it (the config's
/// history, whose entries that are not `empty_layer` are the manifest's
/// layers in order). Its uncompressed size is not in the registry.
pub fn measure_registry(docker: &Docker, name: &str, digest: &str, platform: Platform) -> Result<Measured> {
    let inspect = |digest: &str, format: Option<&str>| {
        let mut argv = vec![docker.name.clone(), "buildx".into(), "imagetools".into(), "inspect".into()];
        match format {
            Some(f) => argv.extend(["--format".into(), f.into()]),
            None => argv.push("--raw".into()),
        }
        argv.push(format!("{name}@{digest}"));
        Command::new(argv)
    };
    let raw = docker.read(&inspect(digest, None))?;
    let (manifest, image) = match index_entry(&raw, platform)? {
        None => (raw, digest.to_owned()),
        Some(entry) => (docker.read(&inspect(&entry, None))?, entry),
    };
    let config = docker.read(&inspect(&image, Some("{{json .Image}}")))?;
    Ok(Measured {
        uncompressed: None,
        compressed: Some(manifest_size(&manifest)?),
        layers: registry_layers(&manifest, &config)?,
    })
}

/// The layers of an image manifest, named by its config's history.
pub fn registry_layers(manifest: &str, config: &str) -> Result<Vec<Layer>> {
    let m: serde_json::Value = serde_json::from_str(manifest).context("the manifest is not JSON")?;
    let c: serde_json::Value = serde_json::from_str(config).context("the image config is not JSON")?;
    let sizes: Vec<u64> = m["layers"]
        .as_array()
        .context("not an image manifest (no layers)")?
        .iter()
        .map(|d| d["size"].as_u64().context("a layer descriptor has no size"))
        .collect::<Result<_>>()?;
    let steps: Vec<String> = c["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| !h["empty_layer"].as_bool().unwrap_or(false))
        .map(|h| h["created_by"].as_str().unwrap_or("").to_owned())
        .collect();
    // A config without history (or a shorter one) leaves layers unnamed.
    Ok(sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| Layer { size, created_by: steps.get(i).cloned().unwrap_or_default() })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMD: Platform = Platform::AMD64;

    #[test]
    fn registry_layers_are_named_by_the_config_history() {
        let manifest = r#"{"config":{"size":10},"layers":[{"size":300},{"size":5000}]}"#;
        let config = r#"{"history":[{"created_by":"ADD rootfs.tar /"},{"created_by":"ENV A=b","empty_layer":true},
                        {"created_by":"COPY big.bin /app/ # buildkit"}]}"#;
        let layers = registry_layers(manifest, config).unwrap();
        assert_eq!(
            layers,
            [
                Layer { size: 300, created_by: "ADD rootfs.tar /".into() },
                Layer { size: 5000, created_by: "COPY big.bin /app/ # buildkit".into() }
            ]
        );
        let m = Measured { uncompressed: None, compressed: Some(5310), layers };
        let b = Budget { uncompressed: 10_000, compressed: 1_000 };
        let e = check("x linux/amd64", &m, b, None, 10.0).unwrap_err();
        assert!(e.contains("5.3 kB compressed > budget 1.0 kB") && e.contains("5.0 kB `COPY big.bin /app/`"), "{e}");
        // No history: sizes alone.
        assert_eq!(registry_layers(manifest, "{}").unwrap()[1].created_by, "");
        assert!(registry_layers("{}", "{}").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("80 MB").unwrap(), 80_000_000);
        assert_eq!(parse_size("1.5 GB").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("512kB").unwrap(), 512_000);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("80 MiB").unwrap_err().to_string().contains("unknown unit"));
        assert!(parse_size("lots").is_err());
        assert_eq!(show(162_770_944), "162.8 MB");
        assert_eq!(show(3_000_000_000), "3.00 GB");
    }

    #[test]
    fn the_repository_budgets_cover_every_image_and_platform() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let b = Budgets::parse(&std::fs::read_to_string(root.join(BUDGETS_FILE)).unwrap()).unwrap();
        for spec in super::super::images::IMAGES {
            for &p in spec.platforms {
                assert!(b.get(spec.name, p).is_some(), "{BUDGETS_FILE} has no budget for {} {p}", spec.name);
            }
        }
    }

    #[test]
    fn bad_budgets_say_where() {
        let err = |t: &str| Budgets::parse(t).unwrap_err().to_string();
        assert!(err("[x]\n\"linux/amd64\" = { uncompressed = \"1 MB\", compressed = \"1 MB\" }")
            .contains("growth_percent is missing"));
        let e = err("growth_percent = 5\n[x]\n\"linux/amd64\" = { uncompressed = \"1 MB\" }");
        assert!(e.contains("[x] linux/amd64: `compressed` is missing"), "{e}");
        let e = err("growth_percent = 5\n[x]\n\"linux/sparc\" = { uncompressed = \"1 MB\", compressed = \"1 MB\" }");
        assert!(e.contains("[x] linux/sparc"), "{e}");
        let e =
            err("growth_percent = 5\n[x]\n\"linux/amd64\" = { uncompressed = \"1 MB\", compressed = \"1 MB\", x = 1 }");
        assert!(e.contains("unknown key `x`"), "{e}");
    }

    const HISTORY: &str = "0\tENTRYPOINT [\"/app/bin/extproc\"]\n\
        29822976\tCOPY /out/ /app/ # buildkit\n\
        50000000\tCOPY big.bin /big.bin # buildkit\n\
        0\tCMD [\"bash\"]\n\
        132947968\tADD rootfs.tar / # buildkit\n";

    #[test]
    fn a_planted_50_mb_layer_is_over_and_named() {
        let layers = parse_history(HISTORY).unwrap();
        let m = Measured { uncompressed: Some(layers.iter().map(|l| l.size).sum()), compressed: None, layers };
        let budget = Budget { uncompressed: 200_000_000, compressed: 80_000_000 };
        let err = check("extproc linux/amd64", &m, budget, None, 10.0).unwrap_err();
        assert_eq!(
            err,
            "extproc linux/amd64: 212.8 MB uncompressed > budget 200.0 MB; largest layers: \
             132.9 MB `ADD rootfs.tar /`, 50.0 MB `COPY big.bin /big.bin`, 29.8 MB `COPY /out/ /app/`"
        );
        // Without the planted layer it fits.
        let small: Vec<Layer> = m.layers.iter().filter(|l| l.size != 50_000_000).cloned().collect();
        let ok = Measured { uncompressed: Some(small.iter().map(|l| l.size).sum()), layers: small, compressed: None };
        assert_eq!(check("x", &ok, budget, None, 10.0), Ok(()));
        // Within the budget, but 30% over the baseline.
        let roomy = Budget { uncompressed: 1_000_000_000, compressed: 1_000_000_000 };
        let err = check("x", &m, roomy, Some(&ok), 10.0).unwrap_err();
        assert!(err.contains("30.7% over the baseline's 162.8 MB (at most 10%)"), "{err}");
        assert_eq!(check("x", &ok, roomy, Some(&ok), 10.0), Ok(()));
        // Compressed, when known.
        let pushed = Measured { compressed: Some(90_000_000), ..ok };
        assert!(check("x", &pushed, budget, None, 10.0).unwrap_err().contains("90.0 MB compressed > budget 80.0 MB"));
    }

    #[test]
    fn registry_sizes() {
        let manifest = r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"size":1000},"layers":[{"size":30000000},{"size":32000000}]}"#;
        assert_eq!(manifest_size(manifest).unwrap(), 62_001_000);
        let index = r#"{"manifests":[
            {"digest":"sha256:aa","platform":{"os":"linux","architecture":"amd64"}},
            {"digest":"sha256:bb","platform":{"os":"unknown","architecture":"unknown"}}]}"#;
        assert_eq!(index_entry(index, AMD).unwrap().as_deref(), Some("sha256:aa"));
        assert!(index_entry(index, Platform::ARM64).is_err());
        assert_eq!(index_entry(manifest, AMD).unwrap(), None);
        assert!(manifest_size(index).is_err());
    }
}
