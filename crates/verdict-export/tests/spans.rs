//! Spans from a real `SdkTracerProvider` through `VerdictSpanExporter`: into
//! the local store and JSONL, to several sinks at once, and together with a
//! recorder's assessments in one store file that survives reopening.

mod common;

use std::sync::Arc;

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceId, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{Value, json};
use verdict::{Assessment, Recorder, SinkError};
use verdict_export::{JsonlSink, LocalStore, SpanSink, StoredSpan, VerdictSpanExporter};

/// Makes a trace of three nested spans with `tracer`: `request` (root) >
/// `retrieve` (with attributes) > `embed`. Returns the `retrieve` span's
/// context.
fn nested_trace(provider: &SdkTracerProvider) -> SpanContext {
    let tracer = provider.tracer("spans-test");
    tracer.in_span("request", |cx| {
        cx.span().set_attribute(KeyValue::new("http.route", "/ask"));
        tracer.in_span("retrieve", |cx| {
            let span = cx.span();
            span.set_attribute(KeyValue::new("mlflow.spanType", "RETRIEVER"));
            span.set_attribute(KeyValue::new("top_k", 5));
            span.set_attribute(KeyValue::new("score", 0.5));
            tracer.in_span("embed", |_| {});
            span.span_context().clone()
        })
    })
}

/// The spans of `trace` from an in-memory exporter, as the store reads
/// them back (by start time, then span id).
fn expected(memory: &InMemorySpanExporter, trace: TraceId) -> Vec<StoredSpan> {
    let mut spans: Vec<StoredSpan> = memory
        .get_finished_spans()
        .unwrap()
        .iter()
        .filter(|s| s.span_context.trace_id() == trace)
        .map(StoredSpan::from)
        .collect();
    spans.sort_by_key(|s| (s.start_time, format!("{:016x}", s.span_id)));
    spans
}

#[test]
fn nested_spans_land_in_the_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(dir.path().join("verdict.db")).unwrap());
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(VerdictSpanExporter::new(store.clone()))
        .with_simple_exporter(memory.clone())
        .build();

    let retrieve = nested_trace(&provider);
    provider.force_flush().unwrap();

    let spans = store.spans_of(retrieve.trace_id()).unwrap();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["request", "retrieve", "embed"]);
    let [request, retrieve_span, embed] = &spans[..] else {
        unreachable!()
    };
    assert_eq!(request.parent_span_id, None);
    assert_eq!(retrieve_span.span_id, retrieve.span_id());
    assert_eq!(retrieve_span.parent_span_id, Some(request.span_id));
    assert_eq!(embed.parent_span_id, Some(retrieve_span.span_id));
    assert_eq!(request.attributes["http.route"], json!("/ask"));
    assert_eq!(
        Value::Object(retrieve_span.attributes.clone()),
        json!({"mlflow.spanType": "RETRIEVER", "top_k": 5, "score": 0.5})
    );
    assert_eq!(request.scope_name, "spans-test");
    // Children start and end within their parents.
    assert!(request.start_time <= retrieve_span.start_time);
    assert!(retrieve_span.start_time <= embed.start_time);
    assert!(embed.end_time <= retrieve_span.end_time);
    assert!(retrieve_span.end_time <= request.end_time);

    // Field for field what the SDK handed over, times to the nanosecond.
    assert_eq!(spans, expected(&memory, retrieve.trace_id()));
}

#[test]
fn the_batch_processor_delivers_everything_by_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(dir.path().join("verdict.db")).unwrap());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(VerdictSpanExporter::new(store.clone()))
        .build();

    let traces: Vec<TraceId> = (0..50)
        .map(|_| nested_trace(&provider).trace_id())
        .collect();
    provider.shutdown().unwrap();

    let stored = store.list_traces().unwrap();
    assert_eq!(stored.len(), 50);
    for trace in traces {
        assert_eq!(store.spans_of(trace).unwrap().len(), 3);
    }
}

