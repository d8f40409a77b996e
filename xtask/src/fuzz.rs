//! `cargo xtask fuzz [FILE…]`: mutate real ELF files and archives and check
//! that whatever `symbols`/`verify-symbols` accept, binutils accept too.
//!
//! Each mutant is the base file with 1–4 small edits (a random byte, a bit
//! flip, an interesting value such as 0, -1 or the file size written over an
//! aligned field, a small delta, a field copied from elsewhere), three in four
//! of them inside the structures the readers follow (ELF, program and section
//! headers, dynamic segment, symbol, string, hash, version and relocation
//! tables, `ar` headers and index), the rest anywhere but in code and data
//! (in a library; an archive's edits all hit structures). The parser runs in
//! process without its panic guard, so a panic is counted, and under a
//! watchdog, so a hang stops the run with the input that caused it.
//!
//! A mutant the parser accepts must be accepted by the tools that consume the
//! file: `nm -D --defined-only` (`nm --defined-only` for archives) exits 0
//! without a word on stderr and, for shared objects, prints the same names as
//! [`elf::exported_symbols`]; and a program calling one of its functions links
//! against it with the C compiler of its machine (`cc`, or the GNU cross
//! compiler, `aarch64-linux-gnu-gcc` for arm64 on an amd64 host; a PIE, its
//! default); and a shared library loads with `dlopen` (see `load`: natively
//! or under qemu-user; when that oracle cannot run, the mutants it did not
//! judge are counted as not run).
//! A mutant counts as accepted when `verify-symbols` would pass it: it
//! parses, keeps the base's machine and type, its imports resolve (a
//! library's against its `DT_NEEDED` libraries, an archive's against its
//! members and the C link's libraries) and an archive stays
//! position-independent. Anything else is a *false pass*. A rejected mutant needs no oracle (refusing is safe); one in
//! fifty is shown to `nm` anyway, to print how much stricter xtask is.
//!
//! Every failure is printed as a line of the regression corpus format of
//! `xtask/tests/fixtures/elf/corpus.txt` (base, patches) and the run exits
//! non-zero. Mutations are reproducible from `--seed`.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use goblin::elf::{section_header as sh, Elf};

use crate::{ctx::Ctx, elf, flags};

mod load;

/// The committed fixtures mutated by default (relative to the workspace):
/// two libraries and three archives (one with thread-local data and the
/// general-dynamic TLS sequence, for x86-64 and arm64), whose members'
/// headers, symbol and string tables and relocations (those of the unwind
/// tables too) are mutated; code, data and `.eh_frame` bytes are not (see
/// `ranges_of_elf`).
pub const FIXTURES: [&str; 5] = [
    "xtask/tests/fixtures/elf/base/libfixture.so",
    "xtask/tests/fixtures/elf/base/libfixture-arm64.so",
    "xtask/tests/fixtures/elf/base/libfixture.a",
    "xtask/tests/fixtures/elf/base/libfixture-tls.a",
    "xtask/tests/fixtures/elf/base/libfixture-tls-arm64.a",
];

/// How much CPU time one parse may use before the run counts a hang (the
/// largest real library parses in well under a second).
const HANG: Duration = Duration::from_secs(10);
/// How long `nm` or the linker may take on one mutant (wall time, and
/// generous: a run may share the machine with builds that starve it).
const TOOL_TIMEOUT: Duration = Duration::from_secs(300);

