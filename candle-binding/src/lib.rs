//! C ABI for sentence embeddings and similarity with all-MiniLM-L6-v2 on candle.
//!
//! Every exported function is safe to call with bad input: NULL pointers,
//! invalid UTF-8, empty text, calls before `init_similarity_model`, and
//! `num_candidates <= 0` return the documented error value and set the error
//! text readable with `get_last_error` (per OS thread). Panics never cross the
//! boundary.
//!
//! The C header `include/candle_semantic_router.h` is generated from this file
//! by `cargo xtask codegen`.

mod bert;
mod error;
pub mod model;

use std::{
    ffi::{c_char, CStr, CString},
    panic::{catch_unwind, AssertUnwindSafe},
    path::Path,
    sync::{Arc, RwLock},
};

use anyhow::{anyhow, bail, Context, Result};

pub use error::one_line;
pub use model::{cosine, SimilarityModel, Tokens};

/// A sentence embedding. Free `data` with `free_embedding(data, length)`.
#[repr(C)]
pub struct EmbeddingResult {
    /// `length` floats, L2-normalised; NULL on error.
    pub data: *mut f32,
    pub length: i32,
    /// Tokens embedded, `[CLS]` and `[SEP]` included; 0 on error.
    pub token_count: i32,
    /// True when the text had more tokens than the limit and only its
    /// beginning was embedded.
    pub truncated: bool,
    /// True when the call failed (see `get_last_error`).
    pub error: bool,
}

/// The best match of `find_most_similar`.
#[repr(C)]
pub struct SimilarityResult {
    /// Index of the best candidate; -1 on error.
    pub index: i32,
    /// Its cosine similarity with the query.
    pub score: f32,
}

/// Tokens of a text. Free with `free_tokenization_result`.
#[repr(C)]
pub struct TokenizationResult {
    /// `token_count` token ids; NULL on error.
    pub token_ids: *mut i32,
    /// `token_count` NUL-terminated token strings; NULL on error.
    pub tokens: *mut *mut c_char,
    pub token_count: i32,
    /// True when the call failed (see `get_last_error`).
    pub error: bool,
}

static MODEL: RwLock<Option<Arc<SimilarityModel>>> = RwLock::new(None);

fn model() -> Result<Arc<SimilarityModel>> {
    let guard = MODEL.read().unwrap_or_else(|e| e.into_inner());
    guard.clone().context("the model is not initialized: call init_similarity_model first")
}

/// Run `f`, turning an error or a panic into `on_error` and the thread's
/// last error, always one line. A panic prints nothing on stderr.
fn guard<T>(on_error: T, f: impl FnOnce() -> Result<T>) -> T {
    error::clear();
    match error::in_call(|| catch_unwind(AssertUnwindSafe(f))) {
        Ok(Ok(value)) => value,
        Ok(Err(err)) => {
            error::set(error::one_line(&err));
            on_error
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            let at = error::panic_location().map(|l| format!(" (at {l})")).unwrap_or_default();
            error::set(error::flatten(&format!("internal error: {msg}{at}")));
            on_error
        }
    }
}

/// Borrow a C string argument as UTF-8 text.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string valid for the call.
unsafe fn text<'a>(ptr: *const c_char, what: &str) -> Result<&'a str> {
    if ptr.is_null() {
        bail!("{what} is NULL");
    }
    CStr::from_ptr(ptr).to_str().map_err(|e| anyhow!("{what} is not valid UTF-8: {e}"))
}

/// Load the model from a directory with `config.json`, `tokenizer.json` and
/// `model.safetensors`. Returns false on error. Calling it again replaces the model.
///
/// # Safety
/// `model_path` must be NULL or a valid NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn init_similarity_model(model_path: *const c_char, use_cpu: bool) -> bool {
    guard(false, || {
        let dir = text(model_path, "model_path")?;
        let loaded = SimilarityModel::load(Path::new(dir), use_cpu)
            .with_context(|| format!("cannot load the model from {dir}"))?;
        *MODEL.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(loaded));
        Ok(true)
    })
}

/// True once `init_similarity_model` has succeeded.
#[no_mangle]
pub extern "C" fn is_similarity_model_initialized() -> bool {
    guard(false, || Ok(MODEL.read().unwrap_or_else(|e| e.into_inner()).is_some()))
}

/// The embedding of `text`, truncated to `max_length` tokens (≤ 0: 256, the
/// model's `max_seq_length`; never more than its 512 positions). A longer text
/// is cut at the token level, keeping its beginning, and `truncated` is set.
///
/// # Safety
/// `text` must be NULL or a valid NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn get_text_embedding(text: *const c_char, max_length: i32) -> EmbeddingResult {
    let failed =
        EmbeddingResult { data: std::ptr::null_mut(), length: 0, token_count: 0, truncated: false, error: true };
    guard(failed, || {
        let text = self::text(text, "text")?;
        let embedding = model()?.embed_tokens(&[text], max_length)?.remove(0);
        let length = embedding.vector.len() as i32;
        let data = Box::into_raw(embedding.vector.into_boxed_slice()) as *mut f32;
        Ok(EmbeddingResult {
            data,
            length,
            token_count: embedding.tokens as i32,
            truncated: embedding.truncated,
            error: false,
        })
    })
}

