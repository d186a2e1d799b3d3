//! Spooling against receivers that are down, restart, or answer 503: every
//! assessment arrives exactly once, counted by assessment id at the
//! receiver.
//!
//! OTLP goes through a small HTTP front on a port reserved in advance: not
//! listening while "down", answering 503 to the next N requests when told,
//! and otherwise forwarding each request to the in-process `OtlpReceiver`.
//! `opentelemetry-otlp` (0.33) retries by itself — up to 3 retries of the
//! same body on connection failures, 429, 502, 503 and 504 — so one export
//! can take several of the front's 503s; those requests never reach the
//! receiver, so its retries cannot double a batch here. They could against
//! a collector that took a request and then failed to answer (a timeout):
//! the batch is then spooled and sent again, and the event arrives twice.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use verdict::{
    Assessment, AssessmentSink, AssessmentUpdate, Operation, Outcome, Outcomes, attributes,
};
use verdict_export::testing::{HttpStub, OtlpReceiver, Request};
use verdict_export::{
    LocalStore, MlflowSink, OtlpExporter, RetryPolicy, Spooled, WithHttpSettings as _,
};

const TRACE: &str = "0fb07256509eb9d22d07f42f7eb9f24d";
const SPAN: &str = "71492b10072d70de";

fn feedback(n: usize) -> Assessment {
    Assessment::feedback(format!("check-{n}"), n.is_multiple_of(2))
        .on_trace(TRACE, Some(SPAN))
        .unwrap()
}

fn logs(range: std::ops::Range<usize>) -> (Vec<Operation>, Vec<String>) {
    let assessments: Vec<Assessment> = range.map(feedback).collect();
    let ids = assessments.iter().map(|a| a.id().to_string()).collect();
    (assessments.into_iter().map(Operation::Log).collect(), ids)
}

/// A port nobody listens on (yet).
fn reserve_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tiny HTTP/1.1 server: answers 503 to the next `fail` requests, the
/// handler's answer to the others.
struct Front {
    fail: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    _stub: HttpStub,
}

impl Front {
    fn start(
        port: u16,
        fail: usize,
        handler: impl Fn(&Request) -> (u16, Vec<u8>) + Send + Sync + 'static,
    ) -> Front {
        let fail = Arc::new(AtomicUsize::new(fail));
        let failed = Arc::new(AtomicUsize::new(0));
        let (to_fail, to_count) = (fail.clone(), failed.clone());
        let stub = HttpStub::builder()
            .port(port)
            .content_type("application/x-protobuf")
            .start(move |request| {
                let failing = to_fail
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if failing {
                    to_count.fetch_add(1, Ordering::SeqCst);
                    (503, b"busy".to_vec())
                } else {
                    handler(request)
                }
            })
            .unwrap();
        Front {
            fail,
            failed,
            _stub: stub,
        }
    }

    /// Forwards to an OTLP receiver.
    fn otlp(port: u16, fail: usize, receiver: &OtlpReceiver) -> Front {
        let target = receiver.endpoint();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Front::start(port, fail, move |request: &Request| {
            forward(&agent, &target, request)
        })
    }

    fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }
}

/// Sends the request on to `target` and returns its answer.
fn forward(agent: &ureq::Agent, target: &str, request: &Request) -> (u16, Vec<u8>) {
    let mut upstream = agent.post(format!("{target}{}", request.path));
    for (name, value) in &request.headers {
        if name != "content-length" && name != "host" {
            upstream = upstream.header(name, value);
        }
    }
    let mut response = upstream.send(&request.body[..]).unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_vec().unwrap())
}

/// What a fake MLflow tracking server answers to the MLflow sink: a
/// trace's info to a `GET`, and to a trace posted with inline assessments
/// (StartTraceV3) `{}`, noting their ids in `seen`.
fn fake_mlflow(req: &Request, seen: &Mutex<Vec<String>>) -> (u16, Vec<u8>) {
    if req.method == "GET" {
        let trace = req.path.rsplit('/').next().unwrap();
        let info = serde_json::json!({"trace": {"trace_info": {
            "trace_id": trace, "request_time": "2026-11-27T12:47:45.024Z",
            "execution_duration": "0.038s", "state": "OK",
            "trace_location": {"type": "MLFLOW_EXPERIMENT",
                               "mlflow_experiment": {"experiment_id": "0"}}}}});
        return (200, info.to_string().into_bytes());
    }
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    for a in body["trace"]["trace_info"]["assessments"]
        .as_array()
        .unwrap()
    {
        let id = a["assessment_id"].as_str().unwrap();
        seen.lock().unwrap().push(id.to_owned());
    }
    (200, b"{}".to_vec())
}

