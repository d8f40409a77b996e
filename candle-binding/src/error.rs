//! The last error of this thread, readable through the C ABI.
//!
//! It is per OS thread because callers (Go's cgo among them) may call from
//! many threads at once: a caller reads it on the thread that made the call.

use std::{cell::RefCell, ffi::CString};

thread_local! {
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
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
