//! Shared helpers of the ABI tests.

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

/// Run the test `test` of module `module` (its `module_path!()`) in a child
/// process of this test binary, where no other test has run. In the child
/// this returns true and the caller runs the test's body; in this process
/// it waits for the child, fails if the child's test failed or did not run,
/// and returns false.
pub fn own_process(module: &str, test: &str) -> bool {
    const CHILD: &str = "CANDLE_TEST_OWN_PROCESS";
    // The harness names a test by its path without the crate's name.
    let name = match module.split_once("::") {
        Some((_, path)) => format!("{path}::{test}"),
        None => test.to_owned(),
    };
    if std::env::var(CHILD).as_deref() == Ok(name.as_str()) {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new(exe)
        .args([name.as_str(), "--exact", "--test-threads=1"])
        .env(CHILD, &name)
        .output()
        .expect("cannot run the test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name} failed in its own process:\n{stdout}\n{stderr}");
    // A name that matches no test passes with none run.
    assert!(stdout.contains("test result: ok. 1 passed"), "{name} did not run in its own process:\n{stdout}");
    false
}
