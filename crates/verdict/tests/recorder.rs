//! The recorder: delivery on flush, shutdown and drop; fan-out; failing and
//! panicking sinks; processors, and the operations they hold counted apart
//! until they report them on their ledger; the three overflow policies
//! with a sink that blocks until the test lets it go; ordering; concurrent
//! recording; its errors apart from the model's.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use verdict::{
    Assessment, AssessmentId, AssessmentProcessor, AssessmentSink, AssessmentUpdate, Counters,
    DeliveryLedger, Error, InMemorySink, MemoryStore, Operation, Outcome, Overflow, Recorder,
    RecorderError, SinkError,
};

const TRACE: &str = "0fb07256509eb9d22d07f42f7eb9f24d";

fn feedback(i: usize) -> Assessment {
    Assessment::feedback("score", i)
        .on_trace(TRACE, Some("71492b10072d70de"))
        .unwrap()
}

fn ids(sink: &InMemorySink) -> Vec<AssessmentId> {
    sink.assessments().iter().map(Assessment::id).collect()
}

/// A sink that, while closed, blocks every export until the test opens it,
/// and tells the test each time an export starts. Exports then go to an
/// [`InMemorySink`].
#[derive(Clone)]
struct Gate {
    state: Arc<(Mutex<bool>, Condvar)>,
    entered: Arc<Mutex<mpsc::Sender<usize>>>,
    shutdowns: Arc<AtomicUsize>,
    inner: InMemorySink,
}

impl Gate {
    fn closed() -> (Gate, mpsc::Receiver<usize>) {
        let (tx, rx) = mpsc::channel();
        let gate = Gate {
            state: Arc::new((Mutex::new(false), Condvar::new())),
            entered: Arc::new(Mutex::new(tx)),
            shutdowns: Arc::default(),
            inner: InMemorySink::default(),
        };
        (gate, rx)
    }

    fn open(&self) {
        let (open, cv) = &*self.state;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }

    fn open_after(&self, delay: Duration) -> thread::JoinHandle<()> {
        let gate = self.clone();
        thread::spawn(move || {
            thread::sleep(delay);
            gate.open();
        })
    }
}

impl AssessmentSink for Gate {
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        let _ = self.entered.lock().unwrap().send(batch.len());
        let (open, cv) = &*self.state;
        let _open = cv.wait_while(open.lock().unwrap(), |open| !*open).unwrap();
        self.inner.export(batch)
    }

    fn shutdown(&self) -> Result<(), SinkError> {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn name(&self) -> &str {
        "gate"
    }
}

/// A recorder whose worker is stuck inside the gate's first export, with an
/// empty queue of `capacity` slots: what is recorded next stays queued
/// until the gate opens.
fn stuck_recorder(capacity: usize, overflow: Overflow) -> (Recorder, Gate, AssessmentId) {
    let (gate, entered) = Gate::closed();
    let recorder = Recorder::builder()
        .sink(gate.clone())
        .capacity(capacity)
        .max_batch(1)
        .overflow(overflow)
        .build();
    let first = recorder.record(feedback(0)).unwrap();
    assert_eq!(
        entered.recv_timeout(Duration::from_secs(10)).unwrap(),
        1,
        "the worker took the first operation"
    );
    assert_eq!(recorder.queued(), 0);
    (recorder, gate, first)
}

/// Polls `condition` until it holds; fails after ten seconds.
fn wait_until(condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        thread::sleep(Duration::from_millis(1));
    }
}

/// The sink failures a recorder reported: sink name and message.
type ErrorLog = Arc<Mutex<Vec<(String, String)>>>;

/// Records the sink failures the recorder reports.
fn error_log() -> (ErrorLog, impl Fn(&str, &SinkError) + Send + Sync + 'static) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let handler_log = Arc::clone(&log);
    let handler = move |sink: &str, error: &SinkError| {
        handler_log
            .lock()
            .unwrap()
            .push((sink.to_owned(), error.to_string()));
    };
    (log, handler)
}

#[test]
fn flush_delivers_everything_recorded() {
    let sink = InMemorySink::default();
    let recorder = Recorder::builder().sink(sink.clone()).max_batch(7).build();
    let mut recorded = Vec::new();
    for i in 0..100 {
        recorded.push(recorder.record(feedback(i)).unwrap());
    }
    recorder.flush().unwrap();
    let c = recorder.counters();
    assert_eq!(c.recorded, 100);
    assert_eq!(c.delivered, 100);
    assert_eq!((c.failed, c.dropped, c.rejected), (0, 0, 0));
    assert_eq!(ids(&sink), recorded, "all delivered, in order");
    assert_eq!(recorder.queued(), 0);
}

#[test]
fn flush_waits_for_a_slow_sink() {
    let (recorder, gate, first) = stuck_recorder(16, Overflow::Reject);
    let second = recorder.record(feedback(1)).unwrap();
    let opener = gate.open_after(Duration::from_millis(50));
    recorder.flush().unwrap();
    assert_eq!(ids(&gate.inner), vec![first, second]);
    assert_eq!(recorder.counters().delivered, 2);
    opener.join().unwrap();
}

