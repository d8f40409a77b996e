//! SIGINT and SIGTERM: remove this run's scratch files, never stop halfway
//! through a swap, then exit (130 or 143).
//!
//! [`install`] blocks both signals in the main thread before any other
//! thread exists (so every thread inherits the mask) and waits for them in
//! a thread of its own with `sigwait`. Children do not inherit the mask: the
//! standard library resets it in each child before `exec`, so `cargo` and
//! `go` still stop on the terminal's Ctrl-C as before.
//!
//! - [`Scratch`]: a path that is removed when the value is dropped, and on a
//!   signal.
//! - [`critical`]: a section that a signal waits for (the few renames that
//!   publish a release); the signal is handled when it ends.

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex,
    },
};

static SCRATCH: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static CRITICAL: Mutex<()> = Mutex::new(());
/// Set by the signal thread before it waits for a critical section.
static PENDING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Whether this thread is inside [`critical`].
    static IN_CRITICAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Handle SIGINT and SIGTERM from here on. Call it first in `main`.
pub fn install() {
    // SAFETY: plain libc calls on a local, zeroed sigset_t.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return; // the default action stays: the process ends at once
        }
        set
    };
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || loop {
        let mut sig = 0;
        // SAFETY: `set` is a valid sigset_t; `sig` a valid out pointer.
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
            stop(sig);
        }
    });
    if spawned.is_err() {
        // SAFETY: as above; with no thread to wait, unblock again.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }
}

fn stop(sig: i32) -> ! {
    PENDING.store(true, Ordering::SeqCst);
    let _section = CRITICAL.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    let name = if sig == libc::SIGINT { "SIGINT" } else { "SIGTERM" };
    for path in scratch.iter() {
        remove(path);
    }
    eprintln!("xtask: {name}: stopped; {} scratch path(s) removed", scratch.len());
    std::process::exit(128 + sig)
}

fn remove(path: &Path) {
    let _ = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    };
}

/// A path of this run's own (a staging directory, a temporary file): removed
/// on drop, and on SIGINT/SIGTERM.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(path: PathBuf) -> Scratch {
        SCRATCH.lock().unwrap_or_else(|e| e.into_inner()).push(path.clone());
        Scratch(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let mut scratch = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
        remove(&self.0);
        scratch.retain(|p| p != &self.0);
    }
}

/// Run `f` with SIGINT and SIGTERM held until it returns; a signal that
/// came meanwhile ends the process right after (nothing more runs).
pub fn critical<T>(f: impl FnOnce() -> T) -> T {
    let out = {
        let _section = CRITICAL.lock().unwrap_or_else(|e| e.into_inner());
        IN_CRITICAL.with(|c| c.set(true));
        let out = f();
        IN_CRITICAL.with(|c| c.set(false));
        out
    };
    if PENDING.load(Ordering::SeqCst) {
        wait_for_exit();
    }
    out
}

/// Park this thread while the signal thread ends the process.
fn wait_for_exit() -> ! {
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// A fault-injection point for the interruption tests: with
/// `XTASK_TEST_INTERRUPT_AT=<point>` the process sends itself SIGINT here.
/// Outside a critical section it then waits for the signal to end it.
pub fn test_point(point: &str) {
    if std::env::var("XTASK_TEST_INTERRUPT_AT").is_ok_and(|p| p == point) {
        // SAFETY: signalling this process.
        unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
        // Not `CRITICAL.try_lock()`: the signal thread may hold it already,
        // and this thread would then go on writing while it removes.
        if !IN_CRITICAL.with(|c| c.get()) {
            wait_for_exit();
        }
        // Inside a critical section: go on only once the signal thread has
        // taken the signal (it then waits for the section), so that the
        // section's end sees it however the threads are scheduled.
        while !PENDING.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_is_removed_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("staging");
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/f"), "x").unwrap();
        let s = Scratch::new(dir.clone());
        assert!(SCRATCH.lock().unwrap().contains(&dir));
        drop(s);
        assert!(!dir.exists());
        assert!(!SCRATCH.lock().unwrap().contains(&dir));
    }
}
