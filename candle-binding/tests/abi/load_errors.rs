//! A model that fails to load is reported in one line, even with
//! `RUST_BACKTRACE=1` (in a process of its own: the variable is read once).

use candle_semantic_router as lib;

use crate::common::{self, c, last_error, own_process};

/// A valid safetensors file whose one tensor has a BERT weight's name and
/// the wrong shape: candle's own error (which carries a backtrace when
/// `RUST_BACKTRACE` is set).
fn foreign_safetensors() -> Vec<u8> {
    let header = br#"{"embeddings.word_embeddings.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header);
    out.extend_from_slice(&1.0f32.to_le_bytes());
    out
}

#[test]
fn load_errors_are_one_line_with_rust_backtrace_set() {
    if !own_process(module_path!(), "load_errors_are_one_line_with_rust_backtrace_set") {
        return;
    }
    // Before anything reads it: std caches whether backtraces are enabled.
    std::env::set_var("RUST_BACKTRACE", "1");
    let real = std::path::PathBuf::from(common::model_dir());
    let dir = std::env::temp_dir().join(format!("candle-foreign-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["config.json", "tokenizer.json"] {
        std::fs::copy(real.join(file), dir.join(file)).unwrap();
    }
    std::fs::write(dir.join("model.safetensors"), foreign_safetensors()).unwrap();

    let path = c(dir.to_str().unwrap());
    assert!(!unsafe { lib::init_similarity_model(path.as_ptr(), true) });
    let msg = last_error().expect("an error message");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!msg.contains('\n'), "the error has several lines:\n{msg}");
    assert!(msg.contains("model.safetensors does not match config.json"), "{msg}");
    assert!(msg.contains("shape mismatch for embeddings.word_embeddings.weight"), "{msg}");
    assert!(!msg.contains("backtrace") && !msg.contains("at /"), "{msg}");
}
