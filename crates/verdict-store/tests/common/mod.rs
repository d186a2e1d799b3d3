//! Helpers shared by the tests: real spans from the OpenTelemetry SDK.

use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

/// A finished trace of three spans (a server root, a child with an error,
/// an event and attributes of every kind, and an internal grandchild),
/// made by the SDK and read back from an in-memory exporter.
pub(crate) fn finished_trace() -> Vec<SpanData> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer_with_scope(
        InstrumentationScope::builder("verdict-store-tests")
            .with_version("1.2.3")
            .build(),
    );
    let root = tracer
        .span_builder("handle request")
        .with_kind(SpanKind::Server)
        .start(&tracer);
    let cx = opentelemetry::Context::current_with_span(root);
    {
        let _root = cx.clone().attach();
        tracer.in_span("answer", |cx| {
            let span = cx.span();
            span.set_attribute(KeyValue::new("mlflow.spanType", "LLM"));
            span.set_attribute(KeyValue::new("gen_ai.usage.input_tokens", 42));
            span.set_attribute(KeyValue::new("temperature", 0.25));
            span.set_attribute(KeyValue::new("cached", false));
            span.set_attribute(KeyValue::new("nan", f64::NAN));
            span.set_attribute(KeyValue::new(
                "tags",
                Value::Array(Array::String(vec![StringValue::from("a"), "b".into()])),
            ));
            span.add_event("retry", vec![KeyValue::new("attempt", 2)]);
            span.set_status(Status::error("upstream timed out"));
            tracer.in_span("tokenize", |_| {});
        });
    }
    cx.span().end();
    provider.force_flush().expect("flush");
    exporter.get_finished_spans().expect("finished spans")
}