impl flags::Fuzz {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let files = if self.files.is_empty() {
            let ws = ctx.workspace()?;
            let mut v: Vec<PathBuf> = FIXTURES.iter().map(|f| ws.root.join(f)).collect();
            let release = ws.target_dir()?.join("release");
            let lib = release.join("libcandle_semantic_router.so");
            if lib.is_file() {
                v.push(lib);
            }
            v
        } else {
            self.files.clone()
        };
        let seed = self.seed.unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
        });
        let work = std::env::temp_dir().join(format!("xtask-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
        // Removed at the end, and on SIGINT/SIGTERM.
        let _cleanup = crate::interrupt::Scratch::new(work.clone());
        let watchdog = Watchdog::start();
        let mut total = Tally::default();
        let started = Instant::now();
        for (i, f) in files.iter().enumerate() {
            let t = Target::new(f, &work)?;
            let tally = t.run(self.count, seed.wrapping_add(i as u64), &work, &watchdog)?;
            total.add(&tally);
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "fuzz total: {} mutants in {secs:.1} s ({:.0}/s), seed {seed:#x}: {} accepted, {} rejected, {} failed by \
             verify-symbols; loaded {} (then crashed at exit {}), load oracle not run {}; panics {}, hangs 0, false \
             passes {}",
            total.mutants,
            total.mutants as f64 / secs,
            total.accepted,
            total.rejected,
            total.verify_fails,
            total.loaded,
            total.exit_crashes,
            total.load_not_run,
            total.panics,
            total.false_passes
        );
        if total.panics + total.false_passes > 0 {
            bail!(
                "{} panics and {} false passes (the corpus lines above reproduce them)",
                total.panics,
                total.false_passes
            );
        }
        Ok(())
    }
}

/// Kills the run when one parse uses more than [`HANG`] of CPU time,
/// printing the input that hung. CPU time, not wall time: a parse starved
/// by other work on the machine is slow, not hung (a parse is computation
/// on bytes in memory; a hang is a loop, which burns CPU).
struct Watchdog {
    /// The process's CPU milliseconds (plus one) when the current parse
    /// started; 0 = idle.
    started: Arc<AtomicU64>,
    current: Arc<Mutex<String>>,
}

/// This process's CPU time so far, in milliseconds (every thread's; while
/// a parse runs, the others sleep).
fn cpu_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write; the clock id is a constant.
    if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

impl Watchdog {
    fn start() -> Watchdog {
        let w = Watchdog { started: Arc::new(AtomicU64::new(0)), current: Arc::new(Mutex::new(String::new())) };
        let (started, current) = (w.started.clone(), w.current.clone());
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            let s = started.load(Ordering::SeqCst);
            if s != 0 && cpu_ms().saturating_sub(s - 1) > HANG.as_millis() as u64 {
                let line = current.lock().map(|c| c.clone()).unwrap_or_default();
                eprintln!("error: hang: parsing used more than {} s of CPU on\n{line}", HANG.as_secs());
                std::process::exit(3);
            }
        });
        w
    }

    fn guard<T>(&self, what: &str, f: impl FnOnce() -> T) -> T {
        if let Ok(mut c) = self.current.lock() {
            c.clear();
            c.push_str(what);
        }
        self.started.store(cpu_ms() + 1, Ordering::SeqCst);
        let r = f();
        self.started.store(0, Ordering::SeqCst);
        r
    }
}

#[derive(Default)]
struct Tally {
    mutants: u64,
    accepted: u64,
    rejected: u64,
    panics: u64,
    false_passes: u64,
    sampled: u64,
    nm_accepts_rejected: u64,
    /// Parsed, but `verify-symbols` fails it (machine, type, imports).
    verify_fails: u64,
    /// Accepted shared libraries the loader loaded.
    loaded: u64,
    /// Accepted shared libraries the load oracle could not judge.
    load_not_run: u64,
    /// Of those loaded, the ones whose process then crashed at exit.
    exit_crashes: u64,
}

/// What the load oracle did with a file every other oracle accepts.
enum Loaded {
    Yes,
    /// `dlopen` returned it; the library's code crashed at exit (not the
    /// loader's verdict: counted and printed, not a false pass).
    ThenCrashedAtExit(String),
    /// Not a shared library.
    NoLoader,
    /// The oracle could not run.
    NotRun,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.mutants += o.mutants;
        self.accepted += o.accepted;
        self.rejected += o.rejected;
        self.panics += o.panics;
        self.false_passes += o.false_passes;
        self.sampled += o.sampled;
        self.nm_accepts_rejected += o.nm_accepts_rejected;
        self.verify_fails += o.verify_fails;
        self.loaded += o.loaded;
        self.load_not_run += o.load_not_run;
        self.exit_crashes += o.exit_crashes;
    }
}

