//! Every span the OTLP exporter sends carries a resource, from
//! `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` unless the code or
//! the tracer provider gives one, as the assessment events do. The
//! environment is process-wide, so this binary has a single test that sets
//! it in steps.

use std::collections::BTreeMap;

use opentelemetry::KeyValue;
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use verdict::{Assessment, AssessmentSink as _, Operation};
use verdict_export::testing::OtlpReceiver;
use verdict_export::{OtlpExporter, OtlpExporterBuilder, SpanSink as _};

fn set(key: &str, value: &str) {
    // SAFETY: this binary's only test sets the variables, from its only
    // thread, before building the exporters that read them.
    unsafe { std::env::set_var(key, value) }
}

fn unset(key: &str) {
    // SAFETY: as for `set`.
    unsafe { std::env::remove_var(key) }
}

/// A finished span, as `verdict push` reads one back from the store.
fn finished_span() -> SpanData {
    let memory = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(memory.clone())
        .build();
    provider.tracer("resource-test").in_span("answer", |_| {});
    memory.get_finished_spans().unwrap().remove(0)
}

/// String attributes of a resource, by key.
fn strings(resource: &Option<ProtoResource>) -> BTreeMap<String, String> {
    resource
        .iter()
        .flat_map(|r| &r.attributes)
        .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some((kv.key.clone(), s.clone())),
            _ => None,
        })
        .collect()
}

/// What `verdict eval` and `verdict push` do: spans through a span
/// exporter used as a sink, then a feedback on them through the sink.
/// Returns the resource of the spans and that of the events.
fn send_as_a_sink(
    builder: OtlpExporterBuilder,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let receiver = OtlpReceiver::start().unwrap();
    let otlp = builder.endpoint(receiver.endpoint()).build().unwrap();
    let span = finished_span();
    otlp.span_exporter()
        .unwrap()
        .export_spans(std::slice::from_ref(&span))
        .unwrap();
    let feedback = Assessment::feedback("ok", true)
        .on_span(&span.span_context)
        .unwrap();
    otlp.sink().export(&[Operation::Log(feedback)]).unwrap();
    let traces = receiver.trace_requests();
    let logs = receiver.log_requests();
    assert_eq!((traces.len(), logs.len()), (1, 1));
    assert_eq!(traces[0].resource_spans.len(), 1);
    (
        strings(&traces[0].resource_spans[0].resource),
        strings(&logs[0].resource_logs[0].resource),
    )
}

#[test]
fn every_span_carries_a_resource() {
    // 1. The environment names the service and more: spans sent as a
    //    sink (verdict eval, verdict push) carry it, as the events do.
    //    OTEL_SERVICE_NAME wins over a service.name in the attributes, as
    //    the specification says, and over a default name.
    set("OTEL_SERVICE_NAME", "checkout");
    set(
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment=ci,service.name=overridden,service.version=1.2",
    );
    let (spans, events) = send_as_a_sink(OtlpExporter::builder().default_service_name("verdict"));
    assert_eq!(
        spans.get("service.name").map(String::as_str),
        Some("checkout")
    );
    assert_eq!(spans["deployment.environment"], "ci");
    assert_eq!(spans["service.version"], "1.2");
    assert_eq!(spans["telemetry.sdk.language"], "rust");
    assert_eq!(events, spans, "events and spans say the same");

    // 2. Through a trace sink with no tracer provider yet (what a spool
    //    replays at start): the exporter's resource too.
    let receiver = OtlpReceiver::start().unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(receiver.endpoint())
        .build()
        .unwrap();
    otlp.trace_sink()
        .unwrap()
        .export_spans(&[finished_span()])
        .unwrap();
    let resource = strings(&receiver.trace_requests()[0].resource_spans[0].resource);
    assert_eq!(resource["service.name"], "checkout");

    // 3. A tracer provider's own resource wins for its spans.
    let receiver = OtlpReceiver::start().unwrap();
    let otlp = OtlpExporter::builder()
        .endpoint(receiver.endpoint())
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_service_name("mine")
                .with_attribute(KeyValue::new("team", "search"))
                .build(),
        )
        .with_span_processor(otlp.batch_span_processor().unwrap())
        .build();
    provider.tracer("resource-test").in_span("answer", |_| {});
    provider.force_flush().unwrap();
    let resource = strings(&receiver.trace_requests()[0].resource_spans[0].resource);
    assert_eq!(resource["service.name"], "mine");
    assert_eq!(resource["team"], "search");
    assert!(!resource.contains_key("deployment.environment"));
    provider.shutdown().unwrap();

    // 4. Without OTEL_SERVICE_NAME, the attributes' service.name.
    unset("OTEL_SERVICE_NAME");
    let (spans, _) = send_as_a_sink(OtlpExporter::builder().default_service_name("verdict"));
    assert_eq!(spans["service.name"], "overridden");

    // 5. Neither: the default name when one is given (the `verdict`
    //    command gives `verdict`), else the SDK's.
    set("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=ci");
    let (spans, events) = send_as_a_sink(OtlpExporter::builder().default_service_name("verdict"));
    assert_eq!(spans["service.name"], "verdict");
    assert_eq!(spans["deployment.environment"], "ci");
    assert_eq!(events["service.name"], "verdict");
    let (spans, _) = send_as_a_sink(OtlpExporter::builder());
    assert!(
        spans["service.name"].starts_with("unknown_service"),
        "{spans:?}"
    );

    // 6. A resource in code wins over the environment and the default.
    set("OTEL_SERVICE_NAME", "checkout");
    let (spans, events) = send_as_a_sink(
        OtlpExporter::builder()
            .default_service_name("verdict")
            .resource(Resource::builder_empty().with_service_name("coded").build()),
    );
    assert_eq!(
        spans,
        BTreeMap::from([("service.name".into(), "coded".into())])
    );
    assert_eq!(events, spans);
}
