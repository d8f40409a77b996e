//! The zig cross C toolchain, for real: `XTASK_CROSS_CC=zig cargo xtask
//! cross-env` gives the environment with which the fixture cdylib
//! (`fixtures/cdylib`, crate `ffi`) is built for the foreign platform, and a
//! cgo program linked against it; both are checked with goblin (machine,
//! linked by zig's LLD, glibc ≤ 2.28) and the program is run under qemu-user
//! where the cross loader is installed.
//!
//! zig is wherever xtask finds it, or else is installed from PyPI (`ziglang`)
//! into `$CARGO_TARGET_TMPDIR/zig`, as `doctor --fix` does into `/opt/xtask-zig`.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use goblin::elf::{header, Elf};

struct Foreign {
    docker: &'static str,
    triple: &'static str,
    gnu: &'static str,
    machine: u16,
    loader: &'static str,
    qemu: &'static str,
}

fn foreign() -> Foreign {
    if std::env::consts::ARCH == "x86_64" {
        Foreign {
            docker: "linux/arm64",
            triple: "aarch64-unknown-linux-gnu",
            gnu: "aarch64-linux-gnu",
            machine: header::EM_AARCH64,
            loader: "ld-linux-aarch64.so.1",
            qemu: "qemu-aarch64-static",
        }
    } else {
        Foreign {
            docker: "linux/amd64",
            triple: "x86_64-unknown-linux-gnu",
            gnu: "x86_64-linux-gnu",
            machine: header::EM_X86_64,
            loader: "ld-linux-x86-64.so.2",
            qemu: "qemu-x86_64-static",
        }
    }
}

fn on_path(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(tool)).find(|p| p.is_file())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `XTASK_ZIG` for the runs below: none when xtask finds zig itself
/// (`$XTASK_ZIG`, PATH, /opt/xtask-zig), else zig installed from PyPI once
/// per target directory.
fn zig_override() -> Option<PathBuf> {
    let probe = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["cross-env", "--platform", foreign().docker])
        .env("XTASK_CROSS_CC", "zig")
        .output()
        .unwrap();
    if probe.status.success() {
        return None;
    }
    let lib = Path::new(env!("CARGO_TARGET_TMPDIR")).join("zig/lib");
    if !lib.join("ziglang/zig").is_file() {
        run(Command::new("python3")
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--no-cache-dir", "--target"])
            .arg(&lib)
            .arg("ziglang>=0.13,<0.18"));
    }
    Some(lib.join("ziglang/zig"))
}

/// `xtask cross-env` output (`export K=V`, V shell-quoted) as pairs.
fn parse_exports(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| {
            let (k, v) = l.strip_prefix("export ").and_then(|l| l.split_once('=')).unwrap_or_else(|| panic!("{l}"));
            let v = match v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
                Some(inner) => inner.replace(r"'\''", "'"),
                None => v.to_string(),
            };
            (k.to_string(), v)
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Machine, the linker's `.comment`, and the highest GLIBC_x.y needed.
fn inspect(path: &Path) -> (u16, String, (u32, u32)) {
    let bytes = std::fs::read(path).unwrap();
    let elf = Elf::parse(&bytes).unwrap();
    let comment = elf
        .section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".comment"))
        .map(|s| String::from_utf8_lossy(&bytes[s.sh_offset as usize..][..s.sh_size as usize]).replace('\0', " "))
        .unwrap_or_default();
    let mut glibc = (0, 0);
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            for aux in need.iter() {
                let name = elf.dynstrtab.get_at(aux.vna_name).unwrap_or_default();
                if let Some(v) = name.strip_prefix("GLIBC_") {
                    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
                    glibc = glibc.max((parts.next().unwrap_or(0), parts.next().unwrap_or(0)));
                }
            }
        }
    }
    (elf.header.e_machine, comment, glibc)
}