/// splitmix64: small, fast, and the same sequence everywhere for one seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Shared,
    Archive,
}

/// One base file, what to mutate in it and how to judge a mutant.
struct Target {
    path: PathBuf,
    name: String,
    bytes: Vec<u8>,
    kind: Kind,
    /// `[start, end)` file ranges of the structures.
    regions: Vec<(usize, usize)>,
    /// File ranges of a library's code and data (allocated `PROGBITS`
    /// sections that are not structures): no edit lands there, as only the
    /// CPU reads them, and the loader runs the constructors' code.
    opaque: Vec<(usize, usize)>,
    /// The C compiler that links for the file's machine, if installed.
    cc: Option<String>,
    /// An object whose `main` calls a function the file defines.
    main_o: Option<PathBuf>,
    /// For a shared library: the loader as an oracle (`dlopen`, natively or
    /// under qemu-user), or why it cannot run here.
    loader: Option<std::result::Result<load::Loader, String>>,
    /// What nm says on stderr about the base itself (a Rust archive's
    /// members without symbols: "no symbols"): not held against a mutant.
    nm_base_stderr: Vec<String>,
    /// What `verify-symbols` expects of every mutant: the base's identity.
    ident: Vec<elf::Ident>,
}

/// The structures of an ELF file at `base`: headers, dynamic-linking
/// tables, symbol, string and relocation tables. Not code or data, which no
/// reader but the CPU interprets, nor the unwind tables' own bytes (CIE and
/// FDE records, which the linker reads for `.eh_frame_hdr` and the unwinder
/// at run time; xtask checks only where their relocations put each FDE).
fn ranges_of_elf(bytes: &[u8], base: usize, out: &mut Vec<(usize, usize)>) -> Result<()> {
    let elf = Elf::parse(bytes)?;
    let h = &elf.header;
    out.push((base, base + h.e_ehsize as usize));
    let ph = h.e_phoff as usize;
    out.push((base + ph, base + ph + h.e_phnum as usize * h.e_phentsize as usize));
    let shoff = h.e_shoff as usize;
    out.push((base + shoff, base + shoff + elf.section_headers.len() * h.e_shentsize as usize));
    for s in &elf.section_headers {
        let wanted = matches!(
            s.sh_type,
            sh::SHT_DYNAMIC
                | sh::SHT_DYNSYM
                | sh::SHT_SYMTAB
                | sh::SHT_STRTAB
                | sh::SHT_HASH
                | sh::SHT_GNU_HASH
                | sh::SHT_GNU_VERSYM
                | sh::SHT_GNU_VERNEED
                | sh::SHT_GNU_VERDEF
                | sh::SHT_RELA
                | sh::SHT_REL
                | sh::SHT_INIT_ARRAY
        );
        if wanted && s.sh_size > 0 {
            let start = base + s.sh_offset as usize;
            out.push((start, start + s.sh_size as usize));
        }
    }
    Ok(())
}

