//! Retries with exponential backoff and jitter, within a time budget: the
//! delivery policy shared by the network sinks.
//!
//! An attempt says whether its failure is worth retrying
//! ([`Retryable::Transient`]: connection refused, a timeout, 429, most 5xx)
//! or not ([`Retryable::Permanent`]: the receiver refused the request). The
//! delay before retry `n` (from 0) is drawn uniformly from
//! `[d/2, d]` with `d = min(initial · 2ⁿ, max_delay)` ("equal jitter"), so
//! that many clients retrying at once spread out, and retrying stops once
//! the next delay would end past the budget, or past the [`Deadline`] a
//! sink was told.

use std::sync::{Arc, Mutex, PoisonError};
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
    on_wait: Observer,
    stop: Stop,
    deadline: Option<Deadline>,
}

/// The moment by which a sink's calls must return, shared by the sink,
/// which is told it ([`AssessmentSink::set_deadline`](verdict::AssessmentSink::set_deadline)),
/// and its retry policy ([`RetryPolicy::stop_at`]), which gives up rather
/// than retry past it. Clones share the moment; it may be set, moved or
/// lifted while a call runs.
///
/// ```
/// use std::time::{Duration, Instant};
/// use verdict_mlflow::Deadline;
///
/// let deadline = Deadline::default();
/// assert!(!deadline.passed());
/// deadline.clone().set(Some(Instant::now() - Duration::from_millis(1)));
/// assert!(deadline.passed());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Deadline(Arc<Mutex<Option<Instant>>>);

impl Deadline {
    /// Sets the moment, or lifts it with `None`.
    pub fn set(&self, at: Option<Instant>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = at;
    }

    /// The moment, if one is set.
    pub fn get(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether it is set and has come.
    pub fn passed(&self) -> bool {
        self.comes_within(Duration::ZERO)
    }

    /// Whether it is set and comes within `wait` from now.
    fn comes_within(&self, wait: Duration) -> bool {
        self.get().is_some_and(|at| Instant::now() + wait >= at)
    }
}

/// The same moment: clones of one another.
impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A function a policy calls, compared by identity so that the policy
/// stays comparable.
struct Hook<F: ?Sized>(Option<Arc<F>>);

impl<F: ?Sized> Clone for Hook<F> {
    fn clone(&self) -> Self {
        Hook(self.0.clone())
    }
}

impl<F: ?Sized> Default for Hook<F> {
    fn default() -> Self {
        Hook(None)
    }
}

impl<F: ?Sized> std::fmt::Debug for Hook<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Some(..)" } else { "None" })
    }
}

impl<F: ?Sized> PartialEq for Hook<F> {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

/// When to stop retrying at once, whatever the budget says.
type Stop = Hook<dyn Fn() -> bool + Send + Sync>;

/// Where a long retry is told, so that a person sees why nothing moves.
type Observer = Hook<dyn Fn(Waiting) + Send + Sync>;

/// A retry still going on, as [`RetryPolicy::on_wait`] is told of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Waiting {
    /// Since the first attempt.
    pub elapsed: Duration,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it gives up (for now), from the first attempt.
    pub budget: Duration,
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
            on_wait: Observer::default(),
            stop: Stop::default(),
            deadline: None,
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

    /// Stops retrying, without waiting, once `stop` says so — a run
    /// interrupted by a signal — as if the budget were spent.
    pub fn stop_when(mut self, stop: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.stop = Hook(Some(Arc::new(stop)));
        self
    }