fn otlp_exporter(port: u16) -> OtlpExporter {
    otlp_builder(port).build().unwrap()
}

/// The token errors must never show.
const OTLP_TOKEN: &str = "otlp-secret-token";

/// An OTLP exporter to 127.0.0.1:`port` that authenticates with
/// [`OTLP_TOKEN`].
fn otlp_exporter_with_token(port: u16) -> OtlpExporter {
    otlp_builder(port)
        .header("authorization", format!("Bearer {OTLP_TOKEN}"))
        .build()
        .unwrap()
}

fn otlp_builder(port: u16) -> verdict_export::OtlpExporterBuilder {
    OtlpExporter::builder()
        .endpoint(format!("http://127.0.0.1:{port}"))
        .timeout(Duration::from_secs(2))
}

/// The assessment ids of the events the receiver got, in arrival order.
fn received_ids(receiver: &OtlpReceiver) -> Vec<String> {
    receiver
        .log_records()
        .iter()
        .filter_map(|record| {
            record
                .attributes
                .iter()
                .find(|kv| kv.key == attributes::ASSESSMENT_ID)
                .and_then(|kv| match kv.value.clone()?.value? {
                    Value::StringValue(id) => Some(id),
                    _ => None,
                })
        })
        .collect()
}

fn assert_exactly_once(received: &[String], sent: &[String]) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in received {
        *counts.entry(id).or_default() += 1;
    }
    for id in sent {
        assert_eq!(counts.get(id.as_str()), Some(&1), "{id} in {received:?}");
    }
    assert_eq!(received.len(), sent.len(), "{received:?}");
}

fn open(path: &Path) -> LocalStore {
    LocalStore::open(path).unwrap()
}

/// A spool whose background replay runs only at start, so that a test
/// replays when it says.
fn manual<S: AssessmentSink>(sink: Spooled<S>) -> Spooled<S> {
    sink.retry_after(Duration::from_secs(3600))
}

/// The export lost nothing: each item delivered or spooled.
#[track_caller]
fn kept(result: Result<(), verdict::SinkError>, len: usize) {
    let outcomes = Outcomes::of(&result, len);
    assert_eq!(outcomes.failed(), 0, "{result:?}");
}

/// Waits (up to a generous bound) until nothing waits in the spool.
#[track_caller]
fn drained<S: AssessmentSink>(sink: &Spooled<S>) {
    let start = std::time::Instant::now();
    while sink.pending().unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{:?}",
            sink.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the background replay has counted `n` items replayed
/// (the rows leave the spool a moment before they are counted), then
/// checks it counted exactly that many.
fn replayed<S: AssessmentSink>(sink: &Spooled<S>, n: u64) {
    let start = std::time::Instant::now();
    while sink.stats().replayed < n && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(sink.stats().replayed, n, "{:?}", sink.stats());
}

#[test]
fn a_receiver_down_at_the_start_gets_everything_once_when_it_comes_up() {
    receiver_down_at_the_start(false);
}

#[test]
fn written_ahead_a_receiver_down_at_the_start_gets_everything_once_when_it_comes_up() {
    receiver_down_at_the_start(true);
}

fn receiver_down_at_the_start(write_ahead: bool) {
    let dir = tempfile::tempdir().unwrap();
    // The receiver first: the port it binds cannot then be the one
    // reserved (released at once) for the server that comes later.
    let receiver = OtlpReceiver::start().unwrap();
    let port = reserve_port();
    let otlp = otlp_exporter(port);
    let sink = manual(Spooled::new(
        otlp.sink(),
        open(&dir.path().join("verdict.db")),
    ))
    .write_ahead(write_ahead);
    assert_eq!(sink.pending().unwrap(), 0);

    let (first, mut sent) = logs(0..5);
    let (second, ids) = logs(5..8);
    sent.extend(ids);
    // Updates and deletes send no OTLP event, but keep their place.
    let a = feedback(0);
    let update = AssessmentUpdate::builder(a.trace_id(), a.id())
        .rationale("later")
        .build()
        .unwrap();
    kept(sink.export(&first), 5);
    assert!(sink.is_failing());
    kept(sink.export(&[Operation::Update(update)]), 1);
    kept(sink.export(&second), 3);
    assert_eq!(sink.pending().unwrap(), 9);
    assert_eq!(sink.spooled(), 9);
    assert_eq!(receiver.log_record_count(), 0);

    let _front = Front::otlp(port, 0, &receiver);
    // The replay at start may have been waiting for the first export to
    // end, and replays too: between the two, everything, once.
    let replayed = sink.replay().unwrap();
    assert!(replayed <= 9, "{replayed}");
    assert_eq!(sink.pending().unwrap(), 0);
    assert_eq!(sink.stats().replayed, 9);
    // The replay saw it answer: later batches go straight through.
    assert!(!sink.is_failing());
    let (third, ids) = logs(8..10);
    sent.extend(ids);
    sink.export(&third).unwrap();
    sink.flush().unwrap();
    assert_eq!(sink.spooled(), 9);

    let received = received_ids(&receiver);
    assert_exactly_once(&received, &sent);
    assert_eq!(received, sent, "in the order recorded");
    // Nothing more comes on a second replay.
    assert_eq!(sink.replay().unwrap(), 0);
    assert_eq!(received_ids(&receiver).len(), sent.len());
}

#[test]
fn a_new_process_replays_what_the_previous_one_spooled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    // The receiver first: the port it binds cannot then be the one
    // reserved (released at once) for the server that comes later.
    let receiver = OtlpReceiver::start().unwrap();
    let port = reserve_port();

    let (ops, sent) = logs(0..6);
    {
        let otlp = otlp_exporter(port);
        let sink = Spooled::new(otlp.sink(), open(&path));
        kept(sink.export(&ops), 6);
        assert_eq!(sink.pending().unwrap(), 6);
        // The "process" ends with its operations spooled.
    }
    // Another sink sharing the file keeps its own spool.
    let other = Spooled::with_key(
        verdict::InMemorySink::default(),
        open(&path),
        "in-memory elsewhere",
    );
    assert_eq!(other.pending().unwrap(), 0);

    let _front = Front::otlp(port, 0, &receiver);
    let otlp = otlp_exporter(port);
    let sink = Spooled::new(otlp.sink(), open(&path));
    drained(&sink);
    replayed(&sink, 6);
    assert_exactly_once(&received_ids(&receiver), &sent);
}

