//! The C ABI, in one test binary: each test binary is one more release link
//! of all of candle.
//!
//! - `model`: the calls on the real all-MiniLM-L6-v2 model;
//! - `errors`: errors as one line;
//! - `before_init` and `load_errors`: tests that need a process of their own
//!   (nothing has initialised the model; `RUST_BACKTRACE` is read once),
//!   which run again in a child process of this binary
//!   ([`common::own_process`]).

mod before_init;
mod common;
mod errors;
mod load_errors;
mod model;
