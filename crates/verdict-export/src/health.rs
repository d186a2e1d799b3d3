//! Whether a destination is failing, and the `tracing` events that say
//! when it starts and when it recovers.
//!
//! One warning when a destination starts failing (at most one per
//! destination every [`QUIET`]: a receiver that flaps does not flood the
//! log), and one info event when it delivers again, saying for how long
//! it failed. Events go to the `verdict` target; without a subscriber they
//! cost an atomic load.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The least time between two "failing" warnings of one destination.
pub(crate) const QUIET: Duration = Duration::from_secs(30);

/// A destination's state: up, or failing since some moment.
#[derive(Debug, Default)]
pub(crate) struct Health {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When it started failing, while it fails.
    failing_since: Option<Instant>,
    /// When the last "failing" warning went out.
    warned: Option<Instant>,
    /// Items kept for later since it started failing.
    kept: u64,
    /// Whether this failure was announced (its recovery then is too).
    announced: bool,
}

impl Health {
    /// Whether it is failing now.
    pub(crate) fn failing(&self) -> bool {
        self.lock().failing_since.is_some()
    }

    /// A delivery to `destination` failed for a reason that may pass;
    /// `kept` items were kept for later. Warns if it was up, and no
    /// warning went out in the last [`QUIET`].
    pub(crate) fn failed(&self, destination: &str, kept: usize, error: &dyn std::fmt::Display) {
        let now = Instant::now();
        let mut state = self.lock();
        state.kept += kept as u64;
        if state.failing_since.is_some() {
            return;
        }
        state.failing_since = Some(now);
        state.announced = state
            .warned
            .is_none_or(|at| now.duration_since(at) >= QUIET);
        if !state.announced {
            return;
        }
        state.warned = Some(now);
        drop(state);
        tracing::warn!(
            target: "verdict",
            destination,
            kept,
            %error,
            "destination failing: what it cannot take is kept in the local spool until it \
             answers again"
        );
    }

    /// A delivery to `destination` went through, and nothing waits: if it
    /// was failing, says it recovered.
    pub(crate) fn recovered(&self, destination: &str) {
        let mut state = self.lock();
        let Some(since) = state.failing_since.take() else {
            return;
        };
        let kept = std::mem::take(&mut state.kept);
        if !std::mem::take(&mut state.announced) {
            return;
        }
        drop(state);
        tracing::info!(
            target: "verdict",
            destination,
            failed_for = ?since.elapsed(),
            kept,
            "destination recovered: what was kept meanwhile has been delivered"
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_announced_once_and_its_recovery_once() {
        let health = Health::default();
        assert!(!health.failing());
        health.failed("otlp", 3, &"connection refused");
        health.failed("otlp", 2, &"connection refused");
        assert!(health.failing());
        assert_eq!(health.lock().kept, 5);
        assert!(health.lock().announced);
        health.recovered("otlp");
        assert!(!health.failing());
        // Failing again within the quiet period: not announced, nor its
        // recovery.
        health.failed("otlp", 1, &"timed out");
        assert!(health.failing() && !health.lock().announced);
        health.recovered("otlp");
        assert!(!health.failing());
    }
}
