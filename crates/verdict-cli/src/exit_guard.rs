//! The exit status is `verdict`'s own: a plugin run in this process
//! (trusted) that calls `exit` cannot make a failing run exit 0.
//!
//! An `atexit` handler, registered once the command line is read (before
//! any plugin is loaded, so that a library constructor's `exit` is caught
//! too), ends the process at once with status 2 when `main` has not
//! settled its exit code, with a sentence saying why. It is registered
//! many times over: threads that call `exit` at once (the runner's, each
//! meeting the same record) each run the next handler of the list, and
//! each must meet one of these, or the last of them would end the
//! process with its own status. When `main` has,
//! it registers the handler again, so that it runs before any handler a
//! plugin registered since, and ends the process with `main`'s code at
//! once, before a plugin's exit handlers or library destructors can
//! change it. Only `main`'s own code is flushed by then (Rust flushes
//! standard output before calling `exit`).
//!
//! What cannot be caught, and is documented so: `_exit`, a fatal signal,
//! an exit handler a plugin registered itself that ends the process
//! before this one runs (during a run, exit handlers run newest first),
//! and more threads calling `exit` at once than the handler has copies.
//! Plugins isolated in worker processes (the default) can do none of
//! this to the host.

use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};

/// No code settled yet.
const UNSETTLED: i32 = -1;
/// The exit status of an exit `main` did not ask for.
const UNEXPECTED: i32 = 2;

static SETTLED: AtomicI32 = AtomicI32::new(UNSETTLED);

extern "C" fn on_exit() {
    let code = SETTLED.load(Ordering::SeqCst);
    if code == UNSETTLED {
        let message = b"error: something loaded into the verdict process (a plugin run \
in-process with --trusted-plugin, or its library's constructor) called exit() before \
verdict reached its verdict; verdict exits with status 2, whatever status it asked for\n";
        // SAFETY: write(2) and _exit(2) are safe anywhere, in any state
        // the process is in; no lock is taken.
        unsafe {
            libc::write(2, message.as_ptr().cast(), message.len());
            libc::_exit(UNEXPECTED);
        }
    }
    // SAFETY: as above.
    unsafe { libc::_exit(code) };
}

/// How many times the handler is registered: more than threads that may
/// call `exit` at once.
const COPIES: usize = 256;

/// Catches every `exit` from now on.
pub(crate) fn install() {
    for _ in 0..COPIES {
        // SAFETY: registers a function that takes nothing and returns
        // nothing.
        unsafe { libc::atexit(on_exit) };
    }
}

/// `main` ends with `code`: the process exits with it, whatever a plugin
/// registered to run at exit.
pub(crate) fn settle(code: ExitCode) -> ExitCode {
    let number = (0..=u8::MAX)
        .find(|n| ExitCode::from(*n) == code)
        .map_or(1, i32::from);
    SETTLED.store(number, Ordering::SeqCst);
    // SAFETY: as in `install`.
    unsafe { libc::atexit(on_exit) };
    code
}
