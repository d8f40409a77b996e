//! QEMU binfmt_misc handlers: what lets this kernel run another
//! architecture's programs (Docker `RUN` steps and containers of foreign
//! images, and foreign binaries started directly).
//!
//! Why a module of its own: installing `qemu-user-static` is not enough. On a
//! machine without systemd nothing mounts `binfmt_misc` or feeds it the
//! handlers the package ships in `/usr/lib/binfmt.d`, and `binfmt-support`
//! registers nothing there either. [`register`] does what `systemd-binfmt`
//! would: it mounts the file system where it is not mounted and writes each
//! handler's line into `register`, always with the `F` flag (the kernel opens
//! the interpreter once, at registration, so containers whose root file
//! system has no qemu can use it). [`probe`] proves the result by running a
//! tiny program of the foreign architecture ([`tiny_program`]): a handler that
//! is registered but cannot start is as useless as none.
//!
//! Every failure says what to do: install the package, run as root, or give
//! the container the privilege (or register the handlers on its host).

use std::{
    fs,
    io::Write,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use crate::platform::{Arch, Platform};

/// Where the kernel's binfmt_misc file system lives.
pub const MOUNT: &str = "/proc/sys/fs/binfmt_misc";

/// Where qemu-user packages put their handler lines (Debian: `qemu-aarch64.conf`,
/// Fedora: `qemu-aarch64-static.conf`).
const CONF_DIRS: &[&str] = &["/usr/lib/binfmt.d", "/etc/binfmt.d", "/run/binfmt.d"];

/// The exit status of [`tiny_program`]: proof that the foreign code ran.
pub const PROBE_STATUS: i32 = 42;

/// The handler's name, which is also qemu-user's: `qemu-aarch64`.
pub fn qemu_name(p: Platform) -> String {
    p.qemu_user()
}

/// How the handler for one platform stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// binfmt_misc is not mounted: no handler can be registered yet.
    NotMounted,
    NotRegistered,
    Disabled,
    Enabled {
        flags: String,
        interpreter: String,
    },
}

/// The state of `p`'s handler on this machine.
pub fn state(p: Platform) -> State {
    let dir = Path::new(MOUNT);
    if !dir.join("register").exists() {
        return State::NotMounted;
    }
    match fs::read_to_string(dir.join(qemu_name(p))) {
        Err(_) => State::NotRegistered,
        Ok(text) => parse_entry(&text),
    }
}

/// Parse a `/proc/sys/fs/binfmt_misc/<name>` entry.
pub fn parse_entry(text: &str) -> State {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("enabled") {
        return State::Disabled;
    }
    let (mut flags, mut interpreter) = (String::new(), String::new());
    for line in lines {
        if let Some(f) = line.strip_prefix("flags:") {
            flags = f.trim().to_string();
        } else if let Some(i) = line.strip_prefix("interpreter") {
            interpreter = i.trim().to_string();
        }
    }
    State::Enabled { flags, interpreter }
}

/// The registration line of a `binfmt.d` file (`:name:type:offset:magic:mask:interpreter:flags`),
/// with the `F` flag added where it is missing.
pub fn registration_line(conf: &str) -> Result<String> {
    let line = conf
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(':'))
        .context("no registration line (one starting with `:`)")?;
    // The flags are the last field; the magic and mask are escaped
    // (`\x3a` for a colon), so splitting on ':' is exact.
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() != 8 {
        bail!(
            "`{line}` has {} fields, not the 7 of `:name:type:offset:magic:mask:interpreter:flags`",
            fields.len() - 1
        );
    }
    let flags = fields[7];
    if flags.contains('F') {
        return Ok(line.to_string());
    }
    Ok(format!("{}:{flags}F", fields[..7].join(":")))
}

