//! A suite leaves the process's own telemetry as it found it: the global
//! `tracing` subscriber, OpenTelemetry tracer provider and propagator a
//! program set before the suite are in place and unchanged after it, and
//! the subscriber sees none of the spans the suite captured. Spans the
//! code makes through the OpenTelemetry API go to the program's own
//! provider, in the record's trace under its root span, and are captured
//! by the suite's span processor in that provider; a `tracing` span is
//! captured once even though the program's subscriber sends `tracing`
//! spans to that same provider (`tracing-opentelemetry`). Its own test
//! binary: the globals are the process's.

use std::sync::{Arc, Mutex};

use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
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
fn the_programs_subscriber_provider_and_propagator_are_in_place_and_unchanged_after_a_suite() {
    let suite = Suite::new().scorer("exact_match");
    let exporter = InMemorySpanExporter::default();
    // The program's pipeline: its exporter, and the suite's processor.
    let provider = SdkTracerProvider::builder()
        .with_span_processor(suite.span_processor())
        .with_simple_exporter(exporter.clone())
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let seen = Seen::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(seen.clone())
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("program"))),
    )
    .unwrap();

    tracing::info_span!("before the suite").in_scope(|| {});
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("qa.jsonl");
    std::fs::write(
        &data,
        "{\"inputs\": \"q\", \"expectations\": {\"expected_response\": \"a\"}}\n",
    )
    .unwrap();
    let db = dir.path().join("store.db");
    let report = suite
        .store(&db)
        .predict(|_: &Value| {
            tracing::info_span!("inside a call").in_scope(|| {});
            opentelemetry::global::tracer("code under test").in_span("otel api", |cx| {
                cx.span()
                    .set_attribute(opentelemetry::KeyValue::new("step", 1));
            });
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
    // The suite captured the call's `tracing` span and its OpenTelemetry
    // API span, each once, under the record's root; nothing of the
    // program's own.
    let store = LocalStore::open(&db).unwrap();
    let traces = store.list_traces().unwrap();
    assert_eq!(traces.len(), 1);
    let trace = traces[0].trace_id;
    let spans = store.spans_of(trace).unwrap();
    let root = spans.iter().find(|s| s.parent_span_id.is_none()).unwrap();
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["inside a call", "otel api", &root.name]);
    let otel = spans.iter().find(|s| s.name == "otel api").unwrap();
    assert_eq!(otel.parent_span_id, Some(root.span_id));
    assert_eq!(otel.attributes["step"], 1);
    assert_eq!(otel.scope_name, "code under test");
    // The provider is the program's still; its exporter received the
    // OpenTelemetry API span of the call (in the record's trace under its
    // root), and the program's spans before and after the suite, which
    // the subscriber sent it; the call's `tracing` span went only to the
    // suite.
    let exported = exporter.get_finished_spans().unwrap();
    let names: Vec<&str> = exported.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "before the suite",
            "otel api",
            "after the suite",
            "after the suite"
        ]
    );
    assert_eq!(exported[1].span_context.trace_id(), trace);
    assert_eq!(exported[1].parent_span_id, root.span_id);
    // The propagator is the program's still.
    let mut carrier = std::collections::HashMap::new();
    let cx =
        opentelemetry::Context::new().with_remote_span_context(exported[0].span_context.clone());
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    assert!(carrier.contains_key("traceparent"), "{carrier:?}");
}
