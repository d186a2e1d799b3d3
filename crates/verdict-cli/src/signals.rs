//! Signals during `verdict eval`: SIGINT (Ctrl-C), SIGTERM and SIGHUP stop
//! the run cleanly — it stops reading, stores what it has scored and is
//! kept as interrupted — and a second one of them ends the process at
//! once (the run then reads as interrupted too, since its process is
//! gone).

use verdict_eval::Interrupt;

/// The signals that stop a run, with the exit code a second one gives.
#[cfg(unix)]
const STOPPING: [i32; 3] = [
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
];

/// An [`Interrupt`] raised by the first stopping signal; a second one exits
/// with 128 + its number, as a shell reports a process a signal killed.
#[cfg(unix)]
pub(crate) fn interrupt_on_signals() -> anyhow::Result<Interrupt> {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    let interrupt = Interrupt::new();
    let seen = Arc::new(AtomicBool::new(false));
    for signal in STOPPING {
        // A signal the caller ignores stays ignored: `nohup verdict eval`
        // must outlive the terminal it started from.
        if ignored(signal) {
            continue;
        }
        // Registered first, so that it sees the flag as it was before this
        // signal: set only by an earlier one.
        signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, Arc::clone(&seen))?;
        signal_hook::flag::register(signal, Arc::clone(&seen))?;
        signal_hook::flag::register_usize(signal, interrupt.word(), signal as usize)?;
    }
    Ok(interrupt)
}

/// Whether the process ignores `signal` (as `nohup` makes it ignore
/// SIGHUP).
#[cfg(unix)]
fn ignored(signal: i32) -> bool {
    // SAFETY: sigaction with no new action only reads the current one into
    // `current`, a zeroed plain C struct.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
    }
}

/// Where signals are not Unix's, a run is never interrupted this way.
#[cfg(not(unix))]
pub(crate) fn interrupt_on_signals() -> anyhow::Result<Interrupt> {
    Ok(Interrupt::new())
}
