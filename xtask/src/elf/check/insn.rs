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

/// The x86-64 general-dynamic sequence around `R_X86_64_TLSGD` (at `off`):
/// `data16 lea foo@tlsgd(%rip),%rdi` then a call of `__tls_get_addr`
/// (through the PLT, the GOT, or `addr32`).
const GD_LEA: [u8; 4] = [0x66, 0x48, 0x8d, 0x3d];
const GD_CALLS: [[u8; 4]; 3] = [[0x66, 0x66, 0x48, 0xe8], [0x66, 0x48, 0xff, 0x15], [0x66, 0x48, 0x67, 0xe8]];
/// The local-dynamic one around `R_X86_64_TLSLD`: `lea foo@tlsld(%rip),%rdi`, then the call.
const LD_LEA: [u8; 3] = [0x48, 0x8d, 0x3d];
const LD_CALLS: [&[u8]; 3] = [&[0xe8], &[0xff, 0x15], &[0x67, 0xe8]];

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
    let at = |from: usize, len: usize| code.get(from..from.checked_add(len)?);
    let hex = |b: Option<&[u8]>| b.map_or("the end of the section".to_string(), |b| format!("{b:02x?}"));
    match (machine, t) {
        (EM_X86_64, 19) => {
            let lea = off.checked_sub(4).and_then(|s| at(s, 4));
            if lea != Some(&GD_LEA[..]) {
                return Err(format!(
                    "type 19 (TLSGD) is not on the `lea` of the general-dynamic sequence: the 4 bytes before it are {}, ld needs {:02x?}",
                    hex(lea),
                    GD_LEA
                ));
            }
            let call = at(off + 4, 4);
            if !GD_CALLS.iter().any(|c| call == Some(&c[..])) || at(off + 4, 8).is_none() {
                return Err(format!(
                    "type 19 (TLSGD) is not followed by the call of __tls_get_addr: the bytes after it are {}",
                    hex(call)
                ));
            }
        }
        (EM_X86_64, 20) => {
            let lea = off.checked_sub(3).and_then(|s| at(s, 3));
            if lea != Some(&LD_LEA[..]) {
                return Err(format!(
                    "type 20 (TLSLD) is not on the `lea` of the local-dynamic sequence: the 3 bytes before it are {}, ld needs {:02x?}",
                    hex(lea),
                    LD_LEA
                ));
            }
            let call = at(off + 4, 2);
            if !LD_CALLS.iter().any(|c| call.is_some_and(|b| b.starts_with(c))) || at(off + 4, 5).is_none() {
                return Err(format!(
                    "type 20 (TLSLD) is not followed by the call of __tls_get_addr: the bytes after it are {}",
                    hex(call)
                ));
            }
        }
        (EM_AARCH64, t) => {
            if let Some((name, (mask, value))) = aarch64_class(t) {
                let word = at(off, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
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
