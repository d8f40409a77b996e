//! The dynamic view: what the loader reads through `PT_DYNAMIC` (dynamic
//! entries, strings, the dynamic symbol table and its hash tables, versions,
//! relocations), and its agreement with the section view nm reads.

use super::*;

/// What the dynamic segment says, read once.
pub(super) struct Dyns {
    /// First value of each tag, and where its entry is.
    tags: BTreeMap<u64, (u64, u64)>,
    needed: Vec<(u64, u64)>,
    rpath: Vec<(u64, u64)>,
    runpath: Vec<(u64, u64)>,
}

impl Dyns {
    pub(super) fn get(&self, tag: u64) -> Option<u64> {
        self.tags.get(&tag).map(|&(v, _)| v)
    }

    /// Each tag but `DT_NEEDED`, `DT_RPATH` and `DT_RUNPATH`, with the
    /// offset of its first entry.
    pub(super) fn entries(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.tags.iter().map(|(&t, &(_, off))| (t, off))
    }
}

pub(super) fn tag_name(tag: u64) -> String {
    match tag {
        DT_RELR => "DT_RELR".into(),
        DT_RELRSZ => "DT_RELRSZ".into(),
        DT_RELRENT => "DT_RELRENT".into(),
        t => dt::tag_to_str(t).to_string(),
    }
}

