//! Retries with exponential backoff and jitter, within a time budget: the
//! delivery policy shared by the network sinks.
//!
//! An attempt says whether its failure is worth retrying
//! ([`Retryable::Transient`]: connection refused, a timeout, 429, most 5xx)
//! or not ([`Retryable::Permanent`]: the receiver refused the request). The
//! delay before retry `n` (from 0) is drawn uniformly from
//! `[d/2, d]` with `d = min(initial · 2ⁿ, max_delay)` ("equal jitter"), so
//! that many clients retrying at once spread out, and retrying stops once
//! the next delay would end past the budget.

use std::time::{Duration, Instant};

/// How a network sink retries transient failures.
///
/// ```
/// use std::time::Duration;
/// use verdict_mlflow::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .initial_delay(Duration::from_millis(50))
///     .budget(Duration::from_secs(5));
/// assert_eq!(policy.get_budget(), Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    initial_delay: Duration,
    max_delay: Duration,
    budget: Duration,
}

impl Default for RetryPolicy {
    /// 100 ms first, doubling up to 5 s, for at most 2 minutes in all: longer
    /// than a request's own time limit (30 s by default), so that a request
    /// that timed out is tried again, and long enough to ride out an
    /// overloaded server that makes requests wait 30 s for a database
    /// connection before refusing them.
    fn default() -> Self {
        RetryPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            budget: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The delay before the first retry (before jitter).
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The longest delay between two attempts (before jitter).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// How long one operation may keep retrying, from its first attempt.
    /// Zero means a single attempt.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// The time budget of one operation.
    pub fn get_budget(&self) -> Duration {
        self.budget
    }

    /// The upper bound of the delay before retry `retry` (from 0), before
    /// jitter.
    fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.initial_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The delay before retry `retry` (from 0), jitter included.
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        let half = ceiling / 2;
        let spread = (ceiling - half).as_nanos().min(u64::MAX as u128) as u64;
        half + Duration::from_nanos(rand::random_range(0..=spread))
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the budget
    /// is spent.
    ///
    /// ```
    /// use std::time::Duration;
    /// use verdict_mlflow::{RetryPolicy, Retryable};
    ///
    /// let policy = RetryPolicy::default().initial_delay(Duration::from_millis(1));
    /// let mut attempts = 0;
    /// let answer = policy.run(|| {
    ///     attempts += 1;
    ///     if attempts < 3 { Err(Retryable::Transient("busy")) } else { Ok(attempts) }
    /// });
    /// assert_eq!(answer.unwrap(), 3);
    /// ```
    pub fn run<T, E>(
        &self,
        attempt: impl FnMut() -> Result<T, Retryable<E>>,
    ) -> Result<T, GaveUp<E>> {
        self.run_while(|| true, attempt)
    }

    /// [`run`](Self::run), but gives up on a transient failure, without
    /// waiting, as soon as `keep_going` says so (another request found
    /// the server down).
    pub fn run_while<T, E>(
        &self,
        keep_going: impl Fn() -> bool,
        mut attempt: impl FnMut() -> Result<T, Retryable<E>>,
    ) -> Result<T, GaveUp<E>> {
        let start = Instant::now();
        let mut retry = 0;
        loop {
            match attempt() {
                Ok(value) => return Ok(value),
                Err(Retryable::Permanent(error)) => {
                    return Err(GaveUp {
                        error,
                        transient: false,
                        attempts: retry + 1,
                    });
                }
                Err(Retryable::GiveUp(error)) => {
                    return Err(GaveUp {
                        error,
                        transient: true,
                        attempts: retry + 1,
                    });
                }
                Err(Retryable::Transient(error)) => {
                    let delay = self.delay(retry);
                    if start.elapsed() + delay > self.budget || !keep_going() {
                        return Err(GaveUp {
                            error,
                            transient: true,
                            attempts: retry + 1,
                        });
                    }
                    std::thread::sleep(delay);
                    retry += 1;
                }
            }
        }
    }
}

/// A failed attempt, and whether to try again.
#[derive(Debug)]
pub enum Retryable<E> {
    /// Worth retrying: the receiver is down, slow, overloaded, or not
    /// ready for this yet.
    Transient(E),
    /// Not worth retrying: the receiver refused the request.
    Permanent(E),
    /// Transient, but not worth waiting for any longer now (the caller
    /// keeps a shorter limit of its own for this kind of failure).
    GiveUp(E),
}

/// Why [`RetryPolicy::run`] stopped without success.
#[derive(Debug)]
pub struct GaveUp<E> {
    /// The last attempt's error.
    pub error: E,
    /// Whether that error was transient (the budget ran out).
    pub transient: bool,
    /// How many attempts were made.
    pub attempts: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter() {
        let policy = RetryPolicy::default()
            .initial_delay(Duration::from_millis(100))
            .max_delay(Duration::from_secs(1));
        for (retry, ceiling) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (40, 1000),
        ] {
            let ceiling = Duration::from_millis(ceiling);
            for _ in 0..50 {
                let d = policy.delay(retry);
                assert!(d >= ceiling / 2 && d <= ceiling, "{retry}: {d:?}");
            }
        }
    }

    #[test]
    fn stops_on_success_permanent_failure_or_spent_budget() {
        let policy = RetryPolicy::default()
            .initial_delay(Duration::from_millis(1))
            .max_delay(Duration::from_millis(4))
            .budget(Duration::from_millis(200));
        let mut calls = 0;
        let ok: Result<u32, GaveUp<&str>> = policy.run(|| {
            calls += 1;
            if calls < 3 {
                Err(Retryable::Transient("down"))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(ok.unwrap(), 3);

        let permanent = policy
            .run(|| Err::<(), _>(Retryable::Permanent("no")))
            .unwrap_err();
        assert_eq!((permanent.attempts, permanent.transient), (1, false));

        let start = Instant::now();
        let spent = policy
            .run(|| Err::<(), _>(Retryable::Transient("down")))
            .unwrap_err();
        assert!(spent.transient && spent.attempts > 5);
        assert!(start.elapsed() <= Duration::from_millis(400));
    }
}
