//! Faults between the MLflow sink and a real MLflow 3.17.2 server: the
//! server is unreachable when export starts and comes up later; it answers
//! 503 for a while; it is slow (answers come after the client gave up on
//! them); the process restarts with assessments and spans spooled. In
//! every case every assessment arrives exactly once, read back through
//! MLflow's REST API.
//!
//! One `#[test]` owns the server (see `common/mlflow_server.rs`); faults
//! are injected by a proxy in front of it (`common/fault_proxy.rs` says
//! why a proxy).

#[path = "common/fault_proxy.rs"]
mod fault_proxy;
#[path = "common/mlflow_server.rs"]
mod mlflow_server;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fault_proxy::{Fault, FaultProxy};
use mlflow_server::MlflowServer;
use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceId, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use verdict::{Assessment, Recorder, Target, mlflow_trace_id};
use verdict_export::{
    LocalStore, MlflowSink, RetryPolicy, Spooled, TraceAssembler, WithHttpSettings as _,
};

#[test]
fn every_assessment_arrives_exactly_once_despite_faults() {
    let server = MlflowServer::start();
    eprintln!("mlflow server up at {} in {:?}", server.url, server.startup);
    let checks = Instant::now();
    server_down_when_export_starts_then_up(&server);
    server_answers_503_for_a_while(&server);
    slow_answers_that_the_client_gives_up_on(&server);
    restart_with_assessments_and_spans_spooled(&server);
    assembled_traces_spooled_while_the_server_is_down(&server);
    eprintln!("fault checks took {:?}", checks.elapsed());
}

fn sink(url: &str, budget: Duration, timeout: Duration) -> Arc<MlflowSink> {
    Arc::new(
        MlflowSink::builder(url)
            .timeout(timeout)
            .retry(
                RetryPolicy::default()
                    .initial_delay(Duration::from_millis(50))
                    .max_delay(Duration::from_millis(400))
                    .budget(budget),
            )
            .build()
            .unwrap(),
    )
}

/// `count` finished traces of a root span with one child each.
fn traces(count: usize) -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("verdict-fault-tests");
    for _ in 0..count {
        tracer.in_span("request", |_| tracer.in_span("answer", |_| {}));
    }
    provider.force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

fn trace_ids(spans: &[SpanData]) -> HashSet<TraceId> {
    spans.iter().map(|s| s.span_context.trace_id()).collect()
}

/// Feedbacks on every span: one per span, and a few on the trace.
fn feedbacks(spans: &[SpanData], per_trace: usize) -> Vec<Assessment> {
    let mut out: Vec<Assessment> = spans
        .iter()
        .map(|s| {
            Assessment::feedback("on_span", 0.5)
                .rationale(s.name.to_string())
                .on(Target::span(s.span_context.trace_id(), s.span_context.span_id()).unwrap())
                .unwrap()
        })
        .collect();
    for trace in trace_ids(spans) {
        for i in 0..per_trace {
            out.push(
                Assessment::feedback("on_trace", i as f64)
                    .on(Target::trace(trace).unwrap())
                    .unwrap(),
            );
        }
    }
    out
}

/// Every assessment id of the traces, as the server has them; each id
/// once per assessment row the server returns.
fn ids_on_server(server: &MlflowServer, traces: &HashSet<TraceId>) -> Vec<String> {
    let mut ids = Vec::new();
    for trace in traces {
        let (status, body) = server.get(&format!(
            "/api/3.0/mlflow/traces/{}",
            mlflow_trace_id(*trace)
        ));
        assert_eq!(status, 200, "{body}");
        if let Some(list) = body["trace"]["trace_info"]["assessments"].as_array() {
            ids.extend(
                list.iter()
                    .map(|a| a["assessment_id"].as_str().unwrap().to_owned()),
            );
        }
    }
    ids.sort();
    ids
}

