//! Runs the built `otlp-service` binary against an in-process OTLP
//! receiver, which decodes the real protobuf requests: its span and its
//! feedback arrive, the feedback on the span.

use std::process::Command;

use verdict::attributes;
use verdict_export::testing::OtlpReceiver;
use verdict_export::testing::proto::tonic::common::v1::any_value::Value;

#[test]
fn the_span_and_its_feedback_reach_the_collector() {
    let receiver = OtlpReceiver::start().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_otlp-service"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    let trace_id = String::from_utf8(output.stdout).unwrap();
    let trace_id = trace_id.trim();

    let spans = receiver.spans();
    assert_eq!(spans.len(), 1, "{spans:?}");
    let span = &spans[0];
    assert_eq!(span.name, "answer");
    assert_eq!(hex(&span.trace_id), trace_id);

    let records = receiver.log_records();
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record.event_name, verdict::EVENT_NAME);
    assert_eq!(record.trace_id, span.trace_id);
    assert_eq!(record.span_id, span.span_id);
    let value = |key: &str| {
        record
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.clone()?.value)
    };
    assert_eq!(
        value(attributes::EVALUATION_NAME),
        Some(Value::StringValue("helpful".to_owned()))
    );
    assert_eq!(
        value(attributes::SCORE_VALUE),
        Some(Value::DoubleValue(1.0))
    );
    assert_eq!(
        value(attributes::EXPLANATION),
        Some(Value::StringValue("answered the question".to_owned()))
    );
}

#[test]
fn a_collector_that_is_not_there_fails_the_service() {
    // A port nothing listens on: the feedback cannot be delivered, and the
    // service fails naming the sink rather than exiting as if it had been.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Command::new(env!("CARGO_BIN_EXE_otlp-service"))
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "2000")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.to_lowercase().contains("otlp"), "{stderr}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
