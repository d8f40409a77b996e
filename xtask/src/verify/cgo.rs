//! The `C.<name>` functions the Go code calls through cgo, found by a small
//! scanner that knows Go's comments and string and rune literals.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

/// cgo's own pseudo-functions.
const CGO_BUILTINS: &[&str] = &["CString", "CBytes", "GoString", "GoStringN", "GoBytes"];
/// C library functions the Go code may call through the preamble's includes.
const LIBC_FUNCTIONS: &[&str] = &[
    "free", "malloc", "calloc", "realloc", "memcpy", "memmove", "memset", "memcmp", "strlen", "strcmp", "strncmp",
    "strcpy", "strncpy", "strdup", "abort", "exit",
];
/// C types cgo knows by name.
const C_TYPES: &[&str] = &[
    "char",
    "schar",
    "uchar",
    "short",
    "ushort",
    "int",
    "uint",
    "long",
    "ulong",
    "longlong",
    "ulonglong",
    "float",
    "double",
    "complexfloat",
    "complexdouble",
    "size_t",
    "ssize_t",
    "ptrdiff_t",
    "bool",
    "_Bool",
    "int8_t",
    "int16_t",
    "int32_t",
    "int64_t",
    "uint8_t",
    "uint16_t",
    "uint32_t",
    "uint64_t",
    "intptr_t",
    "uintptr_t",
    "off_t",
    "void",
];

/// Whether `name` (from `C.name`) is not a library function.
fn is_cgo_non_function(name: &str, header_types: &BTreeSet<String>) -> bool {
    CGO_BUILTINS.contains(&name)
        || LIBC_FUNCTIONS.contains(&name)
        || C_TYPES.contains(&name)
        || ["struct_", "union_", "enum_", "sizeof_"].iter().any(|p| name.starts_with(p))
        || header_types.contains(name)
}

/// `C.<name>` functions called by the `.go` files under `dirs` that `import "C"`,
/// each with its first use (`path:line`, relative to `root`).
pub fn go_c_functions(
    dirs: &[PathBuf],
    header_types: &BTreeSet<String>,
    root: &Path,
) -> Result<BTreeMap<String, String>> {
    let mut files = Vec::new();
    for d in dirs {
        if d.is_dir() {
            collect_go_files(d, &mut files)?;
        }
    }
    files.sort();
    let mut out = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
        let rel = f.strip_prefix(root).unwrap_or(&f).display().to_string();
        for (name, line) in go_c_refs(&text) {
            if !is_cgo_non_function(&name, header_types) {
                out.entry(name).or_insert_with(|| format!("{rel}:{line}"));
            }
        }
    }
    Ok(out)
}

fn collect_go_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let ty = e.file_type()?;
        if ty.is_dir() {
            if !(name.starts_with('.') || name == "vendor" || name == "testdata" || name == "target") {
                collect_go_files(&path, out)?;
            }
        } else if name.ends_with(".go") {
            out.push(path);
        }
    }
    Ok(())
}

/// `C.<identifier>` references (name, 1-based line) of one Go file that
/// imports "C", outside comments and string/rune literals.
pub fn go_c_refs(text: &str) -> Vec<(String, usize)> {
    if !text.contains("import \"C\"") && !text.contains("\t\"C\"") {
        return Vec::new();
    }
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        match b[i] {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 2;
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'C' if b.get(i + 1) == Some(&b'.') && (i == 0 || !(is_ident(b[i - 1]) || b[i - 1] == b'.')) => {
                let start = i + 2;
                let mut end = start;
                while end < b.len() && is_ident(b[end]) {
                    end += 1;
                }
                if end > start && !b[start].is_ascii_digit() {
                    out.push((text[start..end].to_string(), line));
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_refs() {
        let go = r#"package x

/*
#include "h.h"
static int C.inpreamble(void);
*/
import "C"

// C.in_comment() is not a call
func f() {
	s := C.CString("C.in_string")
	defer C.free(unsafe.Pointer(s))
	r := C.get_text_embedding(s, C.int32_t(0))
	var e C.EmbeddingResult
	var t C.struct_Tagged
	_ = ABC.notc
	_ = x.C.notc2
	_ = `C.raw
	string`
	C.free_embedding(r.data, r.length)
}
"#;
        let refs = go_c_refs(go);
        let names: Vec<&str> = refs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["CString", "free", "get_text_embedding", "int32_t", "EmbeddingResult", "struct_Tagged", "free_embedding"]
        );
        assert_eq!(refs[2].1, 13);
        assert_eq!(refs[6].1, 20);
        let types: BTreeSet<String> = ["EmbeddingResult".to_string()].into();
        let funcs: Vec<&str> = names.iter().copied().filter(|n| !is_cgo_non_function(n, &types)).collect();
        assert_eq!(funcs, ["get_text_embedding", "free_embedding"]);
        assert!(go_c_refs("package y\nfunc g() { C.foo() }\n").is_empty(), "no import \"C\"");
    }
}