fn assert_exactly_once(server: &MlflowServer, spans: &[SpanData], sent: &[Assessment]) {
    let on_server = ids_on_server(server, &trace_ids(spans));
    let mut expected: Vec<String> = sent.iter().map(|a| a.id().to_string()).collect();
    expected.sort();
    assert_eq!(on_server.len(), expected.len(), "how many on the server");
    assert_eq!(on_server, expected, "each exactly once");
}

fn record_all(recorder: &Recorder, assessments: &[Assessment]) {
    for a in assessments {
        recorder.record(a.clone()).unwrap();
    }
}

fn server_down_when_export_starts_then_up(server: &MlflowServer) {
    let spans = traces(4);
    let assessments = feedbacks(&spans, 5);
    // A port nobody listens on yet; the proxy opens it later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sink = sink(
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(30),
        Duration::from_secs(10),
    );
    let recorder = Recorder::builder().sink(sink.clone()).build();
    let delivering = std::thread::spawn({
        let sink = sink.clone();
        let spans = spans.clone();
        move || sink.export_spans(&spans)
    });
    record_all(&recorder, &assessments);
    std::thread::sleep(Duration::from_millis(1500));
    let proxy = FaultProxy::start(&server.url, port, Fault::None);
    delivering.join().unwrap().unwrap();
    recorder.flush().unwrap();
    assert_eq!(recorder.counters().failed, 0);
    assert_exactly_once(server, &spans, &assessments);
    assert!(
        sink.concurrency().cuts > 0,
        "refused connections cut concurrency"
    );
    drop(proxy);
}

fn server_answers_503_for_a_while(server: &MlflowServer) {
    let spans = traces(6);
    let assessments = feedbacks(&spans, 10);
    let proxy = FaultProxy::start(&server.url, 0, Fault::Unavailable(25));
    let sink = sink(
        &proxy.url(),
        Duration::from_secs(30),
        Duration::from_secs(10),
    );
    sink.export_spans(&spans).unwrap();
    let recorder = Recorder::builder().sink(sink.clone()).build();
    record_all(&recorder, &assessments);
    recorder.flush().unwrap();
    assert_eq!(recorder.counters().failed, 0);
    let (forwarded, refused) = proxy.counts();
    assert_eq!(refused, 25, "the proxy answered 503 as told");
    assert!(forwarded > 0);
    assert_exactly_once(server, &spans, &assessments);
    let concurrency = sink.concurrency();
    assert!(concurrency.cuts > 0, "{concurrency:?}");
}

fn slow_answers_that_the_client_gives_up_on(server: &MlflowServer) {
    let spans = traces(5);
    let assessments = feedbacks(&spans, 8);
    let proxy = FaultProxy::start(&server.url, 0, Fault::None);
    let sink = sink(
        &proxy.url(),
        Duration::from_secs(30),
        Duration::from_millis(700),
    );
    sink.export_spans(&spans).unwrap();
    // The server acts on the next requests, but their answers come after
    // the client stopped waiting: it sends them again.
    proxy.set(Fault::SlowAnswers(12, Duration::from_millis(1500)));
    let recorder = Recorder::builder().sink(sink.clone()).build();
    record_all(&recorder, &assessments);
    recorder.flush().unwrap();
    assert_eq!(recorder.counters().failed, 0);
    assert!(
        matches!(proxy.fault(), Fault::None),
        "all 12 answers came too late for the client: {:?}",
        proxy.fault()
    );
    assert_exactly_once(server, &spans, &assessments);
}