    /// Gives up on a transient failure, without waiting, once the next
    /// attempt would start at or after `deadline`'s moment (read at each
    /// failure), as if the budget ended there; what was not delivered is
    /// then deferred. The MLflow and Phoenix sinks set theirs here, and
    /// start nothing new once it has passed.
    pub fn stop_at(mut self, deadline: Deadline) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Tells `observer` of a retry that goes on: once an eighth of the
    /// budget has passed since its first attempt, then at most once per
    /// eighth (every 15 s of the default 2 minutes), before it waits
    /// again. A command shows it, so that a server that keeps failing is
    /// seen failing, not taken for a hang.
    pub fn on_wait(mut self, observer: impl Fn(Waiting) + Send + Sync + 'static) -> Self {
        self.on_wait = Hook(Some(Arc::new(observer)));
        self
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
        let every = self.budget / 8;
        let mut told = Duration::ZERO;
        loop {
            match attempt() {
                Ok(value) => return Ok(value),
                Err(Retryable::Permanent(error)) => {
                    return Err(GaveUp {
                        error,
                        transient: false,
                        attempts: retry + 1,
                        at_deadline: false,
                    });
                }
                Err(Retryable::GiveUp(error)) => {
                    return Err(GaveUp {
                        error,
                        transient: true,
                        attempts: retry + 1,
                        at_deadline: false,
                    });
                }
                Err(Retryable::Transient(error)) => {
                    let delay = self.delay(retry);
                    let stopped = self.stop.0.as_ref().is_some_and(|stop| stop());
                    let at_deadline = self
                        .deadline
                        .as_ref()
                        .is_some_and(|d| d.comes_within(delay));
                    if start.elapsed() + delay > self.budget
                        || !keep_going()
                        || stopped
                        || at_deadline
                    {
                        return Err(GaveUp {
                            error,
                            transient: true,
                            attempts: retry + 1,
                            at_deadline,
                        });
                    }
                    let elapsed = start.elapsed();
                    if let Some(observer) = &self.on_wait.0
                        && !every.is_zero()
                        && elapsed >= told + every
                    {
                        told = elapsed;
                        observer(Waiting {
                            elapsed,
                            attempts: retry + 1,
                            budget: self.budget,
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
    /// Whether that error was transient (the budget ran out, or the
    /// deadline came).
    pub transient: bool,
    /// How many attempts were made.
    pub attempts: u32,
    /// Whether retrying stopped at the deadline ([`RetryPolicy::stop_at`])
    /// rather than at the end of its budget.
    pub at_deadline: bool,
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

    #[test]
    fn a_long_retry_is_told_at_each_eighth_of_its_budget() {
        let told = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = told.clone();
        let policy = RetryPolicy::default()
            .initial_delay(Duration::from_millis(5))
            .max_delay(Duration::from_millis(20))
            .budget(Duration::from_millis(800))
            .on_wait(move |w| seen.lock().unwrap().push(w));
        let gave_up = policy
            .run(|| Err::<(), _>(Retryable::Transient("down")))
            .unwrap_err();
        let told = told.lock().unwrap();
        // 800 ms in eighths of 100 ms: about 7 notices, none before the
        // first eighth, each at least an eighth after the last.
        assert!((4..=8).contains(&told.len()), "{told:?}");
        assert!(told[0].elapsed >= Duration::from_millis(100), "{told:?}");
        for pair in told.windows(2) {
            assert!(pair[1].elapsed >= pair[0].elapsed + Duration::from_millis(100));
            assert!(pair[1].attempts > pair[0].attempts);
        }
        assert!(told.iter().all(|w| w.budget == Duration::from_millis(800)));
        assert!(told.last().unwrap().attempts < gave_up.attempts);

        // A retry that succeeds at once tells nothing.
        let quiet = Arc::new(std::sync::Mutex::new(0));
        let count = quiet.clone();
        let policy = RetryPolicy::default().on_wait(move |_| *count.lock().unwrap() += 1);
        assert_eq!(policy.run(|| Ok::<_, Retryable<()>>(1)).unwrap(), 1);
        assert_eq!(*quiet.lock().unwrap(), 0);
    }

    #[test]
    fn a_deadline_ends_the_retries_before_they_would_wait_past_it() {
        let deadline = Deadline::default();
        let policy = RetryPolicy::default()
            .initial_delay(Duration::from_millis(50))
            .max_delay(Duration::from_millis(50))
            .budget(Duration::from_secs(3600))
            .stop_at(deadline.clone());
        // Already passed: the one attempt, and no retry.
        deadline.set(Some(Instant::now()));
        let gave_up = policy
            .run(|| Err::<(), _>(Retryable::Transient("down")))
            .unwrap_err();
        assert_eq!(
            (gave_up.attempts, gave_up.transient, gave_up.at_deadline),
            (1, true, true)
        );
        // Set while it retries: it stops there.
        deadline.set(None);
        let mut attempts = 0;
        let gave_up = policy
            .run(|| {
                attempts += 1;
                if attempts == 3 {
                    deadline.set(Some(Instant::now() + Duration::from_millis(10)));
                }
                Err::<(), _>(Retryable::Transient("down"))
            })
            .unwrap_err();
        assert_eq!(
            (gave_up.attempts, gave_up.transient, gave_up.at_deadline),
            (3, true, true)
        );
        // Lifted: the budget rules again.
        deadline.set(None);
        let mut attempts = 0;
        let answer = policy.run(|| {
            attempts += 1;
            if attempts < 3 {
                Err(Retryable::Transient("down"))
            } else {
                Ok(attempts)
            }
        });
        assert_eq!(answer.unwrap(), 3);
    }

    #[test]
    fn a_stop_ends_the_retries_at_once() {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let raised = stop.clone();
        let policy = RetryPolicy::default()
            .initial_delay(Duration::from_millis(5))
            .max_delay(Duration::from_millis(5))
            .stop_when(move || raised.load(std::sync::atomic::Ordering::SeqCst));
        let mut attempts = 0;
        let start = Instant::now();
        let gave_up = policy
            .run(|| {
                attempts += 1;
                if attempts == 3 {
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                Err::<(), _>(Retryable::Transient("down"))
            })
            .unwrap_err();
        assert_eq!((gave_up.attempts, gave_up.transient), (3, true));
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not the 2-minute budget"
        );
    }
}