impl File<'_> {
    pub(super) fn check_dynamic(&self, pi: usize) -> Result<Dynamic> {
        let p = &self.phdrs[pi];
        let ent = 2 * self.word();
        ensure!(
            p.p_filesz.is_multiple_of(ent),
            "{}: p_filesz {} is not a multiple of the {ent}-byte entry",
            self.phdr(pi),
            hex(p.p_filesz)
        );
        let mut d = Dyns { tags: BTreeMap::new(), needed: Vec::new(), rpath: Vec::new(), runpath: Vec::new() };
        let mut terminated = false;
        for k in 0..p.p_filesz / ent {
            let off = p.p_offset + k * ent;
            let e: Dyn =
                self.b.pread_with(off as usize, self.ctx).with_context(|| format!("dynamic entry at {}", hex(off)))?;
            match e.d_tag {
                dt::DT_NULL => {
                    terminated = true;
                    break;
                }
                dt::DT_NEEDED => d.needed.push((e.d_val, off)),
                dt::DT_RPATH => d.rpath.push((e.d_val, off)),
                dt::DT_RUNPATH => d.runpath.push((e.d_val, off)),
                t => {
                    // The tags this reader or the loader take one value of.
                    let unique = (dt::DT_PLTRELSZ..=dt::DT_BIND_NOW).contains(&t)
                        || (dt::DT_INIT_ARRAY..=dt::DT_PREINIT_ARRAYSZ).contains(&t)
                        || matches!(
                            t,
                            dt::DT_GNU_HASH
                                | dt::DT_VERSYM
                                | dt::DT_VERDEF
                                | dt::DT_VERDEFNUM
                                | dt::DT_VERNEED
                                | dt::DT_VERNEEDNUM
                                | dt::DT_FLAGS_1
                                | DT_RELR
                                | DT_RELRSZ
                                | DT_RELRENT
                        );
                    if let Some(&(_, first)) = d.tags.get(&t) {
                        ensure!(
                            !unique,
                            "dynamic entry at offset {}: a second {} (the first is at offset {})",
                            hex(off),
                            tag_name(t),
                            hex(first)
                        );
                    } else {
                        d.tags.insert(t, (e.d_val, off));
                    }
                }
            }
        }
        ensure!(terminated, "{}: the dynamic entries do not end with DT_NULL", self.phdr(pi));
        let at = |tag: u64| -> String {
            let off = d.tags.get(&tag).map_or(0, |&(_, o)| o);
            format!("dynamic entry {} at offset {}", tag_name(tag), hex(off))
        };
        let need = |tag: u64, with: u64| -> Result<u64> {
            d.get(tag).ok_or_else(|| anyhow::anyhow!("{}: needs {} too", at(with), tag_name(tag)))
        };
        // A table the loader reads: inside the file contents of a PT_LOAD.
        let table = |tag: u64, len: u64| -> Result<u64> {
            let addr = d.get(tag).unwrap_or(0);
            self.file_offset(addr, len).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: {} bytes at address {} are not inside the file contents of a PT_LOAD",
                    at(tag),
                    len,
                    hex(addr)
                )
            })
        };
        let entsize = |tag: u64, want: u64| -> Result<()> {
            if let Some(v) = d.get(tag) {
                ensure!(v == want, "{}: {v}, not {want}", at(tag));
            }
            Ok(())
        };
        self.check_tags(&d, &at)?;
        entsize(dt::DT_SYMENT, self.sym_size())?;
        entsize(dt::DT_RELAENT, Reloc::size(true, self.ctx) as u64)?;
        entsize(dt::DT_RELENT, Reloc::size(false, self.ctx) as u64)?;
        entsize(DT_RELRENT, self.word())?;
        if let Some(v) = d.get(dt::DT_PLTREL) {
            ensure!(v == dt::DT_RELA || v == dt::DT_REL, "{}: {v} is neither DT_RELA nor DT_REL", at(dt::DT_PLTREL));
        }
        if let Some(a) = d.get(dt::DT_PLTGOT) {
            ensure!(self.in_memory(a, 1), "{}: address {} is not inside a PT_LOAD", at(dt::DT_PLTGOT), hex(a));
        }
        // The loader calls these: code, in an executable PT_LOAD.
        for tag in [dt::DT_INIT, dt::DT_FINI] {
            if let Some(a) = d.get(tag) {
                ensure!(self.executable(a), "{}: address {} is not code (a function's start, in an executable section of an executable PT_LOAD)", at(tag), hex(a));
            }
        }
        let mut functions: Vec<(u64, u64, u64)> = Vec::new();
        for (arr, sz) in [
            (dt::DT_INIT_ARRAY, dt::DT_INIT_ARRAYSZ),
            (dt::DT_FINI_ARRAY, dt::DT_FINI_ARRAYSZ),
            (dt::DT_PREINIT_ARRAY, dt::DT_PREINIT_ARRAYSZ),
        ] {
            if let Some(a) = d.get(arr) {
                let n = need(sz, arr)?;
                ensure!(self.in_memory(a, n), "{}: {n} bytes at {} are not inside a PT_LOAD", at(arr), hex(a));
                // Its entries are relocated (writable, then RELRO) and each
                // one is called: the addresses in the file must be code too
                // unless a relocation fills them in.
                ensure!(
                    self.writable(a, n),
                    "{}: {n} bytes at {} are not inside a writable PT_LOAD (the loader relocates them)",
                    at(arr),
                    hex(a)
                );
                functions.push((arr, a, n));
            }
        }

        // Strings.
        let (str_off, strsz) = match d.get(dt::DT_STRTAB) {
            Some(_) => {
                let sz = need(dt::DT_STRSZ, dt::DT_STRTAB)?;
                (table(dt::DT_STRTAB, sz)?, sz)
            }
            None => {
                ensure!(
                    d.needed.is_empty() && d.get(dt::DT_SYMTAB).is_none(),
                    "{}: a dynamic segment with names or symbols but no DT_STRTAB",
                    self.phdr(pi)
                );
                (0, 0)
            }
        };
        let dstr = |val: u64, off: u64, tag: u64| -> Result<String> {
            self.str_in(str_off, strsz, val, || format!("dynamic entry {} at offset {}", tag_name(tag), hex(off)))
                .map(String::from)
        };
        let mut out = Dynamic {
            needed: d.needed.iter().map(|&(v, o)| dstr(v, o, dt::DT_NEEDED)).collect::<Result<_>>()?,
            rpath: d.rpath.iter().map(|&(v, o)| dstr(v, o, dt::DT_RPATH)).collect::<Result<_>>()?,
            runpath: d.runpath.iter().map(|&(v, o)| dstr(v, o, dt::DT_RUNPATH)).collect::<Result<_>>()?,
            soname: d.tags.get(&dt::DT_SONAME).map(|&(v, o)| dstr(v, o, dt::DT_SONAME)).transpose()?,
            flags_1: d.get(dt::DT_FLAGS_1).unwrap_or(0),
            ..Dynamic::default()
        };

        // The dynamic symbol table and its size, from the hash tables.
        let dynsym_sec = self.section_of_type(sh::SHT_DYNSYM);
        let Some(symtab) = d.get(dt::DT_SYMTAB) else {
            for t in [dt::DT_HASH, dt::DT_GNU_HASH, dt::DT_VERSYM, dt::DT_RELA, dt::DT_JMPREL, dt::DT_REL] {
                ensure!(d.get(t).is_none(), "{}: there is no DT_SYMTAB", at(t));
            }
            if let Some(s) = dynsym_sec {
                bail!("{}: a dynamic symbol table the dynamic segment does not name (no DT_SYMTAB)", self.sec(s));
            }
            return Ok(out);
        };
        let hash = d.get(dt::DT_HASH).map(|_| self.sysv_hash(&table, &at)).transpose()?;
        let gnu = d.get(dt::DT_GNU_HASH).map(|_| self.gnu_hash(&table, &at)).transpose()?;
        let count = match (&hash, &gnu, dynsym_sec) {
            (Some(h), _, _) => h.nchain,
            // GNU hash chains end at the last hashed symbol; undefined ones
            // may follow when nothing is hashed: the section has the count.
            (None, Some(g), Some(s)) => {
                let n = self.shdrs[s].sh_size / self.sym_size();
                ensure!(n >= g.count, "{}: {n} symbols, but DT_GNU_HASH covers {}", self.sec(s), g.count);
                n
            }
            (None, Some(g), None) => g.count,
            (None, None, Some(s)) => self.shdrs[s].sh_size / self.sym_size(),
            (None, None, None) => {
                bail!(
                    "{}: neither DT_HASH nor DT_GNU_HASH: the number of dynamic symbols is unknown",
                    at(dt::DT_SYMTAB)
                )
            }
        };
        if let (Some(h), Some(g)) = (&hash, &gnu) {
            ensure!(
                g.count <= h.nchain,
                "{}: DT_GNU_HASH covers {} symbols, DT_HASH only {}",
                at(dt::DT_GNU_HASH),
                g.count,
                h.nchain
            );
        }
        let sym_off = table(dt::DT_SYMTAB, count * self.sym_size())?;

        // The section view must be the dynamic view.
        if let Some(s) = dynsym_sec {
            let sec = &self.shdrs[s];
            ensure!(
                sec.sh_addr == symtab && sec.sh_offset == sym_off && sec.sh_size == count * self.sym_size(),
                "{}: address {}, {} symbols, but DT_SYMTAB is {} with {count} symbols (from the hash table)",
                self.sec(s),
                hex(sec.sh_addr),
                sec.sh_size / self.sym_size(),
                hex(symtab)
            );
            let str_sec = &self.shdrs[sec.sh_link as usize];
            ensure!(
                str_sec.sh_offset == str_off && str_sec.sh_size == strsz,
                "{}: its string table (section {}) is not DT_STRTAB/DT_STRSZ",
                self.sec(s),
                sec.sh_link
            );
        }
        for (t, tag) in [
            (sh::SHT_DYNAMIC, None),
            (sh::SHT_HASH, Some(dt::DT_HASH)),
            (sh::SHT_GNU_HASH, Some(dt::DT_GNU_HASH)),
            (sh::SHT_GNU_VERSYM, Some(dt::DT_VERSYM)),
            (sh::SHT_GNU_VERNEED, Some(dt::DT_VERNEED)),
            (sh::SHT_GNU_VERDEF, Some(dt::DT_VERDEF)),
        ] {
            let want = match tag {
                None => Some(p.p_vaddr),
                Some(tag) => d.get(tag),
            };
            let secs: Vec<usize> = (0..self.shdrs.len()).filter(|&i| self.shdrs[i].sh_type == t).collect();
            let what = tag.map_or("PT_DYNAMIC".to_string(), tag_name);
            match (secs.as_slice(), want) {
                ([], None) => {}
                // Without section headers the loader's view is the only one.
                ([], Some(_)) if self.shdrs.is_empty() => {}
                ([], Some(a)) => bail!("{what} {}: there is no {} section for it", hex(a), sh::sht_to_str(t)),
                ([s], Some(a)) if self.shdrs[*s].sh_addr == a => {
                    // binutils counts version entries by sh_info, the loader by DT_*NUM.
                    let num = match t {
                        sh::SHT_GNU_VERNEED => d.get(dt::DT_VERNEEDNUM),
                        sh::SHT_GNU_VERDEF => d.get(dt::DT_VERDEFNUM),
                        _ => None,
                    };
                    if let Some(num) = num {
                        ensure!(
                            u64::from(self.shdrs[*s].sh_info) == num,
                            "{}: sh_info {} is not the {num} entries of {what}NUM",
                            self.sec(*s),
                            self.shdrs[*s].sh_info
                        );
                    }
                    if t == sh::SHT_GNU_VERSYM {
                        ensure!(
                            self.shdrs[*s].sh_size == 2 * count,
                            "{}: {} bytes, but there are {count} dynamic symbols",
                            self.sec(*s),
                            self.shdrs[*s].sh_size
                        );
                    }
                    if matches!(t, sh::SHT_GNU_VERNEED | sh::SHT_GNU_VERDEF | sh::SHT_DYNAMIC) {
                        let link = self.shdrs[*s].sh_link as usize;
                        ensure!(
                            self.shdrs[link].sh_offset == str_off && self.shdrs[link].sh_size == strsz,
                            "{}: sh_link {link} is not the dynamic string table",
                            self.sec(*s)
                        );
                    }
                }
                ([s], Some(a)) => bail!("{}: is not at the address of {what} ({})", self.sec(*s), hex(a)),
                ([s], None) => bail!("{}: there is no {what} for it", self.sec(*s)),
                ([_, s, ..], _) => bail!("{}: a second {} section", self.sec(*s), sh::sht_to_str(t)),
            }
        }

        // Symbols.
        let mut syms = Vec::with_capacity(count as usize);
        for k in 0..count {
            let off = sym_off + k * self.sym_size();
            let what = || format!("dynamic symbol {k} (entry at offset {})", hex(off));
            let sy: Sym = self.b.pread_with(off as usize, self.ctx).with_context(what)?;
            if k == 0 {
                ensure!(
                    sy.st_name == 0 && sy.st_info == 0 && sy.st_shndx == 0 && sy.st_value == 0,
                    "{}: the first dynamic symbol is not the null symbol",
                    what()
                );
            }
            syms.push((self.symbol(&sy, None, str_off, strsz, &what)?, sy.st_type()));
        }
        if let Some(h) = &hash {
            self.check_sysv_chains(h, &syms, &at)?;
        }
        if let Some(g) = &gnu {
            self.check_gnu_chains(g, &syms, &at)?;
        }

        // Versions.
        let mut names: BTreeMap<u16, String> = BTreeMap::new();
        let mut files: BTreeMap<u16, String> = BTreeMap::new();
        let mut glibc = BTreeSet::new();
        if d.get(dt::DT_VERNEED).is_some() {
            let num = need(dt::DT_VERNEEDNUM, dt::DT_VERNEED)?;
            let needed: BTreeSet<&str> = out.needed.iter().map(String::as_str).collect();
            self.verneed(&d, &at, num, str_off, strsz, &needed, &mut names, &mut files, &mut glibc)?;
        }
        let needed_idx: BTreeSet<u16> = names.keys().copied().collect();
        let verdefnum = d.get(dt::DT_VERDEFNUM).unwrap_or(0);
        let executable = self.h.e_type == header::ET_EXEC
            || out.flags_1 & dt::DF_1_PIE != 0
            || (out.soname.is_none() && self.interpreter()?.is_some());
        if d.get(dt::DT_VERDEF).is_some() {
            let num = need(dt::DT_VERDEFNUM, dt::DT_VERDEF)?;
            self.verdef(&d, &at, num, str_off, strsz, &mut names)?;
        }
        if d.get(dt::DT_VERSYM).is_some() {
            let vs_off = table(dt::DT_VERSYM, count * 2)?;
            for (k, (s, _)) in syms.iter_mut().enumerate().skip(1) {
                let off = vs_off + 2 * k as u64;
                let v: u16 = self.b.pread_with(off as usize, self.ctx.le)?;
                let idx = v & 0x7fff;
                let what = || format!("version of dynamic symbol {k} ({}) at offset {}", s.name, hex(off));
                // Like binutils: a hidden or numbered version must be a
                // DT_VERNEED index on an undefined symbol and a DT_VERDEF index
                // (at most DT_VERDEFNUM) on a defined one.
                if idx <= 1 && v & 0x8000 == 0 {
                    continue;
                }
                let Some(n) = names.get(&idx) else {
                    bail!("{}: index {idx} is defined by neither DT_VERNEED nor DT_VERDEF", what());
                };
                let is_need = needed_idx.contains(&idx);
                // Executables define copy-relocated data (stdout@GLIBC_2.2.5).
                let copy = is_need && s.defined && executable;
                ensure!(
                    copy || (is_need != s.defined && (is_need || u64::from(idx) <= verdefnum)),
                    "{}: index {idx} ({n}) is a {}, but the symbol is {}",
                    what(),
                    if is_need { "needed version" } else { "version definition" },
                    if s.defined { "defined" } else { "undefined" }
                );
                if idx > 1 {
                    s.version = Some(n.clone());
                    s.needed_from = files.get(&idx).filter(|_| is_need).cloned();
                }
            }
        } else {
            ensure!(names.is_empty(), "{}: version tables without DT_VERSYM", self.phdr(pi));
        }
        out.glibc_required = glibc.into_iter().map(|(_, n)| n).collect();

        let types: Vec<u8> = syms.iter().map(|&(_, t)| t).collect();
        self.check_dynamic_relocations(&d, &types, &functions, &at, &need, &table)?;
        out.dynsyms = syms.into_iter().skip(1).map(|(s, _)| s).collect();
        Ok(out)
    }
}