fn restart_with_assessments_and_spans_spooled(server: &MlflowServer) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let spans = traces(3);
    let assessments = feedbacks(&spans, 4);
    let key = "mlflow test";
    {
        // The first process: the server is unreachable; everything goes to
        // the spool, spans first.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let unreachable = sink(
            &format!("http://127.0.0.1:{port}"),
            Duration::from_millis(200),
            Duration::from_secs(2),
        );
        let spooled = Arc::new(Spooled::with_spans(
            unreachable,
            LocalStore::open(&path).unwrap(),
            key,
        ));
        // Spooled: not delivered, and no failure either.
        let kept = verdict_export::SpanSink::export_spans(&spooled, &spans);
        let outcomes = verdict::Outcomes::of(&kept, spans.len());
        assert_eq!(outcomes.spooled(), spans.len(), "{kept:?}");
        let recorder = Recorder::builder().sink(spooled.clone()).build();
        record_all(&recorder, &assessments);
        recorder.shutdown().unwrap();
        assert_eq!(recorder.counters().failed, 0, "spooled, not failed");
        assert_eq!(
            spooled.pending().unwrap(),
            spans.len() + assessments.len(),
            "spans and assessments wait in the spool"
        );
    }
    // The next process: the server is up; the sink replays the spool in
    // the background.
    let spooled = Spooled::with_spans(
        sink(
            &server.url,
            Duration::from_secs(20),
            Duration::from_secs(10),
        ),
        LocalStore::open(&path).unwrap(),
        key,
    );
    let start = std::time::Instant::now();
    while spooled.pending().unwrap() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{:?}",
            spooled.stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_exactly_once(server, &spans, &assessments);
    for span in &spans {
        let (status, _) = server.get(&format!(
            "/api/3.0/mlflow/traces/{}",
            mlflow_trace_id(span.span_context.trace_id())
        ));
        assert_eq!(status, 200);
    }
    // Replaying again sends nothing twice.
    assert_eq!(spooled.replay().unwrap(), 0);
    assert_exactly_once(server, &spans, &assessments);
}

/// Standard base64 (as MLflow writes span ids in a trace's artifact) to
/// lowercase hex.
fn base64_to_hex(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut hex = String::new();
    for c in text.bytes().take_while(|&c| c != b'=') {
        let value = ALPHABET
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("not base64: {text}"));
        bits = (bits << 6) | value as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            hex.push_str(&format!("{:02x}", (bits >> count) & 0xff));
        }
    }
    hex
}