#[test]
fn zig_cross_builds_a_cdylib_and_a_cgo_program() {
    let f = foreign();
    let zig = zig_override();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let xtask = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args).env("XTASK_CROSS_CC", "zig").env("XDG_CACHE_HOME", &cache);
        if let Some(zig) = &zig {
            cmd.env("XTASK_ZIG", zig);
        }
        run(&mut cmd)
    };

    // The Rust side: the linker and the cc crate's compilers are the wrappers.
    let env = parse_exports(&xtask(&["cross-env", "--platform", f.docker]));
    let upper = f.triple.replace('-', "_").to_uppercase();
    let linker = env.iter().find(|(k, _)| *k == format!("CARGO_TARGET_{upper}_LINKER")).expect("a linker").1.clone();
    assert_eq!(Path::new(&linker), cache.join(format!("xtask/zig/{}-zig-cc", f.gnu)));
    let script = std::fs::read_to_string(&linker).unwrap();
    assert!(script.contains(&format!("cc -target {}.2.28", f.gnu)), "{script}");

    let ws = tmp.path().join("ws");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cdylib"), &ws);
    run(Command::new(env!("CARGO"))
        .args(["build", "--locked", "--release", "--package", "ffi", "--target", f.triple, "--manifest-path"])
        .arg(ws.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", ws.join("target"))
        .envs(env.iter().map(|(k, v)| (k, v))));
    let lib_dir = ws.join("target").join(f.triple).join("release");
    let (machine, comment, glibc) = inspect(&lib_dir.join("libffi.so"));
    assert_eq!(machine, f.machine, "libffi.so is not for {}", f.docker);
    assert!(comment.contains("LLD"), "libffi.so was not linked by zig (lld): {comment}");
    assert!(glibc <= (2, 28), "libffi.so needs GLIBC_{}.{}", glibc.0, glibc.1);
    let exports = xtask(&["symbols", lib_dir.join("libffi.so").to_str().unwrap()]);
    assert!(exports.lines().any(|l| l == "ffi_add") && exports.lines().any(|l| l == "ffi_answer"), "{exports}");

    // The Go side: cgo with the same wrappers, against that library.
    let go_env =
        parse_exports(&xtask(&["cross-env", "--platform", f.docker, "--go", "--lib-dir", lib_dir.to_str().unwrap()]));
    assert!(go_env.iter().any(|(k, v)| k == "CC" && *v == linker), "{go_env:?}");
    let prog = tmp.path().join("prog");
    std::fs::create_dir_all(&prog).unwrap();
    std::fs::write(prog.join("go.mod"), "module zigcheck\n\ngo 1.19\n").unwrap();
    std::fs::write(
        prog.join("main.go"),
        "package main\n\n/*\n#cgo LDFLAGS: -lffi\n#include <stdint.h>\nuint32_t ffi_add(uint32_t a, uint32_t b);\n\
         uint32_t ffi_answer(void);\n*/\nimport \"C\"\n\nimport \"fmt\"\n\n\
         func main() { fmt.Println(C.ffi_add(2, 3), C.ffi_answer()) }\n",
    )
    .unwrap();
    let bin = prog.join("zigcheck");
    run(Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&prog)
        .envs(go_env.iter().map(|(k, v)| (k, v))));
    let (machine, comment, glibc) = inspect(&bin);
    assert_eq!(machine, f.machine);
    assert!(comment.contains("LLD"), "the cgo program was not linked by zig (lld): {comment}");
    assert!(glibc <= (2, 28), "the cgo program needs GLIBC_{}.{}", glibc.0, glibc.1);

    // Run it where the foreign loader and qemu-user are (CI: libc6-*-cross, qemu-user-static).
    let sysroot = PathBuf::from("/usr").join(f.gnu).join("lib");
    match on_path(f.qemu) {
        Some(qemu) if sysroot.join(f.loader).is_file() => {
            let out = run(Command::new(qemu)
                .arg(sysroot.join(f.loader))
                .arg("--library-path")
                .arg(format!("{}:{}", lib_dir.display(), sysroot.display()))
                .arg(&bin));
            assert_eq!(out.trim(), "5 42");
        }
        _ => eprintln!("not run: {} or {} is missing", f.qemu, sysroot.join(f.loader).display()),
    }
}