#[test]
fn shutdown_delivers_what_is_queued_then_refuses() {
    let (recorder, gate, first) = stuck_recorder(16, Overflow::Reject);
    let other_handle = recorder.clone();
    let mut expected = vec![first];
    for i in 1..6 {
        expected.push(recorder.record(feedback(i)).unwrap());
    }
    assert_eq!(recorder.queued(), 5, "still queued when shutdown starts");

    let opener = gate.open_after(Duration::from_millis(50));
    recorder.shutdown().unwrap();
    opener.join().unwrap();

    assert_eq!(ids(&gate.inner), expected);
    assert_eq!(gate.shutdowns.load(Ordering::SeqCst), 1, "sink shut down");
    let c = recorder.counters();
    assert_eq!((c.recorded, c.delivered), (6, 6));

    assert!(matches!(
        recorder.record(feedback(9)),
        Err(RecorderError::Shutdown)
    ));
    assert!(matches!(
        other_handle.record(feedback(9)),
        Err(RecorderError::Shutdown)
    ));
    let trace = verdict::parse_trace_id(TRACE).unwrap();
    assert!(matches!(
        recorder.delete(trace, first),
        Err(RecorderError::Shutdown)
    ));
    assert!(matches!(recorder.flush(), Err(RecorderError::Shutdown)));
    let err = recorder.record(feedback(9)).unwrap_err();
    assert!(err.to_string().contains("shut down"), "{err}");
    assert_eq!(recorder.counters().recorded, 6, "refused calls not counted");

    // A second shutdown, from either handle, is fine and changes nothing.
    recorder.shutdown().unwrap();
    other_handle.shutdown().unwrap();
    assert_eq!(gate.shutdowns.load(Ordering::SeqCst), 1);
    drop(other_handle);
    drop(recorder);
    assert_eq!(gate.shutdowns.load(Ordering::SeqCst), 1);
}

#[test]
fn dropping_the_last_handle_delivers_what_is_queued() {
    let (recorder, gate, first) = stuck_recorder(16, Overflow::Reject);
    let clone = recorder.clone();
    let mut expected = vec![first];
    for i in 1..4 {
        expected.push(clone.record(feedback(i)).unwrap());
    }
    drop(clone);
    // Not the last handle: the recorder still runs.
    expected.push(recorder.record(feedback(4)).unwrap());
    assert_eq!(gate.shutdowns.load(Ordering::SeqCst), 0);
    assert_eq!(recorder.queued(), 4);

    let opener = gate.open_after(Duration::from_millis(50));
    drop(recorder);
    opener.join().unwrap();
    assert_eq!(ids(&gate.inner), expected);
    assert_eq!(gate.shutdowns.load(Ordering::SeqCst), 1);
}

#[test]
fn every_sink_receives_every_operation() {
    let a = InMemorySink::default();
    let b = InMemorySink::default();
    let recorder = Recorder::builder()
        .sink(a.clone())
        .sink(b.clone())
        .max_batch(3)
        .build();
    let mut recorded = Vec::new();
    for i in 0..10 {
        recorded.push(recorder.record(feedback(i)).unwrap());
    }
    let trace = verdict::parse_trace_id(TRACE).unwrap();
    recorder.delete(trace, recorded[0]).unwrap();
    recorder.flush().unwrap();

    assert_eq!(a.operations().len(), 11);
    assert_eq!(a.operations(), b.operations());
    assert_eq!(ids(&a), recorded);
    assert_eq!(recorder.counters().delivered, 11);
}

/// A sink that fails every export (and, if asked, every flush).
struct Failing {
    fail_flush: bool,
    exports: Arc<AtomicUsize>,
}

impl AssessmentSink for Failing {
    fn export(&self, _batch: &[Operation]) -> Result<(), SinkError> {
        self.exports.fetch_add(1, Ordering::SeqCst);
        Err(SinkError::with_source(
            "collector unreachable",
            std::io::Error::other("connection refused"),
        ))
    }

    fn flush(&self) -> Result<(), SinkError> {
        if self.fail_flush {
            Err(SinkError::new("flush failed"))
        } else {
            Ok(())
        }
    }

    fn name(&self) -> &str {
        "failing"
    }
}

fn sink_errors(err: &RecorderError) -> Vec<String> {
    match err {
        RecorderError::Sinks(errors) => errors.iter().map(ToString::to_string).collect(),
        other => panic!("expected RecorderError::Sinks, got {other:?}"),
    }
}

