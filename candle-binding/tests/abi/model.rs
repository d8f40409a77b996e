//! The C ABI on the real all-MiniLM-L6-v2 model.

use std::{ptr, sync::Once};

use candle_semantic_router as lib;

use crate::common::{self, c, embedding, last_error, similarity};

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let dir = c(&common::model_dir());
        assert!(unsafe { lib::init_similarity_model(dir.as_ptr(), true) }, "init failed: {:?}", last_error());
    });
    assert!(lib::is_similarity_model_initialized());
}

const BREAD: &str = "How do I bake sourdough bread?";

#[test]
fn embedding_has_384_dims_and_unit_norm() {
    init();
    let e = embedding("Semantic routing sends each prompt to the right model.");
    assert_eq!(e.len(), 384);
    let norm = e.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "norm {norm}");
    assert!(last_error().is_none(), "a successful call leaves no error");
}

#[test]
fn related_sentences_are_closer_than_unrelated_ones() {
    init();
    let related = similarity(BREAD, "A recipe for baking bread at home");
    let unrelated = similarity(BREAD, "The kernel panicked while mounting the root filesystem");
    assert!(related - unrelated >= 0.2, "related {related} unrelated {unrelated}");
    assert!((similarity(BREAD, BREAD) - 1.0).abs() < 1e-4);
}

#[test]
fn find_most_similar_picks_the_matching_topic() {
    init();
    let candidates = [
        "The stock market fell sharply after the interest rate announcement",
        "Compile the Rust project with cargo build --release",
        "Preheat the oven and knead the dough for ten minutes",
        "The goalkeeper saved a penalty in the last minute of the match",
        "Photosynthesis converts sunlight into chemical energy in plants",
        "Book a flight to Lisbon for next Tuesday",
    ];
    let owned: Vec<_> = candidates.iter().map(|s| c(s)).collect();
    let ptrs: Vec<_> = owned.iter().map(|s| s.as_ptr()).collect();
    let cases = [
        (BREAD, 2),
        ("Why does my Rust program fail to compile?", 1),
        ("Who won the football game yesterday?", 3),
        ("How do plants make food from light?", 4),
    ];
    for (query, want) in cases {
        let q = c(query);
        let r = unsafe { lib::find_most_similar(q.as_ptr(), ptrs.as_ptr(), ptrs.len() as i32, 0) };
        assert_eq!(r.index, want, "{query}: {:?}", last_error());
        assert!((r.score - similarity(query, candidates[want as usize])).abs() < 1e-4);
    }
}

#[test]
fn batch_padding_does_not_change_embeddings() {
    init();
    // find_most_similar embeds texts of different lengths in one padded batch;
    // the scores must match one-by-one embeddings.
    let short = "Bread";
    let long = "A very long sentence about baking bread with flour, water, salt and a lively sourdough starter";
    let (s, l) = (c(short), c(long));
    let ptrs = [l.as_ptr()];
    let r = unsafe { lib::find_most_similar(s.as_ptr(), ptrs.as_ptr(), 1, 0) };
    let direct: f32 = embedding(short).iter().zip(embedding(long)).map(|(a, b)| a * b).sum();
    assert!((r.score - direct).abs() < 1e-4, "batched {} direct {direct}", r.score);
}

#[test]
fn matches_the_independent_numpy_reference() {
    init();
    let reference: serde_json::Value = serde_json::from_str(include_str!("../data/reference_embedding.json")).unwrap();
    let sentence = reference["sentence"].as_str().unwrap();
    let want: Vec<f32> =
        reference["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let ids: Vec<i64> = reference["token_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();

    let s = c(sentence);
    let t = unsafe { lib::tokenize_text(s.as_ptr(), 0) };
    let got_ids: Vec<i64> =
        unsafe { std::slice::from_raw_parts(t.token_ids, t.token_count as usize) }.iter().map(|&i| i as i64).collect();
    unsafe { lib::free_tokenization_result(t) };
    assert_eq!(got_ids, ids);

    let got = embedding(sentence);
    let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "largest difference from the reference: {worst}");
}

#[test]
fn tokenize_wraps_in_cls_sep_and_truncates() {
    init();
    let s = c("Hello, semantic router!");
    let t = unsafe { lib::tokenize_text(s.as_ptr(), 0) };
    assert!(!t.error);
    let ids = unsafe { std::slice::from_raw_parts(t.token_ids, t.token_count as usize) }.to_vec();
    let tokens: Vec<String> = unsafe { std::slice::from_raw_parts(t.tokens, t.token_count as usize) }
        .iter()
        .map(|&p| unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned())
        .collect();
    unsafe { lib::free_tokenization_result(t) };
    assert_eq!(ids.first(), Some(&101));
    assert_eq!(ids.last(), Some(&102));
    assert_eq!(tokens.first().map(String::as_str), Some("[CLS]"));
    assert!(tokens.contains(&"hello".to_string()), "{tokens:?}");

    let long = c(&"word ".repeat(100));
    let t = unsafe { lib::tokenize_text(long.as_ptr(), 16) };
    assert_eq!(t.token_count, 16);
    let last = unsafe { *t.token_ids.add(15) };
    unsafe { lib::free_tokenization_result(t) };
    assert_eq!(last, 102, "truncation keeps [SEP]");
}