impl Target {
    fn new(path: &Path, work: &Path) -> Result<Target> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let parsed = elf::parse(path, &bytes).with_context(|| "a fuzz base must be a valid file")?;
        let mut regions = Vec::new();
        let (kind, machine, function) = match &parsed {
            elf::Binary::Elf(info) => {
                ranges_of_elf(&bytes, 0, &mut regions)?;
                let f = info
                    .dynsyms
                    .iter()
                    .find(|s| s.name == "init_similarity_model")
                    .or_else(|| info.dynsyms.iter().find(|s| s.is_exported_function()))
                    .map(|s| s.name.clone());
                (Kind::Shared, info.ident.machine, f)
            }
            elf::Binary::Archive(a) => {
                regions.push((0, 8));
                let ar = goblin::archive::Archive::parse(&bytes)?;
                for i in 0..ar.len() {
                    let m = ar.get_at(i).context("archive member")?;
                    regions.push((m.header_offset as usize, m.offset as usize));
                    let data = &bytes[m.offset as usize..m.offset as usize + m.size()];
                    if data.starts_with(b"\x7fELF") {
                        ranges_of_elf(data, m.offset as usize, &mut regions)?;
                    }
                }
                // The armap: the first member header and its data.
                regions.push((8, 8 + 60 + 64.min(bytes.len() - 68)));
                let machine = a.members.iter().find_map(|m| m.ident.as_ref().ok()).map_or(0, |i| i.machine);
                let f = if a.defines_function("init_similarity_model") {
                    Some("init_similarity_model".to_string())
                } else {
                    a.members.iter().flat_map(|m| &m.defined).find(|s| s.kind == "FUNC").map(|s| s.name.clone())
                };
                (Kind::Archive, machine, f)
            }
        };
        regions.retain(|&(s, e)| e > s && e <= bytes.len());
        let mut opaque = Vec::new();
        if kind == Kind::Shared {
            for s in &Elf::parse(&bytes)?.section_headers {
                if s.sh_type == sh::SHT_PROGBITS && s.sh_flags & u64::from(sh::SHF_ALLOC) != 0 {
                    opaque.push((s.sh_offset as usize, (s.sh_offset + s.sh_size) as usize));
                }
            }
        }
        let platform = load::platform_of(machine);
        let cc = platform.and_then(load::compiler);
        let mut main_o = None;
        if let (Some(cc), Some(f)) = (&cc, &function) {
            let src = work.join(format!("main-{name}.c"));
            std::fs::write(&src, format!("extern int {f}();\nint main(void) {{ return {f}(); }}\n"))?;
            let o = work.join(format!("main-{name}.o"));
            let out = duct::cmd!(cc, "-c", "-o", &o, &src).stderr_capture().unchecked().run()?;
            if !out.status.success() {
                bail!("{cc} -c {}: {}", src.display(), String::from_utf8_lossy(&out.stderr));
            }
            main_o = Some(o);
        }
        let loader = match (kind, platform) {
            (Kind::Shared, Some(p)) => Some(load::Loader::build(p, path, work)),
            (Kind::Shared, None) => Some(Err(format!("no platform of xtask has ELF machine {machine}"))),
            (Kind::Archive, _) => None,
        };
        let ident = identities(&parsed);
        if let Some(why) = Target::verify_refuses_ident(&ident, &parsed, &mut elf::Resolver::default()) {
            bail!("{}: a fuzz base must pass verify-symbols' checks: {why}", path.display());
        }
        let mut t = Target {
            path: path.to_path_buf(),
            name,
            bytes,
            kind,
            regions,
            opaque,
            cc,
            main_o,
            loader,
            ident,
            nm_base_stderr: Vec::new(),
        };
        // At the path mutants are written to, so that messages naming it match.
        let file = work.join(&t.name);
        std::fs::write(&file, &t.bytes)?;
        let o = run_bounded(duct::cmd(
            "nm",
            t.nm_args().iter().copied().map(std::ffi::OsStr::new).chain([file.as_os_str()]),
        ))?;
        t.nm_base_stderr =
            o.map(|o| String::from_utf8_lossy(&o.stderr).lines().map(String::from).collect()).unwrap_or_default();
        Ok(t)
    }

    fn run(&self, count: u64, seed: u64, work: &Path, watchdog: &Watchdog) -> Result<Tally> {
        let mut rng = Rng(seed);
        let mut resolver = elf::Resolver::default();
        let mut t = Tally::default();
        let mut bytes = self.bytes.clone();
        let file = work.join(&self.name);
        let out = work.join(format!("a.out-{}", self.name));
        let started = Instant::now();
        let link = match (&self.cc, &self.main_o) {
            (Some(cc), Some(_)) => format!("links with {cc}"),
            _ => "no linker for its machine: the link oracle does not run".to_string(),
        };
        let link = match &self.loader {
            Some(Ok(l)) => format!("{link}, loads with {}", l.how),
            Some(Err(why)) => format!("{link}; the load oracle does not run: {why}"),
            None => link,
        };
        println!(
            "fuzz {} ({} bytes, {} structure ranges), {link}",
            self.path.display(),
            self.bytes.len(),
            self.regions.len()
        );
        for _ in 0..count {
            let patches = self.mutate(&mut rng, &bytes);
            let saved: Vec<(usize, Vec<u8>)> =
                patches.iter().map(|(at, b)| (*at, bytes[*at..*at + b.len()].to_vec())).collect();
            for (at, b) in &patches {
                bytes[*at..*at + b.len()].copy_from_slice(b);
            }
            let line = self.corpus_line(&patches);
            t.mutants += 1;
            let r = watchdog.guard(&line, || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| elf::parse_unguarded(&file, &bytes)))
            });
            match r {
                Err(_) => {
                    t.panics += 1;
                    println!("PANIC {line}");
                }
                Ok(Err(_)) => {
                    t.rejected += 1;
                    if t.rejected % 50 == 1 {
                        t.sampled += 1;
                        std::fs::write(&file, &bytes)?;
                        if self.nm(&file)?.is_ok() {
                            t.nm_accepts_rejected += 1;
                        }
                    }
                }
                Ok(Ok(parsed)) => {
                    if self.verify_refuses(&parsed, &mut resolver).is_some() {
                        // Parsed, but `verify-symbols` fails it: not a pass.
                        t.verify_fails += 1;
                    } else {
                        t.accepted += 1;
                        std::fs::write(&file, &bytes)?;
                        match self.oracles(&file, &out, &parsed) {
                            Err(why) => {
                                t.false_passes += 1;
                                println!("FALSE PASS ({why}) {line}");
                            }
                            Ok(Loaded::Yes) => t.loaded += 1,
                            Ok(Loaded::ThenCrashedAtExit(why)) => {
                                t.loaded += 1;
                                t.exit_crashes += 1;
                                println!("CRASH AT EXIT, after dlopen returned it ({why}) {line}");
                            }
                            Ok(Loaded::NoLoader) => {}
                            Ok(Loaded::NotRun) => t.load_not_run += 1,
                        }
                    }
                }
            }
            for (at, b) in saved {
                bytes[at..at + b.len()].copy_from_slice(&b);
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  {} mutants in {secs:.1} s ({:.0}/s), seed {seed:#x}: rejected {} (one error each), failed by \
             verify-symbols' machine/type/imports checks {}, accepted {} (nm and the linker accept them all unless \
             counted as false passes); panics {}, false passes {}",
            t.mutants,
            t.mutants as f64 / secs,
            t.rejected,
            t.verify_fails,
            t.accepted,
            t.panics,
            t.false_passes
        );
        println!(
            "  nm on {} sampled rejected mutants: accepts {} of them (xtask is stricter), refuses {}",
            t.sampled,
            t.nm_accepts_rejected,
            t.sampled - t.nm_accepts_rejected
        );
        if self.loader.is_some() {
            println!(
                "  the loader loaded {} accepted mutants (then crashed at exit: {}); not run on {}",
                t.loaded, t.exit_crashes, t.load_not_run
            );
        }
        std::io::stdout().flush().ok();
        Ok(t)
    }

    /// Why `verify-symbols` fails a parsed mutant, if it does: another
    /// machine, class or file type than the base (the `machine`/`elf-type`
    /// checks), or imports the needed libraries do not define (`imports`).
    fn verify_refuses(&self, parsed: &elf::Binary, resolver: &mut elf::Resolver) -> Option<String> {
        Target::verify_refuses_ident(&self.ident, parsed, resolver)
    }

    fn verify_refuses_ident(
        ident: &[elf::Ident],
        parsed: &elf::Binary,
        resolver: &mut elf::Resolver,
    ) -> Option<String> {
        if identities(parsed) != ident {
            return Some("machine or file type".into());
        }
        let imports = match parsed {
            elf::Binary::Elf(info) => resolver.check(info),
            elf::Binary::Archive(a) => {
                if let Some(w) = a.non_pic().first() {
                    return Some(format!("not position-independent: {w}"));
                }
                resolver.check_archive(a)
            }
        };
        match imports {
            Ok(elf::Imports::Resolved { .. }) => None,
            Ok(other) => Some(format!("{other:?}")),
            Err(e) => Some(format!("{e:#}")),
        }
    }

    /// `nm`'s names, or why nm refused the file.
    fn nm_args(&self) -> &'static [&'static str] {
        if self.kind == Kind::Shared {
            &["-D", "--defined-only"]
        } else {
            &["--defined-only"]
        }
    }

    fn nm(&self, file: &Path) -> Result<std::result::Result<Vec<String>, String>> {
        let args = self.nm_args();
        let o = run_bounded(duct::cmd("nm", args.iter().copied().map(std::ffi::OsStr::new).chain([file.as_os_str()])))?;
        let Some(o) = o else { return Ok(Err("nm timed out".into())) };
        let msg = String::from_utf8_lossy(&o.stderr);
        let new = msg.lines().find(|l| !self.nm_base_stderr.iter().any(|b| b == l));
        if !o.status.success() || new.is_some() {
            return Ok(Err(format!("nm: {}", new.or(msg.lines().next()).unwrap_or("failed"))));
        }
        // `<value> <type> <name>`, names may contain spaces; versions dropped.
        let mut names: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.splitn(3, ' ').nth(2))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect();
        names.sort();
        names.dedup();
        Ok(Ok(names))
    }

    /// `Ok`: every oracle accepts it (how the loader did, if it ran);
    /// `Err`: why one refuses it.
    fn oracles(&self, file: &Path, out: &Path, parsed: &elf::Binary) -> Result<Loaded, String> {
        let nm = self.nm(file).map_err(|e| format!("{e:#}"))?;
        let nm = nm?;
        if let elf::Binary::Elf(info) = parsed {
            let ours = info.exported_names();
            if ours != nm {
                let only_ours: Vec<_> = ours.iter().filter(|n| !nm.contains(n)).take(3).collect();
                let only_nm: Vec<_> = nm.iter().filter(|n| !ours.contains(n)).take(3).collect();
                return Err(format!("names differ from nm: only xtask {only_ours:?}, only nm {only_nm:?}"));
            }
        }
        if let (Some(cc), Some(main_o)) = (&self.cc, &self.main_o) {
            let mut args: Vec<std::ffi::OsString> = vec!["-o".into(), out.into(), main_o.into(), file.into()];
            if self.kind == Kind::Archive {
                args.extend(["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl"].map(Into::into));
            }
            let o = run_bounded(duct::cmd(cc, args)).map_err(|e| format!("{e:#}"))?;
            match o {
                None => return Err(format!("{cc} timed out")),
                Some(o) if !o.status.success() => {
                    let msg = String::from_utf8_lossy(&o.stderr);
                    // The linker's own words, not collect2's summary.
                    let first = msg
                        .lines()
                        .find(|l| !l.contains("collect2") && !l.contains("in function") && !l.contains("warning:"))
                        .or(msg.lines().next());
                    return Err(format!("{cc} cannot link it: {}", first.unwrap_or("").trim()));
                }
                Some(_) => {}
            }
        }
        match &self.loader {
            Some(Ok(loader)) => match loader.load(file) {
                Ok(load::Verdict::Loads) => Ok(Loaded::Yes),
                Ok(load::Verdict::Refuses(why)) => Err(format!("{} refuses it: {why}", loader.how)),
                Ok(load::Verdict::CrashesAtExit(why)) => Ok(Loaded::ThenCrashedAtExit(why)),
                Err(_) => Ok(Loaded::NotRun),
            },
            Some(Err(_)) => Ok(Loaded::NotRun),
            None => Ok(Loaded::NoLoader),
        }
    }

    fn mutate(&self, rng: &mut Rng, bytes: &[u8]) -> Vec<(usize, Vec<u8>)> {
        let len = bytes.len();
        let n = match rng.below(10) {
            0..=4 => 1,
            5..=7 => 2,
            _ => 3 + rng.below(2) as usize,
        };
        let mut patches = Vec::with_capacity(n);
        for _ in 0..n {
            // Archives: only the structures (see `ranges_of_elf`), as an edit of
            // code or data bytes is no reader's business but the CPU's.
            let anywhere = self.kind == Kind::Shared && rng.below(4) == 0;
            let (start, end) = if !anywhere && !self.regions.is_empty() {
                self.regions[rng.below(self.regions.len() as u64) as usize]
            } else {
                (0, len)
            };
            let mut at = start + rng.below((end - start) as u64) as usize;
            if !self.regions.is_empty() && self.opaque.iter().any(|&(s, e)| at + 8 > s && at < e) {
                // Code or data: a structure instead.
                let (s, e) = self.regions[rng.below(self.regions.len() as u64) as usize];
                at = s + rng.below((e - s) as u64) as usize;
            }
            let patch = match rng.below(5) {
                0 => (at, vec![rng.next() as u8]),
                1 => (at, vec![bytes[at] ^ (1 << rng.below(8))]),
                2 | 3 => {
                    let w = [1usize, 2, 4, 8][rng.below(4) as usize];
                    let at = (at & !(w - 1)).min(len - w);
                    let old = le(&bytes[at..at + w]);
                    let v = match rng.below(12) {
                        0 => 0,
                        1 => 1,
                        2 => u64::MAX,
                        3 => 0x7fff_ffff,
                        4 => 0x8000_0000,
                        5 => len as u64,
                        6 => len as u64 + 1,
                        7 => rng.below(64),
                        8 => 4096,
                        9 => old.wrapping_add(1 + rng.below(16)),
                        10 => old.wrapping_sub(1 + rng.below(16)),
                        _ => rng.next(),
                    };
                    (at, v.to_le_bytes()[..w].to_vec())
                }
                _ => {
                    // A field copied from another structure.
                    let (s, e) =
                        self.regions.get(rng.below(self.regions.len() as u64) as usize).copied().unwrap_or((0, len));
                    let from = (s + rng.below((e - s) as u64) as usize).min(len - 8) & !7;
                    let at = (at & !7).min(len - 8);
                    (at, bytes[from..from + 8].to_vec())
                }
            };
            patches.push(patch);
        }
        patches
    }

    /// `base | patches` of the corpus format.
    fn corpus_line(&self, patches: &[(usize, Vec<u8>)]) -> String {
        let p: Vec<String> = patches
            .iter()
            .map(|(at, b)| format!("{at:#x}={}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()))
            .collect();
        format!("{} | {}", self.path.display(), p.join(" "))
    }
}

/// The identity of the file, or of each archive member (an error for a member that is not ELF).
fn identities(parsed: &elf::Binary) -> Vec<elf::Ident> {
    match parsed {
        elf::Binary::Elf(info) => vec![info.ident],
        elf::Binary::Archive(a) => a
            .members
            .iter()
            .map(|m| {
                m.ident.clone().unwrap_or(elf::Ident {
                    machine: 0,
                    class: elf::Class::Elf32,
                    endianness: elf::Endianness::Big,
                    elf_type: elf::ElfType::Other(0),
                    flags: 0,
                })
            })
            .collect(),
    }
}

fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0, |acc, &x| (acc << 8) | u64::from(x))
}

/// Run a tool with captured output, killed after [`TOOL_TIMEOUT`] (`None`).
fn run_bounded(cmd: duct::Expression) -> Result<Option<std::process::Output>> {
    let h = cmd.stdout_capture().stderr_capture().unchecked().start()?;
    let deadline = Instant::now() + TOOL_TIMEOUT;
    loop {
        if let Some(o) = h.try_wait()? {
            return Ok(Some(o.clone()));
        }
        if Instant::now() > deadline {
            h.kill()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
