//! The unwind table of a relocatable object (`.eh_frame`) as the linker
//! reads it to build `.eh_frame_hdr`: every frame description (FDE) covers
//! code inside the section its `pc_begin` relocation points to, and no two
//! FDEs of an object cover the same code (ld: ".eh_frame_hdr refers to
//! overlapping FDEs", then "final link failed"). No relocation patches a
//! field ld reads as it is in the file (a record's length, its CIE id or
//! pointer, an FDE's pc_range). The records are walked by
//! their lengths; only the pointer encodings compilers emit (4- or 8-byte,
//! absolute or PC-relative) are read, other CIEs' FDEs are left to the linker.

use super::*;

const DW_EH_PE_OMIT: u8 = 0xff;

/// A little reader of the LEB128 and fixed fields of CIE records.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.at)?;
        self.at += 1;
        Some(v)
    }

    fn leb(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn cstr(&mut self) -> Option<&[u8]> {
        let n = self.b.get(self.at..)?.iter().position(|&c| c == 0)?;
        let s = &self.b[self.at..self.at + n];
        self.at += n + 1;
        Some(s)
    }
}

/// Size of a pointer of DWARF encoding `enc`, for the encodings read here.
fn pointer_size(enc: u8) -> Option<u64> {
    match enc & 0x0f {
        0x03 | 0x0b => Some(4), // udata4, sdata4
        0x04 | 0x0c => Some(8), // udata8, sdata8
        _ => None,
    }
}

/// The FDE pointer encoding of the CIE at `cie` (section-relative), if it
/// is one read here.
fn fde_encoding(b: &[u8], cie: usize) -> Option<u8> {
    let mut c = Cursor { b, at: cie + 8 };
    let version = c.byte()?;
    let aug = c.cstr()?.to_vec();
    c.leb()?; // code alignment
    c.leb()?; // data alignment
    if version == 1 {
        c.byte()?;
    } else {
        c.leb()?;
    }
    let mut enc = 0; // absptr
    if aug.first() == Some(&b'z') {
        c.leb()?;
        for &a in &aug[1..] {
            match a {
                b'R' => enc = c.byte()?,
                b'L' => {
                    c.byte()?;
                }
                b'P' => {
                    let penc = c.byte()?;
                    c.at += pointer_size(penc)? as usize;
                }
                b'S' | b'B' | b'G' => {}
                _ => return None,
            }
        }
    }
    (enc != DW_EH_PE_OMIT && pointer_size(enc).is_some()).then_some(enc)
}

