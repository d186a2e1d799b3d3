//! The scoring threads give way to the store's writer.
//!
//! A run is bound by its one SQLite writer: scoring and building a chunk
//! take less CPU than storing it. When the scoring threads are as many as
//! the cores, the scheduler shares the cores evenly between them and the
//! writer, and the writer — the bound — runs a third less of the time on
//! two cores. At a lower priority, the scoring threads run when the writer
//! waits and on the cores it does not use: 100,000 records went from
//! 1.9–2.3 s to 1.7–1.85 s on two cores (BENCHMARKS.md).

/// How much lower: nice 10, where the writer keeps the default 0. Weights
/// 110 against 1024 give the writer about 90 % of a contended core.
#[cfg(target_os = "linux")]
const NICER: libc::c_int = 10;

/// Lowers the calling thread's scheduling priority, for good: raising it
/// again needs a privilege. Threads it starts afterwards inherit it. On
/// Linux the nice value belongs to each thread (`setpriority(2)`, NOTES);
/// elsewhere this does nothing. A refusal is ignored: the run is only
/// slower.
pub(crate) fn give_way() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority reads no memory of ours; `who` 0 is the calling
    // thread under Linux's per-thread nice values.
    unsafe {
        let current = libc::getpriority(libc::PRIO_PROCESS, 0);
        libc::setpriority(libc::PRIO_PROCESS, 0, current.saturating_add(NICER).min(19));
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn only_the_calling_thread_gives_way() {
        // SAFETY: getpriority only reads the thread's nice value.
        let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let before = nice();
        let (given, child) = std::thread::spawn(move || {
            give_way();
            let given = nice();
            (given, std::thread::spawn(nice).join().unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(given, (before + NICER).min(19), "lowered");
        assert_eq!(child, given, "inherited by the threads it starts");
        assert_eq!(nice(), before, "the other threads keep theirs");
    }
}