#[test]
fn a_failing_sink_is_counted_and_reported_by_name() {
    let (log, handler) = error_log();
    let good = InMemorySink::default();
    let exports = Arc::new(AtomicUsize::new(0));
    let recorder = Recorder::builder()
        .sink(Failing {
            fail_flush: false,
            exports: Arc::clone(&exports),
        })
        .sink(good.clone())
        .max_batch(1)
        .on_error(handler)
        .build();
    for i in 0..3 {
        recorder.record(feedback(i)).unwrap();
    }
    // The flush reports the export failures since the last flush.
    let err = recorder.flush().unwrap_err();
    let errors = sink_errors(&err);
    assert_eq!(errors.len(), 3, "one per failed batch: {err}");
    for e in &errors {
        assert!(e.contains("failing"), "{e}");
        assert!(e.contains("collector unreachable"), "{e}");
    }

    let c = recorder.counters();
    assert_eq!(c.recorded, 3);
    assert_eq!(c.failed, 3);
    assert_eq!(c.delivered, 0);
    assert_eq!(c.recorded, c.delivered + c.failed);
    assert_eq!(exports.load(Ordering::SeqCst), 3, "one export per batch");
    assert_eq!(good.assessments().len(), 3, "the other sink still got all");

    {
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 3, "{log:?}");
        for (sink, message) in log.iter() {
            assert_eq!(sink, "failing");
            assert!(message.contains("collector unreachable"), "{message}");
            assert!(message.contains("connection refused"), "{message}");
        }
    }

    // Reported once: a flush with nothing new failing succeeds.
    recorder.flush().unwrap();
}

#[test]
fn a_failing_flush_names_the_sink_in_the_error() {
    let (log, handler) = error_log();
    let recorder = Recorder::builder()
        .sink(Failing {
            fail_flush: true,
            exports: Arc::default(),
        })
        .sink(InMemorySink::default())
        .on_error(handler)
        .build();
    recorder.record(feedback(0)).unwrap();
    let err = recorder.flush().unwrap_err();
    let errors = sink_errors(&err);
    assert_eq!(errors.len(), 2, "the export and the flush: {err}");
    assert!(errors[0].contains("collector unreachable"), "{err}");
    assert!(errors[1].contains("flush failed"), "{err}");
    let text = err.to_string();
    assert!(text.starts_with("2 sink(s) failed"), "{text}");
    assert!(text.contains("sink failing"), "{text}");
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().all(|(sink, _)| sink == "failing"));
}

/// A sink that fails on `failed` operations of every batch, the first
/// ones (refused) or the last ones (deferred), and delivers the others.
struct Partial {
    failed: usize,
    last: bool,
}

impl AssessmentSink for Partial {
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        let len = batch.len();
        let outcomes = (0..len)
            .map(|i| {
                match (
                    self.last,
                    i < self.failed,
                    i >= len.saturating_sub(self.failed),
                ) {
                    (false, true, _) => Outcome::refused("invalid"),
                    (true, _, true) => Outcome::deferred("overloaded"),
                    _ => Outcome::Delivered,
                }
            })
            .collect();
        Err(SinkError::new("some not delivered").with_outcomes(outcomes))
    }

    fn name(&self) -> &str {
        "partial"
    }
}

#[test]
fn a_partly_failing_sink_counts_only_what_failed() {
    let (gate, entered) = Gate::closed();
    let recorder = Recorder::builder()
        .sink(gate.clone())
        .sink(Partial {
            failed: 1,
            last: false,
        })
        .sink(Partial {
            failed: 2,
            last: true,
        })
        .on_error(|_, _| {})
        .build();
    // Make the batch deterministic: one operation while the gate is closed,
    // then four queued behind it, delivered as one batch.
    recorder.record(feedback(0)).unwrap();
    entered.recv_timeout(Duration::from_secs(10)).unwrap();
    for i in 1..5 {
        recorder.record(feedback(i)).unwrap();
    }
    gate.open();
    let err = recorder.flush().unwrap_err();
    assert_eq!(sink_errors(&err).len(), 4, "{err}");
    assert_eq!(entered.try_iter().collect::<Vec<_>>(), vec![4]);
    let c = recorder.counters();
    // Batch 1 (one op): both fail on it. Batch 2 (four ops): the first
    // refused by one sink, the last two deferred by the other: three
    // failed, each once; the second delivered by every sink.
    assert_eq!(c.failed, 1 + 3, "{c:?}");
    assert_eq!(c.delivered, 1, "{c:?}");
    assert_eq!(c.recorded, c.delivered + c.failed);
}

/// A sink that panics on every export.
struct Panicking;

impl AssessmentSink for Panicking {
    fn export(&self, _batch: &[Operation]) -> Result<(), SinkError> {
        panic!("kaboom");
    }

    fn name(&self) -> &str {
        "panicking"
    }
}

