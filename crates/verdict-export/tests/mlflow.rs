//! The MLflow sink against a real MLflow 3.17.2 server (started by
//! `scripts/mlflow/start.sh`, installed by `scripts/mlflow/install.sh`):
//! spans and every assessment operation land on the server exactly as
//! recorded, read back through MLflow's REST API.
//!
//! One `#[test]` owns the server (see `common/mlflow_server.rs`) and runs
//! the checks in turn.

#[path = "common/fault_proxy.rs"]
#[allow(dead_code)]
mod fault_proxy;
#[path = "common/mlflow_server.rs"]
mod mlflow_server;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mlflow_server::MlflowServer;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId, Tracer, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;
use verdict::{
    Assessment, AssessmentError, AssessmentSink, AssessmentSource, AssessmentUpdate, MemoryStore,
    Operation, Recorder, Target, mlflow_trace_id,
};
use verdict_export::{MlflowSink, RetryPolicy, TraceAssembler, WithHttpSettings as _};

#[test]
fn against_a_real_mlflow_server() {
    let server = MlflowServer::start();
    eprintln!("mlflow server up at {} in {:?}", server.url, server.startup);
    let checks = Instant::now();
    everything_recorded_shows_up_on_the_server(&server);
    an_assessment_recorded_before_its_spans_arrives_once_they_do(&server);
    sending_the_same_assessment_again_does_not_duplicate_it(&server);
    patch_metadata_on_the_server(&server);
    permanent_failures_are_reported_with_the_servers_message(&server);
    a_trace_shipped_with_its_assessments_is_created_with_them(&server);
    the_assembler_ships_a_trace_with_what_was_recorded_while_it_was_open(&server);
    the_assembler_flushed_while_a_trace_is_open_loses_nothing(&server);
    the_assembler_flushed_before_any_span_ended_creates_the_trace_in_progress(&server);
    eprintln!("mlflow checks took {:?}", checks.elapsed());
}

fn sink(server: &MlflowServer) -> Arc<MlflowSink> {
    Arc::new(
        MlflowSink::builder(&server.url)
            .retry(
                RetryPolicy::default()
                    .initial_delay(Duration::from_millis(50))
                    .max_delay(Duration::from_millis(500))
                    .budget(Duration::from_secs(20)),
            )
            .build()
            .unwrap(),
    )
}

/// A finished trace: a root span and a child. Returns the spans, the trace
/// id, and the root's and the child's span ids.
fn trace() -> (Vec<SpanData>, TraceId, SpanId, SpanId) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("verdict-mlflow-tests");
    let (trace_id, root, child) = tracer.in_span("handle request", |cx| {
        cx.span()
            .set_attribute(KeyValue::new("mlflow.spanType", "CHAIN"));
        let child = tracer.in_span("answer", |cx| {
            cx.span()
                .set_attribute(KeyValue::new("mlflow.spanType", "LLM"));
            cx.span().span_context().span_id()
        });
        let root = cx.span().span_context().clone();
        (root.trace_id(), root.span_id(), child)
    });
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 2);
    (spans, trace_id, root, child)
}

fn assessment_path(trace_id: TraceId, id: impl std::fmt::Display) -> String {
    format!(
        "/api/3.0/mlflow/traces/{}/assessments/{id}",
        mlflow_trace_id(trace_id)
    )
}

/// The assessment as the server has it, decoded with Verdict's serde.
fn fetch(server: &MlflowServer, a: &Assessment) -> Assessment {
    let (status, mut body) = server.get(&assessment_path(a.trace_id(), a.id()));
    assert_eq!(status, 200, "GET {}: {body}", a.id());
    serde_json::from_value(body["assessment"].take())
        .unwrap_or_else(|e| panic!("decode {}: {e}", a.id()))
}

/// The trace's info as the server has it.
fn trace_info(server: &MlflowServer, trace_id: TraceId) -> serde_json::Value {
    let (status, mut body) = server.get(&format!(
        "/api/3.0/mlflow/traces/{}",
        mlflow_trace_id(trace_id)
    ));
    assert_eq!(status, 200, "{body}");
    body["trace"]["trace_info"].take()
}