#[test]
fn a_receiver_answering_503_for_a_while_loses_nothing_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // The receiver first: the port it binds cannot then be the one
    // reserved (released at once) for the server that comes later.
    let receiver = OtlpReceiver::start().unwrap();
    let port = reserve_port();
    // The exporter makes 4 attempts (1 + 3 retries of its own) per export:
    // 6 failures fail the first export, and the replay of the next one.
    let front = Front::otlp(port, 6, &receiver);
    let otlp = otlp_exporter(port);
    let sink = Spooled::new(otlp.sink(), open(&dir.path().join("verdict.db")));

    let mut sent = Vec::new();
    for n in 0..4 {
        let (ops, ids) = logs(n * 3..n * 3 + 3);
        sent.extend(ids);
        kept(sink.export(&ops), 3);
    }
    assert!(sink.spooled() >= 3, "{:?}", sink.stats());
    // The background replay gets through once the failures are over.
    drained(&sink);
    assert_eq!(front.failed(), 6);
    let received = received_ids(&receiver);
    assert_exactly_once(&received, &sent);
    assert_eq!(received, sent, "in the order recorded");
}

/// An MLflow-like server: answers 503 to the first requests, then has
/// every trace (as MLflow answers `GET /api/3.0/mlflow/traces/{id}`) and
/// creates the assessments posted inline with a trace, keeping how many
/// times each id was created.
#[test]
fn mlflow_operations_that_fail_transiently_are_spooled_and_replayed_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = reserve_port();
    let created: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = created.clone();
    let front = Front::start(port, 1_000_000, move |req: &Request| {
        fake_mlflow(req, &seen)
    });
    let mlflow = MlflowSink::builder(format!("http://127.0.0.1:{port}"))
        .retry(
            RetryPolicy::default()
                .initial_delay(Duration::from_millis(5))
                .max_delay(Duration::from_millis(10))
                .budget(Duration::from_millis(50)),
        )
        .build()
        .unwrap();
    let sink = Spooled::new(mlflow, open(&dir.path().join("verdict.db")));
    let (ops, sent) = logs(0..5);
    kept(sink.export(&ops), 5);
    assert_eq!(sink.pending().unwrap(), 5);
    assert!(front.failed() > 0);

    front.fail.store(0, Ordering::SeqCst);
    drained(&sink);
    replayed(&sink, 5);
    assert_exactly_once(&created.lock().unwrap(), &sent);
}

/// A sink that is down (fails whole batches, saying nothing of each
/// operation), or up: refusing for good the assessments named `refused`,
/// deferring those named `later`, delivering the others.
#[derive(Default)]
struct Scripted {
    down: AtomicBool,
    delivered: Mutex<Vec<Operation>>,
}

