//! A C header's file-scope declarations (function prototypes, type names),
//! without a C compiler: enough for cbindgen's output and hand-written headers.

use std::collections::BTreeSet;

/// What a C header declares at file scope.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Header {
    /// Function prototypes, in order.
    pub functions: Vec<String>,
    /// Type names: typedefs and struct/union/enum tags.
    pub types: BTreeSet<String>,
}

/// Parse the function prototypes and type names of a C header: comments,
/// string literals and preprocessor lines are dropped, then file-scope
/// statements (split at `;` outside braces) are classified. `extern "C" {`
/// blocks are looked through; inline function definitions are skipped.
pub fn parse_header(text: &str) -> Header {
    let code = strip_c(text);
    let mut header = Header::default();
    let mut stmt = String::new();
    // Brace stack: true for an `extern "C" {` block (transparent).
    let mut braces: Vec<bool> = Vec::new();
    let depth = |b: &Vec<bool>| b.iter().filter(|t| !**t).count();
    for c in code.chars() {
        match c {
            '{' => {
                let trimmed = stmt.trim();
                if depth(&braces) == 0 && (trimmed == "extern \"C\"" || trimmed == "extern") {
                    braces.push(true);
                    stmt.clear();
                } else {
                    braces.push(false);
                    stmt.push(c);
                }
            }
            '}' => {
                match braces.pop() {
                    Some(true) => stmt.clear(),
                    Some(false) => {
                        stmt.push(c);
                        if depth(&braces) == 0 {
                            // `f(...) { body }` at file scope: a definition, not a prototype.
                            let before = stmt.split('{').next().unwrap_or("").trim_end();
                            if before.ends_with(')') {
                                stmt.clear();
                            }
                        }
                    }
                    None => stmt.clear(), // unbalanced: start over
                }
            }
            ';' if depth(&braces) == 0 => {
                classify(&stmt, &mut header);
                stmt.clear();
            }
            _ => stmt.push(c),
        }
    }
    header
}

fn classify(stmt: &str, header: &mut Header) {
    let stmt = strip_attributes(stmt);
    let flat = strip_braced(&stmt);
    let words = identifiers(&flat);
    // struct/union/enum tags anywhere at this level.
    for w in words.windows(2) {
        if matches!(w[0].as_str(), "struct" | "union" | "enum") {
            header.types.insert(w[1].clone());
        }
    }
    if words.first().map(String::as_str) == Some("typedef") {
        // `typedef R (*name)(args)` or `typedef T name`.
        let name = match flat.find("(*") {
            Some(i) => identifiers(&flat[i + 2..]).into_iter().next(),
            None => words.last().cloned(),
        };
        if let Some(n) = name {
            header.types.insert(n);
        }
        return;
    }
    let Some(open) = flat.find('(') else { return };
    let before = &flat[..open];
    if before.contains('=') || flat[open + 1..].trim_start().starts_with('*') {
        return; // initialised variable, or a function pointer variable
    }
    if let Some(name) = identifiers(before).last() {
        if !is_c_keyword(name) && !header.functions.contains(name) {
            header.functions.push(name.clone());
        }
    }
}

fn is_c_keyword(w: &str) -> bool {
    matches!(
        w,
        "void"
            | "int"
            | "char"
            | "float"
            | "double"
            | "long"
            | "short"
            | "signed"
            | "unsigned"
            | "bool"
            | "const"
            | "volatile"
            | "struct"
            | "union"
            | "enum"
            | "static"
            | "extern"
            | "inline"
            | "return"
            | "sizeof"
            | "typedef"
            | "if"
            | "while"
            | "for"
            | "switch"
    )
}

fn identifiers(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            cur.push(c);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.retain(|w| !w.starts_with(|c: char| c.is_ascii_digit()));
    out
}