impl File<'_> {
    pub(super) fn check_eh_frame(&self) -> Result<()> {
        let Some(i) = self.names.iter().position(|n| n == ".eh_frame") else { return Ok(()) };
        let s = &self.shdrs[i];
        if s.sh_type == sh::SHT_NOBITS || s.sh_size == 0 {
            return Ok(());
        }
        let b = &self.b[s.sh_offset as usize..(s.sh_offset + s.sh_size) as usize];
        // The relocations at each offset of .eh_frame: (symbol, addend, type).
        let mut relocs: BTreeMap<u64, Vec<(usize, i64, u32)>> = BTreeMap::new();
        let mut symtab = None;
        for r in self.shdrs.iter().filter(|r| r.sh_type == sh::SHT_RELA && r.sh_info as usize == i) {
            let size = Reloc::size(true, self.ctx) as u64;
            symtab = Some(r.sh_link as usize);
            for k in 0..r.sh_size / size {
                let e: Reloc = self.b.pread_with((r.sh_offset + k * size) as usize, (true, self.ctx))?;
                relocs.entry(e.r_offset).or_default().push((e.r_sym, e.r_addend.unwrap_or(0), e.r_type));
            }
        }
        let Some(symtab) = symtab else { return Ok(()) };
        let symtab = &self.shdrs[symtab];
        // (section, start, end, FDE offset) of every FDE read.
        let mut ranges: Vec<(usize, i64, i64, usize)> = Vec::new();
        // The fields the linker reads as they are in the file (a record's
        // length and CIE id or pointer, an FDE's pc_range): no relocation
        // may patch them.
        let unpatched = |start: u64, end: u64, name: &str, at: usize| -> Result<()> {
            for (&off, list) in relocs.range(start.saturating_sub(8)..end) {
                for &(_, _, r_type) in list {
                    // RISC-V's linker relaxation shrinks code: the assembler
                    // gives pc_range as an ADD/SUB pair of the code's ends
                    // (R_RISCV_ADD8..R_RISCV_SUB64), which ld computes.
                    if self.h.e_machine == header::EM_RISCV && name == "pc_range" && (33..=40).contains(&r_type) {
                        continue;
                    }
                    // An unknown type's width is not known: its first byte.
                    let width = reloc::field_size(self.h.e_machine, self.is64, r_type).unwrap_or(1);
                    ensure!(
                        off + width <= start,
                        "{}: the record at offset {:#x}: a relocation (type {r_type}) at section offset {off:#x} \
                         patches its {name}, which the linker reads unrelocated",
                        self.sec(i),
                        s.sh_offset + at as u64
                    );
                }
            }
            Ok(())
        };
        let mut at = 0usize;
        while at + 4 <= b.len() {
            let fde = || format!("{}: the record at offset {:#x}", self.sec(i), s.sh_offset + at as u64);
            let len = u64::from(self.u32_at(s.sh_offset + at as u64)?);
            if len == 0 {
                break;
            }
            ensure!(
                len != 0xffff_ffff && at as u64 + 4 + len <= b.len() as u64 && len >= 4,
                "{}: record length {len:#x} runs past the end of the section",
                fde()
            );
            let id = self.u32_at(s.sh_offset + at as u64 + 4)? as usize;
            let a = at as u64;
            unpatched(a, a + 4, "length", at)?;
            unpatched(a + 4, a + 8, if id == 0 { "CIE id" } else { "CIE pointer" }, at)?;
            if id != 0 {
                let cie = (at + 4).checked_sub(id);
                let enc = cie.filter(|&c| c + 8 <= b.len()).and_then(|c| fde_encoding(b, c));
                if let Some(enc) = enc {
                    let size = pointer_size(enc).unwrap_or(4);
                    ensure!(8 + 2 * size <= len + 4, "{}: too short for its pc_begin and pc_range", fde());
                    let pc = (at + 8) as u64;
                    let range = if size == 4 {
                        u64::from(self.u32_at(s.sh_offset + pc + 4)?)
                    } else {
                        self.b.pread_with::<u64>((s.sh_offset + pc + 8) as usize, self.ctx.le)?
                    };
                    let Some([(r_sym, addend, r_type)]) = relocs.get(&pc).map(Vec::as_slice) else {
                        bail!("{}: pc_begin at offset {pc:#x} has not exactly one relocation", fde());
                    };
                    // A wider field would overwrite pc_range.
                    let width = reloc::field_size(self.h.e_machine, self.is64, *r_type);
                    ensure!(
                        width.is_none_or(|w| w == size),
                        "{}: the relocation of pc_begin (type {r_type}) patches {} bytes, the pointer is {size}",
                        fde(),
                        width.unwrap_or(0)
                    );
                    unpatched(pc + size, pc + 2 * size, "pc_range", at)?;
                    let sy: Sym =
                        self.b.pread_with((symtab.sh_offset + *r_sym as u64 * self.sym_size()) as usize, self.ctx)?;
                    if sy.st_shndx != 0 && sy.st_shndx < self.shdrs.len() {
                        let start = (sy.st_value as i64).saturating_add(*addend);
                        let end = start.saturating_add(range as i64);
                        let sec_size = self.shdrs[sy.st_shndx].sh_size as i64;
                        ensure!(
                            start >= 0 && end <= sec_size && range as i64 >= 0,
                            "{}: covers {start:#x}..{end:#x}, outside section {} ({sec_size} bytes)",
                            fde(),
                            sy.st_shndx
                        );
                        ranges.push((sy.st_shndx, start, end, at));
                    }
                }
            }
            at += 4 + len as usize;
        }
        ranges.sort();
        for w in ranges.windows(2) {
            let ((sa, _, ea, fa), (sb, bb, _, fb)) = (w[0], w[1]);
            let (fa, fb) = (s.sh_offset + fa.min(fb) as u64, s.sh_offset + fa.max(fb) as u64);
            ensure!(
                sa != sb || bb >= ea,
                "{}: the FDEs at offsets {fa:#x} and {fb:#x} cover the same code of section {sa} (ld: overlapping FDEs)",
                self.sec(i)
            );
        }
        Ok(())
    }
}