impl AssessmentSink for Scripted {
    fn export(&self, batch: &[Operation]) -> Result<(), verdict::SinkError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(verdict::SinkError::new("down"));
        }
        let named = |op: &Operation| match op {
            Operation::Log(a) => a.name().as_str().to_owned(),
            _ => String::new(),
        };
        let outcomes: Vec<Outcome> = batch
            .iter()
            .map(|op| match named(op).as_str() {
                "refused" => Outcome::refused("400"),
                "later" => Outcome::deferred("503"),
                _ => {
                    self.delivered.lock().unwrap().push(op.clone());
                    Outcome::Delivered
                }
            })
            .collect();
        Outcomes::from(outcomes).into_result("operations")
    }

    fn name(&self) -> &str {
        "scripted"
    }
}

/// Of one batch, the inner sink delivers some, refuses some and defers
/// some: exactly the deferred ones are spooled, the refused ones stay
/// refused in the outcome, and the spooled ones are spooled, not
/// delivered.
#[test]
fn of_a_batch_only_the_deferred_operations_are_spooled() {
    only_the_deferred_are_spooled(false);
}

/// Written ahead, the same batch leaves only the deferred operation in the
/// spool: the delivered and the refused ones are removed once answered.
#[test]
fn written_ahead_only_the_deferred_operations_stay_in_the_spool() {
    only_the_deferred_are_spooled(true);
}

fn only_the_deferred_are_spooled(write_ahead: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let inner = Arc::new(Scripted::default());
    let sink = manual(Spooled::new(inner.clone(), open(&path))).write_ahead(write_ahead);
    let named = |name: &'static str, trace: &str| {
        Operation::Log(
            Assessment::feedback(name, true)
                .on_trace(trace, None)
                .unwrap(),
        )
    };
    let batch = [
        named("ok", TRACE),
        named("refused", TRACE),
        named("later", "1fb07256509eb9d22d07f42f7eb9f24d"),
        named("ok", "2fb07256509eb9d22d07f42f7eb9f24d"),
    ];
    let err = sink.export(&batch).unwrap_err();
    let outcomes = Outcomes::of_error(&err, batch.len());
    assert_eq!(outcomes.refused_at(), vec![1], "{err:?}");
    assert_eq!(outcomes.delivered_at(), vec![0, 3], "{err:?}");
    assert_eq!(outcomes.spooled_at(), vec![2], "{err:?}");
    assert_eq!(sink.pending().unwrap(), 1);
    let spooled = open(&path).spooled("scripted", None, false).unwrap();
    assert_eq!(spooled.len(), 1);
    assert!(
        spooled[0].line.contains(r#""assessment_name":"later""#),
        "{}",
        spooled[0].line
    );
    assert_eq!(inner.delivered.lock().unwrap().len(), 2);
    assert_eq!(sink.stats().spooled, 1);
}

#[test]
fn refusals_are_reported_not_spooled_and_damaged_rows_do_not_block_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let inner = Arc::new(Scripted::default());
    let sink = manual(Spooled::new(inner.clone(), open(&path)));
    let refused = Assessment::feedback("refused", true)
        .on_trace(TRACE, None)
        .unwrap();

    // Up: the refusal is the export's error, nothing is spooled.
    let (mut ops, _) = logs(0..2);
    ops.push(Operation::Log(refused.clone()));
    let err = sink.export(&ops).unwrap_err();
    assert_eq!(Outcomes::of_error(&err, 3).refused_at(), vec![2], "{err}");
    assert_eq!(sink.pending().unwrap(), 0);

    // Down: everything is spooled, the refusal too (nobody knows yet).
    inner.down.store(true, Ordering::SeqCst);
    let (later, _) = logs(2..4);
    kept(sink.export(&[Operation::Log(refused)]), 1);
    kept(sink.export(&later), 2);
    assert_eq!(sink.pending().unwrap(), 3);
    // A row damaged on disk.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO spool (sink, trace_id, span, line, spooled_ns) \
             VALUES ('scripted', zeroblob(16), 0, '{', 0)",
            [],
        )
        .unwrap();

    inner.down.store(false, Ordering::SeqCst);
    let err = sink.replay().unwrap_err();
    assert!(err.to_string().contains("2 operations refused"), "{err}");
    assert!(err.to_string().contains("unreadable"), "{err}");
    assert_eq!(sink.pending().unwrap(), 0);
    let stats = sink.stats();
    assert_eq!((stats.spooled, stats.replayed, stats.dropped), (3, 2, 2));
    assert_eq!(inner.delivered.lock().unwrap().len(), 4);
}