#[test]
fn a_panicking_sink_does_not_kill_the_worker() {
    let (log, handler) = error_log();
    let good = InMemorySink::default();
    let recorder = Recorder::builder()
        .sink(Panicking)
        .sink(good.clone())
        .on_error(handler)
        .build();

    let mut recorded = vec![recorder.record(feedback(0)).unwrap()];
    let err = recorder.flush().unwrap_err();
    assert!(err.to_string().contains("kaboom"), "{err}");
    for i in 1..5 {
        recorded.push(recorder.record(feedback(i)).unwrap());
    }
    assert!(recorder.flush().is_err());
    recorded.push(recorder.record(feedback(5)).unwrap());
    let err = recorder.shutdown().unwrap_err();
    assert!(err.to_string().contains("sink panicking"), "{err}");

    assert_eq!(ids(&good), recorded, "later batches still delivered");
    let c = recorder.counters();
    assert_eq!(c.recorded, 6);
    assert_eq!(c.failed, 6);
    assert_eq!(c.delivered, 0);

    let log = log.lock().unwrap();
    assert!(log.len() >= 3, "one report per batch: {log:?}");
    for (sink, message) in log.iter() {
        assert_eq!(sink, "panicking");
        assert!(message.contains("panicked"), "{message}");
        assert!(message.contains("kaboom"), "{message}");
    }
}

#[test]
fn overflow_reject_fails_the_call_and_counts_it() {
    let (recorder, gate, first) = stuck_recorder(2, Overflow::Reject);
    let second = recorder.record(feedback(1)).unwrap();
    let third = recorder.record(feedback(2)).unwrap();
    assert_eq!(recorder.queued(), 2);

    for _ in 0..3 {
        let err = recorder.record(feedback(3)).unwrap_err();
        assert!(
            matches!(err, RecorderError::QueueFull { capacity: 2 }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("Overflow::Block"), "{text}");
    }
    let trace = verdict::parse_trace_id(TRACE).unwrap();
    assert!(matches!(
        recorder.delete(trace, first),
        Err(RecorderError::QueueFull { .. })
    ));
    let c = recorder.counters();
    assert_eq!(c.rejected, 4);
    assert_eq!(c.recorded, 3, "rejected calls are not recorded");
    assert_eq!(c.dropped, 0);

    gate.open();
    recorder.flush().unwrap();
    assert_eq!(ids(&gate.inner), vec![first, second, third]);
    let c = recorder.counters();
    assert_eq!((c.recorded, c.delivered, c.rejected), (3, 3, 4));

    // Room again once the sink caught up.
    recorder.record(feedback(4)).unwrap();
}

#[test]
fn overflow_drop_and_count_succeeds_counts_and_loses_nothing_else() {
    let (recorder, gate, first) = stuck_recorder(2, Overflow::DropAndCount);
    let mut kept = vec![first];
    kept.push(recorder.record(feedback(1)).unwrap());
    kept.push(recorder.record(feedback(2)).unwrap());
    for i in 3..8 {
        // Ok, though nothing was queued.
        recorder.record(feedback(i)).unwrap();
    }
    let c = recorder.counters();
    assert_eq!(c.dropped, 5);
    assert_eq!(c.recorded, 3);
    assert_eq!(c.rejected, 0);

    gate.open();
    recorder.flush().unwrap();
    let c = recorder.counters();
    assert_eq!(c.recorded, c.delivered, "{c:?}");
    assert_eq!(c.delivered, 3);
    assert_eq!(ids(&gate.inner), kept, "exactly the accepted ones");
}

#[test]
fn overflow_block_waits_for_room_and_delivers_everything() {
    let (recorder, gate, first) = stuck_recorder(2, Overflow::Block);
    let producer = {
        let recorder = recorder.clone();
        thread::spawn(move || {
            (1..11)
                .map(|i| recorder.record(feedback(i)).unwrap())
                .collect::<Vec<_>>()
        })
    };
    // The queue fills and the producer waits for the gate.
    wait_until(|| recorder.queued() == 2);
    thread::sleep(Duration::from_millis(50));
    assert!(!producer.is_finished(), "the producer should be blocked");
    assert_eq!(recorder.queued(), 2);
    assert_eq!(
        recorder.counters().rejected + recorder.counters().dropped,
        0
    );

    gate.open();
    let mut expected = vec![first];
    expected.extend(producer.join().unwrap());
    recorder.flush().unwrap();
    assert_eq!(ids(&gate.inner), expected);
    let c = recorder.counters();
    assert_eq!(
        c,
        Counters {
            recorded: 11,
            delivered: 11,
            ..Counters::default()
        }
    );
}

#[test]
fn updates_and_deletes_reach_the_sinks_in_order() {
    let sink = InMemorySink::default();
    let store = MemoryStore::default();
    let recorder = Recorder::builder()
        .sink(sink.clone())
        .sink(store.clone())
        .build();
    let a = feedback(1);
    let b = feedback(2);
    let trace = a.trace_id();
    let update = AssessmentUpdate::builder(trace, a.id())
        .feedback(0.25)
        .rationale("re-scored")
        .build()
        .unwrap();
    let override_of_b = Assessment::override_of(&b, 3).on(b.target()).unwrap();

    recorder.record(a.clone()).unwrap();
    recorder.update(update.clone()).unwrap();
    recorder.record(b.clone()).unwrap();
    recorder.record(override_of_b.clone()).unwrap();
    recorder.delete(trace, a.id()).unwrap();
    recorder.flush().unwrap();

    assert_eq!(
        sink.operations(),
        vec![
            Operation::Log(a.clone()),
            Operation::Update(update),
            Operation::Log(b.clone()),
            Operation::Log(override_of_b.clone()),
            Operation::Delete {
                trace_id: trace,
                assessment_id: a.id(),
            },
        ]
    );
    // Applied in that order by a store: the update found `a`, then `a` was
    // deleted; `b` is overridden.
    assert_eq!(recorder.counters().failed, 0, "the store accepted all");
    assert!(matches!(
        store.get(trace, a.id()),
        Err(Error::NotFound { .. })
    ));
    assert!(!store.get(trace, b.id()).unwrap().is_valid());
    assert!(store.get(trace, override_of_b.id()).unwrap().is_valid());
}

#[test]
fn concurrent_recording_loses_nothing() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 1000;
    let sink = InMemorySink::default();
    let recorder = Recorder::builder()
        .sink(sink.clone())
        .capacity(64)
        .max_batch(50)
        .overflow(Overflow::Block)
        .build();
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let recorder = recorder.clone();
            thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|i| recorder.record(feedback(t * PER_THREAD + i)).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let per_thread: Vec<Vec<AssessmentId>> =
        producers.into_iter().map(|p| p.join().unwrap()).collect();
    recorder.flush().unwrap();

    let c = recorder.counters();
    assert_eq!(c.recorded, (THREADS * PER_THREAD) as u64);
    assert_eq!(c.delivered, c.recorded);
    let delivered = ids(&sink);
    assert_eq!(delivered.len(), THREADS * PER_THREAD);
    let unique: HashSet<_> = delivered.iter().copied().collect();
    assert_eq!(unique.len(), delivered.len(), "no duplicates");
    // Each thread's assessments arrive in the order that thread recorded.
    for ids in &per_thread {
        let mine: HashSet<_> = ids.iter().copied().collect();
        let arrived: Vec<_> = delivered
            .iter()
            .copied()
            .filter(|id| mine.contains(id))
            .collect();
        assert_eq!(&arrived, ids);
    }
}

