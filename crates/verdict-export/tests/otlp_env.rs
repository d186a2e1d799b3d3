//! The OTLP exporter honours the `OTEL_EXPORTER_OTLP_*` variables. The
//! environment is process-wide, so this binary has a single test that sets
//! it in steps.

use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use verdict::{Assessment, Recorder};
use verdict_export::OtlpExporter;
use verdict_export::testing::{OtlpReceiver, ReceivedRequest};

fn set(key: &str, value: &str) {
    // SAFETY: this binary's only test sets the variables, from its only
    // thread, before building the exporters that read them.
    unsafe { std::env::set_var(key, value) }
}

/// Builds an exporter from `builder`, sends one span with one assessment on
/// it, and flushes both.
fn send_one(builder: verdict_export::OtlpExporterBuilder) {
    let otlp = builder.build().unwrap();
    let tracer_provider = SdkTracerProvider::builder()
        .with_span_processor(otlp.batch_span_processor().unwrap())
        .build();
    let recorder = Recorder::builder().sink(otlp.sink()).build();
    tracer_provider.tracer("env-test").in_span("request", |cx| {
        recorder
            .record(Assessment::feedback("ok", true).on_context(&cx).unwrap())
            .unwrap();
    });
    recorder.flush().unwrap();
    tracer_provider.force_flush().unwrap();
    recorder.shutdown().unwrap();
    tracer_provider.shutdown().unwrap();
}

fn paths(requests: &[ReceivedRequest]) -> Vec<&str> {
    let mut paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    paths.dedup();
    paths
}

#[test]
fn endpoint_and_headers_come_from_the_environment() {
    // 1. The base URL and the headers of all signals (the protocol and the
    //    compression: tests/otlp_protocol.rs).
    let base = OtlpReceiver::start().unwrap();
    set("OTEL_EXPORTER_OTLP_ENDPOINT", &base.endpoint());
    set("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=secret,x-tenant=t1");
    send_one(OtlpExporter::builder());

    let requests = base.requests();
    assert_eq!(paths(&requests), ["/v1/logs", "/v1/traces"]);
    for request in &requests {
        assert_eq!(request.header("x-api-key"), Some("secret"), "{request:?}");
        assert_eq!(request.header("x-tenant"), Some("t1"), "{request:?}");
        assert_eq!(
            request.header("content-type"),
            Some("application/x-protobuf")
        );
    }
    assert_eq!((base.span_count(), base.log_record_count()), (1, 1));

    // 2. Per-signal variants win over the general ones: full URLs used as
    //    they are, and their own headers.
    let logs = OtlpReceiver::start().unwrap();
    let traces = OtlpReceiver::start().unwrap();
    set("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", &logs.logs_endpoint());
    set(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        &traces.traces_endpoint(),
    );
    set("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-api-key=logs-secret");
    set(
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "x-api-key=traces-secret",
    );
    send_one(OtlpExporter::builder());

    assert_eq!(
        base.requests().len(),
        requests.len(),
        "nothing more to base"
    );
    let log_requests = logs.requests();
    assert_eq!(paths(&log_requests), ["/v1/logs"]);
    assert!(
        log_requests
            .iter()
            .all(|r| r.header("x-api-key") == Some("logs-secret"))
    );
    let trace_requests = traces.requests();
    assert_eq!(paths(&trace_requests), ["/v1/traces"]);
    assert!(
        trace_requests
            .iter()
            .all(|r| r.header("x-api-key") == Some("traces-secret"))
    );
    assert_eq!(logs.log_record_count(), 1);
    assert_eq!(traces.span_count(), 1);

    // 3. An endpoint in code wins over every endpoint variable; headers in
    //    code are sent along with those of the environment.
    let coded = OtlpReceiver::start().unwrap();
    send_one(
        OtlpExporter::builder()
            .endpoint(coded.endpoint())
            .header("x-from-code", "yes"),
    );
    let coded_requests = coded.requests();
    assert_eq!(paths(&coded_requests), ["/v1/logs", "/v1/traces"]);
    assert!(
        coded_requests
            .iter()
            .all(|r| r.header("x-from-code") == Some("yes"))
    );
    assert_eq!(logs.log_record_count(), 1);
    assert_eq!(traces.span_count(), 1);
}
