//! Errors as one line ([`lib::one_line`]): what callers show in logs and
//! HTTP answers.

use candle_semantic_router as lib;

#[test]
fn candle_backtraces_are_left_out() {
    let bt = std::backtrace::Backtrace::force_capture();
    assert!(bt.to_string().lines().count() > 1, "a forced backtrace has frames");
    let inner = candle_core::Error::Msg("cannot find tensor embeddings.word_embeddings.weight".into());
    let err = candle_core::Error::WithBacktrace { inner: Box::new(inner), backtrace: Box::new(bt) }
        .with_path("/m/model.safetensors")
        .context("loading");
    assert!(err.to_string().lines().count() > 3, "candle's own text has the backtrace");
    let err = anyhow::Error::from(err).context("model.safetensors does not match config.json");
    assert_eq!(
        lib::one_line(&err),
        "model.safetensors does not match config.json: loading: /m/model.safetensors: \
         cannot find tensor embeddings.word_embeddings.weight"
    );
}

#[test]
fn other_errors_keep_their_causes_on_one_line() {
    let err = anyhow::anyhow!("line one\n\n  line two").context("outer");
    assert_eq!(lib::one_line(&err), "outer: line one; line two");
}