#[test]
fn recording_while_shutting_down_loses_nothing() {
    // Every call either succeeds and is delivered, or fails with Shutdown.
    let sink = InMemorySink::default();
    let recorder = Recorder::builder()
        .sink(sink.clone())
        .capacity(16)
        .overflow(Overflow::Block)
        .build();
    let producers: Vec<_> = (0..4)
        .map(|t| {
            let recorder = recorder.clone();
            thread::spawn(move || {
                let mut accepted = Vec::new();
                for i in 0.. {
                    match recorder.record(feedback(t * 1_000_000 + i)) {
                        Ok(id) => accepted.push(id),
                        Err(RecorderError::Shutdown) => break,
                        Err(other) => panic!("unexpected error: {other}"),
                    }
                }
                accepted
            })
        })
        .collect();
    wait_until(|| recorder.counters().delivered >= 100);
    recorder.shutdown().unwrap();
    let accepted: HashSet<AssessmentId> = producers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    let delivered: HashSet<AssessmentId> = ids(&sink).into_iter().collect();
    assert!(!accepted.is_empty());
    assert_eq!(delivered, accepted);
    let c = recorder.counters();
    assert_eq!(c.recorded, accepted.len() as u64);
    assert_eq!(c.delivered, c.recorded);
}

#[test]
fn a_panicking_error_handler_does_not_kill_the_worker() {
    let (gate, entered) = Gate::closed();
    let recorder = Recorder::builder()
        .sink(gate.clone())
        .sink(Failing {
            fail_flush: false,
            exports: Arc::default(),
        })
        .on_error(|_, _| panic!("a bug in the error handler"))
        .build();
    let first = recorder.record(feedback(0)).unwrap();
    entered.recv_timeout(Duration::from_secs(10)).unwrap();

    // The flush waits in the queue while the worker is inside the batch whose
    // failure will reach the panicking handler.
    let (done_tx, done) = mpsc::channel();
    let flusher = recorder.clone();
    thread::spawn(move || {
        let _ = done_tx.send(flusher.flush());
    });
    thread::sleep(Duration::from_millis(50));
    gate.open();
    let flushed = done
        .recv_timeout(Duration::from_secs(10))
        .expect("flush never returned: the worker died with the flush queued");
    assert!(
        matches!(flushed, Err(RecorderError::Sinks(_))),
        "the export failure is reported: {flushed:?}"
    );

    // The recorder keeps working.
    let second = recorder.record(feedback(1)).unwrap();
    assert!(matches!(recorder.flush(), Err(RecorderError::Sinks(_))));
    assert_eq!(ids(&gate.inner), vec![first, second]);
    let c = recorder.counters();
    assert_eq!((c.recorded, c.failed), (2, 2));
}

