//! The MLflow and Phoenix sinks told a deadline
//! (`AssessmentSink::set_deadline`, as `Recorder::shutdown_timeout` and a
//! `Spooled` sink tell it) stop retrying at it: what they could not deliver
//! by then comes back deferred, for a spool to keep, instead of the call
//! retrying for the rest of its budget (an hour here). No new request
//! starts past the deadline; one under way ends within its own timeout.
//!
//! Against real servers that fail: an HTTP server answering 503
//! (`verdict_export::testing::HttpStub`), one that accepts and never
//! answers (`verdict_export::testing::HangingReceiver`).

use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use verdict::{Assessment, AssessmentSink, Operation, Outcomes};
use verdict_export::testing::{HangingReceiver, HttpStub};
use verdict_export::{MlflowSink, PhoenixSink, RetryPolicy, WithHttpSettings as _};

/// Retries 5 to 20 ms apart for an hour: a call that ignores its deadline
/// keeps retrying far beyond the test's patience.
fn an_hour_of_retries() -> RetryPolicy {
    RetryPolicy::default()
        .initial_delay(Duration::from_millis(5))
        .max_delay(Duration::from_millis(20))
        .budget(Duration::from_secs(3600))
}

/// `n` feedbacks, each on a trace of its own.
fn feedbacks(n: usize) -> Vec<Operation> {
    (0..n as u128)
        .map(|i| {
            Operation::Log(
                Assessment::feedback("ok", true)
                    .on_trace(&format!("{:032x}", i + 1), Some("71492b10072d70de"))
                    .unwrap(),
            )
        })
        .collect()
}

/// Exports `batch` through `sink` on a thread of its own, and returns each
/// operation's outcome; fails the test if the call has not returned after
/// a minute (it would be retrying past its deadline: a bound for a test
/// that would otherwise hang, not a measure).
fn export_returning(sink: impl AssessmentSink, batch: Vec<Operation>) -> Outcomes {
    let (tx, rx) = mpsc::channel();
    let len = batch.len();
    thread::spawn(move || {
        let result = sink.export(&batch);
        let _ = tx.send(result);
    });
    let result = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the export still retries a minute after its deadline");
    Outcomes::of(&result, len)
}

/// A server that answers 503 to everything.
fn unavailable() -> HttpStub {
    HttpStub::start(|_| (503, b"{\"detail\": \"overloaded\"}".to_vec())).unwrap()
}

fn mlflow(url: &str) -> MlflowSink {
    MlflowSink::builder(url)
        .retry(an_hour_of_retries())
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

fn phoenix(url: &str) -> PhoenixSink {
    PhoenixSink::builder(url)
        .retry(an_hour_of_retries())
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// The sinks under test.
const KINDS: [&str; 2] = ["mlflow", "phoenix"];

/// A sink of `kind` for the server at `url`.
fn sink(kind: &str, url: &str) -> Arc<dyn AssessmentSink> {
    match kind {
        "mlflow" => Arc::new(mlflow(url)),
        _ => Arc::new(phoenix(url)),
    }
}

/// A server that keeps failing: each sink retries until the deadline, then
/// defers everything.
#[test]
fn retries_stop_at_the_deadline_and_what_is_left_is_deferred() {
    for kind in KINDS {
        let stub = unavailable();
        let sink = sink(kind, &stub.url());
        sink.set_deadline(Some(Instant::now() + Duration::from_secs(1)));
        let outcomes = export_returning(sink, feedbacks(3));
        assert_eq!(outcomes.deferred(), 3, "{kind}: {outcomes:?}");
        assert!(!stub.requests().is_empty(), "{kind}: it tried");
    }
}

/// Past its deadline a sink starts nothing: every operation is deferred
/// and the server sees no request. Lifted, the deadline no longer stops
/// anything: the server's answers decide again.
#[test]
fn past_the_deadline_nothing_is_sent() {
    for kind in KINDS {
        let stub = HttpStub::start(|_| (200, b"{}".to_vec())).unwrap();
        let sink = sink(kind, &stub.url());
        sink.set_deadline(Some(Instant::now()));
        let batch = feedbacks(2);
        let result = sink.export(&batch);
        let outcomes = Outcomes::of(&result, batch.len());
        assert_eq!(outcomes.deferred(), 2, "{kind}: {result:?}");
        assert!(stub.requests().is_empty(), "{kind}: {:?}", stub.requests());

        sink.set_deadline(None);
        let _ = sink.export(&batch);
        assert!(!stub.requests().is_empty(), "{kind}: sent once lifted");
    }
}

/// A server that hangs: the request under way at the deadline ends at its
/// own timeout, and none follows it.
#[test]
fn a_request_under_way_at_the_deadline_is_the_last() {
    for kind in KINDS {
        let hanging = HangingReceiver::start().unwrap();
        let sink = sink(kind, &hanging.endpoint());
        sink.set_deadline(Some(Instant::now() + Duration::from_secs(1)));
        let outcomes = export_returning(sink, feedbacks(1));
        assert_eq!(outcomes.deferred(), 1, "{kind}: {outcomes:?}");
        assert_eq!(hanging.connections(), 1, "{kind}: one request, no retry");
    }
}

/// Phoenix waits for the spans an annotation names when it does not have
/// them yet (`span_wait`, an hour here); the deadline ends that wait too.
#[test]
fn phoenix_stops_waiting_for_spans_at_the_deadline() {
    let stub = HttpStub::start(|request| {
        if request.path.contains("span_annotations") {
            (
                404,
                b"{\"detail\": \"Spans with IDs 71492b10072d70de do not exist.\"}".to_vec(),
            )
        } else {
            (200, b"{\"data\": []}".to_vec())
        }
    })
    .unwrap();
    let sink = PhoenixSink::builder(stub.url())
        .retry(an_hour_of_retries())
        .span_wait(Duration::from_secs(3600))
        .build()
        .unwrap();
    sink.set_deadline(Some(Instant::now() + Duration::from_secs(1)));
    let outcomes = export_returning(sink, feedbacks(1));
    assert_eq!(outcomes.deferred(), 1, "{outcomes:?}");
    assert!(!stub.requests().is_empty(), "it tried");
}