/// A collector that refuses the events for good (401: a wrong token) is
/// not spooled, and says so, without showing the token.
#[test]
fn otlp_refusals_are_reported_not_spooled() {
    let dir = tempfile::tempdir().unwrap();
    let port = reserve_port();
    let front = Front::start(port, 0, |_| (401, b"bad token".to_vec()));
    let otlp = otlp_exporter_with_token(port);
    let sink = Spooled::new(otlp.sink(), open(&dir.path().join("verdict.db")));
    let (ops, _) = logs(0..3);
    let err = sink.export(&ops).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("refused") && text.contains("401"), "{text}");
    assert!(!text.contains(OTLP_TOKEN), "{text}");
    assert_eq!(Outcomes::of_error(&err, 3).refused(), 3, "{err:?}");
    assert_eq!(sink.pending().unwrap(), 0, "a refusal is not spooled");
    assert_eq!(front.failed(), 0);
}

/// Defers the operations of the traces in `down`; delivers the others,
/// keeping them in order.
#[derive(Default)]
struct TracesDown {
    down: Mutex<Vec<verdict::opentelemetry::trace::TraceId>>,
    delivered: Mutex<Vec<String>>,
}

impl AssessmentSink for TracesDown {
    fn export(&self, batch: &[Operation]) -> Result<(), verdict::SinkError> {
        let down = self.down.lock().unwrap().clone();
        let mut outcomes = Vec::new();
        for op in batch {
            if down.contains(&op.trace_id()) {
                outcomes.push(Outcome::deferred("that trace is not there yet"));
            } else {
                if let Operation::Log(a) = op {
                    self.delivered.lock().unwrap().push(a.id().to_string());
                }
                outcomes.push(Outcome::Delivered);
            }
        }
        Outcomes::from(outcomes).into_result("operations")
    }
}

/// One trace the receiver cannot take yet waits in the spool; the others
/// are delivered at once, and the waiting one keeps its order.
#[test]
fn a_waiting_trace_does_not_hold_up_the_others() {
    waiting_trace_keeps_its_order(false);
}

#[test]
fn written_ahead_a_waiting_trace_does_not_hold_up_the_others() {
    waiting_trace_keeps_its_order(true);
}

fn waiting_trace_keeps_its_order(write_ahead: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let on = |trace: &str, n: usize| {
        Assessment::feedback(format!("check-{n}"), true)
            .on_trace(trace, None)
            .unwrap()
    };
    let (bad, good) = (TRACE, "1fb07256509eb9d22d07f42f7eb9f24d");
    let bad_id = verdict::parse_trace_id(bad).unwrap();
    let inner = Arc::new(TracesDown::default());
    inner.down.lock().unwrap().push(bad_id);
    // An earlier process left one operation of the good trace: the replay
    // at start delivers it, and once it has, no other replay runs during
    // the test (one that found only the bad trace's would take the
    // receiver for down, and spool the good trace too).
    let left = Operation::Log(on(good, 9));
    let key = "traces down";
    open(&path)
        .spool(
            key,
            [verdict_store::SpoolLine {
                trace_id: left.trace_id(),
                span: false,
                line: verdict_export::jsonl_line(&left),
            }],
        )
        .unwrap();
    let sink = manual(Spooled::with_key(inner.clone(), open(&path), key)).write_ahead(write_ahead);
    drained(&sink);

    let first = [on(bad, 0), on(good, 1)];
    let second = [on(good, 2), on(bad, 3)];
    let ops = |batch: &[Assessment]| -> Vec<Operation> {
        batch.iter().cloned().map(Operation::Log).collect()
    };
    let outcomes = |result: Result<(), verdict::SinkError>| {
        let outcomes = Outcomes::of(&result, 2);
        (outcomes.delivered_at(), outcomes.spooled_at())
    };
    assert_eq!(outcomes(sink.export(&ops(&first))), (vec![1], vec![0]));
    assert_eq!(
        outcomes(sink.export(&ops(&second))),
        (vec![0], vec![1]),
        "the bad trace's new operation waits behind its first"
    );
    let id = |a: &Assessment| a.id().to_string();
    let left = match left {
        Operation::Log(a) => id(&a),
        _ => unreachable!(),
    };
    assert_eq!(
        *inner.delivered.lock().unwrap(),
        [left.clone(), id(&first[1]), id(&second[0])],
        "the good trace went at once, both times"
    );
    assert_eq!(sink.pending().unwrap(), 2, "the bad trace's two wait");

    inner.down.lock().unwrap().clear();
    assert_eq!(sink.replay().unwrap(), 2);
    assert_eq!(
        *inner.delivered.lock().unwrap(),
        [
            left,
            id(&first[1]),
            id(&second[0]),
            id(&first[0]),
            id(&second[1])
        ],
        "the bad trace's in the order recorded"
    );
}

