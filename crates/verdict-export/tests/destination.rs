//! A service records to a `Destination` as `verdict eval --export` and
//! `verdict push` send to one: the same kinds, configured the same way.
//! The environment is process-wide, so the OTLP part sets it in this
//! binary's only test that reads it.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use verdict::{Assessment, AssessmentSink as _, Recorder};
use verdict_export::testing::OtlpReceiver;
use verdict_export::{Destination, ExportTarget, VerdictSpanExporter};

/// Records one feedback inside one span, through `destination` as both
/// the recorder's sink and the span exporter's; the span's trace.
fn record_through(destination: Destination) -> String {
    let destination = Arc::new(destination);
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(VerdictSpanExporter::new(destination.clone()))
        .build();
    let recorder = Recorder::builder().sink(destination.clone()).build();
    let trace = tracer_provider.tracer("service").in_span("answer", |cx| {
        recorder
            .record(
                Assessment::feedback("helpful", true)
                    .on_context(&cx)
                    .unwrap(),
            )
            .unwrap();
        cx.span().span_context().trace_id()
    });
    recorder.flush().unwrap();
    tracer_provider.force_flush().unwrap();
    recorder.shutdown().unwrap();
    tracer_provider.shutdown().unwrap();
    format!("{trace:032x}")
}

#[test]
fn a_service_records_spans_and_assessments_to_a_destination() {
    // JSON lines: the span and the feedback, each one line.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let destination = Destination::open(ExportTarget::Jsonl(path.clone())).unwrap();
    assert_eq!(destination.name(), "jsonl");
    let trace = record_through(destination);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "span" && l["name"] == "answer")
    );
    let feedback = lines.iter().find(|l| l.get("feedback").is_some()).unwrap();
    assert_eq!(feedback["trace_id"], format!("tr-{trace}"));

    // OTLP, configured by the environment as `--export otlp` is.
    let receiver = OtlpReceiver::start().unwrap();
    // SAFETY: set before the exporter that reads it is built; no other
    // test of this binary reads the environment.
    unsafe { std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()) };
    let destination = Destination::open(ExportTarget::Otlp).unwrap();
    assert_eq!(
        destination.key().unwrap(),
        format!("otlp {}", receiver.traces_endpoint())
    );
    let trace = record_through(destination);
    assert!(receiver.wait_for(1, 1, Duration::from_secs(10)));
    let spans = receiver.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "answer");
    assert_eq!(hex(&spans[0].trace_id), trace);
    let records = receiver.log_records();
    assert_eq!(records.len(), 1);
    assert_eq!(hex(&records[0].trace_id), trace);
}

#[test]
fn a_destination_that_cannot_be_written_names_itself_and_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    // A directory is not a file to append to.
    let error = Destination::open(ExportTarget::Jsonl(dir.path().to_owned())).unwrap_err();
    assert_eq!(error.destination, format!("jsonl:{}", dir.path().display()));
    assert!(
        error.to_string().starts_with("exporting to jsonl:"),
        "{error}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