/// Holds every other operation it receives (counted across batches, so
/// that how the worker cuts batches does not matter) until flush, then
/// delivers the held ones, failing one of them.
#[derive(Default)]
struct Holding {
    ledger: Option<DeliveryLedger>,
    held: Mutex<Vec<Operation>>,
    delivered: InMemorySink,
    seen: AtomicUsize,
}

impl AssessmentProcessor for Holding {
    fn registered(&mut self, ledger: DeliveryLedger) {
        self.ledger = Some(ledger);
    }

    fn process(&self, batch: &[Operation]) -> Result<(), SinkError> {
        let mut held = self.held.lock().unwrap();
        let mut count = 0;
        for op in batch {
            if self.seen.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
                held.push(op.clone());
                count += 1;
            } else {
                self.delivered.export(std::slice::from_ref(op))?;
            }
        }
        self.ledger.as_ref().unwrap().hold(count);
        Ok(())
    }

    fn flush(&self) -> Result<(), SinkError> {
        let held = std::mem::take(&mut *self.held.lock().unwrap());
        let ledger = self.ledger.as_ref().unwrap();
        let Some((fail, deliver)) = held.split_first() else {
            return Ok(());
        };
        self.delivered.export(deliver)?;
        ledger.delivered(deliver.len());
        ledger.failed(
            1,
            SinkError::new(format!("held and lost: {}", fail.trace_id())),
        );
        Ok(())
    }

    fn name(&self) -> &str {
        "holding"
    }
}

#[test]
fn held_operations_are_counted_apart_until_the_processor_settles_them() {
    let (log, handler) = error_log();
    let delivered = InMemorySink::default();
    let recorder = Recorder::builder()
        .processor(Holding {
            delivered: delivered.clone(),
            ..Holding::default()
        })
        .max_batch(4)
        .on_error(handler)
        .build();
    for i in 0..4 {
        recorder.record(feedback(i)).unwrap();
    }
    // Wait for the worker to hand the batch over.
    wait_until(|| recorder.counters().delivered + recorder.counters().held >= 4);
    let c = recorder.counters();
    assert_eq!((c.delivered, c.held, c.failed), (2, 2, 0), "{c:?}");
    assert_eq!(delivered.assessments().len(), 2);
    let err = recorder.flush().unwrap_err();
    let errors = sink_errors(&err);
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].starts_with("processor holding: held and lost"),
        "{err}"
    );
    {
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 1, "the handler heard of it: {log:?}");
        assert_eq!(log[0].0, "holding");
    }
    let c = recorder.counters();
    assert_eq!(
        c,
        Counters {
            recorded: 4,
            delivered: 3,
            failed: 1,
            ..Counters::default()
        }
    );
    assert_eq!(delivered.assessments().len(), 3);
    recorder.flush().unwrap();
}

/// Notes what it receives and how often it is registered, flushed and shut
/// down; delivers every batch at once. Clones share what they noted.
#[derive(Clone, Default)]
struct Noting {
    registered: Arc<AtomicUsize>,
    batches: Arc<Mutex<Vec<Vec<Operation>>>>,
    flushes: Arc<AtomicUsize>,
    shutdowns: Arc<AtomicUsize>,
}

impl AssessmentProcessor for Noting {
    fn registered(&mut self, _ledger: DeliveryLedger) {
        self.registered.fetch_add(1, Ordering::SeqCst);
    }

    fn process(&self, batch: &[Operation]) -> Result<(), SinkError> {
        self.batches.lock().unwrap().push(batch.to_vec());
        Ok(())
    }