/// Written ahead, a batch is on disk before the receiver is tried: while
/// the call hangs on a collector that never answers, another connection to
/// the file already finds every operation in the spool (so that a
/// `kill -9` now would lose none). Once the call is given up (here by a
/// deadline), they stay there, spooled. Without write-ahead the batch is
/// in memory only until the call is given up.
#[test]
fn written_ahead_a_batch_is_on_disk_while_the_receiver_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let hanging = verdict_export::testing::HangingReceiver::start().unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(hanging.endpoint())
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let sink = Arc::new(
        manual(Spooled::new(otlp.sink(), open(&path)))
            .max_delay(Duration::from_secs(3600))
            .write_ahead(true),
    );
    let (ops, _) = logs(0..5);
    let exporting = {
        let (sink, ops) = (sink.clone(), ops.clone());
        std::thread::spawn(move || sink.export(&ops))
    };
    let elsewhere = open(&path);
    let start = std::time::Instant::now();
    while elsewhere.spool_len("otlp").unwrap() < ops.len() || hanging.connections() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not written ahead: {} in the spool, {} connections",
            elsewhere.spool_len("otlp").unwrap(),
            hanging.connections()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!exporting.is_finished(), "the call to the receiver hangs");
    let lines: Vec<String> = elsewhere
        .spooled("otlp", None, false)
        .unwrap()
        .into_iter()
        .map(|row| row.line)
        .collect();
    let expected: Vec<String> = ops.iter().map(verdict_export::jsonl_line).collect();
    assert_eq!(lines, expected, "every operation, in order");

    // Stopping: the call is given up, and the batch stays spooled.
    sink.set_deadline(Some(std::time::Instant::now()));
    let result = exporting.join().unwrap();
    assert_eq!(
        Outcomes::of(&result, ops.len()).spooled(),
        ops.len(),
        "{result:?}"
    );
    assert_eq!(sink.pending().unwrap(), ops.len());
    assert_eq!(sink.stats().spooled, ops.len() as u64);
    assert!(sink.is_failing());
}

/// Written ahead, with a collector that answers: every operation arrives
/// once, in order, and nothing is left in the spool or counted spooled.
#[test]
fn written_ahead_everything_delivered_is_removed_from_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = OtlpReceiver::start().unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(receiver.endpoint())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let sink = manual(Spooled::new(
        otlp.sink(),
        open(&dir.path().join("verdict.db")),
    ))
    .write_ahead(true);
    let mut sent = Vec::new();
    for n in 0..3 {
        let (ops, ids) = logs(n * 4..n * 4 + 4);
        sent.extend(ids);
        sink.export(&ops).unwrap();
    }
    sink.flush().unwrap();
    assert_eq!(sink.pending().unwrap(), 0);
    assert_eq!(sink.stats(), verdict_export::SpoolStats::default());
    let received = received_ids(&receiver);
    assert_exactly_once(&received, &sent);
    assert_eq!(received, sent, "in the order recorded");
}

/// The assessment ids recorded on the current span: recorded, and noted.
fn record_here(recorder: &verdict::Recorder, ids: &mut Vec<String>, assessment: Assessment) {
    ids.push(assessment.id().to_string());
    recorder.record(assessment).unwrap();
}

