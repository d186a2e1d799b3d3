//! What the OTLP sink says of each operation is what became of the request
//! that carried its event, whoever else uses the exporter at the same
//! time; and a call that hangs does not hold up the others.
//!
//! Every collector here is real: an HTTP server that decodes each OTLP
//! logs request (`verdict_export::testing::HttpStub`), or one that accepts
//! and never answers (`verdict_export::testing::HangingReceiver`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
use prost::Message as _;
use verdict::{Assessment, AssessmentSink as _, Operation, Outcomes, attributes};
use verdict_export::testing::proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use verdict_export::testing::proto::tonic::common::v1::any_value::Value;
use verdict_export::testing::{HangingReceiver, HttpStub};
use verdict_export::{OtlpExporter, SpanSink as _, TraceSink as _};

mod common;

/// A logs request as the collector saw it: the assessment ids its events
/// carried, and the status it answered.
#[derive(Clone, Debug)]
struct Seen {
    ids: Vec<String>,
    /// How many of its records were not assessment events.
    others: usize,
    status: u16,
}

/// A collector that decodes every logs request and answers the status
/// `answer` gives for it (called with the request's ids and how many other
/// records it carried; it may block).
struct Collector {
    stub: HttpStub,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Collector {
    fn start(answer: impl Fn(&[String], usize) -> u16 + Send + Sync + 'static) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        let stub = HttpStub::builder()
            .content_type("application/x-protobuf")
            .start(move |request| {
                if request.path != "/v1/logs" {
                    return (200, Vec::new());
                }
                let Ok(decoded) = ExportLogsServiceRequest::decode(request.body.as_slice()) else {
                    return (400, b"not an OTLP logs request".to_vec());
                };
                let (ids, others) = carried(&decoded);
                let status = answer(&ids, others);
                kept.lock().unwrap().push(Seen {
                    ids,
                    others,
                    status,
                });
                (status, Vec::new())
            })
            .unwrap();
        Collector { stub, seen }
    }

    fn url(&self) -> String {
        self.stub.url()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Checks that each operation of `batch` is counted delivered exactly
    /// when a request that carried its event was answered 2xx.
    fn check(&self, batch: &[Operation], outcomes: &Outcomes) {
        let seen = self.seen();
        for (i, op) in batch.iter().enumerate() {
            let Operation::Log(assessment) = op else {
                continue;
            };
            let id = assessment.id().to_string();
            let taken = seen
                .iter()
                .any(|s| (200..300).contains(&s.status) && s.ids.contains(&id));
            assert_eq!(
                outcomes.as_slice()[i].is_delivered(),
                taken,
                "operation {i}: counted {:?}, but the collector {} it; requests: {:?}",
                outcomes.as_slice()[i],
                if taken { "took" } else { "did not take" },
                seen.iter()
                    .map(|s| (s.status, s.ids.len(), s.others))
                    .collect::<Vec<_>>()
            );
        }
    }
}

/// The assessment ids of a logs request's events, and how many of its
/// records are not assessment events.
fn carried(request: &ExportLogsServiceRequest) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut others = 0;
    for record in request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
    {
        let id = record
            .attributes
            .iter()
            .find(|kv| kv.key == attributes::ASSESSMENT_ID)
            .and_then(|kv| kv.value.clone()?.value);
        match id {
            Some(Value::StringValue(id)) => ids.push(id),
            _ => others += 1,
        }
    }
    (ids, others)
}

/// `n` feedbacks, each on a trace of its own.
fn feedbacks(n: usize, from: u128) -> Vec<Operation> {
    (0..n as u128)
        .map(|i| {
            Operation::Log(
                Assessment::feedback("ok", true)
                    .on_trace(&format!("{:032x}", from + i + 1), None)
                    .unwrap(),
            )
        })
        .collect()
}

/// Waits until `ready` holds, failing the test with `what` if it does not
/// within a minute (a bound for a test that would otherwise hang, not a
/// measure).
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < give_up, "{what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A logger of the application's own on the exporter's provider (as a
/// service that bridges its logs through `OtlpExporter::logger_provider`)
/// keeps records in the same exporter. The collector refuses every request
/// that carries one of the application's records and takes the others: an
/// operation is delivered only if its event went in a request the
/// collector took, whatever else went with the application's records.
#[test]
fn an_application_logger_on_the_same_exporter_does_not_change_what_is_counted() {
    let collector = Collector::start(|_, others| if others > 0 { 400 } else { 200 });
    let otlp = OtlpExporter::builder()
        .endpoint(collector.url())
        .build()
        .unwrap();
    let app = otlp.logger_provider().logger("app");
    for i in 0..6000 {
        let mut record = app.create_log_record();
        record.set_body(format!("request {i} served").into());
        app.emit(record);
    }

    let batch = feedbacks(4096, 0);
    let result = otlp.sink().export(&batch);
    let outcomes = Outcomes::of(&result, batch.len());
    collector.check(&batch, &outcomes);
    assert_eq!(outcomes.delivered(), batch.len(), "{result:?}");
    assert!(
        collector
            .seen()
            .iter()
            .all(|s| s.ids.is_empty() || s.others == 0),
        "the sink's events went with the application's records: {:?}",
        collector
            .seen()
            .iter()
            .map(|s| (s.status, s.ids.len(), s.others))
            .collect::<Vec<_>>()
    );
    // The application's records still go, on a flush.
    assert!(otlp.flush().is_err(), "the collector refuses them");
    let app_records: usize = collector.seen().iter().map(|s| s.others).sum();
    assert_eq!(app_records, 6000);
}

/// A sink called where OpenTelemetry suppresses telemetry (the SDK's own
/// export threads, such as a batch span processor's, do) still sends its
/// events, and counts delivered only what the collector took.
#[test]
fn an_export_where_telemetry_is_suppressed_still_sends_its_events() {
    let collector = Collector::start(|_, _| 200);
    let otlp = OtlpExporter::builder()
        .endpoint(collector.url())
        .build()
        .unwrap();
    let batch = feedbacks(3, 0);
    let result = {
        let _suppressed = opentelemetry::Context::enter_telemetry_suppressed_scope();
        otlp.sink().export(&batch)
    };
    let outcomes = Outcomes::of(&result, batch.len());
    collector.check(&batch, &outcomes);
    assert_eq!(outcomes.delivered(), 3, "{result:?}");
}

/// Two exports at once through sinks of one exporter (two recorders, or
/// a recorder and a spool's replay): the collector holds the first
/// request until the second has arrived, refuses the first and takes the
/// second. Each export's operations have the outcome of their own
/// request, and the second did not wait for the first.
#[test]
fn two_exports_at_once_each_get_the_outcome_of_their_own_request() {
    // How many logs requests have arrived, and whether the second came
    // while the first was held.
    let arrived = Arc::new((Mutex::new(0usize), Condvar::new()));
    let overlapped = Arc::new(AtomicBool::new(false));
    let (count, flag) = (arrived.clone(), overlapped.clone());
    let collector = Collector::start(move |_, _| {
        let (lock, changed) = &*count;
        let mut n = lock.lock().unwrap();
        *n += 1;
        changed.notify_all();
        if *n > 1 {
            return 200;
        }
        // The first: held until another request arrives (or, should none
        // come while it is held, for long enough to show it).
        let (n, _) = changed
            .wait_timeout_while(n, Duration::from_secs(20), |n| *n < 2)
            .unwrap();
        flag.store(*n >= 2, Ordering::SeqCst);
        400
    });
    let otlp = OtlpExporter::builder()
        .endpoint(collector.url())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    let first = feedbacks(3, 0);
    let second = feedbacks(2, 100);
    let (sink_a, sink_b) = (otlp.sink(), otlp.sink());
    let sent = first.clone();
    let a = thread::spawn(move || sink_a.export(&sent));
    wait_until("the first request never arrived", || {
        *arrived.0.lock().unwrap() >= 1
    });
    let b_result = sink_b.export(&second);
    let a_result = a.join().unwrap();

    assert!(
        overlapped.load(Ordering::SeqCst),
        "the second export waited for the first request to be answered"
    );
    let (a_outcomes, b_outcomes) = (
        Outcomes::of(&a_result, first.len()),
        Outcomes::of(&b_result, second.len()),
    );
    collector.check(&first, &a_outcomes);
    collector.check(&second, &b_outcomes);
    assert_eq!(a_outcomes.refused(), 3, "{a_result:?}");
    assert!(b_result.is_ok(), "{b_result:?}");
}

/// A collector that accepts and never answers: an export hangs until the
/// exporter's own timeout. Meanwhile another export still goes out (a
/// connection of its own), and a shutdown returns; what hung is counted
/// deferred, not delivered, once the collector goes away, and so is what
/// comes after the shutdown, which is not sent.
#[test]
fn an_export_that_hangs_holds_up_neither_the_next_export_nor_shutdown() {
    let hanging = HangingReceiver::start().unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(hanging.endpoint())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let export = |ops: Vec<Operation>| {
        let sink = otlp.sink();
        let done = done.clone();
        thread::spawn(move || {
            let result = sink.export(&ops);
            done.store(true, Ordering::SeqCst);
            (ops, result)
        })
    };
    let a = export(feedbacks(2, 0));
    wait_until("the first export never connected", || {
        hanging.connections() >= 1
    });
    let b = export(feedbacks(2, 100));
    wait_until(
        "the second export never reached the collector: it waits behind the first",
        || hanging.connections() >= 2,
    );
    otlp.shutdown().unwrap();
    assert!(
        !done.load(Ordering::SeqCst),
        "both exports still wait on the collector"
    );
    // After the shutdown nothing is sent, and nothing counted delivered.
    let late = feedbacks(1, 200);
    let result = otlp.sink().export(&late);
    assert_eq!(Outcomes::of(&result, 1).deferred(), 1, "{result:?}");
    assert_eq!(hanging.connections(), 2);

    drop(hanging);
    for handle in [a, b] {
        let (ops, result) = handle.join().unwrap();
        let outcomes = Outcomes::of(&result, ops.len());
        assert_eq!(outcomes.deferred(), ops.len(), "{result:?}");
    }
}

/// The same for spans: a trace sink's span post that hangs holds up
/// neither the next span post nor the tracer provider's resource being
/// set.
#[test]
fn a_span_post_that_hangs_holds_up_neither_the_next_post_nor_set_resource() {
    let hanging = HangingReceiver::start().unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(hanging.endpoint())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let sink = Arc::new(otlp.trace_sink().unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let post = || {
        let (sink, done) = (sink.clone(), done.clone());
        thread::spawn(move || {
            let spans = common::finished_trace();
            let result = sink.export_spans(&spans);
            done.store(true, Ordering::SeqCst);
            (spans.len(), result)
        })
    };
    let a = post();
    wait_until("the first post never connected", || {
        hanging.connections() >= 1
    });
    let b = post();
    wait_until(
        "the second post never reached the collector: it waits behind the first",
        || hanging.connections() >= 2,
    );
    sink.set_resource(
        &opentelemetry_sdk::Resource::builder()
            .with_service_name("later")
            .build(),
    );
    assert!(
        !done.load(Ordering::SeqCst),
        "both posts still wait on the collector"
    );

    drop(hanging);
    for handle in [a, b] {
        let (len, result) = handle.join().unwrap();
        assert_eq!(Outcomes::of(&result, len).deferred(), len, "{result:?}");
    }
}

/// The same for spans that carry a resource of their own (as a store or
/// an OTLP file keeps them): a post for one service that hangs holds up
/// neither a post for another service, nor one for the same service, nor
/// the shutdown.
#[test]
fn a_post_of_another_services_spans_that_hangs_holds_up_no_other_post() {
    let hanging = HangingReceiver::start().unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(hanging.endpoint())
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let sink = Arc::new(otlp.trace_sink().unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let post = |service: &'static str| {
        let (sink, done) = (sink.clone(), done.clone());
        thread::spawn(move || {
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name(service)
                .build();
            let spans: Vec<_> = common::finished_trace()
                .iter()
                .map(|span| verdict_export::StoredSpan::from(span).with_resource(&resource))
                .collect();
            let result = sink.export_stored_spans(&spans);
            done.store(true, Ordering::SeqCst);
            (spans.len(), result)
        })
    };
    let posts = [post("checkout"), post("search"), post("checkout")];
    wait_until(
        "a post of another service's spans waits behind one that hangs",
        || hanging.connections() >= 3,
    );
    otlp.shutdown().unwrap();
    assert!(
        !done.load(Ordering::SeqCst),
        "every post still waits on the collector"
    );
    drop(hanging);
    for handle in posts {
        let (len, result) = handle.join().unwrap();
        assert_eq!(Outcomes::of(&result, len).deferred(), len, "{result:?}");
    }
}