#[test]
fn bad_input_returns_error_values_with_messages() {
    init();
    let ok = c("fine text");
    let empty = c("");
    let blank = c("   \t\n");
    let invalid = [0x68u8, 0x69, 0xff, 0xfe, 0];
    let invalid = invalid.as_ptr().cast::<std::ffi::c_char>();

    for (ptr, msg) in
        [(ptr::null(), "text is NULL"), (empty.as_ptr(), "empty"), (blank.as_ptr(), "empty"), (invalid, "UTF-8")]
    {
        let r = unsafe { lib::get_text_embedding(ptr, 0) };
        assert!(r.error && r.data.is_null());
        assert!(last_error().unwrap().contains(msg));
        unsafe { lib::free_embedding(r.data, r.length) }; // NULL: a no-op

        let t = unsafe { lib::tokenize_text(ptr, 0) };
        assert!(t.error);
        assert!(last_error().unwrap().contains(msg));
        unsafe { lib::free_tokenization_result(t) };
    }

    assert_eq!(unsafe { lib::calculate_similarity(ptr::null(), ok.as_ptr(), 0) }, -1.0);
    assert!(last_error().unwrap().contains("text1 is NULL"));
    assert_eq!(unsafe { lib::calculate_similarity(ok.as_ptr(), invalid, 0) }, -1.0);
    assert!(last_error().unwrap().contains("text2 is not valid UTF-8"));

    let ptrs = [ok.as_ptr(), ptr::null()];
    for (cands, n, msg) in [
        (ptrs.as_ptr(), 0, "num_candidates must be positive"),
        (ptrs.as_ptr(), -3, "num_candidates must be positive"),
        (ptr::null(), 2, "candidates is NULL"),
        (ptrs.as_ptr(), 2, "candidate 1 is NULL"),
    ] {
        let r = unsafe { lib::find_most_similar(ok.as_ptr(), cands, n, 0) };
        assert_eq!(r.index, -1);
        assert!(last_error().unwrap().contains(msg));
    }
    let r = unsafe { lib::find_most_similar(ptr::null(), ptrs.as_ptr(), 1, 0) };
    assert_eq!(r.index, -1);
    assert!(last_error().unwrap().contains("query is NULL"));

    unsafe { lib::free_cstring(ptr::null_mut()) };
    assert!(lib::is_similarity_model_initialized(), "errors leave the model usable");
}

#[test]
fn concurrent_calls_agree() {
    init();
    let want = embedding("concurrency in the router");
    let handles: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| (0..3).map(|_| embedding("concurrency in the router")).collect::<Vec<_>>()))
        .collect();
    for h in handles {
        for got in h.join().unwrap() {
            let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5);
        }
    }
}

/// The embedding of `text` with its token count and truncation flag.
fn embed_with_info(text: &str, max_length: i32) -> (Vec<f32>, i32, bool) {
    let s = c(text);
    let r = unsafe { lib::get_text_embedding(s.as_ptr(), max_length) };
    assert!(!r.error, "embedding failed: {:?}", last_error());
    let v = unsafe { std::slice::from_raw_parts(r.data, r.length as usize) }.to_vec();
    unsafe { lib::free_embedding(r.data, r.length) };
    (v, r.token_count, r.truncated)
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn long_texts_are_truncated_at_the_token_level_and_reported() {
    init();
    // "word" is one token: n words are n + 2 tokens with [CLS] and [SEP].
    let (short, count, truncated) = embed_with_info("word word word", 0);
    assert_eq!((count, truncated), (5, false));
    assert_eq!(short.len(), 384);

    // Exactly at the default limit (256 = 254 words + 2): not truncated.
    let fits = "word ".repeat(254);
    let (at_limit, count, truncated) = embed_with_info(&fits, 0);
    assert_eq!((count, truncated), (256, false));

    // 64 KiB of words: cut to 256 tokens, and the embedding is the one of its
    // first 254 words, so the cut is at the token level, keeping the start.
    let long = format!("{fits}{}", "other ".repeat(65536 / 6));
    assert!(long.len() > 64 * 1024 - 8);
    let (cut, count, truncated) = embed_with_info(&long, 0);
    assert_eq!((count, truncated), (256, true));
    let diff = max_difference(&cut, &at_limit);
    assert!(diff < 1e-5, "truncated embedding differs from its first 256 tokens by {diff}");

    // An explicit limit, and one above the model's 512 positions (clamped).
    let (_, count, truncated) = embed_with_info(&long, 16);
    assert_eq!((count, truncated), (16, true));
    let (_, count, truncated) = embed_with_info(&long, 100_000);
    assert_eq!((count, truncated), (512, true));
    let (_, count, truncated) = embed_with_info(&fits, 100_000);
    assert_eq!((count, truncated), (256, false));
}

#[test]
fn release_memory_leaves_the_model_usable() {
    init();
    let before = embedding("memory after a trim");
    let _ = embedding(&"memory ".repeat(2000));
    let _released: bool = lib::release_memory(); // false where there is nothing to return
    assert!(last_error().is_none(), "release_memory set an error: {:?}", last_error());
    assert!(max_difference(&before, &embedding("memory after a trim")) < 1e-6);
}
