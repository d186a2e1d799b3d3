//! What more than one bench measures with. Each bench uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use verdict_scorer::OwnedRecord;

/// CPU time of the clock `CLOCK` (`clock_gettime`), in nanoseconds: the
/// work done, which other work on the machine does not inflate as it does
/// wall time.
#[derive(Default)]
pub(crate) struct CpuTime<const CLOCK: libc::clockid_t>;

/// CPU time of the whole process (every thread: the caller, a recorder's
/// worker, the store's checkpointer, an in-process receiver).
pub(crate) type ProcessCpuTime = CpuTime<{ libc::CLOCK_PROCESS_CPUTIME_ID }>;

/// CPU time of the calling thread: the time it ran, whatever else runs on
/// the machine.
pub(crate) type ThreadCpuTime = CpuTime<{ libc::CLOCK_THREAD_CPUTIME_ID }>;

fn cpu_nanos(clock: libc::clockid_t) -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to write into.
    let rc = unsafe { libc::clock_gettime(clock, &mut now) };
    assert_eq!(rc, 0, "clock_gettime({clock}) failed");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

impl<const CLOCK: libc::clockid_t> Measurement for CpuTime<CLOCK> {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        cpu_nanos(CLOCK)
    }

    fn end(&self, start: u64) -> u64 {
        cpu_nanos(CLOCK) - start
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, as wall time's.
        static NANOS: WallTime = WallTime;
        NANOS.formatter()
    }
}

/// Answers of about 20–60 characters, half of them matching, some with
/// whitespace around them.
pub(crate) fn records(n: usize) -> Vec<OwnedRecord> {
    let answers = [
        "The capital of France is Paris.",
        "Water boils at 100 degrees Celsius at sea level.",
        "  Canberra is the capital of Australia.  ",
        "The speed of light is about 299,792 km/s.",
        "Mount Everest is 8,849 metres high.",
    ];
    (0..n)
        .map(|i| {
            let expected = answers[i % answers.len()];
            let output = if i % 2 == 0 {
                expected.to_owned()
            } else {
                format!("{} Probably.", expected.trim())
            };
            OwnedRecord::new(format!("question {i}"), output)
                .with_expectation("expected_response", expected.trim())
        })
        .collect()
}

/// The plugin library cargo built for a dev-dependency.
pub(crate) fn plugin_file(crate_name: &str) -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    deps.join(format!(
        "{}{crate_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}