/// The `binfmt.d` file of `p`'s handler, if a qemu-user package installed one.
pub fn conf_file(p: Platform) -> Option<PathBuf> {
    let name = qemu_name(p);
    CONF_DIRS
        .iter()
        .flat_map(|d| [format!("{d}/{name}.conf"), format!("{d}/{name}-static.conf")])
        .map(PathBuf::from)
        .find(|f| f.is_file())
}

/// Make `p`'s programs runnable here: mount binfmt_misc, register the handler
/// (with `F`), then run [`tiny_program`]. Idempotent; root only.
pub fn register(p: Platform) -> Result<()> {
    if probe(p).is_ok() {
        return Ok(());
    }
    let name = qemu_name(p);
    match state(p) {
        State::Enabled { .. } => {}
        st => {
            if !crate::sys::is_root() {
                bail!("{}", refusal_not_root(p));
            }
            if st == State::NotMounted {
                mount()?;
            }
            let conf = conf_file(p).with_context(|| {
                format!(
                    "no binfmt.d file for {name} in {}: install qemu-user-static \
                     (`cargo xtask doctor --fix --platform {p}`)",
                    CONF_DIRS.join(", ")
                )
            })?;
            let text = fs::read_to_string(&conf).with_context(|| format!("cannot read {}", conf.display()))?;
            let line = registration_line(&text).with_context(|| format!("in {}", conf.display()))?;
            let entry = Path::new(MOUNT).join(&name);
            if entry.exists() {
                // Registered but disabled (or without F): replace it.
                fs::write(&entry, "-1").with_context(|| format!("cannot remove the old {name} handler"))?;
            }
            let mut reg = fs::OpenOptions::new().write(true).open(Path::new(MOUNT).join("register")).map_err(|e| {
                anyhow::anyhow!("{}", refusal_no_privilege(&format!("cannot open {MOUNT}/register: {e}")))
            })?;
            reg.write_all(line.as_bytes()).map_err(|e| {
                anyhow::anyhow!("{}", refusal_no_privilege(&format!("the kernel refused the {name} handler: {e}")))
            })?;
            eprintln!("binfmt: registered {name} from {} (flags F)", conf.display());
        }
    }
    probe(p)
}

fn mount() -> Result<()> {
    let (sh, dir) = (xshell::Shell::new()?, MOUNT);
    let out = xshell::cmd!(sh, "mount -t binfmt_misc binfmt_misc {dir}")
        .quiet()
        .ignore_status()
        .output()
        .context("cannot run `mount`")?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        bail!("{}", refusal_no_privilege(&format!("cannot mount binfmt_misc on {MOUNT}: {why}")));
    }
    eprintln!("binfmt: mounted binfmt_misc on {MOUNT}");
    Ok(())
}

/// The refusal when registration needs root and we are not.
pub fn refusal_not_root(p: Platform) -> String {
    format!(
        "registering the {} handler needs root: run `sudo cargo xtask binfmt --platform {p}` \
         (or `sudo cargo xtask doctor --fix --platform {p}`)",
        qemu_name(p)
    )
}

/// The refusal when the kernel or the mount denies us (a container without
/// the privilege, or a read-only /proc/sys).
pub fn refusal_no_privilege(what: &str) -> String {
    format!(
        "{what}; this needs CAP_SYS_ADMIN and a writable {MOUNT} (in a container: run it with \
         `--privileged`, or register the handlers on its host with `cargo xtask binfmt`)"
    )
}