    fn flush(&self) -> Result<(), SinkError> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn shutdown(&self) -> Result<(), SinkError> {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_processor_receives_every_batch_beside_the_sinks() {
    let sink = InMemorySink::default();
    let noting = Noting::default();
    let recorder = Recorder::builder()
        .sink(sink.clone())
        .processor(noting.clone())
        .max_batch(3)
        .build();
    assert_eq!(noting.registered.load(Ordering::SeqCst), 1);
    let recorded: Vec<_> = (0..10)
        .map(|i| recorder.record(feedback(i)).unwrap())
        .collect();
    recorder.flush().unwrap();
    let batches = noting.batches.lock().unwrap().clone();
    assert!(
        batches.iter().all(|b| (1..=3).contains(&b.len())),
        "{batches:?}"
    );
    let received: Vec<Operation> = batches.into_iter().flatten().collect();
    assert_eq!(received, sink.operations(), "the same operations, in order");
    assert_eq!(ids(&sink), recorded);
    assert_eq!(noting.flushes.load(Ordering::SeqCst), 1);
    assert_eq!(
        recorder.counters(),
        Counters {
            recorded: 10,
            delivered: 10,
            ..Counters::default()
        }
    );
    recorder.shutdown().unwrap();
    assert_eq!(noting.shutdowns.load(Ordering::SeqCst), 1);
    assert_eq!(
        noting.flushes.load(Ordering::SeqCst),
        1,
        "shutdown, not flush"
    );
    assert_eq!(noting.registered.load(Ordering::SeqCst), 1);
}

/// Holds the first operation of each batch and fails on the rest at once;
/// its flush delivers what it holds. Clones share their counts.
#[derive(Clone, Default)]
struct HoldsFirstFailsRest {
    ledger: Option<DeliveryLedger>,
    held: Arc<AtomicUsize>,
    batches: Arc<AtomicUsize>,
}

impl AssessmentProcessor for HoldsFirstFailsRest {
    fn registered(&mut self, ledger: DeliveryLedger) {
        self.ledger = Some(ledger);
    }

    fn process(&self, batch: &[Operation]) -> Result<(), SinkError> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        self.held.fetch_add(1, Ordering::SeqCst);
        self.ledger.as_ref().unwrap().hold(1);
        if batch.len() > 1 {
            Err(SinkError::new("the rest refused"))
        } else {
            Ok(())
        }
    }

    fn flush(&self) -> Result<(), SinkError> {
        let held = self.held.swap(0, Ordering::SeqCst);
        self.ledger.as_ref().unwrap().delivered(held);
        Ok(())
    }

    fn name(&self) -> &str {
        "first-only"
    }
}

#[test]
fn a_processor_failing_at_once_fails_only_what_it_did_not_hold() {
    let (log, handler) = error_log();
    let processor = HoldsFirstFailsRest::default();
    let recorder = Recorder::builder()
        .processor(processor.clone())
        .max_batch(4)
        .on_error(handler)
        .build();
    for i in 0..10 {
        recorder.record(feedback(i)).unwrap();
    }
    wait_until(|| {
        let c = recorder.counters();
        c.failed + c.held >= 10
    });
    let batches = processor.batches.load(Ordering::SeqCst) as u64;
    let c = recorder.counters();
    assert_eq!(
        (c.held, c.failed, c.delivered),
        (batches, 10 - batches, 0),
        "{c:?}"
    );

    let err = recorder.flush().unwrap_err();
    let errors = sink_errors(&err);
    assert!(!errors.is_empty());
    for e in &errors {
        assert_eq!(e, "processor first-only: the rest refused");
    }
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .all(|(name, _)| name == "first-only")
    );
    assert_eq!(
        recorder.counters(),
        Counters {
            recorded: 10,
            delivered: batches,
            failed: 10 - batches,
            ..Counters::default()
        }
    );
}

/// Holds everything and hands it to a thread of the test's, which settles
/// it on the ledger when the test says.
struct HandsOver {
    ledger: Option<DeliveryLedger>,
    out: Mutex<mpsc::Sender<(usize, DeliveryLedger)>>,
}

impl AssessmentProcessor for HandsOver {
    fn registered(&mut self, ledger: DeliveryLedger) {
        self.ledger = Some(ledger);
    }

    fn process(&self, batch: &[Operation]) -> Result<(), SinkError> {
        let ledger = self.ledger.clone().unwrap();
        ledger.hold(batch.len());
        self.out
            .lock()
            .unwrap()
            .send((batch.len(), ledger))
            .unwrap();
        Ok(())
    }
}

#[test]
fn a_held_operation_failing_on_another_thread_reaches_the_handler_and_the_next_flush() {
    let (log, handler) = error_log();
    let (out, handed) = mpsc::channel();
    let recorder = Recorder::builder()
        .processor(HandsOver {
            ledger: None,
            out: Mutex::new(out),
        })
        .on_error(handler)
        .build();
    recorder.record(feedback(0)).unwrap();
    let (count, ledger) = handed.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(count, 1);
    wait_until(|| recorder.counters().held == 1);
    assert_eq!(ledger.recorded(), 1);
    assert_eq!(ledger.handed_over(), 1);

    thread::spawn(move || ledger.failed(1, SinkError::new("the receiver refused it")))
        .join()
        .unwrap();
    {
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 1, "{log:?}");
        assert!(log[0].0.ends_with("HandsOver"), "the type's name: {log:?}");
        assert_eq!(log[0].1, "the receiver refused it");
    }
    let c = recorder.counters();
    assert_eq!((c.held, c.failed, c.delivered), (0, 1, 0), "{c:?}");

    let err = recorder.flush().unwrap_err();
    let errors = sink_errors(&err);
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("the receiver refused it"), "{err}");
    recorder.flush().unwrap();
}

/// Panics on every batch.
struct PanickingProcessor;

impl AssessmentProcessor for PanickingProcessor {
    fn process(&self, _batch: &[Operation]) -> Result<(), SinkError> {
        panic!("boom");
    }

    fn name(&self) -> &str {
        "panicky"
    }
}

