//! The last error of this thread, readable through the C ABI.
//!
//! It is per OS thread because callers (Go's cgo among them) may call from
//! many threads at once: a caller reads it on the thread that made the call.

use std::{
    cell::{Cell, RefCell},
    ffi::CString,
    sync::Once,
};

thread_local! {
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
    /// True while this thread runs an exported function (inside `guard`).
    static IN_CALL: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic of this thread happened, if inside a call.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Run `f` as an exported call: a panic in it prints nothing (the caller gets
/// it as the last error, see [`panic_location`]); panics elsewhere in the
/// process still reach the hook that was installed before ours.
pub fn in_call<T>(f: impl FnOnce() -> T) -> T {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CALL.with(Cell::get) {
                let at = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info)
            }
        }));
    });
    let outer = IN_CALL.with(|c| c.replace(true));
    let value = f();
    IN_CALL.with(|c| c.set(outer));
    value
}

/// Where the last panic inside [`in_call`] on this thread happened.
pub fn panic_location() -> Option<String> {
    PANIC_AT.with(|p| p.borrow_mut().take())
}

pub fn set(message: String) {
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(message));
}

pub fn clear() {
    LAST_ERROR.with(|e| *e.borrow_mut() = None);
}

/// The last error as a newly allocated C string, or `None` if there is none.
pub fn take_c_string() -> Option<CString> {
    LAST_ERROR.with(|e| {
        e.borrow().as_ref().map(|msg| {
            // Interior NULs cannot cross as a C string: replace them.
            CString::new(msg.replace('\0', "\\0")).expect("NULs were replaced")
        })
    })
}

/// `err` as one line: its causes joined by `": "` (as anyhow's `{:#}`), with
/// candle's backtraces left out.
///
/// candle attaches a backtrace to many errors when `RUST_BACKTRACE` or
/// `RUST_LIB_BACKTRACE` is set and prints it as part of the message: a model
/// that fails to load would be many lines on the router's stderr. Callers
/// show this text to users, in logs and HTTP answers: one line.
pub fn one_line(err: &anyhow::Error) -> String {
    let text = err
        .chain()
        .map(|cause| match cause.downcast_ref::<candle_core::Error>() {
            Some(e) => candle_text(e),
            None => cause.to_string(),
        })
        .collect::<Vec<_>>()
        .join(": ");
    flatten(&text)
}

/// A candle error without its backtraces, its nested contexts joined by `": "`.
fn candle_text(err: &candle_core::Error) -> String {
    use candle_core::Error as E;
    match err {
        E::WithBacktrace { inner, .. } => candle_text(inner),
        E::Context { inner, context } => format!("{context}: {}", candle_text(inner)),
        E::WithPath { inner, path } => format!("{}: {}", path.display(), candle_text(inner)),
        other => other.to_string(),
    }
}

/// Lines joined with `"; "`, blank ones dropped.
pub fn flatten(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}
