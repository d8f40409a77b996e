//! Calls before `init_similarity_model`, each test in a process of its own
//! (nothing has initialised the model there).

use std::ptr;

use candle_semantic_router as lib;

use crate::common::{c, last_error, own_process};

#[test]
fn every_call_before_init_returns_its_error_value() {
    if !own_process(module_path!(), "every_call_before_init_returns_its_error_value") {
        return;
    }
    assert!(!lib::is_similarity_model_initialized());
    let text = c("hello world");

    let r = unsafe { lib::get_text_embedding(text.as_ptr(), 0) };
    assert!(r.error && r.data.is_null() && r.length == 0);
    assert!(last_error().unwrap().contains("not initialized"));

    assert_eq!(unsafe { lib::calculate_similarity(text.as_ptr(), text.as_ptr(), 0) }, -1.0);
    assert!(last_error().unwrap().contains("not initialized"));

    let cands = [text.as_ptr()];
    let r = unsafe { lib::find_most_similar(text.as_ptr(), cands.as_ptr(), 1, 0) };
    assert_eq!(r.index, -1);
    assert!(last_error().unwrap().contains("not initialized"));

    let t = unsafe { lib::tokenize_text(text.as_ptr(), 0) };
    assert!(t.error && t.token_ids.is_null() && t.tokens.is_null());
    assert!(last_error().unwrap().contains("not initialized"));
    unsafe { lib::free_tokenization_result(t) };
}

#[test]
fn init_with_bad_paths_fails_cleanly() {
    if !own_process(module_path!(), "init_with_bad_paths_fails_cleanly") {
        return;
    }
    assert!(!unsafe { lib::init_similarity_model(ptr::null(), true) });
    assert!(last_error().unwrap().contains("model_path is NULL"));

    let missing = c("/nonexistent/model/dir");
    assert!(!unsafe { lib::init_similarity_model(missing.as_ptr(), true) });
    assert!(last_error().unwrap().contains("does not exist"));

    let bad = [0x66u8, 0xff, 0xfe, 0];
    assert!(!unsafe { lib::init_similarity_model(bad.as_ptr().cast(), true) });
    assert!(last_error().unwrap().contains("not valid UTF-8"));

    let empty_dir = tempdir();
    let p = c(&empty_dir);
    assert!(!unsafe { lib::init_similarity_model(p.as_ptr(), true) });
    assert!(last_error().unwrap().contains("has no config.json"));
    assert!(!lib::is_similarity_model_initialized());
}

fn tempdir() -> String {
    let dir = std::env::temp_dir().join(format!("candle-empty-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.to_string_lossy().into_owned()
}
