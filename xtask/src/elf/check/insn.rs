//! The instructions under an object's relocations, where GNU ld relies on
//! them: it rewrites the x86-64 TLS code sequences when it links an
//! executable (as the Go linker's external link of a cgo program does), and
//! it patches AArch64 immediates assuming the instruction each type names.
//! Other bytes there make ld fail ("TLS transition from R_X86_64_TLSGD to
//! R_X86_64_GOTTPOFF … failed") or abort on an assertion, after xtask would
//! have passed the archive. The accepted sequences are binutils 2.40's
//! (`elf_x86_64_check_tls_transition`, the AArch64 instruction classes).

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

/// An x86-64 TLS code sequence ld rewrites in an executable link: the `lea`
/// whose displacement the relocation patches, then (4 bytes on) a call of
/// `__tls_get_addr` (through the PLT, the GOT, or `addr32`), `len` bytes
/// with its operand.
struct TlsSequence {
    t: u32,
    name: &'static str,
    model: &'static str,
    lea: &'static [u8],
    calls: [&'static [u8]; 3],
    len: usize,
}

/// `data16 lea foo@tlsgd(%rip),%rdi`, then `data16 data16 rex.W call`
/// (or the GOT or `addr32` forms).
const GD: TlsSequence = TlsSequence {
    t: 19,
    name: "TLSGD",
    model: "general-dynamic",
    lea: &[0x66, 0x48, 0x8d, 0x3d],
    calls: [&[0x66, 0x66, 0x48, 0xe8], &[0x66, 0x48, 0xff, 0x15], &[0x66, 0x48, 0x67, 0xe8]],
    len: 8,
};
/// `lea foo@tlsld(%rip),%rdi`, then the call.
const LD: TlsSequence = TlsSequence {
    t: 20,
    name: "TLSLD",
    model: "local-dynamic",
    lea: &[0x48, 0x8d, 0x3d],
    calls: [&[0xe8], &[0xff, 0x15], &[0x67, 0xe8]],
    len: 5,
};

impl TlsSequence {
    fn check(&self, code: &[u8], off: usize) -> Result<(), String> {
        let at = |from: usize, len: usize| code.get(from..from.checked_add(len)?);
        let hex = |b: Option<&[u8]>| b.map_or("the end of the section".to_string(), |b| format!("{b:02x?}"));
        let lea = off.checked_sub(self.lea.len()).and_then(|s| at(s, self.lea.len()));
        if lea != Some(self.lea) {
            return Err(format!(
                "type {} ({}) is not on the `lea` of the {} sequence: the {} bytes before it are {}, ld needs {:02x?}",
                self.t,
                self.name,
                self.model,
                self.lea.len(),
                hex(lea),
                self.lea
            ));
        }
        let call = at(off + 4, self.len);
        if !self.calls.iter().any(|c| call.is_some_and(|b| b.starts_with(c))) {
            return Err(format!(
                "type {} ({}) is not followed by the call of __tls_get_addr: the bytes after it are {}",
                self.t,
                self.name,
                hex(call.or_else(|| code.get(off + 4..)))
            ));
        }
        Ok(())
    }
}

/// An AArch64 instruction class: `(mask, value)` of its encoding.
const ADRP: (u32, u32) = (0x9f00_0000, 0x9000_0000);
const ADR: (u32, u32) = (0x9f00_0000, 0x1000_0000);
const B_BL: (u32, u32) = (0x7c00_0000, 0x1400_0000);
const BLR: (u32, u32) = (0xffff_fc1f, 0xd63f_0000);

/// The instruction class an AArch64 relocation type patches, for the types
/// whose class is one instruction.
fn aarch64_class(t: u32) -> Option<(&'static str, (u32, u32))> {
    Some(match t {
        // ADR_PREL_PG_HI21(_NC), ADR_GOT_PAGE, TLSGD/TLSLD/TLSIE/TLSDESC page.
        275 | 276 | 311 | 513 | 518 | 541 | 562 => ("adrp", ADRP),
        // ADR_PREL_LO21, TLSGD/TLSLD/TLSDESC_ADR_PREL21.
        274 | 512 | 517 | 561 => ("adr", ADR),
        // JUMP26, CALL26.
        282 | 283 => ("b or bl", B_BL),
        // TLSDESC_CALL.
        569 => ("blr", BLR),
        _ => return None,
    })
}

/// Check the code around relocation type `t` at `off` of a section whose
/// contents are `code`; the error says what is there and what ld needs.
pub(super) fn check(machine: u16, t: u32, code: &[u8], off: u64) -> Result<(), String> {
    let off = usize::try_from(off).map_err(|_| "r_offset does not fit in memory".to_string())?;
    match (machine, t) {
        (EM_X86_64, 19) => GD.check(code, off)?,
        (EM_X86_64, 20) => LD.check(code, off)?,
        (EM_AARCH64, t) => {
            if let Some((name, (mask, value))) = aarch64_class(t) {
                let word =
                    code.get(off..).and_then(|b| b.get(..4)).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                if word.is_none_or(|w| w & mask != value) {
                    let found = word.map_or("the end of the section".to_string(), |w| format!("{w:#010x}"));
                    return Err(format!("type {t} patches an `{name}` instruction, but the word there is {found}"));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_64_general_dynamic_sequence() {
        // data16 lea 0x0(%rip),%rdi; data16 data16 rex.W call __tls_get_addr
        let code = [0x66, 0x48, 0x8d, 0x3d, 0, 0, 0, 0, 0x66, 0x66, 0x48, 0xe8, 0, 0, 0, 0];
        assert_eq!(check(EM_X86_64, 19, &code, 4), Ok(()));
        let mut bad = code;
        bad[2] = 0x8b; // mov, not lea
        assert!(check(EM_X86_64, 19, &bad, 4).unwrap_err().contains("not on the `lea`"));
        let mut bad = code;
        bad[11] = 0x90;
        assert!(check(EM_X86_64, 19, &bad, 4).unwrap_err().contains("not followed by the call"));
        // At the start of the section: no room for the lea.
        assert!(check(EM_X86_64, 19, &code, 0).unwrap_err().contains("the end of the section"));
    }

    #[test]
    fn x86_64_local_dynamic_sequence() {
        let code = [0x48, 0x8d, 0x3d, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0];
        assert_eq!(check(EM_X86_64, 20, &code, 3), Ok(()));
        assert!(check(EM_X86_64, 20, &code[..8], 3).is_err(), "the call's operand is cut off");
    }

    #[test]
    fn aarch64_instruction_classes() {
        let adrp = 0x9000_0000u32.to_le_bytes(); // adrp x0, 0
        let ldr = 0xf940_0000u32.to_le_bytes(); // ldr x0, [x0]
        let bl = 0x9400_0000u32.to_le_bytes();
        let blr = 0xd63f_0020u32.to_le_bytes(); // blr x1
        assert_eq!(check(EM_AARCH64, 562, &adrp, 0), Ok(()));
        assert_eq!(check(EM_AARCH64, 283, &bl, 0), Ok(()));
        assert_eq!(check(EM_AARCH64, 569, &blr, 0), Ok(()));
        let e = check(EM_AARCH64, 561, &ldr, 0).unwrap_err();
        assert_eq!(e, "type 561 patches an `adr` instruction, but the word there is 0xf9400000");
        assert!(check(EM_AARCH64, 283, &ldr, 0).is_err());
        // Types of no single class, and other machines, are not read.
        assert_eq!(check(EM_AARCH64, 563, &ldr, 0), Ok(()));
        assert_eq!(check(3, 19, &[], 0), Ok(()));
    }
}