struct SysvHash {
    at: u64,
    nbucket: u64,
    nchain: u64,
}

struct GnuHash {
    at: u64,
    nbuckets: u64,
    symoffset: u64,
    bloom_size: u64,
    bloom_shift: u32,
    count: u64,
}

impl File<'_> {
    /// Whether `[addr, addr + len)` lies in the section of type `t`, where
    /// binutils reads the version entries (always true without one).
    fn inside_section(&self, t: u32) -> impl Fn(u64, u64) -> bool + '_ {
        let range =
            self.shdrs.iter().find(|s| s.sh_type == t).map(|s| (s.sh_addr, s.sh_addr.saturating_add(s.sh_size)));
        move |addr, len| range.is_none_or(|(a, e)| addr >= a && addr.checked_add(len).is_some_and(|end| end <= e))
    }

    pub(super) fn u32_at(&self, off: u64) -> Result<u32> {
        self.b.pread_with::<u32>(off as usize, self.ctx.le).with_context(|| format!("4 bytes at offset {}", hex(off)))
    }

    fn sysv_hash(&self, table: &dyn Fn(u64, u64) -> Result<u64>, at: &dyn Fn(u64) -> String) -> Result<SysvHash> {
        let start = table(dt::DT_HASH, 8)?;
        let (nbucket, nchain) = (u64::from(self.u32_at(start)?), u64::from(self.u32_at(start + 4)?));
        ensure!(nbucket > 0, "{}: nbucket is 0", at(dt::DT_HASH));
        table(dt::DT_HASH, 4 * (2 + nbucket + nchain))?;
        for k in 0..nbucket + nchain {
            let off = start + 8 + 4 * k;
            let v = u64::from(self.u32_at(off)?);
            ensure!(v < nchain, "DT_HASH entry at offset {}: symbol index {v} is past nchain {nchain}", hex(off));
        }
        Ok(SysvHash { at: start, nbucket, nchain })
    }

    fn check_sysv_chains(&self, h: &SysvHash, syms: &[(Symbol, u8)], at: &dyn Fn(u64) -> String) -> Result<()> {
        for (k, (s, typ)) in syms.iter().enumerate().skip(1) {
            // The loader looks up defined symbols only; section symbols have no name.
            if !s.defined || *typ == sym::STT_SECTION {
                continue;
            }
            let b = u64::from(elf_hash(&s.name)) % h.nbucket;
            let mut i = u64::from(self.u32_at(h.at + 8 + 4 * b)?);
            let mut steps = 0;
            while i != 0 && i != k as u64 && steps < h.nchain {
                i = u64::from(self.u32_at(h.at + 8 + 4 * (h.nbucket + i))?);
                steps += 1;
            }
            ensure!(
                i == k as u64,
                "{}: dynamic symbol {k} ({}) is not in the chain of its hash: the loader cannot find it",
                at(dt::DT_HASH),
                s.name
            );
        }
        Ok(())
    }

    fn gnu_hash(&self, table: &dyn Fn(u64, u64) -> Result<u64>, at: &dyn Fn(u64) -> String) -> Result<GnuHash> {
        let start = table(dt::DT_GNU_HASH, 16)?;
        let nbuckets = u64::from(self.u32_at(start)?);
        let symoffset = u64::from(self.u32_at(start + 4)?);
        let bloom_size = u64::from(self.u32_at(start + 8)?);
        let bloom_shift = self.u32_at(start + 12)?;
        ensure!(nbuckets > 0, "{}: nbuckets is 0", at(dt::DT_GNU_HASH));
        ensure!(
            bloom_size.is_power_of_two(),
            "{}: the bloom filter size {bloom_size} is not a power of two",
            at(dt::DT_GNU_HASH)
        );
        // The loader shifts the symbol's 32-bit hash by it: from 32 on, C
        // leaves the result undefined (x86 and arm64 shift by it modulo 32).
        ensure!(
            bloom_shift < 32,
            "{}: bloom shift {bloom_shift} is not below 32, the width of the hash it shifts",
            at(dt::DT_GNU_HASH)
        );
        let buckets_at = start + 16 + bloom_size * self.word();
        table(dt::DT_GNU_HASH, 16 + bloom_size * self.word() + 4 * nbuckets)?;
        let chains_at = buckets_at + 4 * nbuckets;
        let mut count = symoffset;
        let max_bucket = (0..nbuckets).map(|k| self.u32_at(buckets_at + 4 * k)).collect::<Result<Vec<_>>>()?;
        for (k, &b) in max_bucket.iter().enumerate() {
            let b = u64::from(b);
            ensure!(
                b == 0 || b >= symoffset,
                "DT_GNU_HASH bucket {k} at offset {}: symbol index {b} is below symoffset {symoffset}",
                hex(buckets_at + 4 * k as u64)
            );
        }
        if let Some(&last) = max_bucket.iter().max().filter(|&&b| b != 0) {
            // Walk the last chain to its end: that is the symbol count. The
            // chains follow the buckets in the same PT_LOAD.
            let load = self.load_of_file_range(start, 16).map(|l| &self.phdrs[l]);
            let end = load.map_or(0, |l| l.p_offset + l.p_filesz);
            let mut i = u64::from(last);
            loop {
                let off = chains_at + 4 * (i - symoffset);
                ensure!(
                    off + 4 <= end,
                    "{}: the hash chain of symbol {i} runs past the end of its PT_LOAD",
                    at(dt::DT_GNU_HASH)
                );
                if self.u32_at(off)? & 1 == 1 {
                    break;
                }
                i += 1;
            }
            count = i + 1;
        }
        Ok(GnuHash { at: start, nbuckets, symoffset, bloom_size, bloom_shift, count })
    }

    fn check_gnu_chains(&self, g: &GnuHash, syms: &[(Symbol, u8)], at: &dyn Fn(u64) -> String) -> Result<()> {
        let w = self.word();
        let buckets_at = g.at + 16 + g.bloom_size * w;
        let chains_at = buckets_at + 4 * g.nbuckets;
        for (k, (s, typ)) in syms.iter().enumerate().skip(1) {
            let k = k as u64;
            if k < g.symoffset {
                ensure!(
                    !s.defined || *typ == sym::STT_SECTION,
                    "{}: defined dynamic symbol {k} ({}) is below symoffset {}: the loader cannot find it",
                    at(dt::DT_GNU_HASH),
                    s.name,
                    g.symoffset
                );
                continue;
            }
            if !s.defined || *typ == sym::STT_SECTION {
                continue;
            }
            let h = goblin::elf64::gnu_hash::hash(&s.name);
            let lost = || {
                format!(
                    "{}: dynamic symbol {k} ({}) is not where its hash leads: the loader cannot find it",
                    at(dt::DT_GNU_HASH),
                    s.name
                )
            };
            ensure!(k < g.count, "{}", lost());
            let b = u64::from(self.u32_at(buckets_at + 4 * (u64::from(h) % g.nbuckets))?);
            ensure!(b != 0 && b <= k, "{}", lost());
            for i in b..k {
                ensure!(self.u32_at(chains_at + 4 * (i - g.symoffset))? & 1 == 0, "{}", lost());
            }
            ensure!(self.u32_at(chains_at + 4 * (k - g.symoffset))? | 1 == h | 1, "{}", lost());
            // The bloom filter must let the name through.
            let bits = 8 * w;
            let word_at = g.at + 16 + w * ((u64::from(h) / bits) & (g.bloom_size - 1));
            let word: u64 = if self.is64 {
                self.b.pread_with(word_at as usize, self.ctx.le)?
            } else {
                u64::from(self.u32_at(word_at)?)
            };
            let (b1, b2) = (u64::from(h) % bits, u64::from(h >> g.bloom_shift) % bits);
            ensure!(
                (word >> b1) & 1 == 1 && (word >> b2) & 1 == 1,
                "DT_GNU_HASH bloom word at offset {}: dynamic symbol {k} ({}) is filtered out: the loader cannot find it",
                hex(word_at),
                s.name
            );
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn verneed(
        &self,
        d: &Dyns,
        at: &dyn Fn(u64) -> String,
        num: u64,
        str_off: u64,
        strsz: u64,
        needed: &BTreeSet<&str>,
        names: &mut BTreeMap<u16, String>,
        files: &mut BTreeMap<u16, String>,
        glibc: &mut BTreeSet<(crate::elf::GlibcVersion, String)>,
    ) -> Result<()> {
        let mut addr = d.get(dt::DT_VERNEED).unwrap_or(0);
        let inside = self.inside_section(sh::SHT_GNU_VERNEED);
        for n in 0..num {
            let off =
                self.version_entry("version need", n, addr, 16, &at(dt::DT_VERNEED), &inside, ".gnu.version_r")?;
            let what = || format!("version need {n} at offset {}", hex(off));
            let version: u16 = self.b.pread_with(off as usize, self.ctx.le)?;
            let cnt: u16 = self.b.pread_with(off as usize + 2, self.ctx.le)?;
            let (file, aux, next) = (self.u32_at(off + 4)?, self.u32_at(off + 8)?, self.u32_at(off + 12)?);
            ensure!(version == 1, "{}: vn_version is {version}, not 1", what());
            let file = self.str_in(str_off, strsz, u64::from(file), || format!("{}: vn_file", what()))?;
            ensure!(needed.contains(file), "{}: vn_file {file:?} is not a DT_NEEDED library", what());
            ensure!(cnt > 0 && aux % 4 == 0 && aux >= 16, "{}: vn_cnt {cnt}, vn_aux {aux}", what());
            let mut a_addr = addr + u64::from(aux);
            for k in 0..cnt {
                let a_what = || format!("version need aux {k} of {file} at address {}", hex(a_addr));
                let a_off = self
                    .file_offset(a_addr, 16)
                    .with_context(|| format!("{}: outside the PT_LOAD contents", a_what()))?;
                let a_what = || format!("version need aux {k} of {file} at offset {}", hex(a_off));
                ensure!(inside(a_addr, 16), "{}: outside the .gnu.version_r section", a_what());
                let hash = self.u32_at(a_off)?;
                let other: u16 = self.b.pread_with(a_off as usize + 6, self.ctx.le)?;
                let (name, a_next) = (self.u32_at(a_off + 8)?, self.u32_at(a_off + 12)?);
                let name = self.str_in(str_off, strsz, u64::from(name), || format!("{}: vna_name", a_what()))?;
                let idx = other & 0x7fff;
                ensure!(idx >= 2, "{}: vna_other {other} is a reserved version index", a_what());
                files.insert(idx, file.to_string());
                version_name(names, idx, name, ("vna_hash", hash), "vna_name", &a_what)?;
                if name.starts_with("GLIBC_") {
                    if let Some(v) = crate::elf::GlibcVersion::parse(name) {
                        glibc.insert((v, name.to_string()));
                    }
                }
                check_link(u64::from(a_next), k as u64, cnt as u64, "vna_next", "vn_cnt", &a_what)?;
                a_addr += u64::from(a_next);
            }
            check_link(u64::from(next), n, num, "vn_next", "DT_VERNEEDNUM", &what)?;
            addr += u64::from(next);
        }
        Ok(())
    }

    /// The file offset of entry `n` of a version table at `addr` (`len`
    /// bytes): inside a PT_LOAD's contents and inside its `section`.
    #[allow(clippy::too_many_arguments)]
    fn version_entry(
        &self,
        kind: &str,
        n: u64,
        addr: u64,
        len: u64,
        tag: &str,
        inside: &dyn Fn(u64, u64) -> bool,
        section: &str,
    ) -> Result<u64> {
        let off = self
            .file_offset(addr, len)
            .with_context(|| format!("{kind} {n} at address {} ({tag}): outside the PT_LOAD contents", hex(addr)))?;
        ensure!(inside(addr, len), "{kind} {n} at offset {}: outside the {section} section", hex(off));
        Ok(off)
    }

    fn verdef(
        &self,
        d: &Dyns,
        at: &dyn Fn(u64) -> String,
        num: u64,
        str_off: u64,
        strsz: u64,
        names: &mut BTreeMap<u16, String>,
    ) -> Result<()> {
        let mut addr = d.get(dt::DT_VERDEF).unwrap_or(0);
        let inside = self.inside_section(sh::SHT_GNU_VERDEF);
        for n in 0..num {
            let off =
                self.version_entry("version definition", n, addr, 20, &at(dt::DT_VERDEF), &inside, ".gnu.version_d")?;
            let what = || format!("version definition {n} at offset {}", hex(off));
            let r16 = |o: u64| -> Result<u16> { Ok(self.b.pread_with(o as usize, self.ctx.le)?) };
            let (version, flags, ndx, cnt) = (r16(off)?, r16(off + 2)?, r16(off + 4)?, r16(off + 6)?);
            let (hash, aux, next) = (self.u32_at(off + 8)?, self.u32_at(off + 12)?, self.u32_at(off + 16)?);
            ensure!(version == 1, "{}: vd_version is {version}, not 1", what());
            ensure!(flags & !3 == 0, "{}: unknown vd_flags {flags:#x}", what());
            ensure!(cnt > 0 && aux % 4 == 0 && aux >= 20, "{}: vd_cnt {cnt}, vd_aux {aux}", what());
            let mut a_addr = addr + u64::from(aux);
            for k in 0..cnt {
                let a_off = self.file_offset(a_addr, 8).with_context(|| {
                    format!("{}: aux {k} at address {} outside the PT_LOAD contents", what(), hex(a_addr))
                })?;
                let a_what = || format!("version definition aux {k} at offset {}", hex(a_off));
                ensure!(inside(a_addr, 8), "{}: outside the .gnu.version_d section", a_what());
                let (name, a_next) = (self.u32_at(a_off)?, self.u32_at(a_off + 4)?);
                let name = self.str_in(str_off, strsz, u64::from(name), || format!("{}: vda_name", a_what()))?;
                if k == 0 {
                    let idx = ndx & 0x7fff;
                    ensure!(idx >= 1, "{}: vd_ndx {ndx} is reserved", what());
                    version_name(names, idx, name, ("vd_hash", hash), "its name", &what)?;
                }
                check_link(u64::from(a_next), k as u64, cnt as u64, "vda_next", "vd_cnt", &a_what)?;
                a_addr += u64::from(a_next);
            }
            check_link(u64::from(next), n, num, "vd_next", "DT_VERDEFNUM", &what)?;
            addr += u64::from(next);
        }
        Ok(())
    }
}

/// A version's name, as a definition and a need both carry it: the hash
/// field is the ELF hash of the name (else the name pointer is corrupt: the
/// loader matches versions by the hash), and the index names one version.
fn version_name(
    names: &mut BTreeMap<u16, String>,
    idx: u16,
    name: &str,
    (hash_field, hash): (&str, u32),
    of: &str,
    what: &dyn Fn() -> String,
) -> Result<()> {
    ensure!(
        hash == elf_hash(name),
        "{}: {hash_field} {} is not the hash of {of} {name:?} (a corrupt name pointer?)",
        what(),
        hex(u64::from(hash))
    );
    ensure!(names.insert(idx, name.to_string()).is_none(), "{}: version index {idx} is used twice", what());
    Ok(())
}

/// A version chain's link: 0 exactly on the last entry (`i` of `count`),
/// else a 4-aligned offset to the next one.
fn check_link(next: u64, i: u64, count: u64, field: &str, count_name: &str, what: &dyn Fn() -> String) -> Result<()> {
    let last = i + 1 == count;
    ensure!(
        (next == 0) == last && next.is_multiple_of(4),
        "{}: {field} {next} does not match {count_name} {count}",
        what()
    );
    Ok(())
}