#[test]
fn a_jsonl_file_gets_one_line_per_span() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spans.jsonl");
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(VerdictSpanExporter::new(JsonlSink::append(&path).unwrap()))
        .with_simple_exporter(memory.clone())
        .build();

    let retrieve = nested_trace(&provider);
    // Shutting the provider down flushes the sink's buffered lines.
    provider.shutdown().unwrap();

    let lines: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let finished = memory.get_finished_spans().unwrap();
    for (line, span) in lines.iter().zip(&finished) {
        assert_eq!(line, &StoredSpan::from(span).to_mlflow_json());
        assert_eq!(line["type"], "span");
        let stored = StoredSpan::from_mlflow_json(line).unwrap();
        assert_eq!(stored.trace_id, retrieve.trace_id());
    }
    // Spans end children first.
    let names: Vec<&str> = lines.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["embed", "retrieve", "request"]);
}

/// A sink that always fails.
struct Broken;

impl SpanSink for Broken {
    fn export_spans(&self, _: &[SpanData]) -> Result<(), SinkError> {
        Err(SinkError::new("the broken sink is broken"))
    }
}

#[test]
fn every_sink_gets_every_batch_even_when_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::open(dir.path().join("verdict.db")).unwrap());
    let path = dir.path().join("spans.jsonl");
    let exporter = VerdictSpanExporter::new(Broken)
        .with_sink(store.clone())
        .with_sink(JsonlSink::append(&path).unwrap())
        .with_sink(Broken);
    let spans = common::finished_trace();

    let error = exporter.export_spans(&spans).unwrap_err().to_string();
    assert!(error.starts_with("2 of 4 span sinks failed"), "{error}");
    assert!(error.contains("the broken sink is broken"), "{error}");
    exporter.shutdown().unwrap();

    let trace = spans[0].span_context.trace_id();
    assert_eq!(store.spans_of(trace).unwrap().len(), spans.len());
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), spans.len());
    assert!(exporter.export_spans(&[]).is_ok());
}

/// The local story end to end: spans through the exporter and assessments
/// through a recorder into the same store file, one assessment recorded
/// while the trace is open and one after it has been exported; after a
/// reopen, the trace has its spans and its assessments on the child span.
#[test]
fn spans_and_assessments_share_one_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("verdict.db");
    let store = Arc::new(LocalStore::open(&path).unwrap());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(VerdictSpanExporter::new(store.clone()))
        .build();
    let recorder = Recorder::builder().sink(store.clone()).build();

    let tracer = provider.tracer("app");
    let (retrieve, during) = tracer.in_span("request", |_| {
        tracer.in_span("retrieve", |cx| {
            let id = recorder
                .record(
                    Assessment::feedback("relevant", true)
                        .rationale("cites the source")
                        .on_current_span()
                        .unwrap(),
                )
                .unwrap();
            (cx.span().span_context().clone(), id)
        })
    });
    provider.force_flush().unwrap();
    // A later review, on the already exported span.
    let later = recorder
        .record(
            Assessment::feedback("reviewed", "ok")
                .on_context(&Context::new().with_remote_span_context(retrieve.clone()))
                .unwrap(),
        )
        .unwrap();
    recorder.shutdown().unwrap();
    provider.shutdown().unwrap();
    assert_eq!(recorder.counters().failed, 0);
    drop(recorder);
    drop(provider);
    drop(store);

    let store = LocalStore::open(&path).unwrap();
    let trace = retrieve.trace_id();
    let spans = store.spans_of(trace).unwrap();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["request", "retrieve"]);
    assert_eq!(spans[1].span_id, retrieve.span_id());
    assert_eq!(spans[1].parent_span_id, Some(spans[0].span_id));

    let assessments = store.list_by_trace(trace).unwrap();
    let mut ids: Vec<_> = assessments.iter().map(|a| a.id()).collect();
    ids.sort();
    let mut want = vec![during, later];
    want.sort();
    assert_eq!(ids, want);
    for a in &assessments {
        assert_eq!(a.trace_id(), trace);
        assert_eq!(a.span_id(), Some(retrieve.span_id()));
        assert_ne!(a.span_id(), Some(SpanId::INVALID));
    }
    assert_eq!(
        store.get(trace, during).unwrap().rationale(),
        Some("cites the source")
    );

    let summary = store.list_traces().unwrap();
    assert_eq!(summary.len(), 1);
    assert_eq!((summary[0].span_count, summary[0].assessment_count), (2, 2));
}