/// The ids of the assessments the trace holds on the server.
fn ids_on_trace(server: &MlflowServer, trace_id: TraceId) -> Vec<String> {
    let (status, body) = server.get(&format!(
        "/api/3.0/mlflow/traces/{}",
        mlflow_trace_id(trace_id)
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["trace"]["trace_info"]["trace_id"],
        mlflow_trace_id(trace_id)
    );
    body["trace"]["trace_info"]["assessments"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| a["assessment_id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Field by field (numbers are doubles on both sides), with the name of
/// the field that differs.
/// `updated`: the assessment was PATCHed, so the server stamped it.
fn assert_same(stored: &Assessment, expected: &Assessment, updated: bool) {
    let id = expected.id();
    assert_eq!(stored.id(), id);
    assert_eq!(stored.name(), expected.name(), "{id}: name");
    assert_eq!(stored.target(), expected.target(), "{id}: target");
    assert_eq!(stored.source(), expected.source(), "{id}: source");
    assert_eq!(stored.value(), expected.value(), "{id}: value");
    assert_eq!(stored.rationale(), expected.rationale(), "{id}: rationale");
    assert_eq!(stored.metadata(), expected.metadata(), "{id}: metadata");
    assert_eq!(stored.run_id(), expected.run_id(), "{id}: run id");
    assert_eq!(stored.overrides(), expected.overrides(), "{id}: overrides");
    assert_eq!(stored.is_valid(), expected.is_valid(), "{id}: valid");
    assert_eq!(
        stored.create_time(),
        expected.create_time(),
        "{id}: create time"
    );
    // MLflow stamps an update with its own clock, not the update's time;
    // other writes keep the time sent.
    let (a, b) = (stored.last_update_time(), expected.last_update_time());
    let skew = a
        .duration_since(b)
        .or_else(|_| b.duration_since(a))
        .unwrap();
    if !updated {
        assert_eq!(a, b, "{id} {}: last update time", expected.name());
    } else {
        assert!(
            skew < Duration::from_secs(10),
            "{id}: last update time {a:?} vs {b:?}"
        );
    }
}

fn everything_recorded_shows_up_on_the_server(server: &MlflowServer) {
    let sink = sink(server);
    let (spans, trace_id, root, child) = trace();
    sink.export_spans(&spans).unwrap();
    assert!(ids_on_trace(server, trace_id).is_empty());
    let info_before = trace_info(server, trace_id);

    // The same operations go to the server and to the core's in-memory
    // store, which applies MLflow's lifecycle rules: the expected state.
    let expected = MemoryStore::default();
    let recorder = Recorder::builder()
        .sink(sink.clone())
        .sink(expected.clone())
        .build();
    let on_child = Target::span(trace_id, child).unwrap();
    let on_root = Target::span(trace_id, root).unwrap();

    let correct = Assessment::feedback("correctness", true)
        .rationale("matches the reference")
        .metadata("scorer.version", "1")
        .run_id("run-1")
        .on(on_child)
        .unwrap();
    let facts = Assessment::expectation("expected_facts", json!(["Paris", "France"]))
        .source(AssessmentSource::human("ann@example.com"))
        .on(on_root)
        .unwrap();
    let answer = Assessment::expectation("expected_response", "Paris")
        .on(Target::trace(trace_id).unwrap())
        .unwrap();
    let judge = Assessment::feedback_error(
        "groundedness",
        AssessmentError::new("TIMEOUT")
            .with_message("the judge took too long")
            .with_stack_trace("at judge()"),
    )
    .source(AssessmentSource::llm_judge("gpt-judge"))
    .on(on_child)
    .unwrap();
    let relevance = Assessment::feedback("relevance", 0.75)
        .metadata("origin", "auto")
        .on(on_child)
        .unwrap();
    let scratch = Assessment::feedback("scratch", 3).on(on_child).unwrap();
    let overriding = Assessment::override_of(&correct, false)
        .rationale("a reviewer disagrees")
        .source(AssessmentSource::human("reviewer"))
        .on(on_child)
        .unwrap();
    for a in [
        &correct,
        &facts,
        &answer,
        &judge,
        &relevance,
        &scratch,
        &overriding,
    ] {
        recorder.record(a.clone()).unwrap();
    }
    recorder
        .update(
            AssessmentUpdate::builder(trace_id, relevance.id())
                .feedback(0.5)
                .rationale("re-scored after review")
                .metadata("reviewed", "yes")
                .build()
                .unwrap(),
        )
        .unwrap();
    recorder.delete(trace_id, scratch.id()).unwrap();
    recorder.flush().unwrap();
    assert_eq!(recorder.counters().failed, 0);

    let expected_list = expected.list_by_trace(trace_id);
    assert_eq!(expected_list.len(), 6);
    // Sending assessments inline with the trace left the trace as it was.
    let info_after = trace_info(server, trace_id);
    for field in [
        "request_time",
        "execution_duration",
        "state",
        "trace_location",
        "tags",
        "request_preview",
        "response_preview",
    ] {
        assert_eq!(info_after[field], info_before[field], "trace info {field}");
    }
    for want in &expected_list {
        assert_same(&fetch(server, want), want, want.id() == relevance.id());
    }
    assert!(!fetch(server, &correct).is_valid(), "overridden");
    let (status, _) = server.get(&assessment_path(trace_id, scratch.id()));
    assert_eq!(status, 404, "deleted");
    let on_server: BTreeSet<String> = ids_on_trace(server, trace_id).into_iter().collect();
    let recorded: BTreeSet<String> = expected_list.iter().map(|a| a.id().to_string()).collect();
    assert_eq!(on_server, recorded);

    // Deleting the override makes the overridden feedback valid again, on
    // both sides; deleting twice is fine.
    recorder.delete(trace_id, overriding.id()).unwrap();
    recorder.delete(trace_id, overriding.id()).unwrap();
    recorder.flush().unwrap();
    let restored = expected.get(trace_id, correct.id()).unwrap();
    assert!(restored.is_valid());
    assert_same(&fetch(server, &correct), &restored, false);
    recorder.shutdown().unwrap();
}

fn an_assessment_recorded_before_its_spans_arrives_once_they_do(server: &MlflowServer) {
    let sink = sink(server);
    let (spans, trace_id, _, child) = trace();
    let recorder = Recorder::builder().sink(sink.clone()).build();
    let early = Assessment::feedback("early", "good")
        .on(Target::span(trace_id, child).unwrap())
        .unwrap();
    recorder.record(early.clone()).unwrap();
    // The worker is retrying against "trace not found" meanwhile.
    std::thread::sleep(Duration::from_millis(1500));
    let (status, _) = server.get(&format!(
        "/api/3.0/mlflow/traces/{}",
        mlflow_trace_id(trace_id)
    ));
    assert_eq!(status, 404, "the trace is not there yet");
    sink.export_spans(&spans).unwrap();
    recorder.flush().unwrap();
    assert_eq!(recorder.counters().failed, 0);
    assert_same(&fetch(server, &early), &early, false);
    assert_eq!(ids_on_trace(server, trace_id), vec![early.id().to_string()]);
}

fn sending_the_same_assessment_again_does_not_duplicate_it(server: &MlflowServer) {
    let sink = sink(server);
    let (spans, trace_id, _, child) = trace();
    sink.export_spans(&spans).unwrap();
    let a = Assessment::feedback("resent", 1)
        .on(Target::span(trace_id, child).unwrap())
        .unwrap();
    // A retry after an answer that got lost: the server already has it.
    sink.export(&[Operation::Log(a.clone())]).unwrap();
    sink.export(&[Operation::Log(a.clone())]).unwrap();
    assert_eq!(ids_on_trace(server, trace_id), vec![a.id().to_string()]);
    assert_same(&fetch(server, &a), &a, false);

    // Another assessment that reuses the id is refused, not taken for ours.
    let impostor = Assessment::feedback("impostor", 2)
        .id(a.id())
        .on(Target::span(trace_id, child).unwrap())
        .unwrap();
    let err = sink.export(&[Operation::Log(impostor)]).unwrap_err();
    assert!(err.to_string().contains("taken by another"), "{err}");
    assert!(
        matches!(err.outcomes(), Some([verdict::Outcome::Refused(why)]) if why.contains("taken by another")),
        "{err:?}"
    );
    assert_eq!(ids_on_trace(server, trace_id).len(), 1);
}

/// Pins down what the server does with `metadata` in a PATCH: it merges
/// the entries sent into the stored ones or replaces them all.
fn patch_metadata_on_the_server(server: &MlflowServer) {
    let sink = sink(server);
    let (spans, trace_id, _, child) = trace();
    sink.export_spans(&spans).unwrap();
    let a = Assessment::feedback("patched", true)
        .metadata("a", "1")
        .metadata("b", "2")
        .on(Target::span(trace_id, child).unwrap())
        .unwrap();
    sink.export(&[Operation::Log(a.clone())]).unwrap();
    let update = AssessmentUpdate::builder(trace_id, a.id())
        .metadata("b", "3")
        .metadata("c", "4")
        .build()
        .unwrap();
    sink.export(&[Operation::Update(update)]).unwrap();
    let stored = fetch(server, &a);
    let got: Vec<(&str, &str)> = stored
        .metadata()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    eprintln!("metadata after PATCH: {got:?}");
    assert_eq!(
        got,
        [("a", "1"), ("b", "3"), ("c", "4")],
        "MLflow 3.17.2 merges PATCHed metadata into the stored entries"
    );
}

fn permanent_failures_are_reported_with_the_servers_message(server: &MlflowServer) {
    let sink = sink(server);
    let (spans, trace_id, _, _) = trace();
    sink.export_spans(&spans).unwrap();
    let missing = AssessmentUpdate::builder(trace_id, verdict::AssessmentId::random())
        .rationale("nobody home")
        .build()
        .unwrap();
    let start = Instant::now();
    let err = sink.export(&[Operation::Update(missing)]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("HTTP 404 RESOURCE_DOES_NOT_EXIST"), "{text}");
    assert!(
        matches!(err.outcomes(), Some([verdict::Outcome::Refused(_)])),
        "{err:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5), "not retried");
}

/// `export_traces`: the trace is created with its assessments, its spans
/// follow; the trace reads as one ingested over OTLP alone, every
/// assessment as recorded, and shipping it again duplicates nothing.
fn a_trace_shipped_with_its_assessments_is_created_with_them(server: &MlflowServer) {
    let sink = sink(server);
    let (spans, trace_id, root, child) = trace();
    let on_child = Target::span(trace_id, child).unwrap();
    let correct = Assessment::feedback("correctness", true)
        .rationale("matches the reference")
        .metadata("scorer.version", "1")
        .run_id("run-7")
        .on(on_child)
        .unwrap();
    let assessments = vec![
        correct.clone(),
        Assessment::expectation("expected_facts", json!(["Paris", "France"]))
            .on(Target::trace(trace_id).unwrap())
            .unwrap(),
        Assessment::feedback_error(
            "groundedness",
            AssessmentError::new("TIMEOUT").with_message("the judge took too long"),
        )
        .source(AssessmentSource::llm_judge("gpt-judge"))
        .on(Target::span(trace_id, root).unwrap())
        .unwrap(),
        Assessment::override_of(&correct, false)
            .source(AssessmentSource::human("reviewer"))
            .on(on_child)
            .unwrap(),
    ];
    sink.export_traces(&spans, &assessments).unwrap();
    sink.export_traces(&spans, &assessments).unwrap();

    let expected = MemoryStore::default();
    for a in &assessments {
        verdict::AssessmentSink::export(&expected, &[Operation::Log(a.clone())]).unwrap();
    }
    let mut recorded: Vec<String> = assessments.iter().map(|a| a.id().to_string()).collect();
    let mut on_server = ids_on_trace(server, trace_id);
    recorded.sort();
    on_server.sort();
    assert_eq!(on_server, recorded, "each once");
    for want in expected.list_by_trace(trace_id) {
        assert_same(&fetch(server, &want), &want, false);
    }
    assert!(!fetch(server, &correct).is_valid(), "overridden");

    // The trace's info is what MLflow makes of the spans alone.
    let root_span = spans
        .iter()
        .find(|s| s.span_context.span_id() == root)
        .unwrap();
    let info = trace_info(server, trace_id);
    let millis =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let request_time =
        verdict::wire::parse_time("", info["request_time"].as_str().unwrap()).unwrap();
    assert_eq!(millis(request_time), millis(root_span.start_time));
    assert_eq!(info["state"], "OK");
    assert_eq!(
        info["tags"]["mlflow.trace.spansLocation"], "TRACKING_STORE",
        "{info}"
    );
    // The same tags as a trace ingested over OTLP alone, and the trace's
    // name, as MLflow's client writes it (the root span's).
    let (twin, twin_id, _, _) = trace();
    sink.export_spans(&twin).unwrap();
    let twin_info = trace_info(server, twin_id);
    let keys = |v: &serde_json::Value| {
        v.as_object()
            .map(|o| o.keys().cloned().collect::<BTreeSet<_>>())
            .unwrap_or_default()
    };
    let mut expected = keys(&twin_info["tags"]);
    expected.insert("mlflow.traceName".to_owned());
    assert_eq!(keys(&info["tags"]), expected);
    assert_eq!(info["tags"]["mlflow.traceName"], root_span.name.as_ref());
    assert_eq!(info["state"], twin_info["state"]);
    let (status, body) = server.get(&format!(
        "/ajax-api/3.0/mlflow/get-trace-artifact?request_id={}",
        mlflow_trace_id(trace_id)
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["spans"].as_array().map(Vec::len), Some(2), "{body}");
}

/// A real tracer provider and recorder wired through `TraceAssembler`:
/// assessments recorded while the trace is open create it with them in
/// one request (no read first), its spans in a second; a review recorded
/// after the trace went lands on the right span on its own.
fn the_assembler_ships_a_trace_with_what_was_recorded_while_it_was_open(server: &MlflowServer) {
    let proxy = fault_proxy::FaultProxy::start(&server.url, 0, fault_proxy::Fault::None);
    let sink = MlflowSink::builder(proxy.url()).build().unwrap();
    let (spans, assessments) = TraceAssembler::builder(sink).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(spans)
        .build();
    let recorder = Recorder::builder().processor(assessments).build();
    let tracer = provider.tracer("verdict-mlflow-tests");
    let (trace_id, child, recorded) = tracer.in_span("handle request", |cx| {
        let (child, feedback) = tracer.in_span("answer", |cx| {
            let feedback = Assessment::feedback("correctness", true)
                .rationale("inline")
                .on_current_span()
                .unwrap();
            recorder.record(feedback.clone()).unwrap();
            (cx.span().span_context().span_id(), feedback)
        });
        let expectation = Assessment::expectation("expected_response", "Paris")
            .on_current_span()
            .unwrap();
        recorder.record(expectation.clone()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while recorder.counters().held < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "not held: {:?}",
                recorder.counters()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let sc = cx.span().span_context().clone();
        (sc.trace_id(), child, vec![feedback, expectation])
    });
    provider.force_flush().unwrap();
    assert_eq!(
        proxy.counts(),
        (2, 0),
        "one request creating the trace with its assessments, one with its spans"
    );
    recorder.flush().unwrap();
    let c = recorder.counters();
    assert_eq!((c.recorded, c.delivered, c.held, c.failed), (2, 2, 0, 0));
    for a in &recorded {
        assert_same(&fetch(server, a), a, false);
    }
    let info = trace_info(server, trace_id);
    assert_eq!(info["state"], "OK", "{info}");
    let (status, body) = server.get(&format!(
        "/ajax-api/3.0/mlflow/get-trace-artifact?request_id={}",
        mlflow_trace_id(trace_id)
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["spans"].as_array().map(Vec::len), Some(2), "{body}");

    // Later, a review of the finished trace, on the child span.
    let late = Assessment::feedback("reviewed", "good")
        .source(AssessmentSource::human("ann@example.com"))
        .on(Target::span(trace_id, child).unwrap())
        .unwrap();
    recorder.record(late.clone()).unwrap();
    recorder.flush().unwrap();
    assert_eq!(recorder.counters().delivered, 3);
    assert_same(&fetch(server, &late), &late, false);
    assert_eq!(ids_on_trace(server, trace_id).len(), 3);
    recorder.shutdown().unwrap();
    provider.shutdown().unwrap();
}

/// A recorder flushed while its trace is open: the assembler sends the
/// spans that ended and the assessments it held, on their own; the root
/// follows when it ends. Everything lands, once.
fn the_assembler_flushed_while_a_trace_is_open_loses_nothing(server: &MlflowServer) {
    let (spans, assessments) = TraceAssembler::builder(sink(server)).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(spans)
        .build();
    let recorder = Recorder::builder().processor(assessments).build();
    let tracer = provider.tracer("verdict-mlflow-tests");
    let (trace_id, recorded) = tracer.in_span("handle request", |cx| {
        let feedback = tracer.in_span("answer", |_| {
            let feedback = Assessment::feedback("early", 0.5)
                .on_current_span()
                .unwrap();
            recorder.record(feedback.clone()).unwrap();
            feedback
        });
        // The child's end reaches the assembler, which holds it.
        provider.force_flush().unwrap();
        recorder.flush().unwrap();
        let c = recorder.counters();
        assert_eq!((c.delivered, c.held, c.failed), (1, 0, 0), "{c:?}");
        (cx.span().span_context().trace_id(), vec![feedback])
    });
    provider.force_flush().unwrap();
    recorder.flush().unwrap();
    for a in &recorded {
        assert_same(&fetch(server, a), a, false);
    }
    let (status, body) = server.get(&format!(
        "/ajax-api/3.0/mlflow/get-trace-artifact?request_id={}",
        mlflow_trace_id(trace_id)
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["spans"].as_array().map(Vec::len), Some(2), "{body}");
    assert_eq!(trace_info(server, trace_id)["state"], "OK");
    recorder.shutdown().unwrap();
    provider.shutdown().unwrap();
}

/// A recorder flushed before any span of its open trace ended: the
/// assessments create the trace `IN_PROGRESS` on the server at once
/// (rather than waiting for a trace the server cannot have: with a
/// `trace_wait` this short, waiting would count them failed). A feedback
/// recorded after the flush joins it; the spans, when they end, make it a
/// trace like one ingested over OTLP alone — time, duration and state from
/// the root, although the root carries a session id (with which MLflow
/// keeps the time range of a trace created this way).
fn the_assembler_flushed_before_any_span_ended_creates_the_trace_in_progress(
    server: &MlflowServer,
) {
    let sink = MlflowSink::builder(&server.url)
        .trace_wait(Duration::from_millis(200))
        .build()
        .unwrap();
    let (spans, assessments) = TraceAssembler::builder(sink).build();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(spans)
        .with_simple_exporter(exporter.clone())
        .build();
    let recorder = Recorder::builder().processor(assessments).build();
    let tracer = provider.tracer("verdict-mlflow-tests");
    let root_attributes = || {
        vec![
            KeyValue::new("mlflow.spanType", "AGENT"),
            KeyValue::new("mlflow.spanInputs", r#"{"question": "capital?"}"#),
            KeyValue::new("session.id", "session-42"),
        ]
    };
    let (trace_id, recorded) = tracer.in_span("handle request", |cx| {
        cx.span().set_attributes(root_attributes());
        let early = Assessment::feedback("early", true)
            .rationale("recorded before any span ended")
            .on_current_span()
            .unwrap();
        recorder.record(early.clone()).unwrap();
        recorder.flush().unwrap();
        let c = recorder.counters();
        assert_eq!((c.delivered, c.held, c.failed), (1, 0, 0), "{c:?}");
        let trace_id = cx.span().span_context().trace_id();
        let info = trace_info(server, trace_id);
        assert_eq!(info["state"], "IN_PROGRESS", "{info}");
        assert_same(&fetch(server, &early), &early, false);

        let late = tracer.in_span("answer", |_| {
            let late = Assessment::feedback("late", 0.25)
                .on_current_span()
                .unwrap();
            recorder.record(late.clone()).unwrap();
            late
        });
        std::thread::sleep(Duration::from_millis(20));
        (trace_id, vec![early, late])
    });
    provider.force_flush().unwrap();
    recorder.flush().unwrap();
    let c = recorder.counters();
    assert_eq!((c.delivered, c.held, c.failed), (2, 0, 0), "{c:?}");
    for a in &recorded {
        assert_same(&fetch(server, a), a, false);
    }
    let mut on_server = ids_on_trace(server, trace_id);
    on_server.sort();
    let mut ids: Vec<String> = recorded.iter().map(|a| a.id().to_string()).collect();
    ids.sort();
    assert_eq!(on_server, ids, "each once");

    let finished = exporter.get_finished_spans().unwrap();
    let root = finished
        .iter()
        .find(|s| s.parent_span_id == SpanId::INVALID)
        .unwrap();
    let info = trace_info(server, trace_id);
    assert_eq!(info["state"], "OK", "{info}");
    let millis =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let request_time =
        verdict::wire::parse_time("", info["request_time"].as_str().unwrap()).unwrap();
    assert_eq!(millis(request_time), millis(root.start_time), "{info}");
    let seconds = |v: &serde_json::Value| -> f64 {
        v.as_str()
            .and_then(|d| d.strip_suffix('s'))
            .and_then(|d| d.parse().ok())
            .unwrap_or_else(|| panic!("execution_duration {v}"))
    };
    let duration = root.end_time.duration_since(root.start_time).unwrap();
    assert!(
        (seconds(&info["execution_duration"]) - duration.as_secs_f64()).abs() <= 0.0011,
        "duration {} against the root's {duration:?}",
        info["execution_duration"]
    );
    assert_eq!(info["trace_metadata"]["mlflow.trace.session"], "session-42");
    assert_eq!(info["request_preview"], r#"{"question": "capital?"}"#);
    let (status, body) = server.get(&format!(
        "/ajax-api/3.0/mlflow/get-trace-artifact?request_id={}",
        mlflow_trace_id(trace_id)
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["spans"].as_array().map(Vec::len), Some(2), "{body}");

    // The same tags and metadata as a trace ingested over OTLP alone
    // (but the mark of a trace created by the REST API).
    let twin = {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = provider.tracer("verdict-mlflow-tests");
        tracer.in_span("handle request", |cx| {
            cx.span().set_attributes(root_attributes());
            tracer.in_span("answer", |_| {});
        });
        exporter.get_finished_spans().unwrap()
    };
    MlflowSink::builder(&server.url)
        .build()
        .unwrap()
        .export_spans(&twin)
        .unwrap();
    let twin_info = trace_info(server, twin[0].span_context.trace_id());
    let keys = |v: &serde_json::Value| {
        v.as_object()
            .map(|o| {
                o.keys()
                    .filter(|k| *k != "mlflow.trace.infoFinalized")
                    .cloned()
                    .collect::<BTreeSet<_>>()
            })
            .unwrap_or_default()
    };
    // What OTLP alone gives, and what MLflow's client writes on top: the
    // trace's name, and where it comes from.
    let mut tags = keys(&twin_info["tags"]);
    tags.insert("mlflow.traceName".to_owned());
    assert_eq!(keys(&info["tags"]), tags);
    let metadata = keys(&info["trace_metadata"]);
    let otlp_alone = keys(&twin_info["trace_metadata"]);
    let extra: Vec<&String> = metadata.difference(&otlp_alone).collect();
    assert!(
        extra.iter().all(|k| k.starts_with("mlflow.source.")
            || [
                "mlflow.user",
                "mlflow.trace_schema.version",
                "mlflow.traceInputs",
                "mlflow.traceOutputs",
            ]
            .contains(&k.as_str())),
        "{extra:?}"
    );
    assert!(metadata.is_superset(&otlp_alone));
    assert_eq!(info["state"], twin_info["state"]);
    recorder.shutdown().unwrap();
    provider.shutdown().unwrap();
}
