//! Shared helpers of the integration tests (`mod common;` in each). A
//! directory module, not `tests/common.rs`: cargo would build that as one more
//! test binary, one more release link of all of candle for no test.
#![allow(dead_code)]

use std::ffi::{CStr, CString};

use candle_semantic_router as lib;

/// The model directory: `CANDLE_MODEL_DIR` must name it (`cargo xtask test` sets it).
/// A missing model fails the test: the real model is what these tests are about.
pub fn model_dir() -> String {
    let dir = std::env::var("CANDLE_MODEL_DIR")
        .expect("CANDLE_MODEL_DIR is not set: run the tests through `cargo xtask test`, or set it to the model directory (`cargo xtask model`)");
    assert!(std::path::Path::new(&dir).join("model.safetensors").is_file(), "no model in CANDLE_MODEL_DIR={dir}");
    dir
}

pub fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// The thread's last error text (and frees it).
pub fn last_error() -> Option<String> {
    let ptr = lib::get_last_error();
    if ptr.is_null() {
        return None;
    }
    let text = unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned();
    unsafe { lib::free_cstring(ptr) };
    Some(text)
}

pub fn embedding(text: &str) -> Vec<f32> {
    let s = c(text);
    let r = unsafe { lib::get_text_embedding(s.as_ptr(), 0) };
    assert!(!r.error, "embedding failed: {:?}", last_error());
    let v = unsafe { std::slice::from_raw_parts(r.data, r.length as usize) }.to_vec();
    unsafe { lib::free_embedding(r.data, r.length) };
    v
}

pub fn similarity(a: &str, b: &str) -> f32 {
    let (a, b) = (c(a), c(b));
    unsafe { lib::calculate_similarity(a.as_ptr(), b.as_ptr(), 0) }
}