/// The span ids of a trace as the server has them (hex), each once per
/// span row.
fn span_ids_on_server(server: &MlflowServer, trace: TraceId) -> Vec<String> {
    let (status, body) = server.get(&format!(
        "/ajax-api/3.0/mlflow/get-trace-artifact?request_id={}",
        mlflow_trace_id(trace)
    ));
    assert_eq!(status, 200, "{body}");
    let mut ids: Vec<String> = body["spans"]
        .as_array()
        .map(|spans| {
            spans
                .iter()
                .map(|s| base64_to_hex(s["span_id"].as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The recommended wiring for a receiver that may be down,
/// `TraceAssembler::builder(Spooled::new(mlflow, store))`, with a real
/// tracer provider and recorder: while the server is unreachable, whole
/// traces (one of them flushed while open, before any of its spans ended)
/// go to the spool, counted spooled; once the server is up, a replay
/// delivers them, and the next start (a new assembler over the same
/// store) sends nothing more. Every span and every assessment is on the
/// server exactly once, and each trace is complete.
fn assembled_traces_spooled_while_the_server_is_down(server: &MlflowServer) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let exporter = InMemorySpanExporter::default();
    // Replayed when the test says (the background replay runs at start).
    let spooled = Arc::new(
        Spooled::new(
            sink(&url, Duration::from_millis(300), Duration::from_secs(10)),
            LocalStore::open(&path).unwrap(),
        )
        .retry_after(Duration::from_secs(3600)),
    );
    let (span_side, assessment_side) = TraceAssembler::builder(spooled.clone()).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(span_side)
        .with_simple_exporter(exporter.clone())
        .build();
    let recorder = Recorder::builder().processor(assessment_side).build();
    let tracer = provider.tracer("verdict-fault-tests");
    let recorded = std::cell::RefCell::new(Vec::new());
    let record_here = |a: Assessment| {
        recorder.record(a.clone()).unwrap();
        recorded.borrow_mut().push(a);
    };
    // Two traces recorded while they are open, shipped when they end.
    for i in 0..2 {
        tracer.in_span("request", |_| {
            tracer.in_span("retrieve", |_| {
                record_here(
                    Assessment::feedback("relevant", 0.5 + i as f64)
                        .on_current_span()
                        .unwrap(),
                );
            });
            record_here(
                Assessment::expectation("expected_response", "Paris")
                    .on_current_span()
                    .unwrap(),
            );
            record_here(
                Assessment::feedback("helpful", true)
                    .on_current_span()
                    .unwrap(),
            );
        });
    }
    // One flushed while open, before any of its spans ended.
    tracer.in_span("long request", |_| {
        record_here(
            Assessment::feedback("early", "ok")
                .on_current_span()
                .unwrap(),
        );
        recorder.flush().unwrap();
        tracer.in_span("answer", |_| {
            record_here(
                Assessment::feedback("late", false)
                    .on_current_span()
                    .unwrap(),
            );
        });
    });
    provider.force_flush().unwrap();
    recorder.flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 6);
    let c = recorder.counters();
    assert_eq!(
        (c.recorded, c.delivered, c.spooled, c.failed, c.held),
        (8, 0, 8, 0, 0),
        "spooled, neither delivered nor failed: {c:?}"
    );
    assert_eq!(
        spooled.pending().unwrap(),
        spans.len() + recorded.borrow().len(),
        "every span and assessment waits in the spool: {:?}",
        spooled.stats()
    );

    // The server comes up; a replay delivers what waits, in order.
    let proxy = FaultProxy::start(&server.url, port, Fault::None);
    assert_eq!(
        spooled.replay().unwrap(),
        spans.len() + recorded.borrow().len()
    );
    assert_eq!(spooled.pending().unwrap(), 0);
    // A trace recorded now goes straight through.
    tracer.in_span("after", |cx| {
        record_here(
            Assessment::feedback("fresh", 1.0)
                .on(Target::span(
                    cx.span().span_context().trace_id(),
                    cx.span().span_context().span_id(),
                )
                .unwrap())
                .unwrap(),
        );
    });
    provider.force_flush().unwrap();
    recorder.flush().unwrap();
    assert_eq!(spooled.pending().unwrap(), 0, "{:?}", spooled.stats());
    let c = recorder.counters();
    assert_eq!(
        (c.recorded, c.delivered, c.spooled, c.failed, c.held),
        (9, 1, 8, 0, 0)
    );
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 7);
    recorder.shutdown().unwrap();
    provider.shutdown().unwrap();
    drop(recorder);

    // The next start over the same store sends nothing more.
    let again = Arc::new(Spooled::new(
        sink(&url, Duration::from_millis(300), Duration::from_secs(10)),
        LocalStore::open(&path).unwrap(),
    ));
    let _assembler = TraceAssembler::builder(again.clone()).build();
    assert_eq!(again.pending().unwrap(), 0);
    assert_eq!(again.replay().unwrap(), 0);

    assert_exactly_once(server, &spans, &recorded.borrow());
    for trace in trace_ids(&spans) {
        let mut expected: Vec<String> = spans
            .iter()
            .filter(|s| s.span_context.trace_id() == trace)
            .map(|s| s.span_context.span_id().to_string())
            .collect();
        expected.sort();
        assert_eq!(
            span_ids_on_server(server, trace),
            expected,
            "spans of {trace}"
        );
        let (_, body) = server.get(&format!(
            "/api/3.0/mlflow/traces/{}",
            mlflow_trace_id(trace)
        ));
        assert_eq!(body["trace"]["trace_info"]["state"], "OK", "{body}");
    }
    assert!(
        spans.iter().any(|s| s.parent_span_id == SpanId::INVALID),
        "roots among the spans"
    );
    drop(proxy);
}
