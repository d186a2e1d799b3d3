//! The OTLP exporter honours `OTEL_EXPORTER_OTLP_PROTOCOL` and
//! `OTEL_EXPORTER_OTLP_COMPRESSION`, per signal too, and refuses a value
//! it does not support. What arrives is decoded by the receiver with the
//! official messages (protobuf, or their OTLP/JSON mapping), after
//! gunzipping a gzip body. The environment is process-wide, so this binary
//! has a single test that sets it in steps.

use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use verdict::{Assessment, Recorder};
use verdict_export::otlp::{Compression, OtlpError, Protocol};
use verdict_export::testing::{OtlpReceiver, ReceivedRequest};
use verdict_export::{OtlpExporter, OtlpExporterBuilder};

fn set(key: &str, value: &str) {
    // SAFETY: this binary's only test sets the variables, from its only
    // thread, before building the exporters that read them.
    unsafe { std::env::set_var(key, value) }
}

fn unset(key: &str) {
    // SAFETY: as for `set`.
    unsafe { std::env::remove_var(key) }
}

/// Sends one span with one feedback on it to a new receiver through an
/// exporter built from `builder`, and returns the receiver.
fn send_one(builder: OtlpExporterBuilder) -> OtlpReceiver {
    let receiver = OtlpReceiver::start().unwrap();
    let otlp = builder.endpoint(receiver.endpoint()).build().unwrap();
    let tracer_provider = SdkTracerProvider::builder()
        .with_span_processor(otlp.batch_span_processor().unwrap())
        .build();
    let recorder = Recorder::builder().sink(otlp.sink()).build();
    tracer_provider
        .tracer("protocol-test")
        .in_span("request", |cx| {
            recorder
                .record(Assessment::feedback("ok", true).on_context(&cx).unwrap())
                .unwrap();
        });
    recorder.flush().unwrap();
    tracer_provider.force_flush().unwrap();
    recorder.shutdown().unwrap();
    tracer_provider.shutdown().unwrap();
    // Both arrived, decoded.
    assert_eq!(
        (receiver.span_count(), receiver.log_record_count()),
        (1, 1),
        "{:?}",
        receiver.requests()
    );
    receiver
}

/// The request to `path`: there is exactly one.
fn request(receiver: &OtlpReceiver, path: &str) -> ReceivedRequest {
    let mut requests: Vec<ReceivedRequest> = receiver
        .requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect();
    assert_eq!(requests.len(), 1, "{path}: {requests:?}");
    requests.remove(0)
}

/// How a request was sent: its content type, and whether its body is
/// gzip (checked by the body's magic bytes, not only the header).
fn sent_as(request: &ReceivedRequest) -> (String, bool) {
    let gzip = request.header("content-encoding") == Some("gzip");
    assert_eq!(
        gzip,
        request.body.starts_with(&[0x1f, 0x8b]),
        "the header says what the body is: {request:?}"
    );
    (request.header("content-type").unwrap().to_owned(), gzip)
}

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

fn refused(builder: OtlpExporterBuilder) -> String {
    match builder.build() {
        Err(error @ OtlpError::Setting { .. }) => error.to_string(),
        Err(other) => panic!("not a setting error: {other}"),
        Ok(_) => panic!("an unsupported value was accepted"),
    }
}

#[test]
fn protocol_and_compression_come_from_the_environment_per_signal() {
    // 0. Nothing set: protobuf, uncompressed.
    let receiver = send_one(OtlpExporter::builder());
    assert_eq!(
        sent_as(&request(&receiver, "/v1/traces")),
        (PROTOBUF.into(), false)
    );
    assert_eq!(
        sent_as(&request(&receiver, "/v1/logs")),
        (PROTOBUF.into(), false)
    );

    // 1. http/json for both signals, gzip for both.
    set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    set("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
    let receiver = send_one(OtlpExporter::builder());
    assert_eq!(
        sent_as(&request(&receiver, "/v1/traces")),
        (JSON.into(), true)
    );
    assert_eq!(
        sent_as(&request(&receiver, "/v1/logs")),
        (JSON.into(), true)
    );
    // Decoded from JSON: the span and the event are whole.
    let span = &receiver.spans()[0];
    assert_eq!(span.name, "request");
    let event = &receiver.log_records()[0];
    assert_eq!(event.trace_id, span.trace_id);
    assert_eq!(event.span_id, span.span_id);
    assert_eq!(event.event_name, verdict::EVENT_NAME);

    // 2. Per-signal variables win over the general ones: traces in
    //    protobuf, uncompressed; logs still JSON and gzip.
    set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf");
    set("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none");
    let receiver = send_one(OtlpExporter::builder());
    assert_eq!(
        sent_as(&request(&receiver, "/v1/traces")),
        (PROTOBUF.into(), false)
    );
    assert_eq!(
        sent_as(&request(&receiver, "/v1/logs")),
        (JSON.into(), true)
    );

    // 3. And the other way round, in any case (as opentelemetry-otlp
    //    reads them).
    unset("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
    unset("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION");
    set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
    unset("OTEL_EXPORTER_OTLP_COMPRESSION");
    set("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "HTTP/JSON");
    set("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "GZIP");
    let receiver = send_one(OtlpExporter::builder());
    assert_eq!(
        sent_as(&request(&receiver, "/v1/traces")),
        (PROTOBUF.into(), false)
    );
    assert_eq!(
        sent_as(&request(&receiver, "/v1/logs")),
        (JSON.into(), true)
    );

    // 4. Code wins over every variable.
    let receiver = send_one(
        OtlpExporter::builder()
            .protocol(Protocol::HttpProtobuf)
            .compression(Compression::Gzip),
    );
    assert_eq!(
        sent_as(&request(&receiver, "/v1/traces")),
        (PROTOBUF.into(), true)
    );
    assert_eq!(
        sent_as(&request(&receiver, "/v1/logs")),
        (PROTOBUF.into(), true)
    );
    unset("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL");
    unset("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION");
    unset("OTEL_EXPORTER_OTLP_PROTOCOL");

    // 5. A value that is not supported is an error naming the variable,
    //    never a silent fallback; an empty one is unset.
    for (variable, value, says) in [
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "grpc",
            "gRPC is not supported",
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/xml", "not a protocol"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "http/protobuf;",
            "not a protocol",
        ),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "json", "not a protocol"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", "use gzip or none"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "brotli",
            "use gzip or none",
        ),
        (
            "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
            "gzip,deflate",
            "use gzip or none",
        ),
    ] {
        set(variable, value);
        let error = refused(OtlpExporter::builder());
        assert!(
            error.starts_with(variable) && error.contains(says),
            "{variable}={value}: {error}"
        );
        unset(variable);
    }
    set("OTEL_EXPORTER_OTLP_PROTOCOL", "");
    set("OTEL_EXPORTER_OTLP_COMPRESSION", " ");
    let receiver = send_one(OtlpExporter::builder());
    assert_eq!(
        sent_as(&request(&receiver, "/v1/traces")),
        (PROTOBUF.into(), false)
    );
    // A value in code is not checked against the environment: the code
    // chose.
    set("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    let receiver = send_one(OtlpExporter::builder().protocol(Protocol::HttpJson));
    assert_eq!(
        sent_as(&request(&receiver, "/v1/logs")),
        (JSON.into(), false)
    );
}
