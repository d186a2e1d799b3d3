//! Adaptive concurrency: how many requests a network sink keeps in flight
//! at once, raised slowly while the server copes and cut when it says it
//! does not (AIMD, as TCP's congestion window).
//!
//! Every request takes a [`Permit`] from an [`AdaptiveLimit`] and returns
//! it with how the request went. A success raises the limit by `1/limit`
//! (about one more request in flight per round of `limit` successes); an
//! overload signal — 429, a 5xx such as MLflow's "database is locked" or an
//! exhausted connection pool, a timeout, a dropped connection — halves it,
//! at most once per [`DECREASE_INTERVAL`] so that one burst of failures
//! from requests sent together counts once. The limit stays between 1 and
//! the configured maximum.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Failures within this time of a cut belong to the same overload.
pub(crate) const DECREASE_INTERVAL: Duration = Duration::from_millis(250);

/// How a request went, for the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// The server answered (success, or a refusal that is not overload).
    Fine,
    /// The server is overloaded or unreachable: back off.
    Overloaded,
}

#[derive(Debug)]
struct State {
    limit: f64,
    in_flight: usize,
    last_cut: Option<Instant>,
    lowest: f64,
    cuts: u64,
}

/// An AIMD limit on requests in flight, shared by the threads of a sink.
#[derive(Debug)]
pub(crate) struct AdaptiveLimit {
    state: Mutex<State>,
    room: Condvar,
    max: usize,
}

/// A snapshot of an [`AdaptiveLimit`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LimitStats {
    /// The current limit (requests in flight at once).
    pub(crate) limit: usize,
    /// The lowest it has been.
    pub(crate) lowest: usize,
    /// How many times it was cut.
    pub(crate) cuts: u64,
}

impl AdaptiveLimit {
    /// A limit that starts at `initial` and stays within `1..=max`.
    pub(crate) fn new(initial: usize, max: usize) -> Self {
        let max = max.max(1);
        let initial = initial.clamp(1, max) as f64;
        AdaptiveLimit {
            state: Mutex::new(State {
                limit: initial,
                in_flight: 0,
                last_cut: None,
                lowest: initial,
                cuts: 0,
            }),
            room: Condvar::new(),
            max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until fewer requests than the limit are in flight, and counts
    /// one more.
    pub(crate) fn acquire(&self) -> Permit<'_> {
        let mut state = self.lock();
        while state.in_flight >= state.limit as usize {
            state = self
                .room
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.in_flight += 1;
        Permit {
            limit: self,
            done: false,
        }
    }

    fn release(&self, signal: Signal) {
        let mut state = self.lock();
        state.in_flight -= 1;
        match signal {
            Signal::Fine => {
                state.limit = (state.limit + 1.0 / state.limit).min(self.max as f64);
            }
            Signal::Overloaded => {
                let now = Instant::now();
                let recent = state
                    .last_cut
                    .is_some_and(|at| now.duration_since(at) < DECREASE_INTERVAL);
                if !recent {
                    state.limit = (state.limit / 2.0).max(1.0);
                    state.last_cut = Some(now);
                    state.lowest = state.lowest.min(state.limit);
                    state.cuts += 1;
                }
            }
        }
        drop(state);
        self.room.notify_all();
    }

    /// The limit now, its lowest value, and how often it was cut.
    pub(crate) fn stats(&self) -> LimitStats {
        let state = self.lock();
        LimitStats {
            limit: state.limit as usize,
            lowest: state.lowest as usize,
            cuts: state.cuts,
        }
    }
}

/// One request in flight; give it back with [`Permit::finish`]. Dropped
/// without it (a panic), it counts as fine.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    limit: &'a AdaptiveLimit,
    done: bool,
}

impl Permit<'_> {
    /// Ends the request, telling the limit how it went.
    pub(crate) fn finish(mut self, signal: Signal) {
        self.done = true;
        self.limit.release(signal);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.limit.release(Signal::Fine);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn grows_slowly_on_success_and_halves_on_overload() {
        let limit = AdaptiveLimit::new(2, 8);
        for _ in 0..2 {
            limit.acquire().finish(Signal::Fine);
        }
        // 2 → 2.5 → 2.9: still 2 in flight at most.
        assert_eq!(limit.stats().limit, 2);
        for _ in 0..40 {
            limit.acquire().finish(Signal::Fine);
        }
        assert_eq!(limit.stats().limit, 8, "capped at the maximum");

        limit.acquire().finish(Signal::Overloaded);
        // A second failure of the same burst does not cut again.
        limit.acquire().finish(Signal::Overloaded);
        let stats = limit.stats();
        assert_eq!((stats.limit, stats.lowest, stats.cuts), (4, 2, 1));

        for _ in 0..5 {
            std::thread::sleep(DECREASE_INTERVAL);
            limit.acquire().finish(Signal::Overloaded);
        }
        let stats = limit.stats();
        assert_eq!((stats.limit, stats.lowest), (1, 1), "never below one");
    }

    #[test]
    fn never_more_in_flight_than_the_limit() {
        let limit = Arc::new(AdaptiveLimit::new(3, 3));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let permit = limit.acquire();
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        permit.finish(Signal::Fine);
                    }
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= 3);
    }
}
