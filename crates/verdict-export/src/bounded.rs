//! Calls that return by a moment that may change while they wait: a sink
//! call run on a thread of its own, given up (not stopped) when its time
//! is up.
//!
//! A blocking HTTP request cannot be cancelled from outside; the OTLP
//! exporter's retries and the MLflow client's budget can each outlast a
//! grace period. So the caller does not wait for them past its own limit:
//! the call goes on in the background, and the caller keeps what it was
//! sending (spools it) as if it had failed. Rejected: shortening every
//! sink's own timeouts, which bounds one request but not its retries, and
//! would have to be done in each sink and each HTTP client.

use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often a waiting caller looks at its limit again.
const LOOK_AGAIN: Duration = Duration::from_millis(50);

/// Runs `call` on a thread of its own and waits for its result until the
/// moment `limit` gives (read again while waiting: a deadline may be set
/// meanwhile); `None` when the time was up first, when it was already up
/// (then `call` is not run), when no thread could be started, or when
/// `call` panicked: each time, the caller keeps what it was sending.
pub(crate) fn call_by<R: Send + 'static>(
    call: impl FnOnce() -> R + Send + 'static,
    limit: impl Fn() -> Option<Instant>,
) -> Option<R> {
    if limit().is_some_and(|at| Instant::now() >= at) {
        return None;
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("verdict-sink-call".into())
        .spawn(move || {
            let _ = tx.send(call());
        });
    if spawned.is_err() {
        return None;
    }
    loop {
        let wait = match limit() {
            Some(at) => {
                let now = Instant::now();
                if now >= at {
                    return None;
                }
                (at - now).min(LOOK_AGAIN)
            }
            None => LOOK_AGAIN,
        };
        match rx.recv_timeout(wait) {
            Ok(result) => return Some(result),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // The call panicked: nothing came back.
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_past_its_limit_is_given_up_and_one_in_time_answers() {
        assert_eq!(call_by(|| 7, || None), Some(7));
        let soon = Instant::now() + Duration::from_millis(100);
        let hung = call_by(
            || std::thread::sleep(Duration::from_secs(3600)),
            move || Some(soon),
        );
        assert_eq!(hung, None);
        // A limit already past runs nothing.
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let past = Instant::now();
        let result = call_by(
            move || flag.store(true, std::sync::atomic::Ordering::SeqCst),
            move || Some(past),
        );
        assert_eq!(result, None);
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
        // A limit set while the call runs is honoured.
        let limit = std::sync::Arc::new(std::sync::Mutex::new(None));
        let setter = limit.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            *setter.lock().unwrap() = Some(Instant::now());
        });
        let hung = call_by(
            || std::thread::sleep(Duration::from_secs(3600)),
            move || *limit.lock().unwrap(),
        );
        assert_eq!(hung, None);
    }
}
