//! What more than one bench measures with.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// CPU time of the whole process (every thread: the caller, a recorder's
/// worker, the store's checkpointer, an in-process receiver), in
/// nanoseconds: the work done, which other work on the machine does not
/// inflate as it does wall time.
pub(crate) struct ProcessCpuTime;

fn process_cpu_nanos() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to write into.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

impl Measurement for ProcessCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        process_cpu_nanos()
    }

    fn end(&self, start: u64) -> u64 {
        process_cpu_nanos() - start
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
