//! How one side tells the other that its part is written: a number in
//! the shared header, which the waiting side spins on for a little while
//! before it sleeps on the socket, where a byte then wakes it.
//!
//! The decision: **spin first, then sleep**. A side that finds its
//! answer while spinning costs no system call and no scheduler wake-up,
//! which for a cheap scorer on a batch was most of a round trip. A side
//! that must sleep says so in the header before it checks one last time,
//! and the other side rings only then, after its own number is
//! published: between the two fences, one of them sees the other's
//! write, so no wake-up is lost. The alternative, a byte each way every
//! time, paid a send, a poll and a receive per side per batch. A futex in
//! the shared memory would make the sleeping path cheaper, but would not
//! tell the host that its worker died, which the socket's end of file
//! does at once.
//!
//! A worker can write any value into the header. The host reads a
//! worker's number only to stop waiting (what it then reads is checked
//! like every reply), and rings without blocking, so a worker that never
//! reads its bells cannot hold the host up.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

/// How long a side spins before it sleeps: about a cheap batch's work,
/// so that a reply or the next request usually comes within it.
const SPIN: Duration = Duration::from_micros(50);
/// After this many spins in a row that came to nothing, a side sleeps
/// at once for as many waits before it spins again.
const MOST_SKIPPED: u32 = 64;

/// Whether to spin before sleeping, learnt from how spinning went: on a
/// machine whose cores are all busy, the other side rarely answers
/// within a spin, and spinning only takes the processor from it. Each
/// spin that comes to nothing doubles the number of waits that sleep at
/// once (up to [`MOST_SKIPPED`]); one that succeeds starts over.
#[derive(Debug, Default)]
pub(crate) struct Spinner {
    /// Waits left that sleep at once.
    skip: u32,
    /// How many waits the next failed spin skips.
    backoff: u32,
}

impl Spinner {
    /// Spins until `ready` holds, for at most [`SPIN`], unless recent
    /// spins came to nothing; whether it held. It yields the processor
    /// between rounds: a side that spins without yielding can keep the
    /// one it waits for from running (on a virtual machine, from being
    /// scheduled at all).
    pub(crate) fn spin(&mut self, mut ready: impl FnMut() -> bool) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return ready();
        }
        let start = Instant::now();
        loop {
            for _ in 0..64 {
                if ready() {
                    self.backoff = 0;
                    return true;
                }
                std::hint::spin_loop();
            }
            if start.elapsed() >= SPIN {
                self.backoff = (self.backoff * 2).clamp(1, MOST_SKIPPED);
                self.skip = self.backoff;
                return ready();
            }
            std::thread::yield_now();
        }
    }
}

/// Says this side is about to sleep (`asleep`, its own field of the
/// header), then checks `ready` one last time: true if it need not sleep
/// after all. Call [`awake`] once it is done waiting, either way.
pub(crate) fn about_to_sleep(asleep: &AtomicU64, ready: impl FnOnce() -> bool) -> bool {
    asleep.store(1, Ordering::Relaxed);
    fence(Ordering::SeqCst);
    ready()
}

/// Says this side is no longer asleep.
pub(crate) fn awake(asleep: &AtomicU64) {
    asleep.store(0, Ordering::Relaxed);
}

/// Wakes the other side if it said it sleeps (`asleep`, its field of the
/// header). Call it after publishing this side's number. Never blocks: a
/// socket full of bells already wakes the other side.
pub(crate) fn ring(socket: &UnixStream, asleep: &AtomicU64) -> io::Result<()> {
    fence(Ordering::SeqCst);
    if asleep.load(Ordering::Relaxed) == 0 {
        return Ok(());
    }
    loop {
        // SAFETY: a one-byte send from a live buffer on our own socket.
        let sent = unsafe {
            libc::send(
                socket.as_raw_fd(),
                [1u8].as_ptr().cast(),
                1,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if sent >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(()),
            _ => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn ringing_a_side_that_never_reads_its_bells_never_blocks() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let asleep = AtomicU64::new(1);
        // Far more bells than a socket's buffer holds: a worker that says
        // it sleeps and never reads must not hold its host up.
        for _ in 0..1_000_000 {
            ring(&ours, &asleep).unwrap();
        }
        drop(theirs);
        // Its end gone, ringing says so.
        assert!(ring(&ours, &asleep).is_err());
    }

    #[test]
    fn a_side_that_is_awake_is_not_rung() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        theirs.set_nonblocking(true).unwrap();
        let asleep = AtomicU64::new(0);
        ring(&ours, &asleep).unwrap();
        let mut bell = [0u8; 1];
        assert_eq!(
            (&theirs).read(&mut bell).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        asleep.store(1, Ordering::Relaxed);
        ring(&ours, &asleep).unwrap();
        assert_eq!((&theirs).read(&mut bell).unwrap(), 1);
    }

    #[test]
    fn spins_that_come_to_nothing_back_off_and_one_that_succeeds_starts_over() {
        let mut spinner = Spinner::default();
        assert!(!spinner.spin(|| false));
        assert_eq!(spinner.skip, 1);
        assert!(!spinner.spin(|| false), "skipped: sleeps at once");
        assert!(!spinner.spin(|| false));
        assert_eq!(spinner.skip, 2);
        for _ in 0..10 {
            spinner.skip = 0;
            spinner.spin(|| false);
        }
        assert_eq!(spinner.skip, MOST_SKIPPED);
        spinner.skip = 0;
        assert!(spinner.spin(|| true));
        assert_eq!(spinner.backoff, 0);
    }
}