/// Waits until the recorder holds `count` operations.
fn wait_held(recorder: &verdict::Recorder, count: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while recorder.counters().held < count {
        assert!(
            std::time::Instant::now() < deadline,
            "not held: {:?}",
            recorder.counters()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The recommended wiring with a spool:
/// `TraceAssembler::builder(Spooled::new(otlp.trace_sink(), store))`. The
/// collector is down when a trace ships with the assessments recorded
/// while it was open: its spans and assessments go to the spool of a real
/// SQLite file (counted spooled),
/// and the next process, started once the collector is up, delivers every
/// span and assessment exactly once, spans first.
#[test]
fn an_assembled_trace_is_spooled_while_the_collector_is_down_and_replayed_once() {
    assembled_trace_spooled_and_replayed(false);
}

#[test]
fn written_ahead_an_assembled_trace_is_kept_while_the_collector_is_down_and_replayed_once() {
    assembled_trace_spooled_and_replayed(true);
}

fn assembled_trace_spooled_and_replayed(write_ahead: bool) {
    use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use verdict::Recorder;
    use verdict_export::TraceAssembler;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    // The receiver first: the port it binds cannot then be the one
    // reserved (released at once) for the server that comes later.
    let receiver = OtlpReceiver::start().unwrap();
    let port = reserve_port();

    let mut sent = Vec::new();
    let (trace_id, span_ids) = {
        let otlp = otlp_exporter(port);
        let spooled = Arc::new(
            Spooled::new(otlp.trace_sink().unwrap(), open(&path)).write_ahead(write_ahead),
        );
        let (spans, assessments) = TraceAssembler::builder(spooled.clone()).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(spans)
            .build();
        let recorder = Recorder::builder().processor(assessments).build();
        let tracer = provider.tracer("spool-test");
        let mut span_ids = Vec::new();
        let trace_id = tracer.in_span("request", |cx| {
            record_here(
                &recorder,
                &mut sent,
                Assessment::feedback("helpful", true)
                    .on_current_span()
                    .unwrap(),
            );
            tracer.in_span("retrieve", |cx| {
                span_ids.push(cx.span().span_context().span_id());
                record_here(
                    &recorder,
                    &mut sent,
                    Assessment::feedback("relevant", 0.8)
                        .on_current_span()
                        .unwrap(),
                );
            });
            record_here(
                &recorder,
                &mut sent,
                Assessment::expectation("answer", "42")
                    .on_current_span()
                    .unwrap(),
            );
            wait_held(&recorder, 3);
            span_ids.push(cx.span().span_context().span_id());
            cx.span().span_context().trace_id()
        });
        provider.force_flush().unwrap();
        recorder.flush().unwrap();
        let c = recorder.counters();
        assert_eq!(
            (c.delivered, c.spooled, c.failed, c.held),
            (0, 3, 0, 0),
            "{c:?}"
        );
        assert_eq!(spooled.pending().unwrap(), 5, "2 spans and 3 assessments");
        assert_eq!(spooled.stats().spooled, 5);
        assert!(receiver.requests().is_empty());
        provider.shutdown().unwrap();
        recorder.shutdown().unwrap();
        (trace_id, span_ids)
        // The "process" ends with its trace spooled.
    };
    {
        let store = open(&path);
        let waiting: i64 = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM spool", [], |row| row.get(0))
            .unwrap();
        assert_eq!(waiting, 5, "in the file");
        drop(store);
    }

    // The collector is up; the next process replays as the assembler is
    // built, before it records anything.
    let _front = Front::otlp(port, 0, &receiver);
    let otlp = otlp_exporter(port);
    let spooled = Arc::new(Spooled::new(otlp.trace_sink().unwrap(), open(&path)));
    let (spans, assessments) = TraceAssembler::builder(spooled.clone()).build();
    drained(&spooled);
    replayed(&spooled, 5);
    let paths: Vec<String> = receiver.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v1/traces", "/v1/logs"], "spans, then the events");
    let mut received_spans: Vec<Vec<u8>> = receiver
        .spans()
        .into_iter()
        .map(|span| {
            assert_eq!(span.trace_id, trace_id.to_bytes().to_vec());
            span.span_id
        })
        .collect();
    received_spans.sort();
    let mut expected: Vec<Vec<u8>> = span_ids.iter().map(|id| id.to_bytes().to_vec()).collect();
    expected.sort();
    assert_eq!(received_spans, expected, "each span once");
    let received = received_ids(&receiver);
    assert_exactly_once(&received, &sent);
    assert_eq!(received, sent, "in the order recorded");
    for record in receiver.log_records() {
        assert_eq!(record.trace_id, trace_id.to_bytes().to_vec());
    }

    // Nothing more on an explicit replay, nor once the new process runs.
    assert_eq!(spooled.replay().unwrap(), 0);
    let provider = SdkTracerProvider::builder()
        .with_span_processor(spans)
        .build();
    let recorder = Recorder::builder().processor(assessments).build();
    provider.shutdown().unwrap();
    recorder.shutdown().unwrap();
    assert_eq!(receiver.spans().len(), 2);
    assert_eq!(received_ids(&receiver).len(), sent.len());
}

/// Through the assembler too, a collector refusing for good (401) is
/// reported, counted failed, and nothing is spooled.
#[test]
fn an_assembled_trace_refused_by_the_collector_is_not_spooled() {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use verdict::Recorder;
    use verdict_export::TraceAssembler;

    let dir = tempfile::tempdir().unwrap();
    let port = reserve_port();
    let front = Front::start(port, 0, |_| (401, b"bad token".to_vec()));
    let otlp = otlp_exporter_with_token(port);
    let spooled = Arc::new(Spooled::new(
        otlp.trace_sink().unwrap(),
        open(&dir.path().join("verdict.db")),
    ));
    let (spans, assessments) = TraceAssembler::builder(spooled.clone()).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(spans)
        .build();
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = errors.clone();
    let recorder = Recorder::builder()
        .processor(assessments)
        .on_error(move |_, error| seen.lock().unwrap().push(error.to_string()))
        .build();
    provider.tracer("spool-test").in_span("request", |_| {
        recorder
            .record(
                Assessment::feedback("helpful", true)
                    .on_current_span()
                    .unwrap(),
            )
            .unwrap();
        wait_held(&recorder, 1);
    });
    let _ = provider.force_flush();
    let flushed = recorder.flush();
    let c = recorder.counters();
    assert_eq!((c.delivered, c.failed, c.held), (0, 1, 0), "{c:?}");
    let text = format!("{flushed:?} {:?}", errors.lock().unwrap());
    assert!(text.contains("refused") && text.contains("401"), "{text}");
    assert!(!text.contains(OTLP_TOKEN), "{text}");
    assert_eq!(spooled.pending().unwrap(), 0, "a refusal is not spooled");
    assert_eq!(spooled.stats().spooled, 0);
    assert_eq!(front.failed(), 0);
    let _ = provider.shutdown();
    let _ = recorder.shutdown();
}

/// The same wiring over the MLflow sink, against an MLflow-like server
/// answering 503 (as in `mlflow_operations_that_fail_transiently_…`, spans
/// passed on to an OTLP receiver): the trace and its assessments, which
/// the sink would create in one request, are spooled; once the server
/// answers, the next process delivers the spans, then each assessment
/// once.
#[test]
fn an_assembled_trace_for_mlflow_is_spooled_on_503_and_replayed_once() {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use verdict::Recorder;
    use verdict_export::TraceAssembler;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    // The receiver first: the port it binds cannot then be the one
    // reserved (released at once) for the server that comes later.
    let receiver = OtlpReceiver::start().unwrap();
    let port = reserve_port();
    let target = receiver.endpoint();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let created: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = created.clone();
    let front = Front::start(port, 1_000_000, move |req: &Request| {
        if req.path.ends_with("/v1/traces") {
            return forward(&agent, &target, req);
        }
        fake_mlflow(req, &seen)
    });
    let mlflow = || {
        MlflowSink::builder(format!("http://127.0.0.1:{port}"))
            .retry(
                RetryPolicy::default()
                    .initial_delay(Duration::from_millis(5))
                    .max_delay(Duration::from_millis(10))
                    .budget(Duration::from_millis(50)),
            )
            .build()
            .unwrap()
    };

    let mut sent = Vec::new();
    {
        let spooled = Arc::new(Spooled::new(mlflow(), open(&path)));
        let (spans, assessments) = TraceAssembler::builder(spooled.clone()).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(spans)
            .build();
        let recorder = Recorder::builder().processor(assessments).build();
        let tracer = provider.tracer("spool-test");
        tracer.in_span("request", |_| {
            tracer.in_span("retrieve", |_| {
                record_here(
                    &recorder,
                    &mut sent,
                    Assessment::feedback("relevant", 0.8)
                        .on_current_span()
                        .unwrap(),
                );
            });
            record_here(
                &recorder,
                &mut sent,
                Assessment::feedback("helpful", true)
                    .on_current_span()
                    .unwrap(),
            );
            wait_held(&recorder, 2);
        });
        provider.force_flush().unwrap();
        recorder.flush().unwrap();
        let c = recorder.counters();
        assert_eq!(
            (c.delivered, c.spooled, c.failed, c.held),
            (0, 2, 0, 0),
            "{c:?}"
        );
        assert_eq!(spooled.pending().unwrap(), 4, "2 spans and 2 assessments");
        assert!(front.failed() > 0);
        assert!(created.lock().unwrap().is_empty());
        assert_eq!(receiver.span_count(), 0);
        provider.shutdown().unwrap();
        recorder.shutdown().unwrap();
    }

    front.fail.store(0, Ordering::SeqCst);
    let spooled = Arc::new(Spooled::new(mlflow(), open(&path)));
    let _assembler = TraceAssembler::builder(spooled.clone()).build();
    drained(&spooled);
    replayed(&spooled, 4);
    assert_eq!(receiver.span_count(), 2);
    assert_exactly_once(&created.lock().unwrap(), &sent);
}
