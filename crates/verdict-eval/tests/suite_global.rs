//! A suite leaves the process's own telemetry as it found it: the global
//! `tracing` subscriber and OpenTelemetry tracer provider a program set
//! before the suite are in place and unchanged after it, and the
//! subscriber sees none of the spans the suite captured. Spans the code
//! makes through the OpenTelemetry API go to the program's own provider,
//! in the record's trace under its root span. Its own test binary: the
//! globals are the process's.

use std::sync::{Arc, Mutex};

use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt as _;
use verdict_eval::Suite;
use verdict_export::LocalStore;

/// The names of the spans the global subscriber saw.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Seen {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0
            .lock()
            .unwrap()
            .push(attrs.metadata().name().to_owned());
    }
}

#[test]
fn the_programs_subscriber_and_provider_are_in_place_and_unchanged_after_a_suite() {
    let seen = Seen::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(seen.clone()))
        .unwrap();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());

    tracing::info_span!("before the suite").in_scope(|| {});
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("qa.jsonl");
    std::fs::write(
        &data,
        "{\"inputs\": \"q\", \"expectations\": {\"expected_response\": \"a\"}}\n",
    )
    .unwrap();
    let db = dir.path().join("store.db");
    let report = Suite::new()
        .scorer("exact_match")
        .store(&db)
        .predict(|_: &Value| {
            tracing::info_span!("inside a call").in_scope(|| {});
            opentelemetry::global::tracer("code under test").in_span("otel api", |_| {});
            Ok::<_, String>(Value::from("a"))
        })
        .run(&data)
        .unwrap();
    report.assert_gates();
    tracing::info_span!("after the suite").in_scope(|| {});
    opentelemetry::global::tracer("program").in_span("after the suite", |_| {});
    provider.force_flush().unwrap();

    // The subscriber is the global one still, and never saw the call's.
    assert_eq!(
        *seen.0.lock().unwrap(),
        ["before the suite", "after the suite"]
    );
    // The suite captured the call's `tracing` span.
    let store = LocalStore::open(&db).unwrap();
    let trace = store.list_traces().unwrap()[0].trace_id;
    let spans = store.spans_of(trace).unwrap();
    let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
    assert!(spans.iter().any(|s| s.name == "inside a call"));
    // The provider is the program's still; the OpenTelemetry API span of
    // the call went to it, in the record's trace under its root.
    let exported = exporter.get_finished_spans().unwrap();
    let names: Vec<&str> = exported.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["otel api", "after the suite"]);
    assert_eq!(exported[0].span_context.trace_id(), trace);
    assert_eq!(exported[0].parent_span_id, root.span_id);
    let _ = provider.tracer("unused");
}