/// Drop `{ … }` bodies (struct members), keeping what surrounds them.
fn strip_braced(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Drop `__attribute__((…))`, `__declspec(…)` and `[[…]]`.
fn strip_attributes(s: &str) -> String {
    let mut out = s.to_string();
    for kw in ["__attribute__", "__declspec", "__asm__", "__asm"] {
        while let Some(i) = out.find(kw) {
            let rest = &out[i + kw.len()..];
            let Some(open) = rest.find('(') else { break };
            if !rest[..open].trim().is_empty() {
                break;
            }
            let mut depth = 0usize;
            let mut end = None;
            for (j, c) in rest[open..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i + kw.len() + open + j + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            match end {
                Some(e) => out.replace_range(i..e, " "),
                None => break,
            }
        }
    }
    while let (Some(a), Some(b)) = (out.find("[["), out.find("]]")) {
        if b < a {
            break;
        }
        out.replace_range(a..b + 2, " ");
    }
    out
}

/// C source without comments, preprocessor lines (with continuations), and
/// with string/char literal contents blanked (`extern "C"` is kept as such).
fn strip_c(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut at_line_start = true;
    while i < b.len() {
        let c = b[i];
        if c == '/' && b.get(i + 1) == Some(&'*') {
            i += 2;
            while i < b.len() && !(b[i] == '*' && b.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
            out.push(' ');
            continue;
        }
        if c == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if at_line_start && c == '#' {
            // A directive runs to the end of the line, continuations included;
            // comments inside it end at the line end too.
            while i < b.len() && b[i] != '\n' {
                if b[i] == '\\' && b.get(i + 1) == Some(&'\n') {
                    i += 1;
                } else if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    i += 2;
                    while i < b.len() && !(b[i] == '*' && b.get(i + 1) == Some(&'/')) {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            continue;
        }
        if c == '"' || c == '\'' {
            let q = c;
            let start = i;
            i += 1;
            while i < b.len() && b[i] != q && b[i] != '\n' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            let lit: String = b[start..(i + 1).min(b.len())].iter().collect();
            out.push_str(if lit == "\"C\"" { "\"C\"" } else { "0" });
            i += 1;
            at_line_start = false;
            continue;
        }
        if c == '\n' {
            at_line_start = true;
        } else if !c.is_whitespace() {
            at_line_start = false;
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const CBINDGEN: &str = r#"#ifndef CANDLE_SEMANTIC_ROUTER_H
#define CANDLE_SEMANTIC_ROUTER_H

/* Generated. Do not edit. bool not_a_function(int x); */

#include <stdbool.h>
#include <stdint.h>
#define LONG_MACRO(x) \
    int macro_fn(x);

/**
 * A sentence embedding; see `free_embedding(data, length);`
 */
typedef struct {
  float *data;
  int32_t length;
  bool error;
} EmbeddingResult;

typedef struct SimilarityResult {
  int32_t index;
  float score;
} SimilarityResult;

typedef void (*log_callback)(const char *msg);
struct Tagged { int x; };
enum Mode { A, B };

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

bool init_similarity_model(const char *model_path, bool use_cpu);

// bool commented_out(void);
bool is_similarity_model_initialized(void);

SimilarityResult find_most_similar(const char *query,
                                   const char *const *candidates,
                                   int32_t num_candidates,
                                   int32_t max_length);

__attribute__((visibility("default"))) char *get_last_error(void);
extern void free_cstring(char *s);
static inline int helper(int x) { return x; }
extern int some_global;
extern void (*hook)(int);
const char *version_string = "f(x);";
void free_tokenization_result(struct Tagged result);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* CANDLE_SEMANTIC_ROUTER_H */
"#;

    #[test]
    fn header_functions_and_types() {
        let h = parse_header(CBINDGEN);
        assert_eq!(
            h.functions,
            [
                "init_similarity_model",
                "is_similarity_model_initialized",
                "find_most_similar",
                "get_last_error",
                "free_cstring",
                "free_tokenization_result"
            ]
        );
        for t in ["EmbeddingResult", "SimilarityResult", "log_callback", "Tagged", "Mode"] {
            assert!(h.types.contains(t), "{t}: {:?}", h.types);
        }
    }

    #[test]
    fn header_of_the_workspace() {
        // The header is committed (`cargo xtask codegen --check` keeps it fresh).
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(crate::verify::HEADER);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let h = parse_header(&text);
        assert!(h.functions.contains(&"init_similarity_model".to_string()), "{:?}", h.functions);
        assert!(h.types.contains("EmbeddingResult"));
        assert!(!h.functions.iter().any(|f| h.types.contains(f)));
    }
}