#[test]
fn a_panicking_processor_does_not_kill_the_worker() {
    let good = InMemorySink::default();
    let recorder = Recorder::builder()
        .processor(PanickingProcessor)
        .sink(good.clone())
        .on_error(|_, _| {})
        .build();
    let first = recorder.record(feedback(0)).unwrap();
    let err = recorder.flush().unwrap_err();
    assert_eq!(
        sink_errors(&err),
        ["processor panicky: the processor panicked: boom"]
    );
    let second = recorder.record(feedback(1)).unwrap();
    assert!(recorder.flush().is_err());
    assert_eq!(ids(&good), [first, second]);
    let c = recorder.counters();
    assert_eq!((c.recorded, c.failed, c.delivered), (2, 2, 0));
}

/// What a service's handler does: build an assessment and record it, with
/// `?` on both into one boxed error, which is still the precise type
/// underneath.
fn record_named(
    recorder: &Recorder,
    name: &str,
) -> Result<AssessmentId, Box<dyn std::error::Error>> {
    let feedback = Assessment::feedback(name.to_owned(), true).on_trace(TRACE, None)?;
    Ok(recorder.record(feedback)?)
}

#[test]
fn building_and_recording_fail_with_their_own_errors_through_one_box() {
    let recorder = Recorder::builder().sink(InMemorySink::default()).build();
    record_named(&recorder, "fine").unwrap();

    let invalid = record_named(&recorder, "has.dot").unwrap_err();
    assert!(
        matches!(
            invalid.downcast_ref::<Error>(),
            Some(Error::InvalidName { .. })
        ),
        "{invalid:?}"
    );

    recorder.shutdown().unwrap();
    let refused = record_named(&recorder, "fine").unwrap_err();
    assert!(
        matches!(
            refused.downcast_ref::<RecorderError>(),
            Some(RecorderError::Shutdown)
        ),
        "{refused:?}"
    );
    assert_eq!(recorder.counters().recorded, 1);
}

/// A sink that keeps everything "in a spool": every operation spooled,
/// none delivered.
struct AllSpooled;

impl AssessmentSink for AllSpooled {
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        Err(SinkError::new("the receiver is down; kept")
            .with_outcomes(vec![Outcome::Spooled; batch.len()]))
    }
}

#[test]
fn spooled_operations_are_counted_apart_and_are_no_failure() {
    let (log, handler) = error_log();
    let recorder = Recorder::builder()
        .sink(AllSpooled)
        .on_error(handler)
        .build();
    for i in 0..5 {
        recorder.record(feedback(i)).unwrap();
    }
    recorder.flush().unwrap();
    let c = recorder.counters();
    assert_eq!((c.recorded, c.delivered, c.spooled, c.failed), (5, 0, 5, 0));
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
}

/// A sink whose export waits until it is told a deadline, and then gives
/// up well before it (as a spool keeps a reserve to write what it could
/// not deliver): the deadline it was told, if any.
#[derive(Clone, Default)]
struct Hanging {
    deadline: Arc<Mutex<Option<std::time::Instant>>>,
    ignore_deadline: bool,
}

impl AssessmentSink for Hanging {
    fn export(&self, batch: &[Operation]) -> Result<(), SinkError> {
        loop {
            let deadline = *self.deadline.lock().unwrap();
            let reserve = Duration::from_secs(4);
            if !self.ignore_deadline
                && deadline.is_some_and(|at| std::time::Instant::now() + reserve >= at)
            {
                return Err(SinkError::new("no answer by the deadline; kept")
                    .with_outcomes(vec![Outcome::Spooled; batch.len()]));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn set_deadline(&self, deadline: Option<std::time::Instant>) {
        *self.deadline.lock().unwrap() = deadline;
    }
}

#[test]
fn a_shutdown_deadline_reaches_the_sink_which_keeps_what_it_could_not_deliver() {
    let sink = Hanging::default();
    let recorder = Recorder::builder().sink(sink.clone()).build();
    for i in 0..3 {
        recorder.record(feedback(i)).unwrap();
    }
    recorder.shutdown_timeout(Duration::from_secs(5)).unwrap();
    assert!(sink.deadline.lock().unwrap().is_some());
    let c = recorder.counters();
    assert_eq!((c.recorded, c.delivered, c.spooled, c.failed), (3, 0, 3, 0));
    assert!(matches!(
        recorder.record(feedback(9)),
        Err(RecorderError::Shutdown)
    ));
}

#[test]
fn flush_and_shutdown_return_by_their_deadline_even_over_a_sink_that_ignores_it() {
    let recorder = Recorder::builder()
        .sink(Hanging {
            ignore_deadline: true,
            ..Hanging::default()
        })
        .build();
    recorder.record(feedback(0)).unwrap();
    let flushed = recorder.flush_timeout(Duration::from_millis(100));
    assert!(
        matches!(flushed, Err(RecorderError::TimedOut { unsettled: 1, .. })),
        "{flushed:?}"
    );
    let shut = recorder.shutdown_timeout(Duration::from_millis(100));
    assert!(
        matches!(shut, Err(RecorderError::TimedOut { .. })),
        "{shut:?}"
    );
    // Once shut down, it says so at once.
    assert!(recorder.shutdown().is_ok());
}