/// Run [`tiny_program`] for `p` and expect [`PROBE_STATUS`].
pub fn probe(p: Platform) -> Result<()> {
    if p.is_host() {
        return Ok(());
    }
    let path = std::env::temp_dir().join(format!("xtask-binfmt-{}-{}", p.dir_name(), std::process::id()));
    fs::write(&path, tiny_program(p)).with_context(|| format!("cannot write {}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
    let sh = xshell::Shell::new()?;
    let status = xshell::cmd!(sh, "{path}").quiet().ignore_status().output().map(|o| o.status);
    let _ = fs::remove_file(&path);
    match status {
        Ok(s) if s.code() == Some(PROBE_STATUS) => Ok(()),
        Ok(s) => bail!("a {p} test program ended with {s}, not exit status {PROBE_STATUS}"),
        Err(e) => bail!("a {p} test program does not start ({e}): the {} handler does not work", qemu_name(p)),
    }
}

/// A complete static ELF executable for `p` that calls `exit(42)`: the
/// smallest proof that this kernel runs `p`'s code (through qemu when `p` is
/// foreign). One program header, three instructions.
pub fn tiny_program(p: Platform) -> Vec<u8> {
    let code: Vec<u8> = match p.arch {
        // mov edi, 42; mov eax, 60 (exit); syscall
        Arch::Amd64 => vec![0xbf, 42, 0, 0, 0, 0xb8, 60, 0, 0, 0, 0x0f, 0x05],
        // movz x0, #42; movz x8, #93 (exit); svc #0
        Arch::Arm64 => [0xd280_0540u32, 0xd280_0ba8, 0xd400_0001].iter().flat_map(|w| w.to_le_bytes()).collect(),
        // addi a0, zero, 42; addi a7, zero, 93 (exit); ecall
        Arch::Riscv64 => [0x02a0_0513u32, 0x05d0_0893, 0x0000_0073].iter().flat_map(|w| w.to_le_bytes()).collect(),
    };
    const BASE: u64 = 0x40_0000;
    const EHSIZE: u16 = 64;
    const PHSIZE: u16 = 56;
    let entry = BASE + u64::from(EHSIZE + PHSIZE);
    let total = (EHSIZE + PHSIZE) as u64 + code.len() as u64;
    let mut f = Vec::with_capacity(total as usize);
    // e_ident: ELF, 64-bit, little endian, version 1, System V ABI.
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&2u16.to_le_bytes()); // e_type: EXEC
    f.extend_from_slice(&p.elf_machine().to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes()); // e_version
    f.extend_from_slice(&entry.to_le_bytes());
    f.extend_from_slice(&u64::from(EHSIZE).to_le_bytes()); // e_phoff
    f.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    f.extend_from_slice(&p.elf_flags().1.to_le_bytes()); // e_flags: the platform's ABI
    f.extend_from_slice(&EHSIZE.to_le_bytes());
    f.extend_from_slice(&PHSIZE.to_le_bytes());
    f.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    f.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
    f.extend_from_slice(&[0; 4]); // e_shnum, e_shstrndx
                                  // The one PT_LOAD: the whole file, read + execute.
    f.extend_from_slice(&1u32.to_le_bytes()); // p_type: LOAD
    f.extend_from_slice(&5u32.to_le_bytes()); // p_flags: R + X
    f.extend_from_slice(&0u64.to_le_bytes()); // p_offset
    f.extend_from_slice(&BASE.to_le_bytes()); // p_vaddr
    f.extend_from_slice(&BASE.to_le_bytes()); // p_paddr
    f.extend_from_slice(&total.to_le_bytes()); // p_filesz
    f.extend_from_slice(&total.to_le_bytes()); // p_memsz
    f.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    f.extend_from_slice(&code);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_AARCH64: &str = r":qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF";

    #[test]
    fn names_follow_qemu() {
        assert_eq!(qemu_name(Platform::ARM64), "qemu-aarch64");
        assert_eq!(qemu_name(Platform::AMD64), "qemu-x86_64");
    }

    #[test]
    fn registration_line_keeps_or_adds_f() {
        assert_eq!(registration_line(DEBIAN_AARCH64).unwrap(), DEBIAN_AARCH64);
        let without_f = DEBIAN_AARCH64.replace(":OPF", ":OC");
        let text = format!("# a comment\n\n{without_f}\n");
        let line = registration_line(&text).unwrap();
        assert!(line.ends_with(":/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OCF"), "{line}");
        assert_eq!(line.matches(':').count(), 7);
        let err = registration_line("# nothing\n").unwrap_err().to_string();
        assert!(err.contains("no registration line"), "{err}");
        let err = registration_line(":qemu-aarch64:M::magic:/bin/qemu").unwrap_err().to_string();
        assert!(err.contains("fields"), "{err}");
    }

    #[test]
    fn parses_proc_entries() {
        let text =
            "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c46\n";
        assert_eq!(
            parse_entry(text),
            State::Enabled { flags: "POCF".into(), interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P".into() }
        );
        assert_eq!(parse_entry("disabled\ninterpreter /x\n"), State::Disabled);
    }

    #[test]
    fn refusals_name_the_fix() {
        let e = refusal_not_root(Platform::ARM64);
        assert!(e.contains("needs root") && e.contains("sudo cargo xtask binfmt --platform linux/arm64"), "{e}");
        let e = refusal_no_privilege("cannot mount binfmt_misc on /proc/sys/fs/binfmt_misc: permission denied");
        assert!(e.contains("permission denied") && e.contains("--privileged") && e.contains("CAP_SYS_ADMIN"), "{e}");
        assert_eq!(e.lines().count(), 1);
    }

    #[test]
    fn tiny_programs_are_valid_elf_for_their_machine() {
        for p in Platform::ALL {
            let bytes = tiny_program(p);
            let elf = goblin::elf::Elf::parse(&bytes).unwrap();
            assert_eq!(elf.header.e_machine, p.elf_machine(), "{p}");
            assert_eq!(elf.program_headers.len(), 1);
            let load = &elf.program_headers[0];
            assert_eq!(load.p_filesz as usize, bytes.len());
            assert!(elf.entry >= load.p_vaddr && elf.entry < load.p_vaddr + load.p_filesz);
        }
    }

    /// The host's own tiny program runs natively: the bytes are real code.
    #[test]
    fn host_tiny_program_exits_42() {
        let host = Platform::host().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny");
        fs::write(&path, tiny_program(host)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        // Another test thread's fork can hold the file open for writing until
        // its exec: "text file busy" is then a race of the harness, retried.
        let status = (0..50)
            .find_map(|_| match std::process::Command::new(&path).status() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    None
                }
                other => Some(other.unwrap()),
            })
            .expect("text file busy 50 times");
        assert_eq!(status.code(), Some(PROBE_STATUS));
    }

    /// A foreign tiny program under qemu-user (run by path, not through
    /// binfmt), where qemu-user is installed; `doctor` installs it for the
    /// dist suite, so CI always runs this.
    #[test]
    fn foreign_tiny_program_exits_42_under_qemu_user() {
        let host = Platform::host().unwrap();
        for p in Platform::ALL.into_iter().filter(|p| *p != host) {
            let qemu = format!("{}-static", qemu_name(p));
            let Ok(qemu) = which::which(&qemu) else {
                if std::env::var_os("CI").is_some() {
                    panic!("{qemu} is not installed (run `cargo xtask doctor --fix --platform {p}`)");
                }
                // A counted skip (`cargo xtask test` reads `$XTASK_SKIP_LOG`,
                // as tests/common's `skip` writes it).
                eprintln!("SKIPPED foreign_tiny_program_exits_42_under_qemu_user: {qemu} is not installed");
                if let Some(log) = std::env::var_os("XTASK_SKIP_LOG").filter(|v| !v.is_empty()) {
                    use std::io::Write;
                    let line = format!("binfmt::foreign_tiny_program {p}\t{qemu}\t{qemu} is not installed\n");
                    let mut f = fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
                    f.write_all(line.as_bytes()).unwrap();
                }
                continue;
            };
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("tiny");
            fs::write(&path, tiny_program(p)).unwrap();
            // qemu-user, like the kernel, runs only executable files.
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            let status = std::process::Command::new(qemu).arg(&path).status().unwrap();
            assert_eq!(status.code(), Some(PROBE_STATUS), "{p}");
        }
    }
}