/// Cosine similarity of two texts; -1.0 on error.
///
/// # Safety
/// `text1` and `text2` must be NULL or valid NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn calculate_similarity(text1: *const c_char, text2: *const c_char, max_length: i32) -> f32 {
    guard(-1.0, || {
        let a = text(text1, "text1")?;
        let b = text(text2, "text2")?;
        let e = model()?.embed(&[a, b], max_length)?;
        Ok(cosine(&e[0], &e[1]))
    })
}

/// The candidate most similar to `query`; index -1 on error.
///
/// # Safety
/// `query` must be NULL or a valid NUL-terminated string; `candidates` must be
/// NULL or point to `num_candidates` pointers, each NULL or a valid string.
#[no_mangle]
pub unsafe extern "C" fn find_most_similar(
    query: *const c_char,
    candidates: *const *const c_char,
    num_candidates: i32,
    max_length: i32,
) -> SimilarityResult {
    guard(SimilarityResult { index: -1, score: -1.0 }, || {
        let query = text(query, "query")?;
        if num_candidates <= 0 {
            bail!("num_candidates must be positive, got {num_candidates}");
        }
        if candidates.is_null() {
            bail!("candidates is NULL");
        }
        let ptrs = std::slice::from_raw_parts(candidates, num_candidates as usize);
        let mut texts = vec![query];
        for (i, &ptr) in ptrs.iter().enumerate() {
            texts.push(text(ptr, &format!("candidate {i}"))?);
        }
        let e = model()?.embed(&texts, max_length)?;
        let (index, score) = e[1..]
            .iter()
            .map(|c| cosine(&e[0], c))
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, s)| if s > best.1 { (i, s) } else { best });
        Ok(SimilarityResult { index: index as i32, score })
    })
}

/// The tokens of `text` (with `[CLS]`/`[SEP]`), truncated to `max_length`.
///
/// # Safety
/// `text` must be NULL or a valid NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn tokenize_text(text: *const c_char, max_length: i32) -> TokenizationResult {
    let failed = TokenizationResult {
        token_ids: std::ptr::null_mut(),
        tokens: std::ptr::null_mut(),
        token_count: 0,
        error: true,
    };
    guard(failed, || {
        let text = self::text(text, "text")?;
        let Tokens { ids, tokens, .. } = model()?.tokenize(text, max_length)?;
        let count = ids.len() as i32;
        let ids: Box<[i32]> = ids.into_iter().map(|id| id as i32).collect();
        let tokens: Box<[*mut c_char]> =
            tokens.into_iter().map(|t| CString::new(t.replace('\0', "")).expect("NULs removed").into_raw()).collect();
        Ok(TokenizationResult {
            token_ids: Box::into_raw(ids) as *mut i32,
            tokens: Box::into_raw(tokens) as *mut *mut c_char,
            token_count: count,
            error: false,
        })
    })
}

/// Free the data of an `EmbeddingResult`. NULL is ignored.
///
/// # Safety
/// `data` and `length` must come from one `get_text_embedding` result, freed once.
#[no_mangle]
pub unsafe extern "C" fn free_embedding(data: *mut f32, length: i32) {
    if data.is_null() || length < 0 {
        return;
    }
    drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(data, length as usize)));
}

/// Free a `TokenizationResult`. A failed (NULL) result is ignored.
///
/// # Safety
/// `result` must come from `tokenize_text`, freed once.
#[no_mangle]
pub unsafe extern "C" fn free_tokenization_result(result: TokenizationResult) {
    let n = result.token_count.max(0) as usize;
    if !result.token_ids.is_null() {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(result.token_ids, n)));
    }
    if !result.tokens.is_null() {
        let tokens = Box::from_raw(std::ptr::slice_from_raw_parts_mut(result.tokens, n));
        for &t in tokens.iter() {
            if !t.is_null() {
                drop(CString::from_raw(t));
            }
        }
    }
}

/// Give the memory that earlier calls freed back to the operating system
/// (glibc's `malloc_trim`). Call it when idle after a burst: freed tensors
/// otherwise stay in the C allocator's arenas, counted in the process's RSS.
/// Returns true if memory was released; false where the C library has no
/// such call.
#[no_mangle]
pub extern "C" fn release_memory() -> bool {
    guard(false, || Ok(trim_heap()))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() -> bool {
    extern "C" {
        /// glibc ≥ 2.8 releases free memory of every arena, not only the heap top.
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim takes no pointer and is thread-safe.
    unsafe { malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() -> bool {
    false
}

/// Free a string returned by this library (`get_last_error`). NULL is ignored.
///
/// # Safety
/// `s` must come from this library, freed once.
#[no_mangle]
pub unsafe extern "C" fn free_cstring(s: *mut c_char) {
    if !s.is_null() {
        drop(CString::from_raw(s));
    }
}

/// The error of the last failed call on this thread, newly allocated (free
/// with `free_cstring`), or NULL if the last call succeeded.
#[no_mangle]
pub extern "C" fn get_last_error() -> *mut c_char {
    error::take_c_string().map_or(std::ptr::null_mut(), CString::into_raw)
}
